/*
** model.c — opens a model in place: a GGUF file (llama architecture) or a
** llama2.c checkpoint with its tokenizer.bin. Reads the hyperparameters,
** checks that every tensor the forward pass needs is present with the right
** shape and type, and points at the weights without copying them.
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
    if (hp->n_embd % hp->n_head || hp->n_head % hp->n_head_kv)
        return l4lm_fail(err, L4LM_E_HPARAMS, 0, "heads do not divide the embedding", 0, 0);
    hp->head_dim = hp->n_embd / hp->n_head;
    if (hp->head_dim % 2)
        return l4lm_fail(err, L4LM_E_HPARAMS, 0, "odd head dimension", 0, 0);
    if (!(hp->rms_eps > 0.0f && hp->rms_eps < 1.0f) ||
        !(hp->rope_base > 1.0f && hp->rope_base < 1e12f))
        return l4lm_fail(err, L4LM_E_HPARAMS, 0, "epsilon or RoPE base out of range", 0, 0);
    return L4LM_OK;
}

/* ------------------------------------------------------------------ GGUF */

/* The llama-like architectures: how they differ from llama. RoPE pairing
** follows the architecture: llama GGUFs had their Q/K rows permuted at
** conversion so adjacent pairs rotate; qwen2 rotates pairs half a head apart. */
typedef struct arch_info {
    const char *name;
    l4lm_rope rope;
    bool qkv_bias;
} arch_info;

static const arch_info archs[] = {
    {"llama", L4LM_ROPE_NORMAL, false},
    {"qwen2", L4LM_ROPE_NEOX, true},
};

