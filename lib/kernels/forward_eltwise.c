/* forward_eltwise.c - host side of the forward kernels other than GEMM/conv: affine +
 * activation, maxout, pooling, residual add and channel concat. Each validates, then
 * records its dispatches (lsuv_submit runs them). */
#include <math.h>
#include <string.h>

#include "common/util.h"
#include "kernels/kernels.h"

#define WG 256u
#define MAX_INDEX 0x80000000ull /* shaders index with uint: at most 2^31 items per dispatch */
#define CHUNK (1ull << 30)      /* elements per dispatch of the chunked kernels */

/* The buffer exists and holds at least `floats` floats. */
static int holds(const lsuv_buffer *b, uint64_t floats)
{
    return b && b->address && floats <= UINT64_MAX / 4 && b->size >= floats * sizeof(float);
}

/* a * b, or 0 when the product overflows 64 bits (callers refuse 0) */
static uint64_t mul(uint64_t a, uint64_t b)
{
    if (a && b > UINT64_MAX / a)
        return 0;
    return a * b;
}

/* Workgroups for a grid-stride loop. A few thousand fill any GPU (an H100 holds ~270k
 * invocations at once); more only add per-workgroup overhead, which is large on lavapipe
 * (measured: 65535 groups cost ~20% more CPU time than 4096 for a pure stream, twice as much
 * where each invocation loads per-row parameters). Also keeps index + stride below 2^32. */
#define MAX_GROUPS 4096u
static uint32_t groups(const lsuv_context *ctx, uint64_t n)
{
    uint32_t g = lsuv_groups(ctx, n, WG);
    return g > MAX_GROUPS ? MAX_GROUPS : g;
}

/* ---------------------------------------------------------------- affine + activation */

/* CPU devices take affine_act_tx.comp (texel-buffer reads and writes) where both tensors
 * start on a texel and fit a view: by rows where rows are whole texels (a channel per
 * texel), else split (a channel per component: spatial 1 with channels % 4 == 0, or
 * spatial >= 4, over whole texels). */
#define TX_WG 64u
#define TX_GROUPS 64u /* a CPU device pays per workgroup: a few per core */
typedef enum { TX_NONE, TX_ROWS, TX_SPLIT } tx_affine;
static tx_affine texel_affine(const lsuv_context *ctx, const lsuv_buffer *x, const lsuv_buffer *y, uint64_t count,
                              uint32_t channels, uint32_t spatial)
{
    if (ctx->info.type != LSUV_DEVICE_CPU)
        return TX_NONE;
    int rows = spatial % 4 == 0;
    if (!rows && (count % 4 || (spatial == 1 ? channels % 4 : spatial < 4)))
        return TX_NONE;
    uint64_t texels = rows ? spatial / 4 : spatial; /* split: a chunk of 4 rows must fit */
    return lsuv_texel_fits(ctx, x, LSUV_TEXEL_RGBA32F, texels) && lsuv_texel_fits(ctx, y, LSUV_TEXEL_RGBA32F, texels)
               ? (rows ? TX_ROWS : TX_SPLIT)
               : TX_NONE;
}

