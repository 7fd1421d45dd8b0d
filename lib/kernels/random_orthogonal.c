/* random_orthogonal.c - a Haar-distributed orthogonal matrix from a Gaussian one, for the
 * orthonormal pre-init on CPU devices (host side of haar_reflectors.comp, haar_t.comp).
 * Matrices at least LSUV_CHOLQR_RATIO times as long as wide go to CholeskyQR instead
 * (cholesky_qr.c: deep products only, and well conditioned there); this file copies them
 * in and out for either construction.
 *
 * The orthonormal pre-init needs a random orthogonal matrix, not the Q of one given
 * matrix. Householder QR of a Gaussian matrix G makes its k-th reflector from a column
 * of what the earlier reflectors left, and by the rotation invariance of Gaussians that
 * column is again a Gaussian vector independent of them; so Q = H_0 ... H_{n-1} with
 * reflectors made straight from the rows of G (Stewart 1980, "The efficient generation of
 * random orthogonal matrices") has the same (Haar) distribution as the Q of a QR of G with
 * diag(R) > 0, and needs no factorization: no latency-bound panel step, only products.
 * Q is formed by superblocks of up to HAAR_SUPER * HAAR_BLOCK reflectors from the last
 * (LAPACK's orgqr order):
 *   Q_sub <- (I - V T V^T) Q_sub,  in rows: QT_sub -= (QT_sub V) (T^T V^T),
 * all through the texel products. What does not depend on Q is made first for every
 * superblock at once: S = V^T V (a batched Gram product, its lower half), each block's T
 * (haar_t.comp, a workgroup per block), merged into the superblock's T (haar_merge), and
 * W = T^T V^T (a batched product). Then per superblock, from the last: A^T = V^T QT_sub^T
 * (gemm_tx) and QT_sub -= A W (gemm_txk), each from column k0 on (the rows are zero before
 * it), skipping the zeros of V's trapezoid and of A's triangle (QT_sub's first rows are
 * still rows of the identity): about 2 m n^2 - (2/3) n^3 flops (square: (4/3) n^3) plus
 * the superblocks' triangles, against MGS-twice's 4 m n^2, and no single-workgroup steps */

#include "common/util.h"
#include "kernels/kernels.h"

#define HAAR_BLOCK 64 /* reflectors per block: HB in haar_t.comp */
#define HAAR_SUPER 4  /* blocks per superblock at most (a power of two) */
#define ROW_PAD 16    /* row padding (floats): whole texels, 8-column tiles */

typedef struct haar_plan {
    uint32_t n, m, ld;
    uint32_t sb;     /* blocks per superblock: 1, 2 or HAAR_SUPER (no more than n needs) */
    uint32_t width;  /* reflectors per superblock: sb * HAAR_BLOCK */
    uint32_t supers; /* superblocks */
    lsuv_buffer vt, wt, qt, tau, s, t, at, y;
} haar_plan;

/* Superblocks: the update QT -= A W has the superblock's width w as its depth, and on CPU
 * devices a shallow product pays for reading and writing its output about as much as for
 * 64 steps of multiply-adds (bench --kernel update 1024 1024 K: 25 GFLOP/s at K = 64, 37
 * at 128, 51 at 256). Its T is merged from its blocks' T (haar_t.comp's row recurrence
 * costs HB^3 flops a row at once, so a 256-wide one ran 5x longer than four 64-wide ones).
 * The price is the wider triangles (S, W, the parts of A and V the skips miss), growing
 * like w n m against the output passes' n^2 m / w: w^2 <= 64 n balances them (1024 x 1024:
 * w = 256, 2.0e9 flops against 1.69e9 with w = 64, in 1.11-1.34 s for mlp20's twenty
 * against 1.39-1.65 s; n of 256 to 1023: 128). */
static uint32_t haar_blocks_per_super(uint32_t n)
{
    uint32_t blocks = (uint32_t)lsuv_ceil_div(n, HAAR_BLOCK), sb = 1;
    while (sb < HAAR_SUPER && sb < blocks &&
           (uint64_t)(2 * sb * HAAR_BLOCK) * (2 * sb * HAAR_BLOCK) <= (uint64_t)HAAR_BLOCK * n)
        sb *= 2;
    return sb;
}

static void haar_shape(haar_plan *h, uint32_t n, uint32_t m)
{
    h->n = n, h->m = m;
    h->ld = (uint32_t)lsuv_round_up(m, ROW_PAD);
    h->sb = haar_blocks_per_super(n);
    h->width = h->sb * HAAR_BLOCK;
    h->supers = (uint32_t)lsuv_ceil_div(n, h->width);
}

