#version 460
#extension GL_GOOGLE_include_directive : require
// experiment: subgroup of SG lanes shares TM rows of A read from global and broadcast;
// B staged in shared memory, read as vec4 per lane.
#include "common.glsl"
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_ballot : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_EXT_control_flow_attributes : require
layout(constant_id = 0) const uint TM = 16;
layout(constant_id = 1) const uint TN = 16;
layout(constant_id = 2) const uint SG = 8;
layout(constant_id = 3) const uint NSG = 8;
layout(constant_id = 4) const uint MODE = 0;
layout(local_size_x_id = 5) in;
const uint BK = SG;
const uint BM = NSG * TM;
const uint BN = SG * TN;
const uint NT = SG * NSG;
layout(push_constant) uniform P { uvec2 a, b, c, bias; uint m, n, k, has_bias; } p;
shared vec4 Bs[BK * BN / 4];
void main()
{
    Floats A = Floats(p.a), B = Floats(p.b), C = Floats(p.c), bias = Floats(p.bias);
    uint tid = gl_LocalInvocationID.x, lane = gl_SubgroupInvocationID, sg = gl_SubgroupID;
    uint m0 = gl_WorkGroupID.y * BM + sg * TM, n0 = gl_WorkGroupID.x * BN;
    float acc[TM][TN];
    for (uint i = 0; i < TM; i++) for (uint j = 0; j < TN; j++) acc[i][j] = 0.0;
    for (uint k0 = 0; k0 < p.k; k0 += BK) {
        barrier();
        for (uint e = tid; e < BN * BK; e += NT) {
            uint r = e / BK, kk = e % BK, gn = n0 + r, gk = k0 + kk;
            float v = 0.0;
            if (gn < p.n && gk < p.k) v = B.v[gn * p.k + gk];
            Bs[(kk * BN + r) / 4][r % 4] = v;
        }
        float a[TM];
        uint gk = k0 + lane;
        for (uint i = 0; i < TM; i++) {
            a[i] = 0.0;
            if (m0 + i < p.m && gk < p.k) a[i] = A.v[(m0 + i) * p.k + gk];
        }
        barrier();
        if (MODE == 0) {
            for (uint kk = 0; kk < BK; kk++) {
                vec4 bv[TN / 4];
                for (uint j = 0; j < TN / 4; j++) bv[j] = Bs[(kk * BN + lane * TN) / 4 + j];
                for (uint i = 0; i < TM; i++) {
                    float av = subgroupShuffle(a[i], kk);
                    for (uint j = 0; j < TN; j++)
                        acc[i][j] = fma(av, bv[j / 4][j % 4], acc[i][j]);
                }
            }
        } else {
            [[unroll]] for (uint kk = 0; kk < BK; kk++) {
                vec4 bv[TN / 4];
                for (uint j = 0; j < TN / 4; j++) bv[j] = Bs[(kk * BN + lane * TN) / 4 + j];
                for (uint i = 0; i < TM; i++) {
                    float av = MODE == 1 ? subgroupBroadcast(a[i], kk) : subgroupShuffle(a[i], kk);
                    for (uint j = 0; j < TN; j++)
                        acc[i][j] = fma(av, bv[j / 4][j % 4], acc[i][j]);
                }
            }
        }
    }
    for (uint i = 0; i < TM; i++) {
        uint gm = m0 + i;
        if (gm >= p.m) continue;
        for (uint j = 0; j < TN; j++) {
            uint gn = n0 + lane * TN + j;
            if (gn < p.n) C.v[gm * p.n + gn] = acc[i][j] + (p.has_bias != 0 ? bias.v[gn] : 0.0);
        }
    }
}
