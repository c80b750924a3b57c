/*
** test_serve_server.c — the server core in one process with a fake engine
** (serve_fake.h): streams equal a straight reference run, requests of one
** client do not leak into the next, clients are served round-robin in
** slices, cancellation stops within one token, stop strings, end-of-turn
** tokens (the engine's stop_tokens), a full
** context, backpressure and doorbells, a table of malformed requests (each
** answered with its error status, and the server still serves; a grammar
** where the server takes none is refused), and
** impossible ring counters. Regions sit between PROT_NONE guard pages.
*/
#define _GNU_SOURCE
#include "t.h"
#include "serve_fake.h"
#include "shm_request.h"

#define NCLI        3
#define REGION      16384u
#define MAX_REQUEST 1024u
#define TOK_CAP     256u

typedef struct rig {
    l4lm_shm_server srv;
    l4lm_shm_server_client cl[NCLI];
    fake eng[NCLI];
    uint64_t work[NCLI][(MAX_REQUEST + 4 * TOK_CAP) / 8];
    uint8_t *region[NCLI];
    l4lm_shm_client c[NCLI];
    uint32_t bells_to_client[NCLI], bells_to_server;
} rig;

static rig R;
static const l4lm_shm_server_engine *rig_engine = &fake_engine;

static void to_client(void *ctx, uint32_t i)
{
    ((rig *)ctx)->bells_to_client[i]++;
}

static void to_server(void *ctx)
{
    ((rig *)ctx)->bells_to_server++;
}

static void rig_init(uint32_t n_ctx, uint32_t slice)
{
    static uint8_t *regions[NCLI];
    l4lm_shm_config cfg = {4, 16, 64, MAX_REQUEST, 0};
    memset(R.bells_to_client, 0, sizeof R.bells_to_client);
    R.bells_to_server = 0;
    if (l4lm_shm_server_init(&R.srv, rig_engine, &cfg, R.cl, NCLI, slice, to_client, &R)) {
        T_FAIL("rig_init", "server_init");
        exit(1);
    }
    for (uint32_t i = 0; i < NCLI; i++) {
        if (!regions[i])
            regions[i] = guarded(REGION);
        R.region[i] = regions[i];
        R.eng[i].n_ctx = n_ctx;
        if (l4lm_shm_server_client_init(&R.srv, i, &R.eng[i], R.work[i], sizeof R.work[i]) ||
            l4lm_shm_server_attach(&R.srv, i, R.region[i], REGION) ||
            l4lm_shm_client_open(&R.c[i], R.region[i], REGION, to_server, &R)) {
            T_FAIL("rig_init", "client %u", i);
            exit(1);
        }
    }
}

static l4lm_shm_request request(const char *prompt, uint32_t max, uint64_t seed, uint32_t flags)
{
    return shm_request(prompt, max, (l4lm_sampler){0.8f, 40, 0.95f, 0.05f, 1.1f, 64, seed}, flags);
}

/* Read the events client i has, up to the end of the request; count TOKENs. */
static uint32_t drain(uint32_t i, stream *g)
{
    l4lm_shm_event ev;
    uint32_t tokens = 0;
    while (!g->done && l4lm_shm_client_next(&R.c[i], &ev)) {
        tokens += ev.kind == L4LM_SHM_TOKEN;
        absorb(g, &ev);
    }
    return tokens;
}

/* Poll and drain until client i's stream is done (or 100000 polls). */
static void run(uint32_t i, stream *g)
{
    memset(g, 0, sizeof *g);
    for (int k = 0; k < 100000 && !g->done; k++) {
        l4lm_shm_server_poll(&R.srv);
        drain(i, g);
    }
}

/* Submit r on client 0, run it, compare with the reference. */
static const char *served_equal(const l4lm_shm_request *r, uint32_t n_ctx, stream *got)
{
    static stream want;
    uint32_t id;
    if (l4lm_shm_client_submit(&R.c[0], r, &id))
        return "submit failed";
    run(0, got);
    reference(r, n_ctx, &want);
    if (got->id != id)
        return "wrong id";
    return stream_diff(got, &want);
}

