/* lsuv.c - the LSUV loop (Mishkin & Matas 2015, Algorithm 1) over a network graph.
 *
 * Forward work is one pass of the network over the data: nodes run in order, each on
 * the outputs of earlier nodes (the frontier), which are freed after their last use.
 * For a dense/conv layer L we run Z = W x once per batch (no bias) and take per-channel
 * means m_c and variances v_c of Z. Scaling W by s gives channel means s m_c + b_c and
 * variances s^2 v_c, so measured-before-activation variances of further tries follow in
 * closed form ("computed" tries) without another forward. Measuring after the
 * activation needs act(s Z + b): an elementwise pass and a reduction per try
 * ("measured"), still never a GEMM and never the layers before L. The graph itself is
 * run by graph_run.c. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn/graph_run.h"

void lsuv_options_init(lsuv_options *o)
{
    memset(o, 0, sizeof *o);
    o->tol_var = 0.1;
    o->t_max = 10;
    o->measure = LSUV_MEASURE_PRE;
    o->batch = 0;
    o->batches = 1;
    o->center = 0;
    o->orthonormal = 1;
    o->seed = 0;
}

const char *lsuv_layer_status_string(lsuv_layer_status s)
{
    switch (s) {
    case LSUV_LAYER_OK: return "ok";
    case LSUV_LAYER_MAX_TRIES: return "max_tries";
    case LSUV_LAYER_DEGENERATE: return "degenerate";
    }
    return "unknown";
}

/* The report and the strings it points to live in one allocation. */
typedef struct report_storage {
    lsuv_report pub;
    char warning[256];
    char (*names)[LSUV_NAME_MAX];
    char (*weights)[LSUV_NAME_MAX + 32];
} report_storage;

