/* test_eltwise.c - affine+activation, maxout, pooling, add and channel concat kernels
 * against the double-precision references (ref_eltwise.c), on seeded random shapes/data. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ref_eltwise.h"
#include "support.h"

#define TOL 1e-5

static const char *act_name[] = {"none", "relu", "leaky", "prelu", "tanh", "sigmoid", "elu", "gelu", "silu"};

static double *to_double(const float *x, size_t n)
{
    double *d = malloc(n * sizeof *d + 1);
    cr_assert_not_null(d);
    for (size_t i = 0; i < n; i++)
        d[i] = x[i];
    return d;
}

static float *random_floats(test_rng *r, size_t n, double mean, double std)
{
    float *x = malloc(n * sizeof *x + 1);
    cr_assert_not_null(x);
    test_fill_normal(r, x, n, mean, std);
    return x;
}

static void ok(lsuv_context *ctx, lsuv_status st, const char *what)
{
    cr_assert_eq(st, LSUV_OK, "%s: %s: %s", what, lsuv_status_string(st), lsuv_context_last_error(ctx));
}

static double seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* ---------------------------------------------------------------- affine + activation */

typedef struct affine_case {
    size_t batch;
    int channels;
    size_t spatial;
    float alpha, param;
    int act, use_scale, use_shift, in_place;
    double data_std;
} affine_case;

/* Runs one case on the device and returns the norm-wise relative error. */
static double run_affine(lsuv_context *ctx, test_rng *r, const affine_case *k)
{
    size_t count = k->batch * k->channels * k->spatial;
    float *x = random_floats(r, count, 0.1, k->data_std);
    float *scale = random_floats(r, k->channels, 1.0, 0.5);
    float *shift = random_floats(r, k->channels, 0.0, 0.5);
    float *slopes = random_floats(r, k->channels, 0.1, 0.3);
    lsuv_buffer bx = test_upload(ctx, x, count);
    lsuv_buffer by = k->in_place ? bx : test_alloc_poisoned(ctx, count);
    lsuv_buffer bs = test_upload(ctx, scale, k->channels), bb = test_upload(ctx, shift, k->channels);
    lsuv_buffer bp = test_upload(ctx, slopes, k->channels);
    ok(ctx, lsuv_k_affine_act(ctx, &bx, &by, count, k->channels, k->spatial, k->alpha,
                              k->use_scale ? &bs : NULL, k->use_shift ? &bb : NULL, k->act, k->param,
                              k->act == LSUV_K_ACT_PRELU ? &bp : NULL),
       "affine_act");
    float *y = test_download(ctx, &by, count);

    double *dx = to_double(x, count), *dy = malloc(count * sizeof *dy);
    double *ds = to_double(scale, k->channels), *db = to_double(shift, k->channels);
    double *dp = to_double(slopes, k->channels);
    ref_affine_act(dx, dy, count, k->channels, k->spatial, k->alpha, k->use_scale ? ds : NULL,
                   k->use_shift ? db : NULL, k->act, k->param, dp);
    double err = test_rel_error(y, dy, count);
    free(x), free(scale), free(shift), free(slopes), free(y);
    free(dx), free(dy), free(ds), free(db), free(dp);
    lsuv_buffer_free(ctx, &bx);
    if (!k->in_place)
        lsuv_buffer_free(ctx, &by);
    lsuv_buffer_free(ctx, &bs);
    lsuv_buffer_free(ctx, &bb);
    lsuv_buffer_free(ctx, &bp);
    return err;
}

/* Every activation, with and without scale/shift, in place and not, on odd shapes. */
Test(eltwise, affine_act_every_activation)
{
    lsuv_context *ctx = test_context();
    test_rng r = {1234};
    static const float leaky[] = {0.01f, 1.0f / 3, 0.2f, -0.5f};
    static const float elu[] = {1.0f, 0.3f, 2.5f};
    /* spatial >= 256 runs the kernel's row mode, smaller ones its flat loop; multiples
     * of 4 run each with vec4 accesses */
    static const size_t spatials[] = {1, 5 * 7, 13 * 9, 17 * 19, 3 * 11, 16 * 17, 4 * 15, 7 * 4};
    int cases = 0;
    double worst = 0;
    for (int act = 0; act <= LSUV_K_ACT_SILU; act++)
        for (int combo = 0; combo < 4; combo++) {
            int nparam = act == LSUV_K_ACT_LEAKY ? 4 : act == LSUV_K_ACT_ELU ? 3 : 1;
            for (int ip = 0; ip < nparam; ip++) {
                affine_case k = {
                    .batch = (size_t)(test_rng_int(&r, 0, 2) == 0 ? 1 : 2 * test_rng_int(&r, 1, 3) + 1),
                    .channels = 2 * test_rng_int(&r, 0, 8) + 1,
                    .spatial = spatials[(act * 4 + combo + ip) % 8],
                    .alpha = (combo & 1) ? 0.75f : 1.0f,
                    .param = act == LSUV_K_ACT_LEAKY ? leaky[ip] : act == LSUV_K_ACT_ELU ? elu[ip] : 0.0f,
                    .act = act, .use_scale = combo & 1, .use_shift = (combo >> 1) & 1,
                    .in_place = (combo + ip) & 1, .data_std = 2.0};
                double err = run_affine(ctx, &r, &k);
                cr_expect_leq(err, TOL,
                              "%s param %g scale %d shift %d in_place %d (%zu x %d x %zu): rel err %.3g",
                              act_name[act], (double)k.param, k.use_scale, k.use_shift, k.in_place,
                              k.batch, k.channels, k.spatial, err);
                worst = fmax(worst, err);
                cases++;
            }
        }
    cr_log_info("affine_act: %d cases, largest norm-wise relative error %.3g", cases, worst);
    lsuv_context_destroy(ctx);
}

