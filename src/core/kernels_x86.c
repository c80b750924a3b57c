/*
** kernels_x86.c — AVX2 inner loops of the kernels, compiled only when the
** build targets AVX2 (F16 weights also need F16C); the quantised dots use
** VNNI's dpbusd when the build also targets AVX-512 VNNI (with VL) or
** AVX-VNNI. They keep the reduction order of kernels.h — separate multiply
** and add, float lane i % 32, exact integer block sums into lane j % 8 — so
** they return exactly what the portable C path returns.
**
** Each pass unpacks 8 blocks of one weight row once and dots them with up to
** L4LM_TILE activation rows (prefill), or with one (decode).
*/
#include "kernels.h"

#ifdef L4LM_SIMD_X86
/* GCC's immintrin.h pulls in mm_malloc.h, which needs libc's stdlib.h; the
** core uses no _mm_malloc, so mark that header as already seen. */
#define _MM_MALLOC_H_INCLUDED
#include <immintrin.h>

#define INLINE static inline __attribute__((always_inline))

/* u8 x s8 dot products of 4 bytes into 32-bit lanes, where the CPU has them. */
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
#define L4LM_VNNI 1
static inline __m256i dpbusd(__m256i acc, __m256i u, __m256i s)
{
    return _mm256_dpbusd_epi32(acc, u, s);
}
#elif defined(__AVXVNNI__)
#define L4LM_VNNI 1
static inline __m256i dpbusd(__m256i acc, __m256i u, __m256i s)
{
    return _mm256_dpbusd_avx_epi32(acc, u, s);
}
#endif
/* Loops over registers must unroll for the registers to exist. */
#define UNROLL _Pragma("GCC unroll 8")

static inline __m256i load256(const uint8_t *p)
{
    return _mm256_loadu_si256((const __m256i *)p);
}

static inline __m128i load128(const uint8_t *p)
{
    return _mm_loadu_si128((const __m128i *)p);
}

/* The tree of kernels.h over 8 lanes, in the same order as the C code. */
static inline float hsum8(__m256 v)
{
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}

/* One output from nv registers of lanes (nv = 4: the 32 float lanes; 1: the
** 8 quantised ones). When the loop stopped short of n, the C code adds
** the rest and sums. */
INLINE float finish(uint32_t t, const uint8_t *w, const uint8_t *a, uint32_t n, uint32_t done,
                    const __m256 *s, int nv)
{
    if (done == n) /* 32 lanes: j + 16, then j + 8, then the 8-lane tree */
        return hsum8(nv == 1 ? s[0]
                             : _mm256_add_ps(_mm256_add_ps(s[0], s[2]), _mm256_add_ps(s[1], s[3])));
    float acc[L4LM_LANES];
    for (int k = 0; k < nv; k++)
        _mm256_storeu_ps(acc + 8 * k, s[k]);
    return l4lm_kern_finish(t, w, a, n, done, acc);
}

/* Asks for the weight row L4LM_PREFETCH_ROWS ahead, whole: the hardware
** prefetcher alone leaves decode well short of the memory bandwidth, and
** prefill stalls at every new tile of rows (measured on zen4). Prefetches
** never fault, so rows past the end cost nothing but a little bandwidth. */
static inline void prefetch_row(const uint8_t *row, size_t rb)
{
    uintptr_t ahead = (uintptr_t)row + L4LM_PREFETCH_ROWS * rb;
    for (size_t o = 0; o < rb; o += 64)
        _mm_prefetch((const char *)(ahead + o), _MM_HINT_T1);
}

/* ---------------------------------------------------------- F32, F16, BF16 */

/* Eight weights of type t at p, as floats. */
INLINE __m256 load8(uint32_t t, const uint8_t *p)
{
    switch (t) {
#ifdef __F16C__
    case L4LM_TYPE_F16:
        return _mm256_cvtph_ps(load128(p));
#endif
    case L4LM_TYPE_BF16:
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(load128(p)), 16));
    default:
        return _mm256_loadu_ps((const float *)p);
    }
}

/* na (1 or 2) activation rows: s[a][k] holds lanes 8k..8k+7 of the 32, each
** weight vector is loaded once for both rows. Returns the elements done. */
INLINE uint32_t float_pass(uint32_t t, const uint8_t *w, const uint8_t *act, size_t st, uint32_t n,
                           uint32_t na, __m256 s[][4])
{
    size_t es = t == L4LM_TYPE_F32 ? 4 : 2;
    UNROLL
    for (uint32_t a = 0; a < na; a++) {
        UNROLL
        for (int k = 0; k < 4; k++)
            s[a][k] = _mm256_setzero_ps();
    }
    uint32_t i = 0;
    for (; i + L4LM_LANES <= n; i += L4LM_LANES) {
        UNROLL
        for (int k = 0; k < 4; k++) {
            __m256 wv = load8(t, w + (i + 8 * (size_t)k) * es);
            UNROLL
            for (uint32_t a = 0; a < na; a++) {
                const float *x = (const float *)(act + a * st) + i + 8 * k;
                s[a][k] = _mm256_add_ps(s[a][k], _mm256_mul_ps(wv, _mm256_loadu_ps(x)));
            }
        }
    }
    return i;
}

