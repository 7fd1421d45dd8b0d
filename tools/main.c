/* main.c - lsuv-vk: LSUV initialization on Vulkan; parses the command line (cli.c) and
 * runs the command. Exit status: 0 done, 1 failure, 2 usage error. */
#include "cli.h"

int main(int argc, char **argv)
{
    cli_args a;
    switch (cli_parse(argc, argv, &a)) {
    case CLI_RUN: return a.command->run(&a);
    case CLI_HELP:
        if (a.command)
            a.command->usage(stdout);
        else
            cli_usage(stdout);
        return 0;
    case CLI_VERSION: printf("lsuv-vk %s\n", lsuv_version_string()); return 0;
    case CLI_NO_COMMAND: cli_usage(stderr); return 2;
    case CLI_USAGE_ERROR:
    default:
        cli_error(2, "%s", a.error);
        if (!a.command) /* an unknown command: show the ones there are */
            cli_usage(stderr);
        return 2;
    }
}
