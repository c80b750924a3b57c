/*
** model.c — opens a model in place: a GGUF file (the llama-like
** architectures of the table below) or a llama2.c checkpoint with its
** tokenizer.bin. Reads the hyperparameters, checks that every tensor the
** forward pass needs is present with the right shape and type (and refuses
** tensors it would have to ignore), and points at the weights in place.
*/
#include "internal.h"

#define KEY_MAX 96

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

/* The shape rules every architecture shares; also caps sizes at our limits. */
static l4lm_status check_hparams(l4lm_hparams *hp, l4lm_error *err)
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

/* ------------------------------------------------------------------ GGUF */

/* The llama-like architectures: how they differ from llama. RoPE pairing
** follows the architecture: llama GGUFs had their Q/K rows permuted at
** conversion so adjacent pairs rotate; the others rotate pairs half a head
** apart. Every one may fuse Q, K and V into one attn_qkv matrix and add
** optional Q/K/V biases, as llama.cpp's loader allows. */
typedef struct arch_info {
    const char *name;
    l4lm_rope rope;
    bool qkv_bias;   /* the Q/K/V biases are required (qwen2) */
    bool qk_norm;    /* attn_q_norm/attn_k_norm: per-head RMSNorm (qwen3) */
    bool fused_ffn;  /* ffn_up holds the gate rows then the up rows (phi3) */
    bool rope_freqs; /* may carry rope_freqs.weight (Llama 3.1 and later) */
    uint8_t gemma;   /* 1, 2, 3: the gemma generation (see gemma_hparams) */
} arch_info;

static const arch_info archs[] = {
    {.name = "llama", .rope = L4LM_ROPE_NORMAL, .rope_freqs = true},
    {.name = "qwen2", .rope = L4LM_ROPE_NEOX, .qkv_bias = true},
    {.name = "qwen3", .rope = L4LM_ROPE_NEOX, .qk_norm = true},
    {.name = "phi3", .rope = L4LM_ROPE_NEOX, .fused_ffn = true},
    {.name = "exaone", .rope = L4LM_ROPE_NEOX, .rope_freqs = true}, /* llama's graph */
    {.name = "gemma", .rope = L4LM_ROPE_NEOX, .gemma = 1},
    {.name = "gemma2", .rope = L4LM_ROPE_NEOX, .gemma = 2},
    {.name = "gemma3", .rope = L4LM_ROPE_NEOX, .qk_norm = true, .gemma = 3},
};

static const arch_info *find_arch(const char *name, uint64_t len)
{
    for (size_t i = 0; i < sizeof archs / sizeof *archs; i++)
        if (l4lm_streq(name, len, archs[i].name))
            return &archs[i];
    return 0;
}

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

/* ---- the gemma family: its hyperparameters, read as llama.cpp reads them ---- */

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

static bool cap_ok(float c)
{
    return c >= 1e-3f && c <= 1e6f;
}

