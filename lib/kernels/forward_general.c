/* forward_general.c - host side of the general kernels that imported (ONNX) graphs need:
 * binary ops with numpy broadcasting, strided gather (transpose, slice, pad) and
 * reductions along an axis (mean, max, sum, softmax, log-softmax).
 *
 * Binary and gather work on a "box": a C-order set of coordinates with one stride per axis
 * and operand. The box is first simplified (axes of extent 1 dropped, axes that walk
 * memory contiguously for every operand merged: an NCHW add with a (1,C,1,1) operand
 * becomes 3 axes), then split into sub-boxes small enough for the shaders' 32-bit index
 * math (< 2^30 elements, every operand's span < 2^31): the device addresses of each
 * sub-box's first elements are formed here in 64 bits. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"

#define AX LSUV_K_MAX_AXES
#define WG 256u
#define MAX_GROUPS 4096u               /* see forward_eltwise.c: enough to fill any GPU */
#define BOX_COUNT (1ll << 30)          /* elements per dispatch */
#define BOX_SPAN ((1ll << 31) - 1)     /* offsets reached by one operand in a dispatch */
#define MAX_OPS 3

typedef struct box {
    int rank, nop;
    int64_t max_count, max_span; /* per dispatch: BOX_COUNT, BOX_SPAN unless tests lower them */
    int64_t ext[AX];
    int64_t stride[MAX_OPS][AX];
    int64_t base[MAX_OPS]; /* offset of the element at coordinates 0, per operand */
} box;

typedef lsuv_status (*box_fn)(lsuv_context *ctx, const box *b, void *user);

/* cap, or less where LSUV_STRIDED_LIMIT=n asks for it: tests exercise the splitting into
 * dispatches on small tensors that way. Read once per kernel call. */
static int64_t limit(int64_t cap)
{
    const char *e = getenv("LSUV_STRIDED_LIMIT");
    long long v = e ? atoll(e) : 0;
    return v > 0 && v < cap ? v : cap;
}

static void set_limits(box *b)
{
    b->max_count = limit(BOX_COUNT);
    b->max_span = limit(BOX_SPAN);
}

static uint32_t groups(const lsuv_context *ctx, uint64_t n)
{
    uint32_t g = lsuv_groups(ctx, n, WG);
    return g > MAX_GROUPS ? MAX_GROUPS : g;
}

/* A box whose innermost axis holds at least ROW_MIN elements runs in row mode: the
 * shaders form each row's offsets once (measured on lavapipe: a (N,C,1,1) x (N,C,H,W)
 * product ~3x faster than carrying coordinates per element). */
#define ROW_MIN 64

/* Workgroups (x, y) and the row-mode flag for a box: x along the innermost axis, y over
 * rows, at most MAX_GROUPS in all (the shaders loop over the rest). */
static uint32_t box_grid(const lsuv_context *ctx, const box *b, uint32_t total, uint32_t *gx, uint32_t *gy)
{
    uint32_t len = b->rank ? (uint32_t)b->ext[b->rank - 1] : 1;
    if (len < ROW_MIN) {
        *gx = groups(ctx, total);
        *gy = 1;
        return 0;
    }
    uint64_t rows = total / len, ycap = ctx->info.max_workgroup_count[1];
    *gx = groups(ctx, len);
    uint64_t g = MAX_GROUPS / *gx ? MAX_GROUPS / *gx : 1;
    g = g < rows ? g : rows;
    *gy = (uint32_t)(ycap && g > ycap ? ycap : g);
    return 1;
}

/* The buffer exists and holds at least `floats` floats. */
static int holds_floats(const lsuv_buffer *b, uint64_t floats)
{
    return b && b->address && floats <= UINT64_MAX / 4 && b->size >= floats * sizeof(float);
}

static int overlap(const lsuv_buffer *a, const lsuv_buffer *b)
{
    return a->address < b->address + b->size && b->address < a->address + a->size;
}

/* Drops axes of extent 1 and merges an axis into its outer neighbour when every operand's
 * outer stride is the inner stride times the inner extent (one contiguous walk). */
