/*
** cmd_run.c — `l4lm run`, `l4lm tokenize` and `l4lm logits`: the commands
** that feed tokens through a session.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "grammar_host.h"

/* Evaluate the prompt; 0 on success. */
static int eval_prompt(l4lm_cli_ctx *c, const int32_t *ids, size_t n)
{
    if (n == 0) {
        fprintf(stderr, "l4lm: the prompt has no tokens (try without --no-bos)\n");
        return -1;
    }
    if (n > c->plan.n_ctx) {
        fprintf(stderr, "l4lm: the prompt has %zu tokens but the context holds %u (use --ctx)\n", n,
                c->plan.n_ctx);
        return -1;
    }
    l4lm_status st = l4lm_eval(c->s, ids, n, NULL);
    if (st) {
        fprintf(stderr, "l4lm: evaluation failed: %s\n", l4lm_strerror(st));
        return -1;
    }
    return 0;
}

/* --prompt-cache, as llama.cpp's: load FILE's state (if there is one) and
** keep the tokens it shares with the prompt; how many need no eval. A
** state of another model or plan is only reported: the run goes on cold
** and overwrites it. */
static size_t cache_load(l4lm_cli_ctx *c, const char *path, const int32_t *ids, size_t n)
{
    char err[512];
    size_t size, kept = 0;
    const void *p = access(path, F_OK) ? NULL : l4lm_posix_map(path, &size, err, sizeof err);
    l4lm_status st = p ? l4lm_session_load(c->s, p, size) : L4LM_OK;
    if (p)
        l4lm_posix_unmap(p, size);
    if (st)
        fprintf(stderr, "l4lm: prompt cache %s not used: %s\n", path, l4lm_strerror(st));
    l4lm_session_reuse(c->s, ids, n, &kept); /* a fresh session keeps nothing */
    return kept;
}

/* Write the state after the prompt to path (through a temporary file, so
** a reader never sees half of one); a failure is only reported. */
static void cache_save(l4lm_cli_ctx *c, const char *path)
{
    size_t len, n = strlen(path) + 8;
    void *buf = malloc(c->plan.state);
    char *tmp = malloc(n);
    FILE *f = NULL;
    l4lm_status st = buf && tmp ? l4lm_session_save(c->s, buf, c->plan.state, &len) : L4LM_E_ARG;
    if (!st) {
        snprintf(tmp, n, "%s.tmp", path);
        f = fopen(tmp, "wb");
    }
    bool ok = f && fwrite(buf, 1, len, f) == len;
    ok = f && !fclose(f) && ok && !rename(tmp, path);
    if (!ok) {
        fprintf(stderr, "l4lm: cannot write the prompt cache %s: %s\n", path,
                st ? l4lm_strerror(st) : "write failed");
        if (f)
            remove(tmp);
    }
    free(buf);
    free(tmp);
}

/* "1 2 3" into a malloc'd array; NULL after printing why. */
static int32_t *parse_ids(const char *s, size_t *n)
{
    size_t cap = strlen(s) / 2 + 1, k = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    char *end;
    while (ids && *s) {
        long v = strtol(s, &end, 10);
        if (end == s || v < 0 || v > INT32_MAX) {
            fprintf(stderr, "l4lm: --ids takes space-separated token ids\n");
            free(ids);
            return NULL;
        }
        ids[k++] = (int32_t)v;
        s = end + strspn(end, " ,");
    }
    *n = k;
    return ids;
}

static void put_token(l4lm_cli_ctx *c, l4lm_detok *d, int32_t tok)
{
    char buf[1024];
    l4lm_status st;
    size_t n = l4lm_detok_push(c->s, d, tok, buf, sizeof buf, &st);
    fwrite(buf, 1, n, stdout);
    fflush(stdout);
}

