/*
** test_gemma.c — the gemma family on tiny all-F32 GGUF files written here:
** gemma, gemma2 and gemma3 files must open, plan and run (exact-size
** copies, so AddressSanitizer sees any buffer sized for n_embd rather than
** n_head * head_dim, or a sliding window reading outside the cache), and a
** window must change what a late token sees. Broken files (a post-norm or
** q/k norm missing or of the wrong length, soft-caps that are zero,
** negative or not numbers, a zero window, a window pattern given as an
** array, a bad RoPE base for the local layers) must be refused with their
** status. The numbers themselves are checked against llama.cpp by
** tests/llamacpp_gemma.sh.
*/
#include <math.h>
#include <stdint.h>

#include "l4lm.h"
#include "t.h"

#include "gguf_write.h"

/* "<arch>.<key>" and its value type (GGUF numbering: 4 u32, 6 f32, 8 string, 9 array) */
static void key(wbuf *b, const char *arch, const char *k, uint32_t type)
{
    char full[96];
    snprintf(full, sizeof full, "%s%s%s", arch, *arch ? "." : "", k);
    wstr(b, full);
    wle(b, type, 4);
    b->n_kv++;
}

/* ---- the model: 32 wide, 4 heads of 16 (q 64 wide), 2 KV heads ---- */

enum { E = 32, HEADS = 4, HEADS_KV = 2, HD = 16, FF = 48, VOCAB = 32, CTX = 32 };
enum { MAX_T = 2 + 7 * 13 }; /* tensors of a 7-layer gemma3 */

#define ABSENT (-1.0f) /* a float key left out */

/* What a case changes in the well-formed file of its architecture. */
typedef struct variant {
    const char *arch;
    uint32_t n_layer;          /* 0: 2 */
    int64_t swa;               /* attention.sliding_window; -1: absent */
    bool pattern_array;        /* attention.sliding_window_pattern as a bool array */
    float attn_cap, final_cap; /* soft-caps; ABSENT: no key; NAN allowed */
    bool attn_cap_string;      /* attn_logit_softcapping as a string */
    float rope_base_swa;       /* rope.freq_base_swa; 0: absent */
    const char *drop;          /* this tensor is left out */
    const char *resize;        /* this vector gets resize_to elements */
    uint64_t resize_to;
} variant;

typedef wmtensor tensor;

static void add(tensor *t, int *n, const variant *v, const char *name, uint64_t ne0, uint64_t ne1)
{
    if (v->drop && !strcmp(name, v->drop))
        return;
    snprintf(t[*n].name, sizeof t[*n].name, "%s", name);
    t[*n].ne0 = v->resize && !strcmp(name, v->resize) ? v->resize_to : ne0;
    t[*n].ne1 = ne1;
    (*n)++;
}

static uint32_t layers(const variant *v)
{
    return v->n_layer ? v->n_layer : 2;
}

/* llama.cpp's tensors for the architecture; the classifier is tied. */
static int layout(const variant *v, tensor *t)
{
    bool g3 = !strcmp(v->arch, "gemma3"), post = g3 || !strcmp(v->arch, "gemma2");
    int n = 0;
    char name[48];
    add(t, &n, v, "token_embd.weight", E, VOCAB);
    add(t, &n, v, "output_norm.weight", E, 0);
    for (uint32_t l = 0; l < layers(v); l++) {
        const struct {
            const char *sfx;
            uint64_t ne0, ne1;
            bool with;
        } blk[] = {
            {"attn_norm.weight", E, 0, true},
            {"attn_q.weight", E, HEADS * HD, true},
            {"attn_k.weight", E, HEADS_KV * HD, true},
            {"attn_v.weight", E, HEADS_KV * HD, true},
            {"attn_output.weight", HEADS * HD, E, true},
            {"ffn_norm.weight", E, 0, true},
            {"ffn_gate.weight", E, FF, true},
            {"ffn_up.weight", E, FF, true},
            {"ffn_down.weight", FF, E, true},
            {"attn_q_norm.weight", HD, 0, g3},
            {"attn_k_norm.weight", HD, 0, g3},
            {"post_attention_norm.weight", E, 0, post},
            {"post_ffw_norm.weight", E, 0, post},
        };
        for (size_t i = 0; i < sizeof blk / sizeof *blk; i++) {
            snprintf(name, sizeof name, "blk.%u.%s", l, blk[i].sfx);
            if (blk[i].with)
                add(t, &n, v, name, blk[i].ne0, blk[i].ne1);
        }
    }
    return n;
}

