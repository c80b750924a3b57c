/*
** bwprobe.c — `make bench`'s read-bandwidth probe: the most bytes per second
** one core (and two, ...) can stream from DRAM, the wall that token-by-token
** decode runs into (a decode step reads every weight once).
**
**   bwprobe [-v] [MIB] [THREADS...]     default 1024 MiB, threads 1 2
**                                       -v: every way's GB/s on stderr
**
** One sequential stream per thread underestimates that wall (the first
** version of this probe read no faster than llama.cpp's F16 decode did):
** one core reaches its best only with enough cache-line misses in flight,
** and its prefetchers follow a few streams at a time. So the probe tries
** several ways to read and keeps the best:
**   load width   8-byte words (plain C: the compiler may widen them),
**                32-byte and 64-byte vectors (GCC/clang vector types: the
**                make rule builds with -march=native, so they are the widest
**                loads this CPU has; elsewhere the compiler splits them),
**                and non-temporal 64-byte loads where AVX-512 is built;
**   streams      each thread reads 1, 2, 4, 8 or 16 parts of its slice side
**                by side (independent address streams for the prefetchers);
**   prefetch     none, or a software prefetch 512 B, 2 KiB or 8 KiB ahead of
**                every stream, into the caches (T0) or non-temporal (NTA);
**   pages        4 KiB pages and transparent 2 MiB pages (madvise; Linux).
** Every way is timed twice on a 256 MiB window (still far beyond any
** last-level cache); the best few are then timed PASSES times over the whole
** buffer (one thread by its CPU time, more by the wall clock: see one_pass). One JSON line per
*thread count: the best GB/s (1e9 bytes/s) and how
** it read, the best on 4 KiB pages (what a mapped model file gets unless the
** kernel gives the page cache large folios), and the plain loop alone (the
** first probe's figure). Best, not mean: a shared machine only ever makes a
** pass slower.
*/
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "probe.h"
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

enum {
    PASSES = 7,        /* timed passes of each finalist over the whole buffer */
    SEARCH_PASSES = 2, /* per way, on the window */
    SEARCH_MIB = 256,
    FINALISTS = 6,
    MAX_STREAMS = 16,
    LINE = 64,
};

typedef uint64_t vec4 __attribute__((vector_size(32)));
typedef uint64_t vec8 __attribute__((vector_size(64)));

/* How to read: one point of the search. */
typedef struct way {
    int width;   /* bytes per load: 8, 32, 64; 0 = non-temporal 64-byte loads */
    int streams; /* parts of the slice read side by side */
    int pf;      /* software prefetch distance in bytes, 0 = none */
    int nta;     /* the prefetch is non-temporal */
    int huge;    /* the buffer has transparent 2 MiB pages */
    double gbps; /* best seen */
} way;

static const int WIDTHS[] = {8, 32, 64, 0};
static const int STREAMS[] = {1, 2, 4, 8, 16};
static const int PREFETCH[] = {0, 512, 2048, 8192};

/* ---------------------------------------------------------------------------
** The read loops. Each thread reads `lines` cache lines from each of `s`
** streams; per line it adds the line's words into the stream's accumulator
** (one add per load: far below what the core can add, so memory sets the
** pace). The loop is written once; the load is a function of the type.
*/
static inline void load_words(uint64_t *v, const char *q)
{
    memcpy(v, q, sizeof *v);
}

static inline void load_vec4(vec4 *v, const char *q)
{
    memcpy(v, q, sizeof *v);
}

static inline void load_vec8(vec8 *v, const char *q)
{
    memcpy(v, q, sizeof *v);
}

#if defined(__AVX512F__)
/* vmovntdqa: a hint the CPU may take to keep the line out of the caches. */
static inline void load_nt(vec8 *v, const char *q)
{
    *v = (vec8)_mm512_stream_load_si512((void *)q);
}
#endif

#define READ_LOOP(T, LOAD, s, base, lines, pf, nta)                                                \
    do {                                                                                           \
        T acc[MAX_STREAMS];                                                                        \
        memset(acc, 0, sizeof acc);                                                                \
        for (size_t i = 0; i < (lines); i++)                                                       \
            for (int k = 0; k < (s); k++) {                                                        \
                const char *q = (base)[k] + i * LINE;                                              \
                if ((pf) && (nta))                                                                 \
                    __builtin_prefetch(q + (pf), 0, 0);                                            \
                else if (pf)                                                                       \
                    __builtin_prefetch(q + (pf), 0, 3);                                            \
                for (int j = 0; j < LINE / (int)sizeof(T); j++) {                                  \
                    T v;                                                                           \
                    LOAD(&v, q + j * sizeof(T));                                                   \
                    acc[k] += v;                                                                   \
                }                                                                                  \
            }                                                                                      \
        for (int k = 0; k < (s); k++) {                                                            \
            uint64_t words[sizeof(T) / 8];                                                         \
            memcpy(words, &acc[k], sizeof words);                                                  \
            for (int j = 0; j < (int)(sizeof(T) / 8); j++)                                         \
                sum += words[j];                                                                   \
        }                                                                                          \
    } while (0)

