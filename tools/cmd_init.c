/* cmd_init.c - `lsuv-vk init`: LSUV on real data, weights written as safetensors (or, for
 * an ONNX model, as the model itself with its LSUV layers' tensors rewritten). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "model_open.h"
#include "zoo.h"

static const char init_usage[] =
    "usage: lsuv-vk init --model NAME --data FILE -o OUT.safetensors|OUT.onnx [--batches K] [--batch N]\n"
    "                    [--tol T] [--tmax M] [--measure pre|post] [--seed S] [--act A]\n"
    "                    [--center] [--standardize] [--keep-weights] [--device D]\n"
    "\n"
    "  --model NAME     %s, or an ONNX file (*.onnx)\n"
    "  --data FILE      .npy (N x F or N x C x H x W; float, integer or bool, any byte or memory\n"
    "                   order: converted to float32) or IDX images (plain or .gz);\n"
    "                   samples whose size matches the model's input are reshaped to it\n"
    "  --batches K      K batches, a fresh one per try, round-robin (default 1: one fixed batch)\n"
    "  --batch N        samples per batch (default: all samples / K)\n"
    "  --tol T          tolerance on |Var - 1| (default 0.1)\n"
    "  --tmax M         at most M rescales per layer (default 10)\n"
    "  --measure pre|post  variance before (default) or after the layer's activation\n"
    "  --seed S         seed of the orthonormal pre-init (default 0)\n"
    "  --act A          activation of mlp20/fitnet4 (relu, tanh, sigmoid, leaky_relu, vlrelu,\n"
    "                   elu, gelu, silu, prelu)\n"
    "  --center         set each bias so the layer's output channels have mean 0\n"
    "  --standardize    shift and scale the data to mean 0, variance 1 first\n"
    "  --keep-weights   no orthonormal pre-init: LSUV rescales the default (LeCun-normal) weights\n"
    "  -o FILE          output (written atomically: a temporary file, then rename): .onnx (ONNX\n"
    "                   models only) is the model with its LSUV layers' tensors rewritten (external\n"
    "                   data into FILE.data beside it); any other name gets safetensors, named as\n"
    "                   the model's tensors (ONNX: initializers and the Identity names over them)\n";

static void progress(void *user, int layer, int layers, const char *name)
{
    (void)user;
    fprintf(stderr, "\rlayer %d of %d: %-32s", layer + 1, layers, name);
    fflush(stderr);
}

enum { OPT_DATA = CLI_OPT_COMMAND, OPT_OUTPUT, OPT_BATCHES, OPT_BATCH, OPT_TMAX, OPT_SEED, OPT_TOL, OPT_CENTER,
       OPT_STANDARDIZE };

static cli_parse_status init_option(cli_args *a, int val, const char *v, const char *opt)
{
    long n = 0;
    cli_parse_status st = CLI_RUN;
    switch (val) {
    case OPT_DATA: a->data = v; break;
    case 'o':
    case OPT_OUTPUT: a->out = v; break;
    case OPT_BATCHES:
        if ((st = cli_int(a, opt, v, 1, 1 << 20, &n)) == CLI_RUN)
            a->lsuv.batches = (int)n;
        break;
    case OPT_BATCH:
        if ((st = cli_int(a, opt, v, 1, 1 << 24, &n)) == CLI_RUN)
            a->lsuv.batch = (int)n;
        break;
    case OPT_TMAX:
        if ((st = cli_int(a, opt, v, 0, 1000, &n)) == CLI_RUN)
            a->lsuv.t_max = (int)n;
        break;
    case OPT_SEED:
        if ((st = cli_int(a, opt, v, 0, 0x7fffffffL, &n)) == CLI_RUN)
            a->lsuv.seed = (uint64_t)n;
        break;
    case OPT_TOL: st = cli_double(a, opt, v, 1e-9, 0.999999, &a->lsuv.tol_var); break;
    case OPT_CENTER: a->lsuv.center = 1; break;
    case OPT_STANDARDIZE: a->standardize = 1; break;
    default: st = cli_usage_error(a, "init: option %s is not handled", opt); /* a table/switch mismatch */
    }
    return st;
}

