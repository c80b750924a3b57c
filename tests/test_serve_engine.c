/*
** test_serve_engine.c — the server core with the real engine over
** stories260K, in one process: what a request's grammar, context shift and
** the reuse of a client's cached prompt do.
**
**  - a request with a grammar streams the text l4lm_gen gives with that
**    grammar (as `l4lm run --grammar-file`), and that text matches it;
**  - a malformed grammar, one longer than max_grammar, and a grammar sent
**    to a client slot without grammar memory each get bad-grammar, while
**    the other client's request streams exactly its reference;
**  - a context-shift request runs past the context as `l4lm run
**    --context-shift --keep` does;
**  - a client's repeated or extended prompt gives bit-identical streams
**    with and without reuse, and the prompt tokens evaluated drop by the
**    reused count the DONE reports (counted, not timed), also after a shift;
**  - an engine whose sessions start from a saved state (restore: a fixed
**    system prompt) gives the same streams as one that starts afresh, and a
**    first request, or one after an error, keeps the state's tokens.
*/
#define _GNU_SOURCE
#include "gguf_write.h"
#include "l4lm_serve.h"
#include "shm_request.h"
#include "t.h"

#define N_CTX   64
#define REGION  (1u << 16)
#define MAX_REQ 4096u

typedef struct out {
    char text[8192];
    size_t len;
    uint32_t status, n_gen, n_prompt, n_tokens;
    int32_t value;
    const char *why;
    char why_buf[128];
} out;

static l4lm_model model;
static l4lm_session *sess[5]; /* two servers' clients 0 and 1, the direct reference (4) */
static l4lm_grammar_vocab *ref_vocab;
static void *ref_gmem;
static uint64_t n_eval; /* tokens the server's engine evaluated */
static const l4lm_shm_server_engine *base;
static l4lm_shm_server_engine counting, no_reuse, restoring;
static void *state_buf; /* the saved state restore loads */
static size_t state_len;

static l4lm_status count_eval(void *s, const int32_t *t, size_t n)
{
    n_eval += n;
    return base->eval(s, t, n);
}

static void bell(void *ctx, uint32_t i)
{
    (void)ctx;
    (void)i;
}

static void bell_server(void *ctx)
{
    (void)ctx;
}

typedef struct rig {
    l4lm_shm_server srv;
    l4lm_shm_server_client cl[2];
    l4lm_shm_client c[2];
    void *region[2], *work[2], *gmem;
} rig;

/* A server over sessions s and s + 1; only client 0 gets grammar memory. */
static int rig_init(rig *R, const l4lm_shm_server_engine *e, int s)
{
    l4lm_shm_config cfg = l4lm_shm_config_default();
    cfg.max_request = MAX_REQ;
    cfg.max_grammar = 256;
    if (l4lm_shm_server_init(&R->srv, e, &cfg, R->cl, 2, 4, bell, NULL))
        return -1;
    size_t work = l4lm_shm_server_work_bytes(&cfg, N_CTX);
    size_t gram = l4lm_shm_server_grammar_bytes(&R->srv, sess[s]);
    R->gmem = R->gmem ? R->gmem : aligned_alloc(64, (gram + 63) / 64 * 64);
    for (uint32_t i = 0; i < 2; i++) {
        R->region[i] = R->region[i] ? R->region[i] : aligned_alloc(64, REGION);
        R->work[i] = R->work[i] ? R->work[i] : aligned_alloc(64, (work + 63) / 64 * 64);
        if (!gram || l4lm_shm_server_client_init(&R->srv, i, sess[s + (int)i], R->work[i], work) ||
            (i == 0 && l4lm_shm_server_client_grammar(&R->srv, 0, R->gmem, gram)) ||
            l4lm_shm_server_attach(&R->srv, i, R->region[i], REGION) ||
            l4lm_shm_client_open(&R->c[i], R->region[i], REGION, bell_server, NULL))
            return -1;
    }
    return 0;
}

static void take(out *o, const l4lm_shm_event *ev)
{
    size_t n = ev->len < sizeof o->text - o->len ? ev->len : sizeof o->text - o->len;
    memcpy(o->text + o->len, ev->text, n);
    o->len += n;
    o->n_tokens += ev->kind == L4LM_SHM_TOKEN;
    if (ev->kind == L4LM_SHM_DONE) {
        o->len -= n; /* the DONE's text is its reason */
        snprintf(o->why_buf, sizeof o->why_buf, "%.*s", (int)ev->len, ev->text);
        o->why = o->why_buf;
        o->status = ev->status;
        o->value = ev->value;
        o->n_gen = ev->n_gen;
        o->n_prompt = ev->n_prompt;
    }
}

