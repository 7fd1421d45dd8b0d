/* test_onnx.c - the ONNX importer and lsuv_net_forward, on models the suite generates at
 * test time (tests/onnx/gen_models.py: every supported op alone on odd shapes with a
 * float64 numpy reference; tests/onnx/gen_torch.py: PyTorch exports with PyTorch's own
 * forward as reference). LSUV_ONNX_TEST_DIR names the folder holding them and their
 * manifests. Outputs are poisoned with NaN before each forward. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/graph_run.h"
#include "nn/onnx_net.h"
#include "support.h"

static const char *dir(void)
{
    const char *d = getenv("LSUV_ONNX_TEST_DIR");
    cr_assert(d && *d, "LSUV_ONNX_TEST_DIR is not set (meson test sets it)");
    return d;
}

static char *path_of(const char *name, const char *ext)
{
    static char buf[4][1024]; /* test-only: a few paths alive at once */
    static int k;
    char *b = buf[k++ & 3];
    snprintf(b, sizeof buf[0], "%s/%s%s", dir(), name, ext);
    return b;
}

/* Whole file into memory (malloc'ed); NULL if it cannot be read. */
static void *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = malloc(n > 0 ? (size_t)n : 1);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return p;
}

typedef struct tcase {
    char kind[8], name[128], status[64], text[256], node[128];
    double tol;
    int64_t n;
    int ndim;
    int64_t dims[3];
} tcase;

/* Reads one manifest (absent: 0 cases, *skip set to its reason when it says so). */
static int read_manifest(const char *file, tcase *cases, int max, char *skip, size_t skip_size)
{
    char path[1024], line[1024];
    snprintf(path, sizeof path, "%s/%s", dir(), file);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int count = 0;
    while (fgets(line, sizeof line, f) && count < max) {
        tcase *c = &cases[count];
        memset(c, 0, sizeof *c);
        line[strcspn(line, "\n")] = 0;
        if (sscanf(line, "%7s", c->kind) != 1)
            continue;
        if (strcmp(c->kind, "skip") == 0) {
            snprintf(skip, skip_size, "%s", line + 5);
            continue;
        }
        if (strcmp(c->kind, "ok") == 0) {
            int used = 0;
            cr_assert(sscanf(line, "ok %127s %lf %lld %d%n", c->name, &c->tol, (long long *)&c->n, &c->ndim, &used) == 4,
                      "manifest line: %s", line);
            cr_assert(c->ndim >= 1 && c->ndim <= 3, "%s: %d axes", c->name, c->ndim);
            char *p = line + used;
            for (int i = 0; i < c->ndim; i++)
                c->dims[i] = strtoll(p, &p, 10);
        } else if (strcmp(c->kind, "bad") == 0) {
            int used = 0;
            cr_assert(sscanf(line, "bad %127s %63s %n", c->name, c->status, &used) == 2, "manifest line: %s", line);
            snprintf(c->text, sizeof c->text, "%s", line + used);
        } else if (strcmp(c->kind, "node") == 0) {
            cr_assert(sscanf(line, "node %127s %127s %lf", c->name, c->node, &c->tol) == 3, "manifest line: %s", line);
        } else {
            continue;
        }
        count++;
    }
    fclose(f);
    return count;
}

static lsuv_data *load_input(const tcase *c)
{
    int64_t per = 1;
    for (int i = 0; i < c->ndim; i++)
        per *= c->dims[i];
    size_t size = 0;
    float *v = slurp(path_of(c->name, ".in"), &size);
    cr_assert(v, "%s: no input file", c->name);
    cr_assert_eq(size, (size_t)(c->n * per) * 4, "%s: input file of %zu bytes", c->name, size);
    lsuv_data *d = calloc(1, sizeof *d);
    d->n = c->n;
    d->ndim = c->ndim;
    memcpy(d->dims, c->dims, sizeof d->dims);
    d->values = v;
    return d;
}

static void free_data(lsuv_data *d)
{
    if (d)
        free(d->values);
    free(d);
}

/* Forwards d through node of net (NaN-poisoned output), compares with ref. Returns the
 * relative L2 error (0 tolerance: every value must equal the float32 rounding of ref). */
