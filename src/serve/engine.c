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

const l4lm_shm_server_engine *l4lm_shm_server_engine_l4lm(void)
{
    /* A local engine: no request, wait or end hooks. */
    static const l4lm_shm_server_engine engine = {.start = start,
                                                  .tokenize = tokenize,
                                                  .eval = eval,
                                                  .sample = sample,
                                                  .detok = detok,
                                                  .is_eos = is_eos,
                                                  .stop_tokens = stop_tokens};
    return &engine;
}