static lsuv_status affine_texel(lsuv_context *ctx, tx_affine form, const lsuv_buffer *x, const lsuv_buffer *y,
                                uint64_t count, uint32_t channels, uint32_t spatial, float alpha,
                                const lsuv_buffer *scale, const lsuv_buffer *shift, lsuv_act_kind act, float param,
                                float param2, const lsuv_buffer *slopes)
{
    int has_scale = scale && scale->address, has_shift = shift && shift->address, split = form == TX_SPLIT;
    uint32_t spec[4] = {(uint32_t)act, has_scale ? 1u : 0u, has_shift ? 1u : 0u, split ? 1u : 0u};
    struct {
        uint32_t scale[2], shift[2], slopes[2];
        uint32_t n, s4, channels, c0, x0, y0;
        float alpha, param, param2;
    } push = {.s4 = split ? spatial : spatial / 4, .channels = channels, .alpha = alpha, .param = param,
              .param2 = param2};
    LSUV_PUSH_FITS(push);
    lsuv_push_address(push.scale, has_scale ? scale->address : 0);
    lsuv_push_address(push.shift, has_shift ? shift->address : 0);
    lsuv_push_address(push.slopes, act == LSUV_K_ACT_PRELU ? slopes->address : 0);
    uint64_t total_rows = count / spatial, span = lsuv_texel_span(ctx, LSUV_TEXEL_RGBA32F);
    /* rows per chunk, one view each: whole rows (c0 below); split, a multiple of 4 rows so
     * that every chunk starts on a texel (and, spatial 1, on a channel multiple of 4) */
    uint64_t step = split ? span * 4 / spatial / 4 * 4 : span / (spatial / 4);
    const uint32_t *lim = ctx->info.max_workgroup_count;
    for (uint64_t r0 = 0; r0 < total_rows; r0 += step) {
        uint64_t nr = total_rows - r0 < step ? total_rows - r0 : step, texels = nr * spatial / 4;
        lsuv_buffer xs = lsuv_buffer_slice(x, r0 * spatial * 4, texels * 16);
        lsuv_buffer ys = lsuv_buffer_slice(y, r0 * spatial * 4, texels * 16);
        lsuv_texel_ref refs[LSUV_TEXEL_BINDINGS] = {{0}};
        lsuv_status st = lsuv_texel_ref_get(ctx, &xs, LSUV_TEXEL_RGBA32F, texels, &refs[0]);
        if (st == LSUV_OK)
            st = lsuv_texel_ref_get(ctx, &ys, LSUV_TEXEL_RGBA32F, texels, &refs[1]);
        if (st != LSUV_OK)
            return st;
        push.x0 = refs[0].first;
        push.y0 = refs[1].first;
        push.c0 = (uint32_t)(r0 % channels);
        push.n = (uint32_t)texels;
        uint64_t g = lsuv_ceil_div(texels, TX_WG);
        uint32_t gx = (uint32_t)(g < TX_GROUPS ? g : TX_GROUPS); /* the shader splits the texels */
        lsuv_dispatch_work(ctx, 0, (double)texels * 32); /* bench --profile: bytes read and written */
        st = lsuv_texel_dispatch(ctx, LSUV_SHADER_AFFINE_ACT_TX, spec, 4, refs, &push, sizeof push,
                                 gx < lim[0] ? gx : lim[0], 1, 1);
        if (st != LSUV_OK)
            return st;
    }
    return LSUV_OK;
}

lsuv_status lsuv_k_affine_act(lsuv_context *ctx, const lsuv_buffer *x, const lsuv_buffer *y,
                              uint64_t count, uint32_t channels, uint32_t spatial, float alpha,
                              const lsuv_buffer *scale, const lsuv_buffer *shift,
                              lsuv_act_kind act, float param, const lsuv_buffer *slopes)
{
    return lsuv_k_affine_act2(ctx, x, y, count, channels, spatial, alpha, scale, shift, act, param, 0.0f, slopes);
}

