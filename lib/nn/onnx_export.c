/* onnx_export.c - a network loaded from ONNX, written back: lsuv_net_save_onnx turns the
 * parameters of LSUV layers (and their unshared copies) into edits of the source model
 * (formats/onnx_model.c writes them), and lsuv_net_save names merged tensors under each
 * of their ONNX names.
 *
 * Values are fetched one tensor at a time while the writer packs the model, so the host
 * holds the model as read plus one tensor, not a second copy of every weight. */
#include <stdlib.h>
#include <string.h>

#include "nn/onnx_export.h"
#include "nn/onnx_net.h"

static lsuv_onnx_source *onnx_source(const lsuv_net *net)
{
    return net && net->source && net->source_free == lsuv_onnx_source_free ? net->source : NULL;
}

int lsuv_onnx_alias_count(const lsuv_net *net)
{
    const lsuv_onnx_source *s = onnx_source(net);
    return s ? s->alias_count : 0;
}

static int name_taken(const lsuv_st_tensor *t, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++)
        if (!strcmp(t[i].name, name))
            return 1;
    return 0;
}

size_t lsuv_onnx_append_aliases(const lsuv_net *net, lsuv_st_tensor *t, size_t count)
{
    const lsuv_onnx_source *s = onnx_source(net);
    for (int i = 0; s && i < s->alias_count; i++) {
        const lsuv_onnx_alias *a = &s->aliases[i];
        if (a->param < 0 || a->param >= net->param_count || name_taken(t, count, a->name))
            continue;
        t[count] = t[a->param];
        t[count++].name = a->name;
    }
    return count;
}

typedef struct export_job {
    lsuv_net *net;
    const lsuv_onnx_param_src **srcs; /* one per edit */
} export_job;

/* The writer's fetch: a parameter's device values in the file's layout. */
static lsuv_status fetch_param(void *user, size_t index, float *dst, char *err, size_t err_size)
{
    export_job *job = user;
    lsuv_net *net = job->net;
    const lsuv_onnx_param_src *ps = job->srcs[index];
    const lsuv_param *p = &net->params[ps->param];
    int64_t n = p->numel;
    float *dev = ps->transposed ? malloc((size_t)(n ? n : 1) * sizeof *dev) : dst;
    lsuv_status st = dev ? lsuv_net_get_param(net, p->name, dev, n)
                         : lsuv_fail(net->ctx, LSUV_ERROR_OUT_OF_HOST_MEMORY, "%s: out of host memory", p->name);
    if (st == LSUV_OK && ps->transposed) {
        /* the device holds (out, in); the file (in, out): MatMul, Gemm with transB = 0 */
        int64_t rows = ps->file_dims[0], cols = ps->file_dims[1];
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < cols; c++)
                dst[r * cols + c] = dev[c * rows + r];
    }
    if (ps->transposed)
        free(dev);
    if (st == LSUV_OK && ps->file_scale != 1.0)
        for (int64_t i = 0; i < n; i++) /* device = file_scale * file (Gemm alpha, beta) */
            dst[i] = (float)(dst[i] / ps->file_scale);
    if (st != LSUV_OK && err != net->ctx->error)
        snprintf(err, err_size, "%s", net->ctx->error);
    return st;
}

/* Checks that a written-back parameter fits its place in the file. */
static lsuv_status check_param_src(lsuv_net *net, const lsuv_onnx_param_src *ps)
{
    if (ps->param < 0 || ps->param >= net->param_count)
        return lsuv_fail(net->ctx, LSUV_ERROR_INVALID_ARGUMENT, "save_onnx: source names parameter %d of %d",
                         ps->param, net->param_count);
    const lsuv_param *p = &net->params[ps->param];
    int64_t n = 1;
    for (int d = 0; d < ps->file_ndim; d++)
        n *= ps->file_dims[d];
    if (p->dtype != LSUV_DTYPE_F32 || n != p->numel || ps->file_ndim < 0 || ps->file_ndim > LSUV_MAX_DIMS ||
        (ps->transposed && ps->file_ndim != 2))
        return lsuv_fail(net->ctx, LSUV_ERROR_SHAPE,
                         "save_onnx: parameter %s (%lld values) does not fit its tensor in the file (%d axes, %lld "
                         "values%s)", p->name, (long long)p->numel, ps->file_ndim, (long long)n,
                         ps->transposed ? ", transposed" : "");
    /* the writer tells edits of existing initializers from new ones by name */
    const Onnx__GraphProto *g = onnx_source(net)->model->proto->graph;
    int exists = 0;
    for (size_t i = 0; i < g->n_initializer && !exists; i++)
        exists = g->initializer[i]->name && !strcmp(g->initializer[i]->name, p->name);
    if (exists == ps->is_new)
        return lsuv_fail(net->ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "save_onnx: parameter %s is %s, but the file %s an initializer of that name", p->name,
                         ps->is_new ? "an unshared copy" : "read from the file", exists ? "has" : "has no");
    if (!(ps->file_scale != 0.0)) /* Gemm beta = 0: the file's C cannot express a bias */
        return lsuv_fail(net->ctx, LSUV_ERROR_UNSUPPORTED,
                         "save_onnx: parameter %s is scaled by 0 in the file (Gemm alpha or beta 0); its new values "
                         "cannot be written back", p->name);
    return LSUV_OK;
}

lsuv_status lsuv_net_save_onnx(lsuv_net *net, const char *path)
{
    if (!net)
        return LSUV_ERROR_INVALID_ARGUMENT;
    lsuv_onnx_source *s = onnx_source(net);
    if (!s)
        return lsuv_fail(net->ctx, LSUV_ERROR_INVALID_ARGUMENT,
                         "save_onnx: this network was not loaded from ONNX (lsuv_net_save writes safetensors)");
    if (!path || !*path)
        return lsuv_fail(net->ctx, LSUV_ERROR_INVALID_ARGUMENT, "save_onnx: no output path given");
    int count = 0;
    for (int i = 0; i < s->param_count; i++)
        count += s->params[i].lsuv;
    lsuv_onnx_tensor_out *tensors = calloc((size_t)count + 1, sizeof *tensors);
    const lsuv_onnx_param_src **srcs = calloc((size_t)count + 1, sizeof *srcs);
    lsuv_status st = tensors && srcs ? LSUV_OK : lsuv_fail(net->ctx, LSUV_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    /* Only LSUV layers' tensors change: other initializers are written as they were read. */
    int k = 0;
    for (int i = 0; st == LSUV_OK && i < s->param_count; i++) {
        const lsuv_onnx_param_src *ps = &s->params[i];
        if (!ps->lsuv)
            continue;
        if ((st = check_param_src(net, ps)) != LSUV_OK)
            break;
        /* a param keeps its initializer's name; an unshared copy is a new initializer
         * named like the param (the writer tells them apart by name) */
        tensors[k].name = net->params[ps->param].name;
        tensors[k].ndim = ps->file_ndim;
        memcpy(tensors[k].dims, ps->file_dims, (size_t)ps->file_ndim * sizeof *ps->file_dims);
        tensors[k].values = NULL;
        srcs[k++] = ps;
    }
    if (st == LSUV_OK) {
        export_job job = {net, srcs};
        lsuv_onnx_edits ed = {tensors, (size_t)k, s->renames, (size_t)s->rename_count, s->drop_nodes,
                              (size_t)s->drop_count, fetch_param, &job};
        net->ctx->error[0] = '\0';
        st = lsuv_onnx_write(s->model, &ed, path, net->ctx->error, sizeof net->ctx->error);
    }
    free(tensors);
    free(srcs);
    return st;
}