/*
** gemma: embeddings times sqrt(n_embd), GELU-gated FFN, tied classifier, q
** scaled by 1/sqrt(head_dim) before the dot products. The converter already
** added 1 to every norm weight, so the norms are plain RMSNorms.
** gemma2 adds post-norms, soft-capped attention scores and logits, and a
** sliding window on every other layer (pattern 2: layers 0, 2, ... local).
** gemma3 drops the soft-caps (a final one only if the file has it), adds
** q/k norms, and has a window only if the file gives one: pattern 6, five
** local layers (RoPE base 10000 unless rope.freq_base_swa says otherwise,
** no scaling) then one global layer (rope.freq_base and rope scaling).
** Like llama.cpp, the 27B sizes (46 and 62 layers) scale q by
** 1/sqrt(n_embd / n_head) instead.
*/
static l4lm_status gemma_hparams(l4lm_model *m, int gen)
{
    l4lm_hparams *hp = &m->hp;
    uint32_t n27b = gen == 2 ? 46 : gen == 3 ? 62 : 0;
    uint32_t qd = hp->n_layer == n27b ? hp->n_embd / hp->n_head : hp->head_dim;
    hp->gemma = true;
    hp->post_norms = gen >= 2;
    hp->tied_output = gen == 3 ? hp->tied_output : true; /* llama.cpp ignores output.weight */
    hp->q_scale = 1.0f / l4lm_sqrtf((float)qd);
    hp->rope_base_swa = gen == 2 ? hp->rope_base : 10000.0f;
    hp->rope_freq_scale_swa = gen == 2 ? hp->rope_freq_scale : 1.0f;
    l4lm_status st = L4LM_OK;
    if (gen == 2) {
        hp->attn_softcap = 50.0f;
        hp->final_softcap = 30.0f;
        hp->n_swa = 4096;
        hp->swa_pattern = 2;
        st = opt_key(m, "attn_logit_softcapping", 0, &hp->attn_softcap);
        if (!st && !cap_ok(hp->attn_softcap))
            st = l4lm_fail(&m->err, L4LM_E_HPARAMS, 0, "attention soft-cap out of range", 0, 0);
    }
    if (!st && gen >= 2)
        st = opt_key(m, "final_logit_softcapping", 0, &hp->final_softcap);
    if (!st && gen >= 2)
        st = opt_key(m, "attention.sliding_window", &hp->n_swa, 0);
    if (!st && gen == 3 && hp->n_swa)
        hp->swa_pattern = 6;
    if (!st && hp->n_swa)
        st = opt_key(m, "attention.sliding_window_pattern", &hp->swa_pattern, 0);
    if (!st && hp->n_swa)
        st = opt_key(m, "rope.freq_base_swa", 0, &hp->rope_base_swa);
    if (st)
        return st;
    if (!(hp->final_softcap == 0.0f ? gen != 2 : cap_ok(hp->final_softcap)))
        return l4lm_fail(&m->err, L4LM_E_HPARAMS, 0, "final logit soft-cap out of range", 0, 0);
    if (gen == 2 && hp->n_swa == 0) /* llama.cpp would mask every position */
        return l4lm_fail(&m->err, L4LM_E_HPARAMS, 0, "zero sliding window", 0, 0);
    if (!(hp->rope_base_swa > 1.0f && hp->rope_base_swa < 1e12f))
        return l4lm_fail(&m->err, L4LM_E_HPARAMS, 0, "sliding-window RoPE base out of range", 0, 0);
    return L4LM_OK;
}

static l4lm_status gguf_hparams(l4lm_model *m)
{
    const l4lm_gguf *g = &m->gguf;
    l4lm_hparams *hp = &m->hp;
    const char *arch;
    uint64_t len;
    if (!l4lm_gguf_str(g, "general.architecture", &arch, &len))
        return l4lm_fail(&m->err, L4LM_E_ARCH, 0, "no general.architecture", 0, 0);
    const arch_info *ai = find_arch(arch, len);
    if (!ai)
        return l4lm_fail(&m->err, L4LM_E_ARCH, 0, "unsupported architecture", arch, len);
    __builtin_memcpy(hp->arch, ai->name, l4lm_strlen(ai->name) + 1);
    hp->rope = ai->rope;
    hp->qkv_bias = ai->qkv_bias;
    hp->qk_norm = ai->qk_norm;
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
    if (st)
        return st;
    uint32_t n_expert = 0; /* Mixtral and other MoE files say "llama" */
    if (arch_u32(g, hp, "expert_count", &n_expert) && n_expert)
        return l4lm_fail(&m->err, L4LM_E_ARCH, 0, "mixture-of-experts models are not supported", 0,
                         0);
    l4lm_tensor t;
    if (!l4lm_gguf_tensor(g, "token_embd.weight", &t))
        return l4lm_fail(&m->err, L4LM_E_MISSING_TENSOR, 0, "missing tensor", "token_embd.weight",
                         17);
    hp->n_vocab = t.ne[1] <= L4LM_MAX_VOCAB ? (uint32_t)t.ne[1] : L4LM_MAX_VOCAB + 1;
    hp->tied_output = !l4lm_gguf_tensor(g, "output.weight", &t);
    st = check_hparams(hp, &m->err);
    if (st)
        return st;
    uint32_t rope_dims = hp->head_dim;
    arch_u32(g, hp, "rope.dimension_count", &rope_dims);
    if (rope_dims != hp->head_dim)
        return l4lm_fail(&m->err, L4LM_E_HPARAMS, 0, "partial RoPE is not supported", 0, 0);
    return ai->gemma ? gemma_hparams(m, ai->gemma) : L4LM_OK;
}

