/*
** probe.h — the thread harness bench/bwprobe.c and bench/peakprobe.c share
** (host tools, included once by each): nt threads wait on one barrier, each
** runs its piece of work and times itself, and a pass lasts from the first
** start to the last end. The threads time themselves because the main thread
** may not run the moment the barrier opens (a busy machine), and a late
** first reading would make a pass look fast. A pass can instead be timed by
** the threads' own CPU time (the longest): what a core does while it runs,
** whatever else the machine runs (for arithmetic, not for memory, whose
** bandwidth the threads share).
*/
#ifndef PROBE_H
#define PROBE_H
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

enum { PROBE_MAX_THREADS = 64 };

/* Thread i's work on arg; returns a value the caller sinks (so the compiler
   keeps the work). */
typedef double (*probe_fn)(void *arg, int i);

typedef struct probe_thread {
    probe_fn fn;
    void *arg;
    int i;
    pthread_barrier_t *start;
    double out, t0, t1, cpu; /* wall start and end, CPU seconds */
} probe_thread;

static double probe_clock(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double probe_now(void)
{
    return probe_clock(CLOCK_MONOTONIC);
}

static void *probe_main(void *p)
{
    probe_thread *t = p;
    pthread_barrier_wait(t->start);
    t->t0 = probe_now();
    double c0 = probe_clock(CLOCK_THREAD_CPUTIME_ID);
    t->out = t->fn(t->arg, t->i);
    t->cpu = probe_clock(CLOCK_THREAD_CPUTIME_ID) - c0;
    t->t1 = probe_now();
    return NULL;
}

/* Seconds for nt threads (1 to PROBE_MAX_THREADS) to run fn, wall or (cpu)
   the longest thread's CPU time; <0 on failure. Adds the threads' results to
   *sink. */
static double probe_pass(probe_fn fn, void *arg, int nt, int cpu, double *sink)
{
    pthread_t th[PROBE_MAX_THREADS];
    probe_thread ts[PROBE_MAX_THREADS];
    pthread_barrier_t start;
    if (nt < 1 || nt > PROBE_MAX_THREADS || pthread_barrier_init(&start, NULL, (unsigned)nt))
        return -1;
    for (int i = 0; i < nt; i++) {
        ts[i] = (probe_thread){fn, arg, i, &start, 0, 0, 0, 0};
        if (pthread_create(&th[i], NULL, probe_main, &ts[i])) {
            fprintf(stderr, "probe: pthread_create failed\n"); /* the started ones wait */
            exit(1);
        }
    }
    double t0 = 0, t1 = 0, longest = 0;
    for (int i = 0; i < nt; i++) {
        pthread_join(th[i], NULL);
        *sink += ts[i].out;
        t0 = i == 0 || ts[i].t0 < t0 ? ts[i].t0 : t0;
        t1 = ts[i].t1 > t1 ? ts[i].t1 : t1;
        longest = ts[i].cpu > longest ? ts[i].cpu : longest;
    }
    pthread_barrier_destroy(&start);
    return cpu ? longest : t1 - t0;
}

/* The thread counts on the command line from argv[first] on, 1 2 if none;
   returns how many, 0 after a message when one is out of range. */
static int probe_thread_counts(int argc, char **argv, int first, int *counts)
{
    int n = 0;
    for (int i = first; i < argc && n < PROBE_MAX_THREADS; i++) {
        long t = strtol(argv[i], NULL, 10);
        if (t < 1 || t > PROBE_MAX_THREADS) {
            fprintf(stderr, "probe: thread counts are 1 to %d\n", PROBE_MAX_THREADS);
            return 0;
        }
        counts[n++] = (int)t;
    }
    if (n == 0)
        counts[n++] = 1, counts[n++] = 2;
    return n;
}
#endif
