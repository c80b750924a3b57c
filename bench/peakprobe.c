/*
** peakprobe.c — `make bench`'s arithmetic peak probe: the most multiply-adds
** per second one core (and two, ...) can do, the wall prefill runs into (a
** prefill is matrix-matrix products). bench/report.mjs sets every prefill
** row's achieved rate against it, so a row that misses its target can say
** what it would take ("1.25x llama.cpp would need 88 % of the peak").
**
**   peakprobe [THREADS...]     default threads 1 2
**
** Kernels, each many independent chains (more than the latency x the pipes
** of any current core) over registers only, no memory:
**   f32   a*b+c chains (fused multiply-add where the CPU has it), and separate
**         multiply chains beside add chains (cores with more multiply and add
**         pipes than FMA pipes), in 64-, 32- and 16-byte vectors (GCC/clang
**         vector types: the make rule builds with -march=native, so 64 bytes
**         is zmm on AVX-512; elsewhere the compiler splits them);
**   i8    the int8 dot product: vpdpbusd (AVX-512 VNNI zmm, AVX-VNNI or
**         AVX-512 VL ymm), else AVX2's vpmaddubsw + vpmaddwd, NEON sdot, or
**         plain int32 multiply-add chains where the build has none of them;
**   bf16  vdpbf16ps (AVX-512 BF16), the dot llama.cpp uses for BF16 weights.
** An op is a multiply or an add: a multiply-add is 2, one vpdpbusd zmm is
** 64 u8 x s8 products summed into 16 lanes, 128 ops. Each kernel runs for
** ~30 ms a pass, 5 passes, every thread of a count the same work; the best
** pass counts. A pass lasts as long as its slowest thread's CPU time: the
** peak is what the cores do while they run, so a busy machine lowers it
** less (it still shares caches, and SMT siblings share a core). One JSON
** line per kernel and thread count: {"threads","class","kernel","gops"}.
*/
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "probe.h"
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#if defined(__ARM_FEATURE_DOTPROD)
#include <arm_neon.h>
#endif

enum { PASSES = 5, CHAINS = 12, HALF = 8 };

/* The operands come from volatiles, so the compiler cannot fold the chains:
   x*1 + tiny never overflows or goes subnormal. */
static volatile float v_one = 1.0f, v_tiny = 1e-30f;
static volatile int8_t v_byte = 1;

typedef float f32x16 __attribute__((vector_size(64)));
typedef float f32x8 __attribute__((vector_size(32)));
typedef float f32x4 __attribute__((vector_size(16)));
typedef int32_t i32x16 __attribute__((vector_size(64)));

/* Sums a vector's lanes into a double, the kernels' result (kept by a sink). */
#define LANES_SUM(T, acc, n, out)                                                                  \
    do {                                                                                           \
        for (int c_ = 0; c_ < (n); c_++)                                                           \
            for (int l_ = 0; l_ < (int)(sizeof(T) / sizeof((acc)[0][0])); l_++)                    \
                (out) += (double)(acc)[c_][l_];                                                    \
    } while (0)

/* CHAINS chains of acc = acc * one + tiny: 2 ops per lane per chain. */
#define FMA_KERNEL(name, T)                                                                        \
    static double name(long iters)                                                                 \
    {                                                                                              \
        T m, a, acc[CHAINS];                                                                       \
        for (int l = 0; l < (int)(sizeof(T) / 4); l++)                                             \
            m[l] = v_one, a[l] = v_tiny;                                                           \
        for (int c = 0; c < CHAINS; c++)                                                           \
            acc[c] = a * (float)c;                                                                 \
        for (long i = 0; i < iters; i++)                                                           \
            for (int c = 0; c < CHAINS; c++)                                                       \
                acc[c] = acc[c] * m + a;                                                           \
        double out = 0;                                                                            \
        LANES_SUM(T, acc, CHAINS, out);                                                            \
        return out;                                                                                \
    }

/* HALF multiply chains beside HALF add chains: 1 op per lane per chain. */
#define MULADD_KERNEL(name, T)                                                                     \
    static double name(long iters)                                                                 \
    {                                                                                              \
        T m, a, p[HALF], s[HALF];                                                                  \
        for (int l = 0; l < (int)(sizeof(T) / 4); l++)                                             \
            m[l] = v_one, a[l] = v_tiny;                                                           \
        for (int c = 0; c < HALF; c++)                                                             \
            p[c] = m + a * (float)c, s[c] = a * (float)c;                                          \
        for (long i = 0; i < iters; i++)                                                           \
            for (int c = 0; c < HALF; c++) {                                                       \
                p[c] = p[c] * m;                                                                   \
                s[c] = s[c] + a;                                                                   \
            }                                                                                      \
        double out = 0;                                                                            \
        LANES_SUM(T, p, HALF, out);                                                                \
        LANES_SUM(T, s, HALF, out);                                                                \
        return out;                                                                                \
    }

