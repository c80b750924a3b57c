/*
** kernels_k_x86.c — AVX2 dot products of the Q4_K, Q5_K and Q6_K weight
** types against Q8_K activations, compiled only when the build targets
** AVX2 (with VNNI's dpwssd when the build has AVX-512 VNNI or AVX-VNNI).
** The integer sums of a super-block are exact in 32-bit lanes (kernels_k.h
** bounds them), so they may be formed in any order; the float steps are
** those of kernels_k.h's eight lanes, done eight super-blocks at a time in
** one vector, so the results are the bits of the C path. Other K types
** fall back to the C path.
**
** Each super-block of a weight row is unpacked once and dotted with up to
** KQ_TILE activation rows (prefill), or with one (decode). Its two exact
** sums go to a small table; every eight super-blocks the table becomes one
** vector of float steps.
**
** With AVX-512 BW (the hosted avx512 variant) vectors are 512 bits wide:
** decode takes a super-block's 256 elements in four of them, and prefill
** takes four (Q4_K, Q5_K) or two (Q6_K) weight rows a pass, in
** kernels_k_x86_zmm.h.
**
** Also here: the Q8_K activation quantisation (l4lm_simd_kq_quant).
*/
#include "kernels_k.h"

#ifdef L4LM_SIMD_X86
/* As in kernels_x86.c: immintrin.h's mm_malloc.h needs libc; we use none of it. */
#define _MM_MALLOC_H_INCLUDED
#include <immintrin.h>

#define INLINE static inline __attribute__((always_inline))
/* Activation rows one pass serves: one sum register each. Four keep the
** prefill path's frame near 1 KiB, inside the 3 KiB that the freestanding
** core's deepest call chain may take. The hosted build's variants (threads
** with megabytes of stack) serve eight, which still fit AVX2's sixteen
** registers: each super-block unpacked once for eight rows (a sixth fewer
** Q4_K_M prefill instructions than four, callgrind). rows2's and rows4's
** sums leave their registers at once, so they serve thirty-two
** (kernels_k.c passes that many on x86_64): on zen5 sixteen were ~10%
** faster than eight, and thirty-two a few % faster again (the unpacking
** shared further; 32 rows of activations stay in level 2). */
#if defined(L4LM_SIMD_DISPATCH) && defined(__AVX512BW__)
#define KQ_TILE 32
#elif defined(L4LM_SIMD_DISPATCH)
#define KQ_TILE 8
#else
#define KQ_TILE 4
#endif
#define LANES L4LM_KQ_LANES
/* 512-bit vectors where the hosted build's variant has AVX-512 BW. */
#if defined(__AVX512BW__) && defined(__AVX512VNNI__) && defined(L4LM_SIMD_DISPATCH)
#define KQ_ZMM 1
#endif
#define UNROLL _Pragma("GCC unroll 8")

/* acc + the pairwise products of the int16 lanes of p and s (exact: the
** callers keep every product pair far from int32's limits). */
static inline __m256i madd_acc(__m256i acc, __m256i p, __m256i s)
{
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
    return _mm256_dpwssd_epi32(acc, p, s);
#elif defined(__AVXVNNI__)
    return _mm256_dpwssd_avx_epi32(acc, p, s);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p, s));
#endif
}

/* v, opaque to the optimiser: an accumulator pinned to its register at
** this point. Without it GCC reassociates the exact integer sums of a
** super-block into a tree over all its products, parking them on the
** stack (a third more instructions for Q4_K prefill). */
INLINE __m256i pin(__m256i v)
{
    __asm__("" : "+x"(v));
    return v;
}

/* Decode's single activation row keeps two chains of sums (acc, and alt
** for every other product), as the latency of VNNI's dpwssd would
** otherwise set its pace; prefill's rows are chains enough. */
INLINE void sum_into(__m256i *acc, __m256i *alt, uint32_t na, __m256i p, __m256i s)
{
    if (na == 1)
        *alt = pin(madd_acc(*alt, p, s));
    else
        *acc = pin(madd_acc(*acc, p, s));
}

static inline __m256i load256(const uint8_t *p)
{
    return _mm256_loadu_si256((const __m256i *)p);
}

