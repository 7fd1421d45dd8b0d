#version 460
#extension GL_GOOGLE_include_directive : require
// gemm_tx.comp - conv2d (implicit GEMM) for CPU devices (dense layers: gemm_txk.comp):
//   out[m][c] = sum_k D[m][k] * W[c][k] (+ bias[c])
// with both operands read through rgba32f storage texel buffers (texel.c), K-contiguous,
// zero-padded to whole texels (pack_tx.comp).
// Why this shape (shared/DESIGN.md, "Lavapipe"): a texel load is one 16-byte load per lane
// there, a device-address or shared-memory load a loop over the lanes; an 8 x 8 register
// tile per invocation with no shared memory reached 45 GFLOP/s where shared-memory tiles
// reached 9. Each step loads 8 data texels and 8 weight texels for 256 multiply-adds.
// Invocations take tiles with the row tile fastest, so the lanes of a subgroup read the
// same weights and neighbouring rows.
//
// D is dense rows ([rows][t texels]; with r = s = 1, ohw = ow = 1) or the conv input packed as
// [image][Hp][Wp][group][t texels] (channels innermost, padding already in place): the k
// loop over (kernel row, kernel column, texel) is then pure address arithmetic with no
// bounds tests. W is [group * cols + c][R][S][t texels]. Y is written through its device
// address (a small share of the traffic): Y[b * ybs + q + (g * cols + c) * ycs] for row
// m = b * ohw + q.
#include "common.glsl"

layout(constant_id = 0) const uint TR = 8;  // rows per invocation
layout(constant_id = 1) const uint TC = 8;  // columns per invocation
// YT_FORM: how Y is written. 0: float by float through its device address (any layout).
// Through texel views (vk/texel.c: on lavapipe a device-address store is a loop over the
// lanes; 64 per tile cost as much as ~64 steps of k):
//   1: conv, ohw % 4 == 0: each 4 rows of a tile are 4 positions of one image (rows start
//      at multiples of 4), so each column's values are TR / 4 texels of YT (NCHW);
//   2: rows of outputs (ohw == 1, ycs == 1), cols % TC == 0 and ybs % 4 == 0: each row of
//      a tile is TC / 4 texels of YT.
layout(constant_id = 2) const uint YT_FORM = 0;
layout(local_size_x = 64) in;
layout(set = 0, binding = 0, rgba32f) uniform readonly imageBuffer D;
layout(set = 0, binding = 1, rgba32f) uniform readonly imageBuffer W;
layout(set = 0, binding = 2, rgba32f) uniform writeonly imageBuffer YT;

layout(push_constant) uniform P {
    uvec2 y, bias;
    uint rows, cols, groups, has_bias;
    uint d0, w0, t, r, s;      // first texels; texels per step; kernel size (dense: 1 x 1)
    uint d_kr, d_ks, d_img;    // data texels per kernel row, kernel column and image
    uint ohw, ow, wp, gt, sh, sw; // conv geometry (dense: ohw = ow = 1)
    uint ybs, ycs;             // output floats per image and per column
    uint wst;                  // weight texels from column to column (0: r * s * t)
    // a batch of products, one per workgroup row z (the blocks of the Householder
    // construction, random_orthogonal.c): operand z starts d_bat / w_bat texels and its
    // output y_bat floats further than operand z - 1, with t_bat texels fewer per step
    uint d_bat, w_bat, y_bat, t_bat;
    uint yt0; // YT_FORM != 0: the output's first texel in YT
    // dense form only (r = s = 1), the Householder blocks (random_orthogonal.c), whose row
    // m of D is zero before float m: bit 0, an invocation starts its k loop at its row
    // tile's first row (the skipped terms are zeros); bit 1 (D = W, a Gram matrix), tiles
    // wholly above the diagonal are neither made nor written (only the lower half is read)
    uint tri;
} p;

