/*
** forward.c — the forward pass, read top to bottom (forward_batch at the
** end): embed the tokens, then per layer RMSNorm -> Q, K, V -> RoPE ->
** attention over the KV cache -> output -> residual, RMSNorm -> gated
** feed-forward -> residual; then the final norm and the classifier. What
** an architecture adds to llama's graph (gemma's embedding scale, GeGLU,
** post-norms, soft-caps, sliding windows; qwen's biases and head norms)
** is a named feature of l4lm_hparams tested where it applies.
**
** Tokens go through in batches of up to n_batch: every weight row is
** loaded once per batch rather than once per token (prefill becomes a
** matrix-matrix product). Each output element is still one dot product in
** a fixed order, so a batch gives bit-for-bit the logits of one-at-a-time.
** batch.c shares each step among threads by tokens, rows or heads.
*/
#include "session.h"

/* ------------------------------------------------------- building blocks */

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

/* x becomes c tanh(x / c), in ggml's order (x times 1/c first). */
static void softcap(float *x, uint32_t n, float c)
{
    float inv = 1.0f / c;
    for (uint32_t i = 0; i < n; i++)
        x[i] = l4lm_tanhf(x[i] * inv) * c;
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
    if (!b)
        return;
    for (uint32_t i = 0; i < bias->n_in; i++)
        y[i] += b[i];
}

/* qk_norm: each head of q or k normalised on its own, when the layer has the weights. */
static void head_norm(const l4lm_session *s, float *vec, const l4lm_mat *w, uint32_t n_heads)
{
    uint32_t d = s->hp.head_dim;
    if (!w->data)
        return;
    for (uint32_t h = 0; h < n_heads; h++)
        l4lm_rmsnorm(vec + h * d, vec + h * d, w, d, s->hp.rms_eps);
}

/* ------------------------------------------------------------- RoPE */