/* Find an array KV of n_vocab elements of the given element type. */
static const uint8_t *vocab_array(l4lm_model *m, const char *key, uint32_t elem, bool need,
                                  l4lm_status *st)
{
    l4lm_gguf_kv kv;
    if (!l4lm_gguf_find(&m->gguf, key, &kv)) {
        if (need)
            *st = l4lm_fail(&m->err, L4LM_E_TOKENIZER, 0, "missing vocabulary key", key,
                            l4lm_strlen(key));
        return 0;
    }
    if (kv.type != L4LM_GGUF_ARRAY || kv.arr_type != elem || kv.arr_n != m->hp.n_vocab) {
        *st = l4lm_fail(&m->err, L4LM_E_TOKENIZER, (uint64_t)(kv.val - m->bytes),
                        "vocabulary array has the wrong type or length", key, l4lm_strlen(key));
        return 0;
    }
    return kv.arr;
}

static int32_t vocab_id(const l4lm_gguf *g, const char *key, int32_t dflt)
{
    uint32_t v;
    return l4lm_gguf_u32(g, key, &v) && v < L4LM_MAX_VOCAB ? (int32_t)v : dflt;
}

/* Does s[0..n) contain sub, ignoring ASCII case? */
static bool name_has(const char *s, uint64_t n, const char *sub)
{
    size_t k = l4lm_strlen(sub);
    for (uint64_t i = 0; i + k <= n; i++) {
        size_t j = 0;
        while (j < k && (s[i + j] | 0x20) == sub[j])
            j++;
        if (j == k)
            return true;
    }
    return false;
}

/* Byte-level BPE ("gpt2"): the pre-tokenizer and the merge rules. */
static l4lm_status bpe_vocab(l4lm_model *m)
{
    l4lm_vocab_src *v = &m->vocab;
    const char *s = 0;
    uint64_t len = 0;
    l4lm_gguf_kv kv;
    l4lm_gguf_str(&m->gguf, "tokenizer.ggml.pre", &s, &len);
    v->pre = s ? l4lm_tok_pre_named(s, len) : L4LM_PRE_NONE;
    if (v->pre == L4LM_PRE_NONE)
        return l4lm_fail(&m->err, L4LM_E_TOKENIZER, 0, "unsupported pre-tokenizer",
                         s ? s : "(none)", s ? len : 6);
    if (!l4lm_gguf_find(&m->gguf, "tokenizer.ggml.merges", &kv) || kv.type != L4LM_GGUF_ARRAY ||
        kv.arr_type != L4LM_GGUF_STRING || kv.arr_n > UINT32_MAX)
        return l4lm_fail(&m->err, L4LM_E_TOKENIZER, 0, "missing or malformed merges",
                         "tokenizer.ggml.merges", 21);
    v->merges = kv.arr;
    v->merges_size = m->size - (uint64_t)(kv.arr - m->bytes);
    v->n_merges = (uint32_t)kv.arr_n;
    v->add_bos = v->pre == L4LM_PRE_LLAMA3; /* llama.cpp's defaults */
    v->add_space_prefix = false;
    return L4LM_OK;
}

static l4lm_status gguf_vocab(l4lm_model *m)
{
    const l4lm_gguf *g = &m->gguf;
    l4lm_vocab_src *v = &m->vocab;
    const char *s;
    uint64_t len;
    l4lm_status st = L4LM_OK;
    if (!l4lm_gguf_str(g, "tokenizer.ggml.model", &s, &len))
        return l4lm_fail(&m->err, L4LM_E_TOKENIZER, 0, "no tokenizer.ggml.model", 0, 0);
    bool bpe = l4lm_streq(s, len, "gpt2");
    if (!bpe && !l4lm_streq(s, len, "llama"))
        return l4lm_fail(&m->err, L4LM_E_TOKENIZER, 0, "unsupported tokenizer", s, len);
    v->format = L4LM_FORMAT_GGUF;
    v->n_vocab = m->hp.n_vocab;
    v->tokens = vocab_array(m, "tokenizer.ggml.tokens", L4LM_GGUF_STRING, true, &st);
    v->scores = vocab_array(m, "tokenizer.ggml.scores", L4LM_GGUF_F32, false, &st);
    v->types = vocab_array(m, "tokenizer.ggml.token_type", L4LM_GGUF_I32, false, &st);
    if (st)
        return st;
    v->tokens_size = m->size - (uint64_t)(v->tokens - m->bytes);
    v->bos = vocab_id(g, "tokenizer.ggml.bos_token_id", bpe ? -1 : 1);
    v->eos = vocab_id(g, "tokenizer.ggml.eos_token_id", bpe ? -1 : 2);
    v->unk = vocab_id(g, "tokenizer.ggml.unknown_token_id", bpe ? -1 : 0);
    v->add_bos = true;
    v->add_space_prefix = true;
    st = bpe ? bpe_vocab(m) : L4LM_OK;
    if (st)
        return st;
    l4lm_gguf_bool(g, "tokenizer.ggml.add_bos_token", &v->add_bos);
    l4lm_gguf_bool(g, "tokenizer.ggml.add_eos_token", &v->add_eos);
    l4lm_gguf_bool(g, "tokenizer.ggml.add_space_prefix", &v->add_space_prefix);
    /* llama.cpp recognises Phi-3 by name and strips the whitespace after its special tokens */
    if (l4lm_gguf_str(g, "general.name", &s, &len))
        v->special_rstrip = name_has(s, len, "phi-3") || name_has(s, len, "phi3");
    return l4lm_tok_check(v, &m->err);
}

