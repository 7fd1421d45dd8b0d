/* graph_run.c - runs a network graph forward on the device, node by node, over K
 * batches of B samples, on a frontier of live values: each node's output is allocated
 * when it runs and freed after its last reader ran (flatten is an alias of its input).
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

/* Releases inputs of node id whose last use this was. */
void lsuv_graph_release_inputs(lsuv_graph_run *r, int id)
{
    const lsuv_node *n = &r->net->nodes[id];
    if (n->kind == LSUV_NODE_FLATTEN)
        return; /* an alias: its readers count as readers of its input */
    for (int i = 0; i < n->input_count; i++) {
        int o = r->owner[n->inputs[i]];
        if (--r->uses[o] == 0 && o != r->keep)
            for (int k = 0; k < r->K; k++)
                lsuv_buffer_free(r->ctx, own(r, o, k));
    }
    if (r->uses[id] == 0 && r->owner[id] == id && id != r->keep) /* nobody reads it */
        for (int k = 0; k < r->K; k++)
            lsuv_buffer_free(r->ctx, own(r, id, k));
}

lsuv_status lsuv_graph_alloc_outputs(lsuv_graph_run *r, int id)
{
    uint64_t bytes = node_count_per_batch(r, &r->net->nodes[id]) * 4;
    for (int k = 0; k < r->K; k++) {
        lsuv_status st = lsuv_buffer_alloc(r->ctx, bytes, own(r, id, k));
        if (st != LSUV_OK)
            return lsuv_fail(r->ctx, st, "layer %s: output of %llu bytes: %s", r->net->nodes[id].name,
                             (unsigned long long)bytes, lsuv_context_last_error(r->ctx));
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
    if (n->kind == LSUV_NODE_DENSE)
        return lsuv_k_dense(r->ctx, x, w, b, own(r, id, k), r->B, n->in_features, n->out_features);
    lsuv_conv2d_params p = n->conv;
    p.batch = r->B;
    return lsuv_k_conv2d(r->ctx, &p, x, w, b, own(r, id, k));
}

/* Records the forward of a non-weight node on every batch. */
lsuv_status lsuv_graph_forward_node(lsuv_graph_run *r, int id)
{
    lsuv_net *net = r->net;
    lsuv_context *ctx = r->ctx;
    const lsuv_node *n = &net->nodes[id];
    if (n->kind == LSUV_NODE_FLATTEN)
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
    lsuv_node_layout(in, &c_in, &sp_in);
    for (int k = 0; k < r->K && st == LSUV_OK; k++) {
        const lsuv_buffer *x = lsuv_graph_value(r, n->inputs[0], k), *y = own(r, id, k);
        uint64_t count = (uint64_t)r->B * c_in * sp_in;
        switch (n->kind) {
        case LSUV_NODE_ACTIVATION:
            st = lsuv_k_affine_act(ctx, x, y, count, c_in, sp_in, 1.0f, NULL, NULL, n->act, n->act_param,
                                   n->slopes >= 0 ? &net->params[n->slopes].buffer : NULL);
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
        case LSUV_NODE_ADD:
            st = lsuv_k_add(ctx, x, lsuv_graph_value(r, n->inputs[1], k), y, count);
            break;
        case LSUV_NODE_CONCAT: {
            uint32_t offset = 0, c_out;
            uint64_t sp_out;
            lsuv_node_layout(n, &c_out, &sp_out);
            for (int i = 0; i < n->input_count && st == LSUV_OK; i++) {
                uint32_t ci;
                uint64_t spi;
                lsuv_node_layout(&net->nodes[n->inputs[i]], &ci, &spi);
                st = lsuv_k_copy_channels(ctx, lsuv_graph_value(r, n->inputs[i], k), y, r->B, ci, c_out, offset,
                                          (uint32_t)sp_out);
                offset += ci;
            }
            break;
        }
        default:
            st = lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "node %d: unexpected kind %d", id, (int)n->kind);
        }
    }
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
    free(out);
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
    if (!r->vals || !r->owner || !r->uses || !r->extra)
        return lsuv_fail(ctx, LSUV_ERROR_OUT_OF_HOST_MEMORY, "graph run of %d nodes: out of host memory", N);
    for (int i = 0; i < N; i++) {
        const lsuv_node *n = &net->nodes[i];
        r->owner[i] = n->kind == LSUV_NODE_FLATTEN ? r->owner[n->inputs[0]] : i;
        if (n->kind != LSUV_NODE_FLATTEN)
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
    free(r->vals);
    free(r->owner);
    free(r->uses);
    free(r->extra);
    memset(r, 0, sizeof *r);
}
