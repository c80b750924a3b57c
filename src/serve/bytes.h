/*
** bytes.h — little-endian loads and stores of the request body
** (request.c) and the length of a message string (server.c). The service
** code's own: it sees only the public headers and this folder, not the
** engine's internals.
*/
#ifndef L4LM_SERVE_BYTES_H
#define L4LM_SERVE_BYTES_H
#include <stddef.h>
#include <stdint.h>

static inline uint32_t l4lm_shm_rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline uint64_t l4lm_shm_rd64(const uint8_t *p)
{
    return (uint64_t)l4lm_shm_rd32(p) | ((uint64_t)l4lm_shm_rd32(p + 4) << 32);
}

static inline float l4lm_shm_rdf32(const uint8_t *p)
{
    uint32_t u = l4lm_shm_rd32(p);
    float f;
    __builtin_memcpy(&f, &u, sizeof f);
    return f;
}

static inline void l4lm_shm_wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline void l4lm_shm_wrf32(uint8_t *p, float f)
{
    uint32_t u;
    __builtin_memcpy(&u, &f, sizeof u);
    l4lm_shm_wr32(p, u);
}

static inline size_t l4lm_shm_strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}
#endif
