#version 460
#extension GL_GOOGLE_include_directive : require
// experiment: vec4 shared reads, configurable thread grid
#include "common.glsl"
#extension GL_EXT_control_flow_attributes : require
#extension GL_KHR_shader_subgroup_basic : require
layout(constant_id = 6) const uint SGMODE = 0;
layout(constant_id = 0) const uint TM = 4;
layout(constant_id = 1) const uint TN = 4;
layout(constant_id = 2) const uint BK = 16;
layout(constant_id = 3) const uint WM = 16;
layout(constant_id = 4) const uint WN = 16;
layout(local_size_x_id = 5) in;
const uint BM = WM * TM;
const uint BN = WN * TN;
const uint NT = WM * WN;
layout(push_constant) uniform P { uvec2 a, b, c, bias; uint m, n, k, has_bias; } p;
shared vec4 As[BK * BM / 4];
shared vec4 Bs[BK * BN / 4];
void main()
{
    Floats A = Floats(p.a), B = Floats(p.b), C = Floats(p.c), bias = Floats(p.bias);
    uint tid = gl_LocalInvocationID.x, tx = tid % WN, ty = tid / WN;
    if (SGMODE == 1) { ty = gl_SubgroupID; tx = gl_SubgroupInvocationID; }
    uint m0 = gl_WorkGroupID.y * BM, n0 = gl_WorkGroupID.x * BN;
    float acc[TM][TN];
    for (uint i = 0; i < TM; i++) for (uint j = 0; j < TN; j++) acc[i][j] = 0.0;
    for (uint k0 = 0; k0 < p.k; k0 += BK) {
        barrier();
        for (uint e = tid; e < BM * BK; e += NT) {
            uint r = e / BK, kk = e % BK, gm = m0 + r, gk = k0 + kk;
            float v = 0.0;
            if (gm < p.m && gk < p.k) v = A.v[gm * p.k + gk];
            As[(kk * BM + r) / 4][r % 4] = v;
        }
        for (uint e = tid; e < BN * BK; e += NT) {
            uint r = e / BK, kk = e % BK, gn = n0 + r, gk = k0 + kk;
            float v = 0.0;
            if (gn < p.n && gk < p.k) v = B.v[gn * p.k + gk];
            Bs[(kk * BN + r) / 4][r % 4] = v;
        }
        barrier();
        for (uint kk = 0; kk < BK; kk++) {
            vec4 av[TM / 4], bv[TN / 4];
            for (uint i = 0; i < TM / 4; i++) av[i] = As[(kk * BM + ty * TM) / 4 + i];
            for (uint j = 0; j < TN / 4; j++) bv[j] = Bs[(kk * BN + tx * TN) / 4 + j];
            for (uint i = 0; i < TM; i++) for (uint j = 0; j < TN; j++)
                acc[i][j] = fma(av[i / 4][i % 4], bv[j / 4][j % 4], acc[i][j]);
        }
    }
    for (uint i = 0; i < TM; i++) {
        uint gm = m0 + ty * TM + i;
        if (gm >= p.m) continue;
        for (uint j = 0; j < TN; j++) {
            uint gn = n0 + tx * TN + j;
            if (gn < p.n) C.v[gm * p.n + gn] = acc[i][j] + (p.has_bias != 0 ? bias.v[gn] : 0.0);
        }
    }
}
