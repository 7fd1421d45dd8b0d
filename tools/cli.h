/* cli.h - shared pieces of the lsuv-vk command-line tool.
 *
 * Parsing and running are separate: cli_parse() turns an argv into a cli_args (no
 * printing, no I/O, nothing but getopt's own state touched), so main() and the fuzz target
 * tests/fuzz/fuzz_cli.c call the same code; a command's run() then does the work. */
#ifndef LSUV_CLI_H
#define LSUV_CLI_H

#include <getopt.h>
#include <stdio.h>

#include "lsuv.h"

struct cli_command;

/* Everything the command line says. Fields a command does not take stay at their
 * defaults. Strings point into argv. */
typedef struct cli_args {
    const struct cli_command *command; /* NULL for the top-level --help / --version */
    /* shared by bench and init: --model, --device, --act, --measure, --keep-weights */
    const char *model, *device, *act;
    lsuv_options lsuv;
    long batch, repeat; /* bench: --batch, --repeat */
    int json;           /* bench: --json */
    int profile;        /* bench: --profile (device time per kernel) */
    const char *kernel; /* bench --kernel gemm M N K: the kernel alone */
    long kernel_dims[3];
    const char *data, *out; /* init: --data, -o */
    const char *weights, *layer; /* forward: --weights, --layer */
    int standardize;        /* init: --standardize */
    char error[512];        /* the usage error when cli_parse returns CLI_USAGE_ERROR */
} cli_args;

typedef enum cli_parse_status {
    CLI_RUN,         /* run args->command */
    CLI_HELP,        /* print args->command's usage (top-level usage when NULL) to stdout: exit 0 */
    CLI_VERSION,     /* print the version: exit 0 */
    CLI_USAGE_ERROR, /* args->error says what was wrong: exit 2 */
    CLI_NO_COMMAND   /* no arguments at all: top-level usage to stderr, exit 2 */
} cli_parse_status;

typedef struct cli_command {
    const char *name;
    /* argv[0] is the command's name. Fills a (already holding the defaults); returns
     * CLI_RUN, CLI_HELP or CLI_USAGE_ERROR. Never prints. */
    cli_parse_status (*parse)(int argc, char **argv, cli_args *a);
    void (*usage)(FILE *f);
    /* Does the work; returns the exit status: 0, 1 (failure) or 2 (usage found late). */
    int (*run)(const cli_args *a);
} cli_command;

extern const cli_command cli_devices, cli_bench, cli_init, cli_forward, cli_info;

/* Parses a whole command line (argv[0] is the program). Reentrant enough for a fuzzer:
 * getopt's state is reset on every call. argv is not
 * reordered (parsing stops at the first non-option, which is an error). */
cli_parse_status cli_parse(int argc, char **argv, cli_args *a);
void cli_usage(FILE *f);

/* Helpers for a command's parse(): each returns CLI_RUN, or CLI_USAGE_ERROR with the
 * message in a->error. */
cli_parse_status cli_usage_error(cli_args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
cli_parse_status cli_int(cli_args *a, const char *opt, const char *text, long lo, long hi, long *out);
cli_parse_status cli_double(cli_args *a, const char *opt, const char *text, double lo, double hi,
                            double *out);
/* One getopt_long loop over argv with `longopts` (plus -h/--help), calling
 * option(a, val, optarg, opt_text) for each option found. Handles unknown options, missing
 * values, stray arguments and the shared options (--model, --device, --act, --measure,
 * --keep-weights) when `shared` is set; `cmd` names the command in messages. */
cli_parse_status cli_getopt(int argc, char **argv, cli_args *a, const char *cmd, const char *shortopts,
                            const struct option *longopts, int shared,
                            cli_parse_status (*option)(cli_args *a, int val, const char *value,
                                                       const char *opt));
/* --model names a zoo model or an .onnx file, and --act (if given, zoo models only) an
 * activation; cmd names the command. */
cli_parse_status cli_check_model(cli_args *a, const char *cmd);
/* Option values (getopt_long's `val`) of long options: all above any character, so that a
 * value <= 0xff always means a short option (messages rely on it). */
enum { CLI_OPT_HELP = 0x100, CLI_OPT_MODEL, CLI_OPT_DEVICE, CLI_OPT_ACT, CLI_OPT_MEASURE, CLI_OPT_KEEP_WEIGHTS,
       CLI_OPT_COMMAND = 0x200 /* a command's own options start here */ };

/* Prints "lsuv-vk: <message>" to stderr and returns code (2 usage, 1 failure). */
int cli_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints what loading the data lost converting to float32 (lsuv_data.note), if anything,
 * on stderr: every command that loads a user's data calls it after lsuv_data_load. */
void cli_data_note(const lsuv_data *data);
/* Opens a context on --device (index or name substring, may be NULL). */
int cli_context(const char *device, lsuv_context **ctx);

void report_print_table(FILE *f, const lsuv_report *r);
void report_print_json(FILE *f, const char *model, const lsuv_context *ctx, int batch, int repeat,
                       const lsuv_report *r, const double *phase_median);

#endif
