/* test_general.c - the kernels and graph nodes that imported (ONNX) networks use, against
 * the double-precision references of ref_general.c: extra activations (edge values too),
 * broadcasting binary ops, strided gather (transpose, slice, pad), reductions and softmax,
 * pooling with ONNX options, conv with asymmetric pads, and small graphs of the new node
 * kinds run through the graph runner. Outputs are poisoned with NaN first; data is seeded. */
#include <criterion/criterion.h>
#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/graph_run.h"
#include "ref_conv.h"
#include "ref_general.h"
#include "ref_net.h"
#include "support.h"

static void ok(lsuv_context *ctx, lsuv_status st, const char *what)
{
    cr_assert_eq(st, LSUV_OK, "%s: %s: %s", what, lsuv_status_string(st), lsuv_context_last_error(ctx));
}

/* Every element within atol + rtol |want| of the reference (a want beyond float's range:
 * the infinity of its sign); returns the largest error relative to that bound (<= 1 passes). */
static double check_close(const float *got, const double *want, size_t n, double rtol, double atol, const char *what)
{
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        if (fabs(want[i]) > FLT_MAX) {
            cr_assert(isinf(got[i]) && (got[i] > 0) == (want[i] > 0), "%s: element %zu is %g (want %.17g)", what,
                      i, (double)got[i], want[i]);
            continue;
        }
        cr_assert(isfinite(got[i]), "%s: element %zu is %g (want %.17g)", what, i, (double)got[i], want[i]);
        double bound = atol + rtol * fabs(want[i]), err = fabs((double)got[i] - want[i]) / bound;
        cr_assert_leq(err, 1.0, "%s: element %zu: got %.9g, want %.17g (tolerance %.3g)", what, i, (double)got[i],
                      want[i], bound);
        worst = fmax(worst, err);
    }
    return worst;
}

/* ---------------------------------------------------------------- activations */

typedef struct act_case {
    int act;
    float param, param2;
    const char *name;
} act_case;

static const act_case act_cases[] = {
    {LSUV_K_ACT_SELU, 1.67326319f, 1.05070102f, "selu"},
    {LSUV_K_ACT_SELU, 0.5f, 2.0f, "selu(0.5, 2)"},
    {LSUV_K_ACT_HARDSIGMOID, 0.2f, 0.5f, "hardsigmoid"},
    {LSUV_K_ACT_HARDSIGMOID, 1.0f / 6, 0.5f, "hardsigmoid(1/6)"},
    {LSUV_K_ACT_HARDSWISH, 0, 0, "hardswish"},
    {LSUV_K_ACT_SOFTPLUS, 0, 0, "softplus"},
    {LSUV_K_ACT_CLIP, 0.0f, 6.0f, "clip(0, 6)"},
    {LSUV_K_ACT_CLIP, -INFINITY, 0.5f, "clip(-inf, 0.5)"},
    {LSUV_K_ACT_CLIP, -1.0f, INFINITY, "clip(-1, inf)"},
    {LSUV_K_ACT_CLIP, 2.0f, 1.0f, "clip(2, 1): max wins"},
    {LSUV_K_ACT_ERF, 0, 0, "erf"},
};

/* Values where the formulas are delicate: tiny (relative accuracy of erf, softplus ~ exp),
 * huge (overflow of exp in softplus, saturation), the kinks of the piecewise ones. */
static const float edges[] = {0.0f, 1e-30f, -1e-30f, 1e-7f, -1e-7f, 1e-3f, -1e-3f, 0.25f, -0.25f, 0.7f, -0.7f,
                              1.0f, -1.0f, 2.5f, -2.5f, -3.0f, 3.0f, 4.0f, -4.0f, 6.0f, -6.0f, 10.0f, -10.0f,
                              15.0f, -15.0f, 20.0f, -20.0f, 40.0f, -40.0f, 88.0f, -88.0f, 100.0f, -100.0f,
                              1e4f, -1e4f, 1e30f, -1e30f, 3e38f, -3e38f, 0.5f, -0.5f};

static void run_activation(lsuv_context *ctx, const act_case *k, const float *x, size_t count, uint32_t channels,
                           uint32_t spatial, const float *shift)
{
    lsuv_buffer bx = test_upload(ctx, x, count), by = test_alloc_poisoned(ctx, count);
    lsuv_buffer bs = shift ? test_upload(ctx, shift, channels) : (lsuv_buffer){0};
    ok(ctx, lsuv_k_affine_act2(ctx, &bx, &by, count, channels, spatial, 1.0f, NULL, shift ? &bs : NULL,
                               (lsuv_act_kind)k->act, k->param, k->param2, NULL),
       k->name);
    float *y = test_download(ctx, &by, count);
    double *want = malloc(count * sizeof *want), *t = malloc(count * sizeof *t);
    cr_assert(want && t);
    for (size_t i = 0; i < count; i++) {
        /* the reference sees the float the kernel sees */
        t[i] = shift ? (float)((double)x[i] + shift[(i / spatial) % channels]) : x[i];
        want[i] = ref_activation2(t[i], k->act, k->param, k->param2, 0);
    }
    char what[96];
    snprintf(what, sizeof what, "%s on %zu values (%u x %u)", k->name, count, channels, spatial);
    if (k->act == LSUV_K_ACT_HARDSIGMOID || k->act == LSUV_K_ACT_HARDSWISH) {
        /* alpha t + beta is rounded at the scale of its terms: near the lower kink the
         * result cancels, so the error is ~eps (1 + |t|) absolute, not relative */
        for (size_t i = 0; i < count; i++) {
            double gate_err = 2.4e-7 * (1 + fabs(t[i])); /* of the clamped line */
            double bound = 2e-6 * fabs(want[i]) + gate_err * (k->act == LSUV_K_ACT_HARDSWISH ? fabs(t[i]) : 1);
            cr_assert(fabs(y[i] - want[i]) <= bound || (fabs(want[i]) > FLT_MAX && isinf(y[i])),
                      "%s: element %zu (t = %g): got %.9g, want %.17g", what, i, t[i], (double)y[i], want[i]);
        }
    } else {
        /* ~1e-7 relative arithmetic; 2e-6 leaves room for the error of t itself where the
         * function is steep; the absolute part covers results that underflow float */
        check_close(y, want, count, 2e-6, 1e-36, what);
    }
    free(y);
    free(want);
    free(t);
    lsuv_buffer_free(ctx, &bx);
    lsuv_buffer_free(ctx, &by);
    lsuv_buffer_free(ctx, &bs);
}

Test(general, activations_random_and_edges)
{
    lsuv_context *ctx = test_context();
    test_rng r = {701};
    size_t n_edges = sizeof edges / sizeof edges[0];
    for (size_t i = 0; i < sizeof act_cases / sizeof act_cases[0]; i++) {
        const act_case *k = &act_cases[i];
        float *x = test_random_floats(&r, 3 * 5 * 63, 0.2, 3.0);
        run_activation(ctx, k, x, 3 * 5 * 63, 5, 63, NULL); /* flat loop */
        free(x);
        x = test_random_floats(&r, 3 * 7 * 301, 0.0, 4.0);
        float *shift = test_random_floats(&r, 7, 0.0, 1.0);
        run_activation(ctx, k, x, 3 * 7 * 301, 7, 301, shift); /* row mode, per-channel shift */
        free(x);
        free(shift);
        run_activation(ctx, k, edges, n_edges, 1, (uint32_t)n_edges, NULL);
    }
    lsuv_context_destroy(ctx);
}

