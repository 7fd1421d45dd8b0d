/* test_lsuv.c - LSUV end to end: after lsuv_init the double-precision reference forward
 * on the same batch measures every non-degenerate layer's variance within tol_var of 1;
 * modes (pre/post, several batches, centering), guards and the work accounting. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ref_net.h"
#include "support.h"
#include "zoo.h"

#define MAX_LAYERS 64

static lsuv_data *gaussian(lsuv_context *ctx, lsuv_net *net, int64_t n, uint64_t seed)
{
    lsuv_data *d = NULL;
    int ndim;
    int64_t dims[3];
    lsuv_net_node_shape(net, 0, &ndim, dims);
    cr_assert_eq(lsuv_data_gaussian(ctx, n, ndim, dims, seed, &d), LSUV_OK, "%s", lsuv_context_last_error(ctx));
    return d;
}

static const float *batch_values(const lsuv_data *d, int batch, int k)
{
    int64_t per = 1;
    for (int i = 0; i < d->ndim; i++)
        per *= d->dims[i];
    return d->values + (size_t)k * (size_t)batch * (size_t)per;
}

/* Runs LSUV and checks the reference variance of every non-degenerate layer. */
static lsuv_report *run_and_check(lsuv_context *ctx, lsuv_net *net, const lsuv_data *d, const lsuv_options *o)
{
    lsuv_report *rep = NULL;
    lsuv_status st = lsuv_init(net, d, o, &rep);
    cr_assert_eq(st, LSUV_OK, "lsuv_init: %s: %s", lsuv_status_string(st), lsuv_context_last_error(ctx));
    cr_assert_not_null(rep);
    int batch = (int)rep->samples_per_batch;
    ref_layer_stats *s = calloc((size_t)rep->batches * MAX_LAYERS, sizeof *s);
    int *done = calloc((size_t)rep->batches, sizeof *done);
    cr_assert(s && done);
    for (int i = 0; i < rep->layer_count; i++) {
        const lsuv_layer_report *l = &rep->layers[i];
        if (l->status == LSUV_LAYER_DEGENERATE)
            continue;
        cr_assert_eq(l->status, LSUV_LAYER_OK, "layer %s ended %s (var %g)", l->name,
                     lsuv_layer_status_string(l->status), l->var_final);
        ref_layer_stats *sb = s + (size_t)l->final_batch * MAX_LAYERS;
        if (!done[l->final_batch]) { /* one reference forward per batch used */
            int n = ref_net_forward(net, batch_values(d, batch, l->final_batch), batch, sb, MAX_LAYERS, NULL);
            cr_assert_eq(n, rep->layer_count);
            done[l->final_batch] = 1;
        }
        double v = o->measure == LSUV_MEASURE_POST ? sb[i].var_post : sb[i].var_pre;
        cr_assert(fabs(v - 1.0) < o->tol_var, "layer %s: reference variance %.6f on batch %d (reported %.6f)",
                  l->name, v, l->final_batch, l->var_final);
        cr_assert(fabs(v - l->var_final) < 1e-3 * (1 + v), "layer %s: reported %.7f, reference %.7f", l->name,
                  l->var_final, v);
    }
    free(s);
    free(done);
    return rep;
}

/* Every parameter finite. */
static void check_finite(lsuv_net *net)
{
    for (int i = 0; i < lsuv_net_param_count(net); i++) {
        const char *name;
        int64_t numel;
        lsuv_net_param_info(net, i, &name, NULL, NULL, &numel);
        if (net->params[i].dtype != LSUV_DTYPE_F32)
            continue;
        float *w = malloc((size_t)numel * 4);
        cr_assert_eq(lsuv_net_get_param(net, name, w, numel), LSUV_OK);
        for (int64_t j = 0; j < numel; j++)
            cr_assert(isfinite(w[j]), "%s[%lld] = %g", name, (long long)j, (double)w[j]);
        free(w);
    }
}