#ifdef __F16C__
/* F16C rounds to nearest even like l4lm_f32_to_fp16, overflow to inf and
** half subnormals included; only a NaN differs, keeping its payload where
** the C code makes every NaN the plain quiet one of its sign. */
uint32_t l4lm_simd_round_f16(const float *x, uint32_t n, float *o)
{
    const __m256 sign = _mm256_castsi256_ps(_mm256_set1_epi32(INT32_MIN));
    const __m256 qnan = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fc00000));
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 r = _mm256_cvtph_ps(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
        __m256 nan = _mm256_or_ps(_mm256_and_ps(v, sign), qnan);
        _mm256_storeu_ps(o + i, _mm256_blendv_ps(r, nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q)));
    }
    return i;
}
#endif

/* ------------------------------------------------------------- Q8_0, Q4_0 */

/* Eight fp16 block scales, as floats; F16C converts exactly, like
** l4lm_half_decode, only faster. */
static inline __m256 halves8(__m128i h)
{
#ifdef __F16C__
    return _mm256_cvtph_ps(h);
#else
    uint16_t v[8];
    float f[8];
    _mm_storeu_si128((__m128i *)v, h);
    for (int k = 0; k < 8; k++)
        f[k] = l4lm_half_decode(v[k]);
    return _mm256_loadu_ps(f);
#endif
}

/* The scales of 8 Q4_0 blocks at p. Block k's scale sits at 18 k, which is
** 16-bit word k of the 16-byte chunk k: blends pick word k of chunk k. */
static inline __m256 q4_0_scales(const uint8_t *p)
{
    __m256i b = _mm256_blend_epi16(load256(p), load256(p + 32), 0x0c);
    __m256i c = _mm256_blend_epi16(load256(p + 64), load256(p + 96), 0xc0);
    __m256i d = _mm256_blend_epi16(b, c, 0xf0); /* even k in the low half, odd k in the high */
    return halves8(
        _mm_blend_epi16(_mm256_castsi256_si128(d), _mm256_extracti128_si256(d, 1), 0xaa));
}

/* The scales of 8 Q8_0 blocks at p: block k's at 34 k, word k of the 32-byte chunk k. */
static inline __m256 q8_0_scales(const uint8_t *p)
{
    __m128i a = _mm_blend_epi16(load128(p), load128(p + 32), 0x02);
    __m128i b = _mm_blend_epi16(load128(p + 64), load128(p + 96), 0x08);
    __m128i c = _mm_blend_epi16(load128(p + 128), load128(p + 160), 0x20);
    __m128i d = _mm_blend_epi16(load128(p + 192), load128(p + 224), 0x80);
    return halves8(_mm_blend_epi16(_mm_blend_epi16(a, b, 0x0c), _mm_blend_epi16(c, d, 0xc0), 0xf0));
}

/* Block sums of 8 blocks j.. in block order, to float lane j % 8: scaled by
** dw * dx and added to sum, after subtracting offset times the sums s8. */
INLINE __m256 add_blocks(__m256 sum, __m256i isum, __m256 dw, const uint8_t *a, uint32_t nb,
                         uint32_t j, int offset)
{
    if (offset) {
        __m256i s8 = load256(a + l4lm_kern_qa_s8(nb) + 4 * (size_t)j);
        isum = _mm256_sub_epi32(isum, offset == 1 ? s8 : _mm256_slli_epi32(s8, 4));
    }
    __m256 dd = _mm256_mul_ps(dw, _mm256_loadu_ps((const float *)(a + l4lm_kern_qa_d(nb)) + j));
    return _mm256_add_ps(sum, _mm256_mul_ps(_mm256_cvtepi32_ps(isum), dd));
}

/* Bytes 0..15 of 8 blocks at p, stride bytes apart, transposed to the
** activation layout: 32-bit lane k of v[c] holds bytes 4c..4c+3 of block k. */
INLINE void transpose8(const uint8_t *p, size_t stride, __m256i v[4])
{
    __m256i y[4];
    UNROLL
    for (int k = 0; k < 4; k++) /* blocks k | k + 4 */
        y[k] = _mm256_inserti128_si256(_mm256_castsi128_si256(load128(p + k * stride)),
                                       load128(p + (k + 4) * stride), 1);
    __m256i t0 = _mm256_unpacklo_epi32(y[0], y[1]), t1 = _mm256_unpackhi_epi32(y[0], y[1]);
    __m256i t2 = _mm256_unpacklo_epi32(y[2], y[3]), t3 = _mm256_unpackhi_epi32(y[2], y[3]);
    v[0] = _mm256_unpacklo_epi64(t0, t2), v[1] = _mm256_unpackhi_epi64(t0, t2);
    v[2] = _mm256_unpacklo_epi64(t1, t3), v[3] = _mm256_unpackhi_epi64(t1, t3);
}

