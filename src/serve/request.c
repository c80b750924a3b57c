/*
** request.c — the request body: the client encodes it into its request
** data area; the server decodes and checks it, only ever from its private
** copy, so nothing can change between a check and a use.
**
**   0 u32 max_tokens   4 u32 flags        8 f32 temperature  12 i32 top_k
**  16 f32 top_p       20 f32 min_p       24 f32 repeat_penalty
**  28 i32 repeat_last_n                  32 u64 seed
**  40 u32 prompt_len  44 u32 n_stop      48 prompt bytes, then n_stop x (u32 len, bytes)
** then, each only when its flag is set: u32 n_keep (CONTEXT_SHIFT);
** u32 grammar_len, grammar bytes (GRAMMAR).
*/
#include "bytes.h"
#include "l4lm_serve.h"

uint32_t l4lm_shm_request_size(const l4lm_shm_request *r)
{
    uint64_t n = L4LM_SHM_REQ_FIXED + (uint64_t)r->prompt_len;
    if (r->n_stop > L4LM_SHM_MAX_STOPS)
        return 0;
    for (uint32_t i = 0; i < r->n_stop; i++) {
        if (r->stop_len[i] == 0 || r->stop_len[i] > L4LM_SHM_MAX_STOP_BYTES)
            return 0;
        n += 4 + r->stop_len[i];
    }
    if (r->flags & L4LM_SHM_CONTEXT_SHIFT)
        n += 4;
    if (r->flags & L4LM_SHM_GRAMMAR) {
        if (!r->grammar_len || r->grammar_len > (1u << 24))
            return 0;
        n += 4 + (uint64_t)r->grammar_len;
    }
    return n <= (1u << 30) ? (uint32_t)n : 0;
}

bool l4lm_shm_request_encode(const l4lm_shm_request *r, uint8_t *out, uint32_t cap)
{
    uint32_t size = l4lm_shm_request_size(r);
    if (!size || size > cap)
        return false;
    const l4lm_sampler *sp = &r->sampler;
    l4lm_shm_wr32(out + 0, r->max_tokens);
    l4lm_shm_wr32(out + 4, r->flags);
    l4lm_shm_wrf32(out + 8, sp->temperature);
    l4lm_shm_wr32(out + 12, (uint32_t)sp->top_k);
    l4lm_shm_wrf32(out + 16, sp->top_p);
    l4lm_shm_wrf32(out + 20, sp->min_p);
    l4lm_shm_wrf32(out + 24, sp->repeat_penalty);
    l4lm_shm_wr32(out + 28, (uint32_t)sp->repeat_last_n);
    l4lm_shm_wr32(out + 32, (uint32_t)sp->seed);
    l4lm_shm_wr32(out + 36, (uint32_t)(sp->seed >> 32));
    l4lm_shm_wr32(out + 40, r->prompt_len);
    l4lm_shm_wr32(out + 44, r->n_stop);
    uint8_t *p = out + L4LM_SHM_REQ_FIXED;
    __builtin_memcpy(p, r->prompt, r->prompt_len);
    p += r->prompt_len;
    for (uint32_t i = 0; i < r->n_stop; i++) {
        l4lm_shm_wr32(p, r->stop_len[i]);
        __builtin_memcpy(p + 4, r->stop[i], r->stop_len[i]);
        p += 4 + r->stop_len[i];
    }
    if (r->flags & L4LM_SHM_CONTEXT_SHIFT) {
        l4lm_shm_wr32(p, r->n_keep);
        p += 4;
    }
    if (r->flags & L4LM_SHM_GRAMMAR) {
        l4lm_shm_wr32(p, r->grammar_len);
        __builtin_memcpy(p + 4, r->grammar, r->grammar_len);
    }
    return true;
}

/* The sampler options, in the same ranges the CLI accepts; NaN fails every test. */
static const char *check_sampler(const l4lm_sampler *sp)
{
    if (!(sp->temperature >= 0.0f && sp->temperature <= 100.0f))
        return "temperature not in [0, 100]";
    if (sp->top_k < 0)
        return "top_k negative";
    if (!(sp->top_p > 0.0f && sp->top_p <= 1.0f))
        return "top_p not in (0, 1]";
    if (!(sp->min_p >= 0.0f && sp->min_p < 1.0f))
        return "min_p not in [0, 1)";
    if (!(sp->repeat_penalty >= 1e-3f && sp->repeat_penalty <= 100.0f))
        return "repeat_penalty not in [0.001, 100]";
    if (sp->repeat_last_n < -1)
        return "repeat_last_n below -1";
    return 0;
}

static l4lm_shm_status bad(const char **why, l4lm_shm_status st, const char *text)
{
    *why = text;
    return st;
}

