/*
** forward.c — the llama forward pass, one token at a time, read top to
** bottom: embedding, then per layer RMSNorm -> attention with RoPE and a
** grouped-query KV cache -> RMSNorm -> SwiGLU feed-forward, then the
** final norm and the classifier.
*/
#include "session.h"

/* ------------------------------------------------------- building blocks */

static void rmsnorm(float *out, const float *x, const l4lm_mat *w, uint32_t n, float eps)
{
    const float *g = w->data;
    double ss = 0.0; /* double, as ggml sums it: the norm is sensitive to order */
    for (uint32_t i = 0; i < n; i++)
        ss += (double)x[i] * x[i];
    float scale = 1.0f / l4lm_sqrtf((float)(ss / n) + eps);
    for (uint32_t i = 0; i < n; i++)
        out[i] = (x[i] * scale) * g[i];
}

static void softmax(float *x, uint32_t n)
{
    float max = x[0];
    for (uint32_t i = 1; i < n; i++)
        max = x[i] > max ? x[i] : max;
    double sum = 0.0;
    for (uint32_t i = 0; i < n; i++) {
        x[i] = l4lm_expf(x[i] - max);
        sum += x[i];
    }
    float inv = (float)(1.0 / sum);
    for (uint32_t i = 0; i < n; i++)
        x[i] *= inv;
}

typedef struct matvec_job {
    const l4lm_mat *w;
    const void *act;
    float *y;
    uint32_t n_tasks;
} matvec_job;

static void matvec_task(void *arg, uint32_t i)
{
    const matvec_job *j = arg;
    uint32_t rows = j->w->n_out;
    uint32_t r0 = (uint32_t)((uint64_t)rows * i / j->n_tasks);
    uint32_t r1 = (uint32_t)((uint64_t)rows * (i + 1) / j->n_tasks);
    l4lm_matvec(j->w->type, j->w->data, j->act, j->w->n_in, j->y, r0, r1);
}

/* y = W x for an x already prepared for W's type. Rows split across tasks;
** each output is one dot product, so the result does not depend on them. */
static void matvec_prepared(l4lm_session *s, const l4lm_mat *w, float *y)
{
    matvec_job j = {w, s->act, y, s->n_threads};
    if (s->parallel_for && s->n_threads > 1 && w->n_out >= 64)
        s->parallel_for(s->parallel_ctx, matvec_task, &j, j.n_tasks);
    else
        l4lm_matvec(w->type, w->data, s->act, w->n_in, y, 0, w->n_out);
}

static void matvec(l4lm_session *s, const l4lm_mat *w, const float *x, float *y)
{
    l4lm_act_prepare(w->type, x, w->n_in, s->act);
    matvec_prepared(s, w, y);
}

/* Several matrices of one input; the input is prepared once per type. */
static void matvec_same_input(l4lm_session *s, const float *x, const l4lm_mat *a, float *ya,
                              const l4lm_mat *b, float *yb)
{
    matvec(s, a, x, ya);
    if (b->type != a->type)
        l4lm_act_prepare(b->type, x, b->n_in, s->act);
    matvec_prepared(s, b, yb);
}

/* cos/sin of pos * inv_freq[i], shared by every head and layer of a token. */
static void rope_angles(l4lm_session *s, uint32_t pos)
{
    for (uint32_t i = 0; i < s->hp.head_dim / 2; i++)
        l4lm_sincosf((float)pos * s->rope_inv_freq[i], &s->rope_sin[i], &s->rope_cos[i]);
}

/* Rotate each head of vec: NORMAL pairs (2i, 2i+1); NEOX pairs (i, i + d/2). */
static void rope(const l4lm_session *s, float *vec, uint32_t n_heads)
{
    uint32_t d = s->hp.head_dim, half = d / 2;
    bool neox = s->hp.rope == L4LM_ROPE_NEOX;
    for (uint32_t h = 0; h < n_heads; h++) {
        float *v = vec + h * d;
        for (uint32_t i = 0; i < half; i++) {
            uint32_t a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
            float c = s->rope_cos[i], sn = s->rope_sin[i], x0 = v[a], x1 = v[b];
            v[a] = x0 * c - x1 * sn;
            v[b] = x0 * sn + x1 * c;
        }
    }
}

/* ------------------------------------------------------------- KV cache */

static uint64_t cache_index(const l4lm_session *s, uint32_t layer, uint32_t pos)
{
    uint64_t kv_dim = (uint64_t)s->hp.n_head_kv * s->hp.head_dim;
    return ((uint64_t)layer * s->n_ctx + pos) * kv_dim;
}

static void cache_store(l4lm_session *s, void *cache, uint64_t at, const float *src, uint32_t n)
{
    if (s->kv_type == L4LM_KV_F16) {
        uint16_t *dst = (uint16_t *)cache + at;
        for (uint32_t i = 0; i < n; i++)
            dst[i] = l4lm_f32_to_fp16(src[i]);
    } else {
        __builtin_memcpy((float *)cache + at, src, n * sizeof(float));
    }
}

static float cache_dot(const l4lm_session *s, uint64_t at, const float *q, uint32_t n)
{
    float sum = 0.0f;
    if (s->kv_type == L4LM_KV_F16) {
        const uint16_t *k = (const uint16_t *)s->k_cache + at;
        for (uint32_t i = 0; i < n; i++)
            sum += q[i] * l4lm_fp16_to_f32(k[i]);
    } else {
        const float *k = (const float *)s->k_cache + at;
        for (uint32_t i = 0; i < n; i++)
            sum += q[i] * k[i];
    }
    return sum;
}

