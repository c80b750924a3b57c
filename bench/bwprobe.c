/*
** bwprobe.c — `make bench`'s read-bandwidth probe: how fast can this machine
** stream bytes from DRAM, the wall that token-by-token decode runs into (a
** decode step reads every weight once).
**
**   bwprobe [MIB] [THREADS...]     default 1024 MiB, threads 1 2
**
** Fills a buffer much larger than any last-level cache, then for each thread
** count lets the threads sum disjoint slices of it (64-bit loads, four
** independent sums so the loop is not bound by one add chain; the compiler
** vectorises it) and prints one JSON line per count: the best GB/s (1e9
** bytes/s) of several passes. Best, not mean: a shared machine only ever
** makes a pass slower.
*/
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { PASSES = 7, MAX_THREADS = 64 };

typedef struct slice {
    const uint64_t *p;
    size_t n;
    pthread_barrier_t *start;
    uint64_t sum;
} slice;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t sum_words(const uint64_t *p, size_t n)
{
    uint64_t a = 0, b = 0, c = 0, d = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        a += p[i];
        b += p[i + 1];
        c += p[i + 2];
        d += p[i + 3];
    }
    for (; i < n; i++)
        a += p[i];
    return a + b + c + d;
}

static void *reader(void *arg)
{
    slice *s = arg;
    pthread_barrier_wait(s->start);
    s->sum = sum_words(s->p, s->n);
    return NULL;
}

/* Seconds for the threads to read the whole buffer once; <0 on failure. */
static double one_pass(const uint64_t *buf, size_t words, int nt, uint64_t *sink)
{
    pthread_t th[MAX_THREADS];
    slice sl[MAX_THREADS];
    pthread_barrier_t start;
    if (pthread_barrier_init(&start, NULL, (unsigned)nt + 1))
        return -1;
    size_t per = words / (size_t)nt;
    for (int i = 0; i < nt; i++) {
        sl[i] = (slice){buf + per * i, i == nt - 1 ? words - per * i : per, &start, 0};
        if (pthread_create(&th[i], NULL, reader, &sl[i])) {
            fprintf(stderr, "bwprobe: pthread_create failed\n"); /* the started ones wait */
            exit(1);
        }
    }
    pthread_barrier_wait(&start);
    double t0 = now();
    for (int i = 0; i < nt; i++) {
        pthread_join(th[i], NULL);
        *sink += sl[i].sum;
    }
    double t = now() - t0;
    pthread_barrier_destroy(&start);
    return t;
}

int main(int argc, char **argv)
{
    long mib = argc > 1 ? strtol(argv[1], NULL, 10) : 1024;
    if (mib < 64 || mib > (1L << 20)) {
        fprintf(stderr, "usage: bwprobe [MIB >= 64] [THREADS...]\n");
        return 2;
    }
    size_t bytes = (size_t)mib << 20, words = bytes / 8;
    uint64_t *buf = malloc(bytes);
    if (!buf) {
        fprintf(stderr, "bwprobe: cannot allocate %ld MiB\n", mib);
        return 1;
    }
    for (size_t i = 0; i < words; i++) /* touch every page; not all zero */
        buf[i] = i * 0x9e3779b97f4a7c15u;
    int counts[MAX_THREADS], n_counts = 0;
    for (int i = 2; i < argc && n_counts < MAX_THREADS; i++) {
        long t = strtol(argv[i], NULL, 10);
        if (t < 1 || t > MAX_THREADS) {
            fprintf(stderr, "bwprobe: thread counts are 1 to %d\n", MAX_THREADS);
            return 2;
        }
        counts[n_counts++] = (int)t;
    }
    if (n_counts == 0)
        counts[n_counts++] = 1, counts[n_counts++] = 2;
    uint64_t sink = 0;
    for (int k = 0; k < n_counts; k++) {
        double best = 0;
        for (int pass = 0; pass < PASSES; pass++) {
            double t = one_pass(buf, words, counts[k], &sink);
            if (t > 0 && bytes / t / 1e9 > best)
                best = bytes / t / 1e9;
        }
        printf("{\"threads\":%d,\"buffer_mib\":%ld,\"passes\":%d,\"read_gbps\":%.2f,\"sink\":%u}\n",
               counts[k], mib, PASSES, best, (unsigned)(sink & 1));
    }
    free(buf);
    return 0;
}
