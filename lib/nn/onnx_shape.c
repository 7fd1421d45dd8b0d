/* onnx_shape.c - host-side folding of ops whose inputs are all constants: the shape
 * arithmetic exporters emit (Shape -> Gather -> Unsqueeze -> Concat -> Reshape) and
 * small float constants. Integers carry the batch size N symbolically (ib * N + iv), so
 * that a shape read from a value keeps saying "the batch" wherever it flows. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/onnx_import.h"

static const Onnx__NodeProto *cur_node(const imp *im) { return im->g->node[im->cur]; }
static int op_is(const imp *im, const char *op) { return strcmp(cur_node(im)->op_type, op) == 0; }

/* A folded constant being built: dims plus values (float, or int with a batch term). */
typedef struct cval {
    int is_int;
    int ndim;
    int64_t dims[LSUV_MAX_DIMS];
    float *f;
    int64_t *iv, *ib;
} cval;

static void cval_free(cval *c)
{
    free(c->f);
    free(c->iv);
    free(c->ib);
    memset(c, 0, sizeof *c);
}

static lsuv_status cval_alloc(imp *im, cval *c, int is_int, int ndim, const int64_t *dims)
{
    memset(c, 0, sizeof *c);
    c->is_int = is_int;
    c->ndim = ndim;
    memcpy(c->dims, dims, (size_t)ndim * sizeof *dims);
    int64_t n = imp_numel(ndim, dims);
    if (n < 0 || n > (1 << 26))
        return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "a folded constant of %lld elements is too large", (long long)n);
    size_t bytes = (size_t)(n ? n : 1) * 8;
    if (is_int) {
        c->iv = calloc(1, bytes);
        c->ib = calloc(1, bytes);
    } else {
        c->f = calloc(1, bytes);
    }
    if (is_int ? !c->iv || !c->ib : !c->f) {
        cval_free(c);
        return imp_fail(im, LSUV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    return LSUV_OK;
}

/* Stores c as output slot `out` of the current node (takes its arrays). */
static lsuv_status cval_set(imp *im, int out, cval *c)
{
    const Onnx__NodeProto *n = cur_node(im);
    if (out >= (int)n->n_output || !n->output[out] || !*n->output[out]) {
        cval_free(c);
        return LSUV_OK;
    }
    imp_tensor *t = imp_lookup(im, n->output[out]);
    if (!t) {
        cval_free(c);
        return imp_fail(im, LSUV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    int64_t numel = imp_numel(c->ndim, c->dims);
    int batch = 0;
    for (int64_t i = 0; c->ib && i < numel; i++)
        batch |= c->ib[i] != 0;
    if (c->ib && !batch) { /* keep "no batch term" cheap to test */
        free(c->ib);
        c->ib = NULL;
    }
    t->kind = IMP_CONST;
    t->is_int = c->is_int;
    t->ndim = c->ndim;
    memcpy(t->dims, c->dims, sizeof t->dims);
    t->f = c->f;
    t->iv = c->iv;
    t->ib = c->ib;
    memset(c, 0, sizeof *c);
    return LSUV_OK;
}

lsuv_status imp_set_const_int(imp *im, int out, int ndim, const int64_t *dims, int64_t *iv, int64_t *ib)
{
    cval c = {.is_int = 1, .ndim = ndim, .iv = iv, .ib = ib};
    memcpy(c.dims, dims, (size_t)ndim * sizeof *dims);
    return cval_set(im, out, &c);
}

lsuv_status imp_set_const_f32(imp *im, int out, int ndim, const int64_t *dims, float *f)
{
    cval c = {.is_int = 0, .ndim = ndim, .f = f};
    memcpy(c.dims, dims, (size_t)ndim * sizeof *dims);
    return cval_set(im, out, &c);
}

/* Input slot i as a loaded constant (the walk guarantees it is one). */
static imp_tensor *cin(imp *im, int i, int required, lsuv_status *st)
{
    imp_tensor *t = imp_input(im, i, required, st);
    if (!t)
        return NULL;
    if (t->kind != IMP_CONST) {
        *st = imp_fail(im, LSUV_ERROR_UNSUPPORTED, "input %d ('%s') must be a constant here", i + 1, t->name);
        return NULL;
    }
    if ((*st = imp_const_load(im, t)) != LSUV_OK)
        return NULL;
    return t;
}

/* Element k of a constant as int (value, batch term) or float. */
static int64_t ival(const imp_tensor *t, int64_t k) { return t->is_int ? t->iv[k] : (int64_t)t->f[k]; }
static int64_t ibat(const imp_tensor *t, int64_t k) { return t->is_int && t->ib ? t->ib[k] : 0; }
static double fval(const imp_tensor *t, int64_t k) { return t->is_int ? (double)t->iv[k] : (double)t->f[k]; }

/* Copies element k of t into element j of c (same kind). */
static void copy_elem(cval *c, int64_t j, const imp_tensor *t, int64_t k)
{
    if (c->is_int) {
        c->iv[j] = ival(t, k);
        c->ib[j] = ibat(t, k);
    } else {
        c->f[j] = (float)fval(t, k);
    }
}

static void strides_of(int ndim, const int64_t *dims, int64_t *s)
{
    int64_t acc = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        s[d] = acc;
        acc *= dims[d];
    }
}

static int norm_axis(int64_t a, int rank)
{
    if (a < 0)
        a += rank;
    return a >= 0 && a < rank ? (int)a : -1;
}

/* One Slice axis, clamped as the ONNX spec says; count 0 means empty. */
int64_t imp_slice_axis(int64_t dim, int64_t *start, int64_t end, int64_t step)
{
    int64_t s = *start, e = end;
    if (step < -INT64_MAX) /* -step must not overflow */
        step = -INT64_MAX;
    if (s < 0)
        s += dim;
    if (e < 0)
        e += dim;
    if (step > 0) {
        s = s < 0 ? 0 : s > dim ? dim : s;
        e = e < 0 ? 0 : e > dim ? dim : e;
        *start = s;
        return e > s ? (e - s - 1) / step + 1 : 0;
    }
    s = s < 0 ? 0 : s > dim - 1 ? dim - 1 : s;
    e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
    *start = s;
    return s > e ? (s - e - 1) / -step + 1 : 0;
}

/* ------------------------------------------------------------ Shape, Constant */

lsuv_status imp_fold_shape(imp *im, imp_tensor *x)
{
    int64_t full[LSUV_MAX_DIMS], fb[LSUV_MAX_DIMS] = {0};
    int rank;
    if (x->kind == IMP_VALUE) {
        const lsuv_node *n = &im->net->nodes[x->node];
        rank = n->ndim + 1;
        full[0] = 0;
        fb[0] = 1; /* N */
        memcpy(full + 1, n->dims, (size_t)n->ndim * sizeof *n->dims);
    } else {
        rank = x->ndim;
        memcpy(full, x->dims, (size_t)rank * sizeof *full);
    }
    /* opset 15: start/end pick a range of axes (clamped) */
    int64_t s = imp_attr_i(cur_node(im), "start", 0), e = imp_attr_i(cur_node(im), "end", rank);
    s = s < 0 ? s + rank : s;
    e = e < 0 ? e + rank : e;
    s = s < 0 ? 0 : s > rank ? rank : s;
    e = e < 0 ? 0 : e > rank ? rank : e;
    int64_t count = e > s ? e - s : 0, dims[1] = {count};
    cval c;
    lsuv_status st = cval_alloc(im, &c, 1, 1, dims);
    if (st != LSUV_OK)
        return st;
    for (int64_t i = 0; i < count; i++) {
        c.iv[i] = full[s + i];
        c.ib[i] = fb[s + i];
    }
    return cval_set(im, 0, &c);
}

/* A TensorProto (Constant's value, ConstantOfShape's value) as a cval. */
static lsuv_status from_proto(imp *im, const Onnx__TensorProto *tp, cval *c)
{
    int is_float = imp_is_float_type(tp->data_type);
    if (tp->n_dims > LSUV_MAX_DIMS)
        return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "a constant of %zu axes", tp->n_dims);
    char err[512] = "";
    int64_t numel = 0;
    memset(c, 0, sizeof *c);
    c->is_int = !is_float;
    c->ndim = (int)tp->n_dims;
    if (tp->n_dims) /* a scalar has no dims array (NULL): memcpy from NULL is undefined */
        memcpy(c->dims, tp->dims, tp->n_dims * sizeof *tp->dims);
    lsuv_status st = is_float ? lsuv_onnx_tensor_f32(im->model, tp, &c->f, &numel, err, sizeof err)
                              : lsuv_onnx_tensor_i64(im->model, tp, &c->iv, &numel, err, sizeof err);
    if (st != LSUV_OK)
        return imp_fail(im, st, "its constant value: %s", err);
    if (numel != imp_numel(c->ndim, c->dims)) {
        cval_free(c);
        return imp_fail(im, LSUV_ERROR_FORMAT, "its constant holds %lld values for %lld elements", (long long)numel,
                        (long long)imp_numel(c->ndim, c->dims));
    }
    return LSUV_OK;
}

static lsuv_status constant(imp *im)
{
    const Onnx__NodeProto *o = cur_node(im);
    const Onnx__AttributeProto *a;
    cval c;
    lsuv_status st;
    if ((a = imp_attr(o, "value")) && a->t) {
        if ((st = from_proto(im, a->t, &c)) != LSUV_OK)
            return st;
        return cval_set(im, 0, &c);
    }
    int64_t one = 1;
    if ((a = imp_attr(o, "value_float")) || (a = imp_attr(o, "value_int"))) {
        int is_int = strcmp(a->name, "value_int") == 0;
        if ((st = cval_alloc(im, &c, is_int, 0, &one)) != LSUV_OK)
            return st;
        if (is_int)
            c.iv[0] = a->i;
        else
            c.f[0] = a->f;
        return cval_set(im, 0, &c);
    }
    if ((a = imp_attr(o, "value_floats")) || (a = imp_attr(o, "value_ints"))) {
        int is_int = strcmp(a->name, "value_ints") == 0;
        int64_t n = (int64_t)(is_int ? a->n_ints : a->n_floats);
        if ((st = cval_alloc(im, &c, is_int, 1, &n)) != LSUV_OK)
            return st;
        for (int64_t i = 0; i < n; i++) {
            if (is_int)
                c.iv[i] = a->ints[i];
            else
                c.f[i] = a->floats[i];
        }
        return cval_set(im, 0, &c);
    }
    return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "only value, value_float(s) and value_int(s) constants are supported");
}