static lsuv_net *zoo(lsuv_context *ctx, const char *name, const char *act)
{
    lsuv_net *net = NULL;
    lsuv_status st = zoo_build(ctx, name, act, &net);
    cr_assert_eq(st, LSUV_OK, "%s: %s", name, lsuv_context_last_error(ctx));
    return net;
}

typedef struct progress_log { int calls, last, layers; char first[32]; } progress_log;

static void on_progress(void *user, int layer, int layers, const char *name)
{
    progress_log *p = user;
    cr_assert_eq(layer, p->calls, "layers are announced in order");
    if (p->calls++ == 0)
        snprintf(p->first, sizeof p->first, "%s", name);
    p->last = layer;
    p->layers = layers;
}

Test(lsuv, mlp20_tanh_pre_fixed_batch_one_forward)
{
    lsuv_context *ctx = test_context();
    lsuv_net *net = zoo(ctx, "mlp20", NULL);
    lsuv_data *d = gaussian(ctx, net, 64, 1);
    lsuv_options o;
    lsuv_options_init(&o);
    progress_log log = {0};
    o.progress = on_progress;
    o.progress_user = &log;
    lsuv_report *rep = run_and_check(ctx, net, d, &o);
    cr_assert_eq(rep->layer_count, 21);
    cr_assert(log.calls == 21 && log.layers == 21 && log.last == 20 && strcmp(log.first, "0") == 0);
    cr_assert_eq(rep->flops_executed, rep->flops_forward, "pre mode on one batch is exactly one forward");
    cr_assert_eq(rep->flops_forward, 2.0 * 64 * (784 * 1024 + 19 * 1024 * 1024 + 1024 * 10));
    int computed = 0;
    for (int i = 0; i < rep->layer_count; i++) {
        cr_assert_eq(rep->layers[i].tries_measured, 1, "layer %s", rep->layers[i].name);
        computed += rep->layers[i].tries_computed;
    }
    cr_assert(computed >= 1, "orthonormal weights on tanh outputs need rescaling somewhere");
    cr_assert_null(rep->warning);
    /* the pre-init's products, as declared: at least the Householder construction's
     * 2 m n^2 - (2/3) n^3 per weight (n <= m), at most half again (blocks of 64 multiply
     * some of V's zeros) */
    const double shapes[3][3] = {{1024, 784, 1}, {1024, 1024, 19}, {1024, 10, 1}};
    double needed = 0;
    for (int i = 0; i < 3; i++)
        needed += shapes[i][2] * (2 * shapes[i][0] * shapes[i][1] * shapes[i][1] -
                                  2.0 / 3 * shapes[i][1] * shapes[i][1] * shapes[i][1]);
    cr_assert(rep->flops_orthonormalize >= needed && rep->flops_orthonormalize <= 1.5 * needed,
              "pre-init FLOPs %.4g, the construction needs %.4g", rep->flops_orthonormalize, needed);
    lsuv_report_free(rep);
    o.orthonormal = 0;
    o.progress = NULL;
    rep = run_and_check(ctx, net, d, &o);
    cr_assert_eq(rep->flops_orthonormalize, 0.0, "no pre-init, no pre-init FLOPs");
    check_finite(net);
    lsuv_report_free(rep);
    lsuv_data_free(d);
    lsuv_net_destroy(net);
    lsuv_context_destroy(ctx);
}

Test(lsuv, mlp20_post_activation)
{
    lsuv_context *ctx = test_context();
    lsuv_net *net = zoo(ctx, "mlp20", "relu");
    lsuv_data *d = gaussian(ctx, net, 48, 2);
    lsuv_options o;
    lsuv_options_init(&o);
    o.measure = LSUV_MEASURE_POST;
    o.tol_var = 0.05;
    lsuv_report *rep = run_and_check(ctx, net, d, &o);
    cr_assert_eq(rep->flops_executed, rep->flops_forward, "post tries are elementwise, not forwards");
    lsuv_report_free(rep);
    lsuv_data_free(d);
    lsuv_net_destroy(net);
    lsuv_context_destroy(ctx);
}

