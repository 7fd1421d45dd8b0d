/* random_orthogonal.c - a Haar-distributed orthogonal matrix from a Gaussian one, for the
 * orthonormal pre-init on CPU devices (host side of haar_reflectors.comp, haar_t.comp).
 *
 * The orthonormal pre-init needs a random orthogonal matrix, not the Q of one given
 * matrix. Householder QR of a Gaussian matrix G makes its k-th reflector from a column
 * of what the earlier reflectors left, and by the rotation invariance of Gaussians that
 * column is again a Gaussian vector independent of them; so Q = H_0 ... H_{n-1} with
 * reflectors made straight from the rows of G (Stewart 1980, "The efficient generation of
 * random orthogonal matrices") has the same (Haar) distribution as the Q of a QR of G with
 * diag(R) > 0, and needs no factorization: no latency-bound panel step, only products.
 * Q is formed by blocks of HAAR_BLOCK reflectors from the last (LAPACK's orgqr order):
 *   Q_sub <- (I - V T V^T) Q_sub,  in rows: QT_sub -= (QT_sub V) (T^T V^T),
 * all through the texel products. What does not depend on Q is made first for every
 * block at once, one dispatch each: S = V^T V (a batched Gram product), T (haar_t.comp,
 * a workgroup per block) and W = T^T V^T (a batched product). Then per block, from the
 * last: A^T = V^T QT_sub^T (gemm_tx) and QT_sub -= A W (gemm_txk), each from column k0 on
 * (the rows are zero before it): about 2 m n^2 - (2/3) n^3 flops (square: (4/3) n^3)
 * against MGS-twice's 4 m n^2, and no single-workgroup steps. */

#include "common/util.h"
#include "kernels/kernels.h"

#define HAAR_BLOCK 64 /* reflectors per block: HB in haar_t.comp */
#define ROW_PAD 16    /* row padding (floats): whole texels, 8-column tiles */

typedef struct haar_plan {
    uint32_t n, m, ld, blocks;
    lsuv_buffer vt, wt, qt, tau, s, t, at;
} haar_plan;

int lsuv_k_haar_supported(const lsuv_context *ctx, uint32_t rows, uint32_t cols)
{
    /* LSUV_MGS_KERNEL=gpu: no CPU set at all; =cpu: that set's own kernels, MGS */
    if (!ctx || !lsuv_k_mgs_cpu_set(ctx) || ctx->tuning.mgs_kernel == LSUV_MGS_CPU || rows == 0 || cols == 0)
        return 0;
    uint64_t n = rows < cols ? rows : cols, m = rows < cols ? cols : rows;
    uint64_t ld = lsuv_round_up(m, ROW_PAD), blocks = lsuv_ceil_div(n, HAAR_BLOCK);
    return (uint64_t)rows * cols <= (1ull << 31) && blocks <= ctx->info.max_workgroup_count[0] &&
           blocks <= ctx->info.max_workgroup_count[1] && lsuv_k_texel_products_ok(ctx, blocks * HAAR_BLOCK * ld / 4);
}

/* Applies the block of reflectors k0 .. k0 + bb - 1 to rows k0 .. n-1 of QT:
 * A^T = V_b QT_sub^T, then QT_sub -= A W_b (W_b = T_b^T V_b, made for all blocks before). */
static lsuv_status haar_block(lsuv_context *ctx, const haar_plan *h, uint32_t k0, uint32_t bb)
{
    uint64_t row = (uint64_t)h->ld * 4, corner = k0 * row + k0 * 4;
    uint32_t rows = h->n - k0, ldc = lsuv_round_up(rows, 16), width = h->ld - k0; /* 16: whole 16 x 16 tiles */
    /* rows k0.. of V, W and Q^T are zero before column k0: products start there */
    lsuv_buffer v = lsuv_buffer_slice(&h->vt, corner, bb * row - k0 * 4);
    lsuv_buffer w = lsuv_buffer_slice(&h->wt, corner, HAAR_BLOCK * row - k0 * 4);
    lsuv_buffer q = lsuv_buffer_slice(&h->qt, corner, rows * row - k0 * 4);
    lsuv_status st = lsuv_k_texel_gemm_nt_k(ctx, &v, bb, &q, rows, width, h->ld, &h->at, ldc);
    return st != LSUV_OK ? st : lsuv_k_texel_gemm_tn_update(ctx, &h->at, ldc, &w, h->ld, bb, &q, h->ld, rows, width, -1.0f);
}

/* The triangular factors of every block at once (haar_t.comp): S_b = V_b V_b^T by
 * one batched product, then T_b from S_b, one workgroup per block, then W_b = T_b^T V_b.
 * None depends on Q: only the two products per block in haar_block do. */
static lsuv_status haar_factors(lsuv_context *ctx, const haar_plan *h)
{
    lsuv_status st = lsuv_k_texel_gram_diag(ctx, &h->vt, HAAR_BLOCK, h->blocks, h->ld, h->ld, &h->s);
    lsuv_texel_ref refs[LSUV_TEXEL_BINDINGS] = {{0}};
    if (st == LSUV_OK)
        st = lsuv_texel_ref_get(ctx, &h->s, LSUV_TEXEL_RGBA32F, (uint64_t)h->blocks * HAAR_BLOCK * HAAR_BLOCK / 4,
                                &refs[0]);
    if (st != LSUV_OK)
        return st;
    struct { uint32_t t[2], tau[2], n, s0; } pt = {.n = h->n, .s0 = refs[0].first};
    lsuv_push_address(pt.t, h->t.address);
    lsuv_push_address(pt.tau, h->tau.address);
    LSUV_PUSH_FITS(pt);
    if ((st = lsuv_texel_dispatch(ctx, LSUV_SHADER_HAAR_T, NULL, 0, refs, &pt, sizeof pt, h->blocks, 1, 1)) != LSUV_OK)
        return st;
    return lsuv_k_texel_gemm_tn_diag(ctx, &h->t, HAAR_BLOCK, h->blocks, &h->vt, h->ld, &h->wt);
}