static void metadata(wbuf *b, const variant *v)
{
    const char *a = v->arch;
    const struct {
        const char *k;
        uint32_t val;
    } u32s[] = {{"context_length", CTX},         {"embedding_length", E},
                {"feed_forward_length", FF},     {"block_count", layers(v)},
                {"attention.head_count", HEADS}, {"attention.head_count_kv", HEADS_KV},
                {"attention.key_length", HD},    {"attention.value_length", HD}};
    key(b, "", "general.architecture", 8);
    wstr(b, a);
    for (size_t i = 0; i < sizeof u32s / sizeof *u32s; i++) {
        key(b, a, u32s[i].k, 4);
        wle(b, u32s[i].val, 4);
    }
    key(b, a, "attention.layer_norm_rms_epsilon", 6);
    wf32(b, 1e-6f);
    if (v->swa >= 0) {
        key(b, a, "attention.sliding_window", 4);
        wle(b, (uint64_t)v->swa, 4);
    }
    if (v->pattern_array) { /* llama.cpp's per-layer form: not supported by l4lm */
        key(b, a, "attention.sliding_window_pattern", 9);
        wle(b, 7, 4); /* of bools */
        wle(b, layers(v), 8);
        for (uint32_t l = 0; l < layers(v); l++)
            wle(b, l % 2 == 0, 1);
    }
    if (v->attn_cap_string) {
        key(b, a, "attn_logit_softcapping", 8);
        wstr(b, "50");
    } else if (v->attn_cap != ABSENT) {
        key(b, a, "attn_logit_softcapping", 6);
        wf32(b, v->attn_cap);
    }
    if (v->final_cap != ABSENT) {
        key(b, a, "final_logit_softcapping", 6);
        wf32(b, v->final_cap);
    }
    if (v->rope_base_swa != 0.0f) {
        key(b, a, "rope.freq_base_swa", 6);
        wf32(b, v->rope_base_swa);
    }
    key(b, "", "tokenizer.ggml.model", 8);
    wstr(b, "llama");
    key(b, "", "tokenizer.ggml.tokens", 9);
    wle(b, 8, 4); /* of strings */
    wle(b, VOCAB, 8);
    for (int i = 0; i < VOCAB; i++) {
        char piece[8];
        const char *fmt = i == 0 ? "<unk>" : i == 1 ? "<s>" : i == 2 ? "</s>" : "t%d";
        snprintf(piece, sizeof piece, fmt, i);
        wstr(b, piece);
    }
}

/* Seeded weights in [-0.3, 0.3) (embeddings larger); norms in [0.8, 1.2). */
static float value(const char *name, uint64_t i)
{
    uint64_t h = (i + 1) * 0x9e3779b97f4a7c15ull ^ (uint64_t)strlen(name) * 0xbf58476d1ce4e5b9ull;
    h ^= h >> 29;
    float u = (float)((h >> 40) & 0xffff) / 65536.0f;
    if (strstr(name, "norm"))
        return 0.8f + 0.4f * u;
    return (strstr(name, "token_embd") ? 2.0f : 0.6f) * (u - 0.5f);
}

/* A whole file, all tensors F32, alignment 32. */
static float value_of(const char *name, uint64_t i, const void *ctx)
{
    (void)ctx;
    return value(name, i);
}

static unsigned char *build(const variant *v, size_t *size)
{
    tensor t[MAX_T];
    int n = layout(v, t);
    wbuf kvs = {0};
    metadata(&kvs, v);
    unsigned char *bytes =
        gguf_write_f32_model(&kvs, (uint64_t)kvs.n_kv, t, n, value_of, NULL, size);
    free(kvs.p);
    return bytes;
}

/* Open an exact-size copy; when it opens, run n_tok tokens (batches of 3)
** and keep the last logits in out (VOCAB floats, all must be finite). */
static l4lm_status open_and_run(const variant *v, int n_tok, float *out, char *what, size_t cap)
{
    size_t size;
    unsigned char *bytes = build(v, &size);
    int32_t ids[CTX];
    for (int i = 0; i < n_tok; i++)
        ids[i] = 3 + (i * 7) % (VOCAB - 3);
    return test_open_run(bytes, size, CTX, 3, ids, (size_t)n_tok, out, VOCAB, what, cap);
}

static void expect(const char *name, const variant *v, l4lm_status want, const char *want_text)
{
    char what[128];
    float logits[VOCAB];
    l4lm_status st = open_and_run(v, 3, logits, what, sizeof what);
    T_CHECK(name, st == want && (!want_text || strstr(what, want_text)),
            "status %d (%s) '%s', expected %d (%s)%s%s", st, l4lm_strerror(st), what, want,
            l4lm_strerror(want), want_text ? " mentioning " : "", want_text ? want_text : "");
}

