/*
** platform.c — the x86_64 QEMU port: COM1 console, the HPET as the clock,
** exit through QEMU's isa-debug-exit device (QEMU then exits with
** status * 2 + 1), and an IDT that reports any CPU exception.
*/
#include "port.h"

#define COM1 0x3f8
#define DEBUG_EXIT_PORT 0xf4  /* -device isa-debug-exit,iobase=0xf4,iosize=4 */
#define HPET 0xfed00000ul     /* mapped uncached by start.S */
#define HPET_CAP 0x000        /* high 32 bits: counter period in femtoseconds */
#define HPET_CONFIG 0x010
#define HPET_COUNTER 0x0f0

static void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static void com1_init(void)
{
    outb(COM1 + 1, 0x00); /* no interrupts */
    outb(COM1 + 3, 0x80); /* divisor latch: 115200 baud */
    outb(COM1 + 0, 0x01);
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03); /* 8N1 */
    outb(COM1 + 2, 0xc7); /* FIFO on, cleared */
}

void l4lm_port_putc(char c)
{
    static int ready;
    if (!ready) {
        com1_init();
        ready = 1;
    }
    if (c == '\n')
        l4lm_port_putc('\r');
    while (!(inb(COM1 + 5) & 0x20)) /* transmit holding register empty */
        ;
    outb(COM1, (uint8_t)c);
}

static volatile uint64_t *hpet(unsigned reg)
{
    return (volatile uint64_t *)(HPET + reg);
}

uint64_t l4lm_port_now_ns(void)
{
    static uint64_t period_fs; /* 0 until the HPET is found and started */
    if (period_fs == 0) {
        uint64_t p = *hpet(HPET_CAP) >> 32;
        if (p == 0 || p > 100000000u) /* the spec caps the period at 100 ns */
            return 0;
        *hpet(HPET_CONFIG) |= 1; /* ENABLE_CNF: start the main counter */
        period_fs = p;
    }
    uint64_t ticks = *hpet(HPET_COUNTER);
    return ticks / 1000000u * period_fs + ticks % 1000000u * period_fs / 1000000u;
}

void l4lm_port_exit(int status)
{
    __asm__ volatile("outl %0, %1" : : "a"((uint32_t)status), "Nd"((uint16_t)DEBUG_EXIT_PORT));
    for (;;) /* no debug-exit device: stop here */
        __asm__ volatile("cli; hlt");
}

/* ---- exceptions: one IDT entry per stub in start.S, all fatal ---- */
typedef struct idt_entry {
    uint16_t off_lo, selector;
    uint8_t ist, type;
    uint16_t off_mid;
    uint32_t off_hi, zero;
} idt_entry;

extern char l4lm_bm_trap_stubs[];
static idt_entry idt[32];

void l4lm_bm_idt_init(void)
{
    for (int i = 0; i < 32; i++) {
        uint64_t a = (uint64_t)(l4lm_bm_trap_stubs + 16 * i);
        idt[i] = (idt_entry){(uint16_t)a, 0x08, 0, 0x8e, (uint16_t)(a >> 16), (uint32_t)(a >> 32), 0};
    }
    struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } ptr = {sizeof idt - 1, (uint64_t)idt};
    __asm__ volatile("lidt %0" : : "m"(ptr));
}

void l4lm_bm_trap(const uint64_t *frame)
{
    l4lm_port_puts("\nexception ");
    l4lm_port_putu(frame[0]);
    l4lm_port_puts(" error ");
    l4lm_port_putx(frame[1]);
    l4lm_port_puts(" rip ");
    l4lm_port_putx(frame[2]);
    l4lm_port_puts("\nstatus: 100\n");
    l4lm_port_exit(100);
}
