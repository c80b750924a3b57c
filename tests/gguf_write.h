/*
** gguf_write.h — a tiny growable byte buffer with GGUF's little-endian
** writers, for tests that build GGUF files by hand (test_gguf, test_arch,
** test_gemma), and the tiny all-F32 models of the architecture tests.
** Tests only: it aborts when out of memory.
*/
#ifndef L4LM_TEST_GGUF_WRITE_H
#define L4LM_TEST_GGUF_WRITE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "l4lm.h"

typedef struct wbuf {
    unsigned char *p;
    size_t n, cap;
    int n_kv; /* key/value pairs written, for writers that count them */
} wbuf;

/* The vocabulary size of an open model. */
static inline uint32_t t_n_vocab(const l4lm_model *m)
{
    l4lm_model_info mi;
    return l4lm_model_get_info(m, &mi) ? 0 : mi.n_vocab;
}

static inline void put(wbuf *b, const void *src, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            abort();
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static inline void wle(wbuf *b, uint64_t v, int bytes) /* little-endian integer */
{
    for (int i = 0; i < bytes; i++) {
        unsigned char c = (unsigned char)(v >> (8 * i));
        put(b, &c, 1);
    }
}

static inline void w32(wbuf *b, uint32_t v)
{
    wle(b, v, 4);
}

static inline void w64(wbuf *b, uint64_t v)
{
    wle(b, v, 8);
}

static inline void wf32(wbuf *b, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    w32(b, u);
}

static inline void wf64(wbuf *b, double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    w64(b, u);
}

static inline void wstr(wbuf *b, const char *s)
{
    w64(b, strlen(s));
    put(b, s, strlen(s));
}

/* ---- tiny all-F32 models (test_arch, test_gemma) ---- */

typedef struct wmtensor {
    char name[48];
    uint64_t ne0, ne1; /* ne1 0: a vector */
} wmtensor;

/* A GGUF v3 file of the n_kv metadata pairs already in kvs and n F32
** tensors, element j of tensor t being value(t->name, j, ctx); the data
** aligned to 32 as GGUF's default. The caller frees the bytes. */
static inline unsigned char *
gguf_write_f32_model(const wbuf *kvs, uint64_t n_kv, const wmtensor *t, int n,
                     float (*value)(const char *, uint64_t, const void *), const void *ctx,
                     size_t *size)
{
    wbuf b = {0};
    put(&b, "GGUF", 4);
    w32(&b, 3);
    w64(&b, (uint64_t)n);
    w64(&b, n_kv);
    put(&b, kvs->p, kvs->n);
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        wstr(&b, t[i].name);
        w32(&b, t[i].ne1 ? 2 : 1);
        w64(&b, t[i].ne0);
        if (t[i].ne1)
            w64(&b, t[i].ne1);
        w32(&b, 0); /* F32 */
        w64(&b, off);
        off += (t[i].ne0 * (t[i].ne1 ? t[i].ne1 : 1) * 4 + 31) / 32 * 32;
    }
    while (b.n % 32)
        put(&b, "", 1);
    for (int i = 0; i < n; i++) {
        uint64_t count = t[i].ne0 * (t[i].ne1 ? t[i].ne1 : 1);
        for (uint64_t j = 0; j < count; j++)
            wf32(&b, value(t[i].name, j, ctx));
        while (b.n % 32)
            put(&b, "", 1);
    }
    *size = b.n;
    return b.p;
}

/* ---- hostile files: cheap for l4lm to refuse or open, costly for a
** reader that compares names pairwise (test_growth, the fuzzer's seeds) ---- */

/* A key holding n_strings one-byte strings, then n_keys u32 keys, the last
** repeating the first: refused as a duplicate. A pairwise check re-walks
** the array once per key. The caller frees the bytes. */
static inline unsigned char *gguf_write_dup_keys(uint64_t n_strings, uint32_t n_keys, size_t *size)
{
    wbuf b = {0};
    char key[32];
    put(&b, "GGUF", 4);
    w32(&b, 3);
    w64(&b, 0);
    w64(&b, (uint64_t)n_keys + 1);
    wstr(&b, "a.strings");
    w32(&b, 9); /* an array */
    w32(&b, 8); /* of strings */
    w64(&b, n_strings);
    for (uint64_t i = 0; i < n_strings; i++)
        w64(&b, 1), put(&b, "x", 1);
    for (uint32_t k = 0; k < n_keys; k++) {
        snprintf(key, sizeof key, "k.%07u", k < n_keys - 1 ? k : 0);
        wstr(&b, key);
        w32(&b, 4); /* u32 */
        w32(&b, k);
    }
    *size = b.n;
    return b.p;
}

static inline float gguf_write_small(const char *name, uint64_t i, const void *ctx)
{
    (void)ctx;
    return strstr(name, "norm") ? 1.0f : 0.01f * (float)(i % 7) - 0.03f;
}