static void simplify(box *b)
{
    int r = 0;
    for (int d = 0; d < b->rank; d++) {
        if (b->ext[d] == 1)
            continue;
        int merge = r > 0;
        for (int j = 0; j < b->nop && merge; j++)
            merge = b->stride[j][r - 1] == b->stride[j][d] * b->ext[d];
        if (merge) {
            b->ext[r - 1] *= b->ext[d];
            for (int j = 0; j < b->nop; j++)
                b->stride[j][r - 1] = b->stride[j][d];
            continue;
        }
        b->ext[r] = b->ext[d];
        for (int j = 0; j < b->nop; j++)
            b->stride[j][r] = b->stride[j][d];
        r++;
    }
    b->rank = r;
}

/* Elements of axes [from, rank) and each operand's span there (largest |offset| + 1),
 * with axis `from` cut to m. */
static int fits(const box *b, int from, int64_t m)
{
    int64_t count = 1, span[MAX_OPS] = {1, 1, 1}, max_count = b->max_count, max_span = b->max_span;
    for (int d = from; d < b->rank; d++) {
        int64_t e = d == from ? m : b->ext[d];
        if (count > max_count / e)
            return 0;
        count *= e;
        for (int j = 0; j < b->nop; j++) {
            int64_t s = b->stride[j][d] < 0 ? -b->stride[j][d] : b->stride[j][d];
            if (s && (e - 1) > (max_span - span[j]) / s)
                return 0;
            span[j] += (e - 1) * s;
        }
    }
    return 1;
}

/* Calls fn on sub-boxes covering b, each small enough for 32-bit index math: the inner
 * axes [k, rank) whole, axis k-1 in pieces of m, the outer axes one coordinate at a time. */
static lsuv_status for_each_box(lsuv_context *ctx, const box *b, box_fn fn, void *user)
{
    int k = b->rank;
    while (k > 0 && fits(b, k - 1, b->ext[k - 1]))
        k--;
    if (k == 0)
        return fn(ctx, b, user);
    int a = k - 1;
    int64_t lo = 1, hi = b->ext[a]; /* largest m with fits(b, a, m): fits(1) holds */
    while (lo < hi) {
        int64_t mid = lo + (hi - lo + 1) / 2;
        if (fits(b, a, mid))
            lo = mid;
        else
            hi = mid - 1;
    }
    int64_t m = lo, c[AX] = {0};
    box sub = *b;
    sub.rank = b->rank - a;
    for (int d = a; d < b->rank; d++) {
        sub.ext[d - a] = b->ext[d];
        for (int j = 0; j < b->nop; j++)
            sub.stride[j][d - a] = b->stride[j][d];
    }
    for (;;) { /* odometer over axes [0, a], axis a stepping by m */
        sub.ext[0] = b->ext[a] - c[a] < m ? b->ext[a] - c[a] : m;
        for (int j = 0; j < b->nop; j++) {
            sub.base[j] = b->base[j];
            for (int d = 0; d <= a; d++)
                sub.base[j] += c[d] * b->stride[j][d];
        }
        lsuv_status st = fn(ctx, &sub, user);
        if (st != LSUV_OK)
            return st;
        int d = a;
        c[a] += m;
        while (d >= 0 && c[d] >= b->ext[d]) {
            c[d] = 0;
            if (--d >= 0)
                c[d]++;
        }
        if (d < 0)
            return LSUV_OK;
    }
}

/* Push-constant form of one operand of a sub-box: axes right-aligned in AX slots, the
 * address of its lowest offset and the origin (the offset of coordinates 0 above it). */
static uint64_t operand(const box *b, int j, uint64_t address, int32_t *stride, uint32_t *origin)
{
    int64_t low = 0;
    for (int d = 0; d < AX; d++)
        stride[d] = 0;
    for (int d = 0; d < b->rank; d++) {
        int64_t s = b->stride[j][d];
        stride[AX - b->rank + d] = (int32_t)s;
        if (s < 0)
            low += (b->ext[d] - 1) * s;
    }
    *origin = (uint32_t)-low;
    return address + 4 * (uint64_t)(b->base[j] + low);
}