Test(general, activation_arguments_refused)
{
    lsuv_context *ctx = test_context();
    lsuv_buffer b = test_alloc_poisoned(ctx, 64);
    lsuv_status st = lsuv_k_affine_act2(ctx, &b, &b, 64, 1, 64, 1.0f, NULL, NULL, (lsuv_act_kind)99, 0, 0, NULL);
    cr_expect_eq(st, LSUV_ERROR_INVALID_ARGUMENT);
    cr_expect(strstr(lsuv_context_last_error(ctx), "unknown activation") != NULL, "%s", lsuv_context_last_error(ctx));
    st = lsuv_k_affine_act2(ctx, &b, &b, 64, 1, 64, 1.0f, NULL, NULL, LSUV_K_ACT_CLIP, NAN, 1.0f, NULL);
    cr_expect_eq(st, LSUV_ERROR_INVALID_ARGUMENT, "a NaN clip bound is refused");
    st = lsuv_k_affine_act2(ctx, &b, &b, 64, 1, 64, 1.0f, NULL, NULL, LSUV_K_ACT_SELU, 1.0f, INFINITY, NULL);
    cr_expect_eq(st, LSUV_ERROR_INVALID_ARGUMENT, "an infinite SELU gamma is refused");
    lsuv_buffer_free(ctx, &b);
    lsuv_context_destroy(ctx);
}

/* Dispatches recorded since the last submission (timed ones count 2 queries; the tests
 * turn timing on), or -1 without timestamps. */
static int dispatches(const lsuv_context *ctx) { return ctx->query_pool ? (int)ctx->query_used / 2 : -1; }

/* With LSUV_STRIDED_LIMIT=n, an operation over `elements` must have been split into at
 * least elements / n dispatches; without it, one. */
static void expect_split(const lsuv_context *ctx, size_t elements, const char *what)
{
    int d = dispatches(ctx);
    const char *e = getenv("LSUV_STRIDED_LIMIT");
    if (d < 0)
        return;
    if (e)
        cr_expect_geq(d, (int)((elements + (size_t)atoi(e) - 1) / (size_t)atoi(e)), "%s: %d dispatches", what, d);
    else
        cr_expect_eq(d, 1, "%s: %d dispatches", what, d);
}

/* ---------------------------------------------------------------- binary */

/* C-order strides of shape (its extent-1 axes broadcast: stride 0). */
static void broadcast_strides(int rank, const int64_t *shape, int64_t *stride)
{
    int64_t s = 1;
    for (int d = rank - 1; d >= 0; d--) {
        stride[d] = shape[d] == 1 ? 0 : s;
        s *= shape[d];
    }
}

static size_t numel(int rank, const int64_t *shape)
{
    size_t n = 1;
    for (int d = 0; d < rank; d++)
        n *= (size_t)shape[d];
    return n;
}

/* a (shape sa) op b (shape sb) -> out, both broadcast to out. */
static void run_binary(lsuv_context *ctx, test_rng *r, int op, int rank, const int64_t *out, const int64_t *sa,
                       const int64_t *sb, const char *what)
{
    int64_t stride_a[8], stride_b[8];
    broadcast_strides(rank, sa, stride_a);
    broadcast_strides(rank, sb, stride_b);
    size_t na = numel(rank, sa), nb = numel(rank, sb), ny = numel(rank, out);
    float *a = test_random_floats(r, na, 0.3, 1.5), *b = test_random_floats(r, nb, 0.0, 1.0);
    if (op == LSUV_K_BIN_DIV) /* divisors away from 0: the relative error stays meaningful */
        for (size_t i = 0; i < nb; i++)
            b[i] = (b[i] < 0 ? -0.5f : 0.5f) + b[i];
    lsuv_buffer ba = test_upload(ctx, a, na), bb = test_upload(ctx, b, nb), by = test_alloc_poisoned(ctx, ny);
    ctx->profiling = 1;
    ok(ctx, lsuv_k_binary(ctx, (lsuv_k_binary_op)op, rank, out, &ba, stride_a, &bb, stride_b, &by), what);
    expect_split(ctx, ny, what);
    float *y = test_download(ctx, &by, ny);
    double *da = test_to_double(a, na), *db = test_to_double(b, nb), *want = malloc(ny * sizeof *want);
    cr_assert_not_null(want);
    ref_binary(op, rank, out, da, stride_a, db, stride_b, want);
    check_close(y, want, ny, 1e-6, 1e-30, what);
    free(a), free(b), free(y), free(da), free(db), free(want);
    lsuv_buffer_free(ctx, &ba);
    lsuv_buffer_free(ctx, &bb);
    lsuv_buffer_free(ctx, &by);
}

typedef struct bcast_case {
    int rank;
    int64_t out[7], a[7], b[7];
    const char *name;
} bcast_case;

static const bcast_case bcast_cases[] = {
    {4, {3, 5, 7, 9}, {3, 5, 7, 9}, {3, 5, 7, 9}, "same shape"},
    {4, {3, 5, 7, 9}, {3, 5, 7, 9}, {1, 5, 1, 1}, "per channel (1,C,1,1)"},
    {4, {3, 5, 7, 9}, {1, 5, 1, 1}, {3, 5, 7, 9}, "per channel on the left"},
    {4, {3, 5, 7, 9}, {3, 5, 7, 9}, {1, 1, 1, 1}, "scalar"},
    {4, {3, 5, 7, 9}, {3, 5, 7, 9}, {1, 1, 1, 9}, "last axis (W)"},
    {4, {3, 5, 7, 9}, {3, 1, 7, 1}, {1, 5, 1, 9}, "both sides"},
    {4, {3, 5, 7, 9}, {3, 5, 1, 1}, {3, 5, 7, 9}, "squeeze-excitation gate (N,C,1,1)"},
    {2, {3, 11}, {3, 11}, {1, 11}, "dense bias (1,F)"},
    {7, {2, 3, 2, 3, 2, 3, 5}, {2, 1, 2, 1, 2, 1, 5}, {1, 3, 1, 3, 1, 3, 1}, "7 axes, alternating"},
    /* innermost axes of 64 and more: the kernels' row mode */
    {4, {2, 3, 5, 67}, {2, 3, 5, 67}, {1, 3, 1, 1}, "rows: per channel"},
    {4, {2, 3, 5, 67}, {2, 1, 5, 67}, {1, 3, 1, 67}, "rows: both sides"},
    {3, {3, 4, 97}, {3, 4, 1}, {1, 1, 97}, "rows: outer product"},
};

static void binary_cases(const char *label)
{
    lsuv_context *ctx = test_context();
    test_rng r = {909};
    for (size_t i = 0; i < sizeof bcast_cases / sizeof bcast_cases[0]; i++)
        for (int op = 0; op <= LSUV_K_BIN_DIV; op++) {
            const bcast_case *k = &bcast_cases[i];
            char what[128];
            snprintf(what, sizeof what, "%s: %s, op %d", label, k->name, op);
            run_binary(ctx, &r, op, k->rank, k->out, k->a, k->b, what);
        }
    lsuv_context_destroy(ctx);
}

Test(general, binary_broadcasting) { binary_cases("whole"); }

/* The same with dispatches limited to 37 elements: the splitting into boxes and the
 * 64-bit base addresses of each are exercised on small tensors. */
Test(general, binary_broadcasting_split)
{
    setenv("LSUV_STRIDED_LIMIT", "37", 1);
    binary_cases("split");
    setenv("LSUV_STRIDED_LIMIT", "700", 1); /* pieces that still have long rows */
    binary_cases("split in rows");
}

