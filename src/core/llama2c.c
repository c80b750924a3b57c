/*
** llama2.c — Karpathy's llama2.c checkpoint formats; the vocabulary comes
** from a separate tokenizer.bin, and the architecture is llama with
** adjacent-pair RoPE. Two layouts of F32 arrays, each array covering every
** layer (export.py in karpathy/llama2.c):
**   version 0 ("legacy"): a header of seven int32 (dim, hidden_dim,
**     n_layers, n_heads, n_kv_heads, vocab_size negative when the classifier
**     is untied, seq_len); then token_embedding, rms_att, wq, wk, wv, wo,
**     rms_ffn, w1, w2, w3, rms_final, freq_cis real and imaginary, [wcls].
**   version 1: a 256-byte header: uint32 magic "ak42" (0x616b3432), int32
**     version, the seven int32 (vocab_size positive), uint8 shared_classifier,
**     zeros; then rms_att, rms_ffn, rms_final, token_embedding, wq, wk, wv,
**     wo, w1, w2, w3, [wcls] (no freq_cis).
**   version 2 (runq.c): the header of version 1 and an int32 group size GS
**     at byte 37; rms_att, rms_ffn, rms_final in F32, then token_embedding,
**     wq (each layer), wk, wv, wo, w1, w2, w3, [wcls], each as int8 values
**     followed by an F32 scale per GS of them (flat: a group may span rows).
** Version 2 is dequantised into the arena in version 1's layout
** (l4lm_l2c_unpack): its groups need not fit the rows (runq.c's own files
** for stories260K have rows of 172 and GS 64), so no block type of ours
** holds them, and F32 keeps the forward pass the one it already is. The
** arena grows by 4 bytes a weight (plan.weights); the file stays read-only.
*/
#include "internal.h"

#define L2C_HEADER    28
#define L2C_MAGIC     0x616b3432u /* "ak42" read as a little-endian uint32 */
#define L2C_V1_HEADER 256

/* 0 for a legacy checkpoint, else the version of an "ak42" header. */
uint32_t l4lm_l2c_version(const l4lm_model *m)
{
    return m->size >= L2C_V1_HEADER && l4lm_rd32(m->bytes) == L2C_MAGIC ? l4lm_rd32(m->bytes + 4)
                                                                        : 0;
}

static uint64_t l2c_data_off(const l4lm_model *m)
{
    return l4lm_l2c_version(m) ? L2C_V1_HEADER : L2C_HEADER;
}

/* Reads the 7-int header (dim, hidden_dim, n_layers, n_heads, n_kv_heads,
** vocab_size, seq_len) at byte off if it looks like one: the legacy format
** has no magic, so a cheap plausibility test comes before any limit is
** checked, and a text or binary of another kind is told it is not a model
** rather than that its "sizes" are beyond our limits. Real checkpoints have
** sizes below 2^24 and kv heads <= heads <= dim; text bytes make every int
** at least 0x20202020. */
static bool l2c_header(const l4lm_model *m, uint64_t off, int32_t h[7])
{
    if (m->size < off + L2C_HEADER)
        return false;
    for (int i = 0; i < 7; i++) {
        h[i] = (int32_t)l4lm_rd32(m->bytes + off + 4 * i);
        int64_t v = i == 5 && h[i] < 0 ? -(int64_t)h[i] : h[i]; /* < 0: untied classifier */
        if (v <= 0 || v > (1 << 24))
            return false;
    }
    return h[4] <= h[3] && h[3] <= h[0];
}

static void put_str(char *s, size_t *n, const char *t)
{
    while (*t)
        s[(*n)++] = *t++;
}

static void put_u32(char *s, size_t *n, uint32_t v)
{
    char d[10];
    size_t k = 0;
    do
        d[k++] = (char)('0' + v % 10);
    while ((v /= 10));
    while (k)
        s[(*n)++] = d[--k];
}

