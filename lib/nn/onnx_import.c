/* onnx_import.c - ONNX graph -> lsuv network: the tensor table, the graph walk in
 * dependency order, parameters (named exactly as the file's initializers; LSUV layers'
 * tensors unshared when something else reads them too) and what the writer needs to
 * know about the file (nn/onnx_net.h). Ops on values are in onnx_import_ops.c, host-side
 * folding of shape arithmetic in onnx_shape.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/onnx_import.h"

/* What the importer converts; anything else is refused up front, all at once. */
static const char *const SUPPORTED[] = {
    "Add", "AveragePool", "BatchNormalization", "Cast", "Clip", "Concat", "Constant", "ConstantOfShape",
    "Conv", "Div", "Dropout", "Elu", "Erf", "Flatten", "Gather", "Gemm", "GlobalAveragePool",
    "GlobalMaxPool", "HardSigmoid", "HardSwish", "Identity", "LeakyRelu", "LogSoftmax", "MatMul",
    "MaxPool", "Mul", "Pad", "PRelu", "Range", "ReduceMax", "ReduceMean", "ReduceSum", "Relu", "Reshape",
    "Selu", "Shape", "Sigmoid", "Slice", "Softmax", "Softplus", "Split", "Squeeze", "Sub", "Tanh",
    "Transpose", "Unsqueeze",
};
#define OPSET_MIN 7
#define OPSET_MAX 17

/* Room for element `need - 1` in the array at *array_ptr (a T **): capacity doubles
 * from 64. 0 when out of memory (the array is left as it was). To be replaced by
 * common/util.h's lsuv_grow once that header is in the tree. */
static int grow(void *array_ptr, int *capacity, int need, size_t elem)
{
    if (need <= *capacity)
        return 1;
    int cap = *capacity > 0 ? *capacity * 2 : 64;
    void *old, *grown;
    memcpy(&old, array_ptr, sizeof old);
    if (cap < need || !(grown = realloc(old, (size_t)cap * elem)))
        return 0;
    memcpy(array_ptr, &grown, sizeof grown);
    *capacity = cap;
    return 1;
}

/* ------------------------------------------------------------ errors, attributes */

const char *imp_node_name(const Onnx__NodeProto *n)
{
    if (n->name && *n->name)
        return n->name;
    if (n->n_output && n->output[0] && *n->output[0])
        return n->output[0];
    return "(unnamed)";
}

lsuv_status imp_fail(imp *im, lsuv_status st, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (im->cur < 0)
        return lsuv_fail(im->ctx, st, "%s", msg);
    const Onnx__NodeProto *n = im->g->node[im->cur];
    return lsuv_fail(im->ctx, st, "node '%s' (%s, opset %lld): %s", imp_node_name(n), n->op_type,
                     (long long)im->opset, msg);
}

const Onnx__AttributeProto *imp_attr(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i]->name && strcmp(n->attribute[i]->name, name) == 0)
            return n->attribute[i];
    return NULL;
}

int64_t imp_attr_i(const Onnx__NodeProto *n, const char *name, int64_t def)
{
    const Onnx__AttributeProto *a = imp_attr(n, name);
    return a && a->has_i ? a->i : def;
}

float imp_attr_f(const Onnx__NodeProto *n, const char *name, float def)
{
    const Onnx__AttributeProto *a = imp_attr(n, name);
    return a && a->has_f ? a->f : def;
}

int64_t imp_numel(int ndim, const int64_t *dims)
{
    int64_t e = 1;
    for (int i = 0; i < ndim; i++)
        e *= dims[i];
    return e;
}

/* ------------------------------------------------------------ the tensor table */

