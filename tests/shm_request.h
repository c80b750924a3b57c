/*
** shm_request.h — one shared-memory request as the serve tests build it:
** the prompt, its token budget, flags and sampler, every other field zero
** (so a new field in l4lm_shm_request starts off in every test).
*/
#ifndef SHM_REQUEST_H
#define SHM_REQUEST_H
#include <string.h>

#include "l4lm_serve.h"

static inline l4lm_shm_request shm_request(const char *prompt, uint32_t max_tokens,
                                           l4lm_sampler sampler, uint32_t flags)
{
    l4lm_shm_request r;
    memset(&r, 0, sizeof r);
    r.prompt = prompt;
    r.prompt_len = (uint32_t)strlen(prompt);
    r.max_tokens = max_tokens;
    r.flags = flags;
    r.sampler = sampler;
    return r;
}
#endif
