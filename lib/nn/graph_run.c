/* graph_run.c - runs a network graph forward on the device, node by node, over K
 * batches of B samples, on a frontier of live values: each node's output is allocated
 * when it runs and freed after its last reader ran (flatten and reshape are aliases of
 * their input: no memory, no work).
 * The LSUV engine (lsuv.c) drives it layer by layer; lsuv_net_forward runs it whole. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/graph_run.h"

lsuv_buffer *lsuv_graph_value(lsuv_graph_run *r, int node, int k)
{
    return &r->vals[(size_t)r->owner[node] * (size_t)r->K + (size_t)k];
}

static lsuv_buffer *own(lsuv_graph_run *r, int node, int k) { return &r->vals[(size_t)node * (size_t)r->K + (size_t)k]; }

static uint64_t node_count_per_batch(const lsuv_graph_run *r, const lsuv_node *n)
{
    return (uint64_t)r->B * (uint64_t)lsuv_node_numel(n);
}

static int is_alias(const lsuv_node *n) { return n->kind == LSUV_NODE_FLATTEN || n->kind == LSUV_NODE_RESHAPE; }

/* No work of its own: an alias by kind, or a node done in place by its producer (fused). */
static int runs_nothing(const lsuv_graph_run *r, int id) { return is_alias(&r->net->nodes[id]) || r->fused[id]; }

/* The kept node's owner (its memory), or -1. */
static int kept_owner(const lsuv_graph_run *r) { return r->keep >= 0 ? r->owner[r->keep] : -1; }

/* Channels and spatial size as lsuv_node_layout, with a per-sample scalar as 1 x 1. */
static void layout(const lsuv_node *n, uint32_t *channels, uint64_t *spatial)
{
    if (n->ndim == 0) {
        *channels = 1;
        *spatial = 1;
        return;
    }
    lsuv_node_layout(n, channels, spatial);
}

/* Product of dims[from, to) of node n. */
static uint64_t dims_product(const lsuv_node *n, int from, int to)
{
    uint64_t p = 1;
    for (int i = from; i < to; i++)
        p *= (uint64_t)n->dims[i];
    return p;
}

/* Releases inputs of node id whose last use this was. */
void lsuv_graph_release_inputs(lsuv_graph_run *r, int id)
{
    const lsuv_node *n = &r->net->nodes[id];
    if (runs_nothing(r, id))
        return; /* its readers count as readers of its input */
    int keep = kept_owner(r);
    for (int i = 0; i < n->input_count; i++) {
        int o = r->owner[n->inputs[i]];
        if (--r->uses[o] == 0 && o != keep)
            for (int k = 0; k < r->K; k++)
                lsuv_buffer_free(r->ctx, own(r, o, k));
    }
    if (r->uses[id] == 0 && r->owner[id] == id && id != keep) /* nobody reads it */
        for (int k = 0; k < r->K; k++)
            lsuv_buffer_free(r->ctx, own(r, id, k));
}

int lsuv_graph_only_reader(const lsuv_graph_run *r, int id)
{
    int found = -1, readers = 0;
    for (int j = id + 1; j < r->net->node_count; j++) {
        const lsuv_node *n = &r->net->nodes[j];
        for (int i = 0; i < n->input_count; i++)
            if (n->inputs[i] == id) {
                readers++;
                found = j;
            }
    }
    return readers == 1 ? found : -1;
}

void lsuv_graph_fuse_in_place(lsuv_graph_run *r, int id)
{
    int o = r->owner[r->net->nodes[id].inputs[0]];
    r->uses[o] += r->uses[id] - 1; /* id no longer reads o; id's readers do */
    r->uses[id] = 0;
    for (int j = id; j < r->net->node_count; j++) /* id and the aliases made of it */
        if (r->owner[j] == id)
            r->owner[j] = o;
    r->fused[id] = 1;
}

lsuv_status lsuv_graph_alloc_outputs(lsuv_graph_run *r, int id)
{
    uint64_t bytes = node_count_per_batch(r, &r->net->nodes[id]) * 4;
    for (int k = 0; k < r->K; k++) {
        lsuv_status st = lsuv_buffer_alloc(r->ctx, bytes, own(r, id, k));
        if (st != LSUV_OK)
            return r->net->nodes[id].name[0]
                       ? lsuv_fail(r->ctx, st, "layer %s: output of %llu bytes: %s", r->net->nodes[id].name,
                                   (unsigned long long)bytes, lsuv_context_last_error(r->ctx))
                       : lsuv_fail(r->ctx, st, "node %d: output of %llu bytes: %s", id, (unsigned long long)bytes,
                                   lsuv_context_last_error(r->ctx));
    }
    return LSUV_OK;
}