static void test_streams(void)
{
    static stream got;
    static const char *prompts[] = {"Once upon a time", "", "x", "Lily and Tom went"};
    rig_init(TOK_CAP, 4);
    const char *why = "";
    int longs = 0, eos = 0, length = 0;
    for (uint32_t k = 0; k < 40 && !*why; k++) {
        l4lm_shm_request r = request(prompts[k % 4], k % 10 ? 60 : 0, k * 7919, k % 3 ? 0 : 2);
        why = served_equal(&r, TOK_CAP, &got);
        for (uint32_t j = 0; j < got.n_tok; j++)
            longs += got.tok[j] == FAKE_LONG;
        eos += got.status == L4LM_SHM_EOS;
        length += got.status == L4LM_SHM_LENGTH;
    }
    T_CHECK("serve_streams_equal_reference", !*why, "%s", why);
    T_CHECK("serve_streams_cover_cases", longs && eos && length,
            "long pieces %d, EOS %d, length %d", longs, eos, length);
}

static void test_stop_and_context(void)
{
    static stream got, plain;
    rig_init(TOK_CAP, 3);
    l4lm_shm_request r = request("stop here", 100, 42, L4LM_SHM_IGNORE_EOS);
    reference(&r, TOK_CAP, &plain);
    /* A stop string from the middle of the text the request gives anyway. */
    char stop[3] = {plain.text[20], plain.text[21], 0};
    r.n_stop = 2;
    r.stop[0] = "\x01\x02";
    r.stop_len[0] = 2;
    r.stop[1] = stop;
    r.stop_len[1] = 2;
    const char *why = served_equal(&r, TOK_CAP, &got);
    T_CHECK("serve_stop_string", !*why && got.status == L4LM_SHM_STOP, "%s (status %u)", why,
            got.status);
    rig_init(24, 5);
    r = request("ten bytes.", 100, 5, L4LM_SHM_IGNORE_EOS);
    why = served_equal(&r, 24, &got);
    T_CHECK("serve_context_full", !*why && got.status == L4LM_SHM_CONTEXT_FULL && got.n_gen == 14,
            "%s (status %u, %u generated)", why, got.status, got.n_gen);
    r = request("thirty bytes of prompt, too long", 10, 5, 0);
    why = served_equal(&r, 24, &got);
    T_CHECK("serve_prompt_beyond_context", !*why && got.status == L4LM_SHM_E_PROMPT, "%s", why);
}

/* The fake engine with an end-of-turn token: the letter 'e'. */
#define FAKE_EOT (3 + 'e')
static size_t eot_stop_tokens(void *s, int32_t *ids, size_t cap)
{
    (void)s;
    if (cap)
        ids[0] = FAKE_EOT;
    return 1;
}

/* An engine's stop_tokens end a turn like EOS (status EOS, no text, not
** counted); ignore_eos ignores them too. The real engine has the hook. */
static void test_stop_tokens(void)
{
    static stream got, want;
    l4lm_shm_server_engine eot_engine = fake_engine;
    eot_engine.stop_tokens = eot_stop_tokens;
    rig_engine = &eot_engine;
    rig_init(TOK_CAP, 4);
    uint32_t at = 0, seed = 0;
    for (; seed < 100; seed++) { /* a request whose text has an 'e' before its end */
        l4lm_shm_request r = request("end of turn", 100, seed, 0);
        reference(&r, TOK_CAP, &want);
        for (at = 0; at < want.n_tok && want.tok[at] != FAKE_EOT; at++)
            ;
        if (at < want.n_tok)
            break;
    }
    l4lm_shm_request r = request("end of turn", 100, seed, 0);
    uint32_t id;
    const char *why = l4lm_shm_client_submit(&R.c[0], &r, &id) ? "submit failed" : "";
    run(0, &got);
    bool same = got.n_tok == at && !memcmp(got.tok, want.tok, at * sizeof *got.tok) &&
                got.n_text <= want.n_text && !memcmp(got.text, want.text, got.n_text) &&
                !memchr(got.text, 'e', got.n_text);
    T_CHECK("serve_stop_token_ends_turn",
            !*why && seed < 100 && got.status == L4LM_SHM_EOS && got.n_gen == at && same,
            "%s seed %u: status %u, %u generated, want %u before the end-of-turn token", why, seed,
            got.status, got.n_gen, at);
    r.flags = L4LM_SHM_IGNORE_EOS;
    why = served_equal(&r, TOK_CAP, &got);
    T_CHECK("serve_stop_token_ignore_eos", !*why, "%s", why);
    rig_engine = &fake_engine;
    T_CHECK("serve_real_engine_stop_tokens", l4lm_shm_server_engine_l4lm()->stop_tokens != NULL,
            "the real engine does not stop on end-of-turn tokens");
}

