/* cmd_bench.c - `lsuv-vk bench`: LSUV on synthetic data, timed per phase (median of R). */
#include <stdlib.h>
#include <string.h>

#include <time.h>

#include "cli.h"
#include "common/util.h"
#include "kernels/kernels.h"
#include "model_open.h"
#include "zoo.h"

static const char bench_usage[] =
    "usage: lsuv-vk bench --model NAME [--batch N] [--repeat R] [--act A] [--measure pre|post]\n"
    "                     [--keep-weights] [--device D] [--json] [--profile]\n"
    "       lsuv-vk bench --kernel gemm|update M N K [--repeat R] [--device D] [--json]\n"
    "\n"
    "Runs LSUV (orthonormal pre-init + per-layer loop) on N samples of Gaussian data, R times\n"
    "after one warm-up run, and prints the median time of each phase (device time from\n"
    "timestamp queries; total is wall-clock), forward FLOPs executed against one full\n"
    "forward pass, achieved GFLOP/s and the per-layer table of the last run.\n"
    "  --model NAME   %s, or an ONNX file (*.onnx)\n"
    "  --batch N      samples (default 32)\n"
    "  --repeat R     timed runs (default 3)\n"
    "  --keep-weights skip the orthonormal pre-init (LSUV on the default weights)\n"
    "  --profile      device time per kernel (timestamp queries) over the last run, with\n"
    "                 GFLOP/s or GB/s where the kernel declares its work\n"
    "  --kernel gemm M N K\n"
    "                 the dense kernel alone: Y[M][N] = X[M][K] W[N][K]^T, R timed runs\n"
    "                 after a warm-up, median device time and GFLOP/s (LSUV_GEMM_KERNEL\n"
    "                 forces a variant)\n"
    "  --kernel update M N K\n"
    "                 the orthonormal pre-init's update product alone (CPU devices):\n"
    "                 Y[M][N] -= A[K][M]^T B[K][N], operands K-major as the pre-init keeps them\n";

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

enum { OPT_BATCH = CLI_OPT_COMMAND, OPT_REPEAT, OPT_JSON, OPT_PROFILE };

static cli_parse_status bench_option(cli_args *a, int val, const char *v, const char *opt)
{
    switch (val) {
    case OPT_BATCH: return cli_int(a, opt, v, 1, 1 << 20, &a->batch);
    case OPT_REPEAT: return cli_int(a, opt, v, 1, 1000, &a->repeat);
    case OPT_JSON: a->json = 1; return CLI_RUN;
    case OPT_PROFILE: a->profile = 1; return CLI_RUN;
    }
    return cli_usage_error(a, "bench: option %s is not handled", opt); /* a table/switch mismatch */
}

static cli_parse_status bench_parse(int argc, char **argv, cli_args *a)
{
    static const struct option opts[] = {
        {"batch", required_argument, NULL, OPT_BATCH},
        {"repeat", required_argument, NULL, OPT_REPEAT},
        {"json", no_argument, NULL, OPT_JSON},
        {"profile", no_argument, NULL, OPT_PROFILE},
        {0},
    };
    /* --kernel KIND M N K takes four values: taken out of argv here, the rest goes to
     * getopt (which takes one value per option) */
    char *rest[65];
    int n = 0;
    for (int i = 0; i < argc; i++) {
        if (i > 0 && strcmp(argv[i], "--kernel") == 0) {
            if (a->kernel)
                return cli_usage_error(a, "bench: --kernel given twice");
            if (i + 4 >= argc)
                return cli_usage_error(a, "bench: --kernel needs a kind and three sizes: gemm|update M N K");
            a->kernel = argv[i + 1];
            if (strcmp(a->kernel, "gemm") != 0 && strcmp(a->kernel, "update") != 0)
                return cli_usage_error(a, "bench: --kernel: unknown kernel '%s' (gemm, update)", a->kernel);
            for (int d = 0; d < 3; d++) {
                cli_parse_status st = cli_int(a, "--kernel", argv[i + 2 + d], 1, 1 << 20, &a->kernel_dims[d]);
                if (st != CLI_RUN)
                    return st;
            }
            i += 4;
            continue;
        }
        if (n == (int)(sizeof rest / sizeof *rest) - 1)
            return cli_usage_error(a, "bench: too many arguments");
        rest[n++] = argv[i];
    }
    rest[n] = NULL;
    cli_parse_status st = cli_getopt(n, rest, a, "bench", NULL, opts, 1, bench_option);
    if (st != CLI_RUN)
        return st;
    if (a->kernel) {
        if (a->model)
            return cli_usage_error(a, "bench: --kernel and --model exclude each other");
        return CLI_RUN;
    }
    if (!a->model)
        return cli_usage_error(a, "bench: --model is required (%s)", zoo_names());
    return cli_check_model(a, "bench");
}

static void bench_usage_print(FILE *f)
{
    fprintf(f, bench_usage, zoo_names());
}

static double wall_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* lavapipe's fp32 fma ceiling on the machine these notes were measured on (2 cores): the
 * yardstick kernel figures are held against (shared/DESIGN.md, "Lavapipe"). */