lsuv_status lsuv_k_affine_act2(lsuv_context *ctx, const lsuv_buffer *x, const lsuv_buffer *y,
                               uint64_t count, uint32_t channels, uint32_t spatial, float alpha,
                               const lsuv_buffer *scale, const lsuv_buffer *shift, lsuv_act_kind act,
                               float param, float param2, const lsuv_buffer *slopes)
{
    if (!ctx)
        return LSUV_ERROR_INVALID_ARGUMENT;
    if ((unsigned)act > LSUV_K_ACT_ERF)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "affine_act: unknown activation %d", (int)act);
    if (count == 0 || channels == 0 || spatial == 0)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "affine_act: empty shape (count %llu, %u channels of %u)",
                         (unsigned long long)count, channels, spatial);
    uint64_t sample = (uint64_t)channels * spatial;
    if (count % sample != 0)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "affine_act: count %llu is not a multiple of %u channels x %u",
                         (unsigned long long)count, channels, spatial);
    /* Clip's bounds may be infinite (no min or no max), nothing may be NaN */
    int clip = act == LSUV_K_ACT_CLIP;
    if (!isfinite(alpha) || (clip ? isnan(param) || isnan(param2) : !isfinite(param) || !isfinite(param2)))
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "affine_act: alpha %g / params %g, %g not finite",
                         (double)alpha, (double)param, (double)param2);
    if (!holds(x, count) || !holds(y, count))
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "affine_act: x or y is missing or holds fewer than %llu floats",
                         (unsigned long long)count);
    int has_scale = scale && scale->address, has_shift = shift && shift->address;
    if ((has_scale && !holds(scale, channels)) || (has_shift && !holds(shift, channels)))
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "affine_act: scale or shift holds fewer than %u floats", channels);
    if (act == LSUV_K_ACT_PRELU && !holds(slopes, channels))
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "affine_act: PReLU needs a slopes buffer of %u floats", channels);
    if (y->address != x->address &&
        y->address < x->address + count * 4 && x->address < y->address + count * 4)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "affine_act: x and y overlap without being the same (in place is fine)");

    tx_affine form = texel_affine(ctx, x, y, count, channels, spatial);
    if (form != TX_NONE)
        return affine_texel(ctx, form, x, y, count, channels, spatial, alpha, scale, shift, act, param, param2,
                            slopes);
    int per_channel = has_scale || has_shift || act == LSUV_K_ACT_PRELU;
    /* Long rows: a workgroup row per (sample, channel) loads that channel's parameters once.
     * Otherwise (dense layers, small images) a flat loop tracks the channel per element. */
    int rows = per_channel && spatial >= 256 && spatial <= CHUNK;
    uint32_t spec[4] = {(uint32_t)act, has_scale ? 1u : 0u, has_shift ? 1u : 0u, rows ? 1u : 0u};
    struct {
        uint32_t x[2], y[2], scale[2], shift[2], slopes[2];
        uint32_t n, spatial, channels, s0, c0, dr, dqc;
        float alpha, param, param2;
    } push;
    LSUV_PUSH_FITS(push);
    lsuv_push_address(push.scale, has_scale ? scale->address : 0);
    lsuv_push_address(push.shift, has_shift ? shift->address : 0);
    lsuv_push_address(push.slopes, act == LSUV_K_ACT_PRELU ? slopes->address : 0);
    push.spatial = spatial;
    push.channels = channels;
    push.alpha = alpha;
    push.param = param;
    push.param2 = param2;
    /* Chunks of at most 2^30 elements (whole rows in ROWS mode) keep the shader's indices in
     * 32 bits; the position of each chunk's first element is passed along. */
    uint64_t chunk = rows ? CHUNK / spatial * spatial : CHUNK;
    for (uint64_t base = 0; base < count; base += chunk) {
        uint64_t n = count - base < chunk ? count - base : chunk;
        lsuv_push_address(push.x, x->address + base * 4);
        lsuv_push_address(push.y, y->address + base * 4);
        push.s0 = (uint32_t)(base % spatial);
        push.c0 = (uint32_t)((base / spatial) % channels);
        uint32_t gx, gy = 1;
        if (rows) {
            uint64_t nrows = n / spatial, ycap = ctx->info.max_workgroup_count[1];
            push.n = (uint32_t)nrows;
            push.dr = push.dqc = 0;
            gx = groups(ctx, spatial);
            uint64_t g = MAX_GROUPS / gx ? MAX_GROUPS / gx : 1;
            g = g < nrows ? g : nrows;
            gy = (uint32_t)(ycap && g > ycap ? ycap : g); /* the shader loops over the rest */
        } else {
            gx = groups(ctx, n);
            uint64_t stride = (uint64_t)gx * WG;
            push.n = (uint32_t)n;
            push.dr = (uint32_t)(stride % spatial);
            push.dqc = (uint32_t)((stride / spatial) % channels);
        }
        lsuv_dispatch_work(ctx, 0, (double)n * 8); /* bench --profile: bytes read and written */
        lsuv_status st = lsuv_dispatch(ctx, LSUV_SHADER_AFFINE_ACT, spec, 4, &push, sizeof push, gx, gy, 1);
        if (st != LSUV_OK)
            return st;
    }
    return LSUV_OK;
}

