/*
** tok_vocab.h — what the tokenizer tests share: a session stand-in for
** detok.c, vocabulary sources read from ../shared (an independent GGUF
** walk), streaming detokenisation with UTF-8 checks, and llama.cpp's
** tokenizer vectors (the .inp and .out files of vocab/) run against a vocabulary.
** Include after internal.h and t.h.
*/
#ifndef L4LM_TEST_TOK_VOCAB_H
#define L4LM_TEST_TOK_VOCAB_H

#include "internal.h"
#include "t.h"
#include "utf8.h"

/*
** detok.c reaches the tokenizer through a session. The vocab-only GGUFs have
** no weights, so no real session can be made from them: the tests stand in
** for session.c with the two accessors detok.c uses.
*/
struct l4lm_session {
    const l4lm_tok *tok;
    l4lm_model model;
};

const l4lm_tok *l4lm_session_tok(const l4lm_session *s)
{
    return s->tok;
}

const l4lm_model *l4lm_session_model(const l4lm_session *s)
{
    return &s->model;
}

/* ------------------------------------------------------------ sources */

typedef struct vocab {
    unsigned char *file;
    size_t size;
    l4lm_vocab_src src;
    void *arena;
    l4lm_session sess; /* sess.tok: the tokenizer */
} vocab;

static uint64_t le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* A minimal GGUF walk (independent of gguf.c) to find the tokenizer keys. */
typedef struct rd {
    const unsigned char *p;
    size_t size, pos;
    int bad;
} rd;

static uint64_t take(rd *r, size_t n)
{
    if (r->bad || r->size - r->pos < n) {
        r->bad = 1;
        return 0;
    }
    uint64_t v = n <= 8 ? le(r->p + r->pos, (int)n) : 0;
    r->pos += n;
    return v;
}

static size_t scalar_size(uint32_t type)
{
    static const size_t sz[13] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return type < 13 ? sz[type] : 0;
}

static void skip_value(rd *r, uint32_t type)
{
    if (type == 8) {
        take(r, take(r, 8));
    } else if (type == 9) {
        uint32_t at = (uint32_t)take(r, 4);
        uint64_t n = take(r, 8);
        for (uint64_t i = 0; i < n && !r->bad; i++)
            if (at == 8)
                take(r, take(r, 8));
            else if (scalar_size(at))
                take(r, scalar_size(at));
            else
                r->bad = 1;
    } else if (scalar_size(type)) {
        take(r, scalar_size(type));
    } else {
        r->bad = 1;
    }
}

static bool gguf_vocab(const unsigned char *b, size_t size, l4lm_vocab_src *v)
{
    rd r = {b, size, 0, 0};
    bool bpe = false, add_bos_key = false;
    l4lm_pretok pre = L4LM_PRE_NONE;
    memset(v, 0, sizeof *v);
    v->format = L4LM_FORMAT_GGUF;
    v->bos = v->eos = v->unk = -1;
    v->add_bos = v->add_space_prefix = true;
    if (take(&r, 4) != 0x46554747u || take(&r, 4) < 2)
        return false;
    take(&r, 8);
    uint64_t n_kv = take(&r, 8);
    for (uint64_t i = 0; i < n_kv && !r.bad; i++) {
        uint64_t klen = take(&r, 8);
        size_t kpos = r.pos;
        take(&r, klen);
        if (r.bad)
            break;
        char key[128] = "";
        if (klen < sizeof key)
            memcpy(key, b + kpos, klen);
        uint32_t type = (uint32_t)take(&r, 4);
        size_t vpos = r.pos, payload = vpos + 12;
        skip_value(&r, type);
        if (r.bad)
            break;
        if (!strcmp(key, "tokenizer.ggml.tokens")) {
            v->n_vocab = (uint32_t)le(b + vpos + 4, 8);
            v->tokens = b + payload;
            v->tokens_size = r.pos - payload;
        } else if (!strcmp(key, "tokenizer.ggml.scores")) {
            v->scores = b + payload;
        } else if (!strcmp(key, "tokenizer.ggml.token_type")) {
            v->types = b + payload;
        } else if (!strcmp(key, "tokenizer.ggml.bos_token_id")) {
            v->bos = (int32_t)le(b + vpos, 4);
        } else if (!strcmp(key, "tokenizer.ggml.eos_token_id")) {
            v->eos = (int32_t)le(b + vpos, 4);
        } else if (!strcmp(key, "tokenizer.ggml.unknown_token_id")) {
            v->unk = (int32_t)le(b + vpos, 4);
        } else if (!strcmp(key, "tokenizer.ggml.add_bos_token")) {
            v->add_bos = b[vpos] != 0;
            add_bos_key = true;
        } else if (!strcmp(key, "tokenizer.ggml.add_space_prefix")) {
            v->add_space_prefix = b[vpos] != 0;
        } else if (!strcmp(key, "tokenizer.ggml.add_eos_token")) {
            v->add_eos = b[vpos] != 0;
        } else if (!strcmp(key, "tokenizer.ggml.merges")) {
            v->n_merges = (uint32_t)le(b + vpos + 4, 8);
            v->merges = b + payload;
            v->merges_size = size - payload;
        } else if (!strcmp(key, "tokenizer.ggml.model")) {
            bpe = le(b + vpos, 8) == 4 && !memcmp(b + vpos + 8, "gpt2", 4);
        } else if (!strcmp(key, "tokenizer.ggml.pre")) {
            pre = l4lm_tok_pre_named((const char *)b + vpos + 8, le(b + vpos, 8));
        }
    }
    if (bpe) { /* llama.cpp's defaults for BPE, unless the file said otherwise */
        v->pre = pre;
        v->add_space_prefix = false;
        v->add_bos = add_bos_key ? v->add_bos : pre == L4LM_PRE_LLAMA3;
    }
    return !r.bad && v->tokens && (!bpe || pre);
}

