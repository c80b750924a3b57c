/*
** kernels_x86_vec.c — AVX2 loops of the element-wise helpers: the exp of
** softmax and SwiGLU (math.c's double-precision recipe, the same operations
** in the same order), the quantising of activations to Q8 blocks
** (kernels.c's rounding) and their rounding to BF16 (integer code, so every
** x86 variant has it, not only those with AVX-512 BF16). Each returns the
** bits of the C code it stands in for. Compiled, like kernels_x86.c, only
** when the build targets AVX2, and once per x86 variant in a hosted build
** (Makefile, SIMD_SRC).
*/
#include <float.h>
#include "kernels.h"

#ifdef L4LM_SIMD_X86
/* As in kernels_x86.c: immintrin.h's mm_malloc.h needs libc; we use none of it. */
#define _MM_MALLOC_H_INCLUDED
#include <immintrin.h>

#define UNROLL _Pragma("GCC unroll 8")

/* ------------------------------------------------------------ exp */

/* math.c's constants: ln2/32 in two parts, and 32/ln2. */
#define LN2_32_HI  0x1.62e42fefa4000p-6
#define LN2_32_LO  (-0x1.8432a1b0e2634p-48)
#define INV_LN2_32 0x1.71547652b82fep+5

/* e^z of 4 doubles in [-104, 88], rounded to float: math.c's exp_d, the
** same double operations in the same order, so the same bits. */
static inline __m128 exp4(__m256d z, const double *tab)
{
    __m256d t = _mm256_mul_pd(z, _mm256_set1_pd(INV_LN2_32));
    __m256d neg = _mm256_cmp_pd(t, _mm256_setzero_pd(), _CMP_LT_OQ);
    __m256d half = _mm256_blendv_pd(_mm256_set1_pd(0.5), _mm256_set1_pd(-0.5), neg);
    __m128i k = _mm256_cvttpd_epi32(_mm256_add_pd(t, half)); /* t +- 0.5, truncated */
    __m256d kd = _mm256_cvtepi32_pd(k);
    __m256d r = _mm256_sub_pd(_mm256_sub_pd(z, _mm256_mul_pd(kd, _mm256_set1_pd(LN2_32_HI))),
                              _mm256_mul_pd(kd, _mm256_set1_pd(LN2_32_LO)));
    __m128i j = _mm_and_si128(k, _mm_set1_epi32(31));
    __m128i m = _mm_srai_epi32(_mm_sub_epi32(k, j), 5); /* (k - j) / 32, exact */
    const double c[] = {1.0 / 120, 1.0 / 24, 1.0 / 6, 1.0 / 2, 1, 1};
    __m256d p = _mm256_set1_pd(1.0 / 720);
    for (int i = 0; i < 6; i++)
        p = _mm256_add_pd(_mm256_set1_pd(c[i]), _mm256_mul_pd(r, p));
    __m256i e =
        _mm256_slli_epi64(_mm256_cvtepi32_epi64(_mm_add_epi32(m, _mm_set1_epi32(1023))), 52);
    __m256d v =
        _mm256_mul_pd(_mm256_mul_pd(_mm256_i32gather_pd(tab, j, 8), p), _mm256_castsi256_pd(e));
    return _mm256_cvtpd_ps(v);
}

/* l4lm_expf of 8 floats, where all lie in [-104, 88] (*ok), where the
** scalar code computes nothing different; false otherwise (NaN included). */
static inline __m256 exp8(__m256 z, const double *tab, bool *ok)
{
    __m256 in = _mm256_and_ps(_mm256_cmp_ps(z, _mm256_set1_ps(-104.0f), _CMP_GE_OQ),
                              _mm256_cmp_ps(z, _mm256_set1_ps(88.0f), _CMP_LE_OQ));
    *ok = _mm256_movemask_ps(in) == 0xff;
    __m128 lo = exp4(_mm256_cvtps_pd(_mm256_castps256_ps128(z)), tab);
    __m128 hi = exp4(_mm256_cvtps_pd(_mm256_extractf128_ps(z, 1)), tab);
    return _mm256_insertf128_ps(_mm256_castps128_ps256(lo), hi, 1);
}

/* Both leave 8 with a value out of exp8's range (rare) to l4lm_expf. */
uint32_t l4lm_simd_exp(float *x, float sub, uint32_t n)
{
    const double *tab = l4lm_exp2_j32();
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        bool ok;
        __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), _mm256_set1_ps(sub)), tab, &ok);
        if (ok)
            _mm256_storeu_ps(x + i, e);
        else
            for (uint32_t k = i; k < i + 8; k++)
                x[k] = l4lm_expf(x[k] - sub);
    }
    return i;
}

