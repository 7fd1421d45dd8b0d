/* test_orthonormalize.c - blocked MGS-twice on the device against double-precision
 * Householder QR (Gram-Schmidt in double for the huge shape): orthonormality, equality
 * with the Q of the QR with diag(R) > 0, rank deficiency, argument checks, timings.
 * Every kernel set runs on lavapipe: the CPU-device one with texel-GEMM projections by
 * default there, the same with its own projection kernels through LSUV_MGS_KERNEL=cpu and
 * the GPU one through LSUV_MGS_KERNEL=gpu (each Criterion test runs in its own process). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ref_qr.h"
#include "support.h"

#define ORTH_TOL 2e-5
#define REF_TOL 1e-4

/* Selects the kernel set ("cpu" or "gpu") for the calls that follow. */
static void use_kernels(const char *which)
{
    cr_assert_eq(setenv("LSUV_MGS_KERNEL", which, 1), 0);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Orthonormalizes a device copy of x; returns the result (free it) and the seconds the
 * recording plus the submission took. */
static float *run(lsuv_context *ctx, const float *x, uint32_t rows, uint32_t cols, double *seconds)
{
    size_t n = (size_t)rows * cols;
    lsuv_buffer b = test_upload(ctx, x, n);
    double t0 = now();
    lsuv_status st = lsuv_k_orthonormalize(ctx, &b, rows, cols);
    cr_assert_eq(st, LSUV_OK, "%u x %u: %s", rows, cols, lsuv_context_last_error(ctx));
    st = lsuv_submit(ctx);
    cr_assert_eq(st, LSUV_OK, "%u x %u: %s", rows, cols, lsuv_context_last_error(ctx));
    if (seconds)
        *seconds = now() - t0;
    float *y = test_download(ctx, &b, n);
    lsuv_buffer_free(ctx, &b);
    return y;
}

/* Creates every pipeline once so that timings measure the work only. */
static void warm_up(lsuv_context *ctx)
{
    test_rng r = {99};
    float x[40 * 20];
    test_fill_normal(&r, x, 40 * 20, 0, 1);
    free(run(ctx, x, 40, 20, NULL));
    free(run(ctx, x, 20, 40, NULL));
}

static void report(uint32_t rows, uint32_t cols, double seconds)
{
    double n = rows < cols ? rows : cols, m = rows < cols ? cols : rows;
    double flops = 4.0 * n * n * m;
    fprintf(stderr, "orthonormalize %5u x %-7u %8.3f s  %7.2f GFLOP/s\n", rows, cols, seconds,
            flops / seconds * 1e-9);
}

static void assert_finite(const float *q, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++)
        cr_assert(isfinite(q[i]), "%s: element %zu is %g", what, i, q[i]);
}

/* The vectors of a rows x cols result in double, one after the other (rows, or columns
 * when rows > cols); *vn / *vm: how many and how long. */
static double *vectors(const float *q, size_t rows, size_t cols, size_t *vn, size_t *vm)
{
    int columns = rows > cols;
    *vn = columns ? cols : rows;
    *vm = columns ? rows : cols;
    double *w = malloc(rows * cols * sizeof *w);
    cr_assert_not_null(w);
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++)
            w[columns ? c * rows + r : r * cols + c] = q[r * cols + c];
    return w;
}

/* max |Q Q^T - I| (Q^T Q when tall), in double. Vectors listed in `zero` (count nz) must
 * be exactly zero instead of unit; they are skipped in the products. */
static double orth_error_skip(const float *q, size_t rows, size_t cols, const size_t *zero, int nz)
{
    size_t n, m;
    double *w = vectors(q, rows, cols, &n, &m);
    char *skip = calloc(n, 1);
    for (int z = 0; z < nz; z++) {
        skip[zero[z]] = 1;
        for (size_t k = 0; k < m; k++)
            cr_assert_eq(w[zero[z] * m + k], 0.0, "vector %zu should be zero", zero[z]);
    }
    double worst = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i; j < n && !skip[i]; j++) {
            if (skip[j])
                continue;
            double e = fabs(ref_dot(w + i * m, w + j * m, m) - (i == j ? 1.0 : 0.0));
            if (e > worst)
                worst = e;
        }
    free(skip);
    free(w);
    return worst;
}

