/* kernels.h - host side of the compute kernels (internal).
 * Each function validates its arguments (LSUV_ERROR_INVALID_ARGUMENT with a message on
 * the context), then *records* its dispatches: nothing runs until lsuv_submit(). Buffers
 * hold float32 unless said otherwise. Sizes above maxStorageBufferRange are fine:
 * shaders address memory through buffer device addresses and 64-bit-safe index math. */
#ifndef LSUV_KERNELS_H
#define LSUV_KERNELS_H

#include "vk/context.h"

/* ---- Gaussian fill (fill.c, shaders/fill_normal.comp, shaders/philox.glsl)
 * buf[i] = N(seed, offset + i) for i in [0, n): Philox4x32-10 keyed by seed, counter
 * (offset+i)/4, Box-Muller on uniforms in (0,1); value i depends only on (seed, i). */
lsuv_status lsuv_k_fill_normal(lsuv_context *ctx, const lsuv_buffer *buf, uint64_t n,
                               uint64_t seed, uint64_t offset);

/* ---- orthonormalization (orthonormalize.c, shaders/mgs_*.comp)
 * a: rows x cols, row-major. rows <= cols: rows become orthonormal; else columns.
 * Modified Gram-Schmidt with re-orthogonalization, positive diag(R) (QR sign convention).
 * Uses scratch memory from the context. */
lsuv_status lsuv_k_orthonormalize(lsuv_context *ctx, const lsuv_buffer *a, uint32_t rows,
                                  uint32_t cols);
/* (random_orthogonal.c) A Haar-distributed orthogonal matrix (orthonormal rows, or columns when rows > cols)
 * made from the Gaussian values in a, in place: Householder reflectors straight from its
 * rows (Stewart 1980), formed in blocks by texel products: not the Q of a's QR, but a
 * draw from the same distribution at half the flops; for matrices at least
 * LSUV_CHOLQR_RATIO times as long as wide, the Q of a's QR by CholeskyQR (cholesky_qr.c).
 * CPU devices with texel views only: lsuv_k_haar_supported says whether it runs
 * (LSUV_MGS_KERNEL=gpu|cpu turn it off). */
int lsuv_k_haar_supported(const lsuv_context *ctx, uint32_t rows, uint32_t cols);
/* (cholesky_qr.c) The same for Gaussian n x m with m >= LSUV_CHOLQR_RATIO n (well
 * conditioned: one pass of CholeskyQR is accurate): vt (round_up(n, LSUV_CHOLQR_BLOCK) rows of ld floats,
 * zero past n and past m; overwritten) gives qt (as many rows, zero past n) with
 * orthonormal rows, vt = L qt, diag(L) > 0. lsuv_k_cholesky_qr_suits: the shape and the
 * texel views allow it. */
#define LSUV_CHOLQR_RATIO 4
#define LSUV_CHOLQR_BLOCK 64 /* rows per block of the factorization (CB in chol_block.comp) */
int lsuv_k_cholesky_qr_suits(const lsuv_context *ctx, uint32_t n, uint32_t m);
lsuv_status lsuv_k_cholesky_qr_rows(lsuv_context *ctx, const lsuv_buffer *vt, const lsuv_buffer *qt, uint32_t n,
                                    uint32_t ld);
/* Shared by the two (orthonormalize.c): whether the CPU-device MGS set runs, and its copy
 * kernel: dst (rows x dst_ld) = src or its transpose, columns from cols on zero (cpu: the
 * CPU-device form, else the GPU one). */
int lsuv_k_mgs_cpu_set(const lsuv_context *ctx);
lsuv_status lsuv_k_copy_rows(lsuv_context *ctx, int cpu, const lsuv_buffer *src, const lsuv_buffer *dst,
                             uint32_t rows, uint32_t cols, uint32_t src_ld, uint32_t dst_ld, int transpose);
lsuv_status lsuv_k_orthogonal_from_gaussian(lsuv_context *ctx, const lsuv_buffer *a, uint32_t rows,
                                            uint32_t cols);
/* The same with the construction named (tests): AUTO takes CholeskyQR where
 * lsuv_k_cholesky_qr_suits, else Householder reflectors. */
typedef enum { LSUV_ORTHO_AUTO, LSUV_ORTHO_HOUSEHOLDER, LSUV_ORTHO_CHOLQR } lsuv_ortho_method;
lsuv_status lsuv_k_orthogonal_from_gaussian_as(lsuv_context *ctx, const lsuv_buffer *a, uint32_t rows,
                                               uint32_t cols, lsuv_ortho_method method);

