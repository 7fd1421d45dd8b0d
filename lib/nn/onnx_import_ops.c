/* onnx_import_ops.c - ONNX operators on values (tensors computed from the input, with
 * the batch axis on top) -> network nodes. Shapes are checked here, at load time; an op
 * that would move or mix the batch axis is refused, never approximated. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/onnx_import.h"

/* A string attribute (auto_pad, mode: short) into buf; NULL when absent. */
static const char *attr_s(const Onnx__NodeProto *n, const char *name, char *buf, size_t size)
{
    const Onnx__AttributeProto *a = imp_attr(n, name);
    if (!a || !a->has_s)
        return NULL;
    snprintf(buf, size, "%.*s", (int)(a->s.len < size - 1 ? a->s.len : size - 1), (const char *)a->s.data);
    return buf;
}

static const Onnx__NodeProto *cur_node(const imp *im) { return im->g->node[im->cur]; }
static int op_is(const imp *im, const char *op) { return strcmp(cur_node(im)->op_type, op) == 0; }
static lsuv_node *vnode(imp *im, const imp_tensor *t) { return &im->net->nodes[t->node]; }

static const char *shape_str(int ndim, const int64_t *dims, char *buf)
{
    return lsuv_shape_string(ndim, dims, buf, 128);
}

lsuv_status imp_const_ints(imp *im, imp_tensor *t, const char *what, int64_t **out, int64_t *count)
{
    lsuv_status st = imp_const_load(im, t);
    if (st != LSUV_OK)
        return st;
    int64_t n = imp_numel(t->ndim, t->dims);
    if (!t->is_int)
        return imp_fail(im, LSUV_ERROR_FORMAT, "%s '%s' holds floats, not integers", what, t->name);
    for (int64_t i = 0; t->ib && i < n; i++)
        if (t->ib[i])
            return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "%s '%s' depends on the batch size", what, t->name);
    *out = t->iv;
    *count = n;
    return LSUV_OK;
}

/* A value input (required), or an error saying that a constant is not handled there. */
static imp_tensor *value_input(imp *im, int i, lsuv_status *st)
{
    imp_tensor *t = imp_input(im, i, 1, st);
    if (t && t->kind != IMP_VALUE) {
        *st = imp_fail(im, LSUV_ERROR_UNSUPPORTED, "input %d ('%s') is a constant where lsuv-vk needs a value "
                       "computed from the network input", i + 1, t->name);
        return NULL;
    }
    return t;
}

static imp_tensor *const_input(imp *im, int i, int required, const char *what, lsuv_status *st)
{
    imp_tensor *t = imp_input(im, i, required, st);
    if (t && t->kind != IMP_CONST) {
        *st = imp_fail(im, LSUV_ERROR_UNSUPPORTED, "its %s ('%s') is computed from the input; lsuv-vk needs a "
                       "constant there", what, t->name);
        return NULL;
    }
    return t;
}

/* A float scalar from an optional constant input; def when absent. */
static lsuv_status scalar_input(imp *im, int i, const char *what, float def, float *out)
{
    lsuv_status st = LSUV_OK;
    *out = def;
    imp_tensor *t = const_input(im, i, 0, what, &st);
    if (!t)
        return st;
    if ((st = imp_const_load(im, t)) != LSUV_OK)
        return st;
    if (imp_numel(t->ndim, t->dims) != 1)
        return imp_fail(im, LSUV_ERROR_SHAPE, "its %s '%s' has %lld values; a scalar is needed", what, t->name,
                        (long long)imp_numel(t->ndim, t->dims));
    *out = t->is_int ? (float)t->iv[0] : t->f[0];
    return LSUV_OK;
}

/* Axis of a rank-`rank` tensor (negative counts from the end); -1 if out of range. */
static int norm_axis(int64_t a, int rank)
{
    if (a < 0)
        a += rank;
    return a >= 0 && a < rank ? (int)a : -1;
}

/* Integer list from an attribute (opset < `input_from`) or input slot `slot`. */
static lsuv_status ints_attr_or_input(imp *im, const char *name, int slot, int64_t input_from, const int64_t **v,
                                      int64_t *n)
{
    const Onnx__NodeProto *node = cur_node(im);
    *v = NULL;
    *n = -1; /* absent */
    if (im->opset < input_from || slot < 0) {
        const Onnx__AttributeProto *a = imp_attr(node, name);
        if (a) {
            *v = a->ints;
            *n = (int64_t)a->n_ints;
        }
        return LSUV_OK;
    }
    lsuv_status st = LSUV_OK;
    imp_tensor *t = const_input(im, slot, 0, name, &st);
    if (!t)
        return st;
    int64_t *iv;
    if ((st = imp_const_ints(im, t, name, &iv, n)) != LSUV_OK)
        return st;
    *v = iv;
    return LSUV_OK;
}

/* Alias: the output is the input's value (Identity, Dropout, Cast to float). */
static lsuv_status alias(imp *im, const imp_tensor *x) { return imp_bind_value(im, 0, x->node); }

/* A reshape node (an alias with another per-sample shape). */
static lsuv_status reshape_to(imp *im, const imp_tensor *x, int ndim, const int64_t *dims, int out)
{
    lsuv_node *in = vnode(im, x);
    if (imp_numel(ndim, dims) != lsuv_node_numel(in)) {
        char a[128], b[128];
        return imp_fail(im, LSUV_ERROR_SHAPE, "cannot reshape %s per sample to %s",
                        shape_str(in->ndim, in->dims, a), shape_str(ndim, dims, b));
    }
    lsuv_node n;
    lsuv_node_init(&n, LSUV_NODE_RESHAPE, NULL, x->node);
    n.ndim = ndim;
    memcpy(n.dims, dims, (size_t)ndim * sizeof *dims);
    return imp_push(im, &n, out);
}

/* Contiguous strides of the full shape (batch axis first: its stride is the per-sample
 * element count). */
static void full_strides(const lsuv_node *x, int64_t *stride)
{
    int64_t s = 1;
    for (int d = x->ndim; d >= 1; d--) {
        stride[d] = s;
        s *= x->dims[d - 1];
    }
    stride[0] = s;
}

/* ------------------------------------------------------------ activations */

static lsuv_status prelu(imp *im, const imp_tensor *x, lsuv_node *n)
{
    lsuv_status st = LSUV_OK;
    imp_tensor *s = const_input(im, 1, 1, "slope", &st);
    if (!s)
        return st;
    const lsuv_node *in = vnode(im, x);
    int64_t numel = imp_numel(s->ndim, s->dims);
    int rank = in->ndim + 1;
    /* aligned to the right of the full shape, the slope may vary along axis 1 only */
    int ok = s->ndim <= rank;
    for (int k = 0; ok && k < s->ndim; k++) {
        int axis = rank - s->ndim + k;
        ok = s->dims[k] == 1 || (axis == 1 && s->dims[k] == in->dims[0]);
    }
    char a[128], b[128];
    if (!ok)
        return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "slope '%s' of shape %s against input %s per sample: only one "
                        "slope or one per channel (axis 1) is supported", s->name, shape_str(s->ndim, s->dims, a),
                        shape_str(in->ndim, in->dims, b));
    if ((st = imp_const_param(im, s, &n->slopes)) != LSUV_OK)
        return st;
    if (numel == 1) { /* one slope: a leaky ReLU (the parameter is kept for the output files) */
        if ((st = imp_const_load(im, s)) != LSUV_OK)
            return st;
        n->act = LSUV_K_ACT_LEAKY;
        n->act_param = s->is_int ? (float)s->iv[0] : s->f[0];
        n->slopes = -1;
    } else {
        n->act = LSUV_K_ACT_PRELU;
    }
    return LSUV_OK;
}

