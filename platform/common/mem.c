/*
** mem.c — memcpy, memset, memmove and memcmp: the only outside symbols the
** core may use (compilers emit calls to them on their own), so every
** platform without a libc supplies them. Built with -fno-builtin and
** -fno-tree-loop-distribute-patterns so the compiler cannot turn these loops
** back into calls to themselves.
*/
#include <stddef.h>
#include <stdint.h>

/* Word-at-a-time when both pointers share alignment: the engine copies
** whole rows through these, and byte loops are slow under emulation. */
static int both_aligned(const void *a, const void *b)
{
    return (((uintptr_t)a | (uintptr_t)b) & (sizeof(uint64_t) - 1)) == 0;
}

/* Front-to-back copy; also correct for overlap with dst below src, which
** is why it is not declared restrict (memmove relies on it). */
static void copy_forward(unsigned char *d, const unsigned char *s, size_t n)
{
    if (both_aligned(d, s)) {
        for (; n >= 8; n -= 8, d += 8, s += 8)
            *(uint64_t *)(void *)d = *(const uint64_t *)(const void *)s;
    }
    while (n--)
        *d++ = *s++;
}

void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
    copy_forward(dst, src, n);
    return dst;
}

void *memset(void *dst, int c, size_t n)
{
    unsigned char *d = dst;
    if (((uintptr_t)d & 7) == 0) {
        uint64_t w = (unsigned char)c * 0x0101010101010101ull;
        for (; n >= 8; n -= 8, d += 8)
            *(uint64_t *)(void *)d = w;
    }
    while (n--)
        *d++ = (unsigned char)c;
    return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    if ((uintptr_t)d <= (uintptr_t)s || (uintptr_t)d - (uintptr_t)s >= n) {
        copy_forward(d, s, n);
        return dst;
    }
    while (n--) /* overlapping with dst above src: copy from the end */
        d[n] = s[n];
    return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < n; i++) {
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
    }
    return 0;
}