static lsuv_status constant_of_shape(imp *im)
{
    lsuv_status st = LSUV_OK;
    imp_tensor *s = cin(im, 0, 1, &st);
    if (!s)
        return st;
    int64_t *dims, n;
    if ((st = imp_const_ints(im, s, "shape", &dims, &n)) != LSUV_OK)
        return st;
    if (n > LSUV_MAX_DIMS)
        return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "a constant of %lld axes", (long long)n);
    for (int64_t i = 0; i < n; i++)
        if (dims[i] < 0)
            return imp_fail(im, LSUV_ERROR_FORMAT, "shape entry %lld is negative", (long long)i);
    const Onnx__AttributeProto *a = imp_attr(cur_node(im), "value");
    cval v = {0}, c;
    int is_int = 0;
    if (a && a->t) {
        if ((st = from_proto(im, a->t, &v)) != LSUV_OK)
            return st;
        is_int = v.is_int;
        if (imp_numel(v.ndim, v.dims) != 1) {
            cval_free(&v);
            return imp_fail(im, LSUV_ERROR_FORMAT, "its value must hold one element");
        }
    }
    if ((st = cval_alloc(im, &c, is_int, (int)n, dims)) != LSUV_OK) {
        cval_free(&v);
        return st;
    }
    int64_t total = imp_numel(c.ndim, c.dims);
    for (int64_t i = 0; i < total; i++) {
        if (is_int)
            c.iv[i] = v.iv[0];
        else
            c.f[i] = v.f ? v.f[0] : 0.0f;
    }
    cval_free(&v);
    return cval_set(im, 0, &c);
}