/* Products of the block orthonormalization on CPU devices, through the texel kernels
 * (gemm_tx, gemm_txk; forward_gemm.c). Operands are rows of floats in place, 16-byte
 * aligned; each operand must fit one texel view: lsuv_k_texel_products_ok says whether
 * the device has the kernels and whether `texels` (16-byte units) fit one view.
 *   gemm_nt:        c[i][j] = sum_k a[i][k] b[j][k]   (rows of ld floats, ld % 4 == 0;
 *                   c's rows ldc floats apart)
 *   gemm_tn_update: y[i][j] += alpha * sum_k at[k][i] b[k][j]   (ldat and ldb multiples
 *                   of 8, rows and cols rounded up to 8 within them: whole tiles are read;
 *                   y's rows ldy apart) */
int lsuv_k_texel_products_ok(const lsuv_context *ctx, uint64_t texels);
/* Zeros the products may skip (flags), as the Householder blocks hold them:
 *   LSUV_TX_TRAPEZOID  (gemm_nt_k) row i of a is zero before float i
 *   LSUV_TX_TRIANGULAR (gemm_tn_update) at[k][i] = 0 for k > i
 * and half a product not needed:
 *   LSUV_TX_LOWER      (gemm_nt_k, a Gram matrix: a = b) only c's tiles on or below its
 *                      diagonal are made; those wholly above it are not written */
enum { LSUV_TX_TRAPEZOID = 1, LSUV_TX_TRIANGULAR = 2, LSUV_TX_LOWER = 4 };
/* gemm_nt over the first k floats of rows ld floats apart (k % 4 == 0) */
lsuv_status lsuv_k_texel_gemm_nt_k(lsuv_context *ctx, const lsuv_buffer *a, uint32_t a_rows, const lsuv_buffer *b,
                                   uint32_t b_rows, uint32_t k, uint32_t ld, const lsuv_buffer *c, uint32_t ldc,
                                   uint32_t flags);
lsuv_status lsuv_k_texel_gemm_nt(lsuv_context *ctx, const lsuv_buffer *a, uint32_t a_rows, const lsuv_buffer *b,
                                 uint32_t b_rows, uint32_t ld, const lsuv_buffer *c, uint32_t ldc);
lsuv_status lsuv_k_texel_gemm_tn_update(lsuv_context *ctx, const lsuv_buffer *at, uint32_t ldat,
                                        const lsuv_buffer *b, uint32_t ldb, uint32_t k, const lsuv_buffer *y,
                                        uint32_t ldy, uint32_t rows, uint32_t cols, float alpha, uint32_t flags);
/* The same products over the diagonal blocks of one matrix, each batch in one dispatch
 * (the blocks of reflectors in random_orthogonal.c). Block z (z < count) of a matrix of
 * rows ld floats apart is its rows z*block .. z*block + block - 1 from column z*block on;
 * block % 8 == 0, and the matrices hold count * block rows.
 *   gram_diag:    c_z = V_z V_z^T over the first k - z*block of those columns (block x block,
 *                 c_z at z * block^2 floats, rows block floats apart); row i of V_z is
 *                 zero before column i (skipped), and only c_z's lower half is made: tiles
 *                 wholly above its diagonal are not written
 *   gemm_tn_diag: block z of y = at_z^T (block z of b), at_z block x block at z * block^2
 *                 floats (rows block apart), upper triangular (what is below its diagonal
 *                 is not read); y's blocks hold what the product gives, its other elements
 *                 are not written */
lsuv_status lsuv_k_texel_gram_diag(lsuv_context *ctx, const lsuv_buffer *v, uint32_t block, uint32_t count,
                                   uint32_t k, uint32_t ld, const lsuv_buffer *c);
lsuv_status lsuv_k_texel_gemm_tn_diag(lsuv_context *ctx, const lsuv_buffer *at, uint32_t block, uint32_t count,
                                      const lsuv_buffer *b, uint32_t ld, const lsuv_buffer *y);

/* ---- forward (forward.c, shaders/gemm.comp, conv2d.comp, ...) */
/* y[n][o] = sum_i x[n][i] * w[o][i] (+ bias[o] when bias != NULL) */
lsuv_status lsuv_k_dense(lsuv_context *ctx, const lsuv_buffer *x, const lsuv_buffer *w,
                         const lsuv_buffer *bias, const lsuv_buffer *y, uint32_t batch,
                         uint32_t in, uint32_t out);