/* The 16-bit lanes of v (a 16-byte table in both halves) picked by the
** pshufb controls lo (low half) and hi (high half), each the index of the
** low byte plus 256 times that of the high byte. Spelt out lane by lane
** so that the compiler makes it one constant, not a sequence of moves. */
static inline __m256i pick16(__m256i v, int lo, int hi)
{
    short l = (short)lo, h = (short)hi;
    return _mm256_shuffle_epi8(v,
                               _mm256_setr_epi16(l, l, l, l, l, l, l, l, h, h, h, h, h, h, h, h));
}

/* Asks for the bytes of the weight row L4LM_PREFETCH_ROWS ahead that
** match p[0..len) in this one, as kernels_x86.c does for the same reason:
** the hardware prefetcher alone leaves decode short of the memory
** bandwidth. len is a constant, so the loop unrolls (one loop over the
** whole row at its start cost decode 4% more instructions). Prefetches
** never fault. */
static inline void prefetch_ahead(const uint8_t *p, size_t rb, size_t len)
{
    uintptr_t ahead = (uintptr_t)p + L4LM_PREFETCH_ROWS * rb;
    for (size_t o = 0; o < len; o += 64)
        _mm_prefetch((const char *)(ahead + o), _MM_HINT_T1);
}

/* Activation row a's quants and bsums of super-block b. */
#define ACT_Q(a, off) (act + (a)*st + (size_t)b * L4LM_QK_K + (off))
#define ACT_BSUM(a)   (act + (a)*st + l4lm_kq_bsum(nb) + 32 * (size_t)b)

/* The 12 scale bytes of Q4_K/Q5_K (at blk + 4) as 16: scales 0-7 then mins
** 0-7, each 6 bits (kernels_k.h's l4lm_kq_scales_k4, in vector steps). */
static inline __m128i scales_k4(const uint8_t *blk)
{
    __m128i raw = _mm_loadu_si128((const __m128i *)blk); /* scale byte k is raw byte 4 + k */
    /* Low bits: scale j < 4 from byte j, mins j < 4 from byte j + 4, and
    ** for j >= 4 the low (scales) or high (mins) nibble of byte j + 4. */
    __m128i a = _mm_shuffle_epi8(
        raw, _mm_setr_epi8(4, 5, 6, 7, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15));
    /* Top 2 bits of j >= 4: the top of byte j - 4 (scales) or j (mins). */
    __m128i b = _mm_shuffle_epi8(
        raw, _mm_setr_epi8(-1, -1, -1, -1, 4, 5, 6, 7, -1, -1, -1, -1, 8, 9, 10, 11));
    __m128i keep = _mm_setr_epi8(63, 63, 63, 63, 15, 15, 15, 15, 63, 63, 63, 63, 0, 0, 0, 0);
    __m128i high = _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 15, 15, 15, 15);
    __m128i low = _mm_or_si128(_mm_and_si128(a, keep), _mm_and_si128(_mm_srli_epi16(a, 4), high));
    return _mm_or_si128(low, _mm_and_si128(_mm_srli_epi16(b, 2), _mm_set1_epi8(0x30)));
}