/* A shape the vec4 form takes (spatial % 4 == 0) on buffers that start 4 bytes into a
 * block: the scalar form runs, and the floats around the output stay as they were. */
Test(eltwise, affine_act_unaligned_buffers)
{
    lsuv_context *ctx = test_context();
    test_rng r = {77};
    const size_t batch = 3, channels = 5, spatial = 4 * 9, count = batch * channels * spatial;
    float *x = random_floats(&r, count + 2, 0.0, 1.0), *scale = random_floats(&r, channels, 1.0, 0.5);
    lsuv_buffer bx = test_upload(ctx, x, count + 2), bs = test_upload(ctx, scale, channels);
    lsuv_buffer by = test_alloc_poisoned(ctx, count + 2);
    lsuv_buffer sx = lsuv_buffer_slice(&bx, 4, count * 4), sy = lsuv_buffer_slice(&by, 4, count * 4);
    ok(ctx, lsuv_k_affine_act(ctx, &sx, &sy, count, channels, spatial, 1.0f, &bs, NULL, LSUV_K_ACT_TANH, 0, NULL),
       "affine_act");
    float *y = test_download(ctx, &by, count + 2);
    cr_assert(isnan(y[0]) && isnan(y[count + 1]), "the floats around the output changed");
    double *dx = to_double(x + 1, count), *dy = malloc(count * sizeof *dy), *ds = to_double(scale, channels);
    ref_affine_act(dx, dy, count, channels, spatial, 1.0f, ds, NULL, LSUV_K_ACT_TANH, 0, NULL);
    double err = test_rel_error(y + 1, dy, count);
    cr_expect_leq(err, TOL, "unaligned: rel err %.3g", err);
    free(x), free(scale), free(y), free(dx), free(dy), free(ds);
    lsuv_buffer_free(ctx, &bx);
    lsuv_buffer_free(ctx, &by);
    lsuv_buffer_free(ctx, &bs);
    lsuv_context_destroy(ctx);
}

/* One affine + activation through lsuv_k_affine_act on a slice `offset` floats into
 * its buffers, against the double reference, with the floats around the output checked;
 * returns the dispatches of each kernel form (profiling counts them). */
static void affine_on_slices(lsuv_context *ctx, test_rng *r, size_t batch, size_t channels, size_t spatial,
                             size_t offset, uint64_t *texel_dispatches, uint64_t *plain_dispatches)
{
    size_t count = batch * channels * spatial;
    float *x = random_floats(r, count + offset + 1, 0.0, 1.0), *scale = random_floats(r, channels, 1.0, 0.5);
    float *shift = random_floats(r, channels, 0.0, 0.5);
    lsuv_buffer bx = test_upload(ctx, x, count + offset + 1), bs = test_upload(ctx, scale, channels);
    lsuv_buffer bb = test_upload(ctx, shift, channels), by = test_alloc_poisoned(ctx, count + offset + 1);
    lsuv_buffer sx = lsuv_buffer_slice(&bx, offset * 4, count * 4), sy = lsuv_buffer_slice(&by, offset * 4, count * 4);
    uint64_t tx = ctx->shader_dispatches[LSUV_SHADER_AFFINE_ACT_TX], plain = ctx->shader_dispatches[LSUV_SHADER_AFFINE_ACT];
    ok(ctx, lsuv_k_affine_act(ctx, &sx, &sy, count, (uint32_t)channels, (uint32_t)spatial, 0.75f, &bs, &bb,
                              LSUV_K_ACT_TANH, 0, NULL),
       "affine_act");
    float *y = test_download(ctx, &by, count + offset + 1);
    *texel_dispatches = ctx->shader_dispatches[LSUV_SHADER_AFFINE_ACT_TX] - tx;
    *plain_dispatches = ctx->shader_dispatches[LSUV_SHADER_AFFINE_ACT] - plain;
    for (size_t i = 0; i < offset; i++)
        cr_assert(isnan(y[i]), "a float before the output changed");
    cr_assert(isnan(y[offset + count]), "the float after the output changed");
    double *dx = to_double(x + offset, count), *dy = malloc(count * sizeof *dy);
    double *ds = to_double(scale, channels), *db = to_double(shift, channels);
    ref_affine_act(dx, dy, count, (int)channels, spatial, 0.75f, ds, db, LSUV_K_ACT_TANH, 0, NULL);
    double err = test_rel_error(y + offset, dy, count);
    cr_expect_leq(err, TOL, "%zu x %zu x %zu at float %zu: rel err %.3g", batch, channels, spatial, offset, err);
    free(x), free(scale), free(shift), free(y), free(dx), free(dy), free(ds), free(db);
    lsuv_buffer_free(ctx, &bx);
    lsuv_buffer_free(ctx, &bs);
    lsuv_buffer_free(ctx, &bb);
    lsuv_buffer_free(ctx, &by);
}

/* On CPU devices rows of whole texels go through affine_act_tx.comp, in chunks of whole
 * rows that fit one texel view (lowered here to 4096 texels: chunks of 2048); so do other
 * rows (split: a channel per component) where the tensor is whole texels and rows are one
 * float with channels % 4 == 0 or at least 4 floats, in chunks of a multiple of 4 rows;
 * buffers that do not start on a texel, rows over a view and the rest take
 * affine_act.comp. */
