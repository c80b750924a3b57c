/*
** cli.h — shared pieces of the `l4lm` subcommands: options, and a session
** over a read-only mapped model and a guarded arena.
*/
#ifndef L4LM_CLI_H
#define L4LM_CLI_H
#include <stddef.h>

#include "posix.h"

typedef struct l4lm_cli_opts {
    const char *model, *tokenizer, *prompt, *prompt_file, *ids;
    const char *system; /* chat: the system message, or NULL */
    int32_t n_predict;
    uint32_t n_ctx, n_threads;
    l4lm_kv_type kv_type;
    l4lm_sampler sampler;
    bool no_bos, pieces, ignore_eos;
    bool special; /* --special: text like <|im_start|> becomes its control token */
    bool warmup;  /* run: one untimed prompt + one step first, as llama-bench does */
} l4lm_cli_opts;

typedef struct l4lm_cli_ctx {
    l4lm_posix_model pm;
    l4lm_run_opts opts;
    l4lm_plan_result plan;
    void *arena;
    l4lm_session *s;
    l4lm_pool *pool;
} l4lm_cli_ctx;

/* argv[0] is the subcommand. 0 on success; else an error line was printed. */
int l4lm_cli_parse(int argc, char **argv, l4lm_cli_opts *o);
int l4lm_cli_session(l4lm_cli_ctx *c, const l4lm_cli_opts *o);
void l4lm_cli_close(l4lm_cli_ctx *c);
char *l4lm_cli_prompt(const l4lm_cli_opts *o, size_t *len);
int32_t *l4lm_cli_tokens(l4lm_cli_ctx *c, const l4lm_cli_opts *o, size_t *n);
double l4lm_cli_now(void);
/* Parse a decimal whole number in [lo, hi]; prints why and returns -1 if it is not one. */
int l4lm_cli_whole(const char *name, const char *val, long lo, long hi, long *out);
#endif