static double orth_error(const float *q, size_t rows, size_t cols)
{
    return orth_error_skip(q, rows, cols, NULL, 0);
}

/* The double reference for the same float input. */
static double *reference(const float *x, size_t rows, size_t cols, int gram_schmidt)
{
    size_t n = rows * cols;
    double *a = malloc(n * sizeof *a), *q = malloc(n * sizeof *q);
    cr_assert(a && q);
    for (size_t i = 0; i < n; i++)
        a[i] = x[i];
    cr_assert_eq(ref_orthonormalize(a, rows, cols, q, gram_schmidt), 0);
    free(a);
    return q;
}

/* Runs one Gaussian rows x cols case and checks orthonormality and (when with_ref) the
 * reference. */
static void check_shape(lsuv_context *ctx, uint32_t rows, uint32_t cols, uint64_t seed, int with_ref)
{
    size_t n = (size_t)rows * cols;
    test_rng r = {seed};
    float *x = malloc(n * sizeof *x);
    test_fill_normal(&r, x, n, 0, 1);
    double seconds;
    float *q = run(ctx, x, rows, cols, &seconds);
    report(rows, cols, seconds);
    char what[64];
    snprintf(what, sizeof what, "%u x %u", rows, cols);
    assert_finite(q, n, what);
    double oe = orth_error(q, rows, cols);
    cr_assert(oe <= ORTH_TOL, "%s: max |QQ^T - I| = %.3g", what, oe);
    if (with_ref) {
        double *want = reference(x, rows, cols, 0);
        double re = test_max_abs_error(q, want, n);
        fprintf(stderr, "  %s: orthogonality %.2e, max |Q - Q_ref| %.2e\n", what, oe, re);
        cr_assert(re <= REF_TOL, "%s: max |Q - Q_householder| = %.3g", what, re);
        free(want);
    } else {
        fprintf(stderr, "  %s: orthogonality %.2e\n", what, oe);
    }
    free(q);
    free(x);
}

Test(orthonormalize, one_by_one_takes_the_sign_of_qr)
{
    lsuv_context *ctx = test_context();
    /* Q R = a with R > 0: q = a / |a| */
    const float in[] = {-2.5f, 3.0f, -0.125f, 1e5f};
    const float want[] = {-1.0f, 1.0f, -1.0f, 1.0f};
    for (int i = 0; i < 4; i++) {
        float *q = run(ctx, &in[i], 1, 1, NULL);
        cr_assert(fabsf(q[0] - want[i]) <= 1e-6f, "1x1 %g -> %g, want %g", in[i], q[0], want[i]);
        free(q);
    }
    lsuv_context_destroy(ctx);
}

Test(orthonormalize, small_and_odd_shapes_match_householder)
{
    lsuv_context *ctx = test_context();
    warm_up(ctx);
    check_shape(ctx, 3, 7, 1, 1);
    check_shape(ctx, 7, 3, 2, 1);
    check_shape(ctx, 64, 576, 3, 1);
    check_shape(ctx, 45, 1001, 4, 1);   /* a partial last panel */
    check_shape(ctx, 1001, 45, 5, 1);
    check_shape(ctx, 17, 17, 6, 1);
    lsuv_context_destroy(ctx);
}

/* Rows of 20001 run the in-panel pass over chunks in several workgroups. */
Test(orthonormalize, long_rows_chunked_panels_match_householder)
{
    lsuv_context *ctx = test_context();
    warm_up(ctx);
    check_shape(ctx, 20, 20001, 7, 1);
    check_shape(ctx, 20001, 19, 8, 1);
    lsuv_context_destroy(ctx);
}

