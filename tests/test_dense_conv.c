/* test_dense_conv.c - dense and conv2d kernels against the double-precision references:
 * seeded random shapes and data, NaN-poisoned outputs, every kernel variant (tiled GPU
 * kernel, CPU subgroup kernel, direct conv, CPU texel kernel; forced through LSUV_GEMM_KERNEL), invalid
 * geometry, and tensors larger than lavapipe's 128 MiB maxStorageBufferRange. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref_conv.h"
#include "support.h"

#define TOL 1e-5

/* Criterion runs every test in its own process, so the variable stays with the test. */
static void force_kernel(const char *name)
{
    if (name)
        setenv("LSUV_GEMM_KERNEL", name, 1);
    else
        unsetenv("LSUV_GEMM_KERNEL");
}

static double *to_double(const float *x, size_t n)
{
    double *d = malloc((n ? n : 1) * sizeof *d);
    cr_assert_not_null(d);
    for (size_t i = 0; i < n; i++)
        d[i] = x[i];
    return d;
}

/* Dispatches the last dense or conv call recorded, when the context is profiling (the
 * texel kernel's chunking is checked by them); -1 without timestamp queries. */
static int last_dispatches;

static void note_dispatches(const lsuv_context *ctx)
{
    last_dispatches = ctx->query_pool ? (int)ctx->query_used / 2 : -1;
}

static float *random_floats(test_rng *r, size_t n, double std)
{
    float *x = malloc((n ? n : 1) * sizeof *x);
    cr_assert_not_null(x);
    test_fill_normal(r, x, n, 0.0, std);
    return x;
}

/* ---------------------------------------------------------------- dense */

static void check_dense(lsuv_context *ctx, test_rng *rng, int batch, int in, int out, int with_bias)
{
    size_t nx = (size_t)batch * in, nw = (size_t)out * in, ny = (size_t)batch * out;
    float *x = random_floats(rng, nx, 1.0), *w = random_floats(rng, nw, 1.0);
    float *b = random_floats(rng, out, 1.0);
    lsuv_buffer bx = test_upload(ctx, x, nx), bw = test_upload(ctx, w, nw), bb = test_upload(ctx, b, out);
    lsuv_buffer by = test_alloc_poisoned(ctx, ny);
    lsuv_status st = lsuv_k_dense(ctx, &bx, &bw, with_bias ? &bb : NULL, &by, batch, in, out);
    cr_assert_eq(st, LSUV_OK, "dense %d x %d -> %d: %s", batch, in, out, lsuv_context_last_error(ctx));
    note_dispatches(ctx);
    float *y = test_download(ctx, &by, ny);

    double *dx = to_double(x, nx), *dw = to_double(w, nw), *db = to_double(b, out);
    double *want = malloc(ny * sizeof *want);
    ref_dense(dx, dw, with_bias ? db : NULL, want, batch, in, out);
    double err = test_rel_error(y, want, ny);
    cr_expect_leq(err, TOL, "dense %d x %d -> %d (bias %d): relative error %g", batch, in, out, with_bias,
                  err);

    free(x), free(w), free(b), free(y), free(dx), free(dw), free(db), free(want);
    lsuv_buffer_free(ctx, &bx);
    lsuv_buffer_free(ctx, &bw);
    lsuv_buffer_free(ctx, &bb);
    lsuv_buffer_free(ctx, &by);
}

static void dense_suite(const char *kernel, uint64_t seed)
{
    force_kernel(kernel);
    lsuv_context *ctx = test_context();
    test_rng rng = {seed};
    static const int shapes[][3] = {{1, 1, 1},    {3, 7, 5},     {33, 1001, 17}, {257, 64, 129},
                                    {2, 300, 1},  {1, 13, 200},  {130, 9, 70},   {64, 128, 64},
                                    {300, 17, 3}, {5, 2049, 33}, {17, 33, 257}, {300, 37, 250}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int bias = 0; bias <= 1; bias++)
            check_dense(ctx, &rng, shapes[i][0], shapes[i][1], shapes[i][2], bias);
    for (int i = 0; i < 6; i++) /* random odd shapes */
        check_dense(ctx, &rng, test_rng_int(&rng, 1, 200), test_rng_int(&rng, 1, 300),
                    test_rng_int(&rng, 1, 150), i & 1);
    lsuv_context_destroy(ctx);
}

Test(dense, odd_shapes_default_kernel) { dense_suite(NULL, 11); }
Test(dense, odd_shapes_tiled_kernel) { dense_suite("tiled", 12); }
Test(dense, odd_shapes_subgroup_kernel) { dense_suite("subgroup", 13); }
Test(dense, odd_shapes_texel_kernel) { dense_suite("texel", 14); }

/* The products of the block orthonormalization (lsuv_k_texel_gemm_nt / _tn_update) on
 * odd sizes: c = a b^T into a poisoned buffer, then y += alpha * at^T b over a poisoned
 * neighbourhood that must stay as it was (only rows x cols of y are written). */
