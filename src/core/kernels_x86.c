/*
** kernels_x86.c — AVX2 inner loops of the kernels, compiled only when the
** build targets AVX2 (F16 weights also need F16C); the quantised dots use
** VNNI's dpbusd when the build also targets AVX-512 VNNI (with VL) or
** AVX-VNNI, and BF16 weights that passed the range scan vdpbf16ps when it
** targets AVX-512 BF16. They keep the reduction order of kernels.h —
** multiply then add (fused only for F16's exact products), float lane
** i % 32 (BF16: pair i / 2, in lane i / 2 % 32), exact integer block sums
** into lane j % 8 — so they return exactly what the portable C path
** returns.
**
** The quantised types' passes are in kernels_x86_quant.h, included below.
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
** (overflow, or a subnormal that rounds): it keeps the two steps, or
** vdpbf16ps where the range scan showed they stay (kernels.h).
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
        if (na == 1 && at == t) /* decode's rows stream (F32 attention dots too: harmless) */
            l4lm_kern_stream(w + i * es, L4LM_LANES * es);
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
** 128 rows by 2048: F16 ~165 GFLOP/s, BF16 ~140 (vdpbf16ps ~210 on a busy
** machine), F32 ~105 (3x4, 2x6, 4x6,
** 6x4 and 3x8 in two passes measured no better, fused or not). F16 is not
** held back by its widenings: this loop, 8 vcvtph2ps per 24 fused
** multiply-adds, runs from level 1 at the FMA peak (211-215 GFLOP/s of
** 212, zen5); 4x6 in two passes (one register per pair, half the
** widenings) was 0.85 times the speed with float activations (lanes 0-15
** of a row are every other line, half of level 1's sets) and no faster
** reading halves. On the TinyLlama shapes (128 rows) it reaches 78-91 % of
** that peak; what it loses is in the rows' passes through the caches, and
** these did not win it back (zen5, F16, +-2 %): the wide rows in chunks
** of 1024 or 2048 elements with the lanes parked between them, panels of
** 16 to 128 rows, asking for the next panel's weights or the next
** activation tile ahead (the latter 0.9 times). Its frame,
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

/* 32 halves at p, as they are (BF16 pairs, two to a 32-bit lane): one
** 64-byte load measured faster in prefill than two 32-byte ones and an
** insert, though GGUF aligns tensors only to 32 bytes (zen5). */
INLINE __m512 fv_raw(const uint8_t *p)
{
    return _mm512_castsi512_ps(_mm512_loadu_si512(p));
}

/* A lane's odd and even BF16 element as floats (its high half masked,
** its low half shifted up): no shuffle. With AVX-512 BF16, vdpbf16ps does
** both products and adds in one step for weights that passed the scan
** (kernels.h): ~1.6 times the speed, zen5. */
INLINE __m512 fv_odd(__m512 v)
{
    return _mm512_castsi512_ps(
        _mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32((int)0xffff0000u)));
}

INLINE __m512 fv_even(__m512 v)
{
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_castps_si512(v), 16));
}

#ifdef __AVX512BF16__
INLINE __m512 fv_dot(__m512 z, __m512 w, __m512 x)
{
    return _mm512_dpbf16_ps(z, (__m512bh)_mm512_castps_si512(x), (__m512bh)_mm512_castps_si512(w));
}
#endif

INLINE __m512 fv_mac(uint32_t t, __m512 z, __m512 w, __m512 x)
{
    if (t == L4LM_TYPE_F16) /* exact product: fused, same bits */
        return _mm512_fmadd_ps(w, x, z);
    return _mm512_add_ps(z, _mm512_mul_ps(w, x));
}

INLINE void fv_acc(uint32_t t, const __m512 z[2], __m256 s[4])
{
    (void)t;
    lanes32(z, s);
}

/* Decode of F16 and BF16 reads L4LM_DECODE_STREAMS far rows side by side
** (kernels_tile.h, float_dec; its F16 products fused as fv_mac's). 4-layer
** TinyLlama-shape decode's products alone, one core (zen5, a busy
** machine, interleaved, 2 KiB ahead): F16 ~27 GB/s one row at a time, ~33
** so; BF16 ~29, ~34. Adjacent rows were slower (2: 17 GB/s, 4: 22), 8 far
** rows no better than 4; how far ahead: kernels.h. */
#define FLOAT_DEC_ROWS L4LM_DECODE_STREAMS

