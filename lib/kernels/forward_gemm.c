/* forward_gemm.c - host side of the GEMM-type forward kernels: dense and conv2d.
 *
 * Both are out[r][c] = sum_k D[r][k] * W[c][k] (+ bias[c]) with D the data (dense: the
 * batch rows of x; conv: im2col(x), formed on the fly) and W the weights. Three kernels:
 *  - gemm     tiled in shared memory for GPUs (shaders/gemm.comp);
 *  - gemm_sg  for CPU devices, where a subgroup is one SIMD vector (shaders/gemm_sg.comp);
 *  - conv2d   direct convolution for groups with few output channels (shaders/conv2d.comp);
 *  - gemm_tx  for CPU devices: 8 x 8 register tiles over operands read through storage
 *             texel buffers (shaders/gemm_tx.comp, laid out by pack_tx.comp; vk/texel.c).
 * The environment variable LSUV_GEMM_KERNEL=tiled|subgroup|direct|texel forces one, and
 * LSUV_GEMM_MAX_GROUPS=n caps each grid dimension (tests use them to cover every kernel and
 * the shaders' loops over tiles on one device). */
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
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
       KERNEL_DIRECT = LSUV_GEMM_DIRECT, KERNEL_TEXEL = LSUV_GEMM_TEXEL };

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
    lsuv_dispatch_work(ctx, 2.0 * push->rows * push->cols * groups * push->k, 0);
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

/* ---- the texel kernel (CPU devices; vk/texel.c says why) */

/* Push constants of gemm_tx.comp and pack_tx.comp. */
typedef struct tx_push {
    uint32_t y[2], bias[2];
    uint32_t rows, cols, groups, has_bias;
    uint32_t d0, w0, t, r, s;
    uint32_t d_kr, d_ks, d_img;
    uint32_t ohw, ow, wp, gt, sh, sw;
    uint32_t ybs, ycs;
    uint32_t wst;
    uint32_t d_bat, w_bat, y_bat, t_bat; /* batches (workgroup rows): lsuv_k_texel_gram_diag */
    uint32_t yt0;                        /* the output's first texel in its view (tx_output) */
    uint32_t tri;                        /* zeros skipped: TX_TRI_* (gemm_tx.comp) */
} tx_push;
enum { TX_TRI_K = 1, TX_TRI_LOWER = 2 };
LSUV_PUSH_FITS(tx_push);

/* gemm_tx's output form (YT_FORM in gemm_tx.comp) for a product with tc columns per tile
 * writing `floats` floats from y's start: through an rgba32f view (binding 2) where whole
 * texels line up, else float by float by device address. Sets refs[2] and p->yt0 for the
 * texel forms. (An r32f view for the rest, 7x7 maps, measured no faster on lavapipe.) */
static lsuv_status tx_output(lsuv_context *ctx, tx_push *p, const lsuv_buffer *y, uint64_t floats, uint32_t tc,
                             lsuv_texel_ref *refs, uint32_t *form)
{
    /* columns: each 4 rows of a tile are 4 positions of one image (ohw % 4 == 0) */
    int columns = p->ohw % 4 == 0 && p->ycs % 4 == 0 && p->ybs % 4 == 0 && p->y_bat % 4 == 0;
    int rows = p->ohw == 1 && p->ycs == 1 && p->ybs % 4 == 0 && p->cols % tc == 0 && p->y_bat % 4 == 0;
    lsuv_buffer ys = lsuv_buffer_slice(y, 0, floats * 4);
    *form = 0;
    if ((!columns && !rows) || floats % 4 || floats * 4 > y->size ||
        !lsuv_texel_fits(ctx, &ys, LSUV_TEXEL_RGBA32F, floats / 4))
        return LSUV_OK;
    lsuv_status st = lsuv_texel_ref_get(ctx, &ys, LSUV_TEXEL_RGBA32F, floats / 4, &refs[2]);
    if (st == LSUV_OK) {
        *form = columns ? 1 : 2;
        p->yt0 = refs[2].first;
    }
    return st;
}

typedef struct pack_push {
    uint32_t s0, t0, nx, ny, nz, t, k, g, cg, c, h, w, hp, wp, ph, pw, rs, s4;
} pack_push;
LSUV_PUSH_FITS(pack_push);
/* pack_tx.comp's modes */
enum { PACK_ROWS = 0, PACK_INPUT = 1, PACK_FILTER = 2, PACK_INPUT_BLOCKS = 4, PACK_FILTER_BLOCKS = 5 };
#define PACK_MAX_TAPS 16 /* PACK_FILTER_BLOCKS: 4 * taps floats held per lane */
#define PACK_GROUPS 64 /* workgroups of a pack at most (tx_pack) */

/* One GEMM as gemm_tx.comp runs it. Data come in units (dense: rows; conv: images) of
 * rows_per output rows; weights in columns (output features / channels). Sizes are those
 * of one unit or column as packed (texels) and in the caller's buffer (floats). */