static void fitnet4_with(const char *act)
{
    lsuv_context *ctx = test_context();
    lsuv_net *net = zoo(ctx, "fitnet4", act);
    lsuv_data *d = gaussian(ctx, net, 16, 3);
    lsuv_options o;
    lsuv_options_init(&o);
    o.seed = 7;
    lsuv_report *rep = run_and_check(ctx, net, d, &o);
    cr_assert_eq(rep->layer_count, 17);
    cr_assert_null(rep->warning, "16 samples need no warning");
    check_finite(net);
    lsuv_report_free(rep);
    lsuv_data_free(d);
    lsuv_net_destroy(net);
    lsuv_context_destroy(ctx);
}

Test(lsuv, fitnet4_relu) { fitnet4_with("relu"); }
Test(lsuv, fitnet4_tanh) { fitnet4_with("tanh"); }
Test(lsuv, fitnet4_sigmoid) { fitnet4_with("sigmoid"); }
Test(lsuv, fitnet4_leaky_relu) { fitnet4_with("leaky_relu"); }
Test(lsuv, fitnet4_vlrelu) { fitnet4_with("vlrelu"); }
Test(lsuv, fitnet4_elu) { fitnet4_with("elu"); }
Test(lsuv, fitnet4_gelu) { fitnet4_with("gelu"); }
Test(lsuv, fitnet4_silu) { fitnet4_with("silu"); }
Test(lsuv, fitnet4_prelu) { fitnet4_with("prelu"); }

Test(lsuv, fitnet4_post_activation)
{
    lsuv_context *ctx = test_context();
    lsuv_net *net = zoo(ctx, "fitnet4", "elu");
    lsuv_data *d = gaussian(ctx, net, 16, 4);
    lsuv_options o;
    lsuv_options_init(&o);
    o.measure = LSUV_MEASURE_POST;
    lsuv_report *rep = run_and_check(ctx, net, d, &o);
    lsuv_report_free(rep);
    lsuv_data_free(d);
    lsuv_net_destroy(net);
    lsuv_context_destroy(ctx);
}

/* A residual net with batch norm, its device memory left unmapped as on a discrete GPU
 * (uploads and downloads go through the staging buffer). */
Test(lsuv, residual_net_with_batchnorm)
{
    lsuv_context *ctx = test_context();
    ctx->force_staging = 1;
    lsuv_net *net = zoo(ctx, "resnet_tiny", NULL);
    lsuv_data *d = gaussian(ctx, net, 16, 5);
    lsuv_options o;
    lsuv_options_init(&o);
    lsuv_report *rep = run_and_check(ctx, net, d, &o);
    cr_assert_eq(rep->layer_count, 1 + 3 * 2 + 2 + 1, "conv1, 3 blocks x 2 convs, 2 downsamples, fc");
    cr_assert_eq(rep->flops_executed, rep->flops_forward);
    lsuv_report_free(rep);
    lsuv_data_free(d);
    lsuv_net_destroy(net);
    lsuv_context_destroy(ctx);
}

/* Batch norms with real statistics (random scale, shift, running mean and variance): the
 * engine folds each into its conv's apply pass, with the ReLU after it; the double
 * reference runs them as separate nodes. One batch, then two (the second batch of a
 * rescaled layer is forwarded with the final weights and the norm applied on its own). */
