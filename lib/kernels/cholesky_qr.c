/* cholesky_qr.c - orthonormal rows from a wide Gaussian matrix by CholeskyQR, for the
 * orthonormal pre-init on CPU devices (host side of chol_block.comp; random_orthogonal.c
 * chooses it and does the copies).
 *
 * For V (n x m) with V = L Q^T, L lower triangular with a positive diagonal (the QR of
 * V^T with diag(R) > 0, so Q is Haar-distributed when V is Gaussian: the same law as the
 * Householder construction's, not the same matrix, whose reflectors come from V's rows as
 * they are): G = V V^T = L L^T, Q^T = L^{-1} V.
 * Its error grows like cond(V)^2 u; a Gaussian n x m matrix has cond about
 * (sqrt m + sqrt n) / (sqrt m - sqrt n), 3 at m = 4n (random_orthogonal.c's threshold),
 * so one pass suffices there. What it buys: its products are deep (the Gram matrix m
 * deep, the solve's updates up to n), where the Householder construction's updates are as
 * shallow as its blocks and its blocks' triangles add flops that grow with m; and a
 * matrix of up to 64 rows is four commands (Gram product, fill, block, product).
 *
 * Blocked, CHOL_BLOCK rows at a time, all through the texel products:
 *   G = V V^T, its lower half                  (gemm_tx; what is above the diagonal is
 *                                               never read: chol_block uses its rows' left
 *                                               parts, the panels G's blocks below it)
 *   per block p: L_pp and L_pp^{-1}            (chol_block.comp, one workgroup)
 *                LT_p = L_pp^{-1} G_rest,p^T   (gemm_tx: L's panel p, transposed)
 *                G_rest -= LT_p^T LT_p         (gemm_txk)
 *   per block p: V_p -= L_p,<p QT_<p           (gemm_txk, 64 p deep)
 *                QT_p = L_pp^{-1} V_p          (gemm_txk) */

#include "common/util.h"
#include "kernels/kernels.h"

#define CHOL_BLOCK LSUV_CHOLQR_BLOCK /* CB in chol_block.comp */

int lsuv_k_cholesky_qr_suits(const lsuv_context *ctx, uint32_t n, uint32_t m)
{
    uint64_t np = lsuv_round_up(n, CHOL_BLOCK), ld = lsuv_round_up(m, 16);
    return n > 0 && (uint64_t)m >= (uint64_t)LSUV_CHOLQR_RATIO * n && lsuv_k_texel_products_ok(ctx, np * ld / 4) &&
           lsuv_k_texel_products_ok(ctx, np * np / 4);
}

/* L's diagonal block p and its inverse (chol_block.comp). */
static lsuv_status chol_block(lsuv_context *ctx, const lsuv_buffer *g, uint32_t np, uint32_t n, uint32_t k0,
                              const lsuv_buffer *li, const lsuv_buffer *lit)
{
    lsuv_texel_ref refs[LSUV_TEXEL_BINDINGS] = {{0}};
    lsuv_status st = lsuv_texel_ref_get(ctx, g, LSUV_TEXEL_RGBA32F, (uint64_t)np * np / 4, &refs[0]);
    if (st != LSUV_OK)
        return st;
    struct { uint32_t li[2], lit[2], n, k0, g0, ldg4, ldli; } pc = {
        .n = n, .k0 = k0, .g0 = refs[0].first, .ldg4 = np / 4, .ldli = np};
    lsuv_push_address(pc.li, li->address);
    lsuv_push_address(pc.lit, lit->address);
    LSUV_PUSH_FITS(pc);
    /* what runs: the factor's updates (about b^3 / 6 multiply-adds), then each lane's
     * forward substitution over all b rows (b^2 (b - 1) / 2) */
    double b = CHOL_BLOCK;
    lsuv_dispatch_work(ctx, 2.0 * (b * b * b / 6.0 + b * b * (b - 1) / 2.0), 0);
    return lsuv_texel_dispatch(ctx, LSUV_SHADER_CHOL_BLOCK, NULL, 0, refs, &pc, sizeof pc, 1, 1, 1);
}