void lsuv_report_free(lsuv_report *report)
{
    if (!report)
        return;
    report_storage *rs = (report_storage *)report;
    free(rs->names);
    free(rs->weights);
    free(report->layers);
    free(rs);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The engine's state: the graph run plus the options. */
typedef struct run {
    lsuv_graph_run g;
    const lsuv_options *o;
} run;

static lsuv_buffer *val(run *r, int node, int k) { return lsuv_graph_value(&r->g, node, k); }

/* ------------------------------------------------------------ one weight layer */

typedef struct layer_state {
    int id;
    uint32_t C;
    uint64_t outer, spatial, count; /* statistics see the output as (outer, C, spatial) */
    double *mean, *var;    /* K x C per-channel statistics of W x (no bias) */
    int *have;             /* batch k forwarded? */
    double *bias;          /* C: current bias (zeros when the layer has none) */
    lsuv_buffer stats;     /* 2*C floats */
    lsuv_buffer tmp;       /* post-activation measurement: act(s Z + b) */
    lsuv_buffer shift;     /* C floats: trial bias on the device */
    float *shift_host;     /* what shift holds (uploaded only when the bias changes) */
    int shift_valid;
    int post_act;          /* node id of the activation measured after, or -1 */
} layer_state;

/* Forwards batch k through layer id (no bias) and downloads per-channel stats. */
static lsuv_status ensure_batch(run *r, layer_state *L, int k)
{
    if (L->have[k])
        return LSUV_OK;
    lsuv_context *ctx = r->g.ctx;
    lsuv_status st = lsuv_graph_record_linear(&r->g, L->id, k, 0);
    if (st != LSUV_OK)
        return st;
    lsuv_set_phase(ctx, LSUV_PHASE_MOMENTS);
    if ((st = lsuv_k_moments(ctx, val(r, L->id, k), (uint32_t)L->outer, L->C, L->spatial, &L->stats)) != LSUV_OK)
        return st;
    float *f = malloc(8ull * L->C);
    if (!f)
        return lsuv_fail(ctx, LSUV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory for the statistics of %u channels",
                         L->C);
    st = lsuv_buffer_download(ctx, &L->stats, 0, f, 8ull * L->C); /* submits */
    for (uint32_t c = 0; c < L->C && st == LSUV_OK; c++) {
        L->mean[(size_t)k * L->C + c] = f[2 * c];
        L->var[(size_t)k * L->C + c] = f[2 * c + 1];
    }
    free(f);
    L->have[k] = 1;
    return st;
}

/* Submits what was recorded, also after a failure: nothing recorded may still refer to
 * memory that is freed next. After a failure the first message is kept (a failing
 * device fails this submit too, and its message would hide the cause). */
static lsuv_status settle(lsuv_context *ctx, lsuv_status st)
{
    if (st == LSUV_OK)
        return lsuv_submit(ctx);
    char first[sizeof ctx->error];
    memcpy(first, ctx->error, sizeof first);
    lsuv_submit(ctx);
    memcpy(ctx->error, first, sizeof first);
    return st;
}

/* Variance (and mean) of s Z_k + bias over the whole tensor, from channel stats. */
static double closed_form(const layer_state *L, int k, double s, double *mean_out)
{
    const double *m = L->mean + (size_t)k * L->C, *v = L->var + (size_t)k * L->C;
    double mean = 0, within = 0, between = 0;
    for (uint32_t c = 0; c < L->C; c++) {
        mean += s * m[c] + L->bias[c];
        within += s * s * v[c];
    }
    mean /= L->C;
    for (uint32_t c = 0; c < L->C; c++) {
        double d = s * m[c] + L->bias[c] - mean;
        between += d * d;
    }
    *mean_out = mean;
    return (within + between) / L->C;
}

/* Measures Var(act(s Z_k + bias)) on the device (post-activation mode). */
static lsuv_status measure_post(run *r, layer_state *L, int k, double s, double *var, double *mean)
{
    lsuv_context *ctx = r->g.ctx;
    const lsuv_node *a = &r->g.net->nodes[L->post_act];
    int changed = !L->shift_valid;
    for (uint32_t c = 0; c < L->C; c++) {
        changed |= L->shift_host[c] != (float)L->bias[c];
        L->shift_host[c] = (float)L->bias[c];
    }
    lsuv_status st = LSUV_OK;
    if (changed) /* without centering the bias is fixed: one upload per layer */
        st = lsuv_buffer_upload(ctx, &L->shift, 0, L->shift_host, 4ull * L->C);
    L->shift_valid = 1;
    lsuv_set_phase(ctx, LSUV_PHASE_FORWARD);
    if (st == LSUV_OK)
        st = lsuv_k_affine_act2(ctx, val(r, L->id, k), &L->tmp, L->count, L->C, L->spatial, (float)s, NULL,
                                &L->shift, a->act, a->act_param, a->act_param2,
                                a->slopes >= 0 ? &r->g.net->params[a->slopes].buffer : NULL);
    lsuv_set_phase(ctx, LSUV_PHASE_MOMENTS);
    if (st == LSUV_OK)
        st = lsuv_k_moments(ctx, &L->tmp, 1, 1, L->count, &L->stats);
    float f[2] = {0, 0};
    if (st == LSUV_OK)
        st = lsuv_buffer_download(ctx, &L->stats, 0, f, sizeof f);
    *mean = f[0];
    *var = f[1];
    return st;
}

static int degenerate(double v) { return !isfinite(v) || v < (double)FLT_MIN; }

/* Centering: bias so every channel of s Z_k has mean 0. */
static void center_bias(layer_state *L, int k, double s)
{
    for (uint32_t c = 0; c < L->C; c++)
        L->bias[c] = -s * L->mean[(size_t)k * L->C + c];
}

static lsuv_status measure(run *r, layer_state *L, int k, double s, double *v, double *m, int *measured)
{
    *measured = !L->have[k];
    lsuv_status st = ensure_batch(r, L, k);
    if (st != LSUV_OK)
        return st;
    if (r->o->center && r->g.net->nodes[L->id].bias >= 0)
        center_bias(L, k, s);
    if (L->post_act >= 0) {
        *measured = 1;
        return measure_post(r, L, k, s, v, m);
    }
    *v = closed_form(L, k, s, m);
    return LSUV_OK;
}

/* Finds the activation right after weight node id when it is id's only reader. */
static int following_activation(const run *r, int id)
{
    int j = lsuv_graph_only_reader(&r->g, id);
    return j >= 0 && r->g.net->nodes[j].kind == LSUV_NODE_ACTIVATION ? j : -1;
}

/* What follows the layer and can be applied in place with its final scale and bias, in
 * the same pass over the output: a batch norm (inference form: a per-channel affine) and
 * then an activation, each the only reader of what it reads, where their per-channel
 * view is the layer's (the norm's statistics and PReLU's slopes follow it). -1: none. */
typedef struct fused_tail {
    int bn, act;
} fused_tail;

static fused_tail fusable_tail(const run *r, const layer_state *L)
{
    fused_tail t = {-1, -1};
    const lsuv_node *nodes = r->g.net->nodes;
    uint32_t c;
    uint64_t sp;
    lsuv_node_layout(&nodes[L->id], &c, &sp);
    int same = c == L->C && sp == L->spatial;
    int next = r->g.keep == L->id ? -1 : lsuv_graph_only_reader(&r->g, L->id);
    if (next >= 0 && nodes[next].kind == LSUV_NODE_BATCHNORM && same) {
        t.bn = next;
        next = r->g.keep == next ? -1 : lsuv_graph_only_reader(&r->g, next);
    }
    if (next >= 0 && nodes[next].kind == LSUV_NODE_ACTIVATION && (nodes[next].act != LSUV_K_ACT_PRELU || same))
        t.act = next;
    return t;
}

/* Outputs of every batch = tail(s Z + bias): measured batches rescaled in place, the
 * others forwarded with the final weights; the fused batch norm folded into one
 * per-channel affine (scale bn_a s, shift bn_a bias + bn_b), the fused activation applied
 * in the same pass; those nodes then become aliases of the layer's output. */
static lsuv_status apply_layer(run *r, layer_state *L, double s, const lsuv_buffer *bias)
{
    lsuv_context *ctx = r->g.ctx;
    lsuv_net *net = r->g.net;
    fused_tail t = fusable_tail(r, L);
    const lsuv_node *a = t.act >= 0 ? &net->nodes[t.act] : NULL;
    lsuv_act_kind kind = a ? a->act : LSUV_K_ACT_NONE;
    float p1 = a ? a->act_param : 0, p2 = a ? a->act_param2 : 0;
    const lsuv_buffer *slopes = a && a->slopes >= 0 ? &net->params[a->slopes].buffer : NULL;
    lsuv_buffer bn_a = {0}, bn_b = {0}, fold = {0}, fold_a = {0}, fold_b = {0};
    float *h = NULL;
    lsuv_status st = LSUV_OK;
    if (t.bn >= 0) { /* the folded affine, made on the host from the norm's scale and shift */
        const float *norm = r->g.extra_host[t.bn]; /* C scales, then C shifts */
        bn_a = lsuv_buffer_slice(&r->g.extra[t.bn], 0, 4ull * L->C);
        bn_b = lsuv_buffer_slice(&r->g.extra[t.bn], 4ull * L->C, 4ull * L->C);
        h = malloc(8ull * L->C);
        st = h ? LSUV_OK : lsuv_fail(ctx, LSUV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory for a folded batch norm");
        for (uint32_t c = 0; c < L->C && st == LSUV_OK; c++) {
            h[c] = (float)(norm[c] * s);
            h[L->C + c] = (float)(norm[c] * (bias ? L->bias[c] : 0.0) + norm[L->C + c]);
        }
        if (st == LSUV_OK)
            st = lsuv_buffer_alloc(ctx, 8ull * L->C, &fold);
        if (st == LSUV_OK)
            st = lsuv_buffer_upload(ctx, &fold, 0, h, 8ull * L->C);
        fold_a = lsuv_buffer_slice(&fold, 0, 4ull * L->C);
        fold_b = lsuv_buffer_slice(&fold, 4ull * L->C, 4ull * L->C);
    }
    lsuv_set_phase(ctx, LSUV_PHASE_FORWARD);
    int bn = t.bn >= 0;
    for (int b = 0; b < r->g.K && st == LSUV_OK; b++) {
        lsuv_buffer *z = val(r, L->id, b);
        if (!L->have[b]) {
            st = lsuv_graph_record_linear(&r->g, L->id, b, 1);
            if (st == LSUV_OK && (a || bn))
                st = lsuv_k_affine_act2(ctx, z, z, L->count, L->C, L->spatial, 1.0f, bn ? &bn_a : NULL,
                                        bn ? &bn_b : NULL, kind, p1, p2, slopes);
        } else if (bn)
            st = lsuv_k_affine_act2(ctx, z, z, L->count, L->C, L->spatial, 1.0f, &fold_a, &fold_b, kind, p1, p2,
                                    slopes);
        else if (s != 1 || bias || a)
            st = lsuv_k_affine_act2(ctx, z, z, L->count, L->C, L->spatial, (float)s, NULL, bias, kind, p1, p2,
                                    slopes);
    }
    if (st == LSUV_OK && bn)
        lsuv_graph_fuse_in_place(&r->g, t.bn);
    if (st == LSUV_OK && a)
        lsuv_graph_fuse_in_place(&r->g, t.act);
    st = settle(ctx, st); /* fold may be freed only once no recorded work uses it */
    lsuv_buffer_free(ctx, &fold);
    free(h);
    return st;
}

static lsuv_status lsuv_layer(run *r, int id, lsuv_layer_report *rep)
{
    lsuv_net *net = r->g.net;
    lsuv_context *ctx = r->g.ctx;
    const lsuv_node *n = &net->nodes[id];
    const lsuv_options *o = r->o;
    layer_state L;
    memset(&L, 0, sizeof L);
    L.id = id;
    lsuv_node_stat_layout(n, r->g.B, &L.outer, &L.C, &L.spatial);
    L.count = L.outer * L.C * L.spatial;
    L.post_act = o->measure == LSUV_MEASURE_POST ? following_activation(r, id) : -1;
    L.mean = calloc((size_t)r->g.K * L.C, sizeof *L.mean);
    L.var = calloc((size_t)r->g.K * L.C, sizeof *L.var);
    L.have = calloc((size_t)r->g.K, sizeof *L.have);
    L.bias = calloc(L.C, sizeof *L.bias);
    float *fb = calloc(L.C, sizeof *fb);
    lsuv_status st = (L.mean && L.var && L.have && L.bias && fb)
                         ? LSUV_OK
                         : lsuv_fail(ctx, LSUV_ERROR_OUT_OF_HOST_MEMORY,
                                     "out of host memory for per-channel statistics (%u channels, %d batches)",
                                     L.C, r->g.K);
    if (st == LSUV_OK && n->bias >= 0)
        st = lsuv_buffer_download(ctx, &net->params[n->bias].buffer, 0, fb, 4ull * L.C);
    for (uint32_t c = 0; c < L.C && st == LSUV_OK; c++) /* fb is all zeros without a bias */
        L.bias[c] = fb[c];
    if (st == LSUV_OK)
        st = lsuv_graph_alloc_outputs(&r->g, id);
    if (st == LSUV_OK)
        st = lsuv_buffer_alloc(ctx, 8ull * L.C, &L.stats);
    if (st == LSUV_OK && L.post_act >= 0) {
        st = lsuv_buffer_alloc(ctx, 4 * L.count, &L.tmp);
        if (st == LSUV_OK)
            st = lsuv_buffer_alloc(ctx, 4ull * L.C, &L.shift);
        L.shift_host = calloc(L.C, sizeof *L.shift_host);
        if (st == LSUV_OK && !L.shift_host)
            st = lsuv_fail(ctx, LSUV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory for the trial bias (%u channels)",
                           L.C);
    }

    /* the loop: measure, then rescale while |Var - 1| >= tol_var and tries remain */
    double s = 1, v = 0, m = 0;
    int k = 0, measured = 0, tries = 0;
    lsuv_layer_status status = LSUV_LAYER_OK;
    if (st == LSUV_OK)
        st = measure(r, &L, 0, s, &v, &m, &measured);
    rep->var_initial = v;
    rep->tries_measured = 1;
    while (st == LSUV_OK) {
        if (degenerate(v)) {
            status = LSUV_LAYER_DEGENERATE;
            break;
        }
        if (fabs(v - 1.0) < o->tol_var) {
            status = LSUV_LAYER_OK;
            break;
        }
        if (tries >= o->t_max) {
            status = LSUV_LAYER_MAX_TRIES;
            break;
        }
        double s_new = s / sqrt(v);
        if (!isfinite(s_new) || s_new > 1e30 || s_new < 1e-30) {
            status = LSUV_LAYER_DEGENERATE;
            break;
        }
        double v_new, m_new;
        int k_new = (tries + 1) % r->g.K;
        st = measure(r, &L, k_new, s_new, &v_new, &m_new, &measured);
        if (st != LSUV_OK)
            break;
        s = s_new;
        v = v_new;
        m = m_new;
        k = k_new;
        tries++;
        if (measured)
            rep->tries_measured++;
        else
            rep->tries_computed++;
    }
    if (st == LSUV_OK && status == LSUV_LAYER_DEGENERATE && r->o->center && n->bias >= 0)
        center_bias(&L, k, s); /* keep the bias consistent with the kept scale */
    rep->var_final = v;
    rep->mean_final = m;
    rep->scale = s;
    rep->final_batch = k;
    rep->status = status;

    /* apply: W *= s, bias as chosen, outputs of every batch = s Z + b */
    const lsuv_buffer *bias = n->bias >= 0 ? &net->params[n->bias].buffer : NULL;
    if (st == LSUV_OK && bias && r->o->center) {
        for (uint32_t c = 0; c < L.C; c++)
            fb[c] = (float)L.bias[c];
        st = lsuv_buffer_upload(ctx, bias, 0, fb, 4ull * L.C);
    }
    lsuv_set_phase(ctx, LSUV_PHASE_OTHER);
    const lsuv_param *w = &net->params[n->weight];
    if (st == LSUV_OK && s != 1)
        st = lsuv_k_affine_act(ctx, &w->buffer, &w->buffer, (uint64_t)w->numel, 1, (uint64_t)w->numel, (float)s,
                               NULL, NULL, LSUV_K_ACT_NONE, 0, NULL);
    if (st == LSUV_OK)
        st = apply_layer(r, &L, s, bias);
    st = settle(ctx, st); /* the buffers below may be freed only once no recorded work uses them */
    lsuv_buffer_free(ctx, &L.stats);
    lsuv_buffer_free(ctx, &L.tmp);
    lsuv_buffer_free(ctx, &L.shift);
    free(L.mean);
    free(L.var);
    free(L.have);
    free(L.bias);
    free(L.shift_host);
    free(fb);
    return st;
}

/* ------------------------------------------------------------ set-up */

static lsuv_status check_options(lsuv_net *net, const lsuv_data *data, const lsuv_options *o, int *K,
                                 uint32_t *B)
{
    lsuv_context *ctx = net->ctx;
    if (!data || !data->values || data->n <= 0)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "lsuv_init: no data");
    if (!(o->tol_var > 0) || !isfinite(o->tol_var) || o->tol_var >= 1)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "tol_var must be in (0, 1); got %g", o->tol_var);
    if (o->t_max < 0 || o->t_max > 1000)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "t_max must be in [0, 1000]; got %d", o->t_max);
    if (o->measure != LSUV_MEASURE_PRE && o->measure != LSUV_MEASURE_POST)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "measure must be LSUV_MEASURE_PRE or _POST; got %d",
                         (int)o->measure);
    if (o->batches < 1 || o->batch < 0)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "batches must be >= 1 and batch >= 0; got %d and %d",
                         o->batches, o->batch);
    const lsuv_node *in = &net->nodes[0];
    char s1[96], s2[96];
    if (data->ndim != in->ndim || memcmp(data->dims, in->dims, (size_t)in->ndim * sizeof in->dims[0]))
        return lsuv_fail(ctx, LSUV_ERROR_SHAPE, "data samples have shape %s but the network expects %s",
                         lsuv_shape_string(data->ndim, data->dims, s1, sizeof s1),
                         lsuv_shape_string(in->ndim, in->dims, s2, sizeof s2));
    int64_t b = o->batch ? o->batch : data->n / o->batches;
    if (b < 1 || b * o->batches > data->n)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "%d batches of %lld samples need %lld samples; the data "
                         "has %lld", o->batches, (long long)(b ? b : 1), (long long)((b ? b : 1) * o->batches),
                         (long long)data->n);
    if (b > (1 << 24))
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "batch of %lld samples is too large", (long long)b);
    int64_t per = lsuv_node_numel(in), used = b * o->batches * per;
    for (int64_t i = 0; i < used; i++)
        if (!isfinite(data->values[i]))
            return lsuv_fail(ctx, LSUV_ERROR_BAD_DATA, "data value %lld (sample %lld) is %g; nothing was changed",
                             (long long)i, (long long)(i / per), (double)data->values[i]);
    *K = o->batches;
    *B = (uint32_t)b;
    return LSUV_OK;
}