static double forward_error(lsuv_net *net, const lsuv_data *d, int node, const double *ref, int64_t count,
                            double tol, const char *name)
{
    float *out = malloc((size_t)count * sizeof *out);
    for (int64_t i = 0; i < count; i++)
        out[i] = NAN;
    lsuv_status st = lsuv_net_forward(net, d, node, out, count);
    cr_expect_eq(st, LSUV_OK, "%s: forward: %s", name, lsuv_context_last_error(net->ctx));
    double err = st == LSUV_OK ? test_rel_error(out, ref, (size_t)count) : INFINITY;
    if (tol == 0 && st == LSUV_OK)
        for (int64_t i = 0; i < count; i++)
            if (out[i] != (float)ref[i]) {
                err = INFINITY;
                cr_log_error("%s: value %lld is %.9g, expected %.9g", name, (long long)i, (double)out[i], ref[i]);
                break;
            }
    free(out);
    return err;
}

static double *load_ref(const char *name, const char *ext, int64_t count)
{
    size_t size = 0;
    double *ref = slurp(path_of(name, ext), &size);
    cr_assert(ref, "%s: no reference file %s", name, ext);
    cr_assert_eq(size, (size_t)count * 8, "%s: reference of %zu bytes for %lld values", name, size, (long long)count);
    return ref;
}

/* Loads and runs every "ok" case of a manifest; returns how many ran. */
static int run_ok_cases(const char *manifest)
{
    static tcase cases[256];
    char skip[256] = "";
    int count = read_manifest(manifest, cases, 256, skip, sizeof skip);
    if (!count && *skip) {
        cr_log_warn("%s: skipped: %s", manifest, skip);
        return 0;
    }
    lsuv_context *ctx = test_context();
    int ran = 0;
    for (int i = 0; i < count; i++) {
        const tcase *c = &cases[i];
        if (strcmp(c->kind, "ok") != 0)
            continue;
        lsuv_net *net = NULL;
        lsuv_status st = lsuv_net_load_onnx(ctx, path_of(c->name, ".onnx"), &net);
        cr_expect_eq(st, LSUV_OK, "%s: load: %s", c->name, lsuv_context_last_error(ctx));
        if (st != LSUV_OK)
            continue;
        lsuv_data *d = load_input(c);
        const lsuv_node *out = &net->nodes[net->node_count - 1];
        int64_t count_out = c->n * lsuv_node_numel(out);
        double *ref = load_ref(c->name, ".ref", count_out);
        double err = forward_error(net, d, -1, ref, count_out, c->tol, c->name);
        cr_expect(err <= c->tol, "%s: relative error %.3g > %.3g", c->name, err, c->tol);
        /* intermediate nodes named in the manifest */
        for (int j = 0; j < count; j++) {
            const tcase *e = &cases[j];
            if (strcmp(e->kind, "node") != 0 || strcmp(e->name, c->name) != 0)
                continue;
            int node = -1;
            cr_expect_eq(lsuv_net_find_node(net, e->node, &node), LSUV_OK, "%s: find %s: %s", c->name, e->node,
                         lsuv_context_last_error(ctx));
            if (node < 0)
                continue;
            char ext[160];
            snprintf(ext, sizeof ext, ".%s.ref", e->node);
            int64_t cn = c->n * lsuv_node_numel(&net->nodes[node]);
            double *nref = load_ref(c->name, ext, cn);
            double nerr = forward_error(net, d, node, nref, cn, e->tol, e->node);
            cr_expect(nerr <= e->tol, "%s: node %s: relative error %.3g > %.3g", c->name, e->node, nerr, e->tol);
            free(nref);
        }
        free(ref);
        free_data(d);
        lsuv_net_destroy(net);
        ran++;
    }
    lsuv_context_destroy(ctx);
    return ran;
}

Test(onnx, every_op_alone_matches_numpy, .timeout = 600)
{
    int ran = run_ok_cases("manifest.txt");
    cr_assert(ran >= 60, "only %d generated cases ran", ran);
}

Test(onnx_torch, exports_match_pytorch_forward, .timeout = 900)
{
    run_ok_cases("manifest_torch.txt");
}