/* Q4_K (five false) or Q5_K super-block b of one weight row (blk) against
** na activation rows: t[a] gets sum_j sc_j sum q x in 32-bit lanes 0-1 of
** each half and sum_j m_j bsum in lanes 2-3 (a vector of sums). 64 elements per 32 bytes of quants:
*low
** nibbles are sub-block 2p, high ones 2p + 1; Q5_K adds bit 2p (+ 1) of
** qh[l] as 16. maddubs pairs stay below 2 * 31 * 128, so nothing saturates. */
INLINE void q45_k_ints(const uint8_t *blk, bool five, const uint8_t *act, size_t st, uint32_t nb,
                       uint32_t b, uint32_t na, __m256i *t)
{
    const __m256i low4 = _mm256_set1_epi8(15), bit4 = _mm256_set1_epi8(16);
    const uint8_t *qs = blk + (five ? 48 : 16);
    __m256i sm = _mm256_broadcastsi128_si256(scales_k4(blk));
    /* min j for bsums 2j and 2j + 1: bytes 8-11 of sm in the low half, 12-15 in the high */
    __m256i mins = _mm256_shuffle_epi8(
        sm, _mm256_setr_epi8(8, -1, 8, -1, 9, -1, 9, -1, 10, -1, 10, -1, 11, -1, 11, -1, 12, -1, 12,
                             -1, 13, -1, 13, -1, 14, -1, 14, -1, 15, -1, 15, -1));
    __m256i hb = _mm256_setzero_si256();
    __m256i acc[KQ_TILE], alt = _mm256_setzero_si256(); /* alt: decode's second chain */
    if (five)
        hb = load256(blk + 16);
    UNROLL
    for (uint32_t a = 0; a < KQ_TILE; a++) /* all: rows past na are dead code */
        acc[a] = _mm256_setzero_si256();
    UNROLL
    for (int p = 0; p < 4; p++) {
        __m256i v = load256(qs + 32 * p);
        __m256i lo = _mm256_and_si256(v, low4);
        __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
        if (five) { /* bits 2p and 2p + 1 of each qh byte to bit 4 (shifts stay in the byte) */
            __m256i h0 =
                2 * p < 4 ? _mm256_slli_epi16(hb, 4 - 2 * p) : _mm256_srli_epi16(hb, 2 * p - 4);
            __m256i h1 =
                2 * p + 1 < 4 ? _mm256_slli_epi16(hb, 3 - 2 * p) : _mm256_srli_epi16(hb, 2 * p - 3);
            lo = _mm256_or_si256(lo, _mm256_and_si256(h0, bit4));
            hi = _mm256_or_si256(hi, _mm256_and_si256(h1, bit4));
        }
        __m256i s0 = pick16(sm, 0x8000 | 2 * p, 0x8000 | 2 * p);
        __m256i s1 = pick16(sm, 0x8000 | (2 * p + 1), 0x8000 | (2 * p + 1));
        UNROLL
        for (uint32_t a = 0; a < na; a++) {
            acc[a] = pin(madd_acc(acc[a], _mm256_maddubs_epi16(lo, load256(ACT_Q(a, 64 * p))), s0));
            sum_into(&acc[a], &alt, na, _mm256_maddubs_epi16(hi, load256(ACT_Q(a, 64 * p + 32))),
                     s1);
        }
    }
    UNROLL
    for (uint32_t a = 0; a < na; a++)
        t[a] = _mm256_hadd_epi32(_mm256_add_epi32(acc[a], alt),
                                 _mm256_madd_epi16(load256(ACT_BSUM(a)), mins));
}

#ifdef KQ_ZMM
/* v, opaque to the optimiser (as pin, for a 512-bit accumulator). */
INLINE __m512i pin512(__m512i v)
{
    __asm__("" : "+v"(v));
    return v;
}

#endif

/* Q6_K super-block b: t[a] as for Q4_K, with zero mins. The quants
** are used unsigned (0..63) and 32 times the scaled bsums come off:
** sum sc (q - 32) x = sum sc q x - 32 sum sc bsum (exact, wrapping lanes
** come back in the total). maddubs pairs stay below 2 * 63 * 128 < 32767. */
INLINE void q6_k_ints(const uint8_t *blk, const uint8_t *act, size_t st, uint32_t nb, uint32_t b,
                      uint32_t na, __m256i *t)
{
    const __m256i low4 = _mm256_set1_epi8(15), top2 = _mm256_set1_epi8(0x30);
    __m128i sc8 = _mm_loadu_si128((const __m128i *)(blk + 192));
    __m256i sc16 = _mm256_cvtepi8_epi16(sc8);           /* scales 0-7 | 8-15 as int16 */
    __m256i acc[KQ_TILE], alt = _mm256_setzero_si256(); /* alt: decode's second chain */
    UNROLL
    for (uint32_t a = 0; a < KQ_TILE; a++)
        acc[a] = _mm256_setzero_si256();
    UNROLL
    for (int h = 0; h < 2; h++) {
        __m256i l0 = load256(blk + 64 * h), l1 = load256(blk + 64 * h + 32);
        __m256i hb = load256(blk + 128 + 32 * h);
        /* scales 8h..8h+7 in both halves */
        __m256i sh =
            h ? _mm256_permute4x64_epi64(sc16, 0xee) : _mm256_permute4x64_epi64(sc16, 0x44);
        __m256i q[4];
        q[0] = _mm256_or_si256(_mm256_and_si256(l0, low4),
                               _mm256_and_si256(_mm256_slli_epi16(hb, 4), top2));
        q[1] = _mm256_or_si256(_mm256_and_si256(l1, low4),
                               _mm256_and_si256(_mm256_slli_epi16(hb, 2), top2));
        q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low4),
                               _mm256_and_si256(hb, top2));
        q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low4),
                               _mm256_and_si256(_mm256_srli_epi16(hb, 2), top2));
        UNROLL
        for (int m = 0; m < 4;
             m++) { /* scales 2m, 2m + 1 of the half for its two 16-element halves */
            __m256i sv = pick16(sh, 0x0100 * (4 * m + 1) + 4 * m, 0x0100 * (4 * m + 3) + 4 * m + 2);
            UNROLL
            for (uint32_t a = 0; a < na; a++) {
                __m256i p = _mm256_maddubs_epi16(q[m], load256(ACT_Q(a, 128 * h + 32 * m)));
                if (m % 2)
                    sum_into(&acc[a], &alt, na, p, sv);
                else
                    acc[a] = pin(madd_acc(acc[a], p, sv));
            }
        }
    }
    UNROLL
    for (uint32_t a = 0; a < na; a++) {
        __m256i corr = _mm256_madd_epi16(load256(ACT_BSUM(a)), sc16);
        t[a] = _mm256_hadd_epi32(
            _mm256_sub_epi32(_mm256_add_epi32(acc[a], alt), _mm256_slli_epi32(corr, 5)),
            _mm256_setzero_si256());
    }
}

