/*
** forward.c — the llama forward pass, read top to bottom: embedding, then
** per layer RMSNorm -> attention with RoPE and a grouped-query KV cache ->
** RMSNorm -> SwiGLU feed-forward, then the final norm and the classifier.
**
** Tokens go through in batches of up to n_batch: every weight row is
** loaded once per batch rather than once per token (prefill becomes a
** matrix-matrix product). Each output element is still one dot product in
** a fixed order, so a batch gives bit-for-bit the logits of one-at-a-time.
** Threads share each step by rows, elements or heads (split(), attention),
** never within one output, so the thread count does not change the bits.
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

static void softmax(const l4lm_kern *k, float *x, uint32_t n)
{
    float max = x[0];
    for (uint32_t i = 1; i < n; i++)
        max = x[i] > max ? x[i] : max;
    l4lm_vec_exp(k, x, max, n);
    double sum = 0.0;
    for (uint32_t i = 0; i < n; i++)
        sum += x[i];
    float inv = (float)(1.0 / sum);
    for (uint32_t i = 0; i < n; i++)
        x[i] *= inv;
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

/* Work on n independent items (rows, elements) split into one contiguous
** range per thread: which thread does an item never changes its bits. */
typedef void range_fn(void *arg, uint32_t lo, uint32_t hi);

typedef struct range_job {
    range_fn *fn;
    void *arg;
    uint32_t n, n_tasks;
} range_job;

static void range_task(void *arg, uint32_t i)
{
    const range_job *j = arg;
    j->fn(j->arg, (uint32_t)((uint64_t)j->n * i / j->n_tasks),
          (uint32_t)((uint64_t)j->n * (i + 1) / j->n_tasks));
}

static void split(l4lm_session *s, uint64_t work, uint32_t n, range_fn *fn, void *arg)
{
    range_job j = {fn, arg, n, s->n_threads};
    if (worth_threads(s, work))
        s->parallel_for(s->parallel_ctx, range_task, &j, j.n_tasks);
    else
        fn(arg, 0, n);
}

typedef struct norm_job {
    const l4lm_session *s;
    float *out;
    const float *x;
    const l4lm_mat *w;
} norm_job;

static void norm_rows(void *arg, uint32_t b0, uint32_t b1)
{
    const norm_job *j = arg;
    uint32_t e = j->s->hp.n_embd;
    for (uint32_t b = b0; b < b1; b++)
        rmsnorm(j->out + (size_t)b * e, j->x + (size_t)b * e, j->w, e, j->s->hp.rms_eps);
}

/* out[b] = RMSNorm(x[b]) * w for every token of the batch (in place when
** out is x: Gemma 2/3 normalise each branch output before the residual add). */
static void norm_batch(l4lm_session *s, float *out, const float *x, const l4lm_mat *w, uint32_t n_b)
{
    norm_job j = {s, out, x, w};
    split(s, (uint64_t)n_b * s->hp.n_embd, n_b, norm_rows, &j);
}

/* ------------------------------------------------ matrix times a batch */

typedef struct matmul_job {
    const l4lm_kern *k;
    const l4lm_mat *w;
    const float *x; /* n_b rows, x_stride floats apart */
    uint32_t x_stride;
    uint8_t *act; /* n_b prepared rows, act_stride bytes apart */
    size_t act_stride;
    float *y; /* n_b rows of y_stride floats */
    uint32_t y_stride, n_b;
} matmul_job;

/* Activation rows b0..b1-1 prepared for the weight type. */
static void prepare_rows(void *arg, uint32_t b0, uint32_t b1)
{
    const matmul_job *j = arg;
    for (uint32_t b = b0; b < b1; b++)
        l4lm_act_prepare(j->k, j->w->type, j->x + (size_t)b * j->x_stride, j->w->n_in,
                         j->act + b * j->act_stride);
}

