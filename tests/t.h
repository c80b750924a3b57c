/*
** t.h — the tiny test harness. A test program prints one line per check:
**   "ok NAME", "FAIL NAME: why" or "skip NAME: why"; tests/run.sh counts them.
*/
#ifndef L4LM_T_H
#define L4LM_T_H
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_failed __attribute__((unused));

static inline void t_report(const char *kind, const char *name, const char *fmt, ...)
{
    printf("%s %s", kind, name);
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        printf(": ");
        vprintf(fmt, ap);
        va_end(ap);
    }
    printf("\n");
    fflush(stdout);
}

#define T_OK(name) t_report("ok", name, NULL)
#define T_FAIL(name, ...) (t_failed = 1, t_report("FAIL", name, __VA_ARGS__))
#define T_SKIP(name, ...) t_report("skip", name, __VA_ARGS__)
/* Check cond; on failure print the message. Evaluates to cond. */
#define T_CHECK(name, cond, ...) ((cond) ? (T_OK(name), 1) : (T_FAIL(name, __VA_ARGS__), 0))
#define T_EXIT() return t_failed ? 1 : 0

/* Where ../shared is, or NULL (tests then skip). */
static inline const char *t_shared(void)
{
    const char *env = getenv("L4LM_SHARED");
    static char path[4096];
    if (env && *env) return env;
    snprintf(path, sizeof path, "../shared");
    FILE *f = fopen("../shared/models/stories260K.gguf", "rb");
    if (!f) return NULL;
    fclose(f);
    return path;
}

/* Read a whole file into malloc'd memory, with a 0 byte after it (so a
** text file, even one being written, is a string); NULL on failure. */
static inline unsigned char *t_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) buf[n] = 0, *size = (size_t)n;
    return buf;
}
/* Read ../shared/<rel> (malloc'd) or NULL. */
static inline unsigned char *t_shared_file(const char *rel, size_t *size)
{
    const char *dir = t_shared();
    char path[8192];
    if (!dir)
        return NULL;
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    return t_read_file(path, size);
}

/* Test data from a xorshift64 generator; each test keeps its own state. */
static inline uint32_t t_xorshift(uint64_t *s)
{
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return (uint32_t)(*s >> 16);
}

/* FNV-1a over the bits of every result a kernel test computes, printed at
** the end so builds and CPUs can be compared (tests/kernels_simd.sh). */
static uint64_t t_hash __attribute__((unused)) = 0xcbf29ce484222325ull;

static inline void t_hash_float(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    for (int i = 0; i < 4; i++)
        t_hash = (t_hash ^ ((u >> (8 * i)) & 255)) * 0x100000001b3ull;
}

static inline void t_print_hash(void)
{
    printf("# hash of all dot results: %016llx (equal on every CPU and build)\n",
           (unsigned long long)t_hash);
}

#endif
