/*
** sampler.c — picks the next token from the logits. Greedy, or the chain
** llama.cpp uses: repetition penalty -> top-k -> top-p -> min-p ->
** temperature -> a draw from a seeded PRNG. Everything is in a fixed order
** with our own math, so a seed gives the same tokens on every platform.
*/
#include "session.h"

l4lm_sampler l4lm_sampler_greedy(void)
{
    l4lm_sampler sp = {0.0f, 0, 1.0f, 0.0f, 1.0f, 64, 0};
    return sp;
}

/* splitmix64: tiny, good enough and identical everywhere. */
static uint64_t rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void l4lm_session_seed(l4lm_session *s, uint64_t seed)
{
    s->rng = seed;
    s->rng_fresh = true;
}

/* The first largest of x: strict, so the lowest id wins ties and nothing
** beats a NaN. A run of 16 is scanned only when one of them beats the best
** so far (rare after the first few): the test of the whole run has no
** chain from one element to the next, where the scan has (1.8% of a
** 4-layer Q4_0 model's decode step went to one reloading x[best] over
** 32000 logits). */
static uint32_t argmax(const float *x, uint32_t n)
{
    uint32_t best = 0;
    float top = n ? x[0] : 0.0f;
    for (uint32_t i = 1; i < n;) {
        uint32_t end = n - i > 16 ? i + 16 : n;
        int above = 0;
        for (uint32_t j = i; j < end; j++)
            above |= x[j] > top;
        for (uint32_t j = i; above && j < end; j++)
            if (x[j] > top) {
                top = x[j];
                best = j;
            }
        i = end;
    }
    return best;
}

/* llama.cpp's penalty: divide positive logits, multiply negative ones, once per token. */
static void repeat_penalty(l4lm_session *s, const l4lm_sampler *sp)
{
    uint32_t n = sp->repeat_last_n < 0 ? s->pos : (uint32_t)sp->repeat_last_n;
    uint32_t from = n < s->pos ? s->pos - n : 0;
    for (uint32_t i = from; i < s->pos; i++) {
        uint32_t t = (uint32_t)s->history[i];
        if (s->seen[t / 8] & (1u << (t % 8)))
            continue;
        s->seen[t / 8] |= (uint8_t)(1u << (t % 8));
        float *v = &s->cand_val[t];
        *v = *v > 0 ? *v / sp->repeat_penalty : *v * sp->repeat_penalty;
    }
    for (uint32_t i = from; i < s->pos; i++) /* leave the marks zero for next time */
        s->seen[(uint32_t)s->history[i] / 8] = 0;
}

/* Candidate a ranks before b: higher value, then lower id. */
static bool before(const l4lm_session *s, uint32_t a, uint32_t b)
{
    float va = s->cand_val[a], vb = s->cand_val[b];
    return va > vb || (va == vb && a < b);
}

/* A heap of candidate ids that keeps the worst one at its root. */
static void sift_down(const l4lm_session *s, uint32_t *ids, uint32_t root, uint32_t n)
{
    for (;;) {
        uint32_t child = 2 * root + 1;
        if (child >= n)
            return;
        if (child + 1 < n && before(s, ids[child], ids[child + 1]))
            child++;
        if (!before(s, ids[root], ids[child]))
            return;
        uint32_t t = ids[root];
        ids[root] = ids[child];
        ids[child] = t;
        root = child;
    }
}

/* The best k of the n candidates ids[0..n), best first, into ids[0..k). The
** heap holds the best k seen so far with the worst at the root; popping the
** worst to the end then sorts them. O(n log k), no recursion, no memory. */
static void top_candidates(const l4lm_session *s, uint32_t *ids, uint32_t n, uint32_t k)
{
    for (uint32_t i = k / 2; i-- > 0;)
        sift_down(s, ids, i, k);
    for (uint32_t i = k; i < n; i++)
        if (before(s, ids[i], ids[0])) {
            ids[0] = ids[i];
            sift_down(s, ids, 0, k);
        }
    for (uint32_t end = k; end-- > 1;) {
        uint32_t t = ids[0];
        ids[0] = ids[end];
        ids[end] = t;
        sift_down(s, ids, 0, end);
    }
}

