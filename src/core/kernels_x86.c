/*
** kernels_x86.c — AVX2 inner loops of the kernels, compiled only when the
** build targets AVX2 (F16 weights also need F16C); the quantised dots use
** VNNI's dpbusd when the build also targets AVX-512 VNNI (with VL) or
** AVX-VNNI. They keep the reduction order of kernels.h — multiply then add
** (fused only for F16's exact products), float lane i % 32, exact integer
** block sums into lane j % 8 — so they return exactly what the portable C
** path returns.
**
** Each pass unpacks 8 blocks of one weight row once and dots them with up to
** L4LM_TILE activation rows (prefill), or with one (decode); with AVX-512's
** 32 registers, prefill's quantised passes take two weight rows at once.
** Prefill of the float types is a blocked product (kernels_tile.h,
** float_block) over the register tiles defined below.
** Attention's helpers (float dots and weighted sums) and the F16 rounding
** of activations are here too, each the same bits as kernels.c's C; the
** element-wise helpers are in kernels_x86_vec.c.
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
/* Loops over activation rows: two per trip halve the loop overhead. */
#define UNROLL2 _Pragma("GCC unroll 2")

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
** prefetcher alone leaves decode of quantised rows well short of the memory
** bandwidth, and prefill stalls at every new tile of rows (measured on
** zen4; decode of float rows does better without, kernels_tile.h).
** Prefetches never fault, so rows past the end cost only a little bandwidth. */
static inline void prefetch_row(const uint8_t *row, size_t rb)
{
    uintptr_t ahead = (uintptr_t)row + L4LM_PREFETCH_ROWS * rb;
    for (size_t o = 0; o < rb; o += 64)
        _mm_prefetch((const char *)(ahead + o), _MM_HINT_T1);
}

/* ---------------------------------------------------------- F32, F16, BF16 */

/* Prefill multiplies an F16 weight by an activation rounded to F16: 11 by
** 11 significand bits, magnitudes 2^-48 to 65504^2, so the product is exact
** in float (inf, NaN and signed zeros as the multiply gives them, a NaN's
** payload aside) and a fused multiply-add gives multiply-then-add's bits;
** on zen5 the widenings then no longer contend with the adds for the add
** pipes (1.3 times the speed). BF16 products can leave float's range
** (overflow, or a subnormal that rounds): it keeps the two steps.
** F16's wide rows (kernels.h) read their activations as halves: half the
** bytes from level 2 for 3 more widenings per 12 multiply-adds, room the
** fused adds leave (1.15 times, AVX-512 and AVX2); in level 1 floats are
** faster. That fourth copy of the loops is the hosted build's: its frame
** would take a freestanding build past its 3 KiB of stack. */
#ifdef L4LM_SIMD_DISPATCH
#define FLOAT_WIDE_HALVES 1
#endif

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

#ifdef __AVX512F__
/* Sixteen weights of type t at p, as floats. */
INLINE __m512 load16(uint32_t t, const uint8_t *p)
{
    switch (t) {
#ifdef __F16C__
    case L4LM_TYPE_F16:
        return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
#endif
    case L4LM_TYPE_BF16:
        return _mm512_castsi512_ps(
            _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p)), 16));
    default:
        return _mm512_loadu_ps((const float *)p);
    }
}

/* The upper eight floats of v. */
static inline __m256 high8(__m512 v)
{
    return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
}

/* The 32 lanes of two 16-lane registers as four 8-lane ones. */
INLINE void lanes32(const __m512 z[2], __m256 s[4])
{
    UNROLL
    for (int k = 0; k < 2; k++) {
        s[2 * k] = _mm512_castps512_ps256(z[k]);
        s[2 * k + 1] = high8(z[k]);
    }
}

