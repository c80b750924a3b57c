/*
** test_arch.c — the llama-like architectures beyond llama itself, on tiny
** all-F32 GGUF files written here: qwen3 (per-head q/k norms, a head size
** that is not n_embd / n_head), llama with Llama 3 rope_freqs and linear
** RoPE scaling, phi3 (fused attn_qkv and gate+up). Each well-formed file
** must open, plan and run (exact-size copies: AddressSanitizer checks that
** every buffer is sized for n_head * head_dim, not n_embd); each broken one
** (a wrong length of the new tensors, an unsupported RoPE scaling, LongRoPE
** factors, an unsupported architecture) must be refused with its status.
** The numbers themselves are checked against llama.cpp by
** tests/llamacpp_arch.sh.
*/
#include <stdint.h>

#include "l4lm.h"
#include "t.h"

#include "gguf_write.h"

/* ---- the model: 32 wide, 4 heads of 16 (q 64 wide), 2 KV heads, 1 layer ---- */

enum { E = 32, HEADS = 4, HEADS_KV = 2, FF = 48, VOCAB = 32, CTX = 32, MAX_T = 24 };

/* What a case changes in the well-formed file of its architecture. */
typedef struct variant {
    const char *arch;
    uint32_t head_dim;         /* attention.key_length; 0: none (E / HEADS) */
    uint32_t value_length;     /* 0: same as head_dim */
    const char *scaling;       /* rope.scaling.type, or NULL */
    float factor, attn_factor; /* 0: key absent */
    bool rope_freqs, longrope; /* add rope_freqs / rope_factors_long */
    const char *extra;         /* add this vector of n_embd floats */
    uint32_t n_expert;         /* expert_count when != 0 */
    float freq_value;          /* rope_freqs entries (0: 2.0) */
    const char *resize;        /* this tensor gets ne0 (ne1) = resize_to */
    uint64_t resize_to;
    bool resize_rows; /* resize ne1 rather than ne0 */
    const char *drop; /* this tensor is left out */
} variant;

typedef wmtensor tensor;

static void add(tensor *t, int *n, const variant *v, const char *name, uint64_t ne0, uint64_t ne1)
{
    if (v->drop && !strcmp(name, v->drop))
        return;
    bool resize = v->resize && !strcmp(name, v->resize);
    snprintf(t[*n].name, sizeof t[*n].name, "%s", name);
    t[*n].ne0 = resize && !v->resize_rows ? v->resize_to : ne0;
    t[*n].ne1 = resize && v->resize_rows ? v->resize_to : ne1;
    (*n)++;
}

/* The tensors of each architecture, as llama.cpp names and shapes them. */
static int layout(const variant *v, tensor *t)
{
    uint64_t d = v->head_dim ? v->head_dim : E / HEADS, q = HEADS * d, kv = HEADS_KV * d;
    bool phi3 = !strcmp(v->arch, "phi3"), qwen3 = !strcmp(v->arch, "qwen3");
    int n = 0;
    add(t, &n, v, "token_embd.weight", E, VOCAB);
    add(t, &n, v, "output_norm.weight", E, 0);
    if (v->rope_freqs)
        add(t, &n, v, "rope_freqs.weight", d / 2, 0);
    if (v->longrope)
        add(t, &n, v, "rope_factors_long.weight", d / 2, 0);
    if (v->extra)
        add(t, &n, v, v->extra, E, 0);
    add(t, &n, v, "blk.0.attn_norm.weight", E, 0);
    if (phi3) {
        add(t, &n, v, "blk.0.attn_qkv.weight", E, q + 2 * kv);
    } else {
        add(t, &n, v, "blk.0.attn_q.weight", E, q);
        add(t, &n, v, "blk.0.attn_k.weight", E, kv);
        add(t, &n, v, "blk.0.attn_v.weight", E, kv);
    }
    if (qwen3) {
        add(t, &n, v, "blk.0.attn_q_norm.weight", d, 0);
        add(t, &n, v, "blk.0.attn_k_norm.weight", d, 0);
    }
    add(t, &n, v, "blk.0.attn_output.weight", q, E);
    add(t, &n, v, "blk.0.ffn_norm.weight", E, 0);
    if (!phi3)
        add(t, &n, v, "blk.0.ffn_gate.weight", E, FF);
    add(t, &n, v, "blk.0.ffn_up.weight", E, phi3 ? 2 * FF : FF);
    add(t, &n, v, "blk.0.ffn_down.weight", FF, E);
    return n;
}

static void kv_u32(wbuf *b, const char *arch, const char *key, uint32_t val, int *n_kv)
{
    char k[96];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    wstr(b, k);
    wle(b, 4, 4); /* u32 */
    wle(b, val, 4);
    (*n_kv)++;
}

static void kv_f32(wbuf *b, const char *arch, const char *key, float val, int *n_kv)
{
    char k[96];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    wstr(b, k);
    wle(b, 6, 4); /* f32 */
    wf32(b, val);
    (*n_kv)++;
}

