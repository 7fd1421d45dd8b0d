/* net.c - building a network: layers, shape inference, parameters by name, export. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "nn/net.h"
#include "nn/onnx_export.h"

#define DEFAULT_INIT_SEED 0x6c7375762d766bull /* "lsuv-vk" */

const char *lsuv_shape_string(int ndim, const int64_t *dims, char *buf, size_t size)
{
    return lsuv_shape_text(buf, size, ndim, dims, 0);
}

int64_t lsuv_node_numel(const lsuv_node *n)
{
    int64_t e = 1;
    for (int i = 0; i < n->ndim; i++)
        e *= n->dims[i];
    return e;
}

void lsuv_node_layout(const lsuv_node *n, uint32_t *channels, uint64_t *spatial)
{
    *channels = (uint32_t)n->dims[0];
    uint64_t sp = 1;
    for (int i = 1; i < n->ndim; i++)
        sp *= (uint64_t)n->dims[i];
    *spatial = sp;
}

void lsuv_node_stat_layout(const lsuv_node *n, uint32_t B, uint64_t *outer, uint32_t *channels,
                           uint64_t *spatial)
{
    if (n->kind == LSUV_NODE_DENSE) {
        *outer = (uint64_t)B * (n->rows ? n->rows : 1);
        *channels = n->out_features;
        *spatial = 1;
        return;
    }
    *outer = B;
    lsuv_node_layout(n, channels, spatial);
}

double lsuv_node_flops(const lsuv_node *n)
{
    if (n->kind == LSUV_NODE_DENSE) /* one GEMM row per row of the sample */
        return 2.0 * n->in_features * n->out_features * (n->rows ? n->rows : 1);
    if (n->kind == LSUV_NODE_CONV2D) {
        const lsuv_conv2d_params *c = &n->conv;
        return 2.0 * c->out_channels * (c->in_channels / c->groups) * c->kernel_h * c->kernel_w * c->out_h *
               c->out_w;
    }
    return 0;
}