lsuv_status lsuv_k_cholesky_qr_rows(lsuv_context *ctx, const lsuv_buffer *vt, const lsuv_buffer *qt, uint32_t n,
                                    uint32_t ld)
{
    uint32_t np = (uint32_t)lsuv_round_up(n, CHOL_BLOCK), blocks = np / CHOL_BLOCK;
    uint64_t sq = (uint64_t)np * np * 4, row = (uint64_t)ld * 4, b = CHOL_BLOCK;
    if (!n || ld % 16 || vt->size < np * row || qt->size < np * row)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "CholeskyQR: %u rows of %u floats do not fit", n, ld);
    lsuv_buffer g, lt, li, lit;
    lsuv_status st;
    if ((st = lsuv_scratch(ctx, sq, &g)) != LSUV_OK || (st = lsuv_scratch(ctx, sq, &lt)) != LSUV_OK ||
        (st = lsuv_scratch(ctx, sq, &li)) != LSUV_OK ||
        (st = lsuv_scratch(ctx, (uint64_t)blocks * b * b * 4, &lit)) != LSUV_OK ||
        (st = lsuv_k_texel_gemm_nt_k(ctx, vt, np, vt, np, ld, ld, &g, np, LSUV_TX_LOWER)) != LSUV_OK ||
        (st = lsuv_buffer_fill(ctx, qt, 0)) != LSUV_OK)
        return st;
    for (uint32_t p = 0; p < blocks && st == LSUV_OK; p++) { /* G = L L^T */
        uint64_t k0 = p * b, rest = np - k0 - b;
        lsuv_buffer li_p = lsuv_buffer_slice(&li, k0 * np * 4, ((b - 1) * np + b) * 4);
        lsuv_buffer lit_p = lsuv_buffer_slice(&lit, k0 * b * 4, b * b * 4);
        st = chol_block(ctx, &g, np, n, (uint32_t)k0, &li_p, &lit_p);
        if (st != LSUV_OK || !rest)
            break;
        /* LT_p[j][i] = sum_k Linv[j][k] G[k0 + b + i][k0 + k]: L's rows below the block, as columns */
        lsuv_buffer below = lsuv_buffer_slice(&g, ((k0 + b) * np + k0) * 4, ((rest - 1) * np + b) * 4);
        lsuv_buffer ltp = lsuv_buffer_slice(&lt, (k0 * np + k0 + b) * 4, ((b - 1) * np + rest) * 4);
        st = lsuv_k_texel_gemm_nt_k(ctx, &li_p, (uint32_t)b, &below, (uint32_t)rest, (uint32_t)b, np, &ltp, np, 0);
        if (st == LSUV_OK) {
            lsuv_buffer trail = lsuv_buffer_slice(&g, ((k0 + b) * np + k0 + b) * 4, ((rest - 1) * np + rest) * 4);
            st = lsuv_k_texel_gemm_tn_update(ctx, &ltp, np, &ltp, np, (uint32_t)b, &trail, np, (uint32_t)rest,
                                             (uint32_t)rest, -1.0f, 0);
        }
    }
    for (uint32_t p = 0; p < blocks && st == LSUV_OK; p++) { /* Q^T = L^{-1} V, by block rows */
        uint64_t k0 = p * b;
        lsuv_buffer vp = lsuv_buffer_slice(vt, k0 * row, b * row), qp = lsuv_buffer_slice(qt, k0 * row, b * row);
        if (p > 0) { /* V_p -= L_p,<p QT_<p: L's block row p is LT's columns k0.. */
            lsuv_buffer lcol = lsuv_buffer_slice(&lt, k0 * 4, ((k0 - 1) * np + b) * 4);
            lsuv_buffer done = lsuv_buffer_slice(qt, 0, k0 * row);
            st = lsuv_k_texel_gemm_tn_update(ctx, &lcol, np, &done, ld, (uint32_t)k0, &vp, ld, (uint32_t)b, ld, -1.0f,
                                             0);
        }
        if (st == LSUV_OK) {
            lsuv_buffer lit_p = lsuv_buffer_slice(&lit, k0 * b * 4, b * b * 4);
            st = lsuv_k_texel_gemm_tn_update(ctx, &lit_p, (uint32_t)b, &vp, ld, (uint32_t)b, &qp, ld, (uint32_t)b, ld,
                                             1.0f, 0);
        }
    }
    return st;
}
