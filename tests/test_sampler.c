/*
** test_sampler.c — the sampler against distributions computed here in
** double precision from the same logits: greedy and ties, the repetition
** penalty, top-k, top-p, min-p, temperature frequencies, and seeds.
*/
#include <math.h>

#include "l4lm.h"
#include "gguf_write.h"
#include "t.h"

static l4lm_model model;
static l4lm_session *sess;
static float logits[512];
static int32_t prompt[16];
static size_t n_prompt;

static int setup(void)
{
    size_t size;
    unsigned char *bytes = t_shared_file("models/stories260K.gguf", &size);
    l4lm_run_opts o = {.n_ctx = 64, .kv_type = L4LM_KV_F32};
    l4lm_plan_result p;
    const float *lg;
    static void *index; /* lives as long as model */
    if (!bytes || t_model_open(&model, bytes, size, NULL, 0, &index) || l4lm_plan(&model, &o, &p))
        return -1;
    void *arena = aligned_alloc(64, p.total);
    if (l4lm_session_init(&sess, &model, &o, arena, p.total) ||
        l4lm_tokenize(sess, "Lily and Tom", 12, L4LM_TOK_BOS, prompt, 16, &n_prompt) ||
        l4lm_eval(sess, prompt, n_prompt, &lg))
        return -1;
    memcpy(logits, lg, sizeof logits);
    return 0;
}

/* Probabilities of logits at temperature t, in double. */
static void softmax(const float *x, double t, double *p)
{
    double max = -INFINITY, sum = 0;
    for (int i = 0; i < 512; i++)
        max = x[i] > max ? x[i] : max;
    for (int i = 0; i < 512; i++)
        sum += p[i] = exp((x[i] - max) / t);
    for (int i = 0; i < 512; i++)
        p[i] /= sum;
}

static int32_t sample(const l4lm_sampler *sp)
{
    int32_t tok = -1;
    return l4lm_sample(sess, sp, &tok) ? -1 : tok;
}

static void test_greedy(void)
{
    l4lm_sampler sp = l4lm_sampler_greedy();
    int best = 0;
    for (int i = 1; i < 512; i++)
        best = logits[i] > logits[best] ? i : best;
    T_CHECK("sampler greedy", sample(&sp) == best, "argmax %d", best);
    sp.temperature = 1.0f;
    sp.top_k = 1;
    T_CHECK("sampler top-k 1 is greedy", sample(&sp) == best, "");
    /* the penalty as llama.cpp defines it, applied to the prompt's tokens */
    float pen[512];
    memcpy(pen, logits, sizeof pen);
    for (size_t i = 0; i < n_prompt; i++) {
        int32_t t = prompt[i];
        int dup = 0;
        for (size_t j = 0; j < i; j++)
            dup |= prompt[j] == t;
        if (!dup)
            pen[t] = pen[t] > 0 ? pen[t] / 50.0f : pen[t] * 50.0f;
    }
    int pbest = 0;
    for (int i = 1; i < 512; i++)
        pbest = pen[i] > pen[pbest] ? i : pbest;
    sp = l4lm_sampler_greedy();
    sp.repeat_penalty = 50.0f;
    sp.repeat_last_n = 64;
    T_CHECK("sampler repeat penalty", sample(&sp) == pbest, "expected %d", pbest);
}

/* Draw n samples; fail if any falls outside allowed[], compare frequencies. */
static void frequencies(const char *name, const l4lm_sampler *sp, const double *expect, int n)
{
    static int count[512];
    memset(count, 0, sizeof count);
    for (int i = 0; i < n; i++) {
        int32_t t = sample(sp);
        if (t < 0 || expect[t] == 0) {
            T_FAIL(name, "sampled token %d that has probability 0", t);
            return;
        }
        count[t]++;
    }
    double worst = 0; /* in standard deviations of a binomial count */
    for (int i = 0; i < 512; i++) {
        double mean = n * expect[i], sd = sqrt(n * expect[i] * (1 - expect[i])) + 1.0;
        double z = fabs(count[i] - mean) / sd;
        worst = z > worst ? z : worst;
    }
    T_CHECK(name, worst < 5.0, "a frequency is %.1f sd from its probability", worst);
    printf("  %s: %d draws, largest deviation %.2f sd\n", name, n, worst);
}