/* Probabilities of the first n sorted candidates at temperature t, into p. */
static double softmax_sorted(const l4lm_session *s, const uint32_t *ids, uint32_t n, float t,
                             float *p)
{
    float max = s->cand_val[ids[0]];
    double sum = 0.0;
    for (uint32_t i = 0; i < n; i++) {
        p[i] = l4lm_expf((s->cand_val[ids[i]] - max) / t);
        sum += p[i];
    }
    return sum;
}

/* How many sorted candidates survive top-p and min-p (at temperature 1). */
static uint32_t nucleus(const l4lm_session *s, const l4lm_sampler *sp, uint32_t n, float *p)
{
    double sum = softmax_sorted(s, s->cand_id, n, 1.0f, p);
    uint32_t keep = n;
    if (sp->top_p < 1.0f) {
        double acc = 0.0;
        for (uint32_t i = 0; i < n; i++) {
            acc += p[i] / sum;
            if (acc >= sp->top_p) {
                keep = i + 1;
                break;
            }
        }
    }
    if (sp->min_p > 0.0f) {
        uint32_t i = 1; /* p[0] is the largest: min-p is relative to it */
        while (i < keep && p[i] >= sp->min_p * p[0])
            i++;
        keep = i;
    }
    return keep;
}

static uint32_t draw(l4lm_session *s, const l4lm_sampler *sp, uint32_t n)
{
    float *prob = s->cand_prob;
    n = nucleus(s, sp, n, prob);
    double sum = softmax_sorted(s, s->cand_id, n, sp->temperature, prob);
    /* 53 random bits -> a double in [0, 1) scaled to the mass */
    double r = (double)(rng_next(&s->rng) >> 11) * (1.0 / 9007199254740992.0) * sum, acc = 0.0;
    for (uint32_t i = 0; i < n; i++) {
        acc += prob[i];
        if (r < acc)
            return s->cand_id[i];
    }
    return s->cand_id[n - 1];
}

static bool allowed(const uint8_t *allow, uint32_t i)
{
    return !allow || (allow[i / 8] >> (i % 8) & 1);
}

/* The candidates: every id, or only those allow has (a grammar's mask). */
static uint32_t candidates(l4lm_session *s, const uint8_t *allow, uint32_t n)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++)
        if (allowed(allow, i))
            s->cand_id[k++] = i;
    return k;
}

static l4lm_status sample(l4lm_session *s, const l4lm_sampler *sp, const uint8_t *allow,
                          int32_t *token)
{
    if (!s || !sp || !token)
        return L4LM_E_ARG;
    if (!s->have_logits)
        return L4LM_E_STATE;
    if (!(sp->repeat_penalty > 0.0f) || !(sp->top_p > 0.0f) || !(sp->min_p < 1.0f) ||
        sp->temperature != sp->temperature)
        return L4LM_E_ARG;
    if (s->rng_fresh) { /* the sampler's seed takes effect at the first sample */
        if (sp->seed)
            s->rng = sp->seed;
        s->rng_fresh = false;
    }
    uint32_t n = s->hp.n_vocab;
    __builtin_memcpy(s->cand_val, s->logits, n * sizeof(float));
    if (sp->repeat_penalty != 1.0f)
        repeat_penalty(s, sp);
    if (sp->temperature <= 0.0f && !allow) {
        *token = (int32_t)argmax(s->cand_val, n);
        return L4LM_OK;
    }
    n = candidates(s, allow, n);
    if (n == 0)
        return L4LM_E_ARG;
    if (sp->temperature <= 0.0f) { /* cand_id is in id order: the lowest id wins ties */
        uint32_t best = s->cand_id[0];
        for (uint32_t i = 1; i < n; i++)
            if (s->cand_val[s->cand_id[i]] > s->cand_val[best])
                best = s->cand_id[i];
        *token = (int32_t)best;
        return L4LM_OK;
    }
    uint32_t k = sp->top_k > 0 && (uint32_t)sp->top_k < n ? (uint32_t)sp->top_k : n;
    top_candidates(s, s->cand_id, n, k);
    n = k;
    *token = (int32_t)draw(s, sp, n);
    return L4LM_OK;
}

l4lm_status l4lm_sample(l4lm_session *s, const l4lm_sampler *sp, int32_t *token)
{
    return sample(s, sp, 0, token);
}

l4lm_status l4lm_sample_masked(l4lm_session *s, const l4lm_sampler *sp, const uint8_t *allow,
                               int32_t *token)
{
    return allow ? sample(s, sp, allow, token) : L4LM_E_ARG;
}
