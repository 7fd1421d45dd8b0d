#version 460
#extension GL_GOOGLE_include_directive : require
// gemm.comp - dense and implicit-GEMM conv2d, tiled for GPUs:
//   out[r][c] = sum_k D[r][k] * W[c][k] (+ bias[c]); r: data row (dense: batch row;
//   conv: output position b*OH*OW + p), c: output feature / channel within the group
//   (group in gl_WorkGroupID.z). Conv reads D = im2col(x) on the fly.
// 256 threads as 16 x 16; a BR x BC tile per workgroup, TM x TN per thread (contiguous, so
// shared memory is read as vec4); K in slices of BK staged transposed in shared memory.
// Every thread keeps its staging slots fixed across slices, so conv index math (divisions)
// happens once per tile and the (channel, kernel row, kernel column) of a slot advances
// incrementally. Accumulation is fp32 with fma.
#include "common.glsl"

layout(constant_id = 0) const uint TM = 4;    // rows per thread (multiple of 4)
layout(constant_id = 1) const uint TN = 4;    // columns per thread (multiple of 4)
layout(constant_id = 2) const uint BK = 8;    // K slice (power of two, <= 16)
layout(constant_id = 3) const uint CONV = 0;  // 0 dense, 1 conv2d

layout(local_size_x = 256) in;
const uint BR = 16 * TM;
const uint BC = 16 * TN;
const uint BRP = BR + 4;  // padded rows of the shared tiles: the transposing stores
const uint BCP = BC + 4;  // (k fastest) then fall into different banks
const uint DSLOTS = BR * BK / 256;  // data elements staged per thread and slice
const uint WSLOTS = BC * BK / 256;  // weight elements staged per thread and slice

layout(push_constant) uniform P {
    uvec2 x, w, bias, y;
    uint rows, cols, k, has_bias;
    uint c, h, wd, ohw, ow, r, s, sh, sw, ph, pw, dh, dw, cg, kout;
} p;

shared vec4 Ds[BK * BRP / 4];
shared vec4 Ws[BK * BCP / 4];