static void kv_str(wbuf *b, const char *key, const char *val, int *n_kv)
{
    wstr(b, key);
    wle(b, 8, 4); /* string */
    wstr(b, val);
    (*n_kv)++;
}

static void metadata(wbuf *b, const variant *v, int *n_kv)
{
    char k[96];
    const char *a = v->arch;
    kv_str(b, "general.architecture", a, n_kv);
    kv_u32(b, a, "context_length", CTX, n_kv);
    kv_u32(b, a, "embedding_length", E, n_kv);
    kv_u32(b, a, "feed_forward_length", FF, n_kv);
    kv_u32(b, a, "block_count", 1, n_kv);
    kv_u32(b, a, "attention.head_count", HEADS, n_kv);
    kv_u32(b, a, "attention.head_count_kv", HEADS_KV, n_kv);
    kv_f32(b, a, "attention.layer_norm_rms_epsilon", 1e-6f, n_kv);
    if (v->head_dim) {
        kv_u32(b, a, "attention.key_length", v->head_dim, n_kv);
        kv_u32(b, a, "attention.value_length", v->value_length ? v->value_length : v->head_dim,
               n_kv);
        kv_u32(b, a, "rope.dimension_count", v->head_dim, n_kv);
    }
    if (v->scaling) {
        snprintf(k, sizeof k, "%s.rope.scaling.type", a);
        kv_str(b, k, v->scaling, n_kv);
    }
    if (v->factor != 0.0f)
        kv_f32(b, a, "rope.scaling.factor", v->factor, n_kv);
    if (v->attn_factor != 0.0f)
        kv_f32(b, a, "rope.scaling.attn_factor", v->attn_factor, n_kv);
    if (v->n_expert)
        kv_u32(b, a, "expert_count", v->n_expert, n_kv);
    kv_str(b, "tokenizer.ggml.model", "llama", n_kv);
    wstr(b, "tokenizer.ggml.tokens");
    wle(b, 9, 4); /* array */
    wle(b, 8, 4); /* of strings */
    wle(b, VOCAB, 8);
    for (int i = 0; i < VOCAB; i++) {
        char piece[8];
        snprintf(piece, sizeof piece,
                 i == 0   ? "<unk>"
                 : i == 1 ? "<s>"
                 : i == 2 ? "</s>"
                          : "t%d",
                 i);
        wstr(b, piece);
    }
    (*n_kv)++;
}

/* Seeded weights in [-0.3, 0.3); norms and rope_freqs positive. */
static float value(const char *name, uint64_t i, const variant *v)
{
    if (strstr(name, "rope_"))
        return v->freq_value != 0.0f ? v->freq_value : 2.0f;
    uint64_t h = (i + 1) * 0x9e3779b97f4a7c15ull ^ (uint64_t)strlen(name) * 0xbf58476d1ce4e5b9ull;
    float u = (float)((h >> 40) & 0xffff) / 65536.0f;
    return strstr(name, "norm") ? 0.8f + 0.4f * u : 0.6f * u - 0.3f;
}

/* A whole file, all tensors F32, alignment 32. */
static float value_of(const char *name, uint64_t i, const void *v)
{
    return value(name, i, v);
}

static unsigned char *build(const variant *v, size_t *size)
{
    tensor t[MAX_T];
    int n = layout(v, t), n_kv = 0;
    wbuf kvs = {0};
    metadata(&kvs, v, &n_kv);
    unsigned char *bytes = gguf_write_f32_model(&kvs, (uint64_t)n_kv, t, n, value_of, v, size);
    free(kvs.p);
    return bytes;
}

/* Open an exact-size copy; when it opens, plan, run 3 tokens and check the
** logits are finite. Returns the open status (or a run failure's). */
static l4lm_status open_and_run(const variant *v, char *what, size_t what_cap)
{
    size_t size;
    unsigned char *bytes = build(v, &size);
    const int32_t ids[3] = {1, 7, 20};
    float logits[VOCAB];
    return test_open_run(bytes, size, CTX, 2, ids, 3, logits, VOCAB, what, what_cap);
}

static void expect(const char *name, const variant *v, l4lm_status want, const char *want_text)
{
    char what[128];
    l4lm_status st = open_and_run(v, what, sizeof what);
    T_CHECK(name, st == want && (!want_text || strstr(what, want_text)),
            "status %d (%s) '%s', expected %d (%s)%s%s", st, l4lm_strerror(st), what, want,
            l4lm_strerror(want), want_text ? " mentioning " : "", want_text ? want_text : "");
}