Test(general, binary_refusals)
{
    lsuv_context *ctx = test_context();
    lsuv_buffer a = test_alloc_poisoned(ctx, 12), y = test_alloc_poisoned(ctx, 12);
    int64_t ext[2] = {3, 4}, s[2] = {4, 1}, bad[2] = {-4, 1}, big[2] = {5, 1};
    cr_expect_eq(lsuv_k_binary(ctx, LSUV_K_BIN_ADD, 2, ext, &a, bad, &a, s, &y), LSUV_ERROR_INVALID_ARGUMENT);
    cr_expect(strstr(lsuv_context_last_error(ctx), "stride") != NULL, "%s", lsuv_context_last_error(ctx));
    cr_expect_eq(lsuv_k_binary(ctx, LSUV_K_BIN_ADD, 2, ext, &a, big, &a, s, &y), LSUV_ERROR_INVALID_ARGUMENT,
                 "operand a would be read past its end");
    cr_expect_eq(lsuv_k_binary(ctx, LSUV_K_BIN_ADD, 2, ext, &a, s, &y, s, &y), LSUV_ERROR_INVALID_ARGUMENT,
                 "y overlapping b is refused");
    cr_expect_eq(lsuv_k_binary(ctx, LSUV_K_BIN_ADD, 8, ext, &a, s, &a, s, &y), LSUV_ERROR_INVALID_ARGUMENT);
    lsuv_buffer_free(ctx, &a);
    lsuv_buffer_free(ctx, &y);
    lsuv_context_destroy(ctx);
}

/* ---------------------------------------------------------------- gather */

typedef struct gather_case {
    int rank;
    int64_t in_shape[7];            /* contiguous input */
    int perm[7];                    /* output axis d reads input axis perm[d] */
    int64_t out[7], start[7], step[7];
    float pad;
    const char *name;
} gather_case;

static const gather_case gather_cases[] = {
    /* (N, 2, C/2, H, W) -> (N, C/2, 2, H, W): shufflenet's channel shuffle */
    {5, {3, 2, 5, 7, 9}, {0, 2, 1, 3, 4}, {3, 5, 2, 7, 9}, {0}, {1, 1, 1, 1, 1}, 0, "channel shuffle"},
    {4, {3, 5, 7, 9}, {0, 3, 1, 2}, {3, 9, 5, 7}, {0}, {1, 1, 1, 1}, 0, "NCHW -> NWCH"},
    {4, {3, 5, 7, 9}, {0, 1, 2, 3}, {3, 2, 3, 9}, {0, 1, 1, 0}, {1, 2, 2, 1}, 0, "slice, step 2"},
    {4, {3, 5, 7, 9}, {0, 1, 2, 3}, {3, 5, 7, 4}, {0, 0, 0, 8}, {1, 1, 1, -2}, 0, "slice, step -2"},
    {4, {3, 5, 7, 9}, {0, 1, 2, 3}, {3, 5, 10, 12}, {0, 0, -2, -1}, {1, 1, 1, 1}, 0.25f, "pad (2,1) x (1,2)"},
    {4, {3, 5, 7, 9}, {0, 1, 2, 3}, {3, 6, 7, 5}, {0, -1, 0, 2}, {1, 1, 1, 1}, -3.0f, "pad channels, crop W"},
    {4, {3, 5, 7, 9}, {0, 1, 2, 3}, {3, 5, 2, 9}, {0, 0, 8, 0}, {1, 1, 1, 1}, 7.0f, "all padding"},
    {3, {3, 5, 11}, {0, 1, 2}, {3, 5, 6}, {0, 0, 12}, {1, 1, -2}, -1.0f, "reversed with padding"},
    /* innermost axes of 64 and more: the kernel's row mode */
    {4, {2, 3, 4, 80}, {0, 1, 2, 3}, {2, 3, 4, 70}, {0, 0, 0, 75}, {1, 1, 1, -1}, 0, "rows: reversed slice"},
    {4, {2, 3, 4, 80}, {0, 2, 1, 3}, {2, 4, 3, 80}, {0}, {1, 1, 1, 1}, 0, "rows: transpose"},
    {4, {2, 3, 4, 80}, {0, 1, 2, 3}, {2, 4, 5, 90}, {0, -1, 0, -4}, {1, 1, 1, 1}, 2.0f, "rows: pad"},
    {3, {2, 90, 3}, {0, 2, 1}, {2, 3, 90}, {0}, {1, 1, 1}, 0, "rows: strided reads"},
};

static void run_gather(lsuv_context *ctx, test_rng *r, const gather_case *k, const char *label)
{
    int64_t natural[7], in_stride[7], in_extent[7];
    size_t nx = numel(k->rank, k->in_shape), ny = numel(k->rank, k->out);
    int64_t s = 1;
    for (int d = k->rank - 1; d >= 0; d--) {
        natural[d] = s;
        s *= k->in_shape[d];
    }
    for (int d = 0; d < k->rank; d++) {
        in_stride[d] = natural[k->perm[d]];
        in_extent[d] = k->in_shape[k->perm[d]];
    }
    float *x = test_random_floats(r, nx, 0.0, 1.0);
    lsuv_buffer bx = test_upload(ctx, x, nx), by = test_alloc_poisoned(ctx, ny);
    char what[128];
    snprintf(what, sizeof what, "%s: %s", label, k->name);
    ctx->profiling = 1;
    ok(ctx, lsuv_k_gather(ctx, k->rank, k->out, &bx, in_extent, in_stride, k->start, k->step, k->pad, &by), what);
    if (k->pad == 0) /* no fill, and a box of the whole output */
        expect_split(ctx, ny, what);
    float *y = test_download(ctx, &by, ny);
    double *dx = test_to_double(x, nx), *want = malloc(ny * sizeof *want);
    cr_assert_not_null(want);
    ref_gather(k->rank, k->out, dx, in_extent, in_stride, k->start, k->step, k->pad, want);
    check_close(y, want, ny, 0, 1e-300, what); /* a copy: exact */
    free(x), free(y), free(dx), free(want);
    lsuv_buffer_free(ctx, &bx);
    lsuv_buffer_free(ctx, &by);
}

Test(general, gather_transpose_slice_pad)
{
    lsuv_context *ctx = test_context();
    test_rng r = {4242};
    for (size_t i = 0; i < sizeof gather_cases / sizeof gather_cases[0]; i++)
        run_gather(ctx, &r, &gather_cases[i], "whole");
    setenv("LSUV_STRIDED_LIMIT", "29", 1);
    for (size_t i = 0; i < sizeof gather_cases / sizeof gather_cases[0]; i++)
        run_gather(ctx, &r, &gather_cases[i], "split");
    setenv("LSUV_STRIDED_LIMIT", "500", 1);
    for (size_t i = 0; i < sizeof gather_cases / sizeof gather_cases[0]; i++)
        run_gather(ctx, &r, &gather_cases[i], "split in rows");
    lsuv_context_destroy(ctx);
}

