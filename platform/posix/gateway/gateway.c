/*
** gateway.c — `l4lm gateway`: serves the shared-memory protocol and
** forwards each request to an OpenAI-compatible upstream, so seL4 clients
** stay unchanged when the model moves to a bigger machine.
**
** The gateway is an engine for the same server core (src/serve) and host
** loop (serve_host.c) as `l4lm serve-shm`: validation, cancellation, stop
** strings, max_tokens and backpressure are theirs. Its session holds one
** upstream call (gateway_call.c). The token-level calls map as follows:
** request starts the call; tokenize gives one placeholder token (the
** upstream tokenizes; the prompt count is not known here); eval does
** nothing; wait reports whether a token has arrived, or how the call ended;
** sample takes the next token and detok gives its text; end aborts the call.
*/
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cli.h"
#include "gateway.h"
#include "posix.h"
#include "serve_shm.h"

typedef struct gw_session {
    gw_config *g;
    gw_call *call; /* NULL: no upstream call (none yet, or max_tokens 0) */
    uint32_t fail; /* a request that could not start: its status */
    const char *why;
    uint32_t text_len; /* the text of the token sample just took */
    char text[L4LM_SHM_TEXT_CAP];
} gw_session;

static void gw_end(void *p)
{
    gw_session *s = p;
    if (s->call)
        gw_call_release(s->call);
    s->call = NULL;
}

static void gw_start(void *p, uint64_t seed)
{
    gw_session *s = p;
    (void)seed; /* it travels with the request */
    gw_end(s);
    s->fail = 0;
    s->text_len = 0;
}

static void gw_request(void *p, const l4lm_shm_request *r)
{
    gw_session *s = p;
    if (!r->max_tokens) /* nothing to generate, nothing to ask */
        return;
    if (memchr(r->prompt, 0, r->prompt_len)) {
        s->fail = L4LM_SHM_E_PROMPT;
        s->why = "the prompt has a NUL byte (the upstream takes JSON text)";
    } else if (!(s->call = gw_call_start(s->g, r))) {
        s->fail = L4LM_SHM_E_UPSTREAM;
        s->why = "cannot start the upstream request";
    }
}

static l4lm_status gw_tokenize(void *p, const char *text, size_t len, bool add_bos, int32_t *out,
                               size_t cap, size_t *n)
{
    (void)p, (void)text, (void)len, (void)add_bos;
    if (!cap)
        return L4LM_E_BUFFER;
    out[0] = 0;
    *n = 1;
    return L4LM_OK;
}

static l4lm_status gw_eval(void *p, const int32_t *tokens, size_t n)
{
    (void)p, (void)tokens, (void)n;
    return L4LM_OK;
}

static uint32_t gw_wait(void *p, int32_t *value, const char **why)
{
    gw_session *s = p;
    *value = 0;
    *why = s->why;
    if (s->fail)
        return s->fail;
    return s->call ? gw_call_peek(s->call, value, why) : 0;
}

static l4lm_status gw_sample(void *p, const l4lm_sampler *sp, int32_t *token)
{
    gw_session *s = p;
    (void)sp; /* the upstream sampled */
    if (!s->call || !gw_call_pop(s->call, token, s->text, &s->text_len))
        return L4LM_E_STATE;
    return L4LM_OK;
}

static size_t gw_detok(void *p, l4lm_detok *d, int32_t token, char *buf, size_t cap,
                       l4lm_status *st)
{
    gw_session *s = p;
    size_t n = s->text_len;
    (void)d, (void)token;
    *st = n > cap ? L4LM_E_BUFFER : L4LM_OK;
    if (*st)
        return 0;
    memcpy(buf, s->text, n);
    s->text_len = 0;
    return n;
}

static bool gw_is_eos(void *p, int32_t token)
{
    (void)p, (void)token;
    return false; /* the upstream's end comes through wait */
}

static const l4lm_shm_server_engine gateway_engine = {
    .start = gw_start,
    .tokenize = gw_tokenize,
    .eval = gw_eval,
    .sample = gw_sample,
    .detok = gw_detok,
    .is_eos = gw_is_eos, /* and no stop_tokens: the upstream stops its own turns */
    .request = gw_request,
    .wait = gw_wait,
    .end = gw_end,
};

/* ---- the command ---- */

