/*
** arch_aarch64.c — the root task's aarch64 part (seL4 14: one page table
** object type for every level below the VSpace root, mapped with
** seL4_ARM_PageTable_Map), thread registers, the generic timer's virtual
** count as clock (readable at EL0 with KernelArmExportVCNTUser), and
** semihosting SYS_EXIT to end the run with the status (QEMU
** -semihosting-config enable=on,userspace=on; EL0 has no PSCI).
*/
#include "roottask.h"
#include "port.h"

#define SEMIHOSTING_SYS_EXIT         0x18
#define ADP_STOPPED_APPLICATION_EXIT 0x20026ul

const char l4lm_rt_arch_name[] = "aarch64";
static uint64_t timer_hz; /* 0: no clock */

void l4lm_rt_arch_init(void)
{
#ifdef CONFIG_EXPORT_VCNT_USER
    __asm__ volatile("mrs %0, cntfrq_el0" : "=r"(timer_hz));
#endif
}

uint64_t l4lm_port_now_ns(void)
{
    if (!timer_hz)
        return 0;
    uint64_t t;
    __asm__ volatile("isb; mrs %0, cntvct_el0" : "=r"(t));
    return t / timer_hz * 1000000000u + t % timer_hz * 1000000000u / timer_hz;
}

void l4lm_port_exit(int status)
{
    /* AArch64 semihosting: w0 the operation, x1 a block {reason, code}. */
    uint64_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint64_t)status};
    register uint64_t op __asm__("x0") = SEMIHOSTING_SYS_EXIT;
    register uint64_t arg __asm__("x1") = (uint64_t)block;
    __asm__ volatile("hlt #0xf000" : "+r"(op) : "r"(arg) : "memory");
    l4lm_port_puts("exit: no semihosting; stopping here\n");
    seL4_TCB_Suspend(seL4_CapInitThreadTCB);
    for (;;)
        ;
}

seL4_Word l4lm_rt_table_type(int level)
{
    (void)level;
    return seL4_ARM_PageTableObject;
}

seL4_Error l4lm_rt_table_map(seL4_CPtr table, int level, seL4_Word vaddr)
{
    (void)level; /* the kernel maps it at the first level without a table */
    return seL4_ARM_PageTable_Map(table, seL4_CapInitThreadVSpace, vaddr,
                                  seL4_ARM_Default_VMAttributes);
}

seL4_Word l4lm_rt_page_type(int large)
{
    return large ? seL4_ARM_LargePageObject : seL4_ARM_SmallPageObject;
}

seL4_Error l4lm_rt_page_map(seL4_CPtr page, seL4_Word vaddr)
{
    return seL4_ARM_Page_Map(page, seL4_CapInitThreadVSpace, vaddr, seL4_ReadWrite,
                             seL4_ARM_Default_VMAttributes | seL4_ARM_ExecuteNever);
}

void l4lm_rt_thread_regs(seL4_UserContext *regs, void (*entry)(seL4_Word), seL4_Word arg,
                         seL4_Word top)
{
    regs->pc = (seL4_Word)entry;
    regs->sp = top; /* 16-byte aligned, as AAPCS64 wants at a call */
    regs->x0 = arg;
}
