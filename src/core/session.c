/*
** session.c — the arena: l4lm_plan() computes its exact layout from the
** model and options, and l4lm_session_init() carves the same layout out of
** the caller's memory. One function, arena_layout(), serves both so the
** plan can never disagree with what init uses.
*/
#include "session.h"

/* Offsets of every part of the arena; parts are 64-byte aligned. */
typedef struct layout {
    uint64_t layers, unpacked, k_cache, v_cache;
    uint64_t x, xb, xb2, hb, hb2, q, k, v, att, act, kq_act, rope, rope_cos, rope_sin, logits;
    uint32_t n_batch;
    uint64_t cand_id, cand_val, cand_prob, seen, history;
    uint64_t tok, end;
    l4lm_plan_result plan;
} layout;

/* Reserve n bytes at *off; false on overflow. */
static bool take(uint64_t *off, uint64_t *at, uint64_t n)
{
    *at = *off;
    return !l4lm_add_ovf(*off, l4lm_align_up(n, L4LM_ALIGN), off) && *off < ((uint64_t)1 << 56);
}

static bool take_n(uint64_t *off, uint64_t *at, uint64_t count, uint64_t size)
{
    uint64_t n;
    return !l4lm_mul_ovf(count, size, &n) && take(off, at, n);
}

static uint32_t max_u32(uint32_t a, uint32_t b)
{
    return a > b ? a : b;
}

/* The attention output of one token: n_head heads of head_dim (qwen3 and
** gemma have n_head * head_dim != n_embd). */
static uint32_t q_dim(const l4lm_hparams *hp)
{
    return hp->n_head * hp->head_dim;
}

/* The largest prepared-activation buffer any matrix of the model needs. */
static uint64_t act_size(const l4lm_model *m)
{
    uint64_t most = 0;
    for (uint32_t t = 0; t < L4LM_TYPE_COUNT; t++) {
        if (!l4lm_type_info(t))
            continue;
        uint32_t n = max_u32(max_u32(m->hp.n_embd, m->hp.n_ff), q_dim(&m->hp));
        uint64_t a = l4lm_act_bytes(t, n);
        most = a > most ? a : most;
    }
    return most;
}

/* A vocabulary-only model's session: the session and the tokenizer; n_ctx
** (default L4LM_VOCAB_CTX) only bounds the prompt text. */
#define L4LM_VOCAB_CTX 4096
static l4lm_status vocab_layout(const l4lm_model *m, const l4lm_run_opts *o, layout *lo)
{
    uint32_t n_ctx = o->n_ctx ? o->n_ctx : L4LM_VOCAB_CTX;
    uint64_t max_text = o->max_prompt_bytes ? o->max_prompt_bytes : 16 * (uint64_t)n_ctx, off = 0;
    if (n_ctx > L4LM_MAX_CTX)
        return L4LM_E_LIMIT;
    bool ok = take(&off, &lo->tok, sizeof(l4lm_session));
    lo->plan.session = lo->tok = off;
    ok = ok && take(&off, &lo->tok, l4lm_tok_arena_bytes(&m->vocab, max_text));
    if (!ok || off > (uint64_t)SIZE_MAX)
        return L4LM_E_OVERFLOW;
    lo->plan.tokenizer = off - lo->tok;
    lo->end = lo->plan.total = off;
    lo->plan.n_ctx = n_ctx;
    return L4LM_OK;
}