/* na (1 or 2) activation rows of type at (F32, or t's halves): s[a][k]
** holds lanes 8k..8k+7 of the 32, each weight vector is loaded once for
** both rows. Returns the elements done. With AVX-512 two 16-lane
** registers hold the same 32 lanes, element for element (multiply, then
** add), so the bits do not change; half the instructions per weight byte
** let one core keep more loads in flight. */
INLINE uint32_t float_pass(uint32_t t, uint32_t at, const uint8_t *w, const uint8_t *act, size_t st,
                           uint32_t n, uint32_t na, __m256 s[][4])
{
    size_t es = t == L4LM_TYPE_F32 ? 4 : 2, xs = at == L4LM_TYPE_F32 ? 4 : 2;
    __m512 z[2][2] = {{_mm512_setzero_ps(), _mm512_setzero_ps()},
                      {_mm512_setzero_ps(), _mm512_setzero_ps()}};
    uint32_t i = 0;
    for (; i + L4LM_LANES <= n; i += L4LM_LANES) {
        UNROLL
        for (int k = 0; k < 2; k++) {
            __m512 wv = load16(t, w + (i + 16 * (size_t)k) * es);
            UNROLL
            for (uint32_t a = 0; a < na; a++) {
                const uint8_t *x = act + a * st + (i + 16 * (size_t)k) * xs;
                z[a][k] = _mm512_add_ps(z[a][k], _mm512_mul_ps(wv, load16(at, x)));
            }
        }
    }
    UNROLL
    for (uint32_t a = 0; a < na; a++)
        lanes32(z[a], s[a]);
    return i;
}

/* Prefill's blocked product (kernels_tile.h, float_block): 4 weight rows by
** 3 activation rows, two 16-lane registers per pair, 24 of the 32. Each
** step widens 4 weight vectors and loads 3 activation vectors for 12
** multiply-adds, where float_pass did 2 per widening and per load. On zen5,
** 128 rows by 2048: F16 ~165 GFLOP/s, BF16 ~140, F32 ~105 (3x4, 2x6, 4x6,
** 6x4 and 3x8 in two passes measured no better, fused or not). Its frame,
** 2 KiB, is for the hosted build's threads; a freestanding build's 3 KiB
** of stack gets 2 weight rows by 3. */
#define FVEC     __m512
#define FV_LANES 16
#ifdef L4LM_SIMD_DISPATCH
#define FLOAT_TR 4
#else
#define FLOAT_TR 2
#endif
#define FLOAT_TA    3
#define FLOAT_SPLIT 1
#define fv_load     load16
#define fv_zero     _mm512_setzero_ps
INLINE __m512 fv_mac(uint32_t t, __m512 z, __m512 w, __m512 x)
{
    if (t == L4LM_TYPE_F16) /* exact product: fused, same bits */
        return _mm512_fmadd_ps(w, x, z);
    return _mm512_add_ps(z, _mm512_mul_ps(w, x));
}

/* BF16 widens without a shuffle: shifting a load of 32 halves (2 to each
** 32-bit lane) left by 16 gives elements i, i + 2, .. i + 30 as floats,
** masking off the low halves gives i + 1, .. i + 31. Its activations are
** read as halves and widened the same way, so a pair's register 0 holds
** the even lanes of the 32, register 1 the odd ones, each adding its
** elements in order; fv_acc puts them back (1.15 times the speed, zen5). */
#define FV_PAIRED       1
#define FLOAT_BF16_ACTS L4LM_TYPE_BF16
INLINE __m512 fv_weights(uint32_t t, const uint8_t *row, size_t i, uint32_t k)
{
    if (t != L4LM_TYPE_BF16)
        return load16(t, row + (i + 16 * (size_t)k) * (t == L4LM_TYPE_F32 ? 4 : 2));
    __m512i v = _mm512_loadu_si512(row + 2 * i);
    return _mm512_castsi512_ps(k ? _mm512_and_si512(v, _mm512_set1_epi32((int)0xffff0000u))
                                 : _mm512_slli_epi32(v, 16));
}

INLINE __m512 fv_acts(uint32_t t, uint32_t at, const uint8_t *act, uint32_t n, size_t i, uint32_t k)
{
    if (at != L4LM_TYPE_F32)
        return fv_weights(t, l4lm_kern_halves(act, n), i, k);
    return _mm512_loadu_ps((const float *)act + i + 16 * k);
}