int lsuv_k_haar_supported(const lsuv_context *ctx, uint32_t rows, uint32_t cols)
{
    /* LSUV_MGS_KERNEL=gpu: no CPU set at all; =cpu: that set's own kernels, MGS */
    if (!ctx || !lsuv_k_mgs_cpu_set(ctx) || ctx->tuning.mgs_kernel == LSUV_MGS_CPU || rows == 0 || cols == 0 ||
        (uint64_t)rows * cols > (1ull << 31))
        return 0;
    haar_plan h = {0};
    haar_shape(&h, rows < cols ? rows : cols, rows < cols ? cols : rows);
    return h.supers <= ctx->info.max_workgroup_count[1] &&
           lsuv_k_texel_products_ok(ctx, (uint64_t)h.supers * h.width * h.ld / 4);
}

/* Applies superblock k0 .. k0 + bb - 1 of reflectors to rows k0 .. n-1 of QT:
 * A^T = V_b QT_sub^T, then QT_sub -= A W_b (W_b = T_b^T V_b, made for all of them before). */
static lsuv_status haar_block(lsuv_context *ctx, const haar_plan *h, uint32_t k0, uint32_t bb)
{
    uint64_t row = (uint64_t)h->ld * 4, corner = k0 * row + k0 * 4;
    uint32_t rows = h->n - k0, width = h->ld - k0;
    uint32_t ldc = (uint32_t)lsuv_round_up(rows, 16); /* 16: whole 16 x 16 tiles */
    /* rows k0.. of V, W and Q^T are zero before column k0: products start there */
    lsuv_buffer v = lsuv_buffer_slice(&h->vt, corner, bb * row - k0 * 4);
    lsuv_buffer w = lsuv_buffer_slice(&h->wt, corner, h->width * row - k0 * 4);
    lsuv_buffer q = lsuv_buffer_slice(&h->qt, corner, rows * row - k0 * 4);
    lsuv_status st = lsuv_k_texel_gemm_nt_k(ctx, &v, bb, &q, rows, width, h->ld, &h->at, ldc, LSUV_TX_TRAPEZOID);
    return st != LSUV_OK ? st
                         : lsuv_k_texel_gemm_tn_update(ctx, &h->at, ldc, &w, h->ld, bb, &q, h->ld, rows, width, -1.0f,
                                                       LSUV_TX_TRIANGULAR);
}

/* A superblock's T from its blocks' T, pairs of halves at a time (each half's T already
 * whole): H_1 H_2 = (I - V_1^T T_1 V_1)(I - V_2^T T_2 V_2) = I - V^T [T_1 X; 0 T_2] V with
 *   X = -T_1 (V_1 V_2^T) T_2 = -(S_21 T_1^T)^T T_2,
 * S_21 = V_2 V_1^T being the block of S below the diagonal: Y = S_21 T_1^T by gemm_tx
 * (rows against rows), then X = -Y^T T_2 by gemm_txk (K-major), into T's zeroed block. */
static lsuv_status haar_merge(lsuv_context *ctx, const haar_plan *h)
{
    uint64_t w = h->width, sup = w * w * 4;
    lsuv_status st = LSUV_OK;
    for (uint32_t half = HAAR_BLOCK; half < h->width && st == LSUV_OK; half *= 2)
        for (uint32_t z = 0; z < h->supers && st == LSUV_OK; z++)
            for (uint32_t b0 = 0; b0 < h->width && st == LSUV_OK; b0 += 2 * half) {
                if ((uint64_t)z * w + b0 + half >= h->n) /* no reflectors in the second half: X = 0 */
                    break;
                uint64_t first = z * sup + (b0 * w + b0) * 4, span = ((half - 1) * w + half) * 4;
                uint64_t below = first + half * w * 4, right = first + half * 4, second = below + half * 4;
                lsuv_buffer s21 = lsuv_buffer_slice(&h->s, below, span), t1 = lsuv_buffer_slice(&h->t, first, span);
                lsuv_buffer t2 = lsuv_buffer_slice(&h->t, second, span), x = lsuv_buffer_slice(&h->t, right, span);
                st = lsuv_k_texel_gemm_nt_k(ctx, &s21, half, &t1, half, half, (uint32_t)w, &h->y, half, 0);
                if (st == LSUV_OK)
                    st = lsuv_k_texel_gemm_tn_update(ctx, &h->y, half, &t2, (uint32_t)w, half, &x, (uint32_t)w, half,
                                                     half, -1.0f, 0);
            }
    return st;
}

