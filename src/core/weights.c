/*
** weights.c — a GGUF model's tensors bound to l4lm_weights and l4lm_layer:
** each one found by llama.cpp's name, checked for shape and type, and used
** in place. Fused tensors (attn_qkv; phi3's gate+up in ffn_up) are split
** into row ranges without copying. Optional tensors follow the
** architecture's features in l4lm_hparams; tensors l4lm would have to
** ignore are refused.
*/
#include "internal.h"

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

/* The FFN's gate and up matrices: two, or (fused_gate_up, phi3) one ffn_up
** of 2 n_ff rows whose first half is the gate, as llama.cpp's swiglu splits it. */
static l4lm_status layer_gate_up(const l4lm_model *m, uint32_t l, l4lm_layer *y, l4lm_error *err)
{
    const l4lm_hparams *hp = &m->hp;
    char name[48];
    l4lm_mat both;
    layer_name(name, l, "ffn_up.weight");
    if (hp->fused_gate_up) {
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
    *out = (l4lm_mat){0};
    if (has_tensor(m, "rope_factors_long.weight") || has_tensor(m, "rope_factors_short.weight"))
        return l4lm_fail(err, L4LM_E_HPARAMS, 0, "LongRoPE factors are not supported", 0, 0);
    if (!has_tensor(m, name))
        return L4LM_OK;
    if (!m->hp.rope_freqs)
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

l4lm_status l4lm_weights_gguf(const l4lm_model *m, l4lm_weights *w, l4lm_layer *layers,
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