#ifdef KQ_ZMM
/* Decode's super-block (one activation row, x) in 512-bit vectors: q[i]
** the quants of elements 64 i .. 64 i + 63, s[i] their scales per 16-bit
** product lane; two chains of sums, folded to 8 lanes. */
INLINE __m256i one512(const __m512i *q, const __m512i *s, const uint8_t *x)
{
    __m512i acc =
        pin512(_mm512_madd_epi16(_mm512_maddubs_epi16(q[0], _mm512_loadu_si512(x)), s[0]));
    __m512i alt =
        pin512(_mm512_madd_epi16(_mm512_maddubs_epi16(q[1], _mm512_loadu_si512(x + 64)), s[1]));
    acc = pin512(
        _mm512_dpwssd_epi32(acc, _mm512_maddubs_epi16(q[2], _mm512_loadu_si512(x + 128)), s[2]));
    alt = pin512(
        _mm512_dpwssd_epi32(alt, _mm512_maddubs_epi16(q[3], _mm512_loadu_si512(x + 192)), s[3]));
    acc = _mm512_add_epi32(acc, alt);
    return _mm256_add_epi32(_mm512_castsi512_si256(acc), _mm512_extracti64x4_epi64(acc, 1));
}

/* q45_k_ints for decode: each 32 bytes of quants, in both halves of a
** vector, give their low nibbles (sub-block 2p) in the low half and their
** high ones (2p + 1) in the high half, the order of the activation's. */
INLINE void q45_k_one(const uint8_t *blk, bool five, const uint8_t *act, uint32_t nb, uint32_t b,
                      __m256i *t)
{
    const __m512i low4 = _mm512_set1_epi8(15), bit4 = _mm512_set1_epi8(16);
    const __m512i nib = _mm512_setr_epi64(0, 0, 0, 0, 4, 4, 4, 4);
    const uint8_t *qs = blk + (five ? 48 : 16);
    __m128i sm128 = scales_k4(blk);
    __m512i sm = _mm512_broadcast_i32x4(sm128), q[4], s[4];
    __m256i mins = _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(sm128),
                                       _mm256_setr_epi8(8, -1, 8, -1, 9, -1, 9, -1, 10, -1, 10, -1,
                                                        11, -1, 11, -1, 12, -1, 12, -1, 13, -1, 13,
                                                        -1, 14, -1, 14, -1, 15, -1, 15, -1));
    __m512i hb = five ? _mm512_broadcast_i64x4(load256(blk + 16)) : _mm512_setzero_si512();
    UNROLL
    for (int p = 0; p < 4; p++) {
        q[p] = _mm512_and_si512(
            _mm512_srlv_epi64(_mm512_broadcast_i64x4(load256(qs + 32 * p)), nib), low4);
        if (five) { /* bit 2p (low half), 2p + 1 (high) of each qh byte to its bit 4 */
            __m512i rot = _mm512_setr_epi64(4 - 2 * p, 4 - 2 * p, 4 - 2 * p, 4 - 2 * p, 3 - 2 * p,
                                            3 - 2 * p, 3 - 2 * p, 3 - 2 * p);
            rot = _mm512_and_si512(rot, _mm512_set1_epi64(63));
            q[p] = _mm512_ternarylogic_epi32(q[p], _mm512_rolv_epi64(hb, rot), bit4, 0xf8);
        }
        s[p] = _mm512_shuffle_epi8(
            sm, _mm512_inserti64x4(_mm512_set1_epi16((short)(0x8000 | 2 * p)),
                                   _mm256_set1_epi16((short)(0x8000 | (2 * p + 1))), 1));
    }
    size_t st = 0;
    t[0] =
        _mm256_hadd_epi32(one512(q, s, ACT_Q(0, 0)), _mm256_madd_epi16(load256(ACT_BSUM(0)), mins));
}

