/*
** serve_fake.h — a fake engine for the in-process server tests: bytes are
** tokens (id = byte + 3, BOS 1, EOS 2), evaluation hashes the tokens fed,
** sampling draws from that hash and the seed, and token 259 has a 150-byte
** text so long pieces get split. reference() drives it straight, the way
** `l4lm run` drives the real engine, to give what a request must stream.
*/
#ifndef SERVE_FAKE_H
#define SERVE_FAKE_H
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "l4lm_serve.h"

#define FAKE_EOS        2
#define FAKE_LONG       259
#define FAKE_LONG_BYTES 150

typedef struct fake {
    uint32_t pos, n_ctx;
    uint64_t h, rng;
    bool have_logits;
    uint32_t starts; /* requests begun, for the tests to count */
} fake;

static uint64_t fake_mix(uint64_t x)
{
    x ^= x >> 31;
    x *= 0x9e3779b97f4a7c15ull;
    x ^= x >> 29;
    x *= 0xbf58476d1ce4e5b9ull;
    return x ^ (x >> 32);
}

static void fake_start(void *s, uint64_t seed)
{
    fake *f = s;
    f->starts++;
    f->pos = 0;
    f->h = 0;
    f->rng = seed;
    f->have_logits = false;
}

static l4lm_status fake_tokenize(void *s, const char *text, size_t len, bool add_bos, int32_t *out,
                                 size_t cap, size_t *n)
{
    (void)s;
    size_t k = 0;
    if (add_bos) {
        if (k == cap)
            return L4LM_E_BUFFER;
        out[k++] = 1;
    }
    for (size_t i = 0; i < len; i++) {
        if (k == cap)
            return L4LM_E_BUFFER;
        out[k++] = 3 + (uint8_t)text[i];
    }
    *n = k;
    return L4LM_OK;
}

static l4lm_status fake_eval(void *s, const int32_t *tokens, size_t n)
{
    fake *f = s;
    if (n > f->n_ctx - f->pos)
        return L4LM_E_CONTEXT_FULL;
    for (size_t i = 0; i < n; i++)
        f->h = fake_mix(f->h ^ (uint64_t)tokens[i]);
    f->pos += (uint32_t)n;
    f->have_logits |= n > 0;
    return L4LM_OK;
}

static l4lm_status fake_sample(void *s, const l4lm_sampler *sp, int32_t *token)
{
    fake *f = s;
    (void)sp;
    if (!f->have_logits)
        return L4LM_E_STATE;
    f->rng = fake_mix(f->rng + f->h);
    uint32_t r = (uint32_t)(f->rng % 64);
    *token = r == 0 ? FAKE_EOS : r == 1 ? FAKE_LONG : r < 8 ? 3 + ' ' : 3 + 'a' + (int32_t)(r % 26);
    return L4LM_OK;
}

static size_t fake_detok(void *s, l4lm_detok *d, int32_t token, char *buf, size_t cap,
                         l4lm_status *st)
{
    (void)s;
    (void)d;
    size_t n = token == FAKE_LONG ? FAKE_LONG_BYTES : token >= 3 && token < 259 ? 1 : 0;
    *st = n > cap ? L4LM_E_BUFFER : L4LM_OK;
    if (*st)
        return 0;
    if (token == FAKE_LONG)
        memset(buf, 'L', n);
    else if (n)
        buf[0] = (char)(token - 3);
    return n;
}

static bool fake_is_eos(void *s, int32_t token)
{
    (void)s;
    return token == FAKE_EOS;
}

static const l4lm_shm_server_engine fake_engine = {.start = fake_start,
                                                   .tokenize = fake_tokenize,
                                                   .eval = fake_eval,
                                                   .sample = fake_sample,
                                                   .detok = fake_detok,
                                                   .is_eos = fake_is_eos};

/* What a request must give: tokens, text and the final DONE. */
typedef struct stream {
    int32_t tok[4096];
    uint32_t n_tok;
    char text[1 << 16];
    size_t n_text;
    uint32_t status, n_prompt, n_gen, id;
    int32_t value;
    bool done;
} stream;

