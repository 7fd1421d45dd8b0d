#version 460
#extension GL_GOOGLE_include_directive : require
// gemm_sg.comp - dense / implicit-GEMM conv2d for CPU devices (lavapipe, SwiftShader), where a
// subgroup is one SIMD vector and every per-lane memory access costs a scalar loop.
//   out[r][c] = sum_k D[r][k] * W[c][k] (+ bias[c]); r: data row (dense: batch row;
//   conv: output position b*OH*OW + p), c: output feature / channel within the group.
// A subgroup owns TM rows and SG*TN columns; each lane TN consecutive columns. The K loop
// goes in slices of SG: lane l fetches D[r][k0 + l] for the subgroup's TM rows straight
// from memory (no redundancy: rows belong to one subgroup) and subgroupShuffle hands
// value kk to every lane (one permute on a CPU). Weights, shared by the NSG subgroups of
// the workgroup, are staged in shared memory and read back as vec4 (one lane loop for
// four values). Accumulation is fp32 with fma.
#include "common.glsl"
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_EXT_control_flow_attributes : require

layout(constant_id = 0) const uint TM = 32;   // rows per subgroup
layout(constant_id = 1) const uint TN = 8;    // columns per lane (multiple of 4)
layout(constant_id = 2) const uint SG = 8;    // subgroup size = K slice
layout(constant_id = 3) const uint NSG = 8;   // subgroups per workgroup
layout(constant_id = 4) const uint CONV = 0;  // 0 dense, 1 conv2d
layout(local_size_x_id = 5) in;               // SG * NSG

const uint BR = NSG * TM;  // rows per workgroup tile
const uint BC = SG * TN;   // columns per workgroup tile
const uint NT = SG * NSG;

layout(push_constant) uniform P {
    uvec2 x, w, bias, y;
    uint rows, cols, k, has_bias;
    // conv2d only: input C,H,W; OH*OW; OW; kernel R,S; stride, pad, dilation; C/groups;
    // total output channels
    uint c, h, wd, ohw, ow, r, s, sh, sw, ph, pw, dh, dw, cg, kout;
} p;

shared vec4 Ws[SG * BC / 4];