static uint32_t box_extents(const box *b, uint32_t *ext)
{
    uint64_t total = 1;
    for (int d = 0; d < AX; d++)
        ext[d] = 1;
    for (int d = 0; d < b->rank; d++) {
        ext[AX - b->rank + d] = (uint32_t)b->ext[d];
        total *= (uint64_t)b->ext[d];
    }
    return (uint32_t)total;
}

/* Product of extent[0..rank) (0 on overflow or a non-positive extent). */
static int64_t box_numel(int rank, const int64_t *extent)
{
    int64_t n = 1;
    for (int d = 0; d < rank; d++) {
        if (extent[d] <= 0 || n > INT64_MAX / 4 / extent[d])
            return 0;
        n *= extent[d];
    }
    return n;
}

/* ---------------------------------------------------------------- binary */

typedef struct binary_job {
    lsuv_k_binary_op op;
    uint64_t a, b, y;
} binary_job;

static lsuv_status binary_box(lsuv_context *ctx, const box *bx, void *user)
{
    const binary_job *job = user;
    struct {
        uint32_t a[2], b[2], y[2];
        uint32_t total;
        uint32_t ext[AX];
        int32_t sa[AX], sb[AX];
    } push;
    LSUV_PUSH_FITS(push);
    uint32_t origin, gx, gy, spec[3] = {(uint32_t)job->op, bx->rank ? (uint32_t)bx->rank : 1u, 0};
    int32_t sy[AX];
    push.total = box_extents(bx, push.ext);
    spec[2] = box_grid(ctx, bx, push.total, &gx, &gy);
    lsuv_push_address(push.a, operand(bx, 0, job->a, push.sa, &origin));
    lsuv_push_address(push.b, operand(bx, 1, job->b, push.sb, &origin));
    lsuv_push_address(push.y, operand(bx, 2, job->y, sy, &origin));
    return lsuv_dispatch(ctx, LSUV_SHADER_BINARY, spec, 3, &push, sizeof push, gx, gy, 1);
}

lsuv_status lsuv_k_binary(lsuv_context *ctx, lsuv_k_binary_op op, int rank, const int64_t *extent,
                          const lsuv_buffer *a, const int64_t *a_stride, const lsuv_buffer *b,
                          const int64_t *b_stride, const lsuv_buffer *y)
{
    if (!ctx)
        return LSUV_ERROR_INVALID_ARGUMENT;
    if ((unsigned)op > LSUV_K_BIN_DIV)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "binary: unknown op %d", (int)op);
    if (rank < 1 || rank > AX || !extent || !a_stride || !b_stride)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "binary: rank %d (1 to %d axes) or no shape", rank, AX);
    int64_t count = box_numel(rank, extent);
    if (count == 0)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "binary: empty or oversized output shape");
    box bx = {.rank = rank, .nop = 3};
    int64_t reach[2] = {1, 1}, natural = 1;
    for (int d = rank - 1; d >= 0; d--) {
        const int64_t *s[2] = {a_stride, b_stride};
        for (int j = 0; j < 2; j++) {
            if (s[j][d] < 0 || (s[j][d] && s[j][d] > INT64_MAX / 4 / extent[d]))
                return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "binary: operand %c: stride %lld on axis %d",
                                 "ab"[j], (long long)s[j][d], d);
            bx.stride[j][d] = s[j][d];
            reach[j] += (extent[d] - 1) * s[j][d];
        }
        bx.ext[d] = extent[d];
        bx.stride[2][d] = natural;
        natural *= extent[d];
    }
    if (!holds_floats(a, (uint64_t)reach[0]) || !holds_floats(b, (uint64_t)reach[1]) ||
        !holds_floats(y, (uint64_t)count))
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "binary: a needs %lld floats, b %lld, y %lld: a buffer is missing or smaller",
                         (long long)reach[0], (long long)reach[1], (long long)count);
    lsuv_buffer yv = lsuv_buffer_slice(y, 0, 4 * (uint64_t)count);
    lsuv_buffer av = lsuv_buffer_slice(a, 0, 4 * (uint64_t)reach[0]);
    lsuv_buffer bv = lsuv_buffer_slice(b, 0, 4 * (uint64_t)reach[1]);
    if (overlap(&yv, &av) || overlap(&yv, &bv))
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "binary: y overlaps an operand");
    simplify(&bx);
    set_limits(&bx);
    binary_job job = {op, a->address, b->address, y->address};
    return for_each_box(ctx, &bx, binary_box, &job);
}

