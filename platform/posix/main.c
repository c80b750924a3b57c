/*
** main.c — the `l4lm` program: dispatches to a subcommand. The help texts
** live in cli.c; `l4lm COMMAND --help` is answered by the command's parser.
*/
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "posix.h"

typedef struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
} command;

static const command commands[] = {
    {"run", l4lm_cmd_run},       {"info", l4lm_cmd_info},       {"tokenize", l4lm_cmd_tokenize},
    {"plan", l4lm_cmd_plan},     {"logits", l4lm_cmd_logits},   {"serve-shm", l4lm_cmd_serve_shm},
    {"client", l4lm_cmd_client}, {"gateway", l4lm_cmd_gateway}, {"chat", l4lm_cmd_chat},
    {"serve", l4lm_cmd_serve},
};

int main(int argc, char **argv)
{
    if (argc < 2) {
        l4lm_cli_overview(stderr);
        return L4LM_EXIT_USAGE;
    }
    if (l4lm_cli_is_help(argv[1])) {
        l4lm_cli_overview(stdout);
        return L4LM_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "l4lm: unknown command '%s' (see l4lm --help)\n", argv[1]);
    return L4LM_EXIT_USAGE;
}
