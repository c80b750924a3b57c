/*
** gen.c — one generation step, the only copy of it: sample a token, check
** it against the stop tokens, (when asked) take its logprobs, turn it into
** text, check the text against the stop strings, feed the token back. `l4lm run`, `l4lm chat`,
*`l4lm serve`,
** the shared-memory server and the bare-metal driver all call
** l4lm_gen_step(), so they stop on the same tokens and show the same text.
**
** Stop strings are found in g->text, which holds the text held back by the
** last step followed by the new token's text. The earliest match ends the
** generation there. Without a match, the longest tail of the text that is a
** proper prefix of some stop string is held back and the rest released: a
** stop string that began earlier would have to extend a longer such tail,
** so nothing released can ever turn out to be part of a stop string.
*/
#include "grammar.h"

_Static_assert(L4LM_GEN_PIECE_CAP >= 32 + L4LM_MAX_TOKEN_BYTES,
               "a step's piece buffer holds the detokeniser's longest output");

/* The session's own functions, for l4lm_gen_init. */
static l4lm_status s_sample(void *s, const l4lm_sampler *sp, int32_t *token)
{
    return l4lm_sample(s, sp, token);
}

static size_t s_detok(void *s, l4lm_detok *d, int32_t token, char *buf, size_t cap, l4lm_status *st)
{
    return l4lm_detok_push(s, d, token, buf, cap, st);
}

static l4lm_status s_eval(void *s, const int32_t *tokens, size_t n)
{
    return l4lm_eval(s, tokens, n, 0);
}

/* Half of what follows the kept tokens goes, as llama.cpp's examples do. */
static l4lm_status s_shift(void *s, uint32_t keep)
{
    uint32_t pos = l4lm_session_pos(s);
    uint32_t n_discard = keep < pos ? (pos - keep) / 2 : 0;
    return n_discard ? l4lm_session_shift(s, keep, n_discard) : L4LM_E_CONTEXT_FULL;
}

static bool s_is_eos(void *s, int32_t token)
{
    return token == l4lm_session_model(s)->vocab.eos;
}

static l4lm_status s_logprobs(void *s, int32_t token, uint32_t top_n, l4lm_token_logprobs *out)
{
    return l4lm_logprobs(s, token, top_n, out);
}

static l4lm_status s_sample_masked(void *s, const l4lm_sampler *sp, const uint8_t *allow,
                                   int32_t *token)
{
    return l4lm_sample_masked(s, sp, allow, token);
}

l4lm_gen_opts l4lm_gen_opts_default(const l4lm_model *m, uint32_t max_tokens)
{
    l4lm_gen_opts o;
    __builtin_memset(&o, 0, sizeof o);
    o.sampler = l4lm_sampler_greedy();
    o.max_tokens = max_tokens;
    int32_t ids[L4LM_GEN_MAX_EOT];
    size_t n = m ? l4lm_chat_stop_tokens(m, ids, L4LM_GEN_MAX_EOT) : 0;
    for (size_t i = 0; i < n; i++)
        if (ids[i] != m->vocab.eos) /* EOS is the session's is_eos */
            o.eot[o.n_eot++] = ids[i];
    return o;
}

l4lm_status l4lm_gen_init_io(l4lm_gen *g, const l4lm_gen_io *io, void *ctx, const l4lm_gen_opts *o)
{
    if (!g || !io || !io->sample || !io->detok || !io->eval || !o ||
        o->n_stop > L4LM_GEN_MAX_STOPS || o->n_eot > L4LM_GEN_MAX_EOT ||
        (o->logprobs && (!io->logprobs || o->top_logprobs > L4LM_LOGPROBS_MAX_TOP)))
        return L4LM_E_ARG;
    for (uint32_t i = 0; i < o->n_stop; i++)
        if (!o->stop[i] || o->stop_len[i] == 0 || o->stop_len[i] > L4LM_GEN_MAX_STOP_BYTES)
            return L4LM_E_ARG;
    if (o->grammar && !o->grammar_vocab)
        return L4LM_E_ARG;
    g->io = *io;
    g->sample_masked = 0;
    g->n_checked = 0;
    g->n_masked = 0;
    g->n_shifts = 0;
    g->ctx = ctx;
    g->o = *o;
    g->detok = (l4lm_detok){0};
    g->token = -1;
    g->n_gen = 0;
    g->finish = L4LM_FINISH_NONE;
    g->status = L4LM_OK;
    g->held_off = g->n_held = 0;
    return L4LM_OK;
}