/* The candidates top-k/top-p/min-p keep, renormalised at temperature t. */
static void truncated(int k, double top_p, double min_p, double t, double *out)
{
    double p1[512];
    int order[512];
    softmax(logits, 1.0, p1);
    for (int i = 0; i < 512; i++)
        order[i] = i;
    for (int i = 0; i < 512; i++) /* selection sort: plain and obviously right */
        for (int j = i + 1; j < 512; j++)
            if (p1[order[j]] > p1[order[i]] ||
                (p1[order[j]] == p1[order[i]] && order[j] < order[i])) {
                int tmp = order[i];
                order[i] = order[j];
                order[j] = tmp;
            }
    int keep = k > 0 ? k : 512;
    double mass = 0, kmass = 0;
    for (int i = 0; i < keep; i++)
        kmass += p1[order[i]];
    for (int i = 0; i < keep; i++) {
        mass += p1[order[i]] / kmass;
        if (mass >= top_p) {
            keep = i + 1;
            break;
        }
    }
    int m = 1;
    while (m < keep && p1[order[m]] >= min_p * p1[order[0]])
        m++;
    keep = m;
    double sum = 0;
    memset(out, 0, 512 * sizeof *out);
    for (int i = 0; i < keep; i++)
        sum += out[order[i]] = exp(log(p1[order[i]]) / t);
    for (int i = 0; i < keep; i++)
        out[order[i]] /= sum;
}

int main(void)
{
    if (!t_shared()) {
        T_SKIP("sampler", "../shared/models is absent");
        return 0;
    }
    if (setup()) {
        T_FAIL("sampler setup", "cannot run stories260K");
        T_EXIT();
    }
    test_greedy();
    double expect[512];
    l4lm_sampler sp = l4lm_sampler_greedy();
    l4lm_session_seed(sess, 42);
    sp.temperature = 1.0f;
    softmax(logits, 1.0, expect);
    frequencies("sampler temperature 1", &sp, expect, 20000);
    sp.temperature = 1.7f;
    truncated(0, 1.0, 0.0, 1.7, expect);
    frequencies("sampler temperature 1.7", &sp, expect, 20000);
    sp.temperature = 0.8f;
    sp.top_k = 5;
    truncated(5, 1.0, 0.0, 0.8, expect);
    frequencies("sampler top-k 5", &sp, expect, 20000);
    sp.top_k = 0;
    sp.top_p = 0.9f;
    truncated(0, 0.9, 0.0, 0.8, expect);
    frequencies("sampler top-p 0.9", &sp, expect, 20000);
    sp.top_p = 1.0f;
    sp.min_p = 0.05f;
    truncated(0, 1.0, 0.05, 0.8, expect);
    frequencies("sampler min-p 0.05", &sp, expect, 20000);
    /* seeds: the same seed repeats the same draws, another seed differs */
    int32_t a[32], b[32], c[32];
    sp = l4lm_sampler_greedy();
    sp.temperature = 1.5f;
    l4lm_session_seed(sess, 7);
    for (int i = 0; i < 32; i++)
        a[i] = sample(&sp);
    l4lm_session_seed(sess, 7);
    for (int i = 0; i < 32; i++)
        b[i] = sample(&sp);
    l4lm_session_seed(sess, 8);
    for (int i = 0; i < 32; i++)
        c[i] = sample(&sp);
    T_CHECK("sampler same seed", !memcmp(a, b, sizeof a), "draws differ");
    T_CHECK("sampler other seed", memcmp(a, c, sizeof a), "draws equal");
    T_EXIT();
}