/* Three clients at once: every poll gives each at most `slice` tokens, and all progress. */
static void test_fair(void)
{
    static stream got[NCLI], want[NCLI];
    static const char *prompts[NCLI] = {"alpha", "beta beta", "gamma"};
    uint32_t slice = 4, unfair = 0, stalled = 0, polls = 0;
    l4lm_shm_request r[NCLI];
    rig_init(TOK_CAP, slice);
    for (uint32_t i = 0; i < NCLI; i++) {
        r[i] = request(prompts[i], 150, 100 + i, L4LM_SHM_IGNORE_EOS);
        l4lm_shm_client_submit(&R.c[i], &r[i], NULL);
        memset(&got[i], 0, sizeof got[i]);
    }
    while (!(got[0].done && got[1].done && got[2].done) && polls++ < 10000) {
        l4lm_shm_server_poll(&R.srv);
        for (uint32_t i = 0; i < NCLI; i++) {
            bool generating = got[i].n_tok > 0 && !got[i].done;
            uint32_t n = drain(i, &got[i]);
            unfair += n > slice;
            stalled += generating && n == 0;
        }
    }
    const char *why = "";
    for (uint32_t i = 0; i < NCLI && !*why; i++) {
        reference(&r[i], TOK_CAP, &want[i]);
        why = stream_diff(&got[i], &want[i]);
    }
    T_CHECK("serve_concurrent_clients_correct", !*why, "%s", why);
    T_CHECK("serve_round_robin_slices", !unfair && !stalled,
            "%u turns over the slice, %u polls where a busy client got nothing", unfair, stalled);
}

static void test_cancel(void)
{
    static stream got, want;
    rig_init(TOK_CAP, 4);
    l4lm_shm_request r = request("cancel me", 1000, 9, L4LM_SHM_IGNORE_EOS);
    uint32_t id, before = 0, after;
    l4lm_shm_client_submit(&R.c[0], &r, &id);
    memset(&got, 0, sizeof got);
    for (int k = 0; k < 5; k++) {
        l4lm_shm_server_poll(&R.srv);
        before += drain(0, &got);
    }
    l4lm_shm_client_cancel(&R.c[0], id);
    l4lm_shm_server_poll(&R.srv);
    after = drain(0, &got);
    T_CHECK("serve_cancel_within_one_token",
            before > 0 && after == 0 && got.done && got.status == L4LM_SHM_CANCELLED &&
                got.n_gen == before && got.id == id,
            "%u tokens before, %u after the cancel; status %u, usage %u", before, after, got.status,
            got.n_gen);
    /* A queued request named by cancel_id is answered without running. */
    l4lm_shm_request a = request("first", 30, 1, 0), b = request("second", 30, 2, 0);
    uint32_t ida, idb;
    l4lm_shm_client_submit(&R.c[0], &a, &ida);
    l4lm_shm_client_submit(&R.c[0], &b, &idb);
    l4lm_shm_client_cancel(&R.c[0], idb);
    run(0, &got);
    reference(&a, TOK_CAP, &want);
    const char *why = stream_diff(&got, &want);
    stream second;
    run(0, &second);
    T_CHECK("serve_cancel_queued",
            !*why && second.id == idb && second.status == L4LM_SHM_CANCELLED && second.n_gen == 0,
            "%s; second: id %u status %u", why, second.id, second.status);
    /* The next request is served normally. */
    a = request("after cancel", 40, 3, 0);
    why = served_equal(&a, TOK_CAP, &got);
    T_CHECK("serve_after_cancel", !*why, "%s", why);
}

/* A client that does not read: the server blocks, asks for a signal, then resumes. */
static void test_backpressure(void)
{
    static stream got, want;
    rig_init(TOK_CAP, 8);
    l4lm_shm_server_poll(&R.srv); /* idle: the server asks to be signalled on requests */
    l4lm_shm_request r = request("slow reader", 120, 77, L4LM_SHM_IGNORE_EOS);
    l4lm_shm_client_submit(&R.c[0], &r, NULL);
    bool rang = R.bells_to_server == 1;
    int polls = 0;
    while (l4lm_shm_server_poll(&R.srv) && polls < 1000)
        polls++;
    l4lm_shm_ring *resp = (l4lm_shm_ring *)(R.region[0] + R.c[0].lay.resp_ring);
    bool blocked = polls < 1000 && resp->producer_waiting && resp->tail - resp->head > 6;
    memset(&got, 0, sizeof got);
    drain(0, &got);
    bool woken = R.bells_to_server == 2; /* reading made room: the client rang */
    while (!got.done && polls++ < 10000) {
        if (l4lm_shm_client_sleep(&R.c[0])) {
            uint32_t bells = R.bells_to_client[0];
            l4lm_shm_server_poll(&R.srv);
            rang &= R.bells_to_client[0] == bells + 1;
        }
        l4lm_shm_server_poll(&R.srv);
        drain(0, &got);
    }
    reference(&r, TOK_CAP, &want);
    const char *why = stream_diff(&got, &want);
    T_CHECK("serve_backpressure", !*why && blocked && woken, "%s; blocked %d woken %d", why,
            blocked, woken);
    T_CHECK("serve_doorbells", rang, "a doorbell was not rung when the other side slept");
}