/* The conv-weight shape both ways: the tall case is the transpose of the wide one, so its
 * answer is the transpose of the same reference. */
Test(orthonormalize, conv_512x4608_and_its_transpose)
{
    lsuv_context *ctx = test_context();
    warm_up(ctx);
    const uint32_t rows = 512, cols = 4608;
    size_t n = (size_t)rows * cols;
    test_rng r = {11};
    float *x = malloc(n * sizeof *x), *xt = malloc(n * sizeof *xt);
    test_fill_normal(&r, x, n, 0, 1);
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++)
            xt[j * rows + i] = x[i * cols + j];
    double *want = reference(x, rows, cols, 0), *want_t = malloc(n * sizeof *want_t);
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++)
            want_t[j * rows + i] = want[i * cols + j];

    double seconds;
    float *q = run(ctx, x, rows, cols, &seconds);
    report(rows, cols, seconds);
    assert_finite(q, n, "512 x 4608");
    double oe = orth_error(q, rows, cols), re = test_max_abs_error(q, want, n);
    fprintf(stderr, "  512 x 4608: orthogonality %.2e, max |Q - Q_ref| %.2e\n", oe, re);
    cr_assert(oe <= ORTH_TOL, "512 x 4608: max |QQ^T - I| = %.3g", oe);
    cr_assert(re <= REF_TOL, "512 x 4608: max |Q - Q_householder| = %.3g", re);
    free(q);

    q = run(ctx, xt, cols, rows, &seconds);
    report(cols, rows, seconds);
    assert_finite(q, n, "4608 x 512");
    oe = orth_error(q, cols, rows);
    re = test_max_abs_error(q, want_t, n);
    fprintf(stderr, "  4608 x 512: orthogonality %.2e, max |Q - Q_ref| %.2e\n", oe, re);
    cr_assert(oe <= ORTH_TOL, "4608 x 512: max |Q^TQ - I| = %.3g", oe);
    cr_assert(re <= REF_TOL, "4608 x 512: max |Q - Q_householder| = %.3g", re);
    free(q);
    free(x);
    free(xt);
    free(want);
    free(want_t);
    lsuv_context_destroy(ctx);
}

/* A square Gaussian matrix is too ill-conditioned to compare Q elementwise. */
Test(orthonormalize, square_1024_is_orthogonal)
{
    lsuv_context *ctx = test_context();
    warm_up(ctx);
    check_shape(ctx, 1024, 1024, 12, 0);
    lsuv_context_destroy(ctx);
}

/* 8 x 4500001 floats = 144 MB, over lavapipe's 128 MiB maxStorageBufferRange. */
Test(orthonormalize, over_128_mib_matches_double_gram_schmidt)
{
    lsuv_context *ctx = test_context();
    warm_up(ctx);
    const uint32_t rows = 8, cols = 4500001;
    size_t n = (size_t)rows * cols;
    test_rng r = {13};
    float *x = malloc(n * sizeof *x);
    cr_assert_not_null(x);
    test_fill_normal(&r, x, n, 0, 1);
    double seconds;
    float *q = run(ctx, x, rows, cols, &seconds);
    report(rows, cols, seconds);
    assert_finite(q, n, "8 x 4500001");
    double oe = orth_error(q, rows, cols);
    double *want = reference(x, rows, cols, 1);
    double re = test_max_abs_error(q, want, n);
    fprintf(stderr, "  8 x 4500001: orthogonality %.2e, max |Q - Q_ref| %.2e\n", oe, re);
    cr_assert(oe <= ORTH_TOL, "max |QQ^T - I| = %.3g", oe);
    cr_assert(re <= REF_TOL, "max |Q - Q_gram_schmidt| = %.3g", re);
    free(want);
    free(q);
    free(x);
    lsuv_context_destroy(ctx);
}

