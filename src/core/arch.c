/*
** arch.c — the architectures l4lm runs, one row of a table each, and the
** hyperparameters of a GGUF file: its sizes, read as llama.cpp reads them,
** and its architecture's features (l4lm_hparams from qkv_bias on), which
** the weights and the forward pass then follow without knowing its name.
** Adding a llama-like architecture is one row; a key it reads that no row
** reads yet is one more field.
*/
#include "internal.h"

#define KEY_MAX 96

/* Optional GGUF keys a row may read ("<arch>.<key>"), each overriding its default. */
enum {
    KEY_ATTN_SOFTCAP = 1,  /* attn_logit_softcapping */
    KEY_FINAL_SOFTCAP = 2, /* final_logit_softcapping */
    KEY_SWA = 4            /* attention.sliding_window (then its pattern and RoPE base) */
};

/* How an architecture differs from llama. Every one may fuse Q, K and V into
** one attn_qkv matrix and add optional Q/K/V biases, as llama.cpp's loader
** allows; weights.c reads those from the tensors present. */
typedef struct arch_row {
    char name[12];  /* an array, not a pointer: the table needs no relocation */
    l4lm_rope rope; /* llama GGUFs had their Q/K rows permuted at conversion so
                       adjacent pairs rotate; the others rotate pairs half a head apart */
    /* copied to the l4lm_hparams features of the same names */
    l4lm_ffn_act ffn_act;
    bool embed_scale, qkv_bias, qk_norm, fused_gate_up, rope_freqs, post_norms;
    bool scale_q;           /* q times 1/sqrt(head_dim) after RoPE, not the scores */
    uint32_t q_embd_layers; /* scale_q: at this many layers (the 27B sizes) 1/sqrt(n_embd /
                               n_head) instead, as llama.cpp does */
    bool ignore_output;     /* always tied: llama.cpp ignores an output.weight */
    uint8_t keys;           /* KEY_*: which optional keys it reads */
    /* defaults a key may override; 0: off. Where the default is on, a file's 0 is refused */
    float attn_softcap;
    float final_softcap;
    uint32_t n_swa;       /* the sliding window */
    uint32_t swa_pattern; /* the pattern when there is a window */
    float rope_base_swa;  /* the local layers' RoPE base, unscaled; 0: the global base and
                             scaling */
} arch_row;

/*
** gemma: embeddings times sqrt(n_embd), GELU-gated FFN, tied classifier, q
** scaled before the dot products. The converter already added 1 to every
** norm weight, so the norms are plain RMSNorms. gemma2 adds post-norms,
** soft-capped attention scores and logits, and a sliding window on every
** other layer. gemma3 drops the soft-caps (a final one only if the file has
** it), adds q/k norms, and has a window only if the file gives one: five
** local layers (RoPE base 10000 unless rope.freq_base_swa says otherwise, no
** scaling) then one global layer.
*/
static const arch_row archs[] = {
    {.name = "llama", .rope = L4LM_ROPE_NORMAL, .rope_freqs = true},
    {.name = "qwen2", .rope = L4LM_ROPE_NEOX, .qkv_bias = true},
    {.name = "qwen3", .rope = L4LM_ROPE_NEOX, .qk_norm = true},
    {.name = "phi3", .rope = L4LM_ROPE_NEOX, .fused_gate_up = true},
    {.name = "exaone", .rope = L4LM_ROPE_NEOX, .rope_freqs = true}, /* llama's graph */
    {.name = "gemma",
     .rope = L4LM_ROPE_NEOX,
     .ffn_act = L4LM_FFN_GELU,
     .embed_scale = true,
     .scale_q = true,
     .ignore_output = true},
    {.name = "gemma2",
     .rope = L4LM_ROPE_NEOX,
     .ffn_act = L4LM_FFN_GELU,
     .embed_scale = true,
     .scale_q = true,
     .q_embd_layers = 46,
     .post_norms = true,
     .ignore_output = true,
     .keys = KEY_ATTN_SOFTCAP | KEY_FINAL_SOFTCAP | KEY_SWA,
     .attn_softcap = 50.0f,
     .final_softcap = 30.0f,
     .n_swa = 4096, /* llama.cpp would mask every position without one */
     .swa_pattern = 2},
    {.name = "gemma3",
     .rope = L4LM_ROPE_NEOX,
     .ffn_act = L4LM_FFN_GELU,
     .embed_scale = true,
     .scale_q = true,
     .q_embd_layers = 62,
     .qk_norm = true,
     .post_norms = true,
     .keys = KEY_FINAL_SOFTCAP | KEY_SWA,
     .swa_pattern = 6,
     .rope_base_swa = 10000.0f},
};

