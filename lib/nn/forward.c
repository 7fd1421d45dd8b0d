/* forward.c - the public forward pass: runs a network (zoo, C API or ONNX) over data in
 * one batch through the graph runner and copies one node's value back to the host. */
#include <string.h>

#include "nn/graph_run.h"

lsuv_status lsuv_net_find_node(const lsuv_net *net, const char *name, int *node)
{
    if (!net || !name || !node)
        return LSUV_ERROR_INVALID_ARGUMENT;
    /* the last node of a name wins: an importer's helper nodes come before the node that
     * carries the ONNX name's value */
    for (int i = net->node_count - 1; i >= 0; i--)
        if (strcmp(net->nodes[i].name, name) == 0) {
            *node = i;
            return LSUV_OK;
        }
    return lsuv_fail(net->ctx, LSUV_ERROR_NOT_FOUND, "no node named '%s' (%d nodes; ONNX nodes are named by their "
                     "node name, or their output's name when unnamed)", name, net->node_count);
}

lsuv_status lsuv_net_forward(lsuv_net *net, const lsuv_data *data, int node, float *out, int64_t count)
{
    if (!net)
        return LSUV_ERROR_INVALID_ARGUMENT;
    lsuv_context *ctx = net->ctx;
    if (!data || !data->values || data->n <= 0 || !out)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "lsuv_net_forward: %s", !out ? "out is NULL" : "no data");
    if (node == -1)
        node = net->node_count - 1;
    if (node < 0 || node >= net->node_count)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "lsuv_net_forward: node %d does not exist (%d nodes)", node,
                         net->node_count);
    const lsuv_node *in = &net->nodes[0], *n = &net->nodes[node];
    char s1[128], s2[128];
    if (data->ndim != in->ndim || memcmp(data->dims, in->dims, (size_t)in->ndim * sizeof in->dims[0]))
        return lsuv_fail(ctx, LSUV_ERROR_SHAPE, "data samples have shape %s but the network expects %s",
                         lsuv_shape_string(data->ndim, data->dims, s1, sizeof s1),
                         lsuv_shape_string(in->ndim, in->dims, s2, sizeof s2));
    if (data->n > (1 << 24))
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "lsuv_net_forward: %lld samples in one batch is too many",
                         (long long)data->n);
    int64_t want = data->n * lsuv_node_numel(n);
    if (count != want)
        return lsuv_fail(ctx, LSUV_ERROR_SHAPE, "lsuv_net_forward: node %s gives %lld samples of %s = %lld floats; "
                         "out holds %lld", n->name, (long long)data->n,
                         lsuv_shape_string(n->ndim, n->dims, s1, sizeof s1), (long long)want, (long long)count);
    lsuv_graph_run g;
    lsuv_status st = lsuv_graph_run_begin(&g, net, 1, (uint32_t)data->n, data->values);
    g.keep = st == LSUV_OK ? g.owner[node] : -1; /* an alias's value lives in its owner's buffer */
    /* nodes after `node` cannot feed it (inputs come before their readers) */
    for (int id = 1; st == LSUV_OK && id <= node; id++) {
        st = lsuv_graph_forward_node(&g, id);
        if (st == LSUV_OK)
            lsuv_graph_release_inputs(&g, id);
    }
    if (st == LSUV_OK)
        st = lsuv_buffer_download(ctx, lsuv_graph_value(&g, node, 0), 0, out, (uint64_t)count * 4);
    else
        lsuv_submit(ctx); /* recorded work must finish before its memory is freed */
    lsuv_graph_run_end(&g);
    return st;
}