static void reference(const l4lm_shm_request *r, uint32_t n_ctx, stream *e)
{
    static int32_t ids[1 << 16];
    static fake f;
    size_t n = 0;
    memset(e, 0, sizeof *e);
    f.n_ctx = n_ctx;
    fake_start(&f, r->sampler.seed);
    fake_tokenize(&f, r->prompt, r->prompt_len, !(r->flags & L4LM_SHM_NO_BOS), ids, 1 << 16, &n);
    e->n_prompt = (uint32_t)n;
    e->done = true;
    if (fake_eval(&f, ids, n)) {
        e->status = L4LM_SHM_E_PROMPT;
        return;
    }
    e->status = L4LM_SHM_LENGTH;
    while (e->n_gen < r->max_tokens) {
        int32_t tok = 0;
        l4lm_status st;
        fake_sample(&f, &r->sampler, &tok);
        if (tok == FAKE_EOS && !(r->flags & L4LM_SHM_IGNORE_EOS)) {
            e->status = L4LM_SHM_EOS;
            return;
        }
        e->n_text += fake_detok(&f, NULL, tok, e->text + e->n_text, 1000, &st);
        e->tok[e->n_tok++] = tok;
        e->n_gen++;
        size_t cut = e->n_text; /* a stop string's text and all after it are not sent */
        for (uint32_t i = 0; i < r->n_stop; i++) {
            const char *p = memmem(e->text, e->n_text, r->stop[i], r->stop_len[i]);
            if (p && (size_t)(p - e->text) < cut)
                cut = (size_t)(p - e->text);
        }
        if (cut < e->n_text) {
            e->n_text = cut;
            e->status = L4LM_SHM_STOP;
            return;
        }
        if (e->n_gen == r->max_tokens)
            return;
        if (fake_eval(&f, &tok, 1)) {
            e->status = L4LM_SHM_CONTEXT_FULL;
            return;
        }
    }
}

/* Add one response event to a stream. */
static void absorb(stream *g, const l4lm_shm_event *ev)
{
    if (ev->kind == L4LM_SHM_TEXT || ev->kind == L4LM_SHM_TOKEN) {
        if (g->n_text + ev->len <= sizeof g->text) {
            memcpy(g->text + g->n_text, ev->text, ev->len);
            g->n_text += ev->len;
        }
        if (ev->kind == L4LM_SHM_TOKEN && g->n_tok < 4096)
            g->tok[g->n_tok++] = ev->value;
        return;
    }
    g->done = true;
    g->status = ev->status;
    g->value = ev->value;
    g->n_prompt = ev->n_prompt;
    g->n_gen = ev->n_gen;
    g->id = ev->id;
}

/* Empty string when equal, else what differs. */
static const char *stream_diff(const stream *a, const stream *b)
{
    static char why[200];
    if (!a->done || !b->done)
        return "not finished";
    if (a->status != b->status || a->n_gen != b->n_gen || a->n_prompt != b->n_prompt) {
        snprintf(why, sizeof why, "status/usage %u %u/%u vs %u %u/%u", a->status, a->n_prompt,
                 a->n_gen, b->status, b->n_prompt, b->n_gen);
        return why;
    }
    if (a->n_tok != b->n_tok || memcmp(a->tok, b->tok, a->n_tok * sizeof *a->tok))
        return "tokens differ";
    if (a->n_text != b->n_text || memcmp(a->text, b->text, a->n_text))
        return "text differs";
    return "";
}

/* size bytes between two PROT_NONE guard pages: any stray access faults. */
static void *guarded(size_t size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t span = (size + page - 1) / page * page;
    uint8_t *p = mmap(NULL, span + 2 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED || mprotect(p + page, span, PROT_READ | PROT_WRITE))
        return NULL;
    /* End exactly at the upper guard, so an overrun by one byte faults. */
    return p + page + (span - size);
}
#endif
