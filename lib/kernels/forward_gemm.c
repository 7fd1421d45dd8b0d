/* forward_gemm.c - host side of the GEMM-type forward kernels: dense and conv2d.
 *
 * Both are out[r][c] = sum_k D[r][k] * W[c][k] (+ bias[c]) with D the data (dense: the
 * batch rows of x; conv: im2col(x), formed on the fly) and W the weights. Three kernels:
 *  - gemm     tiled in shared memory for GPUs (shaders/gemm.comp);
 *  - gemm_sg  for CPU devices, where a subgroup is one SIMD vector (shaders/gemm_sg.comp);
 *  - conv2d   direct convolution for groups with few output channels (shaders/conv2d.comp).
 * The environment variable LSUV_GEMM_KERNEL=tiled|subgroup|direct forces one, and
 * LSUV_GEMM_MAX_GROUPS=n caps each grid dimension (tests use them to cover every kernel and
 * the shaders' loops over tiles on one device). */
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"

/* Push constants shared by the three shaders (108 bytes). */
typedef struct gemm_push {
    uint32_t x[2], w[2], bias[2], y[2];
    uint32_t rows, cols, k, has_bias;
    uint32_t c, h, wd, ohw, ow, r, s, sh, sw, ph, pw, dh, dw, cg, kout;
} gemm_push;
LSUV_PUSH_FITS(gemm_push);

/* The variants, as LSUV_GEMM_KERNEL names them (ctx->tuning, read at context creation). */
enum { KERNEL_AUTO = LSUV_GEMM_AUTO, KERNEL_TILED = LSUV_GEMM_TILED, KERNEL_SUBGROUP = LSUV_GEMM_SUBGROUP,
       KERNEL_DIRECT = LSUV_GEMM_DIRECT };

#define MAX_ELEMENTS 0x80000000ull /* index math is 32-bit unsigned: 2^31 keeps slack */

static int has_buffer(const lsuv_buffer *b) { return b && b->address; }

static int fits(const lsuv_buffer *b, uint64_t floats)
{
    return has_buffer(b) && b->size >= floats * sizeof(float);
}

static uint32_t capped(const lsuv_context *ctx, uint64_t n, uint32_t limit)
{
    uint64_t cap = limit ? limit : 65535;
    if (ctx->tuning.gemm_max_groups && ctx->tuning.gemm_max_groups < cap) /* tests: the tile loops */
        cap = ctx->tuning.gemm_max_groups;
    return n > cap ? (uint32_t)cap : n ? (uint32_t)n : 1;
}

/* The subgroup kernel needs a fixed subgroup size it can specialize for (the K slice and
 * the shared tile depend on it) and shuffles; it is tuned for CPU devices only. */
static int subgroup_kernel_ok(const lsuv_context *ctx)
{
    const uint32_t need = 0x1u /* BASIC */ | 0x10u /* SHUFFLE */;
    uint32_t sg = ctx->info.subgroup_size;
    return (ctx->info.subgroup_operations & need) == need && sg >= 4 && sg <= 16 && (sg & (sg - 1)) == 0 &&
           ctx->info.max_workgroup_invocations >= 8 * sg;
}

/* Padded columns times a per-column cost that falls with the columns held per thread
 * (fewer loads per multiply-add): picks the column width of a tile. */
static double tile_cost(uint32_t n, uint32_t tile, uint32_t per_thread)
{
    double padded = (double)((n + tile - 1) / tile) * tile;
    return padded * (1.0 + 4.0 / per_thread);
}

/* Records the GEMM: rows x cols outputs (per group), depth k. */
static lsuv_status record_gemm(lsuv_context *ctx, gemm_push *push, int conv, uint32_t groups, int kernel)
{
    const uint32_t *lim = ctx->info.max_workgroup_count;
    if (kernel == KERNEL_SUBGROUP) {
        /* 32 rows per subgroup, 8 subgroups, 4, 8 or 12 columns per lane: few variants,
         * since each costs seconds of LLVM time on first use */
        uint32_t sg = ctx->info.subgroup_size, tm = 32, nsg = 8, tn = 4;
        for (uint32_t t = 8; t <= 12; t += 4)
            if ((uint64_t)sg * sg * t * 4 <= 16384 &&
                tile_cost(push->cols, sg * t, t) < tile_cost(push->cols, sg * tn, tn))
                tn = t;
        uint32_t spec[6] = {tm, tn, sg, nsg, conv ? 1u : 0u, sg * nsg};
        uint64_t row_tiles = (push->rows + tm * nsg - 1) / (tm * nsg);
        uint64_t col_tiles = (push->cols + sg * tn - 1) / (sg * tn);
        return lsuv_dispatch(ctx, LSUV_SHADER_GEMM_SG, spec, 6, push, sizeof *push, capped(ctx, col_tiles, lim[0]),
                             capped(ctx, row_tiles, lim[1]), capped(ctx, groups, lim[2]));
    }
    /* tiled: 64 or 128 wide in each direction, the larger unless it pads much more */
    uint32_t tm = tile_cost(push->rows, 128, 8) <= tile_cost(push->rows, 64, 4) ? 8 : 4;
    uint32_t tn = tile_cost(push->cols, 128, 8) <= tile_cost(push->cols, 64, 4) ? 8 : 4;
    uint32_t spec[4] = {tm, tn, 8, conv ? 1u : 0u};
    uint64_t row_tiles = (push->rows + 16 * tm - 1) / (16 * tm);
    uint64_t col_tiles = (push->cols + 16 * tn - 1) / (16 * tn);
    return lsuv_dispatch(ctx, LSUV_SHADER_GEMM, spec, 4, push, sizeof *push, capped(ctx, col_tiles, lim[0]),
                         capped(ctx, row_tiles, lim[1]), capped(ctx, groups, lim[2]));
}