static lsuv_status range(imp *im)
{
    lsuv_status st = LSUV_OK;
    imp_tensor *t[3];
    for (int i = 0; i < 3; i++) {
        if (!(t[i] = cin(im, i, 1, &st)))
            return st;
        if (imp_numel(t[i]->ndim, t[i]->dims) != 1 || ibat(t[i], 0))
            return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "start, limit and delta must be plain scalars");
    }
    int is_int = t[0]->is_int;
    double start = fval(t[0], 0), limit = fval(t[1], 0), delta = fval(t[2], 0);
    if (delta == 0)
        return imp_fail(im, LSUV_ERROR_FORMAT, "delta is 0");
    double count = ceil((limit - start) / delta);
    int64_t n = count > 0 ? (int64_t)count : 0;
    cval c;
    if ((st = cval_alloc(im, &c, is_int, 1, &n)) != LSUV_OK)
        return st;
    for (int64_t i = 0; i < n; i++) {
        if (is_int)
            c.iv[i] = ival(t[0], 0) + i * ival(t[2], 0);
        else
            c.f[i] = (float)(start + (double)i * delta);
    }
    return cval_set(im, 0, &c);
}

/* ------------------------------------------------------------ element moves */

/* Same values, another shape (Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout). */
static lsuv_status reshaped(imp *im, const imp_tensor *x, int ndim, const int64_t *dims)
{
    cval c;
    lsuv_status st = cval_alloc(im, &c, x->is_int, ndim, dims);
    if (st != LSUV_OK)
        return st;
    int64_t n = imp_numel(x->ndim, x->dims);
    if (n != imp_numel(ndim, dims)) {
        cval_free(&c);
        return imp_fail(im, LSUV_ERROR_SHAPE, "cannot reshape %lld values into %lld", (long long)n,
                        (long long)imp_numel(ndim, dims));
    }
    for (int64_t i = 0; i < n; i++)
        copy_elem(&c, i, x, i);
    return cval_set(im, 0, &c);
}