/* A matrix of n_out rows of n_in, by name; also checks shape and type. */
static l4lm_status gguf_mat(const l4lm_model *m, const char *name, uint32_t n_in, uint32_t n_out,
                            l4lm_mat *out, l4lm_error *err)
{
    l4lm_tensor t;
    if (!l4lm_gguf_tensor(&m->gguf, name, &t))
        return l4lm_fail(err, L4LM_E_MISSING_TENSOR, 0, "missing tensor", name, l4lm_strlen(name));
    uint64_t rows = n_out == 1 ? 1 : t.ne[1];
    if (t.ne[0] != n_in || rows != n_out || t.ne[2] != 1 || t.ne[3] != 1 ||
        (n_out == 1 && t.n_dims != 1))
        return l4lm_fail(err, L4LM_E_SHAPE, t.offset, "tensor has the wrong shape", name,
                         l4lm_strlen(name));
    if (n_out == 1 && t.type != L4LM_TYPE_F32)
        return l4lm_fail(err, L4LM_E_TYPE, t.offset, "norm weights and biases must be F32", name,
                         l4lm_strlen(name));
    /* the kernels read F32 as floats and every other type by 16-bit fields */
    if ((uintptr_t)t.data & (t.type == L4LM_TYPE_F32 ? 3u : 1u))
        return l4lm_fail(err, L4LM_E_TENSOR_OFFSET, t.offset, "misaligned tensor data", name,
                         l4lm_strlen(name));
    out->data = t.data;
    out->type = t.type;
    out->n_in = n_in;
    out->n_out = n_out;
    return L4LM_OK;
}

/* "blk.<l>.<suffix>" */
static void layer_name(char *buf, uint32_t l, const char *suffix)
{
    char digits[12];
    size_t nd = 0, n = 0;
    do {
        digits[nd++] = (char)('0' + l % 10);
        l /= 10;
    } while (l);
    __builtin_memcpy(buf, "blk.", 4);
    n = 4;
    while (nd)
        buf[n++] = digits[--nd];
    buf[n++] = '.';
    __builtin_memcpy(buf + n, suffix, l4lm_strlen(suffix) + 1);
}

static bool has_tensor(const l4lm_model *m, const char *name)
{
    l4lm_tensor t;
    return l4lm_gguf_tensor(&m->gguf, name, &t);
}

/* Rows [r0, r0 + n) of a matrix, or elements [r0, r0 + n) of a vector: how a
** fused tensor (attn_qkv, phi3's ffn_up) is split without copying. Row sizes
** are even (F32 ones a multiple of 4), so the parts stay aligned. */
static l4lm_mat mat_part(const l4lm_mat *a, uint32_t r0, uint32_t n)
{
    l4lm_mat p = *a;
    uint64_t row = sizeof(float);
    if (a->n_out == 1)
        p.n_in = n;
    else if (l4lm_row_bytes(a->type, a->n_in, &row))
        p.n_out = n;
    p.data = (const uint8_t *)a->data + (uint64_t)r0 * row;
    return p;
}

