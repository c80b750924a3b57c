/*
** logprobs.c — log-probabilities of tokens, for the OpenAI API's logprobs
** fields: the log-softmax of the logits of the last evaluation as the model
** produced them (before repetition penalty, temperature, top-k/p and min-p),
** the model's own distribution, which is what OpenAI reports.
**
** log p(i) = (x_i - max) - log(sum_j e^(x_j - max)). Subtracting the maximum
** keeps every exponential in (0, 1], so nothing overflows and the largest
** term is exactly 1; the sum is taken in double in id order, so the result
** is the same on every platform and within a float rounding of the exact
** value. The top-N are found in one pass by insertion into a sorted list of
** at most L4LM_LOGPROBS_MAX_TOP: O(n_vocab * N), no memory.
*/
#include "session.h"

/* Token a ranks before b: the larger logit, then the lower id. */
static bool ranks_before(const float *x, int32_t a, int32_t b)
{
    float xa = x[a], xb = x[b];
    return xa > xb || (xa == xb && a < b);
}

/* Insert token i into top[0, *n) (best first), keeping at most cap. */
static void insert_top(const float *x, l4lm_logprob *top, uint32_t *n, uint32_t cap, int32_t i)
{
    uint32_t k = *n;
    if (k == cap && !ranks_before(x, i, top[k - 1].token))
        return;
    if (k < cap)
        (*n)++;
    else
        k--;
    for (; k > 0 && ranks_before(x, i, top[k - 1].token); k--)
        top[k] = top[k - 1];
    top[k].token = i;
}

l4lm_status l4lm_logprobs(const l4lm_session *s, int32_t token, uint32_t top_n,
                          l4lm_token_logprobs *out)
{
    if (!s || !out || top_n > L4LM_LOGPROBS_MAX_TOP)
        return L4LM_E_ARG;
    if (!s->have_logits)
        return L4LM_E_STATE;
    uint32_t n = s->hp.n_vocab;
    if (token < 0 || (uint32_t)token >= n)
        return L4LM_E_TOKEN;
    const float *x = s->logits;
    float max = x[0];
    for (uint32_t i = 1; i < n; i++)
        max = x[i] > max ? x[i] : max;
    if (!(max - max == 0.0f)) /* NaN or infinite logits have no distribution */
        return L4LM_E_STATE;
    double sum = 0.0;
    out->n_top = 0;
    for (uint32_t i = 0; i < n; i++) {
        sum += (double)l4lm_expf(x[i] - max);
        if (top_n)
            insert_top(x, out->top, &out->n_top, top_n, (int32_t)i);
    }
    if (!(sum >= 1.0)) /* a NaN logit below the maximum */
        return L4LM_E_STATE;
    /* sum is in [1, n_vocab]: its log in float is off by at most half an ulp
    ** of log(n_vocab) (5e-7 below 2^23 tokens), finer than a float logprob
    ** of that size can show anyway */
    double log_sum = (double)l4lm_logf((float)sum);
    out->chosen.token = token;
    out->chosen.logprob = (float)(((double)x[token] - max) - log_sum);
    for (uint32_t k = 0; k < out->n_top; k++)
        out->top[k].logprob = (float)(((double)x[out->top[k].token] - max) - log_sum);
    return L4LM_OK;
}