typedef struct tx_plan {
    const lsuv_buffer *x, *w, *bias, *y;
    int conv, pack_x, pack_w; /* dense operands whose rows are whole texels are read as they are */
    uint32_t units, rows_per, cols, groups; /* cols: per group */
    uint64_t unit_texels, unit_floats, col_texels, col_floats;
    uint64_t unit_step, col_step; /* units and columns per chunk */
    pack_push x_pack, w_pack;     /* geometry for the packs (mode-specific fields) */
    tx_push push;                 /* geometry for gemm_tx (y, bias, rows, cols, d0, w0 per chunk) */
    uint64_t y_unit;              /* output floats per unit */
    uint64_t k;                   /* depth, unpadded (for the FLOP count) */
} tx_plan;

static int texel_kernel_ok(const lsuv_context *ctx)
{
    return ctx->texel && ctx->texel_layout && lsuv_texel_span(ctx, LSUV_TEXEL_RGBA32F) >= 64;
}

static uint64_t min64(uint64_t a, uint64_t b) { return a < b ? a : b; }

/* Chunks so that every operand of a dispatch fits one texel view (maxTexelBufferElements):
 * data by units, weights by columns (with groups, the weights go whole: a column range
 * of every group is not one range). Returns 0 when one unit or the grouped weights do not
 * fit: the caller takes another kernel. */
static int tx_chunks(const lsuv_context *ctx, tx_plan *pl)
{
    uint64_t span = lsuv_texel_span(ctx, LSUV_TEXEL_RGBA32F), fspan = lsuv_texel_span(ctx, LSUV_TEXEL_R32F);
    uint64_t nu = span / pl->unit_texels, nc = span / pl->col_texels;
    if (pl->pack_x)
        nu = min64(nu, fspan / pl->unit_floats);
    if (pl->pack_w)
        nc = min64(nc, fspan / pl->col_floats);
    uint64_t all = (uint64_t)pl->cols * pl->groups;
    if (nu == 0 || nc == 0 || (pl->groups > 1 && nc < all))
        return 0;
    pl->unit_step = min64(nu, pl->units);
    pl->col_step = pl->groups > 1 ? all : nc >= all ? all : nc > 8 ? nc / 8 * 8 : nc; /* whole tiles */
    return 1;
}

/* One pack_tx dispatch: n units (rows, images or output channels) of src into dst. */
static lsuv_status tx_pack(lsuv_context *ctx, uint32_t mode, const lsuv_buffer *src, uint64_t floats,
                           const lsuv_buffer *dst, uint64_t texels, uint64_t n, pack_push pp)
{
    /* filters of whole texels of channels, as blocks (pack_tx.comp, mode 5) */
    if (mode == PACK_FILTER && pp.cg % 4 == 0 && pp.rs <= PACK_MAX_TAPS && lsuv_texel_aligned(src, LSUV_TEXEL_RGBA32F))
        mode = PACK_FILTER_BLOCKS;
    int blocks = mode == PACK_INPUT_BLOCKS || mode == PACK_FILTER_BLOCKS;
    lsuv_texel_ref refs[LSUV_TEXEL_BINDINGS] = {{0}};
    lsuv_status st = lsuv_texel_ref_get(ctx, src, LSUV_TEXEL_R32F, floats, &refs[0]);
    if (st == LSUV_OK)
        st = lsuv_texel_ref_get(ctx, dst, LSUV_TEXEL_RGBA32F, texels, &refs[1]);
    if (st == LSUV_OK && blocks) /* the source as texels too */
        st = lsuv_texel_ref_get(ctx, src, LSUV_TEXEL_RGBA32F, floats / 4, &refs[2]);
    if (st == LSUV_OK && mode == PACK_INPUT_BLOCKS && (pp.ph || pp.pw || pp.hp > pp.h + pp.ph || pp.wp > pp.w + pp.pw))
        st = lsuv_buffer_fill(ctx, dst, 0); /* positions no source pixel reaches */
    if (st != LSUV_OK)
        return st;
    pp.s0 = refs[0].first;
    pp.t0 = refs[1].first;
    pp.s4 = refs[2].first;
    /* the grid: x the texels along a row (lanes), y and z per workgroup (pack_tx.comp) */
    if (mode == PACK_ROWS)
        pp.nx = pp.t, pp.ny = (uint32_t)n, pp.nz = 1;
    else if (mode == PACK_INPUT)
        pp.nx = pp.wp * pp.g * pp.t, pp.ny = pp.hp, pp.nz = (uint32_t)n;
    else if (mode == PACK_INPUT_BLOCKS)
        pp.nx = pp.w / 4 * pp.t, pp.ny = pp.h, pp.nz = (uint32_t)n;
    else if (mode == PACK_FILTER_BLOCKS)
        pp.nx = pp.t, pp.ny = 1, pp.nz = (uint32_t)n;
    else
        pp.nx = pp.t, pp.ny = pp.rs, pp.nz = (uint32_t)n;
    /* Few workgroups, each looping over many rows: a CPU device pays a fixed cost per
     * workgroup, which at one texel per lane made this kernel run at 0.5-1 GB/s. */
    const uint32_t *lim = ctx->info.max_workgroup_count;
    uint32_t gx = capped(ctx, lsuv_ceil_div(pp.nx, 64), lim[0] < PACK_GROUPS ? lim[0] : PACK_GROUPS);
    uint32_t gy = capped(ctx, pp.ny, PACK_GROUPS / gx < lim[1] ? PACK_GROUPS / gx : lim[1]);
    uint32_t gz = capped(ctx, pp.nz, PACK_GROUPS / (gx * gy) ? PACK_GROUPS / (gx * gy) : 1);
    lsuv_dispatch_work(ctx, 0, (double)floats * 4 + (double)texels * 16);
    uint32_t spec[2] = {mode, mode == PACK_FILTER_BLOCKS ? pp.rs : 1};
    return lsuv_texel_dispatch(ctx, LSUV_SHADER_PACK_TX, spec, 2, refs, &pp, sizeof pp, gx, gy,
                               gz < lim[2] ? gz : lim[2]);
}

