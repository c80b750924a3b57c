/*
** serve.c — `l4lm serve-shm` and `l4lm client`: the shared-memory inference
** service as two Linux processes.
**
** The server owns the model and one session (arena) per client slot. Each
** connecting client gets a fresh sealed memfd region, mapped between
** PROT_NONE guard pages, and an eventfd doorbell (serve_host.c); the server
** core (src/serve) does the rest.
*/
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "grammar_host.h"
#include "serve_shm.h"

/* ---- options: ours are taken out, the rest goes to l4lm_cli_parse ---- */

typedef int (*take_fn)(void *o, const char *name, const char *val);

static bool listed(const char *const *names, const char *a)
{
    for (; *names; names++)
        if (!strcmp(*names, a))
            return true;
    return false;
}

/* rest gets argv[0], every argument not ours, then extra (NULL-terminated). */
static int split_args(int argc, char **argv, const char *const *valued, const char *const *flags,
                      take_fn take, void *o, char **rest, int *n_rest, char *const *extra)
{
    int n = 0;
    rest[n++] = argv[0];
    for (int i = 1; i < argc; i++) {
        if (listed(valued, argv[i])) {
            if (i + 1 >= argc) {
                fprintf(stderr, "l4lm: missing value for '%s'\n", argv[i]);
                return -1;
            }
            if (take(o, argv[i], argv[i + 1]))
                return -1;
            i++;
        } else if (listed(flags, argv[i])) {
            if (take(o, argv[i], NULL))
                return -1;
        } else {
            rest[n++] = argv[i];
        }
    }
    for (; extra && *extra; extra++)
        rest[n++] = *extra;
    rest[n] = NULL;
    *n_rest = n;
    return 0;
}

static int whole(const char *name, const char *val, long lo, long hi, uint32_t *out)
{
    long v;
    if (l4lm_cli_whole(name, val, lo, hi, &v))
        return -1;
    *out = (uint32_t)v;
    return 0;
}

/* ---- the server ---- */

typedef struct serve_opts {
    const char *socket;
    uint32_t clients, slice;
    uint32_t idle;        /* --idle-timeout seconds; 0: never */
    uint32_t per_pid;     /* --clients-per-pid; 0: all but one slot */
    uint32_t max_grammar; /* --max-grammar bytes; 0: grammars refused */
} serve_opts;

static int take_serve(void *p, const char *name, const char *val)
{
    serve_opts *o = p;
    if (!strcmp(name, "--socket")) {
        o->socket = val;
        return 0;
    }
    if (!strcmp(name, "--clients"))
        return whole(name, val, 1, 64, &o->clients);
    if (!strcmp(name, "--idle-timeout"))
        return whole(name, val, 0, 86400, &o->idle);
    if (!strcmp(name, "--clients-per-pid"))
        return whole(name, val, 1, 64, &o->per_pid);
    if (!strcmp(name, "--max-grammar"))
        return whole(name, val, 0, L4LM_SHM_MAX_GRAMMAR, &o->max_grammar);
    return whole(name, val, 1, 4096, &o->slice);
}

typedef struct shm_server {
    l4lm_cli_ctx cli; /* the model, the pool, the plan and client 0's session */
    l4lm_shm_host host;
    void **sessions;
    void **arenas; /* clients 1..n-1: an arena of the same plan each */
    uint32_t n;
} shm_server;

/* Client 0 uses the CLI's session; the others get an arena of the same plan each. */
static int make_sessions(shm_server *S)
{
    l4lm_cli_ctx *c = &S->cli;
    S->sessions[0] = c->s;
    for (uint32_t i = 1; i < S->n; i++) {
        l4lm_session *s;
        S->arenas[i] = l4lm_posix_arena(c->plan.total);
        if (!S->arenas[i] ||
            l4lm_session_init(&s, &c->pm.m, &c->opts, S->arenas[i], c->plan.total)) {
            fprintf(stderr, "l4lm: cannot make the session of client %u\n", i);
            return -1;
        }
        S->sessions[i] = s;
    }
    return 0;
}

