/* test_fill.c - Gaussian fill: Philox known answers, reproducibility, slicing, accuracy
 * against the double reference, distribution (moments and Kolmogorov-Smirnov), and a
 * tensor larger than 128 MiB. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ref_philox.h"
#include "support.h"

static void fill(lsuv_context *ctx, const lsuv_buffer *b, uint64_t n, uint64_t seed, uint64_t offset)
{
    lsuv_status st = lsuv_k_fill_normal(ctx, b, n, seed, offset);
    cr_assert_eq(st, LSUV_OK, "fill: %s", lsuv_context_last_error(ctx));
}

/* Poisons, fills n values and downloads them. */
static float *fill_download(lsuv_context *ctx, size_t n, uint64_t seed, uint64_t offset)
{
    lsuv_buffer b = test_alloc_poisoned(ctx, n);
    fill(ctx, &b, n, seed, offset);
    float *y = test_download(ctx, &b, n);
    lsuv_buffer_free(ctx, &b);
    return y;
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* Random123 kat_vectors, philox4x32 10 rounds: validates the CPU reference itself. */
Test(fill, reference_philox_known_answers)
{
    static const uint32_t kat[3][10] = {
        {0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
        {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d, 0x41c83b0e,
         0xa20bc7c6, 0x6d5451fd},
        {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09, 0x94fdcceb,
         0x5001e420, 0x24126ea1},
    };
    for (int t = 0; t < 3; t++) {
        uint32_t out[4];
        ref_philox4x32_10(kat[t], kat[t] + 4, out);
        for (int j = 0; j < 4; j++)
            cr_assert_eq(out[j], kat[t][6 + j], "vector %d word %d: %08x", t, j, out[j]);
    }
    cr_assert_eq(ref_philox_uniform(0), 0x1.0p-24);
    cr_assert_eq(ref_philox_uniform(0xffffffffu), 1.0 - 0x1.0p-24);
}

Test(fill, same_seed_same_bits_other_seed_differs)
{
    lsuv_context *ctx = test_context();
    size_t n = 100003;
    float *a = fill_download(ctx, n, 42, 0), *b = fill_download(ctx, n, 42, 0);
    float *c = fill_download(ctx, n, 43, 0), *d = fill_download(ctx, n, 42ull | (1ull << 40), 0);
    cr_assert_eq(memcmp(a, b, n * sizeof *a), 0, "same seed gave different bits");
    size_t same_c = 0, same_d = 0;
    for (size_t i = 0; i < n; i++) {
        cr_assert(isfinite(a[i]), "a[%zu] = %g", i, a[i]);
        same_c += a[i] == c[i];
        same_d += a[i] == d[i];
    }
    cr_assert_lt(same_c, 10, "%zu equal values for seeds 42 and 43", same_c);
    cr_assert_lt(same_d, 10, "%zu equal values when only the seed's high word differs", same_d);
    free(a);
    free(b);
    free(c);
    free(d);
    lsuv_context_destroy(ctx);
}

/* [0,n) in one fill equals [0,k) then [k,n) with offset k, bit for bit. */
Test(fill, split_fill_is_bitwise_equal)
{
    lsuv_context *ctx = test_context();
    const size_t n = 100003, ks[] = {1, 2, 12345, 99999};
    float *whole = fill_download(ctx, n, 7, 0);
    for (size_t t = 0; t < sizeof ks / sizeof ks[0]; t++) {
        size_t k = ks[t];
        lsuv_buffer b = test_alloc_poisoned(ctx, n);
        lsuv_buffer head = lsuv_buffer_slice(&b, 0, k * 4), tail = lsuv_buffer_slice(&b, k * 4, (n - k) * 4);
        fill(ctx, &head, k, 7, 0);
        fill(ctx, &tail, n - k, 7, k);
        float *y = test_download(ctx, &b, n);
        for (size_t i = 0; i < n; i++)
            cr_assert_eq(memcmp(&y[i], &whole[i], 4), 0, "k=%zu: y[%zu] = %a, want %a", k, i, y[i], whole[i]);
        free(y);
        lsuv_buffer_free(ctx, &b);
    }
    free(whole);
    lsuv_context_destroy(ctx);
}

/* On CPU devices whole blocks of 4 are stored as texels (offset and n multiples of 4), in
 * chunks of a texel view (lowered here: many chunks); GPUs store float by float. Every
 * form gives the same bits. */
Test(fill, texel_form_chunked_and_device_address_form_agree)
{
    lsuv_context *ctx = test_context();
    cr_assert_eq(ctx->info.type, LSUV_DEVICE_CPU, "this test expects lavapipe");
    const size_t n = 4 * 25001;
    ctx->profiling = 1;
    uint64_t before = ctx->shader_dispatches[LSUV_SHADER_FILL_NORMAL];
    float *texel = fill_download(ctx, n, 11, 4 * 1001);
    ctx->tuning.texel_max = 4096; /* chunks of 2048 texels: 13 */
    float *chunked = fill_download(ctx, n, 11, 4 * 1001);
    uint64_t chunks = ctx->shader_dispatches[LSUV_SHADER_FILL_NORMAL] - before - 1;
    ctx->tuning.texel_max = 0;
    ctx->info.type = LSUV_DEVICE_DISCRETE_GPU; /* the GPU form, on lavapipe */
    float *plain = fill_download(ctx, n, 11, 4 * 1001);
    ctx->info.type = LSUV_DEVICE_CPU;
    cr_expect_eq(chunks, 13, "a lowered view should split the fill (%llu dispatches)", (unsigned long long)chunks);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(memcmp(&texel[i], &plain[i], 4), 0, "y[%zu]: texel %a, device address %a", i, texel[i], plain[i]);
        cr_assert_eq(memcmp(&chunked[i], &plain[i], 4), 0, "y[%zu]: chunked %a, device address %a", i, chunked[i],
                     plain[i]);
    }
    double *want = malloc(n * sizeof *want);
    ref_fill_normal(11, 4 * 1001, want, n);
    cr_expect_leq(test_max_abs_error(texel, want, n), 1e-5);
    free(texel), free(chunked), free(plain), free(want);
    lsuv_context_destroy(ctx);
}

static double max_error_vs_reference(lsuv_context *ctx, size_t n, uint64_t seed, uint64_t offset)
{
    float *y = fill_download(ctx, n, seed, offset);
    double *want = malloc(n * sizeof *want);
    cr_assert_not_null(want);
    ref_fill_normal(seed, offset, want, n);
    double err = test_max_abs_error(y, want, n);
    free(y);
    free(want);
    return err;
}

Test(fill, matches_double_reference)
{
    lsuv_context *ctx = test_context();
    double e0 = max_error_vs_reference(ctx, 1000003, 20240601, 0);
    /* Offset above 2^34: the block counter's high word is 3 and its low word carries
     * inside the fill; the seed uses both key words; odd start lane. */
    uint64_t off = (3ull << 34) - 1001;
    double e1 = max_error_vs_reference(ctx, 100003, 0x0123456789abcdefull, off);
    double e2 = max_error_vs_reference(ctx, 4099, 1, (1ull << 34) - 2);
    cr_log_info("fill vs double reference: max |error| %.3g (10^6+3 values), %.3g / %.3g (64-bit counter)",
                e0, e1, e2);
    cr_assert_leq(e0, 1e-6, "max |error| %g", e0);
    cr_assert_leq(e1, 1e-6, "max |error| %g at offset 3*2^34-1001", e1);
    cr_assert_leq(e2, 1e-6, "max |error| %g at offset 2^34-2", e2);
    lsuv_context_destroy(ctx);
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

Test(fill, distribution_is_standard_normal)
{
    lsuv_context *ctx = test_context();
    const size_t n = 1u << 22;
    float *y = fill_download(ctx, n, 2024, 0);
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        cr_assert(isfinite(y[i]), "y[%zu] = %g", i, y[i]);
        sum += y[i];
    }
    double mean = sum / n, m2 = 0;
    for (size_t i = 0; i < n; i++)
        m2 += (y[i] - mean) * (y[i] - mean);
    double var = m2 / n;
    qsort(y, n, sizeof *y, cmp_float);
    double ks = 0;
    for (size_t i = 0; i < n; i++) {
        double cdf = 0.5 * erfc(-(double)y[i] / M_SQRT2);
        double lo = cdf - (double)i / n, hi = (double)(i + 1) / n - cdf;
        if (lo > ks)
            ks = lo;
        if (hi > ks)
            ks = hi;
    }
    cr_log_info("n=2^22: mean %.3g, var-1 %.3g, KS %.3g (bound %.3g), min %g max %g", mean, var - 1, ks,
                1.63 / sqrt((double)n), y[0], y[n - 1]);
    cr_assert_lt(fabs(mean), 5 / sqrt((double)n), "mean %g", mean);
    cr_assert_lt(fabs(var - 1), 5 * sqrt(2.0 / n), "variance %g", var);
    cr_assert_lt(ks, 1.63 / sqrt((double)n), "KS distance %g", ks);
    free(y);
    lsuv_context_destroy(ctx);
}

/* Larger than lavapipe's 128 MiB maxStorageBufferRange: every value written, finite,
 * and the tail still matches the reference. */
Test(fill, larger_than_128_mib)
{
    lsuv_context *ctx = test_context();
    const size_t n = (1u << 25) + 12345;
    lsuv_buffer b = test_alloc_poisoned(ctx, n);
    cr_assert_eq(lsuv_submit(ctx), LSUV_OK);
    double t0 = seconds();
    fill(ctx, &b, n, 99, 5);
    cr_assert_eq(lsuv_submit(ctx), LSUV_OK, "%s", lsuv_context_last_error(ctx));
    double dt = seconds() - t0;
    cr_log_info("fill of %zu values: %.3f s, %.1f M values/s", n, dt, n / dt * 1e-6);
    float *y = test_download(ctx, &b, n);
    for (size_t i = 0; i < n; i++)
        cr_assert(isfinite(y[i]), "y[%zu] = %g (not written?)", i, y[i]);
    const size_t tail = 20000;
    double *want = malloc(tail * sizeof *want);
    ref_fill_normal(99, 5 + n - tail, want, tail);
    double err = test_max_abs_error(y + n - tail, want, tail);
    cr_assert_leq(err, 1e-6, "tail max |error| %g", err);
    test_rng rng = {123};
    for (int k = 0; k < 2000; k++) {
        size_t i = test_rng_u64(&rng) % n;
        double w = ref_philox_normal(99, 5 + i);
        cr_assert_leq(fabs(y[i] - w), 1e-6, "y[%zu] = %.9g, want %.9g", i, y[i], w);
    }
    free(want);
    free(y);
    lsuv_buffer_free(ctx, &b);
    lsuv_context_destroy(ctx);
}

Test(fill, bad_arguments_are_refused)
{
    lsuv_context *ctx = test_context();
    lsuv_buffer b = test_alloc_poisoned(ctx, 100);
    cr_assert_eq(lsuv_k_fill_normal(ctx, &b, 1000, 1, 0), LSUV_ERROR_INVALID_ARGUMENT);
    cr_assert(strstr(lsuv_context_last_error(ctx), "fill_normal") != NULL, "%s", lsuv_context_last_error(ctx));
    cr_assert_eq(lsuv_k_fill_normal(ctx, NULL, 10, 1, 0), LSUV_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(lsuv_k_fill_normal(ctx, &b, 10, 1, UINT64_MAX - 3), LSUV_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(lsuv_k_fill_normal(ctx, &b, 0, 1, 0), LSUV_OK); /* nothing to do */
    float *y = test_download(ctx, &b, 100);
    for (int i = 0; i < 100; i++)
        cr_assert(isnan(y[i]), "a refused fill wrote y[%d]", i);
    free(y);
    lsuv_buffer_free(ctx, &b);
    lsuv_context_destroy(ctx);
}
