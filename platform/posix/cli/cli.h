/*
** cli.h — shared pieces of the `l4lm` subcommands: options, and a session
** over a read-only mapped model and a guarded arena.
*/
#ifndef L4LM_CLI_H
#define L4LM_CLI_H
#include <stddef.h>
#include <stdio.h>

#include "posix.h"

typedef struct l4lm_cli_opts {
    const char *model, *tokenizer, *prompt, *prompt_file, *ids;
    const char *system; /* chat: the system message, or NULL */
    int32_t n_predict;
    uint32_t n_ctx, n_threads;
    uint32_t n_batch; /* --batch N: prompt tokens per forward batch; 0: the engine's 32 */
    l4lm_kv_type kv_type;
    l4lm_sampler sampler;
    bool no_bos, pieces, ignore_eos;
    bool special;       /* --special: text like <|im_start|> becomes its control token */
    bool warmup;        /* run: one untimed prompt + one step first, as llama-bench does */
    bool context_shift; /* --context-shift: a full context drops old tokens, goes on */
    uint32_t n_keep;    /* --keep N: prompt tokens a shift keeps (BOS not counted) */
    const char *stop[L4LM_GEN_MAX_STOPS]; /* --stop STR: end the text where STR begins */
    uint32_t n_stop;
    const char *grammar_file; /* --grammar-file F: GBNF the output must match */
    const char *json_schema;  /* --json-schema F: a JSON Schema it must match */
    const char *prompt_cache; /* --prompt-cache F: the prompt's saved session state */
    bool vocab_ok;            /* set by the command: a vocabulary-only model will do */
} l4lm_cli_opts;

typedef struct l4lm_cli_ctx {
    l4lm_posix_model pm;
    l4lm_run_opts opts;
    l4lm_plan_result plan;
    void *arena;
    l4lm_session *s;
    l4lm_pool *pool;
} l4lm_cli_ctx;

/* Exit statuses, the same for every command (l4lm --help lists them). */
enum { L4LM_EXIT_OK = 0, L4LM_EXIT_FAIL = 1, L4LM_EXIT_USAGE = 2 };
/* What a parser returns besides 0 (go on) and -1 (a usage error was printed):
** -h or --help was given and the command's usage has been printed to stdout. */
#define L4LM_CLI_HELP 1

/* argv[0] is the subcommand. 0 on success, L4LM_CLI_HELP, or -1 after an error line. */
int l4lm_cli_parse(int argc, char **argv, l4lm_cli_opts *o);
/* The exit status for a parser's non-zero result: 0 after help, 2 after a usage error. */
int l4lm_cli_exit(int parsed);
/* Is a an option asking for help (-h, --help)? */
bool l4lm_cli_is_help(const char *a);
/* Print command's usage (its --help text) to f; -1 if there is no such command. */
int l4lm_cli_usage(const char *command, FILE *f);
/* Print `l4lm --help`: every command with one line, the exit statuses. */
void l4lm_cli_overview(FILE *f);
/* 0, or -1 after saying why the model cannot take the KV cache type kv. */
int l4lm_cli_kv_check(const l4lm_model *m, l4lm_kv_type kv);
int l4lm_cli_session(l4lm_cli_ctx *c, const l4lm_cli_opts *o);
void l4lm_cli_close(l4lm_cli_ctx *c);
char *l4lm_cli_prompt(const l4lm_cli_opts *o, size_t *len);
int32_t *l4lm_cli_tokens(l4lm_cli_ctx *c, const l4lm_cli_opts *o, size_t *n);
/* The ids l4lm_tokenize may write for len bytes of text (every front end sizes its buffer so). */
size_t l4lm_cli_token_cap(size_t len);
double l4lm_cli_now(void);
/* Parse a decimal whole number in [lo, hi]; prints why and returns -1 if it is not one. */
int l4lm_cli_whole(const char *name, const char *val, long lo, long hi, long *out);
#endif
