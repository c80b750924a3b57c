/*
** test_kv.c — the KV cache types and the context shift.
**
**  - Plan: a Q8_0 cache takes exactly 34 bytes per 32 elements (K and V);
**    a model whose head_dim is no multiple of 32 (stories260K: 8) is
**    refused with L4LM_E_ARG by l4lm_plan and l4lm_session_init, as
**    llama.cpp refuses -ctk q8_0 there.
**  - Shift (l4lm_session_shift), on a tiny llama written here (2 layers,
**    2 heads of 64, 1 KV head) with F32, F16 and Q8_0 caches: 20 tokens,
**    keep 4, discard 6. V rows must move bit for bit, the kept rows stay
**    untouched; every layer's moved K rows must be the old ones rotated by
**    RoPE of -6 (computed here in double); layer 0's K rows (which depend
**    only on token and position) must equal those of a fresh session fed
**    the kept tokens at their new positions, within 1e-5 for F32, a half
**    ulp (rounding twice) for F16, two quant steps for Q8_0 (fresh: one
**    rounding; shifted: the old rounding rotated, then a new one; a step is
**    at most max |k| / 127). The Q8_0 cache holds k rotated by the
**    Walsh-Hadamard matrix of order 64 (llama.cpp's attention rotation),
**    so its rows are rotated back here (from the matrix's entries) before
**    RoPE is checked: the shift must undo it, apply RoPE and redo it. Bad
**    arguments get L4LM_E_ARG.
**  - Generation with gen_opts.context_shift on stories260K: a 64-token
**    context gives 200 tokens of text (the option off: it ends with
**    CONTEXT after the context fills).
** The numbers of a Q8_0 cache against llama.cpp: tests/llamacpp_kv.sh.
*/
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "session.h" /* internals first: they define the model l4lm.h keeps opaque */
#include "gguf_write.h"
#include "t.h"

enum { E = 128, HEADS = 2, HD = 64, KVD = 64, FF = 64, VOCAB = 8, LAYERS = 2, CTX = 64 };

/* Weights: norms 1, the rest a fixed pseudo-random pattern in [-0.25, 0.25). */
static float value(const char *name, uint64_t i, const void *ctx)
{
    (void)ctx;
    if (strstr(name, "norm"))
        return 1.0f;
    uint32_t h = (uint32_t)(i * 2654435761u) ^ (uint32_t)strlen(name) * 40503u;
    h ^= h >> 13, h *= 0x5bd1e995u, h ^= h >> 15;
    return ((float)(h % 1000) / 1000.0f - 0.5f) * 0.5f;
}

static unsigned char *tiny_llama(size_t *size)
{
    static const char *const per_layer[9] = {"attn_norm", "attn_q",      "attn_k",
                                             "attn_v",    "attn_output", "ffn_norm",
                                             "ffn_gate",  "ffn_up",      "ffn_down"};
    const uint64_t shape[9][2] = {{E, 0}, {E, E},  {E, KVD}, {E, KVD}, {E, E},
                                  {E, 0}, {E, FF}, {E, FF},  {FF, E}};
    static const char *const u32_keys[7] = {
        "llama.context_length",      "llama.embedding_length",     "llama.feed_forward_length",
        "llama.block_count",         "llama.attention.head_count", "llama.attention.head_count_kv",
        "llama.rope.dimension_count"};
    const uint32_t u32_vals[7] = {CTX, E, FF, LAYERS, HEADS, 1, HD};
    wmtensor t[2 + 9 * LAYERS] = {{"token_embd.weight", E, VOCAB}, {"output_norm.weight", E, 0}};
    wbuf kv = {0};
    wstr(&kv, "general.architecture"), w32(&kv, 8), wstr(&kv, "llama");
    for (int i = 0; i < 7; i++)
        wstr(&kv, u32_keys[i]), w32(&kv, 4), w32(&kv, u32_vals[i]);
    wstr(&kv, "llama.attention.layer_norm_rms_epsilon"), w32(&kv, 6), wf32(&kv, 1e-5f);
    wstr(&kv, "tokenizer.ggml.model"), w32(&kv, 8), wstr(&kv, "llama");
    wstr(&kv, "tokenizer.ggml.tokens"), w32(&kv, 9), w32(&kv, 8), w64(&kv, VOCAB);
    for (int i = 0; i < VOCAB; i++) {
        char piece[8];
        snprintf(piece, sizeof piece, i == 1 ? "<s>" : "t%d", i);
        wstr(&kv, piece);
    }
    for (int l = 0; l < LAYERS; l++)
        for (int j = 0; j < 9; j++) {
            wmtensor *w = &t[2 + 9 * l + j];
            snprintf(w->name, sizeof w->name, "blk.%d.%s.weight", l, per_layer[j]);
            w->ne0 = shape[j][0];
            w->ne1 = shape[j][1];
        }
    unsigned char *p = gguf_write_f32_model(&kv, 11, t, 2 + 9 * LAYERS, value, NULL, size);
    free(kv.p);
    return p;
}

