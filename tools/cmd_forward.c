/* cmd_forward.c - `lsuv-vk forward`: runs a network on data and writes the output of the
 * graph (or of one node) as float32 .npy, to compare with another framework's forward. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "formats/formats.h"
#include "model_open.h"
#include "nn/net.h"
#include "zoo.h"
static const char forward_usage[] =
    "usage: lsuv-vk forward --model NAME --data FILE -o OUT.npy [--weights W.safetensors|W.onnx]\n"
    "                       [--layer NODE] [--device D]\n"
    "\n"
    "Runs the network on all samples of FILE in one batch and writes the output as float32\n"
    ".npy (samples first). Parameters are not changed.\n"
    "  --model NAME     %s, or an ONNX file (*.onnx)\n"
    "  --data FILE      float32 .npy or IDX images, samples reshaped to the model's input\n"
    "  --weights W      parameter values by name: safetensors (as `init` writes them) or an\n"
    "                   ONNX model (e.g. init's -o OUT.onnx); parameters W lacks keep theirs\n"
    "  --layer NODE     write this node's output instead (ONNX: node name, or its output's\n"
    "                   name when the node has none)\n"
    "  -o FILE          output .npy (written atomically)\n";

enum { OPT_DATA = CLI_OPT_COMMAND, OPT_OUTPUT, OPT_WEIGHTS, OPT_LAYER };

static cli_parse_status forward_option(cli_args *a, int val, const char *v, const char *opt)
{
    switch (val) {
    case OPT_DATA: a->data = v; return CLI_RUN;
    case 'o':
    case OPT_OUTPUT: a->out = v; return CLI_RUN;
    case OPT_WEIGHTS: a->weights = v; return CLI_RUN;
    case OPT_LAYER: a->layer = v; return CLI_RUN;
    }
    return cli_usage_error(a, "forward: option %s is not handled", opt); /* a table/switch mismatch */
}

static cli_parse_status forward_parse(int argc, char **argv, cli_args *a)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, CLI_OPT_MODEL},
        {"device", required_argument, NULL, CLI_OPT_DEVICE},
        {"data", required_argument, NULL, OPT_DATA},
        {"output", required_argument, NULL, OPT_OUTPUT},
        {"weights", required_argument, NULL, OPT_WEIGHTS},
        {"layer", required_argument, NULL, OPT_LAYER},
        {0},
    };
    cli_parse_status st = cli_getopt(argc, argv, a, "forward", "o:", opts, 0, forward_option);
    if (st != CLI_RUN)
        return st;
    if (!a->model || !a->data || !a->out)
        return cli_usage_error(a, "forward: --model, --data and -o are required (see lsuv-vk forward --help)");
    if (a->weights && !path_has_ext(a->weights, ".onnx") && !path_has_ext(a->weights, ".safetensors"))
        return cli_usage_error(a, "forward: --weights %s: expected a .safetensors or .onnx file", a->weights);
    return cli_check_model(a, "forward");
}

static void forward_usage_print(FILE *f)
{
    fprintf(f, forward_usage, zoo_names());
}

/* Copies into net every parameter `from` has under the same name and size. */
static int copy_params(lsuv_net *net, lsuv_net *from, const char *weights, int *copied)
{
    *copied = 0;
    for (int i = 0; i < net->param_count; i++) {
        const lsuv_param *p = &net->params[i];
        int64_t n;
        const char *name;
        int j = 0;
        for (; j < from->param_count; j++)
            if (!strcmp(from->params[j].name, p->name))
                break;
        if (j == from->param_count || p->dtype != LSUV_DTYPE_F32)
            continue;
        if (lsuv_net_param_info(from, j, &name, NULL, NULL, &n) != LSUV_OK || n != p->numel)
            return cli_error(1, "forward: %s: parameter %s has %lld values; the model's has %lld", weights, p->name,
                             (long long)n, (long long)p->numel);
        float *v = malloc((size_t)(n ? n : 1) * sizeof *v);
        lsuv_status st = v ? lsuv_net_get_param(from, name, v, n) : LSUV_ERROR_OUT_OF_HOST_MEMORY;
        if (st == LSUV_OK)
            st = lsuv_net_set_param(net, p->name, v, n);
        free(v);
        if (st != LSUV_OK)
            return cli_error(1, "forward: %s: parameter %s: %s", weights, p->name, lsuv_context_last_error(net->ctx));
        (*copied)++;
    }
    return 0;
}