static int setup(shm_server *S, const l4lm_cli_opts *o, const serve_opts *so)
{
    memset(S, 0, sizeof *S);
    S->host.listen_fd = S->host.ep = -1;
    S->n = so->clients;
    S->sessions = calloc(S->n, sizeof *S->sessions);
    S->arenas = calloc(S->n, sizeof *S->arenas);
    if (!S->sessions || !S->arenas || l4lm_cli_session(&S->cli, o) || make_sessions(S))
        return -1;
    /* A request may carry the longest prompt the tokenizer takes, stop
    ** strings, n_keep and the longest grammar we take. */
    l4lm_shm_config cfg = l4lm_shm_config_default();
    cfg.max_grammar = so->max_grammar;
    uint64_t max_req = L4LM_SHM_REQ_FIXED + 16ull * S->cli.plan.n_ctx +
                       L4LM_SHM_MAX_STOPS * (4 + L4LM_SHM_MAX_STOP_BYTES) + 4 +
                       (so->max_grammar ? 4 + so->max_grammar : 0);
    cfg.max_request = max_req < (1u << 24) ? (uint32_t)max_req : 1u << 24;
    if (l4lm_shm_host_open(&S->host, so->socket, l4lm_shm_server_engine_l4lm(), &cfg, S->sessions,
                           S->n, so->slice, S->cli.plan.n_ctx))
        return -1;
    S->host.idle_ms = so->idle * 1000;
    if (so->per_pid)
        S->host.per_pid = so->per_pid;
    fprintf(stderr,
            "l4lm: serving up to %u clients on %s: region %zu bytes, arena %zu bytes, "
            "grammar memory %zu bytes each\n",
            S->n, so->socket, S->host.region_size, S->cli.plan.total, S->host.grammar_size);
    return 0;
}

static void teardown(shm_server *S, const char *path)
{
    l4lm_shm_host_close(&S->host, path);
    for (uint32_t i = 1; S->arenas && i < S->n; i++)
        if (S->arenas[i])
            l4lm_posix_arena_free(S->arenas[i], S->cli.plan.total);
    l4lm_cli_close(&S->cli);
    free(S->sessions);
    free(S->arenas);
}

int l4lm_cmd_serve_shm(int argc, char **argv)
{
    static const char *const valued[] = {
        "--socket",      "--clients",         "--slice", "--idle-timeout",
        "--max-grammar", "--clients-per-pid", NULL};
    static const char *const flags[] = {NULL};
    serve_opts so = {NULL, 4, 8, 60, 0, 16384};
    l4lm_cli_opts o;
    int n_rest, rc = 1, parsed = -1;
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    if (rest && !split_args(argc, argv, valued, flags, take_serve, &so, rest, &n_rest, NULL))
        parsed = l4lm_cli_parse(n_rest, rest, &o);
    free(rest);
    if (parsed)
        return l4lm_cli_exit(parsed);
    if (!so.socket) {
        fprintf(stderr, "l4lm serve-shm: no socket: give one with --socket PATH "
                        "(see l4lm serve-shm --help)\n");
        return L4LM_EXIT_USAGE;
    }
    shm_server S;
    if (setup(&S, &o, &so) == 0) {
        l4lm_shm_host_run(&S.host);
        rc = 0;
    }
    teardown(&S, so.socket);
    return rc;
}

/* ---- the client ---- */

typedef struct client_opts {
    const char *socket;
    uint32_t n_stop, cancel_after;
    const char *stop[L4LM_SHM_MAX_STOPS];
    bool print_ids;
} client_opts;

static int take_client(void *p, const char *name, const char *val)
{
    client_opts *o = p;
    if (!strcmp(name, "--socket"))
        o->socket = val;
    else if (!strcmp(name, "--print-ids"))
        o->print_ids = true;
    else if (!strcmp(name, "--cancel-after"))
        return whole(name, val, 1, 1 << 20, &o->cancel_after);
    else if (o->n_stop == L4LM_SHM_MAX_STOPS || !*val || strlen(val) > L4LM_SHM_MAX_STOP_BYTES) {
        fprintf(stderr, "l4lm: at most %u --stop strings of 1 to %u bytes\n", L4LM_SHM_MAX_STOPS,
                L4LM_SHM_MAX_STOP_BYTES);
        return -1;
    } else
        o->stop[o->n_stop++] = val;
    return 0;
}