/* An int list from an attribute (before opset `from`) or an input slot; -1 if absent. */
static lsuv_status int_list(imp *im, const char *name, int slot, int64_t from, const int64_t **v, int64_t *n)
{
    *v = NULL;
    *n = -1;
    if (im->opset < from || slot < 0) {
        const Onnx__AttributeProto *a = imp_attr(cur_node(im), name);
        if (a) {
            *v = a->ints;
            *n = (int64_t)a->n_ints;
        }
        return LSUV_OK;
    }
    lsuv_status st = LSUV_OK;
    imp_tensor *t = cin(im, slot, 0, &st);
    if (!t)
        return st;
    int64_t *iv;
    st = imp_const_ints(im, t, name, &iv, n);
    *v = iv;
    return st;
}

static lsuv_status reshape_like(imp *im, imp_tensor *x)
{
    int64_t dims[LSUV_MAX_DIMS];
    int nd = 0;
    lsuv_status st = LSUV_OK;
    if (op_is(im, "Reshape")) {
        imp_tensor *s = cin(im, 1, 1, &st);
        int64_t *sv, ns;
        if (!s || (st = imp_const_ints(im, s, "shape", &sv, &ns)) != LSUV_OK)
            return st;
        if (ns > LSUV_MAX_DIMS)
            return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "a shape of %lld axes", (long long)ns);
        int64_t known = 1, infer = -1;
        for (int64_t i = 0; i < ns; i++) {
            int64_t v = sv[i];
            if (v == 0 && !imp_attr_i(cur_node(im), "allowzero", 0))
                v = i < x->ndim ? x->dims[i] : -2;
            if (v == -1 && infer < 0) {
                infer = i;
                v = 1;
            } else if (v < 0) {
                return imp_fail(im, LSUV_ERROR_FORMAT, "shape entry %lld is invalid", (long long)i);
            }
            dims[nd++] = v;
            known *= v;
        }
        int64_t n = imp_numel(x->ndim, x->dims);
        if (infer >= 0) {
            if (!known || n % known)
                return imp_fail(im, LSUV_ERROR_SHAPE, "cannot infer the -1 axis for %lld values", (long long)n);
            dims[infer] = n / known;
        }
    } else if (op_is(im, "Flatten")) {
        int axis = (int)imp_attr_i(cur_node(im), "axis", 1);
        axis = axis < 0 ? axis + x->ndim : axis;
        if (axis < 0 || axis > x->ndim)
            return imp_fail(im, LSUV_ERROR_FORMAT, "axis out of range");
        dims[0] = imp_numel(axis, x->dims);
        dims[1] = imp_numel(x->ndim - axis, x->dims + axis);
        nd = 2;
    } else if (op_is(im, "Squeeze") || op_is(im, "Unsqueeze")) {
        int unsq = op_is(im, "Unsqueeze");
        const int64_t *axes;
        int64_t na;
        if ((st = int_list(im, "axes", 1, 13, &axes, &na)) != LSUV_OK)
            return st;
        int rout = unsq ? x->ndim + (int)(na > 0 ? na : 0) : x->ndim;
        int mark[2 * LSUV_MAX_DIMS] = {0};
        if (rout > LSUV_MAX_DIMS)
            return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "a constant of %d axes", rout);
        for (int64_t i = 0; i < na; i++) {
            int a = norm_axis(axes[i], rout);
            if (a < 0 || mark[a]++ || (!unsq && x->dims[a] != 1))
                return imp_fail(im, LSUV_ERROR_FORMAT, "axis %lld is out of range, repeated or not of size 1",
                                (long long)axes[i]);
        }
        for (int a = 0, k = 0; a < (unsq ? rout : x->ndim); a++) {
            if (unsq)
                dims[nd++] = mark[a] ? 1 : x->dims[k++];
            else if (!(na > 0 ? mark[a] : x->dims[a] == 1))
                dims[nd++] = x->dims[a];
        }
    } else { /* Identity, Dropout */
        nd = x->ndim;
        memcpy(dims, x->dims, (size_t)nd * sizeof *dims);
    }
    return reshaped(im, x, nd, dims);
}