/* PyTorch's eval-mode export feeds one merged all-zero bias to many convs (directly and
 * through Identity nodes): after import no two LSUV layers share a parameter. */
Test(onnx_torch, eval_export_merged_biases_are_unshared)
{
    FILE *f = fopen(path_of("resnet18_eval", ".onnx"), "rb");
    if (!f) {
        cr_log_warn("no PyTorch exports here (see manifest_torch.txt)");
        return;
    }
    fclose(f);
    lsuv_context *ctx = test_context();
    lsuv_net *net = NULL;
    cr_assert_eq(lsuv_net_load_onnx(ctx, path_of("resnet18_eval", ".onnx"), &net), LSUV_OK, "%s",
                 lsuv_context_last_error(ctx));
    int *owner = calloc((size_t)net->param_count, sizeof *owner), layers = 0;
    for (int i = 0; i < net->node_count; i++) {
        const lsuv_node *n = &net->nodes[i];
        if (!lsuv_node_is_weight(n))
            continue;
        layers++;
        int ps[2] = {n->weight, n->bias};
        for (int k = 0; k < 2; k++)
            if (ps[k] >= 0) {
                cr_expect_eq(owner[ps[k]], 0, "%s and node %d share %s", n->name, owner[ps[k]] - 1,
                             net->params[ps[k]].name);
                owner[ps[k]] = i + 1;
            }
    }
    const lsuv_onnx_source *s = net->source;
    cr_expect_eq(layers, 21, "resnet18: 20 convs and the fc");
    cr_expect(s->rename_count + s->drop_count > 0, "the merged biases were unshared");
    free(owner);
    lsuv_net_destroy(net);
    lsuv_context_destroy(ctx);
}

Test(onnx, malformed_and_unsupported_models_are_refused_clearly)
{
    static tcase cases[256];
    char skip[256] = "";
    int count = read_manifest("manifest.txt", cases, 256, skip, sizeof skip), seen = 0;
    lsuv_context *ctx = test_context();
    for (int i = 0; i < count; i++) {
        const tcase *c = &cases[i];
        if (strcmp(c->kind, "bad") != 0)
            continue;
        lsuv_net *net = (lsuv_net *)&seen; /* must come back NULL */
        lsuv_status st = lsuv_net_load_onnx(ctx, path_of(c->name, ".onnx"), &net);
        const char *msg = lsuv_context_last_error(ctx);
        if (strcmp(c->status, "ANY") == 0)
            cr_expect_neq(st, LSUV_OK, "%s: loaded", c->name);
        else
            cr_expect_str_eq(lsuv_status_string(st), c->status, "%s: %s", c->name, msg);
        cr_expect(strstr(msg, c->text), "%s: message '%s' lacks '%s'", c->name, msg, c->text);
        cr_expect_null(net, "%s: *out not NULL on failure", c->name);
        seen++;
    }
    cr_assert(seen >= 10, "only %d bad cases", seen);
    /* the unsupported-op message names the op, the opset and what is supported */
    lsuv_net *net = NULL;
    cr_assert_eq(lsuv_net_load_onnx(ctx, path_of("bad_unsupported_op", ".onnx"), &net), LSUV_ERROR_UNSUPPORTED);
    const char *msg = lsuv_context_last_error(ctx);
    cr_expect(strstr(msg, "opset 13") && strstr(msg, "supported: ") && strstr(msg, "Conv") && strstr(msg, "Softmax"),
              "%s", msg);
    cr_expect_eq(lsuv_net_load_onnx(ctx, path_of("does_not_exist", ".onnx"), &net), LSUV_ERROR_IO, "%s",
                 lsuv_context_last_error(ctx));
    lsuv_context_destroy(ctx);
}

static const lsuv_onnx_param_src *src_of(const lsuv_net *net, const char *param)
{
    const lsuv_onnx_source *s = net->source;
    for (int i = 0; i < s->param_count; i++)
        if (strcmp(net->params[s->params[i].param].name, param) == 0)
            return &s->params[i];
    return NULL;
}

static int param_index(const lsuv_net *net, const char *name)
{
    for (int i = 0; i < net->param_count; i++)
        if (strcmp(net->params[i].name, name) == 0)
            return i;
    return -1;
}

