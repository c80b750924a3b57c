/*
** roottask.h — what the parts of the seL4 root task share: start-up and
** the arena (main.c), the worker cores (cores.c), and the small
** architecture files (arch_x86_64.c, arch_aarch64.c) that give both their
** paging objects, thread registers, clock and exit.
*/
#ifndef L4LM_ROOTTASK_H
#define L4LM_ROOTTASK_H
#define __thread /* libsel4's IPC buffer pointer: one global, no TLS */
#include <sel4/sel4.h>

#include "workers.h"

#define ARENA_VADDR 0x8000000000ul /* 512 GiB: its own top-level table slot */
#define MAX_ARENA   (1ul << 30)    /* one page directory's reach */
/* Every paging structure below the VSpace root is one 4 KiB object, on
** x86_64 (PDPT, page directory, page table) and aarch64 (page tables). */
#define TABLE_BYTES (1ul << seL4_PageTableBits)

extern const seL4_BootInfo *l4lm_rt_bootinfo;

/* An empty slot of the root CNode, now taken; 0 if none is left. */
seL4_CPtr l4lm_rt_slot(void);

/* Retype n objects of type (size_bits for untyped-sized ones, else 0) from
** the first RAM untyped with room into fresh slots; the first slot or 0. */
seL4_CPtr l4lm_rt_retype(seL4_Word type, seL4_Word n);

/* Start cores - 1 worker threads, one bound to each other core, serving
** pool; returns how many cores run (1 if none could be started). Prints
** every object it retypes and their total bytes. */
uint32_t l4lm_rt_cores_start(l4lm_work_pool *pool, uint32_t cores);

/* ---- the architecture's part (arch_<arch>.c) ---- */
extern const char l4lm_rt_arch_name[];
/* Called first, with l4lm_rt_bootinfo set: finds the clock. */
void l4lm_rt_arch_init(void);
/* Paging structures by level below the VSpace root: 1 maps 1 GiB entries
** (PDPT / page upper directory), 2 maps 2 MiB ones (page directory), 3 maps
** 4 KiB pages (page table). The object type, and mapping one at vaddr. */
seL4_Word l4lm_rt_table_type(int level);
seL4_Error l4lm_rt_table_map(seL4_CPtr table, int level, seL4_Word vaddr);
/* Pages: 2 MiB if large, else 4 KiB; mapped read-write, not executable. */
seL4_Word l4lm_rt_page_type(int large);
seL4_Error l4lm_rt_page_map(seL4_CPtr page, seL4_Word vaddr);
/* A new thread's registers: calls entry(arg) on the stack ending at top. */
void l4lm_rt_thread_regs(seL4_UserContext *regs, void (*entry)(seL4_Word), seL4_Word arg,
                         seL4_Word top);
#endif
