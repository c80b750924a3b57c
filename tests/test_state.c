/*
** test_state.c — session state (src/core/state.c): a saved and loaded
** session continues bit for bit as the one that was saved and as a cold
** one; prefix reuse and truncation give the logits of a cold eval; a save
** holds only the rows below the position; and a load refuses a state of
** another model or plan and every truncation and corruption of a good one,
** leaving the session as it was. On stories260K (GGUF, and the llama2.c
** checkpoint of the same weights as the "other model").
*/
#include "l4lm.h"
#include "posix.h"
#include "t.h"

/* The model's sizes through the public accessor (posix.h's l4lm_posix_model
** holds the opaque model, so this test must not see the internal one). */
static l4lm_model_info info_of(const l4lm_model *m)
{
    l4lm_model_info i = {0};
    l4lm_model_get_info(m, &i);
    return i;
}

#define STEPS 24

typedef struct sess {
    void *arena;
    l4lm_session *s;
    l4lm_plan_result p;
} sess;

static int sess_open(sess *x, const l4lm_model *m, uint32_t n_ctx, l4lm_kv_type kv)
{
    l4lm_run_opts o = {.n_ctx = n_ctx, .kv_type = kv};
    memset(x, 0, sizeof *x);
    if (l4lm_plan(m, &o, &x->p) || !(x->arena = aligned_alloc(64, x->p.total)))
        return -1;
    return l4lm_session_init(&x->s, m, &o, x->arena, x->p.total) ? -1 : 0;
}

static void sess_close(sess *x)
{
    free(x->arena);
}

/* Greedy steps from the session's logits; every step's logits into out. */
static int greedy(l4lm_session *s, float *out, uint32_t n_vocab)
{
    l4lm_sampler sp = l4lm_sampler_greedy();
    for (int k = 0; k < STEPS; k++) {
        const float *logits;
        int32_t tok;
        if (l4lm_eval(s, NULL, 0, &logits) || l4lm_sample(s, &sp, &tok))
            return -1;
        memcpy(out + (size_t)k * n_vocab, logits, n_vocab * sizeof(float));
        if (l4lm_eval(s, &tok, 1, NULL))
            return -1;
    }
    return 0;
}

static size_t tokens(l4lm_session *s, const char *text, int32_t *ids, size_t cap)
{
    size_t n = 0;
    return l4lm_tokenize(s, text, strlen(text), L4LM_TOK_BOS, ids, cap, &n) ? 0 : n;
}

/* Save after a prompt, load into a fresh session: the same continuation as
** the saved session and as a cold one; and the cost of a save. */
static void check_roundtrip(const l4lm_model *m, l4lm_kv_type kv, const char *label)
{
    sess a, b;
    int32_t ids[128];
    size_t n, len = 0, len_short = 0;
    char name[96];
    uint32_t nv = info_of(m).n_vocab;
    float *ref = malloc((size_t)STEPS * nv * 4), *got = malloc((size_t)STEPS * nv * 4);
    if (sess_open(&a, m, 256, kv) || sess_open(&b, m, 256, kv)) {
        T_FAIL(label, "cannot start sessions");
        return;
    }
    uint8_t *buf = malloc(a.p.state);
    n = tokens(a.s, "Once upon a time, there was a little girl named Lily. She liked to", ids, 128);
    l4lm_status st = l4lm_eval(a.s, ids, n / 2, NULL);
    st = st ? st : l4lm_session_save(a.s, buf, a.p.state, &len_short);
    st = st ? st : l4lm_eval(a.s, ids + n / 2, n - n / 2, NULL);
    st = st ? st : l4lm_session_save(a.s, buf, a.p.state, &len);
    uint64_t row =
        (kv == L4LM_KV_F16 ? 2 : 4) * (uint64_t)info_of(m).n_head_kv * info_of(m).head_dim;
    snprintf(name, sizeof name, "state %s: a save holds the rows below the position only", label);
    T_CHECK(name, !st && len - len_short == (n - n / 2) * (4 + 2 * info_of(m).n_layer * row),
            "status %d, %zu bytes at %zu tokens, %zu at %zu", st, len_short, n / 2, len, n);
    snprintf(name, sizeof name, "state %s: the plan bounds a save", label);
    size_t small;
    T_CHECK(name,
            len <= a.p.state && l4lm_session_save(a.s, buf, len - 1, &small) == L4LM_E_BUFFER &&
                small == len,
            "%zu bytes saved, plan says %zu", len, a.p.state);
    st = l4lm_session_load(b.s, buf, len);
    const int32_t *hist;
    snprintf(name, sizeof name, "state %s: load restores position and tokens", label);
    T_CHECK(name,
            !st && l4lm_session_tokens(b.s, &hist) == n && !memcmp(hist, ids, n * sizeof *ids),
            "status %s, pos %u", l4lm_strerror(st), l4lm_session_pos(b.s));
    snprintf(name, sizeof name, "state %s: loaded continuation equals the saved one", label);
    int rc = greedy(a.s, ref, nv) || greedy(b.s, got, nv);
    T_CHECK(name, !rc && !memcmp(ref, got, (size_t)STEPS * nv * 4), "logits differ (rc %d)", rc);
    /* cold: a new session evaluates the whole prompt */
    l4lm_session_reset(b.s);
    snprintf(name, sizeof name, "state %s: loaded continuation equals a cold one", label);
    rc = l4lm_eval(b.s, ids, n, NULL) || greedy(b.s, got, nv);
    T_CHECK(name, !rc && !memcmp(ref, got, (size_t)STEPS * nv * 4), "logits differ (rc %d)", rc);
    free(buf);
    free(ref);
    free(got);
    sess_close(&a);
    sess_close(&b);
}

