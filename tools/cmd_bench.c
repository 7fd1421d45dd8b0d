/* cmd_bench.c - `lsuv-vk bench`: LSUV on synthetic data, timed per phase (median of R). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "model_open.h"
#include "zoo.h"

static const char bench_usage[] =
    "usage: lsuv-vk bench --model NAME [--batch N] [--repeat R] [--act A] [--measure pre|post]\n"
    "                     [--keep-weights] [--device D] [--json]\n"
    "\n"
    "Runs LSUV (orthonormal pre-init + per-layer loop) on N samples of Gaussian data, R times\n"
    "after one warm-up run, and prints the median time of each phase (device time from\n"
    "timestamp queries; total is wall-clock), forward FLOPs executed against one full\n"
    "forward pass, achieved GFLOP/s and the per-layer table of the last run.\n"
    "  --model NAME   %s, or an ONNX file (*.onnx)\n"
    "  --batch N      samples (default 32)\n"
    "  --repeat R     timed runs (default 3)\n"
    "  --keep-weights skip the orthonormal pre-init (LSUV on the default weights)\n";

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

enum { OPT_BATCH = CLI_OPT_COMMAND, OPT_REPEAT, OPT_JSON };

static cli_parse_status bench_option(cli_args *a, int val, const char *v, const char *opt)
{
    switch (val) {
    case OPT_BATCH: return cli_int(a, opt, v, 1, 1 << 20, &a->batch);
    case OPT_REPEAT: return cli_int(a, opt, v, 1, 1000, &a->repeat);
    case OPT_JSON: a->json = 1; return CLI_RUN;
    }
    return cli_usage_error(a, "bench: option %s is not handled", opt); /* a table/switch mismatch */
}

static cli_parse_status bench_parse(int argc, char **argv, cli_args *a)
{
    static const struct option opts[] = {
        {"batch", required_argument, NULL, OPT_BATCH},
        {"repeat", required_argument, NULL, OPT_REPEAT},
        {"json", no_argument, NULL, OPT_JSON},
        {0},
    };
    cli_parse_status st = cli_getopt(argc, argv, a, "bench", NULL, opts, 1, bench_option);
    if (st != CLI_RUN)
        return st;
    if (!a->model)
        return cli_usage_error(a, "bench: --model is required (%s)", zoo_names());
    return cli_check_model(a, "bench");
}

static void bench_usage_print(FILE *f)
{
    fprintf(f, bench_usage, zoo_names());
}

static int bench_run(const cli_args *a)
{
    const char *model = a->model, *act = a->act;
    long batch = a->batch, repeat = a->repeat;
    int json = a->json;
    lsuv_options o = a->lsuv;
    int64_t dims[LSUV_MAX_RANK];
    int ndim = 0;
    lsuv_context *ctx;
    if (cli_context(a->device, &ctx))
        return 1;
    lsuv_net *net = NULL;
    lsuv_data *data = NULL;
    lsuv_report *rep = NULL;
    double *times = calloc((size_t)repeat * 5, sizeof *times);
    if (model_open(ctx, "bench", model, act, &net, &ndim, dims)) {
        free(times);
        lsuv_context_destroy(ctx);
        return 1;
    }
    lsuv_status st = lsuv_data_gaussian(ctx, batch, ndim, dims, 1234, &data);
    for (int run = 0; st == LSUV_OK && run <= repeat; run++) { /* run 0 warms up */
        lsuv_report_free(rep);
        rep = NULL;
        if (!json)
            fprintf(stderr, "\r%s run %d of %ld ...", run ? "timed" : "warm-up", run, repeat);
        st = lsuv_init(net, data, &o, &rep);
        if (st == LSUV_OK && run > 0) {
            double *t = times + (size_t)(run - 1) * 5;
            t[0] = rep->time_total_s;
            t[1] = rep->time_fill_s;
            t[2] = rep->time_orthonormalize_s;
            t[3] = rep->time_forward_s;
            t[4] = rep->time_moments_s;
        }
    }
    if (!json)
        fputc('\n', stderr);
    int rc = 0;
    if (st != LSUV_OK) {
        rc = cli_error(1, "bench %s: %s: %s", model, lsuv_status_string(st), lsuv_context_last_error(ctx));
    } else {
        double med[5], col[1000];
        for (int p = 0; p < 5; p++) {
            for (int r = 0; r < repeat; r++)
                col[r] = times[(size_t)r * 5 + p];
            med[p] = median(col, (int)repeat);
        }
        if (json)
            report_print_json(stdout, model, ctx, (int)batch, (int)repeat, rep, med);
        else {
            printf("model %s, batch %ld, device %s, median of %ld runs\n", model, batch,
                   lsuv_context_device(ctx)->name, repeat);
            printf("time (s): total %.4f | fill %.4f | orthonormalize %.4f | forward %.4f | moments %.4f\n", med[0],
                   med[1], med[2], med[3], med[4]);
            printf("forward FLOPs executed %.4g = %.3f x one full forward (%.4g)\n", rep->flops_executed,
                   rep->flops_executed / rep->flops_forward, rep->flops_forward);
            printf("achieved: %.2f GFLOP/s in the forward phase, %.2f GFLOP/s over the total\n",
                   med[3] > 0 ? rep->flops_executed / med[3] * 1e-9 : 0, rep->flops_executed / med[0] * 1e-9);
            report_print_table(stdout, rep);
        }
    }
    free(times);
    lsuv_report_free(rep);
    lsuv_data_free(data);
    lsuv_net_destroy(net);
    lsuv_context_destroy(ctx);
    return rc;
}

const cli_command cli_bench = {"bench", bench_parse, bench_usage_print, bench_run};
