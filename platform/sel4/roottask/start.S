/*
** start.S — the root task's entry: seL4 starts the first thread with no
** stack and the boot info address in rdi; give it a 16-byte aligned stack
** in .bss and call l4lm_rt_main(bootinfo), which never returns.
*/
    .section .text.start, "ax"
    .global _start
_start:
    leaq l4lm_rt_stack_top(%rip), %rsp
    call l4lm_rt_main
1:  jmp 1b

    .bss
    .balign 4096
    .global l4lm_rt_stack, l4lm_rt_stack_top
l4lm_rt_stack:
    .space 16384
l4lm_rt_stack_top:

    .section .note.GNU-stack, "", %progbits
