/*
** print.h — decimal output for the PDs. Microkit 1.2.x has only
** microkit_dbg_putc and microkit_dbg_puts (microkit_dbg_put32 came later),
** so the PDs print numbers through this instead.
*/
#ifndef L4LM_SEL4_PRINT_H
#define L4LM_SEL4_PRINT_H
#include <microkit.h>

/* v in decimal at out (10 bytes at most, no NUL); returns the length. */
static inline uint32_t l4lm_sel4_utoa(char out[10], uint32_t v)
{
    char rev[10];
    uint32_t n = 0;
    do
        rev[n++] = (char)('0' + v % 10);
    while (v /= 10);
    for (uint32_t i = 0; i < n; i++)
        out[i] = rev[n - 1 - i];
    return n;
}

static inline void l4lm_sel4_putu(uint32_t v)
{
    char buf[10];
    uint32_t n = l4lm_sel4_utoa(buf, v);
    for (uint32_t i = 0; i < n; i++)
        microkit_dbg_putc(buf[i]);
}
#endif