static uint64_t hash_name(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

static int find(const imp *im, const char *name)
{
    if (!im->hash_cap)
        return -1;
    for (size_t h = hash_name(name) & (im->hash_cap - 1);; h = (h + 1) & (im->hash_cap - 1)) {
        int i = im->hash[h];
        if (i < 0 || strcmp(im->t[i].name, name) == 0)
            return i;
    }
}

static int rehash(imp *im, size_t cap)
{
    int *h = malloc(cap * sizeof *h);
    if (!h)
        return 0;
    for (size_t i = 0; i < cap; i++)
        h[i] = -1;
    for (int i = 0; i < im->nt; i++) {
        size_t k = hash_name(im->t[i].name) & (cap - 1);
        while (h[k] >= 0)
            k = (k + 1) & (cap - 1);
        h[k] = i;
    }
    free(im->hash);
    im->hash = h;
    im->hash_cap = cap;
    return 1;
}

imp_tensor *imp_lookup(imp *im, const char *name)
{
    int i = find(im, name);
    if (i >= 0)
        return &im->t[i];
    if ((size_t)(im->nt + 1) * 2 > im->hash_cap && !rehash(im, im->hash_cap ? im->hash_cap * 2 : 256))
        return NULL;
    if (!grow(&im->t, &im->t_cap, im->nt + 1, sizeof *im->t))
        return NULL;
    imp_tensor *t = &im->t[im->nt];
    memset(t, 0, sizeof *t);
    t->name = name;
    t->node = t->init = t->alias_node = t->param = t->producer = -1;
    size_t k = hash_name(name) & (im->hash_cap - 1);
    while (im->hash[k] >= 0)
        k = (k + 1) & (im->hash_cap - 1);
    im->hash[k] = im->nt++;
    return t;
}

imp_tensor *imp_input(imp *im, int i, int required, lsuv_status *st)
{
    const Onnx__NodeProto *n = im->g->node[im->cur];
    if (i >= (int)n->n_input || !n->input[i] || !*n->input[i]) {
        if (required)
            *st = imp_fail(im, LSUV_ERROR_FORMAT, "input %d is missing (the operator needs it)", i + 1);
        return NULL;
    }
    imp_tensor *t = imp_lookup(im, n->input[i]);
    if (!t) {
        *st = imp_fail(im, LSUV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        return NULL;
    }
    if (t->kind == IMP_UNDEF) { /* the walk only converts nodes whose inputs are defined */
        *st = imp_fail(im, LSUV_ERROR_FORMAT, "reads '%s', which is not defined", t->name);
        return NULL;
    }
    return t;
}

/* ------------------------------------------------------------ constants and parameters */

int imp_is_float_type(int32_t dt)
{
    return dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT || dt == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE ||
           dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16 || dt == ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16;
}

lsuv_status imp_const_load(imp *im, imp_tensor *t)
{
    if (t->f || t->iv || t->init < 0)
        return LSUV_OK;
    const Onnx__TensorProto *tp = im->g->initializer[t->init];
    char err[512] = "";
    int64_t numel = 0;
    lsuv_status st = t->is_int ? lsuv_onnx_tensor_i64(im->model, tp, &t->iv, &numel, err, sizeof err)
                               : lsuv_onnx_tensor_f32(im->model, tp, &t->f, &numel, err, sizeof err);
    if (st != LSUV_OK)
        return imp_fail(im, st, "%s", err); /* the reader's message names the initializer */
    if (numel != imp_numel(t->ndim, t->dims))
        return imp_fail(im, LSUV_ERROR_FORMAT, "initializer '%s' holds %lld values for %lld elements", tp->name,
                        (long long)numel, (long long)imp_numel(t->ndim, t->dims));
    return LSUV_OK;
}

void imp_const_unload(imp_tensor *t)
{
    if (t->init < 0)
        return;
    free(t->f);
    free(t->iv);
    t->f = NULL;
    t->iv = NULL;
}

static int param_exists(const lsuv_net *net, const char *name)
{
    for (int i = 0; i < net->param_count; i++)
        if (strcmp(net->params[i].name, name) == 0)
            return 1;
    return 0;
}

/* A parameter name not used by any tensor of the graph nor any parameter yet. */
static void unique_name(imp *im, const char *base, char *out, size_t size)
{
    snprintf(out, size, "%s", base);
    for (int k = 2; find(im, out) >= 0 || param_exists(im->net, out); k++)
        snprintf(out, size, "%.*s_%d", (int)size - 16, base, k);
}

/* The parameter's shape: the file's when it has at most 4 axes, else flat. */
static void param_shape(int ndim, const int64_t *dims, int *pn, int64_t *pd)
{
    if (ndim <= 4) {
        *pn = ndim;
        memcpy(pd, dims, (size_t)ndim * sizeof *dims);
    } else {
        *pn = 1;
        pd[0] = imp_numel(ndim, dims);
    }
}

static lsuv_status src_param(imp *im, int param, int lsuv, int is_new, int transposed, double file_scale,
                             int file_ndim, const int64_t *file_dims)
{
    lsuv_onnx_source *s = im->src;
    if (!grow(&s->params, &im->src_param_cap, s->param_count + 1, sizeof *s->params))
        return imp_fail(im, LSUV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    lsuv_onnx_param_src *p = &s->params[s->param_count++];
    memset(p, 0, sizeof *p);
    p->param = param;
    p->lsuv = lsuv;
    p->is_new = is_new;
    p->transposed = transposed;
    p->file_scale = file_scale;
    p->file_ndim = file_ndim;
    memcpy(p->file_dims, file_dims, (size_t)file_ndim * sizeof *file_dims);
    return LSUV_OK;
}

lsuv_status imp_const_param(imp *im, imp_tensor *t, int *param)
{
    if (t->param >= 0) {
        *param = t->param;
        return LSUV_OK;
    }
    if (t->init >= 0 && im->init_param[t->init] >= 0) {
        *param = t->param = im->init_param[t->init];
        return LSUV_OK;
    }
    int was_loaded = t->f || t->iv;
    lsuv_status st = imp_const_load(im, t);
    if (st != LSUV_OK)
        return st;
    int64_t n = imp_numel(t->ndim, t->dims);
    float *conv = NULL;
    const float *values = t->f;
    if (t->is_int) { /* an integer operand of float arithmetic: the values as floats */
        if (t->ib)
            for (int64_t i = 0; i < n; i++)
                if (t->ib[i])
                    return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "'%s' depends on the batch size and is used as "
                                    "data", t->name);
        if (!(conv = malloc((size_t)(n ? n : 1) * sizeof *conv)))
            return imp_fail(im, LSUV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        for (int64_t i = 0; i < n; i++)
            conv[i] = (float)t->iv[i];
        values = conv;
    }
    char name[LSUV_NAME_MAX];
    if (t->init >= 0)
        snprintf(name, sizeof name, "%s", im->g->initializer[t->init]->name);
    else
        unique_name(im, t->name, name, sizeof name);
    int pn;
    int64_t pd[4];
    param_shape(t->ndim, t->dims, &pn, pd);
    st = lsuv_net_add_param_f32(im->net, name, pn, pd, values, param);
    free(conv);
    if (st != LSUV_OK)
        return imp_fail(im, st, "parameter for '%s': %s", t->name, lsuv_context_last_error(im->ctx));
    t->param = *param;
    if (t->init >= 0) {
        im->init_param[t->init] = *param;
        st = src_param(im, *param, 0, 0, 0, 1.0, t->ndim, t->dims);
        if (!was_loaded)
            imp_const_unload(t);
    }
    return st;
}

static lsuv_status add_rename(imp *im, int node, int input, int param)
{
    lsuv_onnx_source *s = im->src;
    if (!grow(&s->renames, &im->rename_cap, s->rename_count + 1, sizeof *s->renames) ||
        !grow(&im->rename_params, &im->rename_param_cap, s->rename_count + 1, sizeof *im->rename_params))
        return imp_fail(im, LSUV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    s->renames[s->rename_count] = (lsuv_onnx_input_rename){.node = node, .input = input, .name = NULL};
    im->rename_params[s->rename_count++] = param;
    return LSUV_OK;
}

static lsuv_status add_drop(imp *im, int node)
{
    lsuv_onnx_source *s = im->src;
    if (!grow(&s->drop_nodes, &im->drop_cap, s->drop_count + 1, sizeof *s->drop_nodes))
        return imp_fail(im, LSUV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    s->drop_nodes[s->drop_count++] = node;
    return LSUV_OK;
}

lsuv_status imp_layer_param_add(imp *im, imp_tensor *t, const imp_layer_param *lp, int *param)
{
    if (t->kind != IMP_CONST || t->init < 0)
        return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "its %s '%s' is computed in the graph; lsuv-vk needs it to be "
                        "an initializer", lp->role, t->name);
    const Onnx__TensorProto *tp = im->g->initializer[t->init];
    int shared = im->init_readers[t->init] > 1 || im->init_param[t->init] >= 0;
    char name[LSUV_NAME_MAX];
    int is_new = 0, rename = 0;
    if (!shared && !lp->force_copy) {
        snprintf(name, sizeof name, "%s", tp->name);
    } else if (t->alias_node >= 0 && t->readers == 1) {
        /* the layer reads an Identity alias nobody else reads: the alias becomes an
         * initializer of its own and its Identity node goes */
        snprintf(name, sizeof name, "%s", t->name);
        is_new = 1;
    } else {
        char base[LSUV_NAME_MAX];
        snprintf(base, sizeof base, "%.*s.%s", LSUV_NAME_MAX - 16, imp_node_name(im->g->node[lp->onnx_node]),
                 lp->role);
        unique_name(im, base, name, sizeof name);
        is_new = rename = 1;
    }
    lsuv_status st = lsuv_net_add_param_f32(im->net, name, lp->ndim, lp->dims, lp->values, param);
    if (st != LSUV_OK)
        return imp_fail(im, st, "%s '%s': %s", lp->role, t->name, lsuv_context_last_error(im->ctx));
    if (!is_new)
        im->init_param[t->init] = *param;
    st = src_param(im, *param, 1, is_new, lp->transposed, lp->file_scale, lp->file_ndim, lp->file_dims);
    if (st == LSUV_OK && rename)
        st = add_rename(im, lp->onnx_node, lp->slot, *param);
    if (st == LSUV_OK && is_new && !rename) {
        t->dropped = 1;
        st = add_drop(im, t->alias_node);
    }
    return st;
}

/* ------------------------------------------------------------ binding outputs */

lsuv_status imp_bind_value(imp *im, int out, int node)
{
    const Onnx__NodeProto *n = im->g->node[im->cur];
    if (out >= (int)n->n_output || !n->output[out] || !*n->output[out])
        return LSUV_OK; /* an optional output left out */
    imp_tensor *t = imp_lookup(im, n->output[out]);
    if (!t)
        return imp_fail(im, LSUV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    t->kind = IMP_VALUE;
    t->node = node;
    return LSUV_OK;
}

lsuv_status imp_push(imp *im, lsuv_node *proto, int out)
{
    const Onnx__NodeProto *n = im->g->node[im->cur];
    char shape[128];
    if (proto->ndim < 1 || proto->ndim > LSUV_MAX_RANK)
        return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "its output has %d axes per sample (1 to %d supported)",
                        proto->ndim, LSUV_MAX_RANK);
    for (int i = 0; i < proto->ndim; i++)
        if (proto->dims[i] <= 0)
            return imp_fail(im, LSUV_ERROR_SHAPE, "its output %s per sample is empty",
                            lsuv_shape_string(proto->ndim, proto->dims, shape, sizeof shape));
    if (!proto->name[0]) {
        const char *nm = out == 0 ? imp_node_name(n) : n->output[out];
        snprintf(proto->name, sizeof proto->name, "%s", nm);
    }
    int id;
    lsuv_status st = lsuv_net_push_node(im->net, proto, &id);
    if (st != LSUV_OK)
        return st;
    return imp_bind_value(im, out, id);
}

/* ------------------------------------------------------------ set-up */

/* The graph input: the first one that is not an initializer. Its first axis is the
 * batch (symbolic or fixed); the others make the per-sample shape. */
static lsuv_status setup_input(imp *im)
{
    Onnx__GraphProto *g = im->g;
    const Onnx__ValueInfoProto *in = NULL;
    for (size_t i = 0; i < g->n_input && !in; i++) {
        imp_tensor *t = imp_lookup(im, g->input[i]->name ? g->input[i]->name : "");
        if (!t)
            return lsuv_fail(im->ctx, LSUV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        if (t->init < 0)
            in = g->input[i];
    }
    if (!in || !in->name || !*in->name)
        return lsuv_fail(im->ctx, LSUV_ERROR_FORMAT, "the graph has no input (every input is an initializer)");
    const Onnx__TypeProto *ty = in->type;
    if (!ty || ty->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !ty->tensor_type->shape)
        return lsuv_fail(im->ctx, LSUV_ERROR_FORMAT, "graph input '%s' has no tensor shape", in->name);
    const Onnx__TypeProto__Tensor *tt = ty->tensor_type;
    /* a float64/16 model runs in float32 like its converted parameters */
    if (tt->has_elem_type && !imp_is_float_type(tt->elem_type))
        return lsuv_fail(im->ctx, LSUV_ERROR_UNSUPPORTED, "graph input '%s' has element type %d; lsuv-vk feeds "
                         "floating-point data (float32, float64, float16, bfloat16)", in->name, (int)tt->elem_type);
    const Onnx__TensorShapeProto *sh = tt->shape;
    if (sh->n_dim < 2 || sh->n_dim > LSUV_MAX_RANK + 1)
        return lsuv_fail(im->ctx, LSUV_ERROR_UNSUPPORTED, "graph input '%s' has %zu axes; lsuv-vk needs a batch "
                         "axis and 1 to %d more", in->name, sh->n_dim, LSUV_MAX_RANK);
    int64_t dims[LSUV_MAX_RANK];
    for (size_t i = 0; i < sh->n_dim; i++) {
        const Onnx__TensorShapeProto__Dimension *d = sh->dim[i];
        int fixed = d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        if (i == 0) {
            im->fixed_batch = fixed && d->dim_value > 0 ? d->dim_value : 0;
            continue;
        }
        if (!fixed || d->dim_value <= 0 || d->dim_value > (1 << 24))
            return lsuv_fail(im->ctx, LSUV_ERROR_UNSUPPORTED, "graph input '%s': axis %zu is %s%s%s; lsuv-vk needs "
                             "every axis but the batch fixed", in->name, i, fixed ? "" : "symbolic '",
                             fixed ? "out of range" : d->value_case ? d->dim_param : "unknown", fixed ? "" : "'");
        dims[i - 1] = d->dim_value;
    }
    int ndim = (int)sh->n_dim - 1;
    /* lsuv_net_create takes the C API's (F) and (C, H, W); ONNX inputs may have any
     * rank: create flat, then give the input node its real shape */
    int64_t flat = imp_numel(ndim, dims);
    lsuv_status st = lsuv_net_create(im->ctx, 1, &flat, &im->net);
    if (st != LSUV_OK)
        return st;
    lsuv_node *n0 = &im->net->nodes[0];
    n0->ndim = ndim;
    memcpy(n0->dims, dims, (size_t)ndim * sizeof *dims);
    snprintf(n0->name, sizeof n0->name, "%s", in->name);
    imp_tensor *t = imp_lookup(im, in->name);
    if (!t)
        return lsuv_fail(im->ctx, LSUV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    t->kind = IMP_VALUE;
    t->node = 0;
    return LSUV_OK;
}

static lsuv_status setup_initializers(imp *im)
{
    Onnx__GraphProto *g = im->g;
    im->init_readers = calloc(g->n_initializer + 1, sizeof *im->init_readers);
    im->init_param = malloc((g->n_initializer + 1) * sizeof *im->init_param);
    if (!im->init_readers || !im->init_param)
        return lsuv_fail(im->ctx, LSUV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (size_t i = 0; i < g->n_initializer; i++) {
        const Onnx__TensorProto *tp = g->initializer[i];
        im->init_param[i] = -1;
        if (!tp->name || !*tp->name)
            return lsuv_fail(im->ctx, LSUV_ERROR_FORMAT, "initializer %zu has no name", i);
        if (tp->n_dims > LSUV_MAX_DIMS)
            return lsuv_fail(im->ctx, LSUV_ERROR_UNSUPPORTED, "initializer '%s' has %zu axes (at most %d)", tp->name,
                             tp->n_dims, LSUV_MAX_DIMS);
        if (lsuv_onnx_numel(tp) < 0)
            return lsuv_fail(im->ctx, LSUV_ERROR_FORMAT, "initializer '%s' has invalid dimensions", tp->name);
        imp_tensor *t = imp_lookup(im, tp->name);
        if (!t)
            return lsuv_fail(im->ctx, LSUV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        if (t->kind != IMP_UNDEF)
            return lsuv_fail(im->ctx, LSUV_ERROR_FORMAT, "initializer '%s' is defined twice", tp->name);
        t->kind = IMP_CONST;
        t->init = (int)i;
        t->is_int = !imp_is_float_type(tp->data_type);
        t->ndim = (int)tp->n_dims;
        if (tp->n_dims) /* a scalar has no dims array (NULL): memcpy from NULL is undefined */
            memcpy(t->dims, tp->dims, tp->n_dims * sizeof *tp->dims);
    }
    return LSUV_OK;
}

static int is_op(const Onnx__NodeProto *n, const char *op)
{
    return n->op_type && strcmp(n->op_type, op) == 0 && (!n->domain || !*n->domain || !strcmp(n->domain, "ai.onnx"));
}

/* Identity nodes over initializers (PyTorch names merged tensors this way) are no
 * graph work: their outputs are further names of the initializer. Chains resolve in
 * repeated passes. Marks those nodes done. */
static lsuv_status setup_aliases(imp *im, char *done)
{
    Onnx__GraphProto *g = im->g;
    for (int changed = 1; changed;) {
        changed = 0;
        for (size_t i = 0; i < g->n_node; i++) {
            const Onnx__NodeProto *n = g->node[i];
            if (done[i] || !is_op(n, "Identity") || n->n_input < 1 || n->n_output < 1 || !n->output[0] ||
                !*n->output[0])
                continue;
            int src = find(im, n->input[0]);
            if (src < 0 || im->t[src].kind != IMP_CONST || im->t[src].init < 0)
                continue;
            imp_tensor *t = imp_lookup(im, n->output[0]);
            if (!t)
                return lsuv_fail(im->ctx, LSUV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
            if (t->kind != IMP_UNDEF)
                return lsuv_fail(im->ctx, LSUV_ERROR_FORMAT, "tensor '%s' is defined twice (node '%s' and before)",
                                 t->name, imp_node_name(n));
            const imp_tensor *s = &im->t[src]; /* by index: the lookup may have moved the table */
            int init = s->init, is_int = s->is_int, ndim = s->ndim;
            int64_t dims[LSUV_MAX_DIMS];
            memcpy(dims, s->dims, sizeof dims);
            t->kind = IMP_CONST;
            t->init = init;
            t->is_int = is_int;
            t->ndim = ndim;
            memcpy(t->dims, dims, sizeof dims);
            t->alias_node = (int)i;
            t->producer = (int)i;
            done[i] = 1;
            changed = 1;
        }
    }
    return LSUV_OK;
}

/* Producers and reader counts; every op checked against the supported list first. */
static lsuv_status setup_graph(imp *im, const char *done)
{
    Onnx__GraphProto *g = im->g;
    char bad[640] = "";
    size_t used = 0;
    int nbad = 0;
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        int ok = 0;
        for (size_t k = 0; k < sizeof SUPPORTED / sizeof *SUPPORTED && !ok; k++)
            ok = is_op(n, SUPPORTED[k]);
        if (!ok && nbad++ < 8 && used < sizeof bad)
            used += (size_t)snprintf(bad + used, sizeof bad - used, "%snode '%s' (%s%s%s)", nbad > 1 ? ", " : "",
                                     imp_node_name(n), n->domain && *n->domain ? n->domain : "",
                                     n->domain && *n->domain ? "." : "", n->op_type ? n->op_type : "?");
    }
    if (nbad) {
        char list[768];
        size_t u = 0;
        for (size_t k = 0; k < sizeof SUPPORTED / sizeof *SUPPORTED; k++)
            u += (size_t)snprintf(list + u, sizeof list - u, "%s%s", k ? ", " : "", SUPPORTED[k]);
        return lsuv_fail(im->ctx, LSUV_ERROR_UNSUPPORTED, "unsupported operator%s at opset %lld: %s%s; supported: %s",
                         nbad > 1 ? "s" : "", (long long)im->opset, bad, nbad > 8 ? ", ..." : "", list);
    }
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        if (!done[i])
            for (size_t o = 0; o < n->n_output; o++) {
                if (!n->output[o] || !*n->output[o])
                    continue;
                imp_tensor *t = imp_lookup(im, n->output[o]);
                if (!t)
                    return lsuv_fail(im->ctx, LSUV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
                if (t->kind != IMP_UNDEF || t->producer >= 0)
                    return lsuv_fail(im->ctx, LSUV_ERROR_FORMAT, "tensor '%s' is defined twice (node '%s' and %s)",
                                     t->name, imp_node_name(n), t->producer >= 0
                                     ? imp_node_name(g->node[t->producer]) : "an initializer or graph input");
                t->producer = (int)i;
            }
    }
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        if (done[i])
            continue; /* alias Identities are transparent: their readers count */
        for (size_t k = 0; k < n->n_input; k++) {
            if (!n->input[k] || !*n->input[k])
                continue;
            imp_tensor *t = imp_lookup(im, n->input[k]);
            if (!t)
                return lsuv_fail(im->ctx, LSUV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
            t->readers++;
            if (t->init >= 0)
                im->init_readers[t->init]++;
        }
    }
    for (size_t k = 0; k < g->n_output; k++) {
        imp_tensor *t = g->output[k]->name ? imp_lookup(im, g->output[k]->name) : NULL;
        if (!t)
            return lsuv_fail(im->ctx, LSUV_ERROR_FORMAT, "graph output %zu has no name", k);
        t->readers++;
        if (t->init >= 0)
            im->init_readers[t->init]++;
    }
    return LSUV_OK;
}

/* ------------------------------------------------------------ the walk */

static int node_ready(imp *im, const Onnx__NodeProto *n)
{
    for (size_t k = 0; k < n->n_input; k++) {
        if (!n->input[k] || !*n->input[k])
            continue;
        int i = find(im, n->input[k]);
        if (i < 0 || im->t[i].kind == IMP_UNDEF)
            return 0;
    }
    return 1;
}

/* Why the pending nodes cannot run: a tensor nobody defines, or a cycle. */
static lsuv_status explain_stuck(imp *im, const char *done)
{
    Onnx__GraphProto *g = im->g;
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        for (size_t k = 0; !done[i] && k < n->n_input; k++) {
            if (!n->input[k] || !*n->input[k])
                continue;
            int t = find(im, n->input[k]);
            if (t < 0 || (im->t[t].kind == IMP_UNDEF && im->t[t].producer < 0))
                return lsuv_fail(im->ctx, LSUV_ERROR_FORMAT, "node '%s' (%s) reads '%s', which no node, initializer "
                                 "or graph input defines", imp_node_name(n), n->op_type, n->input[k]);
        }
    }
    char list[512] = "";
    size_t used = 0;
    int count = 0;
    for (size_t i = 0; i < g->n_node; i++)
        if (!done[i] && count++ < 6 && used < sizeof list)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s'%s'", count > 1 ? ", " : "",
                                     imp_node_name(g->node[i]));
    return lsuv_fail(im->ctx, LSUV_ERROR_FORMAT, "the graph has a cycle: %d node%s wait on each other (%s%s)", count,
                     count > 1 ? "s" : "", list, count > 6 ? ", ..." : "");
}

/* Converts node im->cur (its inputs are defined). */
static lsuv_status convert(imp *im)
{
    const Onnx__NodeProto *n = im->g->node[im->cur];
    if (is_op(n, "Shape")) {
        lsuv_status st = LSUV_OK;
        imp_tensor *x = imp_input(im, 0, 1, &st);
        return x ? imp_fold_shape(im, x) : st;
    }
    int any_value = 0;
    for (size_t k = 0; k < n->n_input; k++) {
        if (!n->input[k] || !*n->input[k])
            continue;
        int i = find(im, n->input[k]);
        any_value |= im->t[i].kind == IMP_VALUE;
    }
    if (!any_value && n->n_input > 0 && !is_op(n, "Constant"))
        return imp_fold(im);
    if (is_op(n, "Constant") || is_op(n, "ConstantOfShape") || is_op(n, "Range"))
        return imp_fold(im);
    return imp_convert_value_op(im);
}

/* Converts nodes as their inputs become defined, in file order within each pass (ONNX
 * files are usually sorted: one pass). A fused node (a MatMul's bias Add) is marked
 * done by the op that absorbed it. */
static lsuv_status walk(imp *im, char *done)
{
    Onnx__GraphProto *g = im->g;
    im->done = done;
    for (;;) {
        int progress = 0, pending = 0;
        for (size_t i = 0; i < g->n_node; i++) {
            if (done[i])
                continue;
            if (!node_ready(im, g->node[i])) {
                pending = 1;
                continue;
            }
            im->cur = (int)i;
            lsuv_status st = convert(im);
            const Onnx__NodeProto *n = g->node[i];
            for (size_t o = 0; st == LSUV_OK && o < n->n_output; o++) { /* read outputs must be defined now */
                if (!n->output[o] || !*n->output[o])
                    continue;
                imp_tensor *t = imp_lookup(im, n->output[o]);
                if (t && t->kind == IMP_UNDEF && t->readers > 0)
                    st = imp_fail(im, LSUV_ERROR_UNSUPPORTED, "its output %zu ('%s') is read but lsuv-vk does not "
                                  "compute it", o + 1, t->name);
            }
            im->cur = -1;
            if (st != LSUV_OK)
                return st;
            done[i] = 1;
            progress = 1;
        }
        if (!pending)
            return LSUV_OK;
        if (!progress)
            return explain_stuck(im, done);
    }
}

/* The network's output is its last node: the graph's first output, as a value. */
static lsuv_status finish_output(imp *im)
{
    Onnx__GraphProto *g = im->g;
    if (g->n_output < 1)
        return lsuv_fail(im->ctx, LSUV_ERROR_FORMAT, "the graph has no output");
    int i = find(im, g->output[0]->name);
    if (i < 0 || im->t[i].kind == IMP_UNDEF)
        return lsuv_fail(im->ctx, LSUV_ERROR_FORMAT, "graph output '%s' is not computed by any node",
                         g->output[0]->name);
    if (im->t[i].kind != IMP_VALUE)
        return lsuv_fail(im->ctx, LSUV_ERROR_UNSUPPORTED, "graph output '%s' is a constant, not computed from the "
                         "input", g->output[0]->name);
    int node = im->t[i].node;
    lsuv_net *net = im->net;
    if (node == net->node_count - 1 && node > 0)
        return LSUV_OK;
    lsuv_node r; /* an alias at the end, so that the last node is the output */
    lsuv_node_init(&r, LSUV_NODE_RESHAPE, g->output[0]->name, node);
    r.ndim = net->nodes[node].ndim;
    memcpy(r.dims, net->nodes[node].dims, sizeof r.dims);
    return lsuv_net_push_node(net, &r, NULL);
}

/* Aliases for safetensors output; rename names once parameters no longer move. */
static lsuv_status finish_source(imp *im)
{
    lsuv_onnx_source *s = im->src;
    for (int i = 0; i < s->rename_count; i++)
        s->renames[i].name = im->net->params[im->rename_params[i]].name;
    int count = 0;
    for (int i = 0; i < im->nt; i++)
        count += im->t[i].alias_node >= 0 && !im->t[i].dropped && im->init_param[im->t[i].init] >= 0;
    s->aliases = calloc((size_t)count + 1, sizeof *s->aliases);
    if (!s->aliases)
        return lsuv_fail(im->ctx, LSUV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (int i = 0; i < im->nt; i++) {
        const imp_tensor *t = &im->t[i];
        if (t->alias_node < 0 || t->dropped || im->init_param[t->init] < 0)
            continue;
        if (strlen(t->name) >= LSUV_NAME_MAX)
            return lsuv_fail(im->ctx, LSUV_ERROR_UNSUPPORTED, "tensor name '%.60s...' is longer than %d bytes",
                             t->name, LSUV_NAME_MAX - 1);
        snprintf(s->aliases[s->alias_count].name, LSUV_NAME_MAX, "%s", t->name);
        s->aliases[s->alias_count++].param = im->init_param[t->init];
    }
    return LSUV_OK;
}

void lsuv_onnx_source_free(void *source)
{
    lsuv_onnx_source *s = source;
    if (!s)
        return;
    lsuv_onnx_free(s->model);
    free(s->params);
    free(s->aliases);
    free(s->renames);
    free(s->drop_nodes);
    free(s);
}

static void imp_cleanup(imp *im)
{
    for (int i = 0; i < im->nt; i++) {
        free(im->t[i].f);
        free(im->t[i].iv);
        free(im->t[i].ib);
    }
    free(im->t);
    free(im->hash);
    free(im->init_readers);
    free(im->init_param);
    free(im->rename_params);
}

/* Builds the network from a parsed model; takes ownership of model. */
static lsuv_status import_model(lsuv_context *ctx, lsuv_onnx_model *model, lsuv_net **out)
{
    imp im;
    memset(&im, 0, sizeof im);
    im.ctx = ctx;
    im.model = model;
    im.cur = -1;
    im.opset = model->opset;
    lsuv_status st = LSUV_OK;
    char *done = NULL;
    if (!model->proto || !model->proto->graph) {
        lsuv_onnx_free(model);
        return lsuv_fail(ctx, LSUV_ERROR_FORMAT, "the model has no graph");
    }
    im.g = model->proto->graph;
    im.src = calloc(1, sizeof *im.src);
    done = calloc(im.g->n_node + 1, 1);
    if (!im.src || !done) {
        free(im.src);
        free(done);
        lsuv_onnx_free(model);
        return lsuv_fail(ctx, LSUV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    im.src->model = model;
    if (im.opset < OPSET_MIN || im.opset > OPSET_MAX)
        st = lsuv_fail(ctx, LSUV_ERROR_UNSUPPORTED, "the model uses opset %lld of the default domain; lsuv-vk reads "
                       "opsets %d to %d", (long long)im.opset, OPSET_MIN, OPSET_MAX);
    if (st == LSUV_OK)
        st = setup_initializers(&im);
    if (st == LSUV_OK)
        st = setup_input(&im);
    if (st == LSUV_OK)
        st = setup_aliases(&im, done);
    if (st == LSUV_OK)
        st = setup_graph(&im, done);
    if (st == LSUV_OK)
        st = walk(&im, done);
    if (st == LSUV_OK)
        st = finish_output(&im);
    if (st == LSUV_OK)
        st = finish_source(&im);
    if (st == LSUV_OK)
        st = lsuv_submit(ctx); /* parameter uploads done before the host copies go */
    free(done);
    imp_cleanup(&im);
    if (st != LSUV_OK) {
        lsuv_net_destroy(im.net); /* the source is not attached yet */
        lsuv_onnx_source_free(im.src);
        return st;
    }
    im.net->source = im.src;
    im.net->source_free = lsuv_onnx_source_free;
    *out = im.net;
    return LSUV_OK;
}

lsuv_status lsuv_net_load_onnx(lsuv_context *ctx, const char *path, lsuv_net **out)
{
    if (!ctx)
        return LSUV_ERROR_INVALID_ARGUMENT;
    if (!out || !path)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "lsuv_net_load_onnx: %s is NULL", out ? "path" : "out");
    *out = NULL;
    lsuv_onnx_model *model = NULL;
    char err[1024] = "";
    lsuv_status st = lsuv_onnx_read_file(path, &model, err, sizeof err);
    if (st != LSUV_OK)
        return lsuv_fail(ctx, st, "%s", err);
    st = import_model(ctx, model, out);
    if (st != LSUV_OK) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", lsuv_context_last_error(ctx));
        return lsuv_fail(ctx, st, "%s: %s", path, msg);
    }
    return st;
}

lsuv_status lsuv_net_load_onnx_memory(lsuv_context *ctx, const void *bytes, size_t size, const char *base_dir,
                                      lsuv_net **out)
{
    if (!ctx)
        return LSUV_ERROR_INVALID_ARGUMENT;
    if (!out || !bytes)
        return lsuv_fail(ctx, LSUV_ERROR_INVALID_ARGUMENT, "lsuv_net_load_onnx_memory: %s is NULL",
                         out ? "bytes" : "out");
    *out = NULL;
    lsuv_onnx_model *model = NULL;
    char err[1024] = "";
    lsuv_status st = lsuv_onnx_read_memory(bytes, size, base_dir, &model, err, sizeof err);
    if (st != LSUV_OK)
        return lsuv_fail(ctx, st, "%s", err);
    return import_model(ctx, model, out);
}