/* The fields their flags announce, from at on; every length checked against len. */
static l4lm_shm_status decode_tail(const uint8_t *body, uint32_t len, uint64_t at,
                                   l4lm_shm_request *r, const char **why)
{
    if (r->flags & L4LM_SHM_CONTEXT_SHIFT) {
        if (at + 4 > len)
            return bad(why, L4LM_SHM_E_SIZE, "n_keep beyond the body");
        r->n_keep = l4lm_shm_rd32(body + at);
        if (r->n_keep > L4LM_SHM_MAX_TOKENS)
            return bad(why, L4LM_SHM_E_OPTION, "n_keep above 2^20");
        at += 4;
    }
    if (r->flags & L4LM_SHM_GRAMMAR) {
        if (at + 4 > len)
            return bad(why, L4LM_SHM_E_SIZE, "grammar beyond the body");
        r->grammar_len = l4lm_shm_rd32(body + at);
        if (r->grammar_len == 0)
            return bad(why, L4LM_SHM_E_GRAMMAR, "empty grammar");
        if (at + 4 + r->grammar_len > len)
            return bad(why, L4LM_SHM_E_SIZE, "grammar beyond the body");
        r->grammar = (const char *)body + at + 4;
        at += 4 + r->grammar_len;
    }
    if (at != len)
        return bad(why, L4LM_SHM_E_SIZE, "bytes after the last field");
    return L4LM_SHM_LENGTH;
}

/* The prompt and stop strings after the fixed part; every length checked against len. */
static l4lm_shm_status decode_strings(const uint8_t *body, uint32_t len, l4lm_shm_request *r,
                                      const char **why)
{
    uint64_t at = L4LM_SHM_REQ_FIXED + (uint64_t)r->prompt_len;
    if (at > len)
        return bad(why, L4LM_SHM_E_SIZE, "prompt_len beyond the body");
    r->prompt = (const char *)body + L4LM_SHM_REQ_FIXED;
    if (r->n_stop > L4LM_SHM_MAX_STOPS)
        return bad(why, L4LM_SHM_E_OPTION, "more than 4 stop strings");
    for (uint32_t i = 0; i < r->n_stop; i++) {
        if (at + 4 > len)
            return bad(why, L4LM_SHM_E_SIZE, "stop string beyond the body");
        uint32_t n = l4lm_shm_rd32(body + at);
        if (n == 0 || n > L4LM_SHM_MAX_STOP_BYTES)
            return bad(why, L4LM_SHM_E_OPTION, "stop string not 1..32 bytes");
        if (at + 4 + n > len)
            return bad(why, L4LM_SHM_E_SIZE, "stop string beyond the body");
        r->stop[i] = (const char *)body + at + 4;
        r->stop_len[i] = n;
        at += 4 + n;
    }
    return decode_tail(body, len, at, r, why);
}

l4lm_shm_status l4lm_shm_request_decode(const uint8_t *body, uint32_t len, l4lm_shm_request *r,
                                        const char **why)
{
    __builtin_memset(r, 0, sizeof *r);
    if (len < L4LM_SHM_REQ_FIXED)
        return bad(why, L4LM_SHM_E_SIZE, "body shorter than its fixed part");
    r->max_tokens = l4lm_shm_rd32(body + 0);
    r->flags = l4lm_shm_rd32(body + 4);
    l4lm_sampler *sp = &r->sampler;
    sp->temperature = l4lm_shm_rdf32(body + 8);
    sp->top_k = (int32_t)l4lm_shm_rd32(body + 12);
    sp->top_p = l4lm_shm_rdf32(body + 16);
    sp->min_p = l4lm_shm_rdf32(body + 20);
    sp->repeat_penalty = l4lm_shm_rdf32(body + 24);
    sp->repeat_last_n = (int32_t)l4lm_shm_rd32(body + 28);
    sp->seed = l4lm_shm_rd64(body + 32);
    r->prompt_len = l4lm_shm_rd32(body + 40);
    r->n_stop = l4lm_shm_rd32(body + 44);
    if (r->max_tokens > L4LM_SHM_MAX_TOKENS)
        return bad(why, L4LM_SHM_E_OPTION, "max_tokens above 2^20");
    if (r->flags & ~(uint32_t)(L4LM_SHM_NO_BOS | L4LM_SHM_IGNORE_EOS | L4LM_SHM_CONTEXT_SHIFT |
                               L4LM_SHM_GRAMMAR))
        return bad(why, L4LM_SHM_E_OPTION, "unknown flag bits");
    const char *what = check_sampler(sp);
    if (what)
        return bad(why, L4LM_SHM_E_OPTION, what);
    return decode_strings(body, len, r, why);
}

const char *l4lm_shm_status_name(uint32_t status)
{
    static const char *const done[] = {"length", "eos", "stop", "cancelled", "context-full"};
    static const char *const errs[] = {"bad-kind",   "bad-range",  "bad-size",
                                       "bad-option", "bad-prompt", "engine-error",
                                       "upstream",   "timeout",    "bad-grammar"};
    if (status < sizeof done / sizeof *done)
        return done[status];
    if (status >= L4LM_SHM_E_KIND && status - L4LM_SHM_E_KIND < sizeof errs / sizeof *errs)
        return errs[status - L4LM_SHM_E_KIND];
    return "unknown";
}