/* ---- malformed requests ---- */

/* Write a raw descriptor on client 0's request ring. */
static void raw(uint32_t kind, uint32_t id, uint32_t off, uint32_t len)
{
    l4lm_shm_req m = {kind, id, off, len};
    memcpy(l4lm_shm_ring_slot(&R.c[0].req, 0), &m, sizeof m);
    l4lm_shm_ring_push(&R.c[0].req, 1);
}

static uint8_t *req_data(void)
{
    return R.region[0] + R.c[0].lay.req_data;
}

typedef struct bad_case {
    const char *name;
    uint8_t base; /* body: prompt "hi"; 1: + stop "ab"; 2: + n_keep 1, grammar at 54 */
    uint32_t at;  /* a u32 to overwrite, or NONE */
    uint32_t val;
    int32_t len_delta;
    uint32_t expect;
} bad_case;

#define NONE 0xffffffffu
static const bad_case bad_cases[] = {
    {"bad_max_tokens", 0, 0, (1u << 20) + 1, 0, L4LM_SHM_E_OPTION},
    {"bad_flags", 0, 4, 16, 0, L4LM_SHM_E_OPTION},
    {"bad_shift_without_n_keep", 0, 4, L4LM_SHM_CONTEXT_SHIFT, 0, L4LM_SHM_E_SIZE},
    {"bad_grammar_flag_without_grammar", 0, 4, L4LM_SHM_GRAMMAR, 0, L4LM_SHM_E_SIZE},
    {"bad_n_keep_huge", 2, 50, (1u << 20) + 1, 0, L4LM_SHM_E_OPTION},
    {"bad_grammar_len_zero", 2, 54, 0, 0, L4LM_SHM_E_GRAMMAR},
    {"bad_grammar_len_beyond", 2, 54, 100, 0, L4LM_SHM_E_SIZE},
    {"bad_grammar_len_huge", 2, 54, 0xfffffff0u, 0, L4LM_SHM_E_SIZE},
    {"bad_grammar_trailing_byte", 2, NONE, 0, 1, L4LM_SHM_E_SIZE},
    {"bad_grammar_truncated", 2, NONE, 0, -1, L4LM_SHM_E_SIZE},
    {"grammar_refused_by_this_server", 2, NONE, 0, 0, L4LM_SHM_E_GRAMMAR},
    {"bad_temperature_nan", 0, 8, 0x7fc00000, 0, L4LM_SHM_E_OPTION},
    {"bad_temperature_inf", 0, 8, 0x7f800000, 0, L4LM_SHM_E_OPTION},
    {"bad_temperature_negative", 0, 8, 0xbf800000, 0, L4LM_SHM_E_OPTION},
    {"bad_top_k", 0, 12, 0xffffffff, 0, L4LM_SHM_E_OPTION},
    {"bad_top_p_zero", 0, 16, 0, 0, L4LM_SHM_E_OPTION},
    {"bad_top_p_above_one", 0, 16, 0x3fc00000, 0, L4LM_SHM_E_OPTION},
    {"bad_min_p_one", 0, 20, 0x3f800000, 0, L4LM_SHM_E_OPTION},
    {"bad_repeat_penalty_zero", 0, 24, 0, 0, L4LM_SHM_E_OPTION},
    {"bad_repeat_penalty_nan", 0, 24, 0xffc00000, 0, L4LM_SHM_E_OPTION},
    {"bad_repeat_last_n", 0, 28, 0xfffffffe, 0, L4LM_SHM_E_OPTION},
    {"bad_prompt_len_beyond", 0, 40, 3, 0, L4LM_SHM_E_SIZE},
    {"bad_prompt_len_huge", 0, 40, 0xffffffff, 0, L4LM_SHM_E_SIZE},
    {"bad_prompt_len_short", 0, 40, 1, 0, L4LM_SHM_E_SIZE},
    {"bad_n_stop_many", 0, 44, 5, 0, L4LM_SHM_E_OPTION},
    {"bad_n_stop_huge", 0, 44, 0x80000000, 0, L4LM_SHM_E_OPTION},
    {"bad_stop_missing", 0, 44, 1, 0, L4LM_SHM_E_SIZE},
    {"bad_trailing_byte", 0, NONE, 0, 1, L4LM_SHM_E_SIZE},
    {"bad_truncated", 0, NONE, 0, -1, L4LM_SHM_E_SIZE},
    {"bad_shorter_than_fixed", 0, NONE, 0, -40, L4LM_SHM_E_SIZE},
    {"bad_empty_body", 0, NONE, 0, -50, L4LM_SHM_E_SIZE},
    {"bad_stop_len_zero", 1, 50, 0, 0, L4LM_SHM_E_OPTION},
    {"bad_stop_len_33", 1, 50, 33, 0, L4LM_SHM_E_OPTION},
    {"bad_stop_len_beyond", 1, 50, 3, 0, L4LM_SHM_E_SIZE},
    {"bad_stop_len_huge", 1, 50, 0xfffffffc, 0, L4LM_SHM_E_OPTION},
    {"bad_n_stop_two", 1, 44, 2, 0, L4LM_SHM_E_SIZE},
};

