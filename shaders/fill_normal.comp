#version 460
#extension GL_GOOGLE_include_directive : require
// fill_normal.comp - y[i] = N(seed, offset + i), i < n: one Philox block (4 values) per
// thread, grid-stride. The host splits huge fills so that 4 * blocks fits in 32 bits.
// TEXEL (CPU devices; vk/texel.c): where the blocks line up with y's texels (lane0 == 0,
// n % 4 == 0), each block is one store through an rgba32f view instead of four
// device-address stores (a loop over the lanes each on lavapipe).
#include "common.glsl"
#include "philox.glsl"
layout(local_size_x = 256) in;
layout(constant_id = 0) const bool TEXEL = false;
layout(set = 0, binding = 0, rgba32f) uniform writeonly imageBuffer YT;
// block0 = (offset of y[0]) / 4 as lo/hi; lane0 = (offset of y[0]) % 4; nblocks covers
// every block that holds an index in [offset, offset + n).
layout(push_constant) uniform P { uvec2 y, seed, block0; uint lane0, n, nblocks, y0; } p;

void main()
{
    Floats y = Floats(p.y);
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint t = gl_GlobalInvocationID.x; t < p.nblocks; t += stride) {
        uint carry;
        uint lo = uaddCarry(p.block0.x, t, carry);
        vec4 z = philox_normal4(philox4x32_10(uvec4(lo, p.block0.y + carry, 0u, 0u), p.seed));
        if (TEXEL) {
            imageStore(YT, int(p.y0 + t), z);
            continue;
        }
        // Lane j of block t is y[4t + j - lane0]; compare before subtracting (no wrap).
        uint i = 4u * t;
        if (i >= p.lane0 && i + 4u - p.lane0 <= p.n) {
            uint k = i - p.lane0;
            y.v[k] = z.x;
            y.v[k + 1u] = z.y;
            y.v[k + 2u] = z.z;
            y.v[k + 3u] = z.w;
        } else {
            for (uint j = 0u; j < 4u; j++)
                if (i + j >= p.lane0 && i + j - p.lane0 < p.n)
                    y.v[i + j - p.lane0] = z[j];
        }
    }
}
