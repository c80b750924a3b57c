/*
** cli.c — the `l4lm` subcommands run, info, tokenize, plan and logits:
** option parsing, then a model mapped read-only, an arena of exactly the
** planned size, and the engine's public API. Also every command's --help
** text (the one place each command's options are listed) and `l4lm --help`.
*/
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static int bad(const char *cmd, const char *what, const char *arg)
{
    fprintf(stderr, "l4lm %s: %s '%s' (see l4lm %s --help)\n", cmd, what, arg, cmd);
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
    {"--batch", 1, L4LM_MAX_BATCH, 2, OFF(n_batch)},
    {"--threads", 1, 256, 2, OFF(n_threads)},
    {"--keep", 0, 1 << 20, 2, OFF(n_keep)},
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
    static const char *const names[] = {"-m",
                                        "-z",
                                        "-p",
                                        "-f",
                                        "--ids",
                                        "--kv",
                                        "--system",
                                        "--stop",
                                        "--grammar-file",
                                        "--json-schema",
                                        "--prompt-cache"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (!strcmp(a, names[i]))
            return true;
    return false;
}

/* A string option known to is_str_opt; -1 after printing why it is bad. */
static int set_str(l4lm_cli_opts *o, const char *cmd, const char *name, const char *arg)
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
    else if (!strcmp(name, "--prompt-cache"))
        o->prompt_cache = arg;
    else if (!strcmp(name, "--grammar-file") || !strcmp(name, "--json-schema")) {
        if (o->grammar_file || o->json_schema)
            return bad(cmd, "one --grammar-file or --json-schema only, not also", arg);
        *(name[2] == 'g' ? &o->grammar_file : &o->json_schema) = arg;
    } else if (!strcmp(name, "--stop")) {
        size_t n = strlen(arg);
        if (o->n_stop == L4LM_GEN_MAX_STOPS || n == 0 || n > L4LM_GEN_MAX_STOP_BYTES)
            return bad(cmd, "too many --stop strings, or one empty or too long:", arg);
        o->stop[o->n_stop++] = arg;
    } else { /* --kv */
        if (strcmp(arg, "f16") && strcmp(arg, "f32") && strcmp(arg, "q8_0"))
            return bad(cmd, "--kv takes f16, f32 or q8_0, not", arg);
        o->kv_type = !strcmp(arg, "f16") ? L4LM_KV_F16 : arg[0] == 'q' ? L4LM_KV_Q8_0 : L4LM_KV_F32;
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
    else if (!strcmp(name, "--context-shift"))
        o->context_shift = true;
    else
        return 1;
    return 0;
}

int l4lm_cli_parse(int argc, char **argv, l4lm_cli_opts *o)
{
    memset(o, 0, sizeof *o);
    o->sampler = l4lm_sampler_greedy();
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
        if (l4lm_cli_is_help(a)) {
            l4lm_cli_usage(argv[0], stdout);
            return L4LM_CLI_HELP;
        }
        if (!set_flag(o, a))
            continue;
        size_t k = 0;
        while (k < N_NUM_OPTS && strcmp(num_opts[k].name, a))
            k++;
        if (k == N_NUM_OPTS && !is_str_opt(a))
            return bad(argv[0], a[0] == '-' ? "unknown option" : "unexpected argument", a);
        if (i + 1 >= argc)
            return bad(argv[0], "missing value for", a);
        const char *v = argv[++i];
        if (k < N_NUM_OPTS ? set_num(o, &num_opts[k], v) : set_str(o, argv[0], a, v))
            return -1;
    }
    if (!o->model) {
        fprintf(stderr, "l4lm %s: no model: give one with -m MODEL (see l4lm %s --help)\n", argv[0],
                argv[0]);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ sessions */

int l4lm_cli_kv_check(const l4lm_model *m, l4lm_kv_type kv)
{
    l4lm_model_info info;
    if (kv != L4LM_KV_Q8_0 || l4lm_model_get_info(m, &info) || info.head_dim % 32 == 0)
        return 0;
    fprintf(stderr,
            "l4lm: --kv q8_0 needs a head size that is a multiple of 32 (as llama.cpp's"
            " -ctk/-ctv q8_0); this model's is %u: use --kv f16 or f32\n",
            info.head_dim);
    return -1;
}

int l4lm_cli_session(l4lm_cli_ctx *c, const l4lm_cli_opts *o)
{
    memset(c, 0, sizeof *c);
    if (l4lm_posix_model_load(&c->pm, o->model, o->tokenizer) ||
        (!o->vocab_ok && l4lm_posix_need_weights(&c->pm, o->model)))
        return -1;
    c->opts.n_ctx = o->n_ctx;
    c->opts.n_batch = o->n_batch;
    c->opts.kv_type = o->kv_type;
    l4lm_posix_simd(&c->opts);
    if (o->n_threads > 1) {
        c->pool = l4lm_pool_start(o->n_threads);
        c->opts.parallel_for = l4lm_pool_parallel_for;
        c->opts.parallel_ctx = c->pool;
        c->opts.n_threads = o->n_threads;
    }
    if (l4lm_cli_kv_check(&c->pm.m, o->kv_type))
        return -1;
    l4lm_status st = l4lm_plan(&c->pm.m, &c->opts, &c->plan);
    if (st) {
        fprintf(stderr, "l4lm: cannot plan the arena: %s\n", l4lm_strerror(st));
        return -1;
    }
    if (c->plan.ctx_beyond_training)
        fprintf(stderr, "l4lm: warning: context %u exceeds the model's training context %u\n",
                c->plan.n_ctx, c->pm.info.n_ctx_train);
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

size_t l4lm_cli_token_cap(size_t len)
{
    /* a byte becomes at most 3 ids (a space as the byte tokens of "\xe2\x96\x81"; a bad
    ** byte as the 3 characters of U+FFFD in byte-level BPE), + prefix, BOS, EOS */
    return 3 * (len + 1) + 2;
}

/* Tokenize the prompt into a malloc'd array; NULL after printing why. */
int32_t *l4lm_cli_tokens(l4lm_cli_ctx *c, const l4lm_cli_opts *o, size_t *n)
{
    size_t len;
    char *text = l4lm_cli_prompt(o, &len);
    if (!text)
        return NULL;
    size_t cap = l4lm_cli_token_cap(len);
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

/* ---------------------------------------------------------------- help */

/* Option groups that several commands share, written once. */
#define H_MODEL                                                                                    \
    "  -m MODEL             a GGUF file, or a llama2.c checkpoint (then also -z)\n"                \
    "  -z TOKENIZER         the tokenizer.bin of a llama2.c checkpoint\n"
#define H_PROMPT                                                                                   \
    "  -p TEXT              the prompt\n"                                                          \
    "  -f FILE              the prompt from a file\n"
#define H_TOKENS                                                                                   \
    "  --no-bos             no beginning-of-sequence token before the prompt\n"                    \
    "  --special            text such as <|im_start|> in the prompt becomes its control token\n"
#define H_SESSION                                                                                  \
    "  --ctx N              context in tokens (the model's training context)\n"                    \
    "  --kv f16|f32|q8_0    the KV cache's type (f16)\n"                                           \
    "  --batch N            prompt tokens per forward batch, 1 to 512 (32; more is faster\n"       \
    "                       on long prompts and takes more arena: see l4lm plan)\n"                \
    "  --threads N          threads (every online core)\n"
#define H_GRAMMAR                                                                                  \
    "  --grammar-file F     the output must match this GBNF grammar (llama.cpp's syntax)\n"        \
    "  --json-schema F      the output must be JSON matching this JSON Schema\n"
#define H_SAMPLING                                                                                 \
    "sampling (llama.cpp's defaults):\n"                                                           \
    "  --temp T             temperature; 0 is greedy (0.8)\n"                                      \
    "  --top-k K            keep the K most likely tokens; 0 keeps all (40)\n"                     \
    "  --top-p P            keep the likeliest tokens up to probability P (0.95)\n"                \
    "  --min-p P            drop tokens below P times the likeliest one's probability (0.05)\n"    \
    "  --repeat-penalty R   penalise the tokens of the last --repeat-last-n by R (1: off)\n"       \
    "  --repeat-last-n N    how many recent tokens the penalty looks at (64)\n"                    \
    "  --seed S             the sampler's seed; the same seed gives the same tokens\n"

typedef struct cli_help {
    const char *name, *summary, *usage;
} cli_help;

static const cli_help helps[] = {
    {"run", "generate text that continues a prompt",
     "usage: l4lm run -m MODEL [-z TOKENIZER] (-p TEXT | -f FILE | --ids \"1 2 3\") [options]\n"
     "Echoes the prompt and continues it; speed and arena size go to stderr.\n" H_MODEL H_PROMPT
     "  --ids \"1 2 3\"        the prompt as token ids\n"
     "  -n N                 tokens to generate at most (128)\n"
     "  --ignore-eos         go on past the end-of-sequence token\n"
     "  --warmup             one untimed prompt and decode step first, as llama-bench does\n"
     "  --context-shift      a full context drops the older half of what follows --keep\n"
     "                       and generation goes on (off: it stops)\n"
     "  --keep N             prompt tokens a context shift keeps, after BOS (0)\n"
     "  --stop STR           stop before this text (up to 4; the text itself is not printed)\n"
     "  --prompt-cache F     the session state after the prompt, kept in F: a later run whose\n"
     "                       prompt begins with the same tokens evaluates only the rest\n" H_GRAMMAR
         H_TOKENS H_SESSION H_SAMPLING},
    {"chat", "a conversation in the model's chat template; user turns from stdin",
     "usage: l4lm chat -m MODEL [-z TOKENIZER] [--system TEXT] [options]\n"
     "Each line of stdin is a user turn; each answer streams to stdout. EOF ends the "
     "chat.\n" H_MODEL "  --system TEXT        the system message\n"
     "  --special            special-token text in the turns becomes control tokens (off:\n"
     "                       message text can never forge a role marker)\n"
     "  -n N                 tokens per answer at most (128)\n" H_GRAMMAR H_SESSION H_SAMPLING},
    {"info", "what a model file holds: format, hyperparameters, tensors",
     "usage: l4lm info -m MODEL [-z TOKENIZER]\n"
     "Prints the format, architecture, hyperparameters, vocabulary and every tensor.\n" H_MODEL},
    {"tokenize", "the token ids of a text",
     "usage: l4lm tokenize -m MODEL [-z TOKENIZER] (-p TEXT | -f FILE) [options]\n"
     "Prints the ids the model's tokenizer gives the text, on one line.\n" H_MODEL H_PROMPT
     "  --pieces             each id with its text, as id:'piece'\n" H_TOKENS},
    {"plan", "the memory a session needs, with seL4 Microkit memory regions",
     "usage: l4lm plan -m MODEL [-z TOKENIZER] [--ctx N] [--kv f16|f32|q8_0] [--batch N]\n"
     "Prints the arena's parts in bytes and <memory_region> lines for a .system file.\n" H_MODEL
     "  --ctx N              context in tokens (the model's training context)\n"
     "  --kv f16|f32|q8_0    the KV cache's type (f16)\n"
     "  --batch N            prompt tokens per forward batch, 1 to 512 (32)\n"},
    {"logits", "greedy steps with each step's top-5 logits (to compare with references)",
     "usage: l4lm logits -m MODEL [-z TOKENIZER] (--ids \"1 2 3\" | -p TEXT | -f FILE) [options]\n"
     "Evaluates the prompt, then prints each greedy step's token and its top 5 id:logit.\n" H_MODEL
         H_PROMPT "  --ids \"1 2 3\"        the prompt as token ids\n"
     "  -n N                 steps (128)\n" H_TOKENS H_SESSION},
    {"serve", "an OpenAI-compatible HTTP server (/v1/completions, /v1/chat/completions)",
     "usage: l4lm serve -m MODEL [-z TOKENIZER] [options]\n"
     "Serves POST /v1/completions and /v1/chat/completions, GET /v1/models and /health.\n" H_MODEL
     "  --host H             the address to listen on (127.0.0.1)\n"
     "  --port P             the port; 0 picks a free one, which the log line names (8080)\n"
     "  --parallel N         slots: requests generated at once, each in its own session (1)\n"
     "  --threads N          threads per slot (1)\n"
     "  --queue N            requests that may wait for a slot; more get HTTP 429 (64)\n"
     "  --max-body N         largest request body in bytes; larger get HTTP 413 (1048576)\n"
     "  --max-conn N         connections at once (256)\n"
     "  --max-conn-per-ip N  connections at once from one client address; 0: no limit (64)\n"
     "  --timeout S          a request's headers and body must arrive within S seconds, and\n"
     "                       an idle connection is closed after S seconds (30)\n"
     "  --alias NAME         the model's name in the API (the file name)\n"
     "  --context-shift      requests that leave out \"context_shift\" go on past a full context\n"
     "  --keep N             their \"n_keep\": prompt tokens a shift keeps, after BOS (0)\n"
     "  --ctx N              context in tokens per slot (the model's training context)\n"
     "  --kv f16|f32|q8_0    the KV cache's type (f16)\n"
     "  -n N                 max_tokens of requests that leave it out (128)\n" H_SAMPLING
     "  (the sampling options set the defaults of requests that leave them out)\n"},
    {"serve-shm", "the shared-memory inference service (docs/protocol.md)",
     "usage: l4lm serve-shm -m MODEL [-z TOKENIZER] --socket PATH [options]\n"
     "Serves clients (l4lm client, seL4 PDs) over shared memory; see docs/protocol.md.\n" H_MODEL
     "  --socket PATH        the unix socket clients connect to\n"
     "  --clients N          client slots, each with its own session (4)\n"
     "  --slice K            tokens one client gets before the next one's turn (8)\n"
     "  --idle-timeout S     drop a client with no request in progress that has not rung\n"
     "                       for S seconds; 0: never (60)\n"
     "  --clients-per-pid N  slots one client process may hold (all but one)\n"
     "  --max-grammar BYTES  the longest grammar a request may carry; 0 refuses grammars "
     "(16384)\n" H_SESSION},
    {"client", "send one prompt to l4lm serve-shm or l4lm gateway and stream the answer",
     "usage: l4lm client --socket PATH (-p TEXT | -f FILE) [options]\n"
     "Echoes the prompt and streams the answer; the outcome goes to stderr.\n"
     "  --socket PATH        the server's unix socket\n" H_PROMPT
     "  -n N                 tokens to generate at most (128)\n"
     "  --stop TEXT          stop before this text (up to 4 times)\n"
     "  --cancel-after N     cancel the request after N tokens\n"
     "  --print-ids          print token ids instead of text\n"
     "  --context-shift      a full context drops the older half of what follows --keep\n"
     "  --keep N             prompt tokens a context shift keeps, after BOS (0)\n" H_GRAMMAR
     "  --ignore-eos         go on past the end-of-sequence token\n"
     "  --no-bos             no beginning-of-sequence token before the prompt\n" H_SAMPLING},
    {"gateway", "the shared-memory service answered by an OpenAI-compatible upstream",
     "usage: l4lm gateway --shm PATH --upstream http://HOST:PORT [options]\n"
     "Serves the shared-memory protocol (as serve-shm) and forwards each request upstream.\n"
     "  --shm PATH           the unix socket clients connect to (also --socket)\n"
     "  --upstream URL       an http:// or https:// OpenAI-compatible server\n"
     "  --model NAME         the model name sent upstream\n"
     "  --timeout-ms N       time-out of one upstream request (30000)\n"
     "  --clients N          client slots (4)\n"
     "  --slice K            tokens one client gets before the next one's turn (8)\n"
     "  --max-prompt BYTES   the longest prompt a request may carry (32768)\n"},
};

#define N_HELPS (sizeof helps / sizeof *helps)

bool l4lm_cli_is_help(const char *a)
{
    return !strcmp(a, "-h") || !strcmp(a, "--help");
}

int l4lm_cli_exit(int parsed)
{
    return parsed == L4LM_CLI_HELP ? L4LM_EXIT_OK : L4LM_EXIT_USAGE;
}

int l4lm_cli_usage(const char *command, FILE *f)
{
    for (size_t i = 0; i < N_HELPS; i++)
        if (!strcmp(command, helps[i].name)) {
            fputs(helps[i].usage, f);
            return 0;
        }
    return -1;
}

void l4lm_cli_overview(FILE *f)
{
    fputs("usage: l4lm COMMAND [options]   (l4lm COMMAND --help: the command's options)\n"
          "commands:\n",
          f);
    for (size_t i = 0; i < N_HELPS; i++)
        fprintf(f, "  %-10s %s\n", helps[i].name, helps[i].summary);
    fputs("exit status:\n"
          "  0  done\n"
          "  1  failed while running: a file that does not open or is not a model, a model\n"
          "     that does not fit, a server that is gone\n"
          "  2  usage error: an unknown command or option, a bad or missing value\n",
          f);
}