/* Orthonormal pre-init of every weight (Saxe et al.): Gaussian fill, then a Haar-distributed
 * orthogonal matrix made from it (kernels.h); bias 0. */
static lsuv_status orthonormal_init(lsuv_net *net, uint64_t seed)
{
    lsuv_context *ctx = net->ctx;
    uint64_t offset = 0;
    for (int i = 0; i < net->node_count; i++) {
        const lsuv_node *n = &net->nodes[i];
        if (!lsuv_node_is_weight(n))
            continue;
        const lsuv_param *w = &net->params[n->weight];
        lsuv_set_phase(ctx, LSUV_PHASE_FILL);
        lsuv_status st = lsuv_k_fill_normal(ctx, &w->buffer, (uint64_t)w->numel, seed, offset);
        offset += (uint64_t)w->numel;
        if (st == LSUV_OK && n->bias >= 0)
            st = lsuv_buffer_fill(ctx, &net->params[n->bias].buffer, 0);
        lsuv_set_phase(ctx, LSUV_PHASE_ORTHONORMALIZE);
        uint32_t rows = (uint32_t)w->shape[0], cols = (uint32_t)(w->numel / w->shape[0]);
        /* a Haar matrix from the Gaussian draw: by reflectors where the device runs them
         * faster (CPU devices), else the Q of its QR by MGS; the same distribution */
        if (st == LSUV_OK)
            st = lsuv_k_haar_supported(ctx, rows, cols) ? lsuv_k_orthogonal_from_gaussian(ctx, &w->buffer, rows, cols)
                                                        : lsuv_k_orthonormalize(ctx, &w->buffer, rows, cols);
        if (st == LSUV_OK)
            st = lsuv_submit(ctx);
        if (st != LSUV_OK)
            return lsuv_fail(ctx, st, "layer %s: orthonormal init: %s", n->name, lsuv_context_last_error(ctx));
    }
    return LSUV_OK;
}