static lsuv_status activation(imp *im, const imp_tensor *x)
{
    const Onnx__NodeProto *o = cur_node(im);
    lsuv_node n;
    lsuv_node_init(&n, LSUV_NODE_ACTIVATION, NULL, x->node);
    const lsuv_node *in = vnode(im, x);
    n.ndim = in->ndim;
    memcpy(n.dims, in->dims, sizeof n.dims);
    lsuv_status st = LSUV_OK;
    if (op_is(im, "Relu"))
        n.act = LSUV_K_ACT_RELU;
    else if (op_is(im, "LeakyRelu")) {
        n.act = LSUV_K_ACT_LEAKY;
        n.act_param = imp_attr_f(o, "alpha", 0.01f);
    } else if (op_is(im, "Elu")) {
        n.act = LSUV_K_ACT_ELU;
        n.act_param = imp_attr_f(o, "alpha", 1.0f);
    } else if (op_is(im, "Selu")) {
        n.act = LSUV_K_ACT_SELU;
        n.act_param = imp_attr_f(o, "alpha", 1.67326319217681884765625f);
        n.act_param2 = imp_attr_f(o, "gamma", 1.05070102214813232421875f);
    } else if (op_is(im, "Tanh"))
        n.act = LSUV_K_ACT_TANH;
    else if (op_is(im, "Sigmoid"))
        n.act = LSUV_K_ACT_SIGMOID;
    else if (op_is(im, "HardSigmoid")) {
        n.act = LSUV_K_ACT_HARDSIGMOID;
        n.act_param = imp_attr_f(o, "alpha", 0.2f);
        n.act_param2 = imp_attr_f(o, "beta", 0.5f);
    } else if (op_is(im, "HardSwish"))
        n.act = LSUV_K_ACT_HARDSWISH;
    else if (op_is(im, "Softplus"))
        n.act = LSUV_K_ACT_SOFTPLUS;
    else if (op_is(im, "Erf"))
        n.act = LSUV_K_ACT_ERF;
    else if (op_is(im, "Clip")) {
        float lo = -FLT_MAX, hi = FLT_MAX;
        if (im->opset < 11) {
            lo = imp_attr_f(o, "min", lo);
            hi = imp_attr_f(o, "max", hi);
        } else if ((st = scalar_input(im, 1, "min", lo, &lo)) != LSUV_OK ||
                   (st = scalar_input(im, 2, "max", hi, &hi)) != LSUV_OK)
            return st;
        if (!(lo <= hi))
            return imp_fail(im, LSUV_ERROR_FORMAT, "min %g is above max %g", (double)lo, (double)hi);
        n.act = lo == 0 && hi == FLT_MAX ? LSUV_K_ACT_RELU : LSUV_K_ACT_CLIP;
        n.act_param = lo;
        n.act_param2 = hi;
    } else if (op_is(im, "PRelu")) {
        if ((st = prelu(im, x, &n)) != LSUV_OK)
            return st;
    }
    return imp_push(im, &n, 0);
}

/* ------------------------------------------------------------ elementwise binary */

static lsuv_status binary(imp *im, imp_tensor *a, imp_tensor *b)
{
    lsuv_binary_op op = op_is(im, "Add") ? LSUV_BIN_ADD : op_is(im, "Sub") ? LSUV_BIN_SUB
                      : op_is(im, "Mul") ? LSUV_BIN_MUL : LSUV_BIN_DIV;
    imp_tensor *v = a->kind == IMP_VALUE ? a : b;
    const lsuv_node *x = vnode(im, v);
    int rank = x->ndim + 1;
    int64_t adims[LSUV_MAX_AXES], bdims[LSUV_MAX_AXES], odims[LSUV_MAX_AXES];
    char s1[128], s2[128];
    imp_tensor *ops[2] = {a, b};
    int64_t *dd[2] = {adims, bdims};
    for (int k = 0; k < 2; k++) {
        imp_tensor *t = ops[k];
        if (t->kind == IMP_VALUE) {
            const lsuv_node *y = vnode(im, t);
            if (y->ndim != x->ndim)
                return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "its inputs have %d and %d axes per sample; broadcasting "
                                "would move the batch axis", x->ndim, y->ndim);
            dd[k][0] = 1;
            memcpy(dd[k] + 1, y->dims, (size_t)y->ndim * sizeof *y->dims);
        } else {
            if (t->ndim > rank || (t->ndim == rank && t->dims[0] != 1))
                return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "constant '%s' of shape %s would broadcast over the "
                                "batch axis of %s's (N, ...%s)", t->name, shape_str(t->ndim, t->dims, s1),
                                x->name, shape_str(x->ndim, x->dims, s2));
            for (int d = 0; d < rank; d++)
                dd[k][d] = d < rank - t->ndim ? 1 : t->dims[d - (rank - t->ndim)];
        }
    }
    int same = 1;
    odims[0] = 1;
    for (int d = 1; d < rank; d++) {
        if (adims[d] != bdims[d] && adims[d] != 1 && bdims[d] != 1)
            return imp_fail(im, LSUV_ERROR_SHAPE, "shapes %s and %s do not broadcast (axis %d)",
                            shape_str(rank - 1, adims + 1, s1), shape_str(rank - 1, bdims + 1, s2), d);
        odims[d] = adims[d] > bdims[d] ? adims[d] : bdims[d];
        same &= adims[d] == bdims[d];
    }
    lsuv_node n;
    lsuv_node_init(&n, LSUV_NODE_BINARY, NULL, v->node);
    n.ndim = rank - 1;
    memcpy(n.dims, odims + 1, (size_t)n.ndim * sizeof *n.dims);
    if (a->kind == IMP_VALUE && b->kind == IMP_VALUE) {
        n.inputs[1] = b->node;
        n.input_count = 2;
        n.inputs[0] = a->node;
        if (same && op == LSUV_BIN_ADD) { /* a residual: the zoo's add kernel */
            n.kind = LSUV_NODE_ADD;
            return imp_push(im, &n, 0);
        }
    }
    lsuv_binary_desc *bd = &n.binary;
    bd->op = op;
    bd->rank = rank;
    bd->a_param = bd->b_param = -1;
    lsuv_status st;
    for (int k = 0; k < 2; k++) {
        int64_t *stride = k ? bd->b_stride : bd->a_stride;
        int64_t s = 1;
        for (int d = rank - 1; d >= 1; d--) {
            stride[d] = dd[k][d] == 1 ? 0 : s;
            s *= dd[k][d];
        }
        if (ops[k]->kind == IMP_VALUE) {
            stride[0] = s;
        } else {
            stride[0] = 0;
            if ((st = imp_const_param(im, ops[k], k ? &bd->b_param : &bd->a_param)) != LSUV_OK)
                return st;
        }
    }
    return imp_push(im, &n, 0);
}

/* ------------------------------------------------------------ conv, pool */

typedef struct window {
    int sp;                    /* spatial axes: 1 or 2 (1-D is done as height 1) */
    int64_t in[2], k[2], s[2], d[2], pb[2], pe[2];
} window;

/* Strides, dilations, pads and auto_pad of a conv/pool node over spatial sizes in[]. */
static lsuv_status window_attrs(imp *im, window *w, int has_dilations)
{
    const Onnx__NodeProto *o = cur_node(im);
    const Onnx__AttributeProto *a;
    for (int i = 0; i < w->sp; i++) {
        w->s[i] = w->d[i] = 1;
        w->pb[i] = w->pe[i] = 0;
    }
    struct { const char *name; int64_t *dst; int count; } lists[] = {
        {"strides", w->s, w->sp}, {"dilations", w->d, w->sp}, {"pads", w->pb, 2 * w->sp}};
    for (int l = 0; l < 3; l++) {
        if (!(a = imp_attr(o, lists[l].name)))
            continue;
        if ((int)a->n_ints != lists[l].count)
            return imp_fail(im, LSUV_ERROR_FORMAT, "attribute %s has %zu values for %d spatial axes", lists[l].name,
                            a->n_ints, w->sp);
        for (int i = 0; i < lists[l].count; i++) {
            int64_t v = a->ints[i];
            if (l == 2) { /* pads: begins then ends */
                if (v < 0)
                    return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "negative pads are not supported");
                (i < w->sp ? w->pb : w->pe)[i % w->sp] = v;
            } else if (v <= 0) {
                return imp_fail(im, LSUV_ERROR_FORMAT, "%s must be positive; got %lld", lists[l].name, (long long)v);
            } else {
                lists[l].dst[i] = v;
            }
        }
    }
    for (int i = 0; !has_dilations && i < w->sp; i++)
        if (w->d[i] != 1)
            return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "dilated pooling is not supported");
    char apbuf[32];
    const char *ap = attr_s(o, "auto_pad", apbuf, sizeof apbuf);
    if (ap && strcmp(ap, "NOTSET") != 0) {
        int upper = strcmp(ap, "SAME_UPPER") == 0, lower = strcmp(ap, "SAME_LOWER") == 0;
        if (!upper && !lower && strcmp(ap, "VALID") != 0)
            return imp_fail(im, LSUV_ERROR_FORMAT, "auto_pad '%s' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID",
                            ap);
        for (int i = 0; i < w->sp; i++) {
            int64_t total = 0;
            if (upper || lower) { /* output ceil(in / stride); the odd pixel at the end (UPPER) or start */
                int64_t out = (w->in[i] + w->s[i] - 1) / w->s[i];
                total = (out - 1) * w->s[i] + (w->k[i] - 1) * w->d[i] + 1 - w->in[i];
                if (total < 0)
                    total = 0;
            }
            w->pb[i] = upper ? total / 2 : total - total / 2;
            w->pe[i] = total - w->pb[i];
        }
    }
    return LSUV_OK;
}