Test(eltwise, affine_act_texel_form_chunks_and_fallbacks)
{
    lsuv_context *ctx = test_context();
    cr_assert_eq(ctx->info.type, LSUV_DEVICE_CPU, "this test expects lavapipe");
    ctx->tuning.texel_max = 4096;
    ctx->profiling = 1;
    test_rng r = {91};
    struct { size_t batch, channels, spatial, offset; uint64_t texel, plain; } cases[] = {
        {3, 5, 4 * 9, 0, 1, 0},      /* 135 texels: one dispatch */
        {7, 9, 4 * 100, 0, 4, 0},    /* 63 rows of 100 texels, 20 rows per chunk */
        {7, 9, 4 * 100, 1, 0, 1},    /* 4 bytes into the buffers */
        {2, 3, 4 * 3000, 0, 0, 1},   /* a row of 3000 texels is over a view */
        {5, 3, 7, 0, 0, 1},          /* rows of 7 floats, 105 floats: not whole texels */
        {8, 12, 1, 0, 1, 0},         /* dense: 12 channels of one float, split */
        {1024, 12, 1, 0, 2, 0},      /* 12288 rows, 8192 per chunk: the second starts at channel 8 */
        {4, 6, 1, 0, 0, 1},          /* dense with 6 channels: a texel would span two samples */
        {4, 5, 49, 0, 1, 0},         /* 7x7 maps, 980 floats: split */
        {64, 9, 49, 0, 4, 0},        /* 576 rows of 49, 164 rows per chunk */
        {4, 5, 49, 1, 0, 1},         /* 4 bytes into the buffers */
        {4, 5, 3, 0, 0, 1},          /* rows of 3 floats: a texel could span three rows */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t texel, plain;
        affine_on_slices(ctx, &r, cases[i].batch, cases[i].channels, cases[i].spatial, cases[i].offset, &texel,
                         &plain);
        cr_expect(texel == cases[i].texel && plain == cases[i].plain,
                  "%zu x %zu x %zu at %zu: %llu texel / %llu plain dispatches, expected %llu / %llu", cases[i].batch,
                  cases[i].channels, cases[i].spatial, cases[i].offset, (unsigned long long)texel,
                  (unsigned long long)plain, (unsigned long long)cases[i].texel,
                  (unsigned long long)cases[i].plain);
    }
    lsuv_context_destroy(ctx);
}

/* The split texel form (a channel per component) with every activation, scale, shift and
 * PReLU slopes, in place and not: dense rows (spatial 1) and rows of 13 and 49 floats. */
Test(eltwise, affine_act_split_texel_form_every_activation)
{
    lsuv_context *ctx = test_context();
    cr_assert_eq(ctx->info.type, LSUV_DEVICE_CPU, "this test expects lavapipe");
    ctx->profiling = 1;
    test_rng r = {4242};
    static const struct { size_t batch; int channels; size_t spatial; } shapes[] = {{4, 8, 1}, {4, 3, 13}, {3, 4, 49}};
    uint64_t before = ctx->shader_dispatches[LSUV_SHADER_AFFINE_ACT_TX];
    int cases = 0;
    for (int act = 0; act <= LSUV_K_ACT_SILU; act++)
        for (int combo = 0; combo < 4; combo++) {
            affine_case k = {.batch = shapes[(act + combo) % 3].batch, .channels = shapes[(act + combo) % 3].channels,
                             .spatial = shapes[(act + combo) % 3].spatial, .alpha = (combo & 1) ? 0.75f : 1.0f,
                             .param = act == LSUV_K_ACT_LEAKY ? 0.2f : act == LSUV_K_ACT_ELU ? 0.3f : 0.0f,
                             .act = act, .use_scale = combo & 1, .use_shift = (combo >> 1) & 1,
                             .in_place = combo == 1 || combo == 2, .data_std = 2.0};
            double err = run_affine(ctx, &r, &k);
            cr_expect_leq(err, TOL, "%s scale %d shift %d in_place %d (%zu x %d x %zu): rel err %.3g",
                          act_name[act], k.use_scale, k.use_shift, k.in_place, k.batch, k.channels, k.spatial, err);
            cases++;
        }
    cr_expect_eq(ctx->shader_dispatches[LSUV_SHADER_AFFINE_ACT_TX] - before, (uint64_t)cases,
                 "every case should take the texel form");
    lsuv_context_destroy(ctx);
}

/* Element-wise accuracy of each activation over a sweep from 1e-6 to 1e4 in magnitude
 * (both signs) plus huge values: no NaN/Inf, and a relative error near float precision. */