/* Shapes that reach every form of the CPU kernel set's in-panel pass at subgroup size 8
 * (rows held by 8, 16, 24 or 32 subgroups of 1, 2, 4 or 6 vec4 per invocation, or swept
 * through memory) and partial last panels, both ways round. */
static void every_panel_form(const char *which)
{
    use_kernels(which);
    lsuv_context *ctx = test_context();
    warm_up(ctx);
    check_shape(ctx, 5, 13, 21, 1);
    check_shape(ctx, 31, 33, 22, 1);
    check_shape(ctx, 100, 300, 23, 1);
    check_shape(ctx, 96, 1152, 24, 1);
    check_shape(ctx, 1152, 96, 25, 1);
    check_shape(ctx, 128, 1152, 26, 1);
    check_shape(ctx, 40, 2000, 27, 1);
    check_shape(ctx, 33, 3001, 28, 1);
    check_shape(ctx, 36, 6000, 29, 1);
    check_shape(ctx, 3, 7001, 30, 1);
    lsuv_context_destroy(ctx);
}

/* The CPU kernel set with its own projection kernels (mgs_coeffs_sg, mgs_project_sg)... */
Test(orthonormalize, odd_shapes_every_panel_form_match_householder)
{
    every_panel_form("cpu");
}

/* ... and with the projections as texel GEMMs (the default on CPU devices). */
Test(orthonormalize, odd_shapes_every_panel_form_texel_products)
{
    every_panel_form("texel");
}

/* A matrix over one texel view (the tests' lower limit): the texel products cannot take
 * it, and the CPU kernels' own projections do the work. */
Test(orthonormalize, over_one_texel_view_falls_back)
{
    use_kernels("texel");
    lsuv_context *ctx = test_context();
    warm_up(ctx);
    ctx->tuning.texel_max = 4096; /* views of 4096 texels: operands up to 2048 */
    ctx->profiling = 1;           /* counts the dispatches of each kernel */
    struct { uint32_t rows, cols; int texel; } cases[] = {{100, 300, 0}, /* 100 x 304 floats: 7600 texels */
                                                          {40, 100, 1}}; /* 40 x 112: 1120, one view */
    for (int i = 0; i < 2; i++) {
        uint64_t tx = ctx->shader_dispatches[LSUV_SHADER_GEMM_TX];
        uint64_t own = ctx->shader_dispatches[LSUV_SHADER_MGS_COEFFS_SG];
        check_shape(ctx, cases[i].rows, cases[i].cols, 38 + i, 1);
        int texel = ctx->shader_dispatches[LSUV_SHADER_GEMM_TX] > tx;
        int fallback = ctx->shader_dispatches[LSUV_SHADER_MGS_COEFFS_SG] > own;
        cr_assert(texel == cases[i].texel && fallback == !cases[i].texel,
                  "%u x %u: texel products %d, own projections %d", cases[i].rows, cases[i].cols, texel,
                  fallback);
    }
    lsuv_context_destroy(ctx);
}

/* The GPU kernel set (16-row panels, shared-memory tiles, chunked in-panel pass for long
 * rows), run on this device. */
Test(orthonormalize, gpu_kernel_set_matches_householder)
{
    use_kernels("gpu");
    lsuv_context *ctx = test_context();
    warm_up(ctx);
    check_shape(ctx, 3, 7, 31, 1);
    check_shape(ctx, 7, 3, 32, 1);
    check_shape(ctx, 17, 17, 33, 1);
    check_shape(ctx, 45, 1001, 34, 1);
    check_shape(ctx, 1001, 45, 35, 1);
    check_shape(ctx, 96, 1152, 36, 1);
    check_shape(ctx, 20, 20001, 37, 1);
    lsuv_context_destroy(ctx);
}

/* A matrix that starts 4 bytes into its buffer (the CPU kernels then work on an aligned
 * copy) between two guard values, which must not change. */