l4lm_status l4lm_gen_init(l4lm_gen *g, l4lm_session *s, const l4lm_gen_opts *o)
{
    const l4lm_gen_io io = {.sample = s_sample,
                            .detok = s_detok,
                            .eval = s_eval,
                            .is_eos = s_is_eos,
                            .logprobs = s_logprobs,
                            .shift = s_shift};
    l4lm_status st = s ? l4lm_gen_init_io(g, &io, s, o) : L4LM_E_ARG;
    if (st == L4LM_OK)
        g->sample_masked = s_sample_masked;
    return st;
}

/* ---- stop strings ---- */

static bool same(const char *a, const char *b, size_t n)
{
    return __builtin_memcmp(a, b, n) == 0;
}

/* Where the earliest stop string starts in t[0, n), or n. */
static size_t first_stop(const l4lm_gen_opts *o, const char *t, size_t n)
{
    for (size_t p = 0; p < n; p++)
        for (uint32_t i = 0; i < o->n_stop; i++)
            if (o->stop_len[i] <= n - p && same(t + p, o->stop[i], o->stop_len[i]))
                return p;
    return n;
}

/* The longest tail of t[0, n) that a stop string begins with (shorter than it). */
static size_t tail_to_hold(const l4lm_gen_opts *o, const char *t, size_t n)
{
    size_t hold = 0;
    for (uint32_t i = 0; i < o->n_stop; i++) {
        size_t k = o->stop_len[i] - 1 < n ? o->stop_len[i] - 1 : n;
        for (; k > hold; k--)
            if (same(t + n - k, o->stop[i], k)) {
                hold = k;
                break;
            }
    }
    return hold;
}

static bool is_eot(const l4lm_gen_opts *o, int32_t tok)
{
    for (uint32_t i = 0; i < o->n_eot; i++)
        if (o->eot[i] == tok)
            return true;
    return false;
}

/* ---- the grammar: sample, check the token, mask only when it is rejected ---- */

static bool is_stop_token(const l4lm_gen *g, int32_t tok)
{
    return (g->io.is_eos && g->io.is_eos(g->ctx, tok)) || is_eot(&g->o, tok);
}

/* Would the grammar take tok? EOS and end-of-turn only where it can end. */
static bool grammar_allows(l4lm_gen *g, int32_t tok)
{
    g->n_checked++;
    if (is_stop_token(g, tok))
        return l4lm_grammar_can_end(g->o.grammar);
    return l4lm_grammar_check_token(g->o.grammar, g->o.grammar_vocab, tok) == L4LM_OK;
}

/* The first sample usually fits (the model follows the format); only when
** it does not is every token checked, once, and the sample drawn again
** among those that fit. */
static l4lm_status grammar_sample(l4lm_gen *g)
{
    l4lm_status st = g->io.sample(g->ctx, &g->o.sampler, &g->token);
    if (st || grammar_allows(g, g->token))
        return st;
    if (!g->sample_masked)
        return L4LM_E_ARG;
    l4lm_grammar_vocab *v = g->o.grammar_vocab;
    uint32_t n_ok = 0;
    g->n_masked++;
    __builtin_memset(v->mask, 0, (v->n_vocab + 7) / 8);
    for (uint32_t t = 0; t < v->n_vocab; t++)
        if (grammar_allows(g, (int32_t)t)) {
            v->mask[t / 8] |= (uint8_t)(1u << (t % 8));
            n_ok++;
        }
    if (n_ok == 0)
        return L4LM_E_GRAMMAR;
    return g->sample_masked(g->ctx, &g->o.sampler, v->mask, &g->token);
}