static void cache_axpy(const l4lm_session *s, uint64_t at, float a, float *out, uint32_t n)
{
    if (s->kv_type == L4LM_KV_F16) {
        const uint16_t *v = (const uint16_t *)s->v_cache + at;
        for (uint32_t i = 0; i < n; i++)
            out[i] += a * l4lm_fp16_to_f32(v[i]);
    } else {
        const float *v = (const float *)s->v_cache + at;
        for (uint32_t i = 0; i < n; i++)
            out[i] += a * v[i];
    }
}

/* ------------------------------------------------------------ the blocks */

/* Multi-head attention of the current token over positions 0..pos. */
static void attention(l4lm_session *s, uint32_t layer, uint32_t pos)
{
    const l4lm_hparams *hp = &s->hp;
    uint32_t d = hp->head_dim, group = hp->n_head / hp->n_head_kv;
    float scale = 1.0f / l4lm_sqrtf((float)d);
    uint64_t base = cache_index(s, layer, 0);
    for (uint32_t h = 0; h < hp->n_head; h++) {
        const float *q = s->q + h * d;
        float *att = s->att + (uint64_t)h * s->n_ctx;
        uint32_t kv_off = (h / group) * d;
        for (uint32_t t = 0; t <= pos; t++)
            att[t] = cache_dot(s, base + (uint64_t)t * hp->n_head_kv * d + kv_off, q, d) * scale;
        softmax(att, pos + 1);
        float *out = s->xb + h * d;
        __builtin_memset(out, 0, d * sizeof(float));
        for (uint32_t t = 0; t <= pos; t++)
            cache_axpy(s, base + (uint64_t)t * hp->n_head_kv * d + kv_off, att[t], out, d);
    }
}

static void attention_block(l4lm_session *s, const l4lm_layer *L, uint32_t layer, uint32_t pos)
{
    const l4lm_hparams *hp = &s->hp;
    uint32_t kv_dim = hp->n_head_kv * hp->head_dim;
    rmsnorm(s->xb, s->x, &L->attn_norm, hp->n_embd, hp->rms_eps);
    matvec(s, &L->wq, s->xb, s->q);
    if (L->wk.type != L->wq.type)
        l4lm_act_prepare(L->wk.type, s->xb, hp->n_embd, s->act);
    matvec_prepared(s, &L->wk, s->k);
    if (L->wv.type != L->wk.type)
        l4lm_act_prepare(L->wv.type, s->xb, hp->n_embd, s->act);
    matvec_prepared(s, &L->wv, s->v);
    rope(s, s->q, hp->n_head);
    rope(s, s->k, hp->n_head_kv);
    cache_store(s, s->k_cache, cache_index(s, layer, pos), s->k, kv_dim);
    cache_store(s, s->v_cache, cache_index(s, layer, pos), s->v, kv_dim);
    attention(s, layer, pos);
    matvec(s, &L->wo, s->xb, s->xb2);
    for (uint32_t i = 0; i < hp->n_embd; i++)
        s->x[i] += s->xb2[i];
}

/* SwiGLU: down(silu(gate(x)) * up(x)). */
static void ffn_block(l4lm_session *s, const l4lm_layer *L)
{
    const l4lm_hparams *hp = &s->hp;
    rmsnorm(s->xb, s->x, &L->ffn_norm, hp->n_embd, hp->rms_eps);
    matvec_same_input(s, s->xb, &L->w_gate, s->hb, &L->w_up, s->hb2);
    for (uint32_t i = 0; i < hp->n_ff; i++) {
        float g = s->hb[i];
        s->hb[i] = g / (1.0f + l4lm_expf(-g)) * s->hb2[i];
    }
    matvec(s, &L->w_down, s->hb, s->xb);
    for (uint32_t i = 0; i < hp->n_embd; i++)
        s->x[i] += s->xb[i];
}

static void forward(l4lm_session *s, int32_t token)
{
    const l4lm_hparams *hp = &s->hp;
    uint32_t pos = s->pos;
    uint64_t row_bytes;
    l4lm_row_bytes(s->w.tok_embd.type, hp->n_embd, &row_bytes);
    l4lm_row_to_f32(s->w.tok_embd.type,
                    (const uint8_t *)s->w.tok_embd.data + (uint64_t)token * row_bytes, s->x,
                    hp->n_embd);
    rope_angles(s, pos);
    for (uint32_t l = 0; l < hp->n_layer; l++) {
        attention_block(s, &s->layers[l], l, pos);
        ffn_block(s, &s->layers[l]);
    }
    rmsnorm(s->xb, s->x, &s->w.out_norm, hp->n_embd, hp->rms_eps);
    matvec(s, &s->w.output, s->xb, s->logits);
    s->history[pos] = token;
    s->pos = pos + 1;
}

l4lm_status l4lm_eval(l4lm_session *s, const int32_t *tokens, size_t n, const float **logits)
{
    if (!s || (!tokens && n))
        return L4LM_E_ARG;
    for (size_t i = 0; i < n; i++)
        if (tokens[i] < 0 || (uint32_t)tokens[i] >= s->hp.n_vocab)
            return L4LM_E_TOKEN;
    if (n > s->n_ctx - s->pos)
        return L4LM_E_CONTEXT_FULL;
    for (size_t i = 0; i < n; i++)
        forward(s, tokens[i]);
    if (n)
        s->have_logits = true;
    if (logits)
        *logits = s->have_logits ? s->logits : 0;
    return s->have_logits ? L4LM_OK : L4LM_E_STATE;
}
