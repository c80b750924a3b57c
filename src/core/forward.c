/*
** forward.c — the llama forward pass, read top to bottom: embedding, then
** per layer RMSNorm -> attention with RoPE and a grouped-query KV cache ->
** RMSNorm -> SwiGLU feed-forward, then the final norm and the classifier.
**
** Tokens go through in batches of up to n_batch: every weight row is
** loaded once per batch rather than once per token (prefill becomes a
** matrix-matrix product). Each output element is still one dot product in
** a fixed order, so a batch gives bit-for-bit the logits of one-at-a-time.
*/
#include "half.h"
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

/* xb[b] = RMSNorm(x[b]) * w for every token of the batch. */
static void norm_batch(l4lm_session *s, float *out, const l4lm_mat *w, uint32_t n_b)
{
    uint32_t e = s->hp.n_embd;
    for (uint32_t b = 0; b < n_b; b++)
        rmsnorm(out + (size_t)b * e, s->x + (size_t)b * e, w, e, s->hp.rms_eps);
}

/* The residual connection: x += y over the batch. */
static void add_residual(l4lm_session *s, const float *y, uint32_t n_b)
{
    for (uint32_t i = 0; i < n_b * s->hp.n_embd; i++)
        s->x[i] += y[i];
}

/* y += bias, when the layer has one. */
static void add_bias(float *y, const l4lm_mat *bias)
{
    const float *b = bias->data;
    for (uint32_t i = 0; b && i < bias->n_in; i++)
        y[i] += b[i];
}

/* Below this many multiply-adds a job is over before threads could help:
** waking them costs more than it saves (tiny models, short contexts). */
#define MIN_PARALLEL_WORK (1u << 17)

static bool worth_threads(const l4lm_session *s, uint64_t work)
{
    return s->parallel_for && s->n_threads > 1 && work >= MIN_PARALLEL_WORK;
}

/* ------------------------------------------------ matrix times a batch */

typedef struct matmul_job {
    const l4lm_mat *w;
    const uint8_t *act; /* n_b prepared rows, act_stride bytes apart */
    size_t act_stride;
    float *y; /* n_b rows of y_stride floats */
    uint32_t y_stride, n_b, n_tasks;
} matmul_job;

static void matmul_rows(const matmul_job *j, uint32_t r0, uint32_t r1)
{
    const l4lm_mat *w = j->w;
    l4lm_matmul(w->type, w->data, j->act, j->act_stride, w->n_in, j->y, j->y_stride, r0, r1,
                j->n_b);
}

static void matmul_task(void *arg, uint32_t i)
{
    const matmul_job *j = arg;
    uint32_t rows = j->w->n_out;
    matmul_rows(j, (uint32_t)((uint64_t)rows * i / j->n_tasks),
                (uint32_t)((uint64_t)rows * (i + 1) / j->n_tasks));
}

/* Y[b] = W X[b] for the n_b rows of x (x_stride floats apart). The rows are
** prepared for W's type, unless same_input says the previous call had the
** same x and its preparation for the same type can be reused. */
static void matmul(l4lm_session *s, const l4lm_mat *w, const float *x, uint32_t x_stride, float *y,
                   uint32_t y_stride, uint32_t n_b, bool same_input)
{
    size_t stride = l4lm_act_bytes(w->type, w->n_in);
    uint8_t *act = s->act;
    if (!same_input || s->act_type != w->type) {
        for (uint32_t b = 0; b < n_b; b++)
            l4lm_act_prepare(w->type, x + (size_t)b * x_stride, w->n_in, act + b * stride);
        s->act_type = w->type;
    }
    matmul_job j = {w, act, stride, y, y_stride, n_b, s->n_threads};
    if (worth_threads(s, (uint64_t)w->n_out * w->n_in * n_b))
        s->parallel_for(s->parallel_ctx, matmul_task, &j, j.n_tasks);
    else
        matmul_rows(&j, 0, w->n_out);
}

/* ------------------------------------------------------------- RoPE */

