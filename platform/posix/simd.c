/*
** simd.c — the hosted build's choice of SIMD kernels, made once at start-up.
** The Makefile compiles the core's kernel files once per CPU variant, each
** under names ending in _VARIANT (kernels.h): on x86_64 avx512 (AVX-512 F,
** VL and VNNI), avxvnni (AVX-VNNI) and avx2 (AVX2, FMA, F16C); on aarch64
** dotprod (sdot) and neon. This file defines the plain names the core
** calls, each passing the call on to the variant picked before main: the
** best one this CPU and its OS run, or the one L4LM_SIMD names in the
** environment (a variant, or none), which is how the tests compare them.
** With none, or on an x86_64 CPU without AVX2, every entry point does
** nothing and the core's C path does it all. Freestanding builds compile
** one variant for their target instead.
*/
#include "kernels_k.h"

#ifdef L4LM_SIMD_DISPATCH
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* X(variant, entry point) for every entry point of kernels.h (kept from
** clang-format, which reflows the list differently on every run). */
// clang-format off
#define ENTRY_POINTS(X, v) \
    X(v, matmul) X(v, kq_rows) X(v, name) X(v, act_tile) \
    X(v, exp) X(v, silu_mul) X(v, abs_top) X(v, round_q) \
    X(v, axpy_f16) X(v, dots) X(v, wsum) X(v, round_f16)
/* The ones the NEON kernels have; the others stay NULL. */
#define ARM_ENTRY_POINTS(X, v) \
    X(v, matmul) X(v, kq_rows) X(v, name) X(v, act_tile) X(v, axpy_f16) X(v, dots)
// clang-format on
#define DECLARE(v, e) extern __typeof__(l4lm_simd_##e) l4lm_simd_##e##_##v;
#define MEMBER(v, e)  __typeof__(l4lm_simd_##e) *e;
#define POINTER(v, e) .e = l4lm_simd_##e##_##v,

typedef struct variant {
    const char *label; /* as L4LM_SIMD names it */
    unsigned needs;    /* CPU features, bits of cpu_features() */
    ENTRY_POINTS(MEMBER, )
} variant;

#if defined(__x86_64__)
#include <cpuid.h>

ENTRY_POINTS(DECLARE, avx512)
ENTRY_POINTS(DECLARE, avxvnni)
ENTRY_POINTS(DECLARE, avx2)

enum { AVX2 = 1, AVX512 = 2, AVXVNNI = 4 }; /* each with the OS's support */

/* Best first. */
static const variant variants[] = {
    {"avx512", AVX2 | AVX512, ENTRY_POINTS(POINTER, avx512)},
    {"avxvnni", AVX2 | AVXVNNI, ENTRY_POINTS(POINTER, avxvnni)},
    {"avx2", AVX2, ENTRY_POINTS(POINTER, avx2)},
};

/* The register state the OS saves on a context switch (XCR0). */
static uint64_t os_state(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (uint64_t)hi << 32 | lo;
}

static unsigned cpu_features(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE) || !(c & bit_AVX) || !(c & bit_FMA) ||
        !(c & bit_F16C) || __get_cpuid_max(0, NULL) < 7)
        return 0;
    uint64_t xcr0 = os_state();
    if ((xcr0 & 0x6) != 0x6) /* SSE and AVX state */
        return 0;
    __cpuid_count(7, 0, a, b, c, d);
    if (!(b & bit_AVX2))
        return 0;
    unsigned f = AVX2;
    if ((b & bit_AVX512F) && (b & bit_AVX512VL) && (c & bit_AVX512VNNI) &&
        (xcr0 & 0xe0) == 0xe0) /* opmask and all 32 zmm registers */
        f |= AVX512;
    __cpuid_count(7, 1, a, b, c, d);
    if (a & bit_AVXVNNI)
        f |= AVXVNNI;
    return f;
}
#elif defined(__aarch64__)
#include <sys/auxv.h>

ARM_ENTRY_POINTS(DECLARE, dotprod)
ARM_ENTRY_POINTS(DECLARE, neon)

enum { DOTPROD = 1 };

static const variant variants[] = {
    {"dotprod", DOTPROD, ARM_ENTRY_POINTS(POINTER, dotprod)},
    {"neon", 0, ARM_ENTRY_POINTS(POINTER, neon)},
};

static unsigned cpu_features(void)
{
    return getauxval(AT_HWCAP) & HWCAP_ASIMDDP ? DOTPROD : 0;
}
#endif