static const arch_info *find_arch(const char *name, uint64_t len)
{
    for (size_t i = 0; i < sizeof archs / sizeof *archs; i++)
        if (l4lm_streq(name, len, archs[i].name))
            return &archs[i];
    return 0;
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
    l4lm_tensor t;
    if (!l4lm_gguf_tensor(g, "token_embd.weight", &t))
        return l4lm_fail(&m->err, L4LM_E_MISSING_TENSOR, 0, "missing tensor", "token_embd.weight",
                         17);
    hp->n_vocab = t.ne[1] <= L4LM_MAX_VOCAB ? (uint32_t)t.ne[1] : L4LM_MAX_VOCAB + 1;
    hp->tied_output = !l4lm_gguf_tensor(g, "output.weight", &t);
    l4lm_status st = check_hparams(hp, &m->err);
    if (st)
        return st;
    uint32_t rope_dims = hp->head_dim;
    arch_u32(g, hp, "rope.dimension_count", &rope_dims);
    if (rope_dims != hp->head_dim)
        return l4lm_fail(&m->err, L4LM_E_HPARAMS, 0, "partial RoPE is not supported", 0, 0);
    return L4LM_OK;
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

static l4lm_status gguf_vocab(l4lm_model *m)
{
    const l4lm_gguf *g = &m->gguf;
    l4lm_vocab_src *v = &m->vocab;
    const char *s;
    uint64_t len;
    l4lm_status st = L4LM_OK;
    if (!l4lm_gguf_str(g, "tokenizer.ggml.model", &s, &len))
        return l4lm_fail(&m->err, L4LM_E_TOKENIZER, 0, "no tokenizer.ggml.model", 0, 0);
    if (!l4lm_streq(s, len, "llama"))
        return l4lm_fail(&m->err, L4LM_E_TOKENIZER, 0, "unsupported tokenizer", s, len);
    v->format = L4LM_FORMAT_GGUF;
    v->n_vocab = m->hp.n_vocab;
    v->tokens = vocab_array(m, "tokenizer.ggml.tokens", L4LM_GGUF_STRING, true, &st);
    v->scores = vocab_array(m, "tokenizer.ggml.scores", L4LM_GGUF_F32, false, &st);
    v->types = vocab_array(m, "tokenizer.ggml.token_type", L4LM_GGUF_I32, false, &st);
    if (st)
        return st;
    v->tokens_size = m->size - (uint64_t)(v->tokens - m->bytes);
    v->bos = vocab_id(g, "tokenizer.ggml.bos_token_id", 1);
    v->eos = vocab_id(g, "tokenizer.ggml.eos_token_id", 2);
    v->unk = vocab_id(g, "tokenizer.ggml.unknown_token_id", 0);
    v->add_bos = true;
    v->add_space_prefix = true;
    l4lm_gguf_bool(g, "tokenizer.ggml.add_bos_token", &v->add_bos);
    l4lm_gguf_bool(g, "tokenizer.ggml.add_space_prefix", &v->add_space_prefix);
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

static l4lm_status gguf_layer(const l4lm_model *m, uint32_t l, l4lm_layer *y, l4lm_error *err)
{
    const l4lm_hparams *hp = &m->hp;
    uint32_t e = hp->n_embd, f = hp->n_ff, q = hp->n_head * hp->head_dim;
    uint32_t kv = hp->n_head_kv * hp->head_dim;
    /* name, row length, rows (1: a vector), where; the biases only with qkv_bias */
    const struct {
        const char *name;
        uint32_t n_in, n_out;
        l4lm_mat *dst;
    } t[12] = {
        {"attn_norm.weight", e, 1, &y->attn_norm},
        {"attn_q.weight", e, q, &y->wq},
        {"attn_k.weight", e, kv, &y->wk},
        {"attn_v.weight", e, kv, &y->wv},
        {"attn_output.weight", q, e, &y->wo},
        {"ffn_norm.weight", e, 1, &y->ffn_norm},
        {"ffn_gate.weight", e, f, &y->w_gate},
        {"ffn_up.weight", e, f, &y->w_up},
        {"ffn_down.weight", f, e, &y->w_down},
        {"attn_q.bias", q, 1, &y->bq},
        {"attn_k.bias", kv, 1, &y->bk},
        {"attn_v.bias", kv, 1, &y->bv},
    };
    char name[48];
    y->bq = y->bk = y->bv = (l4lm_mat){0};
    for (int i = 0; i < (hp->qkv_bias ? 12 : 9); i++) {
        layer_name(name, l, t[i].name);
        l4lm_status st = gguf_mat(m, name, t[i].n_in, t[i].n_out, t[i].dst, err);
        if (st)
            return st;
    }
    return L4LM_OK;
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
    for (uint32_t l = 0; !st && l < hp->n_layer; l++) {
        l4lm_layer scratch;
        st = gguf_layer(m, l, layers ? &layers[l] : &scratch, err);
    }
    return st;
}

/* --------------------------------------------------------------- llama2.c */

#define L2C_HEADER 28

/* Fills hp from the 7-int header; returns the float count of the weights. */
static l4lm_status l2c_hparams(l4lm_model *m, uint64_t *n_floats)
{
    l4lm_hparams *hp = &m->hp;
    if (m->size < L2C_HEADER)
        return l4lm_fail(&m->err, L4LM_E_TRUNCATED, 0, "llama2.c header", 0, 0);
    int32_t h[7];
    for (int i = 0; i < 7; i++) {
        h[i] = (int32_t)l4lm_rd32(m->bytes + 4 * i);
        if (h[i] == 0 || (i != 5 && h[i] < 0) || h[i] == INT32_MIN)
            return l4lm_fail(&m->err, L4LM_E_MAGIC, 4 * (uint64_t)i,
                             "not a GGUF file nor a llama2.c checkpoint", 0, 0);
    }
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
    p += (uint64_t)hp->n_ctx_train * hp->head_dim * 4; /* freq_cis_real and _imag: unused */
    w->output = hp->tied_output ? w->tok_embd : l2c_mat(&p, d, hp->n_vocab, 1);
    for (uint32_t l = 0; layers && l < L; l++) {
        l4lm_mat *src[9] = {&att, &wq, &wk, &wv, &wo, &ffn, &w1, &w3, &w2};
        layers[l].bq = layers[l].bk = layers[l].bv = (l4lm_mat){0};
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