/* llama2.c's tokenizer.bin, as model.c describes it. */
static void l2c_vocab(const unsigned char *b, size_t size, uint32_t n_vocab, l4lm_vocab_src *v)
{
    memset(v, 0, sizeof *v);
    v->format = L4LM_FORMAT_LLAMA2C;
    v->n_vocab = n_vocab;
    v->tokens = b;
    v->tokens_size = size;
    v->bos = 1;
    v->eos = 2;
    v->unk = 0;
    v->add_bos = v->add_space_prefix = true;
}

static bool vocab_start(vocab *vv, size_t max_text)
{
    size_t bytes = l4lm_tok_arena_bytes(&vv->src, max_text);
    l4lm_tok *t = NULL;
    vv->arena = bytes ? aligned_alloc(64, bytes) : NULL;
    if (!vv->arena || l4lm_tok_init(&t, &vv->src, vv->arena, bytes, max_text) != L4LM_OK)
        return false;
    vv->sess.tok = t;
    vv->sess.model.vocab = vv->src;
    return true;
}

/* Loads shared/<rel>; n_vocab 0 means GGUF. */
static bool vocab_load(vocab *vv, const char *shared, const char *rel, uint32_t n_vocab)
{
    char path[4096];
    memset(vv, 0, sizeof *vv);
    snprintf(path, sizeof path, "%s/%s", shared, rel);
    vv->file = t_read_file(path, &vv->size);
    if (!vv->file)
        return false;
    if (n_vocab)
        l2c_vocab(vv->file, vv->size, n_vocab, &vv->src);
    else if (!gguf_vocab(vv->file, vv->size, &vv->src))
        return false;
    return vocab_start(vv, 4096);
}

static void vocab_free(vocab *vv)
{
    free(vv->arena);
    free(vv->file);
}

static l4lm_tok *tok_of(vocab *vv)
{
    return (l4lm_tok *)vv->sess.tok;
}

/* ------------------------------------------------------------ helpers */

static size_t encode(vocab *vv, const char *text, size_t len, uint32_t flags, int32_t *ids,
                     size_t cap, l4lm_status *st)
{
    size_t n = 0;
    *st = l4lm_tok_encode(tok_of(vv), text, len, flags, ids, cap, &n);
    return n;
}

static bool ids_equal(const int32_t *a, size_t na, const double *b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (a[i] != (int32_t)b[i])
            return false;
    return true;
}

static void ids_text(const int32_t *ids, size_t n, char *out, size_t cap)
{
    size_t w = 0;
    out[0] = 0;
    for (size_t i = 0; i < n && w + 12 < cap; i++)
        w += (size_t)snprintf(out + w, cap - w, "%d ", ids[i]);
}

/* A linear congruential generator for the random-text tests. */
static uint32_t rnd(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(*s >> 33);
}

/* Up to 40 pieces of parts (and, unless valid, now and then one of bad)
** joined into out, at most max bytes; returns the length. */
static size_t random_pieces(uint64_t *seed, const char *const *parts, size_t n_parts,
                            const char *const *bad, size_t n_bad, bool valid, char *out, size_t max)
{
    size_t n = 0, k = rnd(seed) % 40;
    for (size_t i = 0; i < k; i++) {
        bool b = !valid && rnd(seed) % 6 == 0;
        const char *p = b ? bad[rnd(seed) % n_bad] : parts[rnd(seed) % n_parts];
        size_t m = strlen(p);
        if (n + m > max)
            break;
        memcpy(out + n, p, m);
        n += m;
    }
    return n;
}

