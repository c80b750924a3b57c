/*
** pool.c — a small POSIX thread pool behind the core's parallel_for hook.
** The caller's thread works too; tasks are handed out by an atomic counter.
** Which thread runs a task never changes its result (the core splits work
** by output rows), so tokens do not depend on the thread count.
*/
#include <pthread.h>
#include <stdlib.h>

#include "posix.h"

struct l4lm_pool {
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    pthread_t *threads;
    uint32_t n_workers;
    uint64_t generation; /* bumped for every parallel_for */
    uint32_t busy;       /* workers still inside the current job */
    bool stop;
    /* the current job */
    l4lm_task_fn task;
    void *arg;
    uint32_t n_tasks;
    uint32_t next; /* atomic: next task index */
};

static void run_tasks(l4lm_pool *p)
{
    for (;;) {
        uint32_t i = __atomic_fetch_add(&p->next, 1, __ATOMIC_RELAXED);
        if (i >= p->n_tasks)
            return;
        p->task(p->arg, i);
    }
}

static void *worker(void *arg)
{
    l4lm_pool *p = arg;
    uint64_t seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->generation == seen)
            pthread_cond_wait(&p->wake, &p->mu);
        if (p->stop)
            break;
        seen = p->generation;
        pthread_mutex_unlock(&p->mu);
        run_tasks(p);
        pthread_mutex_lock(&p->mu);
        if (--p->busy == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

l4lm_pool *l4lm_pool_start(uint32_t n_threads)
{
    l4lm_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    p->threads = calloc(n_threads ? n_threads : 1, sizeof *p->threads);
    for (uint32_t i = 0; p->threads && i + 1 < n_threads; i++) {
        if (pthread_create(&p->threads[i], NULL, worker, p) != 0)
            break;
        p->n_workers++;
    }
    return p;
}

void l4lm_pool_stop(l4lm_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (uint32_t i = 0; i < p->n_workers; i++)
        pthread_join(p->threads[i], NULL);
    free(p->threads);
    free(p);
}

void l4lm_pool_parallel_for(void *pool, l4lm_task_fn task, void *arg, uint32_t n)
{
    l4lm_pool *p = pool;
    pthread_mutex_lock(&p->mu);
    p->task = task;
    p->arg = arg;
    p->n_tasks = n;
    p->next = 0;
    p->busy = p->n_workers;
    p->generation++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    run_tasks(p);
    pthread_mutex_lock(&p->mu);
    while (p->busy)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}