/* The triangular factors of every superblock at once: S_z = V_z V_z^T by one batched
 * product, every block's T from S's diagonal blocks (haar_t.comp, one workgroup per
 * block), merged into the superblock's T (haar_merge), then W_z = T_z^T V_z. None depends
 * on Q: only the two products per superblock in haar_block do. */
static lsuv_status haar_factors(lsuv_context *ctx, const haar_plan *h)
{
    uint64_t square = (uint64_t)h->supers * h->width * h->width;
    /* S: gram_diag writes its lower half and the tiles on the diagonal, all that haar_t
     * (which loads a row of S whole but uses only what is left of the diagonal) and the
     * merge read. T: zeros in the blocks the merge adds into, and in blocks past n (none
     * with one block per superblock: haar_t writes each block's T whole). */
    lsuv_status st = lsuv_k_texel_gram_diag(ctx, &h->vt, h->width, h->supers, h->ld, h->ld, &h->s);
    if (st == LSUV_OK && h->sb > 1)
        st = lsuv_buffer_fill(ctx, &h->t, 0);
    lsuv_texel_ref refs[LSUV_TEXEL_BINDINGS] = {{0}};
    if (st == LSUV_OK)
        st = lsuv_texel_ref_get(ctx, &h->s, LSUV_TEXEL_RGBA32F, square / 4, &refs[0]);
    if (st != LSUV_OK)
        return st;
    struct { uint32_t t[2], tau[2], n, s0, s_ld4, s_sup, t_ld, t_sup; } pt = {
        .n = h->n, .s0 = refs[0].first, .s_ld4 = h->width / 4, .s_sup = h->width * h->width / 4,
        .t_ld = h->width, .t_sup = h->width * h->width};
    lsuv_push_address(pt.t, h->t.address);
    lsuv_push_address(pt.tau, h->tau.address);
    LSUV_PUSH_FITS(pt);
    if ((st = lsuv_texel_dispatch(ctx, LSUV_SHADER_HAAR_T, NULL, 0, refs, &pt, sizeof pt, h->sb, h->supers, 1)) !=
            LSUV_OK ||
        (st = haar_merge(ctx, h)) != LSUV_OK)
        return st;
    return lsuv_k_texel_gemm_tn_diag(ctx, &h->t, h->width, h->supers, &h->vt, h->ld, &h->wt);
}

/* The Householder construction: V (h->vt, whole superblocks of rows, zero past n) to Q^T
 * (h->qt). */
static lsuv_status haar_construct(lsuv_context *ctx, haar_plan *h)
{
    uint64_t padded = (uint64_t)h->supers * h->width * h->ld * 4, mat = (uint64_t)h->n * h->ld * 4;
    uint64_t square = (uint64_t)h->supers * h->width * h->width * 4, half = (uint64_t)h->width / 2;
    lsuv_status st;
    if ((st = lsuv_scratch(ctx, padded, &h->wt)) != LSUV_OK ||
        (st = lsuv_scratch(ctx, (uint64_t)h->n * 4, &h->tau)) != LSUV_OK ||
        (st = lsuv_scratch(ctx, square, &h->s)) != LSUV_OK || (st = lsuv_scratch(ctx, square, &h->t)) != LSUV_OK ||
        (st = lsuv_scratch(ctx, (uint64_t)h->width * lsuv_round_up(h->n, 16) * 4, &h->at)) != LSUV_OK ||
        (half >= HAAR_BLOCK && (st = lsuv_scratch(ctx, half * half * 4, &h->y)) != LSUV_OK) ||
        (st = lsuv_buffer_fill(ctx, &h->qt, 0)) != LSUV_OK) /* Q^T starts as D: haar_reflectors writes the diagonal */
        return st;
    lsuv_texel_ref refs[LSUV_TEXEL_BINDINGS] = {{0}};
    if ((st = lsuv_texel_ref_get(ctx, &h->vt, LSUV_TEXEL_RGBA32F, mat / 16, &refs[0])) != LSUV_OK ||
        (st = lsuv_texel_ref_get(ctx, &h->qt, LSUV_TEXEL_RGBA32F, mat / 16, &refs[1])) != LSUV_OK)
        return st;
    struct { uint32_t tau[2], n, ld4, v0, q0; } pr = {.n = h->n, .ld4 = h->ld / 4, .v0 = refs[0].first,
                                                       .q0 = refs[1].first};
    lsuv_push_address(pr.tau, h->tau.address);
    LSUV_PUSH_FITS(pr);
    if ((st = lsuv_texel_dispatch(ctx, LSUV_SHADER_HAAR_REFLECTORS, NULL, 0, refs, &pr, sizeof pr,
                                  lsuv_ceil_div(h->n, 64), 1, 1)) != LSUV_OK ||
        (st = haar_factors(ctx, h)) != LSUV_OK)
        return st;
    for (uint32_t b = h->supers; b-- > 0;) {
        uint32_t k0 = b * h->width, bb = h->n - k0 < h->width ? h->n - k0 : h->width;
        if ((st = haar_block(ctx, h, k0, bb)) != LSUV_OK)
            return st;
    }
    return LSUV_OK;
}