Test(lsuv, batchnorm_with_statistics_folded_into_the_apply_pass)
{
    lsuv_context *ctx = test_context();
    lsuv_net *net = zoo(ctx, "resnet_tiny", NULL);
    test_rng r = {77};
    int norms = 0;
    for (int i = 0; i < lsuv_net_param_count(net); i++) {
        const char *name;
        int64_t numel;
        lsuv_net_param_info(net, i, &name, NULL, NULL, &numel);
        size_t len = strlen(name), tail = strlen(".running_mean");
        if (len <= tail || strcmp(name + len - tail, ".running_mean"))
            continue;
        char prefix[LSUV_NAME_MAX], full[LSUV_NAME_MAX + 16];
        snprintf(prefix, sizeof prefix, "%.*s", (int)(len - tail), name);
        static const char *parts[4] = {"weight", "bias", "running_mean", "running_var"};
        static const double lo[4] = {0.5, -0.5, -0.7, 0.3}, hi[4] = {1.5, 0.5, 0.7, 2.5};
        float *v = malloc((size_t)numel * sizeof *v);
        cr_assert_not_null(v);
        for (int p = 0; p < 4; p++) {
            for (int64_t c = 0; c < numel; c++)
                v[c] = (float)(lo[p] + (hi[p] - lo[p]) * test_rng_uniform(&r));
            snprintf(full, sizeof full, "%s.%s", prefix, parts[p]);
            cr_assert_eq(lsuv_net_set_param(net, full, v, numel), LSUV_OK, "%s: %s", full,
                         lsuv_context_last_error(ctx));
        }
        free(v);
        norms++;
    }
    cr_assert_geq(norms, 7, "resnet_tiny's batch norms");
    lsuv_data *d = gaussian(ctx, net, 2 * 16, 15);
    /* 1 batch; 2 with a tight tolerance (every layer tries both); 2 with a loose one (some
     * layers stop at the first batch, so the second is forwarded after the rescale and a
     * later layer measures it) */
    static const struct { int batches; double tol; } runs[] = {{1, 0.02}, {2, 0.02}, {2, 0.45}};
    int unmeasured = 0;
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        lsuv_options o;
        lsuv_options_init(&o);
        o.batches = runs[i].batches;
        o.batch = 16;
        o.tol_var = runs[i].tol;
        lsuv_report *rep = run_and_check(ctx, net, d, &o);
        cr_assert_eq(rep->flops_executed, rep->flops_forward);
        for (int l = 0; runs[i].batches == 2 && l < rep->layer_count; l++)
            unmeasured += rep->layers[l].tries_measured == 1 && rep->layers[l].tries_computed == 0;
        lsuv_report_free(rep);
    }
    cr_expect_gt(unmeasured, 0, "some layer should have left a batch unmeasured");
    check_finite(net);
    lsuv_data_free(d);
    lsuv_net_destroy(net);
    lsuv_context_destroy(ctx);
}

Test(lsuv, several_batches_round_robin)
{
    lsuv_context *ctx = test_context();
    lsuv_net *net = zoo(ctx, "mlp20", NULL);
    lsuv_data *d = gaussian(ctx, net, 3 * 20 + 5, 6);
    lsuv_options o;
    lsuv_options_init(&o);
    o.batches = 3;
    o.batch = 20;
    lsuv_report *rep = run_and_check(ctx, net, d, &o);
    cr_assert_eq(rep->batches, 3);
    cr_assert_eq(rep->samples_per_batch, 20);
    cr_assert_eq(rep->flops_executed, rep->flops_forward, "each batch through each layer once");
    int fresh = 0;
    for (int i = 0; i < rep->layer_count; i++)
        fresh += rep->layers[i].tries_measured > 1;
    cr_assert(fresh > 0, "rescaled layers are measured on fresh batches");
    lsuv_report_free(rep);
    lsuv_data_free(d);
    lsuv_net_destroy(net);
    lsuv_context_destroy(ctx);
}