/* ---------------------------------------------------------------- maxout */

lsuv_status lsuv_k_maxout(lsuv_context *ctx, const lsuv_buffer *x, const lsuv_buffer *y,
                          uint32_t batch, uint32_t channels, uint32_t spatial, uint32_t k)
{
    if (!ctx)
        return LSUV_ERROR_INVALID_ARGUMENT;
    if (batch == 0 || channels == 0 || spatial == 0 || k == 0)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "maxout: empty shape %u x %u x %u, k = %u",
                         batch, channels, spatial, k);
    if (channels % k != 0)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "maxout: %u channels do not split into groups of %u", channels, k);
    uint64_t in = mul(mul(batch, channels), spatial), out = in / k;
    if (out > MAX_INDEX || (uint64_t)k * spatial > 0xffffffffull)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "maxout: output of %llu elements exceeds 2^31 (or k x spatial 2^32)",
                         (unsigned long long)out);
    if (!holds(x, in) || !holds(y, out))
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "maxout: x (%llu floats) or y (%llu floats) is missing or too small",
                         (unsigned long long)in, (unsigned long long)out);
    struct { uint32_t x[2], y[2], total, spatial, k; } push;
    LSUV_PUSH_FITS(push);
    lsuv_push_address(push.x, x->address);
    lsuv_push_address(push.y, y->address);
    push.total = (uint32_t)out;
    push.spatial = spatial;
    push.k = k;
    return lsuv_dispatch(ctx, LSUV_SHADER_MAXOUT, NULL, 0, &push, sizeof push, groups(ctx, out), 1, 1);
}

/* ---------------------------------------------------------------- pooling */

int lsuv_pool2d_output_size(lsuv_pool2d_params *p)
{
    if (!p)
        return 0;
    p->out_h = p->out_w = 0;
    if (p->batch == 0 || p->channels == 0 || p->in_h == 0 || p->in_w == 0 || p->kernel_h == 0 ||
        p->kernel_w == 0 || p->stride_h == 0 || p->stride_w == 0)
        return 0;
    uint32_t eh = p->asymmetric ? p->pad_h_end : p->pad_h, ew = p->asymmetric ? p->pad_w_end : p->pad_w;
    /* PyTorch's rule: padding at most half the kernel, so every window sees real input
     * (ONNX SAME padding also stays within it) */
    if ((uint64_t)p->pad_h * 2 > p->kernel_h || (uint64_t)p->pad_w * 2 > p->kernel_w ||
        (uint64_t)eh * 2 > p->kernel_h || (uint64_t)ew * 2 > p->kernel_w)
        return 0;
    uint64_t h = (uint64_t)p->in_h + p->pad_h + eh, w = (uint64_t)p->in_w + p->pad_w + ew;
    if (h < p->kernel_h || w < p->kernel_w || h >= MAX_INDEX || w >= MAX_INDEX)
        return 0; /* the shader's window arithmetic is in int */
    uint64_t rh = p->ceil_mode ? p->stride_h - 1 : 0, rw = p->ceil_mode ? p->stride_w - 1 : 0;
    uint64_t oh = (h - p->kernel_h + rh) / p->stride_h + 1, ow = (w - p->kernel_w + rw) / p->stride_w + 1;
    /* ceil mode (ONNX, PyTorch): the last window must start inside the input or the
     * leading padding */
    if (p->ceil_mode && (oh - 1) * p->stride_h >= (uint64_t)p->in_h + p->pad_h)
        oh--;
    if (p->ceil_mode && (ow - 1) * p->stride_w >= (uint64_t)p->in_w + p->pad_w)
        ow--;
    p->out_h = (uint32_t)oh;
    p->out_w = (uint32_t)ow;
    return 1;
}