/* Decode of F32 over wide rows: FLOAT_GROUP weight rows against the one activation
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
/* 16 halves at p, as they are (BF16 pairs, two to a 32-bit lane). */
INLINE __m256 fv_raw(const uint8_t *p)
{
    return _mm256_castsi256_ps(load256(p));
}

/* A lane's odd and even BF16 element as floats: a mask, a shift. */
INLINE __m256 fv_odd(__m256 v)
{
    return _mm256_castsi256_ps(
        _mm256_and_si256(_mm256_castps_si256(v), _mm256_set1_epi32((int)0xffff0000u)));
}

INLINE __m256 fv_even(__m256 v)
{
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(v), 16));
}

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

#ifdef __AVX512BF16__
#define FLOAT_BF16_DP 1
#ifdef L4LM_SIMD_DISPATCH
/* vdpbf16ps does a pair's two products in one step, and prefill of narrow
** rows then waits on the weights' loads from level 2: 2 weight rows by 6
** activation rows (24 registers, L4LM_FLOAT_DP_NARROW_ACTS) load half the
** weight bytes per product that 4 by 3 do (zen5, n 2048: ~1.2 times the
** speed). Wide rows (the FFN's down projection, n 5632) do best at 4 by 6
** in two passes, lanes 0..15 of every pair and then 16..31 (kernels_tile.h:
** tiles of more than FLOAT_DP_ACCS registers of sums split so), one sum
** register per pair: 10 loads per 24 products, 4 by 3 in one pass 14 per
** 24 (zen5, one core, 128 rows: ~1.15 times the speed of the product, 200
** against 230 GFLOP/s. 2 by 6, 3 by 8, 4 by 4, 6 by 4 and 8 by 3, panels
** of 8 to 64 rows measured no better; 4 by 6 in two passes for narrow rows
** too ~5 % slower than 2 by 6 in one). Their rows then go a chunk of
** FLOAT_DP_CHUNK elements at a time over the whole panel (dp_wide), the
** sums parked between chunks (24 KiB of stack, for the hosted build's
** threads): the 6 activation rows' chunk (24 KiB) stays in level 1 while
** the panel's weights pass, where whole rows (66 KiB) came from level 2
** for every 4 weight rows (~1.25 times the speed again, ~290 GFLOP/s;
** chunks of 1024 to 2816 within noise of each other on a busy machine). */
#define FLOAT_DP_TR      2
#define FLOAT_DP_TA      6
#define FLOAT_DP_WIDE_TR 4
#define FLOAT_DP_WIDE_TA 6
#define FLOAT_DP_ACCS    24
#define FLOAT_DP_CHUNK   2048
#endif
/* 32 BF16 values at a time: magnitude 0, or L4LM_BF16_LO to _HI. */
bool l4lm_simd_bf16_in_range(const uint8_t *w, size_t n)
{
    const __m512i mag = _mm512_set1_epi16(0x7fff), lo = _mm512_set1_epi16(L4LM_BF16_LO);
    const __m512i span = _mm512_set1_epi16(L4LM_BF16_HI - L4LM_BF16_LO);
    __mmask32 bad = 0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512i m = _mm512_and_si512(_mm512_loadu_si512(w + 2 * i), mag);
        __mmask32 out = _mm512_cmpgt_epu16_mask(_mm512_sub_epi16(m, lo), span);
        bad |= _mm512_mask_cmpneq_epi16_mask(out, m, _mm512_setzero_si512());
    }
    for (; i < n; i++) {
        uint16_t m = l4lm_kern_ld16(w + 2 * i) & 0x7fff;
        bad |= m && (m < L4LM_BF16_LO || m > L4LM_BF16_HI);
    }
    return !bad;
}
#endif

#include "kernels_x86_quant.h" /* the quantised types, sharing the helpers above */

/* The 8 quantised lanes of one activation row: one 8-float register. */
#define ACC_VEC    __m256
#define ACC_VECS   1
#define FLOAT_VECS 4 /* the 32 float lanes of one activation row */
#ifdef __F16C__
#define SIMD_F16 1
#endif

#include "kernels_tile.h"

#endif