static void misaligned(const char *which, uint32_t rows, uint32_t cols)
{
    use_kernels(which);
    lsuv_context *ctx = test_context();
    size_t n = (size_t)rows * cols;
    test_rng r = {41};
    float *x = malloc((n + 2) * sizeof *x);
    cr_assert_not_null(x);
    test_fill_normal(&r, x + 1, n, 0, 1);
    x[0] = 1234.5f;
    x[n + 1] = -678.25f;
    lsuv_buffer whole = test_upload(ctx, x, n + 2);
    lsuv_buffer b = lsuv_buffer_slice(&whole, 4, n * 4);
    cr_assert_eq(lsuv_k_orthonormalize(ctx, &b, rows, cols), LSUV_OK, "%s", lsuv_context_last_error(ctx));
    float *y = test_download(ctx, &whole, n + 2);
    cr_assert_eq(y[0], 1234.5f, "%s kernels: the float before the matrix changed to %g", which, y[0]);
    cr_assert_eq(y[n + 1], -678.25f, "%s kernels: the float after the matrix changed to %g", which, y[n + 1]);
    assert_finite(y + 1, n, "misaligned");
    double *want = reference(x + 1, rows, cols, 0);
    double oe = orth_error(y + 1, rows, cols), re = test_max_abs_error(y + 1, want, n);
    fprintf(stderr, "  %s kernels, misaligned %u x %u: orthogonality %.2e, max |Q - Q_ref| %.2e\n", which,
            rows, cols, oe, re);
    cr_assert(oe <= ORTH_TOL, "misaligned %u x %u: max |QQ^T - I| = %.3g", rows, cols, oe);
    cr_assert(re <= REF_TOL, "misaligned %u x %u: max |Q - Q_householder| = %.3g", rows, cols, re);
    free(want);
    free(y);
    free(x);
    lsuv_buffer_free(ctx, &whole);
    lsuv_context_destroy(ctx);
}

Test(orthonormalize, misaligned_matrix_leaves_its_neighbours)
{
    misaligned("cpu", 40, 64);
    misaligned("cpu", 70, 45);
    misaligned("texel", 40, 64);
    misaligned("texel", 70, 45);
}

Test(orthonormalize, misaligned_matrix_leaves_its_neighbours_gpu_kernels)
{
    misaligned("gpu", 40, 64);
    misaligned("gpu", 70, 45);
}

/* Gaussian rows with copies (inside a panel and across panels) and a zero row: the output
 * is finite, the rows before the first copy are those of the reference, the zero row
 * stays zero and the copies become unit rows orthogonal to all others. */
