/*
** platform.c — the AArch64 QEMU `virt` port: PL011 console, the generic
** timer as the clock, and stopping the machine with a status through Arm
** semihosting (QEMU -semihosting), falling back to PSCI SYSTEM_OFF (which
** carries no status) when semihosting is not enabled. With more than one
** core (L4LM_BM_CORES, QEMU -smp), the other CPUs are started through PSCI
** CPU_ON, each on its own stack, and serve the worker protocol
** (platform/common/workers.c), idling in WFE and woken by SEV.
*/
#include "port.h"
#include "workers.h"

#define UART0        0x09000000ul /* PL011 on QEMU virt */
#define UART_DR      0x00
#define UART_FR      0x18
#define UART_FR_TXFF (1u << 5) /* transmit FIFO full */

#define PSCI_SYSTEM_OFF              0x84000008u
#define PSCI_CPU_ON                  0xc4000003u /* SMC64 calling convention */
#define CPU_STACK                    0x10000u    /* 64 KiB per extra core, like CPU 0's */
#define MAX_CORES                    8           /* QEMU virt: Aff0 0..7 in one cluster */
#define SEMIHOST_EXIT                0x18u
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

/* Set by start.S: the exception level we were entered at decides the PSCI
** conduit (QEMU answers HVC when it boots us at EL1, SMC at EL2). In .data,
** because start.S writes it after zeroing .bss. */
uint32_t l4lm_bm_boot_el __attribute__((section(".data")));
static volatile int exiting;

static volatile uint32_t *uart(unsigned reg)
{
    return (volatile uint32_t *)(UART0 + reg);
}

void l4lm_port_putc(char c)
{
    if (c == '\n')
        l4lm_port_putc('\r');
    while (*uart(UART_FR) & UART_FR_TXFF)
        ;
    *uart(UART_DR) = (uint8_t)c;
}

uint64_t l4lm_port_now_ns(void)
{
    uint64_t ticks, freq;
    __asm__ volatile("isb; mrs %0, cntvct_el0" : "=r"(ticks));
    __asm__ volatile("mrs %0, cntfrq_el0" : "=r"(freq));
    if (freq == 0)
        return 0;
    /* Split to avoid overflowing ticks * 1e9 after a few minutes. */
    return ticks / freq * 1000000000u + ticks % freq * 1000000000u / freq;
}

/* A PSCI call (SMCCC: x0-x17 may change): QEMU answers HVC when it boots
** us at EL1, SMC at EL2. */
static int64_t psci(uint64_t fn, uint64_t a1, uint64_t a2, uint64_t a3)
{
    register uint64_t x0 __asm__("x0") = fn;
    register uint64_t x1 __asm__("x1") = a1;
    register uint64_t x2 __asm__("x2") = a2;
    register uint64_t x3 __asm__("x3") = a3;
    if (l4lm_bm_boot_el == 2)
        __asm__ volatile("smc #0"
                         : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3)
                         :
                         : "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14",
                           "x15", "x16", "x17", "memory");
    else
        __asm__ volatile("hvc #0"
                         : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3)
                         :
                         : "x4", "x5", "x6", "x7", "x8", "x9", "x10", "x11", "x12", "x13", "x14",
                           "x15", "x16", "x17", "memory");
    return (int64_t)x0;
}

static __attribute__((noreturn)) void psci_off(void)
{
    psci(PSCI_SYSTEM_OFF, 0, 0, 0);
    for (;;)
        __asm__ volatile("wfi");
}

/* ---- the extra cores ---- */

extern char l4lm_bm_secondary_entry[]; /* start.S */
static char cpu_stacks[MAX_CORES - 1][CPU_STACK] __attribute__((aligned(16)));
static l4lm_work_pool *cpu_pool; /* read by the extra cores once they run */

/* WFE returns at once if an SEV came after the worker's last look at the
** job word (the event register stays set), so no wake-up is lost. */
static void cpu_wait(void *port, uint32_t worker)
{
    (void)port, (void)worker;
    __asm__ volatile("wfe" ::: "memory");
}

static void cpu_wake(void *port, uint32_t worker)
{
    (void)port, (void)worker;
    __asm__ volatile("dsb ish; sev" ::: "memory");
}

/* Each extra core lands here from start.S with the top of its stack. */
__attribute__((noreturn)) void l4lm_bm_secondary(char *stack_top)
{
    uint32_t worker = (uint32_t)((stack_top - cpu_stacks[0]) / CPU_STACK);
    l4lm_work_worker(cpu_pool, worker);
    for (;;)
        __asm__ volatile("wfe");
}

uint32_t l4lm_bm_cores_start(l4lm_work_pool *pool, uint32_t n)
{
    l4lm_work_init(pool, n < MAX_CORES ? n : MAX_CORES, cpu_wait, cpu_wake, 0);
    cpu_pool = pool;
    __asm__ volatile("dsb ish" ::: "memory");
    for (uint32_t cpu = 1; cpu < pool->n_threads; cpu++) {
        /* QEMU virt numbers CPUs by Aff0 (MPIDR 0..n-1, up to 8 per cluster). */
        int64_t r =
            psci(PSCI_CPU_ON, cpu, (uint64_t)l4lm_bm_secondary_entry, (uint64_t)cpu_stacks[cpu]);
        if (r != 0) {
            l4lm_port_puts("cores: PSCI CPU_ON of CPU ");
            l4lm_port_putu(cpu);
            l4lm_port_puts(" failed; running on fewer cores\n");
            pool->n_threads = cpu;
            break;
        }
    }
    return pool->n_threads;
}

void l4lm_port_exit(int status)
{
    /* SYS_EXIT with a parameter block: reason, then the exit status. */
    static uint64_t block[2];
    block[0] = ADP_STOPPED_APPLICATION_EXIT;
    block[1] = (uint64_t)(uint32_t)status;
    exiting = 1; /* if HLT traps (no semihosting), l4lm_bm_trap powers off */
    register uint64_t x0 __asm__("x0") = SEMIHOST_EXIT;
    register uint64_t x1 __asm__("x1") = (uint64_t)block;
    __asm__ volatile("hlt #0xf000" : "+r"(x0) : "r"(x1) : "memory");
    psci_off();
}

/* Called from the vector table (start.S) for any exception: all are fatal. */
void l4lm_bm_trap(uint64_t kind, uint64_t esr, uint64_t elr, uint64_t far)
{
    if (exiting)
        psci_off();
    l4lm_port_puts("\nexception ");
    l4lm_port_putu(kind);
    l4lm_port_puts(" esr ");
    l4lm_port_putx(esr);
    l4lm_port_puts(" elr ");
    l4lm_port_putx(elr);
    l4lm_port_puts(" far ");
    l4lm_port_putx(far);
    l4lm_port_puts("\nstatus: 100\n");
    l4lm_port_exit(100);
}