/* gemm_tx's tile (rows x columns per invocation): the largest of 16 x 16, 8 x 16 and 8 x 8
 * that still gives 256 tiles (four workgroups: a few per core of a CPU device). On
 * lavapipe, fitnet4 b32's convs: 16 x 16 57.7 GFLOP/s, 8 x 16 51, 8 x 8 47 (medians of 4,
 * interleaved); mlp20's 32 x 1024 x 1024 dense: 8 x 16 51, 8 x 8 44, 16 x 16 43 (two
 * workgroups). 16 x 24, 24 x 16 and 16 x 32 ran slower than 16 x 16 (accumulators that
 * no longer fit the spill slots' cache lines?); each variant costs LLVM ~3 s once. */
static void tx_tiles(uint64_t rows, uint64_t cols, uint64_t groups, uint32_t *tr, uint32_t *tc)
{
    static const uint32_t choice[][2] = {{16, 16}, {8, 16}};
    for (int i = 0; i < 2 && cols >= 16; i++) /* narrower groups (depthwise) keep 8 x 8 */
        if (lsuv_ceil_div(rows, choice[i][0]) * lsuv_ceil_div(cols, choice[i][1]) * groups >= 256) {
            *tr = choice[i][0];
            *tc = choice[i][1];
            return;
        }
    *tr = *tc = 8;
}