lsuv_status lsuv_k_pool2d(lsuv_context *ctx, const lsuv_pool2d_params *p, const lsuv_buffer *x,
                          const lsuv_buffer *y)
{
    if (!ctx)
        return LSUV_ERROR_INVALID_ARGUMENT;
    if (!p)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "pool2d: no parameters");
    lsuv_pool2d_params q = *p;
    if (!lsuv_pool2d_output_size(&q))
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "pool2d: invalid geometry: %u x %u x %u x %u input, kernel %u x %u, stride %u x %u, "
                         "padding %u x %u (end %u x %u; padding may be at most half the kernel)",
                         p->batch, p->channels, p->in_h, p->in_w, p->kernel_h, p->kernel_w, p->stride_h,
                         p->stride_w, p->pad_h, p->pad_w, p->asymmetric ? p->pad_h_end : p->pad_h,
                         p->asymmetric ? p->pad_w_end : p->pad_w);
    if ((p->out_h || p->out_w) && (p->out_h != q.out_h || p->out_w != q.out_w))
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "pool2d: output %u x %u given, the geometry gives %u x %u", p->out_h, p->out_w,
                         q.out_h, q.out_w);
    uint64_t planes = (uint64_t)q.batch * q.channels;
    uint64_t in_plane = (uint64_t)q.in_h * q.in_w, out_plane = (uint64_t)q.out_h * q.out_w;
    uint64_t out = mul(planes, out_plane), in = mul(planes, in_plane);
    if (out == 0 || out > MAX_INDEX || in_plane > MAX_INDEX || in == 0)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "pool2d: output (%llu elements) or an input plane (%llu) exceeds 2^31",
                         (unsigned long long)out, (unsigned long long)in_plane);
    if (!holds(x, in) || !holds(y, out))
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "pool2d: x (%llu floats) or y (%llu floats) is missing or too small",
                         (unsigned long long)in, (unsigned long long)out);
    struct {
        uint32_t x[2], y[2];
        uint32_t total, in_h, in_w, out_h, out_w, kh, kw, sh, sw, ph, pw;
        uint32_t eh, ew; /* end of the padded input: in + end padding */
        uint32_t x0, y0; /* texel form: first texels in the views */
    } push = {0};
    LSUV_PUSH_FITS(push);
    lsuv_push_address(push.x, x->address);
    lsuv_push_address(push.y, y->address);
    push.total = (uint32_t)out;
    push.in_h = q.in_h;
    push.in_w = q.in_w;
    push.out_h = q.out_h;
    push.out_w = q.out_w;
    push.kh = q.kernel_h;
    push.kw = q.kernel_w;
    push.sh = q.stride_h;
    push.sw = q.stride_w;
    push.ph = q.pad_h;
    push.pw = q.pad_w;
    push.eh = q.in_h + (q.asymmetric ? q.pad_h_end : q.pad_h);
    push.ew = q.in_w + (q.asymmetric ? q.pad_w_end : q.pad_w);
    uint32_t exclude = q.max ? 0u : q.exclude_pad ? 1u : 0u;
    /* Large windows (global pooling above all): a workgroup per output shares the window;
     * small ones: an invocation per output. */
    uint64_t area = (uint64_t)q.kernel_h * q.kernel_w;
    /* Global pooling on a CPU device: an invocation per plane, reading it as one row
     * (the reduce kernel), avoids the shared-memory tree whose barriers are costly there
     * (lavapipe, 16x64x56x56: ~4x faster) */
    if (ctx->info.type == LSUV_DEVICE_CPU && area >= 64 && q.out_h == 1 && q.out_w == 1 && q.kernel_h == q.in_h &&
        q.kernel_w == q.in_w && q.pad_h == 0 && q.pad_w == 0 && push.eh == q.in_h && push.ew == q.in_w)
        return lsuv_k_reduce(ctx, q.max ? LSUV_K_REDUCE_MAX : LSUV_K_REDUCE_MEAN, planes, in_plane, 1, x, y);
    if (area >= 64) {
        uint32_t wg = area >= 1024 ? 256 : 64;
        uint32_t spec[4] = {q.max ? 1u : 0u, 1, wg, exclude};
        uint32_t g = lsuv_groups(ctx, out, 1);
        g = g > MAX_GROUPS ? MAX_GROUPS : g;
        return lsuv_dispatch(ctx, LSUV_SHADER_POOL2D, spec, 4, &push, sizeof push, g, 1, 1);
    }
    /* CPU devices: x and y through r32f views where each fits one (pool2d.comp, TEXEL) */
    uint64_t in_count = planes * in_plane;
    if (ctx->info.type == LSUV_DEVICE_CPU && lsuv_texel_fits(ctx, x, LSUV_TEXEL_R32F, in_count) &&
        lsuv_texel_fits(ctx, y, LSUV_TEXEL_R32F, out)) {
        lsuv_texel_ref refs[LSUV_TEXEL_BINDINGS] = {{0}};
        lsuv_status st = lsuv_texel_ref_get(ctx, x, LSUV_TEXEL_R32F, in_count, &refs[0]);
        if (st == LSUV_OK)
            st = lsuv_texel_ref_get(ctx, y, LSUV_TEXEL_R32F, out, &refs[1]);
        if (st != LSUV_OK)
            return st;
        push.x0 = refs[0].first;
        push.y0 = refs[1].first;
        uint32_t spec[5] = {q.max ? 1u : 0u, 0, WG, exclude, 1};
        return lsuv_texel_dispatch(ctx, LSUV_SHADER_POOL2D, spec, 5, refs, &push, sizeof push, groups(ctx, out), 1,
                                   1);
    }
    uint32_t spec[4] = {q.max ? 1u : 0u, 0, WG, exclude};
    return lsuv_dispatch(ctx, LSUV_SHADER_POOL2D, spec, 4, &push, sizeof push, groups(ctx, out), 1, 1);
}

