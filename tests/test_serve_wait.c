/*
** test_serve_wait.c — the server core with an engine whose tokens arrive
** from elsewhere (the gateway's kind: request, wait and end hooks), in one
** process. The "remote" engine is the fake engine (serve_fake.h) whose
** sampled tokens are only released when the test says they arrived:
**  - while nothing has arrived a poll streams nothing and reports no work;
**    tokens released a few at a time stream exactly the straight reference;
**  - the request hook sees the decoded request; end runs once per request;
**  - a failure the engine reports ends the request with its status, detail
**    and reason; a cancel or a detach while waiting ends it too.
*/
#define _GNU_SOURCE
#include "t.h"
#include "serve_fake.h"

#define REGION      16384u
#define MAX_REQUEST 1024u
#define TOK_CAP     256u

typedef struct remote {
    fake f;
    uint32_t arrived, taken; /* tokens released by the test / sampled by the server */
    uint32_t fail;           /* a status wait reports, 0 for none */
    uint32_t requests, ends, max_tokens;
} remote;

static void r_start(void *s, uint64_t seed)
{
    remote *r = s;
    fake_start(&r->f, seed);
    r->taken = r->arrived = 0;
}

static l4lm_status r_tokenize(void *s, const char *t, size_t len, bool bos, int32_t *out,
                              size_t cap, size_t *n)
{
    return fake_tokenize(&((remote *)s)->f, t, len, bos, out, cap, n);
}

static l4lm_status r_eval(void *s, const int32_t *tokens, size_t n)
{
    return fake_eval(&((remote *)s)->f, tokens, n);
}

static l4lm_status r_sample(void *s, const l4lm_sampler *sp, int32_t *token)
{
    remote *r = s;
    r->taken++;
    return fake_sample(&r->f, sp, token);
}

static size_t r_detok(void *s, l4lm_detok *d, int32_t token, char *buf, size_t cap, l4lm_status *st)
{
    return fake_detok(&((remote *)s)->f, d, token, buf, cap, st);
}

static bool r_is_eos(void *s, int32_t token)
{
    return fake_is_eos(&((remote *)s)->f, token);
}

static void r_request(void *s, const l4lm_shm_request *q)
{
    remote *r = s;
    r->requests++;
    r->max_tokens = q->max_tokens;
}

static uint32_t r_wait(void *s, int32_t *value, const char **why)
{
    remote *r = s;
    *value = 503;
    *why = "upstream went away";
    if (r->fail)
        return r->fail;
    return r->taken < r->arrived ? 0 : L4LM_SERVE_WAIT;
}

static void r_end(void *s)
{
    ((remote *)s)->ends++;
}

static const l4lm_shm_server_engine remote_engine = {
    .start = r_start,
    .tokenize = r_tokenize,
    .eval = r_eval,
    .sample = r_sample,
    .detok = r_detok,
    .is_eos = r_is_eos,
    .request = r_request,
    .wait = r_wait,
    .end = r_end,
};

static l4lm_shm_server srv;
static l4lm_shm_server_client cl;
static remote eng;
static uint64_t work[(MAX_REQUEST + 4 * TOK_CAP) / 8];
static uint8_t *region;
static l4lm_shm_client cli;

static void bell(void *ctx, uint32_t i)
{
    (void)ctx, (void)i;
}

static void bell_server(void *ctx)
{
    (void)ctx;
}

static void setup(void)
{
    l4lm_shm_config cfg = {4, 16, 64, MAX_REQUEST, 0};
    if (!region)
        region = guarded(REGION);
    eng.f.n_ctx = TOK_CAP;
    if (l4lm_shm_server_init(&srv, &remote_engine, &cfg, &cl, 1, 4, bell, NULL) ||
        l4lm_shm_server_client_init(&srv, 0, &eng, work, sizeof work) ||
        l4lm_shm_server_attach(&srv, 0, region, REGION) ||
        l4lm_shm_client_open(&cli, region, REGION, bell_server, NULL)) {
        T_FAIL("wait_setup", "cannot set up");
        exit(1);
    }
}

