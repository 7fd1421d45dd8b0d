/* fuzz_cli.c - libFuzzer target: lsuv-vk's command-line parsing (cli_parse, getopt_long
 * underneath) on arbitrary argument vectors, without running any command. The input is
 * split at NUL bytes into at most 32 arguments after the program name. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enum { MAX_ARGS = 32 };
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    char *argv[MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = "lsuv-vk";
    for (size_t i = 0; i <= size && argc <= MAX_ARGS;) {
        argv[argc++] = text + i;
        i += strlen(text + i) + 1;
    }
    argv[argc] = NULL;
    cli_args a;
    switch (cli_parse(argc, argv, &a)) {
    case CLI_RUN:
        if (!a.command || !a.command->run)
            abort();
        break;
    case CLI_USAGE_ERROR:
        if (!a.error[0] || !memchr(a.error, '\0', sizeof a.error))
            abort();
        break;
    case CLI_HELP:
    case CLI_VERSION:
    case CLI_NO_COMMAND: break;
    default: abort();
    }
    free(text);
    return 0;
}
