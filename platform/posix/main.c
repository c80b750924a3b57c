/*
** main.c — the `l4lm` program: dispatches to a subcommand.
*/
#include <stdio.h>
#include <string.h>

#include "posix.h"

static const char usage[] =
    "usage: l4lm COMMAND [options]\n"
    "  run       -m MODEL [-z TOKENIZER] (-p TEXT | -f FILE | --ids \"1 2 3\") [-n N] [--temp T]\n"
    "            [--top-k K] [--top-p P] [--min-p P] [--repeat-penalty R] [--repeat-last-n N]\n"
    "            [--seed S] [--ctx N] [--kv f16|f32] [--threads N] [--ignore-eos] [--warmup]\n"
    "  chat      -m MODEL [--system TEXT] [sampling options as run]: user turns from stdin\n"
    "  info      -m MODEL [-z TOKENIZER]\n"
    "  tokenize  -m MODEL [-z TOKENIZER] (-p TEXT | -f FILE) [--no-bos] [--pieces] [--special]\n"
    "  plan      -m MODEL [-z TOKENIZER] [--ctx N] [--kv f16|f32]\n"
    "  logits    -m MODEL (--ids \"1 2 3\" | -p TEXT) [-n N] [--ctx N] [--kv f16|f32]\n"
    "  serve-shm, client: the shared-memory inference service (see docs/protocol.md)\n"
    "  gateway   --shm PATH --upstream http://HOST:PORT [--model NAME] [--timeout-ms N]\n"
    "  serve     -m MODEL [--host H] [--port P] [--parallel N] [--ctx N]: OpenAI HTTP API\n";

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
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "l4lm: unknown command '%s'\n%s", argv[1], usage);
    return 2;
}