FMA_KERNEL(fma_512, f32x16)
FMA_KERNEL(fma_256, f32x8)
FMA_KERNEL(fma_128, f32x4)
MULADD_KERNEL(muladd_512, f32x16)
MULADD_KERNEL(muladd_256, f32x8)
MULADD_KERNEL(muladd_128, f32x4)

/* An int8 dot kernel: CHAINS chains of acc = DOT(acc, x, y); V holds the
   bytes, A the int32 sums. */
#define DOT_KERNEL(name, V, A, SETV, SETA, DOT)                                                    \
    static double name(long iters)                                                                 \
    {                                                                                              \
        V x = SETV(v_byte), y = SETV(v_byte);                                                      \
        A acc[CHAINS];                                                                             \
        for (int c = 0; c < CHAINS; c++)                                                           \
            acc[c] = SETA(c);                                                                      \
        for (long i = 0; i < iters; i++)                                                           \
            for (int c = 0; c < CHAINS; c++)                                                       \
                acc[c] = DOT(acc[c], x, y);                                                        \
        double out = 0;                                                                            \
        for (int c = 0; c < CHAINS; c++) {                                                         \
            int32_t lanes[sizeof(A) / 4];                                                          \
            memcpy(lanes, &acc[c], sizeof lanes);                                                  \
            for (int l = 0; l < (int)(sizeof(A) / 4); l++)                                         \
                out += lanes[l];                                                                   \
        }                                                                                          \
        return out;                                                                                \
    }

#if defined(__AVX512VNNI__)
DOT_KERNEL(vnni_512, __m512i, __m512i, _mm512_set1_epi8, _mm512_set1_epi32, _mm512_dpbusd_epi32)
#endif
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
DOT_KERNEL(vnni_256, __m256i, __m256i, _mm256_set1_epi8, _mm256_set1_epi32, _mm256_dpbusd_epi32)
#elif defined(__AVXVNNI__)
DOT_KERNEL(vnni_256, __m256i, __m256i, _mm256_set1_epi8, _mm256_set1_epi32, _mm256_dpbusd_avx_epi32)
#endif
#if defined(__AVX2__)
/* The pre-VNNI way: u8 x s8 pairs to s16, pairs of those to s32, an add.
   The empty asm makes x new each time, so the products are not hoisted. */
static inline __m256i maddubs_dot(__m256i acc, __m256i x, __m256i y)
{
    __asm__ volatile("" : "+x"(x));
    __m256i p = _mm256_maddubs_epi16(x, y);
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_set1_epi16(1)));
}
DOT_KERNEL(maddubs_256, __m256i, __m256i, _mm256_set1_epi8, _mm256_set1_epi32, maddubs_dot)
#endif
#if defined(__ARM_FEATURE_DOTPROD)
DOT_KERNEL(sdot_128, int8x16_t, int32x4_t, vdupq_n_s8, vdupq_n_s32, vdotq_s32)
#endif
#if defined(__AVX512BF16__)
static double bf16_512(long iters)
{
    __m512bh x = _mm512_cvtne2ps_pbh(_mm512_set1_ps(v_one), _mm512_set1_ps(v_one));
    __m512 acc[CHAINS];
    for (int c = 0; c < CHAINS; c++)
        acc[c] = _mm512_setzero_ps();
    for (long i = 0; i < iters; i++)
        for (int c = 0; c < CHAINS; c++)
            acc[c] = _mm512_dpbf16_ps(acc[c], x, x);
    double out = 0;
    for (int c = 0; c < CHAINS; c++)
        out += _mm512_reduce_add_ps(acc[c]);
    return out;
}
#endif

#if !defined(__AVX512VNNI__) && !defined(__AVXVNNI__) && !defined(__AVX2__) &&                     \
    !defined(__ARM_FEATURE_DOTPROD)
#define NO_INT8_DOT 1
#else
#define NO_INT8_DOT 0
#endif
#if NO_INT8_DOT
/* Plain C where the build has no int8 dot: int32 multiply-add chains. */
static double imuladd_512(long iters)
{
    i32x16 m, a, acc[CHAINS];
    for (int l = 0; l < 16; l++)
        m[l] = v_byte, a[l] = v_byte;
    for (int c = 0; c < CHAINS; c++)
        acc[c] = a * c;
    for (long i = 0; i < iters; i++)
        for (int c = 0; c < CHAINS; c++)
            acc[c] = acc[c] * m + a;
    double out = 0;
    LANES_SUM(i32x16, acc, CHAINS, out);
    return out;
}
#endif