/* "llama2.c export version 2 (int8, group size N) is not supported" (at
** most 81 bytes, within l4lm_error.what): a version above 2, or a version
** 2 whose group size does not divide its tensors. */
static l4lm_status l2c_refuse(l4lm_model *m, uint32_t version)
{
    char what[96];
    size_t n = 0;
    put_str(what, &n, "llama2.c export version ");
    put_u32(what, &n, version);
    if (version == 2) {
        put_str(what, &n, " (int8, group size ");
        put_u32(what, &n, l4lm_rd32(m->bytes + 37));
        put_str(what, &n, ")");
    }
    put_str(what, &n, " is not supported");
    what[n] = 0;
    return l4lm_fail(&m->err, version == 2 ? L4LM_E_TYPE : L4LM_E_VERSION, 4, what, 0, 0);
}

/* Fills hp from the 7-int header; returns the float count of the weights. */
/* The F32 count of the arrays of a version 0 or 1 layout. */
static uint64_t l2c_floats(const l4lm_hparams *hp, bool freq_cis)
{
    uint64_t d = hp->n_embd, f = hp->n_ff, L = hp->n_layer, kv = hp->n_head_kv * hp->head_dim;
    /* per layer: 2 norms, wq, wo, wk, wv, w1, w2, w3; all < 2^40 by the limits */
    uint64_t per_layer = 2 * d + 2 * d * d + 2 * kv * d + 3 * f * d;
    uint64_t n = (uint64_t)hp->n_vocab * d + L * per_layer + d;
    if (freq_cis)
        n += (uint64_t)hp->n_ctx_train * hp->head_dim; /* real and imaginary */
    if (!hp->tied_output)
        n += (uint64_t)hp->n_vocab * d;
    return n;
}

/* Version 2's int8 tensors in file order: {elements each, how many}. */
enum { L2C_NQ = 9 };
static void l2c_qtensors(const l4lm_hparams *hp, uint64_t q[L2C_NQ][2])
{
    uint64_t d = hp->n_embd, f = hp->n_ff, L = hp->n_layer, kv = hp->n_head_kv * hp->head_dim;
    uint64_t t[L2C_NQ][2] = {{hp->n_vocab * d, 1}, {d * d, L}, {kv * d, L},
                             {kv * d, L},          {d * d, L}, {f * d, L},
                             {d * f, L},           {f * d, L}, {hp->n_vocab * d, !hp->tied_output}};
    __builtin_memcpy(q, t, sizeof t);
}

/* Version 2's bytes after the header; 0 (refused) if GS does not divide a tensor. */
static uint64_t l2c_v2_bytes(const l4lm_model *m)
{
    const l4lm_hparams *hp = &m->hp;
    uint64_t gs = l4lm_rd32(m->bytes + 37), q[L2C_NQ][2];
    uint64_t n = 4 * ((2 * (uint64_t)hp->n_layer + 1) * hp->n_embd);
    l2c_qtensors(hp, q);
    for (int i = 0; i < L2C_NQ; i++) {
        if (gs == 0 || q[i][0] % gs)
            return 0;
        n += q[i][1] * (q[i][0] + 4 * (q[i][0] / gs));
    }
    return n;
}

static l4lm_status l2c_hparams(l4lm_model *m, uint64_t *n_bytes)
{
    l4lm_hparams *hp = &m->hp;
    int32_t h[7];
    uint32_t version = l4lm_l2c_version(m);
    if (version > 2)
        return l2c_refuse(m, version);
    if (!l2c_header(m, version ? 8 : 0, h) || (version && h[5] < 0))
        return l4lm_fail(&m->err, L4LM_E_MAGIC, 0,
                         "not a model file (expected GGUF or a llama2.c checkpoint)", 0, 0);
    __builtin_memcpy(hp->arch, "llama", 6);
    hp->n_embd = (uint32_t)h[0];
    hp->n_ff = (uint32_t)h[1];
    hp->n_layer = (uint32_t)h[2];
    hp->n_head = (uint32_t)h[3];
    hp->n_head_kv = (uint32_t)h[4];
    hp->tied_output = version ? m->bytes[36] != 0 : h[5] > 0;
    hp->n_vocab = (uint32_t)(h[5] > 0 ? h[5] : -h[5]);
    hp->n_ctx_train = (uint32_t)h[6];
    hp->rms_eps = 1e-5f;
    hp->rope_base = 10000.0f;
    hp->rope_freq_scale = 1.0f;
    hp->rope = L4LM_ROPE_NORMAL;
    l4lm_status st = l4lm_arch_check(hp, &m->err);
    if (st)
        return st;
    uint64_t n = version == 2 ? l2c_v2_bytes(m) : 4 * l2c_floats(hp, !version);
    if (!n)
        return l2c_refuse(m, version);
    if (n > m->size - l2c_data_off(m))
        return l4lm_fail(&m->err, L4LM_E_TRUNCATED, m->size, "llama2.c weights", 0, 0);
    *n_bytes = n;
    return L4LM_OK;
}

