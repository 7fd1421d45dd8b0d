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
// One workgroup per block of HB reflectors: workgroup (x, y) is block x of superblock y
// (random_orthogonal.c merges a superblock's blocks' T into one T afterwards), reflectors
// k0 = (y * blocks per superblock + x) * HB .. k0 + bb - 1 (bb = HB but for a short last
// block; none past n: that block's T is left as the host zeroed it). Its S is the diagonal
// HB x HB block x of superblock y's S (rows s_ld4 texels apart), its T likewise in T.
#include "common.glsl"
#extension GL_EXT_control_flow_attributes : require
#define HB 64 // HAAR_BLOCK in random_orthogonal.c
layout(local_size_x = HB) in;
layout(set = 0, binding = 0, rgba32f) uniform readonly imageBuffer SV;
layout(push_constant) uniform P {
    uvec2 t, tau;
    uint n;      // reflectors in all
    uint s0;     // the first S's first texel in SV
    uint s_ld4;  // texels per row of S
    uint s_sup;  // texels from one superblock's S to the next
    uint t_ld;   // floats per row of T
    uint t_sup;  // floats from one superblock's T to the next
} p;

void main()
{
    Floats T = Floats(p.t), tau = Floats(p.tau);
    uint r = gl_LocalInvocationID.x, x = gl_WorkGroupID.x, y = gl_WorkGroupID.y;
    uint k0 = (y * gl_NumWorkGroups.x + x) * HB;
    if (k0 >= p.n)
        return;
    uint bb = min(uint(HB), p.n - k0);
    uint s0 = p.s0 + y * p.s_sup + x * (HB * p.s_ld4 + HB / 4), t0 = y * p.t_sup + x * (HB * p.t_ld + HB);
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
            srow[q] = imageLoad(SV, int(s0 + i * p.s_ld4 + q));
        float acc = 0.0;
        [[unroll]] for (uint c = 0u; c < i; c++)
            acc = fma(t[c], srow[c / 4][c % 4], acc);
        if (i > r)
            t[i] = -tau.v[k0 + i] * acc;
    }
    [[unroll]] for (uint c = 0u; c < HB; c++)
        T.v[t0 + r * p.t_ld + c] = t[c];
}