void main()
{
    Floats Y = Floats(p.y), B = Floats(p.bias);
    uint rtiles = (p.rows + TR - 1) / TR, ctiles = (p.cols + TC - 1) / TC;
    uint total = rtiles * ctiles * p.groups;
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    uint z = gl_WorkGroupID.y, t = p.t - z * p.t_bat;
    uint d0 = p.d0 + z * p.d_bat, w0 = p.w0 + z * p.w_bat, y0 = z * p.y_bat;
    uint wcol = p.wst != 0 ? p.wst : p.r * p.s * t;  // weight texels per output column
    for (uint i = gl_GlobalInvocationID.x; i < total; i += stride) {
        uint rt = i % rtiles, rest = i / rtiles;
        uint ct = rest % ctiles, g = rest / ctiles;
        if ((p.tri & 2u) != 0 && ct * TC >= (rt + 1) * TR)
            continue;
        uint kbeg = (p.tri & 1u) != 0 ? min(rt * (TR / 4), t) : 0;
        int da[TR], wa[TC];
        for (uint a = 0; a < TR; a++) {
            uint m = min(rt * TR + a, p.rows - 1);  // tails recompute the last row
            uint b = m / p.ohw, q = m % p.ohw;
            da[a] = int(d0 + b * p.d_img + ((q / p.ow) * p.sh * p.wp + (q % p.ow) * p.sw) * p.gt + g * t);
        }
        for (uint b = 0; b < TC; b++) {
            uint c = min(ct * TC + b, p.cols - 1);
            wa[b] = int(w0 + (g * p.cols + c) * wcol);
        }
        float acc[TR][TC];
        for (uint a = 0; a < TR; a++)
            for (uint b = 0; b < TC; b++)
                acc[a][b] = 0.0;
        int wo = int(kbeg);
        for (uint kr = 0; kr < p.r; kr++)
            for (uint ks = 0; ks < p.s; ks++) {
                int dof = int(kr * p.d_kr + ks * p.d_ks + kbeg);
                for (uint k4 = kbeg; k4 < t; k4++, dof++, wo++) {
                    vec4 dv[TR], wv[TC];
                    for (uint a = 0; a < TR; a++)
                        dv[a] = imageLoad(D, da[a] + dof);
                    for (uint b = 0; b < TC; b++)
                        wv[b] = imageLoad(W, wa[b] + wo);
                    for (uint a = 0; a < TR; a++)
                        for (uint b = 0; b < TC; b++) {
                            float v = acc[a][b];
                            v = fma(dv[a].x, wv[b].x, v);
                            v = fma(dv[a].y, wv[b].y, v);
                            v = fma(dv[a].z, wv[b].z, v);
                            acc[a][b] = fma(dv[a].w, wv[b].w, v);
                        }
                }
            }
        if (YT_FORM == 1u) {
            // each quad of rows (rows % 4 == 0) lies in one image: its first texel per column
            uint qbase[TR / 4];
            for (uint j = 0; j < TR / 4; j++) {
                uint m0 = min(rt * TR + 4 * j, p.rows - 4); // past the end: rewrites the last quad
                qbase[j] = p.yt0 + (y0 + m0 / p.ohw * p.ybs + m0 % p.ohw) / 4;
            }
            for (uint b = 0; b < TC; b++) {
                uint c = ct * TC + b;
                if (c >= p.cols)
                    break;
                uint col = g * p.cols + c;
                float bv = p.has_bias != 0 ? B.v[col] : 0.0;
                for (uint j = 0; j < TR / 4; j++)
                    if (rt * TR + 4 * j < p.rows)
                        imageStore(YT, int(qbase[j] + col * p.ycs / 4),
                                   vec4(acc[4 * j][b], acc[4 * j + 1][b], acc[4 * j + 2][b], acc[4 * j + 3][b]) + bv);
            }
            continue;
        }
        if (YT_FORM == 2u) {
            uint c0 = g * p.cols + ct * TC;
            vec4 bv[TC / 4];
            for (uint j = 0; j < TC / 4; j++)
                bv[j] = p.has_bias != 0 ? vec4(B.v[c0 + 4 * j], B.v[c0 + 4 * j + 1], B.v[c0 + 4 * j + 2],
                                               B.v[c0 + 4 * j + 3])
                                        : vec4(0.0);
            for (uint a = 0; a < TR; a++) {
                uint m = rt * TR + a;
                if (m >= p.rows)
                    break;
                int at = int(p.yt0 + (y0 + m * p.ybs + c0) / 4);
                for (uint j = 0; j < TC / 4; j++)
                    imageStore(YT, at + int(j), vec4(acc[a][4 * j], acc[a][4 * j + 1], acc[a][4 * j + 2],
                                                     acc[a][4 * j + 3]) + bv[j]);
            }
            continue;
        }
        for (uint a = 0; a < TR; a++) {
            uint m = rt * TR + a;
            if (m >= p.rows)
                break;
            uint base = y0 + m / p.ohw * p.ybs + m % p.ohw;
            for (uint b = 0; b < TC; b++) {
                uint c = ct * TC + b;
                if (c < p.cols) {
                    uint col = g * p.cols + c;
                    Y.v[base + col * p.ycs] = acc[a][b] + (p.has_bias != 0 ? B.v[col] : 0.0);
                }
            }
        }
    }
}