/*
** Streams ids through l4lm_detok_push into out; every chunk must be valid,
** complete UTF-8. Ends with a flush (token -1). Returns the text length, or
** (size_t)-1 if a push failed or emitted a partial character.
*/
static size_t stream(vocab *vv, const int32_t *ids, size_t n, bool after_bos, char *out, size_t cap)
{
    l4lm_detok d = {{0}, 0, after_bos, false};
    char buf[600];
    size_t w = 0;
    for (size_t i = 0; i <= n; i++) {
        l4lm_status st;
        size_t k = l4lm_detok_push(&vv->sess, &d, i < n ? ids[i] : -1, buf, sizeof buf, &st);
        if (st != L4LM_OK || !utf8_valid((unsigned char *)buf, k) || w + k >= cap)
            return (size_t)-1;
        memcpy(out + w, buf, k);
        w += k;
    }
    out[w] = 0;
    return w;
}

static char *read_text(const char *shared, const char *rel)
{
    char path[4096];
    size_t n;
    snprintf(path, sizeof path, "%s/%s", shared, rel);
    char *s = (char *)t_read_file(path, &n);
    if (s) {
        s = realloc(s, n + 1);
        s[n] = 0;
    }
    return s;
}

/* Prompt ids of llama2.c and llama.cpp, and detokenised generated text. */

/* ------------------------------------------ llama.cpp tokenizer vectors */

typedef struct vectors {
    char *inp, *out;
    const char *text[64];
    size_t len[64];
    double ids[64][320];
    size_t n_ids[64];
    size_t n;
} vectors;

static bool vectors_load(const char *shared, const char *name, vectors *vc)
{
    char rel[256];
    static const char sep[] = "\n__ggml_vocab_test__\n";
    snprintf(rel, sizeof rel, "vocab/%s.inp", name);
    vc->inp = read_text(shared, rel);
    snprintf(rel, sizeof rel, "vocab/%s.out", name);
    vc->out = read_text(shared, rel);
    vc->n = 0;
    if (!vc->inp || !vc->out)
        return false;
    char *p = vc->inp, *q;
    while ((q = strstr(p, sep)) && vc->n < 64) {
        vc->text[vc->n] = p;
        vc->len[vc->n++] = (size_t)(q - p);
        p = q + sizeof sep - 1;
    }
    char *line = vc->out;
    for (size_t i = 0; i < vc->n; i++) {
        char *eol = strchr(line, '\n');
        if (!eol)
            return false;
        *eol = 0;
        size_t k = 0;
        for (char *s = line, *e; k < 320; s = e, k++) {
            vc->ids[i][k] = strtod(s, &e);
            if (e == s)
                break;
        }
        vc->n_ids[i] = k;
        line = eol + 1;
    }
    return vc->n > 0;
}

/* Every vector exactly, and decode(encode(x)) == x. */
static void test_vectors(const char *shared, vocab *vv, const char *vname, const char *label)
{
    static vectors vc;
    char name[256], why[2048];
    snprintf(name, sizeof name, "%s_vectors", label);
    if (!vectors_load(shared, vname, &vc)) {
        T_FAIL(name, "cannot read %s.inp/.out", vname);
        return;
    }
    size_t pass = 0, round = 0;
    for (size_t i = 0; i < vc.n; i++) {
        static int32_t ids[512];
        static char text[4096];
        l4lm_status st;
        size_t n = encode(vv, vc.text[i], vc.len[i], false, ids, 512, &st);
        if (st == L4LM_OK && ids_equal(ids, n, vc.ids[i], vc.n_ids[i])) {
            pass++;
        } else {
            ids_text(ids, n, why, sizeof why);
            printf("# %s case %zu: status %d, got %.200s\n", label, i, st, why);
        }
        size_t k = stream(vv, ids, n, true, text, sizeof text);
        if (k == vc.len[i] && !memcmp(text, vc.text[i], k))
            round++;
        else
            printf("# %s case %zu: round trip gave \"%.80s\"\n", label, i, text);
    }
    printf("# %s: %zu/%zu vectors match, %zu/%zu round-trip\n", label, pass, vc.n, round, vc.n);
    T_CHECK(name, pass == vc.n, "%zu of %zu vectors match", pass, vc.n);
    snprintf(name, sizeof name, "%s_roundtrip", label);
    T_CHECK(name, round == vc.n, "%zu of %zu round-trip", round, vc.n);
    free(vc.inp);
    free(vc.out);
}

#endif
