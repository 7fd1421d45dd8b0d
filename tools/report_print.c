/* report_print.c - the per-layer report as a table (humans) or JSON (machines). */
#include <math.h>
#include <stdio.h>

#include "cli.h"

void report_print_table(FILE *f, const lsuv_report *r)
{
    fprintf(f, "%-28s %-7s %8s %8s %12s %12s %10s  %s\n", "layer", "kind", "measured", "computed", "var_initial",
            "var_final", "scale", "status");
    for (int i = 0; i < r->layer_count; i++) {
        const lsuv_layer_report *l = &r->layers[i];
        fprintf(f, "%-28s %-7s %8d %8d %12.6g %12.6g %10.5g  %s\n", l->name, l->kind, l->tries_measured,
                l->tries_computed, l->var_initial, l->var_final, l->scale, lsuv_layer_status_string(l->status));
    }
    if (r->warning)
        fprintf(f, "warning: %s\n", r->warning);
}

/* JSON numbers: non-finite values become null. */
static void num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.9g", v);
    else
        fputs("null", f);
}

static void str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

void report_print_json(FILE *f, const char *model, const lsuv_context *ctx, int batch, int repeat,
                       const lsuv_report *r, const double *t)
{
    static const char *phases[] = {"total", "fill", "orthonormalize", "forward", "moments"};
    fputs("{\"model\": ", f);
    str(f, model);
    fputs(", \"device\": ", f);
    str(f, lsuv_context_device(ctx)->name);
    fprintf(f, ", \"batch\": %d, \"batches\": %d, \"repeat\": %d, \"time_s\": {", batch, r->batches, repeat);
    for (int p = 0; p < 5; p++) {
        fprintf(f, "%s\"%s\": ", p ? ", " : "", phases[p]);
        num(f, t[p]);
    }
    fputs("}, \"flops_executed\": ", f);
    num(f, r->flops_executed);
    fputs(", \"flops_forward\": ", f);
    num(f, r->flops_forward);
    fputs(", \"gflops_forward_phase\": ", f);
    num(f, t[3] > 0 ? r->flops_executed / t[3] * 1e-9 : NAN);
    fputs(", \"gflops_total\": ", f);
    num(f, t[0] > 0 ? r->flops_executed / t[0] * 1e-9 : NAN);
    fputs(", \"flops_orthonormalize\": ", f);
    num(f, r->flops_orthonormalize);
    fputs(", \"gflops_orthonormalize\": ", f);
    num(f, t[2] > 0 ? r->flops_orthonormalize / t[2] * 1e-9 : NAN);
    fputs(", \"warning\": ", f);
    if (r->warning)
        str(f, r->warning);
    else
        fputs("null", f);
    fputs(", \"layers\": [", f);
    for (int i = 0; i < r->layer_count; i++) {
        const lsuv_layer_report *l = &r->layers[i];
        fputs(i ? ", {\"name\": " : "{\"name\": ", f);
        str(f, l->name);
        fprintf(f, ", \"kind\": \"%s\", \"tries_measured\": %d, \"tries_computed\": %d, \"var_initial\": ", l->kind,
                l->tries_measured, l->tries_computed);
        num(f, l->var_initial);
        fputs(", \"var_final\": ", f);
        num(f, l->var_final);
        fputs(", \"scale\": ", f);
        num(f, l->scale);
        fprintf(f, ", \"status\": \"%s\"}", lsuv_layer_status_string(l->status));
    }
    fputs("]}\n", f);
}
