/*
** kernels_x86_quant.h — the x86 inner loops of the 32-element block types
** (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1) against Q8 activations, included once by
** kernels_x86.c (which has the helpers they share with the float types:
** load256, hsum8, finish, prefetch_row) before kernels_tile.h, whose
** quant_rows calls quant_lanes, quant_pair and quant_quad.
**
** Each pass unpacks 8 blocks of a weight row (transposed to the activation
** layout of kernels.h, 4 bytes of each block per 32-bit lane) once and
** dots them with up to L4LM_QUANT_ACTS activation rows, or one (decode). With
** AVX-512, Q4_0 and Q8_0 keep two weight rows in each 512-bit register
** (quant_wide), and prefill takes four rows per pass: one dpbusd then does
** the work of two, and each activation chunk is loaded once for four rows.
** Every block's integer sum is exact, and its product goes into lane
** j % 8 as in the C code: the same bits.
*/
#ifndef L4LM_KERNELS_X86_QUANT_H
#define L4LM_KERNELS_X86_QUANT_H

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
        if (na == 1 && nr == 1) /* decode: the row streams (kernels.h) */
            l4lm_kern_stream(w + (size_t)j * bb, 8 * bb);
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

/* Decode asks for its rows inside quant_group instead, as they stream
** (kernels.h, L4LM_DECODE_AHEAD), not a whole row at a time. */
#define QUANT_DECODE_PREFETCH 1
static inline void prefetch_decode(const uint8_t *row, size_t rb)
{
    (void)row;
    (void)rb;
}

/* The quantised types through one entry point, for kernels_tile.h. */
INLINE void quant_lanes(uint32_t t, const uint8_t *w, const uint8_t *act, size_t st, uint32_t nb,
                        uint32_t na, __m256 sum[][1])
{
    __m256 *s[2] = {&sum[0][0], 0};
    quant_group(t, w, 0, 1, act, st, nb, na, s);
}

#if defined(L4LM_VNNI) && defined(__AVX512VL__) && defined(__AVX512VNNI__)
/* Q4_0 and Q8_0 with AVX-512: two weight rows share each 512-bit register,
** row r's 8 blocks in the low half and row r + 1's in the high, so one
** dpbusd serves both against an activation chunk broadcast to both halves,
** and each half's lanes add up exactly as in quant_group. */
#define QUANT_WIDE 1
static inline __m512 join256_ps(__m256 lo, __m256 hi)
{
    return _mm512_castpd_ps(
        _mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_castps_pd(lo)), _mm256_castps_pd(hi), 1));
}

/* Row k (0 or 1) of a pair's 8 lanes. */
static inline __m256 pair_row(__m512 z, uint32_t k)
{
    return k ? _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(z), 1))
             : _mm512_castps512_ps256(z);
}

/* transpose8 for the rows at p and p + rb at once: its 128-bit lanes hold
** blocks k, k + 4 of the first row, then of the second. */
INLINE void transpose8x2(const uint8_t *p, size_t stride, size_t rb, __m512i v[4])
{
    __m512i y[4];
    UNROLL
    for (int k = 0; k < 4; k++) {
        const uint8_t *b = p + k * stride;
        y[k] = _mm512_castsi128_si512(load128(b));
        y[k] = _mm512_inserti32x4(y[k], load128(b + 4 * stride), 1);
        y[k] = _mm512_inserti32x4(y[k], load128(b + rb), 2);
        y[k] = _mm512_inserti32x4(y[k], load128(b + rb + 4 * stride), 3);
    }
    __m512i t0 = _mm512_unpacklo_epi32(y[0], y[1]), t1 = _mm512_unpackhi_epi32(y[0], y[1]);
    __m512i t2 = _mm512_unpacklo_epi32(y[2], y[3]), t3 = _mm512_unpackhi_epi32(y[2], y[3]);
    v[0] = _mm512_unpacklo_epi64(t0, t2), v[1] = _mm512_unpackhi_epi64(t0, t2);
    v[2] = _mm512_unpacklo_epi64(t1, t3), v[3] = _mm512_unpackhi_epi64(t1, t3);
}

/* unpack8 of two rows (Q4_0 or Q8_0 only). */
INLINE void unpack8x2(uint32_t t, const uint8_t *wg, size_t rb, __m512i q[8], __m512 *dw)
{
    const size_t bb = l4lm_kern_bbytes(t);
    if (t == L4LM_TYPE_Q8_0) {
        transpose8x2(wg + 2, bb, rb, q);
        transpose8x2(wg + 18, bb, rb, q + 4);
        UNROLL
        for (int c = 0; c < 8; c++)
            q[c] = _mm512_xor_si512(q[c], _mm512_set1_epi8(-128));
        *dw = join256_ps(q8_0_scales(wg), q8_0_scales(wg + rb));
        return;
    }
    const __m512i low4 = _mm512_set1_epi8(15);
    __m512i v[4];
    transpose8x2(wg + 2, bb, rb, v);
    UNROLL
    for (int c = 0; c < 4; c++) { /* 32-bit shifts: the mask drops what crossed bytes */
        q[c] = _mm512_and_si512(v[c], low4);
        q[c + 4] = _mm512_and_si512(_mm512_srli_epi32(v[c], 4), low4);
    }
    *dw = join256_ps(q4_0_scales(wg), q4_0_scales(wg + rb));
}