static lsuv_status gather(imp *im)
{
    lsuv_status st = LSUV_OK;
    imp_tensor *x = cin(im, 0, 1, &st), *it = x ? cin(im, 1, 1, &st) : NULL;
    if (!it)
        return st;
    int axis = norm_axis(imp_attr_i(cur_node(im), "axis", 0), x->ndim);
    if (axis < 0)
        return imp_fail(im, LSUV_ERROR_FORMAT, "axis out of range for a constant of %d axes", x->ndim);
    int ndim = x->ndim - 1 + it->ndim;
    if (ndim > LSUV_MAX_DIMS)
        return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "a result of %d axes", ndim);
    int64_t dims[LSUV_MAX_DIMS];
    memcpy(dims, x->dims, (size_t)axis * sizeof *dims);
    memcpy(dims + axis, it->dims, (size_t)it->ndim * sizeof *dims);
    memcpy(dims + axis + it->ndim, x->dims + axis + 1, (size_t)(x->ndim - axis - 1) * sizeof *dims);
    cval c;
    if ((st = cval_alloc(im, &c, x->is_int, ndim, dims)) != LSUV_OK)
        return st;
    int64_t outer = imp_numel(axis, x->dims), inner = imp_numel(x->ndim - axis - 1, x->dims + axis + 1);
    int64_t ni = imp_numel(it->ndim, it->dims), dim = x->dims[axis];
    for (int64_t i = 0; i < ni; i++) {
        int64_t k = ival(it, i);
        k = k < 0 ? k + dim : k;
        if (k < 0 || k >= dim || ibat(it, i)) {
            cval_free(&c);
            return imp_fail(im, LSUV_ERROR_SHAPE, "index %lld is outside an axis of size %lld", (long long)ival(it, i),
                            (long long)dim);
        }
        for (int64_t o = 0; o < outer; o++)
            for (int64_t j = 0; j < inner; j++)
                copy_elem(&c, (o * ni + i) * inner + j, x, (o * dim + k) * inner + j);
    }
    return cval_set(im, 0, &c);
}