/* Spatial view of a (C, ...) value: (C, H, W) or (C, L) as (C, 1, L). */
static lsuv_status spatial_view(imp *im, const lsuv_node *x, window *w, const char *what)
{
    char s[128];
    if (x->ndim != 2 && x->ndim != 3)
        return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "%s over input %s per sample: 1-D and 2-D (C, L) / (C, H, W) "
                        "are supported", what, shape_str(x->ndim, x->dims, s));
    w->sp = x->ndim - 1;
    for (int i = 0; i < w->sp; i++)
        w->in[i] = x->dims[1 + i];
    return LSUV_OK;
}

/* Spatial axis i of the window as height/width (1-D: height 1, no padding). */
#define WH(w, arr, fill) ((w)->sp == 2 ? (w)->arr[0] : (fill))
#define WW(w, arr) ((w)->sp == 2 ? (w)->arr[1] : (w)->arr[0])

static lsuv_status conv(imp *im, const imp_tensor *x)
{
    const Onnx__NodeProto *o = cur_node(im);
    lsuv_status st = LSUV_OK;
    imp_tensor *wt = imp_input(im, 1, 1, &st);
    if (!wt)
        return st;
    const lsuv_node *in = vnode(im, x);
    window w;
    if ((st = spatial_view(im, in, &w, "Conv")) != LSUV_OK)
        return st;
    char s1[128], s2[128];
    if (wt->kind != IMP_CONST || wt->init < 0)
        return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "its weight '%s' is computed in the graph; lsuv-vk needs an "
                        "initializer", wt->name);
    int64_t groups = imp_attr_i(o, "group", 1);
    int64_t C = in->dims[0], O = wt->dims[0];
    if (wt->ndim != w.sp + 2 || groups <= 0 || C % groups || O % groups || wt->dims[1] != C / groups)
        return imp_fail(im, LSUV_ERROR_SHAPE, "weight '%s' of shape %s does not fit input %s per sample with %lld "
                        "group(s)", wt->name, shape_str(wt->ndim, wt->dims, s1), shape_str(in->ndim, in->dims, s2),
                        (long long)groups);
    for (int i = 0; i < w.sp; i++)
        w.k[i] = wt->dims[2 + i];
    const Onnx__AttributeProto *ks = imp_attr(o, "kernel_shape");
    for (int i = 0; ks && i < w.sp; i++)
        if ((int)ks->n_ints != w.sp || ks->ints[i] != w.k[i])
            return imp_fail(im, LSUV_ERROR_SHAPE, "kernel_shape disagrees with weight '%s' of shape %s", wt->name,
                            shape_str(wt->ndim, wt->dims, s1));
    if ((st = window_attrs(im, &w, 1)) != LSUV_OK)
        return st;
    lsuv_node n;
    lsuv_node_init(&n, LSUV_NODE_CONV2D, NULL, x->node);
    lsuv_conv2d_params *c = &n.conv;
    c->batch = 1;
    c->in_channels = (uint32_t)C;
    c->in_h = (uint32_t)WH(&w, in, 1);
    c->in_w = (uint32_t)WW(&w, in);
    c->out_channels = (uint32_t)O;
    c->kernel_h = (uint32_t)WH(&w, k, 1);
    c->kernel_w = (uint32_t)WW(&w, k);
    c->stride_h = (uint32_t)WH(&w, s, 1);
    c->stride_w = (uint32_t)WW(&w, s);
    c->dilation_h = (uint32_t)WH(&w, d, 1);
    c->dilation_w = (uint32_t)WW(&w, d);
    c->pad_h = (uint32_t)WH(&w, pb, 0);
    c->pad_w = (uint32_t)WW(&w, pb);
    c->pad_h_end = (uint32_t)WH(&w, pe, 0);
    c->pad_w_end = (uint32_t)WW(&w, pe);
    c->asymmetric = c->pad_h != c->pad_h_end || c->pad_w != c->pad_w_end;
    c->groups = (uint32_t)groups;
    if (!lsuv_conv2d_output_size(c))
        return imp_fail(im, LSUV_ERROR_SHAPE, "kernel %ux%u, stride %ux%u, dilation %ux%u, pads %u,%u,%u,%u give no "
                        "output for input %s", c->kernel_h, c->kernel_w, c->stride_h, c->stride_w, c->dilation_h,
                        c->dilation_w, c->pad_h, c->pad_w, c->pad_h_end, c->pad_w_end,
                        shape_str(in->ndim, in->dims, s2));
    n.ndim = in->ndim;
    n.dims[0] = O;
    if (w.sp == 2) {
        n.dims[1] = c->out_h;
        n.dims[2] = c->out_w;
    } else {
        n.dims[1] = c->out_w;
    }
    n.in_features = (uint32_t)(C / groups * c->kernel_h * c->kernel_w);
    n.out_features = (uint32_t)O;
    /* parameters: the weight as the file holds it ((O, C/g, kh, kw): the device layout) */
    if (wt->is_int)
        return imp_fail(im, LSUV_ERROR_FORMAT, "weight '%s' holds integers", wt->name);
    if ((st = imp_const_load(im, wt)) != LSUV_OK)
        return st;
    imp_layer_param lp = {.role = "weight", .slot = 1, .onnx_node = im->cur, .values = wt->f, .ndim = wt->ndim,
                          .transposed = 0, .file_scale = 1.0, .file_ndim = wt->ndim};
    memcpy(lp.dims, wt->dims, (size_t)wt->ndim * sizeof *wt->dims);
    memcpy(lp.file_dims, wt->dims, (size_t)wt->ndim * sizeof *wt->dims);
    st = imp_layer_param_add(im, wt, &lp, &n.weight);
    imp_const_unload(wt); /* on the device now: large models keep one host copy at a time */
    if (st != LSUV_OK)
        return st;
    imp_tensor *bt = imp_input(im, 2, 0, &st);
    if (st != LSUV_OK)
        return st;
    if (bt) {
        if (bt->kind == IMP_CONST && imp_numel(bt->ndim, bt->dims) != O)
            return imp_fail(im, LSUV_ERROR_SHAPE, "bias '%s' has %lld values for %lld output channels", bt->name,
                            (long long)imp_numel(bt->ndim, bt->dims), (long long)O);
        if (bt->kind == IMP_CONST && bt->is_int)
            return imp_fail(im, LSUV_ERROR_FORMAT, "bias '%s' holds integers", bt->name);
        if (bt->kind == IMP_CONST && (st = imp_const_load(im, bt)) != LSUV_OK)
            return st;
        imp_layer_param bp = {.role = "bias", .slot = 2, .onnx_node = im->cur, .values = bt->f, .ndim = 1,
                              .dims = {O}, .file_scale = 1.0, .file_ndim = bt->ndim};
        memcpy(bp.file_dims, bt->dims, (size_t)bt->ndim * sizeof *bt->dims);
        if ((st = imp_layer_param_add(im, bt, &bp, &n.bias)) != LSUV_OK)
            return st;
    }
    return imp_push(im, &n, 0);
}