static void matmul_rows(void *arg, uint32_t r0, uint32_t r1)
{
    const matmul_job *j = arg;
    const l4lm_mat *w = j->w;
    l4lm_matmul(j->k, w->type, w->data, j->act, j->act_stride, w->n_in, j->y, j->y_stride, r0, r1,
                j->n_b);
}

/* Y[b] = W X[b] for the n_b rows of x (x_stride floats apart). The rows are
** prepared for W's type, unless same_input says the previous call had the
** same x and its preparation for the same type can be reused. */
static void matmul(l4lm_session *s, const l4lm_mat *w, const float *x, uint32_t x_stride, float *y,
                   uint32_t y_stride, uint32_t n_b, bool same_input)
{
    matmul_job j = {s->kern, w, x, x_stride, s->act, l4lm_act_bytes(w->type, w->n_in), y, y_stride, n_b};
    if (!same_input || s->act_type != w->type) {
        split(s, (uint64_t)w->n_in * n_b, n_b, prepare_rows, &j);
        s->act_type = w->type;
    }
    split(s, (uint64_t)w->n_out * w->n_in * n_b, w->n_out, matmul_rows, &j);
}

/* ------------------------------------------------------------- RoPE */

/* cos/sin of pos * inv_freq[i] for every token of the batch, for each RoPE
** set (a second one for sliding-window layers, see session.h). */
static void rope_angles(l4lm_session *s, uint32_t pos, uint32_t n_b)
{
    uint32_t half = s->hp.head_dim / 2;
    for (uint32_t set = 0; set < (s->hp.n_swa ? 2u : 1u); set++) {
        const float *f = s->rope_inv_freq + set * half;
        size_t at = (size_t)set * s->n_batch * half;
        for (uint32_t b = 0; b < n_b; b++)
            for (uint32_t i = 0; i < half; i++)
                l4lm_sincosf((float)(pos + b) * f[i], &s->rope_sin[at + b * half + i],
                             &s->rope_cos[at + b * half + i]);
    }
}