typedef struct gw_opts {
    const char *socket, *url, *model;
    long timeout_ms, clients, slice, max_prompt;
} gw_opts;

/* 0, L4LM_CLI_HELP after printing the usage, or -1 after printing why not. */
static int parse(int argc, char **argv, gw_opts *o)
{
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
        if (l4lm_cli_is_help(a)) {
            l4lm_cli_usage("gateway", stdout);
            return L4LM_CLI_HELP;
        }
        if (!v) {
            fprintf(stderr, "l4lm: gateway: '%s' needs a value (or is unknown)\n", a);
            return -1;
        }
        if (!strcmp(a, "--shm") || !strcmp(a, "--socket"))
            o->socket = v;
        else if (!strcmp(a, "--upstream"))
            o->url = v;
        else if (!strcmp(a, "--model"))
            o->model = v;
        else if (!strcmp(a, "--timeout-ms"))
            bad = l4lm_cli_whole(a, v, 1, 3600000, &o->timeout_ms);
        else if (!strcmp(a, "--clients"))
            bad = l4lm_cli_whole(a, v, 1, 64, &o->clients);
        else if (!strcmp(a, "--slice"))
            bad = l4lm_cli_whole(a, v, 1, 4096, &o->slice);
        else if (!strcmp(a, "--max-prompt"))
            bad = l4lm_cli_whole(a, v, 1, 1 << 23, &o->max_prompt);
        else {
            fprintf(stderr, "l4lm: gateway: unknown option '%s'\n", a);
            return -1;
        }
        if (bad)
            return -1;
    }
    if (!o->socket || !o->url) {
        fprintf(stderr, "l4lm gateway: needs --shm PATH and --upstream URL "
                        "(see l4lm gateway --help)\n");
        return -1;
    }
    if (strncmp(o->url, "http://", 7) && strncmp(o->url, "https://", 8)) {
        fprintf(stderr, "l4lm: gateway: --upstream must be an http:// or https:// URL\n");
        return -1;
    }
    return 0;
}

static int serve(const gw_opts *o, gw_config *g, gw_session *ss, void **sessions)
{
    l4lm_shm_host H;
    l4lm_shm_config cfg = l4lm_shm_config_default();
    cfg.max_request = (uint32_t)(L4LM_SHM_REQ_FIXED + o->max_prompt +
                                 L4LM_SHM_MAX_STOPS * (4 + L4LM_SHM_MAX_STOP_BYTES));
    for (long i = 0; i < o->clients; i++) {
        ss[i].g = g;
        sessions[i] = &ss[i];
    }
    int rc = 1;
    if (!l4lm_shm_host_open(&H, o->socket, &gateway_engine, &cfg, sessions, (uint32_t)o->clients,
                            (uint32_t)o->slice, 1) &&
        !l4lm_shm_host_wake_on(&H, g->wake_fd)) {
        fprintf(stderr, "l4lm: gateway on %s to %s: up to %ld clients, timeout %ld ms\n", o->socket,
                o->url, o->clients, o->timeout_ms);
        l4lm_shm_host_run(&H);
        rc = 0;
    }
    l4lm_shm_host_close(&H, o->socket); /* detaching ends every call */
    gw_wait_workers(g, 5000);
    return rc;
}

int l4lm_cmd_gateway(int argc, char **argv)
{
    gw_opts o = {NULL, NULL, NULL, 30000, 4, 8, 32768};
    int parsed = parse(argc, argv, &o);
    if (parsed)
        return l4lm_cli_exit(parsed);
    signal(SIGPIPE, SIG_IGN); /* a vanished upstream is an error status, not our death */
    gw_config g = {
        o.url, o.model, o.timeout_ms, -1, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    gw_session *ss = calloc((size_t)o.clients, sizeof *ss);
    void **sessions = calloc((size_t)o.clients, sizeof *sessions);
    g.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    int rc = 1;
    if (!ss || !sessions || g.wake_fd < 0 || curl_global_init(CURL_GLOBAL_DEFAULT))
        fprintf(stderr, "l4lm: gateway: cannot set up\n");
    else
        rc = serve(&o, &g, ss, sessions);
    if (g.wake_fd >= 0)
        close(g.wake_fd);
    curl_global_cleanup();
    free(ss);
    free(sessions);
    return rc;
}