/* q6_k_ints for decode: a half's 64 quant bytes are elements 0-63 (low
** nibbles, qh bits 0-1 then 2-3) and 64-127 (high nibbles, bits 4-5 then
** 6-7); 128-bit lane k of elements 64 i.. meets scale 4 i + k. */
INLINE void q6_k_one(const uint8_t *blk, const uint8_t *act, uint32_t nb, uint32_t b, __m256i *t)
{
    const __m512i low4 = _mm512_set1_epi8(15), top2 = _mm512_set1_epi8(0x30);
    __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(blk + 192)));
    __m512i sc = _mm512_castsi256_si512(sc16), q[4], s[4];
    UNROLL
    for (int h = 0; h < 2; h++) {
        __m512i l = _mm512_loadu_si512(blk + 64 * h);
        __m512i hb = _mm512_broadcast_i64x4(load256(blk + 128 + 32 * h));
        __m512i up = _mm512_sllv_epi64(hb, _mm512_setr_epi64(4, 4, 4, 4, 2, 2, 2, 2));
        __m512i dn = _mm512_srlv_epi64(hb, _mm512_setr_epi64(0, 0, 0, 0, 2, 2, 2, 2));
        q[2 * h] = _mm512_ternarylogic_epi32(_mm512_and_si512(l, low4), up, top2, 0xf8);
        q[2 * h + 1] = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(l, 4), low4),
                                                 dn, top2, 0xf8);
    }
    UNROLL
    for (int i = 0; i < 4; i++) {
        __m512i idx = _mm512_setr_epi32(
            0x10001 * (4 * i), 0x10001 * (4 * i), 0x10001 * (4 * i), 0x10001 * (4 * i),
            0x10001 * (4 * i + 1), 0x10001 * (4 * i + 1), 0x10001 * (4 * i + 1),
            0x10001 * (4 * i + 1), 0x10001 * (4 * i + 2), 0x10001 * (4 * i + 2),
            0x10001 * (4 * i + 2), 0x10001 * (4 * i + 2), 0x10001 * (4 * i + 3),
            0x10001 * (4 * i + 3), 0x10001 * (4 * i + 3), 0x10001 * (4 * i + 3));
        s[i] = _mm512_permutexvar_epi16(idx, sc);
    }
    size_t st = 0;
    __m256i is = one512(q, s, ACT_Q(0, 0));
    is = madd_acc(is, load256(ACT_BSUM(0)), _mm256_mullo_epi16(sc16, _mm256_set1_epi16(-32)));
    t[0] = _mm256_hadd_epi32(is, _mm256_setzero_si256());
}
#endif

INLINE void ints(uint32_t ty, const uint8_t *blk, const uint8_t *act, size_t st, uint32_t nb,
                 uint32_t b, uint32_t na, __m256i *t)
{
#ifdef KQ_ZMM
    if (na == 1 && ty == L4LM_TYPE_Q6_K) /* decode (prefill takes rows2) */
        q6_k_one(blk, act, nb, b, t);
    else if (na == 1)
        q45_k_one(blk, ty == L4LM_TYPE_Q5_K, act, nb, b, t);
    else
#endif
        if (ty == L4LM_TYPE_Q6_K)
        q6_k_ints(blk, act, st, nb, b, na, t);
    else
        q45_k_ints(blk, ty == L4LM_TYPE_Q5_K, act, st, nb, b, na, t);
}

/* The exact sums of two super-blocks (their vectors of sums, one
** activation row) as i0 m0 i1 m1: one 16-byte entry of the group table. */
static inline void pair_sums(__m256i t0, __m256i t1, int32_t *e)
{
    __m256i h = _mm256_hadd_epi32(t0, t1);
    _mm_storeu_si128((__m128i *)e,
                     _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1)));
}