/* Send one request and stream its answer; the exit status. */
static int client_run(l4lm_shm_conn *k, const l4lm_shm_request *r, const client_opts *co)
{
    uint32_t id, tokens = 0;
    l4lm_shm_event ev;
    int st = l4lm_shm_submit_wait(k, r, &id), w = 0;
    if (st) {
        fprintf(stderr, "l4lm: cannot send the request: %s\n",
                st < 0               ? "the server is gone"
                : st == L4LM_E_LIMIT ? "larger than the server takes (see --ctx)"
                                     : l4lm_strerror((l4lm_status)st));
        return 1;
    }
    if (!co->print_ids) /* echo the prompt, then continue it, as `l4lm run` does */
        fwrite(r->prompt, 1, r->prompt_len, stdout);
    while ((w = l4lm_shm_next_wait(k, &ev, -1)) > 0 && ev.kind != L4LM_SHM_DONE) {
        if (ev.id != id)
            continue;
        if (co->print_ids && ev.kind == L4LM_SHM_TOKEN)
            printf(tokens ? " %d" : "%d", ev.value);
        else if (!co->print_ids)
            fwrite(ev.text, 1, ev.len, stdout);
        fflush(stdout);
        if (ev.kind == L4LM_SHM_TOKEN && ++tokens == co->cancel_after)
            l4lm_shm_client_cancel(&k->c, id);
    }
    printf("\n");
    if (w <= 0) {
        fprintf(stderr, "l4lm: the server is gone\n");
        return 1;
    }
    fprintf(stderr, "l4lm: %s%s%.*s: prompt %u tokens, generated %u tokens\n",
            l4lm_shm_status_name(ev.status), ev.len ? ": " : "", (int)ev.len, ev.text, ev.n_prompt,
            ev.n_gen);
    return ev.status < L4LM_SHM_E_KIND ? 0 : 1;
}

int l4lm_cmd_client(int argc, char **argv)
{
    static const char *const valued[] = {"--socket", "--stop", "--cancel-after", NULL};
    static const char *const flags[] = {"--print-ids", NULL};
    /* The client has no model; the common parser insists on one. */
    static char *const no_model[] = {"-m", "(none)", NULL};
    client_opts co = {0};
    l4lm_cli_opts o;
    int n_rest, rc = L4LM_EXIT_USAGE, parsed = -1;
    char err[512];
    char **rest = calloc((size_t)argc + 3, sizeof *rest);
    if (rest && !split_args(argc, argv, valued, flags, take_client, &co, rest, &n_rest, no_model))
        parsed = l4lm_cli_parse(n_rest, rest, &o);
    if (parsed) {
        rc = l4lm_cli_exit(parsed);
        goto out;
    }
    if (!co.socket) {
        fprintf(stderr, "l4lm client: no socket: give one with --socket PATH "
                        "(see l4lm client --help)\n");
        goto out;
    }
    size_t len, glen = 0;
    char *prompt = l4lm_cli_prompt(&o, &len), *gbnf = NULL;
    bool gram = o.grammar_file || o.json_schema;
    l4lm_shm_conn k;
    rc = 1;
    if (prompt && gram &&
        (!(gbnf = l4lm_host_grammar_text(o.grammar_file, o.json_schema, &glen)) || !glen ||
         glen > L4LM_SHM_MAX_GRAMMAR)) {
        if (gbnf)
            fprintf(stderr, "l4lm: the grammar has %zu bytes; a server takes 1 to %u\n", glen,
                    L4LM_SHM_MAX_GRAMMAR);
    } else if (prompt && l4lm_shm_connect(&k, co.socket, 2000, err, sizeof err) == 0) {
        l4lm_shm_request r = {.prompt = prompt,
                              .prompt_len = (uint32_t)len,
                              .max_tokens = (uint32_t)o.n_predict,
                              .sampler = o.sampler,
                              .n_stop = co.n_stop,
                              .n_keep = o.n_keep,
                              .grammar = gbnf,
                              .grammar_len = (uint32_t)glen};
        r.flags = (o.no_bos ? L4LM_SHM_NO_BOS : 0) | (o.ignore_eos ? L4LM_SHM_IGNORE_EOS : 0) |
                  (o.context_shift ? L4LM_SHM_CONTEXT_SHIFT : 0) | (gram ? L4LM_SHM_GRAMMAR : 0);
        for (uint32_t i = 0; i < co.n_stop; i++) {
            r.stop[i] = co.stop[i];
            r.stop_len[i] = (uint32_t)strlen(co.stop[i]);
        }
        if (gram && glen > k.c.lay.max_grammar) /* else the body would not even fit */
            fprintf(stderr, "l4lm: the grammar has %zu bytes; this server takes %u at most%s\n",
                    glen, k.c.lay.max_grammar, k.c.lay.max_grammar ? "" : " (no grammars)");
        else
            rc = client_run(&k, &r, &co);
        l4lm_shm_disconnect(&k);
    } else if (prompt) {
        fprintf(stderr, "l4lm: %s\n", err);
    }
    free(gbnf);
    free(prompt);
out:
    free(rest);
    return rc;
}
