/* test_moments.c - mean and variance (whole tensor and per NCHW channel) against a
 * two-pass double reference: odd sizes, large means with tiny spreads, constant data,
 * dense (strided) layouts, the shared-memory fallback, and a 512 MiB tensor. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "support.h"

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* Two-pass moments in double of channel c of x (batch, channels, spatial). */
static void ref_moments(const float *x, uint32_t batch, uint32_t channels, uint64_t spatial, uint32_t c,
                        double *mean, double *var)
{
    double sum = 0, m2 = 0;
    uint64_t count = (uint64_t)batch * spatial;
    for (uint32_t n = 0; n < batch; n++)
        for (uint64_t s = 0; s < spatial; s++)
            sum += x[((uint64_t)n * channels + c) * spatial + s];
    *mean = sum / count;
    for (uint32_t n = 0; n < batch; n++)
        for (uint64_t s = 0; s < spatial; s++) {
            double d = x[((uint64_t)n * channels + c) * spatial + s] - *mean;
            m2 += d * d;
        }
    *var = m2 / count;
}

typedef struct errors {
    double mean, var; /* largest relative errors seen */
} errors;

/* Checks one channel's result; returns through e the errors. Honest tolerances:
 * variance relative 1e-5, mean relative 1e-6 (relative to the spread when the mean is
 * near zero); zero variance must come out exactly (or 1e-12 relative to mean^2). */
static void check_channel(const char *what, uint32_t c, double got_mean, double got_var, double mean,
                          double var, errors *e)
{
    cr_assert(isfinite(got_mean) && isfinite(got_var), "%s channel %u: mean %g var %g (not written?)", what, c,
              got_mean, got_var);
    double scale = fmax(fabs(mean), sqrt(var));
    double em = scale > 0 ? fabs(got_mean - mean) / scale : fabs(got_mean);
    cr_assert_leq(em, 1e-6, "%s channel %u: mean %.9g, want %.12g (rel %.3g)", what, c, got_mean, mean, em);
    if (var == 0) {
        cr_assert_leq(fabs(got_var), 1e-12 * mean * mean, "%s channel %u: variance %g, want 0", what, c,
                      got_var);
    } else {
        double ev = fabs(got_var - var) / var;
        cr_assert_leq(ev, 1e-5, "%s channel %u: variance %.9g, want %.12g (rel %.3g)", what, c, got_var, var,
                      ev);
        if (ev > e->var)
            e->var = ev;
    }
    if (em > e->mean)
        e->mean = em;
}

/* Runs the kernel on host data x; via lsuv_moments_now when now != 0. */
static errors run_case_at(lsuv_context *ctx, const float *x, uint32_t batch, uint32_t channels,
                          uint64_t spatial, int now, size_t shift, const char *what)
{
    size_t count = (size_t)batch * channels * spatial;
    /* shift floats in: a tensor that does not start on a 16-byte boundary */
    lsuv_buffer whole = test_alloc_poisoned(ctx, count + shift);
    lsuv_buffer bx = lsuv_buffer_slice(&whole, shift * sizeof *x, count * sizeof *x);
    cr_assert_eq(lsuv_buffer_upload(ctx, &bx, 0, x, count * sizeof *x), LSUV_OK);
    float *got = NULL;
    double *gm = malloc(channels * sizeof *gm), *gv = malloc(channels * sizeof *gv);
    if (now) {
        for (uint32_t c = 0; c < channels; c++)
            gm[c] = gv[c] = NAN;
        /* moments_now returns through scratch memory: poison all of it first. */
        for (int i = 0; i < ctx->scratch_count; i++)
            cr_assert_eq(lsuv_buffer_fill(ctx, &ctx->scratch[i], 0x7fc00000u), LSUV_OK);
        lsuv_status st = lsuv_moments_now(ctx, &bx, batch, channels, spatial, gm, gv);
        cr_assert_eq(st, LSUV_OK, "%s: %s", what, lsuv_context_last_error(ctx));
    } else {
        lsuv_buffer out = test_alloc_poisoned(ctx, 2 * (size_t)channels);
        lsuv_status st = lsuv_k_moments(ctx, &bx, batch, channels, spatial, &out);
        cr_assert_eq(st, LSUV_OK, "%s: %s", what, lsuv_context_last_error(ctx));
        got = test_download(ctx, &out, 2 * (size_t)channels);
        for (uint32_t c = 0; c < channels; c++) {
            gm[c] = got[2 * c];
            gv[c] = got[2 * c + 1];
        }
        lsuv_buffer_free(ctx, &out);
    }
    errors e = {0, 0};
    for (uint32_t c = 0; c < channels; c++) {
        double mean, var;
        ref_moments(x, batch, channels, spatial, c, &mean, &var);
        check_channel(what, c, gm[c], gv[c], mean, var, &e);
    }
    free(got);
    free(gm);
    free(gv);
    lsuv_buffer_free(ctx, &whole);
    return e;
}

