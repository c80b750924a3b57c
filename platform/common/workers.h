/*
** workers.h — the freestanding ports' worker protocol behind the core's
** parallel_for hook: one job at a time in shared memory, indices handed out
** by atomic compare-and-swap, the caller running a share itself. Port
** neutral: the port starts one thread per extra core (a second CPU through
** PSCI, an seL4 TCB bound to a core) and supplies how an idle worker blocks
** and is woken (WFE/SEV, an seL4 notification, or nothing: plain spinning).
** Which core runs a task never changes its result (the core splits work by
** output rows), so the tokens and logits are those of one core.
*/
#ifndef L4LM_WORKERS_H
#define L4LM_WORKERS_H
#include <stdatomic.h>
#include <stdint.h>

#include "l4lm.h"

#define L4LM_WORK_MAX_THREADS 16 /* the caller and up to 15 workers */

/* Blocks worker `worker` (1..n_threads-1) until woken; may return early.
** Wakes worker `worker` (a wake before the wait must not be lost). */
typedef void l4lm_work_wait_fn(void *port, uint32_t worker);
typedef void l4lm_work_wake_fn(void *port, uint32_t worker);

typedef struct l4lm_work_pool {
    /*
    ** The job word: generation (high 32 bits, bumped per job) and the next
    ** index to hand out (low 32). A worker claims index i of generation g
    ** only by a CAS from (g, i) to (g, i + 1), so a worker still holding an
    ** old generation can never take a task of a newer job.
    */
    _Atomic uint64_t job;
    _Atomic uint32_t done; /* tasks of the current job finished */
    _Atomic(l4lm_task_fn) task;
    _Atomic(void *) arg;
    _Atomic uint32_t n; /* tasks in the current job */
    _Atomic uint32_t stop;
    _Atomic uint32_t sleeping[L4LM_WORK_MAX_THREADS]; /* worker i is in (or entering) wait */
    _Atomic uint64_t ran[L4LM_WORK_MAX_THREADS];      /* tasks worker i ran (its own slot) */
    uint32_t n_threads;                               /* the caller + workers */
    uint32_t spin_rounds;                             /* polls before a worker blocks */
    l4lm_work_wait_fn *wait;
    l4lm_work_wake_fn *wake;
    void *port;
    /* Counted by the caller only (one thread calls parallel_for). */
    uint64_t calls, tasks, wakes;
} l4lm_work_pool;

/* Prepare a pool for n_threads (1..L4LM_WORK_MAX_THREADS; clamped) before
** any worker starts; wait/wake may be NULL (workers spin). */
void l4lm_work_init(l4lm_work_pool *p, uint32_t n_threads, l4lm_work_wait_fn *wait,
                    l4lm_work_wake_fn *wake, void *port);

/* A worker thread's body (worker = 1..n_threads-1): returns after stop. */
void l4lm_work_worker(l4lm_work_pool *p, uint32_t worker);

/* Ask every worker to return from l4lm_work_worker (wakes the sleepers). */
void l4lm_work_stop(l4lm_work_pool *p);

/* The core's parallel_for hook (l4lm_run_opts.parallel_for, ctx = the pool). */
void l4lm_work_parallel_for(void *pool, l4lm_task_fn task, void *arg, uint32_t n);

/* Supplied by a port with more than one core: start the other cores as
** workers 1..n-1 of pool (initialised here); returns how many run, caller included. */
uint32_t l4lm_bm_cores_start(l4lm_work_pool *pool, uint32_t n);

/* "C parallel_for calls, C/tokens per token, T/C tasks per call, W on other cores". */
typedef struct l4lm_work_count {
    uint64_t calls, tasks, by_workers;
} l4lm_work_count;
l4lm_work_count l4lm_work_counted(const l4lm_work_pool *p);
void l4lm_work_put_count(const char *label, l4lm_work_count from, l4lm_work_count to,
                         uint64_t tokens);
#endif