static lsuv_status pool(imp *im, const imp_tensor *x)
{
    const Onnx__NodeProto *o = cur_node(im);
    const lsuv_node *in = vnode(im, x);
    int global = op_is(im, "GlobalAveragePool") || op_is(im, "GlobalMaxPool");
    int max = op_is(im, "MaxPool") || op_is(im, "GlobalMaxPool");
    lsuv_status st;
    char s[128];
    if (global && in->ndim != 3) { /* other ranks: a reduction over everything but the channels */
        if (in->ndim < 2)
            return imp_fail(im, LSUV_ERROR_SHAPE, "input %s per sample has no spatial axes",
                            shape_str(in->ndim, in->dims, s));
        lsuv_node n;
        lsuv_node_init(&n, LSUV_NODE_REDUCE, NULL, x->node);
        n.reduce.op = max ? LSUV_REDUCE_MAX : LSUV_REDUCE_MEAN;
        n.reduce.outer = in->dims[0];
        n.reduce.n = lsuv_node_numel(in) / in->dims[0];
        n.reduce.inner = 1;
        n.ndim = in->ndim;
        n.dims[0] = in->dims[0];
        for (int i = 1; i < in->ndim; i++)
            n.dims[i] = 1;
        return imp_push(im, &n, 0);
    }
    window w;
    if ((st = spatial_view(im, in, &w, o->op_type)) != LSUV_OK)
        return st;
    if (global) {
        w.k[0] = w.in[0];
        w.k[1] = w.in[1];
        w.s[0] = w.s[1] = 1;
        w.pb[0] = w.pb[1] = w.pe[0] = w.pe[1] = 0;
    } else {
        const Onnx__AttributeProto *ks = imp_attr(o, "kernel_shape");
        if (!ks || (int)ks->n_ints != w.sp)
            return imp_fail(im, LSUV_ERROR_FORMAT, "kernel_shape needs %d values for input %s per sample", w.sp,
                            shape_str(in->ndim, in->dims, s));
        for (int i = 0; i < w.sp; i++)
            if ((w.k[i] = ks->ints[i]) <= 0)
                return imp_fail(im, LSUV_ERROR_FORMAT, "kernel_shape must be positive");
        if ((st = window_attrs(im, &w, 0)) != LSUV_OK)
            return st;
        if (o->n_output > 1 && o->output[1] && *o->output[1]) {
            imp_tensor *idx = imp_lookup(im, o->output[1]);
            if (idx && idx->readers)
                return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "its Indices output is read; not supported");
        }
    }
    lsuv_node n;
    lsuv_node_init(&n, LSUV_NODE_POOL2D, NULL, x->node);
    lsuv_pool2d_params *p = &n.pool;
    p->batch = 1;
    p->channels = (uint32_t)in->dims[0];
    p->in_h = (uint32_t)WH(&w, in, 1);
    p->in_w = (uint32_t)WW(&w, in);
    p->kernel_h = (uint32_t)WH(&w, k, 1);
    p->kernel_w = (uint32_t)WW(&w, k);
    p->stride_h = (uint32_t)WH(&w, s, 1);
    p->stride_w = (uint32_t)WW(&w, s);
    p->pad_h = (uint32_t)WH(&w, pb, 0);
    p->pad_w = (uint32_t)WW(&w, pb);
    p->pad_h_end = (uint32_t)WH(&w, pe, 0);
    p->pad_w_end = (uint32_t)WW(&w, pe);
    p->asymmetric = p->pad_h != p->pad_h_end || p->pad_w != p->pad_w_end;
    p->max = max;
    p->ceil_mode = !global && imp_attr_i(o, "ceil_mode", 0) != 0;
    p->exclude_pad = !max && imp_attr_i(o, "count_include_pad", 0) == 0;
    /* the pooling kernel takes PyTorch's limit, so that every window sees real input */
    if (2 * p->pad_h > p->kernel_h || 2 * p->pad_w > p->kernel_w || 2 * p->pad_h_end > p->kernel_h ||
        2 * p->pad_w_end > p->kernel_w)
        return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "pads %u,%u,%u,%u exceed half of kernel %ux%u (the most lsuv-vk "
                        "pools with, as PyTorch)", p->pad_h, p->pad_w, p->pad_h_end, p->pad_w_end, p->kernel_h,
                        p->kernel_w);
    if (!lsuv_pool2d_output_size(p))
        return imp_fail(im, LSUV_ERROR_SHAPE, "kernel %ux%u, stride %ux%u gives no output for input %s", p->kernel_h,
                        p->kernel_w, p->stride_h, p->stride_w, shape_str(in->ndim, in->dims, s));
    n.ndim = in->ndim;
    n.dims[0] = in->dims[0];
    if (w.sp == 2) {
        n.dims[1] = p->out_h;
        n.dims[2] = p->out_w;
    } else {
        n.dims[1] = p->out_w;
    }
    return imp_push(im, &n, 0);
}

/* ------------------------------------------------------------ dense layers */

/* B transposed and scaled: (K, M) in the file -> (M, K) * scale on the device. */
static float *transpose_scaled(const float *b, int64_t rows, int64_t cols, int transpose, float scale)
{
    float *t = malloc((size_t)(rows * cols) * sizeof *t);
    if (!t)
        return NULL;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) {
            float v = b[r * cols + c] * scale;
            if (transpose)
                t[c * rows + r] = v;
            else
                t[r * cols + c] = v;
        }
    return t;
}

/* The bias Add right after a MatMul: the MatMul's only reader, adding an initializer of
 * M values. Returns its node index (and the bias's slot), or -1. */
static int matmul_bias_add(imp *im, const char *out, int64_t M, int *slot)
{
    imp_tensor *t = imp_lookup(im, out);
    if (!t || t->readers != 1)
        return -1;
    for (size_t i = 0; i < im->g->n_node; i++) {
        const Onnx__NodeProto *n = im->g->node[i];
        if (im->done[i] || n->n_input != 2 || strcmp(n->op_type, "Add") != 0 || (n->domain && *n->domain))
            continue;
        for (int k = 0; k < 2; k++) {
            if (!n->input[k] || strcmp(n->input[k], out) != 0)
                continue;
            imp_tensor *b = imp_lookup(im, n->input[1 - k]);
            if (!b || b->kind != IMP_CONST || b->init < 0 || imp_numel(b->ndim, b->dims) != M ||
                b->dims[b->ndim - 1] != M || strcmp(n->input[0], n->input[1]) == 0)
                return -1;
            *slot = 1 - k;
            return (int)i;
        }
    }
    return -1;
}