Test(general, gather_refusals)
{
    lsuv_context *ctx = test_context();
    lsuv_buffer x = test_alloc_poisoned(ctx, 12), y = test_alloc_poisoned(ctx, 12);
    int64_t ext[2] = {3, 4}, s[2] = {4, 1}, start[2] = {0, 0}, step[2] = {1, 0}, one[2] = {1, 1};
    cr_expect_eq(lsuv_k_gather(ctx, 2, ext, &x, ext, s, start, step, 0, &y), LSUV_ERROR_INVALID_ARGUMENT);
    cr_expect(strstr(lsuv_context_last_error(ctx), "step") != NULL, "%s", lsuv_context_last_error(ctx));
    int64_t big[2] = {3, 5};
    cr_expect_eq(lsuv_k_gather(ctx, 2, big, &x, ext, s, start, one, 0, &y), LSUV_ERROR_INVALID_ARGUMENT,
                 "y too small for the output");
    cr_expect_eq(lsuv_k_gather(ctx, 2, ext, &x, ext, s, start, one, 0, &x), LSUV_ERROR_INVALID_ARGUMENT,
                 "in place is refused");
    lsuv_buffer_free(ctx, &x);
    lsuv_buffer_free(ctx, &y);
    lsuv_context_destroy(ctx);
}

/* ---------------------------------------------------------------- reduce */

static void run_reduce(lsuv_context *ctx, test_rng *r, int op, size_t outer, size_t n, size_t inner, double mean,
                       double std, double rtol, const char *label)
{
    int keeps = op >= LSUV_K_REDUCE_SOFTMAX;
    size_t nx = outer * n * inner, ny = keeps ? nx : outer * inner;
    float *x = test_random_floats(r, nx, mean, std);
    lsuv_buffer bx = test_upload(ctx, x, nx), by = test_alloc_poisoned(ctx, ny);
    char what[128];
    snprintf(what, sizeof what, "%s: op %d on (%zu, %zu, %zu), data %g +- %g", label, op, outer, n, inner, mean, std);
    ok(ctx, lsuv_k_reduce(ctx, (lsuv_k_reduce_op)op, outer, n, inner, &bx, &by), what);
    float *y = test_download(ctx, &by, ny);
    double *dx = test_to_double(x, nx), *want = malloc(ny * sizeof *want);
    cr_assert_not_null(want);
    ref_reduce(op, outer, n, inner, dx, want);
    if (op == LSUV_K_REDUCE_MEAN || op == LSUV_K_REDUCE_SUM) {
        /* a compensated float sum errs by ~2 eps sum|x| (Higham, 4.3): where the terms
         * cancel, that is the scale, not the result */
        for (size_t o = 0; o < outer; o++)
            for (size_t j = 0; j < inner; j++) {
                double mag = 0;
                for (size_t k = 0; k < n; k++)
                    mag += fabs(dx[(o * n + k) * inner + j]);
                if (op == LSUV_K_REDUCE_MEAN)
                    mag /= (double)n;
                size_t at = o * inner + j;
                cr_assert(isfinite(y[at]), "%s: column %zu is %g", what, at, (double)y[at]);
                cr_assert_leq(fabs(y[at] - want[at]), rtol * fabs(want[at]) + 2.5e-7 * mag,
                              "%s: column %zu: got %.9g, want %.17g (terms of size %g)", what, at, (double)y[at],
                              want[at], mag);
            }
    } else {
        /* softmax outputs far below the largest carry absolute error ~1e-7 x the largest;
         * log-softmax is (x - max) - log(sum), rounded at the scale of its terms (a few
         * units here) where they cancel */
        double atol = op == LSUV_K_REDUCE_SOFTMAX ? 1e-9 : op == LSUV_K_REDUCE_LOG_SOFTMAX ? 2e-6 : 1e-30;
        check_close(y, want, ny, rtol, atol, what);
    }
    free(x), free(y), free(dx), free(want);
    lsuv_buffer_free(ctx, &bx);
    lsuv_buffer_free(ctx, &by);
}

static void reduce_every_axis(const char *label)
{
    lsuv_context *ctx = test_context();
    test_rng r = {31337};
    const size_t B = 3, dims[3] = {5, 7, 9};
    for (int axis = 0; axis < 3; axis++) {
        size_t outer = B, inner = 1;
        for (int d = 0; d < axis; d++)
            outer *= dims[d];
        for (int d = axis + 1; d < 3; d++)
            inner *= dims[d];
        for (int op = 0; op <= LSUV_K_REDUCE_LOG_SOFTMAX; op++)
            run_reduce(ctx, &r, op, outer, dims[axis], inner, 0.5, 2.0, 2e-6, label);
    }
    lsuv_context_destroy(ctx);
}

Test(general, reduce_along_each_axis) { reduce_every_axis("whole"); }

Test(general, reduce_along_each_axis_split)
{
    setenv("LSUV_STRIDED_LIMIT", "100", 1);
    reduce_every_axis("split");
}

/* Large offsets: the sum of a mean over many values with a large common part must not
 * lose the small part (compensated sum), and softmax of values near 1e3 must not overflow. */
Test(general, reduce_stability)
{
    lsuv_context *ctx = test_context();
    test_rng r = {5};
    run_reduce(ctx, &r, LSUV_K_REDUCE_MEAN, 3, 40001, 1, 1e4, 1.0, 2e-7, "large mean");
    run_reduce(ctx, &r, LSUV_K_REDUCE_SUM, 2, 9973, 3, 100.0, 1.0, 2e-7, "large sum");
    run_reduce(ctx, &r, LSUV_K_REDUCE_SOFTMAX, 4, 1000, 1, 1e3, 5.0, 5e-6, "softmax near 1e3");
    run_reduce(ctx, &r, LSUV_K_REDUCE_LOG_SOFTMAX, 4, 1000, 1, -1e3, 5.0, 2e-6, "log-softmax near -1e3");
    run_reduce(ctx, &r, LSUV_K_REDUCE_MAX, 4, 777, 2, -1e3, 5.0, 0, "max");
    lsuv_context_destroy(ctx);
}

/* ---------------------------------------------------------------- pooling, conv */

typedef struct pool_case {
    uint32_t batch, channels, h, w, kh, kw, sh, sw, ph, pw, eh, ew;
    int max, ceil, asym, exclude;
} pool_case;

static const pool_case pool_cases[] = {
    {2, 3, 11, 13, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 0, 0},  /* resnet-style max pool, ceil */
    {2, 3, 11, 13, 3, 3, 2, 2, 0, 0, 0, 0, 1, 1, 0, 0},  /* googlenet: ceil, no padding */
    {2, 3, 11, 13, 3, 3, 2, 2, 1, 1, 1, 1, 0, 1, 0, 0},  /* avg, ceil, include pad */
    {2, 3, 11, 13, 3, 3, 2, 2, 1, 1, 1, 1, 0, 1, 0, 1},  /* avg, ceil, exclude pad */
    {2, 3, 11, 13, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1},  /* avg 3x3 s1 exclude pad (ONNX default) */
    {1, 4, 10, 9, 2, 3, 2, 2, 0, 1, 1, 0, 0, 0, 1, 1},   /* SAME_UPPER-like asymmetric, exclude */
    {1, 4, 10, 9, 2, 3, 2, 2, 0, 1, 1, 0, 0, 0, 1, 0},   /* the same, include pad */
    {1, 4, 10, 9, 2, 3, 2, 2, 0, 1, 1, 0, 1, 0, 1, 0},   /* the same, max */
    {1, 4, 10, 9, 4, 4, 3, 3, 2, 1, 1, 2, 0, 1, 1, 0},   /* asymmetric and ceil, include pad */
    {1, 4, 10, 9, 4, 4, 3, 3, 2, 1, 1, 2, 0, 1, 1, 1},   /* asymmetric and ceil, exclude pad */
    {3, 5, 11, 13, 11, 13, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0}, /* global max pool (workgroup path) */
    {3, 5, 11, 13, 11, 13, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1}, /* global average pool */
    {2, 2, 17, 19, 9, 9, 4, 4, 4, 3, 2, 4, 0, 1, 1, 1},  /* large window (workgroup path), every option */
};