void main()
{
    Floats X = Floats(p.x), W = Floats(p.w), Y = Floats(p.y), bias = Floats(p.bias);
    uint tid = gl_LocalInvocationID.x, lane = gl_SubgroupInvocationID, sg = gl_SubgroupID;
    uint row_tiles = (p.rows + BR - 1) / BR, col_tiles = (p.cols + BC - 1) / BC;
    uint groups = CONV != 0 ? p.kout / p.cols : 1;
    uint hw = p.h * p.wd;

    for (uint g = gl_WorkGroupID.z; g < groups; g += gl_NumWorkGroups.z)
    for (uint rt = gl_WorkGroupID.y; rt < row_tiles; rt += gl_NumWorkGroups.y)
    for (uint ct = gl_WorkGroupID.x; ct < col_tiles; ct += gl_NumWorkGroups.x) {
        uint r0 = rt * BR + sg * TM, c0 = ct * BC;
        uint wrow0 = g * p.cols + c0;  // first weight row of the tile

        // Per row: where its data starts. Dense: row offset. Conv: offset of input pixel
        // (ih0, iw0) of channel g*Cg (wrapping uint arithmetic: the pixel may lie in the
        // padding, only in-range sums are dereferenced), plus ih0, iw0 for the bounds test.
        uint roff[TM];
        int ih0[TM], iw0[TM];
        for (uint i = 0; i < TM; i++) {
            uint row = min(r0 + i, p.rows - 1);
            if (CONV == 0) {
                roff[i] = row * p.k;
                ih0[i] = 0;
                iw0[i] = 0;
            } else {
                uint b = row / p.ohw, q = row % p.ohw;
                ih0[i] = int(q / p.ow * p.sh) - int(p.ph);
                iw0[i] = int(q % p.ow * p.sw) - int(p.pw);
                roff[i] = (b * p.c + g * p.cg) * hw + uint(ih0[i] * int(p.wd) + iw0[i]);
            }
        }
        // this lane's k index, as (channel, kernel row, kernel column), advanced per slice
        uint kc = 0, kr = 0, ks = lane;
        if (CONV != 0) {
            kc = lane / (p.r * p.s);
            kr = lane % (p.r * p.s) / p.s;
            ks = lane % p.s;
        }

        float acc[TM][TN];
        for (uint i = 0; i < TM; i++)
            for (uint j = 0; j < TN; j++)
                acc[i][j] = 0.0;

        for (uint k0 = 0; k0 < p.k; k0 += SG) {
            barrier();
            // four columns per item: one vec4 store (a single lane loop) instead of four
            for (uint e = tid; e < BC / 4 * SG; e += NT) {
                uint col = e / SG * 4, kk = e % SG;
                vec4 v = vec4(0.0);
                if (k0 + kk < p.k)
                    for (uint t = 0; t < 4; t++)
                        if (c0 + col + t < p.cols)
                            v[t] = W.v[(wrow0 + col + t) * p.k + k0 + kk];
                Ws[(kk * BC + col) / 4] = v;
            }
            float a[TM];
            bool kin = k0 + lane < p.k;
            if (CONV == 0) {
                for (uint i = 0; i < TM; i++) {
                    a[i] = 0.0;
                    if (kin)
                        a[i] = X.v[roff[i] + k0 + lane];
                }
            } else {
                int dih = int(kr * p.dh), diw = int(ks * p.dw);
                uint koff = kc * hw + uint(dih * int(p.wd) + diw);
                for (uint i = 0; i < TM; i++) {
                    a[i] = 0.0;
                    if (kin && uint(ih0[i] + dih) < p.h && uint(iw0[i] + diw) < p.wd)
                        a[i] = X.v[roff[i] + koff];
                }
                // next slice: k += SG
                ks += SG;
                while (ks >= p.s) {
                    ks -= p.s;
                    kr++;
                }
                while (kr >= p.r) {
                    kr -= p.r;
                    kc++;
                }
            }
            barrier();
            // subgroups whose rows are all past the end skip the arithmetic (uniform)
            if (r0 < p.rows) {
                [[unroll]] for (uint kk = 0; kk < SG; kk++) {
                    vec4 bv[TN / 4];
                    for (uint j = 0; j < TN / 4; j++)
                        bv[j] = Ws[(kk * BC + lane * TN) / 4 + j];
                    for (uint i = 0; i < TM; i++) {
                        float av = subgroupShuffle(a[i], kk);
                        for (uint j = 0; j < TN; j++)
                            acc[i][j] = fma(av, bv[j / 4][j % 4], acc[i][j]);
                    }
                }
            }
        }

        float bj[TN];
        for (uint j = 0; j < TN; j++) {
            uint col = c0 + lane * TN + j;
            bj[j] = 0.0;
            if (p.has_bias != 0 && col < p.cols)
                bj[j] = bias.v[g * p.cols + col];
        }
        // results leave through one store loop (dynamic index): unrolled, TM x TN stores
        // would multiply the shader's size and its compile time on CPU devices
        float o[TM * TN];
        for (uint i = 0; i < TM; i++)
            for (uint j = 0; j < TN; j++)
                o[i * TN + j] = acc[i][j] + bj[j];
        for (uint e = 0; e < TM * TN; e++) {
            uint row = r0 + e / TN, col = c0 + lane * TN + e % TN;
            if (row >= p.rows || col >= p.cols)
                continue;
            uint at = row * p.cols + col;  // dense: y[row][c]
            if (CONV != 0) {                // y[b][g*Kg + c][q]
                uint b = row / p.ohw, q = row % p.ohw;
                at = ((b * p.kout + g * p.cols) + col) * p.ohw + q;
            }
            Y.v[at] = o[e];
        }
    }
}
