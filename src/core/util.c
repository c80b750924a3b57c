/*
** util.c — overflow-checked size arithmetic, little-endian reads and the few
** string helpers the core needs (there is no libc underneath).
*/
#include "internal.h"

bool l4lm_add_ovf(uint64_t a, uint64_t b, uint64_t *r)
{
    return __builtin_add_overflow(a, b, r);
}

bool l4lm_mul_ovf(uint64_t a, uint64_t b, uint64_t *r)
{
    return __builtin_mul_overflow(a, b, r);
}

uint64_t l4lm_align_up(uint64_t x, uint64_t a)
{
    return (x + (a - 1)) & ~(a - 1);
}

/* Byte-wise reads: file data has no alignment guarantee and is little-endian. */
uint16_t l4lm_rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

uint32_t l4lm_rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

uint64_t l4lm_rd64(const uint8_t *p)
{
    return (uint64_t)l4lm_rd32(p) | ((uint64_t)l4lm_rd32(p + 4) << 32);
}

float l4lm_rdf32(const uint8_t *p)
{
    uint32_t u = l4lm_rd32(p);
    float f;
    __builtin_memcpy(&f, &u, sizeof f);
    return f;
}

size_t l4lm_strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

bool l4lm_streq(const char *a, size_t alen, const char *b)
{
    size_t blen = l4lm_strlen(b);
    return alen == blen && __builtin_memcmp(a, b, alen) == 0;
}

/* Appends src[0..n) to dst (capacity cap, current length *len), NUL-terminated. */
static void append(char *dst, size_t cap, size_t *len, const char *src, size_t n)
{
    for (size_t i = 0; i < n && *len + 1 < cap; i++) {
        char c = src[i];
        if (c < 32 || c >= 127)
            c = '?';
        dst[(*len)++] = c;
    }
    dst[*len] = 0;
}

l4lm_status l4lm_fail(l4lm_error *err, l4lm_status st, uint64_t off, const char *what,
                      const char *name, size_t name_len)
{
    if (!err)
        return st;
    size_t len = 0;
    err->status = st;
    err->offset = off;
    err->what[0] = 0;
    append(err->what, sizeof err->what, &len, what, l4lm_strlen(what));
    if (name && name_len) {
        append(err->what, sizeof err->what, &len, " '", 2);
        append(err->what, sizeof err->what, &len, name, name_len);
        append(err->what, sizeof err->what, &len, "'", 1);
    }
    return st;
}

l4lm_status l4lm_fail_index(l4lm_error *err, l4lm_status st, uint64_t off, const char *what,
                            uint32_t index)
{
    char num[10];
    size_t n = sizeof num;
    do {
        num[--n] = (char)('0' + index % 10);
        index /= 10;
    } while (index && n);
    return l4lm_fail(err, st, off, what, num + n, sizeof num - n);
}