static lsuv_status dense(imp *im, const imp_tensor *x)
{
    const Onnx__NodeProto *o = cur_node(im);
    int gemm = op_is(im, "Gemm");
    lsuv_status st = LSUV_OK;
    imp_tensor *bt = imp_input(im, 1, 1, &st);
    if (!bt)
        return st;
    const lsuv_node *in = vnode(im, x);
    char s1[128], s2[128];
    if (bt->kind != IMP_CONST || bt->init < 0)
        return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "its weight '%s' is computed in the graph; lsuv-vk needs an "
                        "initializer", bt->name);
    if (bt->ndim != 2)
        return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "weight '%s' has shape %s; a matrix is needed", bt->name,
                        shape_str(bt->ndim, bt->dims, s1));
    int transB = gemm ? imp_attr_i(o, "transB", 0) != 0 : 0;
    float alpha = gemm ? imp_attr_f(o, "alpha", 1.0f) : 1.0f, beta = gemm ? imp_attr_f(o, "beta", 1.0f) : 1.0f;
    if (gemm && imp_attr_i(o, "transA", 0))
        return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "transA = 1 (the batch would be a reduced axis)");
    if (gemm && in->ndim != 1)
        return imp_fail(im, LSUV_ERROR_SHAPE, "input %s per sample; Gemm needs (N, K)",
                        shape_str(in->ndim, in->dims, s1));
    if (!(alpha != 0) || !isfinite(alpha) || !isfinite(beta))
        return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "alpha %g / beta %g: alpha must be finite and non-zero",
                        (double)alpha, (double)beta);
    int64_t K = transB ? bt->dims[1] : bt->dims[0], M = transB ? bt->dims[0] : bt->dims[1];
    if (in->dims[in->ndim - 1] != K)
        return imp_fail(im, LSUV_ERROR_SHAPE, "input %s per sample against weight '%s' of shape %s%s",
                        shape_str(in->ndim, in->dims, s1), bt->name, shape_str(bt->ndim, bt->dims, s2),
                        transB ? " (transposed)" : "");
    lsuv_node n;
    lsuv_node_init(&n, LSUV_NODE_DENSE, NULL, x->node);
    n.in_features = (uint32_t)K;
    n.out_features = (uint32_t)M;
    n.rows = (uint32_t)(lsuv_node_numel(in) / K);
    n.ndim = in->ndim;
    memcpy(n.dims, in->dims, sizeof n.dims);
    n.dims[n.ndim - 1] = M;
    if (bt->is_int)
        return imp_fail(im, LSUV_ERROR_FORMAT, "weight '%s' holds integers", bt->name);
    if ((st = imp_const_load(im, bt)) != LSUV_OK)
        return st;
    /* the file's (out, in) matrix unscaled goes up as it is: no host copy */
    float *wdev = transB && alpha == 1.0f ? NULL : transpose_scaled(bt->f, bt->dims[0], bt->dims[1], !transB, alpha);
    if (!wdev && !(transB && alpha == 1.0f))
        return imp_fail(im, LSUV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory for weight '%s'", bt->name);
    imp_layer_param lp = {.role = "weight", .slot = 1, .onnx_node = im->cur, .values = wdev ? wdev : bt->f, .ndim = 2,
                          .dims = {M, K}, .transposed = !transB, .file_scale = alpha, .file_ndim = 2,
                          .file_dims = {bt->dims[0], bt->dims[1]}};
    st = imp_layer_param_add(im, bt, &lp, &n.weight);
    free(wdev);
    imp_const_unload(bt);
    if (st != LSUV_OK)
        return st;
    /* the bias: Gemm's C, or the Add after a MatMul */
    imp_tensor *ct = NULL;
    int bias_node = im->cur, bias_slot = 2, fused = -1;
    if (gemm) {
        ct = beta != 0 ? imp_input(im, 2, 0, &st) : NULL;
        if (st != LSUV_OK)
            return st;
        if (ct && (ct->kind != IMP_CONST || ct->init < 0))
            return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "its C '%s' is computed in the graph; lsuv-vk needs an "
                            "initializer", ct->name);
    } else {
        fused = matmul_bias_add(im, o->output[0], M, &bias_slot);
        if (fused >= 0) {
            bias_node = fused;
            ct = imp_lookup(im, im->g->node[fused]->input[bias_slot]);
        }
    }
    if (ct) {
        int64_t cn = imp_numel(ct->ndim, ct->dims);
        int per_output = cn == M && ct->ndim >= 1 && ct->dims[ct->ndim - 1] == M;
        if (!per_output && cn != 1)
            return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "C '%s' of shape %s: only a bias per output (%lld) or a "
                            "scalar is supported", ct->name, shape_str(ct->ndim, ct->dims, s1), (long long)M);
        if (ct->is_int)
            return imp_fail(im, LSUV_ERROR_FORMAT, "bias '%s' holds integers", ct->name);
        if ((st = imp_const_load(im, ct)) != LSUV_OK)
            return st;
        float *bdev = malloc((size_t)M * sizeof *bdev);
        if (!bdev)
            return imp_fail(im, LSUV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        for (int64_t i = 0; i < M; i++)
            bdev[i] = beta * ct->f[per_output ? i : 0];
        /* a scalar C becomes a bias of its own, (M,) in the output file */
        imp_layer_param bp = {.role = "bias", .slot = bias_slot, .onnx_node = bias_node, .values = bdev, .ndim = 1,
                              .dims = {M}, .file_scale = beta, .force_copy = !per_output,
                              .file_ndim = per_output ? ct->ndim : 1};
        if (per_output)
            memcpy(bp.file_dims, ct->dims, (size_t)ct->ndim * sizeof *ct->dims);
        else
            bp.file_dims[0] = M;
        if (!(beta != 0))
            bp.file_scale = 1.0;
        st = imp_layer_param_add(im, ct, &bp, &n.bias);
        free(bdev);
        if (st != LSUV_OK)
            return st;
    }
    if ((st = imp_push(im, &n, 0)) != LSUV_OK)
        return st;
    if (fused >= 0) { /* the Add's output is the dense node's */
        int id = im->net->node_count - 1;
        int saved = im->cur;
        im->cur = fused;
        st = imp_bind_value(im, 0, id);
        im->cur = saved;
        im->done[fused] = 1;
        snprintf(im->net->nodes[id].name, LSUV_NAME_MAX, "%s", imp_node_name(o));
    }
    return st;
}

/* ------------------------------------------------------------ batch norm */

static lsuv_status batchnorm(imp *im, const imp_tensor *x)
{
    const Onnx__NodeProto *o = cur_node(im);
    const lsuv_node *in = vnode(im, x);
    for (size_t k = 1; k < o->n_output; k++) {
        if (!o->output[k] || !*o->output[k])
            continue;
        imp_tensor *t = imp_lookup(im, o->output[k]);
        if (t && t->readers)
            return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "its training output %zu ('%s') is read; lsuv-vk runs batch "
                            "norm in inference form (running statistics)", k + 1, t->name);
    }
    lsuv_node n;
    lsuv_node_init(&n, LSUV_NODE_BATCHNORM, NULL, x->node);
    n.ndim = in->ndim;
    memcpy(n.dims, in->dims, sizeof n.dims);
    n.eps = imp_attr_f(o, "epsilon", 1e-5f);
    if (!(n.eps >= 0))
        return imp_fail(im, LSUV_ERROR_FORMAT, "epsilon %g is negative", (double)n.eps);
    const char *what[4] = {"scale", "B", "mean", "var"};
    int *dst[4] = {&n.weight, &n.bias, &n.running_mean, &n.running_var};
    for (int k = 0; k < 4; k++) {
        lsuv_status st = LSUV_OK;
        imp_tensor *t = const_input(im, 1 + k, 1, what[k], &st);
        if (!t)
            return st;
        if (imp_numel(t->ndim, t->dims) != in->dims[0]) {
            char s[128];
            return imp_fail(im, LSUV_ERROR_SHAPE, "%s '%s' has %lld values for input %s per sample (%lld channels)",
                            what[k], t->name, (long long)imp_numel(t->ndim, t->dims), shape_str(in->ndim, in->dims, s),
                            (long long)in->dims[0]);
        }
        if ((st = imp_const_param(im, t, dst[k])) != LSUV_OK)
            return st;
    }
    return imp_push(im, &n, 0);
}

/* ------------------------------------------------------------ shape ops */

static lsuv_status reshape(imp *im, const imp_tensor *x)
{
    lsuv_status st = LSUV_OK;
    imp_tensor *s = const_input(im, 1, 1, "shape", &st);
    if (!s)
        return st;
    if ((st = imp_const_load(im, s)) != LSUV_OK)
        return st;
    if (!s->is_int || s->ndim != 1)
        return imp_fail(im, LSUV_ERROR_FORMAT, "shape '%s' must be a 1-D integer tensor", s->name);
    const lsuv_node *in = vnode(im, x);
    int m = (int)s->dims[0];
    int allowzero = imp_attr_i(cur_node(im), "allowzero", 0) != 0;
    char a[128];
    if (m < 2 || m > LSUV_MAX_RANK + 1)
        return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "target shape of %d axes; lsuv-vk keeps the batch axis and 1 to "
                        "%d more", m, LSUV_MAX_RANK);
    int64_t dims[LSUV_MAX_RANK], known = 1;
    int infer = -1;
    for (int i = 1; i < m; i++) {
        int64_t v = s->iv[i];
        if (s->ib && s->ib[i])
            return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "target axis %d depends on the batch size (it would mix the "
                            "batch axis into the sample)", i);
        if (v == 0 && !allowzero) {
            if (i > in->ndim)
                return imp_fail(im, LSUV_ERROR_SHAPE, "target axis %d copies an input axis that %s does not have", i,
                                shape_str(in->ndim, in->dims, a));
            v = in->dims[i - 1];
        }
        if (v == -1) {
            if (infer >= 0)
                return imp_fail(im, LSUV_ERROR_FORMAT, "more than one -1 in the target shape");
            infer = i - 1;
            v = 1;
        } else if (v <= 0) {
            return imp_fail(im, LSUV_ERROR_SHAPE, "target axis %d is %lld", i, (long long)v);
        }
        dims[i - 1] = v;
        known *= v;
    }
    int64_t numel = lsuv_node_numel(in);
    /* axis 0 must stay the batch: N itself (from Shape), 0 (copy), the file's fixed
     * batch size, or -1 where the other axes take exactly one sample */
    int64_t b0 = s->iv[0], n0 = s->ib ? s->ib[0] : 0;
    int batch_ok = (n0 == 1 && b0 == 0) || (n0 == 0 && b0 == 0 && !allowzero) ||
                   (n0 == 0 && im->fixed_batch > 0 && b0 == im->fixed_batch) ||
                   (n0 == 0 && b0 == -1 && infer < 0 && known == numel);
    if (!batch_ok)
        return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "target shape starts with %s where the batch axis must stay (it "
                        "would mix samples); input %s per sample",
                        n0 ? "a multiple of the batch size" : b0 == -1 ? "-1 (not one sample per row)" : "a number",
                        shape_str(in->ndim, in->dims, a));
    if (infer >= 0) {
        if (numel % known)
            return imp_fail(im, LSUV_ERROR_SHAPE, "cannot infer the -1 axis: %lld values per sample are not a "
                            "multiple of %lld", (long long)numel, (long long)known);
        dims[infer] = numel / known;
    }
    return reshape_to(im, x, m - 1, dims, 0);
}