/* Packs what needs packing (into scratch), then one gemm_tx dispatch per chunk pair. */
static lsuv_status record_texel(lsuv_context *ctx, tx_plan *pl)
{
    lsuv_buffer dx = *pl->x, dw = *pl->w; /* the operands as gemm_tx reads them */
    uint64_t ncol = (uint64_t)pl->cols * pl->groups;
    lsuv_status st = LSUV_OK;
    if (pl->pack_w) {
        st = lsuv_scratch(ctx, ncol * pl->col_texels * 16, &dw);
        for (uint64_t c0 = 0; st == LSUV_OK && c0 < ncol; c0 += pl->col_step) {
            uint64_t n = min64(pl->col_step, ncol - c0);
            lsuv_buffer src = lsuv_buffer_slice(pl->w, c0 * pl->col_floats * 4, n * pl->col_floats * 4);
            lsuv_buffer dst = lsuv_buffer_slice(&dw, c0 * pl->col_texels * 16, n * pl->col_texels * 16);
            st = tx_pack(ctx, pl->conv ? PACK_FILTER : PACK_ROWS, &src, n * pl->col_floats, &dst,
                         n * pl->col_texels, n, pl->w_pack);
        }
    }
    if (st == LSUV_OK && pl->pack_x) {
        st = lsuv_scratch(ctx, (uint64_t)pl->units * pl->unit_texels * 16, &dx);
        for (uint64_t u0 = 0; st == LSUV_OK && u0 < pl->units; u0 += pl->unit_step) {
            uint64_t n = min64(pl->unit_step, pl->units - u0);
            lsuv_buffer src = lsuv_buffer_slice(pl->x, u0 * pl->unit_floats * 4, n * pl->unit_floats * 4);
            lsuv_buffer dst = lsuv_buffer_slice(&dx, u0 * pl->unit_texels * 16, n * pl->unit_texels * 16);
            /* one group and rows of whole texels: 4 x 4 blocks (16-byte reads too) */
            uint32_t mode = !pl->conv ? PACK_ROWS
                            : pl->groups == 1 && pl->x_pack.w % 4 == 0 && lsuv_texel_aligned(&src, LSUV_TEXEL_RGBA32F)
                                ? PACK_INPUT_BLOCKS
                                : PACK_INPUT;
            st = tx_pack(ctx, mode, &src, n * pl->unit_floats, &dst, n * pl->unit_texels, n, pl->x_pack);
        }
    }
    for (uint64_t u0 = 0; st == LSUV_OK && u0 < pl->units; u0 += pl->unit_step)
        for (uint64_t c0 = 0; st == LSUV_OK && c0 < ncol; c0 += pl->col_step) {
            uint64_t nu = min64(pl->unit_step, pl->units - u0), nc = min64(pl->col_step, ncol - c0);
            lsuv_buffer d = lsuv_buffer_slice(&dx, u0 * pl->unit_texels * 16, nu * pl->unit_texels * 16);
            lsuv_buffer w = lsuv_buffer_slice(&dw, c0 * pl->col_texels * 16, nc * pl->col_texels * 16);
            lsuv_texel_ref refs[LSUV_TEXEL_BINDINGS] = {{0}};
            if ((st = lsuv_texel_ref_get(ctx, &d, LSUV_TEXEL_RGBA32F, nu * pl->unit_texels, &refs[0])) != LSUV_OK ||
                (st = lsuv_texel_ref_get(ctx, &w, LSUV_TEXEL_RGBA32F, nc * pl->col_texels, &refs[1])) != LSUV_OK)
                break;
            tx_push p = pl->push;
            lsuv_push_address(p.y, pl->y->address + (u0 * pl->y_unit + c0 * p.ycs) * 4);
            lsuv_push_address(p.bias, p.has_bias ? pl->bias->address + c0 * 4 : 0);
            p.rows = (uint32_t)(nu * pl->rows_per);
            p.cols = (uint32_t)(pl->groups > 1 ? pl->cols : nc);
            p.groups = pl->groups;
            p.d0 = refs[0].first;
            p.w0 = refs[1].first;
            uint32_t spec[3] = {8, 8, 0};
            tx_tiles(p.rows, p.cols, p.groups, &spec[0], &spec[1]);
            /* what this pair writes, from its first output on */
            uint64_t ncw = (uint64_t)p.cols * p.groups, y0 = (u0 * pl->y_unit + c0 * p.ycs) * 4;
            uint64_t extent = p.ohw == 1 ? (uint64_t)(p.rows - 1) * p.ybs + (ncw - 1) * p.ycs + 1
                                         : (nu - 1) * p.ybs + (ncw - 1) * p.ycs + p.ohw;
            lsuv_buffer ys = lsuv_buffer_slice(pl->y, y0, pl->y->size - y0);
            if ((st = tx_output(ctx, &p, &ys, extent, spec[1], refs, &spec[2])) != LSUV_OK)
                break;
            uint64_t tiles = lsuv_ceil_div(p.rows, spec[0]) * lsuv_ceil_div(p.cols, spec[1]) * p.groups;
            lsuv_dispatch_work(ctx, 2.0 * p.rows * p.cols * p.groups * pl->k, 0);
            st = lsuv_texel_dispatch(ctx, LSUV_SHADER_GEMM_TX, spec, 3, refs, &p, sizeof p,
                                     capped(ctx, lsuv_ceil_div(tiles, 64), ctx->info.max_workgroup_count[0]), 1, 1);
        }
    return st;
}

/* Push constants of gemm_txk.comp. */
typedef struct txk_push {
    uint32_t y[2];
    uint32_t rows, cols, k, d0, w0, ldd, ldw, ldy;
    float alpha;
    uint32_t accumulate;
    uint32_t y0;
    uint32_t d_bat, w_bat, y_bat, c_bat; /* batches (workgroup rows): lsuv_k_texel_gemm_tn_diag */
    uint32_t tri;                        /* D upper triangular: k stops at the row tile's end */
} txk_push;
LSUV_PUSH_FITS(txk_push);

/* The kernel that runs when the texel one cannot take a problem. */
static int fallback_kernel(const lsuv_context *ctx)
{
    return subgroup_kernel_ok(ctx) ? KERNEL_SUBGROUP : KERNEL_TILED;
}

