#version 460
#extension GL_GOOGLE_include_directive : require
// chol_block.comp - one diagonal block of a blocked Cholesky factorization G = L L^T
// (cholesky_qr.c): the CB x CB block at (k0, k0) of G, already updated by the panels
// before it, becomes L's diagonal block, and its inverse is written twice, by rows (LI)
// and transposed (LIT), for the products that use it.
// One workgroup of CB invocations; invocation r owns row r of the block in a private array
// with constant indices (every loop unrolled: on CPU devices dynamic indexing and
// device-address loads are loops over the lanes), right-looking: at step k the pivot's
// column goes through memory (the block's rows of G, a texel view) and one barrier.
// Rows at or past n (padding up to whole blocks) are rows of the identity. A pivot that is
// not positive (never for the Gaussian matrices this serves, m >= 4n) is taken as tiny:
// the result stays finite.
#include "common.glsl"
#extension GL_EXT_control_flow_attributes : require
#define CB 64 // LSUV_CHOLQR_BLOCK in kernels.h
layout(local_size_x = CB) in;
layout(set = 0, binding = 0, rgba32f) uniform coherent imageBuffer G;
layout(push_constant) uniform P {
    uvec2 li, lit;  // Linv by rows (row stride ldli floats), Linv^T (CB x CB, rows of CB)
    uint n;         // rows that are not padding
    uint k0;        // the block's first row and column
    uint g0;        // G's first texel in its view
    uint ldg4;      // texels per row of G
    uint ldli;      // floats per row of LI
} p;

void main()
{
    Floats LI = Floats(p.li), LIT = Floats(p.lit);
    uint r = gl_LocalInvocationID.x, row = p.k0 + r;
    int at = int(p.g0 + row * p.ldg4 + p.k0 / 4);
    bool pad = row >= p.n;
    float a[CB];
    [[unroll]] for (uint q = 0; q < CB / 4; q++) {
        vec4 t = imageLoad(G, at + int(q));
        a[4 * q] = t.x, a[4 * q + 1] = t.y, a[4 * q + 2] = t.z, a[4 * q + 3] = t.w;
    }
    [[unroll]] for (uint c = 0; c < CB; c++)
        if (pad)
            a[c] = c == r ? 1.0 : 0.0;
    // right-looking: after step k, a[k] is L[r][k] for r >= k. Column k goes through
    // memory unscaled, each lane storing its row's texel with the values it had when
    // their columns' steps came (u), so a texel never changes a value another lane may
    // still read: one barrier a step.
    float u[CB];
    [[unroll]] for (uint k = 0; k < CB; k++) {
        u[k] = a[k];
        imageStore(G, at + int(k / 4), vec4(u[k & ~3u], (k & 3u) >= 1 ? u[(k & ~3u) + 1] : a[(k & ~3u) + 1],
                                            (k & 3u) >= 2 ? u[(k & ~3u) + 2] : a[(k & ~3u) + 2],
                                            (k & 3u) >= 3 ? u[(k & ~3u) + 3] : a[(k & ~3u) + 3]));
        memoryBarrierImage();
        barrier();
        float d = sqrt(max(imageLoad(G, int(p.g0 + (p.k0 + k) * p.ldg4 + (p.k0 + k) / 4))[k % 4], 1e-30));
        if (r == k)
            a[k] = d;
        if (r > k) {
            float l = a[k] / d, ld = l / d; // L[j][k] = raw / d: l L[j][k] = ld raw
            a[k] = l;
            [[unroll]] for (uint j = k + 1; j < CB; j++) {
                if (j > r)
                    break;
                a[j] = fma(-ld, imageLoad(G, int(p.g0 + (p.k0 + j) * p.ldg4 + (p.k0 + k) / 4))[k % 4], a[j]);
            }
        }
    }
    barrier(); // every lane done reading before the rows are rewritten
    // L's rows back in place, zeros above the diagonal: the column solve below reads them
    // (the products outside use L only through LI and LIT)
    [[unroll]] for (uint q = 0; q < CB / 4; q++)
        imageStore(G, at + int(q), vec4(4 * q <= r ? a[4 * q] : 0.0, 4 * q + 1 <= r ? a[4 * q + 1] : 0.0,
                                        4 * q + 2 <= r ? a[4 * q + 2] : 0.0, 4 * q + 3 <= r ? a[4 * q + 3] : 0.0));
    memoryBarrierImage();
    barrier();
    // column r of L^{-1} by forward substitution, L's rows read from G: x_i for i >= r
    float x[CB];
    [[unroll]] for (uint i = 0; i < CB; i++) {
        float s = i == r ? 1.0 : 0.0;
        vec4 lrow[CB / 4];
        [[unroll]] for (uint q = 0; q < CB / 4; q++)
            lrow[q] = imageLoad(G, int(p.g0 + (p.k0 + i) * p.ldg4 + p.k0 / 4 + q));
        [[unroll]] for (uint j = 0; j < i; j++)
            s = fma(-lrow[j / 4][j % 4], x[j], s);
        x[i] = i < r ? 0.0 : s / lrow[i / 4][i % 4];
    }
    [[unroll]] for (uint i = 0; i < CB; i++) {
        LIT.v[r * CB + i] = x[i];
        LI.v[i * p.ldli + r] = x[i];
    }
}
