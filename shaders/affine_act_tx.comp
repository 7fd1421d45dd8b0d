#version 460
#extension GL_GOOGLE_include_directive : require
// affine_act_tx.comp - affine_act.comp for CPU devices: the tensor read and written as
// rgba32f storage texel buffers (vk/texel.c says why: on lavapipe a texel access is one
// 16-byte access per lane, a device-address access a loop over the lanes and components).
// Rows (one channel of one sample: spatial values) are whole texels (spatial % 4 == 0),
// so each texel holds 4 values of one channel:
//   t = x * alpha * scale[c] + shift[c];  y = act(t)   (y may be x: the same texels).
// SPLIT: rows that are not whole texels (dense layers: spatial 1; 7x7 maps: 49), the
// tensor still starting on a texel and holding whole texels: each component finds its
// own channel, from one division per texel (spatial >= 4: a texel spans at most two
// rows) or, for spatial 1 (channels % 4 == 0), as four neighbouring channels.
// A texel's row comes from a division: on lavapipe this flat loop ran 1.5x faster than
// workgroup rows that load a channel's parameters once per row (affine_act.comp's ROWS).
// Measured there: 3x affine_act.comp's rate, ~4 GB/s read + written; a plain texel copy
// runs no faster, so that is what this driver's stores allow here.
#include "common.glsl"
#include "mathf.glsl"
layout(local_size_x = 64) in;

layout(constant_id = 0) const uint ACT = 0; // lsuv_act_kind
#include "activation.glsl"
layout(constant_id = 1) const bool HAS_SCALE = false;
layout(constant_id = 2) const bool HAS_SHIFT = false;
layout(constant_id = 3) const bool SPLIT = false;
const bool PER_CHANNEL = HAS_SCALE || HAS_SHIFT || ACT == A_PRELU;

layout(set = 0, binding = 0, rgba32f) uniform readonly imageBuffer X;
layout(set = 0, binding = 1, rgba32f) uniform writeonly imageBuffer Y;

layout(push_constant) uniform P {
    uvec2 scale, shift, slopes;
    uint n;              // texels in this chunk
    uint s4, channels;   // texels per row (SPLIT: values per row); channels
    uint c0;             // channel of the chunk's first row
    uint x0, y0;         // the chunk's first texel in each view
    float alpha, param, param2;
} p;

vec4 apply(vec4 v, uint c)
{
    float sc = HAS_SCALE ? Floats(p.scale).v[c] * p.alpha : p.alpha;
    float sh = HAS_SHIFT ? Floats(p.shift).v[c] : 0.0;
    float slope = ACT == A_PRELU ? Floats(p.slopes).v[c] : 0.0;
    vec4 t = v * sc + sh;
    return vec4(activate_with(t.x, slope, p.param, p.param2), activate_with(t.y, slope, p.param, p.param2),
                activate_with(t.z, slope, p.param, p.param2), activate_with(t.w, slope, p.param, p.param2));
}

uint channel_of(uint row)
{
    uint c = p.c0 + row % p.channels;
    return c >= p.channels ? c - p.channels : c;
}

// SPLIT: component j's channel c[j], its parameters read one by one
vec4 apply_split(vec4 v, uvec4 c)
{
    vec4 t;
    for (uint j = 0u; j < 4u; j++) {
        float sc = HAS_SCALE ? Floats(p.scale).v[c[j]] * p.alpha : p.alpha;
        float sh = HAS_SHIFT ? Floats(p.shift).v[c[j]] : 0.0;
        float slope = ACT == A_PRELU ? Floats(p.slopes).v[c[j]] : 0.0;
        t[j] = activate_with(v[j] * sc + sh, slope, p.param, p.param2);
    }
    return t;
}

uvec4 channels_split(uint i)
{
    if (p.s4 == 1u) { // spatial 1: four channels of one sample (channels % 4 == 0, c0 % 4 == 0)
        uint c = (p.c0 + 4u * i) % p.channels;
        return uvec4(c, c + 1u, c + 2u, c + 3u);
    }
    uint e = 4u * i, row = e / p.s4, at = e - row * p.s4;
    uvec4 rows = uvec4(row) + uvec4(greaterThanEqual(uvec4(at) + uvec4(0u, 1u, 2u, 3u), uvec4(p.s4)));
    return uvec4(channel_of(rows.x), channel_of(rows.y), channel_of(rows.z), channel_of(rows.w));
}

void main()
{
    // each workgroup streams through one contiguous block of texels
    uint per = (p.n + gl_NumWorkGroups.x - 1) / gl_NumWorkGroups.x;
    per = (per + gl_WorkGroupSize.x - 1) / gl_WorkGroupSize.x * gl_WorkGroupSize.x;
    uint begin = gl_WorkGroupID.x * per, end = min(begin + per, p.n);
    for (uint i = begin + gl_LocalInvocationID.x; i < end; i += gl_WorkGroupSize.x) {
        if (SPLIT && PER_CHANNEL) {
            imageStore(Y, int(p.y0 + i), apply_split(imageLoad(X, int(p.x0 + i)), channels_split(i)));
            continue;
        }
        uint c = PER_CHANNEL && !SPLIT ? channel_of(i / p.s4) : 0u;
        imageStore(Y, int(p.y0 + i), apply(imageLoad(X, int(p.x0 + i)), c));
    }
}