/* ---------------------------------------------------------------- add, concat */

lsuv_status lsuv_k_add(lsuv_context *ctx, const lsuv_buffer *a, const lsuv_buffer *b,
                       const lsuv_buffer *y, uint64_t count)
{
    return lsuv_k_add_act(ctx, a, b, y, count, LSUV_K_ACT_NONE, 0, 0);
}

lsuv_status lsuv_k_add_act(lsuv_context *ctx, const lsuv_buffer *a, const lsuv_buffer *b, const lsuv_buffer *y,
                           uint64_t count, lsuv_act_kind act, float param, float param2)
{
    if (!ctx)
        return LSUV_ERROR_INVALID_ARGUMENT;
    if (count == 0)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "add: zero elements");
    if ((unsigned)act > LSUV_K_ACT_ERF || act == LSUV_K_ACT_PRELU)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "add: activation %d is not one add applies", (int)act);
    if (!holds(a, count) || !holds(b, count) || !holds(y, count))
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "add: a, b or y is missing or holds fewer than %llu floats",
                         (unsigned long long)count);
    struct { uint32_t a[2], b[2], y[2], count, a0, b0, y0; float param, param2; } push = {.param = param,
                                                                                         .param2 = param2};
    LSUV_PUSH_FITS(push);
    uint32_t spec[2] = {(uint32_t)act, 0};
    /* CPU devices: texel views where all three start on a texel and fit one */
    const lsuv_buffer *ops[3] = {a, b, y};
    int texel = ctx->info.type == LSUV_DEVICE_CPU && count % 4 == 0;
    for (int i = 0; i < 3 && texel; i++)
        texel = lsuv_texel_fits(ctx, ops[i], LSUV_TEXEL_RGBA32F, count / 4);
    if (texel) {
        lsuv_texel_ref refs[LSUV_TEXEL_BINDINGS] = {{0}};
        for (int i = 0; i < 3; i++) {
            lsuv_status st = lsuv_texel_ref_get(ctx, ops[i], LSUV_TEXEL_RGBA32F, count / 4, &refs[i]);
            if (st != LSUV_OK)
                return st;
        }
        push.a0 = refs[0].first, push.b0 = refs[1].first, push.y0 = refs[2].first;
        push.count = (uint32_t)(count / 4);
        spec[1] = 1;
        uint64_t g = lsuv_ceil_div(count / 4, 256);
        return lsuv_texel_dispatch(ctx, LSUV_SHADER_ADD, spec, 2, refs, &push, sizeof push,
                                   (uint32_t)(g < TX_GROUPS ? g : TX_GROUPS), 1, 1);
    }
    /* add.comp indexes with uint: chunks keep i + stride below 2^32 */
    for (uint64_t base = 0; base < count; base += CHUNK) {
        uint64_t n = count - base < CHUNK ? count - base : CHUNK;
        lsuv_push_address(push.a, a->address + base * 4);
        lsuv_push_address(push.b, b->address + base * 4);
        lsuv_push_address(push.y, y->address + base * 4);
        push.count = (uint32_t)n;
        lsuv_status st = lsuv_dispatch(ctx, LSUV_SHADER_ADD, spec, 2, &push, sizeof push, groups(ctx, n), 1, 1);
        if (st != LSUV_OK)
            return st;
    }
    return LSUV_OK;
}

