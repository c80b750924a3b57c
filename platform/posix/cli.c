/*
** cli.c — the `l4lm` subcommands run, info, tokenize, plan and logits:
** option parsing, then a model mapped read-only, an arena of exactly the
** planned size, and the engine's public API.
*/
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static int bad(const char *what, const char *arg)
{
    fprintf(stderr, "l4lm: %s '%s' (see l4lm --help)\n", what, arg);
    return -1;
}

static int parse_num(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

/* Options that take a number: name, where, range, integral? */
int l4lm_cli_whole(const char *name, const char *val, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(val, &end, 10);
    if (!*val || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "l4lm: %s takes a whole number in [%ld, %ld], not '%s'\n", name, lo, hi,
                val);
        return -1;
    }
    *out = v;
    return 0;
}

typedef struct num_opt {
    const char *name;
    double lo, hi;
    int kind; /* 0 float, 1 int32, 2 uint32, 3 uint64 */
    size_t off;
} num_opt;

#define OFF(f) offsetof(l4lm_cli_opts, f)
static const num_opt num_opts[] = {
    {"-n", 0, 1e9, 1, OFF(n_predict)},
    {"--temp", 0, 100, 0, OFF(sampler.temperature)},
    {"--top-k", 0, 1e9, 1, OFF(sampler.top_k)},
    {"--top-p", 1e-6, 1, 0, OFF(sampler.top_p)},
    {"--min-p", 0, 0.999999, 0, OFF(sampler.min_p)},
    {"--repeat-penalty", 1e-3, 100, 0, OFF(sampler.repeat_penalty)},
    {"--repeat-last-n", 0, 1e9, 1, OFF(sampler.repeat_last_n)},
    {"--seed", 0, 1.8e19, 3, OFF(sampler.seed)},
    {"--ctx", 1, 1 << 20, 2, OFF(n_ctx)},
    {"--threads", 1, 256, 2, OFF(n_threads)},
};

static int set_num(l4lm_cli_opts *o, const num_opt *no, const char *arg)
{
    double v;
    if (parse_num(arg, no->lo, no->hi, &v) || (no->kind && v != (double)(uint64_t)v)) {
        fprintf(stderr, "l4lm: %s takes a %s from %g to %g, not '%s'\n", no->name,
                no->kind ? "whole number" : "number", no->lo, no->hi, arg);
        return -1;
    }
    char *field = (char *)o + no->off;
    if (no->kind == 0)
        *(float *)field = (float)v;
    else if (no->kind == 1)
        *(int32_t *)field = (int32_t)v;
    else if (no->kind == 2)
        *(uint32_t *)field = (uint32_t)v;
    else { /* exact beyond 2^53 when written as plain digits; "1e3" is 1000, not 1 */
        char *end;
        uint64_t u = strtoull(arg, &end, 10);
        *(uint64_t *)field = *end ? (uint64_t)v : u;
    }
    return 0;
}

#define N_NUM_OPTS (sizeof num_opts / sizeof *num_opts)

static bool is_str_opt(const char *a)
{
    static const char *const names[] = {"-m", "-z", "-p", "-f", "--ids", "--kv", "--system"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (!strcmp(a, names[i]))
            return true;
    return false;
}

/* A string option known to is_str_opt; -1 after printing why it is bad. */
static int set_str(l4lm_cli_opts *o, const char *name, const char *arg)
{
    if (!strcmp(name, "-m"))
        o->model = arg;
    else if (!strcmp(name, "-z"))
        o->tokenizer = arg;
    else if (!strcmp(name, "-p"))
        o->prompt = arg;
    else if (!strcmp(name, "-f"))
        o->prompt_file = arg;
    else if (!strcmp(name, "--ids"))
        o->ids = arg;
    else if (!strcmp(name, "--system"))
        o->system = arg;
    else { /* --kv */
        if (strcmp(arg, "f16") && strcmp(arg, "f32"))
            return bad("--kv takes f16 or f32, not", arg);
        o->kv_type = strcmp(arg, "f16") ? L4LM_KV_F32 : L4LM_KV_F16;
    }
    return 0;
}

static int set_flag(l4lm_cli_opts *o, const char *name)
{
    if (!strcmp(name, "--no-bos"))
        o->no_bos = true;
    else if (!strcmp(name, "--pieces"))
        o->pieces = true;
    else if (!strcmp(name, "--ignore-eos"))
        o->ignore_eos = true;
    else if (!strcmp(name, "--special"))
        o->special = true;
    else if (!strcmp(name, "--warmup"))
        o->warmup = true;
    else
        return 1;
    return 0;
}

int l4lm_cli_parse(int argc, char **argv, l4lm_cli_opts *o)
{
    memset(o, 0, sizeof *o);
    o->sampler = l4lm_sampler_default();
    o->sampler.temperature = 0.8f; /* llama.cpp's defaults; --temp 0 is greedy */
    o->sampler.top_k = 40;
    o->sampler.top_p = 0.95f;
    o->sampler.min_p = 0.05f;
    o->sampler.seed = 0x4c344c4d;
    o->n_predict = 128;
    o->kv_type = L4LM_KV_F16;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    o->n_threads = ncpu > 0 ? (uint32_t)ncpu : 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!set_flag(o, a))
            continue;
        size_t k = 0;
        while (k < N_NUM_OPTS && strcmp(num_opts[k].name, a))
            k++;
        if (k == N_NUM_OPTS && !is_str_opt(a))
            return bad(a[0] == '-' ? "unknown option" : "unexpected argument", a);
        if (i + 1 >= argc)
            return bad("missing value for", a);
        const char *v = argv[++i];
        if (k < N_NUM_OPTS ? set_num(o, &num_opts[k], v) : set_str(o, a, v))
            return -1;
    }
    if (!o->model)
        return bad("missing model: use -m", "MODEL");
    return 0;
}