static cli_parse_status init_parse(int argc, char **argv, cli_args *a)
{
    static const struct option opts[] = {
        {"data", required_argument, NULL, OPT_DATA},
        {"output", required_argument, NULL, OPT_OUTPUT},
        {"batches", required_argument, NULL, OPT_BATCHES},
        {"batch", required_argument, NULL, OPT_BATCH},
        {"tmax", required_argument, NULL, OPT_TMAX},
        {"seed", required_argument, NULL, OPT_SEED},
        {"tol", required_argument, NULL, OPT_TOL},
        {"center", no_argument, NULL, OPT_CENTER},
        {"standardize", no_argument, NULL, OPT_STANDARDIZE},
        {0},
    };
    cli_parse_status st = cli_getopt(argc, argv, a, "init", "o:", opts, 1, init_option);
    if (st != CLI_RUN)
        return st;
    if (!a->model || !a->data || !a->out)
        return cli_usage_error(a, "init: --model, --data and -o are required (see lsuv-vk init --help)");
    if (path_has_ext(a->out, ".onnx") && !model_is_onnx(a->model))
        return cli_usage_error(a, "init: -o %s: ONNX output is for ONNX models (--model FILE.onnx); write the zoo "
                               "model's weights as .safetensors", a->out);
    return cli_check_model(a, "init");
}

static void init_usage_print(FILE *f)
{
    fprintf(f, init_usage, zoo_names());
}

static int init_run(const cli_args *a)
{
    const char *model = a->model, *data_path = a->data, *out = a->out;
    int standardize = a->standardize;
    lsuv_options o = a->lsuv;
    int64_t dims[LSUV_MAX_RANK];
    int ndim = 0, onnx_out = path_has_ext(out, ".onnx");

    /* fail before the work, not after it, when the output cannot be written */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", out);
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[slash == dir ? 1 : 0] = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    if (access(dir, W_OK) != 0)
        return cli_error(1, "init: cannot write %s: folder %s is missing or not writable", out, dir);

    lsuv_context *ctx;
    if (cli_context(a->device, &ctx))
        return 1;
    lsuv_net *net = NULL;
    lsuv_data *data = NULL;
    lsuv_report *rep = NULL;
    int rc = model_open(ctx, "init", model, a->act, &net, &ndim, dims) ||
             model_data_load(ctx, "init", data_path, model, ndim, dims, &data);
    lsuv_status st;
    if (rc)
        goto done;
    if (standardize && (st = lsuv_data_standardize(ctx, data)) != LSUV_OK) {
        rc = cli_error(1, "init: %s", lsuv_context_last_error(ctx));
        goto done;
    }
    if (isatty(2))
        o.progress = progress;
    st = lsuv_init(net, data, &o, &rep);
    if (o.progress)
        fputc('\n', stderr);
    if (st != LSUV_OK) {
        rc = cli_error(1, "init: %s: %s", lsuv_status_string(st), lsuv_context_last_error(ctx));
        goto done;
    }
    if ((st = onnx_out ? lsuv_net_save_onnx(net, out) : lsuv_net_save(net, out)) != LSUV_OK) {
        rc = cli_error(1, "init: writing %s: %s", out, lsuv_context_last_error(ctx));
        goto done;
    }
    printf("model %s, %d batch(es) of %lld samples from %s, device %s\n", model, rep->batches,
           (long long)rep->samples_per_batch, data_path, lsuv_context_device(ctx)->name);
    report_print_table(stdout, rep);
    if (onnx_out)
        printf("wrote %s (the model, %d LSUV layers rewritten), %.3f s\n", out, rep->layer_count, rep->time_total_s);
    else
        printf("wrote %s (%d tensors), %.3f s\n", out, lsuv_net_param_count(net), rep->time_total_s);
done:
    lsuv_report_free(rep);
    lsuv_data_free(data);
    lsuv_net_destroy(net);
    lsuv_context_destroy(ctx);
    return rc;
}

const cli_command cli_init = {"init", init_parse, init_usage_print, init_run};