void main()
{
    Floats X = Floats(p.x), W = Floats(p.w), Y = Floats(p.y), bias = Floats(p.bias);
    uint tid = gl_LocalInvocationID.x, tc = tid % 16, tr = tid / 16;
    uint row_tiles = (p.rows + BR - 1) / BR, col_tiles = (p.cols + BC - 1) / BC;
    uint groups = CONV != 0 ? p.kout / p.cols : 1;
    uint hw = p.h * p.wd;

    // Staging slots. Dense data and weights: k fastest (K-contiguous rows coalesce).
    // Conv data: row fastest (neighbouring output pixels are neighbours in x), so a
    // thread stages one row (BR divides 256) and the k indices kk0 + q * (256 / BR).
    uint drow = CONV != 0 ? tid % BR : 0;
    uint dkk0 = CONV != 0 ? tid / BR : 0;

    for (uint g = gl_WorkGroupID.z; g < groups; g += gl_NumWorkGroups.z)
    for (uint rt = gl_WorkGroupID.y; rt < row_tiles; rt += gl_NumWorkGroups.y)
    for (uint ct = gl_WorkGroupID.x; ct < col_tiles; ct += gl_NumWorkGroups.x) {
        uint r0 = rt * BR, c0 = ct * BC;
        uint wrow0 = g * p.cols + c0;

        // conv: the staged row's input origin, and each slot's k as (channel, kr, ks)
        uint roff = 0;
        int ih0 = 0, iw0 = 0;
        bool rin = r0 + drow < p.rows;
        uint kc[DSLOTS], kr[DSLOTS], ks[DSLOTS];
        if (CONV != 0) {
            uint row = min(r0 + drow, p.rows - 1);
            uint b = row / p.ohw, q = row % p.ohw;
            ih0 = int(q / p.ow * p.sh) - int(p.ph);
            iw0 = int(q % p.ow * p.sw) - int(p.pw);
            roff = (b * p.c + g * p.cg) * hw + uint(ih0 * int(p.wd) + iw0);
            for (uint q2 = 0; q2 < DSLOTS; q2++) {
                uint kk = dkk0 + q2 * (256 / BR);
                kc[q2] = kk / (p.r * p.s);
                kr[q2] = kk % (p.r * p.s) / p.s;
                ks[q2] = kk % p.s;
            }
        }

        float acc[TM][TN];
        for (uint i = 0; i < TM; i++)
            for (uint j = 0; j < TN; j++)
                acc[i][j] = 0.0;

        for (uint k0 = 0; k0 < p.k; k0 += BK) {
            barrier();
            if (CONV == 0) {
                for (uint q2 = 0; q2 < DSLOTS; q2++) {
                    uint e = tid + 256 * q2, row = e / BK, kk = e % BK;
                    float v = 0.0;
                    if (r0 + row < p.rows && k0 + kk < p.k)
                        v = X.v[(r0 + row) * p.k + k0 + kk];
                    Ds[(kk * BRP + row) / 4][row % 4] = v;
                }
            } else {
                for (uint q2 = 0; q2 < DSLOTS; q2++) {
                    uint kk = dkk0 + q2 * (256 / BR);
                    int ih = ih0 + int(kr[q2] * p.dh), iw = iw0 + int(ks[q2] * p.dw);
                    float v = 0.0;
                    if (rin && k0 + kk < p.k && uint(ih) < p.h && uint(iw) < p.wd)
                        v = X.v[roff + kc[q2] * hw + uint(int(kr[q2] * p.dh) * int(p.wd) +
                                                          int(ks[q2] * p.dw))];
                    Ds[(kk * BRP + drow) / 4][drow % 4] = v;
                    ks[q2] += BK;
                    while (ks[q2] >= p.s) {
                        ks[q2] -= p.s;
                        kr[q2]++;
                    }
                    while (kr[q2] >= p.r) {
                        kr[q2] -= p.r;
                        kc[q2]++;
                    }
                }
            }
            for (uint q2 = 0; q2 < WSLOTS; q2++) {
                uint e = tid + 256 * q2, col = e / BK, kk = e % BK;
                float v = 0.0;
                if (c0 + col < p.cols && k0 + kk < p.k)
                    v = W.v[(wrow0 + col) * p.k + k0 + kk];
                Ws[(kk * BCP + col) / 4][col % 4] = v;
            }
            barrier();
            for (uint kk = 0; kk < BK; kk++) {
                vec4 av[TM / 4], bv[TN / 4];
                for (uint i = 0; i < TM / 4; i++)
                    av[i] = Ds[(kk * BRP + tr * TM) / 4 + i];
                for (uint j = 0; j < TN / 4; j++)
                    bv[j] = Ws[(kk * BCP + tc * TN) / 4 + j];
                for (uint i = 0; i < TM; i++)
                    for (uint j = 0; j < TN; j++)
                        acc[i][j] = fma(av[i / 4][i % 4], bv[j / 4][j % 4], acc[i][j]);
            }
        }

        for (uint i = 0; i < TM; i++) {
            uint row = r0 + tr * TM + i;
            if (row >= p.rows)
                break;
            uint base = row * p.cols, cstride = 1;
            if (CONV != 0) {
                uint b = row / p.ohw, q = row % p.ohw;
                base = (b * p.kout + g * p.cols) * p.ohw + q;
                cstride = p.ohw;
            }
            for (uint j = 0; j < TN; j++) {
                uint col = c0 + tc * TN + j;
                if (col < p.cols) {
                    float v = acc[i][j];
                    if (p.has_bias != 0)
                        v += bias.v[g * p.cols + col];
                    Y.v[base + col * cstride] = v;
                }
            }
        }
    }
}