/* The server's answer to the one request just written: its DONE (or none). */
static stream *answer(void)
{
    static stream got;
    run(0, &got);
    return &got;
}

static void wr32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static void test_malformed(void)
{
    rig_init(TOK_CAP, 4);
    int all = 1;
    uint32_t id = 1000;
    for (size_t k = 0; k < sizeof bad_cases / sizeof *bad_cases; k++) {
        const bad_case *b = &bad_cases[k];
        l4lm_shm_request r = request("hi", 5, 1, 0);
        if (b->base == 1) {
            r.n_stop = 1;
            r.stop[0] = "ab";
            r.stop_len[0] = 2;
        } else if (b->base == 2) {
            r.flags = L4LM_SHM_CONTEXT_SHIFT | L4LM_SHM_GRAMMAR;
            r.n_keep = 1;
            r.grammar = "root ::= \"a\"";
            r.grammar_len = (uint32_t)strlen(r.grammar);
        }
        uint32_t len = l4lm_shm_request_size(&r);
        l4lm_shm_request_encode(&r, req_data(), len);
        if (b->at != NONE)
            wr32(req_data() + b->at, b->val);
        raw(L4LM_SHM_SUBMIT, ++id, 0, (uint32_t)((int32_t)len + b->len_delta));
        stream *g = answer();
        all &= T_CHECK(b->name, g->done && g->id == id && g->status == b->expect && !g->n_gen,
                       "done %d id %u status %u (want %u)", g->done, g->id, g->status, b->expect);
    }
    const l4lm_shm_header *h = &R.c[0].lay;
    struct {
        const char *name;
        uint32_t kind, off, len, expect;
    } desc[] = {
        {"bad_kind_zero", 0, 0, 50, L4LM_SHM_E_KIND},
        {"bad_kind_two", 2, 0, 50, L4LM_SHM_E_KIND},
        {"bad_off_at_end", 1, h->req_data_size, 48, L4LM_SHM_E_RANGE},
        {"bad_off_beyond", 1, h->req_data_size + 4096, 48, L4LM_SHM_E_RANGE},
        {"bad_off_len_wrap", 1, 0xfffffff0u, 0x20, L4LM_SHM_E_RANGE},
        {"bad_len_beyond_area", 1, 64, h->req_data_size, L4LM_SHM_E_RANGE},
        {"bad_len_above_max_request", 1, 0, MAX_REQUEST + 1, L4LM_SHM_E_SIZE},
    };
    for (size_t k = 0; k < sizeof desc / sizeof *desc; k++) {
        raw(desc[k].kind, ++id, desc[k].off, desc[k].len);
        stream *g = answer();
        all &=
            T_CHECK(desc[k].name, g->done && g->id == id && g->status == desc[k].expect,
                    "done %d id %u status %u (want %u)", g->done, g->id, g->status, desc[k].expect);
    }
    static char big[TOK_CAP + 10];
    memset(big, 'b', sizeof big - 1);
    l4lm_shm_request r = request(big, 5, 1, 0);
    uint32_t sub;
    l4lm_shm_client_submit(&R.c[0], &r, &sub);
    stream *g = answer();
    all &= T_CHECK("bad_prompt_too_many_tokens",
                   g->done && g->id == sub && g->status == L4LM_SHM_E_PROMPT &&
                       g->value == L4LM_E_BUFFER,
                   "status %u value %d", g->status, g->value);
    r = request("", 5, 1, L4LM_SHM_NO_BOS);
    l4lm_shm_client_submit(&R.c[0], &r, &sub);
    g = answer();
    all &= T_CHECK("bad_prompt_empty_without_bos", g->done && g->status == L4LM_SHM_E_PROMPT,
                   "status %u", g->status);
    static stream got;
    r = request("still serving", 50, 11, 0);
    const char *why = served_equal(&r, TOK_CAP, &got);
    T_CHECK("serve_after_malformed", all && !*why, "%s", why);
}