static lsuv_status flatten(imp *im, const imp_tensor *x)
{
    const lsuv_node *in = vnode(im, x);
    int axis = norm_axis(imp_attr_i(cur_node(im), "axis", 1), in->ndim + 1);
    if (axis < 0 && imp_attr_i(cur_node(im), "axis", 1) == in->ndim + 1)
        axis = in->ndim + 1;
    if (axis < 0)
        return imp_fail(im, LSUV_ERROR_FORMAT, "axis out of range");
    for (int d = 1; d < axis; d++)
        if (in->dims[d - 1] != 1)
            return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "axis %d would merge per-sample axes into the batch", axis);
    if (axis == 0)
        return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "axis 0 would merge the batch into one row");
    int64_t flat = lsuv_node_numel(in);
    return reshape_to(im, x, 1, &flat, 0);
}

/* Squeeze and Unsqueeze: a reshape that leaves the batch axis alone. */
static lsuv_status squeeze(imp *im, const imp_tensor *x)
{
    int unsq = op_is(im, "Unsqueeze");
    const int64_t *axes;
    int64_t na;
    lsuv_status st = ints_attr_or_input(im, "axes", 1, 13, &axes, &na);
    if (st != LSUV_OK)
        return st;
    const lsuv_node *in = vnode(im, x);
    int rin = in->ndim + 1, rout = unsq ? rin + (int)(na > 0 ? na : 0) : rin;
    int64_t full[LSUV_MAX_AXES + LSUV_MAX_DIMS];
    int mark[LSUV_MAX_AXES + LSUV_MAX_DIMS] = {0};
    if (unsq && na <= 0)
        return imp_fail(im, LSUV_ERROR_FORMAT, "no axes given");
    if (rout > LSUV_MAX_RANK + 1)
        return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "the output would have %d axes per sample (at most %d)", rout - 1,
                        LSUV_MAX_RANK);
    for (int64_t i = 0; i < na; i++) {
        int a = norm_axis(axes[i], rout);
        if (a < 0 || mark[a])
            return imp_fail(im, LSUV_ERROR_FORMAT, "axis %lld is out of range or repeated", (long long)axes[i]);
        if (a == 0)
            return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "axis 0 is the batch axis");
        if (!unsq && in->dims[a - 1] != 1)
            return imp_fail(im, LSUV_ERROR_SHAPE, "axis %d has size %lld, not 1", a, (long long)in->dims[a - 1]);
        mark[a] = 1;
    }
    int64_t dims[LSUV_MAX_AXES + LSUV_MAX_DIMS];
    int nd = 0;
    if (unsq) {
        for (int a = 1, k = 0; a < rout; a++)
            full[a] = mark[a] ? 1 : in->dims[k++];
        for (int a = 1; a < rout; a++)
            dims[nd++] = full[a];
    } else {
        for (int a = 1; a < rin; a++)
            if (!(na > 0 ? mark[a] : in->dims[a - 1] == 1))
                dims[nd++] = in->dims[a - 1];
    }
    if (nd == 0)
        return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "the output would have no axis besides the batch");
    return reshape_to(im, x, nd, dims, 0);
}

/* A gather node over the full shape of x (desc filled by the caller for axes >= 1). */
static void gather_init(lsuv_node *n, const lsuv_node *in, int x_node)
{
    lsuv_node_init(n, LSUV_NODE_GATHER, NULL, x_node);
    lsuv_gather_desc *g = &n->gather;
    g->rank = in->ndim + 1;
    full_strides(in, g->in_stride);
    for (int d = 0; d < g->rank; d++) {
        g->start[d] = 0;
        g->step[d] = 1;
        g->in_extent[d] = d ? in->dims[d - 1] : 0; /* batch: filled in at run time */
    }
    n->ndim = in->ndim;
    memcpy(n->dims, in->dims, sizeof n->dims);
}

static lsuv_status transpose(imp *im, const imp_tensor *x)
{
    const lsuv_node *in = vnode(im, x);
    int rank = in->ndim + 1;
    const Onnx__AttributeProto *pa = imp_attr(cur_node(im), "perm");
    int64_t perm[LSUV_MAX_AXES] = {0};
    int seen[LSUV_MAX_AXES] = {0}, identity = 1;
    if (pa && (int)pa->n_ints != rank)
        return imp_fail(im, LSUV_ERROR_FORMAT, "perm has %zu entries for %d axes", pa->n_ints, rank);
    for (int d = 0; d < rank; d++) {
        perm[d] = pa ? pa->ints[d] : rank - 1 - d;
        if (perm[d] < 0 || perm[d] >= rank || seen[perm[d]]++)
            return imp_fail(im, LSUV_ERROR_FORMAT, "perm is not a permutation of %d axes", rank);
        identity &= perm[d] == d;
    }
    if (perm[0] != 0)
        return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "perm moves the batch axis (perm[0] = %lld)", (long long)perm[0]);
    if (identity)
        return alias(im, x);
    lsuv_node n;
    gather_init(&n, in, x->node);
    int64_t stride[LSUV_MAX_AXES];
    full_strides(in, stride);
    for (int d = 1; d < rank; d++) {
        n.gather.in_stride[d] = stride[perm[d]];
        n.gather.in_extent[d] = in->dims[perm[d] - 1];
        n.dims[d - 1] = in->dims[perm[d] - 1];
    }
    return imp_push(im, &n, 0);
}

static lsuv_status concat(imp *im)
{
    const Onnx__NodeProto *o = cur_node(im);
    lsuv_status st = LSUV_OK;
    imp_tensor *first = value_input(im, 0, &st);
    if (!first)
        return st;
    const lsuv_node *f = vnode(im, first);
    int axis = norm_axis(imp_attr_i(o, "axis", 0), f->ndim + 1);
    if (axis < 0 || !imp_attr(o, "axis"))
        return imp_fail(im, LSUV_ERROR_FORMAT, "axis is missing or out of range");
    if (axis == 0)
        return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "concatenation along the batch axis");
    if (o->n_input > LSUV_MAX_NODE_INPUTS)
        return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "%zu inputs (at most %d)", o->n_input, LSUV_MAX_NODE_INPUTS);
    if (o->n_input == 1)
        return alias(im, first);
    lsuv_node n;
    lsuv_node_init(&n, LSUV_NODE_CONCAT, NULL, first->node);
    n.concat_axis = axis - 1;
    n.ndim = f->ndim;
    memcpy(n.dims, f->dims, sizeof n.dims);
    n.dims[axis - 1] = 0;
    n.input_count = (int)o->n_input;
    for (size_t i = 0; i < o->n_input; i++) {
        imp_tensor *t = value_input(im, (int)i, &st);
        if (!t)
            return st;
        const lsuv_node *y = vnode(im, t);
        int ok = y->ndim == f->ndim;
        for (int d = 0; ok && d < f->ndim; d++)
            ok = d == axis - 1 || y->dims[d] == f->dims[d];
        char s1[128], s2[128];
        if (!ok)
            return imp_fail(im, LSUV_ERROR_SHAPE, "inputs %s and %s per sample differ beyond axis %d",
                            shape_str(f->ndim, f->dims, s1), shape_str(y->ndim, y->dims, s2), axis);
        n.inputs[i] = t->node;
        n.dims[axis - 1] += y->dims[axis - 1];
    }
    return imp_push(im, &n, 0);
}

