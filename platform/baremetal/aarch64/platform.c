/*
** platform.c — the AArch64 QEMU `virt` port: PL011 console, the generic
** timer as the clock, and stopping the machine with a status through Arm
** semihosting (QEMU -semihosting), falling back to PSCI SYSTEM_OFF (which
** carries no status) when semihosting is not enabled.
*/
#include "port.h"

#define UART0        0x09000000ul /* PL011 on QEMU virt */
#define UART_DR      0x00
#define UART_FR      0x18
#define UART_FR_TXFF (1u << 5) /* transmit FIFO full */

#define PSCI_SYSTEM_OFF              0x84000008u
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

static __attribute__((noreturn)) void psci_off(void)
{
    register uint64_t x0 __asm__("x0") = PSCI_SYSTEM_OFF;
    if (l4lm_bm_boot_el == 2)
        __asm__ volatile("smc #0" : "+r"(x0) : : "memory");
    else
        __asm__ volatile("hvc #0" : "+r"(x0) : : "memory");
    for (;;)
        __asm__ volatile("wfi");
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