Test(eltwise, activation_accuracy_sweep_and_large_inputs)
{
    lsuv_context *ctx = test_context();
    size_t n = 0, cap = 300000;
    float *x = malloc(cap * sizeof *x);
    for (double m = 1e-6; m < 1e4; m *= 1.0002) { /* ~115000 magnitudes */
        x[n++] = (float)m;
        x[n++] = (float)-m;
    }
    static const float extremes[] = {100, -100, 88, -88, 89, -89, 104, -104, 1e6f, -1e6f, 3e38f, -3e38f,
                                     0, -0.0f, 1, -1, 15, -15, 14.5f, -14.5f};
    for (size_t i = 0; i < sizeof extremes / sizeof *extremes; i++)
        x[n++] = extremes[i];
    cr_assert_leq(n, cap);
    double *dx = to_double(x, n), *ref = malloc(n * sizeof *ref);
    lsuv_buffer bx = test_upload(ctx, x, n), by = test_alloc_poisoned(ctx, n);
    /* bounds: ~8 float ulps for our exp/expm1/CDF code (about 2-4 on lavapipe; GPUs may
     * round divisions less tightly); none/relu are exact, leaky one rounding */
    static const struct { int act; float param; double tol; } cases[] = {
        {LSUV_K_ACT_NONE, 0, 0}, {LSUV_K_ACT_RELU, 0, 0}, {LSUV_K_ACT_LEAKY, 0.01f, 1.2e-7},
        {LSUV_K_ACT_TANH, 0, 1e-6}, {LSUV_K_ACT_SIGMOID, 0, 1e-6}, {LSUV_K_ACT_ELU, 1.0f, 1e-6},
        {LSUV_K_ACT_ELU, 0.5f, 1e-6}, {LSUV_K_ACT_GELU, 0, 1.5e-6}, {LSUV_K_ACT_SILU, 0, 1e-6},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        ok(ctx, lsuv_buffer_fill(ctx, &by, 0x7fc00000u), "poison");
        ok(ctx, lsuv_k_affine_act(ctx, &bx, &by, n, 1, 1, 1.0f, NULL, NULL, cases[c].act, cases[c].param,
                                  NULL),
           "affine_act");
        float *y = test_download(ctx, &by, n);
        ref_affine_act(dx, ref, n, 1, 1, 1.0, NULL, NULL, cases[c].act, cases[c].param, NULL);
        double worst = 0;
        size_t worst_i = 0;
        for (size_t i = 0; i < n; i++) {
            cr_assert(isfinite(y[i]), "%s(%g) = %g", act_name[cases[c].act], (double)x[i], (double)y[i]);
            /* results under 1e-30 come through denormal intermediates, which GPUs may
             * flush to zero: only an absolute bound there */
            double e = fabs(y[i] - ref[i]) / fabs(ref[i]);
            if (fabs(ref[i]) < 1e-30)
                e = fabs(y[i] - ref[i]) <= 1e-30 ? 0 : 1;
            if (e > worst)
                worst = e, worst_i = i;
        }
        cr_log_info("%s(param %g): max relative error %.3g at x = %.9g", act_name[cases[c].act],
                    (double)cases[c].param, worst, (double)x[worst_i]);
        cr_expect_leq(worst, cases[c].tol, "%s: max relative error %.3g at x = %.9g (got %.9g, want %.9g)",
                      act_name[cases[c].act], worst, (double)x[worst_i], (double)y[worst_i], ref[worst_i]);
        free(y);
    }
    free(x), free(dx), free(ref);
    lsuv_buffer_free(ctx, &bx);
    lsuv_buffer_free(ctx, &by);
    lsuv_context_destroy(ctx);
}

/* Large-magnitude data (std 100, values up to several hundred) through every activation,
 * fused with scale and shift: finite and accurate. */
Test(eltwise, affine_act_large_magnitude_no_nan)
{
    lsuv_context *ctx = test_context();
    test_rng r = {77};
    for (int act = LSUV_K_ACT_TANH; act <= LSUV_K_ACT_SILU; act++) {
        affine_case k = {.batch = 3, .channels = 5, .spatial = 7 * 9, .alpha = 1.0f, .param = 1.0f,
                         .act = act, .use_scale = 1, .use_shift = 1, .in_place = act & 1, .data_std = 100};
        double err = run_affine(ctx, &r, &k);
        cr_expect_leq(err, TOL, "%s at std 100: rel err %.3g", act_name[act], err);
    }
    lsuv_context_destroy(ctx);
}

/* Batch norm in inference form: scale = gamma / sqrt(var + eps), shift = beta - mean * scale,
 * checked against the textbook formula (x - mean) / sqrt(var + eps) * gamma + beta (+ ReLU). */
Test(eltwise, batch_norm_inference)
{
    lsuv_context *ctx = test_context();
    test_rng r = {99};
    const double eps = 1e-5;
    for (int round = 0; round < 4; round++) {
        size_t batch = round == 0 ? 1 : 2 * test_rng_int(&r, 1, 3) + 1;
        int channels = 2 * test_rng_int(&r, 1, 10) + 1;
        size_t spatial = (size_t)test_rng_int(&r, 3, 12) * test_rng_int(&r, 5, 9) * (round < 2 ? 1 : 5);
        int act = round & 1 ? LSUV_K_ACT_RELU : LSUV_K_ACT_NONE;
        size_t count = batch * channels * spatial;
        double *mean = malloc(channels * sizeof *mean), *var = malloc(channels * sizeof *var);
        double *gamma = malloc(channels * sizeof *gamma), *beta = malloc(channels * sizeof *beta);
        float *scale = malloc(channels * sizeof *scale), *shift = malloc(channels * sizeof *shift);
        for (int c = 0; c < channels; c++) {
            mean[c] = 2 * test_rng_normal(&r);
            var[c] = 0.1 + 3 * test_rng_uniform(&r);
            gamma[c] = 1 + 0.5 * test_rng_normal(&r);
            beta[c] = 0.5 * test_rng_normal(&r);
            double s = gamma[c] / sqrt(var[c] + eps);
            scale[c] = (float)s;
            shift[c] = (float)(beta[c] - mean[c] * s);
        }
        float *x = malloc(count * sizeof *x);
        for (size_t i = 0; i < count; i++) {
            size_t c = (i / spatial) % channels;
            x[i] = (float)(mean[c] + sqrt(var[c]) * test_rng_normal(&r));
        }
        lsuv_buffer bx = test_upload(ctx, x, count), by = test_alloc_poisoned(ctx, count);
        lsuv_buffer bs = test_upload(ctx, scale, channels), bb = test_upload(ctx, shift, channels);
        ok(ctx, lsuv_k_affine_act(ctx, &bx, &by, count, channels, spatial, 1.0f, &bs, &bb, act, 0, NULL),
           "batch norm");
        float *y = test_download(ctx, &by, count);
        double *want = malloc(count * sizeof *want);
        for (size_t i = 0; i < count; i++) {
            size_t c = (i / spatial) % channels;
            double t = (x[i] - mean[c]) / sqrt(var[c] + eps) * gamma[c] + beta[c];
            want[i] = act == LSUV_K_ACT_RELU && t < 0 ? 0 : t;
        }
        double err = test_rel_error(y, want, count);
        cr_expect_leq(err, TOL, "batch norm %zu x %d x %zu act %d: rel err %.3g", batch, channels, spatial,
                      act, err);
        free(mean), free(var), free(gamma), free(beta), free(scale), free(shift), free(x), free(y);
        free(want);
        lsuv_buffer_free(ctx, &bx);
        lsuv_buffer_free(ctx, &by);
        lsuv_buffer_free(ctx, &bs);
        lsuv_buffer_free(ctx, &bb);
    }
    lsuv_context_destroy(ctx);
}