static const arch_row *find_arch(const char *name, uint64_t len)
{
    for (size_t i = 0; i < sizeof archs / sizeof *archs; i++)
        if (l4lm_streq(name, len, archs[i].name))
            return &archs[i];
    return 0;
}

/* ------------------------------------------------------------ GGUF keys */

/* "<arch>.<suffix>" into buf; false if it does not fit. */
static bool arch_key(char *buf, const l4lm_hparams *hp, const char *suffix)
{
    size_t a = l4lm_strlen(hp->arch), b = l4lm_strlen(suffix);
    if (a + 1 + b + 1 > KEY_MAX)
        return false;
    __builtin_memcpy(buf, hp->arch, a);
    buf[a] = '.';
    __builtin_memcpy(buf + a + 1, suffix, b + 1);
    return true;
}

static bool arch_u32(const l4lm_gguf *g, const l4lm_hparams *hp, const char *sfx, uint32_t *v)
{
    char key[KEY_MAX];
    return arch_key(key, hp, sfx) && l4lm_gguf_u32(g, key, v);
}

static bool arch_f32(const l4lm_gguf *g, const l4lm_hparams *hp, const char *sfx, float *v)
{
    char key[KEY_MAX];
    return arch_key(key, hp, sfx) && l4lm_gguf_f32(g, key, v);
}

/* An optional key, read into *u (u32) or else *f (f32): absent leaves the
** default; present but not such a number (another type, an array) is
** refused rather than ignored. */
static l4lm_status opt_key(l4lm_model *m, const char *sfx, uint32_t *u, float *f)
{
    char key[KEY_MAX];
    l4lm_gguf_kv kv;
    if (!arch_key(key, &m->hp, sfx) || !l4lm_gguf_find(&m->gguf, key, &kv) ||
        (u ? l4lm_gguf_u32(&m->gguf, key, u) : l4lm_gguf_f32(&m->gguf, key, f)))
        return L4LM_OK;
    return l4lm_fail(&m->err, L4LM_E_HPARAMS, (uint64_t)(kv.val - m->bytes),
                     "unsupported value type of", key, l4lm_strlen(key));
}

/* ------------------------------------------------------------- checks */

/* The shape rules every architecture shares; also caps sizes at our limits. */
l4lm_status l4lm_arch_check(l4lm_hparams *hp, l4lm_error *err)
{
    if (hp->n_embd == 0 || hp->n_layer == 0 || hp->n_head == 0 || hp->n_ff == 0 ||
        hp->n_head_kv == 0 || hp->n_vocab == 0)
        return l4lm_fail(err, L4LM_E_HPARAMS, 0, "a hyperparameter is missing or zero", 0, 0);
    if (hp->n_embd > L4LM_MAX_EMBD || hp->n_layer > L4LM_MAX_LAYERS ||
        hp->n_ff > 16 * L4LM_MAX_EMBD || hp->n_vocab > L4LM_MAX_VOCAB ||
        hp->n_ctx_train > L4LM_MAX_CTX || hp->n_head > hp->n_embd)
        return l4lm_fail(err, L4LM_E_LIMIT, 0, "a hyperparameter exceeds l4lm's limits", 0, 0);
    if (hp->n_head % hp->n_head_kv || (!hp->head_dim && hp->n_embd % hp->n_head))
        return l4lm_fail(err, L4LM_E_HPARAMS, 0, "heads do not divide the embedding", 0, 0);
    if (!hp->head_dim) /* no attention.key_length: the heads split the embedding */
        hp->head_dim = hp->n_embd / hp->n_head;
    if (hp->head_dim % 2)
        return l4lm_fail(err, L4LM_E_HPARAMS, 0, "odd head dimension", 0, 0);
    /* keeps n_batch * n_head * head_dim (the q buffer) far below 2^32 */
    if (hp->head_dim > L4LM_MAX_HEAD_DIM || hp->n_head * hp->head_dim > 4 * L4LM_MAX_EMBD)
        return l4lm_fail(err, L4LM_E_LIMIT, 0, "attention heads exceed l4lm's limits", 0, 0);
    if (!(hp->rms_eps > 0.0f && hp->rms_eps < 1.0f) ||
        !(hp->rope_base > 1.0f && hp->rope_base < 1e12f))
        return l4lm_fail(err, L4LM_E_HPARAMS, 0, "epsilon or RoPE base out of range", 0, 0);
    return L4LM_OK;
}