/* cos/sin of pos * inv_freq[i] for every token of the batch, for each RoPE
** set (a second one for sliding-window layers, see session.h). */
static void rope_angles(l4lm_session *s, uint32_t pos, uint32_t n_b)
{
    uint32_t half = s->hp.head_dim / 2, n_sets = s->hp.n_swa ? 2 : 1;
    for (uint32_t set = 0; set < n_sets; set++) {
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

/* ------------------------------------------------- the cache's rotation */

/* A quantised cache holds k and v times an orthonormal Walsh-Hadamard
** matrix, as llama.cpp's does (PR 21038, "attention rotation"): the
** rotation spreads an outlier over its block, so Q8_0 rounds the rest less
** coarsely. q gets k's rotation, which leaves the scores q.k as they were
** (H^T H = I), and the attention output is rotated back by v's (H H = I).
** llama.cpp rotates when head_dim % 64 == 0: q and k in chunks of the
** largest power of two >= 64 dividing head_dim, v and the output in chunks
** of 64; 0 here means no rotation. */
static uint32_t rot_k(const l4lm_session *s)
{
    uint32_t d = s->hp.head_dim, n = 64;
    if (s->kv_type != L4LM_KV_Q8_0 || d % 64)
        return 0;
    while (d % (2 * n) == 0)
        n *= 2;
    return n;
}

static uint32_t rot_v(const l4lm_session *s)
{
    return rot_k(s) ? 64 : 0;
}

/* x (len floats) times the n x n Walsh-Hadamard matrix / sqrt(n), chunk
** after chunk, in ggml's order (its CPU fwht): every x times 1/sqrt(n)
** first, then the butterflies u + v, u - v of widths 1, 2, 4, ... */
static void hadamard(float *x, uint32_t len, uint32_t n)
{
    if (n == 0)
        return;
    float scale = 1.0f / l4lm_sqrtf((float)n);
    for (uint32_t i = 0; i < len; i++)
        x[i] *= scale;
    for (uint32_t c = 0; c + n <= len; c += n)
        for (uint32_t w = 1; w < n; w <<= 1)
            for (uint32_t i = c; i < c + n; i += 2 * w)
                for (uint32_t j = i; j < i + w; j++) {
                    float u = x[j], v = x[j + w];
                    x[j] = u + v;
                    x[j + w] = u - v;
                }
}

/* ------------------------------------------------------------- KV cache */

static uint64_t cache_index(const l4lm_session *s, uint32_t layer, uint32_t pos)
{
    uint64_t kv_dim = (uint64_t)s->hp.n_head_kv * s->hp.head_dim;
    return ((uint64_t)layer * s->n_ctx + pos) * kv_dim;
}

/* Bytes before element at of a cache (at is a whole block into a Q8_0 one:
** rows and heads start on blocks, as head_dim % 32 == 0 there). */
static uint64_t cache_bytes(const l4lm_session *s, uint64_t at)
{
    switch (s->kv_type) {
    case L4LM_KV_Q8_0:
        return at / 32 * 34;
    case L4LM_KV_F16:
        return at * 2;
    default:
        return at * 4;
    }
}

static void *cache_at(const l4lm_session *s, void *cache, uint64_t at)
{
    return (uint8_t *)cache + cache_bytes(s, at);
}

/* The kernels' type for the cache's elements. */
static uint32_t cache_type(const l4lm_session *s)
{
    return s->kv_type == L4LM_KV_Q8_0  ? L4LM_TYPE_Q8_0
           : s->kv_type == L4LM_KV_F16 ? L4LM_TYPE_F16
                                       : L4LM_TYPE_F32;
}

/* n floats into the cache at element at, rounded to its type (an F16
** cache leaves src rounded too: the kernels' SIMD rounding works in place). */
static void cache_store(l4lm_session *s, void *cache, uint64_t at, float *src, uint32_t n)
{
    if (s->kv_type == L4LM_KV_Q8_0)
        l4lm_quantize_q8_0(s->kern, src, n, cache_at(s, cache, at));
    else if (s->kv_type == L4LM_KV_F16)
        l4lm_round_f16(s->kern, src, n, src, (uint16_t *)cache + at);
    else
        __builtin_memcpy((float *)cache + at, src, n * sizeof(float));
}

/* ------------------------------------------------------------ attention */

/* The layer and positions the attention steps of a batch work on. */
typedef struct attn_job {
    l4lm_session *s;
    const l4lm_layer *L;
    uint32_t layer, pos, n_b;
    bool local; /* a sliding-window layer */
} attn_job;

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
        float *q = s->q + b * q_dim, *k = s->k + b * kv_dim, *v = s->v + b * kv_dim;
        add_bias(q, &L->bq);
        add_bias(k, &L->bk);
        add_bias(v, &L->bv);
        head_norm(s, q, &L->q_norm, hp->n_head);
        head_norm(s, k, &L->k_norm, hp->n_head_kv);
        rope(s, q, hp->n_head, b, j->local);
        rope(s, k, hp->n_head_kv, b, j->local);
        if (hp->q_scale != 0.0f) /* after RoPE, as llama.cpp */
            for (uint32_t i = 0; i < q_dim; i++)
                q[i] *= hp->q_scale;
        hadamard(q, q_dim, rot_k(s));
        hadamard(k, kv_dim, rot_k(s));
        hadamard(v, kv_dim, rot_v(s));
        cache_store(s, s->k_cache, cache_index(s, j->layer, j->pos + b), k, kv_dim);
        cache_store(s, s->v_cache, cache_index(s, j->layer, j->pos + b), v, kv_dim);
    }
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
    /* with q_scale, q was scaled instead */
    float scale = hp->q_scale != 0.0f ? 1.0f : 1.0f / l4lm_sqrtf((float)d);
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
        if (s->kv_type == L4LM_KV_Q8_0) { /* q meets Q8_0 keys as Q8_0, as in ggml */
            uint8_t *qa = s->kq_act + (size_t)h * s->kq_act_stride;
            l4lm_act_prepare(s->kern, L4LM_TYPE_Q8_0, q, d, qa);
            q = (const float *)(const void *)qa;
        }
        l4lm_vec_dots(s->kern, cache_type(s), cache_at(s, s->k_cache, at), kv_dim, q, d, n_pos,
                      att + first);
        for (uint32_t t = first; t <= last; t++)
            att[t] *= scale;
        if (hp->attn_softcap > 0.0f)
            softcap(att + first, n_pos, hp->attn_softcap);
        softmax(s->kern, att + first, n_pos);
        l4lm_vec_wsum(s->kern, cache_type(s), cache_at(s, s->v_cache, at), kv_dim, att + first,
                      n_pos, s->xb + (size_t)b * q_dim + h * d, d);
        hadamard(s->xb + (size_t)b * q_dim + h * d, d, rot_v(s)); /* back from v's rotation */
    }
}

