/*
** arch_x86_64.c — the root task's x86_64 part: PDPT, page directory and
** page table objects, thread registers, the TSC as clock (its frequency
** from the boot info) and QEMU's isa-debug-exit port, reached through an
** I/O port capability, to end the run with the status.
*/
#include "roottask.h"
#include "port.h"

#define DEBUG_EXIT_PORT 0xf4 /* -device isa-debug-exit,iobase=0xf4,iosize=4 */

const char l4lm_rt_arch_name[] = "x86_64";
static uint64_t tsc_mhz; /* from the boot info; 0: no clock */

/* The TSC frequency the kernel measured, from the extra boot info chunks. */
void l4lm_rt_arch_init(void)
{
    const uint8_t *p = (const uint8_t *)l4lm_rt_bootinfo + (1ul << seL4_PageBits);
    const uint8_t *end = p + l4lm_rt_bootinfo->extraLen;
    while (p + sizeof(seL4_BootInfoHeader) <= end) {
        const seL4_BootInfoHeader *h = (const void *)p;
        if (h->len < sizeof *h || h->len > (size_t)(end - p))
            return;
        if (h->id == SEL4_BOOTINFO_HEADER_X86_TSC_FREQ && h->len >= sizeof *h + 4)
            tsc_mhz = *(const uint32_t *)(const void *)(h + 1);
        p += h->len;
    }
}

uint64_t l4lm_port_now_ns(void)
{
    if (!tsc_mhz)
        return 0;
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    uint64_t t = (uint64_t)hi << 32 | lo;
    return t / tsc_mhz * 1000 + t % tsc_mhz * 1000 / tsc_mhz;
}

void l4lm_port_exit(int status)
{
    seL4_CPtr port = l4lm_rt_slot();
    if (port &&
        seL4_X86_IOPortControl_Issue(seL4_CapIOPortControl, DEBUG_EXIT_PORT, DEBUG_EXIT_PORT + 3,
                                     seL4_CapInitThreadCNode, port, seL4_WordBits) == 0)
        seL4_X86_IOPort_Out32(port, DEBUG_EXIT_PORT, (seL4_Word)status);
    l4lm_port_puts("exit: no isa-debug-exit device; stopping here\n");
    seL4_TCB_Suspend(seL4_CapInitThreadTCB);
    for (;;)
        ;
}

seL4_Word l4lm_rt_table_type(int level)
{
    return level == 1   ? seL4_X86_PDPTObject
           : level == 2 ? seL4_X86_PageDirectoryObject
                        : seL4_X86_PageTableObject;
}

seL4_Error l4lm_rt_table_map(seL4_CPtr table, int level, seL4_Word vaddr)
{
    seL4_X86_VMAttributes attr = seL4_X86_Default_VMAttributes;
    if (level == 1)
        return seL4_X86_PDPT_Map(table, seL4_CapInitThreadVSpace, vaddr, attr);
    if (level == 2)
        return seL4_X86_PageDirectory_Map(table, seL4_CapInitThreadVSpace, vaddr, attr);
    return seL4_X86_PageTable_Map(table, seL4_CapInitThreadVSpace, vaddr, attr);
}

seL4_Word l4lm_rt_page_type(int large)
{
    return large ? seL4_X86_LargePageObject : seL4_X86_4K;
}

seL4_Error l4lm_rt_page_map(seL4_CPtr page, seL4_Word vaddr)
{
    return seL4_X86_Page_Map(page, seL4_CapInitThreadVSpace, vaddr, seL4_ReadWrite,
                             seL4_X86_Default_VMAttributes);
}

void l4lm_rt_thread_regs(seL4_UserContext *regs, void (*entry)(seL4_Word), seL4_Word arg,
                         seL4_Word top)
{
    regs->rip = (seL4_Word)entry;
    regs->rsp = top - 8; /* as if called: rsp + 8 is 16-byte aligned */
    regs->rdi = arg;
}