/* The window decides what token 20 sees: a 4-position window on the local
** layers must give other logits than one wider than the context, while a
** window of the whole run (20) must give the same ones. */
static void test_window(const char *arch)
{
    variant v = {.arch = arch, .n_layer = 2, .swa = 4, .attn_cap = ABSENT, .final_cap = ABSENT};
    float narrow[VOCAB], wide[VOCAB], whole[VOCAB];
    char what[128], name[64];
    l4lm_status st = open_and_run(&v, 20, narrow, what, sizeof what);
    v.swa = 1000;
    if (!st)
        st = open_and_run(&v, 20, wide, what, sizeof what);
    v.swa = 20;
    if (!st)
        st = open_and_run(&v, 20, whole, what, sizeof what);
    double moved = 0, same = 0;
    for (int i = 0; !st && i < VOCAB; i++) {
        moved = fmax(moved, fabs(narrow[i] - wide[i]));
        same = fmax(same, fabs(whole[i] - wide[i]));
    }
    snprintf(name, sizeof name, "%s_window_used", arch);
    T_CHECK(name, !st && moved > 1e-3 && same == 0,
            "status %d '%s', narrow window moved logits by %g, whole-run window by %g", st, what,
            moved, same);
}

int main(void)
{
    const variant gemma = {.arch = "gemma", .swa = -1, .attn_cap = ABSENT, .final_cap = ABSENT};
    const variant gemma2 = {.arch = "gemma2", .swa = 2, .attn_cap = 5.0f, .final_cap = 8.0f};
    const variant gemma3 = {.arch = "gemma3", .swa = 2, .attn_cap = ABSENT, .final_cap = ABSENT};
    variant v;

    /* well-formed files open and run (windows of 2 over 3 tokens) */
    expect("gemma_runs", &gemma, L4LM_OK, NULL);
    expect("gemma2_runs", &gemma2, L4LM_OK, NULL);
    v = gemma2; /* llama.cpp's defaults: window 4096, caps 50 and 30 */
    v.swa = -1, v.attn_cap = v.final_cap = ABSENT;
    expect("gemma2_defaults_run", &v, L4LM_OK, NULL);
    expect("gemma3_runs", &gemma3, L4LM_OK, NULL);
    v = gemma3;
    v.swa = -1, v.final_cap = 10.0f, v.n_layer = 7;
    expect("gemma3_no_window_final_cap_runs", &v, L4LM_OK, NULL);
    v = gemma3;
    v.swa = 1, v.rope_base_swa = 20000.0f, v.n_layer = 7;
    expect("gemma3_seven_layers_runs", &v, L4LM_OK, NULL);
    test_window("gemma2");
    test_window("gemma3");

    /* the new tensors */
    v = gemma2;
    v.drop = "blk.1.post_attention_norm.weight";
    expect("gemma2_post_attention_norm_missing", &v, L4LM_E_MISSING_TENSOR, "post_attention_norm");
    v = gemma3;
    v.drop = "blk.0.post_ffw_norm.weight";
    expect("gemma3_post_ffw_norm_missing", &v, L4LM_E_MISSING_TENSOR, "post_ffw_norm");
    v = gemma3;
    v.resize = "blk.0.post_ffw_norm.weight";
    v.resize_to = HD;
    expect("gemma3_post_ffw_norm_length", &v, L4LM_E_SHAPE, "post_ffw_norm");
    v = gemma3;
    v.drop = "blk.1.attn_q_norm.weight";
    expect("gemma3_q_norm_missing", &v, L4LM_E_MISSING_TENSOR, "attn_q_norm");
    v = gemma3;
    v.resize = "blk.0.attn_k_norm.weight";
    v.resize_to = E; /* n_embd, not the head size */
    expect("gemma3_k_norm_length", &v, L4LM_E_SHAPE, "attn_k_norm");

    /* the new keys */
    v = gemma2;
    v.attn_cap = 0.0f;
    expect("gemma2_attn_cap_zero", &v, L4LM_E_HPARAMS, "soft-cap");
    v.attn_cap = NAN;
    expect("gemma2_attn_cap_nan", &v, L4LM_E_HPARAMS, "soft-cap");
    v = gemma2;
    v.attn_cap_string = true;
    expect("gemma2_attn_cap_string", &v, L4LM_E_HPARAMS, "attn_logit_softcapping");
    v = gemma2;
    v.final_cap = -30.0f;
    expect("gemma2_final_cap_negative", &v, L4LM_E_HPARAMS, "soft-cap");
    v.final_cap = 0.0f; /* llama.cpp would divide by it */
    expect("gemma2_final_cap_zero", &v, L4LM_E_HPARAMS, "soft-cap");
    v = gemma3;
    v.final_cap = INFINITY;
    expect("gemma3_final_cap_inf", &v, L4LM_E_HPARAMS, "soft-cap");
    v = gemma2;
    v.swa = 0; /* llama.cpp would mask every position of the local layers */
    expect("gemma2_window_zero", &v, L4LM_E_HPARAMS, "window");
    v = gemma3;
    v.pattern_array = true;
    expect("gemma3_pattern_array", &v, L4LM_E_HPARAMS, "sliding_window_pattern");
    v = gemma3;
    v.rope_base_swa = 0.5f;
    expect("gemma3_rope_base_swa", &v, L4LM_E_HPARAMS, "RoPE base");
    T_EXIT();
}
