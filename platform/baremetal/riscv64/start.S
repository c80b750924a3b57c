/*
** start.S — riscv64 start-up for QEMU `virt`: entered in S-mode by OpenSBI
** (a0 = hart id, a1 = device tree) with the MMU off. Sets the stack and the
** trap vector, enables the FPU (sstatus.FS = Initial), turns on Sv39 paging
** over an identity map of 1 GiB gigapages (as a board would run), zeroes
** .bss and calls l4lm_bm_main(); its status goes to l4lm_port_exit().
*/
    .section .text.boot, "ax"
    .global _start
_start:
    csrw    sie, zero               /* no interrupts: all traps are fatal */
    la      t0, trap
    csrw    stvec, t0
    li      t0, (1 << 13)           /* sstatus.FS = Initial: FP instructions allowed */
    csrs    sstatus, t0
    fscsr   zero                    /* round to nearest, flags clear */

    /* Sv39: satp.MODE = 8, the root table's physical page number. */
    la      t0, root_table
    srli    t0, t0, 12
    li      t1, (8 << 60)
    or      t0, t0, t1
    sfence.vma
    csrw    satp, t0
    sfence.vma

    la      sp, __stack_top
    la      t0, __bss_start
    la      t1, __bss_end
1:  bgeu    t0, t1, 2f
    sd      zero, 0(t0)
    addi    t0, t0, 8
    j       1b
2:  call    l4lm_bm_main
    call    l4lm_port_exit
park:
    wfi
    j       park

/* Every trap is fatal: hand its cause, address and value to C. */
    .balign 4
trap:
    csrr    a0, scause
    csrr    a1, sepc
    csrr    a2, stval
    la      sp, __stack_top         /* the faulting stack may be what broke */
    call    l4lm_bm_trap
    j       park

/* Sv39 leaf PTEs for 1 GiB gigapages: PPN in bits 10.., V R W X A D set
** (A and D preset: no hardware or software update of them is needed). */
    .set    LEAF, 0x1 | 0x2 | 0x4 | 0x8 | 0x40 | 0x80
    .section .rodata.mmu, "a"
    .balign 4096
root_table:
    .quad   ((0x00000000 >> 12) << 10) | LEAF   /* 0-1 GiB: test device, UART, virtio, PCIe */
    .quad   0                                   /* 1-2 GiB: PCIe ECAM and MMIO, unused */
    .quad   ((0x80000000 >> 12) << 10) | LEAF   /* 2-4 GiB: RAM (OpenSBI's part stays PMP-locked) */
    .quad   ((0xc0000000 >> 12) << 10) | LEAF
    .fill   508, 8, 0

    .section .note.GNU-stack, "", %progbits   /* no executable stack */
