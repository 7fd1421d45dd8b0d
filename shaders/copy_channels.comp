#version 460
#extension GL_GOOGLE_include_directive : require
// copy_channels.comp - channel-concat piece: sample n's block of `row` = src_channels*spatial
// contiguous floats goes to dst + n * dst_stride (dst pre-offset to the first channel).
// Source index o < 2^31; destination offsets are formed in 64 bits.
#include "common.glsl"
layout(local_size_x = 256) in;
layout(push_constant) uniform P { uvec2 src, dst; uvec2 dst_stride; uint total, row; } p;

void main()
{
    Floats src = Floats(p.src);
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint o = gl_GlobalInvocationID.x; o < p.total; o += stride) {
        uint n = o / p.row, j = o - n * p.row;
        // dst + n * dst_stride (64-bit element count) + j, in bytes
        uint hi, lo, carry;
        umulExtended(n, p.dst_stride.x, hi, lo);
        hi += n * p.dst_stride.y;
        lo = uaddCarry(lo, j, carry);
        hi += carry;
        uint blo = uaddCarry(p.dst.x, lo << 2, carry);
        uvec2 a = uvec2(blo, p.dst.y + ((hi << 2) | (lo >> 30)) + carry);
        Floats(a).v[0] = src.v[o];
    }
}