Test(lsuv, centering_sets_bias_for_zero_channel_means)
{
    lsuv_context *ctx = test_context();
    lsuv_net *net = zoo(ctx, "fitnet4", "relu");
    lsuv_data *d = gaussian(ctx, net, 16, 8);
    lsuv_options o;
    lsuv_options_init(&o);
    o.center = 1;
    lsuv_report *rep = run_and_check(ctx, net, d, &o);
    ref_layer_stats s[MAX_LAYERS];
    ref_net_forward(net, d->values, 16, s, MAX_LAYERS, NULL);
    for (int i = 0; i < rep->layer_count; i++)
        cr_assert(fabs(s[i].mean_pre) < 1e-4, "layer %s: mean %g after centering", s[i].name, s[i].mean_pre);
    lsuv_report_free(rep);
    lsuv_data_free(d);
    lsuv_net_destroy(net);
    lsuv_context_destroy(ctx);
}

Test(lsuv, nan_data_is_refused_before_any_change)
{
    lsuv_context *ctx = test_context();
    lsuv_net *net = zoo(ctx, "mlp20", NULL);
    lsuv_data *d = gaussian(ctx, net, 32, 9);
    cr_assert_eq(lsuv_net_get_param(net, "0.weight", NULL, 0), LSUV_ERROR_SHAPE);
    float *w = malloc(1024 * 784 * 4), *w2 = malloc(1024 * 784 * 4);
    cr_assert_eq(lsuv_net_get_param(net, "0.weight", w, 1024 * 784), LSUV_OK);
    d->values[31 * 784 + 5] = NAN;
    lsuv_report *rep = (lsuv_report *)1;
    cr_assert_eq(lsuv_init(net, d, NULL, &rep), LSUV_ERROR_BAD_DATA);
    cr_assert_null(rep);
    cr_assert(strstr(lsuv_context_last_error(ctx), "sample 31"), "%s", lsuv_context_last_error(ctx));
    cr_assert_eq(lsuv_net_get_param(net, "0.weight", w2, 1024 * 784), LSUV_OK);
    cr_assert_eq(memcmp(w, w2, 1024 * 784 * 4), 0, "weights changed although the data was refused");
    d->values[31 * 784 + 5] = INFINITY;
    cr_assert_eq(lsuv_init(net, d, NULL, NULL), LSUV_ERROR_BAD_DATA);
    free(w);
    free(w2);
    lsuv_data_free(d);
    lsuv_net_destroy(net);
    lsuv_context_destroy(ctx);
}

Test(lsuv, zero_and_denormal_variance_layers_are_degenerate_and_finite)
{
    lsuv_context *ctx = test_context();
    int64_t f[1] = {33};
    lsuv_net *net = NULL;
    int x;
    cr_assert_eq(lsuv_net_create(ctx, 1, f, &net), LSUV_OK);
    cr_assert_eq(lsuv_net_dense(net, "a", 0, 17, 1, &x), LSUV_OK);
    cr_assert_eq(lsuv_net_activation(net, NULL, x, LSUV_ACT_RELU, 0, &x), LSUV_OK);
    cr_assert_eq(lsuv_net_dense(net, "b", x, 9, 1, &x), LSUV_OK);
    lsuv_data *d = gaussian(ctx, net, 20, 10);
    for (int mode = 0; mode < 2; mode++) {
        for (int i = 0; i < 20 * 33; i++)
            d->values[i] = mode ? d->values[i] * 1e-38f * 1e-3f : 0.0f; /* zeros, then denormals */
        lsuv_report *rep = NULL;
        cr_assert_eq(lsuv_init(net, d, NULL, &rep), LSUV_OK, "%s", lsuv_context_last_error(ctx));
        cr_assert_eq(rep->layers[0].status, LSUV_LAYER_DEGENERATE, "mode %d: var %g", mode, rep->layers[0].var_initial);
        cr_assert_eq(rep->layers[1].status, LSUV_LAYER_DEGENERATE);
        check_finite(net);
        lsuv_report_free(rep);
    }
    lsuv_data_free(d);
    lsuv_net_destroy(net);
    lsuv_context_destroy(ctx);
}