/* Submit r0 on client 0 (and r1 on client 1 when not NULL); poll until both are done. */
static int serve(rig *R, const l4lm_shm_request *r0, out *o0, const l4lm_shm_request *r1, out *o1)
{
    bool done[2] = {false, r1 == NULL};
    memset(o0, 0, sizeof *o0);
    if (r1)
        memset(o1, 0, sizeof *o1);
    if ((r1 && l4lm_shm_client_submit(&R->c[1], r1, NULL)) ||
        l4lm_shm_client_submit(&R->c[0], r0, NULL))
        return -1;
    for (int k = 0; k < 1000000 && !(done[0] && done[1]); k++) {
        l4lm_shm_server_poll(&R->srv);
        for (uint32_t i = 0; i < 2; i++) {
            l4lm_shm_event ev;
            while (!done[i] && l4lm_shm_client_next(&R->c[i], &ev)) {
                take(i ? o1 : o0, &ev);
                done[i] = ev.kind == L4LM_SHM_DONE;
            }
        }
    }
    return done[0] && done[1] ? 0 : -1;
}

/* The same request straight through l4lm_gen on session 2, as `l4lm run` runs it. */
static l4lm_finish direct(const l4lm_shm_request *r, out *o)
{
    l4lm_session *s = sess[4];
    int32_t ids[N_CTX];
    size_t n;
    char piece[L4LM_GEN_PIECE_CAP];
    static l4lm_gen g;
    memset(o, 0, sizeof *o);
    l4lm_session_reset(s);
    l4lm_session_seed(s, r->sampler.seed);
    if (l4lm_tokenize(s, r->prompt, r->prompt_len, L4LM_TOK_BOS, ids, N_CTX, &n) ||
        l4lm_eval(s, ids, n, NULL))
        return L4LM_FINISH_ERROR;
    l4lm_gen_opts go = l4lm_gen_opts_default(&model, r->max_tokens);
    go.sampler = r->sampler;
    go.ignore_eos = (r->flags & L4LM_SHM_IGNORE_EOS) != 0;
    go.context_shift = (r->flags & L4LM_SHM_CONTEXT_SHIFT) != 0;
    go.n_keep = r->n_keep + 1; /* BOS, as cmd_run.c counts it */
    l4lm_grammar *gr = NULL;
    if ((r->flags & L4LM_SHM_GRAMMAR) &&
        l4lm_grammar_init(&gr, r->grammar, r->grammar_len, ref_gmem, L4LM_GRAMMAR_BYTES, NULL))
        return L4LM_FINISH_ERROR;
    go.grammar = gr;
    go.grammar_vocab = gr ? ref_vocab : NULL;
    if (l4lm_gen_init(&g, s, &go))
        return L4LM_FINISH_ERROR;
    g.detok.after_bos = true;
    for (size_t i = 0; i < n; i++)
        l4lm_detok_push(s, &g.detok, ids[i], piece, sizeof piece, NULL);
    l4lm_finish f = L4LM_FINISH_NONE;
    while (f == L4LM_FINISH_NONE) {
        const char *text;
        size_t len;
        f = l4lm_gen_step(&g, &text, &len);
        memcpy(o->text + o->len, text, len);
        o->len += len;
    }
    o->n_gen = g.n_gen;
    return f;
}

static bool same_text(const out *a, const out *b)
{
    return a->len == b->len && !memcmp(a->text, b->text, a->len);
}

static l4lm_shm_request request(const char *prompt, uint32_t max, uint32_t flags)
{
    return shm_request(prompt, max, (l4lm_sampler){0.8f, 40, 0.95f, 0.05f, 1.1f, 64, 7}, flags);
}

