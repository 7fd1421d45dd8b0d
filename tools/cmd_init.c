/* cmd_init.c - `lsuv-vk init`: LSUV on real data, weights written as safetensors. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "zoo.h"

static const char init_usage[] =
    "usage: lsuv-vk init --model NAME --data FILE -o OUT.safetensors [--batches K] [--batch N]\n"
    "                    [--tol T] [--tmax M] [--measure pre|post] [--seed S] [--act A]\n"
    "                    [--center] [--standardize] [--keep-weights] [--device D]\n"
    "\n"
    "  --model NAME     %s\n"
    "  --data FILE      float32 .npy (N x F or N x C x H x W) or IDX images (plain or .gz);\n"
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
    "  -o FILE          output (written atomically: a temporary file, then rename)\n";

static void progress(void *user, int layer, int layers, const char *name)
{
    (void)user;
    fprintf(stderr, "\rlayer %d of %d: %-32s", layer + 1, layers, name);
    fflush(stderr);
}

int cmd_init(int argc, char **argv)
{
    const char *data_path = NULL, *out = NULL;
    cli_shared sh = {0};
    int standardize = 0;
    lsuv_options o;
    lsuv_options_init(&o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        int rc = cli_shared_option(&sh, &o, argc, argv, &i);
        if (rc >= 0) {
            if (rc)
                return rc;
            continue;
        }
        rc = 0;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
            return printf(init_usage, zoo_names()), 0;
        else if (strcmp(a, "--data") == 0 && v)
            data_path = argv[++i];
        else if ((strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) && v)
            out = argv[++i];
        else if (strcmp(a, "--batches") == 0) {
            if (!(rc = cli_int(a, v, 1, 1 << 20, &n)))
                o.batches = (int)n;
            i++;
        } else if (strcmp(a, "--batch") == 0) {
            if (!(rc = cli_int(a, v, 1, 1 << 24, &n)))
                o.batch = (int)n;
            i++;
        } else if (strcmp(a, "--tmax") == 0) {
            if (!(rc = cli_int(a, v, 0, 1000, &n)))
                o.t_max = (int)n;
            i++;
        } else if (strcmp(a, "--seed") == 0) {
            if (!(rc = cli_int(a, v, 0, 0x7fffffffL, &n)))
                o.seed = (uint64_t)n;
            i++;
        } else if (strcmp(a, "--tol") == 0) {
            rc = cli_double(a, v, 1e-9, 0.999999, &o.tol_var);
            i++;
        } else if (strcmp(a, "--center") == 0)
            o.center = 1;
        else if (strcmp(a, "--standardize") == 0)
            standardize = 1;
        else
            return cli_error(2, "init: unknown option or missing value: '%s' (see lsuv-vk init --help)", a);
        if (rc)
            return rc;
    }
    const char *model = sh.model, *act = sh.act;
    if (!model || !data_path || !out)
        return cli_error(2, "init: --model, --data and -o are required (see lsuv-vk init --help)");
    int64_t dims[3];
    int ndim = zoo_input_shape(model, dims);
    if (!ndim)
        return cli_error(2, "init: unknown model '%s' (%s)", model, zoo_names());
    lsuv_activation parsed;
    float param;
    if (act && zoo_parse_activation(act, &parsed, &param) != 0)
        return cli_error(2, "init: unknown activation '%s'", act);

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
    if (cli_context(sh.device, &ctx))
        return 1;
    lsuv_net *net = NULL;
    lsuv_data *data = NULL;
    lsuv_report *rep = NULL;
    int rc = 0;
    lsuv_status st = lsuv_data_load(ctx, data_path, &data);
    if (st != LSUV_OK) {
        rc = cli_error(1, "init: %s", lsuv_context_last_error(ctx));
        goto done;
    }
    int64_t want = 1, have = 1;
    for (int i = 0; i < ndim; i++)
        want *= dims[i];
    for (int i = 0; i < data->ndim; i++)
        have *= data->dims[i];
    if (want != have) {
        rc = cli_error(1, "init: %s holds samples of %lld values; model %s takes %lld", data_path, (long long)have,
                       model, (long long)want);
        goto done;
    }
    data->ndim = ndim; /* same size: reshape (e.g. 1x28x28 images for the 784-input mlp20) */
    memcpy(data->dims, dims, sizeof dims);
    if (standardize && (st = lsuv_data_standardize(ctx, data)) != LSUV_OK) {
        rc = cli_error(1, "init: %s", lsuv_context_last_error(ctx));
        goto done;
    }
    if ((st = zoo_build(ctx, model, act, &net)) != LSUV_OK) {
        rc = cli_error(1, "init: model %s: %s", model, lsuv_context_last_error(ctx));
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
    if ((st = lsuv_net_save(net, out)) != LSUV_OK) {
        rc = cli_error(1, "init: writing %s: %s", out, lsuv_context_last_error(ctx));
        goto done;
    }
    printf("model %s, %d batch(es) of %lld samples from %s, device %s\n", model, rep->batches,
           (long long)rep->samples_per_batch, data_path, lsuv_context_device(ctx)->name);
    report_print_table(stdout, rep);
    printf("wrote %s (%d tensors), %.3f s\n", out, lsuv_net_param_count(net), rep->time_total_s);
done:
    lsuv_report_free(rep);
    lsuv_data_free(data);
    lsuv_net_destroy(net);
    lsuv_context_destroy(ctx);
    return rc;
}