static errors run_case(lsuv_context *ctx, const float *x, uint32_t batch, uint32_t channels, uint64_t spatial,
                       int now, const char *what)
{
    return run_case_at(ctx, x, batch, channels, spatial, now, 0, what);
}

/* Per-channel data: channel c ~ N(mean_c, std_c) with spreads of a few scales. */
static float *channel_data(test_rng *r, uint32_t batch, uint32_t channels, uint64_t spatial, double mean,
                           double std)
{
    size_t count = (size_t)batch * channels * spatial;
    float *x = malloc(count * sizeof *x + 4);
    cr_assert_not_null(x);
    for (uint32_t n = 0; n < batch; n++)
        for (uint32_t c = 0; c < channels; c++) {
            double m = mean * (1 + 0.1 * (c % 7)) + (c % 3), s = std * (1 + c % 5);
            test_fill_normal(r, x + ((size_t)n * channels + c) * spatial, spatial, m, s);
        }
    return x;
}

Test(moments, whole_tensor_odd_sizes)
{
    lsuv_context *ctx = test_context();
    static const uint64_t sizes[] = {1, 2, 3, 7, 31, 32, 33, 255, 256, 257, 2047, 2048, 2049,
                                     8191, 8193, 65535, 65537, 1000003};
    test_rng r = {11};
    errors worst = {0, 0};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        for (int kind = 0; kind < 2; kind++) {
            uint64_t n = sizes[i];
            float *x = malloc(n * sizeof *x);
            test_fill_normal(&r, x, n, kind ? 1e3 : 0.0, kind ? 1e-2 : 1.0);
            char what[64];
            snprintf(what, sizeof what, "n=%llu %s", (unsigned long long)n, kind ? "N(1e3,1e-2)" : "N(0,1)");
            errors e = run_case(ctx, x, 1, 1, n, (int)(i % 2), what);
            worst.mean = fmax(worst.mean, e.mean);
            worst.var = fmax(worst.var, e.var);
            /* The same values seen as (n, 1, 1): one channel, n images of one value; and
             * starting 4 bytes off a 16-byte boundary (no vec4 loads). */
            if (n < 100000)
                run_case(ctx, x, (uint32_t)n, 1, 1, 0, what);
            run_case_at(ctx, x, 1, 1, n, 0, 1, what);
            free(x);
        }
    }
    cr_log_info("whole tensor: worst relative error mean %.3g, variance %.3g", worst.mean, worst.var);
    lsuv_context_destroy(ctx);
}