/* Parse options, start a session, and read the prompt's ids (from --ids or
** the text); NULL after printing why (or the help), with *rc the exit status
** (it is L4LM_EXIT_FAIL while the command runs). c is always safe to close.
** vocab_ok: a vocabulary-only model will do (tokenize). */
static int32_t *start(int argc, char **argv, l4lm_cli_opts *o, l4lm_cli_ctx *c, size_t *n, int *rc,
                      bool vocab_ok)
{
    memset(c, 0, sizeof *c);
    *n = 0;
    int parsed = l4lm_cli_parse(argc, argv, o);
    *rc = parsed ? l4lm_cli_exit(parsed) : L4LM_EXIT_FAIL;
    o->vocab_ok = vocab_ok;
    if (parsed || l4lm_cli_session(c, o))
        return NULL;
    return o->ids ? parse_ids(o->ids, n) : l4lm_cli_tokens(c, o, n);
}

/* --warmup: the prompt and one decode step, untimed, then a clean session, so
** the timed run finds the weights mapped and the arena touched (llama-bench's
** warm-up does the same); 0 on success. */
static int warm_up(l4lm_cli_ctx *c, const int32_t *ids, size_t n)
{
    if (eval_prompt(c, ids, n))
        return -1;
    l4lm_status st = n < c->plan.n_ctx ? l4lm_eval(c->s, ids, 1, NULL) : L4LM_OK;
    if (st) {
        fprintf(stderr, "l4lm: warm-up failed: %s\n", l4lm_strerror(st));
        return -1;
    }
    l4lm_session_reset(c->s);
    return 0;
}

int l4lm_cmd_run(int argc, char **argv)
{
    l4lm_cli_opts o;
    l4lm_cli_ctx c;
    size_t n_prompt;
    int rc;
    l4lm_host_grammar gram = {0};
    int32_t *ids = start(argc, argv, &o, &c, &n_prompt, &rc, false);
    if (!ids || (o.warmup && warm_up(&c, ids, n_prompt)))
        goto out;
    if ((o.grammar_file || o.json_schema) &&
        l4lm_host_grammar_file(&gram, c.s, o.grammar_file, o.json_schema))
        goto out;
    double t0 = l4lm_cli_now();
    size_t kept = o.prompt_cache ? cache_load(&c, o.prompt_cache, ids, n_prompt) : 0;
    l4lm_session_seed(c.s, o.sampler.seed); /* after the load, which restores the saved PRNG */
    if ((kept < n_prompt || !n_prompt) && eval_prompt(&c, ids + kept, n_prompt - kept))
        goto out;
    double t1 = l4lm_cli_now();
    if (o.prompt_cache) {
        fprintf(stderr, "l4lm: prompt cache: %zu of %zu prompt tokens from %s\n", kept, n_prompt,
                o.prompt_cache);
        cache_save(&c, o.prompt_cache);
    }
    /* echo the prompt, then continue it */
    l4lm_gen g;
    l4lm_gen_opts go = l4lm_gen_opts_default(&c.pm.m, (uint32_t)o.n_predict);
    go.sampler = o.sampler;
    go.ignore_eos = o.ignore_eos;
    go.context_shift = o.context_shift; /* keep counts BOS too, as llama.cpp's --keep */
    go.n_keep = o.n_keep + (n_prompt && ids[0] == c.pm.info.bos);
    go.n_keep = go.n_keep < n_prompt ? go.n_keep : (uint32_t)n_prompt;
    go.n_stop = o.n_stop;
    for (uint32_t i = 0; i < o.n_stop; i++) {
        go.stop[i] = o.stop[i];
        go.stop_len[i] = (uint32_t)strlen(o.stop[i]);
    }
    l4lm_host_grammar_use(&gram, &go);
    if (l4lm_gen_init(&g, c.s, &go)) {
        fprintf(stderr, "l4lm: bad generation options\n");
        goto out;
    }
    g.detok.after_bos = true;
    for (size_t i = 0; i < n_prompt; i++)
        put_token(&c, &g.detok, ids[i]);
    l4lm_finish f = L4LM_FINISH_NONE;
    while (f == L4LM_FINISH_NONE) {
        const char *text;
        size_t len;
        f = l4lm_gen_step(&g, &text, &len);
        fwrite(text, 1, len, stdout);
        fflush(stdout);
    }
    if (f == L4LM_FINISH_CONTEXT)
        fprintf(stderr, "\nl4lm: stopped: the context of %u tokens is full\n", c.plan.n_ctx);
    if (f == L4LM_FINISH_ERROR) {
        fprintf(stderr, "\nl4lm: generation failed: %s\n", l4lm_strerror(g.status));
        goto out;
    }
    uint32_t n_gen = g.n_gen;
    double t2 = l4lm_cli_now();
    printf("\n");
    fflush(stdout);
    fprintf(stderr,
            "l4lm: prompt %zu tokens in %.3f s, %.1f tok/s; generated %u tokens, %.1f tok/s; arena "
            "%zu bytes\n",
            n_prompt, t1 - t0, n_prompt / (t1 - t0), n_gen, n_gen / (t2 - t1 > 0 ? t2 - t1 : 1e-9),
            c.plan.total);
    if (gram.g) /* what the grammar cost: bench/features.sh reads this */
        fprintf(stderr, "l4lm: grammar: %llu tokens checked, %u of %u steps masked\n",
                (unsigned long long)g.n_checked, g.n_masked, n_gen);
    rc = 0;
out:
    free(ids);
    l4lm_host_grammar_free(&gram);
    l4lm_cli_close(&c);
    return rc;
}