static lsuv_status slice(imp *im)
{
    lsuv_status st = LSUV_OK;
    imp_tensor *x = cin(im, 0, 1, &st);
    if (!x)
        return st;
    const int64_t *starts, *ends, *axes, *steps;
    int64_t ns, ne, na, nst;
    if ((st = int_list(im, "starts", 1, 10, &starts, &ns)) != LSUV_OK ||
        (st = int_list(im, "ends", 2, 10, &ends, &ne)) != LSUV_OK ||
        (st = int_list(im, "axes", 3, 10, &axes, &na)) != LSUV_OK ||
        (st = int_list(im, "steps", 4, 10, &steps, &nst)) != LSUV_OK)
        return st;
    if (ns < 0 || ns != ne || (na >= 0 && na != ns) || (nst >= 0 && nst != ns))
        return imp_fail(im, LSUV_ERROR_FORMAT, "starts, ends, axes and steps differ in length");
    int64_t start[LSUV_MAX_DIMS], step[LSUV_MAX_DIMS], dims[LSUV_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) {
        start[d] = 0;
        step[d] = 1;
        dims[d] = x->dims[d];
    }
    for (int64_t i = 0; i < ns; i++) {
        int a = norm_axis(na >= 0 ? axes[i] : i, x->ndim);
        int64_t sp = nst >= 0 ? steps[i] : 1, dim = x->dims[a < 0 ? 0 : a];
        if (a < 0 || sp == 0)
            return imp_fail(im, LSUV_ERROR_FORMAT, "axis out of range or step 0");
        start[a] = starts[i];
        dims[a] = imp_slice_axis(dim, &start[a], ends[i], sp);
        step[a] = sp;
    }
    cval c;
    if ((st = cval_alloc(im, &c, x->is_int, x->ndim, dims)) != LSUV_OK)
        return st;
    int64_t xs[LSUV_MAX_DIMS], n = imp_numel(x->ndim, dims);
    strides_of(x->ndim, x->dims, xs);
    for (int64_t j = 0; j < n; j++) {
        int64_t rem = j, src = 0;
        for (int d = x->ndim - 1; d >= 0; d--) {
            int64_t i = rem % dims[d];
            rem /= dims[d];
            src += (start[d] + i * step[d]) * xs[d];
        }
        copy_elem(&c, j, x, src);
    }
    return cval_set(im, 0, &c);
}