/* ReLU with per-channel affine over a tensor above lavapipe's 128 MiB storage-buffer range
 * (2^25 + 19 floats), every element checked, in both shader modes: long rows (one channel per
 * workgroup row) and the flat loop, whose grid stride wraps (more elements than invocations)
 * so that the incremental channel tracking must stay in step. */
Test(eltwise, affine_act_over_128_mib)
{
    lsuv_context *ctx = test_context();
    const size_t count = 3 * 7 * 1597831; /* 33554451 */
    cr_assert_gt(count * sizeof(float), (size_t)128 << 20);
    float *x = malloc(count * sizeof *x);
    for (size_t i = 0; i < count; i++) /* cheap deterministic data in [-10, 10] */
        x[i] = (float)((int)((i * 2654435761u) % 2001u) - 1000) * 0.01f;
    float scale[7], shift[7];
    for (int c = 0; c < 7; c++)
        scale[c] = 0.5f + 0.25f * c, shift[c] = 0.125f * (c - 3);
    lsuv_buffer bx = test_upload(ctx, x, count), by;
    lsuv_buffer bs = test_upload(ctx, scale, 7), bb = test_upload(ctx, shift, 7);
    ok(ctx, lsuv_buffer_alloc(ctx, count * sizeof(float), &by), "alloc y");
    /* channels, spatial, elements: row and flat mode, scalar and vec4 (count - 3 is a
     * multiple of 4) */
    static const size_t shapes[][3] = {{7, 1597831, count}, {7, 3, count},
                                       {3, 11184816, count - 3}, {3, 4, count - 3}};
    for (int s = 0; s < 4; s++) {
        size_t channels = shapes[s][0], spatial = shapes[s][1], count = shapes[s][2];
        ok(ctx, lsuv_buffer_fill(ctx, &by, 0x7fc00000u), "poison");
        ok(ctx, lsuv_submit(ctx), "poison");
        double t0 = seconds();
        ok(ctx, lsuv_k_affine_act(ctx, &bx, &by, count, channels, spatial, 1.0f, &bs, &bb, LSUV_K_ACT_RELU,
                                  0, NULL),
           "affine_act");
        ok(ctx, lsuv_submit(ctx), "submit");
        double dt = seconds() - t0;
        cr_log_info("affine_act+relu over %zu floats (%zu channels x %zu): %.3f s, %.2f GB/s", count,
                    channels, spatial, dt, 8.0 * count / dt * 1e-9);
        float *y = test_download(ctx, &by, count);
        size_t bad = 0, first_bad = 0;
        for (size_t i = 0; i < count; i++) {
            size_t c = (i / spatial) % channels;
            double t = (double)x[i] * scale[c] + shift[c];
            double want = t > 0 ? t : 0;
            /* two float roundings of terms up to |x * scale| + |shift| */
            double bound = 0x1p-22 * (fabs((double)x[i] * scale[c]) + fabs(shift[c]));
            if (!(fabs(y[i] - want) <= bound) && bad++ == 0)
                first_bad = i;
        }
        cr_expect_eq(bad, 0, "%zu x %zu: %zu wrong elements, first at %zu: %g", channels, spatial, bad,
                     first_bad, (double)y[first_bad]);
        free(y);
    }
    free(x);
    lsuv_buffer_free(ctx, &bx);
    lsuv_buffer_free(ctx, &by);
    lsuv_buffer_free(ctx, &bs);
    lsuv_buffer_free(ctx, &bb);
    lsuv_context_destroy(ctx);
}

/* ---------------------------------------------------------------- maxout */

Test(eltwise, maxout_groups_2_3_4)
{
    lsuv_context *ctx = test_context();
    test_rng r = {5};
    for (int k = 2; k <= 4; k++)
        for (int round = 0; round < 2; round++) {
            size_t batch = round == 0 ? 1 : 2 * test_rng_int(&r, 1, 3) + 1;
            int channels = k * (2 * test_rng_int(&r, 0, 5) + 1);
            size_t spatial = round == 0 ? 1 : (size_t)test_rng_int(&r, 2, 9) * test_rng_int(&r, 3, 7);
            size_t in = batch * channels * spatial, out = in / k;
            float *x = random_floats(&r, in, 0, 1);
            lsuv_buffer bx = test_upload(ctx, x, in), by = test_alloc_poisoned(ctx, out);
            ok(ctx, lsuv_k_maxout(ctx, &bx, &by, batch, channels, spatial, k), "maxout");
            float *y = test_download(ctx, &by, out);
            double *dx = to_double(x, in), *want = malloc(out * sizeof *want);
            ref_maxout(dx, want, batch, channels, spatial, k);
            double err = test_rel_error(y, want, out);
            cr_expect_eq(err, 0.0, "maxout k %d, %zu x %d x %zu: rel err %.3g", k, batch, channels, spatial,
                         err);
            free(x), free(y), free(dx), free(want);
            lsuv_buffer_free(ctx, &bx);
            lsuv_buffer_free(ctx, &by);
        }
    lsuv_context_destroy(ctx);
}

/* ---------------------------------------------------------------- pooling */