/* ------------------------------------------------------------ all or nothing
 *
 * lsuv_init changes only the weights and biases of dense/conv layers. A failure at any
 * point (device memory exhausted at layer 30, a device error, a host allocation) must
 * leave them as they were, bit for bit. We keep the originals where they are and never
 * write them: before the first change every such parameter gets a fresh device buffer
 * holding a copy (vkCmdCopyBuffer: bytes, no arithmetic that could flush denormals or
 * quiet NaNs), swapped into the network; the run changes only the copies. Success frees
 * the originals; failure swaps them back and frees the copies.
 *
 * Why device copies rather than a host snapshot: the rollback is a pointer swap that
 * cannot fail. A host snapshot would have to be uploaded again on failure, and that
 * upload is exactly what fails after a device error or when the staging buffer cannot be
 * created; a half-restored network would be the worst outcome. The price is device
 * memory for a second copy of the LSUV layers' parameters during the run (small beside
 * the activations of a batch); when it is not there, lsuv_init fails before any change. */
typedef struct shadow_set {
    lsuv_buffer *original; /* per parameter: the untouched original (address 0: not shadowed) */
    int count;
} shadow_set;

/* Gives every weight and bias of a dense/conv layer a working copy (see above). On
 * failure nothing is swapped and the network is as it was. */