int main(void)
{
    const variant qwen3 = {.arch = "qwen3", .head_dim = 16};
    const variant llama3 = {.arch = "llama", .rope_freqs = true};
    const variant phi3 = {.arch = "phi3"};
    variant v;

    /* well-formed files open and run */
    expect("arch_qwen3_runs", &qwen3, L4LM_OK, NULL);
    expect("arch_llama3_rope_freqs_runs", &llama3, L4LM_OK, NULL);
    expect("arch_llama_linear_scaling_runs",
           &(variant){.arch = "llama", .scaling = "linear", .factor = 4.0f}, L4LM_OK, NULL);
    expect("arch_phi3_runs", &phi3, L4LM_OK, NULL);

    /* qwen3: the per-head norms and the head size */
    v = qwen3;
    v.resize = "blk.0.attn_q_norm.weight";
    v.resize_to = 32; /* n_embd, not head_dim */
    expect("arch_qwen3_q_norm_length", &v, L4LM_E_SHAPE, "attn_q_norm");
    v.resize = "blk.0.attn_k_norm.weight";
    v.resize_to = 8;
    expect("arch_qwen3_k_norm_length", &v, L4LM_E_SHAPE, "attn_k_norm");
    v = qwen3;
    v.drop = "blk.0.attn_k_norm.weight";
    expect("arch_qwen3_k_norm_missing", &v, L4LM_E_MISSING_TENSOR, "attn_k_norm");
    v = qwen3;
    v.resize = "blk.0.attn_output.weight";
    v.resize_to = E; /* as if head_dim were n_embd / n_head */
    expect("arch_qwen3_wo_width", &v, L4LM_E_SHAPE, "attn_output");
    v = qwen3;
    v.value_length = 8;
    expect("arch_value_length_differs", &v, L4LM_E_HPARAMS, "value");
    v = qwen3;
    v.head_dim = 15;
    expect("arch_odd_head_dim", &v, L4LM_E_HPARAMS, "odd");
    v.head_dim = 4096;
    expect("arch_huge_head_dim", &v, L4LM_E_LIMIT, NULL);

    /* Llama 3 rope_freqs and RoPE scaling */
    v = llama3;
    v.resize = "rope_freqs.weight";
    v.resize_to = E / HEADS; /* head_dim, not head_dim / 2 */
    expect("arch_rope_freqs_length", &v, L4LM_E_SHAPE, "rope_freqs");
    v = llama3;
    v.freq_value = -1.0f;
    expect("arch_rope_freqs_negative", &v, L4LM_E_HPARAMS, "rope_freqs");
    v = qwen3;
    v.rope_freqs = true; /* llama.cpp reads it only for llama */
    expect("arch_rope_freqs_on_qwen3", &v, L4LM_E_ARCH, "rope_freqs");
    expect("arch_scaling_yarn", &(variant){.arch = "llama", .scaling = "yarn", .factor = 4.0f},
           L4LM_E_HPARAMS, "yarn");
    expect("arch_scaling_factor_negative", &(variant){.arch = "llama", .factor = -2.0f},
           L4LM_E_HPARAMS, NULL);
    expect("arch_scaling_attn_factor", &(variant){.arch = "llama", .attn_factor = 1.5f},
           L4LM_E_HPARAMS, NULL);

    /* phi3: the fused tensors, LongRoPE */
    v = phi3;
    v.resize = "blk.0.ffn_up.weight";
    v.resize_to = FF; /* up alone, without the gate rows */
    v.resize_rows = true;
    expect("arch_phi3_ffn_up_rows", &v, L4LM_E_SHAPE, "ffn_up");
    v.resize = "blk.0.attn_qkv.weight";
    v.resize_to = 3 * E; /* as if K and V were as wide as Q */
    expect("arch_phi3_qkv_rows", &v, L4LM_E_SHAPE, "attn_qkv");
    v = phi3;
    v.drop = "blk.0.attn_qkv.weight"; /* and no attn_q/k/v either */
    expect("arch_phi3_qkv_missing", &v, L4LM_E_MISSING_TENSOR, "attn_q");
    v = phi3;
    v.longrope = true;
    expect("arch_phi3_longrope", &v, L4LM_E_HPARAMS, "LongRoPE");
    expect("arch_scaling_longrope", &(variant){.arch = "phi3", .scaling = "longrope"},
           L4LM_E_HPARAMS, "longrope");

    /* what l4lm does not run is refused by name, never silently left out */
    expect("arch_unsupported", &(variant){.arch = "gpt2"}, L4LM_E_ARCH, "gpt2");
    expect("arch_exaone_runs", &(variant){.arch = "exaone", .rope_freqs = true}, L4LM_OK, NULL);
    expect("arch_attn_output_bias", &(variant){.arch = "llama", .extra = "blk.0.attn_output.bias"},
           L4LM_E_ARCH, "attn_output.bias");
    expect("arch_ffn_down_bias",
           &(variant){.arch = "qwen3", .head_dim = 16, .extra = "blk.0.ffn_down.bias"}, L4LM_E_ARCH,
           "ffn_down.bias");
    expect("arch_moe", &(variant){.arch = "llama", .n_expert = 8}, L4LM_E_ARCH, "experts");
    T_EXIT();
}