/* Q, K, V and their biases: three matrices, or one attn_qkv whose rows stack
** them (phi3; llama.cpp accepts it for every llama-like). Biases are optional
** (one attn_qkv.bias or three), except where the architecture requires them. */
static l4lm_status layer_qkv(const l4lm_model *m, uint32_t l, l4lm_layer *y, l4lm_error *err)
{
    const l4lm_hparams *hp = &m->hp;
    uint32_t q = hp->n_head * hp->head_dim, kv = hp->n_head_kv * hp->head_dim;
    const uint32_t rows[3] = {q, kv, kv}, first[3] = {0, q, q + kv};
    const char *const wname[3] = {"attn_q.weight", "attn_k.weight", "attn_v.weight"};
    const char *const bname[3] = {"attn_q.bias", "attn_k.bias", "attn_v.bias"};
    l4lm_mat *w[3] = {&y->wq, &y->wk, &y->wv}, *b[3] = {&y->bq, &y->bk, &y->bv};
    l4lm_mat all = {0};
    char name[48];
    l4lm_status st = L4LM_OK;
    y->bq = y->bk = y->bv = (l4lm_mat){0};
    layer_name(name, l, "attn_qkv.weight");
    bool fused = has_tensor(m, name);
    if (fused) {
        st = gguf_mat(m, name, hp->n_embd, q + 2 * kv, &all, err);
        for (int i = 0; !st && i < 3; i++)
            *w[i] = mat_part(&all, first[i], rows[i]);
        layer_name(name, l, "attn_qkv.bias");
        if (!st && has_tensor(m, name)) {
            st = gguf_mat(m, name, q + 2 * kv, 1, &all, err);
            for (int i = 0; !st && i < 3; i++)
                *b[i] = mat_part(&all, first[i], rows[i]);
            return st;
        }
    }
    for (int i = 0; !st && i < 3; i++) {
        layer_name(name, l, wname[i]);
        if (!fused)
            st = gguf_mat(m, name, hp->n_embd, rows[i], w[i], err);
        layer_name(name, l, bname[i]);
        if (!st && (hp->qkv_bias || has_tensor(m, name)))
            st = gguf_mat(m, name, rows[i], 1, b[i], err);
    }
    return st;
}

/* The SwiGLU gate and up matrices: two, or (phi3) one ffn_up of 2 n_ff rows
** whose first half is the gate, as llama.cpp's swiglu splits it. */
static l4lm_status layer_gate_up(const l4lm_model *m, uint32_t l, l4lm_layer *y, l4lm_error *err)
{
    const l4lm_hparams *hp = &m->hp;
    const arch_info *ai = find_arch(hp->arch, l4lm_strlen(hp->arch));
    char name[48];
    l4lm_mat both;
    layer_name(name, l, "ffn_up.weight");
    if (ai && ai->fused_ffn) {
        l4lm_status st = gguf_mat(m, name, hp->n_embd, 2 * hp->n_ff, &both, err);
        if (st)
            return st;
        y->w_gate = mat_part(&both, 0, hp->n_ff);
        y->w_up = mat_part(&both, hp->n_ff, hp->n_ff);
        return L4LM_OK;
    }
    l4lm_status st = gguf_mat(m, name, hp->n_embd, hp->n_ff, &y->w_up, err);
    layer_name(name, l, "ffn_gate.weight");
    return st ? st : gguf_mat(m, name, hp->n_embd, hp->n_ff, &y->w_gate, err);
}

/* gemma2/3: the norms of the attention and FFN outputs (hp->post_norms). */
static l4lm_status layer_post_norms(const l4lm_model *m, uint32_t l, l4lm_layer *y, l4lm_error *err)
{
    char name[48];
    layer_name(name, l, "post_attention_norm.weight");
    l4lm_status st = gguf_mat(m, name, m->hp.n_embd, 1, &y->attn_post_norm, err);
    layer_name(name, l, "post_ffw_norm.weight");
    return st ? st : gguf_mat(m, name, m->hp.n_embd, 1, &y->ffn_post_norm, err);
}

/* Optional tensors llama.cpp would use in a llama-like layer but l4lm does
** not implement: refused rather than silently left out. */
static l4lm_status layer_unsupported(const l4lm_model *m, uint32_t l, l4lm_error *err)
{
    const char *const names[5] = {"attn_output.bias", "ffn_gate.bias", "ffn_up.bias",
                                  "ffn_down.bias", "ffn_gate_inp.weight"};
    char name[48];
    for (int i = 0; i < 5; i++) {
        layer_name(name, l, names[i]);
        if (has_tensor(m, name))
            return l4lm_fail(err, L4LM_E_ARCH, 0, "unsupported tensor", name, l4lm_strlen(name));
    }
    return L4LM_OK;
}