/* A soft-cap from a file: within range, or 0 (off) where the default is off. */
static bool cap_ok(float c, float dflt)
{
    return c == 0.0f ? dflt == 0.0f : c >= 1e-3f && c <= 1e6f;
}

/* ------------------------------------------------------------ features */

/* The key-free features: straight from the row. */
static void row_features(l4lm_hparams *hp, const arch_row *a)
{
    hp->rope = a->rope;
    hp->ffn_act = a->ffn_act;
    hp->embed_scale = a->embed_scale;
    hp->qkv_bias = a->qkv_bias;
    hp->qk_norm = a->qk_norm;
    hp->fused_gate_up = a->fused_gate_up;
    hp->rope_freqs = a->rope_freqs;
    hp->post_norms = a->post_norms;
    hp->attn_softcap = a->attn_softcap;
    hp->final_softcap = a->final_softcap;
    hp->n_swa = a->n_swa;
}

/* The row's optional keys, in an order that reports the first problem a
** reader of the file would meet. */
static l4lm_status read_keys(l4lm_model *m, const arch_row *a)
{
    l4lm_hparams *hp = &m->hp;
    l4lm_status st = L4LM_OK;
    if (a->keys & KEY_ATTN_SOFTCAP) {
        st = opt_key(m, "attn_logit_softcapping", 0, &hp->attn_softcap);
        if (!st && !cap_ok(hp->attn_softcap, a->attn_softcap))
            st = l4lm_fail(&m->err, L4LM_E_HPARAMS, 0, "attention soft-cap out of range", 0, 0);
    }
    if (!st && (a->keys & KEY_FINAL_SOFTCAP))
        st = opt_key(m, "final_logit_softcapping", 0, &hp->final_softcap);
    if (!st && (a->keys & KEY_SWA))
        st = opt_key(m, "attention.sliding_window", &hp->n_swa, 0);
    if (!st && hp->n_swa) {
        hp->swa_pattern = a->swa_pattern;
        hp->rope_base_swa = a->rope_base_swa ? a->rope_base_swa : hp->rope_base;
        hp->rope_freq_scale_swa = a->rope_base_swa ? 1.0f : hp->rope_freq_scale;
        st = opt_key(m, "attention.sliding_window_pattern", &hp->swa_pattern, 0);
        if (!st)
            st = opt_key(m, "rope.freq_base_swa", 0, &hp->rope_base_swa);
    }
    return st;
}

/* The features that depend on the sizes or the file's keys; after the sizes are checked. */
static l4lm_status key_features(l4lm_model *m, const arch_row *a)
{
    l4lm_hparams *hp = &m->hp;
    if (a->scale_q) {
        bool embd = hp->n_layer == a->q_embd_layers;
        hp->q_scale = 1.0f / l4lm_sqrtf((float)(embd ? hp->n_embd / hp->n_head : hp->head_dim));
    }
    if (a->ignore_output)
        hp->tied_output = true;
    l4lm_status st = read_keys(m, a);
    if (st)
        return st;
    if (!cap_ok(hp->final_softcap, a->final_softcap))
        return l4lm_fail(&m->err, L4LM_E_HPARAMS, 0, "final logit soft-cap out of range", 0, 0);
    if (a->n_swa && !hp->n_swa)
        return l4lm_fail(&m->err, L4LM_E_HPARAMS, 0, "zero sliding window", 0, 0);
    if (hp->n_swa && !(hp->rope_base_swa > 1.0f && hp->rope_base_swa < 1e12f))
        return l4lm_fail(&m->err, L4LM_E_HPARAMS, 0, "sliding-window RoPE base out of range", 0, 0);
    return L4LM_OK;
}

/* ---------------------------------------------------------------- sizes */

/* attention.key_length sets the head size (qwen3: 128 for n_embd 1024 and
** 16 heads); the value heads must be as long, as the KV cache assumes. */
static l4lm_status head_sizes(l4lm_model *m)
{
    l4lm_hparams *hp = &m->hp;
    arch_u32(&m->gguf, hp, "attention.key_length", &hp->head_dim);
    uint32_t v = hp->head_dim;
    if (arch_u32(&m->gguf, hp, "attention.value_length", &v) && v != hp->head_dim)
        return l4lm_fail(&m->err, L4LM_E_HPARAMS, 0, "key and value heads differ in size", 0, 0);
    return L4LM_OK;
}