/* The stream count as a constant, so the accumulators live in registers. */
#define BY_STREAMS(T, LOAD, s, base, lines, pf, nta)                                               \
    switch (s) {                                                                                   \
    case 1:                                                                                        \
        READ_LOOP(T, LOAD, 1, base, lines, pf, nta);                                               \
        break;                                                                                     \
    case 2:                                                                                        \
        READ_LOOP(T, LOAD, 2, base, lines, pf, nta);                                               \
        break;                                                                                     \
    case 4:                                                                                        \
        READ_LOOP(T, LOAD, 4, base, lines, pf, nta);                                               \
        break;                                                                                     \
    case 8:                                                                                        \
        READ_LOOP(T, LOAD, 8, base, lines, pf, nta);                                               \
        break;                                                                                     \
    default:                                                                                       \
        READ_LOOP(T, LOAD, MAX_STREAMS, base, lines, pf, nta);                                     \
        break;                                                                                     \
    }

#define READ_FUNCTION(name, T, LOAD)                                                               \
    static uint64_t name(const char *const *base, size_t lines, const way *w)                      \
    {                                                                                              \
        uint64_t sum = 0;                                                                          \
        BY_STREAMS(T, LOAD, w->streams, base, lines, w->pf, w->nta);                               \
        return sum;                                                                                \
    }
READ_FUNCTION(read_words, uint64_t, load_words)
READ_FUNCTION(read_vec4, vec4, load_vec4)
READ_FUNCTION(read_vec8, vec8, load_vec8)
#if defined(__AVX512F__)
READ_FUNCTION(read_nt, vec8, load_nt)
#endif

static int way_supported(const way *w)
{
#if defined(__AVX512F__)
    return w != NULL;
#else
    return w->width != 0;
#endif
}

/* Reads bytes (a multiple of streams * LINE) from p the way w says. */
static uint64_t read_way(const char *p, size_t bytes, const way *w)
{
    const char *base[MAX_STREAMS];
    size_t part = bytes / (size_t)w->streams;
    for (int k = 0; k < w->streams; k++)
        base[k] = p + part * (size_t)k;
    size_t lines = part / LINE;
    switch (w->width) {
    case 8:
        return read_words(base, lines, w);
    case 32:
        return read_vec4(base, lines, w);
    case 64:
        return read_vec8(base, lines, w);
    default:
#if defined(__AVX512F__)
        return read_nt(base, lines, w);
#else
        return 0;
#endif
    }
}

/* ---------------------------------------------------------------------------
** Passes: every thread reads its slice of the buffer.
*/
typedef struct pass_args {
    const char *buf;
    size_t per; /* bytes per thread */
    const way *w;
} pass_args;

static double read_slice(void *arg, int i)
{
    const pass_args *p = arg;
    return (double)(read_way(p->buf + p->per * (size_t)i, p->per, p->w) & 0xffff);
}

/* GB/s of nt threads reading bytes from buf the way w says; <0 on failure.
   One thread is timed by its CPU time (a busy machine may take it off its
   core), more by the wall clock (they share the memory: a thread that ran
   alone for a while would make its CPU time look fast). */
static double one_pass(const char *buf, size_t bytes, int nt, const way *w, double *sink)
{
    size_t unit = (size_t)nt * MAX_STREAMS * LINE;
    pass_args p = {buf, bytes / unit * unit / (size_t)nt, w}; /* every part whole lines */
    double t = probe_pass(read_slice, &p, nt, nt == 1, sink);
    return t > 0 ? (double)p.per * nt / t / 1e9 : -1;
}

static double best_of(const char *buf, size_t bytes, int nt, const way *w, int passes, double *sink)
{
    double best = 0;
    for (int pass = 0; pass < passes; pass++) {
        double g = one_pass(buf, bytes, nt, w, sink);
        if (g > best)
            best = g;
    }
    return best;
}

static void describe(const way *w, char *out, size_t n)
{
    char pf[48] = "no prefetch";
    if (w->pf)
        snprintf(pf, sizeof pf, "prefetch%s %d B", w->nta ? "nta" : "t0", w->pf);
    if (w->width)
        snprintf(out, n, "%d-byte loads, %d stream%s, %s, %s pages", w->width, w->streams,
                 w->streams > 1 ? "s" : "", pf, w->huge ? "2 MiB" : "4 KiB");
    else
        snprintf(out, n, "64-byte non-temporal loads, %d stream%s, %s, %s pages", w->streams,
                 w->streams > 1 ? "s" : "", pf, w->huge ? "2 MiB" : "4 KiB");
}