static lsuv_status split(imp *im, const imp_tensor *x)
{
    const Onnx__NodeProto *o = cur_node(im);
    const lsuv_node *in = vnode(im, x);
    int axis = norm_axis(imp_attr_i(o, "axis", 0), in->ndim + 1);
    if (axis <= 0)
        return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "axis %lld: %s", (long long)imp_attr_i(o, "axis", 0),
                        axis == 0 ? "splitting the batch axis" : "out of range");
    const int64_t *sizes;
    int64_t ns;
    lsuv_status st = ints_attr_or_input(im, "split", 1, 13, &sizes, &ns);
    if (st != LSUV_OK)
        return st;
    int64_t dim = in->dims[axis - 1], outs = (int64_t)o->n_output;
    if (ns < 0 && dim % outs)
        return imp_fail(im, LSUV_ERROR_SHAPE, "axis %d of size %lld does not split into %lld equal parts", axis,
                        (long long)dim, (long long)outs);
    if (ns >= 0 && ns != outs)
        return imp_fail(im, LSUV_ERROR_FORMAT, "%lld split sizes for %lld outputs", (long long)ns, (long long)outs);
    int64_t total = 0;
    for (int64_t k = 0; k < outs; k++)
        total += ns >= 0 ? sizes[k] : dim / outs;
    if (total != dim)
        return imp_fail(im, LSUV_ERROR_SHAPE, "split sizes add up to %lld, not axis %d's %lld", (long long)total,
                        axis, (long long)dim);
    int64_t offset = 0;
    for (int64_t k = 0; k < outs; k++) {
        int64_t size = ns >= 0 ? sizes[k] : dim / outs;
        if (size <= 0)
            return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "split piece %lld is empty", (long long)k);
        imp_tensor *t = o->output[k] && *o->output[k] ? imp_lookup(im, o->output[k]) : NULL;
        if (t && t->readers) {
            lsuv_node n;
            gather_init(&n, vnode(im, x), x->node);
            n.gather.start[axis] = offset;
            n.dims[axis - 1] = size;
            snprintf(n.name, sizeof n.name, "%s", o->output[k]);
            if ((st = imp_push(im, &n, (int)k)) != LSUV_OK)
                return st;
        }
        offset += size;
    }
    return LSUV_OK;
}

static lsuv_status slice(imp *im, const imp_tensor *x)
{
    const lsuv_node *in = vnode(im, x);
    int rank = in->ndim + 1;
    const int64_t *starts, *ends, *axes, *steps;
    int64_t ns, ne, na, nst;
    imp_tensor *ts = NULL, *te = NULL;
    lsuv_status st;
    if ((st = ints_attr_or_input(im, "axes", 3, 10, &axes, &na)) != LSUV_OK ||
        (st = ints_attr_or_input(im, "steps", 4, 10, &steps, &nst)) != LSUV_OK)
        return st;
    if (im->opset < 10) {
        ints_attr_or_input(im, "starts", -1, 10, &starts, &ns);
        ints_attr_or_input(im, "ends", -1, 10, &ends, &ne);
    } else { /* starts/ends may hold the symbolic batch size (Slice over a whole axis 0) */
        st = LSUV_OK;
        if (!(ts = const_input(im, 1, 1, "starts", &st)) || !(te = const_input(im, 2, 1, "ends", &st)))
            return st;
        if ((st = imp_const_load(im, ts)) != LSUV_OK || (st = imp_const_load(im, te)) != LSUV_OK)
            return st;
        if (!ts->is_int || !te->is_int)
            return imp_fail(im, LSUV_ERROR_FORMAT, "starts/ends must be integers");
        starts = ts->iv;
        ends = te->iv;
        ns = imp_numel(ts->ndim, ts->dims);
        ne = imp_numel(te->ndim, te->dims);
    }
    if (ns < 0 || ns != ne || (na >= 0 && na != ns) || (nst >= 0 && nst != ns))
        return imp_fail(im, LSUV_ERROR_FORMAT, "starts, ends, axes and steps differ in length");
    lsuv_node n;
    gather_init(&n, in, x->node);
    int seen[LSUV_MAX_AXES] = {0};
    for (int64_t i = 0; i < ns; i++) {
        int a = norm_axis(na >= 0 ? axes[i] : i, rank);
        int64_t step = nst >= 0 ? steps[i] : 1;
        if (a < 0 || seen[a]++ || step == 0)
            return imp_fail(im, LSUV_ERROR_FORMAT, "axis %lld out of range or repeated, or step 0",
                            (long long)(na >= 0 ? axes[i] : i));
        int sym_s = ts && ts->ib && ts->ib[i], sym_e = te && te->ib && te->ib[i];
        if (a == 0) { /* the whole batch, or refuse */
            int whole_end = (sym_e && te->ib[i] == 1 && ends[i] == 0) ||
                            (!sym_e && (ends[i] >= (int64_t)1 << 31 ||
                                        (im->fixed_batch > 0 && ends[i] == im->fixed_batch)));
            if (sym_s || starts[i] != 0 || step != 1 || !whole_end)
                return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "it slices the batch axis");
            continue;
        }
        if (sym_s || sym_e)
            return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "axis %d's bounds depend on the batch size", a);
        int64_t s0 = starts[i], count = imp_slice_axis(in->dims[a - 1], &s0, ends[i], step);
        if (count <= 0)
            return imp_fail(im, LSUV_ERROR_SHAPE, "axis %d: the slice is empty", a);
        n.gather.start[a] = s0;
        n.gather.step[a] = step;
        n.dims[a - 1] = count;
    }
    return imp_push(im, &n, 0);
}

static lsuv_status pad(imp *im, const imp_tensor *x)
{
    const Onnx__NodeProto *o = cur_node(im);
    char modebuf[32];
    const char *mode = attr_s(o, "mode", modebuf, sizeof modebuf);
    if (mode && strcmp(mode, "constant") != 0)
        return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "mode '%s' (only constant padding is supported)", mode);
    const lsuv_node *in = vnode(im, x);
    int rank = in->ndim + 1;
    const int64_t *pads;
    int64_t np;
    lsuv_status st = ints_attr_or_input(im, "pads", 1, 11, &pads, &np);
    if (st != LSUV_OK)
        return st;
    float value = 0;
    if (im->opset < 11)
        value = imp_attr_f(o, "value", 0);
    else if ((st = scalar_input(im, 2, "constant_value", 0, &value)) != LSUV_OK)
        return st;
    if (o->n_input > 3 && o->input[3] && *o->input[3])
        return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "the axes input is not supported");
    if (np != 2 * rank)
        return imp_fail(im, LSUV_ERROR_FORMAT, "%lld pads for %d axes", (long long)np, rank);
    if (pads[0] || pads[rank])
        return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "it pads the batch axis");
    lsuv_node n;
    gather_init(&n, in, x->node);
    n.gather.pad_value = value;
    for (int d = 1; d < rank; d++) {
        int64_t size = in->dims[d - 1] + pads[d] + pads[rank + d];
        if (size <= 0)
            return imp_fail(im, LSUV_ERROR_SHAPE, "axis %d would be empty", d);
        n.gather.start[d] = -pads[d];
        n.dims[d - 1] = size;
    }
    return imp_push(im, &n, 0);
}

/* Gather along a per-sample axis with constant indices: a scalar (the axis goes) or an
 * evenly spaced list (a strided slice). */