/* 256 bits at p in both halves. */
static inline __m512i load256x2(const uint8_t *p)
{
    return _mm512_broadcast_i64x4(load256(p));
}

/* add_blocks for both rows of a register, whose isum already has the
** offset taken off. */
INLINE __m512 add_blocks2(__m512 sum, __m512i isum, __m512 dw, const uint8_t *a, uint32_t nb,
                          uint32_t j)
{
    __m512 dx = _mm512_castsi512_ps(load256x2(a + l4lm_kern_qa_d(nb) + 4 * (size_t)j));
    __m512 dd = _mm512_mul_ps(dw, dx);
    return _mm512_add_ps(sum, _mm512_mul_ps(_mm512_cvtepi32_ps(isum), dd));
}

/* m (1 or 2) activation rows from a, st bytes apart at act (their chunks
** of block group j at x), against np unpacked pairs: adds into sum[p][a..].
** The sums start at minus the offset's share (integers: exact in any
** order). Two rows' chains side by side keep the multipliers busier
** (dpbusd's latency is 4 times its throughput on zen5). */
INLINE void wide_rows(__m512i q[][8], const __m512 *dw, uint32_t np, const uint8_t *x,
                      const uint8_t *act, size_t st, uint32_t nb, uint32_t j, int shift, uint32_t m,
                      __m512 sum[][L4LM_QUANT_ACTS], uint32_t a)
{
    __m512i s[2][2];
    UNROLL
    for (uint32_t i = 0; i < m; i++) {
        __m512i s8 = load256x2(act + (a + i) * st + l4lm_kern_qa_s8(nb) + 4 * (size_t)j);
        s8 = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_slli_epi32(s8, shift));
        UNROLL
        for (uint32_t p = 0; p < np; p++)
            s[i][p] = s8;
    }
    UNROLL
    for (int c = 0; c < 8; c++) {
        UNROLL
        for (uint32_t i = 0; i < m; i++) {
            __m512i xc = load256x2(x + (a + i) * st + 32 * c);
            UNROLL
            for (uint32_t p = 0; p < np; p++)
                s[i][p] = _mm512_dpbusd_epi32(s[i][p], q[p][c], xc);
        }
    }
    UNROLL
    for (uint32_t i = 0; i < m; i++) {
        UNROLL
        for (uint32_t p = 0; p < np; p++)
            sum[p][a + i] = add_blocks2(sum[p][a + i], s[i][p], dw[p], act + (a + i) * st, nb, j);
    }
}

/* quant_group for np (1 or 2) pairs of rows, rb bytes apart, in zmm:
** sum[p][a] gets activation row a's lanes of pair p. Each activation chunk
** is loaded once for all of them. */
INLINE void quant_wide(uint32_t t, const uint8_t *w, size_t rb, uint32_t np, const uint8_t *act,
                       size_t st, uint32_t nb, uint32_t na, __m512 sum[][L4LM_QUANT_ACTS])
{
    const size_t bb = l4lm_kern_bbytes(t);
    const int shift = t == L4LM_TYPE_Q8_0 ? 4 : 0; /* 16 s8, or s8 */
    for (uint32_t p = 0; p < np; p++)
        for (uint32_t a = 0; a < na; a++)
            sum[p][a] = _mm512_setzero_ps();
    for (uint32_t j = 0; j + 8 <= nb; j += 8) {
        __m512i q[2][8];
        __m512 dw[2];
        for (uint32_t p = 0; na == 1 && p < 2 * np; p++) /* decode: quant_far's streams */
            l4lm_kern_streams(w + p * rb + (size_t)j * bb, 8 * bb, L4LM_DECODE_QUANT_AHEAD);
        UNROLL
        for (uint32_t p = 0; p < np; p++)
            unpack8x2(t, w + 2 * p * rb + (size_t)j * bb, rb, q[p], &dw[p]);
        const uint8_t *x = act + (size_t)j * L4LM_QBLOCK;
        uint32_t a = 0;
        for (; a + 2 <= na; a += 2)
            wide_rows(q, dw, np, x, act, st, nb, j, shift, 2, sum, a);
        if (a < na)
            wide_rows(q, dw, np, x, act, st, nb, j, shift, 1, sum, a);
    }
}