/* A second prompt sharing a prefix with the first (after generation):
** reuse keeps the common rows and the logits equal a cold eval's. */
static void check_reuse(const l4lm_model *m)
{
    sess a, b;
    int32_t p1[128], p2[128];
    uint32_t nv = info_of(m).n_vocab;
    float *ref = malloc((size_t)STEPS * nv * 4), *got = malloc((size_t)STEPS * nv * 4);
    if (sess_open(&a, m, 256, L4LM_KV_F16) || sess_open(&b, m, 256, L4LM_KV_F16)) {
        T_FAIL("state reuse", "cannot start sessions");
        return;
    }
    size_t n1 = tokens(a.s, "Once upon a time, there was a little dog. He liked to run", p1, 128);
    size_t n2 = tokens(a.s, "Once upon a time, there was a little cat. She was sad", p2, 128);
    size_t common = 0, kept = 99;
    while (common < n1 && common < n2 && p1[common] == p2[common])
        common++;
    int rc = l4lm_eval(a.s, p1, n1, NULL) || greedy(a.s, ref, nv) ||
             l4lm_session_reuse(a.s, p2, n2, &kept) || l4lm_eval(a.s, p2 + kept, n2 - kept, NULL) ||
             greedy(a.s, got, nv);
    rc = rc || l4lm_eval(b.s, p2, n2, NULL) || greedy(b.s, ref, nv);
    T_CHECK("state reuse: keeps the common prefix", kept == common && common > 4,
            "kept %zu of %zu common tokens", kept, common);
    T_CHECK("state reuse: logits equal a cold eval of the second prompt",
            !rc && !memcmp(ref, got, (size_t)STEPS * nv * 4), "logits differ (rc %d)", rc);
    /* the same prompt again: nothing to evaluate but its last token */
    l4lm_session_reset(a.s);
    rc = l4lm_eval(a.s, p2, n2, NULL) || l4lm_session_reuse(a.s, p2, n2, &kept);
    T_CHECK("state reuse: the same prompt keeps its logits", !rc && kept == n2, "kept %zu", kept);
    rc = l4lm_eval(a.s, p2, n2 - 3, NULL) || l4lm_session_reuse(a.s, p2, n2 - 3, &kept) ||
         l4lm_session_truncate(a.s, l4lm_session_pos(a.s)) ||
         l4lm_session_reuse(a.s, p2, n2 - 5, &kept);
    T_CHECK("state reuse: a shorter prompt evaluates its last token again",
            !rc && kept == n2 - 6 && l4lm_session_pos(a.s) == n2 - 6, "kept %zu", kept);
    T_CHECK("state truncate: beyond the position is refused",
            l4lm_session_truncate(a.s, l4lm_session_pos(a.s) + 1) == L4LM_E_ARG, "accepted");
    free(ref);
    free(got);
    sess_close(&a);
    sess_close(&b);
}

/* The session b after a refused load: still what it was. */
static bool unchanged(l4lm_session *s, const int32_t *ids, size_t n)
{
    const int32_t *h;
    return l4lm_session_tokens(s, &h) == n && !memcmp(h, ids, n * sizeof *ids);
}

