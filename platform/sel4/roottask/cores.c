/*
** cores.c — the root task's worker threads, one per extra core: for each,
** a TCB, a notification, a 16 KiB stack and an IPC buffer are retyped from
** boot-time untyped memory (the stacks and buffers mapped through one page
** directory and one page table of their own, beside the arena), the thread
** is bound to its core with seL4_TCB_SetAffinity and runs the worker
** protocol (platform/common/workers.c). An idle worker blocks on its
** notification; parallel_for signals it. Everything retyped is printed.
*/
#include "roottask.h"
#include "port.h"

#define WORKER_VADDR (ARENA_VADDR + MAX_ARENA) /* the next 1 GiB of the arena's level 1 table */
#define STACK_PAGES  4
/* Per worker: a guard page, the stack, a guard page, the IPC buffer. */
#define SLOT_PAGES (1 + STACK_PAGES + 1 + 1)
#define PAGE       (1ul << seL4_PageBits)

static struct {
    l4lm_work_pool *pool;
    seL4_CPtr ntfn[L4LM_WORK_MAX_THREADS];
} cores;

static void ntfn_wait(void *port, uint32_t worker)
{
    (void)port;
    /* Recv (no MCS: Wait) with no message pointers, so the IPC buffer, whose
    ** pointer is one global, is not written. */
    seL4_RecvWithMRs(cores.ntfn[worker], NULL, NULL, NULL, NULL, NULL);
}

static void ntfn_wake(void *port, uint32_t worker)
{
    (void)port;
    seL4_Signal(cores.ntfn[worker]);
}

static __attribute__((noreturn)) void worker_entry(seL4_Word worker)
{
    l4lm_work_worker(cores.pool, (uint32_t)worker);
    for (;;)
        ntfn_wait(0, (uint32_t)worker);
}

static seL4_Word slot_vaddr(uint32_t worker, uint32_t page)
{
    return WORKER_VADDR + ((seL4_Word)(worker - 1) * SLOT_PAGES + page) * PAGE;
}

/* The tables for the workers' pages (levels 2 and 3); 0 on failure. */
static int map_tables(void)
{
    seL4_CPtr dir = l4lm_rt_retype(l4lm_rt_table_type(2), 1);
    seL4_CPtr table = dir ? l4lm_rt_retype(l4lm_rt_table_type(3), 1) : 0;
    return table && !l4lm_rt_table_map(dir, 2, WORKER_VADDR) &&
           !l4lm_rt_table_map(table, 3, WORKER_VADDR);
}

/* Map the stack and IPC buffer pages of a worker; the buffer's cap or 0. */
static seL4_CPtr map_slot(uint32_t worker)
{
    seL4_CPtr pages = l4lm_rt_retype(l4lm_rt_page_type(0), STACK_PAGES + 1);
    if (!pages)
        return 0;
    for (uint32_t i = 0; i <= STACK_PAGES; i++) {
        uint32_t at = i < STACK_PAGES ? 1 + i : SLOT_PAGES - 1;
        if (l4lm_rt_page_map(pages + i, slot_vaddr(worker, at)))
            return 0;
    }
    return pages + STACK_PAGES;
}

/* Bind a thread to a core. A uniprocessor kernel (KernelMaxNumNodes 1) has
** no seL4_TCB_SetAffinity, and with numNodes 1 no worker is ever started. */
static seL4_Error bind_to_core(seL4_CPtr tcb, uint32_t core)
{
#ifdef CONFIG_ENABLE_SMP_SUPPORT
    return seL4_TCB_SetAffinity(tcb, core);
#else
    (void)tcb, (void)core;
    return seL4_IllegalOperation;
#endif
}

/* Create, bind and start worker w on core w; 0 on failure. */
static int start_worker(uint32_t w)
{
    seL4_CPtr tcb = l4lm_rt_retype(seL4_TCBObject, 1);
    seL4_CPtr ntfn = tcb ? l4lm_rt_retype(seL4_NotificationObject, 1) : 0;
    seL4_CPtr ipc = ntfn ? map_slot(w) : 0;
    if (!ipc)
        return 0;
    cores.ntfn[w] = ntfn;
    seL4_UserContext regs = {0};
    l4lm_rt_thread_regs(&regs, worker_entry, w, slot_vaddr(w, 1 + STACK_PAGES));
    return !seL4_TCB_Configure(tcb, 0, seL4_CapInitThreadCNode, 0, seL4_CapInitThreadVSpace, 0,
                               slot_vaddr(w, SLOT_PAGES - 1), ipc) &&
           !seL4_TCB_SetPriority(tcb, seL4_CapInitThreadTCB, seL4_MaxPrio) &&
           !bind_to_core(tcb, w) &&
           !seL4_TCB_WriteRegisters(tcb, 1, 0, sizeof regs / sizeof(seL4_Word), &regs);
}

static void put_objects(uint32_t workers)
{
    uint64_t each =
        (1ul << seL4_TCBBits) + (1ul << seL4_NotificationBits) + (STACK_PAGES + 1) * PAGE;
    uint64_t tables = 2 * TABLE_BYTES;
    l4lm_port_puts("workers from untyped memory: ");
    l4lm_port_putu(workers);
    l4lm_port_puts(" x (TCB ");
    l4lm_port_putu(1ul << seL4_TCBBits);
    l4lm_port_puts(" + notification ");
    l4lm_port_putu(1ul << seL4_NotificationBits);
    l4lm_port_puts(" + stack ");
    l4lm_port_putu(STACK_PAGES * PAGE);
    l4lm_port_puts(" + IPC buffer ");
    l4lm_port_putu(PAGE);
    l4lm_port_puts(") + page directory and table ");
    l4lm_port_putu(tables);
    l4lm_port_puts(" = ");
    l4lm_port_putu(workers * each + tables);
    l4lm_port_puts(" bytes\n");
}

uint32_t l4lm_rt_cores_start(l4lm_work_pool *pool, uint32_t n)
{
    seL4_Word nodes = l4lm_rt_bootinfo->numNodes;
    if (n > nodes)
        n = (uint32_t)nodes;
    l4lm_work_init(pool, n, ntfn_wait, ntfn_wake, 0);
    cores.pool = pool;
    if (pool->n_threads < 2)
        return 1;
    if (!map_tables()) {
        l4lm_port_puts("cores: cannot map the workers' page tables; one core\n");
        pool->n_threads = 1;
        return 1;
    }
    for (uint32_t w = 1; w < pool->n_threads; w++) {
        if (!start_worker(w)) {
            l4lm_port_puts("cores: cannot start the worker for core ");
            l4lm_port_putu(w);
            l4lm_port_putc('\n');
            pool->n_threads = w; /* the workers before it run */
            break;
        }
    }
    put_objects(pool->n_threads - 1);
    return pool->n_threads;
}
