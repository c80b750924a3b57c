/*
** port.h — what each freestanding port (a bare-metal architecture, the
** seL4 root task) gives the shared code in platform/common/, and what the
** shared code gives back. A port is start-up code
** (stack, .bss, FP/SIMD, MMU/paging), a serial port, a clock and a way to
** stop the machine with a status; everything else is common.
*/
#ifndef L4LM_PORT_H
#define L4LM_PORT_H
#include <stddef.h>
#include <stdint.h>

/* ---- supplied by the architecture port ---- */
void l4lm_port_putc(char c);     /* blocking write of one byte to the console */
uint64_t l4lm_port_now_ns(void); /* monotonic nanoseconds; 0 if there is no clock */
__attribute__((noreturn)) void l4lm_port_exit(int status); /* stop the machine */

/* Linker-script symbols: the whole image (from the load address to the end
** of .bss, stack included) and the boot stack. */
extern char __image_start[], __image_end[], __stack_bottom[], __stack_top[];

/* ---- supplied by platform/common/ (l4lm_bm_main: platform/baremetal/main.c) ---- */
int l4lm_bm_main(void); /* called by the start-up code; returns the exit status */
void l4lm_port_puts(const char *s);
void l4lm_port_putu(uint64_t v); /* unsigned decimal */
void l4lm_port_putx(uint64_t v); /* 0x-prefixed hexadecimal */
/* The stack high-water mark (stack.c): paint [bottom, caller's frame), and
** later the bytes of [bottom, top) written over since. */
void l4lm_port_stack_paint(char *bottom);
size_t l4lm_port_stack_used(const char *bottom, const char *top);
#endif
