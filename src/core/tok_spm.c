/*
** tok_spm.c — one text fragment through SentencePiece-style BPE, as
** llama.cpp's SPM tokenizer (and llama2.c's encode) does it: normalise
** (GGUF: ' ' -> U+2581 "▁"; the dummy-prefix space), split into UTF-8
** characters, merge the pair whose concatenation is the best-scoring piece
** until none is left (tok_merge.c), then write each symbol as its piece or,
** failing that, byte by byte as <0xNN> tokens (byte fallback) or unk.
*/
#include "tok.h"

/* Text -> norm: the dummy prefix, and ' ' -> "▁" for GGUF (llama2.c pieces keep spaces). */
static void spm_normalise(l4lm_tok *t, const uint8_t *text, size_t len, bool prefix)
{
    bool gguf = t->v.format == L4LM_FORMAT_GGUF;
    uint32_t n = 0;
    for (size_t i = 0; i < len + 1; i++) {
        uint8_t c = i == 0 ? ' ' : text[i - 1];
        if (i == 0 && (len == 0 || !prefix))
            continue;
        if (c == ' ' && gguf) {
            t->norm[n++] = 0xE2;
            t->norm[n++] = 0x96;
            t->norm[n++] = 0x81;
        } else {
            t->norm[n++] = c;
        }
    }
    t->n_norm = n;
}

/*
** One symbol per UTF-8 character. A lead byte whose continuation bytes are
** missing is a symbol of its own, as is a stray continuation byte; so every
** symbol starts at a byte of the original text (or the prefix) and there are
** at most len + 1 of them. For valid UTF-8 this is llama.cpp's split; for
** invalid bytes llama.cpp lets a lead byte swallow whatever follows.
*/
static uint32_t spm_split(l4lm_tok *t)
{
    static const uint8_t seq_len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    const uint8_t *p = t->norm;
    uint32_t n_sym = 0;
    for (uint32_t at = 0; at < t->n_norm; n_sym++) {
        tok_sym *s = &t->sym[n_sym];
        s->start = at;
        s->prev = (int32_t)n_sym - 1;
        s->id = s->pair_id = -1;
        uint32_t n = seq_len[p[at] >> 4], k = 1;
        while (k < n && at + k < t->n_norm && (p[at + k] & 0xC0) == 0x80)
            k++;
        at += k == n ? n : 1;
        s->next = at < t->n_norm ? (int32_t)n_sym + 1 : -1;
    }
    return n_sym;
}

/* Symbols -> ids: a piece as itself, anything else byte by byte. */
static l4lm_status spm_emit(l4lm_tok *t, uint32_t n_sym, int32_t *out, size_t cap, size_t *n)
{
    for (int32_t s = n_sym ? 0 : -1; s >= 0; s = t->sym[s].next) {
        uint32_t start = t->sym[s].start, len = l4lm_tok_sym_end(t, (uint32_t)s) - start;
        int32_t id = len <= L4LM_MAX_TOKEN_BYTES ? l4lm_tok_find(t, t->norm + start, len) : -1;
        if (id >= 0) {
            l4lm_tok_emit(out, cap, n, id);
            continue;
        }
        for (uint32_t i = 0; i < len; i++) {
            int32_t b = t->byte_id[t->norm[start + i]];
            if (b < 0)
                b = t->v.unk;
            if (b < 0)
                return L4LM_E_TOKENIZER; /* neither byte tokens nor unk */
            l4lm_tok_emit(out, cap, n, b);
        }
    }
    return L4LM_OK;
}

l4lm_status l4lm_spm_encode(l4lm_tok *t, const uint8_t *text, size_t len, bool prefix, int32_t *out,
                            size_t cap, size_t *n)
{
    spm_normalise(t, text, len, prefix);
    uint32_t n_sym = spm_split(t);
    l4lm_tok_merge(t, n_sym);
    return spm_emit(t, n_sym, out, cap, n);
}
