/*
** start_aarch64.S — the root task's entry on aarch64: seL4 starts the
** first thread with no stack and the boot info address in x0; run on the
** top of l4lm_rt_stack (main.c, 16-byte aligned) and call
** l4lm_rt_main(bootinfo), which never returns.
*/
#include "config.h"

    .section .text.start, "ax"
    .global _start
_start:
    adrp x1, l4lm_rt_stack+L4LM_RT_STACK_BYTES
    add x1, x1, :lo12:l4lm_rt_stack+L4LM_RT_STACK_BYTES
    mov sp, x1
    bl l4lm_rt_main
1:  b 1b

    .section .note.GNU-stack, "", %progbits