uint32_t l4lm_simd_silu_mul(float *g, const float *u, uint32_t n)
{
    const double *tab = l4lm_exp2_j32();
    const __m256 sign = _mm256_castsi256_ps(_mm256_set1_epi32(INT32_MIN));
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        bool ok;
        __m256 gv = _mm256_loadu_ps(g + i);
        __m256 e = exp8(_mm256_xor_ps(gv, sign), tab, &ok);
        __m256 y = _mm256_div_ps(gv, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
        if (ok)
            _mm256_storeu_ps(g + i, _mm256_mul_ps(y, _mm256_loadu_ps(u + i)));
        else
            for (uint32_t k = i; k < i + 8; k++)
                g[k] = g[k] / (1.0f + l4lm_expf(-g[k])) * u[k];
    }
    return i;
}

/* ------------------------------------------------ quantising activations */

static inline int32_t hsum_i32(__m256i v)
{
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, _MM_SHUFFLE(1, 0, 3, 2)));
    return _mm_cvtsi128_si32(_mm_add_epi32(h, _mm_shuffle_epi32(h, _MM_SHUFFLE(2, 3, 0, 1))));
}

bool l4lm_simd_abs_top(const float *x, uint32_t *top)
{
    const __m256i abs = _mm256_set1_epi32(0x7fffffff);
    __m256i m = _mm256_setzero_si256();
    UNROLL
    for (int k = 0; k < 4; k++) /* sign cleared, the bits compare as signed ints */
        m = _mm256_max_epi32(
            m, _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(x + 8 * k)), abs));
    __m128i h = _mm_max_epi32(_mm256_castsi256_si128(m), _mm256_extracti128_si256(m, 1));
    h = _mm_max_epi32(h, _mm_shuffle_epi32(h, _MM_SHUFFLE(1, 0, 3, 2)));
    *top = (uint32_t)_mm_cvtsi128_si32(
        _mm_max_epi32(h, _mm_shuffle_epi32(h, _MM_SHUFFLE(2, 3, 0, 1))));
    return true;
}

/* round_away of kernels.c for 8 lanes of v: truncate, then one step away
** from zero when the (exact) fraction is a half or more; a true compare is -1. */
static inline __m256i round8(__m256 v)
{
    const __m256 half = _mm256_set1_ps(0.5f), nhalf = _mm256_set1_ps(-0.5f);
    __m256i t = _mm256_cvttps_epi32(v);
    __m256 frac = _mm256_sub_ps(v, _mm256_cvtepi32_ps(t));
    t = _mm256_sub_epi32(t, _mm256_castps_si256(_mm256_cmp_ps(frac, half, _CMP_GE_OQ)));
    return _mm256_add_epi32(t, _mm256_castps_si256(_mm256_cmp_ps(frac, nhalf, _CMP_LE_OQ)));
}

/* One block's 32 quants of x * id as bytes in order, their sum into *s. */
static inline __m256i quant32(const float *x, __m256 id, int32_t *s)
{
    __m256i r[4], sum = _mm256_setzero_si256();
    UNROLL
    for (int k = 0; k < 4; k++) {
        r[k] = round8(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), id));
        sum = _mm256_add_epi32(sum, r[k]);
    }
    *s = hsum_i32(sum);
    /* the packs work within 128-bit halves: 32-bit groups come out 0 2 4 6 1 3 5 7 */
    __m256i b = _mm256_packs_epi16(_mm256_packs_epi32(r[0], r[1]), _mm256_packs_epi32(r[2], r[3]));
    return _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

bool l4lm_simd_round_q(const float *x, float id, int8_t *q, int32_t *s)
{
    _mm256_storeu_si256((__m256i *)q, quant32(x, _mm256_set1_ps(id), s));
    return true;
}

/* ------------------------------------------------ BF16 activations */

/* kernels.c's BF16 activation rule for 8 floats as bits, in integers:
** nearest even (add 0x7fff and the kept part's lowest bit, then cut the
** low 16 bits), then kept in vdpbf16ps's range (kernels.h): magnitudes
** below L4LM_BF16_LO to +0, above L4LM_BF16_HI (inf too) to +-HI, every
** NaN to L4LM_BF16_NAN. The sign cleared, the bits compare as signed ints;
** the magnitude rounds to at most 0x7f80, so nothing carries into the sign. */
static inline __m256i round_bf16x8(__m256i u)
{
    const __m256i one = _mm256_set1_epi32(1);
    __m256i a = _mm256_and_si256(u, _mm256_set1_epi32(INT32_MAX));
    __m256i odd = _mm256_and_si256(_mm256_srli_epi32(a, 16), one);
    __m256i r = _mm256_srli_epi32(
        _mm256_add_epi32(_mm256_add_epi32(a, odd), _mm256_set1_epi32(0x7fff)), 16);
    r = _mm256_min_epi32(r, _mm256_set1_epi32(L4LM_BF16_HI));
    __m256i keep = _mm256_cmpgt_epi32(r, _mm256_set1_epi32(L4LM_BF16_LO - 1));
    __m256i sign = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x8000));
    r = _mm256_and_si256(_mm256_or_si256(r, sign), keep);
    __m256i nan = _mm256_cmpgt_epi32(a, _mm256_set1_epi32(0x7f800000));
    return _mm256_blendv_epi8(r, _mm256_set1_epi32(L4LM_BF16_NAN), nan);
}