/* Impossible counters: the server does nothing for that ring until they are sane. */
static void test_hostile_counters(void)
{
    static stream got, want;
    rig_init(TOK_CAP, 4);
    l4lm_shm_ring *req = (l4lm_shm_ring *)(R.region[0] + R.c[0].lay.req_ring);
    l4lm_shm_ring *resp = (l4lm_shm_ring *)(R.region[0] + R.c[0].lay.resp_ring);
    req->tail = 1000;
    bool idle = !l4lm_shm_server_poll(&R.srv) && resp->tail == 0;
    req->tail = 0;
    l4lm_shm_request r = request("counters", 80, 4, L4LM_SHM_IGNORE_EOS);
    l4lm_shm_client_submit(&R.c[0], &r, NULL);
    memset(&got, 0, sizeof got);
    for (int k = 0; k < 3; k++) {
        l4lm_shm_server_poll(&R.srv);
        drain(0, &got);
    }
    uint32_t head = resp->head, tail = resp->tail;
    resp->head = tail + 5; /* ahead of what the server wrote */
    bool stalled = !l4lm_shm_server_poll(&R.srv) && resp->tail == tail;
    resp->head = tail - 100; /* further behind than the ring holds */
    stalled &= !l4lm_shm_server_poll(&R.srv) && resp->tail == tail;
    resp->head = head;
    for (int k = 0; k < 10000 && !got.done; k++) {
        l4lm_shm_server_poll(&R.srv);
        drain(0, &got);
    }
    reference(&r, TOK_CAP, &want);
    const char *why = stream_diff(&got, &want);
    T_CHECK("serve_impossible_counters", idle && stalled && !*why, "idle %d stalled %d %s", idle,
            stalled, why);
}

/* Layout: the header the server writes is the one the client recomputes; bad ones fail. */
static void test_layout(void)
{
    rig_init(TOK_CAP, 4);
    l4lm_shm_header *h = (l4lm_shm_header *)R.region[1];
    l4lm_shm_client c;
    int ok = l4lm_shm_client_open(&c, h, REGION, to_server, &R) == L4LM_OK;
    ok &= l4lm_shm_client_open(&c, h, REGION - 64, to_server, &R) == L4LM_E_LIMIT;
    h->resp_data += 64;
    ok &= l4lm_shm_client_open(&c, h, REGION, to_server, &R) == L4LM_E_LIMIT;
    h->resp_data -= 64;
    h->version = 2;
    ok &= l4lm_shm_client_open(&c, h, REGION, to_server, &R) == L4LM_E_VERSION;
    h->magic = 0;
    ok &= l4lm_shm_client_open(&c, h, REGION, to_server, &R) == L4LM_E_STATE;
    l4lm_shm_config cfg = {4, 8, 64, 1024, 0}; /* 8 slots cannot hold a 576-byte token + DONE */
    l4lm_shm_header lay;
    ok &= l4lm_shm_layout_init(&cfg, REGION, &lay) == L4LM_E_ARG;
    cfg.resp_slots = 16;
    ok &= l4lm_shm_layout_init(&cfg, 2048, &lay) == L4LM_E_LIMIT;
    uint32_t need = l4lm_shm_layout_bytes(&cfg, 4 * 64);
    ok &= need && l4lm_shm_layout_init(&cfg, need, &lay) == L4LM_OK && lay.req_data_size == 256;
    T_CHECK("serve_layout", ok, "layout checks");
}

int main(void)
{
    test_layout();
    test_streams();
    test_stop_and_context();
    test_stop_tokens();
    test_fair();
    test_cancel();
    test_backpressure();
    test_malformed();
    test_hostile_counters();
    T_EXIT();
}