/* Records W x (+ bias when with_bias) of weight node id on batch k into its output. */
lsuv_status lsuv_graph_record_linear(lsuv_graph_run *r, int id, int k, int with_bias)
{
    lsuv_net *net = r->net;
    const lsuv_node *n = &net->nodes[id];
    const lsuv_buffer *x = lsuv_graph_value(r, n->inputs[0], k);
    const lsuv_buffer *w = &net->params[n->weight].buffer;
    const lsuv_buffer *b = with_bias && n->bias >= 0 ? &net->params[n->bias].buffer : NULL;
    lsuv_set_phase(r->ctx, LSUV_PHASE_FORWARD);
    r->flops_executed += lsuv_node_flops(n) * r->B;
    if (n->kind == LSUV_NODE_DENSE) {
        /* over the last axis: every row of every sample is one GEMM row */
        uint64_t rows = (uint64_t)r->B * (n->rows ? n->rows : 1);
        if (rows > UINT32_MAX)
            return lsuv_fail(r->ctx, LSUV_ERROR_INVALID_ARGUMENT, "layer %s: %llu rows of %u features", n->name,
                             (unsigned long long)rows, n->in_features);
        return lsuv_k_dense(r->ctx, x, w, b, own(r, id, k), (uint32_t)rows, n->in_features, n->out_features);
    }
    lsuv_conv2d_params p = n->conv;
    p.batch = r->B;
    return lsuv_k_conv2d(r->ctx, &p, x, w, b, own(r, id, k));
}

/* The kernels' enums are the graph's: the node descriptions pass through unchanged. */
_Static_assert((int)LSUV_K_BIN_DIV == (int)LSUV_BIN_DIV && (int)LSUV_K_BIN_SUB == (int)LSUV_BIN_SUB &&
                   (int)LSUV_K_BIN_MUL == (int)LSUV_BIN_MUL,
               "binary ops differ between kernels.h and net.h");
_Static_assert((int)LSUV_K_REDUCE_LOG_SOFTMAX == (int)LSUV_REDUCE_LOG_SOFTMAX &&
                   (int)LSUV_K_REDUCE_SOFTMAX == (int)LSUV_REDUCE_SOFTMAX &&
                   (int)LSUV_K_REDUCE_SUM == (int)LSUV_REDUCE_SUM && (int)LSUV_K_REDUCE_MAX == (int)LSUV_REDUCE_MAX,
               "reduce ops differ between kernels.h and net.h");
_Static_assert(LSUV_K_MAX_AXES == LSUV_MAX_AXES, "axis limits differ between kernels.h and net.h");

/* A kernel's failure, prefixed with the layer's name. */
static lsuv_status named(lsuv_graph_run *r, const lsuv_node *n, lsuv_status st)
{
    return st == LSUV_OK ? st : lsuv_fail(r->ctx, st, "layer %s: %s", n->name, lsuv_context_last_error(r->ctx));
}

/* Output extents (B, dims...) of node n. */
static void batch_extents(const lsuv_graph_run *r, const lsuv_node *n, int64_t *ext)
{
    ext[0] = r->B;
    for (int d = 0; d < n->ndim; d++)
        ext[d + 1] = n->dims[d];
}

/* y = a op b with broadcasting; value operands come from the inputs in the order a, b,
 * constant ones from parameters. */
