/*
** hosted.c — the bare-metal driver run as a Linux program, so the test can
** check that an image prints the same ids as the hosted build on the same
** file, and so the build can ask l4lm_plan() how big the arena must be.
**
**   bm-host MODEL CTX N PROMPT [THREADS]   run the driver exactly as an image
**        does; THREADS > 1 runs the images' worker protocol (workers.c) on
**        POSIX threads that poll and nap instead of blocking
**   bm-host --plan MODEL CTX     print the arena bytes l4lm_plan() asks for
*/
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "port.h"
#include "driver.h"
#include "posix.h"
#include "workers.h"

void l4lm_port_putc(char c)
{
    putchar(c);
}

uint64_t l4lm_port_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The port's blocking wait may return early: a short nap will do here. */
static void nap(void *port, uint32_t worker)
{
    (void)port, (void)worker;
    nanosleep(&(struct timespec){0, 50000}, NULL);
}

typedef struct thread_arg {
    l4lm_work_pool *pool;
    uint32_t worker;
} thread_arg;

static void *worker_main(void *arg)
{
    thread_arg *t = arg;
    l4lm_work_worker(t->pool, t->worker);
    return NULL;
}

/* Run the job on n threads (the caller and n - 1 workers). */
static int generate_threads(l4lm_port_job *job, uint32_t n)
{
    static l4lm_work_pool pool;
    pthread_t th[L4LM_WORK_MAX_THREADS];
    thread_arg ta[L4LM_WORK_MAX_THREADS];
    l4lm_work_init(&pool, n, nap, NULL, NULL);
    uint32_t started = 1;
    for (; started < pool.n_threads; started++) {
        ta[started] = (thread_arg){&pool, started};
        if (pthread_create(&th[started], NULL, worker_main, &ta[started]) != 0)
            break;
    }
    pool.n_threads = started;
    job->pool = &pool;
    int status = l4lm_port_generate(job);
    l4lm_work_stop(&pool);
    for (uint32_t i = 1; i < started; i++)
        pthread_join(th[i], NULL);
    return status;
}

static int usage(void)
{
    fprintf(stderr, "usage: bm-host MODEL CTX N PROMPT [THREADS] | bm-host --plan MODEL CTX\n");
    return 2;
}

int main(int argc, char **argv)
{
    int plan_only = argc == 4 && strcmp(argv[1], "--plan") == 0;
    if (!plan_only && argc != 5 && argc != 6)
        return usage();
    const char *path = argv[plan_only ? 2 : 1];
    uint32_t n_ctx = (uint32_t)strtoul(argv[plan_only ? 3 : 2], NULL, 10);
    char err[256];
    size_t size;
    const void *bytes = l4lm_posix_map(path, &size, err, sizeof err);
    if (!bytes) {
        fprintf(stderr, "bm-host: %s\n", err);
        return 1;
    }
    void *scratch = aligned_alloc(64, l4lm_port_index_bytes(bytes, size) + 64);
    size_t need = scratch ? l4lm_port_plan(bytes, size, n_ctx, scratch) : 0;
    free(scratch);
    if (need == 0)
        return 1;
    if (plan_only) {
        printf("%zu\n", need);
        l4lm_posix_unmap(bytes, size);
        return 0;
    }
    uint32_t n_gen = (uint32_t)strtoul(argv[3], NULL, 10);
    size_t cap = strlen(argv[4]) + 2 + n_gen;
    l4lm_port_job job = {
        .model = bytes,
        .model_size = size,
        .arena = aligned_alloc(64, (need + 63) / 64 * 64),
        .arena_size = need, /* as the images' */
        .prompt = argv[4],
        .prompt_len = strlen(argv[4]),
        .n_ctx = n_ctx,
        .n_generate = n_gen,
        .ids = malloc(cap * sizeof(int32_t)),
        .ids_cap = cap,
    };
    int status = 1;
    if (job.arena && job.ids) {
        uint32_t threads = argc == 6 ? (uint32_t)strtoul(argv[5], NULL, 10) : 1;
        status = threads > 1 ? generate_threads(&job, threads) : l4lm_port_generate(&job);
        printf("status: %d\n", status);
    } else {
        fprintf(stderr, "bm-host: out of memory\n");
    }
    free(job.arena);
    free(job.ids);
    l4lm_posix_unmap(bytes, size);
    return status;
}
