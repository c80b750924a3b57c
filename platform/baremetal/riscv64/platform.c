/*
** platform.c — the riscv64 QEMU `virt` port (S-mode under OpenSBI):
** NS16550A console, the `time` CSR as the clock (10 MHz on QEMU virt), and
** stopping the machine with a status through QEMU's sifive_test device,
** falling back to the SBI system-reset extension (SRST), which carries only
** "pass" or "failure", when the device is not reachable.
*/
#include "port.h"

#define UART0               0x10000000ul /* NS16550A, one byte per register */
#define UART_THR            0
#define UART_LSR            5
#define UART_LSR_THRE       (1u << 5) /* transmit holding register empty */
#define TIMEBASE_HZ         10000000u /* the device tree's timebase-frequency */
#define SIFIVE_TEST         0x100000ul
#define TEST_PASS           0x5555u
#define TEST_FAIL           0x3333u /* with the exit status in bits 16.. */
#define SBI_EXT_SRST        0x53525354u
#define SRST_SHUTDOWN       0u
#define SRST_REASON_NONE    0u
#define SRST_REASON_FAILURE 1u

/* Set once the exit has begun: a trap then is the test device faulting. */
static volatile int exiting, exit_status;

static volatile uint8_t *uart(unsigned reg)
{
    return (volatile uint8_t *)(UART0 + reg);
}

void l4lm_port_putc(char c)
{
    if (c == '\n')
        l4lm_port_putc('\r');
    while (!(*uart(UART_LSR) & UART_LSR_THRE))
        ;
    *uart(UART_THR) = (uint8_t)c;
}

uint64_t l4lm_port_now_ns(void)
{
    uint64_t ticks;
    __asm__ volatile("rdtime %0" : "=r"(ticks));
    return ticks / TIMEBASE_HZ * 1000000000u + ticks % TIMEBASE_HZ * 1000000000u / TIMEBASE_HZ;
}

static __attribute__((noreturn)) void sbi_reset(int status)
{
    register uint64_t a0 __asm__("a0") = SRST_SHUTDOWN;
    register uint64_t a1 __asm__("a1") = status ? SRST_REASON_FAILURE : SRST_REASON_NONE;
    register uint64_t a6 __asm__("a6") = 0; /* FID 0: system_reset */
    register uint64_t a7 __asm__("a7") = SBI_EXT_SRST;
    __asm__ volatile("ecall" : "+r"(a0), "+r"(a1) : "r"(a6), "r"(a7) : "memory");
    for (;;)
        __asm__ volatile("wfi");
}

void l4lm_port_exit(int status)
{
    exit_status = status;
    exiting = 1; /* if the test device faults (PMP), l4lm_bm_trap uses SRST */
    uint32_t code = status ? ((uint32_t)status << 16) | TEST_FAIL : TEST_PASS;
    *(volatile uint32_t *)SIFIVE_TEST = code;
    sbi_reset(status);
}

/* Called from start.S for any trap: all are fatal. */
void l4lm_bm_trap(uint64_t cause, uint64_t epc, uint64_t tval)
{
    if (exiting)
        sbi_reset(exit_status);
    l4lm_port_puts("\ntrap scause ");
    l4lm_port_putx(cause);
    l4lm_port_puts(" sepc ");
    l4lm_port_putx(epc);
    l4lm_port_puts(" stval ");
    l4lm_port_putx(tval);
    l4lm_port_puts("\nstatus: 100\n");
    l4lm_port_exit(100);
}
