/* ref_net.c - see ref_net.h. Uses the per-kernel references of ref_conv and ref_eltwise. */
#include "ref_net.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ref_conv.h"
#include "ref_eltwise.h"

double ref_variance(const double *x, size_t n, double *mean)
{
    double m = 0, v = 0;
    for (size_t i = 0; i < n; i++)
        m += x[i];
    m /= (double)n;
    for (size_t i = 0; i < n; i++)
        v += (x[i] - m) * (x[i] - m);
    if (mean)
        *mean = m;
    return v / (double)n;
}

static double *param_values(lsuv_net *net, int index)
{
    if (index < 0)
        return NULL;
    const lsuv_param *p = &net->params[index];
    float *f = malloc((size_t)p->numel * sizeof *f);
    double *d = malloc((size_t)p->numel * sizeof *d);
    cr_assert(f && d);
    cr_assert_eq(lsuv_buffer_download(net->ctx, &p->buffer, 0, f, (uint64_t)p->numel * 4), LSUV_OK);
    for (int64_t i = 0; i < p->numel; i++)
        d[i] = f[i];
    free(f);
    return d;
}

int ref_net_forward(lsuv_net *net, const float *x, int batch, ref_layer_stats *stats, int max_layers, double **out)
{
    int N = net->node_count, layers = 0;
    double **v = calloc((size_t)N, sizeof *v);
    int *layer_of = calloc((size_t)N, sizeof *layer_of);
    cr_assert(v && layer_of);
    size_t in_count = (size_t)batch * (size_t)lsuv_node_numel(&net->nodes[0]);
    v[0] = malloc(in_count * sizeof **v);
    for (size_t i = 0; i < in_count; i++)
        v[0][i] = x[i];
    for (int id = 1; id < N; id++) {
        const lsuv_node *n = &net->nodes[id];
        size_t count = (size_t)batch * (size_t)lsuv_node_numel(n);
        const double *a = v[n->inputs[0]];
        const lsuv_node *in = &net->nodes[n->inputs[0]];
        uint32_t c_in;
        uint64_t sp_in;
        lsuv_node_layout(in, &c_in, &sp_in);
        double *y = malloc(count * sizeof *y);
        cr_assert_not_null(y);
        layer_of[id] = -1;
        switch (n->kind) {
        case LSUV_NODE_DENSE:
        case LSUV_NODE_CONV2D: {
            double *w = param_values(net, n->weight), *b = param_values(net, n->bias);
            if (n->kind == LSUV_NODE_DENSE)
                ref_dense(a, w, b, y, batch, (int)n->in_features, (int)n->out_features);
            else {
                lsuv_conv2d_params p = n->conv;
                p.batch = (uint32_t)batch;
                ref_conv2d(&p, a, w, b, y);
            }
            free(w);
            free(b);
            if (layers < max_layers) {
                stats[layers].name = n->name;
                stats[layers].var_pre = ref_variance(y, count, &stats[layers].mean_pre);
                stats[layers].var_post = stats[layers].var_pre;
            }
            layer_of[id] = layers++;
            break;
        }
        case LSUV_NODE_ACTIVATION: {
            double *slopes = param_values(net, n->slopes);
            ref_affine_act(a, y, count, (int)c_in, sp_in, 1.0, NULL, NULL, n->act, n->act_param, slopes);
            free(slopes);
            int l = layer_of[n->inputs[0]];
            if (l >= 0 && l < max_layers)
                stats[l].var_post = ref_variance(y, count, NULL);
            break;
        }
        case LSUV_NODE_BATCHNORM: {
            double *g = param_values(net, n->weight), *b = param_values(net, n->bias);
            double *m = param_values(net, n->running_mean), *var = param_values(net, n->running_var);
            double *scale = malloc(c_in * sizeof *scale), *shift = malloc(c_in * sizeof *shift);
            for (uint32_t c = 0; c < c_in; c++) {
                scale[c] = g[c] / sqrt(var[c] + n->eps);
                shift[c] = b[c] - m[c] * scale[c];
            }
            ref_affine_act(a, y, count, (int)c_in, sp_in, 1.0, scale, shift, LSUV_K_ACT_NONE, 0, NULL);
            free(g); free(b); free(m); free(var); free(scale); free(shift);
            break;
        }
        case LSUV_NODE_MAXOUT:
            ref_maxout(a, y, (size_t)batch, (int)c_in, sp_in, (int)n->maxout_k);
            break;
        case LSUV_NODE_POOL2D: {
            lsuv_pool2d_params p = n->pool;
            p.batch = (uint32_t)batch;
            ref_pool2d(&p, a, y);
            break;
        }
        case LSUV_NODE_FLATTEN:
            memcpy(y, a, count * sizeof *y);
            break;
        case LSUV_NODE_ADD:
            ref_add(a, v[n->inputs[1]], y, count);
            break;
        case LSUV_NODE_CONCAT: {
            uint32_t c_out, offset = 0;
            uint64_t sp_out;
            lsuv_node_layout(n, &c_out, &sp_out);
            for (int i = 0; i < n->input_count; i++) {
                uint32_t ci;
                uint64_t spi;
                lsuv_node_layout(&net->nodes[n->inputs[i]], &ci, &spi);
                ref_copy_channels(v[n->inputs[i]], y, (size_t)batch, (int)ci, (int)c_out, (int)offset, sp_out);
                offset += ci;
            }
            break;
        }
        default:
            cr_assert_fail("unexpected node kind %d", (int)n->kind);
        }
        v[id] = y;
    }
    if (out) {
        *out = v[N - 1];
        v[N - 1] = NULL;
    }
    for (int i = 0; i < N; i++)
        free(v[i]);
    free(v);
    free(layer_of);
    return layers;
}