Test(lsuv, small_batch_warns_and_tmax_zero_stops)
{
    lsuv_context *ctx = test_context();
    lsuv_net *net = zoo(ctx, "mlp20", NULL);
    lsuv_data *d = gaussian(ctx, net, 8, 11);
    lsuv_options o;
    lsuv_options_init(&o);
    o.t_max = 0;
    lsuv_report *rep = NULL;
    cr_assert_eq(lsuv_init(net, d, &o, &rep), LSUV_OK, "%s", lsuv_context_last_error(ctx));
    cr_assert_not_null(rep->warning);
    cr_assert(strstr(rep->warning, "8 samples"), "%s", rep->warning);
    int capped = 0;
    for (int i = 0; i < rep->layer_count; i++) {
        cr_assert_eq(rep->layers[i].tries_computed + rep->layers[i].tries_measured, 1);
        capped += rep->layers[i].status == LSUV_LAYER_MAX_TRIES;
    }
    cr_assert(capped > 0);
    lsuv_report_free(rep);
    lsuv_data_free(d);
    lsuv_net_destroy(net);
    lsuv_context_destroy(ctx);
}

Test(lsuv, invalid_options_are_refused_with_a_message)
{
    lsuv_context *ctx = test_context();
    lsuv_net *net = zoo(ctx, "mlp20", NULL);
    lsuv_data *d = gaussian(ctx, net, 20, 12);
    lsuv_options o;
    struct { const char *field, *needle; lsuv_status want; } cases[] = {
        {"tol", "tol_var", LSUV_ERROR_INVALID_ARGUMENT},   {"tmax", "t_max", LSUV_ERROR_INVALID_ARGUMENT},
        {"measure", "measure", LSUV_ERROR_INVALID_ARGUMENT}, {"batches", "batches", LSUV_ERROR_INVALID_ARGUMENT},
        {"toomany", "samples", LSUV_ERROR_INVALID_ARGUMENT}, {"shape", "(784)", LSUV_ERROR_SHAPE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lsuv_options_init(&o);
        lsuv_data dd = *d;
        if (!strcmp(cases[i].field, "tol"))
            o.tol_var = 0;
        else if (!strcmp(cases[i].field, "tmax"))
            o.t_max = -1;
        else if (!strcmp(cases[i].field, "measure"))
            o.measure = (lsuv_measure)7;
        else if (!strcmp(cases[i].field, "batches"))
            o.batches = 0;
        else if (!strcmp(cases[i].field, "toomany")) {
            o.batches = 3;
            o.batch = 7;
        } else {
            dd.dims[0] = 783;
        }
        lsuv_status st = lsuv_init(net, &dd, &o, NULL);
        cr_assert_eq(st, cases[i].want, "%s: got %s", cases[i].field, lsuv_status_string(st));
        cr_assert(strstr(lsuv_context_last_error(ctx), cases[i].needle), "%s: %s", cases[i].field,
                  lsuv_context_last_error(ctx));
    }
    lsuv_data_free(d);
    lsuv_net_destroy(net);
    lsuv_context_destroy(ctx);
}

Test(lsuv, same_seed_same_weights_and_skip_orthonormal_keeps_direction)
{
    lsuv_context *ctx = test_context();
    lsuv_net *a = zoo(ctx, "resnet_tiny", NULL), *b = zoo(ctx, "resnet_tiny", NULL);
    lsuv_data *d = gaussian(ctx, a, 16, 13);
    lsuv_options o;
    lsuv_options_init(&o);
    o.seed = 99;
    cr_assert_eq(lsuv_init(a, d, &o, NULL), LSUV_OK);
    cr_assert_eq(lsuv_init(b, d, &o, NULL), LSUV_OK);
    int64_t n = 16 * 3 * 9;
    float *wa = malloc(n * 4), *wb = malloc(n * 4);
    cr_assert_eq(lsuv_net_get_param(a, "conv1.weight", wa, n), LSUV_OK);
    cr_assert_eq(lsuv_net_get_param(b, "conv1.weight", wb, n), LSUV_OK);
    cr_assert_eq(memcmp(wa, wb, n * 4), 0);
    /* without the pre-init, LSUV only rescales: the weights stay proportional */
    for (int64_t i = 0; i < n; i++)
        wa[i] *= 3.0f;
    cr_assert_eq(lsuv_net_set_param(a, "conv1.weight", wa, n), LSUV_OK);
    o.orthonormal = 0;
    lsuv_report *rep = NULL;
    cr_assert_eq(lsuv_init(a, d, &o, &rep), LSUV_OK);
    cr_assert_eq(lsuv_net_get_param(a, "conv1.weight", wb, n), LSUV_OK);
    double s = rep->layers[0].scale;
    cr_assert(fabs(s - 1.0 / 3.0) < 0.05, "scale %g should undo the factor 3", s);
    for (int64_t i = 0; i < n; i++)
        cr_assert(fabs(wb[i] - s * wa[i]) <= 1e-6 * fabs(s * wa[i]) + 1e-30, "w[%lld]", (long long)i);
    lsuv_report_free(rep);
    free(wa);
    free(wb);
    lsuv_data_free(d);
    lsuv_net_destroy(a);
    lsuv_net_destroy(b);
    lsuv_context_destroy(ctx);
}

/* A multi-branch net: two conv branches concatenated, maxout, batch norm, average pooling. */
Test(lsuv, concat_maxout_branches)
{
    lsuv_context *ctx = test_context();
    int64_t in[3] = {3, 13, 11};
    lsuv_net *net = NULL;
    int a, b, x;
    cr_assert_eq(lsuv_net_create(ctx, 3, in, &net), LSUV_OK);
    lsuv_conv2d_desc d;
    lsuv_conv2d_desc_init(&d, 8, 3);
    d.pad_h = d.pad_w = 1;
    cr_assert_eq(lsuv_net_conv2d(net, "a", 0, &d, &a), LSUV_OK);
    cr_assert_eq(lsuv_net_activation(net, NULL, a, LSUV_ACT_RELU, 0, &a), LSUV_OK);
    lsuv_conv2d_desc_init(&d, 4, 1);
    cr_assert_eq(lsuv_net_conv2d(net, "b", 0, &d, &b), LSUV_OK);
    cr_assert_eq(lsuv_net_activation(net, NULL, b, LSUV_ACT_ELU, 1.0f, &b), LSUV_OK);
    int ins[3] = {a, b, a};
    cr_assert_eq(lsuv_net_concat(net, 3, ins, &x), LSUV_OK);
    lsuv_conv2d_desc_init(&d, 6, 3);
    d.stride_h = 2;
    d.groups = 2;
    cr_assert_eq(lsuv_net_conv2d(net, "c", x, &d, &x), LSUV_OK);
    cr_assert_eq(lsuv_net_maxout(net, x, 2, &x), LSUV_OK);
    cr_assert_eq(lsuv_net_batchnorm(net, "bn", x, 1e-5f, &x), LSUV_OK);
    cr_assert_eq(lsuv_net_pool2d(net, x, LSUV_POOL_AVG, 2, 2, 1, &x), LSUV_OK);
    cr_assert_eq(lsuv_net_flatten(net, x, &x), LSUV_OK);
    cr_assert_eq(lsuv_net_dense(net, "fc", x, 5, 1, &x), LSUV_OK);
    lsuv_data *data = gaussian(ctx, net, 24, 14);
    for (int measure = 0; measure < 2; measure++) {
        lsuv_options o;
        lsuv_options_init(&o);
        o.measure = (lsuv_measure)measure;
        o.tol_var = 0.02;
        lsuv_report *rep = run_and_check(ctx, net, data, &o);
        cr_assert_eq(rep->layer_count, 4);
        cr_assert_eq(rep->flops_executed, rep->flops_forward);
        lsuv_report_free(rep);
    }
    check_finite(net);
    lsuv_data_free(data);
    lsuv_net_destroy(net);
    lsuv_context_destroy(ctx);
}