static const char *ceiling_note(const lsuv_context *ctx)
{
    return strstr(lsuv_context_device(ctx)->name, "llvmpipe")
               ? "lavapipe fp32 fma ceiling ~117-121 GFLOP/s on the 2-core dev machine"
               : NULL;
}

/* Per-kernel device time of the last run, busiest first, with the declared work. */
static void print_profile(FILE *f, const lsuv_context *ctx, int json)
{
    int order[LSUV_SHADER_COUNT], n = 0;
    for (int i = 0; i < LSUV_SHADER_COUNT; i++)
        if (ctx->shader_dispatches[i])
            order[n++] = i;
    for (int i = 1; i < n; i++) /* insertion sort by time, descending */
        for (int j = i; j > 0 && ctx->shader_seconds[order[j]] > ctx->shader_seconds[order[j - 1]]; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    if (!json)
        fprintf(f, "%-20s %10s %10s %10s %10s\n", "kernel", "dispatches", "device ms", "GFLOP/s", "GB/s");
    for (int k = 0; k < n; k++) {
        int i = order[k];
        double t = ctx->shader_seconds[i];
        double gf = t > 0 && ctx->shader_flops[i] > 0 ? ctx->shader_flops[i] / t * 1e-9 : -1;
        double gb = t > 0 && ctx->shader_bytes[i] > 0 ? ctx->shader_bytes[i] / t * 1e-9 : -1;
        if (json) {
            fprintf(f, "%s{\"kernel\": \"%s\", \"dispatches\": %llu, \"device_s\": %.6g", k ? ", " : "",
                    lsuv_shader_table[i].name, (unsigned long long)ctx->shader_dispatches[i], t);
            if (gf >= 0)
                fprintf(f, ", \"gflops\": %.4g", gf);
            if (gb >= 0)
                fprintf(f, ", \"gbytes_per_s\": %.4g", gb);
            fputc('}', f);
        } else {
            fprintf(f, "%-20s %10llu %10.3f", lsuv_shader_table[i].name,
                    (unsigned long long)ctx->shader_dispatches[i], t * 1e3);
            if (gf >= 0)
                fprintf(f, " %10.2f", gf);
            else
                fprintf(f, " %10s", "-");
            if (gb >= 0)
                fprintf(f, " %10.2f", gb);
            fputc('\n', f);
        }
    }
}

static void profile_reset(lsuv_context *ctx)
{
    memset(ctx->shader_seconds, 0, sizeof ctx->shader_seconds);
    memset(ctx->shader_flops, 0, sizeof ctx->shader_flops);
    memset(ctx->shader_bytes, 0, sizeof ctx->shader_bytes);
    memset(ctx->shader_dispatches, 0, sizeof ctx->shader_dispatches);
}

/* One product of bench --kernel: gemm, the dense kernel Y = X W^T (operands M x K and
 * N x K, rows as they lie); update, the pre-init's Y -= A^T B (operands K x M and K x N,
 * K-major with rows padded to 16 floats, Y's rows too, as random_orthogonal.c keeps them). */
static lsuv_status bench_kernel_once(lsuv_context *ctx, int update, const lsuv_buffer *x, const lsuv_buffer *w,
                                     const lsuv_buffer *y, uint32_t m, uint32_t n, uint32_t k)
{
    if (!update)
        return lsuv_k_dense(ctx, x, w, NULL, y, m, k, n);
    uint32_t m16 = (uint32_t)lsuv_round_up(m, 16), n16 = (uint32_t)lsuv_round_up(n, 16);
    return lsuv_k_texel_gemm_tn_update(ctx, x, m16, w, n16, k, y, n16, m, n, -1.0f, 0);
}

/* bench --kernel gemm|update M N K: the kernel on Gaussian operands, device time from the
 * timestamps around its dispatches (packs included), wall time around the submission. */
static int bench_kernel_run(const cli_args *a)
{
    uint32_t m = (uint32_t)a->kernel_dims[0], n = (uint32_t)a->kernel_dims[1], k = (uint32_t)a->kernel_dims[2];
    int update = strcmp(a->kernel, "update") == 0;
    /* update's operands: rows padded to whole 16-float tiles, zero past M and N */
    uint64_t xm = update ? lsuv_round_up(m, 16) : m, wn = update ? lsuv_round_up(n, 16) : (uint64_t)n;
    long repeat = a->repeat;
    lsuv_context *ctx;
    if (cli_context(a->device, &ctx))
        return 1;
    lsuv_buffer x = {0}, w = {0}, y = {0};
    double *dev = calloc((size_t)repeat * 2, sizeof *dev), *wall = dev + repeat;
    lsuv_status st = dev ? LSUV_OK : LSUV_ERROR_OUT_OF_HOST_MEMORY;
    if (st == LSUV_OK)
        st = lsuv_buffer_alloc(ctx, xm * k * 4, &x);
    if (st == LSUV_OK)
        st = lsuv_buffer_alloc(ctx, wn * k * 4, &w);
    if (st == LSUV_OK)
        st = lsuv_buffer_alloc(ctx, (uint64_t)m * wn * 4, &y);
    if (st == LSUV_OK)
        st = lsuv_k_fill_normal(ctx, &x, xm * k, 1, 0);
    if (st == LSUV_OK)
        st = lsuv_k_fill_normal(ctx, &w, wn * k, 2, 0);
    if (st == LSUV_OK)
        st = lsuv_k_fill_normal(ctx, &y, (uint64_t)m * wn, 3, 0);
    if (st == LSUV_OK)
        st = lsuv_submit(ctx);
    ctx->profiling = 1;
    for (long run = 0; st == LSUV_OK && run <= repeat; run++) { /* run 0 warms up (pipelines) */
        ctx->phase_seconds[LSUV_PHASE_FORWARD] = 0;
        profile_reset(ctx);
        lsuv_set_phase(ctx, LSUV_PHASE_FORWARD);
        double t0 = wall_s();
        st = bench_kernel_once(ctx, update, &x, &w, &y, m, n, k);
        if (st == LSUV_OK)
            st = lsuv_submit(ctx);
        if (run > 0) {
            dev[run - 1] = ctx->phase_seconds[LSUV_PHASE_FORWARD];
            wall[run - 1] = wall_s() - t0;
        }
    }
    int rc = 0;
    if (st != LSUV_OK) {
        rc = cli_error(1, "bench --kernel %s %u %u %u: %s: %s", a->kernel, m, n, k, lsuv_status_string(st),
                       lsuv_context_last_error(ctx));
    } else {
        double flops = 2.0 * m * n * k, td = median(dev, (int)repeat), tw = median(wall, (int)repeat);
        const char *forced = update ? "texel" : getenv("LSUV_GEMM_KERNEL"), *note = ceiling_note(ctx);
        if (a->json) {
            printf("{\"kernel\": \"%s\", \"m\": %u, \"n\": %u, \"k\": %u, \"device\": \"%s\", "
                   "\"variant\": \"%s\", \"repeat\": %ld, \"device_s\": %.6g, \"wall_s\": %.6g, "
                   "\"gflops\": %.4g, \"gflops_wall\": %.4g, \"profile\": [",
                   a->kernel, m, n, k, lsuv_context_device(ctx)->name, forced && *forced ? forced : "auto", repeat,
                   td, tw,
                   td > 0 ? flops / td * 1e-9 : 0, flops / tw * 1e-9);
            print_profile(stdout, ctx, 1);
            printf("]}\n");
        } else {
            printf("%s %u x %u x %u on %s (variant %s), median of %ld runs\n", a->kernel, m, n, k,
                   lsuv_context_device(ctx)->name, forced && *forced ? forced : "chosen by the device", repeat);
            printf("device %.3f ms: %.2f GFLOP/s | wall %.3f ms: %.2f GFLOP/s%s%s\n", td * 1e3,
                   td > 0 ? flops / td * 1e-9 : 0, tw * 1e3, flops / tw * 1e-9, note ? " | " : "", note ? note : "");
            print_profile(stdout, ctx, 0);
        }
    }
    lsuv_buffer_free(ctx, &x);
    lsuv_buffer_free(ctx, &w);
    lsuv_buffer_free(ctx, &y);
    free(dev);
    lsuv_context_destroy(ctx);
    return rc;
}

static int bench_run(const cli_args *a)
{
    if (a->kernel)
        return bench_kernel_run(a);
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
        profile_reset(ctx);
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
        if (json) {
            report_print_json(stdout, model, ctx, (int)batch, (int)repeat, rep, med);
            if (a->profile) { /* a second line: the first stays what scripts read */
                printf("{\"profile\": [");
                print_profile(stdout, ctx, 1);
                printf("]}\n");
            }
        } else {
            printf("model %s, batch %ld, device %s, median of %ld runs\n", model, batch,
                   lsuv_context_device(ctx)->name, repeat);
            printf("time (s): total %.4f | fill %.4f | orthonormalize %.4f | forward %.4f | moments %.4f\n", med[0],
                   med[1], med[2], med[3], med[4]);
            printf("forward FLOPs executed %.4g = %.3f x one full forward (%.4g)\n", rep->flops_executed,
                   rep->flops_executed / rep->flops_forward, rep->flops_forward);
            printf("achieved: %.2f GFLOP/s in the forward phase, %.2f GFLOP/s over the total\n",
                   med[3] > 0 ? rep->flops_executed / med[3] * 1e-9 : 0, rep->flops_executed / med[0] * 1e-9);
            if (rep->flops_orthonormalize > 0)
                printf("orthonormal pre-init: products %.4g FLOPs executed, %.2f GFLOP/s over its phase\n",
                       rep->flops_orthonormalize, med[2] > 0 ? rep->flops_orthonormalize / med[2] * 1e-9 : 0);
            report_print_table(stdout, rep);
            if (a->profile) {
                printf("\ndevice time per kernel, last run:\n");
                print_profile(stdout, ctx, 0);
            }
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