static int choose_kernel(const lsuv_context *ctx, int conv, uint32_t cols_per_group)
{
    int forced = (int)ctx->tuning.gemm_kernel;
    if (forced == KERNEL_TEXEL && !texel_kernel_ok(ctx))
        forced = KERNEL_AUTO;
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
    if (ctx->info.type == LSUV_DEVICE_CPU && texel_kernel_ok(ctx))
        return KERNEL_TEXEL;
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
    int kernel = choose_kernel(ctx, 0, out);
    if (kernel == KERNEL_TEXEL) {
        /* gemm_tx on x and w as they are when their rows are whole texels. (A K-major form
         * through gemm_txk, x and w transposed, ran 1.3-1.9x slower than this once gemm_tx
         * took 16 x 16 tiles: 1024^3 30.5 vs 39 GFLOP/s, 128 x 4096 x 1024 22.4 vs 37.5,
         * packs included; it was removed.) */
        uint32_t t = (in + 3) / 4;
        tx_plan pl = {.x = x, .w = w, .bias = bias, .y = y, .conv = 0,
                      .pack_x = in % 4 || !lsuv_texel_aligned(x, LSUV_TEXEL_RGBA32F),
                      .pack_w = in % 4 || !lsuv_texel_aligned(w, LSUV_TEXEL_RGBA32F),
                      .units = batch, .rows_per = 1, .cols = out, .groups = 1,
                      .unit_texels = t, .unit_floats = in, .col_texels = t, .col_floats = in, .y_unit = out,
                      .k = in};
        pl.x_pack = pl.w_pack = (pack_push){.t = t, .k = in};
        pl.push = (tx_push){.has_bias = push.has_bias, .t = t, .r = 1, .s = 1, .d_img = t, .ohw = 1, .ow = 1,
                            .ybs = out, .ycs = 1};
        if (tx_chunks(ctx, &pl))
            return record_texel(ctx, &pl);
        kernel = fallback_kernel(ctx);
    }
    return record_gemm(ctx, &push, 0, 1, kernel);
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
    if (kernel == KERNEL_TEXEL) {
        /* input packed channels-innermost with its padding in place (pack_tx.comp): the
         * rows the taps reach, hp x wp, and whole texels of each group's channels. (Reading
         * the input where it is, a float per pixel through an r32f view, in an outer-product
         * kernel ran at less than half the rate, packing included.) */
        uint32_t t = (uint32_t)((cg + 3) / 4), gt = t * q.groups;
        uint64_t hp = (uint64_t)(q.out_h - 1) * q.stride_h + (uint64_t)(q.kernel_h - 1) * q.dilation_h + 1;
        uint64_t wp = (uint64_t)(q.out_w - 1) * q.stride_w + (uint64_t)(q.kernel_w - 1) * q.dilation_w + 1;
        uint32_t rs = q.kernel_h * q.kernel_w;
        tx_plan pl = {.x = x, .w = w, .bias = bias, .y = y, .conv = 1, .pack_x = 1, .pack_w = 1,
                      .units = q.batch, .rows_per = (uint32_t)ohw, .cols = (uint32_t)kg, .groups = q.groups,
                      .unit_texels = hp * wp * gt, .unit_floats = (uint64_t)q.in_channels * q.in_h * q.in_w,
                      .col_texels = (uint64_t)rs * t, .col_floats = cg * rs, .y_unit = q.out_channels * ohw, .k = depth};
        /* pack_tx splits a row's texels with float arithmetic: exact below 2^24 */
        if (hp < (1u << 24) && wp * gt < (1u << 24) && tx_chunks(ctx, &pl)) {
            pl.x_pack = (pack_push){.t = t, .g = q.groups, .cg = (uint32_t)cg, .c = q.in_channels, .h = q.in_h,
                                    .w = q.in_w, .hp = (uint32_t)hp, .wp = (uint32_t)wp, .ph = q.pad_h,
                                    .pw = q.pad_w};
            pl.w_pack = (pack_push){.t = t, .cg = (uint32_t)cg, .rs = rs};
            pl.push = (tx_push){.has_bias = push.has_bias, .t = t, .r = q.kernel_h, .s = q.kernel_w,
                                .d_kr = (uint32_t)(q.dilation_h * wp * gt), .d_ks = q.dilation_w * gt,
                                .d_img = (uint32_t)pl.unit_texels, .ohw = (uint32_t)ohw, .ow = q.out_w,
                                .wp = (uint32_t)wp, .gt = gt, .sh = q.stride_h, .sw = q.stride_w,
                                .ybs = (uint32_t)(q.out_channels * ohw), .ycs = (uint32_t)ohw};
            return record_texel(ctx, &pl);
        }
        kernel = fallback_kernel(ctx);
    }
    if (kernel == KERNEL_DIRECT) {
        /* outputs per invocation along a row: more reuse of each weight on CPUs, more
         * invocations on GPUs */
        uint32_t tw = ctx->info.type == LSUV_DEVICE_CPU ? 8 : 4;
        lsuv_dispatch_work(ctx, 2.0 * push.rows * q.out_channels * depth, 0);
        uint64_t items = (uint64_t)q.batch * q.out_h * q.out_channels * ((q.out_w + tw - 1) / tw);
        return lsuv_dispatch(ctx, LSUV_SHADER_CONV2D, &tw, 1, &push, sizeof push,
                             capped(ctx, (items + 255) / 256, ctx->info.max_workgroup_count[0]), 1, 1);
    }
    return record_gemm(ctx, &push, 1, q.groups, kernel);
}

/* ---- products of the block orthonormalization (orthonormalize.c) on CPU devices */

int lsuv_k_texel_products_ok(const lsuv_context *ctx, uint64_t texels)
{
    return texel_kernel_ok(ctx) && texels <= lsuv_texel_span(ctx, LSUV_TEXEL_RGBA32F);
}