lsuv_status lsuv_k_copy_channels(lsuv_context *ctx, const lsuv_buffer *src, const lsuv_buffer *dst,
                                 uint32_t batch, uint32_t src_channels, uint32_t dst_channels,
                                 uint32_t channel_offset, uint32_t spatial)
{
    if (!ctx)
        return LSUV_ERROR_INVALID_ARGUMENT;
    if (batch == 0 || src_channels == 0 || spatial == 0)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "copy_channels: empty shape %u x %u x %u",
                         batch, src_channels, spatial);
    if ((uint64_t)channel_offset + src_channels > dst_channels)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "copy_channels: channels [%u, %llu) do not fit in %u", channel_offset,
                         (unsigned long long)channel_offset + src_channels, dst_channels);
    uint64_t row = (uint64_t)src_channels * spatial, total = mul(row, batch);
    uint64_t dst_row = (uint64_t)dst_channels * spatial, dst_total = mul(dst_row, batch);
    if (total == 0 || total > MAX_INDEX || dst_total == 0)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "copy_channels: %u x %u x %u source exceeds 2^31 elements", batch,
                         src_channels, spatial);
    if (!holds(src, total) || !holds(dst, dst_total))
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "copy_channels: src (%llu floats) or dst (%llu floats) is missing or too small",
                         (unsigned long long)total, (unsigned long long)dst_total);
    struct { uint32_t src[2], dst[2], dst_stride[2], total, row; } push;
    LSUV_PUSH_FITS(push);
    lsuv_push_address(push.src, src->address);
    lsuv_push_address(push.dst, dst->address + (uint64_t)channel_offset * spatial * 4);
    lsuv_push_address(push.dst_stride, dst_row);
    push.total = (uint32_t)total;
    push.row = (uint32_t)row;
    return lsuv_dispatch(ctx, LSUV_SHADER_COPY_CHANNELS, NULL, 0, &push, sizeof push, groups(ctx, total), 1, 1);
}