/* Rotate each head of vec: NORMAL pairs (2i, 2i+1); NEOX pairs (i, i + d/2).
** A sliding-window layer (local) takes the second set of angles. */
static void rope(const l4lm_session *s, float *vec, uint32_t n_heads, uint32_t b, bool local)
{
    uint32_t d = s->hp.head_dim, half = d / 2;
    size_t at = (local ? (size_t)s->n_batch * half : 0) + b * half;
    const float *cs = s->rope_cos + at, *sn = s->rope_sin + at;
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

/* The kernels' type for the cache's elements, and where element at is. */
static uint32_t cache_type(const l4lm_session *s)
{
    return s->kv_type == L4LM_KV_F16 ? L4LM_TYPE_F16 : L4LM_TYPE_F32;
}

static const void *cache_at(const l4lm_session *s, const void *cache, uint64_t at)
{
    return (const uint8_t *)cache + at * (s->kv_type == L4LM_KV_F16 ? 2 : 4);
}

/* ------------------------------------------------------------ attention */

typedef struct attn_job {
    l4lm_session *s;
    const l4lm_layer *L;
    uint32_t layer, pos, n_b;
    bool local; /* a sliding-window layer */
} attn_job;

/* Gemma 2: x becomes c tanh(x / c), in ggml's order (x times 1/c first). */
static void softcap(float *x, uint32_t n, float c)
{
    float inv = 1.0f / c;
    for (uint32_t i = 0; i < n; i++)
        x[i] = l4lm_tanhf(x[i] * inv) * c;
}

/* Head h of every token in the batch attends to positions 0..pos+b, or on
** a sliding-window layer to the last n_swa of them. The cache keeps every
** position (simplest; a ring of n_swa would save memory on local layers). */
static void attention_head(void *arg, uint32_t h)
{
    const attn_job *j = arg;
    l4lm_session *s = j->s;
    const l4lm_hparams *hp = &s->hp;
    uint32_t d = hp->head_dim, kv_dim = hp->n_head_kv * d, q_dim = hp->n_head * d;
    uint32_t kv_off = (h / (hp->n_head / hp->n_head_kv)) * d;
    float scale = hp->gemma ? 1.0f : 1.0f / l4lm_sqrtf((float)d); /* gemma scaled q instead */
    uint64_t base = cache_index(s, j->layer, 0) + kv_off;
    float *att = s->att + (uint64_t)h * s->n_ctx;
    for (uint32_t b = 0; b < j->n_b; b++) {
        const float *q = s->q + (size_t)b * q_dim + h * d;
        uint32_t last = j->pos + b;
        uint32_t first = j->local && last >= hp->n_swa ? last - hp->n_swa + 1 : 0;
        uint64_t at = base + (uint64_t)first * kv_dim;
        uint32_t n_pos = last + 1 - first;
        /* the scores, then the weighted sum of the values: several cached
        ** rows per kernel call, so SIMD keeps its sums in registers */
        l4lm_vec_dots(s->kern, cache_type(s), cache_at(s, s->k_cache, at), kv_dim, q, d, n_pos, att + first);
        for (uint32_t t = first; t <= last; t++)
            att[t] *= scale;
        if (hp->attn_softcap > 0.0f)
            softcap(att + first, n_pos, hp->attn_softcap);
        softmax(s->kern, att + first, n_pos);
        l4lm_vec_wsum(s->kern, cache_type(s), cache_at(s, s->v_cache, at), kv_dim, att + first, n_pos,
                      s->xb + (size_t)b * q_dim + h * d, d);
    }
}

/* Qwen3 and Gemma 3 normalise each head of q and k on its own before RoPE. */
static void head_norm(const l4lm_session *s, float *vec, const l4lm_mat *w, uint32_t n_heads)
{
    uint32_t d = s->hp.head_dim;
    for (uint32_t h = 0; w->data && h < n_heads; h++)
        rmsnorm(vec + h * d, vec + h * d, w, d, s->hp.rms_eps);
}

/* Layer l of a model with a sliding window is local when l % p < p - 1
** (gemma2: every other layer, gemma3: five of every six); p = 0: all. */
static bool is_local(const l4lm_hparams *hp, uint32_t l)
{
    uint32_t p = hp->swa_pattern;
    return hp->n_swa && (p == 0 || l % p < p - 1);
}

/* Tokens b0..b1-1 of the batch: biases, per-head norms and RoPE on their q
** and k, then k and v into the cache. */
static void qkv_rows(void *arg, uint32_t b0, uint32_t b1)
{
    const attn_job *j = arg;
    l4lm_session *s = j->s;
    const l4lm_hparams *hp = &s->hp;
    const l4lm_layer *L = j->L;
    uint32_t kv_dim = hp->n_head_kv * hp->head_dim, q_dim = hp->n_head * hp->head_dim;
    for (uint32_t b = b0; b < b1; b++) {
        add_bias(s->q + b * q_dim, &L->bq);
        add_bias(s->k + b * kv_dim, &L->bk);
        add_bias(s->v + b * kv_dim, &L->bv);
        head_norm(s, s->q + b * q_dim, &L->q_norm, hp->n_head);
        head_norm(s, s->k + b * kv_dim, &L->k_norm, hp->n_head_kv);
        rope(s, s->q + b * q_dim, hp->n_head, b, j->local);
        rope(s, s->k + b * kv_dim, hp->n_head_kv, b, j->local);
        for (uint32_t i = 0; hp->gemma && i < q_dim; i++) /* after RoPE, as llama.cpp */
            s->q[b * q_dim + i] *= hp->q_scale;
        cache_store(s, s->k_cache, cache_index(s, j->layer, j->pos + b), s->k + b * kv_dim, kv_dim);
        cache_store(s, s->v_cache, cache_index(s, j->layer, j->pos + b), s->v + b * kv_dim, kv_dim);
    }
}

static void attention_block(l4lm_session *s, const l4lm_layer *L, uint32_t layer, uint32_t pos,
                            uint32_t n_b)
{
    const l4lm_hparams *hp = &s->hp;
    bool local = is_local(hp, layer);
    uint32_t e = hp->n_embd, kv_dim = hp->n_head_kv * hp->head_dim;
    uint32_t q_dim = hp->n_head * hp->head_dim; /* may differ from n_embd (qwen3) */
    norm_batch(s, s->xb, s->x, &L->attn_norm, n_b);
    matmul(s, &L->wq, s->xb, e, s->q, q_dim, n_b, false);
    matmul(s, &L->wk, s->xb, e, s->k, kv_dim, n_b, true);
    matmul(s, &L->wv, s->xb, e, s->v, kv_dim, n_b, true);
    attn_job j = {s, L, layer, pos, n_b, local};
    split(s, (uint64_t)n_b * (q_dim + 2 * kv_dim), n_b, qkv_rows, &j);
    if (worth_threads(s, (uint64_t)(pos + n_b) * n_b * hp->n_head * hp->head_dim))
        s->parallel_for(s->parallel_ctx, attention_head, &j, hp->n_head);
    else
        for (uint32_t h = 0; h < hp->n_head; h++)
            attention_head(&j, h);
    matmul(s, &L->wo, s->xb, q_dim, s->xb2, e, n_b, false);
    if (hp->post_norms)
        norm_batch(s, s->xb2, s->xb2, &L->attn_post_norm, n_b);
    add_residual(s, s->xb2, n_b);
}

/* hb = silu(hb) * hb2 over elements i0..i1-1; gemma's GeGLU has gelu for silu. */
static void glu(void *arg, uint32_t i0, uint32_t i1)
{
    l4lm_session *s = arg;
    if (!s->hp.gemma)
        l4lm_vec_silu_mul(s->kern, s->hb + i0, s->hb2 + i0, i1 - i0);
    for (uint32_t i = i0; s->hp.gemma && i < i1; i++)
        s->hb[i] = l4lm_gelu(s->hb[i]) * s->hb2[i];
}

/* SwiGLU: down(silu(gate(x)) * up(x)), or gemma's GeGLU. */
static void ffn_block(l4lm_session *s, const l4lm_layer *L, uint32_t n_b)
{
    const l4lm_hparams *hp = &s->hp;
    uint32_t e = hp->n_embd, f = hp->n_ff;
    norm_batch(s, s->xb, s->x, &L->ffn_norm, n_b);
    matmul(s, &L->w_gate, s->xb, e, s->hb, f, n_b, false);
    matmul(s, &L->w_up, s->xb, e, s->hb2, f, n_b, true);
    split(s, (uint64_t)n_b * f, n_b * f, glu, s);
    matmul(s, &L->w_down, s->hb, f, s->xb, e, n_b, false);
    if (hp->post_norms)
        norm_batch(s, s->xb, s->xb, &L->ffn_post_norm, n_b);
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
    float embd_scale = l4lm_sqrtf((float)e); /* gemma scales the embeddings by sqrt(n_embd) */
    for (uint32_t i = 0; hp->gemma && i < n_b * e; i++)
        s->x[i] *= embd_scale;
    rope_angles(s, pos, n_b);
    for (uint32_t l = 0; l < hp->n_layer; l++) {
        attention_block(s, &s->layers[l], l, pos, n_b);
        ffn_block(s, &s->layers[l], n_b);
    }
    rmsnorm(s->xb, s->x + (n_b - 1) * e, &s->w.out_norm, e, hp->rms_eps);
    matmul(s, &s->w.output, s->xb, e, s->logits, hp->n_vocab, 1, false);
    if (hp->final_softcap > 0.0f)
        softcap(s->logits, hp->n_vocab, hp->final_softcap);
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