lsuv_status lsuv_k_texel_gemm_nt(lsuv_context *ctx, const lsuv_buffer *a, uint32_t a_rows, const lsuv_buffer *b,
                                 uint32_t b_rows, uint32_t ld, const lsuv_buffer *c, uint32_t ldc)
{
    return lsuv_k_texel_gemm_nt_k(ctx, a, a_rows, b, b_rows, ld, ld, c, ldc, 0);
}

/* Flops of a product with the triangle skips, as they run: row tile r0 (tr rows) runs its
 * k loop over all k, from its first row on or up to its last row (depth), over all the
 * columns or (lower) only those of the tc-wide tiles that start before its last row. */
enum { DEPTH_ALL, DEPTH_FROM_ROW, DEPTH_TO_ROW };
static double tri_flops(uint32_t rows, uint32_t cols, uint32_t k, uint32_t tr, uint32_t tc, int depth_mode,
                        int lower)
{
    double sum = 0;
    for (uint32_t r0 = 0; r0 < rows; r0 += tr) {
        uint32_t n = rows - r0 < tr ? rows - r0 : tr;
        uint32_t depth = depth_mode == DEPTH_TO_ROW     ? (r0 + tr < k ? r0 + tr : k)
                         : depth_mode == DEPTH_FROM_ROW ? (r0 < k ? k - r0 : 0)
                                                        : k;
        uint64_t upto = lower ? lsuv_round_up(r0 + tr, tc) : cols;
        sum += (double)n * depth * (double)(upto < cols ? upto : cols);
    }
    return 2.0 * sum;
}

lsuv_status lsuv_k_texel_gemm_nt_k(lsuv_context *ctx, const lsuv_buffer *a, uint32_t a_rows, const lsuv_buffer *b,
                                   uint32_t b_rows, uint32_t k, uint32_t ld, const lsuv_buffer *c, uint32_t ldc,
                                   uint32_t flags)
{
    if (ld % 4 || k % 4 || !k || k > ld || !a_rows || !b_rows || !fits(a, (uint64_t)(a_rows - 1) * ld + k) ||
        !fits(b, (uint64_t)(b_rows - 1) * ld + k) || !fits(c, (uint64_t)(a_rows - 1) * ldc + b_rows))
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "texel product: %u x %u rows of %u floats (stride %u) do not fit", a_rows, b_rows, k, ld);
    uint32_t t = k / 4, st4 = ld / 4;
    lsuv_texel_ref refs[LSUV_TEXEL_BINDINGS] = {{0}};
    lsuv_status st = lsuv_texel_ref_get(ctx, a, LSUV_TEXEL_RGBA32F, (uint64_t)(a_rows - 1) * st4 + t, &refs[0]);
    if (st == LSUV_OK)
        st = lsuv_texel_ref_get(ctx, b, LSUV_TEXEL_RGBA32F, (uint64_t)(b_rows - 1) * st4 + t, &refs[1]);
    if (st != LSUV_OK)
        return st;
    /* gemm_tx as a dense layer: data = rows of a, weights = rows of b, out = c */
    tx_push p = {.rows = a_rows, .cols = b_rows, .groups = 1, .d0 = refs[0].first, .w0 = refs[1].first, .t = t,
                 .r = 1, .s = 1, .d_img = st4, .ohw = 1, .ow = 1, .ybs = ldc, .ycs = 1, .wst = st4,
                 .tri = (flags & LSUV_TX_TRAPEZOID ? TX_TRI_K : 0) | (flags & LSUV_TX_LOWER ? TX_TRI_LOWER : 0)};
    lsuv_push_address(p.y, c->address);
    /* 4 x 4 tiles where 8 x 8 ones would fill fewer than two workgroups (one core of a
     * CPU device; e.g. a 64 x 64 Gram matrix): 4x the invocations; else tx_tiles' choice */
    uint32_t spec[3] = {4, 4, 0};
    if ((uint64_t)lsuv_ceil_div(a_rows, 8) * lsuv_ceil_div(b_rows, 8) >= 128)
        tx_tiles(a_rows, b_rows, 1, &spec[0], &spec[1]);
    if ((st = tx_output(ctx, &p, c, (uint64_t)(a_rows - 1) * ldc + b_rows, spec[1], refs, &spec[2])) !=
        LSUV_OK)
        return st;
    uint64_t tiles = (uint64_t)lsuv_ceil_div(a_rows, spec[0]) * lsuv_ceil_div(b_rows, spec[1]);
    lsuv_dispatch_work(ctx,
                       tri_flops(a_rows, b_rows, k, spec[0], spec[1], p.tri & TX_TRI_K ? DEPTH_FROM_ROW : DEPTH_ALL,
                                 (p.tri & TX_TRI_LOWER) != 0),
                       0);
    return lsuv_texel_dispatch(ctx, LSUV_SHADER_GEMM_TX, spec, 3, refs, &p, sizeof p,
                               capped(ctx, lsuv_ceil_div(tiles, 64), ctx->info.max_workgroup_count[0]), 1, 1);
}