/* A group table's four entries as the eight isum and the eight msum.
** Each 16-byte load reads one 16-byte store (store forwarding works). */
static inline void group_sums(const int32_t *e, __m256i *is, __m256i *ms)
{
    __m256 a = _mm256_castsi256_ps(
        _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)e)),
                                _mm_loadu_si128((const __m128i *)(e + 8)), 1));
    __m256 b = _mm256_castsi256_ps(
        _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(e + 4))),
                                _mm_loadu_si128((const __m128i *)(e + 12)), 1));
    *is = _mm256_castps_si256(_mm256_shuffle_ps(a, b, 0x88)); /* i0 i1 i2 i3 | i4 i5 i6 i7 */
    *ms = _mm256_castps_si256(_mm256_shuffle_ps(a, b, 0xdd));
}

/* The fp16 d and dmin of a super-block as the low two of 16-bit words
** (Q6_K has no dmin: 0, which is fp16 +0). */
static inline uint32_t d_dmin(uint32_t t, const uint8_t *blk)
{
    uint32_t v;
    if (t == L4LM_TYPE_Q6_K)
        return l4lm_kern_ld16(blk + 208);
    __builtin_memcpy(&v, blk, 4);
    return v;
}

/* d0 dmin0 d1 dmin1 of two super-blocks (their d_dmin words) as floats:
** one 16-byte entry of the group's scale table. */
static inline void pair_scales(uint32_t h0, uint32_t h1, float *e)
{
#ifdef __F16C__
    _mm_storeu_ps(e, _mm_cvtph_ps(_mm_cvtsi64_si128((long long)((uint64_t)h1 << 32 | h0))));
#else
    e[0] = l4lm_half_decode((uint16_t)h0), e[1] = l4lm_half_decode((uint16_t)(h0 >> 16));
    e[2] = l4lm_half_decode((uint16_t)h1), e[3] = l4lm_half_decode((uint16_t)(h1 >> 16));
#endif
}

/* The scale table's four entries as the eight d and the eight dmin. */
static inline void group_scales(const float *e, __m256 *d, __m256 *dmin)
{
    __m256 a =
        _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(e)), _mm_loadu_ps(e + 8), 1);
    __m256 b =
        _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(e + 4)), _mm_loadu_ps(e + 12), 1);
    *d = _mm256_shuffle_ps(a, b, 0x88); /* d0 d1 d2 d3 | d4 d5 d6 d7 */
    *dmin = _mm256_shuffle_ps(a, b, 0xdd);
}

/* kernels_k.h's lane sum: ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)). */
static inline float lanes_sum(__m256 acc)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

/* One group's table: per activation row, four pairs of super-blocks'
** exact sums (pair_sums), and their scales. */
typedef struct group {
    int32_t e[KQ_TILE][2 * LANES];
    float dd[2 * LANES]; /* per pair: d dmin d dmin (pair_scales) */
} group;