static lsuv_status gather(imp *im, const imp_tensor *x)
{
    lsuv_status st = LSUV_OK;
    imp_tensor *it = const_input(im, 1, 1, "indices", &st);
    if (!it)
        return st;
    int64_t *idx, ni;
    if ((st = imp_const_ints(im, it, "indices", &idx, &ni)) != LSUV_OK)
        return st;
    const lsuv_node *in = vnode(im, x);
    int axis = norm_axis(imp_attr_i(cur_node(im), "axis", 0), in->ndim + 1);
    if (axis <= 0)
        return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "axis %lld: %s", (long long)imp_attr_i(cur_node(im), "axis", 0),
                        axis == 0 ? "gathering along the batch axis" : "out of range");
    if (it->ndim > 1 || ni < 1)
        return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "indices of shape with %d axes / %lld values (a scalar or a list "
                        "is supported)", it->ndim, (long long)ni);
    int64_t dim = in->dims[axis - 1], first = idx[0] < 0 ? idx[0] + dim : idx[0], step = 1;
    for (int64_t i = 0; i < ni; i++) {
        int64_t v = idx[i] < 0 ? idx[i] + dim : idx[i];
        if (v < 0 || v >= dim)
            return imp_fail(im, LSUV_ERROR_SHAPE, "index %lld is outside axis %d of size %lld", (long long)idx[i],
                            axis, (long long)dim);
        if (i == 1)
            step = v - first;
        if (i >= 1 && (step == 0 || v != first + i * step))
            return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "indices are not evenly spaced");
    }
    lsuv_node n;
    gather_init(&n, in, x->node);
    n.gather.start[axis] = first;
    n.gather.step[axis] = step;
    n.dims[axis - 1] = ni;
    if (it->ndim == 1)
        return imp_push(im, &n, 0);
    /* a scalar index drops the axis: gather (size 1 there), then a reshape */
    int64_t dims[LSUV_MAX_RANK];
    int nd = 0;
    for (int d = 0; d < in->ndim; d++)
        if (d != axis - 1)
            dims[nd++] = in->dims[d];
    if (nd == 0)
        return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "the output would have no axis besides the batch");
    snprintf(n.name, sizeof n.name, "%s:gather", imp_node_name(cur_node(im)));
    int id;
    if ((st = lsuv_net_push_node(im->net, &n, &id)) != LSUV_OK)
        return st;
    imp_tensor tmp = *x;
    tmp.node = id;
    return reshape_to(im, &tmp, nd, dims, 0);
}

/* ReduceMean/Max/Sum over a run of per-sample axes. */
static lsuv_status reduce(imp *im, const imp_tensor *x)
{
    const Onnx__NodeProto *o = cur_node(im);
    const lsuv_node *in = vnode(im, x);
    int rank = in->ndim + 1;
    const int64_t *axes;
    int64_t na;
    lsuv_status st = ints_attr_or_input(im, "axes", op_is(im, "ReduceSum") ? 1 : -1, 13, &axes, &na);
    if (st != LSUV_OK)
        return st;
    if (na <= 0)
        return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "no axes: it would reduce over the batch");
    int mark[LSUV_MAX_AXES] = {0}, lo = rank, hi = -1;
    for (int64_t i = 0; i < na; i++) {
        int a = norm_axis(axes[i], rank);
        if (a < 0 || mark[a]++)
            return imp_fail(im, LSUV_ERROR_FORMAT, "axis %lld out of range or repeated", (long long)axes[i]);
        if (a == 0)
            return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "it reduces over the batch axis");
        lo = a < lo ? a : lo;
        hi = a > hi ? a : hi;
    }
    if (hi - lo + 1 != na)
        return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "axes are not contiguous");
    lsuv_node n;
    lsuv_node_init(&n, LSUV_NODE_REDUCE, NULL, x->node);
    n.reduce.op = op_is(im, "ReduceMean") ? LSUV_REDUCE_MEAN : op_is(im, "ReduceMax") ? LSUV_REDUCE_MAX
                                                                                     : LSUV_REDUCE_SUM;
    n.reduce.outer = n.reduce.n = n.reduce.inner = 1;
    int keep = imp_attr_i(o, "keepdims", 1) != 0;
    for (int d = 1; d < rank; d++) {
        int64_t v = in->dims[d - 1];
        if (d < lo)
            n.reduce.outer *= v;
        else if (d > hi)
            n.reduce.inner *= v;
        else
            n.reduce.n *= v;
        if (d < lo || d > hi || keep)
            n.dims[n.ndim++] = d < lo || d > hi ? v : 1;
    }
    if (n.ndim == 0)
        return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "the output would have no axis besides the batch");
    return imp_push(im, &n, 0);
}

static lsuv_status softmax(imp *im, const imp_tensor *x)
{
    const lsuv_node *in = vnode(im, x);
    int rank = in->ndim + 1, old = im->opset < 13;
    int axis = norm_axis(imp_attr_i(cur_node(im), "axis", old ? 1 : -1), rank);
    if (axis <= 0)
        return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "axis %lld: %s", (long long)imp_attr_i(cur_node(im), "axis", 0),
                        axis == 0 ? "normalizing across the batch" : "out of range");
    lsuv_node n;
    lsuv_node_init(&n, LSUV_NODE_REDUCE, NULL, x->node);
    n.reduce.op = op_is(im, "Softmax") ? LSUV_REDUCE_SOFTMAX : LSUV_REDUCE_LOG_SOFTMAX;
    n.reduce.outer = n.reduce.n = n.reduce.inner = 1;
    for (int d = 1; d < rank; d++) { /* before opset 13: over all axes from `axis` on (2-D coercion) */
        int64_t v = in->dims[d - 1];
        if (d < axis)
            n.reduce.outer *= v;
        else if (d == axis || old)
            n.reduce.n *= v;
        else
            n.reduce.inner *= v;
    }
    n.ndim = in->ndim;
    memcpy(n.dims, in->dims, sizeof n.dims);
    return imp_push(im, &n, 0);
}

/* ------------------------------------------------------------ dispatch */

lsuv_status imp_convert_value_op(imp *im)
{
    const Onnx__NodeProto *o = cur_node(im);
    lsuv_status st = LSUV_OK;
    static const char *const unary[] = {"Relu", "LeakyRelu", "Elu", "Selu", "Tanh", "Sigmoid", "HardSigmoid",
                                        "HardSwish", "Softplus", "Erf", "Clip", "PRelu"};
    if (op_is(im, "Add") || op_is(im, "Sub") || op_is(im, "Mul") || op_is(im, "Div")) {
        imp_tensor *a = imp_input(im, 0, 1, &st), *b = a ? imp_input(im, 1, 1, &st) : NULL;
        return b ? binary(im, a, b) : st;
    }
    if (op_is(im, "Concat"))
        return concat(im);
    imp_tensor *x = value_input(im, 0, &st);
    if (!x)
        return st;
    for (size_t i = 0; i < sizeof unary / sizeof *unary; i++)
        if (op_is(im, unary[i]))
            return activation(im, x);
    if (op_is(im, "Conv"))
        return conv(im, x);
    if (op_is(im, "Gemm") || op_is(im, "MatMul"))
        return dense(im, x);
    if (op_is(im, "BatchNormalization"))
        return batchnorm(im, x);
    if (op_is(im, "MaxPool") || op_is(im, "AveragePool") || op_is(im, "GlobalAveragePool") ||
        op_is(im, "GlobalMaxPool"))
        return pool(im, x);
    if (op_is(im, "Reshape"))
        return reshape(im, x);
    if (op_is(im, "Flatten"))
        return flatten(im, x);
    if (op_is(im, "Squeeze") || op_is(im, "Unsqueeze"))
        return squeeze(im, x);
    if (op_is(im, "Transpose"))
        return transpose(im, x);
    if (op_is(im, "Split"))
        return split(im, x);
    if (op_is(im, "Slice"))
        return slice(im, x);
    if (op_is(im, "Pad"))
        return pad(im, x);
    if (op_is(im, "Gather"))
        return gather(im, x);
    if (op_is(im, "ReduceMean") || op_is(im, "ReduceMax") || op_is(im, "ReduceSum"))
        return reduce(im, x);
    if (op_is(im, "Softmax") || op_is(im, "LogSoftmax"))
        return softmax(im, x);
    if (op_is(im, "Identity"))
        return alias(im, x);
    if (op_is(im, "Dropout")) {
        imp_tensor *mask = o->n_output > 1 && o->output[1] && *o->output[1] ? imp_lookup(im, o->output[1]) : NULL;
        if (mask && mask->readers)
            return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "its mask output is read");
        return alias(im, x);
    }
    if (op_is(im, "Cast")) {
        if (!imp_is_float_type((int32_t)imp_attr_i(o, "to", 0))) /* values are float32 here */
            return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "a cast of a value to type %lld (floating-point types only)",
                            (long long)imp_attr_i(o, "to", 0));
        return alias(im, x);
    }
    return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "not supported on a value computed from the network input");
}
