/*
** test_golden.c — stories260K against the llama2.c and llama.cpp goldens in
** ../shared/reference: prompt ids, 200 greedy ids (not stopping at BOS or
** EOS), and the top-5 logits of the first 64 steps, from both the llama2.c
** checkpoint and the GGUF, with F32 and F16 KV caches.
*/
#include "json.h"
#include "l4lm.h"
#include "gguf_write.h"
#include "t.h"
#include <math.h>

#define N_GEN         200
#define N_LOGIT_STEPS 64

typedef struct golden {
    char name[64];
    char *prompt;
    double prompt_ids[64], gen_ids[N_GEN], top5[N_LOGIT_STEPS * 10];
    size_t n_prompt, n_gen, n_top5;
} golden;

static int load_golden(const char *name, golden *g)
{
    char rel[256];
    size_t size;
    snprintf(rel, sizeof rel, "reference/%s.json", name);
    char *text = (char *)t_shared_file(rel, &size);
    if (!text)
        return -1;
    text = realloc(text, size + 1);
    text[size] = 0;
    snprintf(g->name, sizeof g->name, "%s", name);
    g->prompt = json_string(json_key(text, "prompt"));
    const char *ref = json_key(text, "llama2c_fp32");
    g->n_prompt = json_numbers(json_key(ref, "prompt_ids"), g->prompt_ids, 64);
    g->n_gen = json_numbers(json_key(ref, "generated_ids"), g->gen_ids, N_GEN);
    g->n_top5 =
        json_numbers(json_key(ref, "top5_logits_first_64_steps"), g->top5, N_LOGIT_STEPS * 10);
    free(text);
    return g->prompt && g->n_gen == N_GEN && g->n_top5 == N_LOGIT_STEPS * 10 ? 0 : -1;
}

typedef struct runner {
    l4lm_model m;
    unsigned char *bytes, *tok;
    size_t size, tok_size;
    void *index; /* the model's name index */
    const char *label;
} runner;

/* Generate and compare; kv picks the cache type and its logit tolerance. */
static void check_case(runner *r, const golden *g, l4lm_kv_type kv, double tol)
{
    char name[256];
    l4lm_run_opts o = {.n_ctx = 512, .kv_type = kv};
    l4lm_plan_result p;
    l4lm_session *s;
    snprintf(name, sizeof name, "golden %s %s kv=%s", g->name, r->label, kv ? "f16" : "f32");
    if (l4lm_plan(&r->m, &o, &p)) {
        T_FAIL(name, "plan failed");
        return;
    }
    void *arena = aligned_alloc(64, (p.total + 63) / 64 * 64);
    l4lm_status st = l4lm_session_init(&s, &r->m, &o, arena, p.total);
    int32_t ids[600];
    size_t n = 0;
    if (!st)
        st = l4lm_tokenize(s, g->prompt, strlen(g->prompt), L4LM_TOK_BOS, ids, 600, &n);
    int ok = !st && n == g->n_prompt;
    for (size_t i = 0; ok && i < n; i++)
        ok = ids[i] == (int32_t)g->prompt_ids[i];
    if (!ok) {
        T_FAIL(name, "prompt ids differ (status %s, %zu tokens)", l4lm_strerror(st), n);
        free(arena);
        return;
    }
    l4lm_sampler greedy = l4lm_sampler_greedy();
    const float *logits;
    double worst = 0;
    int first_bad = -1;
    st = l4lm_eval(s, ids, n, &logits);
    for (int k = 0; !st && k < N_GEN; k++) {
        int32_t tok;
        for (int j = 0; k < N_LOGIT_STEPS && j < 5; j++) {
            const double *e = &g->top5[(k * 5 + j) * 2];
            double d = fabs(logits[(int)e[0]] - e[1]);
            worst = d > worst ? d : worst;
        }
        st = l4lm_sample(s, &greedy, &tok);
        if (!st && tok != (int32_t)g->gen_ids[k] && first_bad < 0)
            first_bad = k;
        if (!st && k + 1 < N_GEN)
            st = l4lm_eval(s, &tok, 1, &logits);
    }
    if (st)
        T_FAIL(name, "engine failed: %s", l4lm_strerror(st));
    else if (first_bad >= 0)
        T_FAIL(name, "greedy ids differ from step %d", first_bad);
    else if (!(worst <= tol))
        T_FAIL(name, "top-5 logits differ by %.3g > %.3g", worst, tol);
    else
        T_OK(name);
    printf("  %s: 200 ids equal, max |dlogit| over top-5 of 64 steps = %.3g (tolerance %g)\n", name,
           worst, tol);
    free(arena);
}

static unsigned char *aligned_copy(unsigned char *p, size_t n)
{
    unsigned char *a = aligned_alloc(64, (n + 63) / 64 * 64);
    memcpy(a, p, n);
    free(p);
    return a;
}

static int open_runner(runner *r, const char *model, const char *tok)
{
    char rel[256];
    memset(r, 0, sizeof *r);
    r->label = model;
    snprintf(rel, sizeof rel, "models/%s", model);
    r->bytes = t_shared_file(rel, &r->size);
    if (tok) {
        snprintf(rel, sizeof rel, "models/%s", tok);
        r->tok = t_shared_file(rel, &r->tok_size);
    }
    if (!r->bytes || (tok && !r->tok))
        return -1;
    r->bytes = aligned_copy(r->bytes, r->size);
    return t_model_open(&r->m, r->bytes, r->size, r->tok, r->tok_size, &r->index) ? -1 : 0;
}

int main(void)
{
    static const char *cases[] = {"once_upon_a_time", "lily_and_tom", "empty_prompt",
                                  "dog_said_hello"};
    if (!t_shared()) {
        T_SKIP("golden", "../shared (models and reference outputs) is absent");
        return 0;
    }
    runner rs[2];
    if (open_runner(&rs[0], "stories260K.bin", "tok512.bin") ||
        open_runner(&rs[1], "stories260K.gguf", NULL)) {
        T_FAIL("golden open", "cannot open the stories260K models");
        T_EXIT();
    }
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        static golden g;
        if (load_golden(cases[c], &g)) {
            T_FAIL(cases[c], "cannot read the reference file");
            continue;
        }
        for (int r = 0; r < 2; r++) {
            check_case(&rs[r], &g, L4LM_KV_F32, 1e-4);
            check_case(&rs[r], &g, L4LM_KV_F16, 0.05);
        }
        free(g.prompt);
    }
    for (int r = 0; r < 2; r++) {
        free(rs[r].bytes);
        free(rs[r].tok);
        free(rs[r].index);
    }
    T_EXIT();
}