Test(onnx, shared_tensors_get_their_own_copies)
{
    lsuv_context *ctx = test_context();
    lsuv_net *net = NULL;
    cr_assert_eq(lsuv_net_load_onnx(ctx, path_of("shared_initializers", ".onnx"), &net), LSUV_OK, "%s",
                 lsuv_context_last_error(ctx));
    const lsuv_onnx_source *s = net->source;
    cr_assert(s && net->source_free == lsuv_onnx_source_free);
    /* conv1 reads the shared bias directly: a derived copy, its input renamed; conv2 reads
     * the alias conv2.bias (nobody else does): the alias becomes the copy, its Identity goes;
     * w2 is read by conv2 directly and conv3 through an alias: the same two ways */
    int conv[3], k = 0;
    for (int i = 0; i < net->node_count && k < 3; i++)
        if (net->nodes[i].kind == LSUV_NODE_CONV2D)
            conv[k++] = i;
    cr_assert_eq(k, 3);
    cr_expect_str_eq(net->nodes[conv[0]].name, "conv1");
    cr_expect_str_eq(net->params[net->nodes[conv[0]].weight].name, "w1");
    cr_expect_str_eq(net->params[net->nodes[conv[0]].bias].name, "conv1.bias");
    cr_expect_str_eq(net->params[net->nodes[conv[1]].weight].name, "conv2.weight");
    cr_expect_str_eq(net->params[net->nodes[conv[1]].bias].name, "conv2.bias");
    cr_expect_str_eq(net->params[net->nodes[conv[2]].weight].name, "conv3.weight");
    cr_expect_eq(net->nodes[conv[2]].bias, -1);
    cr_expect(param_index(net, "zb4") >= 0, "the non-LSUV constant is a parameter too");
    cr_expect_eq(param_index(net, "zb"), -1, "nothing but LSUV layers reads zb: no parameter of its own");
    const lsuv_onnx_param_src *p = src_of(net, "w1");
    cr_expect(p && p->lsuv && !p->is_new && !p->transposed && p->file_scale == 1.0);
    p = src_of(net, "conv1.bias");
    cr_expect(p && p->lsuv && p->is_new);
    p = src_of(net, "conv2.bias");
    cr_expect(p && p->lsuv && p->is_new);
    p = src_of(net, "zb4");
    cr_expect(p && !p->lsuv && !p->is_new);
    cr_assert_eq(s->rename_count, 2);
    cr_expect(s->renames[0].node == 2 && s->renames[0].input == 2 && !strcmp(s->renames[0].name, "conv1.bias"));
    cr_expect(s->renames[1].node == 3 && s->renames[1].input == 1 && !strcmp(s->renames[1].name, "conv2.weight"));
    cr_assert_eq(s->drop_count, 2);
    cr_expect(s->drop_nodes[0] + s->drop_nodes[1] == 1, "the two Identity nodes (0 and 1) are dropped");
    cr_expect_eq(s->alias_count, 0, "both aliases became tensors of their own");
    /* LSUV rescales conv2's weight; conv3's copy keeps the file's values */
    float w2[16], w3[16];
    cr_assert_eq(lsuv_net_get_param(net, "conv2.weight", w2, 16), LSUV_OK);
    cr_assert_eq(lsuv_net_get_param(net, "conv3.weight", w3, 16), LSUV_OK);
    cr_expect_eq(memcmp(w2, w3, sizeof w2), 0, "both copies start from the file");
    test_rng r = {7};
    float *x = malloc(64 * 3 * 7 * 6 * sizeof *x);
    test_fill_normal(&r, x, 64 * 3 * 7 * 6, 0, 1);
    lsuv_data d = {.n = 64, .ndim = 3, .dims = {3, 7, 6}, .values = x};
    lsuv_options o;
    lsuv_options_init(&o);
    o.orthonormal = 0;
    lsuv_report *rep = NULL;
    cr_assert_eq(lsuv_init(net, &d, &o, &rep), LSUV_OK, "%s", lsuv_context_last_error(ctx));
    cr_expect_eq(rep->layer_count, 3);
    cr_expect_str_eq(rep->layers[1].weight, "conv2.weight");
    float w2b[16], w3b[16];
    cr_assert_eq(lsuv_net_get_param(net, "conv2.weight", w2b, 16), LSUV_OK);
    cr_assert_eq(lsuv_net_get_param(net, "conv3.weight", w3b, 16), LSUV_OK);
    cr_expect(fabs(w2b[0] / w2[0] - rep->layers[1].scale) < 1e-4 * fabs(rep->layers[1].scale),
              "conv2's copy scaled by %g: %g -> %g", rep->layers[1].scale, (double)w2[0], (double)w2b[0]);
    cr_expect(fabs(w3b[0] / w3[0] - rep->layers[2].scale) < 1e-4 * fabs(rep->layers[2].scale));
    /* each LSUV layer's output has unit variance on that batch, as measured by forward */
    for (int l = 0; l < 3; l++) {
        int64_t n = 64 * lsuv_node_numel(&net->nodes[conv[l]]);
        float *y = malloc((size_t)n * sizeof *y);
        cr_assert_eq(lsuv_net_forward(net, &d, conv[l], y, n), LSUV_OK, "%s", lsuv_context_last_error(ctx));
        double m = 0, v = 0;
        for (int64_t i = 0; i < n; i++)
            m += y[i];
        m /= (double)n;
        for (int64_t i = 0; i < n; i++)
            v += (y[i] - m) * (y[i] - m);
        v /= (double)n;
        cr_expect(fabs(v - 1) < o.tol_var || rep->layers[l].status != LSUV_LAYER_OK, "layer %d: variance %g", l, v);
        free(y);
    }
    lsuv_report_free(rep);
    free(x);
    lsuv_net_destroy(net);
    lsuv_context_destroy(ctx);
}