/* cos/sin of pos * inv_freq[i] for every token of the batch. */
static void rope_angles(l4lm_session *s, uint32_t pos, uint32_t n_b)
{
    uint32_t half = s->hp.head_dim / 2;
    for (uint32_t b = 0; b < n_b; b++)
        for (uint32_t i = 0; i < half; i++)
            l4lm_sincosf((float)(pos + b) * s->rope_inv_freq[i], &s->rope_sin[b * half + i],
                         &s->rope_cos[b * half + i]);
}

/* Rotate each head of vec: NORMAL pairs (2i, 2i+1); NEOX pairs (i, i + d/2). */
static void rope(const l4lm_session *s, float *vec, uint32_t n_heads, uint32_t b)
{
    uint32_t d = s->hp.head_dim, half = d / 2;
    const float *cs = s->rope_cos + b * half, *sn = s->rope_sin + b * half;
    bool neox = s->hp.rope == L4LM_ROPE_NEOX;
    for (uint32_t h = 0; h < n_heads; h++) {
        float *v = vec + h * d;
        for (uint32_t i = 0; i < half; i++) {
            uint32_t p = neox ? i : 2 * i, q = neox ? i + half : 2 * i + 1;
            float x0 = v[p], x1 = v[q];
            v[p] = x0 * cs[i] - x1 * sn[i];
            v[q] = x0 * sn[i] + x1 * cs[i];
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

/* q . K[at..at+n): the kernels' dot, so it is vectorised and in a fixed order. */
static float cache_dot(const l4lm_session *s, uint64_t at, const float *q, uint32_t n)
{
    if (s->kv_type == L4LM_KV_F16)
        return l4lm_vec_dot(L4LM_TYPE_F16, (const uint16_t *)s->k_cache + at, q, n);
    return l4lm_vec_dot(L4LM_TYPE_F32, (const float *)s->k_cache + at, q, n);
}

static void cache_axpy(const l4lm_session *s, uint64_t at, float a, float *out, uint32_t n)
{
    if (s->kv_type == L4LM_KV_F16) {
        const uint16_t *v = (const uint16_t *)s->v_cache + at;
        for (uint32_t i = 0; i < n; i++)
            out[i] += a * l4lm_half_decode(v[i]); /* inline, so the loop vectorises */
    } else {
        const float *v = (const float *)s->v_cache + at;
        for (uint32_t i = 0; i < n; i++)
            out[i] += a * v[i];
    }
}

/* ------------------------------------------------------------ attention */

typedef struct attn_job {
    l4lm_session *s;
    uint32_t layer, pos, n_b;
} attn_job;

/* Head h of every token in the batch attends to positions 0..pos+b. */
static void attention_head(void *arg, uint32_t h)
{
    const attn_job *j = arg;
    l4lm_session *s = j->s;
    const l4lm_hparams *hp = &s->hp;
    uint32_t d = hp->head_dim, kv_dim = hp->n_head_kv * d;
    uint32_t kv_off = (h / (hp->n_head / hp->n_head_kv)) * d;
    float scale = 1.0f / l4lm_sqrtf((float)d);
    uint64_t base = cache_index(s, j->layer, 0) + kv_off;
    float *att = s->att + (uint64_t)h * s->n_ctx;
    for (uint32_t b = 0; b < j->n_b; b++) {
        const float *q = s->q + (size_t)b * hp->n_embd + h * d;
        uint32_t last = j->pos + b;
        for (uint32_t t = 0; t <= last; t++)
            att[t] = cache_dot(s, base + (uint64_t)t * kv_dim, q, d) * scale;
        softmax(att, last + 1);
        float *out = s->xb + (size_t)b * hp->n_embd + h * d;
        __builtin_memset(out, 0, d * sizeof(float));
        for (uint32_t t = 0; t <= last; t++)
            cache_axpy(s, base + (uint64_t)t * kv_dim, att[t], out, d);
    }
}

static void attention_block(l4lm_session *s, const l4lm_layer *L, uint32_t layer, uint32_t pos,
                            uint32_t n_b)
{
    const l4lm_hparams *hp = &s->hp;
    uint32_t e = hp->n_embd, kv_dim = hp->n_head_kv * hp->head_dim;
    norm_batch(s, s->xb, &L->attn_norm, n_b);
    matmul(s, &L->wq, s->xb, e, s->q, e, n_b, false);
    matmul(s, &L->wk, s->xb, e, s->k, kv_dim, n_b, true);
    matmul(s, &L->wv, s->xb, e, s->v, kv_dim, n_b, true);
    for (uint32_t b = 0; b < n_b; b++) {
        add_bias(s->q + b * e, &L->bq);
        add_bias(s->k + b * kv_dim, &L->bk);
        add_bias(s->v + b * kv_dim, &L->bv);
        rope(s, s->q + b * e, hp->n_head, b);
        rope(s, s->k + b * kv_dim, hp->n_head_kv, b);
        cache_store(s, s->k_cache, cache_index(s, layer, pos + b), s->k + b * kv_dim, kv_dim);
        cache_store(s, s->v_cache, cache_index(s, layer, pos + b), s->v + b * kv_dim, kv_dim);
    }
    attn_job j = {s, layer, pos, n_b};
    if (worth_threads(s, (uint64_t)(pos + n_b) * n_b * hp->n_head * hp->head_dim))
        s->parallel_for(s->parallel_ctx, attention_head, &j, hp->n_head);
    else
        for (uint32_t h = 0; h < hp->n_head; h++)
            attention_head(&j, h);
    matmul(s, &L->wo, s->xb, e, s->xb2, e, n_b, false);
    add_residual(s, s->xb2, n_b);
}

/* SwiGLU: down(silu(gate(x)) * up(x)). */
static void ffn_block(l4lm_session *s, const l4lm_layer *L, uint32_t n_b)
{
    const l4lm_hparams *hp = &s->hp;
    uint32_t e = hp->n_embd, f = hp->n_ff;
    norm_batch(s, s->xb, &L->ffn_norm, n_b);
    matmul(s, &L->w_gate, s->xb, e, s->hb, f, n_b, false);
    matmul(s, &L->w_up, s->xb, e, s->hb2, f, n_b, true);
    for (uint32_t i = 0; i < n_b * f; i++) {
        float g = s->hb[i];
        s->hb[i] = g / (1.0f + l4lm_expf(-g)) * s->hb2[i];
    }
    matmul(s, &L->w_down, s->hb, f, s->xb, e, n_b, false);
    add_residual(s, s->xb, n_b);
}

/* n_b tokens at positions pos..pos+n_b-1; logits for the last one. */
static void forward_batch(l4lm_session *s, const int32_t *tokens, uint32_t n_b)
{
    const l4lm_hparams *hp = &s->hp;
    uint32_t pos = s->pos, e = hp->n_embd;
    uint64_t row_bytes;
    l4lm_row_bytes(s->w.tok_embd.type, e, &row_bytes);
    for (uint32_t b = 0; b < n_b; b++) {
        l4lm_row_to_f32(s->w.tok_embd.type,
                        (const uint8_t *)s->w.tok_embd.data + (uint64_t)tokens[b] * row_bytes,
                        s->x + b * e, e);
        s->history[pos + b] = tokens[b];
    }
    rope_angles(s, pos, n_b);
    for (uint32_t l = 0; l < hp->n_layer; l++) {
        attention_block(s, &s->layers[l], l, pos, n_b);
        ffn_block(s, &s->layers[l], n_b);
    }
    rmsnorm(s->xb, s->x + (n_b - 1) * e, &s->w.out_norm, e, hp->rms_eps);
    matmul(s, &s->w.output, s->xb, e, s->logits, hp->n_vocab, 1, false);
    s->pos = pos + n_b;
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
    for (size_t i = 0; i < n; i += s->n_batch) {
        size_t n_b = n - i < s->n_batch ? n - i : s->n_batch;
        forward_batch(s, tokens + i, (uint32_t)n_b);
    }
    if (n)
        s->have_logits = true;
    if (logits)
        *logits = s->have_logits ? s->logits : 0;
    return s->have_logits ? L4LM_OK : L4LM_E_STATE;
}