/* 16 at a time: the halves packed (packus keeps them, all below 2^16;
** it interleaves 64-bit groups, which the permute puts back in order), the
** floats their halves moved up. */
uint32_t l4lm_simd_round_bf16(const float *x, uint32_t n, float *o, uint16_t *h)
{
    uint32_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i r0 = round_bf16x8(_mm256_loadu_si256((const __m256i *)(x + i)));
        __m256i r1 = round_bf16x8(_mm256_loadu_si256((const __m256i *)(x + i + 8)));
        _mm256_storeu_si256((__m256i *)(o + i), _mm256_slli_epi32(r0, 16));
        _mm256_storeu_si256((__m256i *)(o + i + 8), _mm256_slli_epi32(r1, 16));
        _mm256_storeu_si256((__m256i *)(h + i),
                            _mm256_permute4x64_epi64(_mm256_packus_epi32(r0, r1), 0xd8));
    }
    return i;
}

#ifdef __F16C__
static inline __m256 round_fp16x8(__m256 v)
{
    return _mm256_cvtph_ps(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}

/* Stores 8 blocks' quants (b[j]: block j's 32 bytes) as the activation
** layout interleaves them: 32-byte chunk k holds bytes 4k..4k+3 of each
** block in turn, an 8 x 8 transpose of 4-byte groups. */
static inline void store_group(__m256i b[L4LM_QGROUP], uint8_t *q)
{
    __m256i t[8], u[8];
    for (int j = 0; j < 8; j += 2) {
        t[j] = _mm256_unpacklo_epi32(b[j], b[j + 1]);
        t[j + 1] = _mm256_unpackhi_epi32(b[j], b[j + 1]);
    }
    for (int j = 0; j < 8; j += 4)
        for (int h = 0; h < 2; h++) {
            u[j + 2 * h] = _mm256_unpacklo_epi64(t[j + h], t[j + h + 2]);
            u[j + 2 * h + 1] = _mm256_unpackhi_epi64(t[j + h], t[j + h + 2]);
        }
    for (int k = 0; k < 4; k++) {
        _mm256_storeu_si256((__m256i *)(q + 32 * k),
                            _mm256_permute2x128_si256(u[k], u[k + 4], 0x20));
        _mm256_storeu_si256((__m256i *)(q + 32 * (k + 4)),
                            _mm256_permute2x128_si256(u[k], u[k + 4], 0x31));
    }
}

/* kernels.c's quantize_q8_0 and prepare_quant for 8 blocks at once: the
** same tops, the same divisions and products, F16C's nearest-even fp16. */
bool l4lm_simd_q8_group(const float *x, bool q81, uint8_t *q, float *d, uint32_t *s)
{
    uint32_t top[L4LM_QGROUP];
    for (int j = 0; j < L4LM_QGROUP; j++)
        l4lm_simd_abs_top(x + L4LM_QBLOCK * j, &top[j]);
    __m256i tv = _mm256_loadu_si256((const __m256i *)top);
    if (_mm256_movemask_epi8(_mm256_cmpgt_epi32(tv, _mm256_set1_epi32(0x7f7fffff))))
        return false; /* a NaN or inf */
    __m256 dv = _mm256_div_ps(_mm256_castsi256_ps(tv), _mm256_set1_ps(127.0f));
    __m256 idv = _mm256_and_ps(_mm256_div_ps(_mm256_set1_ps(1.0f), dv),
                               _mm256_cmp_ps(dv, _mm256_setzero_ps(), _CMP_NEQ_UQ));
    if (~_mm256_movemask_ps(_mm256_cmp_ps(idv, _mm256_set1_ps(FLT_MAX), _CMP_LE_OQ)) & 0xff)
        return false;
    float id[L4LM_QGROUP];
    int32_t sum[L4LM_QGROUP];
    __m256i b[L4LM_QGROUP];
    _mm256_storeu_ps(id, idv);
    for (int j = 0; j < L4LM_QGROUP; j++)
        b[j] = quant32(x + L4LM_QBLOCK * j, _mm256_set1_ps(id[j]), &sum[j]);
    store_group(b, q);
    __m256i sv = _mm256_loadu_si256((const __m256i *)sum);
    _mm256_storeu_ps(d, round_fp16x8(dv));
    if (q81)
        _mm256_storeu_ps((float *)s, round_fp16x8(_mm256_mul_ps(_mm256_cvtepi32_ps(sv), dv)));
    else
        _mm256_storeu_si256((__m256i *)s, _mm256_slli_epi32(sv, 3));
    return true;
}
#endif
#endif
