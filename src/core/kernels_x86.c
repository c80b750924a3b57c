/*
** kernels_x86.c — AVX2 inner loops of the kernels, compiled only when the
** build targets AVX2 (F16 also needs F16C). They keep the reduction order of
** kernels.h — separate multiply and add, lane i % 32, exact integer block
** sums — so they return exactly what the portable C path returns.
*/
#include "kernels.h"

#ifdef L4LM_SIMD_X86
/* GCC's immintrin.h pulls in mm_malloc.h, which needs libc's stdlib.h; the
** core uses no _mm_malloc, so mark that header as already seen. */
#define _MM_MALLOC_H_INCLUDED
#include <immintrin.h>

/* Eight elements of type t at p, as floats. */
static inline __m256 load8(uint32_t t, const uint8_t *p)
{
    switch (t) {
#ifdef __F16C__
    case L4LM_TYPE_F16:
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
#endif
    case L4LM_TYPE_BF16:
        return _mm256_castsi256_ps(
            _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
    default:
        return _mm256_castsi256_ps(_mm256_loadu_si256((const __m256i *)p));
    }
}

/* Registers s[k] hold lanes 8k..8k+7 of the 32. */
static inline __attribute__((always_inline)) uint32_t lanes(uint32_t t, float acc[L4LM_LANES],
                                                            const uint8_t *w, const uint8_t *a,
                                                            uint32_t n)
{
    size_t es = t == L4LM_TYPE_F32 ? 4 : 2;
    __m256 s[4];
    for (int k = 0; k < 4; k++)
        s[k] = _mm256_setzero_ps();
    uint32_t i = 0;
    for (; i + L4LM_LANES <= n; i += L4LM_LANES)
        for (int k = 0; k < 4; k++) {
            size_t off = (i + 8 * (size_t)k) * es;
            s[k] = _mm256_add_ps(s[k], _mm256_mul_ps(load8(t, w + off), load8(t, a + off)));
        }
    for (int k = 0; k < 4; k++)
        _mm256_storeu_ps(acc + 8 * k, s[k]);
    return i;
}

uint32_t l4lm_simd_lanes(uint32_t wtype, float acc[L4LM_LANES], const uint8_t *w,
                         const uint8_t *a, uint32_t n)
{
    switch (wtype) {
    case L4LM_TYPE_F32: return lanes(L4LM_TYPE_F32, acc, w, a, n);
#ifdef __F16C__
    case L4LM_TYPE_F16: return lanes(L4LM_TYPE_F16, acc, w, a, n);
#endif
    case L4LM_TYPE_BF16: return lanes(L4LM_TYPE_BF16, acc, w, a, n);
    default: return 0;
    }
}

/* Q4_0's 16 bytes as 32 signed values: low nibbles first, then high ones. */
static inline __m256i q4_unpack(const uint8_t *q)
{
    __m128i v = _mm_loadu_si128((const __m128i *)q), m = _mm_set1_epi8(15);
    __m256i x = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m), _mm_and_si128(v, m));
    return _mm256_sub_epi8(x, _mm256_set1_epi8(8));
}

/* Exact sum of 32 int8 products. maddubs wants unsigned x signed, so the
** sign of w moves onto x; with x in [-127, 127] (our Q8_0 activations) no
** pair sum saturates, even for w = -128. */
static inline int32_t isum32(__m256i w, __m256i x)
{
    __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
    __m256i s = _mm256_madd_epi16(p, _mm256_set1_epi16(1));
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
    return _mm_cvtsi128_si32(h);
}

/* A block's fp16 scale; F16C converts exactly, like l4lm_half_decode, only faster. */
static inline float scale(const uint8_t *blk)
{
#ifdef __F16C__
    return _cvtsh_ss(l4lm_kern_ld16(blk));
#else
    return l4lm_half_decode(l4lm_kern_ld16(blk));
#endif
}

float l4lm_simd_dot_quant(uint32_t wtype, const uint8_t *w, const uint8_t *a, uint32_t nb)
{
    float sum = 0.0f;
    size_t wb = wtype == L4LM_TYPE_Q8_0 ? L4LM_Q8_0_BYTES : L4LM_Q4_0_BYTES;
    for (uint32_t b = 0; b < nb; b++, w += wb, a += L4LM_Q8_0_BYTES) {
        __m256i x = _mm256_loadu_si256((const __m256i *)(a + 2));
        __m256i q = wtype == L4LM_TYPE_Q8_0 ? _mm256_loadu_si256((const __m256i *)(w + 2))
                                            : q4_unpack(w + 2);
        sum = l4lm_kern_block(sum, isum32(q, x), scale(w), scale(a));
    }
    return sum;
}
#endif