static void per_channel_shapes(lsuv_context *ctx, const char *label)
{
    static const uint32_t shapes[][3] = {
        {3, 5, 7 * 11}, {32, 128, 8 * 8}, {33, 1001, 1}, {1, 1, 1}, {5, 37, 3 * 3}, {257, 300, 1},
        {4, 2, 31}, {2, 3, 100003}, {3, 5000, 1}, {32, 64, 7 * 7}, {7, 3, 32}, {1, 9, 1000},
        {40, 3, 77}, {301, 2, 47}};
    test_rng r = {22};
    errors worst = {0, 0};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        for (int kind = 0; kind < 2; kind++) {
            uint32_t b = shapes[i][0], c = shapes[i][1], s = shapes[i][2];
            float *x = channel_data(&r, b, c, s, kind ? 1e3 : 0.0, kind ? 1e-2 : 1.0);
            char what[96];
            snprintf(what, sizeof what, "%s %ux%ux%u %s", label, b, c, s, kind ? "mean 1e3 std 1e-2" : "N(0,1)");
            errors e = run_case(ctx, x, b, c, s, kind, what);
            worst.mean = fmax(worst.mean, e.mean);
            worst.var = fmax(worst.var, e.var);
            free(x);
        }
    }
    cr_log_info("%s per channel: worst relative error mean %.3g, variance %.3g", label, worst.mean, worst.var);
}

/* Whether a pipeline of the named shader has been created on this context. */
static int used_shader(const lsuv_context *ctx, const char *name)
{
    for (int i = 0; i < ctx->pipeline_count; i++)
        if (strcmp(lsuv_shader_table[ctx->pipelines[i].shader].name, name) == 0)
            return 1;
    return 0;
}

Test(moments, per_channel_nchw_and_dense)
{
    lsuv_context *ctx = test_context();
    per_channel_shapes(ctx, "default");
    uint32_t need = VK_SUBGROUP_FEATURE_BASIC_BIT | VK_SUBGROUP_FEATURE_SHUFFLE_BIT;
    if ((ctx->info.subgroup_operations & need) == need)
        cr_assert(used_shader(ctx, "moments_partial_sg") && !used_shader(ctx, "moments_partial"));
    lsuv_context_destroy(ctx);
}

/* GPUs read through device addresses (modes 0-2): the same shapes with the device taken
 * for one, so that those paths keep running where lavapipe would read through texels. */
Test(moments, gpu_paths_per_channel_and_whole)
{
    lsuv_context *ctx = test_context();
    ctx->info.type = LSUV_DEVICE_DISCRETE_GPU;
    per_channel_shapes(ctx, "gpu paths");
    test_rng r = {44};
    static const uint64_t sizes[] = {32, 2048, 8192, 65536, 1000004};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        float *x = malloc(sizes[i] * sizeof *x);
        test_fill_normal(&r, x, sizes[i], 1e3, 1e-2);
        run_case(ctx, x, 1, 1, sizes[i], 0, "gpu paths, whole");
        free(x);
    }
    lsuv_context_destroy(ctx);
}

/* Each shape at full and at a lowered texel-view limit (`lowered` texels), through
 * lsuv_k_moments and lsuv_moments_now in turn; shifted: also 4 bytes into a buffer. */
static void view_shapes(const uint32_t (*shapes)[3], size_t count, uint64_t lowered, int shifted, uint64_t seed)
{
    lsuv_context *ctx = test_context();
    cr_assert_eq(ctx->info.type, LSUV_DEVICE_CPU, "this test expects lavapipe");
    test_rng r = {seed};
    for (int low = 0; low < 2; low++) {
        ctx->tuning.texel_max = low ? lowered : 0;
        for (size_t i = 0; i < count; i++) {
            uint32_t b = shapes[i][0], c = shapes[i][1], sp = shapes[i][2];
            float *x = channel_data(&r, b, c, sp, 1e3, 1e-2);
            char what[96];
            snprintf(what, sizeof what, "%ux%ux%u%s", b, c, sp, low ? " over one view" : "");
            run_case(ctx, x, b, c, sp, (int)(i % 2), what);
            if (shifted) {
                snprintf(what, sizeof what, "%ux%ux%u%s, 4 bytes in", b, c, sp, low ? " over one view" : "");
                run_case_at(ctx, x, b, c, sp, 0, 1, what);
            }
            free(x);
        }
    }
    lsuv_context_destroy(ctx);
}