/* A session in its own arena, which starts with it: free(s) frees both. */
static l4lm_session *start(const l4lm_model *m, l4lm_kv_type kv, uint32_t n_ctx)
{
    l4lm_run_opts o = {.n_ctx = n_ctx, .kv_type = kv};
    l4lm_plan_result p;
    if (l4lm_plan(m, &o, &p))
        return NULL;
    void *arena = aligned_alloc(64, (p.total + 63) / 64 * 64);
    l4lm_session *s = NULL;
    if (arena && l4lm_session_init(&s, m, &o, arena, p.total)) {
        free(arena);
        return NULL;
    }
    return s;
}

/* x times the orthonormal Walsh-Hadamard matrix of order 64, whose entry
** (i, j) is (-1)^popcount(i & j) / 8; it is its own inverse. */
static void unrotate(float *x)
{
    double y[KVD];
    for (int i = 0; i < KVD; i++) {
        y[i] = 0;
        for (int j = 0; j < KVD; j++)
            y[i] += (__builtin_popcount((unsigned)(i & j)) & 1 ? -x[j] : x[j]) / 8.0;
    }
    for (int i = 0; i < KVD; i++)
        x[i] = (float)y[i];
}

/* Row pos of layer l of a cache as floats (a Q8_0 one's rotated back). */
static void row(const l4lm_session *s, const void *cache, uint32_t l, uint32_t pos, float *out)
{
    uint64_t at = ((uint64_t)l * s->n_ctx + pos) * KVD;
    if (s->kv_type == L4LM_KV_Q8_0) {
        l4lm_row_to_f32(L4LM_TYPE_Q8_0, (const uint8_t *)cache + at / 32 * 34, out, KVD);
        unrotate(out);
    } else if (s->kv_type == L4LM_KV_F16)
        l4lm_row_to_f32(L4LM_TYPE_F16, (const uint16_t *)cache + at, out, KVD);
    else
        memcpy(out, (const float *)cache + at, KVD * sizeof(float));
}

static size_t row_bytes(const l4lm_session *s)
{
    return s->kv_type == L4LM_KV_Q8_0  ? KVD / 32 * 34
           : s->kv_type == L4LM_KV_F16 ? KVD * 2
                                       : KVD * 4;
}

static const uint8_t *raw(const l4lm_session *s, const void *cache, uint32_t l, uint32_t pos)
{
    return (const uint8_t *)cache + ((uint64_t)l * s->n_ctx + pos) * row_bytes(s);
}

/* The largest |a - b| over KVD floats, and the largest |b|. */
static double diff(const float *a, const float *b, double *mag)
{
    double d = 0;
    for (int i = 0; i < KVD; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        *mag = fmax(*mag, fabs((double)b[i]));
    }
    return d;
}

enum { N = 20, KEEP = 4, DROP = 6 };

static void shift_case(const l4lm_model *m, l4lm_kv_type kv, const char *name, double tol_rel)
{
    int32_t a[N], kept[N - DROP];
    for (int i = 0; i < N; i++)
        a[i] = (int32_t)((i * 5 + 3) % VOCAB);
    for (int i = 0, j = 0; i < N; i++)
        if (i < KEEP || i >= KEEP + DROP)
            kept[j++] = a[i];
    l4lm_session *s = start(m, kv, CTX), *f = start(m, kv, CTX);
    if (!s || !f || l4lm_eval(s, a, N, NULL) || l4lm_eval(f, kept, N - DROP, NULL)) {
        T_FAIL(name, "cannot run the tiny model");
        free(s), free(f);
        return;
    }
    size_t rb = row_bytes(s), cache = (size_t)LAYERS * CTX * rb;
    uint8_t *k0 = malloc(cache), *v0 = malloc(cache);
    memcpy(k0, s->k_cache, cache);
    memcpy(v0, s->v_cache, cache);
    int bad_arg = l4lm_session_shift(s, N, 1) == L4LM_E_ARG &&
                  l4lm_session_shift(s, KEEP, N - KEEP + 1) == L4LM_E_ARG &&
                  l4lm_session_shift(NULL, 0, 0) == L4LM_E_ARG;
    if (l4lm_session_shift(s, KEEP, DROP) || l4lm_session_pos(s) != N - DROP) {
        T_FAIL(name, "the shift failed");
        free(k0), free(v0), free(s), free(f);
        return;
    }
    int moved = 1, still = 1;
    double fresh = 0, rot = 0, mag = 0;
    for (uint32_t l = 0; l < LAYERS; l++)
        for (uint32_t t = 0; t < N - DROP; t++) {
            uint32_t from = t < KEEP ? t : t + DROP;
            moved &= !memcmp(raw(s, s->v_cache, l, t), raw(s, v0, l, from), rb);
            if (t < KEEP) {
                still &= !memcmp(raw(s, s->k_cache, l, t), raw(s, k0, l, t), rb);
                continue;
            }
            float now[KVD], old[KVD], want[KVD];
            row(s, s->k_cache, l, t, now);
            row(s, k0, l, from, old);
            for (int i = 0; i < HD / 2; i++) { /* NORMAL pairs, theta_i = 10000^(-2i/d) */
                double th = -(double)DROP * pow(10000.0, -2.0 * i / HD);
                want[2 * i] = (float)(old[2 * i] * cos(th) - old[2 * i + 1] * sin(th));
                want[2 * i + 1] = (float)(old[2 * i] * sin(th) + old[2 * i + 1] * cos(th));
            }
            rot = fmax(rot, diff(now, want, &mag));
            if (l == 0) {
                row(f, f->k_cache, l, t, want);
                fresh = fmax(fresh, diff(now, want, &mag));
            }
        }
    double tol = tol_rel * mag;
    T_CHECK(name,
            bad_arg && moved && still && fresh <= tol && rot <= tol &&
                !memcmp(s->history, f->history, (N - DROP) * sizeof(int32_t)),
            "bad args %d, V moved %d, kept K %d, layer 0 vs fresh %.3g, rotation %.3g (tol %.3g)",
            bad_arg, moved, still, fresh, rot, tol);
    printf("  %s: max |k - fresh| %.3g, |k - rotated| %.3g, max |k| %.3g\n", name, fresh, rot, mag);
    free(k0), free(v0), free(s), free(f);
}