/* ---- the step ---- */

static l4lm_finish end(l4lm_gen *g, l4lm_finish why, l4lm_status st)
{
    g->finish = why;
    g->status = st;
    return why;
}

/* End for a reason other than a stop string: what was held back is shown. */
static l4lm_finish end_flush(l4lm_gen *g, l4lm_finish why, size_t *len)
{
    *len = g->n_held;
    g->n_held = 0;
    return end(g, why, L4LM_OK);
}

/* End after this step's token with all n bytes of text shown, held ones too. */
static l4lm_finish end_show_all(l4lm_gen *g, l4lm_finish why, size_t n, size_t *len)
{
    *len = n;
    g->held_off = g->n_held = 0;
    return end(g, why, L4LM_OK);
}

l4lm_finish l4lm_gen_step(l4lm_gen *g, const char **text, size_t *len)
{
    if (!g || !text || !len)
        return L4LM_FINISH_ERROR;
    *len = 0;
    *text = g->text;
    if (g->finish != L4LM_FINISH_NONE)
        return g->finish;
    /* the bytes held back by the last step go to the front */
    __builtin_memmove(g->text, g->text + g->held_off, g->n_held);
    g->held_off = 0;
    if (g->n_gen >= g->o.max_tokens)
        return end_flush(g, L4LM_FINISH_LENGTH, len);
    l4lm_grammar *gr = g->o.grammar;
    if (gr && !l4lm_grammar_can_continue(gr)) /* complete: only EOS could follow */
        return end_flush(g, L4LM_FINISH_EOS, len);
    l4lm_status st = gr ? grammar_sample(g) : g->io.sample(g->ctx, &g->o.sampler, &g->token);
    if (st)
        return end(g, L4LM_FINISH_ERROR, st);
    bool stops = !g->o.ignore_eos || gr; /* a grammar allowed it only where it can end */
    if (stops && g->io.is_eos && g->io.is_eos(g->ctx, g->token))
        return end_flush(g, L4LM_FINISH_EOS, len);
    if (stops && is_eot(&g->o, g->token))
        return end_flush(g, L4LM_FINISH_EOT, len);
    if (gr && (st = l4lm_grammar_accept_token(gr, g->o.grammar_vocab, g->token)))
        return end(g, L4LM_FINISH_ERROR, st);
    /* the logits are still the ones sampled from: the eval comes last */
    if (g->o.logprobs && (st = g->io.logprobs(g->ctx, g->token, g->o.top_logprobs, &g->logprobs)))
        return end(g, L4LM_FINISH_ERROR, st);
    size_t n =
        g->io.detok(g->ctx, &g->detok, g->token, g->text + g->n_held, L4LM_GEN_PIECE_CAP, &st);
    if (st || n > L4LM_GEN_PIECE_CAP)
        return end(g, L4LM_FINISH_ERROR, st ? st : L4LM_E_BUFFER);
    g->n_gen++;
    n += g->n_held;
    size_t cut = first_stop(&g->o, g->text, n);
    if (cut < n) {
        *len = cut;
        g->n_held = 0;
        return end(g, L4LM_FINISH_STOP, L4LM_OK);
    }
    g->n_held = (uint32_t)tail_to_hold(&g->o, g->text, n);
    g->held_off = (uint32_t)(n - g->n_held);
    *len = g->held_off;
    if (g->n_gen == g->o.max_tokens)
        return end_show_all(g, L4LM_FINISH_LENGTH, n, len);
    st = g->io.eval(g->ctx, &g->token, 1);
    if (st == L4LM_E_CONTEXT_FULL && g->o.context_shift && g->io.shift &&
        g->io.shift(g->ctx, g->o.n_keep) == L4LM_OK) {
        g->n_shifts++;
        st = g->io.eval(g->ctx, &g->token, 1);
    }
    if (st == L4LM_E_CONTEXT_FULL)
        return end_show_all(g, L4LM_FINISH_CONTEXT, n, len);
    return st ? end(g, L4LM_FINISH_ERROR, st) : L4LM_FINISH_NONE;
}
