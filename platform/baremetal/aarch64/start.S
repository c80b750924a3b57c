/*
** start.S — AArch64 start-up for QEMU `virt`: entered at EL2 or EL1 with the
** MMU off; drops to EL1, enables FP/SIMD, installs the exception vectors,
** turns the MMU and caches on over an identity map, zeroes .bss and calls
** l4lm_bm_main(). CPU 0 runs that; the others stay off until platform.c
** starts them through PSCI CPU_ON at l4lm_bm_secondary_entry, which sets up
** the same EL1 state and tables and calls l4lm_bm_secondary(context).
*/

/* EL2 -> EL1 (AArch64, FP/SIMD and the counter untrapped), FP/SIMD on,
** vectors, MMU and caches on: the same for every CPU. Uses x0, x1. */
    .macro  cpu_setup el, done
    cmp     \el, #2
    b.ne    \done
    mov     x0, #(1 << 31)          /* HCR_EL2.RW */
    msr     hcr_el2, x0
    msr     cptr_el2, xzr           /* TFP = 0 */
    mov     x0, #3                  /* EL1PCTEN | EL1PCEN */
    msr     cnthctl_el2, x0
    msr     cntvoff_el2, xzr
    mov     x0, #0x3c5              /* EL1h, interrupts masked */
    msr     spsr_el2, x0
    adr     x0, \done
    msr     elr_el2, x0
    eret
\done:
    mov     x0, #(3 << 20)          /* CPACR_EL1.FPEN: no FP/SIMD traps */
    msr     cpacr_el1, x0
    adr     x0, vectors
    msr     vbar_el1, x0
    isb
    /* MMU: 4 KiB granule, 32-bit VA walked from level 1 (four 1 GiB blocks).
    ** QEMU models no caches; on real silicon, invalidate the data cache by
    ** set/way before turning it on. */
    ldr     x0, =MAIR
    msr     mair_el1, x0
    ldr     x0, =TCR
    msr     tcr_el1, x0
    adr     x0, l1_table
    msr     ttbr0_el1, x0
    isb
    tlbi    vmalle1
    ic      iallu
    dsb     nsh
    isb
    mrs     x0, sctlr_el1
    ldr     x1, =SCTLR_SET
    orr     x0, x0, x1
    bic     x0, x0, #(1 << 1)       /* A: unaligned access is allowed */
    msr     sctlr_el1, x0
    isb
    .endm

    .section .text.boot, "ax"
    .global _start
_start:
    mrs     x0, mpidr_el1
    tst     x0, #0xff
    b.ne    park
    mrs     x19, CurrentEL          /* kept for l4lm_bm_boot_el (PSCI conduit) */
    lsr     x19, x19, #2
    cpu_setup x19, at_el1

    ldr     x0, =__stack_top
    mov     sp, x0
    ldr     x0, =__bss_start
    ldr     x1, =__bss_end
1:  cmp     x0, x1
    b.hs    2f
    stp     xzr, xzr, [x0], #16
    b       1b
2:  ldr     x0, =l4lm_bm_boot_el
    str     w19, [x0]
    bl      l4lm_bm_main
    bl      l4lm_port_exit

/* PSCI CPU_ON entry: x0 = the context, the top of this CPU's stack. */
    .global l4lm_bm_secondary_entry
l4lm_bm_secondary_entry:
    mov     x20, x0
    mrs     x19, CurrentEL
    lsr     x19, x19, #2
    cpu_setup x19, secondary_el1
    mov     sp, x20
    mov     x0, x20
    bl      l4lm_bm_secondary

park:
    wfe
    b       park

/* MAIR attr0 = Device-nGnRnE (UART etc.), attr1 = Normal write-back RW-allocate. */
    .set    MAIR, 0xff00
/* T0SZ=32, inner/outer WB-WA walks, inner shareable, EPD1 (no TTBR1), IPS=36 bits. */
    .set    TCR, 32 | (1 << 8) | (1 << 10) | (3 << 12) | (1 << 23) | (1 << 32)
    .set    SCTLR_SET, (1 << 0) | (1 << 2) | (1 << 12)   /* M, C, I */
/* Level-1 block descriptors: valid, AttrIndx, AF; RAM inner shareable. */
    .set    DEVICE, 0x1 | (0 << 2) | (1 << 10) | (3 << 53)   /* + PXN, UXN */
    .set    NORMAL, 0x1 | (1 << 2) | (3 << 8) | (1 << 10)

    .section .rodata.mmu, "a"
    .balign 4096
l1_table:
    .quad   0x00000000 | DEVICE     /* 0-1 GiB: flash, GIC, UART, virtio */
    .quad   0x40000000 | NORMAL     /* 1-4 GiB: RAM */
    .quad   0x80000000 | NORMAL
    .quad   0xc0000000 | NORMAL

/* Every exception is fatal here: save the kind and let C report it. */
    .macro  vector kind
    .balign 0x80
    mov     x0, #\kind
    b       trap
    .endm

    .section .text.vectors, "ax"
    .balign 2048
vectors:
    .irp    kind, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
    vector  \kind
    .endr
trap:
    mrs     x1, esr_el1
    mrs     x2, elr_el1
    mrs     x3, far_el1
    bl      l4lm_bm_trap
    b       park

    .section .note.GNU-stack, "", %progbits   /* no executable stack */