static int choose_kernel(const lsuv_context *ctx, int conv, uint32_t cols_per_group)
{
    int forced = (int)ctx->tuning.gemm_kernel;
    if (forced == KERNEL_DIRECT && !conv)
        forced = KERNEL_AUTO;
    if (forced == KERNEL_SUBGROUP && !subgroup_kernel_ok(ctx))
        forced = KERNEL_AUTO;
    if (forced != KERNEL_AUTO)
        return forced;
    /* a GEMM tile is at least 32 channels wide: with fewer per group it is mostly padding
     * (on lavapipe the direct kernel matches the subgroup one at 4 channels per group) */
    if (conv && cols_per_group < 4)
        return KERNEL_DIRECT;
    if (ctx->info.type == LSUV_DEVICE_CPU && subgroup_kernel_ok(ctx))
        return KERNEL_SUBGROUP;
    return KERNEL_TILED;
}

lsuv_status lsuv_k_dense(lsuv_context *ctx, const lsuv_buffer *x, const lsuv_buffer *w,
                         const lsuv_buffer *bias, const lsuv_buffer *y, uint32_t batch,
                         uint32_t in, uint32_t out)
{
    if (!ctx)
        return LSUV_ERROR_INVALID_ARGUMENT;
    if (batch == 0 || in == 0 || out == 0)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "dense: empty shape: batch %u, %u -> %u",
                         batch, in, out);
    if ((uint64_t)batch * in > MAX_ELEMENTS || (uint64_t)batch * out > MAX_ELEMENTS ||
        (uint64_t)in * out > MAX_ELEMENTS)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "dense: batch %u, %u -> %u: a tensor exceeds 2^31 elements", batch, in, out);
    if (!fits(x, (uint64_t)batch * in) || !fits(w, (uint64_t)out * in) || !fits(y, (uint64_t)batch * out) ||
        (has_buffer(bias) && !fits(bias, out)))
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "dense: batch %u, %u -> %u: a buffer is missing or too small", batch, in, out);
    gemm_push push = {0};
    lsuv_push_address(push.x, x->address);
    lsuv_push_address(push.w, w->address);
    lsuv_push_address(push.bias, has_buffer(bias) ? bias->address : 0);
    lsuv_push_address(push.y, y->address);
    push.rows = batch;
    push.cols = out;
    push.k = in;
    push.has_bias = has_buffer(bias);
    return record_gemm(ctx, &push, 0, 1, choose_kernel(ctx, 0, out));
}

int lsuv_conv2d_output_size(lsuv_conv2d_params *p)
{
    if (!p)
        return 0;
    p->out_h = p->out_w = 0;
    if (p->stride_h == 0 || p->stride_w == 0 || p->dilation_h == 0 || p->dilation_w == 0 ||
        p->groups == 0 || p->kernel_h == 0 || p->kernel_w == 0 || p->in_channels == 0 ||
        p->out_channels == 0 || p->in_channels % p->groups || p->out_channels % p->groups ||
        p->in_h == 0 || p->in_w == 0)
        return 0;
    /* keep every intermediate of the shaders' int arithmetic far from overflow */
    const uint32_t big = 1u << 24;
    /* ONNX's pads may differ at the end; the shaders need only the leading ones (they
     * test every tap against the input) and the output size, which the end pads set */
    uint32_t eh = p->asymmetric ? p->pad_h_end : p->pad_h, ew = p->asymmetric ? p->pad_w_end : p->pad_w;
    if (eh >= big || ew >= big)
        return 0;
    if (p->in_h >= big || p->in_w >= big || p->pad_h >= big || p->pad_w >= big || p->stride_h >= big ||
        p->stride_w >= big || p->kernel_h >= 4096 || p->kernel_w >= 4096 || p->dilation_h >= 4096 ||
        p->dilation_w >= 4096)
        return 0;
    int64_t sh = (int64_t)p->in_h + p->pad_h + eh - (int64_t)p->dilation_h * (p->kernel_h - 1) - 1;
    int64_t sw = (int64_t)p->in_w + p->pad_w + ew - (int64_t)p->dilation_w * (p->kernel_w - 1) - 1;
    if (sh < 0 || sw < 0)
        return 0;
    p->out_h = (uint32_t)(sh / p->stride_h + 1);
    p->out_w = (uint32_t)(sw / p->stride_w + 1);
    return 1;
}