static lsuv_status concat(imp *im)
{
    const Onnx__NodeProto *o = cur_node(im);
    lsuv_status st = LSUV_OK;
    imp_tensor *f = cin(im, 0, 1, &st);
    if (!f)
        return st;
    int axis = norm_axis(imp_attr_i(o, "axis", 0), f->ndim);
    if (axis < 0)
        return imp_fail(im, LSUV_ERROR_FORMAT, "axis out of range");
    int64_t dims[LSUV_MAX_DIMS];
    memcpy(dims, f->dims, (size_t)f->ndim * sizeof *dims);
    dims[axis] = 0;
    for (size_t i = 0; i < o->n_input; i++) {
        imp_tensor *t = cin(im, (int)i, 1, &st);
        if (!t)
            return st;
        int ok = t->ndim == f->ndim && t->is_int == f->is_int;
        for (int d = 0; ok && d < f->ndim; d++)
            ok = d == axis || t->dims[d] == f->dims[d];
        if (!ok)
            return imp_fail(im, LSUV_ERROR_SHAPE, "constant inputs differ in type or beyond axis %d", axis);
        dims[axis] += t->dims[axis];
    }
    cval c;
    if ((st = cval_alloc(im, &c, f->is_int, f->ndim, dims)) != LSUV_OK)
        return st;
    int64_t outer = imp_numel(axis, dims), inner = imp_numel(f->ndim - axis - 1, dims + axis + 1), off = 0;
    for (size_t i = 0; i < o->n_input; i++) {
        imp_tensor *t = imp_input(im, (int)i, 1, &st);
        int64_t len = t->dims[axis];
        for (int64_t a = 0; a < outer; a++)
            for (int64_t k = 0; k < len * inner; k++)
                copy_elem(&c, (a * dims[axis] + off) * inner + k, t, a * len * inner + k);
        off += len;
    }
    return cval_set(im, 0, &c);
}

static lsuv_status cast(imp *im)
{
    lsuv_status st = LSUV_OK;
    imp_tensor *x = cin(im, 0, 1, &st);
    if (!x)
        return st;
    int64_t to = imp_attr_i(cur_node(im), "to", 0);
    int to_float = imp_is_float_type((int32_t)to);
    int to_bool = to == ONNX__TENSOR_PROTO__DATA_TYPE__BOOL;
    if (to == ONNX__TENSOR_PROTO__DATA_TYPE__STRING || to == ONNX__TENSOR_PROTO__DATA_TYPE__COMPLEX64 ||
        to == ONNX__TENSOR_PROTO__DATA_TYPE__COMPLEX128 || to == 0)
        return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "a cast to type %lld", (long long)to);
    cval c;
    if ((st = cval_alloc(im, &c, !to_float, x->ndim, x->dims)) != LSUV_OK)
        return st;
    int64_t n = imp_numel(x->ndim, x->dims);
    for (int64_t i = 0; i < n; i++) {
        if (to_float && ibat(x, i)) {
            cval_free(&c);
            return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "'%s' depends on the batch size and is cast to float",
                            x->name);
        }
        if (to_float)
            c.f[i] = (float)fval(x, i);
        else if (to_bool)
            c.iv[i] = x->is_int ? (x->iv[i] != 0 || ibat(x, i) != 0) : x->f[i] != 0;
        else if (x->is_int) {
            c.iv[i] = x->iv[i];
            c.ib[i] = ibat(x, i);
        } else {
            if (!isfinite(x->f[i]) || fabs(x->f[i]) > 9.2e18) {
                cval_free(&c);
                return imp_fail(im, LSUV_ERROR_FORMAT, "value %g does not fit an integer", (double)x->f[i]);
            }
            c.iv[i] = (int64_t)x->f[i]; /* toward zero, as C and the ONNX runtime do */
        }
    }
    return cval_set(im, 0, &c);
}

/* ------------------------------------------------------------ arithmetic */