/* What the a*b+c chains compile to: one fused instruction where the build has it. */
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA) || defined(__riscv_flen)
#define FMA_NAME "fma"
#else
#define FMA_NAME "a*b+c"
#endif

typedef struct kernel {
    const char *cls;    /* f32, i8, bf16: what the report compares with */
    const char *name;   /* what ran */
    double ops;         /* per iteration */
    double (*fn)(long); /* iterations -> a value to sink */
} kernel;

static const kernel KERNELS[] = {
    {"f32", FMA_NAME " 512-bit", CHAINS * 16 * 2, fma_512},
    {"f32", FMA_NAME " 256-bit", CHAINS * 8 * 2, fma_256},
    {"f32", FMA_NAME " 128-bit", CHAINS * 4 * 2, fma_128},
    {"f32", "mul+add 512-bit", 2 * HALF * 16, muladd_512},
    {"f32", "mul+add 256-bit", 2 * HALF * 8, muladd_256},
    {"f32", "mul+add 128-bit", 2 * HALF * 4, muladd_128},
#if defined(__AVX512VNNI__)
    {"i8", "vpdpbusd 512-bit", CHAINS * 64 * 2, vnni_512},
#endif
#if (defined(__AVX512VNNI__) && defined(__AVX512VL__)) || defined(__AVXVNNI__)
    {"i8", "vpdpbusd 256-bit", CHAINS * 32 * 2, vnni_256},
#endif
#if defined(__AVX2__)
    {"i8", "vpmaddubsw+vpmaddwd 256-bit", CHAINS * 32 * 2, maddubs_256},
#endif
#if defined(__ARM_FEATURE_DOTPROD)
    {"i8", "sdot 128-bit", CHAINS * 16 * 2, sdot_128},
#endif
#if NO_INT8_DOT
    {"i8", "int32 mul+add 512-bit (no int8 dot)", CHAINS * 16 * 2, imuladd_512},
#endif
#if defined(__AVX512BF16__)
    {"bf16", "vdpbf16ps 512-bit", CHAINS * 32 * 2, bf16_512},
#endif
};

/* ---------------------------------------------------------------------------
** Passes: every thread runs the same iterations.
*/
typedef struct pass_args {
    const kernel *k;
    long iters;
} pass_args;

static double run_kernel(void *arg, int i)
{
    const pass_args *p = arg;
    (void)i;
    return p->k->fn(p->iters);
}

/* CPU seconds of the slowest of nt threads running iters each (so a busy
   machine taking a thread off its core does not lower the peak); <0 on
   failure. */
static double one_pass(const kernel *k, long iters, int nt, double *sink)
{
    pass_args p = {k, iters};
    return probe_pass(run_kernel, &p, nt, 1, sink);
}

/* Iterations for a ~30 ms pass of one thread. */
static long calibrate(const kernel *k, double *sink)
{
    long iters = 1 << 14;
    for (;;) {
        double t = one_pass(k, iters, 1, sink);
        if (t < 0)
            return -1;
        if (t >= 0.015 || iters > (1L << 40))
            return (long)(iters * (0.03 / (t > 0 ? t : 1e-9)));
        iters *= 4;
    }
}

int main(int argc, char **argv)
{
    int counts[PROBE_MAX_THREADS], n_counts = probe_thread_counts(argc, argv, 1, counts);
    if (n_counts == 0)
        return 2;
    double sink = 0;
    for (size_t i = 0; i < sizeof KERNELS / sizeof KERNELS[0]; i++) {
        const kernel *k = &KERNELS[i];
        long iters = calibrate(k, &sink);
        for (int c = 0; c < n_counts && iters > 0; c++) {
            double best = 0;
            for (int pass = 0; pass < PASSES; pass++) {
                double t = one_pass(k, iters, counts[c], &sink);
                double g = t > 0 ? k->ops * iters * counts[c] / t / 1e9 : 0;
                best = g > best ? g : best;
            }
            printf(
                "{\"threads\":%d,\"class\":\"%s\",\"kernel\":\"%s\",\"gops\":%.1f,\"sink\":%d}\n",
                counts[c], k->cls, k->name, best, sink != 0);
        }
    }
    return 0;
}