Test(general, pool2d_onnx_options)
{
    lsuv_context *ctx = test_context();
    test_rng r = {77};
    for (size_t i = 0; i < sizeof pool_cases / sizeof pool_cases[0]; i++) {
        const pool_case *k = &pool_cases[i];
        lsuv_pool2d_params p = {.batch = k->batch, .channels = k->channels, .in_h = k->h, .in_w = k->w,
                                .kernel_h = k->kh, .kernel_w = k->kw, .stride_h = k->sh, .stride_w = k->sw,
                                .pad_h = k->ph, .pad_w = k->pw, .max = k->max, .exclude_pad = k->exclude,
                                .ceil_mode = k->ceil, .asymmetric = k->asym, .pad_h_end = k->eh, .pad_w_end = k->ew};
        cr_assert(lsuv_pool2d_output_size(&p), "case %zu: geometry refused", i);
        long oh = ref_pool_out(k->h, k->kh, k->sh, k->ph, k->asym ? k->eh : k->ph, k->ceil);
        long ow = ref_pool_out(k->w, k->kw, k->sw, k->pw, k->asym ? k->ew : k->pw, k->ceil);
        cr_assert_eq(p.out_h, oh, "case %zu: output height %u, want %ld", i, p.out_h, oh);
        cr_assert_eq(p.out_w, ow, "case %zu: output width %u, want %ld", i, p.out_w, ow);
        size_t nx = (size_t)k->batch * k->channels * k->h * k->w, ny = (size_t)k->batch * k->channels * oh * ow;
        float *x = test_random_floats(&r, nx, 0.0, 1.0);
        lsuv_buffer bx = test_upload(ctx, x, nx), by = test_alloc_poisoned(ctx, ny);
        ok(ctx, lsuv_k_pool2d(ctx, &p, &bx, &by), "pool2d");
        float *y = test_download(ctx, &by, ny);
        double *dx = test_to_double(x, nx), *want = malloc(ny * sizeof *want);
        cr_assert_not_null(want);
        ref_pool2d_onnx(&p, dx, want);
        char what[64];
        snprintf(what, sizeof what, "pool case %zu", i);
        check_close(y, want, ny, 1e-6, 1e-6, what);
        free(x), free(y), free(dx), free(want);
        lsuv_buffer_free(ctx, &bx);
        lsuv_buffer_free(ctx, &by);
    }
    /* ceil mode: a window that would start in the end padding is dropped (5 with k2 s2 p1:
     * windows at -1, 1, 3 and not 5) */
    lsuv_pool2d_params p = {.batch = 1, .channels = 1, .in_h = 5, .in_w = 5, .kernel_h = 2, .kernel_w = 2,
                            .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1, .max = 1, .ceil_mode = 1};
    cr_assert(lsuv_pool2d_output_size(&p));
    cr_expect_eq(p.out_h, 3);
    p.asymmetric = 1;
    p.pad_h_end = 2;
    cr_expect(!lsuv_pool2d_output_size(&p), "an end pad above half the kernel is refused");
    lsuv_context_destroy(ctx);
}

typedef struct conv_case {
    uint32_t batch, c, h, w, k, r, s, sh, sw, ph, pw, eh, ew, dh, dw, groups;
} conv_case;

static const conv_case conv_cases[] = {
    {2, 3, 9, 11, 8, 3, 3, 2, 2, 0, 0, 1, 1, 1, 1, 1},  /* TF SAME_UPPER, stride 2 */
    {2, 3, 9, 11, 8, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1, 1},  /* SAME_LOWER */
    {1, 4, 8, 7, 6, 2, 4, 1, 1, 0, 2, 1, 1, 1, 1, 2},   /* even kernel, grouped */
    {2, 6, 9, 10, 6, 3, 3, 2, 1, 1, 0, 2, 3, 2, 1, 6},  /* depthwise, dilated: direct kernel */
};

Test(general, conv2d_asymmetric_pads)
{
    test_rng r = {99};
    static const char *kernels[] = {NULL, "tiled", "direct"};
    for (int kern = 0; kern < 3; kern++) {
        /* read at context creation: a context per kernel */
        if (kernels[kern])
            setenv("LSUV_GEMM_KERNEL", kernels[kern], 1);
        lsuv_context *ctx = test_context();
        for (size_t i = 0; i < sizeof conv_cases / sizeof conv_cases[0]; i++) {
            const conv_case *k = &conv_cases[i];
            lsuv_conv2d_params p = {.batch = k->batch, .in_channels = k->c, .in_h = k->h, .in_w = k->w,
                                    .out_channels = k->k, .kernel_h = k->r, .kernel_w = k->s, .stride_h = k->sh,
                                    .stride_w = k->sw, .pad_h = k->ph, .pad_w = k->pw, .dilation_h = k->dh,
                                    .dilation_w = k->dw, .groups = k->groups, .asymmetric = 1,
                                    .pad_h_end = k->eh, .pad_w_end = k->ew};
            cr_assert(lsuv_conv2d_output_size(&p), "conv case %zu refused", i);
            long want_h = (k->h + k->ph + k->eh - (long)k->dh * (k->r - 1) - 1) / k->sh + 1;
            long want_w = (k->w + k->pw + k->ew - (long)k->dw * (k->s - 1) - 1) / k->sw + 1;
            cr_assert_eq(p.out_h, want_h, "case %zu", i);
            cr_assert_eq(p.out_w, want_w, "case %zu", i);
            size_t nx = (size_t)k->batch * k->c * k->h * k->w, nw = (size_t)k->k * (k->c / k->groups) * k->r * k->s;
            size_t ny = (size_t)k->batch * k->k * p.out_h * p.out_w;
            float *x = test_random_floats(&r, nx, 0.0, 1.0), *w = test_random_floats(&r, nw, 0.0, 0.5);
            float *b = test_random_floats(&r, k->k, 0.0, 0.5);
            lsuv_buffer bx = test_upload(ctx, x, nx), bw = test_upload(ctx, w, nw), bb = test_upload(ctx, b, k->k);
            lsuv_buffer by = test_alloc_poisoned(ctx, ny);
            ok(ctx, lsuv_k_conv2d(ctx, &p, &bx, &bw, &bb, &by), "conv2d");
            float *y = test_download(ctx, &by, ny);
            double *dx = test_to_double(x, nx), *dw = test_to_double(w, nw), *db = test_to_double(b, k->k);
            double *want = malloc(ny * sizeof *want);
            cr_assert_not_null(want);
            ref_conv2d_asym(&p, dx, dw, db, want);
            double err = test_rel_error(y, want, ny);
            cr_expect_leq(err, 1e-6, "conv case %zu, kernel %s: rel err %.3g", i, kernels[kern] ? kernels[kern] : "auto",
                          err);
            free(x), free(w), free(b), free(y), free(dx), free(dw), free(db), free(want);
            lsuv_buffer_free(ctx, &bx);
            lsuv_buffer_free(ctx, &bw);
            lsuv_buffer_free(ctx, &bb);
            lsuv_buffer_free(ctx, &by);
        }
        lsuv_context_destroy(ctx);
    }
}

/* ---------------------------------------------------------------- through the graph runner */

static int push(lsuv_net *net, const lsuv_node *n)
{
    int id = -1;
    lsuv_status st = lsuv_net_push_node(net, n, &id);
    cr_assert_eq(st, LSUV_OK, "push %s: %s", n->name, lsuv_context_last_error(net->ctx));
    return id;
}