INLINE void fv_acc(uint32_t t, const __m512 z[2], __m256 s[4])
{
    const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(8));
    __m512 o[2] = {_mm512_permutex2var_ps(z[0], lo, z[1]), _mm512_permutex2var_ps(z[0], hi, z[1])};
    lanes32(t == L4LM_TYPE_BF16 ? o : z, s);
}

/* Decode over wide rows: FLOAT_GROUP weight rows against the one activation
** row (of t's elements), each activation vector loaded once for all of
** them. Wide activations (22 KB of floats at n 5632) and the weights
** streaming past do not both fit in level 1, and one row at a time then
** reads at two thirds of the bandwidth (zen4). Each row's lanes add up as
** in float_pass. */
#define FLOAT_GROUP 8
INLINE uint32_t float_group(uint32_t t, const uint8_t *w, size_t rb, const uint8_t *x, uint32_t n,
                            __m256 s[][4])
{
    size_t es = t == L4LM_TYPE_F32 ? 4 : 2;
    __m512 z[FLOAT_GROUP][2];
    UNROLL
    for (int r = 0; r < FLOAT_GROUP; r++)
        z[r][0] = z[r][1] = _mm512_setzero_ps();
    uint32_t i = 0;
    for (; i + L4LM_LANES <= n; i += L4LM_LANES) {
        __m512 x0 = load16(t, x + i * es), x1 = load16(t, x + (i + 16) * es);
        const uint8_t *p = w + i * es;
        UNROLL
        for (int r = 0; r < FLOAT_GROUP; r++, p += rb) {
            z[r][0] = _mm512_add_ps(z[r][0], _mm512_mul_ps(load16(t, p), x0));
            z[r][1] = _mm512_add_ps(z[r][1], _mm512_mul_ps(load16(t, p + 16 * es), x1));
        }
    }
    UNROLL
    for (int r = 0; r < FLOAT_GROUP; r++)
        lanes32(z[r], s[r]);
    return i;
}
#else
/* na (1 or 2) activation rows of type at (F32, or t's halves): s[a][k]
** holds lanes 8k..8k+7 of the 32, each weight vector is loaded once for
** both rows. Returns the elements done. */
INLINE uint32_t float_pass(uint32_t t, uint32_t at, const uint8_t *w, const uint8_t *act, size_t st,
                           uint32_t n, uint32_t na, __m256 s[][4])
{
    size_t es = t == L4LM_TYPE_F32 ? 4 : 2, xs = at == L4LM_TYPE_F32 ? 4 : 2;
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
                const uint8_t *x = act + a * st + (i + 8 * (size_t)k) * xs;
                s[a][k] = _mm256_add_ps(s[a][k], _mm256_mul_ps(wv, load8(at, x)));
            }
        }
    }
    return i;
}

/* Prefill's blocked product (kernels_tile.h, float_block): 16 registers
** hold all 32 lanes of only 3 pairs, so two passes each take half of every
** pair's lanes (elements 0..15, then 16..31, of each 32) for 2 weight rows
** by 3 activation rows: 12 multiplies and 12 adds per 4 widenings and 6
** activation loads, against 8 of each per 4 and 8 in float_pass. */
#define FVEC        __m256
#define FV_LANES    8
#define FLOAT_TR    2
#define FLOAT_TA    3
#define FLOAT_SPLIT 2
#define fv_load     load8
#define fv_zero     _mm256_setzero_ps
INLINE __m256 fv_mac(uint32_t t, __m256 z, __m256 w, __m256 x)
{
#ifdef __FMA__
    if (t == L4LM_TYPE_F16) /* exact product: fused, same bits */
        return _mm256_fmadd_ps(w, x, z);
#else
    (void)t; /* unfused, F16 too: the same bits */
#endif
    return _mm256_add_ps(z, _mm256_mul_ps(w, x));
}

INLINE void fv_acc(uint32_t t, const __m256 z[4], __m256 s[4])
{
    (void)t;
    UNROLL
    for (int k = 0; k < 4; k++)
        s[k] = z[k];
}
#endif