lsuv_status lsuv_k_conv2d(lsuv_context *ctx, const lsuv_conv2d_params *p, const lsuv_buffer *x,
                          const lsuv_buffer *w, const lsuv_buffer *bias, const lsuv_buffer *y)
{
    if (!ctx)
        return LSUV_ERROR_INVALID_ARGUMENT;
    if (!p)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "conv2d: no parameters");
    lsuv_conv2d_params q = *p;
    if (!lsuv_conv2d_output_size(&q) || p->batch == 0)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "conv2d: invalid geometry: batch %u, %u x %u x %u -> %u channels, kernel %u x %u, "
                         "stride %u x %u, pad %u x %u (end %u x %u), dilation %u x %u, groups %u",
                         p->batch, p->in_channels, p->in_h, p->in_w, p->out_channels, p->kernel_h,
                         p->kernel_w, p->stride_h, p->stride_w, p->pad_h, p->pad_w,
                         p->asymmetric ? p->pad_h_end : p->pad_h, p->asymmetric ? p->pad_w_end : p->pad_w,
                         p->dilation_h, p->dilation_w, p->groups);
    if ((p->out_h || p->out_w) && (p->out_h != q.out_h || p->out_w != q.out_w))
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "conv2d: output size %u x %u given, the geometry gives %u x %u", p->out_h, p->out_w,
                         q.out_h, q.out_w);
    uint64_t cg = q.in_channels / q.groups, kg = q.out_channels / q.groups;
    uint64_t depth = cg * q.kernel_h * q.kernel_w;
    uint64_t nx = (uint64_t)q.batch * q.in_channels * q.in_h * q.in_w;
    uint64_t nw = (uint64_t)q.out_channels * depth;
    uint64_t ohw = (uint64_t)q.out_h * q.out_w;
    uint64_t ny = (uint64_t)q.batch * q.out_channels * ohw;
    if (nx > MAX_ELEMENTS || nw > MAX_ELEMENTS || ny > MAX_ELEMENTS)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "conv2d: a tensor exceeds 2^31 elements (input %llu, weights %llu, output %llu)",
                         (unsigned long long)nx, (unsigned long long)nw, (unsigned long long)ny);
    if (!fits(x, nx) || !fits(w, nw) || !fits(y, ny) || (has_buffer(bias) && !fits(bias, q.out_channels)))
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "conv2d: a buffer is missing or too small (input %llu, weights %llu, output %llu "
                         "floats)",
                         (unsigned long long)nx, (unsigned long long)nw, (unsigned long long)ny);
    gemm_push push = {0};
    lsuv_push_address(push.x, x->address);
    lsuv_push_address(push.w, w->address);
    lsuv_push_address(push.bias, has_buffer(bias) ? bias->address : 0);
    lsuv_push_address(push.y, y->address);
    push.rows = (uint32_t)(q.batch * ohw);
    push.cols = (uint32_t)kg;
    push.k = (uint32_t)depth;
    push.has_bias = has_buffer(bias);
    push.c = q.in_channels;
    push.h = q.in_h;
    push.wd = q.in_w;
    push.ohw = (uint32_t)ohw;
    push.ow = q.out_w;
    push.r = q.kernel_h;
    push.s = q.kernel_w;
    push.sh = q.stride_h;
    push.sw = q.stride_w;
    push.ph = q.pad_h;
    push.pw = q.pad_w;
    push.dh = q.dilation_h;
    push.dw = q.dilation_w;
    push.cg = (uint32_t)cg;
    push.kout = q.out_channels;
    int kernel = choose_kernel(ctx, 1, (uint32_t)kg);
    if (kernel == KERNEL_DIRECT) {
        /* outputs per invocation along a row: more reuse of each weight on CPUs, more
         * invocations on GPUs */
        uint32_t tw = ctx->info.type == LSUV_DEVICE_CPU ? 8 : 4;
        uint64_t items = (uint64_t)q.batch * q.out_h * q.out_channels * ((q.out_w + tw - 1) / tw);
        return lsuv_dispatch(ctx, LSUV_SHADER_CONV2D, &tw, 1, &push, sizeof push,
                             capped(ctx, (items + 255) / 256, ctx->info.max_workgroup_count[0]), 1, 1);
    }
    return record_gemm(ctx, &push, 1, q.groups, kernel);
}