static lsuv_status forward_binary(lsuv_graph_run *r, const lsuv_node *n, int k, const lsuv_buffer *y)
{
    const lsuv_binary_desc *d = &n->binary;
    lsuv_net *net = r->net;
    if (d->rank != n->ndim + 1)
        return lsuv_fail(r->ctx, LSUV_ERROR_SHAPE, "layer %s: binary over %d axes, the output has %d (with batch)",
                         n->name, d->rank, n->ndim + 1);
    int next = 0, params[2] = {d->a_param, d->b_param};
    const lsuv_buffer *operand[2];
    for (int j = 0; j < 2; j++) {
        if (params[j] >= 0) {
            if (params[j] >= net->param_count)
                return lsuv_fail(r->ctx, LSUV_ERROR_INVALID_ARGUMENT, "layer %s: operand %c: no parameter %d",
                                 n->name, "ab"[j], params[j]);
            operand[j] = &net->params[params[j]].buffer;
        } else {
            if (next >= n->input_count)
                return lsuv_fail(r->ctx, LSUV_ERROR_INVALID_ARGUMENT,
                                 "layer %s: operand %c is a value but the node has %d inputs", n->name, "ab"[j],
                                 n->input_count);
            operand[j] = lsuv_graph_value(r, n->inputs[next++], k);
        }
    }
    int64_t ext[LSUV_MAX_AXES];
    batch_extents(r, n, ext);
    lsuv_status st = lsuv_k_binary(r->ctx, (lsuv_k_binary_op)d->op, d->rank, ext, operand[0], d->a_stride,
                                   operand[1], d->b_stride, y);
    return named(r, n, st);
}

static lsuv_status forward_gather(lsuv_graph_run *r, const lsuv_node *n, const lsuv_buffer *x, const lsuv_buffer *y)
{
    const lsuv_gather_desc *d = &n->gather;
    if (d->rank != n->ndim + 1)
        return lsuv_fail(r->ctx, LSUV_ERROR_SHAPE, "layer %s: gather over %d axes, the output has %d (with batch)",
                         n->name, d->rank, n->ndim + 1);
    int64_t ext[LSUV_MAX_AXES], in_extent[LSUV_MAX_AXES];
    batch_extents(r, n, ext);
    memcpy(in_extent, d->in_extent, sizeof in_extent);
    in_extent[0] = r->B; /* the batch axis: filled in at run time */
    lsuv_status st =
        lsuv_k_gather(r->ctx, d->rank, ext, x, in_extent, d->in_stride, d->start, d->step, d->pad_value, y);
    return named(r, n, st);
}

static lsuv_status forward_reduce(lsuv_graph_run *r, const lsuv_node *n, const lsuv_buffer *x, const lsuv_buffer *y)
{
    const lsuv_reduce_desc *d = &n->reduce;
    const lsuv_node *in = &r->net->nodes[n->inputs[0]];
    if (d->outer <= 0 || d->n <= 0 || d->inner <= 0 || d->outer * d->n * d->inner != lsuv_node_numel(in))
        return lsuv_fail(r->ctx, LSUV_ERROR_SHAPE, "layer %s: reduce view (%lld, %lld, %lld) of an input of %lld elements",
                         n->name, (long long)d->outer, (long long)d->n, (long long)d->inner,
                         (long long)lsuv_node_numel(in));
    lsuv_status st = lsuv_k_reduce(r->ctx, (lsuv_k_reduce_op)d->op, (uint64_t)d->outer * r->B, (uint64_t)d->n,
                                   (uint64_t)d->inner, x, y);
    return named(r, n, st);
}

/* Concat along per-sample axis a: each input is a block of (B * prod(dims before a)) rows of
 * dims_i[a] x prod(dims after a), placed at its offset along a. */
static lsuv_status forward_concat(lsuv_graph_run *r, const lsuv_node *n, int k, const lsuv_buffer *y)
{
    int a = n->concat_axis;
    if (a < 0 || a >= n->ndim)
        return lsuv_fail(r->ctx, LSUV_ERROR_SHAPE, "layer %s: concat axis %d of a %d-axis value", n->name, a, n->ndim);
    uint64_t outer = (uint64_t)r->B * dims_product(n, 0, a), inner = dims_product(n, a + 1, n->ndim);
    if (outer > UINT32_MAX || inner > UINT32_MAX)
        return lsuv_fail(r->ctx, LSUV_ERROR_INVALID_ARGUMENT, "layer %s: concat of %llu blocks of %llu elements",
                         n->name, (unsigned long long)outer, (unsigned long long)inner);
    uint64_t offset = 0;
    lsuv_status st = LSUV_OK;
    for (int i = 0; i < n->input_count && st == LSUV_OK; i++) {
        const lsuv_node *in = &r->net->nodes[n->inputs[i]];
        if (in->ndim != n->ndim || offset + (uint64_t)in->dims[a] > (uint64_t)n->dims[a])
            return lsuv_fail(r->ctx, LSUV_ERROR_SHAPE, "layer %s: input %d (%s) does not fit along axis %d", n->name,
                             i, in->name, a);
        st = lsuv_k_copy_channels(r->ctx, lsuv_graph_value(r, n->inputs[i], k), y, (uint32_t)outer,
                                  (uint32_t)in->dims[a], (uint32_t)n->dims[a], (uint32_t)offset, (uint32_t)inner);
        offset += (uint64_t)in->dims[a];
    }
    return st;
}