static double run_pool(lsuv_context *ctx, test_rng *r, lsuv_pool2d_params p, double mean)
{
    cr_assert(lsuv_pool2d_output_size(&p), "geometry %ux%u k %ux%u s %ux%u p %ux%u", p.in_h, p.in_w,
              p.kernel_h, p.kernel_w, p.stride_h, p.stride_w, p.pad_h, p.pad_w);
    size_t in = (size_t)p.batch * p.channels * p.in_h * p.in_w;
    size_t out = (size_t)p.batch * p.channels * p.out_h * p.out_w;
    float *x = random_floats(r, in, mean, 1);
    lsuv_buffer bx = test_upload(ctx, x, in), by = test_alloc_poisoned(ctx, out);
    ok(ctx, lsuv_k_pool2d(ctx, &p, &bx, &by), "pool2d");
    float *y = test_download(ctx, &by, out);
    double *dx = to_double(x, in), *want = malloc(out * sizeof *want);
    ref_pool2d(&p, dx, want);
    double err = test_rel_error(y, want, out);
    free(x), free(y), free(dx), free(want);
    lsuv_buffer_free(ctx, &bx);
    lsuv_buffer_free(ctx, &by);
    return err;
}

Test(eltwise, pool2d_max_and_average)
{
    lsuv_context *ctx = test_context();
    test_rng r = {2024};
    /* kh, kw, sh, sw, ph, pw: small windows (one invocation per output) and large ones
     * (one workgroup per output, partial rows) */
    static const uint32_t geo[][6] = {
        {2, 2, 2, 2, 0, 0}, {3, 3, 2, 2, 1, 1}, {3, 2, 1, 1, 1, 1}, {5, 3, 2, 3, 2, 1},
        {1, 1, 1, 1, 0, 0}, {3, 3, 3, 3, 0, 0}, {2, 4, 1, 3, 1, 2}, {9, 9, 4, 4, 4, 4},
        {11, 13, 5, 6, 5, 0}, {33, 35, 3, 2, 16, 1},
    };
    for (size_t g = 0; g < sizeof geo / sizeof *geo; g++)
        for (int max = 0; max <= 1; max++) {
            lsuv_pool2d_params p = {
                .batch = g % 3 == 0 ? 1 : 2 * test_rng_int(&r, 0, 2) + 1,
                .channels = 2 * test_rng_int(&r, 0, 3) + 1,
                .in_h = geo[g][0] + test_rng_int(&r, 0, 12), .in_w = geo[g][1] + test_rng_int(&r, 1, 14),
                .kernel_h = geo[g][0], .kernel_w = geo[g][1], .stride_h = geo[g][2], .stride_w = geo[g][3],
                .pad_h = geo[g][4], .pad_w = geo[g][5], .max = max};
            /* CPU devices read and write small windows through r32f views; lowered views
             * below the tensor run the device-address form the GPUs take */
            for (int lowered = 0; lowered < 2; lowered++) {
                ctx->tuning.texel_max = lowered ? 16 : 0;
                double err = run_pool(ctx, &r, p, 0.3);
                cr_expect_leq(err, TOL, "%s pool %ux%ux%ux%u k %ux%u s %ux%u p %ux%u%s: rel err %.3g",
                              max ? "max" : "avg", p.batch, p.channels, p.in_h, p.in_w, p.kernel_h, p.kernel_w,
                              p.stride_h, p.stride_w, p.pad_h, p.pad_w, lowered ? " (device addresses)" : "", err);
            }
        }
    lsuv_context_destroy(ctx);
}

/* Global pooling (kernel = H x W): per-invocation (small), workgroup of 64 and of 256. */
Test(eltwise, pool2d_global)
{
    lsuv_context *ctx = test_context();
    test_rng r = {31};
    static const uint32_t hw[][2] = {{1, 1}, {3, 5}, {7, 7}, {8, 8}, {13, 11}, {37, 41}, {150, 171}};
    for (size_t g = 0; g < sizeof hw / sizeof *hw; g++)
        for (int max = 0; max <= 1; max++) {
            uint32_t big = hw[g][0] * hw[g][1] > 10000;
            lsuv_pool2d_params p = {.batch = big ? 1 : 2 * (uint32_t)g + 1,
                                    .channels = big ? 3 : 5 + 2 * (uint32_t)g,
                                    .in_h = hw[g][0], .in_w = hw[g][1], .kernel_h = hw[g][0],
                                    .kernel_w = hw[g][1], .stride_h = 1, .stride_w = 1, .max = max};
            /* mean 0: the average is a small difference of large sums (a hard case for float) */
            double err = run_pool(ctx, &r, p, (g & 1) || big ? 0.0 : 1.5);
            cr_expect_leq(err, TOL, "global %s pool %ux%ux%ux%u: rel err %.3g", max ? "max" : "avg", p.batch,
                          p.channels, p.in_h, p.in_w, err);
        }
    lsuv_context_destroy(ctx);
}

Test(eltwise, pool2d_output_size_pytorch_floor_mode)
{
    lsuv_pool2d_params p = {.batch = 1, .channels = 1, .in_h = 32, .in_w = 31, .kernel_h = 3, .kernel_w = 3,
                            .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1};
    cr_assert(lsuv_pool2d_output_size(&p));
    cr_expect_eq(p.out_h, 16); /* floor((32 + 2 - 3) / 2) + 1 */
    cr_expect_eq(p.out_w, 16); /* floor((31 + 2 - 3) / 2) + 1 */
    p.kernel_h = p.kernel_w = 2, p.pad_h = p.pad_w = 0;
    cr_assert(lsuv_pool2d_output_size(&p));
    cr_expect_eq(p.out_h, 16);
    cr_expect_eq(p.out_w, 15);
    p.pad_h = 2; /* more than half the kernel: PyTorch refuses */
    cr_expect_not(lsuv_pool2d_output_size(&p));
    p.pad_h = 0, p.kernel_h = 33; /* window larger than the input */
    cr_expect_not(lsuv_pool2d_output_size(&p));
    p.kernel_h = 2, p.stride_w = 0;
    cr_expect_not(lsuv_pool2d_output_size(&p));
}

/* ---------------------------------------------------------------- add, concat */

