#version 460
#extension GL_GOOGLE_include_directive : require
// gemm_txk.comp - the update products of the orthonormalizations on CPU devices whose
// operands are K-major as they lie (random_orthogonal.c: QT -= A W, W = T^T V;
// orthonormalize.c: the MGS projections P -= Ct^T Q):
//   out[m][c] = alpha * sum_k D[k][m] W[k][c] (+ out, when accumulate)
// as a sum of outer products: texel (k, j) of D holds rows 4j..4j+3 at depth k, likewise
// W. An invocation owns a TR x TC tile: per k it loads TR / 4 + TC / 4 texels and does
// TR * TC multiply-adds. Row tiles are fastest across invocations: the lanes of a subgroup
// read neighbouring data texels and the same weight texels. Rows and columns are padded
// (multiples of 8, of 16 for 16-wide tiles) in the operands; only the stores test bounds.
// (Dense layers used to take this form too; gemm_tx's dot-product form with 16 x 16 tiles
// overtook it: forward_gemm.c.)
#include "common.glsl"

layout(local_size_x = 64) in;
// TXY: the output read (accumulate) and written through a third texel view, two texels
// per row of a tile, instead of 64 device-address accesses (a loop over the lanes each on
// CPU devices; with a short k they cost more than the products). Needs cols % TC == 0 and
// rows of whole texels.
layout(constant_id = 0) const bool TXY = false;
// rows and columns per invocation (multiples of 4; operands padded to multiples of 8, so
// 16 needs the host to pad to 16: forward_gemm.c)
layout(constant_id = 1) const uint TR = 8;
layout(constant_id = 2) const uint TC = 8;
layout(set = 0, binding = 0, rgba32f) uniform readonly imageBuffer D;
layout(set = 0, binding = 1, rgba32f) uniform readonly imageBuffer W;
layout(set = 0, binding = 2, rgba32f) uniform imageBuffer YT;

layout(push_constant) uniform P {
    uvec2 y;
    uint rows, cols, k;
    uint d0, w0;     // first texels in the views
    uint ldd, ldw;   // texels per k: padded rows / 4, padded columns / 4
    uint ldy;        // output floats per row
    float alpha;     // out = alpha * product (+ out, when accumulate)
    uint accumulate;
    uint y0;         // TXY: the output's first texel in YT
    // a batch of products, one per workgroup row z (random_orthogonal.c): operand z starts
    // d_bat / w_bat texels, its output y_bat texels (TXY) further than those of z - 1, and
    // has c_bat columns fewer
    uint d_bat, w_bat, y_bat, c_bat;
    // D upper triangular in its first rows (random_orthogonal.c: T, and A = QT V^T on the
    // identity rows of QT), D[k][m] = 0 for k > m: an invocation stops its k loop after
    // its row tile's last row
    uint tri;
} p;

void main()
{
    Floats Y = Floats(p.y);
    uint z = gl_WorkGroupID.y, cols = p.cols - z * p.c_bat;
    uint rtiles = (p.rows + TR - 1) / TR, ctiles = (cols + TC - 1) / TC; // within ldd, ldw: padded
    uint total = rtiles * ctiles;
    uint stride = gl_NumWorkGroups.x * gl_WorkGroupSize.x;
    for (uint i = gl_GlobalInvocationID.x; i < total; i += stride) {
        uint rt = i % rtiles, ct = i / rtiles;
        int da = int(p.d0 + z * p.d_bat + rt * (TR / 4)), wa = int(p.w0 + z * p.w_bat + ct * (TC / 4));
        float acc[TR][TC];
        for (uint a = 0; a < TR; a++)
            for (uint b = 0; b < TC; b++)
                acc[a][b] = 0.0;
        uint kend = p.tri != 0 ? min(p.k, (rt + 1) * TR) : p.k;
        for (uint k = 0; k < kend; k++, da += int(p.ldd), wa += int(p.ldw)) {
            float dv[TR], wv[TC];
            for (uint j = 0; j < TR / 4; j++) {
                vec4 t = imageLoad(D, da + int(j));
                dv[4 * j] = t.x, dv[4 * j + 1] = t.y, dv[4 * j + 2] = t.z, dv[4 * j + 3] = t.w;
            }
            for (uint j = 0; j < TC / 4; j++) {
                vec4 t = imageLoad(W, wa + int(j));
                wv[4 * j] = t.x, wv[4 * j + 1] = t.y, wv[4 * j + 2] = t.z, wv[4 * j + 3] = t.w;
            }
            for (uint a = 0; a < TR; a++)
                for (uint b = 0; b < TC; b++)
                    acc[a][b] = fma(dv[a], wv[b], acc[a][b]);
        }
        if (TXY) {
            for (uint a = 0; a < TR; a++) {
                uint m = rt * TR + a;
                if (m >= p.rows)
                    break;
                int at = int(p.y0 + z * p.y_bat + m * (p.ldy / 4) + ct * (TC / 4));
                for (uint j = 0; j < TC / 4; j++) {
                    vec4 o = p.alpha * vec4(acc[a][4 * j], acc[a][4 * j + 1], acc[a][4 * j + 2], acc[a][4 * j + 3]);
                    if (p.accumulate != 0)
                        o += imageLoad(YT, at + int(j));
                    imageStore(YT, at + int(j), o);
                }
            }
            continue;
        }
        for (uint a = 0; a < TR; a++) {
            uint m = rt * TR + a;
            if (m >= p.rows)
                break;
            for (uint b = 0; b < TC; b++) {
                uint c = ct * TC + b;
                if (c < cols) {
                    float v = p.alpha * acc[a][b];
                    Y.v[m * p.ldy + c] = p.accumulate != 0 ? Y.v[m * p.ldy + c] + v : v;
                }
            }
        }
    }
}
