/*
** engine.c — the server's view of the real engine: each client's session
** is an l4lm_session, driven through the public API exactly as `l4lm run`
** drives it, so a request gives the tokens the CLI gives.
*/
#include "l4lm_serve.h"

static void start(void *s, uint64_t seed)
{
    l4lm_session_reset(s);
    l4lm_session_seed(s, seed);
}

static l4lm_status tokenize(void *s, const char *text, size_t len, bool add_bos, int32_t *out,
                            size_t cap, size_t *n)
{
    return l4lm_tokenize(s, text, len, add_bos ? L4LM_TOK_BOS : 0, out, cap, n);
}

static l4lm_status eval(void *s, const int32_t *tokens, size_t n)
{
    return l4lm_eval(s, tokens, n, 0);
}

static l4lm_status sample(void *s, const l4lm_sampler *sp, int32_t *token)
{
    return l4lm_sample(s, sp, token);
}

static size_t detok(void *s, l4lm_detok *d, int32_t token, char *buf, size_t cap, l4lm_status *st)
{
    return l4lm_detok_push(s, d, token, buf, cap, st);
}

static bool is_eos(void *s, int32_t token)
{
    l4lm_model_info mi;
    return !l4lm_model_get_info(l4lm_session_model(s), &mi) && token == mi.eos;
}

/* The chat template's end-of-turn tokens, as every other front end stops
** on them (l4lm_gen_opts_default); EOS among them is is_eos's already. */
static size_t stop_tokens(void *s, int32_t *ids, size_t cap)
{
    return l4lm_chat_stop_tokens(l4lm_session_model(s), ids, cap);
}

/* Constrained output: the session's token table, and sampling within a mask. */
static size_t vocab_bytes(void *s)
{
    size_t n = 0;
    return l4lm_grammar_vocab_size(s, &n) ? 0 : n;
}

static l4lm_status vocab(void *s, void *mem, size_t size, l4lm_grammar_vocab **v)
{
    return l4lm_grammar_vocab_init(v, s, mem, size);
}

static l4lm_status sample_masked(void *s, const l4lm_sampler *sp, const uint8_t *allow,
                                 int32_t *token)
{
    return l4lm_sample_masked(s, sp, allow, token);
}

/* A full context: keep BOS (when the prompt began with it) and keep tokens
** after it, drop half of the rest -- as `l4lm run --context-shift --keep`. */
static l4lm_status shift(void *s, uint32_t keep)
{
    const int32_t *ids;
    l4lm_model_info mi;
    uint32_t pos = l4lm_session_tokens(s, &ids);
    if (pos && !l4lm_model_get_info(l4lm_session_model(s), &mi) && ids[0] == mi.bos)
        keep++;
    return keep < pos ? l4lm_session_shift(s, keep, (pos - keep) / 2) : L4LM_E_CONTEXT_FULL;
}

/* The next request of the same client: what the session holds of its prompt stays. */
static l4lm_status reuse(void *s, uint64_t seed, const int32_t *ids, size_t n, size_t *kept)
{
    l4lm_session_seed(s, seed);
    return l4lm_session_reuse(s, ids, n, kept);
}

const l4lm_shm_server_engine *l4lm_shm_server_engine_l4lm(void)
{
    /* A local engine: no request, wait or end hooks. */
    static const l4lm_shm_server_engine engine = {.start = start,
                                                  .tokenize = tokenize,
                                                  .eval = eval,
                                                  .sample = sample,
                                                  .detok = detok,
                                                  .is_eos = is_eos,
                                                  .stop_tokens = stop_tokens,
                                                  .grammar_vocab_bytes = vocab_bytes,
                                                  .grammar_vocab = vocab,
                                                  .sample_masked = sample_masked,
                                                  .shift = shift,
                                                  .reuse = reuse};
    return &engine;
}