/* CPU devices read rows of whole texels through a texel view, one item per invocation;
 * a tensor over one view (the limit lowered here) goes the other way. */
Test(moments, texel_reads_and_over_one_view)
{
    static const uint32_t shapes[][3] = {{3, 5, 4}, {7, 3, 12 * 12}, {32, 64, 28 * 28}, {2, 1000, 8}, {1, 1, 4096}};
    view_shapes(shapes, sizeof shapes / sizeof shapes[0], 1024 /* operands of 512 texels at most */, 0, 55);
}

/* Rows that are not whole texels (dense layers, 7x7 maps, odd sizes) are read float by
 * float through an r32f view on CPU devices (MODE 4), with the same pilot shift: a mean
 * of 1e3 and a deviation of 1e-2 must still come out right, also from a tensor 4 bytes
 * into its buffer (an r32f view starts on any float); over one view (lowered) they go
 * the device-address way. */
Test(moments, float_view_reads_and_over_one_view)
{
    static const uint32_t shapes[][3] = {{32, 1024, 1}, {8, 512, 49}, {5, 7, 1}, {3, 3, 13}, {17, 2, 3}, {1, 9, 7}};
    view_shapes(shapes, sizeof shapes / sizeof shapes[0], 64, 1, 56);
}

/* Devices without subgroup shuffles take the shared-memory-only variant. */
Test(moments, shared_memory_fallback)
{
    lsuv_context *ctx = test_context();
    cr_log_info("device subgroup size %u, operations 0x%x", ctx->info.subgroup_size,
                ctx->info.subgroup_operations);
    ctx->info.subgroup_operations = 0;
    per_channel_shapes(ctx, "no-subgroup");
    test_rng r = {33};
    size_t n = 1000003;
    float *x = malloc(n * sizeof *x);
    test_fill_normal(&r, x, n, 1e3, 1e-2);
    run_case(ctx, x, 1, 1, n, 0, "no-subgroup whole");
    run_case_at(ctx, x, 1, 1, n, 0, 3, "no-subgroup whole, unaligned");
    cr_assert(used_shader(ctx, "moments_partial") && !used_shader(ctx, "moments_partial_sg"));
    free(x);
    lsuv_context_destroy(ctx);
}

Test(moments, constant_data_has_zero_variance)
{
    lsuv_context *ctx = test_context();
    size_t n = 100003;
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++)
        x[i] = 1234.5678f;
    lsuv_buffer bx = test_upload(ctx, x, n);
    double mean, var;
    cr_assert_eq(lsuv_moments_now(ctx, &bx, 1, 1, n, &mean, &var), LSUV_OK, "%s", lsuv_context_last_error(ctx));
    cr_assert_eq(var, 0.0, "variance %g", var);
    cr_assert_eq(mean, (double)1234.5678f, "mean %.9g", mean);
    lsuv_buffer_free(ctx, &bx);
    /* Per channel: 3 x 7 x 13 and dense 33 x 101, channel c constant. */
    static const uint32_t shapes[][3] = {{3, 7, 13}, {33, 101, 1}, {2, 3, 1000}};
    for (int k = 0; k < 3; k++) {
        uint32_t b = shapes[k][0], ch = shapes[k][1], s = shapes[k][2];
        for (uint32_t i = 0; i < b; i++)
            for (uint32_t c = 0; c < ch; c++)
                for (uint32_t j = 0; j < s; j++)
                    x[((size_t)i * ch + c) * s + j] = 1000.0f + 0.37f * c;
        bx = test_upload(ctx, x, (size_t)b * ch * s);
        double *m = malloc(ch * sizeof *m), *v = malloc(ch * sizeof *v);
        cr_assert_eq(lsuv_moments_now(ctx, &bx, b, ch, s, m, v), LSUV_OK);
        for (uint32_t c = 0; c < ch; c++) {
            cr_assert_eq(v[c], 0.0, "%ux%ux%u channel %u: variance %g", b, ch, s, c, v[c]);
            cr_assert_eq(m[c], (double)(1000.0f + 0.37f * c), "channel %u: mean %.9g", c, m[c]);
        }
        free(m);
        free(v);
        lsuv_buffer_free(ctx, &bx);
    }
    free(x);
    lsuv_context_destroy(ctx);
}