lsuv_status lsuv_k_texel_gemm_tn_update(lsuv_context *ctx, const lsuv_buffer *at, uint32_t ldat,
                                        const lsuv_buffer *b, uint32_t ldb, uint32_t k, const lsuv_buffer *y,
                                        uint32_t ldy, uint32_t rows, uint32_t cols, float alpha, uint32_t flags)
{
    uint64_t cols8 = lsuv_round_up(cols, 8), rows8 = lsuv_round_up(rows, 8); /* whole tiles are read */
    if (ldat % 8 || ldb % 8 || !k || !rows || !cols || rows8 > ldat || cols8 > ldb ||
        !fits(at, (uint64_t)(k - 1) * ldat + rows8) || !fits(b, (uint64_t)(k - 1) * ldb + cols8) ||
        !fits(y, (uint64_t)(rows - 1) * ldy + cols))
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "texel update: %u x %u of depth %u (strides %u, %u) does not fit", rows, cols, k, ldat, ldb);
    /* 16 x 16 tiles where the operands are padded for them (whole 16-wide tiles are read)
     * and there are 256 of them (as gemm_tx's tx_tiles); else 8 x 8 */
    uint64_t rows16 = lsuv_round_up(rows, 16);
    uint32_t t = ldat % 16 == 0 && ldb % 16 == 0 && cols % 16 == 0 && rows16 / 16 * (cols / 16) >= 256 &&
                         fits(at, (uint64_t)(k - 1) * ldat + rows16)
                     ? 16
                     : 8;
    uint64_t rows_t = lsuv_round_up(rows, t), cols_t = lsuv_round_up(cols, t);
    lsuv_texel_ref refs[LSUV_TEXEL_BINDINGS] = {{0}};
    lsuv_status st = lsuv_texel_ref_get(ctx, at, LSUV_TEXEL_RGBA32F, ((k - 1) * ldat + rows_t) / 4, &refs[0]);
    if (st == LSUV_OK)
        st = lsuv_texel_ref_get(ctx, b, LSUV_TEXEL_RGBA32F, ((k - 1) * ldb + cols_t) / 4, &refs[1]);
    if (st != LSUV_OK)
        return st;
    /* gemm_txk on operands that are K-major as they lie: texel (kk, j) of at holds
     * rows 4j..4j+3 of the output at depth kk */
    txk_push p = {.rows = rows, .cols = cols, .k = k, .d0 = refs[0].first, .w0 = refs[1].first,
                  .ldd = ldat / 4, .ldw = ldb / 4, .ldy = ldy, .alpha = alpha, .accumulate = 1,
                  .tri = (flags & LSUV_TX_TRIANGULAR) != 0};
    lsuv_push_address(p.y, y->address);
    /* the output through a texel view too where its rows are whole texel tiles */
    uint64_t ytexels = ((uint64_t)(rows - 1) * ldy + cols) / 4;
    uint32_t txy = cols % 8 == 0 && ldy % 4 == 0 && lsuv_texel_fits(ctx, y, LSUV_TEXEL_RGBA32F, ytexels);
    if (txy) {
        if ((st = lsuv_texel_ref_get(ctx, y, LSUV_TEXEL_RGBA32F, ytexels, &refs[2])) != LSUV_OK)
            return st;
        p.y0 = refs[2].first;
    }
    uint64_t tiles = (rows_t / t) * (cols_t / t);
    uint32_t spec[3] = {txy, t, t};
    lsuv_dispatch_work(ctx, tri_flops(rows, cols, k, t, t, p.tri ? DEPTH_TO_ROW : DEPTH_ALL, 0), 0);
    return lsuv_texel_dispatch(ctx, LSUV_SHADER_GEMM_TXK, spec, 3, refs, &p, sizeof p,
                               capped(ctx, lsuv_ceil_div(tiles, 64), ctx->info.max_workgroup_count[0]), 1, 1);
}