Test(dense, texel_products_for_orthonormalization)
{
    lsuv_context *ctx = test_context();
    test_rng rng = {15};
    static const uint32_t shapes[][3] = {{1, 1, 4}, {3, 5, 8}, {33, 31, 100}, {97, 32, 1028}, {256, 17, 64}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        uint32_t ar = shapes[i][0], br = shapes[i][1], ld = shapes[i][2], ldc = br + 3;
        float *a = random_floats(&rng, (size_t)ar * ld, 1.0), *b = random_floats(&rng, (size_t)br * ld, 1.0);
        lsuv_buffer ba = test_upload(ctx, a, (size_t)ar * ld), bb = test_upload(ctx, b, (size_t)br * ld);
        lsuv_buffer bc = test_alloc_poisoned(ctx, (size_t)ar * ldc);
        cr_assert_eq(lsuv_k_texel_gemm_nt(ctx, &ba, ar, &bb, br, ld, &bc, ldc), LSUV_OK, "%s",
                     lsuv_context_last_error(ctx));
        float *c = test_download(ctx, &bc, (size_t)ar * ldc);
        double worst = 0;
        for (uint32_t r = 0; r < ar; r++)
            for (uint32_t j = 0; j < ldc; j++) {
                if (j >= br) {
                    cr_assert(isnan(c[(size_t)r * ldc + j]), "gemm_nt wrote past its columns");
                    continue;
                }
                double want = 0, norm = 0;
                for (uint32_t k = 0; k < ld; k++) {
                    want += (double)a[(size_t)r * ld + k] * b[(size_t)j * ld + k];
                    norm += fabs((double)a[(size_t)r * ld + k] * b[(size_t)j * ld + k]);
                }
                worst = fmax(worst, fabs(c[(size_t)r * ldc + j] - want) / norm);
            }
        cr_assert_leq(worst, 1e-6, "gemm_nt %u x %u x %u: error %g of the sum of |terms|", ar, br, ld, worst);

        /* update: at is k x ldat (k = ar rows of a, ldat = ld), b2 is k x ldb, y rows x cols */
        uint32_t k = ar, ldat = ld >= 8 ? ld / 8 * 8 : 8, ldb = 16, ldy = 19, rows = ldat - 1, cols = 13;
        float *at = random_floats(&rng, (size_t)k * ldat, 1.0), *b2 = random_floats(&rng, (size_t)k * ldb, 1.0);
        float *y0 = random_floats(&rng, (size_t)rows * ldy, 1.0);
        for (uint32_t r = 0; r < rows; r++)
            for (uint32_t j = cols; j < ldy; j++)
                y0[(size_t)r * ldy + j] = NAN; /* beyond cols: must stay NaN */
        lsuv_buffer bat = test_upload(ctx, at, (size_t)k * ldat), bb2 = test_upload(ctx, b2, (size_t)k * ldb);
        lsuv_buffer by = test_upload(ctx, y0, (size_t)rows * ldy);
        cr_assert_eq(lsuv_k_texel_gemm_tn_update(ctx, &bat, ldat, &bb2, ldb, k, &by, ldy, rows, cols, -0.75f, 0),
                     LSUV_OK, "%s", lsuv_context_last_error(ctx));
        float *y = test_download(ctx, &by, (size_t)rows * ldy);
        worst = 0;
        for (uint32_t r = 0; r < rows; r++)
            for (uint32_t j = 0; j < ldy; j++) {
                float got = y[(size_t)r * ldy + j];
                if (j >= cols) {
                    cr_assert(isnan(got), "gemm_tn_update wrote past its columns");
                    continue;
                }
                double want = y0[(size_t)r * ldy + j], norm = fabs(want);
                for (uint32_t q = 0; q < k; q++) {
                    double t = -0.75 * (double)at[(size_t)q * ldat + r] * b2[(size_t)q * ldb + j];
                    want += t;
                    norm += fabs(t);
                }
                worst = fmax(worst, fabs(got - want) / norm);
            }
        cr_assert_leq(worst, 1e-6, "gemm_tn_update %u x %u, depth %u: error %g of the sum of |terms|", rows, cols,
                      k, worst);
        free(at), free(b2), free(y0), free(y);
        lsuv_buffer_free(ctx, &bat);
        lsuv_buffer_free(ctx, &bb2);
        lsuv_buffer_free(ctx, &by);
        free(a), free(b), free(c);
        lsuv_buffer_free(ctx, &ba);
        lsuv_buffer_free(ctx, &bb);
        lsuv_buffer_free(ctx, &bc);
    }
    /* misuse is refused with a message */
    lsuv_buffer small = test_alloc_poisoned(ctx, 16);
    cr_assert_eq(lsuv_k_texel_gemm_nt(ctx, &small, 2, &small, 2, 6, &small, 2), LSUV_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(lsuv_k_texel_gemm_tn_update(ctx, &small, 4, &small, 8, 1, &small, 8, 1, 1, 1.0f, 0),
                 LSUV_ERROR_INVALID_ARGUMENT);
    cr_assert(strstr(lsuv_context_last_error(ctx), "texel update"), "%s", lsuv_context_last_error(ctx));
    lsuv_buffer_free(ctx, &small);
    lsuv_context_destroy(ctx);
}

/* The Householder products' zero skips (LSUV_TX_TRAPEZOID, LSUV_TX_TRIANGULAR) skip
 * zeros and nothing else: the zeros a tile of up to 16 rows may skip hold NaN (a term
 * not skipped would show), those it must still read are real zeros, and the result is
 * held against the double product over the nonzero terms (a term skipped too many would
 * show). Sizes give gemm_tx / gemm_txk 16 x 16 tiles as well as 8 x 8 ones. */
Test(dense, texel_products_skip_only_zeros)
{
    lsuv_context *ctx = test_context();
    test_rng rng = {16};
    static const uint32_t nt_shapes[][3] = {{37, 29, 44}, {256, 300, 260}}; /* a rows, b rows, k */
    for (size_t i = 0; i < 2; i++) {
        uint32_t ar = nt_shapes[i][0], br = nt_shapes[i][1], k = nt_shapes[i][2], ld = k + 4, ldc = br;
        float *a = random_floats(&rng, (size_t)ar * ld, 1.0), *b = random_floats(&rng, (size_t)br * ld, 1.0);
        for (uint32_t r = 0; r < ar; r++) /* row r is zero before float r: NaN where tiles skip */
            for (uint32_t c = 0; c < r && c < ld; c++)
                a[(size_t)r * ld + c] = c < r / 16 * 16 ? NAN : 0.0f;
        lsuv_buffer ba = test_upload(ctx, a, (size_t)ar * ld), bb = test_upload(ctx, b, (size_t)br * ld);
        lsuv_buffer bc = test_alloc_poisoned(ctx, (size_t)ar * ldc);
        cr_assert_eq(lsuv_k_texel_gemm_nt_k(ctx, &ba, ar, &bb, br, k, ld, &bc, ldc, LSUV_TX_TRAPEZOID), LSUV_OK, "%s",
                     lsuv_context_last_error(ctx));
        float *c = test_download(ctx, &bc, (size_t)ar * ldc);
        double worst = 0;
        for (uint32_t r = 0; r < ar; r++)
            for (uint32_t j = 0; j < br; j++) {
                double want = 0, norm = 1e-30;
                for (uint32_t q = r; q < k; q++) {
                    want += (double)a[(size_t)r * ld + q] * b[(size_t)j * ld + q];
                    norm += fabs((double)a[(size_t)r * ld + q] * b[(size_t)j * ld + q]);
                }
                float got = c[(size_t)r * ldc + j];
                cr_assert(isfinite(got), "gemm_nt trapezoid %u x %u x %u: (%u, %u) not finite", ar, br, k, r, j);
                worst = fmax(worst, fabs(got - want) / norm);
            }
        cr_assert_leq(worst, 1e-6, "gemm_nt trapezoid %u x %u x %u: error %g", ar, br, k, worst);
        free(a), free(b), free(c);
        lsuv_buffer_free(ctx, &ba);
        lsuv_buffer_free(ctx, &bb);
        lsuv_buffer_free(ctx, &bc);
    }
    static const uint32_t up_shapes[][3] = {{37, 24, 30}, {272, 256, 200}}; /* rows, cols, k */
    for (size_t i = 0; i < 2; i++) {
        uint32_t rows = up_shapes[i][0], cols = up_shapes[i][1], k = up_shapes[i][2];
        uint32_t ldat = (uint32_t)(rows + 15) / 16 * 16, ldb = (uint32_t)(cols + 15) / 16 * 16, ldy = ldb;
        float *at = random_floats(&rng, (size_t)k * ldat, 1.0), *b = random_floats(&rng, (size_t)k * ldb, 1.0);
        float *y0 = random_floats(&rng, (size_t)rows * ldy, 1.0);
        for (uint32_t q = 0; q < k; q++) /* at[q][r] = 0 for q > r: NaN where tiles skip */
            for (uint32_t r = 0; r < q && r < ldat; r++)
                at[(size_t)q * ldat + r] = q >= (r / 16 + 1) * 16 ? NAN : 0.0f;
        lsuv_buffer bat = test_upload(ctx, at, (size_t)k * ldat), bb = test_upload(ctx, b, (size_t)k * ldb);
        lsuv_buffer by = test_upload(ctx, y0, (size_t)rows * ldy);
        cr_assert_eq(lsuv_k_texel_gemm_tn_update(ctx, &bat, ldat, &bb, ldb, k, &by, ldy, rows, cols, -1.0f,
                                                 LSUV_TX_TRIANGULAR),
                     LSUV_OK, "%s", lsuv_context_last_error(ctx));
        float *y = test_download(ctx, &by, (size_t)rows * ldy);
        double worst = 0;
        for (uint32_t r = 0; r < rows; r++)
            for (uint32_t j = 0; j < cols; j++) {
                double want = y0[(size_t)r * ldy + j], norm = fabs(want) + 1e-30;
                for (uint32_t q = 0; q <= r && q < k; q++) {
                    double t = -(double)at[(size_t)q * ldat + r] * b[(size_t)q * ldb + j];
                    want += t;
                    norm += fabs(t);
                }
                float got = y[(size_t)r * ldy + j];
                cr_assert(isfinite(got), "gemm_tn_update triangular %u x %u x %u: (%u, %u) not finite", rows, cols,
                          k, r, j);
                worst = fmax(worst, fabs(got - want) / norm);
            }
        cr_assert_leq(worst, 1e-6, "gemm_tn_update triangular %u x %u x %u: error %g", rows, cols, k, worst);
        free(at), free(b), free(y0), free(y);
        lsuv_buffer_free(ctx, &bat);
        lsuv_buffer_free(ctx, &bb);
        lsuv_buffer_free(ctx, &by);
    }
    lsuv_context_destroy(ctx);
}

Test(dense, invalid_arguments_are_refused)
{
    lsuv_context *ctx = test_context();
    lsuv_buffer small = test_alloc_poisoned(ctx, 10), big = test_alloc_poisoned(ctx, 100);
    cr_expect_eq(lsuv_k_dense(ctx, &big, &big, NULL, &big, 0, 3, 3), LSUV_ERROR_INVALID_ARGUMENT);
    cr_expect_eq(lsuv_k_dense(ctx, &big, &big, NULL, &big, 3, 0, 3), LSUV_ERROR_INVALID_ARGUMENT);
    cr_expect_eq(lsuv_k_dense(ctx, &big, &small, NULL, &big, 3, 4, 5), LSUV_ERROR_INVALID_ARGUMENT,
                 "weights of 20 floats in a 10-float buffer");
    cr_expect_eq(lsuv_k_dense(ctx, &big, &big, &small, &big, 3, 4, 11), LSUV_ERROR_INVALID_ARGUMENT,
                 "11 biases in a 10-float buffer");
    cr_expect_eq(lsuv_k_dense(ctx, &big, &big, NULL, NULL, 3, 4, 5), LSUV_ERROR_INVALID_ARGUMENT);
    cr_expect(strstr(lsuv_context_last_error(ctx), "dense") != NULL, "%s", lsuv_context_last_error(ctx));
    lsuv_buffer_free(ctx, &small);
    lsuv_buffer_free(ctx, &big);
    lsuv_context_destroy(ctx);
}

/* X of 40001 x 1001 floats (160 MB, over maxStorageBufferRange); sampled rows checked. */
Test(dense, input_over_128_mib, .timeout = 120)
{
    lsuv_context *ctx = test_context();
    test_rng rng = {21};
    const int batch = 40001, in = 1001, out = 3;
    size_t nx = (size_t)batch * in;
    float *x = random_floats(&rng, nx, 1.0), *w = random_floats(&rng, (size_t)out * in, 1.0);
    float b[3] = {0.5f, -1.0f, 2.0f};
    lsuv_buffer bx = test_upload(ctx, x, nx), bw = test_upload(ctx, w, (size_t)out * in);
    lsuv_buffer bb = test_upload(ctx, b, 3), by = test_alloc_poisoned(ctx, (size_t)batch * out);
    cr_assert(bx.size > (128u << 20));
    cr_assert_eq(lsuv_k_dense(ctx, &bx, &bw, &bb, &by, batch, in, out), LSUV_OK, "%s",
                 lsuv_context_last_error(ctx));
    float *y = test_download(ctx, &by, (size_t)batch * out);
    double *dw = to_double(w, (size_t)out * in), db[3] = {0.5, -1.0, 2.0};
    /* the last rows (beyond 128 MiB), the first ones and a random sample */
    int rows[64];
    for (int i = 0; i < 64; i++)
        rows[i] = i < 16 ? batch - 1 - i : i < 24 ? i - 16 : test_rng_int(&rng, 0, batch - 1);
    for (int i = 0; i < 64; i++) {
        double *dx = to_double(x + (size_t)rows[i] * in, in), want[3];
        ref_dense(dx, dw, db, want, 1, in, out);
        double err = test_rel_error(y + (size_t)rows[i] * out, want, out);
        cr_expect_leq(err, TOL, "row %d: relative error %g", rows[i], err);
        free(dx);
    }
    /* every output written (poison gone) */
    for (size_t i = 0; i < (size_t)batch * out; i++)
        if (!isfinite(y[i]))
            cr_assert_fail("y[%zu] not written", i);
    free(x), free(w), free(y), free(dw);
    lsuv_buffer_free(ctx, &bx);
    lsuv_buffer_free(ctx, &bw);
    lsuv_buffer_free(ctx, &bb);
    lsuv_buffer_free(ctx, &by);
    lsuv_context_destroy(ctx);
}

/* ---------------------------------------------------------------- conv2d */

static void describe(const lsuv_conv2d_params *p, char *s, size_t n)
{
    snprintf(s, n, "N%u C%u %ux%u -> K%u, k %ux%u, stride %ux%u, pad %ux%u, dil %ux%u, groups %u",
             p->batch, p->in_channels, p->in_h, p->in_w, p->out_channels, p->kernel_h, p->kernel_w,
             p->stride_h, p->stride_w, p->pad_h, p->pad_w, p->dilation_h, p->dilation_w, p->groups);
}

static double run_conv(lsuv_context *ctx, test_rng *rng, lsuv_conv2d_params *p, int with_bias)
{
    char what[256];
    describe(p, what, sizeof what);
    cr_assert(lsuv_conv2d_output_size(p), "%s", what);
    size_t nx = (size_t)p->batch * p->in_channels * p->in_h * p->in_w;
    size_t nw = (size_t)p->out_channels * (p->in_channels / p->groups) * p->kernel_h * p->kernel_w;
    size_t ny = (size_t)p->batch * p->out_channels * p->out_h * p->out_w;
    float *x = random_floats(rng, nx, 1.0), *w = random_floats(rng, nw, 1.0);
    float *b = random_floats(rng, p->out_channels, 1.0);
    lsuv_buffer bx = test_upload(ctx, x, nx), bw = test_upload(ctx, w, nw);
    lsuv_buffer bb = test_upload(ctx, b, p->out_channels), by = test_alloc_poisoned(ctx, ny);
    lsuv_status st = lsuv_k_conv2d(ctx, p, &bx, &bw, with_bias ? &bb : NULL, &by);
    cr_assert_eq(st, LSUV_OK, "%s: %s", what, lsuv_context_last_error(ctx));
    note_dispatches(ctx);
    float *y = test_download(ctx, &by, ny);
    double *dx = to_double(x, nx), *dw = to_double(w, nw), *db = to_double(b, p->out_channels);
    double *want = malloc(ny * sizeof *want);
    ref_conv2d(p, dx, dw, with_bias ? db : NULL, want);
    double err = test_rel_error(y, want, ny);
    cr_expect_leq(err, TOL, "%s, bias %d: relative error %g", what, with_bias, err);
    free(x), free(w), free(b), free(y), free(dx), free(dw), free(db), free(want);
    lsuv_buffer_free(ctx, &bx);
    lsuv_buffer_free(ctx, &bw);
    lsuv_buffer_free(ctx, &bb);
    lsuv_buffer_free(ctx, &by);
    return err;
}

/* A random valid geometry: groups 1, 2, 3 or depthwise; kernels 1..7, often non-square. */
static lsuv_conv2d_params random_geometry(test_rng *r, int max_kg)
{
    for (;;) {
        lsuv_conv2d_params p = {0};
        static const uint32_t batches[] = {1, 1, 3, 5, 2};
        p.batch = batches[test_rng_int(r, 0, 4)];
        int kind = test_rng_int(r, 0, 5);
        p.groups = kind <= 2 ? 1 : kind == 3 ? 2 : kind == 4 ? 3 : 0;
        uint32_t cg = (uint32_t)test_rng_int(r, 1, 6), kg = (uint32_t)test_rng_int(r, 1, max_kg);
        if (p.groups == 0) { /* depthwise, sometimes with a channel multiplier */
            p.groups = (uint32_t)test_rng_int(r, 1, 12);
            cg = 1;
            kg = (uint32_t)test_rng_int(r, 1, 2);
        }
        p.in_channels = cg * p.groups;
        p.out_channels = kg * p.groups;
        p.in_h = (uint32_t)test_rng_int(r, 1, 19);
        p.in_w = (uint32_t)test_rng_int(r, 1, 23);
        p.kernel_h = (uint32_t)test_rng_int(r, 1, 7);
        p.kernel_w = test_rng_int(r, 0, 2) ? p.kernel_h : (uint32_t)test_rng_int(r, 1, 7);
        p.stride_h = (uint32_t)test_rng_int(r, 1, 3);
        p.stride_w = test_rng_int(r, 0, 1) ? p.stride_h : (uint32_t)test_rng_int(r, 1, 3);
        p.pad_h = (uint32_t)test_rng_int(r, 0, 3);
        p.pad_w = (uint32_t)test_rng_int(r, 0, 3);
        p.dilation_h = (uint32_t)test_rng_int(r, 1, 3);
        p.dilation_w = test_rng_int(r, 0, 1) ? p.dilation_h : (uint32_t)test_rng_int(r, 1, 3);
        if (lsuv_conv2d_output_size(&p))
            return p;
    }
}

static void conv_suite(const char *kernel, uint64_t seed, int count, int max_kg)
{
    force_kernel(kernel);
    lsuv_context *ctx = test_context();
    test_rng rng = {seed};
    double worst = 0;
    for (int i = 0; i < count; i++) {
        lsuv_conv2d_params p = random_geometry(&rng, max_kg);
        double e = run_conv(ctx, &rng, &p, i % 3 != 0);
        if (e > worst)
            worst = e;
    }
    cr_log_info("conv2d %s: %d random geometries, worst relative error %.3g", kernel ? kernel : "auto",
                count, worst);
    lsuv_context_destroy(ctx);
}

Test(conv2d, random_geometries_default_kernel) { conv_suite(NULL, 101, 60, 40); }
Test(conv2d, random_geometries_tiled_kernel) { conv_suite("tiled", 102, 60, 40); }
Test(conv2d, random_geometries_subgroup_kernel) { conv_suite("subgroup", 103, 60, 40); }
Test(conv2d, random_geometries_direct_kernel) { conv_suite("direct", 104, 60, 12); }
Test(conv2d, random_geometries_texel_kernel) { conv_suite("texel", 105, 60, 40); }

/* A symmetric-padding geometry by position, named field by field: the struct may gain
 * fields at its end (asymmetric pads did), which then start zeroed. */
#define CONV_GEOMETRY(b, c, h, w, k, r, s, sh_, sw_, ph, pw, dh, dw, g)                           \
    {                                                                                          \
        .batch = (b), .in_channels = (c), .in_h = (h), .in_w = (w), .out_channels = (k),       \
        .kernel_h = (r), .kernel_w = (s), .stride_h = (sh_), .stride_w = (sw_), .pad_h = (ph), \
        .pad_w = (pw), .dilation_h = (dh), .dilation_w = (dw), .groups = (g)                   \
    }

/* Shapes of real networks: many channels and a deep K (slices, tile edges). */
static void conv_fixed(const char *kernel)
{
    force_kernel(kernel);
    lsuv_context *ctx = test_context();
    test_rng rng = {202};
    lsuv_conv2d_params shapes[] = {
        /* batch C H W K R S sh sw ph pw dh dw groups */
        CONV_GEOMETRY(3, 80, 16, 16, 80, 3, 3, 1, 1, 1, 1, 1, 1, 1),   /* fitnet4-like */
        CONV_GEOMETRY(2, 3, 33, 31, 65, 7, 7, 2, 2, 3, 3, 1, 1, 1),    /* stem */
        CONV_GEOMETRY(1, 130, 9, 11, 257, 1, 1, 1, 1, 0, 0, 1, 1, 1),  /* pointwise */
        CONV_GEOMETRY(5, 48, 12, 10, 48, 3, 3, 1, 1, 1, 1, 1, 1, 48),  /* depthwise */
        CONV_GEOMETRY(2, 64, 14, 14, 96, 3, 5, 2, 1, 2, 1, 2, 1, 4),   /* grouped, dilated */
        CONV_GEOMETRY(1, 17, 5, 40, 33, 1, 7, 1, 3, 0, 3, 1, 1, 1),    /* wide image, 1x7 */
        CONV_GEOMETRY(2, 132, 9, 11, 20, 1, 1, 1, 1, 0, 0, 1, 1, 1),   /* pointwise, whole texels */
        CONV_GEOMETRY(2, 8, 11, 12, 12, 5, 5, 1, 1, 2, 2, 1, 1, 1),    /* 25 taps: filters by floats */
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        run_conv(ctx, &rng, &shapes[i], 1);
    lsuv_context_destroy(ctx);
}

Test(conv2d, network_shapes_default_kernel) { conv_fixed(NULL); }
Test(conv2d, network_shapes_tiled_kernel) { conv_fixed("tiled"); }
Test(conv2d, network_shapes_subgroup_kernel) { conv_fixed("subgroup"); }
Test(conv2d, network_shapes_texel_kernel) { conv_fixed("texel"); }

Test(conv2d, output_size)
{
    lsuv_conv2d_params p = {.batch = 1, .in_channels = 4, .in_h = 7, .in_w = 10, .out_channels = 6,
                            .kernel_h = 3, .kernel_w = 2, .stride_h = 2, .stride_w = 3, .pad_h = 1,
                            .pad_w = 0, .dilation_h = 1, .dilation_w = 2, .groups = 2};
    cr_assert(lsuv_conv2d_output_size(&p));
    cr_expect_eq(p.out_h, 4); /* (7 + 2 - 2 - 1) / 2 + 1 */
    cr_expect_eq(p.out_w, 3); /* (10 - 2 - 1) / 3 + 1 */
    lsuv_conv2d_params q = p;
    q.kernel_h = 10; /* 7 + 2 - 9 - 1 < 0 */
    cr_expect_not(lsuv_conv2d_output_size(&q));
    cr_expect_eq(q.out_h, 0);
    q = p, q.stride_w = 0;
    cr_expect_not(lsuv_conv2d_output_size(&q));
    q = p, q.dilation_h = 0;
    cr_expect_not(lsuv_conv2d_output_size(&q));
    q = p, q.groups = 0;
    cr_expect_not(lsuv_conv2d_output_size(&q));
    q = p, q.groups = 3; /* 4 channels */
    cr_expect_not(lsuv_conv2d_output_size(&q));
    q = p, q.out_channels = 5; /* not divisible by 2 groups */
    cr_expect_not(lsuv_conv2d_output_size(&q));
    q = p, q.in_w = 0;
    cr_expect_not(lsuv_conv2d_output_size(&q));
    cr_expect_not(lsuv_conv2d_output_size(NULL));
}

Test(conv2d, invalid_geometry_is_refused)
{
    lsuv_context *ctx = test_context();
    lsuv_buffer buf = test_alloc_poisoned(ctx, 4096);
    lsuv_conv2d_params good = {.batch = 2, .in_channels = 4, .in_h = 5, .in_w = 5, .out_channels = 4,
                               .kernel_h = 3, .kernel_w = 3, .stride_h = 1, .stride_w = 1, .pad_h = 1,
                               .pad_w = 1, .dilation_h = 1, .dilation_w = 1, .groups = 2};
    cr_assert(lsuv_conv2d_output_size(&good));
    cr_expect_eq(lsuv_k_conv2d(ctx, &good, &buf, &buf, &buf, &buf), LSUV_OK, "%s",
                 lsuv_context_last_error(ctx));
    cr_assert_eq(lsuv_submit(ctx), LSUV_OK);
    lsuv_conv2d_params bad[8];
    for (int i = 0; i < 8; i++)
        bad[i] = good;
    bad[0].stride_h = 0;
    bad[1].dilation_w = 0;
    bad[2].groups = 0;
    bad[3].groups = 3;
    bad[4].kernel_h = 8; /* larger than the padded image */
    bad[5].batch = 0;
    bad[6].out_h = 7;    /* inconsistent with the geometry */
    bad[7].out_channels = 6, bad[7].in_channels = 6, bad[7].groups = 4;
    for (int i = 0; i < 8; i++) {
        lsuv_status st = lsuv_k_conv2d(ctx, &bad[i], &buf, &buf, &buf, &buf);
        cr_expect_eq(st, LSUV_ERROR_INVALID_ARGUMENT, "case %d: %s", i, lsuv_status_string(st));
        cr_expect(strstr(lsuv_context_last_error(ctx), "conv2d") != NULL, "%s", lsuv_context_last_error(ctx));
    }
    lsuv_buffer small = test_alloc_poisoned(ctx, 16);
    cr_expect_eq(lsuv_k_conv2d(ctx, &good, &buf, &buf, NULL, &small), LSUV_ERROR_INVALID_ARGUMENT,
                 "output of 200 floats in a 16-float buffer");
    cr_expect_eq(lsuv_k_conv2d(ctx, NULL, &buf, &buf, NULL, &buf), LSUV_ERROR_INVALID_ARGUMENT);
    lsuv_buffer_free(ctx, &small);
    lsuv_buffer_free(ctx, &buf);
    lsuv_context_destroy(ctx);
}

/* Input of 3 x 64 x 420 x 420 floats (135 MB); the last sample is checked in full. */
static void conv_big(const char *kernel)
{
    force_kernel(kernel);
    lsuv_context *ctx = test_context();
    test_rng rng = {303};
    lsuv_conv2d_params p = {.batch = 3, .in_channels = 64, .in_h = 420, .in_w = 420, .out_channels = 8,
                            .kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2, .pad_h = 1,
                            .pad_w = 1, .dilation_h = 1, .dilation_w = 1, .groups = 1};
    cr_assert(lsuv_conv2d_output_size(&p));
    size_t per = (size_t)p.in_channels * p.in_h * p.in_w, nx = per * p.batch, nw = 8 * 64 * 9;
    size_t oper = (size_t)p.out_channels * p.out_h * p.out_w, ny = oper * p.batch;
    float *x = random_floats(&rng, nx, 1.0), *w = random_floats(&rng, nw, 1.0);
    float *b = random_floats(&rng, 8, 1.0);
    lsuv_buffer bx = test_upload(ctx, x, nx), bw = test_upload(ctx, w, nw), bb = test_upload(ctx, b, 8);
    lsuv_buffer by = test_alloc_poisoned(ctx, ny);
    cr_assert(bx.size > (128u << 20));
    cr_assert_eq(lsuv_k_conv2d(ctx, &p, &bx, &bw, &bb, &by), LSUV_OK, "%s", lsuv_context_last_error(ctx));
    float *y = test_download(ctx, &by, ny);
    lsuv_conv2d_params one = p;
    one.batch = 1;
    double *dx = to_double(x + 2 * per, per), *dw = to_double(w, nw), *db = to_double(b, 8);
    double *want = malloc(oper * sizeof *want);
    ref_conv2d(&one, dx, dw, db, want);
    double err = test_rel_error(y + 2 * oper, want, oper);
    cr_expect_leq(err, TOL, "last sample: relative error %g", err);
    for (size_t i = 0; i < ny; i++)
        if (!isfinite(y[i]))
            cr_assert_fail("y[%zu] not written", i);
    free(x), free(w), free(b), free(y), free(dx), free(dw), free(db), free(want);
    lsuv_buffer_free(ctx, &bx);
    lsuv_buffer_free(ctx, &bw);
    lsuv_buffer_free(ctx, &bb);
    lsuv_buffer_free(ctx, &by);
    lsuv_context_destroy(ctx);
}

Test(conv2d, input_over_128_mib_default_kernel, .timeout = 120) { conv_big(NULL); }
Test(conv2d, input_over_128_mib_tiled_kernel, .timeout = 120) { conv_big("tiled"); }
Test(conv2d, input_over_128_mib_texel_kernel, .timeout = 120) { conv_big("texel"); }

/* Grids capped at 2 x 2 x 2 workgroups: the shaders loop over tiles, rows and groups. */
Test(conv2d, capped_grid_loops_over_tiles)
{
    setenv("LSUV_GEMM_MAX_GROUPS", "2", 1);
    static const char *kernels[] = {"tiled", "subgroup", "direct", "texel"};
    for (int k = 0; k < 4; k++) {
        force_kernel(kernels[k]);
        lsuv_context *ctx = test_context();
        test_rng rng = {404 + (uint64_t)k};
        lsuv_conv2d_params p = CONV_GEOMETRY(5, 12, 17, 19, 300, 3, 2, 1, 2, 1, 1, 1, 1, 3);
        run_conv(ctx, &rng, &p, 1);
        check_dense(ctx, &rng, 700, 19, 333, 1);
        lsuv_context_destroy(ctx);
    }
}

/* The texel kernel with views limited to a few thousand texels (as if maxTexelBufferElements
 * were that small): operands are split in chunks of data rows / images and of output
 * columns, each pack and GEMM a dispatch of its own, and the results are still right. A
 * problem whose single image does not fit a view goes to another kernel. */
Test(conv2d, texel_kernel_chunks_over_small_views)
{
    force_kernel("texel");
    lsuv_context *ctx = test_context();
    ctx->profiling = 1;
    test_rng rng = {505};
    /* span 8192 texels (and floats). Dense 50 x 301 -> 77 (K-contiguous rows) packs x
     * in 2 chunks of rows (27 + 23) and w in 4 of columns (24, 24, 24, 5); 8 GEMMs */
    ctx->tuning.texel_max = 16384;
    check_dense(ctx, &rng, 50, 301, 77, 1);
    if (last_dispatches >= 0)
        cr_expect_eq(last_dispatches, 2 + 4 + 8, "dense: %d dispatches", last_dispatches);
    /* dense 200 x 301 -> 250, chunked the same way: x in 8 chunks of rows (7 x 27 + 11), w
     * in 11 of columns (10 x 24 + 10); 88 GEMMs */
    check_dense(ctx, &rng, 200, 301, 250, 0);
    if (last_dispatches >= 0)
        cr_expect_eq(last_dispatches, 8 + 11 + 88, "dense, many rows: %d dispatches", last_dispatches);
    /* grouped conv: 3876 input floats per image -> images 2 at a time (3 chunks), the
     * grouped weights whole: 1 + 3 packs, 3 GEMMs */
    lsuv_conv2d_params g = CONV_GEOMETRY(5, 12, 17, 19, 300, 3, 2, 1, 2, 1, 1, 1, 1, 3);
    run_conv(ctx, &rng, &g, 1);
    if (last_dispatches >= 0)
        cr_expect_eq(last_dispatches, 1 + 3 + 3, "grouped conv: %d dispatches", last_dispatches);
    /* span 32768: 200 channels of 9 x 9 -> images 2 at a time (2 chunks); 1800 weights per
     * output channel -> 16 channels at a time (5 chunks); 10 GEMMs */
    ctx->tuning.texel_max = 65536;
    lsuv_conv2d_params c = CONV_GEOMETRY(3, 200, 9, 9, 70, 3, 3, 1, 1, 1, 1, 1, 1, 1);
    run_conv(ctx, &rng, &c, 1);
    if (last_dispatches >= 0)
        cr_expect_eq(last_dispatches, 5 + 2 + 10, "conv: %d dispatches", last_dispatches);
    /* span 512: one image does not fit; another kernel (one dispatch) does the work */
    ctx->tuning.texel_max = 1024;
    run_conv(ctx, &rng, &c, 0);
    if (last_dispatches >= 0)
        cr_expect_eq(last_dispatches, 1, "conv on tiny views: %d dispatches", last_dispatches);
    lsuv_context_destroy(ctx);
}
