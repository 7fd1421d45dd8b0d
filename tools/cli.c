/* cli.c - the command line of lsuv-vk: one getopt_long parser for every command, without
 * printing, so that main() and the fuzz target share it. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "model_open.h"
#include "zoo.h"

static const cli_command *const commands[] = {&cli_devices, &cli_bench, &cli_init, &cli_forward, &cli_info};

void cli_usage(FILE *f)
{
    fputs("usage: lsuv-vk <command> [options]\n"
          "\n"
          "LSUV initialization (Mishkin & Matas, 2015) of neural networks on Vulkan.\n"
          "\n"
          "commands:\n"
          "  devices                 list Vulkan devices and what lsuv-vk reads of them\n"
          "  bench --model NAME      LSUV on synthetic data; per-phase times, FLOPs, per-layer table\n"
          "  init --model NAME --data FILE -o OUT.safetensors|OUT.onnx\n"
          "                          LSUV on real data; writes the weights (PyTorch/ONNX names)\n"
          "  forward --model NAME --data FILE -o OUT.npy\n"
          "                          runs the network; writes its output (or a node's) as .npy\n"
          "  info --model FILE.onnx  input shape, the layers LSUV touches, parameters, unsupported ops\n"
          "\n"
          "--model takes a zoo model name or an ONNX file (*.onnx).\n"
          "\n"
          "options:\n"
          "  -h, --help              this help (also: lsuv-vk <command> --help)\n"
          "  -V, --version           the version\n"
          "\n"
          "environment: LSUV_DEVICE (device index or name substring), VK_DRIVER_FILES.\n",
          f);
}

cli_parse_status cli_usage_error(cli_args *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->error, sizeof a->error, fmt, ap);
    va_end(ap);
    return CLI_USAGE_ERROR;
}

cli_parse_status cli_int(cli_args *a, const char *opt, const char *text, long lo, long hi, long *out)
{
    char *end;
    long v = strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0' || v < lo || v > hi)
        return cli_usage_error(a, "%s: '%s' is not an integer in [%ld, %ld]", opt, text, lo, hi);
    *out = v;
    return CLI_RUN;
}

cli_parse_status cli_double(cli_args *a, const char *opt, const char *text, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(text, &end);
    if (*text == '\0' || *end != '\0' || !(v >= lo && v <= hi))
        return cli_usage_error(a, "%s: '%s' is not a number in [%g, %g]", opt, text, lo, hi);
    *out = v;
    return CLI_RUN;
}

static cli_parse_status shared_option(cli_args *a, int val, const char *v)
{
    switch (val) {
    case CLI_OPT_MODEL: a->model = v; break;
    case CLI_OPT_DEVICE: a->device = v; break;
    case CLI_OPT_ACT: a->act = v; break;
    case CLI_OPT_KEEP_WEIGHTS: a->lsuv.orthonormal = 0; break;
    case CLI_OPT_MEASURE:
        if (strcmp(v, "pre") == 0)
            a->lsuv.measure = LSUV_MEASURE_PRE;
        else if (strcmp(v, "post") == 0)
            a->lsuv.measure = LSUV_MEASURE_POST;
        else
            return cli_usage_error(a, "--measure: '%s' is not pre or post", v);
        break;
    }
    return CLI_RUN;
}

cli_parse_status cli_getopt(int argc, char **argv, cli_args *a, const char *cmd, const char *shortopts,
                            const struct option *longopts, int shared,
                            cli_parse_status (*option)(cli_args *a, int val, const char *value,
                                                       const char *opt))
{
    static const struct option shared_opts[] = {
        {"model", required_argument, NULL, CLI_OPT_MODEL},
        {"device", required_argument, NULL, CLI_OPT_DEVICE},
        {"act", required_argument, NULL, CLI_OPT_ACT},
        {"measure", required_argument, NULL, CLI_OPT_MEASURE},
        {"keep-weights", no_argument, NULL, CLI_OPT_KEEP_WEIGHTS},
    };
    enum { MAX_OPTS = 40 };
    struct option all[MAX_OPTS];
    int n = 0;
    all[n++] = (struct option){"help", no_argument, NULL, CLI_OPT_HELP};
    for (int i = 0; shared && i < (int)(sizeof shared_opts / sizeof *shared_opts); i++)
        all[n++] = shared_opts[i];
    for (int i = 0; longopts && longopts[i].name && n < MAX_OPTS - 1; i++)
        all[n++] = longopts[i];
    all[n] = (struct option){0};

    /* '+': stop at the first non-option (reported below) rather than permuting argv;
     * ':': a missing value comes back as ':' instead of being printed by getopt */
    char shorts[64];
    snprintf(shorts, sizeof shorts, "+:h%s", shortopts ? shortopts : "");
    optind = 0; /* 0, not 1: glibc then also forgets a half-scanned "-abc" of a previous call */
    opterr = 0;
    for (;;) {
        int c = getopt_long(argc, argv, shorts, all, NULL);
        if (c == -1)
            break;
        /* the option as the user typed it, for messages: a long option is the whole
         * element just consumed, a short one its letter */
        char typed[160];
        int letter = c == ':' || c == '?' ? optopt : c; /* long options all have vals above 0xff */
        if (letter > 0 && letter <= 0xff)
            snprintf(typed, sizeof typed, "-%c", letter);
        else /* a long option: the element getopt just passed, without any "=value" */
            snprintf(typed, sizeof typed, "%.*s", (int)strcspn(argv[optind - 1], "="), argv[optind - 1]);
        if (c == 'h' || c == CLI_OPT_HELP)
            return CLI_HELP;
        if (c == ':')
            return cli_usage_error(a, "%s needs a value", typed);
        if (c == '?')
            return cli_usage_error(a, "%s: unknown option or missing value: '%s' (see lsuv-vk %s --help)", cmd,
                                   typed, cmd);
        /* values are named by their option's full name ("--batch" even for "--bat=3") */
        const char *name = typed;
        char full[64];
        for (int i = 0; all[i].name; i++)
            if (all[i].val == c && c > 0xff) {
                snprintf(full, sizeof full, "--%s", all[i].name);
                name = full;
            }
        cli_parse_status st = c >= CLI_OPT_MODEL && c <= CLI_OPT_KEEP_WEIGHTS ? shared_option(a, c, optarg)
                                                                    : option ? option(a, c, optarg, name) : CLI_RUN;
        if (st != CLI_RUN)
            return st;
    }
    if (optind < argc)
        return cli_usage_error(a, "%s: unexpected argument '%s' (see lsuv-vk %s --help)", cmd, argv[optind], cmd);
    return CLI_RUN;
}

