/*
** cmd_run.c — `l4lm run`, `l4lm tokenize` and `l4lm logits`: the commands
** that feed tokens through a session.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

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
** the text); NULL after printing why. c is always safe to close. */
static int32_t *start(int argc, char **argv, l4lm_cli_opts *o, l4lm_cli_ctx *c, size_t *n)
{
    memset(c, 0, sizeof *c);
    *n = 0;
    if (l4lm_cli_parse(argc, argv, o) || l4lm_cli_session(c, o))
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
    int rc = 1;
    int32_t *ids = start(argc, argv, &o, &c, &n_prompt);
    if (!ids || (o.warmup && warm_up(&c, ids, n_prompt)))
        goto out;
    l4lm_session_seed(c.s, o.sampler.seed);
    double t0 = l4lm_cli_now();
    if (eval_prompt(&c, ids, n_prompt))
        goto out;
    double t1 = l4lm_cli_now();
    /* echo the prompt, then continue it */
    l4lm_detok d = {.after_bos = true};
    for (size_t i = 0; i < n_prompt; i++)
        put_token(&c, &d, ids[i]);
    int32_t eos = c.pm.m.vocab.eos, n_gen = 0;
    for (; n_gen < o.n_predict; n_gen++) {
        int32_t tok;
        l4lm_status st = l4lm_sample(c.s, &o.sampler, &tok);
        if (!st && tok == eos && !o.ignore_eos)
            break;
        put_token(&c, &d, tok);
        if (!st && l4lm_session_pos(c.s) == l4lm_session_n_ctx(c.s)) {
            fprintf(stderr, "\nl4lm: stopped: the context of %u tokens is full\n", c.plan.n_ctx);
            n_gen++;
            break;
        }
        if (!st)
            st = l4lm_eval(c.s, &tok, 1, NULL);
        if (st) {
            fprintf(stderr, "\nl4lm: generation failed: %s\n", l4lm_strerror(st));
            goto out;
        }
    }
    double t2 = l4lm_cli_now();
    printf("\n");
    fflush(stdout);
    fprintf(
        stderr,
        "l4lm: prompt %zu tokens, %.1f tok/s; generated %d tokens, %.1f tok/s; arena %zu bytes\n",
        n_prompt, n_prompt / (t1 - t0), n_gen, n_gen / (t2 - t1 > 0 ? t2 - t1 : 1e-9),
        c.plan.total);
    rc = 0;
out:
    free(ids);
    l4lm_cli_close(&c);
    return rc;
}

int l4lm_cmd_tokenize(int argc, char **argv)
{
    l4lm_cli_opts o;
    l4lm_cli_ctx c;
    size_t n;
    int32_t *ids = start(argc, argv, &o, &c, &n);
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
    return ids ? 0 : 1;
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
    int rc = 1;
    int32_t *ids = start(argc, argv, &o, &c, &n);
    if (!ids || eval_prompt(&c, ids, n))
        goto out;
    printf("prompt");
    for (size_t i = 0; i < n; i++)
        printf(" %d", ids[i]);
    printf("\n");
    l4lm_sampler greedy = l4lm_sampler_default();
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
        print_top5(logits, c.pm.m.hp.n_vocab);
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