static lsuv_status shadow_begin(lsuv_net *net, shadow_set *sh)
{
    lsuv_context *ctx = net->ctx;
    sh->count = net->param_count;
    sh->original = calloc((size_t)net->param_count + 1, sizeof *sh->original);
    lsuv_buffer *copy = calloc((size_t)net->param_count + 1, sizeof *copy);
    if (!sh->original || !copy) {
        free(sh->original);
        free(copy);
        sh->original = NULL;
        return lsuv_fail(ctx, LSUV_ERROR_OUT_OF_HOST_MEMORY,
                         "lsuv_init: out of host memory for the table of %d parameters; nothing was changed",
                         net->param_count);
    }
    lsuv_status st = LSUV_OK;
    uint64_t bytes = 0;
    for (int i = 0; i < net->node_count && st == LSUV_OK; i++) {
        const lsuv_node *n = &net->nodes[i];
        if (!lsuv_node_is_weight(n))
            continue;
        int idx[2] = {n->weight, n->bias};
        for (int j = 0; j < 2 && st == LSUV_OK; j++) {
            const lsuv_param *p = idx[j] >= 0 ? &net->params[idx[j]] : NULL;
            if (!p || copy[idx[j]].address) /* none, or shared by two layers and copied already */
                continue;
            st = lsuv_buffer_alloc(ctx, p->buffer.size, &copy[idx[j]]);
            if (st == LSUV_OK)
                st = lsuv_buffer_copy(ctx, &p->buffer, &copy[idx[j]]);
            if (st != LSUV_OK)
                lsuv_fail(ctx, st, "lsuv_init: a working copy of %s (%llu bytes; %llu bytes copied before it), so that "
                          "a failure can leave the parameters as they were: %s; nothing was changed", p->name,
                          (unsigned long long)p->buffer.size, (unsigned long long)bytes,
                          lsuv_context_last_error(ctx));
            bytes += p->buffer.size;
        }
    }
    st = settle(ctx, st);
    if (st != LSUV_OK) { /* the originals were only read */
        for (int i = 0; i < net->param_count; i++)
            lsuv_buffer_free(ctx, &copy[i]);
        free(copy);
        free(sh->original);
        sh->original = NULL;
        return st;
    }
    for (int i = 0; i < net->param_count; i++)
        if (copy[i].address) {
            sh->original[i] = net->params[i].buffer;
            net->params[i].buffer = copy[i];
        }
    free(copy);
    return LSUV_OK;
}