static void plan_case(const l4lm_model *m)
{
    l4lm_run_opts o = {.n_ctx = CTX, .kv_type = L4LM_KV_Q8_0};
    l4lm_plan_result p;
    uint64_t one = ((uint64_t)LAYERS * CTX * KVD / 32 * 34 + 63) / 64 * 64;
    T_CHECK("kv_plan_q8_0", !l4lm_plan(m, &o, &p) && p.kv_cache == 2 * one,
            "kv_cache %zu, expected %llu", p.kv_cache, (unsigned long long)(2 * one));
}

static void gen_case(const l4lm_model *m, bool shift)
{
    const char *name = shift ? "kv_context_shift_gen" : "kv_context_full_gen";
    l4lm_session *s = start(m, L4LM_KV_F32, 64);
    int32_t ids[8];
    size_t n = 0;
    if (!s || l4lm_tokenize(s, "Once upon a time", 16, L4LM_TOK_BOS, ids, 8, &n) ||
        l4lm_eval(s, ids, n, NULL)) {
        T_FAIL(name, "cannot start stories260K");
        free(s);
        return;
    }
    l4lm_gen g;
    l4lm_gen_opts o = l4lm_gen_opts_default(m, 200);
    o.ignore_eos = true;
    o.context_shift = shift;
    o.n_keep = 1;
    l4lm_finish why = L4LM_FINISH_NONE;
    size_t after = 0; /* bytes of text after the context first filled */
    if (l4lm_gen_init(&g, s, &o)) {
        T_FAIL(name, "gen_init");
        free(s);
        return;
    }
    while (why == L4LM_FINISH_NONE) {
        const char *t;
        size_t len;
        why = l4lm_gen_step(&g, &t, &len);
        after += g.n_gen + n > 64 ? len : 0;
    }
    if (shift)
        T_CHECK(name, why == L4LM_FINISH_LENGTH && g.n_gen == 200 && after > 100,
                "finish %d after %u tokens, %zu bytes after the first shift", why, g.n_gen, after);
    else
        T_CHECK(name, why == L4LM_FINISH_CONTEXT && g.n_gen + n <= 65, "finish %d after %u tokens",
                why, g.n_gen);
    free(s);
}

int main(void)
{
    size_t size;
    unsigned char *bytes = tiny_llama(&size);
    l4lm_model m;
    void *index;
    if (t_model_open(&m, bytes, size, NULL, 0, &index)) {
        T_FAIL("kv_tiny_model", "does not open: %s", m.err.what);
        T_EXIT();
    }
    plan_case(&m);
    shift_case(&m, L4LM_KV_F32, "kv_shift_f32", 1e-5);
    shift_case(&m, L4LM_KV_F16, "kv_shift_f16", 1.0 / 1024);
    shift_case(&m, L4LM_KV_Q8_0, "kv_shift_q8_0", 2.0 / 127);
    if (!t_shared()) {
        T_SKIP("kv_stories260K", "../shared/models/stories260K.gguf absent");
        T_EXIT();
    }
    unsigned char *sb = t_shared_file("models/stories260K.gguf", &size);
    l4lm_model sm;
    void *sindex;
    if (!sb || t_model_open(&sm, sb, size, NULL, 0, &sindex)) {
        T_FAIL("kv_stories260K", "does not open");
        T_EXIT();
    }
    l4lm_run_opts o = {.n_ctx = 64, .kv_type = L4LM_KV_Q8_0};
    l4lm_plan_result p;
    T_CHECK("kv_q8_0_head_dim_8_refused", l4lm_plan(&sm, &o, &p) == L4LM_E_ARG,
            "stories260K (head_dim 8) planned a Q8_0 cache");
    gen_case(&sm, true);
    gen_case(&sm, false);
    free(sb), free(sindex), free(bytes), free(index);
    T_EXIT();
}
