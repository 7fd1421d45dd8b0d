/* main.c - lsuv-vk: LSUV initialization on Vulkan; dispatches the subcommands. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "zoo.h"

static const char usage[] =
    "usage: lsuv-vk <command> [options]\n"
    "\n"
    "LSUV initialization (Mishkin & Matas, 2015) of neural networks on Vulkan.\n"
    "\n"
    "commands:\n"
    "  devices                 list Vulkan devices and what lsuv-vk reads of them\n"
    "  bench --model NAME      LSUV on synthetic data; per-phase times, FLOPs, per-layer table\n"
    "  init --model NAME --data FILE -o OUT.safetensors\n"
    "                          LSUV on real data; writes the weights (PyTorch names)\n"
    "\n"
    "options:\n"
    "  -h, --help              this help (also: lsuv-vk <command> --help)\n"
    "  -V, --version           the version\n"
    "\n"
    "environment: LSUV_DEVICE (device index or name substring), VK_DRIVER_FILES.\n";

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

int cli_int(const char *opt, const char *text, long lo, long hi, long *out)
{
    char *end;
    if (!text)
        return cli_error(2, "%s needs a value", opt);
    long v = strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0' || v < lo || v > hi)
        return cli_error(2, "%s: '%s' is not an integer in [%ld, %ld]", opt, text, lo, hi);
    *out = v;
    return 0;
}

int cli_double(const char *opt, const char *text, double lo, double hi, double *out)
{
    char *end;
    if (!text)
        return cli_error(2, "%s needs a value", opt);
    double v = strtod(text, &end);
    if (*text == '\0' || *end != '\0' || !(v >= lo && v <= hi))
        return cli_error(2, "%s: '%s' is not a number in [%g, %g]", opt, text, lo, hi);
    *out = v;
    return 0;
}

int cli_shared_option(cli_shared *s, lsuv_options *o, int argc, char **argv, int *i)
{
    const char *a = argv[*i], *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    const char **text = strcmp(a, "--model") == 0    ? &s->model
                        : strcmp(a, "--device") == 0 ? &s->device
                        : strcmp(a, "--act") == 0    ? &s->act
                                                     : NULL;
    if (text || strcmp(a, "--measure") == 0) {
        if (!v)
            return cli_error(2, "%s needs a value", a);
        ++*i;
        if (text)
            *text = v;
        else if (strcmp(v, "pre") == 0 || strcmp(v, "post") == 0)
            o->measure = strcmp(v, "post") == 0 ? LSUV_MEASURE_POST : LSUV_MEASURE_PRE;
        else
            return cli_error(2, "--measure: '%s' is not pre or post", v);
        return 0;
    }
    if (strcmp(a, "--keep-weights") == 0) {
        o->orthonormal = 0;
        return 0;
    }
    return -1;
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

int main(int argc, char **argv)
{
    if (argc < 2)
        return fputs(usage, stderr), 2;
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0)
        return fputs(usage, stdout), 0;
    if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
        printf("lsuv-vk %s\n", lsuv_version_string());
        return 0;
    }
    if (strcmp(cmd, "devices") == 0)
        return cmd_devices(argc - 1, argv + 1);
    if (strcmp(cmd, "bench") == 0)
        return cmd_bench(argc - 1, argv + 1);
    if (strcmp(cmd, "init") == 0)
        return cmd_init(argc - 1, argv + 1);
    cli_error(2, "unknown command '%s'", cmd);
    fputs(usage, stderr);
    return 2;
}