int l4lm_cmd_tokenize(int argc, char **argv)
{
    l4lm_cli_opts o;
    l4lm_cli_ctx c;
    size_t n;
    int rc;
    int32_t *ids = start(argc, argv, &o, &c, &n, &rc, true);
    if (ids) {
        for (size_t i = 0; i < n; i++) {
            printf(i ? " %d" : "%d", ids[i]);
            if (o.pieces) {
                char piece[1024];
                size_t len = l4lm_token_piece(c.s, ids[i], piece, sizeof piece);
                printf(":'%.*s'", (int)len, piece);
            }
        }
        printf("\n");
    }
    l4lm_cli_close(&c);
    free(ids);
    return ids ? L4LM_EXIT_OK : rc;
}

/* Print the top 5 logits as "id:logit", highest first, lowest id on ties. */
static void print_top5(const float *logits, uint32_t n_vocab)
{
    int32_t top[5] = {-1, -1, -1, -1, -1};
    for (uint32_t i = 0; i < n_vocab; i++) {
        int k = 5;
        while (k > 0 && (top[k - 1] < 0 || logits[i] > logits[top[k - 1]]))
            k--;
        if (k == 5)
            continue;
        memmove(top + k + 1, top + k, (4 - k) * sizeof *top);
        top[k] = (int32_t)i;
    }
    printf(" top5");
    for (int k = 0; k < 5 && top[k] >= 0; k++)
        printf(" %d:%.6f", top[k], logits[top[k]]);
    printf("\n");
}

/* `l4lm logits`: greedy steps printing each step's token and top-5 logits. */
int l4lm_cmd_logits(int argc, char **argv)
{
    l4lm_cli_opts o;
    l4lm_cli_ctx c;
    size_t n;
    int rc;
    int32_t *ids = start(argc, argv, &o, &c, &n, &rc, false);
    if (!ids || eval_prompt(&c, ids, n))
        goto out;
    printf("prompt");
    for (size_t i = 0; i < n; i++)
        printf(" %d", ids[i]);
    printf("\n");
    l4lm_sampler greedy = l4lm_sampler_greedy();
    for (int32_t k = 0; k < o.n_predict; k++) {
        const float *logits;
        int32_t tok;
        l4lm_status st = l4lm_eval(c.s, NULL, 0, &logits);
        if (!st)
            st = l4lm_sample(c.s, &greedy, &tok);
        if (st) {
            fprintf(stderr, "l4lm: %s\n", l4lm_strerror(st));
            goto out;
        }
        printf("step %d id %d", k, tok);
        print_top5(logits, c.pm.info.n_vocab);
        if (k + 1 < o.n_predict && (st = l4lm_eval(c.s, &tok, 1, NULL))) {
            fprintf(stderr, "l4lm: %s\n", l4lm_strerror(st));
            goto out;
        }
    }
    rc = 0;
out:
    free(ids);
    l4lm_cli_close(&c);
    return rc;
}
