#version 460
#extension GL_GOOGLE_include_directive : require
// affine_act_tx.comp - affine_act.comp for CPU devices: the tensor read and written as
// rgba32f storage texel buffers (vk/texel.c says why: on lavapipe a texel access is one
// 16-byte access per lane, a device-address access a loop over the lanes and components).
// Rows (one channel of one sample: spatial values) are whole texels (spatial % 4 == 0),
// so each texel holds 4 values of one channel:
//   t = x * alpha * scale[c] + shift[c];  y = act(t)   (y may be x: the same texels).
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
const bool PER_CHANNEL = HAS_SCALE || HAS_SHIFT || ACT == A_PRELU;

layout(set = 0, binding = 0, rgba32f) uniform readonly imageBuffer X;
layout(set = 0, binding = 1, rgba32f) uniform writeonly imageBuffer Y;

layout(push_constant) uniform P {
    uvec2 scale, shift, slopes;
    uint n;              // texels in this chunk
    uint s4, channels;   // texels per row; channels
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

void main()
{
    // each workgroup streams through one contiguous block of texels
    uint per = (p.n + gl_NumWorkGroups.x - 1) / gl_NumWorkGroups.x;
    per = (per + gl_WorkGroupSize.x - 1) / gl_WorkGroupSize.x * gl_WorkGroupSize.x;
    uint begin = gl_WorkGroupID.x * per, end = min(begin + per, p.n);
    for (uint i = begin + gl_LocalInvocationID.x; i < end; i += gl_WorkGroupSize.x) {
        uint c = PER_CHANNEL ? channel_of(i / p.s4) : 0u;
        imageStore(Y, int(p.y0 + i), apply(imageLoad(X, int(p.x0 + i)), c));
    }
}
