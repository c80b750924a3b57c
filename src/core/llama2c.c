/*
** llama2.c — Karpathy's llama2.c checkpoint format: a header of seven
** int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size
** negative when the classifier is untied, seq_len), then F32 arrays, each
** covering every layer; the vocabulary comes from a separate tokenizer.bin.
** The architecture is llama with adjacent-pair RoPE.
*/
#include "internal.h"

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
    l4lm_status st = l4lm_arch_check(hp, &m->err);
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
void l4lm_l2c_weights(const l4lm_model *m, l4lm_weights *w, l4lm_layer *layers)
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

l4lm_status l4lm_l2c_open(l4lm_model *m, const uint8_t *tok, size_t tok_size)
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
