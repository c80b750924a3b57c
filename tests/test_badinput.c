/*
** test_badinput.c — hostile model files. stories260K.gguf truncated at every
** length through the header, metadata and tensor table and at >= 1000
** lengths through the data; >= 10,000 random corruptions of bytes and of
** header fields (counts, lengths, types, offsets, dims); the llama2.c
** checkpoint and tokenizer.bin likewise. Each copy sits in an exact-size
** heap block (ASan catches any read past it). Every open must either fail
** with a status, repeated in l4lm_model_error(m) with a non-empty what, or
** give a model that plans, runs and samples cleanly.
*/
#include "internal.h" /* the GGUF data offset, below */
#include "gguf_write.h"
#include "t.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

typedef struct tally {
    long opened, refused, ran;
    long by_status[L4LM_STATUS_COUNT];
    long silent;     /* refusals without a proper status and message */
    char first[160]; /* the first of them, described */
} tally;

/* Use a model the way a program would; any crash or overread fails the test. */
static void exercise(const l4lm_model *m, tally *t)
{
    l4lm_run_opts o = {.n_ctx = 16, .kv_type = L4LM_KV_F16, .max_prompt_bytes = 64};
    l4lm_plan_result p;
    if (l4lm_plan(m, &o, &p) || p.total > (64u << 20))
        return;
    void *arena = aligned_alloc(64, (p.total + 63) / 64 * 64);
    l4lm_session *s;
    int32_t ids[80], tok;
    size_t n;
    if (arena && !l4lm_session_init(&s, m, &o, arena, p.total) &&
        !l4lm_tokenize(s, "Once upon", 9, L4LM_TOK_BOS, ids, 80, &n) && n &&
        !l4lm_eval(s, ids, n < 8 ? n : 8, NULL)) {
        l4lm_sampler sp = l4lm_sampler_greedy();
        sp.temperature = 0.7f;
        sp.top_k = 10;
        l4lm_detok d = {.after_bos = true};
        char buf[256];
        l4lm_status st;
        for (int i = 0; i < 3 && !l4lm_sample(s, &sp, &tok); i++) {
            l4lm_detok_push(s, &d, tok, buf, sizeof buf, &st);
            if (l4lm_eval(s, &tok, 1, NULL))
                break;
        }
        t->ran++;
    }
    free(arena);
}

/*
** A refused open must say why: a known status, the same status in l4lm_model_error(),
** and a non-empty, terminated message (what a program prints to its user).
*/
static void check_error(const l4lm_model *m, l4lm_status st, size_t n, tally *t)
{
    const char *text = l4lm_strerror(st);
    const l4lm_error *err = l4lm_model_error(m);
    const char *what = err->what;
    const char *why = NULL;
    if ((int)st <= 0 || (int)st >= L4LM_STATUS_COUNT || !text || !text[0])
        why = "an unknown status";
    else if (err->status != st)
        why = "err.status differs from the returned status";
    else if (!memchr(what, 0, sizeof err->what))
        why = "err.what is not terminated";
    else if (!what[0])
        why = "err.what is empty";
    if (!why)
        return;
    if (!t->silent++)
        snprintf(t->first, sizeof t->first, "%zu-byte file: status %d, %s", n, (int)st, why);
}

/* Open a copy of bytes[0..n) in an exact-size heap block. */
static void try_open(const unsigned char *bytes, size_t n, const unsigned char *tok, size_t tok_n,
                     tally *t)
{
    unsigned char *copy = malloc(n ? n : 1);
    memcpy(copy, bytes, n);
    unsigned char *tcopy = tok ? malloc(tok_n ? tok_n : 1) : NULL;
    if (tok)
        memcpy(tcopy, tok, tok_n);
    l4lm_model m;
    memset(&m, 0xa5, sizeof m); /* so a field the open leaves unset shows */
    void *index;
    l4lm_status st = t_model_open(&m, copy, n, tcopy, tok_n, &index);
    if (st) {
        t->refused++;
        if (st < L4LM_STATUS_COUNT)
            t->by_status[st]++;
        check_error(&m, st, n, t);
    } else {
        t->opened++;
        exercise(&m, t);
    }
    free(copy);
    free(tcopy);
    free(index);
}

