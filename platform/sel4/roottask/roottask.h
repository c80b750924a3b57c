/*
** roottask.h — what the root task's start-up (main.c) shares with its
** worker cores (cores.c): object creation from boot-time untyped memory and
** the memory accounting printed at the end of a run.
*/
#ifndef L4LM_ROOTTASK_H
#define L4LM_ROOTTASK_H
#define __thread /* libsel4's IPC buffer pointer: one global, no TLS */
#include <sel4/sel4.h>

#include "workers.h"

#define ARENA_VADDR 0x8000000000ul /* 512 GiB: its own PML4 slot */
#define MAX_ARENA   (1ul << 30)    /* one page directory's reach */

extern const seL4_BootInfo *l4lm_rt_bootinfo;

/* Retype n objects of type (size_bits for untyped-sized ones, else 0) from
** the first RAM untyped with room into fresh slots; the first slot or 0. */
seL4_CPtr l4lm_rt_retype(seL4_Word type, seL4_Word n);

/* Start cores - 1 worker threads, one bound to each other core, serving
** pool; returns how many cores run (1 if none could be started). Prints
** every object it retypes and their total bytes. */
uint32_t l4lm_rt_cores_start(l4lm_work_pool *pool, uint32_t cores);
#endif