static lsuv_status arith(imp *im)
{
    lsuv_status st = LSUV_OK;
    imp_tensor *a = cin(im, 0, 1, &st), *b = a ? cin(im, 1, 1, &st) : NULL;
    if (!b)
        return st;
    int add = op_is(im, "Add"), sub = op_is(im, "Sub"), mul = op_is(im, "Mul");
    int rank = a->ndim > b->ndim ? a->ndim : b->ndim;
    int64_t dims[LSUV_MAX_DIMS], ad[LSUV_MAX_DIMS], bd[LSUV_MAX_DIMS];
    for (int d = 0; d < rank; d++) {
        ad[d] = d < rank - a->ndim ? 1 : a->dims[d - (rank - a->ndim)];
        bd[d] = d < rank - b->ndim ? 1 : b->dims[d - (rank - b->ndim)];
        if (ad[d] != bd[d] && ad[d] != 1 && bd[d] != 1)
            return imp_fail(im, LSUV_ERROR_SHAPE, "constant shapes do not broadcast at axis %d (%lld vs %lld)", d,
                            (long long)ad[d], (long long)bd[d]);
        dims[d] = ad[d] > bd[d] ? ad[d] : bd[d];
    }
    int is_int = a->is_int && b->is_int;
    cval c;
    if ((st = cval_alloc(im, &c, is_int, rank, dims)) != LSUV_OK)
        return st;
    int64_t as[LSUV_MAX_DIMS], bs[LSUV_MAX_DIMS], n = imp_numel(rank, dims);
    strides_of(rank, ad, as);
    strides_of(rank, bd, bs);
    for (int64_t j = 0; j < n; j++) {
        int64_t rem = j, ia = 0, ib = 0;
        for (int d = rank - 1; d >= 0; d--) {
            int64_t i = rem % dims[d];
            rem /= dims[d];
            ia += (ad[d] == 1 ? 0 : i) * as[d];
            ib += (bd[d] == 1 ? 0 : i) * bs[d];
        }
        if (!is_int) {
            if (ibat(a, ia) || ibat(b, ib))
                goto batch_fail;
            double x = fval(a, ia), y = fval(b, ib);
            c.f[j] = (float)(add ? x + y : sub ? x - y : mul ? x * y : x / y);
            continue;
        }
        int64_t xv = a->iv[ia], xb = ibat(a, ia), yv = b->iv[ib], yb = ibat(b, ib);
        if (add || sub) {
            c.iv[j] = add ? xv + yv : xv - yv;
            c.ib[j] = add ? xb + yb : xb - yb;
        } else if (mul) {
            if (xb && yb)
                goto batch_fail;
            c.iv[j] = xv * yv;
            c.ib[j] = xb * yv + yb * xv;
        } else {
            if (yb || yv == 0 || (xb && (xb % yv || xv % yv)))
                goto batch_fail;
            c.iv[j] = xv / yv; /* truncating, as the ONNX runtime does */
            c.ib[j] = xb / yv;
        }
    }
    return cval_set(im, 0, &c);
batch_fail:
    cval_free(&c);
    return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "integer arithmetic on the batch size that lsuv-vk cannot keep exact "
                    "(a product of two batch sizes, a division by zero or one that does not divide)");
}

/* ------------------------------------------------------------ dispatch */

lsuv_status imp_fold(imp *im)
{
    if (op_is(im, "Constant"))
        return constant(im);
    if (op_is(im, "ConstantOfShape"))
        return constant_of_shape(im);
    if (op_is(im, "Range"))
        return range(im);
    if (op_is(im, "Add") || op_is(im, "Sub") || op_is(im, "Mul") || op_is(im, "Div"))
        return arith(im);
    if (op_is(im, "Gather"))
        return gather(im);
    if (op_is(im, "Slice"))
        return slice(im);
    if (op_is(im, "Concat"))
        return concat(im);
    if (op_is(im, "Cast"))
        return cast(im);
    lsuv_status st = LSUV_OK;
    if (op_is(im, "Reshape") || op_is(im, "Flatten") || op_is(im, "Squeeze") || op_is(im, "Unsqueeze") ||
        op_is(im, "Identity") || op_is(im, "Dropout")) {
        imp_tensor *x = cin(im, 0, 1, &st);
        return x ? reshape_like(im, x) : st;
    }
    return imp_fail(im, LSUV_ERROR_UNSUPPORTED, "all its inputs are constants; lsuv-vk folds only shape arithmetic "
                    "(Shape, Gather, Slice, Concat, Unsqueeze, Squeeze, Reshape, Cast, Constant, ConstantOfShape, "
                    "Range, Add, Sub, Mul, Div)");
}