Test(eltwise, residual_add_in_and_out_of_place)
{
    lsuv_context *ctx = test_context();
    test_rng r = {8};
    for (int mode = 0; mode < 3; mode++) { /* y separate, y = a, y = b */
        size_t n = (size_t)test_rng_int(&r, 1, 200000) * 2 + 1;
        float *a = random_floats(&r, n, 0, 1), *b = random_floats(&r, n, 1, 2);
        lsuv_buffer ba = test_upload(ctx, a, n), bb = test_upload(ctx, b, n);
        lsuv_buffer by = mode == 0 ? test_alloc_poisoned(ctx, n) : mode == 1 ? ba : bb;
        ok(ctx, lsuv_k_add(ctx, &ba, &bb, &by, n), "add");
        float *y = test_download(ctx, &by, n);
        double *da = to_double(a, n), *db = to_double(b, n), *want = malloc(n * sizeof *want);
        ref_add(da, db, want, n);
        double err = test_rel_error(y, want, n);
        cr_expect_leq(err, 1e-7, "add mode %d n %zu: rel err %.3g", mode, n, err);
        free(a), free(b), free(y), free(da), free(db), free(want);
        lsuv_buffer_free(ctx, &ba);
        lsuv_buffer_free(ctx, &bb);
        if (mode == 0)
            lsuv_buffer_free(ctx, &by);
    }
    lsuv_context_destroy(ctx);
}

/* add + activation (what follows a residual add alone) with every activation PReLU
 * aside: through texel views (n % 4 == 0), float by float (n odd) and float by float
 * forced (views lowered below the tensor), in place and not. */
Test(eltwise, residual_add_with_activation_both_forms)
{
    lsuv_context *ctx = test_context();
    test_rng r = {81};
    int cases = 0;
    for (int act = 0; act <= LSUV_K_ACT_SILU; act++)
        for (int form = 0; form < 3 && act != LSUV_K_ACT_PRELU; form++) {
            ctx->tuning.texel_max = form == 2 ? 64 : 0;
            size_t n = form == 1 ? (size_t)test_rng_int(&r, 100, 5000) * 2 + 1 : (size_t)test_rng_int(&r, 100, 5000) * 4;
            float param = act == LSUV_K_ACT_LEAKY ? 0.1f : act == LSUV_K_ACT_ELU ? 0.7f : 0.0f;
            float *a = random_floats(&r, n, 0, 1.5), *b = random_floats(&r, n, -0.2, 1);
            lsuv_buffer ba = test_upload(ctx, a, n), bb = test_upload(ctx, b, n);
            int in_place = (act + form) & 1;
            lsuv_buffer by = in_place ? ba : test_alloc_poisoned(ctx, n);
            ok(ctx, lsuv_k_add_act(ctx, &ba, &bb, &by, n, (lsuv_act_kind)act, param, 0), "add_act");
            float *y = test_download(ctx, &by, n);
            double *da = to_double(a, n), *db = to_double(b, n), *sum = malloc(n * sizeof *sum);
            double *want = malloc(n * sizeof *want);
            ref_add(da, db, sum, n);
            ref_affine_act(sum, want, n, 1, n, 1.0f, NULL, NULL, act, param, NULL);
            double err = test_rel_error(y, want, n);
            cr_expect_leq(err, TOL, "add + %s, form %d, n %zu, in place %d: rel err %.3g", act_name[act], form, n,
                          in_place, err);
            free(a), free(b), free(y), free(da), free(db), free(sum), free(want);
            lsuv_buffer_free(ctx, &ba);
            lsuv_buffer_free(ctx, &bb);
            if (!in_place)
                lsuv_buffer_free(ctx, &by);
            cases++;
        }
    cr_expect_gt(cases, 20);
    lsuv_buffer none = {0}, one = test_alloc_poisoned(ctx, 64);
    cr_expect_eq(lsuv_k_add_act(ctx, &one, &one, &one, 64, LSUV_K_ACT_PRELU, 0, 0), LSUV_ERROR_INVALID_ARGUMENT,
                 "add with PReLU (per-channel slopes) must be refused");
    cr_expect_eq(lsuv_k_add_act(ctx, &one, &none, &one, 64, LSUV_K_ACT_RELU, 0, 0), LSUV_ERROR_INVALID_ARGUMENT);
    lsuv_buffer_free(ctx, &one);
    lsuv_context_destroy(ctx);
}

Test(eltwise, channel_concat_of_two_and_three)
{
    lsuv_context *ctx = test_context();
    test_rng r = {41};
    for (int pieces = 2; pieces <= 3; pieces++)
        for (int round = 0; round < 2; round++) {
            size_t batch = round == 0 ? 1 : 2 * test_rng_int(&r, 1, 3) + 1;
            size_t spatial = round == 0 ? 1 : (size_t)test_rng_int(&r, 2, 9) * test_rng_int(&r, 3, 11);
            int ch[3], total_ch = 0;
            for (int i = 0; i < pieces; i++)
                total_ch += ch[i] = test_rng_int(&r, 1, 9);
            size_t dst_n = batch * total_ch * spatial;
            lsuv_buffer bd = test_alloc_poisoned(ctx, dst_n);
            double *want = malloc(dst_n * sizeof *want);
            float *src[3];
            lsuv_buffer bs[3];
            int offset = 0;
            for (int i = 0; i < pieces; i++) {
                size_t n = batch * ch[i] * spatial;
                src[i] = random_floats(&r, n, i, 1);
                bs[i] = test_upload(ctx, src[i], n);
                ok(ctx, lsuv_k_copy_channels(ctx, &bs[i], &bd, batch, ch[i], total_ch, offset, spatial),
                   "copy_channels");
                double *ds = to_double(src[i], n);
                ref_copy_channels(ds, want, batch, ch[i], total_ch, offset, spatial);
                free(ds);
                offset += ch[i];
            }
            float *y = test_download(ctx, &bd, dst_n);
            double err = test_rel_error(y, want, dst_n); /* every element written: no NaN left */
            cr_expect_eq(err, 0.0, "concat of %d, batch %zu spatial %zu: rel err %.3g", pieces, batch,
                         spatial, err);
            for (int i = 0; i < pieces; i++) {
                free(src[i]);
                lsuv_buffer_free(ctx, &bs[i]);
            }
            free(y), free(want);
            lsuv_buffer_free(ctx, &bd);
        }
    lsuv_context_destroy(ctx);
}