INLINE void rows(uint32_t t, const uint8_t *w, size_t rb, const uint8_t *act, size_t st, uint32_t n,
                 uint32_t na, uint32_t r0, uint32_t r1, float *y, size_t ys, bool ahead)
{
    uint32_t nb = n / L4LM_QK_K;
    size_t bb = t == L4LM_TYPE_Q4_K   ? L4LM_Q4_K_BYTES
                : t == L4LM_TYPE_Q5_K ? L4LM_Q5_K_BYTES
                                      : L4LM_Q6_K_BYTES;
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    group g;
    for (uint32_t r = r0; r < r1; r++) {
        const uint8_t *row = w + r * rb;
        __m256 acc[KQ_TILE];
        for (uint32_t a = 0; a < na; a++)
            acc[a] = _mm256_setzero_ps();
        for (uint32_t b0 = 0; b0 < nb; b0 += LANES) {
            uint32_t cnt = LANES; /* super-blocks in this group of lanes */
            if (nb - b0 < LANES)
                cnt = nb - b0;
            for (uint32_t k = 0; k < cnt; k += 2) { /* pairs; an odd last one with zeros */
                __m256i t0[KQ_TILE], t1[KQ_TILE];
                uint32_t b = b0 + k, h1 = 0;
                const uint8_t *blk = row + b * bb;
                if (ahead && na == 1) /* decode: the row streams (kernels.h) */
                    l4lm_kern_stream(blk, 2 * bb);
                else if (ahead)
                    prefetch_ahead(blk, rb, 2 * bb);
                ints(t, blk, act, st, nb, b, na, t0);
                if (k + 1 < cnt) {
                    ints(t, blk + bb, act, st, nb, b + 1, na, t1);
                    h1 = d_dmin(t, blk + bb);
                } else {
                    for (uint32_t a = 0; a < na; a++)
                        t1[a] = _mm256_setzero_si256();
                }
                pair_scales(d_dmin(t, blk), h1, g.dd + 2 * k);
                for (uint32_t a = 0; a < na; a++)
                    pair_sums(t0[a], t1[a], g.e[a] + 2 * k);
            }
            for (uint32_t k = (cnt + 1) & ~1u; k < LANES; k += 2) { /* pairs past the end */
                _mm_storeu_ps(g.dd + 2 * k, _mm_setzero_ps());
                for (uint32_t a = 0; a < na; a++)
                    _mm_storeu_si128((__m128i *)(g.e[a] + 2 * k), _mm_setzero_si128());
            }
            /* Lanes past the end: zero scales and sums, and dx masked to
            ** zero, so their steps add +-0 (kernels_k.h). */
            __m256i live = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)cnt), lane);
            __m256 d, dmin;
            group_scales(g.dd, &d, &dmin);
            for (uint32_t a = 0; a < na; a++) {
                const float *dxp = (const float *)(act + a * st + l4lm_kq_d(nb)) + b0;
                __m256 dx = _mm256_maskload_ps(dxp, live);
                __m256i is, ms;
                group_sums(g.e[a], &is, &ms);
                __m256 p =
                    _mm256_sub_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(is), _mm256_mul_ps(d, dx)),
                                  _mm256_mul_ps(_mm256_cvtepi32_ps(ms), _mm256_mul_ps(dmin, dx)));
                acc[a] = _mm256_add_ps(acc[a], p);
            }
        }
        for (uint32_t a = 0; a < na; a++)
            y[a * ys + r] = lanes_sum(acc[a]);
    }
}

#ifdef KQ_ZMM
#include "kernels_k_x86_zmm.h"
#endif

/* One copy of the loops per type, and decode's single activation row and
** prefill's full passes of KQ_TILE rows their own (a constant count: no
** test per row, accumulators in registers); each out of line, so their
** stack frames do not add up. */
#define ROWS(name, loops, type, rows_na)                                                           \
    static __attribute__((noinline)) void name(const uint8_t *w, size_t rb, const uint8_t *act,    \
                                               size_t st, uint32_t n, uint32_t na, uint32_t r0,    \
                                               uint32_t r1, float *y, size_t ys, bool ahead)       \
    {                                                                                              \
        (void)na; /* the decode copies use their constant */                                       \
        loops(type, w, rb, act, st, n, rows_na, r0, r1, y, ys, ahead);                             \
    }
/* Prefill's loops; decode keeps one weight row a pass (one stream through
** memory: two rows a pass measured slower there). */
#ifdef KQ_ZMM
#define PREFILL  rows2 /* Q6_K */
#define PREFILL4 rows4 /* Q4_K, Q5_K */
#else
#define PREFILL  rows
#define PREFILL4 rows
#endif
ROWS(q4_k_decode, rows, L4LM_TYPE_Q4_K, 1)
ROWS(q4_k_prefill, PREFILL4, L4LM_TYPE_Q4_K, na)
ROWS(q4_k_full, PREFILL4, L4LM_TYPE_Q4_K, KQ_TILE)
ROWS(q5_k_decode, rows, L4LM_TYPE_Q5_K, 1)
ROWS(q5_k_prefill, PREFILL4, L4LM_TYPE_Q5_K, na)
ROWS(q5_k_full, PREFILL4, L4LM_TYPE_Q5_K, KQ_TILE)
ROWS(q6_k_decode, rows, L4LM_TYPE_Q6_K, 1)
ROWS(q6_k_prefill, PREFILL, L4LM_TYPE_Q6_K, na)
ROWS(q6_k_full, PREFILL, L4LM_TYPE_Q6_K, KQ_TILE)

typedef void rows_fn(const uint8_t *, size_t, const uint8_t *, size_t, uint32_t, uint32_t, uint32_t,
                     uint32_t, float *, size_t, bool);

