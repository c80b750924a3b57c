/*
** test_determinism.c — results must not depend on how work is split: the
** logits are bit-for-bit the same whatever the batch size (prefill as one
** matrix product or token by token) and the thread count. Two models:
** stories260K, and a wider random Q8_0 model from build/tools/mkgguf whose
** matrices and attention are big enough for the core to use the threads.
*/
#include "l4lm.h"
#include "posix.h"
#include "gguf_write.h"
#include "t.h"

#define STEPS 40

/* Prompt + STEPS greedy tokens; all logits of every step into out. */
static int run(const l4lm_model *m, uint32_t n_batch, uint32_t threads, float *out)
{
    l4lm_pool *pool = threads > 1 ? l4lm_pool_start(threads) : NULL;
    l4lm_run_opts o = {.n_ctx = 512, .kv_type = L4LM_KV_F32, .n_batch = n_batch};
    if (pool) {
        o.parallel_for = l4lm_pool_parallel_for;
        o.parallel_ctx = pool;
        o.n_threads = threads;
    }
    l4lm_plan_result p;
    l4lm_session *s;
    int32_t ids[64];
    size_t n;
    const float *logits;
    const char *text = "Once upon a time, Lily and Tom went to the park to play ball.";
    int rc = -1;
    if (l4lm_plan(m, &o, &p))
        return -1;
    void *arena = aligned_alloc(64, p.total);
    l4lm_sampler greedy = l4lm_sampler_greedy();
    if (!l4lm_session_init(&s, m, &o, arena, p.total) &&
        !l4lm_tokenize(s, text, strlen(text), L4LM_TOK_BOS, ids, 64, &n) &&
        !l4lm_eval(s, ids, n, &logits)) {
        rc = 0;
        for (int k = 0; k < STEPS && !rc; k++) {
            int32_t tok;
            memcpy(out + (size_t)k * t_n_vocab(m), logits, t_n_vocab(m) * sizeof(float));
            rc = l4lm_sample(s, &greedy, &tok) || l4lm_eval(s, &tok, 1, &logits);
        }
    }
    free(arena);
    l4lm_pool_stop(pool);
    return rc;
}

/* Every split against batch 1, thread 1 on one model. */
static void check_model(const char *label, const l4lm_model *m)
{
    static const uint32_t configs[][2] = {{32, 2}, {7, 1}, {7, 3}, {512, 2}, {1, 2}};
    size_t n = (size_t)STEPS * t_n_vocab(m);
    float *ref = malloc(n * sizeof(float)), *got = malloc(n * sizeof(float));
    char name[128];
    if (run(m, 1, 1, ref)) {
        snprintf(name, sizeof name, "determinism %s", label);
        T_FAIL(name, "the one-token, one-thread run failed");
    }
    for (size_t c = 0; c < sizeof configs / sizeof *configs; c++) {
        snprintf(name, sizeof name, "determinism %s batch %u threads %u", label, configs[c][0],
                 configs[c][1]);
        int rc = run(m, configs[c][0], configs[c][1], got);
        T_CHECK(name, !rc && !memcmp(ref, got, n * sizeof(float)),
                "logits differ from batch 1 thread 1 (rc %d)", rc);
    }
    free(ref);
    free(got);
}

int main(void)
{
    size_t size;
    l4lm_model m;
    unsigned char *bytes;
    void *index = NULL;
    const char *wide = "/tmp/l4lm-determinism.gguf";
    if (system("build/tools/mkgguf -o /tmp/l4lm-determinism.gguf --type q8_0 --n-embd 512 "
               "--n-ff 1024 --n-layer 2 --n-head 8 --n-head-kv 4 --n-vocab 1000 --ctx 512 "
               "--untied --seed 5") != 0 ||
        !(bytes = t_read_file(wide, &size)) || t_model_open(&m, bytes, size, NULL, 0, &index)) {
        T_FAIL("determinism wide", "cannot write or open %s with build/tools/mkgguf", wide);
        T_EXIT();
    }
    check_model("wide-q8_0", &m);
    free(bytes);
    free(index);
    remove(wide);
    bytes = t_shared_file("models/stories260K.gguf", &size);
    if (!bytes) {
        T_SKIP("determinism stories260K", "../shared/models is absent");
        T_EXIT();
    }
    if (t_model_open(&m, bytes, size, NULL, 0, &index))
        T_FAIL("determinism stories260K", "cannot open stories260K.gguf");
    else
        check_model("stories260K", &m);
    free(bytes);
    free(index);
    T_EXIT();
}