/* A llama model that opens and runs: n_layer layers of width 2 (one head
** of 2, feed-forward 2, vocabulary 4), then unused 1-element tensors up to
** n_tensors in all (if more than the layers need): every tensor is a name
** to look up or compare. The caller frees the bytes. */
static inline unsigned char *gguf_write_layers(uint32_t n_layer, uint32_t n_tensors, size_t *size)
{
    static const char *const per_layer[9] = {"attn_norm", "attn_q",      "attn_k",
                                             "attn_v",    "attn_output", "ffn_norm",
                                             "ffn_gate",  "ffn_up",      "ffn_down"};
    static const char *const pieces[4] = {"<unk>", "<s>", "</s>", "x"};
    uint32_t n = 2 + 9 * n_layer > n_tensors ? 2 + 9 * n_layer : n_tensors;
    wmtensor *t = calloc(n, sizeof *t);
    wbuf kv = {0};
    const char *u32_keys[7] = {"llama.context_length",       "llama.embedding_length",
                               "llama.feed_forward_length",  "llama.block_count",
                               "llama.attention.head_count", "llama.attention.head_count_kv",
                               "llama.rope.dimension_count"};
    uint32_t u32_vals[7] = {64, 2, 2, n_layer, 1, 1, 2};
    if (!t)
        abort();
    wstr(&kv, "general.architecture"), w32(&kv, 8), wstr(&kv, "llama");
    for (int i = 0; i < 7; i++)
        wstr(&kv, u32_keys[i]), w32(&kv, 4), w32(&kv, u32_vals[i]);
    wstr(&kv, "llama.attention.layer_norm_rms_epsilon"), w32(&kv, 6), wf32(&kv, 1e-5f);
    wstr(&kv, "tokenizer.ggml.model"), w32(&kv, 8), wstr(&kv, "llama");
    wstr(&kv, "tokenizer.ggml.tokens"), w32(&kv, 9), w32(&kv, 8), w64(&kv, 4);
    for (int i = 0; i < 4; i++)
        wstr(&kv, pieces[i]);
    t[0] = (wmtensor){"token_embd.weight", 2, 4};
    t[1] = (wmtensor){"output_norm.weight", 2, 0};
    for (uint32_t l = 0; l < n_layer; l++)
        for (int j = 0; j < 9; j++) {
            wmtensor *w = &t[2 + 9 * l + j];
            snprintf(w->name, sizeof w->name, "blk.%u.%s.weight", l, per_layer[j]);
            w->ne0 = 2;
            w->ne1 = j == 0 || j == 5 ? 0 : 2;
        }
    for (uint32_t i = 2 + 9 * n_layer; i < n; i++) {
        snprintf(t[i].name, sizeof t[i].name, "unused.%u", i);
        t[i].ne0 = 1;
    }
    unsigned char *p = gguf_write_f32_model(&kv, 11, t, (int)n, gguf_write_small, NULL, size);
    free(kv.p);
    free(t);
    return p;
}

/* l4lm_model_open with a name index of exactly the size the file asks for,
** malloc'd into *index (AddressSanitizer sees any access past it): free it
** once the model is no longer used. */
static inline l4lm_status t_model_open(l4lm_model *m, const void *bytes, size_t size,
                                       const void *tok, size_t tok_size, void **index)
{
    size_t need = 0;
    if (bytes)
        l4lm_model_index_size(bytes, size, &need);
    *index = malloc(need ? need : 1);
    if (!*index)
        abort();
    l4lm_open_opts o = {tok, tok_size, *index, need};
    return l4lm_model_open(m, bytes, size, &o);
}

/* Open an exact-size copy of bytes (AddressSanitizer then sees any read
** past the end); when it opens, plan, and evaluate ids in batches of
** n_batch with an F32 KV cache of n_ctx; keep the last logits in out
** (n_vocab floats, all must be finite). what gets the open error text. */
static inline l4lm_status test_open_run(unsigned char *bytes, size_t size, uint32_t n_ctx,
                                        uint32_t n_batch, const int32_t *ids, size_t n_ids,
                                        float *out, uint32_t n_vocab, char *what, size_t cap)
{
    unsigned char *copy = malloc(size);
    if (!copy)
        abort();
    memcpy(copy, bytes, size);
    free(bytes);
    l4lm_model m;
    void *index;
    l4lm_status st = t_model_open(&m, copy, size, NULL, 0, &index);
    snprintf(what, cap, "%s", l4lm_model_error(&m)->what);
    if (!st) {
        l4lm_run_opts o = {.n_ctx = n_ctx, .kv_type = L4LM_KV_F32, .n_batch = n_batch};
        l4lm_plan_result p;
        l4lm_session *s = NULL;
        void *arena = NULL;
        const float *logits = NULL;
        st = l4lm_plan(&m, &o, &p);
        if (!st && !(arena = aligned_alloc(64, (p.total + 63) / 64 * 64)))
            st = L4LM_E_ARENA;
        if (!st)
            st = l4lm_session_init(&s, &m, &o, arena, p.total);
        if (!st)
            st = l4lm_eval(s, ids, n_ids, &logits);
        for (uint32_t i = 0; !st && i < n_vocab; i++) {
            out[i] = logits[i];
            if (!(logits[i] > -1e30f && logits[i] < 1e30f)) {
                snprintf(what, cap, "logit %u is %g", i, logits[i]);
                st = L4LM_E_STATE;
            }
        }
        free(arena);
    }
    free(copy);
    free(index);
    return st;
}

#endif