static l4lm_mat l2c_mat(const uint8_t **p, uint32_t n_in, uint32_t n_out, uint32_t count)
{
    l4lm_mat mat = {*p, L4LM_TYPE_F32, n_in, n_out, false};
    *p += (uint64_t)n_in * n_out * count * 4;
    return mat;
}

uint64_t l4lm_l2c_unpacked_bytes(const l4lm_model *m)
{
    bool v2 = m->format == L4LM_FORMAT_LLAMA2C && l4lm_l2c_version(m) == 2;
    return v2 ? 4 * l2c_floats(&m->hp, false) : 0;
}

/* Version 2 as version 1's arrays: the norms, then each int8 value times
** its group's scale (read bytewise: after an int8 array it may be unaligned). */
void l4lm_l2c_unpack(const l4lm_model *m, float *dst)
{
    const l4lm_hparams *hp = &m->hp;
    const uint8_t *p = m->bytes + L2C_V1_HEADER;
    uint64_t gs = l4lm_rd32(m->bytes + 37), q[L2C_NQ][2];
    uint64_t n_norms = (2 * (uint64_t)hp->n_layer + 1) * hp->n_embd;
    for (uint64_t i = 0; i < n_norms; i++, p += 4)
        *dst++ = l4lm_rdf32(p);
    l2c_qtensors(hp, q);
    for (int t = 0; t < L2C_NQ; t++)
        for (uint64_t c = 0; c < q[t][1]; c++) {
            const uint8_t *scale = p + q[t][0];
            for (uint64_t i = 0; i < q[t][0]; i++)
                *dst++ = (float)(int8_t)p[i] * l4lm_rdf32(scale + 4 * (i / gs));
            p = scale + 4 * (q[t][0] / gs);
        }
}

/* Weights laid out array after array, each array covering all layers, in
** the order of the file's version (see the top); unpacked: version 2's,
** from l4lm_l2c_unpack. */
void l4lm_l2c_weights(const l4lm_model *m, l4lm_weights *w, l4lm_layer *layers,
                      const void *unpacked)
{
    const l4lm_hparams *hp = &m->hp;
    uint32_t d = hp->n_embd, f = hp->n_ff, L = hp->n_layer, kv = hp->n_head_kv * hp->head_dim;
    bool v1 = l4lm_l2c_version(m) != 0;
    const uint8_t *p = unpacked ? unpacked : m->bytes + l2c_data_off(m);
    l4lm_mat att = {0}, ffn = {0};
    if (v1) { /* the norms first */
        att = l2c_mat(&p, d, 1, L);
        ffn = l2c_mat(&p, d, 1, L);
        w->out_norm = l2c_mat(&p, d, 1, 1);
    }
    w->tok_embd = l2c_mat(&p, d, hp->n_vocab, 1);
    if (!v1)
        att = l2c_mat(&p, d, 1, L);
    l4lm_mat wq = l2c_mat(&p, d, d, L), wk = l2c_mat(&p, d, kv, L), wv = l2c_mat(&p, d, kv, L);
    l4lm_mat wo = l2c_mat(&p, d, d, L);
    if (!v1)
        ffn = l2c_mat(&p, d, 1, L);
    l4lm_mat w1 = l2c_mat(&p, d, f, L), w2 = l2c_mat(&p, f, d, L), w3 = l2c_mat(&p, d, f, L);
    if (!v1) {
        w->out_norm = l2c_mat(&p, d, 1, 1);
        p += (uint64_t)hp->n_ctx_train * hp->head_dim * 4; /* freq_cis_real and _imag: unused */
    }
    w->rope_freqs = (l4lm_mat){0};
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
    uint64_t n_bytes = 0;
    l4lm_status st = l2c_hparams(m, &n_bytes);
    if (st)
        return st;
    m->weight_bytes = n_bytes;
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