Test(onnx, parameters_keep_initializer_names_and_file_layout)
{
    lsuv_context *ctx = test_context();
    lsuv_net *net = NULL;
    cr_assert_eq(lsuv_net_load_onnx(ctx, path_of("gemm_alpha_beta", ".onnx"), &net), LSUV_OK, "%s",
                 lsuv_context_last_error(ctx));
    const lsuv_onnx_param_src *p = src_of(net, "B");
    cr_assert(p, "B is a parameter");
    cr_expect(p->lsuv && p->transposed && fabs(p->file_scale - 0.7) < 1e-7 && p->file_ndim == 2 &&
              p->file_dims[0] == 17 && p->file_dims[1] == 9, "B: transposed %d scale %g", p->transposed,
              p->file_scale);
    const lsuv_param *b = &net->params[param_index(net, "B")];
    cr_expect(b->ndim == 2 && b->shape[0] == 9 && b->shape[1] == 17, "device layout (out, in)");
    p = src_of(net, "C");
    cr_expect(p && p->lsuv && fabs(p->file_scale - 1.3) < 1e-7 && p->file_ndim == 2);
    lsuv_net_destroy(net);
    /* a scalar C is expanded: a bias of its own, named after the node, read by the Gemm */
    cr_assert_eq(lsuv_net_load_onnx(ctx, path_of("gemm_scalar_c", ".onnx"), &net), LSUV_OK);
    const lsuv_onnx_source *s = net->source;
    cr_assert_eq(s->rename_count, 1);
    p = src_of(net, s->renames[0].name);
    cr_expect(p && p->is_new && p->file_ndim == 1 && p->file_dims[0] == 9 && s->renames[0].input == 2);
    cr_expect_eq(param_index(net, "c"), -1);
    lsuv_net_destroy(net);
    /* MatMul + Add: one dense layer named after the MatMul, with the Add's bias */
    cr_assert_eq(lsuv_net_load_onnx(ctx, path_of("matmul_bias_rows", ".onnx"), &net), LSUV_OK);
    int node = -1;
    cr_assert_eq(lsuv_net_find_node(net, "mm", &node), LSUV_OK);
    const lsuv_node *n = &net->nodes[node];
    cr_expect(n->kind == LSUV_NODE_DENSE && n->rows == 5 && n->in_features == 17 && n->out_features == 9);
    cr_expect_str_eq(net->params[n->bias].name, "bias");
    cr_expect_eq(lsuv_net_find_node(net, "no such node", &node), LSUV_ERROR_NOT_FOUND);
    cr_expect(strstr(lsuv_context_last_error(ctx), "no such node"));
    lsuv_net_destroy(net);
    lsuv_context_destroy(ctx);
}