static l4lm_status arena_layout(const l4lm_model *m, const l4lm_run_opts *o, layout *lo)
{
    const l4lm_hparams *hp = &m->hp;
    __builtin_memset(lo, 0, sizeof *lo);
    if (m->vocab_only)
        return vocab_layout(m, o, lo);
    uint32_t n_ctx = o->n_ctx ? o->n_ctx : hp->n_ctx_train;
    if (n_ctx == 0 || n_ctx > L4LM_MAX_CTX)
        return L4LM_E_LIMIT;
    bool q8 = o->kv_type == L4LM_KV_Q8_0; /* llama.cpp's rule: whole blocks per head */
    if ((o->kv_type != L4LM_KV_F32 && o->kv_type != L4LM_KV_F16 && !q8) ||
        (q8 && hp->head_dim % 32) || o->n_batch > L4LM_MAX_BATCH)
        return L4LM_E_ARG;
    lo->n_batch = o->n_batch ? o->n_batch : L4LM_DEFAULT_BATCH;
    lo->n_batch = lo->n_batch < n_ctx ? lo->n_batch : n_ctx;
    uint64_t max_text = o->max_prompt_bytes ? o->max_prompt_bytes : 16 * (uint64_t)n_ctx;
    uint64_t kv_dim = (uint64_t)hp->n_head_kv * hp->head_dim;
    uint64_t kv_elem = o->kv_type == L4LM_KV_F16 ? 2 : 4, cache_cells, off = 0, mark;
    uint64_t kq_act = q8 ? l4lm_act_bytes(L4LM_TYPE_Q8_0, hp->head_dim) : 0;
    bool ok = take(&off, &mark, sizeof(l4lm_session)) &&
              take_n(&off, &lo->layers, hp->n_layer, sizeof(l4lm_layer));
    lo->plan.session = off;
    ok = ok && take(&off, &lo->unpacked, l4lm_l2c_unpacked_bytes(m));
    lo->plan.weights = off - lo->plan.session;
    mark = off;
    ok = ok && !l4lm_mul_ovf((uint64_t)hp->n_layer * n_ctx, kv_dim, &cache_cells) &&
         (q8 ? take_n(&off, &lo->k_cache, cache_cells / 32, 34) &&
                   take_n(&off, &lo->v_cache, cache_cells / 32, 34)
             : take_n(&off, &lo->k_cache, cache_cells, kv_elem) &&
                   take_n(&off, &lo->v_cache, cache_cells, kv_elem));
    lo->plan.kv_cache = off - mark;
    mark = off;
    uint64_t nb = lo->n_batch, e = nb * hp->n_embd, f = nb * hp->n_ff, half = hp->head_dim / 2;
    half *= hp->n_swa ? 2 : 1;   /* the sliding-window layers' RoPE tables follow */
    uint64_t q = nb * q_dim(hp); /* xb also holds the attention output */
    ok = ok && take_n(&off, &lo->x, e, 4) && take_n(&off, &lo->xb, e > q ? e : q, 4) &&
         take_n(&off, &lo->xb2, e, 4) && take_n(&off, &lo->hb, f, 4) &&
         take_n(&off, &lo->hb2, f, 4) && take_n(&off, &lo->q, q, 4) &&
         take_n(&off, &lo->k, nb * kv_dim, 4) && take_n(&off, &lo->v, nb * kv_dim, 4) &&
         take_n(&off, &lo->att, (uint64_t)hp->n_head * n_ctx, 4) &&
         take_n(&off, &lo->act, nb, act_size(m)) && take_n(&off, &lo->kq_act, hp->n_head, kq_act) &&
         take_n(&off, &lo->rope, half, 4) && take_n(&off, &lo->rope_cos, nb * half, 4) &&
         take_n(&off, &lo->rope_sin, nb * half, 4) && take_n(&off, &lo->logits, hp->n_vocab, 4);
    lo->plan.activations = off - mark;
    mark = off;
    ok = ok && take_n(&off, &lo->cand_id, hp->n_vocab, 4) &&
         take_n(&off, &lo->cand_val, hp->n_vocab, 4) &&
         take_n(&off, &lo->cand_prob, hp->n_vocab, 4) &&
         take(&off, &lo->seen, (hp->n_vocab + 7) / 8) && take_n(&off, &lo->history, n_ctx, 4);
    lo->plan.scratch = off - mark;
    lo->tok = off;
    ok = ok && take(&off, &mark, l4lm_tok_arena_bytes(&m->vocab, max_text));
    lo->plan.tokenizer = off - lo->tok;
    if (!ok || off > (uint64_t)SIZE_MAX)
        return L4LM_E_OVERFLOW;
    lo->end = off;
    lo->plan.total = off;
    lo->plan.n_ctx = n_ctx;
    lo->plan.state = l4lm_state_max(hp, n_ctx, o->kv_type);
    lo->plan.ctx_beyond_training = n_ctx > hp->n_ctx_train;
    return L4LM_OK;
}

l4lm_status l4lm_plan(const l4lm_model *m, const l4lm_run_opts *o, l4lm_plan_result *p)
{
    if (!m || !o || !p || !m->format)
        return L4LM_E_ARG;
    layout lo;
    l4lm_status st = arena_layout(m, o, &lo);
    if (!st)
        *p = lo.plan;
    return st;
}

/* RoPE inverse frequencies base^(-2i/d), computed once per session; each
** divided by its rope_freqs factor (Llama 3) and scaled linearly. */
static void rope_freqs(const l4lm_session *s, float *inv_freq, float base, float scale,
                       const float *factor)
{
    uint32_t half = s->hp.head_dim / 2;
    for (uint32_t i = 0; i < half; i++) {
        float f = 1.0f / l4lm_powf(base, (float)(2 * i) / (float)s->hp.head_dim);
        inv_freq[i] = (factor ? f / factor[i] : f) * scale;
    }
}

/* The BF16 matrices the session's kernels may dot with vdpbf16ps
** (kernels.h): each scanned once here, when its kernels have it. */
static void mark_weights(l4lm_session *s)
{
    l4lm_kern_mark(s->kern, &s->w.output);
    for (uint32_t l = 0; l < s->hp.n_layer; l++) {
        l4lm_layer *y = &s->layers[l];
        l4lm_mat *m[7] = {&y->wq, &y->wk, &y->wv, &y->wo, &y->w_gate, &y->w_up, &y->w_down};
        for (size_t i = 0; i < 7; i++)
            l4lm_kern_mark(s->kern, m[i]);
    }
}