/* ---------------------------------------------------------------- gather */

typedef struct gather_job {
    uint64_t x, y;
} gather_job;

static lsuv_status gather_box(lsuv_context *ctx, const box *bx, void *user)
{
    const gather_job *job = user;
    struct {
        uint32_t x[2], y[2];
        uint32_t total, origin;
        uint32_t ext[AX];
        int32_t sx[AX], sy[AX];
    } push;
    LSUV_PUSH_FITS(push);
    uint32_t origin_y, gx, gy, spec[3] = {0, bx->rank ? (uint32_t)bx->rank : 1u, 0}; /* constant 0: unused */
    push.total = box_extents(bx, push.ext);
    spec[2] = box_grid(ctx, bx, push.total, &gx, &gy);
    lsuv_push_address(push.x, operand(bx, 0, job->x, push.sx, &push.origin));
    lsuv_push_address(push.y, operand(bx, 1, job->y, push.sy, &origin_y));
    return lsuv_dispatch(ctx, LSUV_SHADER_GATHER, spec, 3, &push, sizeof push, gx, gy, 1);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* Output indices i in [lo, hi) of one axis whose input coordinate start + i*step lies in
 * [0, extent); empty when lo >= hi. */
static void valid_range(int64_t start, int64_t step, int64_t extent, int64_t out, int64_t *lo, int64_t *hi)
{
    /* 0 <= start + i*step <= extent-1 */
    int64_t a, b;
    if (step > 0) {
        a = -floor_div(start, step); /* ceil(-start / step) */
        b = floor_div(extent - 1 - start, step) + 1;
    } else {
        a = -floor_div(extent - 1 - start, -step);
        b = floor_div(start, -step) + 1;
    }
    *lo = a < 0 ? 0 : a > out ? out : a;
    *hi = b < *lo ? *lo : b > out ? out : b;
}

lsuv_status lsuv_k_gather(lsuv_context *ctx, int rank, const int64_t *out_extent, const lsuv_buffer *x,
                          const int64_t *in_extent, const int64_t *in_stride, const int64_t *start,
                          const int64_t *step, float pad_value, const lsuv_buffer *y)
{
    if (!ctx)
        return LSUV_ERROR_INVALID_ARGUMENT;
    if (rank < 1 || rank > AX || !out_extent || !in_extent || !in_stride || !start || !step)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "gather: rank %d (1 to %d axes) or no description",
                         rank, AX);
    int64_t count = box_numel(rank, out_extent), in_count = box_numel(rank, in_extent);
    if (count == 0 || in_count == 0)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "gather: empty or oversized input or output shape");
    int64_t reach = 1, lo[AX], hi[AX];
    int padded = 0, empty = 0;
    for (int d = 0; d < rank; d++) {
        const int64_t big = 1ll << 62; /* keeps the interval arithmetic below in range */
        if (in_stride[d] < 0 || in_stride[d] > INT64_MAX / 4 / in_extent[d] || step[d] == 0 ||
            step[d] < -big || step[d] > big || start[d] < -big || start[d] > big)
            return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT,
                             "gather: axis %d: stride %lld, start %lld, step %lld out of range", d,
                             (long long)in_stride[d], (long long)start[d], (long long)step[d]);
        reach += (in_extent[d] - 1) * in_stride[d];
        valid_range(start[d], step[d], in_extent[d], out_extent[d], &lo[d], &hi[d]);
        padded |= lo[d] > 0 || hi[d] < out_extent[d];
        empty |= lo[d] >= hi[d];
    }
    /* the box of outputs that read the input: where two or more of them lie on an axis,
     * |step| < in_extent there, so step * in_stride stays within the input's size */
    box bx = {.rank = rank, .nop = 2};
    int64_t natural = 1;
    for (int d = rank - 1; d >= 0 && !empty; d--) {
        bx.ext[d] = hi[d] - lo[d];
        bx.stride[0][d] = bx.ext[d] > 1 ? step[d] * in_stride[d] : 0;
        bx.stride[1][d] = natural;
        bx.base[0] += (start[d] + lo[d] * step[d]) * in_stride[d];
        bx.base[1] += lo[d] * natural;
        natural *= out_extent[d];
    }
    if (!holds_floats(x, (uint64_t)reach) || !holds_floats(y, (uint64_t)count))
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "gather: x needs %lld floats, y %lld: a buffer is missing or smaller", (long long)reach,
                         (long long)count);
    lsuv_buffer yv = lsuv_buffer_slice(y, 0, 4 * (uint64_t)count), xv = lsuv_buffer_slice(x, 0, 4 * (uint64_t)reach);
    if (overlap(&yv, &xv))
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "gather: y overlaps x");
    if (padded) { /* the padding first, then the inside over it */
        union { float f; uint32_t u; } bits = {.f = pad_value};
        lsuv_status st = lsuv_buffer_fill(ctx, &yv, bits.u);
        if (st != LSUV_OK || empty)
            return st;
    }
    simplify(&bx);
    set_limits(&bx);
    gather_job job = {x->address, y->address};
    return for_each_box(ctx, &bx, gather_box, &job);
}

