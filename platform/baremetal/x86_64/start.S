/*
** start.S — x86_64 start-up for `qemu-system-x86_64 -kernel` via Multiboot 1:
** entered in 32-bit protected mode with paging off; zeroes .bss, checks for
** long mode, identity-maps the first 4 GiB with 2 MiB pages (the top GiB,
** where the APIC and HPET live, uncached), enters 64-bit mode, enables
** SSE and (when the CPU has it) AVX state, and calls l4lm_bm_main().
*/
    .set    MB_MAGIC, 0x1badb002
    .set    MB_FLAGS, 0
    .section .multiboot, "a"
    .balign 4
    .long   MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

    .set    PTE_P, 1
    .set    PTE_W, 2
    .set    PTE_PWT, 1 << 3
    .set    PTE_PCD, 1 << 4
    .set    PTE_PS, 1 << 7

    .section .text.boot, "ax"
    .code32
    .global _start32
_start32:
    cli
    cld
    /* .bss holds the page tables and the stack, so clear it first. */
    mov     $__bss_start, %edi
    mov     $__bss_end, %ecx
    sub     %edi, %ecx
    shr     $2, %ecx
    xor     %eax, %eax
    rep stosl
    mov     $__stack_top, %esp

    mov     $0x80000000, %eax       /* long mode available? */
    cpuid
    cmp     $0x80000001, %eax
    jb      no_long_mode
    mov     $0x80000001, %eax
    cpuid
    bt      $29, %edx
    jnc     no_long_mode

    /* PML4[0] -> PDPT; PDPT[0..3] -> four page directories of 2 MiB pages. */
    movl    $(pdpt + PTE_P + PTE_W), pml4
    xor     %ecx, %ecx
1:  mov     %ecx, %eax
    shl     $12, %eax               /* pd + i * 4096 */
    add     $(pd + PTE_P + PTE_W), %eax
    mov     %eax, pdpt(,%ecx,8)
    inc     %ecx
    cmp     $4, %ecx
    jb      1b
    xor     %ecx, %ecx              /* entry i maps i * 2 MiB */
3:  mov     %ecx, %eax
    shl     $21, %eax
    or      $(PTE_P + PTE_W + PTE_PS), %eax
    cmp     $1536, %ecx             /* 3 GiB and up: device memory */
    jb      4f
    or      $(PTE_PWT + PTE_PCD), %eax
4:  mov     %eax, pd(,%ecx,8)
    inc     %ecx
    cmp     $2048, %ecx
    jb      3b

    mov     %cr4, %eax
    or      $(1 << 5), %eax         /* PAE */
    mov     %eax, %cr4
    mov     $pml4, %eax
    mov     %eax, %cr3
    mov     $0xc0000080, %ecx       /* EFER.LME */
    rdmsr
    or      $(1 << 8), %eax
    wrmsr
    mov     %cr0, %eax
    or      $((1 << 31) | 1), %eax  /* PG | PE */
    mov     %eax, %cr0
    lgdt    gdt_ptr
    ljmp    $0x08, $long_mode

no_long_mode:                       /* nothing to print with yet: stop */
    hlt
    jmp     no_long_mode

    .code64
long_mode:
    mov     $0x10, %ax
    mov     %ax, %ds
    mov     %ax, %es
    mov     %ax, %ss
    xor     %ax, %ax
    mov     %ax, %fs
    mov     %ax, %gs
    mov     $__stack_top, %rsp

    /* SSE: no x87 emulation, monitor coprocessor, OS supports FXSR and #XM. */
    mov     %cr0, %rax
    and     $~(1 << 2), %rax        /* EM */
    or      $(1 << 1), %rax         /* MP */
    mov     %rax, %cr0
    mov     %cr4, %rax
    or      $((1 << 9) | (1 << 10)), %rax   /* OSFXSR | OSXMMEXCPT */
    mov     %rax, %cr4
    fninit

    /* AVX: needs XSAVE enabled (CR4.OSXSAVE) and YMM state on in XCR0. */
    mov     $1, %eax
    cpuid
    bt      $26, %ecx               /* XSAVE */
    jnc     5f
    mov     %ecx, %esi
    mov     %cr4, %rax
    or      $(1 << 18), %rax        /* OSXSAVE */
    mov     %rax, %cr4
    mov     $3, %eax                /* x87 | SSE */
    bt      $28, %esi               /* AVX */
    jnc     6f
    or      $4, %eax                /* | YMM */
6:  xor     %ecx, %ecx
    xor     %edx, %edx
    xsetbv
5:
    call    l4lm_bm_idt_init
    call    l4lm_bm_main
    mov     %eax, %edi
    call    l4lm_port_exit

/* Exception stubs, 16 bytes apart: push a zero error code where the CPU
** pushes none, then the vector number, and report from C. */
    .macro  stub n
    .balign 16
    .if !((\n == 8) || (\n >= 10 && \n <= 14) || (\n == 17) || (\n == 21) || (\n >= 29 && \n <= 30))
    pushq   $0
    .endif
    pushq   $\n
    jmp     trap
    .endm

    .balign 16
    .global l4lm_bm_trap_stubs
l4lm_bm_trap_stubs:
    .irp    n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    stub    \n
    .endr
trap:
    mov     %rsp, %rdi              /* vector, error code, rip, cs, rflags */
    and     $~15, %rsp
    call    l4lm_bm_trap
    hlt

    .section .rodata.gdt, "a"
    .balign 16
gdt:
    .quad   0
    .quad   0x00af9a000000ffff      /* 0x08: 64-bit code */
    .quad   0x00cf92000000ffff      /* 0x10: data */
gdt_ptr:
    .word   gdt_ptr - gdt - 1
    .quad   gdt

    .section .bss.pagetables, "aw", @nobits
    .balign 4096
pml4:   .skip 4096
pdpt:   .skip 4096
pd:     .skip 4 * 4096

    .section .note.GNU-stack, "", @progbits   /* no executable stack */