/* ------------------------------------------------------------ sessions */

int l4lm_cli_session(l4lm_cli_ctx *c, const l4lm_cli_opts *o)
{
    memset(c, 0, sizeof *c);
    if (l4lm_posix_model_load(&c->pm, o->model, o->tokenizer))
        return -1;
    c->opts.n_ctx = o->n_ctx;
    c->opts.kv_type = o->kv_type;
    if (o->n_threads > 1) {
        c->pool = l4lm_pool_start(o->n_threads);
        c->opts.parallel_for = l4lm_pool_parallel_for;
        c->opts.parallel_ctx = c->pool;
        c->opts.n_threads = o->n_threads;
    }
    l4lm_status st = l4lm_plan(&c->pm.m, &c->opts, &c->plan);
    if (st) {
        fprintf(stderr, "l4lm: cannot plan the arena: %s\n", l4lm_strerror(st));
        return -1;
    }
    if (c->plan.ctx_beyond_training)
        fprintf(stderr, "l4lm: warning: context %u exceeds the model's training context %u\n",
                c->plan.n_ctx, c->pm.m.hp.n_ctx_train);
    c->arena = l4lm_posix_arena(c->plan.total);
    if (!c->arena) {
        fprintf(stderr, "l4lm: cannot allocate a %zu-byte arena\n", c->plan.total);
        return -1;
    }
    st = l4lm_session_init(&c->s, &c->pm.m, &c->opts, c->arena, c->plan.total);
    if (st) {
        fprintf(stderr, "l4lm: cannot start a session: %s\n", l4lm_strerror(st));
        return -1;
    }
    return 0;
}

void l4lm_cli_close(l4lm_cli_ctx *c)
{
    if (c->arena)
        l4lm_posix_arena_free(c->arena, c->plan.total);
    l4lm_pool_stop(c->pool);
    l4lm_posix_model_unload(&c->pm);
}

/* The prompt text from -p or -f, malloc'd; NULL after printing why. */
char *l4lm_cli_prompt(const l4lm_cli_opts *o, size_t *len)
{
    if (o->prompt) {
        *len = strlen(o->prompt);
        return strdup(o->prompt);
    }
    if (!o->prompt_file) {
        *len = 0;
        return strdup("");
    }
    char err[512];
    size_t size;
    const void *p = l4lm_posix_map(o->prompt_file, &size, err, sizeof err);
    if (!p) {
        fprintf(stderr, "l4lm: %s\n", err);
        return NULL;
    }
    char *text = malloc(size + 1);
    if (text) {
        memcpy(text, p, size);
        text[size] = 0;
        *len = size;
    }
    l4lm_posix_unmap(p, size);
    return text;
}

/* Tokenize the prompt into a malloc'd array; NULL after printing why. */
int32_t *l4lm_cli_tokens(l4lm_cli_ctx *c, const l4lm_cli_opts *o, size_t *n)
{
    size_t len;
    char *text = l4lm_cli_prompt(o, &len);
    if (!text)
        return NULL;
    /* a byte becomes at most 3 ids (a space as the byte tokens of "\xe2\x96\x81"; a bad
    ** byte as the 3 characters of U+FFFD in byte-level BPE), + prefix, BOS, EOS */
    size_t cap = 3 * (len + 1) + 2;
    uint32_t flags = (o->no_bos ? 0 : L4LM_TOK_BOS) | (o->special ? L4LM_TOK_SPECIAL : 0);
    int32_t *ids = malloc(cap * sizeof *ids);
    l4lm_status st = ids ? l4lm_tokenize(c->s, text, len, flags, ids, cap, n) : L4LM_E_ARG;
    free(text);
    if (st) {
        fprintf(stderr, "l4lm: cannot tokenize the prompt: %s\n", l4lm_strerror(st));
        free(ids);
        return NULL;
    }
    return ids;
}

double l4lm_cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}