/* The diagonal-block batches (kernels.h): one dispatch, product z in workgroup row z. */
lsuv_status lsuv_k_texel_gram_diag(lsuv_context *ctx, const lsuv_buffer *v, uint32_t block, uint32_t count,
                                   uint32_t k, uint32_t ld, const lsuv_buffer *c)
{
    uint64_t last = (uint64_t)(count - 1) * block; /* the last block's first row and column */
    if (!block || block % 8 || !count || ld % 4 || k % 4 || k > ld || last >= k ||
        !fits(v, (last + block - 1) * ld + k) || !fits(c, (uint64_t)count * block * block) ||
        count > ctx->info.max_workgroup_count[1])
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "texel Gram blocks: %u blocks of %u rows of %u floats (stride %u) do not fit", count, block,
                         k, ld);
    uint32_t st4 = ld / 4;
    lsuv_texel_ref refs[LSUV_TEXEL_BINDINGS] = {{0}};
    lsuv_status st = lsuv_texel_ref_get(ctx, v, LSUV_TEXEL_RGBA32F, (last + block - 1) * st4 + k / 4, &refs[0]);
    if (st != LSUV_OK)
        return st;
    refs[1] = refs[0];
    /* block z: rows z*block.. of v from column z*block, k - z*block floats deep */
    tx_push p = {.rows = block, .cols = block, .groups = 1, .d0 = refs[0].first, .w0 = refs[0].first, .t = k / 4,
                 .r = 1, .s = 1, .d_img = st4, .ohw = 1, .ow = 1, .ybs = block, .ycs = 1, .wst = st4,
                 .d_bat = block * st4 + block / 4, .w_bat = block * st4 + block / 4, .y_bat = block * block,
                 .t_bat = block / 4, .tri = TX_TRI_K | TX_TRI_LOWER};
    lsuv_push_address(p.y, c->address);
    /* small outputs: 4 x 4 tiles give a CPU device's cores more to share */
    uint32_t tile = block >= 128 ? 8 : 4, spec[3] = {tile, tile, 0};
    if ((st = tx_output(ctx, &p, c, (uint64_t)count * block * block, tile, refs, &spec[2])) != LSUV_OK)
        return st;
    uint64_t tiles = (uint64_t)(block / tile) * (block / tile);
    /* what runs: tiles on or below the diagonal, from their row tile's first row on */
    double flops = 0;
    for (uint32_t z = 0; z < count; z++)
        for (uint32_t r0 = 0; r0 < block; r0 += tile) {
            uint32_t depth = k - z * block > r0 ? k - z * block - r0 : 0;
            flops += 2.0 * tile * tile * (r0 / tile + 1) * depth;
        }
    lsuv_dispatch_work(ctx, flops, 0);
    return lsuv_texel_dispatch(ctx, LSUV_SHADER_GEMM_TX, spec, 3, refs, &p, sizeof p,
                               capped(ctx, lsuv_ceil_div(tiles, 64), ctx->info.max_workgroup_count[0]), count, 1);
}

lsuv_status lsuv_k_texel_gemm_tn_diag(lsuv_context *ctx, const lsuv_buffer *at, uint32_t block, uint32_t count,
                                      const lsuv_buffer *b, uint32_t ld, const lsuv_buffer *y)
{
    uint64_t last = (uint64_t)(count - 1) * block;
    if (!block || block % 8 || !count || ld % 8 || last >= ld || !fits(at, (uint64_t)count * block * block) ||
        !fits(b, (last + block) * ld) || !fits(y, (last + block) * ld) || count > ctx->info.max_workgroup_count[1])
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "texel block products: %u blocks of %u rows of %u floats do not fit", count, block, ld);
    uint64_t texels = (last + block) * ld / 4;
    lsuv_texel_ref refs[LSUV_TEXEL_BINDINGS] = {{0}};
    lsuv_status st = lsuv_texel_ref_get(ctx, at, LSUV_TEXEL_RGBA32F, (uint64_t)count * block * block / 4, &refs[0]);
    if (st == LSUV_OK)
        st = lsuv_texel_ref_get(ctx, b, LSUV_TEXEL_RGBA32F, texels, &refs[1]);
    if (st == LSUV_OK)
        st = lsuv_texel_ref_get(ctx, y, LSUV_TEXEL_RGBA32F, texels, &refs[2]);
    if (st != LSUV_OK)
        return st;
    /* block z: y rows z*block.. from column z*block = at_z^T (b's rows z*block.. from there) */
    uint32_t diag = block * (ld / 4) + block / 4; /* texels from one block's corner to the next */
    txk_push p = {.rows = block, .cols = ld, .k = block, .d0 = refs[0].first, .w0 = refs[1].first,
                  .ldd = block / 4, .ldw = ld / 4, .ldy = ld, .alpha = 1.0f, .y0 = refs[2].first,
                  .d_bat = block * block / 4, .w_bat = diag, .y_bat = diag, .c_bat = block, .tri = 1};
    /* 16 x 16 tiles for wide blocks (operands padded to 16: whole tiles are read) */
    uint32_t tile = block >= 128 && block % 16 == 0 && ld % 16 == 0 ? 16 : 8, spec[3] = {1, tile, tile};
    uint64_t tiles = (uint64_t)(block / tile) * (ld / tile);
    double flops = 0; /* at_z upper triangular: row tile rt stops at depth (rt + 1) * tile */
    for (uint32_t z = 0; z < count; z++)
        flops += tri_flops(block, ld - z * block, block, tile, tile, DEPTH_TO_ROW, 0);
    lsuv_dispatch_work(ctx, flops, 0);
    return lsuv_texel_dispatch(ctx, LSUV_SHADER_GEMM_TXK, spec, 3, refs, &p, sizeof p,
                               capped(ctx, lsuv_ceil_div(tiles, 64), ctx->info.max_workgroup_count[0]), count, 1);
}