/* a's rows (its columns when rows > cols) into V, rows of ld floats padded with zeros to
 * what the construction takes, the construction, Q^T back into a. */
static lsuv_status record(lsuv_context *ctx, const lsuv_buffer *a, uint32_t rows, uint32_t cols,
                          lsuv_ortho_method method)
{
    int columns = rows > cols;
    haar_plan h = {0};
    haar_shape(&h, columns ? cols : rows, columns ? rows : cols);
    int cholqr = method == LSUV_ORTHO_CHOLQR || (method == LSUV_ORTHO_AUTO && lsuv_k_cholesky_qr_suits(ctx, h.n, h.m));
    uint64_t vrows = cholqr ? lsuv_round_up(h.n, LSUV_CHOLQR_BLOCK) : (uint64_t)h.supers * h.width;
    uint64_t mat = (uint64_t)h.n * h.ld * 4, padded = vrows * h.ld * 4;
    lsuv_status st;
    /* V (and Q^T for CholeskyQR) hold whole blocks of rows (zero rows past n) */
    if ((st = lsuv_scratch(ctx, padded, &h.vt)) != LSUV_OK ||
        (st = lsuv_scratch(ctx, cholqr ? padded : mat, &h.qt)) != LSUV_OK)
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
    if (st == LSUV_OK)
        st = cholqr ? lsuv_k_cholesky_qr_rows(ctx, &h.vt, &h.qt, h.n, h.ld) : haar_construct(ctx, &h);
    if (st != LSUV_OK)
        return st;
    lsuv_buffer q = lsuv_buffer_slice(&h.qt, 0, mat);
    return plain ? lsuv_buffer_copy(ctx, &q, &whole)
                 : lsuv_k_copy_rows(ctx, 1, &h.qt, a, rows, cols, h.ld, cols, columns);
}

lsuv_status lsuv_k_orthogonal_from_gaussian_as(lsuv_context *ctx, const lsuv_buffer *a, uint32_t rows, uint32_t cols,
                                               lsuv_ortho_method method)
{
    if (!ctx)
        return LSUV_ERROR_INVALID_ARGUMENT;
    if (!a || !a->address || rows == 0 || cols == 0 || a->size < (uint64_t)rows * cols * 4)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "random orthogonal: no %u x %u matrix buffer", rows, cols);
    if (!lsuv_k_haar_supported(ctx, rows, cols) ||
        (method == LSUV_ORTHO_CHOLQR &&
         !lsuv_k_cholesky_qr_suits(ctx, rows < cols ? rows : cols, rows < cols ? cols : rows)))
        return lsuv_fail(ctx, LSUV_ERROR_UNSUPPORTED,
                         "random orthogonal: %u x %u needs the CPU-device texel kernels and one texel view%s", rows,
                         cols, method == LSUV_ORTHO_CHOLQR ? " (CholeskyQR: and a 4x wider than tall matrix)" : "");
    lsuv_phase saved = ctx->phase;
    lsuv_set_phase(ctx, LSUV_PHASE_ORTHONORMALIZE);
    lsuv_status st = record(ctx, a, rows, cols, method);
    lsuv_set_phase(ctx, saved);
    return st;
}

lsuv_status lsuv_k_orthogonal_from_gaussian(lsuv_context *ctx, const lsuv_buffer *a, uint32_t rows, uint32_t cols)
{
    return lsuv_k_orthogonal_from_gaussian_as(ctx, a, rows, cols, LSUV_ORTHO_AUTO);
}