#ifdef __F16C__
/* F16C rounds to nearest even like l4lm_f32_to_fp16, overflow to inf and
** half subnormals included; only a NaN differs, keeping its payload where
** the C code makes every NaN the plain quiet one of its sign. */
uint32_t l4lm_simd_round_f16(const float *x, uint32_t n, float *o, uint16_t *h)
{
    const __m256 sign = _mm256_castsi256_ps(_mm256_set1_epi32(INT32_MIN));
    const __m256 qnan = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fc00000));
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 r = _mm256_cvtph_ps(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
        __m256 nan = _mm256_or_ps(_mm256_and_ps(v, sign), qnan);
        r = _mm256_blendv_ps(r, nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
        _mm256_storeu_ps(o + i, r); /* r's halves: the C code's, the NaN's too */
        _mm_storeu_si128((__m128i *)(h + i), _mm256_cvtps_ph(r, _MM_FROUND_TO_NEAREST_INT));
    }
    return i;
}

/* F16C widens exactly, as l4lm_half_decode (NaNs quieted, payloads kept). */
uint32_t l4lm_simd_axpy_f16(const uint8_t *v, float a, float *out, uint32_t n)
{
    const __m256 av = _mm256_set1_ps(a);
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 x = _mm256_cvtph_ps(load128(v + 2 * (size_t)i));
        _mm256_storeu_ps(out + i, _mm256_add_ps(_mm256_loadu_ps(out + i), _mm256_mul_ps(av, x)));
    }
    return i;
}

/* One row's dot as l4lm_vec_dot does it, up to the last 8 lanes: the 32
** lanes of float_pass, then lane j + 16 and lane j + 8, as finish(). */
INLINE __m256 dot_lanes(uint32_t t, const uint8_t *row, const float *x, uint32_t n)
{
    __m256 s[1][4];
    float_pass(t, L4LM_TYPE_F32, row, (const uint8_t *)x, 0, n, 1, s);
    return _mm256_add_ps(_mm256_add_ps(s[0][0], s[0][2]), _mm256_add_ps(s[0][1], s[0][3]));
}

