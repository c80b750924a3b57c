/*
** grammar_vocab.c — what a grammar needs from the vocabulary, built once
** per session: every token's text (l4lm_token_piece) packed in caller
** memory, which tokens are special, and the mask of allowed tokens a step
** fills when its first sample was rejected. A step then reads texts from
** here instead of asking the tokenizer for each of n_vocab tokens.
*/
#include "grammar.h"

static size_t mask_bytes(uint32_t n)
{
    return (n + 7) / 8;
}

static size_t table_bytes(uint32_t n, uint64_t text)
{
    return sizeof(l4lm_grammar_vocab) + 4 * ((size_t)n + 1) + 2 * mask_bytes(n) + text;
}

static uint32_t n_vocab(const l4lm_session *s)
{
    return l4lm_session_model(s)->hp.n_vocab;
}

l4lm_status l4lm_grammar_vocab_size(const l4lm_session *s, size_t *bytes)
{
    if (!s || !bytes)
        return L4LM_E_ARG;
    char piece[L4LM_MAX_TOKEN_BYTES];
    uint64_t text = 0;
    for (uint32_t t = 0; t < n_vocab(s); t++)
        text += l4lm_token_piece(s, (int32_t)t, piece, sizeof piece);
    *bytes = table_bytes(n_vocab(s), text);
    return L4LM_OK;
}

l4lm_status l4lm_grammar_vocab_init(l4lm_grammar_vocab **out, const l4lm_session *s, void *mem,
                                    size_t mem_size)
{
    if (!out || !s || !mem || ((uintptr_t)mem & 7) || mem_size < sizeof(l4lm_grammar_vocab))
        return L4LM_E_ARG;
    uint32_t n = n_vocab(s);
    l4lm_grammar_vocab *v = mem;
    v->n_vocab = n;
    v->off = (uint32_t *)(v + 1);
    v->special = (uint8_t *)(v->off + n + 1);
    v->mask = v->special + mask_bytes(n);
    v->text = (char *)(v->mask + mask_bytes(n));
    size_t room = mem_size - table_bytes(n, 0), used = 0;
    if (mem_size < table_bytes(n, 0))
        return L4LM_E_BUFFER;
    __builtin_memset(v->special, 0, mask_bytes(n));
    for (uint32_t t = 0; t < n; t++) {
        char piece[L4LM_MAX_TOKEN_BYTES];
        size_t k = l4lm_token_piece(s, (int32_t)t, piece, sizeof piece);
        if (k > room - used)
            return L4LM_E_BUFFER;
        __builtin_memcpy(v->text + used, piece, k);
        v->off[t] = (uint32_t)used;
        used += k;
        if (l4lm_token_is_special(s, (int32_t)t))
            v->special[t / 8] |= (uint8_t)(1u << (t % 8));
    }
    v->off[n] = (uint32_t)used;
    *out = v;
    return L4LM_OK;
}

/* Can token t's text continue the grammar? Special and empty tokens never do. */
l4lm_status l4lm_grammar_check_token(l4lm_grammar *g, const l4lm_grammar_vocab *v, int32_t t)
{
    if (t < 0 || (uint32_t)t >= v->n_vocab)
        return L4LM_E_TOKEN;
    uint32_t a = v->off[t], b = v->off[t + 1];
    if ((v->special[t / 8] >> (t % 8) & 1) || a == b)
        return L4LM_E_GRAMMAR;
    return l4lm_grammar_check(g, v->text + a, b - a);
}

l4lm_status l4lm_grammar_accept_token(l4lm_grammar *g, const l4lm_grammar_vocab *v, int32_t t)
{
    l4lm_status st = l4lm_grammar_check_token(g, v, t);
    return st ? st : l4lm_grammar_accept(g, v->text + v->off[t], v->off[t + 1] - v->off[t]);
}