static void test_grammar(rig *R)
{
    static out got, want, other, other_want;
    static const char gbnf[] = "root ::= \" \" [a-z ,]+ \".\"";
    l4lm_shm_request r = request("Once upon a time", 60, L4LM_SHM_GRAMMAR);
    r.grammar = gbnf;
    r.grammar_len = sizeof gbnf - 1;
    bool ok = !serve(R, &r, &got, NULL, NULL);
    l4lm_finish f = direct(&r, &want);
    bool match = got.len > 2 && got.text[0] == ' ' && got.text[got.len - 1] == '.';
    for (size_t i = 1; match && i + 1 < got.len; i++)
        match =
            (got.text[i] >= 'a' && got.text[i] <= 'z') || got.text[i] == ' ' || got.text[i] == ',';
    T_CHECK("serve_grammar_matches", ok && got.status == L4LM_SHM_EOS && match, "status %u: '%.*s'",
            got.status, (int)got.len, got.text);
    T_CHECK("serve_grammar_equals_l4lm_gen", f == L4LM_FINISH_EOS && same_text(&got, &want),
            "'%.*s' vs '%.*s'", (int)got.len, got.text, (int)want.len, want.text);

    /* bad grammars on client 0 while client 1 is served */
    l4lm_shm_request o = request("Lily and Tom", 40, 0);
    direct(&o, &other_want);
    static char longer[300];
    memset(longer, 'a', sizeof longer);
    memcpy(longer, "root ::= \"a\" #", 14);
    struct {
        const char *name, *text;
        uint32_t len, client, value;
    } bad[] = {
        {"serve_grammar_malformed", "root ::= (\"a\"", 13, 0, L4LM_E_GRAMMAR},
        {"serve_grammar_unknown_rule", "root ::= x", 10, 0, L4LM_E_GRAMMAR},
        {"serve_grammar_longer_than_max", longer, sizeof longer, 0, L4LM_E_LIMIT},
        {"serve_grammar_without_memory", gbnf, sizeof gbnf - 1, 1, L4LM_E_ARG},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        r.grammar = bad[k].text;
        r.grammar_len = bad[k].len;
        /* client 1 has no grammar memory: there the other request goes to client 0 */
        ok = bad[k].client ? !serve(R, &o, &other, &r, &got) : !serve(R, &r, &got, &o, &other);
        T_CHECK(bad[k].name,
                ok && got.status == L4LM_SHM_E_GRAMMAR && got.value == (int32_t)bad[k].value &&
                    got.n_tokens == 0 && same_text(&other, &other_want),
                "status %u value %d (%s); other client same: %d", got.status, got.value,
                got.why ? got.why : "", same_text(&other, &other_want));
    }
}

static void test_context_shift(rig *R)
{
    static out got, want;
    l4lm_shm_request r =
        request("Once upon a time", 3 * N_CTX, L4LM_SHM_IGNORE_EOS | L4LM_SHM_CONTEXT_SHIFT);
    r.n_keep = 2;
    bool ok = !serve(R, &r, &got, NULL, NULL);
    l4lm_finish f = direct(&r, &want);
    T_CHECK("serve_context_shift_goes_on",
            ok && got.status == L4LM_SHM_LENGTH && got.n_gen == 3 * N_CTX && got.len > 0,
            "status %u, %u tokens", got.status, got.n_gen);
    T_CHECK("serve_context_shift_equals_l4lm_gen",
            f == L4LM_FINISH_LENGTH && same_text(&got, &want), "%zu vs %zu bytes", got.len,
            want.len);
    r.flags = L4LM_SHM_IGNORE_EOS;
    ok = !serve(R, &r, &got, NULL, NULL);
    T_CHECK("serve_no_context_shift_stops", ok && got.status == L4LM_SHM_CONTEXT_FULL, "status %u",
            got.status);
}

/* The same requests on a server that reuses and one that does not. */
static void test_reuse(rig *R, rig *F)
{
    static out a, b;
    const char *prompts[] = {"Once upon a time, there was a little girl",
                             "Once upon a time, there was a little girl",
                             "Once upon a time, there was a little girl named Lily", "The dog"};
    bool same = true, counted = true, reused = true;
    uint32_t kept_total = 0;
    for (size_t k = 0; k < 4; k++) {
        l4lm_shm_request r = request(prompts[k], 20, k == 1 ? L4LM_SHM_IGNORE_EOS : 0);
        uint64_t e0 = n_eval;
        serve(R, &r, &a, NULL, NULL);
        uint64_t with = n_eval - e0;
        e0 = n_eval;
        serve(F, &r, &b, NULL, NULL);
        uint64_t without = n_eval - e0;
        same &= same_text(&a, &b) && a.status == b.status && a.n_gen == b.n_gen;
        counted &= with + (uint32_t)a.value == without && b.value == 0;
        kept_total += (uint32_t)a.value;
        if (k == 1) /* the same prompt again: all but its last token */
            reused &= a.value == (int32_t)a.n_prompt - 1;
        if (k == 2) /* extended: the first prompt's tokens */
            reused &= a.value >= 8 && a.value < (int32_t)a.n_prompt;
        if (k == 3)
            reused &= a.value == 1; /* BOS */
    }
    T_CHECK("serve_reuse_bit_identical", same, "a stream differs with reuse");
    T_CHECK("serve_reuse_evaluates_fewer", counted && reused && kept_total > 0,
            "evaluated tokens do not drop by the reused count (%u kept)", kept_total);
    /* after a context shift only the kept tokens may be reused */
    l4lm_shm_request r =
        request("Once upon a time", 2 * N_CTX, L4LM_SHM_IGNORE_EOS | L4LM_SHM_CONTEXT_SHIFT);
    r.n_keep = 1;
    serve(R, &r, &a, NULL, NULL);
    serve(F, &r, &b, NULL, NULL);
    r.max_tokens = 30;
    serve(R, &r, &a, NULL, NULL);
    serve(F, &r, &b, NULL, NULL);
    T_CHECK("serve_reuse_after_shift_exact", same_text(&a, &b) && a.value <= 2, "kept %d; same %d",
            a.value, same_text(&a, &b));
}