/* ---------------------------------------------------------------- invalid arguments */

static void refused(lsuv_context *ctx, lsuv_status st, const char *what)
{
    cr_expect_eq(st, LSUV_ERROR_INVALID_ARGUMENT, "%s: got %s", what, lsuv_status_string(st));
    cr_expect(strlen(lsuv_context_last_error(ctx)) > 0, "%s: no message", what);
}

Test(eltwise, invalid_arguments_refused)
{
    lsuv_context *ctx = test_context();
    lsuv_buffer a = test_alloc_poisoned(ctx, 64), b = test_alloc_poisoned(ctx, 64);
    lsuv_buffer small = lsuv_buffer_slice(&a, 0, 16), none = {0}; /* 4 floats */
    refused(ctx, lsuv_k_affine_act(ctx, &a, &b, 64, 4, 16, 1, NULL, NULL, (lsuv_act_kind)99, 0, NULL),
            "bad activation");
    refused(ctx, lsuv_k_affine_act(ctx, &a, &b, 0, 4, 16, 1, NULL, NULL, LSUV_K_ACT_RELU, 0, NULL),
            "count 0");
    refused(ctx, lsuv_k_affine_act(ctx, &a, &b, 64, 0, 16, 1, NULL, NULL, LSUV_K_ACT_RELU, 0, NULL),
            "0 channels");
    refused(ctx, lsuv_k_affine_act(ctx, &a, &b, 63, 4, 16, 1, NULL, NULL, LSUV_K_ACT_RELU, 0, NULL),
            "count not a multiple");
    refused(ctx, lsuv_k_affine_act(ctx, &a, &b, 128, 4, 16, 1, NULL, NULL, LSUV_K_ACT_RELU, 0, NULL),
            "x too small");
    refused(ctx, lsuv_k_affine_act(ctx, &a, NULL, 64, 4, 16, 1, NULL, NULL, LSUV_K_ACT_RELU, 0, NULL),
            "no y");
    refused(ctx, lsuv_k_affine_act(ctx, &a, &b, 64, 8, 8, 1, &small, NULL, LSUV_K_ACT_NONE, 0, NULL),
            "scale too small");
    refused(ctx, lsuv_k_affine_act(ctx, &a, &b, 64, 4, 16, 1, NULL, NULL, LSUV_K_ACT_PRELU, 0, NULL),
            "PReLU without slopes");
    refused(ctx, lsuv_k_affine_act(ctx, &a, &b, 64, 4, 16, NAN, NULL, NULL, LSUV_K_ACT_NONE, 0, NULL),
            "NaN alpha");
    lsuv_buffer a_shifted = lsuv_buffer_slice(&a, 4, 60 * 4);
    refused(ctx, lsuv_k_affine_act(ctx, &a, &a_shifted, 60, 1, 1, 1, NULL, NULL, LSUV_K_ACT_NONE, 0, NULL),
            "partly overlapping x and y");
    refused(ctx, lsuv_k_maxout(ctx, &a, &b, 1, 6, 4, 4), "channels not divisible by k");
    refused(ctx, lsuv_k_maxout(ctx, &a, &b, 1, 8, 4, 0), "k = 0");
    refused(ctx, lsuv_k_maxout(ctx, &a, &small, 1, 8, 4, 2), "maxout y too small");
    lsuv_pool2d_params p = {.batch = 1, .channels = 1, .in_h = 8, .in_w = 8, .kernel_h = 3, .kernel_w = 3,
                            .stride_h = 1, .stride_w = 1, .pad_h = 2, .pad_w = 0, .max = 1};
    refused(ctx, lsuv_k_pool2d(ctx, &p, &a, &b), "pool padding over half the kernel");
    p.pad_h = 0, p.kernel_w = 9;
    refused(ctx, lsuv_k_pool2d(ctx, &p, &a, &b), "pool kernel wider than input");
    p.kernel_w = 3, p.out_h = 5, p.out_w = 6;
    refused(ctx, lsuv_k_pool2d(ctx, &p, &a, &b), "pool output size mismatch");
    p.out_h = p.out_w = 0;
    refused(ctx, lsuv_k_pool2d(ctx, &p, &a, &small), "pool y too small");
    refused(ctx, lsuv_k_pool2d(ctx, NULL, &a, &b), "pool without parameters");
    refused(ctx, lsuv_k_add(ctx, &a, &b, &small, 64), "add y too small");
    refused(ctx, lsuv_k_add(ctx, &a, &none, &b, 64), "add without b");
    refused(ctx, lsuv_k_add(ctx, &a, &b, &b, 0), "add of 0 elements");
    refused(ctx, lsuv_k_copy_channels(ctx, &a, &b, 1, 4, 6, 3, 16), "concat piece past the channels");
    refused(ctx, lsuv_k_copy_channels(ctx, &a, &b, 2, 4, 4, 0, 16), "concat src too small");
    refused(ctx, lsuv_k_copy_channels(ctx, &a, &b, 1, 0, 4, 0, 16), "concat of 0 channels");
    /* nothing was recorded by the refused calls: the context still works */
    ok(ctx, lsuv_k_add(ctx, &a, &a, &b, 64), "add after refusals");
    ok(ctx, lsuv_submit(ctx), "submit");
    lsuv_buffer_free(ctx, &a);
    lsuv_buffer_free(ctx, &b);
    lsuv_context_destroy(ctx);
}
