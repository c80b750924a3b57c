/*
** fuzz.h — what the libFuzzer harnesses share: exact-size heap copies of
** the input (ASan then catches a read one byte past it), models loaded once
** at start-up, invariants that abort (libFuzzer reports an abort as a
** crash and saves the input), and fuzz_exercise(), which uses an opened
** model the way a program would: plan, an arena of exactly the planned
** size, tokenize, evaluate, sample, detokenize.
*/
#ifndef L4LM_FUZZ_H
#define L4LM_FUZZ_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "l4lm.h"

#define FUZZ_ARENA_CAP ((size_t)64 << 20) /* bigger plans are skipped, not run */

/* An invariant of the engine; a violation is a finding, like a crash.
** Written to fd 2 directly: fuzz_cli silences the stderr stream. */
#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            dprintf(2, "fuzz invariant failed at %s:%d: %s: ", __FILE__, __LINE__, #cond);         \
            dprintf(2, __VA_ARGS__);                                                               \
            dprintf(2, "\n");                                                                      \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* n bytes in a block of exactly n (never NULL; 16-byte aligned). */
static inline uint8_t *fuzz_copy(const uint8_t *data, size_t n)
{
    uint8_t *p = malloc(n ? n : 1);
    FUZZ_CHECK(p != NULL, "out of memory");
    if (n)
        memcpy(p, data, n);
    return p;
}

/* Little-endian reads from the input, zero past its end. */
typedef struct fuzz_in {
    const uint8_t *p;
    size_t n;
} fuzz_in;

/* l4lm_model_open with a name index of exactly the size the file asks for,
** in a heap block of its own (*index: free it when the model is done). */
static inline l4lm_status fuzz_open(l4lm_model *m, const uint8_t *bytes, size_t size,
                                    const uint8_t *tok, size_t tok_size, void **index)
{
    size_t need = 0;
    l4lm_model_index_size(bytes, size, &need);
    *index = malloc(need ? need : 1); /* uninitialised: the open must write before reading */
    FUZZ_CHECK(*index != NULL, "out of memory");
    l4lm_open_opts o = {tok, tok_size, *index, need};
    return l4lm_model_open(m, bytes, size, &o);
}

static inline uint32_t fuzz_u8(fuzz_in *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

static inline uint32_t fuzz_u16(fuzz_in *in)
{
    uint32_t lo = fuzz_u8(in);
    return lo | fuzz_u8(in) << 8;
}

static inline uint32_t fuzz_u32(fuzz_in *in)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= fuzz_u8(in) << (8 * i);
    return v;
}

/* A model file named in $L4LM_FUZZ_MODELS (default build-fuzz/models), or NULL. */
static inline uint8_t *fuzz_load(const char *name, size_t *size)
{
    const char *dir = getenv("L4LM_FUZZ_MODELS");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "build-fuzz/models", name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t *buf = NULL;
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc(n ? (size_t)n : 1)) &&
        fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf)
        *size = (size_t)n;
    return buf;
}

/* An arena of exactly size bytes, 64-byte aligned (ASan knows its end). */
static inline void *fuzz_arena(size_t size)
{
    void *p = NULL;
    FUZZ_CHECK(posix_memalign(&p, 64, size ? size : 1) == 0, "out of memory");
    return p;
}

/* A session over m with small options; NULL when the plan is refused or too big. */
static inline l4lm_session *fuzz_session(const l4lm_model *m, const l4lm_run_opts *o, void **arena)
{
    l4lm_plan_result p;
    l4lm_session *s = NULL;
    *arena = NULL;
    if (l4lm_plan(m, o, &p) || p.total > FUZZ_ARENA_CAP)
        return NULL;
    FUZZ_CHECK(p.total % 64 == 0 && p.total == p.session + p.weights + p.kv_cache + p.activations +
                                                   p.scratch + p.tokenizer,
               "plan parts do not add up: %zu", p.total);
    *arena = fuzz_arena(p.total);
    /* The plan is exact: one byte less is refused with a status. */
    l4lm_status st = l4lm_session_init(&s, m, o, *arena, p.total - 1);
    FUZZ_CHECK(st == L4LM_E_ARENA, "arena of plan-1 bytes gave %s", l4lm_strerror(st));
    st = l4lm_session_init(&s, m, o, *arena, p.total);
    FUZZ_CHECK(st == L4LM_OK, "planned arena refused: %s", l4lm_strerror(st));
    return s;
}

/* Generate a few tokens with a sampler that uses every stage. */
static inline void fuzz_generate(l4lm_session *s, const int32_t *ids, size_t n, int steps)
{
    l4lm_model_info mi;
    l4lm_model_get_info(l4lm_session_model(s), &mi);
    uint32_t n_vocab = mi.n_vocab;
    const float *logits = NULL;
    l4lm_status st = l4lm_eval(s, ids, n, &logits);
    if (st)
        return;
    FUZZ_CHECK(logits != NULL, "eval succeeded without logits");
    l4lm_sampler sp = {0.8f, 5, 0.9f, 0.05f, 1.1f, -1, 42};
    l4lm_detok d = {.after_bos = true};
    char text[32 + 512];
    for (int i = 0; i < steps; i++) {
        int32_t tok;
        sp.temperature = i % 2 ? 0.8f : 0.0f; /* greedy and sampled */
        FUZZ_CHECK(l4lm_sample(s, &sp, &tok) == L4LM_OK, "sample failed after eval");
        FUZZ_CHECK(tok >= 0 && (uint32_t)tok < n_vocab, "sampled token %d", (int)tok);
        l4lm_detok_push(s, &d, tok, text, sizeof text, &st);
        if (l4lm_eval(s, &tok, 1, &logits))
            break;
    }
}

/* Use an opened model as a program would; any fault or overread is a finding. */
static inline void fuzz_exercise(const l4lm_model *m)
{
    l4lm_run_opts o = {.n_ctx = 8, .kv_type = L4LM_KV_F16, .n_batch = 3, .max_prompt_bytes = 48};
    void *arena;
    l4lm_session *s = fuzz_session(m, &o, &arena);
    int32_t ids[64];
    size_t n = 0;
    l4lm_model_info mi;
    l4lm_model_get_info(m, &mi);
    if (s &&
        !l4lm_tokenize(s, "Once upon a time, \xc3\xa9t\xc3\xa9 \xff!", 22, L4LM_TOK_BOS, ids, 64, &n)) {
        for (size_t i = 0; i < n; i++)
            FUZZ_CHECK(ids[i] >= 0 && (uint32_t)ids[i] < mi.n_vocab, "token id %d", ids[i]);
        fuzz_generate(s, ids, n < 6 ? n : 6, 3);
    }
    free(arena);
}
#endif