lsuv_status lsuv_net_create(lsuv_context *ctx, int ndim, const int64_t *dims, lsuv_net **out)
{
    if (!out)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "lsuv_net_create: out is NULL");
    *out = NULL;
    if (!ctx)
        return LSUV_ERROR_INVALID_ARGUMENT;
    if ((ndim != 1 && ndim != 3) || !dims)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "network input must be (F) or (C, H, W); got %d dimensions", ndim);
    for (int i = 0; i < ndim; i++)
        if (dims[i] <= 0 || dims[i] > (1 << 24))
            return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "network input dimension %d is %lld", i,
                             (long long)dims[i]);
    lsuv_net *net = calloc(1, sizeof *net);
    if (!net)
        return lsuv_fail(ctx, LSUV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    net->ctx = ctx;
    net->node_capacity = 64;
    net->nodes = calloc((size_t)net->node_capacity, sizeof *net->nodes);
    if (!net->nodes) {
        free(net);
        return lsuv_fail(ctx, LSUV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    lsuv_node *in = &net->nodes[0];
    in->kind = LSUV_NODE_INPUT;
    snprintf(in->name, sizeof in->name, "input");
    in->ndim = ndim;
    memcpy(in->dims, dims, (size_t)ndim * sizeof *dims);
    in->weight = in->bias = in->running_mean = in->running_var = in->num_batches = in->slopes = -1;
    net->node_count = 1;
    *out = net;
    return LSUV_OK;
}

void lsuv_net_destroy(lsuv_net *net)
{
    if (!net)
        return;
    lsuv_submit(net->ctx); /* nothing may still use the parameters */
    for (int i = 0; i < net->param_count; i++)
        lsuv_buffer_free(net->ctx, &net->params[i].buffer);
    if (net->source && net->source_free)
        net->source_free(net->source);
    free(net->params);
    free(net->nodes);
    free(net);
}

/* ------------------------------------------------------------ helpers */

static lsuv_status check_input(lsuv_net *net, int in, const char *what)
{
    if (!net)
        return LSUV_ERROR_INVALID_ARGUMENT;
    if (in < 0 || in >= net->node_count)
        return lsuv_fail(net->ctx, LSUV_ERROR_INVALID_ARGUMENT, "%s: input node %d does not exist (%d nodes)",
                         what, in, net->node_count);
    return LSUV_OK;
}

static int find_param(const lsuv_net *net, const char *name)
{
    for (int i = 0; i < net->param_count; i++)
        if (strcmp(net->params[i].name, name) == 0)
            return i;
    return -1;
}

static lsuv_status check_name(lsuv_net *net, const char *name, const char *what)
{
    if (!name || !*name)
        return lsuv_fail(net->ctx, LSUV_ERROR_INVALID_ARGUMENT, "%s: a layer name is required", what);
    if (strlen(name) >= LSUV_NAME_MAX)
        return lsuv_fail(net->ctx, LSUV_ERROR_INVALID_ARGUMENT, "%s: name '%.40s...' is longer than %d bytes",
                         what, name, LSUV_NAME_MAX - 1);
    char key[LSUV_NAME_MAX + 32];
    snprintf(key, sizeof key, "%s.weight", name);
    if (find_param(net, key) >= 0)
        return lsuv_fail(net->ctx, LSUV_ERROR_INVALID_ARGUMENT, "%s: a layer named '%s' exists already", what,
                         name);
    return LSUV_OK;
}

/* Appends a node (copy of *proto) and returns its id through *out. */
lsuv_status lsuv_net_push_node(lsuv_net *net, const lsuv_node *proto, int *out)
{
    if (net->node_count == net->node_capacity) {
        int cap = net->node_capacity * 2;
        lsuv_node *grown = realloc(net->nodes, (size_t)cap * sizeof *grown);
        if (!grown)
            return lsuv_fail(net->ctx, LSUV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        net->nodes = grown;
        net->node_capacity = cap;
    }
    net->nodes[net->node_count] = *proto;
    if (out)
        *out = net->node_count;
    net->node_count++;
    return LSUV_OK;
}

void lsuv_node_init(lsuv_node *n, lsuv_node_kind kind, const char *name, int in)
{
    memset(n, 0, sizeof *n);
    n->kind = kind;
    if (name)
        snprintf(n->name, sizeof n->name, "%s", name);
    n->inputs[0] = in;
    n->input_count = 1;
    n->weight = n->bias = n->running_mean = n->running_var = n->num_batches = n->slopes = -1;
    n->rows = 1;
    n->binary.a_param = n->binary.b_param = -1;
}

/* Adds a parameter; init: 'n' Gaussian/sqrt(fan), '0' zeros, '1' ones, 'v' value. */
static lsuv_status add_param(lsuv_net *net, const char *layer, const char *suffix, int ndim,
                             const int64_t *shape, char init, float value, int64_t fan, int *index)
{
    lsuv_context *ctx = net->ctx;
    if (net->param_count == net->param_capacity) {
        int cap = net->param_capacity ? net->param_capacity * 2 : 32;
        lsuv_param *grown = realloc(net->params, (size_t)cap * sizeof *grown);
        if (!grown)
            return lsuv_fail(ctx, LSUV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        net->params = grown;
        net->param_capacity = cap;
    }
    lsuv_param *p = &net->params[net->param_count];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s.%s", layer, suffix);
    p->ndim = ndim;
    p->numel = 1;
    for (int i = 0; i < ndim; i++) {
        p->shape[i] = shape[i];
        p->numel *= shape[i];
    }
    if (init == 'i') { /* an I64 scalar kept on the host */
        p->dtype = LSUV_DTYPE_I64;
        *index = net->param_count++;
        return LSUV_OK;
    }
    p->dtype = LSUV_DTYPE_F32;
    lsuv_status st = lsuv_buffer_alloc(ctx, (uint64_t)p->numel * 4, &p->buffer);
    if (st != LSUV_OK)
        return lsuv_fail(ctx, st, "parameter %s (%lld floats): %s", p->name, (long long)p->numel,
                         lsuv_context_last_error(ctx));
    lsuv_set_phase(ctx, LSUV_PHASE_FILL);
    if (init == 'n') { /* LeCun-normal default so LSUV can also start from these */
        st = lsuv_k_fill_normal(ctx, &p->buffer, (uint64_t)p->numel, DEFAULT_INIT_SEED, net->init_counter);
        net->init_counter += (uint64_t)p->numel;
        if (st == LSUV_OK)
            st = lsuv_k_affine_act(ctx, &p->buffer, &p->buffer, (uint64_t)p->numel, 1, (uint64_t)p->numel,
                                   (float)(1.0 / sqrt((double)fan)), NULL, NULL, LSUV_K_ACT_NONE, 0, NULL);
    } else {
        union { float f; uint32_t u; } bits = {.f = init == '1' ? 1.0f : init == 'v' ? value : 0.0f};
        st = lsuv_buffer_fill(ctx, &p->buffer, bits.u);
    }
    if (st != LSUV_OK) {
        lsuv_buffer_free(ctx, &p->buffer);
        return st;
    }
    *index = net->param_count++;
    return LSUV_OK;
}

lsuv_status lsuv_net_add_param_f32(lsuv_net *net, const char *name, int ndim, const int64_t *shape,
                                   const float *values, int *index)
{
    if (!name || strlen(name) >= LSUV_NAME_MAX)
        return lsuv_fail(net->ctx, LSUV_ERROR_INVALID_ARGUMENT, "parameter name '%.40s...' is empty or longer "
                         "than %d bytes", name ? name : "", LSUV_NAME_MAX - 1);
    if (find_param(net, name) >= 0)
        return lsuv_fail(net->ctx, LSUV_ERROR_INVALID_ARGUMENT, "a parameter named '%s' exists already", name);
    if (ndim < 0 || ndim > 4)
        return lsuv_fail(net->ctx, LSUV_ERROR_SHAPE, "parameter %s: %d axes (at most 4)", name, ndim);
    /* add_param names "<layer>.<suffix>": give it the whole name and strip the dot */
    lsuv_status st = add_param(net, name, "", ndim, shape, '0', 0, 1, index);
    if (st != LSUV_OK)
        return st;
    lsuv_param *p = &net->params[*index];
    snprintf(p->name, sizeof p->name, "%s", name);
    if (values)
        st = lsuv_buffer_upload(net->ctx, &p->buffer, 0, values, (uint64_t)p->numel * 4);
    if (st != LSUV_OK) {
        lsuv_buffer_free(net->ctx, &p->buffer);
        net->param_count--;
    }
    return st;
}

/* ------------------------------------------------------------ layers */

lsuv_status lsuv_net_dense(lsuv_net *net, const char *name, int in, int out_features, int bias, int *out)
{
    lsuv_status st = check_input(net, in, "dense");
    if (st == LSUV_OK)
        st = check_name(net, name, "dense");
    if (st != LSUV_OK)
        return st;
    const lsuv_node *x = &net->nodes[in];
    char shape[96];
    if (x->ndim != 1)
        return lsuv_fail(net->ctx, LSUV_ERROR_SHAPE,
                         "layer %s: dense needs a flat input (F), got %s from %s; add a flatten", name,
                         lsuv_shape_string(x->ndim, x->dims, shape, sizeof shape), x->name);
    if (out_features <= 0 || out_features > (1 << 24))
        return lsuv_fail(net->ctx, LSUV_ERROR_INVALID_ARGUMENT, "layer %s: out_features is %d", name, out_features);
    lsuv_node n;
    lsuv_node_init(&n, LSUV_NODE_DENSE, name, in);
    n.in_features = (uint32_t)x->dims[0];
    n.out_features = (uint32_t)out_features;
    n.ndim = 1;
    n.dims[0] = out_features;
    int64_t wshape[2] = {out_features, x->dims[0]};
    st = add_param(net, name, "weight", 2, wshape, 'n', 0, x->dims[0], &n.weight);
    if (st == LSUV_OK && bias)
        st = add_param(net, name, "bias", 1, wshape, '0', 0, 1, &n.bias);
    if (st == LSUV_OK)
        st = lsuv_net_push_node(net, &n, out);
    return st;
}

void lsuv_conv2d_desc_init(lsuv_conv2d_desc *d, int out_channels, int kernel)
{
    memset(d, 0, sizeof *d);
    d->out_channels = out_channels;
    d->kernel_h = d->kernel_w = kernel;
    d->stride_h = d->stride_w = 1;
    d->dilation_h = d->dilation_w = 1;
    d->groups = 1;
    d->bias = 1;
}

static const char *need_chw(lsuv_net *net, const lsuv_node *x, const char *name, const char *what,
                            lsuv_status *st)
{
    char shape[96];
    if (x->ndim == 3)
        return NULL;
    *st = lsuv_fail(net->ctx, LSUV_ERROR_SHAPE, "layer %s: %s needs a (C, H, W) input, got %s from %s", name,
                    what, lsuv_shape_string(x->ndim, x->dims, shape, sizeof shape), x->name);
    return "";
}

lsuv_status lsuv_net_conv2d(lsuv_net *net, const char *name, int in, const lsuv_conv2d_desc *d, int *out)
{
    lsuv_status st = check_input(net, in, "conv2d");
    if (st == LSUV_OK)
        st = check_name(net, name, "conv2d");
    if (st != LSUV_OK)
        return st;
    if (!d)
        return lsuv_fail(net->ctx, LSUV_ERROR_INVALID_ARGUMENT, "layer %s: no conv2d description", name);
    const lsuv_node *x = &net->nodes[in];
    if (need_chw(net, x, name, "conv2d", &st))
        return st;
    if (d->groups <= 0 || d->out_channels <= 0 || x->dims[0] % d->groups || d->out_channels % d->groups)
        return lsuv_fail(net->ctx, LSUV_ERROR_SHAPE,
                         "layer %s: input has %lld channels and the layer %d output channels; both must be "
                         "divisible by groups = %d", name, (long long)x->dims[0], d->out_channels, d->groups);
    lsuv_node n;
    lsuv_node_init(&n, LSUV_NODE_CONV2D, name, in);
    lsuv_conv2d_params *c = &n.conv;
    c->batch = 1;
    c->in_channels = (uint32_t)x->dims[0];
    c->in_h = (uint32_t)x->dims[1];
    c->in_w = (uint32_t)x->dims[2];
    c->out_channels = (uint32_t)d->out_channels;
    c->kernel_h = (uint32_t)d->kernel_h;
    c->kernel_w = (uint32_t)d->kernel_w;
    c->stride_h = (uint32_t)d->stride_h;
    c->stride_w = (uint32_t)d->stride_w;
    c->pad_h = (uint32_t)d->pad_h;
    c->pad_w = (uint32_t)d->pad_w;
    c->dilation_h = (uint32_t)d->dilation_h;
    c->dilation_w = (uint32_t)d->dilation_w;
    c->groups = (uint32_t)d->groups;
    if (d->kernel_h <= 0 || d->kernel_w <= 0 || d->stride_h <= 0 || d->stride_w <= 0 || d->pad_h < 0 ||
        d->pad_w < 0 || d->dilation_h <= 0 || d->dilation_w <= 0 || !lsuv_conv2d_output_size(c)) {
        char shape[96];
        return lsuv_fail(net->ctx, LSUV_ERROR_SHAPE,
                         "layer %s: kernel %dx%d, stride %dx%d, padding %dx%d, dilation %dx%d gives no output "
                         "for input %s", name, d->kernel_h, d->kernel_w, d->stride_h, d->stride_w, d->pad_h,
                         d->pad_w, d->dilation_h, d->dilation_w,
                         lsuv_shape_string(x->ndim, x->dims, shape, sizeof shape));
    }
    n.ndim = 3;
    n.dims[0] = c->out_channels;
    n.dims[1] = c->out_h;
    n.dims[2] = c->out_w;
    int64_t fan = (int64_t)(c->in_channels / c->groups) * c->kernel_h * c->kernel_w;
    int64_t wshape[4] = {c->out_channels, c->in_channels / c->groups, c->kernel_h, c->kernel_w};
    st = add_param(net, name, "weight", 4, wshape, 'n', 0, fan, &n.weight);
    if (st == LSUV_OK && d->bias)
        st = add_param(net, name, "bias", 1, wshape, '0', 0, 1, &n.bias);
    if (st == LSUV_OK)
        st = lsuv_net_push_node(net, &n, out);
    return st;
}

lsuv_status lsuv_net_activation(lsuv_net *net, const char *name, int in, lsuv_activation act, float param,
                                int *out)
{
    lsuv_status st = check_input(net, in, "activation");
    if (st != LSUV_OK)
        return st;
    if (act < LSUV_ACT_NONE || act > LSUV_ACT_SILU || !isfinite(param))
        return lsuv_fail(net->ctx, LSUV_ERROR_INVALID_ARGUMENT, "activation: unknown kind %d or bad parameter",
                         (int)act);
    const lsuv_node *x = &net->nodes[in];
    lsuv_node n;
    lsuv_node_init(&n, LSUV_NODE_ACTIVATION, name, in);
    n.act = (lsuv_act_kind)act;
    n.act_param = param;
    n.ndim = x->ndim;
    memcpy(n.dims, x->dims, sizeof n.dims);
    if (act == LSUV_ACT_PRELU) {
        if ((st = check_name(net, name, "prelu")) != LSUV_OK)
            return st;
        int64_t shape[1] = {x->dims[0]};
        st = add_param(net, name, "weight", 1, shape, 'v', param, 1, &n.slopes);
        if (st != LSUV_OK)
            return st;
    }
    return lsuv_net_push_node(net, &n, out);
}

lsuv_status lsuv_net_maxout(lsuv_net *net, int in, int k, int *out)
{
    lsuv_status st = check_input(net, in, "maxout");
    if (st != LSUV_OK)
        return st;
    const lsuv_node *x = &net->nodes[in];
    if (k < 1 || x->dims[0] % k)
        return lsuv_fail(net->ctx, LSUV_ERROR_SHAPE, "maxout: %lld channels do not split into groups of k = %d",
                         (long long)x->dims[0], k);
    lsuv_node n;
    lsuv_node_init(&n, LSUV_NODE_MAXOUT, "maxout", in);
    n.maxout_k = (uint32_t)k;
    n.ndim = x->ndim;
    memcpy(n.dims, x->dims, sizeof n.dims);
    n.dims[0] /= k;
    return lsuv_net_push_node(net, &n, out);
}

lsuv_status lsuv_net_pool2d(lsuv_net *net, int in, lsuv_pool kind, int kernel, int stride, int pad, int *out)
{
    lsuv_status st = check_input(net, in, "pool2d");
    if (st != LSUV_OK)
        return st;
    const lsuv_node *x = &net->nodes[in];
    if (need_chw(net, x, "pool", "pool2d", &st))
        return st;
    lsuv_node n;
    lsuv_node_init(&n, LSUV_NODE_POOL2D, kind == LSUV_POOL_MAX ? "maxpool" : "avgpool", in);
    lsuv_pool2d_params *p = &n.pool;
    p->batch = 1;
    p->channels = (uint32_t)x->dims[0];
    p->in_h = (uint32_t)x->dims[1];
    p->in_w = (uint32_t)x->dims[2];
    p->max = kind == LSUV_POOL_MAX;
    if (kernel == 0) { /* global */
        p->kernel_h = p->in_h;
        p->kernel_w = p->in_w;
        p->stride_h = p->stride_w = 1;
    } else {
        if (kernel < 0 || stride <= 0 || pad < 0 || 2 * pad > kernel)
            return lsuv_fail(net->ctx, LSUV_ERROR_INVALID_ARGUMENT,
                             "pool2d: kernel %d, stride %d, padding %d (padding at most half the kernel)", kernel,
                             stride, pad);
        p->kernel_h = p->kernel_w = (uint32_t)kernel;
        p->stride_h = p->stride_w = (uint32_t)stride;
        p->pad_h = p->pad_w = (uint32_t)pad;
    }
    if (!lsuv_pool2d_output_size(p)) {
        char shape[96];
        return lsuv_fail(net->ctx, LSUV_ERROR_SHAPE, "pool2d: kernel %d stride %d gives no output for input %s",
                         kernel, stride, lsuv_shape_string(x->ndim, x->dims, shape, sizeof shape));
    }
    n.ndim = 3;
    n.dims[0] = x->dims[0];
    n.dims[1] = p->out_h;
    n.dims[2] = p->out_w;
    return lsuv_net_push_node(net, &n, out);
}

lsuv_status lsuv_net_flatten(lsuv_net *net, int in, int *out)
{
    lsuv_status st = check_input(net, in, "flatten");
    if (st != LSUV_OK)
        return st;
    lsuv_node n;
    lsuv_node_init(&n, LSUV_NODE_FLATTEN, "flatten", in);
    n.ndim = 1;
    n.dims[0] = lsuv_node_numel(&net->nodes[in]);
    return lsuv_net_push_node(net, &n, out);
}

lsuv_status lsuv_net_batchnorm(lsuv_net *net, const char *name, int in, float eps, int *out)
{
    lsuv_status st = check_input(net, in, "batchnorm");
    if (st == LSUV_OK)
        st = check_name(net, name, "batchnorm");
    if (st != LSUV_OK)
        return st;
    if (!(eps > 0) || !isfinite(eps))
        return lsuv_fail(net->ctx, LSUV_ERROR_INVALID_ARGUMENT, "layer %s: batch-norm eps must be > 0", name);
    const lsuv_node *x = &net->nodes[in];
    lsuv_node n;
    lsuv_node_init(&n, LSUV_NODE_BATCHNORM, name, in);
    n.eps = eps;
    n.ndim = x->ndim;
    memcpy(n.dims, x->dims, sizeof n.dims);
    int64_t c[1] = {x->dims[0]};
    st = add_param(net, name, "weight", 1, c, '1', 0, 1, &n.weight);
    if (st == LSUV_OK)
        st = add_param(net, name, "bias", 1, c, '0', 0, 1, &n.bias);
    if (st == LSUV_OK)
        st = add_param(net, name, "running_mean", 1, c, '0', 0, 1, &n.running_mean);
    if (st == LSUV_OK)
        st = add_param(net, name, "running_var", 1, c, '1', 0, 1, &n.running_var);
    if (st == LSUV_OK)
        st = add_param(net, name, "num_batches_tracked", 0, c, 'i', 0, 1, &n.num_batches);
    if (st == LSUV_OK)
        st = lsuv_net_push_node(net, &n, out);
    return st;
}

lsuv_status lsuv_net_add(lsuv_net *net, int a, int b, int *out)
{
    lsuv_status st = check_input(net, a, "add");
    if (st == LSUV_OK)
        st = check_input(net, b, "add");
    if (st != LSUV_OK)
        return st;
    const lsuv_node *x = &net->nodes[a], *y = &net->nodes[b];
    if (x->ndim != y->ndim || memcmp(x->dims, y->dims, (size_t)x->ndim * sizeof x->dims[0])) {
        char s1[96], s2[96];
        return lsuv_fail(net->ctx, LSUV_ERROR_SHAPE, "add: %s gives %s but %s gives %s", x->name,
                         lsuv_shape_string(x->ndim, x->dims, s1, sizeof s1), y->name,
                         lsuv_shape_string(y->ndim, y->dims, s2, sizeof s2));
    }
    lsuv_node n;
    lsuv_node_init(&n, LSUV_NODE_ADD, "add", a);
    n.inputs[1] = b;
    n.input_count = 2;
    n.ndim = x->ndim;
    memcpy(n.dims, x->dims, sizeof n.dims);
    return lsuv_net_push_node(net, &n, out);
}

lsuv_status lsuv_net_concat(lsuv_net *net, int count, const int *ins, int *out)
{
    if (!net)
        return LSUV_ERROR_INVALID_ARGUMENT;
    if (count < 1 || count > LSUV_MAX_NODE_INPUTS || !ins)
        return lsuv_fail(net->ctx, LSUV_ERROR_INVALID_ARGUMENT, "concat: %d inputs (1 to %d allowed)", count,
                         LSUV_MAX_NODE_INPUTS);
    lsuv_node n;
    lsuv_node_init(&n, LSUV_NODE_CONCAT, "concat", ins[0]);
    n.input_count = count;
    for (int i = 0; i < count; i++) {
        lsuv_status st = check_input(net, ins[i], "concat");
        if (st != LSUV_OK)
            return st;
        const lsuv_node *x = &net->nodes[ins[i]], *f = &net->nodes[ins[0]];
        if (x->ndim != f->ndim || (x->ndim == 3 && (x->dims[1] != f->dims[1] || x->dims[2] != f->dims[2]))) {
            char s1[96], s2[96];
            return lsuv_fail(net->ctx, LSUV_ERROR_SHAPE,
                             "concat: %s gives %s but %s gives %s; all but the channels must agree", f->name,
                             lsuv_shape_string(f->ndim, f->dims, s1, sizeof s1), x->name,
                             lsuv_shape_string(x->ndim, x->dims, s2, sizeof s2));
        }
        n.inputs[i] = ins[i];
        if (i == 0)
            memcpy(n.dims, x->dims, sizeof n.dims);
        else
            n.dims[0] += x->dims[0];
    }
    n.ndim = net->nodes[ins[0]].ndim;
    return lsuv_net_push_node(net, &n, out);
}

lsuv_status lsuv_net_node_shape(const lsuv_net *net, int node, int *ndim, int64_t *dims)
{
    if (!net || node < 0 || node >= net->node_count || !ndim || !dims)
        return LSUV_ERROR_INVALID_ARGUMENT;
    *ndim = net->nodes[node].ndim;
    memcpy(dims, net->nodes[node].dims, (size_t)*ndim * sizeof *dims);
    return LSUV_OK;
}

/* ------------------------------------------------------------ parameters */

int lsuv_net_param_count(const lsuv_net *net) { return net ? net->param_count : 0; }

lsuv_status lsuv_net_param_info(const lsuv_net *net, int i, const char **name, int *ndim, int64_t *shape,
                                int64_t *numel)
{
    if (!net || i < 0 || i >= net->param_count)
        return LSUV_ERROR_NOT_FOUND;
    const lsuv_param *p = &net->params[i];
    if (name)
        *name = p->name;
    if (ndim)
        *ndim = p->ndim;
    if (shape)
        memcpy(shape, p->shape, (size_t)p->ndim * sizeof *shape);
    if (numel)
        *numel = p->numel;
    return LSUV_OK;
}

static lsuv_status lookup_f32(lsuv_net *net, const char *name, int64_t count, lsuv_param **out)
{
    if (!net || !name)
        return LSUV_ERROR_INVALID_ARGUMENT;
    int i = find_param(net, name);
    if (i < 0)
        return lsuv_fail(net->ctx, LSUV_ERROR_NOT_FOUND, "no parameter named '%s'", name);
    lsuv_param *p = &net->params[i];
    if (p->dtype != LSUV_DTYPE_F32)
        return lsuv_fail(net->ctx, LSUV_ERROR_INVALID_ARGUMENT, "parameter %s is an integer buffer", name);
    if (count != p->numel)
        return lsuv_fail(net->ctx, LSUV_ERROR_SHAPE, "parameter %s holds %lld values, not %lld", name,
                         (long long)p->numel, (long long)count);
    *out = p;
    return LSUV_OK;
}

lsuv_status lsuv_net_get_param(lsuv_net *net, const char *name, float *dst, int64_t count)
{
    lsuv_param *p;
    lsuv_status st = lookup_f32(net, name, count, &p);
    if (st != LSUV_OK)
        return st;
    if (!dst)
        return lsuv_fail(net->ctx, LSUV_ERROR_INVALID_ARGUMENT, "get %s: dst is NULL", name);
    return lsuv_buffer_download(net->ctx, &p->buffer, 0, dst, (uint64_t)count * 4);
}

lsuv_status lsuv_net_set_param(lsuv_net *net, const char *name, const float *src, int64_t count)
{
    lsuv_param *p;
    lsuv_status st = lookup_f32(net, name, count, &p);
    if (st != LSUV_OK)
        return st;
    if (!src)
        return lsuv_fail(net->ctx, LSUV_ERROR_INVALID_ARGUMENT, "set %s: src is NULL", name);
    for (int64_t i = 0; i < count; i++)
        if (!isfinite(src[i]))
            return lsuv_fail(net->ctx, LSUV_ERROR_BAD_DATA, "set %s: value %lld is %g", name, (long long)i,
                             (double)src[i]);
    return lsuv_buffer_upload(net->ctx, &p->buffer, 0, src, (uint64_t)count * 4);
}

lsuv_status lsuv_net_save(lsuv_net *net, const char *path)
{
    if (!net || !path)
        return LSUV_ERROR_INVALID_ARGUMENT;
    lsuv_context *ctx = net->ctx;
    /* ONNX: merged tensors also go out under their alias names (onnx_export.c) */
    lsuv_st_tensor *t = calloc((size_t)net->param_count + (size_t)lsuv_onnx_alias_count(net) + 1, sizeof *t);
    float **host = calloc((size_t)net->param_count + 1, sizeof *host);
    lsuv_status st = (t && host) ? LSUV_OK : lsuv_fail(ctx, LSUV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (int i = 0; st == LSUV_OK && i < net->param_count; i++) {
        lsuv_param *p = &net->params[i];
        t[i].name = p->name;
        t[i].dtype = p->dtype;
        t[i].ndim = p->ndim;
        memcpy(t[i].shape, p->shape, sizeof p->shape);
        if (p->dtype == LSUV_DTYPE_I64) {
            t[i].data = &p->i64;
            continue;
        }
        host[i] = malloc((size_t)p->numel * 4);
        if (!host[i]) {
            st = lsuv_fail(ctx, LSUV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory for %s", p->name);
            break;
        }
        st = lsuv_buffer_download(ctx, &p->buffer, 0, host[i], (uint64_t)p->numel * 4);
        t[i].data = host[i];
    }
    if (st == LSUV_OK)
        st = lsuv_safetensors_write(path, t, lsuv_onnx_append_aliases(net, t, (size_t)net->param_count), ctx->error,
                                    sizeof ctx->error);
    for (int i = 0; host && i < net->param_count; i++)
        free(host[i]);
    free(host);
    free(t);
    return st;
}
