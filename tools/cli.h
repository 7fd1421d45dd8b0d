/* cli.h - shared pieces of the lsuv-vk command-line tool. */
#ifndef LSUV_CLI_H
#define LSUV_CLI_H

#include <stdio.h>

#include "lsuv.h"

/* Prints "lsuv-vk: <message>" to stderr and returns 2 (usage) or 1 (failure). */
int cli_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Parses an integer/float option value; returns 0 on success, else prints an error. */
int cli_int(const char *opt, const char *text, long lo, long hi, long *out);
int cli_double(const char *opt, const char *text, double lo, double hi, double *out);
/* Opens a context on --device (index or name substring, may be NULL). */
int cli_context(const char *device, lsuv_context **ctx);

/* Options that bench and init share: --model, --device, --act, --measure, --keep-weights. */
typedef struct cli_shared {
    const char *model, *device, *act;
} cli_shared;
/* Parses argv[*i] (and its value, advancing *i) when it is a shared option: returns 0 on
 * success, 2 on a bad value (message printed), -1 when argv[*i] is not a shared option. */
int cli_shared_option(cli_shared *s, lsuv_options *o, int argc, char **argv, int *i);

void report_print_table(FILE *f, const lsuv_report *r);
void report_print_json(FILE *f, const char *model, const lsuv_context *ctx, int batch, int repeat,
                       const lsuv_report *r, const double *phase_median);

int cmd_devices(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_init(int argc, char **argv);

#endif
