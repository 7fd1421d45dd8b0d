#version 460
#extension GL_GOOGLE_include_directive : require
// maxout.comp - y[r][s] = max_j x[r*k + j][s] over rows r of `spatial` elements (a row is one
// (sample, output channel) pair). Output index o < 2^31; input offsets are formed in 64 bits.
#include "common.glsl"
layout(local_size_x = 256) in;
layout(push_constant) uniform P { uvec2 x, y; uint total, spatial, k; } p;

// address of element (hi:lo) of a float array at a
uvec2 elem_addr(uvec2 a, uint hi, uint lo)
{
    uint carry;
    uint blo = uaddCarry(a.x, lo << 2, carry);
    return uvec2(blo, a.y + ((hi << 2) | (lo >> 30)) + carry);
}

void main()
{
    Floats y = Floats(p.y);
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint o = gl_GlobalInvocationID.x; o < p.total; o += stride) {
        uint s = o % p.spatial;
        // first input element: (o - s) * k + s, in 64 bits
        uint hi, lo, carry;
        umulExtended(o - s, p.k, hi, lo);
        lo = uaddCarry(lo, s, carry);
        hi += carry;
        Floats x = Floats(elem_addr(p.x, hi, lo));
        float m = x.v[0];
        // x.v[j * spatial] stays below 2^32 elements: k * spatial is checked on the host
        for (uint j = 1; j < p.k; j++)
            m = max(m, x.v[j * p.spatial]);
        y.v[o] = m;
    }
}