/* RoPE scaling as llama.cpp reads it: type "linear" (the default) or "none";
** rope.scaling.factor (or the older rope.scale_linear) divides the angles
** unless the type is "none". YaRN and LongRoPE are refused. */
static l4lm_status rope_scaling(l4lm_model *m)
{
    const l4lm_gguf *g = &m->gguf;
    l4lm_hparams *hp = &m->hp;
    char key[KEY_MAX];
    const char *type = "linear";
    uint64_t len = 6;
    float factor = 0.0f, attn = 1.0f;
    if (arch_key(key, hp, "rope.scaling.type"))
        l4lm_gguf_str(g, key, &type, &len);
    bool none = l4lm_streq(type, len, "none");
    if (!none && !l4lm_streq(type, len, "linear"))
        return l4lm_fail(&m->err, L4LM_E_HPARAMS, 0, "unsupported RoPE scaling type", type, len);
    if (!arch_f32(g, hp, "rope.scaling.factor", &factor))
        arch_f32(g, hp, "rope.scale_linear", &factor);
    arch_f32(g, hp, "rope.scaling.attn_factor", &attn);
    if (!(factor == 0.0f || (factor >= 1e-3f && factor <= 1e6f)) || attn != 1.0f)
        return l4lm_fail(&m->err, L4LM_E_HPARAMS, 0, "unsupported RoPE scaling factor", 0, 0);
    hp->rope_freq_scale = factor == 0.0f || none ? 1.0f : 1.0f / factor;
    return L4LM_OK;
}

/* The vocabulary size (token_embd's rows), whether the classifier is tied,
** and a refusal of the MoE files that call themselves llama. */
static l4lm_status tensor_sizes(l4lm_model *m)
{
    const l4lm_gguf *g = &m->gguf;
    l4lm_hparams *hp = &m->hp;
    uint32_t n_expert = 0;
    if (arch_u32(g, hp, "expert_count", &n_expert) && n_expert)
        return l4lm_fail(&m->err, L4LM_E_ARCH, 0, "mixture-of-experts models are not supported", 0,
                         0);
    l4lm_tensor t;
    if (!l4lm_gguf_tensor(g, "token_embd.weight", &t))
        return l4lm_fail(&m->err, L4LM_E_MISSING_TENSOR, 0, "missing tensor", "token_embd.weight",
                         17);
    hp->n_vocab = t.ne[1] <= L4LM_MAX_VOCAB ? (uint32_t)t.ne[1] : L4LM_MAX_VOCAB + 1;
    hp->tied_output = !l4lm_gguf_tensor(g, "output.weight", &t);
    return L4LM_OK;
}

l4lm_status l4lm_arch_hparams(l4lm_model *m)
{
    const l4lm_gguf *g = &m->gguf;
    l4lm_hparams *hp = &m->hp;
    const char *arch;
    uint64_t len;
    if (!l4lm_gguf_str(g, "general.architecture", &arch, &len))
        return l4lm_fail(&m->err, L4LM_E_ARCH, 0, "no general.architecture", 0, 0);
    const arch_row *a = find_arch(arch, len);
    if (!a)
        return l4lm_fail(&m->err, L4LM_E_ARCH, 0, "unsupported architecture", arch, len);
    __builtin_memcpy(hp->arch, a->name, l4lm_strlen(a->name) + 1);
    row_features(hp, a);
    hp->rms_eps = 1e-5f;
    hp->rope_base = 10000.0f;
    arch_u32(g, hp, "context_length", &hp->n_ctx_train);
    arch_u32(g, hp, "embedding_length", &hp->n_embd);
    arch_u32(g, hp, "feed_forward_length", &hp->n_ff);
    arch_u32(g, hp, "block_count", &hp->n_layer);
    arch_u32(g, hp, "attention.head_count", &hp->n_head);
    hp->n_head_kv = hp->n_head;
    arch_u32(g, hp, "attention.head_count_kv", &hp->n_head_kv);
    arch_f32(g, hp, "rope.freq_base", &hp->rope_base);
    arch_f32(g, hp, "attention.layer_norm_rms_epsilon", &hp->rms_eps);
    l4lm_status st = head_sizes(m);
    if (!st)
        st = rope_scaling(m);
    if (!st)
        st = tensor_sizes(m);
    if (!st)
        st = l4lm_arch_check(hp, &m->err);
    if (st)
        return st;
    uint32_t rope_dims = hp->head_dim;
    arch_u32(g, hp, "rope.dimension_count", &rope_dims);
    if (rope_dims != hp->head_dim)
        return l4lm_fail(&m->err, L4LM_E_HPARAMS, 0, "partial RoPE is not supported", 0, 0);
    return key_features(m, a);
}