/* hsum8 of 8 rows' lanes at once, in its order (lane j + 4, j + 2, j + 1):
** lane r of the result is row r's sum. */
static inline __m256 hsum8x8(const __m256 v[8])
{
    __m256 h[4];
    UNROLL
    for (int k = 0; k < 4; k++) /* j + 4: row 2k in the low half, 2k + 1 in the high */
        h[k] = _mm256_add_ps(_mm256_permute2f128_ps(v[2 * k], v[2 * k + 1], 0x20),
                             _mm256_permute2f128_ps(v[2 * k], v[2 * k + 1], 0x31));
    __m256 g[2];
    UNROLL
    for (int k = 0; k < 2; k++) { /* j + 2: rows 4k, 4k + 2 (low half), 4k + 1, 4k + 3 (high) */
        __m256d a = _mm256_castps_pd(h[2 * k]), b = _mm256_castps_pd(h[2 * k + 1]);
        g[k] = _mm256_add_ps(_mm256_castpd_ps(_mm256_unpacklo_pd(a, b)),
                             _mm256_castpd_ps(_mm256_unpackhi_pd(a, b)));
    }
    __m256 r = _mm256_add_ps(_mm256_shuffle_ps(g[0], g[1], _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm256_shuffle_ps(g[0], g[1], _MM_SHUFFLE(3, 1, 3, 1)));
    /* j + 1 left rows 0 2 4 6 | 1 3 5 7 */
    return _mm256_permutevar8x32_ps(r, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

INLINE uint32_t dots(uint32_t t, const uint8_t *rows, size_t rb, const float *x, uint32_t n,
                     uint32_t n_rows, float *out)
{
    uint32_t r = 0;
    for (; r + 8 <= n_rows; r += 8) {
        __m256 v[8];
        UNROLL
        for (int k = 0; k < 8; k++)
            v[k] = dot_lanes(t, rows + (r + k) * rb, x, n);
        _mm256_storeu_ps(out + r, hsum8x8(v));
    }
    for (; r < n_rows; r++)
        out[r] = hsum8(dot_lanes(t, rows + r * rb, x, n));
    return r;
}

uint32_t l4lm_simd_dots(uint32_t t, const uint8_t *rows, size_t rb, const float *x, uint32_t n,
                        uint32_t n_rows, float *out)
{
    if (n % L4LM_LANES)
        return 0;
    if (t == L4LM_TYPE_F16)
        return dots(L4LM_TYPE_F16, rows, rb, x, n, n_rows, out);
    if (t == L4LM_TYPE_F32)
        return dots(L4LM_TYPE_F32, rows, rb, x, n, n_rows, out);
    return 0;
}

/* 32 columns at a time, their sums in registers while the rows pass. */
INLINE uint32_t wsum(uint32_t t, const uint8_t *rows, size_t rb, const float *a, uint32_t n_rows,
                     float *out, uint32_t n)
{
    size_t es = t == L4LM_TYPE_F32 ? 4 : 2;
    uint32_t i = 0;
    for (; i + L4LM_LANES <= n; i += L4LM_LANES) {
        __m256 s[4];
        UNROLL
        for (int k = 0; k < 4; k++)
            s[k] = _mm256_setzero_ps();
        for (uint32_t r = 0; r < n_rows; r++) {
            __m256 ar = _mm256_set1_ps(a[r]);
            UNROLL
            for (int k = 0; k < 4; k++)
                s[k] = _mm256_add_ps(s[k],
                                     _mm256_mul_ps(ar, load8(t, rows + r * rb + (i + 8 * k) * es)));
        }
        UNROLL
        for (int k = 0; k < 4; k++)
            _mm256_storeu_ps(out + i + 8 * k, s[k]);
    }
    return i;
}

/* Q8_0 rows, a block (32 columns) at a time as kernels.c's wsum_q8_0: each
** int8 widened exactly, times the block's scale (ggml's dequantised value),
** times a[r], added. AVX-512 takes the block in two registers, AVX2 four. */
static uint32_t wsum_q8_0(const uint8_t *rows, size_t rb, const float *a, uint32_t n_rows,
                          float *out, uint32_t n)
{
    uint32_t i = 0;
    for (; i + L4LM_QBLOCK <= n; i += L4LM_QBLOCK) {
        const uint8_t *p = rows + i / L4LM_QBLOCK * L4LM_Q8_0_BYTES;
#ifdef __AVX512F__
        __m512 s[2] = {_mm512_setzero_ps(), _mm512_setzero_ps()};
        for (uint32_t r = 0; r < n_rows; r++, p += rb) {
            __m512 d = _mm512_set1_ps(l4lm_half_decode(l4lm_kern_ld16(p)));
            __m512 ar = _mm512_set1_ps(a[r]);
            UNROLL
            for (int k = 0; k < 2; k++) {
                __m512 q = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(load128(p + 2 + 16 * k)));
                s[k] = _mm512_add_ps(s[k], _mm512_mul_ps(ar, _mm512_mul_ps(q, d)));
            }
        }
        _mm512_storeu_ps(out + i, s[0]);
        _mm512_storeu_ps(out + i + 16, s[1]);
#else
        __m256 s[4];
        UNROLL
        for (int k = 0; k < 4; k++)
            s[k] = _mm256_setzero_ps();
        for (uint32_t r = 0; r < n_rows; r++, p += rb) {
            __m256 d = _mm256_set1_ps(l4lm_half_decode(l4lm_kern_ld16(p)));
            __m256 ar = _mm256_set1_ps(a[r]);
            UNROLL
            for (int k = 0; k < 4; k++) {
                __m128i b = _mm_loadl_epi64((const __m128i *)(const void *)(p + 2 + 8 * k));
                __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b));
                s[k] = _mm256_add_ps(s[k], _mm256_mul_ps(ar, _mm256_mul_ps(q, d)));
            }
        }
        UNROLL
        for (int k = 0; k < 4; k++)
            _mm256_storeu_ps(out + i + 8 * k, s[k]);
#endif
    }
    return i;
}

uint32_t l4lm_simd_wsum(uint32_t t, const uint8_t *rows, size_t rb, const float *a, uint32_t n_rows,
                        float *out, uint32_t n)
{
    if (t == L4LM_TYPE_Q8_0)
        return wsum_q8_0(rows, rb, a, n_rows, out, n);
    if (t == L4LM_TYPE_F16)
        return wsum(L4LM_TYPE_F16, rows, rb, a, n_rows, out, n);
    if (t == L4LM_TYPE_F32)
        return wsum(L4LM_TYPE_F32, rows, rb, a, n_rows, out, n);
    return 0;
}
#endif