static void set_dims(lsuv_node *n, int ndim, const int64_t *dims)
{
    n->ndim = ndim;
    memcpy(n->dims, dims, (size_t)ndim * sizeof *dims);
}

static int param(lsuv_net *net, const char *name, int ndim, const int64_t *shape, const float *values)
{
    int idx = -1;
    lsuv_status st = lsuv_net_add_param_f32(net, name, ndim, shape, values, &idx);
    cr_assert_eq(st, LSUV_OK, "param %s: %s", name, lsuv_context_last_error(net->ctx));
    return idx;
}

/* A dense node over the last axis of node `in`: (..., in_f) -> dims (3 axes), rows per sample. */
static int push_dense(lsuv_net *net, const char *name, int in, const int64_t *dims, int w, int b, uint32_t in_f,
                      uint32_t out_f, uint32_t rows)
{
    lsuv_node n;
    lsuv_node_init(&n, LSUV_NODE_DENSE, name, in);
    set_dims(&n, 3, dims);
    n.weight = w;
    n.bias = b;
    n.in_features = in_f;
    n.out_features = out_f;
    n.rows = rows;
    return push(net, &n);
}

/* input (6,5,7) -> reshape (2,3,5,7) -> transpose (3,2,5,7) -> reshape (6,5,7) -> x P (6,1,1)
 * -> SELU -> pad H (1,2) -> concat with the input along H (6,13,7) -> softmax over W ->
 * dense over the last axis 7->4 (78 rows) -> minus its mean over H -> reshape (312), the
 * output. Run on K=2 batches of B=3 and compared with the references step by step. */
Test(general, graph_of_general_nodes)
{
    lsuv_context *ctx = test_context();
    test_rng r = {2026};
    enum { B = 3, K = 2 };
    int64_t in_dims[3] = {6, 5, 7};
    lsuv_net *net = NULL;
    ok(ctx, lsuv_net_create(ctx, 3, in_dims, &net), "net");
    float *scale = test_random_floats(&r, 6, 1.0, 0.5), *w = test_random_floats(&r, 28, 0.0, 0.5), *bias = test_random_floats(&r, 4, 0, 1);
    int64_t s_shape[3] = {6, 1, 1}, w_shape[2] = {4, 7}, b_shape[1] = {4};
    int p_scale = param(net, "scale", 3, s_shape, scale), p_w = param(net, "fc.weight", 2, w_shape, w);
    int p_b = param(net, "fc.bias", 1, b_shape, bias);

    lsuv_node n;
    lsuv_node_init(&n, LSUV_NODE_RESHAPE, "split", 0);
    set_dims(&n, 4, (int64_t[]){2, 3, 5, 7});
    int split = push(net, &n);

    lsuv_node_init(&n, LSUV_NODE_GATHER, "shuffle", split);
    set_dims(&n, 4, (int64_t[]){3, 2, 5, 7});
    n.gather = (lsuv_gather_desc){.rank = 5, .in_stride = {210, 35, 105, 7, 1}, .start = {0},
                                  .step = {1, 1, 1, 1, 1}, .in_extent = {0, 3, 2, 5, 7}};
    int shuffle = push(net, &n);

    lsuv_node_init(&n, LSUV_NODE_RESHAPE, "merge", shuffle);
    set_dims(&n, 3, in_dims);
    int merge = push(net, &n);

    lsuv_node_init(&n, LSUV_NODE_BINARY, "gate", merge);
    set_dims(&n, 3, in_dims);
    n.binary = (lsuv_binary_desc){.op = LSUV_BIN_MUL, .rank = 4, .a_stride = {210, 35, 7, 1},
                                  .b_stride = {0, 1, 0, 0}, .a_param = -1, .b_param = p_scale};
    int gate = push(net, &n);

    lsuv_node_init(&n, LSUV_NODE_ACTIVATION, "selu", gate);
    set_dims(&n, 3, in_dims);
    n.act = LSUV_K_ACT_SELU;
    n.act_param = 1.67326319f;
    n.act_param2 = 1.05070102f;
    int selu = push(net, &n);

    lsuv_node_init(&n, LSUV_NODE_GATHER, "pad", selu);
    set_dims(&n, 3, (int64_t[]){6, 8, 7});
    n.gather = (lsuv_gather_desc){.rank = 4, .in_stride = {210, 35, 7, 1}, .start = {0, 0, -1, 0},
                                  .step = {1, 1, 1, 1}, .in_extent = {0, 6, 5, 7}, .pad_value = 0.5f};
    int pad = push(net, &n);

    lsuv_node_init(&n, LSUV_NODE_CONCAT, "cat", pad);
    n.inputs[1] = 0;
    n.input_count = 2;
    n.concat_axis = 1;
    set_dims(&n, 3, (int64_t[]){6, 13, 7});
    int cat = push(net, &n);

    lsuv_node_init(&n, LSUV_NODE_REDUCE, "softmax", cat);
    set_dims(&n, 3, (int64_t[]){6, 13, 7});
    n.reduce = (lsuv_reduce_desc){.op = LSUV_REDUCE_SOFTMAX, .outer = 78, .n = 7, .inner = 1};
    int sm = push(net, &n);

    int fc = push_dense(net, "fc", sm, (int64_t[]){6, 13, 4}, p_w, p_b, 7, 4, 78);

    lsuv_node_init(&n, LSUV_NODE_REDUCE, "mean", fc);
    set_dims(&n, 3, (int64_t[]){6, 1, 4});
    n.reduce = (lsuv_reduce_desc){.op = LSUV_REDUCE_MEAN, .outer = 6, .n = 13, .inner = 4};
    int mean = push(net, &n);

    lsuv_node_init(&n, LSUV_NODE_BINARY, "center", fc);
    n.inputs[1] = mean;
    n.input_count = 2;
    set_dims(&n, 3, (int64_t[]){6, 13, 4});
    n.binary = (lsuv_binary_desc){.op = LSUV_BIN_SUB, .rank = 4, .a_stride = {312, 52, 4, 1},
                                  .b_stride = {24, 4, 0, 1}, .a_param = -1, .b_param = -1};
    int center = push(net, &n);

    lsuv_node_init(&n, LSUV_NODE_RESHAPE, "flat", center);
    set_dims(&n, 1, (int64_t[]){312});
    int flat = push(net, &n);

    cr_assert_eq(lsuv_node_flops(&net->nodes[fc]), 2.0 * 7 * 4 * 78, "dense FLOPs count every row");

    /* the device */
    size_t nin = (size_t)K * B * 210;
    float *x = test_random_floats(&r, nin, 0.0, 1.5);
    lsuv_graph_run run;
    ok(ctx, lsuv_graph_run_begin(&run, net, K, B, x), "run begin");
    run.keep = flat;
    for (int i = 1; i < net->node_count; i++) {
        ok(ctx, lsuv_graph_forward_node(&run, i), net->nodes[i].name);
        lsuv_graph_release_inputs(&run, i);
    }
    ok(ctx, lsuv_submit(ctx), "submit");
    cr_expect_eq(run.flops_executed, run.flops_forward, "executed %g, forward %g FLOPs", run.flops_executed,
                 run.flops_forward);
    /* the frontier: every value but the kept one was freed after its last reader */
    for (int i = 0; i < net->node_count; i++)
        if (run.owner[i] == i && i != run.owner[flat])
            for (int k = 0; k < K; k++)
                cr_expect_eq(run.vals[(size_t)i * K + k].address, 0, "value of %s still held", net->nodes[i].name);
    float *got[K];
    for (int k = 0; k < K; k++)
        got[k] = test_download(ctx, lsuv_graph_value(&run, flat, k), (size_t)B * 312);
    lsuv_graph_run_end(&run);

    /* the references, one batch at a time */
    double *dscale = test_to_double(scale, 6), *dw = test_to_double(w, 28), *db = test_to_double(bias, 4);
    for (int k = 0; k < K; k++) {
        double *dx = test_to_double(x + (size_t)k * B * 210, (size_t)B * 210);
        double t1[B * 210], t2[B * 210], t3[B * 336], t4[B * 546], t5[B * 546], t6[B * 312], t7[B * 24];
        double want[B * 312];
        ref_gather(5, (int64_t[]){B, 3, 2, 5, 7}, dx, (int64_t[]){B, 3, 2, 5, 7}, (int64_t[]){210, 35, 105, 7, 1},
                   (int64_t[]){0, 0, 0, 0, 0}, (int64_t[]){1, 1, 1, 1, 1}, 0, t1);
        ref_binary(LSUV_K_BIN_MUL, 4, (int64_t[]){B, 6, 5, 7}, t1, (int64_t[]){210, 35, 7, 1}, dscale,
                   (int64_t[]){0, 1, 0, 0}, t2);
        for (int i = 0; i < B * 210; i++)
            t2[i] = ref_activation2(t2[i], LSUV_K_ACT_SELU, 1.67326319f, 1.05070102f, 0);
        ref_gather(4, (int64_t[]){B, 6, 8, 7}, t2, (int64_t[]){B, 6, 5, 7}, (int64_t[]){210, 35, 7, 1},
                   (int64_t[]){0, 0, -1, 0}, (int64_t[]){1, 1, 1, 1}, 0.5, t3);
        for (int bc = 0; bc < B * 6; bc++) { /* concat along H */
            memcpy(t4 + bc * 91, t3 + bc * 56, 56 * sizeof(double));
            memcpy(t4 + bc * 91 + 56, dx + bc * 35, 35 * sizeof(double));
        }
        ref_reduce(LSUV_K_REDUCE_SOFTMAX, (size_t)B * 78, 7, 1, t4, t5);
        ref_dense(t5, dw, db, t6, B * 78, 7, 4);
        ref_reduce(LSUV_K_REDUCE_MEAN, (size_t)B * 6, 13, 4, t6, t7);
        ref_binary(LSUV_K_BIN_SUB, 4, (int64_t[]){B, 6, 13, 4}, t6, (int64_t[]){312, 52, 4, 1}, t7,
                   (int64_t[]){24, 4, 0, 1}, want);
        char what[32];
        snprintf(what, sizeof what, "graph output, batch %d", k);
        /* centred values are differences of O(1) numbers: an absolute part */
        check_close(got[k], want, (size_t)B * 312, 1e-5, 1e-6, what);
        free(dx);
        free(got[k]);
    }
    free(dscale), free(dw), free(db), free(x), free(scale), free(w), free(bias);
    lsuv_net_destroy(net);
    lsuv_context_destroy(ctx);
}