/* Records the forward of a non-weight node on every batch. */
lsuv_status lsuv_graph_forward_node(lsuv_graph_run *r, int id)
{
    lsuv_net *net = r->net;
    lsuv_context *ctx = r->ctx;
    const lsuv_node *n = &net->nodes[id];
    if (runs_nothing(r, id))
        return LSUV_OK; /* an alias of its input */
    lsuv_status st = lsuv_graph_alloc_outputs(r, id);
    if (st != LSUV_OK)
        return st;
    if (lsuv_node_is_weight(n)) {
        for (int k = 0; k < r->K && st == LSUV_OK; k++)
            st = lsuv_graph_record_linear(r, id, k, 1);
        return st;
    }
    lsuv_set_phase(ctx, LSUV_PHASE_FORWARD);
    const lsuv_node *in = &net->nodes[n->inputs[0]];
    uint32_t c_in;
    uint64_t sp_in;
    layout(in, &c_in, &sp_in);
    int next = n->kind == LSUV_NODE_ADD && r->keep != id ? lsuv_graph_only_reader(r, id) : -1;
    const lsuv_node *fused_act = next >= 0 && net->nodes[next].kind == LSUV_NODE_ACTIVATION &&
                                         net->nodes[next].act != LSUV_K_ACT_PRELU
                                     ? &net->nodes[next]
                                     : NULL;
    for (int k = 0; k < r->K && st == LSUV_OK; k++) {
        const lsuv_buffer *x = lsuv_graph_value(r, n->inputs[0], k), *y = own(r, id, k);
        uint64_t count = (uint64_t)r->B * c_in * sp_in;
        switch (n->kind) {
        case LSUV_NODE_ACTIVATION:
            st = lsuv_k_affine_act2(ctx, x, y, count, c_in, sp_in, 1.0f, NULL, NULL, n->act, n->act_param,
                                    n->act_param2, n->slopes >= 0 ? &net->params[n->slopes].buffer : NULL);
            break;
        case LSUV_NODE_BATCHNORM: {
            lsuv_buffer scale = lsuv_buffer_slice(&r->extra[id], 0, 4ull * c_in);
            lsuv_buffer shift = lsuv_buffer_slice(&r->extra[id], 4ull * c_in, 4ull * c_in);
            st = lsuv_k_affine_act(ctx, x, y, count, c_in, sp_in, 1.0f, &scale, &shift, LSUV_K_ACT_NONE, 0, NULL);
            break;
        }
        case LSUV_NODE_MAXOUT:
            st = lsuv_k_maxout(ctx, x, y, r->B, c_in, sp_in, n->maxout_k);
            break;
        case LSUV_NODE_POOL2D: {
            lsuv_pool2d_params p = n->pool;
            p.batch = r->B;
            st = lsuv_k_pool2d(ctx, &p, x, y);
            break;
        }
        case LSUV_NODE_ADD: /* with the activation that reads the sum alone, in one pass */
            st = lsuv_k_add_act(ctx, x, lsuv_graph_value(r, n->inputs[1], k), y, count,
                                fused_act ? fused_act->act : LSUV_K_ACT_NONE, fused_act ? fused_act->act_param : 0,
                                fused_act ? fused_act->act_param2 : 0);
            break;
        case LSUV_NODE_CONCAT:
            st = forward_concat(r, n, k, y);
            break;
        case LSUV_NODE_BINARY:
            st = forward_binary(r, n, k, y);
            break;
        case LSUV_NODE_GATHER:
            st = forward_gather(r, n, x, y);
            break;
        case LSUV_NODE_REDUCE:
            st = forward_reduce(r, n, x, y);
            break;
        default:
            st = lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "node %d: unexpected kind %d", id, (int)n->kind);
        }
    }
    if (st == LSUV_OK && fused_act)
        lsuv_graph_fuse_in_place(r, next);
    return st;
}