/* --------------------------------------- Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 */

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
** dw * dx and added to sum, after subtracting offset (a power of 2) times
** the sums s8. */
INLINE __m256 add_blocks(__m256 sum, __m256i isum, __m256 dw, const uint8_t *a, uint32_t nb,
                         uint32_t j, int offset)
{
    if (offset) {
        __m256i s8 = load256(a + l4lm_kern_qa_s8(nb) + 4 * (size_t)j);
        isum = _mm256_sub_epi32(isum, _mm256_slli_epi32(s8, __builtin_ctz((unsigned)offset)));
    }
    __m256 dd = _mm256_mul_ps(dw, _mm256_loadu_ps((const float *)(a + l4lm_kern_qa_d(nb)) + j));
    return _mm256_add_ps(sum, _mm256_mul_ps(_mm256_cvtepi32_ps(isum), dd));
}

/* The same for Q4_1 and Q5_1: their mins mw times the activations' s join
** each block's product before it goes into the lane. */
INLINE __m256 add_blocks_min(__m256 sum, __m256i isum, __m256 dw, __m256 mw, const uint8_t *a,
                             uint32_t nb, uint32_t j)
{
    __m256 dd = _mm256_mul_ps(dw, _mm256_loadu_ps((const float *)(a + l4lm_kern_qa_d(nb)) + j));
    __m256 ms = _mm256_mul_ps(mw, _mm256_loadu_ps((const float *)(a + l4lm_kern_qa_s8(nb)) + j));
    return _mm256_add_ps(sum, _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(isum), dd), ms));
}

/* The first 4 bytes of 8 blocks at p, stride bytes apart: lane k holds block k's. */
static inline __m256i gather8(const uint8_t *p, size_t stride)
{
    __m256i at = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                                    _mm256_set1_epi32((int)stride));
    return _mm256_i32gather_epi32((const int *)p, at, 1);
}

/* The fp16 values in the low 16 bits of each 32-bit lane, as floats. */
static inline __m256 low_halves(__m256i v)
{
    v = _mm256_and_si256(v, _mm256_set1_epi32(0xffff));
    return halves8(_mm_packus_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1)));
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

/* Q5's fifth bits of activation chunk c (elements 4c..4c+3 of each block:
** bits 4c..4c+3 of qh, which lane k of h holds for block k), as 16 or 0
** in the chunk's bytes: byte c / 2 of each lane goes to all four bytes,
** and byte i keeps bit 4 (c % 2) + i. */
INLINE __m256i fifth_bits(__m256i h, int c)
{
    const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8, 12, 12, 12, 12, 0,
                                            0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8, 12, 12, 12, 12);
    __m256i bytes =
        _mm256_shuffle_epi8(h, _mm256_add_epi8(spread, _mm256_set1_epi8((char)(c / 2))));
    __m256i bit = _mm256_set1_epi32(c % 2 ? (int)0x80402010u : 0x08040201);
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit), bit),
                            _mm256_set1_epi8(16));
}