/* A node whose description does not match its shape is refused with its name, not run. */
Test(general, graph_refuses_inconsistent_nodes)
{
    lsuv_context *ctx = test_context();
    int64_t in_dims[1] = {10};
    lsuv_net *net = NULL;
    ok(ctx, lsuv_net_create(ctx, 1, in_dims, &net), "net");
    lsuv_node n;
    lsuv_node_init(&n, LSUV_NODE_REDUCE, "bad_reduce", 0);
    set_dims(&n, 1, (int64_t[]){3});
    n.reduce = (lsuv_reduce_desc){.op = LSUV_REDUCE_MEAN, .outer = 1, .n = 3, .inner = 1};
    int id = push(net, &n);
    float x[20] = {0};
    lsuv_graph_run run;
    ok(ctx, lsuv_graph_run_begin(&run, net, 1, 2, x), "run begin");
    cr_expect_eq(lsuv_graph_forward_node(&run, id), LSUV_ERROR_SHAPE);
    cr_expect(strstr(lsuv_context_last_error(ctx), "bad_reduce") != NULL, "%s", lsuv_context_last_error(ctx));
    lsuv_submit(ctx);
    lsuv_graph_run_end(&run);
    lsuv_net_destroy(net);
    lsuv_context_destroy(ctx);
}

static double *param_values(lsuv_net *net, const char *name, size_t n)
{
    float *f = malloc(n * sizeof *f);
    cr_assert_not_null(f);
    lsuv_status st = lsuv_net_get_param(net, name, f, (int64_t)n);
    cr_assert_eq(st, LSUV_OK, "%s: %s", name, lsuv_context_last_error(net->ctx));
    double *d = test_to_double(f, n);
    free(f);
    return d;
}

/* LSUV through the new node kinds: input (4,6,5) -> transpose to (4,5,6) -> dense over the
 * last axis 6->7 (20 rows per sample) -> SELU -> + P (5,1) -> conv 3x3 with asymmetric pads
 * (6,4,6) -> softmax over channels. Both weight layers must end with unit variance as a
 * double-precision forward with the written weights measures it on the batch LSUV used;
 * post-activation mode measures SELU(.) with its gamma. */