/* Several moments recorded into one submission: each uses its own scratch. */
Test(moments, several_in_one_submission)
{
    lsuv_context *ctx = test_context();
    test_rng r = {44};
    float *a = channel_data(&r, 9, 1, 70001, 5.0, 2.0), *b = channel_data(&r, 65, 500, 1, -3.0, 0.5);
    lsuv_buffer ba = test_upload(ctx, a, 9 * 70001), bb = test_upload(ctx, b, 65 * 500);
    lsuv_buffer oa = test_alloc_poisoned(ctx, 2), ob = test_alloc_poisoned(ctx, 1000);
    cr_assert_eq(lsuv_k_moments(ctx, &ba, 9, 1, 70001, &oa), LSUV_OK);
    cr_assert_eq(lsuv_k_moments(ctx, &bb, 65, 500, 1, &ob), LSUV_OK);
    float *ga = test_download(ctx, &oa, 2), *gb = test_download(ctx, &ob, 1000);
    errors e = {0, 0};
    double mean, var;
    ref_moments(a, 9, 1, 70001, 0, &mean, &var);
    check_channel("a", 0, ga[0], ga[1], mean, var, &e);
    for (uint32_t c = 0; c < 500; c++) {
        ref_moments(b, 65, 500, 1, c, &mean, &var);
        check_channel("b", c, gb[2 * c], gb[2 * c + 1], mean, var, &e);
    }
    free(a);
    free(b);
    free(ga);
    free(gb);
    lsuv_buffer_free(ctx, &ba);
    lsuv_buffer_free(ctx, &bb);
    lsuv_buffer_free(ctx, &oa);
    lsuv_buffer_free(ctx, &ob);
    lsuv_context_destroy(ctx);
}

/* Cheap reproducible data for the big case: uniform with mean 1e3 and std 1e-2. */
static void big_chunk(uint64_t seed, size_t first, float *x, size_t n)
{
    test_rng r = {seed + first};
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(1e3 + 1e-2 * sqrt(12.0) * (test_rng_uniform(&r) - 0.5));
}

/* 2^27 values = 512 MiB, above lavapipe's 128 MiB maxStorageBufferRange. The data is
 * generated in chunks (and generated again for the reference's second pass). */