static l4lm_status gguf_layer(const l4lm_model *m, uint32_t l, l4lm_layer *y, l4lm_error *err)
{
    const l4lm_hparams *hp = &m->hp;
    uint32_t e = hp->n_embd, f = hp->n_ff, q = hp->n_head * hp->head_dim, d = hp->head_dim;
    /* name, row length, rows (1: a vector), where; the q/k norms only with qk_norm */
    const struct {
        const char *name;
        uint32_t n_in, n_out;
        l4lm_mat *dst;
    } t[6] = {
        {"attn_norm.weight", e, 1, &y->attn_norm}, {"attn_output.weight", q, e, &y->wo},
        {"ffn_norm.weight", e, 1, &y->ffn_norm},   {"ffn_down.weight", f, e, &y->w_down},
        {"attn_q_norm.weight", d, 1, &y->q_norm},  {"attn_k_norm.weight", d, 1, &y->k_norm},
    };
    char name[48];
    y->q_norm = y->k_norm = (l4lm_mat){0};
    l4lm_status st = layer_unsupported(m, l, err);
    if (!st)
        st = layer_qkv(m, l, y, err);
    if (!st)
        st = layer_gate_up(m, l, y, err);
    for (int i = 0; !st && i < (hp->qk_norm ? 6 : 4); i++) {
        layer_name(name, l, t[i].name);
        st = gguf_mat(m, name, t[i].n_in, t[i].n_out, t[i].dst, err);
    }
    y->attn_post_norm = y->ffn_post_norm = (l4lm_mat){0};
    if (!st && hp->post_norms)
        st = layer_post_norms(m, l, y, err);
    return st;
}

/* Llama 3 RoPE: rope_freqs.weight divides each frequency (head_dim/2 of
** them). LongRoPE's long/short factor pairs (phi3 128k) are refused. */
static l4lm_status gguf_rope_freqs(const l4lm_model *m, l4lm_mat *out, l4lm_error *err)
{
    const char *name = "rope_freqs.weight";
    const arch_info *ai = find_arch(m->hp.arch, l4lm_strlen(m->hp.arch));
    *out = (l4lm_mat){0};
    if (has_tensor(m, "rope_factors_long.weight") || has_tensor(m, "rope_factors_short.weight"))
        return l4lm_fail(err, L4LM_E_HPARAMS, 0, "LongRoPE factors are not supported", 0, 0);
    if (!has_tensor(m, name))
        return L4LM_OK;
    if (!ai || !ai->rope_freqs)
        return l4lm_fail(err, L4LM_E_ARCH, 0, "tensor not used by this architecture", name,
                         l4lm_strlen(name));
    l4lm_status st = gguf_mat(m, name, m->hp.head_dim / 2, 1, out, err);
    const float *f = out->data;
    for (uint32_t i = 0; !st && i < out->n_in; i++)
        if (!(f[i] >= 1e-6f && f[i] <= 1e6f))
            st = l4lm_fail(err, L4LM_E_HPARAMS, 0, "RoPE frequency factor out of range in", name,
                           l4lm_strlen(name));
    return st;
}

static l4lm_status gguf_weights(const l4lm_model *m, l4lm_weights *w, l4lm_layer *layers,
                                l4lm_error *err)
{
    const l4lm_hparams *hp = &m->hp;
    l4lm_status st = gguf_mat(m, "token_embd.weight", hp->n_embd, hp->n_vocab, &w->tok_embd, err);
    if (!st)
        st = gguf_mat(m, "output_norm.weight", hp->n_embd, 1, &w->out_norm, err);
    if (!st && !hp->tied_output)
        st = gguf_mat(m, "output.weight", hp->n_embd, hp->n_vocab, &w->output, err);
    if (hp->tied_output)
        w->output = w->tok_embd;
    if (!st)
        st = gguf_rope_freqs(m, &w->rope_freqs, err);
    for (uint32_t l = 0; !st && l < hp->n_layer; l++) {
        l4lm_layer scratch;
        st = gguf_layer(m, l, layers ? &layers[l] : &scratch, err);
    }
    return st;
}

/* --------------------------------------------------------------- llama2.c */

#define L2C_HEADER 28