/* x += attention(RMSNorm(x)) for the batch, at layer l. */
static void attention(l4lm_session *s, uint32_t l, uint32_t pos, uint32_t n_b)
{
    const l4lm_hparams *hp = &s->hp;
    const l4lm_layer *L = &s->layers[l];
    uint32_t e = hp->n_embd, kv_dim = hp->n_head_kv * hp->head_dim;
    uint32_t q_dim = hp->n_head * hp->head_dim; /* may differ from n_embd (qwen3) */
    attn_job j = {s, L, l, pos, n_b, is_local(hp, l)};
    l4lm_batch_norm(s, s->xb, s->x, &L->attn_norm, n_b);
    l4lm_batch_matmul(s, &L->wq, s->xb, e, s->q, q_dim, n_b, false);
    l4lm_batch_matmul(s, &L->wk, s->xb, e, s->k, kv_dim, n_b, true);
    l4lm_batch_matmul(s, &L->wv, s->xb, e, s->v, kv_dim, n_b, true);
    l4lm_batch_split(s, (uint64_t)n_b * (q_dim + 2 * kv_dim), n_b, qkv_rows, &j);
    l4lm_batch_tasks(s, (uint64_t)(pos + n_b) * n_b * hp->n_head * hp->head_dim, hp->n_head,
                     attention_head, &j);
    l4lm_batch_matmul(s, &L->wo, s->xb, q_dim, s->xb2, e, n_b, false);
    if (hp->post_norms)
        l4lm_batch_norm(s, s->xb2, s->xb2, &L->attn_post_norm, n_b);
    add_residual(s, s->xb2, n_b);
}

/* ------------------------------------------------------------ feed-forward */

/* hb = act(hb) * hb2 over elements i0..i1-1: SiLU (SwiGLU) or GELU (GeGLU). */
static void glu(void *arg, uint32_t i0, uint32_t i1)
{
    l4lm_session *s = arg;
    if (s->hp.ffn_act == L4LM_FFN_GELU) {
        for (uint32_t i = i0; i < i1; i++)
            s->hb[i] = l4lm_gelu(s->hb[i]) * s->hb2[i];
    } else {
        l4lm_vec_silu_mul(s->kern, s->hb + i0, s->hb2 + i0, i1 - i0);
    }
}

/* x += down(act(gate(RMSNorm(x))) * up(RMSNorm(x))) for the batch. */
static void ffn(l4lm_session *s, const l4lm_layer *L, uint32_t n_b)
{
    const l4lm_hparams *hp = &s->hp;
    uint32_t e = hp->n_embd, f = hp->n_ff;
    l4lm_batch_norm(s, s->xb, s->x, &L->ffn_norm, n_b);
    l4lm_batch_matmul(s, &L->w_gate, s->xb, e, s->hb, f, n_b, false);
    l4lm_batch_matmul(s, &L->w_up, s->xb, e, s->hb2, f, n_b, true);
    l4lm_batch_split(s, (uint64_t)n_b * f, n_b * f, glu, s);
    l4lm_batch_matmul(s, &L->w_down, s->hb, f, s->xb, e, n_b, false);
    if (hp->post_norms)
        l4lm_batch_norm(s, s->xb, s->xb, &L->ffn_post_norm, n_b);
    add_residual(s, s->xb, n_b);
}

/* ------------------------------------------------------------ the pass */

/* x[b] = the embedding row of tokens[b] (times sqrt(n_embd) with embed_scale). */
static void embed(l4lm_session *s, const int32_t *tokens, uint32_t n_b)
{
    const l4lm_mat *t = &s->w.tok_embd;
    uint32_t e = s->hp.n_embd;
    uint64_t row_bytes;
    l4lm_row_bytes(t->type, e, &row_bytes);
    for (uint32_t b = 0; b < n_b; b++)
        l4lm_row_to_f32(t->type, (const uint8_t *)t->data + (uint64_t)tokens[b] * row_bytes,
                        s->x + b * e, e);
    if (s->hp.embed_scale) {
        float scale = l4lm_sqrtf((float)e);
        for (uint32_t i = 0; i < n_b * e; i++)
            s->x[i] *= scale;
    }
}