/* Overwrite 1, 2, 4 or 8 bytes at off with a random or extreme value. */
static void corrupt(unsigned char *p, size_t size, size_t off)
{
    static const uint64_t extremes[] = {0,
                                        1,
                                        2,
                                        3,
                                        4,
                                        5,
                                        12,
                                        13,
                                        31,
                                        32,
                                        33,
                                        64,
                                        0x7f,
                                        0x80,
                                        0xff,
                                        0xffff,
                                        0x7fffffff,
                                        0x80000000u,
                                        0xffffffffu,
                                        0x100000000ull,
                                        0x7fffffffffffffffull,
                                        0xffffffffffffffffull};
    size_t width = (size_t)1 << (next_rand() % 4);
    uint64_t v = next_rand() % 3 ? extremes[next_rand() % (sizeof extremes / 8)] : next_rand();
    for (size_t i = 0; i < width && off + i < size; i++)
        p[off + i] = (unsigned char)(v >> (8 * i));
}

static void fuzz_file(const char *label, const unsigned char *orig, size_t size, size_t header_end,
                      const unsigned char *tok, size_t tok_n, long rounds, int corrupt_tok)
{
    tally t = {0};
    unsigned char *work = malloc(size), *twork = tok ? malloc(tok_n) : NULL;
    char name[128];
    /* truncation: every length through the structures, then through the data */
    for (size_t n = 0; n < header_end && n < size; n++)
        try_open(orig, n, tok, tok_n, &t);
    for (long i = 0; i < 1000; i++)
        try_open(orig, header_end + (size - header_end) * (size_t)i / 1000, tok, tok_n, &t);
    long trunc_opened = t.opened;
    snprintf(name, sizeof name, "badinput %s truncated", label);
    T_CHECK(name, trunc_opened == 0, "%ld truncated files opened", trunc_opened);
    /* corruptions: mostly in the structures, some anywhere */
    for (long r = 0; r < rounds; r++) {
        memcpy(work, orig, size);
        if (twork)
            memcpy(twork, tok, tok_n);
        int k = 1 + (int)(next_rand() % 4);
        for (int j = 0; j < k; j++) {
            if (corrupt_tok && twork && next_rand() % 2)
                corrupt(twork, tok_n, next_rand() % tok_n);
            else
                corrupt(work, size, next_rand() % (next_rand() % 4 ? header_end : size));
        }
        try_open(work, size, twork, tok_n, &t);
    }
    snprintf(name, sizeof name, "badinput %s corrupted", label);
    T_OK(name);
    snprintf(name, sizeof name, "badinput %s refusals explained", label);
    T_CHECK(name, t.refused > 0 && t.silent == 0, "%ld of %ld refusals lack a status/message (%s)",
            t.silent, t.refused, t.silent ? t.first : "none refused");
    printf("  %s: %ld opens refused, %ld opened (%ld ran a session); statuses:", label, t.refused,
           t.opened, t.ran);
    for (int s = 1; s < L4LM_STATUS_COUNT; s++)
        if (t.by_status[s])
            printf(" %s=%ld", l4lm_strerror((l4lm_status)s), t.by_status[s]);
    printf("\n");
    free(work);
    free(twork);
}

int main(int argc, char **argv)
{
    const char *dir = t_shared();
    size_t gsize, bsize, tsize;
    (void)argc;
    (void)argv;
    if (!dir) {
        T_SKIP("badinput", "../shared/models is absent");
        return 0;
    }
    unsigned char *gguf = t_shared_file("models/stories260K.gguf", &gsize);
    unsigned char *bin = t_shared_file("models/stories260K.bin", &bsize);
    unsigned char *tok = t_shared_file("models/tok512.bin", &tsize);
    if (!gguf || !bin || !tok) {
        T_FAIL("badinput", "cannot read the stories260K files");
        T_EXIT();
    }
    l4lm_model m;
    void *index;
    if (t_model_open(&m, gguf, gsize, NULL, 0, &index)) {
        T_FAIL("badinput", "the intact GGUF does not open");
        T_EXIT();
    }
    size_t data_off = (size_t)m.gguf.data_off;
    free(index);
    fuzz_file("stories260K.gguf", gguf, gsize, data_off, NULL, 0, 10000, 0);
    fuzz_file("stories260K.bin+tok512.bin", bin, bsize, 28, tok, tsize, 3000, 1);
    free(gguf);
    free(bin);
    free(tok);
    T_EXIT();
}