static void rank_deficient(const char *which)
{
    use_kernels(which);
    lsuv_context *ctx = test_context();
    const uint32_t rows = 37, cols = 101;
    size_t n = (size_t)rows * cols;
    test_rng r = {14};
    float *x = malloc(n * sizeof *x);
    test_fill_normal(&r, x, n, 0, 1);
    memcpy(x + 3 * cols, x + 1 * cols, cols * sizeof *x);   /* same panel */
    memcpy(x + 20 * cols, x + 5 * cols, cols * sizeof *x);  /* across panels */
    memset(x + 30 * cols, 0, cols * sizeof *x);             /* nothing at all */
    for (int mode = 0; mode < 2; mode++) { /* rows, then the transpose (columns) */
        float *in = x;
        uint32_t rr = rows, cc = cols;
        if (mode) {
            in = malloc(n * sizeof *in);
            for (size_t i = 0; i < rows; i++)
                for (size_t j = 0; j < cols; j++)
                    in[j * rows + i] = x[i * cols + j];
            rr = cols;
            cc = rows;
        }
        float *q = run(ctx, in, rr, cc, NULL);
        assert_finite(q, n, mode ? "101 x 37" : "37 x 101");
        const size_t zero[] = {30};
        double oe = orth_error_skip(q, rr, cc, zero, 1);
        fprintf(stderr, "  %s kernels, rank-deficient %u x %u: orthogonality %.2e\n", which, rr, cc, oe);
        cr_assert(oe <= ORTH_TOL, "rank-deficient: max |QQ^T - I| = %.3g", oe);
        /* the first three rows do not depend on what follows */
        double *want = reference(x, 3, cols, 0);
        size_t vn, vm;
        double *got = vectors(q, rr, cc, &vn, &vm);
        double worst = 0;
        for (size_t i = 0; i < 3 * (size_t)cols; i++)
            worst = fmax(worst, fabs(got[i] - want[i]));
        cr_assert(worst <= REF_TOL, "rank-deficient: leading rows differ by %.3g", worst);
        free(got);
        free(want);
        free(q);
        if (mode)
            free(in);
    }
    free(x);

    /* exact dependence: the second row's remainder is exactly zero, so it stays zero */
    float e[3 * 4] = {1, 1, 1, 1, 2, 2, 2, 2, 1, -1, 0, 0};
    float *q = run(ctx, e, 3, 4, NULL);
    const float want[3 * 4] = {0.5f, 0.5f, 0.5f, 0.5f, 0, 0, 0, 0, 0.70710678f, -0.70710678f, 0, 0};
    for (int i = 0; i < 12; i++)
        cr_assert(fabsf(q[i] - want[i]) <= 1e-6f, "exact dependence: q[%d] = %g, want %g", i, q[i], want[i]);
    free(q);
    lsuv_context_destroy(ctx);
}

Test(orthonormalize, rank_deficient_rows_stay_finite)
{
    rank_deficient("cpu");
}

Test(orthonormalize, rank_deficient_rows_stay_finite_texel_products)
{
    rank_deficient("texel");
}

Test(orthonormalize, rank_deficient_rows_stay_finite_gpu_kernels)
{
    rank_deficient("gpu");
}

/* ---- Haar matrices from Gaussian ones (lsuv_k_orthogonal_from_gaussian, CPU devices) */

/* Stewart's construction in double: reflector k from the tail of Gaussian row k of
 * g (n x m), applied from the last to [I; 0] D; returns Q^T (n x m). */
static double *ref_haar(const double *g, size_t n, size_t m)
{
    double *qt = calloc(n * m, sizeof *qt), *v = malloc(m * sizeof *v), *tau = malloc(n * sizeof *tau);
    cr_assert(qt && v && tau);
    for (size_t k = 0; k < n; k++) {
        double nrm = 0, x0 = g[k * m + k];
        for (size_t j = k; j < m; j++)
            nrm += g[k * m + j] * g[k * m + j];
        nrm = sqrt(nrm);
        double s = x0 >= 0 ? 1 : -1;
        qt[k * m + k] = -s;
    }
    for (size_t k = n; k-- > 0;) {
        double nrm = 0, x0 = g[k * m + k], vv = 0;
        for (size_t j = k; j < m; j++)
            nrm += g[k * m + j] * g[k * m + j];
        nrm = sqrt(nrm);
        double s = x0 >= 0 ? 1 : -1;
        for (size_t j = k; j < m; j++)
            v[j] = g[k * m + j] + (j == k ? s * nrm : 0);
        for (size_t j = k; j < m; j++)
            vv += v[j] * v[j];
        double t = vv > 0 ? 2 / vv : 0;
        for (size_t i = 0; i < n; i++) { /* row i of Q^T times H_k (symmetric) */
            double w = 0;
            for (size_t j = k; j < m; j++)
                w += qt[i * m + j] * v[j];
            for (size_t j = k; j < m; j++)
                qt[i * m + j] -= t * w * v[j];
        }
    }
    free(v);
    free(tau);
    return qt;
}