typedef struct lsuv_conv2d_params {
    uint32_t batch, in_channels, in_h, in_w;
    uint32_t out_channels, kernel_h, kernel_w;
    uint32_t stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups;
    uint32_t out_h, out_w; /* filled by lsuv_conv2d_output_size */
    /* ONNX: pads at the bottom/right may differ from pad_h/pad_w (top/left); read only
     * when asymmetric is set, else they equal pad_h/pad_w. */
    int asymmetric;
    uint32_t pad_h_end, pad_w_end;
} lsuv_conv2d_params;
/* Computes out_h/out_w; returns 0 if the geometry is invalid (empty output etc). */
int lsuv_conv2d_output_size(lsuv_conv2d_params *p);
/* y (N,K,OH,OW) = conv(x (N,C,H,W), w (K,C/groups,R,S)) (+ bias[K]) */
lsuv_status lsuv_k_conv2d(lsuv_context *ctx, const lsuv_conv2d_params *p, const lsuv_buffer *x,
                          const lsuv_buffer *w, const lsuv_buffer *bias, const lsuv_buffer *y);

typedef enum lsuv_act_kind {
    LSUV_K_ACT_NONE = 0, LSUV_K_ACT_RELU, LSUV_K_ACT_LEAKY, LSUV_K_ACT_PRELU, LSUV_K_ACT_TANH,
    LSUV_K_ACT_SIGMOID, LSUV_K_ACT_ELU, LSUV_K_ACT_GELU, LSUV_K_ACT_SILU,
    /* internal only (ONNX): */
    LSUV_K_ACT_SELU,        /* ONNX defaults alpha 1.67326319, gamma 1.05070102: param, param2 */
    LSUV_K_ACT_HARDSIGMOID, /* max(0, min(1, param * x + param2)) (ONNX: alpha 0.2, beta 0.5) */
    LSUV_K_ACT_HARDSWISH,   /* x * max(0, min(1, x / 6 + 1/2)) */
    LSUV_K_ACT_SOFTPLUS,    /* log(1 + exp(x)), overflow-safe */
    LSUV_K_ACT_CLIP,        /* min(max(x, param), param2) (ReLU6: 0, 6) */
    LSUV_K_ACT_ERF          /* erf(x) */
} lsuv_act_kind; /* the first values are those of lsuv_activation */

/* Fused per-channel affine + activation over an NCHW tensor of count elements with
 * `channels` channels of `spatial` elements each (dense: spatial 1):
 *   c = (i / spatial) % channels
 *   t = x[i] * alpha * (scale ? scale[c] : 1) + (shift ? shift[c] : 0)
 *   y[i] = act(t)          (PReLU: slope = slopes[c]; leaky: param; ELU: param = alpha)
 * y may equal x (in place). Covers bias add, rescaling, batch norm and activations. */
lsuv_status lsuv_k_affine_act(lsuv_context *ctx, const lsuv_buffer *x, const lsuv_buffer *y,
                              uint64_t count, uint32_t channels, uint32_t spatial, float alpha,
                              const lsuv_buffer *scale, const lsuv_buffer *shift,
                              lsuv_act_kind act, float param, const lsuv_buffer *slopes);
/* The same with the second activation parameter (SELU gamma, HardSigmoid beta, Clip max;
 * lsuv_k_affine_act passes 0). Clip's bounds may be infinite (an absent min or max);
 * every other parameter must be finite. */
lsuv_status lsuv_k_affine_act2(lsuv_context *ctx, const lsuv_buffer *x, const lsuv_buffer *y,
                               uint64_t count, uint32_t channels, uint32_t spatial, float alpha,
                               const lsuv_buffer *scale, const lsuv_buffer *shift, lsuv_act_kind act,
                               float param, float param2, const lsuv_buffer *slopes);

/* maxout: x (N, C*k... ) -> y (N, C/k, HW): y[n][c][s] = max_j x[n][c*k + j][s] */
lsuv_status lsuv_k_maxout(lsuv_context *ctx, const lsuv_buffer *x, const lsuv_buffer *y,
                          uint32_t batch, uint32_t channels, uint32_t spatial, uint32_t k);

typedef struct lsuv_pool2d_params {
    uint32_t batch, channels, in_h, in_w;
    uint32_t kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w;
    int max;               /* 1 max, 0 average */
    uint32_t out_h, out_w; /* filled by lsuv_pool2d_output_size */
    int exclude_pad;       /* average: 0 divides by kh*kw (PyTorch's default,
                              count_include_pad=True); 1 by the taps inside the input
                              (ONNX's default, count_include_pad=0) */
    int ceil_mode;         /* output size rounded up (ONNX/PyTorch ceil_mode) */
    int asymmetric;        /* pads at bottom/right given by pad_h_end/pad_w_end */
    uint32_t pad_h_end, pad_w_end;
} lsuv_pool2d_params;
int lsuv_pool2d_output_size(lsuv_pool2d_params *p);
lsuv_status lsuv_k_pool2d(lsuv_context *ctx, const lsuv_pool2d_params *p, const lsuv_buffer *x,
                          const lsuv_buffer *y);

/* y[i] = a[i] + b[i], i < count (y may alias a or b) */
lsuv_status lsuv_k_add(lsuv_context *ctx, const lsuv_buffer *a, const lsuv_buffer *b,
                       const lsuv_buffer *y, uint64_t count);
