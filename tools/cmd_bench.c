/* cmd_bench.c - `lsuv-vk bench`: LSUV on synthetic data, timed per phase (median of R). */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "zoo.h"

static const char bench_usage[] =
    "usage: lsuv-vk bench --model NAME [--batch N] [--repeat R] [--act A] [--measure pre|post]\n"
    "                     [--keep-weights] [--device D] [--json]\n"
    "\n"
    "Runs LSUV (orthonormal pre-init + per-layer loop) on N samples of Gaussian data, R times\n"
    "after one warm-up run, and prints the median time of each phase (device time from\n"
    "timestamp queries; total is wall-clock), forward FLOPs executed against one full\n"
    "forward pass, achieved GFLOP/s and the per-layer table of the last run.\n"
    "  --model NAME   %s\n"
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

int cmd_bench(int argc, char **argv)
{
    cli_shared sh = {0};
    long batch = 32, repeat = 3;
    int json = 0;
    lsuv_options o;
    lsuv_options_init(&o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = cli_shared_option(&sh, &o, argc, argv, &i);
        if (rc >= 0) {
            if (rc)
                return rc;
            continue;
        }
        rc = 0;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
            return printf(bench_usage, zoo_names()), 0;
        else if (strcmp(a, "--batch") == 0)
            rc = cli_int(a, v, 1, 1 << 20, &batch), i++;
        else if (strcmp(a, "--repeat") == 0)
            rc = cli_int(a, v, 1, 1000, &repeat), i++;
        else if (strcmp(a, "--json") == 0)
            json = 1;
        else
            return cli_error(2, "bench: unknown option or missing value: '%s' (see lsuv-vk bench --help)", a);
        if (rc)
            return rc;
    }
    const char *model = sh.model, *act = sh.act;
    if (!model)
        return cli_error(2, "bench: --model is required (%s)", zoo_names());
    int64_t dims[3];
    int ndim = zoo_input_shape(model, dims);
    if (!ndim)
        return cli_error(2, "bench: unknown model '%s' (%s)", model, zoo_names());
    lsuv_context *ctx;
    if (cli_context(sh.device, &ctx))
        return 1;
    lsuv_net *net = NULL;
    lsuv_data *data = NULL;
    lsuv_report *rep = NULL;
    double *times = calloc((size_t)repeat * 5, sizeof *times);
    lsuv_status st = zoo_build(ctx, model, act, &net);
    if (st == LSUV_ERROR_INVALID_ARGUMENT && act)
        cli_error(2, "bench: unknown activation '%s'", act);
    if (st == LSUV_OK)
        st = lsuv_data_gaussian(ctx, batch, ndim, dims, 1234, &data);
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