/* hsum8 of the 4 rows of two pairs at once, in its order (lane j + 4,
** j + 2, j + 1): lane r of the result is row r's sum. */
static inline __m128 hsum4x8(__m512 z0, __m512 z1)
{
    __m512 lo = _mm512_shuffle_f32x4(z0, z1, _MM_SHUFFLE(2, 0, 2, 0)); /* lanes 0..3 of each row */
    __m512 hi = _mm512_shuffle_f32x4(z0, z1, _MM_SHUFFLE(3, 1, 3, 1)); /* lanes 4..7 */
    __m512 h = _mm512_add_ps(lo, hi);
    h = _mm512_add_ps(h, _mm512_permute_ps(h, _MM_SHUFFLE(1, 0, 3, 2)));
    h = _mm512_add_ps(h, _mm512_movehdup_ps(h));
    const __m512i first = _mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    return _mm512_castps512_ps128(_mm512_permutexvar_ps(first, h));
}

/* Four weight rows of Q4_0 or Q8_0 (two pairs) at w: their outputs into y
** (ys apart per activation row). Returns false for the other types. */
#define QUANT_QUADS 1
INLINE bool quant_quad(uint32_t t, const uint8_t *w, size_t rb, const uint8_t *act, size_t st,
                       uint32_t n, uint32_t na, float *y, size_t ys)
{
    if (t != L4LM_TYPE_Q4_0 && t != L4LM_TYPE_Q8_0)
        return false;
    uint32_t nb = n / L4LM_QBLOCK, done = nb / 8 * 8 * L4LM_QBLOCK;
    __m512 z[2][L4LM_QUANT_ACTS];
    quant_wide(t, w, rb, 2, act, st, nb, na, z);
    for (uint32_t a = 0; a < na; a++) {
        if (done == n) {
            _mm_storeu_ps(y + a * ys, hsum4x8(z[0][a], z[1][a]));
            continue;
        }
        for (uint32_t k = 0; k < 4; k++) {
            __m256 l = pair_row(z[k / 2][a], k % 2);
            y[a * ys + k] = finish(t, w + k * rb, act + a * st, n, done, &l, 1);
        }
    }
    return true;
}

/* Decode of Q4_0 and Q8_0: four weight rows gap rows apart (rb bytes
** each) from w, in quant_wide's two pairs, as streams (kernels.h,
** L4LM_DECODE_STREAMS): their outputs into y[0], y[gap], y[2 gap] and
** y[3 gap]. 4-layer TinyLlama-shape decode's products alone, one core
** (zen5, a busy machine, interleaved): Q4_0 ~24 GB/s one row at a time,
** ~27 so; Q8_0 ~26, ~30. */
#define QUANT_FAR 1
INLINE bool quant_far_type(uint32_t t)
{
    return t == L4LM_TYPE_Q4_0 || t == L4LM_TYPE_Q8_0;
}

INLINE void quant_far(uint32_t t, const uint8_t *w, size_t rb, uint32_t gap, const uint8_t *act,
                      uint32_t n, float *y)
{
    uint32_t nb = n / L4LM_QBLOCK, done = nb / 8 * 8 * L4LM_QBLOCK;
    __m512 z[2][L4LM_QUANT_ACTS];
    quant_wide(t, w, gap * rb, 2, act, 0, nb, 1, z);
    for (uint32_t k = 0; k < 4; k++) {
        __m256 l = pair_row(z[k / 2][0], k % 2);
        y[k * gap] = finish(t, w + k * gap * rb, act, n, done, &l, 1);
    }
}
#endif

#if defined(L4LM_VNNI) && defined(__AVX512VL__)

/* Two weight rows, rb bytes apart, in one pass over the activations:
** each activation chunk is loaded once for both (~10% on zen4). Their 16
** registers of quants need AVX-512's 32 (AVX-VNNI alone has 16). */
#define QUANT_PAIRS 1
INLINE void quant_pair(uint32_t t, const uint8_t *w, size_t rb, const uint8_t *act, size_t st,
                       uint32_t nb, uint32_t na, __m256 s0[][1], __m256 s1[][1])
{
#ifdef QUANT_WIDE
    if (t == L4LM_TYPE_Q4_0 || t == L4LM_TYPE_Q8_0) {
        __m512 z[1][L4LM_QUANT_ACTS];
        quant_wide(t, w, rb, 1, act, st, nb, na, z);
        for (uint32_t a = 0; a < na; a++) {
            s0[a][0] = pair_row(z[0][a], 0);
            s1[a][0] = pair_row(z[0][a], 1);
        }
        return;
    }
#endif
    __m256 *s[2] = {&s0[0][0], &s1[0][0]};
    quant_group(t, w, rb, 2, act, st, nb, na, s);
}

#endif

#endif