/* Reads the 7-int header (dim, hidden_dim, n_layers, n_heads, n_kv_heads,
** vocab_size, seq_len) if it looks like one: llama2.c has no magic, so a
** cheap plausibility test comes before any limit is checked, and a text or
** binary of another kind is told it is not a model rather than that its
** "sizes" are beyond our limits. Real checkpoints have sizes below 2^24 and
** kv heads <= heads <= dim; text bytes make every int at least 0x20202020. */
static bool l2c_header(const l4lm_model *m, int32_t h[7])
{
    if (m->size < L2C_HEADER)
        return false;
    for (int i = 0; i < 7; i++) {
        h[i] = (int32_t)l4lm_rd32(m->bytes + 4 * i);
        int64_t v = i == 5 && h[i] < 0 ? -(int64_t)h[i] : h[i]; /* < 0: untied classifier */
        if (v <= 0 || v > (1 << 24))
            return false;
    }
    return h[4] <= h[3] && h[3] <= h[0];
}

/* Fills hp from the 7-int header; returns the float count of the weights. */
static l4lm_status l2c_hparams(l4lm_model *m, uint64_t *n_floats)
{
    l4lm_hparams *hp = &m->hp;
    int32_t h[7];
    if (!l2c_header(m, h))
        return l4lm_fail(&m->err, L4LM_E_MAGIC, 0,
                         "not a model file (expected GGUF or a llama2.c checkpoint)", 0, 0);
    __builtin_memcpy(hp->arch, "llama", 6);
    hp->n_embd = (uint32_t)h[0];
    hp->n_ff = (uint32_t)h[1];
    hp->n_layer = (uint32_t)h[2];
    hp->n_head = (uint32_t)h[3];
    hp->n_head_kv = (uint32_t)h[4];
    hp->tied_output = h[5] > 0;
    hp->n_vocab = (uint32_t)(h[5] > 0 ? h[5] : -h[5]);
    hp->n_ctx_train = (uint32_t)h[6];
    hp->rms_eps = 1e-5f;
    hp->rope_base = 10000.0f;
    hp->rope_freq_scale = 1.0f;
    hp->rope = L4LM_ROPE_NORMAL;
    l4lm_status st = check_hparams(hp, &m->err);
    if (st)
        return st;
    uint64_t d = hp->n_embd, f = hp->n_ff, L = hp->n_layer, kv = hp->n_head_kv * hp->head_dim;
    /* per layer: 2 norms, wq, wo, wk, wv, w1, w2, w3; all < 2^40 by the limits */
    uint64_t per_layer = 2 * d + 2 * d * d + 2 * kv * d + 3 * f * d;
    uint64_t n = (uint64_t)hp->n_vocab * d + L * per_layer + d +
                 (uint64_t)hp->n_ctx_train * hp->head_dim; /* + freq_cis real and imag */
    if (!hp->tied_output)
        n += (uint64_t)hp->n_vocab * d;
    if (n > (m->size - L2C_HEADER) / 4)
        return l4lm_fail(&m->err, L4LM_E_TRUNCATED, m->size, "llama2.c weights", 0, 0);
    *n_floats = n;
    return L4LM_OK;
}

static l4lm_mat l2c_mat(const uint8_t **p, uint32_t n_in, uint32_t n_out, uint32_t count)
{
    l4lm_mat mat = {*p, L4LM_TYPE_F32, n_in, n_out};
    *p += (uint64_t)n_in * n_out * count * 4;
    return mat;
}

