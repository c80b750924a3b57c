/*
** print.c — the console output the bare-metal images have instead of printf:
** strings, unsigned decimal and hex, all through the port's l4lm_port_putc().
*/
#include "port.h"

void l4lm_port_puts(const char *s)
{
    while (*s)
        l4lm_port_putc(*s++);
}

void l4lm_port_putu(uint64_t v)
{
    char buf[21];
    int i = 0;
    do {
        buf[i++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (i)
        l4lm_port_putc(buf[--i]);
}

void l4lm_port_putx(uint64_t v)
{
    l4lm_port_puts("0x");
    for (int shift = 60; shift >= 0; shift -= 4)
        l4lm_port_putc("0123456789abcdef"[(v >> shift) & 15]);
}