/* Success: the copies stay, the originals go. Failure: the originals come back. Only
 * after every recorded use of either was submitted. Cannot fail. */
static void shadow_end(lsuv_net *net, shadow_set *sh, int keep_copies)
{
    for (int i = 0; sh->original && i < sh->count; i++) {
        if (!sh->original[i].address)
            continue;
        if (!keep_copies) {
            lsuv_buffer copy = net->params[i].buffer;
            net->params[i].buffer = sh->original[i];
            lsuv_buffer_free(net->ctx, &copy);
        } else
            lsuv_buffer_free(net->ctx, &sh->original[i]);
    }
    free(sh->original);
    sh->original = NULL;
}

/* Where a failure happened: "layer conv1", or for an unnamed node "node 7" (what the
 * graph runner's messages start with) and, in full, "node 7 (after bn1)". */
static size_t node_label(const lsuv_net *net, int id, char *buf, size_t size)
{
    const lsuv_node *n = &net->nodes[id];
    if (n->name[0])
        return (size_t)snprintf(buf, size, "layer %s", n->name);
    size_t prefix = (size_t)snprintf(buf, size, "node %d", id);
    const char *after = n->input_count ? net->nodes[n->inputs[0]].name : "";
    if (after[0] && prefix < size)
        snprintf(buf + prefix, size - prefix, " (after %s)", after);
    return prefix < size ? prefix : size - 1;
}