static l4lm_status restore_state(void *s, uint64_t seed, size_t *exact)
{
    l4lm_status st = l4lm_session_load(s, state_buf, state_len);
    if (st)
        return st;
    l4lm_session_seed(s, seed);
    *exact = l4lm_session_tokens(s, NULL);
    return L4LM_OK;
}

/* A server over sessions that start from a system prompt's state, against
** one that evaluates every prompt afresh; cap: the plan's state bytes. */
static void test_restore(rig *R, rig *F, size_t cap)
{
    static out a, b;
    static const char sys[] = "Once upon a time, there was";
    int32_t ids[N_CTX];
    size_t n = 0;
    l4lm_session_reset(sess[4]);
    state_buf = malloc(cap);
    restoring = counting;
    restoring.restore = restore_state;
    if (!state_buf || l4lm_tokenize(sess[4], sys, sizeof sys - 1, L4LM_TOK_BOS, ids, N_CTX, &n) ||
        l4lm_eval(sess[4], ids, n, NULL) ||
        l4lm_session_save(sess[4], state_buf, cap, &state_len) || rig_init(R, &restoring, 0)) {
        T_FAIL("serve_restore_setup", "state or server");
        return;
    }
    /* first; another start (keeps BOS of the last); an error (the next
    ** starts from the state again); the first once more */
    const char *prompts[] = {"Once upon a time, there was a little girl", "The dog",
                             "Once upon a time, there was a little girl",
                             "Once upon a time, there was a little girl"};
    int32_t want[] = {(int32_t)n, 1, 0, (int32_t)n}; /* [2]: the bad request */
    bool same = true, counted = true;
    int32_t kept[4];
    uint32_t bad = 0;
    for (size_t k = 0; k < 4; k++) {
        l4lm_shm_request r = request(prompts[k], 20, 0);
        r.sampler.top_p = k == 2 ? 2.0f : r.sampler.top_p; /* a bad option */
        uint64_t e0 = n_eval;
        serve(R, &r, &a, NULL, NULL);
        uint64_t with = n_eval - e0;
        e0 = n_eval;
        serve(F, &r, &b, NULL, NULL);
        same &= same_text(&a, &b) && a.status == b.status && a.n_gen == b.n_gen;
        counted &= with + (uint32_t)a.value == n_eval - e0;
        kept[k] = a.value;
        bad = k == 2 ? a.status : bad;
    }
    T_CHECK("serve_restore_bit_identical", same && a.n_gen > 0, "a stream differs with the state");
    T_CHECK("serve_restore_keeps_the_state",
            counted && bad == L4LM_SHM_E_OPTION && kept[0] == want[0] && kept[1] == want[1] &&
                kept[3] == want[3],
            "kept %d %d %d of the state's %zu tokens; bad option: status %u", kept[0], kept[1],
            kept[3], n, bad);
}

int main(void)
{
    size_t size;
    unsigned char *bytes = t_shared_file("models/stories260K.gguf", &size);
    void *index;
    if (!bytes || t_model_open(&model, bytes, size, NULL, 0, &index)) {
        printf("skip serve_engine: no ../shared/models/stories260K.gguf\n");
        return 0;
    }
    l4lm_run_opts ro = {.n_ctx = N_CTX};
    l4lm_plan_result p;
    size_t vb;
    if (l4lm_plan(&model, &ro, &p))
        return 1;
    for (int i = 0; i < 5; i++)
        if (l4lm_session_init(&sess[i], &model, &ro, aligned_alloc(64, p.total), p.total))
            return 1;
    if (l4lm_grammar_vocab_size(sess[4], &vb) ||
        l4lm_grammar_vocab_init(&ref_vocab, sess[4], aligned_alloc(8, (vb + 7) / 8 * 8), vb) ||
        !(ref_gmem = aligned_alloc(8, L4LM_GRAMMAR_BYTES)))
        return 1;
    base = l4lm_shm_server_engine_l4lm();
    counting = *base;
    counting.eval = count_eval;
    no_reuse = counting;
    no_reuse.reuse = NULL;
    static rig R, F;
    if (rig_init(&R, &counting, 0)) {
        T_FAIL("serve_engine_setup", "server");
        T_EXIT();
    }
    test_grammar(&R);
    test_context_shift(&R);
    if (rig_init(&F, &no_reuse, 2)) {
        T_FAIL("serve_engine_setup", "second server");
        T_EXIT();
    }
    test_reuse(&R, &F);
    test_restore(&R, &F, p.state);
    T_EXIT();
}
