/*
** workers.c — the worker protocol of workers.h. A job is published by
** writing task, arg, n and done = 0, then storing the job word (new
** generation, index 0) with release order; workers claim indices by CAS
** with acquire order, so they see the job's fields, run the task and count
** it in done (release); the caller claims too and returns once done == n
** (acquire), so every task's writes are visible to it.
**
** Blocking without lost wake-ups: a worker marks itself sleeping, then
** looks at the job word again before it waits; the caller stores the job
** word, then looks at the sleeping marks. Both sides use sequentially
** consistent order, so at least one of them sees the other's store.
*/
#include "workers.h"
#include "port.h"

#define SPIN_ROUNDS 4000 /* polls of the job word before a worker blocks */

static uint32_t gen_of(uint64_t word)
{
    return (uint32_t)(word >> 32);
}

static void relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

void l4lm_work_init(l4lm_work_pool *p, uint32_t n_threads, l4lm_work_wait_fn *wait,
                    l4lm_work_wake_fn *wake, void *port)
{
    if (n_threads < 1)
        n_threads = 1;
    if (n_threads > L4LM_WORK_MAX_THREADS)
        n_threads = L4LM_WORK_MAX_THREADS;
    atomic_init(&p->job, 0);
    atomic_init(&p->done, 0);
    atomic_init(&p->task, (l4lm_task_fn)0);
    atomic_init(&p->arg, (void *)0);
    atomic_init(&p->n, 0);
    atomic_init(&p->stop, 0);
    for (uint32_t i = 0; i < L4LM_WORK_MAX_THREADS; i++) {
        atomic_init(&p->sleeping[i], 0);
        atomic_init(&p->ran[i], 0);
    }
    p->n_threads = n_threads;
    p->spin_rounds = SPIN_ROUNDS;
    p->wait = wait;
    p->wake = wake;
    p->port = port;
    p->calls = p->tasks = p->wakes = 0;
}

/*
** Claim and run tasks of generation g until none is left. The fields are
** read before the CAS and trusted only if it succeeds: a success proves
** the word still held generation g, whose job cannot be replaced before
** all its tasks (this one included) are done.
*/
static void run_claims(l4lm_work_pool *p, uint32_t g, uint32_t self)
{
    uint64_t word = atomic_load_explicit(&p->job, memory_order_acquire);
    for (;;) {
        if (gen_of(word) != g)
            return;
        uint32_t i = (uint32_t)word;
        l4lm_task_fn task = atomic_load_explicit(&p->task, memory_order_relaxed);
        void *arg = atomic_load_explicit(&p->arg, memory_order_relaxed);
        uint32_t n = atomic_load_explicit(&p->n, memory_order_relaxed);
        if (i >= n)
            return;
        if (!atomic_compare_exchange_weak_explicit(&p->job, &word, word + 1, memory_order_acquire,
                                                   memory_order_acquire))
            continue; /* word now holds the current value */
        task(arg, i);
        uint64_t ran = atomic_load_explicit(&p->ran[self], memory_order_relaxed);
        atomic_store_explicit(&p->ran[self], ran + 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
        word = atomic_load_explicit(&p->job, memory_order_acquire);
    }
}

/* Wait for a generation other than seen: poll, then block through the port. */
static uint32_t next_job(l4lm_work_pool *p, uint32_t worker, uint32_t seen)
{
    for (uint32_t r = 0;; r++) {
        uint64_t word = atomic_load_explicit(&p->job, memory_order_acquire);
        if (gen_of(word) != seen || atomic_load_explicit(&p->stop, memory_order_acquire))
            return gen_of(word);
        if (r < p->spin_rounds || !p->wait) {
            relax();
            continue;
        }
        atomic_store(&p->sleeping[worker], 1); /* seq_cst: see the header comment */
        if (gen_of(atomic_load(&p->job)) == seen && !atomic_load(&p->stop))
            p->wait(p->port, worker);
        atomic_store_explicit(&p->sleeping[worker], 0, memory_order_relaxed);
        r = 0;
    }
}

void l4lm_work_worker(l4lm_work_pool *p, uint32_t worker)
{
    uint32_t seen = 0;
    if (worker == 0 || worker >= p->n_threads)
        return;
    for (;;) {
        seen = next_job(p, worker, seen);
        if (atomic_load_explicit(&p->stop, memory_order_acquire))
            return;
        run_claims(p, seen, worker);
    }
}

static void wake_sleepers(l4lm_work_pool *p)
{
    for (uint32_t w = 1; p->wake && w < p->n_threads; w++) {
        if (atomic_load(&p->sleeping[w])) {
            p->wake(p->port, w);
            p->wakes++;
        }
    }
}

void l4lm_work_stop(l4lm_work_pool *p)
{
    atomic_store(&p->stop, 1);
    wake_sleepers(p);
}

void l4lm_work_parallel_for(void *pool, l4lm_task_fn task, void *arg, uint32_t n)
{
    l4lm_work_pool *p = pool;
    p->calls++;
    p->tasks += n;
    if (p->n_threads == 1 || n <= 1) {
        for (uint32_t i = 0; i < n; i++)
            task(arg, i);
        return;
    }
    uint32_t g = gen_of(atomic_load_explicit(&p->job, memory_order_relaxed)) + 1;
    atomic_store_explicit(&p->task, task, memory_order_relaxed);
    atomic_store_explicit(&p->arg, arg, memory_order_relaxed);
    atomic_store_explicit(&p->n, n, memory_order_relaxed);
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    atomic_store(&p->job, (uint64_t)g << 32); /* seq_cst: release, and ordered before the marks */
    wake_sleepers(p);
    run_claims(p, g, 0);
    while (atomic_load_explicit(&p->done, memory_order_acquire) != n)
        relax();
}

l4lm_work_count l4lm_work_counted(const l4lm_work_pool *p)
{
    l4lm_work_count c = {p->calls, p->tasks, 0};
    for (uint32_t w = 1; w < p->n_threads; w++)
        c.by_workers += atomic_load_explicit(&p->ran[w], memory_order_relaxed);
    return c;
}

/* "a.b" with one decimal of num / den. */
static void put_ratio(uint64_t num, uint64_t den)
{
    uint64_t tenths = den ? (num * 10 + den / 2) / den : 0;
    l4lm_port_putu(tenths / 10);
    l4lm_port_putc('.');
    l4lm_port_putu(tenths % 10);
}

void l4lm_work_put_count(const char *label, l4lm_work_count from, l4lm_work_count to,
                         uint64_t tokens)
{
    uint64_t calls = to.calls - from.calls, tasks = to.tasks - from.tasks;
    l4lm_port_puts(label);
    l4lm_port_putu(calls);
    l4lm_port_puts(" parallel_for calls, ");
    put_ratio(calls, tokens);
    l4lm_port_puts(" per token, ");
    put_ratio(tasks, calls);
    l4lm_port_puts(" tasks per call, ");
    l4lm_port_putu(to.by_workers - from.by_workers);
    l4lm_port_puts(" tasks on the other cores\n");
}