static lsuv_status make_report(lsuv_net *net, lsuv_report **out)
{
    report_storage *rs = calloc(1, sizeof *rs);
    int layers = 0;
    for (int i = 0; i < net->node_count; i++)
        layers += lsuv_node_is_weight(&net->nodes[i]);
    if (rs) {
        rs->pub.layers = calloc((size_t)layers + 1, sizeof *rs->pub.layers);
        rs->names = calloc((size_t)layers + 1, sizeof *rs->names);
        rs->weights = calloc((size_t)layers + 1, sizeof *rs->weights);
    }
    if (!rs || !rs->pub.layers || !rs->names || !rs->weights) {
        lsuv_report_free(rs ? &rs->pub : NULL);
        return lsuv_fail(net->ctx, LSUV_ERROR_OUT_OF_HOST_MEMORY,
                         "lsuv_init: out of host memory for the report of %d layers; nothing was changed", layers);
    }
    int j = 0;
    for (int i = 0; i < net->node_count; i++) {
        const lsuv_node *n = &net->nodes[i];
        if (!lsuv_node_is_weight(n))
            continue;
        snprintf(rs->names[j], LSUV_NAME_MAX, "%s", n->name);
        rs->pub.layers[j].name = rs->names[j];
        snprintf(rs->weights[j], sizeof rs->weights[j], "%s", net->params[n->weight].name);
        rs->pub.layers[j].weight = rs->weights[j];
        rs->pub.layers[j].kind = n->kind == LSUV_NODE_DENSE ? "dense" : "conv2d";
        j++;
    }
    rs->pub.layer_count = layers;
    *out = &rs->pub;
    return LSUV_OK;
}