static uint32_t submit(const char *prompt, uint32_t max, uint64_t seed)
{
    l4lm_shm_request r;
    uint32_t id = 0;
    memset(&r, 0, sizeof r);
    r.prompt = prompt;
    r.prompt_len = (uint32_t)strlen(prompt);
    r.max_tokens = max;
    r.sampler = (l4lm_sampler){0.8f, 40, 0.95f, 0.05f, 1.1f, 64, seed};
    r.flags = L4LM_SHM_IGNORE_EOS;
    if (l4lm_shm_client_submit(&cli, &r, &id))
        T_FAIL("wait_submit", "submit failed");
    return id;
}

/* Poll until the server has nothing to do, reading everything; tokens read. */
static uint32_t settle(stream *g)
{
    l4lm_shm_event ev;
    uint32_t tokens = 0, k = 0;
    bool more = true;
    while ((more || l4lm_shm_ring_avail(&cli.resp)) && k++ < 1000) {
        more = l4lm_shm_server_poll(&srv);
        while (!g->done && l4lm_shm_client_next(&cli, &ev)) {
            tokens += ev.kind == L4LM_SHM_TOKEN;
            absorb(g, &ev);
        }
    }
    return tokens;
}

static void test_trickle(void)
{
    static stream got, want;
    l4lm_shm_request r;
    memset(&r, 0, sizeof r);
    r.prompt = "Once upon a time";
    r.prompt_len = 16;
    r.max_tokens = 30;
    r.flags = L4LM_SHM_IGNORE_EOS;
    r.sampler = (l4lm_sampler){0.8f, 40, 0.95f, 0.05f, 1.1f, 64, 7};
    reference(&r, TOK_CAP, &want);
    setup();
    memset(&got, 0, sizeof got);
    submit("Once upon a time", 30, 7);
    uint32_t first = settle(&got);
    T_CHECK("wait_nothing_arrived",
            first == 0 && !got.done && eng.requests == 1 && eng.max_tokens == 30 &&
                !l4lm_shm_server_poll(&srv),
            "%u tokens, done %d, requests %u", first, got.done, eng.requests);
    bool steady = true;
    for (uint32_t step = 0; step < 15 && !got.done; step++) {
        eng.arrived += 2;
        uint32_t n = settle(&got);
        steady &= n == 2 || got.done;
    }
    const char *diff = stream_diff(&got, &want);
    T_CHECK("wait_trickle_equals_reference", steady && !*diff, "%s", steady ? diff : "uneven");
    T_CHECK("wait_end_once", eng.ends == 1, "end ran %u times", eng.ends);
}

static void test_fail_cancel_detach(void)
{
    static stream got;
    setup();
    memset(&got, 0, sizeof got);
    submit("abc", 30, 1);
    settle(&got); /* the request starts (start clears arrived) and waits */
    eng.arrived = 3;
    settle(&got);
    eng.fail = L4LM_SHM_E_UPSTREAM;
    settle(&got);
    eng.fail = 0;
    T_CHECK("wait_failure_status",
            got.done && got.status == L4LM_SHM_E_UPSTREAM && got.value == 503 && got.n_gen == 3,
            "done %d status %u value %d gen %u", got.done, got.status, got.value, got.n_gen);

    memset(&got, 0, sizeof got);
    eng.ends = 0;
    uint32_t id = submit("abc", 30, 2);
    settle(&got);
    l4lm_shm_client_cancel(&cli, id);
    settle(&got);
    T_CHECK("wait_cancel_while_waiting",
            got.done && got.status == L4LM_SHM_CANCELLED && eng.ends == 1,
            "done %d status %u ends %u", got.done, got.status, eng.ends);

    submit("abc", 30, 3);
    settle(&got);
    l4lm_shm_server_detach(&srv, 0);
    T_CHECK("wait_detach_ends", eng.ends == 2, "end ran %u times", eng.ends);
}

int main(void)
{
    test_trickle();
    test_fail_cancel_detach();
    T_EXIT();
}