cli_parse_status cli_check_model(cli_args *a, const char *cmd)
{
    if (model_is_onnx(a->model)) /* read, and checked, when the command runs */
        return a->act ? cli_usage_error(a, "%s: --act applies to zoo models; an ONNX model has its own activations",
                                        cmd)
                      : CLI_RUN;
    int64_t dims[3];
    if (!zoo_input_shape(a->model, dims))
        return cli_usage_error(a, "%s: unknown model '%s' (zoo: %s; or an .onnx file)", cmd, a->model, zoo_names());
    lsuv_activation act;
    float param;
    if (a->act && zoo_parse_activation(a->act, &act, &param) != 0)
        return cli_usage_error(a, "%s: unknown activation '%s'", cmd, a->act);
    return CLI_RUN;
}

cli_parse_status cli_parse(int argc, char **argv, cli_args *a)
{
    memset(a, 0, sizeof *a);
    lsuv_options_init(&a->lsuv);
    a->batch = 32; /* bench's defaults; init's come from lsuv_options */
    a->repeat = 3;
    if (argc < 2)
        return CLI_NO_COMMAND;
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0)
        return CLI_HELP;
    if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0)
        return CLI_VERSION;
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(cmd, commands[i]->name) == 0) {
            a->command = commands[i];
            return commands[i]->parse(argc - 1, argv + 1, a);
        }
    return cli_usage_error(a, "unknown command '%s'", cmd);
}

int cli_error(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("lsuv-vk: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

void cli_data_note(const lsuv_data *data)
{
    if (data && data->note)
        fprintf(stderr, "lsuv-vk: note: %s\n", data->note);
}

int cli_context(const char *device, lsuv_context **ctx)
{
    lsuv_context_options o;
    lsuv_context_options_init(&o);
    if (device) {
        char *end;
        long v = strtol(device, &end, 10);
        if (*device && *end == '\0')
            o.device_index = (int)v;
        else
            o.device_name = device;
    }
    char err[1024];
    lsuv_status st = lsuv_context_create(&o, ctx, err, sizeof err);
    if (st != LSUV_OK)
        return cli_error(1, "%s: %s", lsuv_status_string(st), err);
    return 0;
}