Test(moments, whole_tensor_2_pow_27)
{
    lsuv_context *ctx = test_context();
    const size_t n = 1u << 27, chunk = 1u << 22;
    lsuv_buffer bx;
    cr_assert_eq(lsuv_buffer_alloc(ctx, n * sizeof(float), &bx), LSUV_OK, "%s", lsuv_context_last_error(ctx));
    float *x = malloc(chunk * sizeof *x);
    double sum = 0;
    for (size_t first = 0; first < n; first += chunk) {
        big_chunk(5, first, x, chunk);
        for (size_t i = 0; i < chunk; i++)
            sum += x[i];
        cr_assert_eq(lsuv_buffer_upload(ctx, &bx, first * sizeof *x, x, chunk * sizeof *x), LSUV_OK);
    }
    double mean = sum / n, m2 = 0;
    for (size_t first = 0; first < n; first += chunk) {
        big_chunk(5, first, x, chunk);
        for (size_t i = 0; i < chunk; i++)
            m2 += (x[i] - mean) * (x[i] - mean);
    }
    double var = m2 / n;
    /* Per channel of (16, 4, 2^21): chunk k holds the spatial runs 2k and 2k+1. */
    double csum[4] = {0}, cm2[4] = {0}, cmean[4];
    for (int pass = 0; pass < 2; pass++)
        for (size_t first = 0; first < n; first += chunk) {
            big_chunk(5, first, x, chunk);
            for (size_t i = 0; i < chunk; i++) {
                int c = (int)(((first + i) >> 21) % 4);
                if (pass == 0)
                    csum[c] += x[i];
                else
                    cm2[c] += (x[i] - cmean[c]) * (x[i] - cmean[c]);
            }
            if (pass == 0 && first + chunk == n)
                for (int c = 0; c < 4; c++)
                    cmean[c] = csum[c] / (n / 4);
        }
    lsuv_buffer out = test_alloc_poisoned(ctx, 2);
    cr_assert_eq(lsuv_submit(ctx), LSUV_OK);
    double t0 = seconds();
    cr_assert_eq(lsuv_k_moments(ctx, &bx, 1, 1, n, &out), LSUV_OK, "%s", lsuv_context_last_error(ctx));
    cr_assert_eq(lsuv_submit(ctx), LSUV_OK, "%s", lsuv_context_last_error(ctx));
    double dt = seconds() - t0;
    float *got = test_download(ctx, &out, 2);
    errors e = {0, 0};
    check_channel("2^27", 0, got[0], got[1], mean, var, &e);
    cr_log_info("2^27 values: %.3f s (%.2f GB/s), mean rel error %.3g, variance rel error %.3g", dt,
                n * 4.0 / dt * 1e-9, e.mean, e.var);
    /* Per channel too: 16 images x 4 channels x 2^21. */
    lsuv_buffer out4 = test_alloc_poisoned(ctx, 8);
    cr_assert_eq(lsuv_k_moments(ctx, &bx, 16, 4, 1u << 21, &out4), LSUV_OK, "%s", lsuv_context_last_error(ctx));
    float *g4 = test_download(ctx, &out4, 8);
    for (int c = 0; c < 4; c++)
        check_channel("2^27 4 channels", (uint32_t)c, g4[2 * c], g4[2 * c + 1], cmean[c], cm2[c] / (n / 4),
                      &e);
    free(g4);
    free(got);
    free(x);
    lsuv_buffer_free(ctx, &out);
    lsuv_buffer_free(ctx, &out4);
    lsuv_buffer_free(ctx, &bx);
    lsuv_context_destroy(ctx);
}

Test(moments, bad_arguments_are_refused)
{
    lsuv_context *ctx = test_context();
    lsuv_buffer x = test_alloc_poisoned(ctx, 100), out = test_alloc_poisoned(ctx, 4);
    cr_assert_eq(lsuv_k_moments(ctx, &x, 2, 3, 17, &out), LSUV_ERROR_INVALID_ARGUMENT); /* 102 > 100 */
    cr_assert(strstr(lsuv_context_last_error(ctx), "moments") != NULL, "%s", lsuv_context_last_error(ctx));
    cr_assert_eq(lsuv_k_moments(ctx, &x, 1, 3, 10, &out), LSUV_ERROR_INVALID_ARGUMENT); /* out holds 2 */
    cr_assert_eq(lsuv_k_moments(ctx, &x, 0, 1, 10, &out), LSUV_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(lsuv_k_moments(ctx, &x, 1, 1, 0, &out), LSUV_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(lsuv_k_moments(ctx, &x, 65536, 65536, 1, &out), LSUV_ERROR_INVALID_ARGUMENT);
    cr_assert_eq(lsuv_k_moments(ctx, NULL, 1, 1, 10, &out), LSUV_ERROR_INVALID_ARGUMENT);
    double m, v;
    cr_assert_eq(lsuv_moments_now(ctx, &x, 1, 1, 1000, &m, &v), LSUV_ERROR_INVALID_ARGUMENT);
    lsuv_buffer_free(ctx, &x);
    lsuv_buffer_free(ctx, &out);
    lsuv_context_destroy(ctx);
}
