/* cmd_info.c - `lsuv-vk info`: what lsuv-vk makes of an ONNX model before any work: its
 * input, the layers LSUV will touch, the parameters, and the operators it cannot run. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "formats/onnx_model.h"
#include "model_open.h"
#include "nn/net.h"

static const char info_usage[] =
    "usage: lsuv-vk info --model FILE.onnx [--device D]\n"
    "\n"
    "Prints the model's input shape, the layers LSUV touches (Conv, Gemm and MatMul with an\n"
    "initializer weight, in execution order) with their weight shapes, and the parameter count.\n"
    "Exits 1 when the model uses operators lsuv-vk does not support (they are listed).\n";

static cli_parse_status info_parse(int argc, char **argv, cli_args *a)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, CLI_OPT_MODEL},
        {"device", required_argument, NULL, CLI_OPT_DEVICE},
        {0},
    };
    cli_parse_status st = cli_getopt(argc, argv, a, "info", NULL, opts, 0, NULL);
    if (st != CLI_RUN)
        return st;
    if (!a->model || !model_is_onnx(a->model))
        return cli_usage_error(a, "info: --model FILE.onnx is required (see lsuv-vk info --help)");
    return CLI_RUN;
}

static void info_usage_print(FILE *f)
{
    fputs(info_usage, f);
}

/* The graph's data input (the first input that is not an initializer) and its shape. */
static void print_input(const lsuv_onnx_model *m)
{
    const Onnx__GraphProto *g = m->proto->graph;
    for (size_t i = 0; i < g->n_input; i++) {
        const Onnx__ValueInfoProto *v = g->input[i];
        int is_init = 0;
        for (size_t k = 0; k < g->n_initializer && !is_init; k++)
            is_init = v->name && g->initializer[k]->name && !strcmp(v->name, g->initializer[k]->name);
        if (is_init)
            continue;
        printf("input %s: (", v->name ? v->name : "?");
        const Onnx__TypeProto__Tensor *t = v->type ? v->type->tensor_type : NULL;
        const Onnx__TensorShapeProto *s = t ? t->shape : NULL;
        for (size_t d = 0; s && d < s->n_dim; d++) {
            const Onnx__TensorShapeProto__Dimension *dim = s->dim[d];
            if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE)
                printf("%s%lld", d ? ", " : "", (long long)dim->dim_value);
            else
                printf("%s%s", d ? ", " : "",
                       dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM ? dim->dim_param : "?");
        }
        printf(")%s\n", s ? "" : " (no shape in the file)");
        return;
    }
    printf("input: none (every graph input is an initializer)\n");
}

static void print_layers(const lsuv_net *net)
{
    int layers = 0;
    for (int i = 0; i < net->node_count; i++)
        layers += (net->nodes[i].kind == LSUV_NODE_DENSE || net->nodes[i].kind == LSUV_NODE_CONV2D) &&
                  net->nodes[i].weight >= 0;
    printf("LSUV layers: %d, in execution order (weight shapes as (out, in, ...)):\n", layers);
    for (int i = 0, k = 0; i < net->node_count; i++) {
        const lsuv_node *n = &net->nodes[i];
        if (!((n->kind == LSUV_NODE_DENSE || n->kind == LSUV_NODE_CONV2D) && n->weight >= 0))
            continue;
        const lsuv_param *w = &net->params[n->weight];
        char ws[96], bs[96] = "none";
        lsuv_shape_string(w->ndim, w->shape, ws, sizeof ws);
        if (n->bias >= 0)
            lsuv_shape_string(net->params[n->bias].ndim, net->params[n->bias].shape, bs, sizeof bs);
        printf("  %3d  %-40s %-6s weight %-20s bias %s\n", ++k, n->name, n->kind == LSUV_NODE_CONV2D ? "conv" : "dense",
               ws, bs);
    }
}

static int info_run(const cli_args *a)
{
    lsuv_onnx_model *m = NULL;
    char err[1024];
    lsuv_status st = lsuv_onnx_read_file(a->model, &m, err, sizeof err);
    if (st != LSUV_OK)
        return cli_error(1, "info: %s: %s", lsuv_status_string(st), err);
    printf("model %s: IR version %lld, opset %lld, %zu nodes, %zu initializers%s%s\n", a->model,
           (long long)m->proto->ir_version, (long long)m->opset, m->proto->graph->n_node,
           m->proto->graph->n_initializer, m->proto->producer_name ? ", from " : "",
           m->proto->producer_name ? m->proto->producer_name : "");
    print_input(m);
    lsuv_onnx_free(m);

    lsuv_context *ctx;
    if (cli_context(a->device, &ctx))
        return 1;
    lsuv_net *net = NULL;
    int rc = 0;
    if ((st = lsuv_net_load_onnx(ctx, a->model, &net)) != LSUV_OK) {
        /* the importer names every unsupported node at once */
        rc = cli_error(1, "info: %s: %s: %s", a->model, lsuv_status_string(st), lsuv_context_last_error(ctx));
    } else {
        int ndim;
        int64_t dims[LSUV_MAX_RANK];
        char shape[160];
        lsuv_net_node_shape(net, 0, &ndim, dims);
        printf("per sample: %s (the batch size comes from the data)\n",
               lsuv_shape_string(ndim, dims, shape, sizeof shape));
        print_layers(net);
        int64_t values = 0;
        for (int i = 0; i < net->param_count; i++)
            values += net->params[i].numel;
        printf("parameters: %d tensors, %lld values\n", net->param_count, (long long)values);
        printf("all operators supported\n");
    }
    lsuv_net_destroy(net);
    lsuv_context_destroy(ctx);
    return rc;
}

const cli_command cli_info = {"info", info_parse, info_usage_print, info_run};