bool l4lm_simd_kq_rows(uint32_t t, const uint8_t *w, size_t rb, const uint8_t *act, size_t st,
                       uint32_t n, uint32_t na, uint32_t r0, uint32_t r1, float *y, size_t ys,
                       bool ahead)
{
    rows_fn *decode, *prefill, *full;
    switch (t) {
    case L4LM_TYPE_Q4_K:
        decode = q4_k_decode, prefill = q4_k_prefill, full = q4_k_full;
        break;
    case L4LM_TYPE_Q5_K:
        decode = q5_k_decode, prefill = q5_k_prefill, full = q5_k_full;
        break;
    case L4LM_TYPE_Q6_K:
        decode = q6_k_decode, prefill = q6_k_prefill, full = q6_k_full;
        break;
    default:
        return false;
    }
    if (na == 1)
        decode(w, rb, act, st, n, 1, r0, r1, y, ys, ahead);
    for (uint32_t a = 0; na > 1 && a < na; a += KQ_TILE) { /* KQ_TILE rows a pass */
        uint32_t k = na - a < KQ_TILE ? na - a : KQ_TILE;
        (k == KQ_TILE ? full : prefill)(w, rb, act + a * st, st, n, k, r0, r1, y + a * ys, ys,
                                        ahead && a == 0);
    }
    return true;
}

/* kernels_k.c's Q8_K quantisation of one super-block (ggml's
** quantize_row_q8_K) in AVX2 steps, bit for bit: a magnitude's bits order
** as its value (NaNs, above inf's bits, count as 0), the first index of
** the largest gives the signed max, then the same float multiply and
** nearest's add of 1.5 * 2^23 per element, the same integer bits. */
bool l4lm_simd_kq_quant(const float *x, uint8_t *q, int16_t *bsum, float *d)
{
    const __m256i absm = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
    __m256i top = _mm256_setzero_si256();
    for (int j = 0; j < L4LM_QK_K; j += 8) {
        __m256i m = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(x + j)), absm);
        top = _mm256_max_epi32(top, _mm256_andnot_si256(_mm256_cmpgt_epi32(m, inf), m));
    }
    __m128i t = _mm_max_epi32(_mm256_castsi256_si128(top), _mm256_extracti128_si256(top, 1));
    t = _mm_max_epi32(t, _mm_shuffle_epi32(t, 0x4e));
    t = _mm_max_epi32(t, _mm_shuffle_epi32(t, 0xb1));
    if (_mm_cvtsi128_si32(t) == 0) /* zeros and NaNs: the C path's */
        return false;
    top = _mm256_broadcastd_epi32(t);
    int first = 0;
    for (int j = 0; j < L4LM_QK_K; j += 8) {
        __m256i m = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(x + j)), absm);
        int hit = _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(m, top)));
        if (hit) {
            first = j + __builtin_ctz((unsigned)hit);
            break;
        }
    }
    float iscale = -127.0f / x[first];
    const __m256 is = _mm256_set1_ps(iscale), magic = _mm256_set1_ps(12582912.0f);
    const __m256i mant = _mm256_set1_epi32(0x7fffff), half = _mm256_set1_epi32(0x400000),
                  cap = _mm256_set1_epi32(127), byte = _mm256_set1_epi32(0xff),
                  order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7), bias = _mm256_set1_epi8(-128);
    for (int j = 0; j < L4LM_QK_K; j += 32) {
        __m256i v[4];
        for (int i = 0; i < 4; i++) { /* nearest(iscale * x), capped at 127, its low byte */
            __m256 f = _mm256_add_ps(_mm256_mul_ps(is, _mm256_loadu_ps(x + j + 8 * i)), magic);
            __m256i u = _mm256_sub_epi32(_mm256_and_si256(_mm256_castps_si256(f), mant), half);
            v[i] = _mm256_and_si256(_mm256_min_epi32(u, cap), byte);
        }
        /* the bytes in order: the packs interleave 128-bit lanes, dwords fix it */
        __m256i b =
            _mm256_packus_epi16(_mm256_packus_epi32(v[0], v[1]), _mm256_packus_epi32(v[2], v[3]));
        b = _mm256_permutevar8x32_epi32(b, order);
        _mm256_storeu_si256((__m256i *)(q + j), b);
        /* the two groups' sums: of q + 128 per 8 bytes, less 16 * 128 */
        __m256i s = _mm256_sad_epu8(_mm256_xor_si256(b, bias), _mm256_setzero_si256());
        uint64_t e[4];
        _mm256_storeu_si256((__m256i *)e, s);
        bsum[j / 16] = (int16_t)((int)(e[0] + e[1]) - 2048);
        bsum[j / 16 + 1] = (int16_t)((int)(e[2] + e[3]) - 2048);
    }
    *d = 1.0f / iscale;
    return true;
}

#endif