Test(onnx, from_memory_with_external_data)
{
    lsuv_context *ctx = test_context();
    size_t size = 0;
    void *bytes = slurp(path_of("external_data", ".onnx"), &size);
    cr_assert(bytes);
    lsuv_net *net = NULL;
    cr_assert_eq(lsuv_net_load_onnx_memory(ctx, bytes, size, dir(), &net), LSUV_OK, "%s",
                 lsuv_context_last_error(ctx));
    tcase c = {.n = 3, .ndim = 3, .dims = {3, 6, 5}};
    snprintf(c.name, sizeof c.name, "external_data");
    lsuv_data *d = load_input(&c);
    int64_t count = 3 * lsuv_node_numel(&net->nodes[net->node_count - 1]);
    double *ref = load_ref("external_data", ".ref", count);
    double err = forward_error(net, d, -1, ref, count, 1e-5, "external_data");
    cr_expect(err <= 1e-5, "relative error %g", err);
    /* wrong shapes and sizes are refused */
    float one;
    cr_expect_eq(lsuv_net_forward(net, d, -1, &one, 1), LSUV_ERROR_SHAPE);
    cr_expect_eq(lsuv_net_forward(net, d, net->node_count, &one, 1), LSUV_ERROR_INVALID_ARGUMENT);
    lsuv_data wrong = *d;
    wrong.dims[2] = 4;
    cr_expect_eq(lsuv_net_forward(net, &wrong, -1, &one, 1), LSUV_ERROR_SHAPE);
    lsuv_net_destroy(net);
    /* not protobuf at all */
    memset(bytes, 0xff, size > 64 ? 64 : size);
    net = (lsuv_net *)&size;
    cr_expect_eq(lsuv_net_load_onnx_memory(ctx, bytes, size > 64 ? 64 : size, dir(), &net), LSUV_ERROR_FORMAT);
    cr_expect_null(net);
    free(ref);
    free(bytes);
    free_data(d);
    lsuv_context_destroy(ctx);
}

Test(onnx, forward_runs_c_api_networks_too)
{
    lsuv_context *ctx = test_context();
    int64_t dims[1] = {13};
    lsuv_net *net = NULL;
    int h, y;
    cr_assert_eq(lsuv_net_create(ctx, 1, dims, &net), LSUV_OK);
    cr_assert_eq(lsuv_net_dense(net, "fc", 0, 7, 1, &h), LSUV_OK);
    cr_assert_eq(lsuv_net_activation(net, NULL, h, LSUV_ACT_TANH, 0, &y), LSUV_OK);
    test_rng r = {3};
    float w[7 * 13], b[7], x[5 * 13];
    test_fill_normal(&r, w, 7 * 13, 0, 0.3);
    test_fill_normal(&r, b, 7, 0, 1);
    test_fill_normal(&r, x, 5 * 13, 0, 1);
    cr_assert_eq(lsuv_net_set_param(net, "fc.weight", w, 7 * 13), LSUV_OK);
    cr_assert_eq(lsuv_net_set_param(net, "fc.bias", b, 7), LSUV_OK);
    double ref[35], pre[35];
    for (int n = 0; n < 5; n++)
        for (int o = 0; o < 7; o++) {
            double s = b[o];
            for (int i = 0; i < 13; i++)
                s += (double)w[o * 13 + i] * x[n * 13 + i];
            pre[n * 7 + o] = s;
            ref[n * 7 + o] = tanh(s);
        }
    lsuv_data d = {.n = 5, .ndim = 1, .dims = {13}, .values = x};
    cr_expect_leq(forward_error(net, &d, -1, ref, 35, 1e-6, "tanh"), 1e-6);
    cr_expect_leq(forward_error(net, &d, h, pre, 35, 1e-6, "fc"), 1e-6);
    int found;
    cr_expect_eq(lsuv_net_find_node(net, "fc", &found), LSUV_OK);
    cr_expect_eq(found, h);
    lsuv_net_destroy(net);
    lsuv_context_destroy(ctx);
}
