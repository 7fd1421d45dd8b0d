#version 460
#extension GL_GOOGLE_include_directive : require
// haar_t.comp - the triangular factor of a block of Householder reflectors (as LAPACK's
// larft, forward, columnwise): H_0 ... H_{bb-1} = I - V T V^T with T upper triangular,
//   T[r][r] = tau_r,  T[r][i] = -tau_i * sum_{c=r}^{i-1} T[r][c] S[c][i]   (r < i),
// from S = V^T V (HB x HB, symmetric). Row r of T depends only on itself and S: one
// invocation per row, the row in a private array with constant indices (cheap on CPU
// devices, where dynamic indexing and device-address loads are loops over the lanes),
// S read by rows (= columns) through a texel view. T is written whole, HB x HB, zero
// below the diagonal and beyond bb (the products that read it run over all HB columns).
// One workgroup per block of reflectors: block z holds reflectors z*HB .. z*HB + bb - 1
// (bb = HB but for a short last block), its S and T HB x HB matrices at z * HB^2 floats.
#include "common.glsl"
#extension GL_EXT_control_flow_attributes : require
#define HB 64 // HAAR_BLOCK in orthonormalize.c
layout(local_size_x = HB) in;
layout(set = 0, binding = 0, rgba32f) uniform readonly imageBuffer SV;
layout(push_constant) uniform P {
    uvec2 t, tau;
    uint n, s0; // reflectors in all; s0: the first S's first texel in SV (rows of HB / 4 texels)
} p;

void main()
{
    Floats T = Floats(p.t), tau = Floats(p.tau);
    uint r = gl_LocalInvocationID.x, z = gl_WorkGroupID.x, k0 = z * HB;
    uint bb = min(uint(HB), p.n - k0), s0 = p.s0 + z * (HB * HB / 4), t0 = z * HB * HB;
    float t[HB];
    [[unroll]] for (uint c = 0u; c < HB; c++)
        t[c] = 0.0;
    [[unroll]] for (uint c = 0u; c < HB; c++)
        if (c == r && r < bb)
            t[c] = tau.v[k0 + r];
    [[unroll]] for (uint i = 1u; i < HB; i++) {
        if (i >= bb)
            break;
        vec4 srow[HB / 4];
        [[unroll]] for (uint q = 0u; q < HB / 4; q++)
            srow[q] = imageLoad(SV, int(s0 + i * (HB / 4) + q));
        float acc = 0.0;
        [[unroll]] for (uint c = 0u; c < i; c++)
            acc = fma(t[c], srow[c / 4][c % 4], acc);
        if (i > r)
            t[i] = -tau.v[k0 + i] * acc;
    }
    [[unroll]] for (uint c = 0u; c < HB; c++)
        T.v[t0 + r * HB + c] = t[c];
}