/* ---------------------------------------------------------------- reduce */

lsuv_status lsuv_k_reduce(lsuv_context *ctx, lsuv_k_reduce_op op, uint64_t outer, uint64_t n, uint64_t inner,
                          const lsuv_buffer *x, const lsuv_buffer *y)
{
    if (!ctx)
        return LSUV_ERROR_INVALID_ARGUMENT;
    if ((unsigned)op > LSUV_K_REDUCE_LOG_SOFTMAX)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "reduce: unknown op %d", (int)op);
    if (outer == 0 || n == 0 || inner == 0)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "reduce: empty shape (%llu, %llu, %llu)",
                         (unsigned long long)outer, (unsigned long long)n, (unsigned long long)inner);
    /* a dispatch takes whole rows of n * inner inputs: one row must fit 32-bit indices */
    uint64_t row = n * inner;
    if (n > BOX_SPAN || inner > BOX_SPAN || row > (uint64_t)BOX_SPAN || outer > UINT64_MAX / 4 / row)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "reduce: (%llu, %llu, %llu): one row of n x inner exceeds 2^31 elements",
                         (unsigned long long)outer, (unsigned long long)n, (unsigned long long)inner);
    int keeps = op == LSUV_K_REDUCE_SOFTMAX || op == LSUV_K_REDUCE_LOG_SOFTMAX;
    uint64_t out_row = keeps ? row : inner;
    if (!holds_floats(x, outer * row) || !holds_floats(y, outer * out_row))
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "reduce: x (%llu floats) or y (%llu floats) is missing or too small",
                         (unsigned long long)(outer * row), (unsigned long long)(outer * out_row));
    lsuv_buffer xv = lsuv_buffer_slice(x, 0, 4 * outer * row), yv = lsuv_buffer_slice(y, 0, 4 * outer * out_row);
    if (overlap(&xv, &yv))
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "reduce: y overlaps x");
    uint64_t per = (uint64_t)limit(BOX_SPAN) / row; /* rows per dispatch */
    per = per ? per : 1;
    uint32_t spec = (uint32_t)op;
    for (uint64_t o = 0; o < outer; o += per) {
        uint64_t rows = outer - o < per ? outer - o : per;
        struct { uint32_t x[2], y[2], cols, n, inner; } push;
        LSUV_PUSH_FITS(push);
        lsuv_push_address(push.x, x->address + 4 * o * row);
        lsuv_push_address(push.y, y->address + 4 * o * out_row);
        push.cols = (uint32_t)(rows * inner);
        push.n = (uint32_t)n;
        push.inner = (uint32_t)inner;
        lsuv_status st = lsuv_dispatch(ctx, LSUV_SHADER_REDUCE, &spec, 1, &push, sizeof push, groups(ctx, push.cols),
                                       1, 1);
        if (st != LSUV_OK)
            return st;
    }
    return LSUV_OK;
}