/* Weights laid out array after array, each array covering all layers. */
static void l2c_weights(const l4lm_model *m, l4lm_weights *w, l4lm_layer *layers)
{
    const l4lm_hparams *hp = &m->hp;
    uint32_t d = hp->n_embd, f = hp->n_ff, L = hp->n_layer, kv = hp->n_head_kv * hp->head_dim;
    const uint8_t *p = m->bytes + L2C_HEADER;
    w->tok_embd = l2c_mat(&p, d, hp->n_vocab, 1);
    l4lm_mat att = l2c_mat(&p, d, 1, L), wq = l2c_mat(&p, d, d, L), wk = l2c_mat(&p, d, kv, L);
    l4lm_mat wv = l2c_mat(&p, d, kv, L), wo = l2c_mat(&p, d, d, L), ffn = l2c_mat(&p, d, 1, L);
    l4lm_mat w1 = l2c_mat(&p, d, f, L), w2 = l2c_mat(&p, f, d, L), w3 = l2c_mat(&p, d, f, L);
    w->out_norm = l2c_mat(&p, d, 1, 1);
    w->rope_freqs = (l4lm_mat){0};
    p += (uint64_t)hp->n_ctx_train * hp->head_dim * 4; /* freq_cis_real and _imag: unused */
    w->output = hp->tied_output ? w->tok_embd : l2c_mat(&p, d, hp->n_vocab, 1);
    for (uint32_t l = 0; layers && l < L; l++) {
        l4lm_mat *src[9] = {&att, &wq, &wk, &wv, &wo, &ffn, &w1, &w3, &w2};
        layers[l].bq = layers[l].bk = layers[l].bv = (l4lm_mat){0};
        layers[l].q_norm = layers[l].k_norm = (l4lm_mat){0};
        l4lm_mat *dst[9] = {&layers[l].attn_norm, &layers[l].wq,   &layers[l].wk,
                            &layers[l].wv,        &layers[l].wo,   &layers[l].ffn_norm,
                            &layers[l].w_gate,    &layers[l].w_up, &layers[l].w_down};
        for (int i = 0; i < 9; i++) {
            *dst[i] = *src[i];
            dst[i]->data =
                (const uint8_t *)src[i]->data + (uint64_t)l * src[i]->n_in * src[i]->n_out * 4;
        }
    }
}

static l4lm_status l2c_open(l4lm_model *m, const uint8_t *tok, size_t tok_size)
{
    uint64_t n_floats = 0;
    l4lm_status st = l2c_hparams(m, &n_floats);
    if (st)
        return st;
    m->weight_bytes = n_floats * 4;
    if (!tok)
        return l4lm_fail(&m->err, L4LM_E_TOKENIZER, 0, "a llama2.c checkpoint needs tokenizer.bin",
                         0, 0);
    l4lm_vocab_src *v = &m->vocab;
    v->format = L4LM_FORMAT_LLAMA2C;
    v->n_vocab = m->hp.n_vocab;
    v->tokens = tok;
    v->tokens_size = tok_size;
    v->bos = 1;
    v->eos = 2;
    v->unk = 0;
    v->add_bos = true;
    v->add_space_prefix = true;
    return l4lm_tok_check(v, &m->err);
}

/* ------------------------------------------------------------------ open */

static l4lm_status gguf_open(l4lm_model *m)
{
    l4lm_status st = l4lm_gguf_open(&m->gguf, m->bytes, m->size, &m->err);
    if (!st)
        st = gguf_hparams(m);
    if (!st)
        st = gguf_vocab(m);
    l4lm_weights w;
    if (!st)
        st = gguf_weights(m, &w, 0, &m->err);
    m->weight_bytes = m->size - m->gguf.data_off;
    return st;
}

l4lm_status l4lm_model_open(l4lm_model *m, const void *bytes, size_t size, const void *tok,
                            size_t tok_size)
{
    if (!m)
        return L4LM_E_ARG;
    __builtin_memset(m, 0, sizeof *m);
    if (!bytes || ((uintptr_t)bytes & 3) || (tok_size && !tok))
        return l4lm_fail(&m->err, L4LM_E_ARG, 0, "model bytes must be non-NULL and 4-byte aligned",
                         0, 0);
    m->bytes = bytes;
    m->size = size;
    l4lm_status st;
    if (l4lm_gguf_is_gguf(bytes, size)) {
        m->format = L4LM_FORMAT_GGUF;
        st = gguf_open(m);
    } else {
        m->format = L4LM_FORMAT_LLAMA2C;
        st = l2c_open(m, tok, tok_size);
    }
    if (st)
        m->err.status = st;
    return st;
}

l4lm_status l4lm_model_weights(const l4lm_model *m, l4lm_weights *w, l4lm_layer *layers,
                               l4lm_error *err)
{
    if (m->format == L4LM_FORMAT_LLAMA2C) {
        l2c_weights(m, w, layers);
        return L4LM_OK;
    }
    return gguf_weights(m, w, layers, err);
}

l4lm_status l4lm_model_tensor(const l4lm_model *m, uint64_t i, l4lm_tensor *t)
{
    if (!m || !t || m->format != L4LM_FORMAT_GGUF || i >= m->gguf.n_tensors)
        return L4LM_E_ARG;
    return l4lm_gguf_tensor_at(&m->gguf, i, t);
}