static lsuv_status haar_record(lsuv_context *ctx, const lsuv_buffer *a, uint32_t rows, uint32_t cols)
{
    int columns = rows > cols;
    haar_plan h = {.n = columns ? cols : rows, .m = columns ? rows : cols};
    h.ld = lsuv_round_up(h.m, ROW_PAD);
    h.blocks = lsuv_ceil_div(h.n, HAAR_BLOCK);
    uint64_t mat = (uint64_t)h.n * h.ld * 4, padded = (uint64_t)h.blocks * HAAR_BLOCK * h.ld * 4;
    uint64_t square = (uint64_t)h.blocks * HAAR_BLOCK * HAAR_BLOCK * 4;
    lsuv_status st;
    /* V and W hold whole blocks of rows (zero rows past n: a short last block) */
    if ((st = lsuv_scratch(ctx, padded, &h.vt)) != LSUV_OK || (st = lsuv_scratch(ctx, padded, &h.wt)) != LSUV_OK ||
        (st = lsuv_scratch(ctx, mat, &h.qt)) != LSUV_OK ||
        (st = lsuv_scratch(ctx, (uint64_t)h.n * 4, &h.tau)) != LSUV_OK ||
        (st = lsuv_scratch(ctx, square, &h.s)) != LSUV_OK || (st = lsuv_scratch(ctx, square, &h.t)) != LSUV_OK ||
        (st = lsuv_scratch(ctx, (uint64_t)HAAR_BLOCK * lsuv_round_up(h.n, 16) * 4, &h.at)) != LSUV_OK)
        return st;
    /* rows as they are (no transpose, no padding): byte copies, else the copy kernel */
    int plain = !columns && h.ld == h.m;
    lsuv_buffer whole = lsuv_buffer_slice(a, 0, mat), vt = lsuv_buffer_slice(&h.vt, 0, mat);
    st = plain ? lsuv_buffer_copy(ctx, &whole, &vt)
               : lsuv_k_copy_rows(ctx, 1, a, &h.vt, h.n, h.m, cols, h.ld, columns);
    if (st == LSUV_OK && padded > mat) {
        lsuv_buffer pad = lsuv_buffer_slice(&h.vt, mat, padded - mat);
        st = lsuv_buffer_fill(ctx, &pad, 0);
    }
    if (st != LSUV_OK)
        return st;
    lsuv_texel_ref refs[LSUV_TEXEL_BINDINGS] = {{0}};
    if ((st = lsuv_texel_ref_get(ctx, &h.vt, LSUV_TEXEL_RGBA32F, mat / 16, &refs[0])) != LSUV_OK ||
        (st = lsuv_texel_ref_get(ctx, &h.qt, LSUV_TEXEL_RGBA32F, mat / 16, &refs[1])) != LSUV_OK)
        return st;
    struct { uint32_t tau[2], n, ld4, v0, q0; } pr = {.n = h.n, .ld4 = h.ld / 4, .v0 = refs[0].first,
                                                       .q0 = refs[1].first};
    lsuv_push_address(pr.tau, h.tau.address);
    LSUV_PUSH_FITS(pr);
    if ((st = lsuv_texel_dispatch(ctx, LSUV_SHADER_HAAR_REFLECTORS, NULL, 0, refs, &pr, sizeof pr,
                                  lsuv_ceil_div(h.n, 64), 1, 1)) != LSUV_OK ||
        (st = haar_factors(ctx, &h)) != LSUV_OK)
        return st;
    for (uint32_t b = h.blocks; b-- > 0;) {
        uint32_t k0 = b * HAAR_BLOCK, bb = h.n - k0 < HAAR_BLOCK ? h.n - k0 : HAAR_BLOCK;
        if ((st = haar_block(ctx, &h, k0, bb)) != LSUV_OK)
            return st;
    }
    return plain ? lsuv_buffer_copy(ctx, &h.qt, &whole)
                 : lsuv_k_copy_rows(ctx, 1, &h.qt, a, rows, cols, h.ld, cols, columns);
}

lsuv_status lsuv_k_orthogonal_from_gaussian(lsuv_context *ctx, const lsuv_buffer *a, uint32_t rows, uint32_t cols)
{
    if (!ctx)
        return LSUV_ERROR_INVALID_ARGUMENT;
    if (!a || !a->address || rows == 0 || cols == 0 || a->size < (uint64_t)rows * cols * 4)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "random orthogonal: no %u x %u matrix buffer", rows, cols);
    if (!lsuv_k_haar_supported(ctx, rows, cols))
        return lsuv_fail(ctx, LSUV_ERROR_UNSUPPORTED,
                         "random orthogonal: %u x %u needs the CPU-device texel kernels and one texel view", rows,
                         cols);
    lsuv_phase saved = ctx->phase;
    lsuv_set_phase(ctx, LSUV_PHASE_ORTHONORMALIZE);
    lsuv_status st = haar_record(ctx, a, rows, cols);
    lsuv_set_phase(ctx, saved);
    return st;
}