static void check_haar_as(lsuv_context *ctx, uint32_t rows, uint32_t cols, uint64_t seed, lsuv_ortho_method method)
{
    size_t count = (size_t)rows * cols, n = rows < cols ? rows : cols, m = rows < cols ? cols : rows;
    test_rng r = {seed};
    float *x = malloc(count * sizeof *x);
    test_fill_normal(&r, x, count, 0, 1);
    lsuv_buffer b = test_upload(ctx, x, count);
    cr_assert(lsuv_k_haar_supported(ctx, rows, cols), "%u x %u", rows, cols);
    cr_assert_eq(lsuv_k_orthogonal_from_gaussian_as(ctx, &b, rows, cols, method), LSUV_OK, "%s",
                 lsuv_context_last_error(ctx));
    float *q = test_download(ctx, &b, count);
    assert_finite(q, count, "haar");
    /* the Gaussian rows as the kernel reads them (columns when rows > cols) */
    double *g = malloc(count * sizeof *g);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < m; j++)
            g[i * m + j] = rows <= cols ? x[i * cols + j] : x[j * cols + i];
    /* CholeskyQR gives the Q of a's QR (diag(R) > 0); the Householder construction makes
     * its reflectors from a's rows as they are (Stewart), another Q of the same law */
    int cholqr = method == LSUV_ORTHO_CHOLQR ||
                 (method == LSUV_ORTHO_AUTO && lsuv_k_cholesky_qr_suits(ctx, (uint32_t)n, (uint32_t)m));
    double *want, worst = 0;
    if (cholqr) {
        want = malloc(count * sizeof *want);
        cr_assert(want && ref_orthonormalize(g, n, m, want, 0) == 0);
    } else {
        want = ref_haar(g, n, m);
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < m; j++) {
            double got = rows <= cols ? q[i * cols + j] : q[j * cols + i];
            worst = fmax(worst, fabs(got - want[i * m + j]));
        }
    double oe = orth_error(q, rows, cols);
        fprintf(stderr, "  haar %u x %u (%s): orthogonality %.2e, max |Q - Q_ref| %.2e\n", rows, cols,
            cholqr ? "CholeskyQR" : "Householder", oe, worst);
    cr_assert(oe <= ORTH_TOL, "haar %u x %u: max |QQ^T - I| = %.3g", rows, cols, oe);
    cr_assert(worst <= REF_TOL, "haar %u x %u: max |Q - Q_ref| = %.3g", rows, cols, worst);
    free(x), free(q), free(g), free(want);
    lsuv_buffer_free(ctx, &b);
}

static void check_haar(lsuv_context *ctx, uint32_t rows, uint32_t cols, uint64_t seed)
{
    check_haar_as(ctx, rows, cols, seed, LSUV_ORTHO_AUTO);
}

/* Odd shapes both ways: blocks of 64 reflectors in superblocks of up to 256 with partial
 * ones (n % 64, n % 4 != 0), fewer rows than a block, square, tall (transposed through
 * scratch); the long ones (m >= 4n) go to CholeskyQR. */