/* Set 0 for every layer; set 1 for the sliding-window layers (gemma2/3). */
static void rope_init(l4lm_session *s)
{
    const l4lm_hparams *hp = &s->hp;
    rope_freqs(s, s->rope_inv_freq, hp->rope_base, hp->rope_freq_scale, s->w.rope_freqs.data);
    if (hp->n_swa)
        rope_freqs(s, s->rope_inv_freq + hp->head_dim / 2, hp->rope_base_swa,
                   hp->rope_freq_scale_swa, 0);
}

l4lm_status l4lm_session_init(l4lm_session **out, const l4lm_model *m, const l4lm_run_opts *o,
                              void *arena, size_t arena_size)
{
    if (!out || !m || !o || !arena || !m->format || ((uintptr_t)arena & (L4LM_ALIGN - 1)))
        return L4LM_E_ARG;
    layout lo;
    l4lm_status st = arena_layout(m, o, &lo);
    if (st)
        return st;
    if (arena_size < lo.end)
        return L4LM_E_ARENA;
    uint8_t *a = arena;
    l4lm_session *s = arena;
    __builtin_memset(s, 0, sizeof *s);
    s->m = m;
    s->hp = m->hp;
    s->n_ctx = lo.plan.n_ctx;
    s->kv_type = o->kv_type;
    s->kern = l4lm_kern_pick(o->simd, o->hwcap, 0);
    s->parallel_for = o->parallel_for;
    s->parallel_ctx = o->parallel_ctx;
    s->n_threads = o->parallel_for && o->n_threads ? o->n_threads : 1;
    uint64_t max_text = o->max_prompt_bytes ? o->max_prompt_bytes : 16 * (uint64_t)s->n_ctx;
    if (m->vocab_only) { /* nothing but the tokenizer */
        st = l4lm_tok_init(&s->tok, &m->vocab, a + lo.tok, lo.end - lo.tok, max_text);
        *out = st ? 0 : s;
        return st;
    }
    s->layers = (l4lm_layer *)(a + lo.layers);
    const void *unpacked = lo.plan.weights ? a + lo.unpacked : 0;
    if (unpacked)
        l4lm_l2c_unpack(m, (float *)(a + lo.unpacked));
    st = l4lm_model_weights(m, &s->w, s->layers, unpacked, 0);
    if (st)
        return st;
    mark_weights(s);
    s->k_cache = a + lo.k_cache;
    s->v_cache = a + lo.v_cache;
    s->x = (float *)(a + lo.x);
    s->xb = (float *)(a + lo.xb);
    s->xb2 = (float *)(a + lo.xb2);
    s->hb = (float *)(a + lo.hb);
    s->hb2 = (float *)(a + lo.hb2);
    s->q = (float *)(a + lo.q);
    s->k = (float *)(a + lo.k);
    s->v = (float *)(a + lo.v);
    s->att = (float *)(a + lo.att);
    s->act = a + lo.act;
    s->kq_act = a + lo.kq_act;
    s->kq_act_stride = (size_t)l4lm_act_bytes(L4LM_TYPE_Q8_0, s->hp.head_dim);
    s->rope_inv_freq = (float *)(a + lo.rope);
    s->rope_cos = (float *)(a + lo.rope_cos);
    s->rope_sin = (float *)(a + lo.rope_sin);
    s->n_batch = lo.n_batch;
    s->logits = (float *)(a + lo.logits);
    s->cand_id = (uint32_t *)(a + lo.cand_id);
    s->cand_val = (float *)(a + lo.cand_val);
    s->cand_prob = (float *)(a + lo.cand_prob);
    s->seen = a + lo.seen;
    s->history = (int32_t *)(a + lo.history);
    st = l4lm_tok_init(&s->tok, &m->vocab, a + lo.tok, lo.end - lo.tok, max_text);
    if (st)
        return st;
    __builtin_memset(s->seen, 0, (s->hp.n_vocab + 7) / 8);
    rope_init(s);
    l4lm_session_seed(s, 0);
    *out = s;
    return L4LM_OK;
}

void l4lm_session_reset(l4lm_session *s)
{
    s->pos = 0;
    s->have_logits = false;
}

uint32_t l4lm_session_pos(const l4lm_session *s)
{
    return s->pos;
}

uint32_t l4lm_session_n_ctx(const l4lm_session *s)
{
    return s->n_ctx;
}

const l4lm_model *l4lm_session_model(const l4lm_session *s)
{
    return s->m;
}

const l4lm_tok *l4lm_session_tok(const l4lm_session *s)
{
    return s->tok;
}

l4lm_status l4lm_tokenize(l4lm_session *s, const char *text, size_t len, uint32_t flags,
                          int32_t *out, size_t cap, size_t *n_out)
{
    if (!s || (!text && len) || !out || !n_out)
        return L4LM_E_ARG;
    return l4lm_tok_encode(s->tok, text ? text : "", len, flags, out, cap, n_out);
}