/* Hostile bytes: other plans and models, every truncation, random damage. */
static void check_hostile(const l4lm_model *m, const l4lm_model *other)
{
    sess a, b, c, d, e;
    int32_t ids[64], keep[4];
    size_t n, len = 0;
    if (sess_open(&a, m, 128, L4LM_KV_F32) || sess_open(&b, m, 128, L4LM_KV_F32) ||
        sess_open(&c, m, 64, L4LM_KV_F32) || sess_open(&d, m, 128, L4LM_KV_F16) ||
        sess_open(&e, other, 128, L4LM_KV_F32)) {
        T_FAIL("state hostile", "cannot start sessions");
        return;
    }
    uint8_t *buf = malloc(a.p.state), *bad = malloc(a.p.state);
    n = tokens(a.s, "The little bird sang a song in the tall tree.", ids, 64);
    size_t nk = tokens(b.s, "Hi", keep, 4);
    if (l4lm_eval(a.s, ids, n, NULL) || l4lm_session_save(a.s, buf, a.p.state, &len) ||
        l4lm_eval(b.s, keep, nk, NULL)) {
        T_FAIL("state hostile", "cannot evaluate and save");
        return;
    }
    T_CHECK("state: another n_ctx is refused",
            l4lm_session_load(c.s, buf, len) == L4LM_E_STATE_MISMATCH, "accepted");
    T_CHECK("state: another KV type is refused",
            l4lm_session_load(d.s, buf, len) == L4LM_E_STATE_MISMATCH, "accepted");
    T_CHECK("state: another model (the llama2.c checkpoint) is refused",
            l4lm_session_load(e.s, buf, len) == L4LM_E_STATE_MISMATCH, "accepted");
    size_t cut_ok = 0;
    for (size_t k = 0; k < len; k++)
        cut_ok += l4lm_session_load(b.s, buf, k) == L4LM_E_TRUNCATED;
    T_CHECK("state: every truncation is refused as truncated",
            cut_ok == len && unchanged(b.s, keep, nk), "%zu of %zu", cut_ok, len);
    memcpy(bad, buf, len);
    bad[len] = 0;
    T_CHECK("state: a byte too many is refused",
            l4lm_session_load(b.s, bad, len + 1) == L4LM_E_STATE_MISMATCH, "accepted");
    uint64_t rng = 0x5eed;
    size_t refused = 0, trials = 3000;
    for (size_t t = 0; t < trials; t++) {
        memcpy(bad, buf, len);
        uint32_t flips = 1 + t_xorshift(&rng) % 4;
        for (uint32_t f = 0; f < flips; f++) {
            /* half of the damage in the header, where every field is checked */
            size_t at = t % 2 ? t_xorshift(&rng) % 64 : t_xorshift(&rng) % len;
            bad[at] ^= (uint8_t)(1 + t_xorshift(&rng) % 255);
        }
        l4lm_status st = l4lm_session_load(b.s, bad, len);
        refused += st == L4LM_E_STATE_MISMATCH || st == L4LM_E_TRUNCATED;
    }
    T_CHECK("state: random damage is refused, the session unchanged",
            refused == trials && unchanged(b.s, keep, nk), "%zu of %zu refused", refused, trials);
    T_CHECK("state: the good state still loads",
            !l4lm_session_load(b.s, buf, len) && unchanged(b.s, ids, n), "refused");
    free(buf);
    free(bad);
    sess_close(&a);
    sess_close(&b);
    sess_close(&c);
    sess_close(&d);
    sess_close(&e);
}

int main(void)
{
    const char *dir = t_shared();
    char gguf[8192], bin[8192], tok[8192];
    l4lm_posix_model pm, other;
    if (!dir) {
        T_SKIP("state", "../shared/models is absent");
        T_EXIT();
    }
    snprintf(gguf, sizeof gguf, "%s/models/stories260K.gguf", dir);
    snprintf(bin, sizeof bin, "%s/models/stories260K.bin", dir);
    snprintf(tok, sizeof tok, "%s/models/tok512.bin", dir);
    if (l4lm_posix_model_load(&pm, gguf, NULL) || l4lm_posix_model_load(&other, bin, tok)) {
        T_FAIL("state", "cannot open the stories260K models");
        T_EXIT();
    }
    check_roundtrip(&pm.m, L4LM_KV_F32, "f32");
    check_roundtrip(&pm.m, L4LM_KV_F16, "f16");
    check_reuse(&pm.m);
    check_hostile(&pm.m, &other.m);
    l4lm_posix_model_unload(&pm);
    l4lm_posix_model_unload(&other);
    T_EXIT();
}