Test(orthonormalize, haar_from_gaussian_matches_double_reflectors)
{
    lsuv_context *ctx = test_context();
    static const uint32_t shapes[][2] = {{1, 1}, {3, 7}, {7, 3}, {17, 17}, {33, 100}, {100, 33},
                                         {64, 576}, {45, 1001}, {130, 131}, {96, 1152}, {200, 203},
                                         {300, 301}, {530, 520}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        check_haar(ctx, shapes[i][0], shapes[i][1], 60 + i);
    lsuv_context_destroy(ctx);
}

/* Long matrices (m >= 4n) both ways, CholeskyQR and the Householder construction forced,
 * each against its double reference: one block of 64 and less, several with a partial
 * one, the ratio at its bound, transposed. */
Test(orthonormalize, haar_long_matrices_both_constructions)
{
    lsuv_context *ctx = test_context();
    static const uint32_t shapes[][2] = {{1, 7}, {3, 13}, {64, 576}, {45, 1001}, {130, 600}, {200, 800}, {1001, 45},
                                         {96, 1152}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        check_haar_as(ctx, shapes[i][0], shapes[i][1], 80 + i, LSUV_ORTHO_CHOLQR);
        check_haar_as(ctx, shapes[i][0], shapes[i][1], 80 + i, LSUV_ORTHO_HOUSEHOLDER);
    }
    /* not long enough for one pass of CholeskyQR: refused, and said why */
    lsuv_buffer b = test_alloc_poisoned(ctx, 64 * 255);
    cr_assert_eq(lsuv_k_orthogonal_from_gaussian_as(ctx, &b, 64, 255, LSUV_ORTHO_CHOLQR), LSUV_ERROR_UNSUPPORTED);
    cr_assert(strstr(lsuv_context_last_error(ctx), "CholeskyQR"), "%s", lsuv_context_last_error(ctx));
    lsuv_buffer_free(ctx, &b);
    lsuv_context_destroy(ctx);
}

/* LSUV_MGS_KERNEL=gpu|cpu turn it off (the pre-init then orthonormalizes by MGS), and
 * a call then says why. */
Test(orthonormalize, haar_off_with_a_forced_kernel_set)
{
    use_kernels("gpu");
    lsuv_context *ctx = test_context();
    cr_assert(!lsuv_k_haar_supported(ctx, 8, 8));
    lsuv_buffer b = test_alloc_poisoned(ctx, 64);
    cr_assert_eq(lsuv_k_orthogonal_from_gaussian(ctx, &b, 8, 8), LSUV_ERROR_UNSUPPORTED);
    cr_assert(strstr(lsuv_context_last_error(ctx), "texel"), "%s", lsuv_context_last_error(ctx));
    lsuv_buffer_free(ctx, &b);
    lsuv_context_destroy(ctx);
}

/* A buffer smaller than the matrix, or none, is refused before anything is recorded. */
Test(orthonormalize, haar_rejects_bad_arguments)
{
    lsuv_context *ctx = test_context();
    lsuv_buffer b = test_alloc_poisoned(ctx, 63);
    cr_assert_eq(lsuv_k_orthogonal_from_gaussian(ctx, &b, 8, 8), LSUV_ERROR_INVALID_ARGUMENT);
    cr_assert(strstr(lsuv_context_last_error(ctx), "8 x 8"), "%s", lsuv_context_last_error(ctx));
    cr_assert_eq(lsuv_k_orthogonal_from_gaussian(ctx, NULL, 8, 8), LSUV_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(lsuv_k_orthogonal_from_gaussian(ctx, &b, 0, 8), LSUV_ERROR_INVALID_ARGUMENT);
    lsuv_buffer_free(ctx, &b);
    lsuv_context_destroy(ctx);
}

Test(orthonormalize, rejects_bad_arguments)
{
    lsuv_context *ctx = test_context();
    lsuv_buffer b = test_alloc_poisoned(ctx, 100), none = {0};
    cr_assert_eq(lsuv_k_orthonormalize(ctx, &b, 0, 10), LSUV_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(lsuv_k_orthonormalize(ctx, &b, 10, 0), LSUV_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(lsuv_k_orthonormalize(ctx, &none, 2, 2), LSUV_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(lsuv_k_orthonormalize(ctx, NULL, 2, 2), LSUV_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(lsuv_k_orthonormalize(ctx, &b, 11, 10), LSUV_ERROR_INVALID_ARGUMENT);
    cr_assert(strstr(lsuv_context_last_error(ctx), "bytes") != NULL, "%s", lsuv_context_last_error(ctx));
    cr_assert_eq(lsuv_k_orthonormalize(ctx, &b, 65536, 65537), LSUV_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(lsuv_submit(ctx), LSUV_OK);
    lsuv_buffer_free(ctx, &b);
    lsuv_context_destroy(ctx);
}
