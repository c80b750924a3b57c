/*
** start_x86_64.S — the root task's entry on x86_64: seL4 starts the first
** thread with no stack and the boot info address in rdi; run on the top of
** l4lm_rt_stack (main.c, 16-byte aligned) and call l4lm_rt_main(bootinfo),
** which never returns.
*/
#include "config.h"

    .section .text.start, "ax"
    .global _start
_start:
    leaq l4lm_rt_stack+L4LM_RT_STACK_BYTES(%rip), %rsp
    call l4lm_rt_main
1:  jmp 1b

    .section .note.GNU-stack, "", %progbits
