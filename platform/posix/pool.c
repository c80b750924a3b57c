/*
** pool.c — a small POSIX thread pool behind the core's parallel_for hook.
** Task i runs on thread i % n_threads (the caller is thread 0), so work is
** split evenly even when a job takes only microseconds, and workers spin
** briefly before sleeping because a decode step issues jobs back to back.
** Which thread runs a task never changes its result (the core splits work
** by output rows), so tokens do not depend on the thread count.
*/
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include "posix.h"

#define SPIN_ROUNDS 20000 /* polls before a worker sleeps */

/* Let the other hyperthread (or, on a busy machine, another process) run. */
static void relax(uint32_t round)
{
    if (round % 64 == 63)
        sched_yield();
#if defined(__x86_64__) || defined(__i386__)
    else
        __builtin_ia32_pause();
#endif
}

typedef struct worker {
    struct l4lm_pool *pool;
    uint32_t index; /* 1..n_workers; the caller is 0 */
    pthread_t thread;
} worker;

struct l4lm_pool {
    pthread_mutex_t mu;
    pthread_cond_t wake;
    worker *workers;
    uint32_t n_threads;  /* workers + the caller */
    uint32_t generation; /* atomic: bumped for every job */
    uint32_t pending;    /* atomic: workers still inside the current job */
    uint32_t sleepers;   /* guarded by mu */
    bool stop;           /* atomic */
    /* the current job, published before generation is bumped */
    l4lm_task_fn task;
    void *arg;
    uint32_t n_tasks;
};

static void run_share(l4lm_pool *p, uint32_t self)
{
    for (uint32_t i = self; i < p->n_tasks; i += p->n_threads)
        p->task(p->arg, i);
}

/* Wait until the generation moves past seen (or stop); spin, then sleep. */
static uint32_t wait_job(l4lm_pool *p, uint32_t seen)
{
    for (int i = 0; i < SPIN_ROUNDS; i++) {
        uint32_t g = __atomic_load_n(&p->generation, __ATOMIC_ACQUIRE);
        if (g != seen || __atomic_load_n(&p->stop, __ATOMIC_ACQUIRE))
            return g;
        relax((uint32_t)i);
    }
    pthread_mutex_lock(&p->mu);
    p->sleepers++;
    uint32_t g;
    while ((g = __atomic_load_n(&p->generation, __ATOMIC_ACQUIRE)) == seen &&
           !__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE))
        pthread_cond_wait(&p->wake, &p->mu);
    p->sleepers--;
    pthread_mutex_unlock(&p->mu);
    return g;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    l4lm_pool *p = w->pool;
    uint32_t seen = 0;
    for (;;) {
        seen = wait_job(p, seen);
        if (__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE))
            return NULL;
        run_share(p, w->index);
        __atomic_fetch_sub(&p->pending, 1, __ATOMIC_ACQ_REL);
    }
}

l4lm_pool *l4lm_pool_start(uint32_t n_threads)
{
    l4lm_pool *p = calloc(1, sizeof *p);
    uint32_t n_workers = n_threads > 1 ? n_threads - 1 : 0;
    if (!p || !(p->workers = calloc(n_workers + 1, sizeof *p->workers))) {
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    p->n_threads = 1;
    for (uint32_t i = 0; i < n_workers; i++) {
        worker *w = &p->workers[i];
        w->pool = p;
        w->index = i + 1;
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
            break;
        p->n_threads++;
    }
    return p;
}

void l4lm_pool_stop(l4lm_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    __atomic_store_n(&p->stop, true, __ATOMIC_RELEASE);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (uint32_t i = 0; i + 1 < p->n_threads; i++)
        pthread_join(p->workers[i].thread, NULL);
    free(p->workers);
    free(p);
}

void l4lm_pool_parallel_for(void *pool, l4lm_task_fn task, void *arg, uint32_t n)
{
    l4lm_pool *p = pool;
    p->task = task;
    p->arg = arg;
    p->n_tasks = n;
    __atomic_store_n(&p->pending, p->n_threads - 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&p->generation, 1, __ATOMIC_RELEASE);
    pthread_mutex_lock(&p->mu);
    if (p->sleepers)
        pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    run_share(p, 0);
    for (uint32_t i = 0; __atomic_load_n(&p->pending, __ATOMIC_ACQUIRE); i++)
        relax(i);
}