lsuv_status lsuv_init(lsuv_net *net, const lsuv_data *data, const lsuv_options *options, lsuv_report **report)
{
    if (report)
        *report = NULL;
    if (!net)
        return LSUV_ERROR_INVALID_ARGUMENT;
    lsuv_context *ctx = net->ctx;
    lsuv_options defaults;
    lsuv_options_init(&defaults);
    const lsuv_options *o = options ? options : &defaults;
    run r;
    memset(&r, 0, sizeof r);
    r.o = o;
    int K = 0;
    uint32_t B = 0;
    lsuv_status st = check_options(net, data, o, &K, &B);
    if (st != LSUV_OK)
        return st;
    lsuv_report *rep = NULL;
    if ((st = make_report(net, &rep)) != LSUV_OK)
        return st;
    report_storage *rs = (report_storage *)rep;
    rep->samples_per_batch = B;
    rep->batches = K;
    if (B < 16) {
        snprintf(rs->warning, sizeof rs->warning,
                 "batch of %u samples: under 16, the variance estimates may be unstable", B);
        rep->warning = rs->warning;
    }

    double t0 = now_s();
    if ((st = lsuv_submit(ctx)) != LSUV_OK) /* the caller's pending work, before anything of ours */
        lsuv_fail(ctx, st, "lsuv_init: submitting earlier work: %s", lsuv_context_last_error(ctx));
    for (int p = 0; p < LSUV_PHASE_COUNT; p++)
        ctx->phase_seconds[p] = ctx->phase_flops[p] = 0;
    int was_profiling = ctx->profiling;
    ctx->profiling = 1;

    shadow_set sh = {0};
    int shadowed = 0;
    if (st == LSUV_OK)
        shadowed = (st = shadow_begin(net, &sh)) == LSUV_OK;
    if (st == LSUV_OK && o->orthonormal)
        st = orthonormal_init(net, o->seed);
    if (st == LSUV_OK && (st = lsuv_graph_run_begin(&r.g, net, K, B, data->values)) != LSUV_OK)
        lsuv_fail(ctx, st, "lsuv_init: preparing the forward pass: %s", lsuv_context_last_error(ctx));

    int layer = 0;
    char label[LSUV_NAME_MAX + 64];
    for (int i = 1; st == LSUV_OK && i < net->node_count; i++) {
        if (lsuv_node_is_weight(&net->nodes[i])) {
            if (o->progress)
                o->progress(o->progress_user, layer, rep->layer_count, net->nodes[i].name);
            st = lsuv_layer(&r, i, &rep->layers[layer++]);
        }
        else
            st = lsuv_graph_forward_node(&r.g, i);
        if (st == LSUV_OK) {
            lsuv_graph_release_inputs(&r.g, i);
            continue;
        }
        size_t prefix = node_label(net, i, label, sizeof label); /* say where, once */
        if (strncmp(ctx->error, label, prefix) == 0 && ctx->error[prefix] == ':')
            lsuv_fail(ctx, st, "%s%s", label, ctx->error + prefix); /* "node 7" -> "node 7 (after bn1)" */
        else
            lsuv_fail(ctx, st, "%s: %s", label, lsuv_context_last_error(ctx));
    }
    st = settle(ctx, st);
    double flops_executed = r.g.flops_executed, flops_forward = r.g.flops_forward;
    lsuv_graph_run_end(&r.g);
    if (shadowed)
        shadow_end(net, &sh, st == LSUV_OK);
    if (st != LSUV_OK && shadowed && !strstr(ctx->error, "nothing was changed"))
        lsuv_fail(ctx, st, "%s; nothing was changed", lsuv_context_last_error(ctx));

    rep->time_total_s = now_s() - t0;
    rep->time_fill_s = ctx->phase_seconds[LSUV_PHASE_FILL];
    rep->time_orthonormalize_s = ctx->phase_seconds[LSUV_PHASE_ORTHONORMALIZE];
    rep->time_forward_s = ctx->phase_seconds[LSUV_PHASE_FORWARD];
    rep->time_moments_s = ctx->phase_seconds[LSUV_PHASE_MOMENTS];
    rep->flops_executed = flops_executed;
    rep->flops_forward = flops_forward;
    rep->flops_orthonormalize = ctx->phase_flops[LSUV_PHASE_ORTHONORMALIZE];
    ctx->profiling = was_profiling;
    if (st == LSUV_OK && report)
        *report = rep;
    else
        lsuv_report_free(rep);
    return st;
}