/* Sets the parameters a safetensors file names (F32 tensors of the same size). */
static int load_safetensors(lsuv_net *net, const char *weights, int *copied)
{
    *copied = 0;
    lsuv_st_tensor *t = NULL;
    size_t count = 0;
    char err[1024];
    if (lsuv_safetensors_read(weights, &t, &count, err, sizeof err) != LSUV_OK)
        return cli_error(1, "forward: %s", err);
    int rc = 0;
    for (size_t k = 0; k < count && !rc; k++) {
        int i = 0;
        for (; i < net->param_count; i++)
            if (!strcmp(net->params[i].name, t[k].name))
                break;
        if (i == net->param_count || t[k].dtype != LSUV_DTYPE_F32)
            continue; /* e.g. a second (alias) name of a merged tensor, or an integer buffer */
        int64_t n = 1;
        for (int d = 0; d < t[k].ndim; d++)
            n *= t[k].shape[d];
        if (n != net->params[i].numel)
            rc = cli_error(1, "forward: %s: tensor %s has %lld values; the model's parameter has %lld", weights,
                           t[k].name, (long long)n, (long long)net->params[i].numel);
        else if (lsuv_net_set_param(net, t[k].name, t[k].data, n) != LSUV_OK)
            rc = cli_error(1, "forward: %s: %s", weights, lsuv_context_last_error(net->ctx));
        else
            (*copied)++;
    }
    lsuv_safetensors_free(t, count);
    return rc;
}

static int forward_run(const cli_args *a)
{
    lsuv_context *ctx;
    if (cli_context(a->device, &ctx))
        return 1;
    lsuv_net *net = NULL, *wnet = NULL;
    lsuv_data *data = NULL;
    float *out = NULL;
    int64_t dims[LSUV_MAX_RANK];
    int ndim = 0, copied = 0;
    int rc = model_open(ctx, "forward", a->model, NULL, &net, &ndim, dims) ||
             model_data_load(ctx, "forward", a->data, a->model, ndim, dims, &data);
    if (!rc && a->weights) {
        if (path_has_ext(a->weights, ".onnx")) /* the importer gives the device layout */
            rc = model_open(ctx, "forward", a->weights, NULL, &wnet, &ndim, dims) ||
                 copy_params(net, wnet, a->weights, &copied);
        else
            rc = load_safetensors(net, a->weights, &copied);
        if (!rc)
            fprintf(stderr, "lsuv-vk: forward: %d of %d parameters set from %s\n", copied, lsuv_net_param_count(net),
                    a->weights);
    }
    int node = net ? net->node_count - 1 : -1;
    if (!rc && a->layer && lsuv_net_find_node(net, a->layer, &node) != LSUV_OK)
        rc = cli_error(1, "forward: %s", lsuv_context_last_error(ctx));
    lsuv_host_array arr = {0};
    int64_t per = 1;
    if (!rc) {
        int ond = 0;
        lsuv_net_node_shape(net, node, &ond, arr.shape + 1);
        arr.ndim = ond + 1;
        arr.shape[0] = data->n;
        for (int d = 0; d < ond; d++)
            per *= arr.shape[1 + d];
        out = malloc((size_t)(data->n * per > 0 ? data->n * per : 1) * sizeof *out);
        if (!out)
            rc = cli_error(1, "forward: out of host memory for %lld outputs", (long long)(data->n * per));
    }
    lsuv_status st;
    if (!rc && (st = lsuv_net_forward(net, data, node, out, data->n * per)) != LSUV_OK)
        rc = cli_error(1, "forward: %s: %s", lsuv_status_string(st), lsuv_context_last_error(ctx));
    char err[1024];
    arr.data = out;
    if (!rc && lsuv_npy_write(a->out, &arr, err, sizeof err) != LSUV_OK)
        rc = cli_error(1, "forward: %s", err);
    if (!rc) {
        char shape[160];
        printf("wrote %s: %s %s\n", a->out, a->layer ? a->layer : "output",
               lsuv_shape_string(arr.ndim, arr.shape, shape, sizeof shape));
    }
    free(out);
    lsuv_data_free(data);
    lsuv_net_destroy(wnet);
    lsuv_net_destroy(net);
    lsuv_context_destroy(ctx);
    return rc;
}

const cli_command cli_forward = {"forward", forward_parse, forward_usage_print, forward_run};