static void lsuv_through_general_nodes(lsuv_measure measure)
{
    lsuv_context *ctx = test_context();
    enum { N = 64, PER = 32 }; /* batches large enough that their variances differ by < tol */
    int64_t in_dims[3] = {4, 6, 5};
    lsuv_net *net = NULL;
    ok(ctx, lsuv_net_create(ctx, 3, in_dims, &net), "net");
    test_rng r = {8080};
    float *pv = test_random_floats(&r, 5, 0.0, 0.5), *w0 = test_random_floats(&r, 42, 0, 1);
    float *cw0 = test_random_floats(&r, 6 * 4 * 9, 0, 1);
    int p_fw = param(net, "fc.weight", 2, (int64_t[]){7, 6}, w0), p_fb = param(net, "fc.bias", 1, (int64_t[]){7}, NULL);
    int p_add = param(net, "shift", 2, (int64_t[]){5, 1}, pv);
    int p_cw = param(net, "conv.weight", 4, (int64_t[]){6, 4, 3, 3}, cw0);
    int p_cb = param(net, "conv.bias", 1, (int64_t[]){6}, NULL);
    lsuv_node n;
    lsuv_node_init(&n, LSUV_NODE_GATHER, "transpose", 0);
    set_dims(&n, 3, (int64_t[]){4, 5, 6});
    n.gather = (lsuv_gather_desc){.rank = 4, .in_stride = {120, 30, 1, 5}, .start = {0}, .step = {1, 1, 1, 1},
                                  .in_extent = {0, 4, 5, 6}};
    int tr = push(net, &n);
    int fc = push_dense(net, "fc", tr, (int64_t[]){4, 5, 7}, p_fw, p_fb, 6, 7, 20);
    lsuv_node_init(&n, LSUV_NODE_ACTIVATION, "selu", fc);
    set_dims(&n, 3, (int64_t[]){4, 5, 7});
    n.act = LSUV_K_ACT_SELU;
    n.act_param = 1.67326319f;
    n.act_param2 = 1.05070102f;
    int selu = push(net, &n);
    lsuv_node_init(&n, LSUV_NODE_BINARY, "add", selu);
    set_dims(&n, 3, (int64_t[]){4, 5, 7});
    n.binary = (lsuv_binary_desc){.op = LSUV_BIN_ADD, .rank = 4, .a_stride = {140, 35, 7, 1},
                                  .b_stride = {0, 0, 1, 0}, .a_param = -1, .b_param = p_add};
    int add = push(net, &n);
    lsuv_node_init(&n, LSUV_NODE_CONV2D, "conv", add);
    n.conv = (lsuv_conv2d_params){.in_channels = 4, .in_h = 5, .in_w = 7, .out_channels = 6, .kernel_h = 3,
                                  .kernel_w = 3, .stride_h = 1, .stride_w = 1, .pad_h = 0, .pad_w = 1,
                                  .dilation_h = 1, .dilation_w = 1, .groups = 1, .asymmetric = 1,
                                  .pad_h_end = 1, .pad_w_end = 0};
    cr_assert(lsuv_conv2d_output_size(&n.conv));
    set_dims(&n, 3, (int64_t[]){6, n.conv.out_h, n.conv.out_w});
    n.weight = p_cw;
    n.bias = p_cb;
    int conv = push(net, &n);
    lsuv_node_init(&n, LSUV_NODE_REDUCE, "softmax", conv);
    set_dims(&n, 3, (int64_t[]){6, 4, 6});
    n.reduce = (lsuv_reduce_desc){.op = LSUV_REDUCE_SOFTMAX, .outer = 1, .n = 6, .inner = 24};
    push(net, &n);

    lsuv_data *data = NULL;
    ok(ctx, lsuv_data_gaussian(ctx, N, 3, in_dims, 11, &data), "data");
    lsuv_options o;
    lsuv_options_init(&o);
    o.batch = PER;
    o.batches = 2;
    o.measure = measure;
    lsuv_report *rep = NULL;
    ok(ctx, lsuv_init(net, data, &o, &rep), "lsuv_init");
    cr_assert_eq(rep->layer_count, 2);

    double *fw = param_values(net, "fc.weight", 42), *fb = param_values(net, "fc.bias", 7);
    double *cw = param_values(net, "conv.weight", 216), *cb = param_values(net, "conv.bias", 6);
    double *dp = test_to_double(pv, 5);
    for (int layer = 0; layer < 2; layer++) {
        const lsuv_layer_report *L = &rep->layers[layer];
        cr_expect(L->status == LSUV_LAYER_OK, "layer %s: status %d", L->name, (int)L->status);
        size_t first = (size_t)L->final_batch * PER;
        double *x = test_to_double(data->values + first * 120, PER * 120);
        double t1[PER * 120], t2[PER * 140], t3[PER * 140], t4[PER * 144];
        ref_gather(4, (int64_t[]){PER, 4, 5, 6}, x, (int64_t[]){PER, 4, 5, 6}, (int64_t[]){120, 30, 1, 5},
                   (int64_t[]){0, 0, 0, 0}, (int64_t[]){1, 1, 1, 1}, 0, t1);
        ref_dense(t1, fw, fb, t2, PER * 20, 6, 7);
        for (int i = 0; i < PER * 140; i++)
            t3[i] = ref_activation2(t2[i], LSUV_K_ACT_SELU, 1.67326319f, 1.05070102f, 0);
        double var;
        if (layer == 0) {
            var = ref_variance(measure == LSUV_MEASURE_POST ? t3 : t2, PER * 140, NULL);
        } else {
            double t5[PER * 140];
            ref_binary(LSUV_K_BIN_ADD, 4, (int64_t[]){PER, 4, 5, 7}, t3, (int64_t[]){140, 35, 7, 1}, dp,
                       (int64_t[]){0, 0, 1, 0}, t5);
            lsuv_conv2d_params cp = net->nodes[conv].conv;
            cp.batch = PER;
            ref_conv2d_asym(&cp, t5, cw, cb, t4);
            var = ref_variance(t4, PER * 144, NULL); /* no activation follows: post measures the same */
        }
        cr_expect_lt(fabs(var - 1), o.tol_var, "layer %s: variance %g after LSUV (reported %g)", L->name, var,
                     L->var_final);
        cr_expect_lt(fabs(var - L->var_final), 1e-4 * var, "layer %s: reported %g, reference %g", L->name,
                     L->var_final, var);
        free(x);
    }
    cr_expect_gt(rep->flops_executed, 0);
    free(fw), free(fb), free(cw), free(cb), free(dp), free(pv), free(w0), free(cw0);
    lsuv_report_free(rep);
    lsuv_data_free(data);
    lsuv_net_destroy(net);
    lsuv_context_destroy(ctx);
}

Test(general, lsuv_through_general_nodes_pre) { lsuv_through_general_nodes(LSUV_MEASURE_PRE); }
Test(general, lsuv_through_general_nodes_post) { lsuv_through_general_nodes(LSUV_MEASURE_POST); }

/* Concat along each per-sample axis of (3,4,5): the input, then its negation (a binary
 * node with a scalar parameter), so both pieces are device values with distinct contents. */
Test(general, graph_concat_every_axis)
{
    lsuv_context *ctx = test_context();
    test_rng r = {123};
    enum { B = 3 };
    int64_t in_dims[3] = {3, 4, 5};
    float *x = test_random_floats(&r, B * 60, 0.0, 1.0);
    for (int axis = 0; axis < 3; axis++) {
        lsuv_net *net = NULL;
        ok(ctx, lsuv_net_create(ctx, 3, in_dims, &net), "net");
        float minus[1] = {-1.0f};
        int p_m = param(net, "minus_one", 1, (int64_t[]){1}, minus);
        lsuv_node n;
        lsuv_node_init(&n, LSUV_NODE_BINARY, "neg", 0);
        set_dims(&n, 3, in_dims);
        n.binary = (lsuv_binary_desc){.op = LSUV_BIN_MUL, .rank = 4, .a_stride = {60, 20, 5, 1},
                                      .b_stride = {0, 0, 0, 0}, .a_param = -1, .b_param = p_m};
        int neg = push(net, &n);
        lsuv_node_init(&n, LSUV_NODE_CONCAT, "cat", 0);
        n.inputs[1] = neg;
        n.input_count = 2;
        n.concat_axis = axis;
        int64_t out_dims[3] = {3, 4, 5};
        out_dims[axis] *= 2;
        set_dims(&n, 3, out_dims);
        int cat = push(net, &n);
        lsuv_graph_run run;
        ok(ctx, lsuv_graph_run_begin(&run, net, 1, B, x), "run begin");
        run.keep = cat;
        for (int i = 1; i < net->node_count; i++) {
            ok(ctx, lsuv_graph_forward_node(&run, i), net->nodes[i].name);
            lsuv_graph_release_inputs(&run, i);
        }
        float *got = test_download(ctx, lsuv_graph_value(&run, cat, 0), B * 120);
        lsuv_graph_run_end(&run);
        /* the reference: per sample, blocks of prod(dims before axis) rows */
        double want[B * 120];
        size_t outer = B, inner = 1;
        for (int d = 0; d < axis; d++)
            outer *= (size_t)in_dims[d];
        for (int d = axis + 1; d < 3; d++)
            inner *= (size_t)in_dims[d];
        size_t piece = (size_t)in_dims[axis] * inner;
        for (size_t o = 0; o < outer; o++)
            for (size_t j = 0; j < piece; j++) {
                want[o * 2 * piece + j] = x[o * piece + j];
                want[o * 2 * piece + piece + j] = -(double)x[o * piece + j];
            }
        char what[32];
        snprintf(what, sizeof what, "concat along axis %d", axis);
        check_close(got, want, B * 120, 0, 1e-300, what); /* copies: exact */
        free(got);
        lsuv_net_destroy(net);
    }
    free(x);
    lsuv_context_destroy(ctx);
}