enum { N_VARIANTS = sizeof variants / sizeof *variants };
static const variant *chosen; /* NULL: the portable C path */

/* "avx512 avxvnni avx2 none", for the message about a wrong L4LM_SIMD. */
static const char *labels(void)
{
    static char buf[64];
    size_t len = 0;
    for (int i = 0; i < N_VARIANTS; i++)
        len += (size_t)snprintf(buf + len, sizeof buf - len, "%s ", variants[i].label);
    snprintf(buf + len, sizeof buf - len, "none");
    return buf;
}

__attribute__((constructor)) static void pick_variant(void)
{
    unsigned f = cpu_features();
    const variant *best = NULL;
    for (int i = N_VARIANTS - 1; i >= 0; i--)
        if ((variants[i].needs & f) == variants[i].needs)
            best = &variants[i];
    chosen = best;
    const char *want = getenv("L4LM_SIMD");
    if (!want || !*want)
        return;
    if (strcmp(want, "none") == 0) {
        chosen = NULL;
        return;
    }
    for (int i = 0; i < N_VARIANTS; i++) {
        if (strcmp(want, variants[i].label) != 0)
            continue;
        if ((variants[i].needs & f) == variants[i].needs)
            chosen = &variants[i];
        else
            fprintf(stderr, "l4lm: L4LM_SIMD=%s: this CPU cannot run it; using %s\n", want,
                    best ? best->label : "none");
        return;
    }
    fprintf(stderr, "l4lm: L4LM_SIMD=%s is not one of %s; using %s\n", want, labels(),
            best ? best->label : "none");
}

/* The entry points the core calls: the chosen variant's, or "did nothing". */

bool l4lm_simd_matmul(uint32_t wtype, const uint8_t *w, size_t row_bytes, const uint8_t *act,
                      size_t act_stride, uint32_t n, uint32_t na, uint32_t r0, uint32_t r1,
                      float *y, size_t y_stride, bool ahead)
{
    return chosen &&
           chosen->matmul(wtype, w, row_bytes, act, act_stride, n, na, r0, r1, y, y_stride, ahead);
}

bool l4lm_simd_kq_rows(uint32_t t, const uint8_t *w, size_t rb, const uint8_t *act, size_t st,
                       uint32_t n, uint32_t na, uint32_t r0, uint32_t r1, float *y, size_t ys,
                       bool ahead)
{
    return chosen && chosen->kq_rows(t, w, rb, act, st, n, na, r0, r1, y, ys, ahead);
}

const char *l4lm_simd_name(void)
{
    return chosen ? chosen->name() : "none";
}

size_t l4lm_simd_act_tile(void)
{
    return chosen ? chosen->act_tile() : SIZE_MAX;
}

uint32_t l4lm_simd_exp(float *x, float sub, uint32_t n)
{
    return chosen && chosen->exp ? chosen->exp(x, sub, n) : 0;
}

uint32_t l4lm_simd_silu_mul(float *g, const float *u, uint32_t n)
{
    return chosen && chosen->silu_mul ? chosen->silu_mul(g, u, n) : 0;
}

bool l4lm_simd_abs_top(const float *x, uint32_t *top)
{
    return chosen && chosen->abs_top && chosen->abs_top(x, top);
}

bool l4lm_simd_round_q(const float *x, float id, int8_t *q, int32_t *sum)
{
    return chosen && chosen->round_q && chosen->round_q(x, id, q, sum);
}

uint32_t l4lm_simd_axpy_f16(const uint8_t *v, float a, float *out, uint32_t n)
{
    return chosen && chosen->axpy_f16 ? chosen->axpy_f16(v, a, out, n) : 0;
}

uint32_t l4lm_simd_dots(uint32_t type, const uint8_t *rows, size_t row_bytes, const float *x,
                        uint32_t n, uint32_t n_rows, float *out)
{
    return chosen && chosen->dots ? chosen->dots(type, rows, row_bytes, x, n, n_rows, out) : 0;
}

uint32_t l4lm_simd_wsum(uint32_t type, const uint8_t *rows, size_t row_bytes, const float *a,
                        uint32_t n_rows, float *out, uint32_t n)
{
    return chosen && chosen->wsum ? chosen->wsum(type, rows, row_bytes, a, n_rows, out, n) : 0;
}

uint32_t l4lm_simd_round_f16(const float *x, uint32_t n, float *o, uint16_t *h)
{
    return chosen && chosen->round_f16 ? chosen->round_f16(x, n, o, h) : 0;
}
#endif