/* ---------------------------------------------------------------------------
** The search.
*/
#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))
enum { MAX_WAYS = COUNT(WIDTHS) * COUNT(STREAMS) * (2 * COUNT(PREFETCH) - 1) };

/* Every way on this page kind; returns how many. */
static int list_ways(way *ways, int huge)
{
    int n = 0;
    for (int a = 0; a < COUNT(WIDTHS); a++)
        for (int b = 0; b < COUNT(STREAMS); b++)
            for (int c = 0; c < COUNT(PREFETCH); c++)
                for (int nta = 0; nta < (PREFETCH[c] ? 2 : 1); nta++) {
                    way w = {WIDTHS[a], STREAMS[b], PREFETCH[c], nta, huge, 0};
                    if (way_supported(&w))
                        ways[n++] = w;
                }
    return n;
}

static int by_gbps_desc(const void *a, const void *b)
{
    double x = ((const way *)a)->gbps, y = ((const way *)b)->gbps;
    return (x < y) - (x > y);
}

/* The best way for nt threads on buf: a search on the window, then finals. */
static way search(const char *buf, size_t bytes, int nt, int huge, int verbose, double *sink)
{
    static way ways[MAX_WAYS];
    int n = list_ways(ways, huge);
    size_t window = bytes < ((size_t)SEARCH_MIB << 20) ? bytes : (size_t)SEARCH_MIB << 20;
    for (int i = 0; i < n; i++)
        ways[i].gbps = best_of(buf, window, nt, &ways[i], SEARCH_PASSES, sink);
    qsort(ways, (size_t)n, sizeof ways[0], by_gbps_desc);
    for (int i = 0; verbose && i < n; i++) {
        char how[160];
        describe(&ways[i], how, sizeof how);
        fprintf(stderr, "bwprobe: %d thread%s, %.2f GB/s: %s\n", nt, nt > 1 ? "s" : "",
                ways[i].gbps, how);
    }
    way best = ways[0];
    best.gbps = 0;
    for (int i = 0; i < FINALISTS && i < n; i++) {
        ways[i].gbps = best_of(buf, bytes, nt, &ways[i], PASSES, sink);
        if (ways[i].gbps > best.gbps)
            best = ways[i];
    }
    return best;
}

/* A buffer of bytes with every page touched, 2 MiB pages asked for or refused. */
static char *make_buffer(size_t bytes, int huge)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
#if defined(MADV_HUGEPAGE)
    madvise(p, bytes, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
#endif
    uint64_t *w = p;
    for (size_t i = 0; i < bytes / 8; i++) /* not all zero */
        w[i] = i * 0x9e3779b97f4a7c15u;
    return p;
}

typedef struct result {
    way best, best_4k;
    double plain;
} result;

int main(int argc, char **argv)
{
    int verbose = argc > 1 && strcmp(argv[1], "-v") == 0;
    argc -= verbose, argv += verbose;
    long mib = argc > 1 ? strtol(argv[1], NULL, 10) : 1024;
    if (mib < 64 || mib > (1L << 20)) {
        fprintf(stderr, "usage: bwprobe [-v] [MIB >= 64] [THREADS...]\n");
        return 2;
    }
    size_t bytes = (size_t)mib << 20;
    int counts[PROBE_MAX_THREADS], n_counts = probe_thread_counts(argc, argv, 2, counts);
    if (n_counts == 0)
        return 2;
    static result res[PROBE_MAX_THREADS];
    double sink = 0;
    int pages = 1;
#if defined(MADV_HUGEPAGE)
    pages = 2;
#endif
    for (int huge = 0; huge < pages; huge++) { /* one buffer at a time */
        char *buf = make_buffer(bytes, huge);
        if (!buf) {
            fprintf(stderr, "bwprobe: cannot map %ld MiB\n", mib);
            return 1;
        }
        for (int k = 0; k < n_counts; k++) {
            way w = search(buf, bytes, counts[k], huge, verbose, &sink);
            if (w.gbps > res[k].best.gbps)
                res[k].best = w;
            if (!huge) {
                res[k].best_4k = w;
                way plain = {8, 1, 0, 0, 0, 0};
                res[k].plain = best_of(buf, bytes, counts[k], &plain, PASSES, &sink);
            }
        }
        munmap(buf, bytes);
    }
    for (int k = 0; k < n_counts; k++) {
        char how[160];
        describe(&res[k].best, how, sizeof how);
        printf("{\"threads\":%d,\"buffer_mib\":%ld,\"passes\":%d,\"read_gbps\":%.2f,\"how\":\"%s\","
               "\"read_gbps_4k\":%.2f,\"plain_gbps\":%.2f,\"sink\":%d}\n",
               counts[k], mib, PASSES, res[k].best.gbps, how, res[k].best_4k.gbps, res[k].plain,
               sink != 0);
    }
    return 0;
}
