/*
** detok.c — token ids back to text, one token at a time, for streaming.
**
** Pieces are joined as they come. Special tokens give no text. For
** SentencePiece vocabularies the first piece after BOS (or at the start,
** when the caller sets after_bos) loses its leading space: that space is the
** dummy prefix, and both llama2.c and llama.cpp drop it. A UTF-8 character split over several byte
** tokens is held in d->pending until it is complete, so a chunk never ends
** inside a character. Bytes that cannot form valid UTF-8 (a stray byte, a
** sequence cut short by another token, overlongs, surrogates) are written
** as U+FFFD, one per bad byte or cut-short sequence, so the output is always
** valid UTF-8 and never stuck. A negative token flushes what is pending.
*/
#include "internal.h"

static const uint8_t k_replacement[3] = {0xEF, 0xBF, 0xBD}; /* U+FFFD */

/* Where output goes; buf NULL only counts (a dry run). */
typedef struct detok_out {
    char *buf;
    size_t n;
} detok_out;

static void put(detok_out *o, const uint8_t *s, size_t n)
{
    if (o->buf)
        for (size_t i = 0; i < n; i++)
            o->buf[o->n + i] = (char)s[i];
    o->n += n;
}

/* Bytes in the UTF-8 sequence that lead byte b starts; 0 if b cannot start one. */
static uint32_t seq_len(uint8_t b)
{
    if (b < 0x80)
        return 1;
    if (b >= 0xC2 && b <= 0xDF)
        return 2;
    if (b >= 0xE0 && b <= 0xEF)
        return 3;
    if (b >= 0xF0 && b <= 0xF4)
        return 4;
    return 0;
}

/* May b follow the held bytes p[0..n)? The second byte's range excludes
** overlong forms, surrogates and code points above U+10FFFF. */
static bool next_ok(const uint8_t *p, uint32_t n, uint8_t b)
{
    uint8_t lo = 0x80, hi = 0xBF;
    if (n == 1 && p[0] == 0xE0)
        lo = 0xA0;
    else if (n == 1 && p[0] == 0xED)
        hi = 0x9F;
    else if (n == 1 && p[0] == 0xF0)
        lo = 0x90;
    else if (n == 1 && p[0] == 0xF4)
        hi = 0x8F;
    return b >= lo && b <= hi;
}

/* A held sequence that can no longer complete becomes one U+FFFD. */
static void flush(l4lm_detok *d, detok_out *o)
{
    if (d->n_pending)
        put(o, k_replacement, 3);
    d->n_pending = 0;
}

static void feed(l4lm_detok *d, uint8_t b, detok_out *o)
{
    if (d->n_pending) {
        if (next_ok(d->pending, d->n_pending, b)) {
            d->pending[d->n_pending++] = b;
            if (d->n_pending == seq_len(d->pending[0])) {
                put(o, d->pending, d->n_pending);
                d->n_pending = 0;
            }
            return;
        }
        flush(d, o);
    }
    uint32_t n = seq_len(b);
    if (n == 1)
        put(o, &b, 1);
    else if (n == 0)
        put(o, k_replacement, 3);
    else
        d->pending[d->n_pending++] = b;
}

static size_t fail(l4lm_status *st, l4lm_status code)
{
    *st = code;
    return 0;
}

/*
** The piece is fetched into buf, moved to its end, and rewritten from the
** front. Writing never overtakes reading when cap >= out + 3: of the bytes
** still unread, all but at most 3 (held at the end) produce at least one
** output byte each, so the output written so far is at most
** out - unread + 3 <= cap - unread, which is where the unread bytes begin.
*/
size_t l4lm_detok_push(const l4lm_session *s, l4lm_detok *d, int32_t token, char *buf, size_t cap,
                       l4lm_status *st)
{
    l4lm_status ignored;
    if (!st)
        st = &ignored;
    *st = L4LM_OK;
    const l4lm_tok *t = s ? l4lm_session_tok(s) : NULL;
    if (!t || !d || !buf ||
        (d->n_pending && (seq_len(d->pending[0]) < 2 || d->n_pending >= seq_len(d->pending[0]))))
        return fail(st, L4LM_E_ARG); /* a detok state we could not have left */
    const l4lm_vocab_src *v = &l4lm_session_model(s)->vocab;
    if (token >= 0 && (uint32_t)token >= v->n_vocab)
        return fail(st, L4LM_E_TOKEN);
    detok_out o = {buf, 0};
    if (token < 0 || l4lm_tok_is_special(t, token)) {
        if (d->n_pending && cap < 3)
            return fail(st, L4LM_E_BUFFER);
        flush(d, &o);
        if (token >= 0)
            d->after_bos = token == v->bos;
        d->started = d->started || token >= 0;
        return o.n;
    }
    size_t n = l4lm_tok_piece(t, token, buf, cap), skip = 0;
    if (n >= cap) /* may have been cut: l4lm_tok_piece fills at most cap */
        return fail(st, L4LM_E_BUFFER);
    if (d->after_bos && n && buf[0] == ' ' && v->pre == L4LM_PRE_NONE && v->add_space_prefix)
        skip = 1; /* byte-level BPE has no dummy prefix: its spaces are real */
    n -= skip;
    const uint8_t *in = (const uint8_t *)buf + cap - n;
    __builtin_memmove(buf + cap - n, buf + skip, n);
    l4lm_detok dry = *d;
    detok_out count = {NULL, 0};
    for (size_t i = 0; i < n; i++)
        feed(&dry, in[i], &count);
    if (count.n + 3 > cap)
        return fail(st, L4LM_E_BUFFER);
    for (size_t i = 0; i < n; i++)
        feed(d, in[i], &o);
    d->after_bos = false;
    d->started = true;
    return o.n;
}

size_t l4lm_token_piece(const l4lm_session *s, int32_t token, char *buf, size_t cap)
{
    return s ? l4lm_tok_piece(l4lm_session_tok(s), token, buf, cap) : 0;
}

bool l4lm_token_is_special(const l4lm_session *s, int32_t token)
{
    return s && l4lm_tok_is_special(l4lm_session_tok(s), token);
}