/* Q4_0, 8 blocks at a time; q[c] gets the nibbles of activation chunk c
** (elements 4c..4c+3 of each block) as unsigned bytes. Without VNNI a
** 16-bit lane sums 16 products of at most 15 * 127 of one block (30480)
** before the last step widens to 32 bits: nothing saturates or wraps. */
INLINE void q4_0_lanes(const uint8_t *w, const uint8_t *act, size_t st, uint32_t nb, uint32_t na,
                       __m256 *sum)
{
    const __m256i low4 = _mm256_set1_epi8(15);
    for (uint32_t a = 0; a < na; a++)
        sum[a] = _mm256_setzero_ps();
    for (uint32_t j = 0; j + 8 <= nb; j += 8) {
        const uint8_t *wg = w + (size_t)j * L4LM_Q4_0_BYTES;
        __m256i v[4], q[8];
        transpose8(wg + 2, L4LM_Q4_0_BYTES, v);
        UNROLL
        for (int c = 0; c < 4; c++) {
            q[c] = _mm256_and_si256(v[c], low4);
            q[c + 4] = _mm256_and_si256(_mm256_srli_epi16(v[c], 4), low4);
        }
        __m256 dw = q4_0_scales(wg);
        for (uint32_t a = 0; a < na; a++) {
            const uint8_t *x = act + a * st + (size_t)j * L4LM_QBLOCK;
#ifdef L4LM_VNNI
            __m256i isum = _mm256_setzero_si256();
            UNROLL
            for (int c = 0; c < 8; c++)
                isum = dpbusd(isum, q[c], load256(x + 32 * c));
#else
            __m256i i16 = _mm256_setzero_si256();
            UNROLL
            for (int c = 0; c < 8; c++)
                i16 = _mm256_add_epi16(i16, _mm256_maddubs_epi16(q[c], load256(x + 32 * c)));
            __m256i isum = _mm256_madd_epi16(i16, _mm256_set1_epi16(1));
#endif
            sum[a] = add_blocks(sum[a], isum, dw, act + a * st, nb, j, 1);
        }
    }
}

/* Q8_0, 8 blocks at a time; q[c] gets the bytes of activation chunk c.
** VNNI multiplies unsigned by signed bytes: the weights go in as w + 128,
** and 128 * sum x = 16 * s8 comes off. Without VNNI, maddubs does the same
** with w's sign moved onto x; with x in [-127, 127] no pair sum
** saturates, even for w = -128. */
INLINE void q8_0_lanes(const uint8_t *w, const uint8_t *act, size_t st, uint32_t nb, uint32_t na,
                       __m256 *sum)
{
    for (uint32_t a = 0; a < na; a++)
        sum[a] = _mm256_setzero_ps();
    for (uint32_t j = 0; j + 8 <= nb; j += 8) {
        const uint8_t *wg = w + (size_t)j * L4LM_Q8_0_BYTES;
        __m256i q[8];
        transpose8(wg + 2, L4LM_Q8_0_BYTES, q);
        transpose8(wg + 18, L4LM_Q8_0_BYTES, q + 4);
#ifdef L4LM_VNNI
        UNROLL
        for (int c = 0; c < 8; c++)
            q[c] = _mm256_xor_si256(q[c], _mm256_set1_epi8(-128));
#endif
        __m256 dw = q8_0_scales(wg);
        for (uint32_t a = 0; a < na; a++) {
            const uint8_t *x = act + a * st + (size_t)j * L4LM_QBLOCK;
            __m256i isum = _mm256_setzero_si256();
            UNROLL
            for (int c = 0; c < 8; c++) {
#ifdef L4LM_VNNI
                isum = dpbusd(isum, q[c], load256(x + 32 * c));
#else
                __m256i xs = _mm256_sign_epi8(load256(x + 32 * c), q[c]);
                __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(q[c]), xs);
                isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, _mm256_set1_epi16(1)));
#endif
            }
#ifdef L4LM_VNNI
            sum[a] = add_blocks(sum[a], isum, dw, act + a * st, nb, j, 16);
#else
            sum[a] = add_blocks(sum[a], isum, dw, act + a * st, nb, j, 0);
#endif
        }
    }
}

/* Both quantised types through one entry point, for kernels_tile.h. */
INLINE void quant_lanes(uint32_t t, const uint8_t *w, const uint8_t *act, size_t st, uint32_t nb,
                        uint32_t na, __m256 sum[][1])
{
    if (t == L4LM_TYPE_Q4_0)
        q4_0_lanes(w, act, st, nb, na, &sum[0][0]);
    else
        q8_0_lanes(w, act, st, nb, na, &sum[0][0]);
}

/* The 8 quantised lanes of one activation row: one 8-float register. */
#define ACC_VEC    __m256
#define ACC_VECS   1
#define FLOAT_VECS 4 /* the 32 float lanes of one activation row */
#ifdef __F16C__
#define SIMD_F16 1
#endif

#include "kernels_tile.h"

const char *l4lm_simd_name(void)
{
#if defined(L4LM_VNNI) && defined(__F16C__)
    return "AVX2 + F16C + VNNI";
#elif defined(__F16C__)
    return "AVX2 + F16C";
#else
    return "AVX2 (F16 weights in C: no F16C)";
#endif
}

#endif