/* n_b tokens at positions pos..pos+n_b-1; with logits, the logits for the
** last one (a prompt's earlier batches skip the classifier: for a large
** vocabulary it reads as many weights as the layers do). */
static void forward_batch(l4lm_session *s, const int32_t *tokens, uint32_t n_b, bool logits)
{
    const l4lm_hparams *hp = &s->hp;
    uint32_t pos = s->pos, e = hp->n_embd;
    embed(s, tokens, n_b);
    for (uint32_t b = 0; b < n_b; b++)
        s->history[pos + b] = tokens[b];
    rope_angles(s, pos, n_b);
    for (uint32_t l = 0; l < hp->n_layer; l++) {
        attention(s, l, pos, n_b);
        ffn(s, &s->layers[l], n_b);
    }
    s->pos = pos + n_b;
    if (!logits)
        return;
    l4lm_rmsnorm(s->xb, s->x + (n_b - 1) * e, &s->w.out_norm, e, hp->rms_eps);
    l4lm_batch_matmul(s, &s->w.output, s->xb, e, s->logits, hp->n_vocab, 1, false);
    if (hp->final_softcap > 0.0f)
        softcap(s->logits, hp->n_vocab, hp->final_softcap);
}

l4lm_status l4lm_eval(l4lm_session *s, const int32_t *tokens, size_t n, const float **logits)
{
    if (!s || (!tokens && n))
        return L4LM_E_ARG;
    if (s->m->vocab_only)
        return L4LM_E_NO_WEIGHTS;
    for (size_t i = 0; i < n; i++)
        if (tokens[i] < 0 || (uint32_t)tokens[i] >= s->hp.n_vocab)
            return L4LM_E_TOKEN;
    if (n > s->n_ctx - s->pos)
        return L4LM_E_CONTEXT_FULL;
    for (size_t i = 0; i < n; i += s->n_batch) {
        size_t n_b = n - i < s->n_batch ? n - i : s->n_batch;
        forward_batch(s, tokens + i, (uint32_t)n_b, i + n_b == n);
    }
    if (n)
        s->have_logits = true;
    if (logits)
        *logits = s->have_logits ? s->logits : 0;
    return s->have_logits ? L4LM_OK : L4LM_E_STATE;
}

/* ------------------------------------------------------------ context shift */

/* Row t of layer l's keys rotated by the angles in set 0 or 1 of the RoPE
** tables at batch slot 0, through the float scratch s->k. */
static void shift_key(l4lm_session *s, uint32_t l, uint32_t from, uint32_t to)
{
    uint32_t kv_dim = s->hp.n_head_kv * s->hp.head_dim;
    l4lm_row_to_f32(cache_type(s), cache_at(s, s->k_cache, cache_index(s, l, from)), s->k, kv_dim);
    hadamard(s->k, kv_dim, rot_k(s)); /* RoPE on the keys themselves, as llama.cpp */
    rope(s, s->k, s->hp.n_head_kv, 0, is_local(&s->hp, l));
    hadamard(s->k, kv_dim, rot_k(s));
    cache_store(s, s->k_cache, cache_index(s, l, to), s->k, kv_dim);
}

l4lm_status l4lm_session_shift(l4lm_session *s, uint32_t keep, uint32_t n_discard)
{
    if (!s || keep > s->pos || n_discard > s->pos - keep)
        return L4LM_E_ARG;
    uint32_t half = s->hp.head_dim / 2, n_move = s->pos - keep - n_discard;
    uint32_t n_sets = s->hp.n_swa ? 2 : 1;
    /* the angles of position -n_discard, where rope() reads token 0's */
    for (uint32_t set = 0; set < n_sets; set++)
        for (uint32_t i = 0; i < half; i++) {
            size_t at = (size_t)set * s->n_batch * half + i;
            l4lm_sincosf(-(float)n_discard * s->rope_inv_freq[set * half + i], &s->rope_sin[at],
                         &s->rope_cos[at]);
        }
    uint64_t row = cache_bytes(s, (uint64_t)s->hp.n_head_kv * s->hp.head_dim);
    for (uint32_t l = 0; l < s->hp.n_layer && n_discard; l++)
        for (uint32_t t = keep; t < keep + n_move; t++) {
            shift_key(s, l, t + n_discard, t);
            __builtin_memcpy(cache_at(s, s->v_cache, cache_index(s, l, t)),
                             cache_at(s, s->v_cache, cache_index(s, l, t + n_discard)), row);
        }
    __builtin_memmove(s->history + keep, s->history + keep + n_discard, n_move * sizeof(int32_t));
    s->pos -= n_discard;
    return L4LM_OK;
}