/* Lane k of isum[r]: the exact sum of block k's products of row r's quants
** q[r][c] (unsigned bytes, at most 15, or 31 when five; Q8_0's w + 128
** under VNNI) with the signed activation chunks at x + 32 c, for nr (1 or
** 2) weight rows. VNNI loads each chunk once for both rows, and runs two
** chains of dot products per row so that they overlap (integer sums: any
** order). Without VNNI (nr is 1) a 16-bit lane sums products of one block
** before widening to 32 bits: 16 of at most 15 * 127 (30480), or 8 of at
** most 31 * 127 (31496); nothing saturates or wraps. */
INLINE void unsigned_sums(__m256i q[][8], uint32_t nr, const uint8_t *x, bool five, __m256i *isum)
{
#ifdef L4LM_VNNI
    (void)five;
    __m256i s[2][2];
    UNROLL
    for (uint32_t r = 0; r < nr; r++)
        s[r][0] = s[r][1] = _mm256_setzero_si256();
    UNROLL
    for (int c = 0; c < 8; c += 2) {
        __m256i x0 = load256(x + 32 * c), x1 = load256(x + 32 * c + 32);
        UNROLL
        for (uint32_t r = 0; r < nr; r++) {
            s[r][0] = dpbusd(s[r][0], q[r][c], x0);
            s[r][1] = dpbusd(s[r][1], q[r][c + 1], x1);
        }
    }
    UNROLL
    for (uint32_t r = 0; r < nr; r++)
        isum[r] = _mm256_add_epi32(s[r][0], s[r][1]);
#else
    const __m256i ones = _mm256_set1_epi16(1);
    (void)nr;
    __m256i i16[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
    UNROLL
    for (int c = 0; c < 8; c++)
        i16[five && c >= 4] = _mm256_add_epi16(i16[five && c >= 4],
                                               _mm256_maddubs_epi16(q[0][c], load256(x + 32 * c)));
    isum[0] = _mm256_madd_epi16(i16[0], ones);
    if (five)
        isum[0] = _mm256_add_epi32(isum[0], _mm256_madd_epi16(i16[1], ones));
#endif
}

#ifndef L4LM_VNNI
/* Q8_0 without VNNI: maddubs with w's sign moved onto x (kernels' q8_0 note). */
INLINE __m256i signed_sums(const __m256i *q, const uint8_t *x)
{
    __m256i isum = _mm256_setzero_si256();
    UNROLL
    for (int c = 0; c < 8; c++) {
        __m256i xs = _mm256_sign_epi8(load256(x + 32 * c), q[c]);
        __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(q[c]), xs);
        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, _mm256_set1_epi16(1)));
    }
    return isum;
}
#endif

/* 8 blocks of a weight row at wg, unpacked: q[c] gets the quants of
** activation chunk c (elements 4c..4c+3 of each block), dw and mw the
** blocks' scales and mins. The nibble types' quants are unsigned bytes
** (with Q5's fifth bits). Q8_0's are its bytes; VNNI multiplies unsigned by
** signed bytes, so they go in as w + 128, and 128 * sum x = 16 * s8 comes
** off. Without VNNI, maddubs does the same with w's sign moved onto x;
** with x in [-127, 127] no pair sum saturates, even for w = -128. */
INLINE void unpack8(uint32_t t, const uint8_t *wg, __m256i q[8], __m256 *dw, __m256 *mw)
{
    const size_t bb = l4lm_kern_bbytes(t);
    *mw = _mm256_setzero_ps();
    if (t == L4LM_TYPE_Q8_0) {
        transpose8(wg + 2, bb, q);
        transpose8(wg + 18, bb, q + 4);
#ifdef L4LM_VNNI
        UNROLL
        for (int c = 0; c < 8; c++)
            q[c] = _mm256_xor_si256(q[c], _mm256_set1_epi8(-128));
#endif
        *dw = q8_0_scales(wg);
        return;
    }
    const __m256i low4 = _mm256_set1_epi8(15);
    __m256i v[4];
    transpose8(wg + l4lm_kern_qs(t), bb, v);
    UNROLL
    for (int c = 0; c < 4; c++) {
        q[c] = _mm256_and_si256(v[c], low4);
        q[c + 4] = _mm256_and_si256(_mm256_srli_epi16(v[c], 4), low4);
    }
    if (l4lm_kern_q5(t)) {
        __m256i h = gather8(wg + l4lm_kern_qh(t), bb);
        UNROLL
        for (int c = 0; c < 8; c++)
            q[c] = _mm256_or_si256(q[c], fifth_bits(h, c));
    }
    if (t == L4LM_TYPE_Q4_0) {
        *dw = q4_0_scales(wg);
    } else { /* d, and m (or Q5_0's first qh bits), in each block's first 4 bytes */
        __m256i dm = gather8(wg, bb);
        *dw = low_halves(dm);
        if (l4lm_kern_q8_1(t))
            *mw = low_halves(_mm256_srli_epi32(dm, 16));
    }
}