/* y = act(a + b): the residual add with the activation that reads it alone (any but PReLU) */
lsuv_status lsuv_k_add_act(lsuv_context *ctx, const lsuv_buffer *a, const lsuv_buffer *b, const lsuv_buffer *y,
                           uint64_t count, lsuv_act_kind act, float param, float param2);
/* Channel concat piece: copies src (N, src_channels, spatial) into channels
 * [channel_offset, channel_offset + src_channels) of dst (N, dst_channels, spatial). */
lsuv_status lsuv_k_copy_channels(lsuv_context *ctx, const lsuv_buffer *src, const lsuv_buffer *dst,
                                 uint32_t batch, uint32_t src_channels, uint32_t dst_channels,
                                 uint32_t channel_offset, uint32_t spatial);

/* ---- general strided kernels for imported graphs (forward_general.c, shaders/binary.comp,
 * gather.comp, reduce.comp). Shapes are C-order boxes of up to LSUV_K_MAX_AXES axes
 * (axis 0 outermost, usually the batch); strides and offsets count floats. Any size the
 * device memory holds is fine: the host splits the work into dispatches whose index math
 * fits in 32 bits. */
#define LSUV_K_MAX_AXES 7 /* LSUV_MAX_RANK per-sample axes + the batch axis */

typedef enum lsuv_k_binary_op { LSUV_K_BIN_ADD = 0, LSUV_K_BIN_SUB, LSUV_K_BIN_MUL, LSUV_K_BIN_DIV } lsuv_k_binary_op;
/* y (contiguous, shape extent[0..rank)) = a op b with numpy broadcasting: the output
 * element at coordinates c reads a[sum c_d a_stride[d]] and b[sum c_d b_stride[d]]
 * (stride 0 broadcasts; strides >= 0). y must not overlap a or b. */
lsuv_status lsuv_k_binary(lsuv_context *ctx, lsuv_k_binary_op op, int rank, const int64_t *extent,
                          const lsuv_buffer *a, const int64_t *a_stride, const lsuv_buffer *b,
                          const int64_t *b_stride, const lsuv_buffer *y);

/* y (contiguous, shape out_extent[0..rank)) = gather(x): along axis d the output index i
 * reads input coordinate start[d] + i * step[d] (step != 0, may be negative); where that
 * falls outside [0, in_extent[d]) on any axis the output is pad_value, else it is
 * x[sum_d coordinate_d * in_stride[d]] (in_stride >= 0, already permuted for a transpose).
 * Covers Transpose, Slice, Split and constant Pad. y must not overlap x. */
lsuv_status lsuv_k_gather(lsuv_context *ctx, int rank, const int64_t *out_extent, const lsuv_buffer *x,
                          const int64_t *in_extent, const int64_t *in_stride, const int64_t *start,
                          const int64_t *step, float pad_value, const lsuv_buffer *y);

typedef enum lsuv_k_reduce_op {
    LSUV_K_REDUCE_MEAN = 0, LSUV_K_REDUCE_MAX, LSUV_K_REDUCE_SUM, LSUV_K_REDUCE_SOFTMAX,
    LSUV_K_REDUCE_LOG_SOFTMAX
} lsuv_k_reduce_op;
/* x viewed as (outer, n, inner): MEAN/MAX/SUM along n give y (outer, inner) (the sum
 * Kahan-compensated); SOFTMAX/LOG_SOFTMAX normalize along n (y has x's shape; the max
 * is subtracted first). y must not overlap x. */
lsuv_status lsuv_k_reduce(lsuv_context *ctx, lsuv_k_reduce_op op, uint64_t outer, uint64_t n, uint64_t inner,
                          const lsuv_buffer *x, const lsuv_buffer *y);

/* ---- moments (moments.c, shaders/moments_*.comp)
 * Mean and (population) variance by per-thread Welford + Chan merges (subgroup, shared
 * memory, workgroups), on data shifted by a pilot value so large means do not cancel.
 * Per channel: x is NCHW (batch, channels, spatial); channels = 1, spatial = count,
 * batch = 1 gives the whole tensor.
 * Result: out holds 2 floats per channel {mean, variance} (out->size >= 8*channels). */
lsuv_status lsuv_k_moments(lsuv_context *ctx, const lsuv_buffer *x, uint32_t batch,
                           uint32_t channels, uint64_t spatial, const lsuv_buffer *out);
/* Convenience for tests and one-off use: records, submits, downloads.
 * mean/var: arrays of `channels` doubles. */
lsuv_status lsuv_moments_now(lsuv_context *ctx, const lsuv_buffer *x, uint32_t batch,
                             uint32_t channels, uint64_t spatial, double *mean, double *var);

#endif