/* Batch-norm scale/shift from its parameters (inference form). */
static lsuv_status prepare_batchnorm(lsuv_graph_run *r, int id)
{
    lsuv_net *net = r->net;
    const lsuv_node *n = &net->nodes[id];
    uint32_t C = (uint32_t)n->dims[0];
    float *h = malloc(4ull * 4 * C), *out = malloc(8ull * C);
    lsuv_status st = h && out ? LSUV_OK : lsuv_fail(r->ctx, LSUV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    int idx[4] = {n->weight, n->bias, n->running_mean, n->running_var};
    for (int i = 0; i < 4 && st == LSUV_OK; i++)
        st = lsuv_buffer_download(r->ctx, &net->params[idx[i]].buffer, 0, h + (size_t)i * C, 4ull * C);
    for (uint32_t c = 0; c < C && st == LSUV_OK; c++) {
        double scale = h[c] / sqrt((double)h[3 * C + c] + n->eps);
        out[c] = (float)scale;
        out[C + c] = (float)(h[C + c] - h[2 * C + c] * scale);
    }
    if (st == LSUV_OK)
        st = lsuv_buffer_alloc(r->ctx, 8ull * C, &r->extra[id]);
    if (st == LSUV_OK)
        st = lsuv_buffer_upload(r->ctx, &r->extra[id], 0, out, 8ull * C);
    free(h);
    if (st == LSUV_OK)
        r->extra_host[id] = out;
    else
        free(out);
    if (st != LSUV_OK) /* say which node */
        lsuv_fail(r->ctx, st, "batch norm %s: scale and shift: %s", n->name, lsuv_context_last_error(r->ctx));
    return st;
}


lsuv_status lsuv_graph_run_begin(lsuv_graph_run *r, lsuv_net *net, int K, uint32_t B, const float *values)
{
    lsuv_context *ctx = net->ctx;
    memset(r, 0, sizeof *r);
    r->net = net;
    r->ctx = ctx;
    r->K = K;
    r->B = B;
    r->keep = -1;
    int N = net->node_count;
    r->vals = calloc((size_t)N * (size_t)K, sizeof *r->vals);
    r->owner = calloc((size_t)N, sizeof *r->owner);
    r->uses = calloc((size_t)N, sizeof *r->uses);
    r->extra = calloc((size_t)N, sizeof *r->extra);
    r->extra_host = calloc((size_t)N, sizeof *r->extra_host);
    r->fused = calloc((size_t)N, sizeof *r->fused);
    if (!r->vals || !r->owner || !r->uses || !r->extra || !r->extra_host || !r->fused)
        return lsuv_fail(ctx, LSUV_ERROR_OUT_OF_HOST_MEMORY, "graph run of %d nodes: out of host memory", N);
    for (int i = 0; i < N; i++) {
        const lsuv_node *n = &net->nodes[i];
        r->owner[i] = is_alias(n) ? r->owner[n->inputs[0]] : i;
        if (!is_alias(n))
            for (int j = 0; j < n->input_count; j++)
                r->uses[r->owner[n->inputs[j]]]++;
        if (lsuv_node_is_weight(n))
            r->flops_forward += lsuv_node_flops(n) * B * K;
    }
    lsuv_status st = LSUV_OK;
    for (int i = 0; st == LSUV_OK && i < N; i++)
        if (net->nodes[i].kind == LSUV_NODE_BATCHNORM)
            st = prepare_batchnorm(r, i);
    if (st == LSUV_OK)
        st = lsuv_graph_alloc_outputs(r, 0);
    uint64_t per_batch = node_count_per_batch(r, &net->nodes[0]);
    for (int k = 0; st == LSUV_OK && k < K; k++)
        st = lsuv_buffer_upload(ctx, own(r, 0, k), 0, values + (size_t)k * per_batch, per_batch * 4);
    return st;
}

void lsuv_graph_run_end(lsuv_graph_run *r)
{
    int N = r->net ? r->net->node_count : 0;
    for (int i = 0; r->vals && i < N * r->K; i++)
        lsuv_buffer_free(r->ctx, &r->vals[i]);
    for (int i = 0; r->extra && i < N; i++)
        lsuv_buffer_free(r->ctx, &r->extra[i]);
    for (int i = 0; r->extra_host && i < N; i++)
        free(r->extra_host[i]);
    free(r->vals);
    free(r->owner);
    free(r->uses);
    free(r->extra);
    free(r->extra_host);
    free(r->fused);
    memset(r, 0, sizeof *r);
}