/* Activation row x (its scales and sums at a) against 8 unpacked blocks
** of nr weight rows: adds block group j into sum[r][a]. */
INLINE void group_row(uint32_t t, __m256i q[][8], const __m256 *dw, const __m256 *mw, uint32_t nr,
                      const uint8_t *x, const uint8_t *a_row, uint32_t nb, uint32_t j,
                      __m256 *sum[2], uint32_t a)
{
    __m256i isum[2];
#ifndef L4LM_VNNI
    if (t == L4LM_TYPE_Q8_0)
        isum[0] = signed_sums(q[0], x);
    else
#endif
        unsigned_sums(q, nr, x, l4lm_kern_q5(t), isum);
#ifdef L4LM_VNNI
    const int q8_offset = 16;
#else
    const int q8_offset = 0;
#endif
    UNROLL
    for (uint32_t r = 0; r < nr; r++) {
        if (l4lm_kern_q8_1(t))
            sum[r][a] = add_blocks_min(sum[r][a], isum[r], dw[r], mw[r], a_row, nb, j);
        else
            sum[r][a] = add_blocks(sum[r][a], isum[r], dw[r], a_row, nb, j,
                                   t == L4LM_TYPE_Q8_0 ? q8_offset : l4lm_kern_offset(t));
    }
}

/* The quantised types, 8 blocks at a time, for nr weight rows (rb bytes
** apart; 2 only with VNNI and AVX-512's 32 registers) and
** na activation rows: sum[r][a] gets activation row a's lanes of row r. */
INLINE void quant_group(uint32_t t, const uint8_t *w, size_t rb, uint32_t nr, const uint8_t *act,
                        size_t st, uint32_t nb, uint32_t na, __m256 *sum[2])
{
    const size_t bb = l4lm_kern_bbytes(t);
    for (uint32_t r = 0; r < nr; r++)
        for (uint32_t a = 0; a < na; a++)
            sum[r][a] = _mm256_setzero_ps();
    for (uint32_t j = 0; j + 8 <= nb; j += 8) {
        __m256i q[2][8];
        __m256 dw[2], mw[2];
        UNROLL
        for (uint32_t r = 0; r < nr; r++)
            unpack8(t, w + r * rb + (size_t)j * bb, q[r], &dw[r], &mw[r]);
        const uint8_t *x = act + (size_t)j * L4LM_QBLOCK;
        if (nr == 1) {
            UNROLL2 /* one row's registers leave room for two activation rows per trip */
                for (uint32_t a = 0; a < na; a++)
                    group_row(t, q, dw, mw, 1, x + a * st, act + a * st, nb, j, sum, a);
        } else {
            for (uint32_t a = 0; a < na; a++)
                group_row(t, q, dw, mw, nr, x + a * st, act + a * st, nb, j, sum, a);
        }
    }
}

/* The quantised types through one entry point, for kernels_tile.h. */
INLINE void quant_lanes(uint32_t t, const uint8_t *w, const uint8_t *act, size_t st, uint32_t nb,
                        uint32_t na, __m256 sum[][1])
{
    __m256 *s[2] = {&sum[0][0], 0};
    quant_group(t, w, 0, 1, act, st, nb, na, s);
}

#if defined(L4LM_VNNI) && defined(__AVX512VL__)
/* Two weight rows, rb bytes apart, in one pass over the activations:
** each activation chunk is loaded once for both (~10% on zen4). Their 16
** registers of quants need AVX-512's 32 (AVX-VNNI alone has 16). */
#define QUANT_PAIRS 1
INLINE void quant_pair(uint32_t t, const uint8_t *w, size_t rb, const uint8_t *act, size_t st,
                       uint32_t nb, uint32_t na, __m256 s0[][1], __m256 s1[][1])
{
    __m256 *s[2] = {&s0[0][0], &s1[0][0]};
    quant_group(t, w, rb, 2, act, st, nb, na, s);
}
#endif

/* The 8 quantised lanes of one activation row: one 8-float register. */
#define ACC_VEC    __m256
#define ACC_VECS   1
#define FLOAT_VECS 4 /* the 32 float lanes of one activation row */
#ifdef __F16C__
#define SIMD_F16 1
#endif

#include "kernels_tile.h"

#endif
