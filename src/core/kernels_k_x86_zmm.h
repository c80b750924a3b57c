/*
** kernels_k_x86_zmm.h — private to kernels_k_x86.c (included there where
** the hosted build's variant has AVX-512 BW and VNNI, after the helpers it
** uses): the K-quant prefill paths in 512-bit vectors.
**
** rows4 (Q4_K, Q5_K): four weight rows a pass. 128-bit lane r of a vector
** holds 16 quants of row r's sub-block j, and each of the activation's
** 16-byte halves of sub-block j is broadcast to all four lanes. Sub-block
** j's two dpbusd then sum into the same 32-bit lanes of the same row and
** sub-block, 8 products each (Q5_K: at most 8 * 31 * 128 = 31744, so each
** lane is its low 16 bits), and one dpwssd with the scale in the low half
** of each lane applies it: three multiplies per 128 products of a row
** where rows2 takes four, and each activation byte loaded serves four rows,
** not two (zen5: ~25% faster than rows2; dpbusd ~4% faster than maddubs
** and an int16 add).
**
** rows2 (Q6_K): two weight rows a pass (below). Its 16-element scale
** groups leave no two products of a lane under one scale in rows4's
** layout, so four rows would gain nothing there.
**
** The integer sums are exact and the float steps those of kernels_k.h, so
** the bits are the C path's.
*/
/* rows2, Q6_K: two weight rows (r, r + 1) a pass, each vector holding
** sub-block j (32 elements, two scale groups) of both rows' super-block b,
** row r in its low half and r + 1 in its high half, against the
** activation's 32 quants of sub-block j in both halves. So the exact sums
** of a super-block come out as 8 lanes per row, with no folding, and the
** scales and the float steps serve both rows with one instruction. */
typedef struct kpair {
    __m512i q[8], s[8], mins; /* quants and scales of sub-block j; -32 scale per bsum */
} kpair;

/* The 32 bytes at p0 and at p1 as the halves of a vector. */
static inline __m512i two256(const uint8_t *p0, const uint8_t *p1)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(load256(p0)), load256(p1), 1);
}

/* Q6_K's super-block b of both rows into k: sub-block j is the quants of
** q6_k_ints (used unsigned, 0..63) with the scales of its two 16-element
** halves; mins holds -32 times the sixteen scales, for the bsums. */
INLINE void kpair_unpack6(const uint8_t *b0, const uint8_t *b1, kpair *k)
{
    const __m512i low4 = _mm512_set1_epi8(15), top2 = _mm512_set1_epi8(0x30);
    __m512i sc = _mm512_inserti64x4(
        _mm512_castsi256_si512(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b0 + 192)))),
        _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b1 + 192))), 1);
    UNROLL
    for (int h = 0; h < 2; h++) {
        __m512i l0 = two256(b0 + 64 * h, b1 + 64 * h),
                l1 = two256(b0 + 64 * h + 32, b1 + 64 * h + 32);
        __m512i hb = two256(b0 + 128 + 32 * h, b1 + 128 + 32 * h);
        __m512i *q = k->q + 4 * h;
        q[0] = _mm512_ternarylogic_epi32(_mm512_and_si512(l0, low4), _mm512_slli_epi16(hb, 4), top2,
                                         0xf8);
        q[1] = _mm512_ternarylogic_epi32(_mm512_and_si512(l1, low4), _mm512_slli_epi16(hb, 2), top2,
                                         0xf8);
        q[2] = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(l0, 4), low4), hb, top2,
                                         0xf8);
        q[3] = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(l1, 4), low4),
                                         _mm512_srli_epi16(hb, 2), top2, 0xf8);
    }
    UNROLL
    for (int j = 0; j < 8; j++) { /* scales 2j, 2j + 1 of row r, then of row r + 1 */
        short a = (short)(2 * j), b = (short)(2 * j + 1), c = (short)(16 + 2 * j),
              d = (short)(17 + 2 * j);
        __m512i idx = _mm512_inserti64x4(
            _mm512_castsi256_si512(
                _mm256_setr_epi16(a, a, a, a, a, a, a, a, b, b, b, b, b, b, b, b)),
            _mm256_setr_epi16(c, c, c, c, c, c, c, c, d, d, d, d, d, d, d, d), 1);
        k->s[j] = _mm512_permutexvar_epi16(idx, sc);
    }
    k->mins = _mm512_mullo_epi16(sc, _mm512_set1_epi16(-32));
}

/* Activation row a (quants x, bsums bs) against k: per 128-bit lane,
** partial sums as [isum, msum, isum, msum] of row r (lanes 0-1) and r + 1
** (lanes 2-3), msum zero (Q6_K has no mins; its bsum correction belongs
** to isum); pairs of lanes, unpacked, added. */
INLINE __m512i kpair_dot(const kpair *k, const uint8_t *x, const uint8_t *bs)
{
    __m512i acc = _mm512_setzero_si512();
    UNROLL
    for (int j = 0; j < 8; j++) {
        __m512i p = _mm512_maddubs_epi16(k->q[j], _mm512_broadcast_i64x4(load256(x + 32 * j)));
        acc = pin512(j ? _mm512_dpwssd_epi32(acc, p, k->s[j]) : _mm512_madd_epi16(p, k->s[0]));
    }
    acc = _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_broadcast_i64x4(load256(bs)), k->mins));
    __m512i m = _mm512_setzero_si512();
    return _mm512_add_epi32(_mm512_unpacklo_epi32(acc, m), _mm512_unpackhi_epi32(acc, m));
}

/* d | dmin << 16 of super-blocks b0.. of rows r and r + 1 past cnt zero. */
INLINE void kpair_scales(uint32_t t, const uint8_t *w0, const uint8_t *w1, size_t bb, uint32_t cnt,
                         uint32_t *dd)
{
    for (uint32_t k = 0; k < LANES; k++) {
        dd[k] = k < cnt ? d_dmin(t, w0 + k * bb) : 0;
        dd[LANES + k] = k < cnt ? d_dmin(t, w1 + k * bb) : 0;
    }
}

/* The group's table of one activation row (four entries, one per pair of
** super-blocks 2i, 2i + 1: per lane [i, m, i', m'] partial) as the isum
** and msum of its eight super-blocks, row r in lanes 0-7, r + 1 in 8-15. */
INLINE void kpair_sums(const __m512i *e, __m512i *is, __m512i *ms)
{
    __m512i y[4];
    UNROLL
    for (int i = 0; i < 4; i++) /* lane 0 + lane 1, lane 2 + lane 3 */
        y[i] = _mm512_add_epi32(e[i], _mm512_shuffle_i64x2(e[i], e[i], 0xb1));
    const __m512i pick =
        _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);
    __m512i p01 = _mm512_permutex2var_epi32(y[0], pick, y[1]); /* i0 m0 i1 m1 i2 m2 i3 m3 | r + 1 */
    __m512i p23 = _mm512_permutex2var_epi32(y[2], pick, y[3]);
    const __m512i even =
        _mm512_setr_epi32(0, 2, 4, 6, 16, 18, 20, 22, 8, 10, 12, 14, 24, 26, 28, 30);
    *is = _mm512_permutex2var_epi32(p01, even, p23);
    *ms = _mm512_permutex2var_epi32(p01, _mm512_add_epi32(even, _mm512_set1_epi32(1)), p23);
}

/* The d and dmin (fp16 words, kernels_k_x86.c's d_dmin) of 16 super-blocks
** as floats. */
static inline void scales16(const uint32_t *dd, __m512 *d, __m512 *dmin)
{
    __m512i v = _mm512_loadu_si512(dd);
    *d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(v));
    *dmin = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(v, 16)));
}

/* Activation row a's dx of super-blocks b0.. (live lanes, the rest +0) in
** both halves. Lanes past the end then have zero scales, sums and dx, so
** their steps add +-0 (kernels_k.h). */
static inline __m512 dx_both(const uint8_t *act, size_t st, uint32_t nb, uint32_t a, uint32_t b0,
                             __mmask8 live)
{
    const float *dxp = (const float *)(act + a * st + l4lm_kq_d(nb)) + b0;
    __m256 dx8 = _mm256_maskz_loadu_ps(live, dxp);
    return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_castps_pd(dx8)),
                                               _mm256_castps_pd(dx8), 1));
}

/* kernels_k.h's float step (l4lm_kq_step) of 16 lanes. */
static inline __m512 step16(__m512 acc, __m512i is, __m512i ms, __m512 d, __m512 dmin, __m512 dx)
{
    return _mm512_add_ps(
        acc, _mm512_sub_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(is), _mm512_mul_ps(d, dx)),
                           _mm512_mul_ps(_mm512_cvtepi32_ps(ms), _mm512_mul_ps(dmin, dx))));
}

/* kernels_k.h's lane sum of the eight lanes of each half of acc, into y0, y1. */
static inline void lanes_sum2(__m512 acc, float *y0, float *y1)
{
    *y0 = lanes_sum(_mm512_castps512_ps256(acc));
    *y1 = lanes_sum(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc), 1)));
}

INLINE void rows2(uint32_t t, const uint8_t *w, size_t rb, const uint8_t *act, size_t st,
                  uint32_t n, uint32_t na, uint32_t r0, uint32_t r1, float *y, size_t ys,
                  bool ahead)
{
    uint32_t nb = n / L4LM_QK_K;
    const size_t bb = L4LM_Q6_K_BYTES;
    __m512i e[KQ_TILE][LANES / 2];
    uint32_t dd[2 * LANES];
    for (uint32_t r = r0; r < r1; r += 2) {
        uint32_t r2 = r + 1 < r1 ? r + 1 : r; /* an odd last row pairs with itself */
        const uint8_t *row0 = w + r * rb, *row1 = w + r2 * rb;
        __m512 acc[KQ_TILE];
        for (uint32_t a = 0; a < na; a++)
            acc[a] = _mm512_setzero_ps();
        for (uint32_t b0 = 0; b0 < nb; b0 += LANES) {
            uint32_t cnt = nb - b0 < LANES ? nb - b0 : LANES; /* super-blocks in this group */
            for (uint32_t k = 0; k < LANES; k += 2) {
                uint32_t b = b0 + k;
                /* cppcheck 2.10 takes cnt for 0, though b0 < nb makes it 1..8 */
                // cppcheck-suppress knownConditionTrueFalse
                if (k >= cnt) { /* pairs past the end: zero sums */
                    for (uint32_t a = 0; a < na; a++)
                        e[a][k / 2] = _mm512_setzero_si512();
                    continue;
                }
                __m512i t0[KQ_TILE], t1[KQ_TILE];
                kpair kp;
                if (ahead) {
                    prefetch_ahead(row0 + b * bb, rb, 2 * bb);
                    prefetch_ahead(row1 + b * bb, rb, 2 * bb);
                }
                /* The next pair's weights to level 1 while this one's many dots
                ** run: they fill the reorder buffer, so that level 2's latency
                ** would otherwise show at every pair. */
                for (size_t o = 0; o < 2 * bb; o += 64) {
                    _mm_prefetch((const char *)(row0 + (b + 2) * bb + o), _MM_HINT_T0);
                    _mm_prefetch((const char *)(row1 + (b + 2) * bb + o), _MM_HINT_T0);
                }
                kpair_unpack6(row0 + b * bb, row1 + b * bb, &kp);
                for (uint32_t a = 0; a < na; a++)
                    t0[a] = kpair_dot(&kp, ACT_Q(a, 0), ACT_BSUM(a));
                if (k + 1 < cnt) {
                    kpair_unpack6(row0 + (b + 1) * bb, row1 + (b + 1) * bb, &kp);
                    for (uint32_t a = 0; a < na; a++)
                        t1[a] = kpair_dot(&kp, ACT_Q(a, L4LM_QK_K), ACT_BSUM(a) + 32);
                } else {
                    for (uint32_t a = 0; a < na; a++)
                        t1[a] = _mm512_setzero_si512();
                }
                for (uint32_t a = 0; a < na; a++) /* [i m i' m'] of b and b + 1, per lane */
                    e[a][k / 2] = _mm512_add_epi32(_mm512_unpacklo_epi64(t0[a], t1[a]),
                                                   _mm512_unpackhi_epi64(t0[a], t1[a]));
            }
            kpair_scales(t, row0 + b0 * bb, row1 + b0 * bb, bb, cnt, dd);
            __m512 d, dmin;
            scales16(dd, &d, &dmin);
            __mmask8 live = (__mmask8)((1u << cnt) - 1);
            for (uint32_t a = 0; a < na; a++) {
                __m512i is, ms;
                kpair_sums(e[a], &is, &ms);
                acc[a] = step16(acc[a], is, ms, d, dmin, dx_both(act, st, nb, a, b0, live));
            }
        }
        for (uint32_t a = 0; a < na; a++) {
            float y0, y1;
            lanes_sum2(acc[a], &y0, &y1);
            y[a * ys + r] = y0;
            y[a * ys + r2] = y1;
        }
    }
}

/* The 16 bytes at off in each of the four blocks p[0..3], as lanes 0..3. */
static inline __m512i four128(const uint8_t *const *p, size_t off)
{
    __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(p[0] + off)));
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p[1] + off)), 1);
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p[2] + off)), 2);
    return _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p[3] + off)), 3);
}

static inline __m512i bcast128(const uint8_t *p)
{
    return _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)p));
}

/* One super-block of four rows (blocks at p[0..3]) unpacked: w[2j], w[2j + 1]
** the two 16-quant halves of sub-block j, s[j] its scales (low 16 bits of each 32),
** mlo and mhi the mins per bsum of bsums 0-7 (mins 0-3, each twice) and
** 8-15 (mins 4-7). */
typedef struct quad {
    __m512i w[16], s[8], mlo, mhi;
} quad;

INLINE void quad_unpack(const uint8_t *const *p, bool five, quad *k)
{
    const __m512i low4 = _mm512_set1_epi8(15), bit4 = _mm512_set1_epi8(16);
    size_t off = five ? 48 : 16;
    __m512i sm = _mm512_inserti32x4(
        _mm512_inserti32x4(
            _mm512_inserti32x4(_mm512_castsi128_si512(scales_k4(p[0])), scales_k4(p[1]), 1),
            scales_k4(p[2]), 2),
        scales_k4(p[3]), 3);
    __m512i hl = _mm512_setzero_si512(), hh = _mm512_setzero_si512();
    if (five)
        hl = four128(p, 16), hh = four128(p, 32);
    UNROLL
    for (int j = 0; j < 8; j++) { /* sub-block j: nibble j % 2 of quant bytes 32 (j / 2).. */
        __m512i w0 = four128(p, off + 32 * (j / 2)), w1 = four128(p, off + 32 * (j / 2) + 16);
        if (j % 2)
            w0 = _mm512_srli_epi16(w0, 4), w1 = _mm512_srli_epi16(w1, 4);
        w0 = _mm512_and_si512(w0, low4), w1 = _mm512_and_si512(w1, low4);
        if (five) { /* bit j of each qh byte to bit 4 (shifts stay in the byte) */
            __m512i h0 = j < 4 ? _mm512_slli_epi16(hl, 4 - j) : _mm512_srli_epi16(hl, j - 4);
            __m512i h1 = j < 4 ? _mm512_slli_epi16(hh, 4 - j) : _mm512_srli_epi16(hh, j - 4);
            w0 = _mm512_ternarylogic_epi32(w0, h0, bit4, 0xf8);
            w1 = _mm512_ternarylogic_epi32(w1, h1, bit4, 0xf8);
        }
        k->w[2 * j] = w0, k->w[2 * j + 1] = w1;
        k->s[j] = _mm512_shuffle_epi8(sm, _mm512_set1_epi32((int)(0x80808000u | j)));
    }
    k->mlo =
        _mm512_shuffle_epi8(sm, _mm512_broadcast_i32x4(_mm_setr_epi8(8, -1, 8, -1, 9, -1, 9, -1, 10,
                                                                     -1, 10, -1, 11, -1, 11, -1)));
    k->mhi = _mm512_shuffle_epi8(
        sm, _mm512_broadcast_i32x4(
                _mm_setr_epi8(12, -1, 12, -1, 13, -1, 13, -1, 14, -1, 14, -1, 15, -1, 15, -1)));
}

/* Activation row a (quants x, bsums bs) against k: per lane r, partial
** sums [i m i m] of row r whose i add to its isum and m to its msum. */
INLINE __m512i quad_dot(const quad *k, const uint8_t *x, const uint8_t *bs)
{
    __m512i acc[2]; /* even and odd sub-blocks: two chains of dpwssd */
    UNROLL
    for (int j = 0; j < 8; j++) {
        __m512i t = _mm512_dpbusd_epi32(
            _mm512_dpbusd_epi32(_mm512_setzero_si512(), k->w[2 * j], bcast128(x + 32 * j)),
            k->w[2 * j + 1], bcast128(x + 32 * j + 16));
        acc[j % 2] = pin512(j > 1 ? _mm512_dpwssd_epi32(acc[j % 2], t, k->s[j])
                                  : _mm512_madd_epi16(t, k->s[j]));
    }
    __m512i m =
        _mm512_dpwssd_epi32(_mm512_madd_epi16(bcast128(bs), k->mlo), bcast128(bs + 16), k->mhi);
    __m512i i = _mm512_add_epi32(acc[0], acc[1]);
    return _mm512_add_epi32(_mm512_unpacklo_epi32(i, m), _mm512_unpackhi_epi32(i, m));
}

/* A group's eight [i m i m] vectors of one activation row (f[k]: super-
** block b0 + k) as isum and msum: is[0] rows 0 and 1 (lanes 0-7, 8-15:
** super-blocks b0..b0 + 7), is[1] rows 2 and 3; ms alike. */
INLINE void quad_sums(const __m512i *f, __m512i *is, __m512i *ms)
{
    __m512i e[4];
    UNROLL
    for (int i = 0; i < 4; i++) /* per lane: I, M of 2i, then of 2i + 1 */
        e[i] = _mm512_add_epi32(_mm512_unpacklo_epi64(f[2 * i], f[2 * i + 1]),
                                _mm512_unpackhi_epi64(f[2 * i], f[2 * i + 1]));
    const __m512i pi = _mm512_setr_epi32(0, 2, 16, 18, 4, 6, 20, 22, 8, 10, 24, 26, 12, 14, 28, 30);
    const __m512i pm = _mm512_add_epi32(pi, _mm512_set1_epi32(1));
    const __m512i r01 = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
    const __m512i r23 = _mm512_add_epi32(r01, _mm512_set1_epi32(8));
    __m512i i03 = _mm512_permutex2var_epi32(e[0], pi, e[1]); /* per lane r: I0 I1 I2 I3 */
    __m512i i47 = _mm512_permutex2var_epi32(e[2], pi, e[3]);
    __m512i m03 = _mm512_permutex2var_epi32(e[0], pm, e[1]);
    __m512i m47 = _mm512_permutex2var_epi32(e[2], pm, e[3]);
    is[0] = _mm512_permutex2var_epi32(i03, r01, i47);
    is[1] = _mm512_permutex2var_epi32(i03, r23, i47);
    ms[0] = _mm512_permutex2var_epi32(m03, r01, m47);
    ms[1] = _mm512_permutex2var_epi32(m03, r23, m47);
}

INLINE void rows4(uint32_t t, const uint8_t *w, size_t rb, const uint8_t *act, size_t st,
                  uint32_t n, uint32_t na, uint32_t r0, uint32_t r1, float *y, size_t ys,
                  bool ahead)
{
    uint32_t nb = n / L4LM_QK_K;
    bool five = t == L4LM_TYPE_Q5_K;
    size_t bb = five ? L4LM_Q5_K_BYTES : L4LM_Q4_K_BYTES;
    __m512i f[KQ_TILE][LANES];
    __m512 acc[KQ_TILE][2];
    uint32_t dd[4 * LANES];
    for (uint32_t r = r0; r < r1; r += 4) {
        const uint8_t *row[4];
        for (uint32_t i = 0; i < 4; i++) /* rows past r1 repeat the last */
            row[i] = w + (r + i < r1 ? r + i : r1 - 1) * rb;
        for (uint32_t a = 0; a < na; a++)
            acc[a][0] = acc[a][1] = _mm512_setzero_ps();
        for (uint32_t b0 = 0; b0 < nb; b0 += LANES) {
            uint32_t cnt = nb - b0 < LANES ? nb - b0 : LANES; /* super-blocks in this group */
            for (uint32_t k = 0; k < LANES; k++) {
                uint32_t b = b0 + k;
                // cppcheck-suppress knownConditionTrueFalse
                if (k >= cnt) { /* past the end: zero sums */
                    for (uint32_t a = 0; a < na; a++)
                        f[a][k] = _mm512_setzero_si512();
                    continue;
                }
                const uint8_t *p[4];
                for (uint32_t i = 0; i < 4; i++) {
                    p[i] = row[i] + b * bb;
                    if (ahead)
                        prefetch_ahead(p[i], rb, bb);
                    /* the next super-block to level 1 while this one's dots run */
                    for (size_t o = 0; o < bb; o += 64)
                        _mm_prefetch((const char *)(p[i] + bb + o), _MM_HINT_T0);
                }
                quad q;
                quad_unpack(p, five, &q);
                for (uint32_t a = 0; a < na; a++)
                    f[a][k] = quad_dot(&q, ACT_Q(a, 0), ACT_BSUM(a));
            }
            for (uint32_t i = 0; i < 4; i++)
                for (uint32_t k = 0; k < LANES; k++)
                    dd[LANES * i + k] = k < cnt ? d_dmin(t, row[i] + (b0 + k) * bb) : 0;
            __m512 d[2], dmin[2];
            for (int h = 0; h < 2; h++)
                scales16(dd + 2 * LANES * h, &d[h], &dmin[h]);
            __mmask8 live = (__mmask8)((1u << cnt) - 1);
            for (uint32_t a = 0; a < na; a++) {
                __m512 dx = dx_both(act, st, nb, a, b0, live);
                __m512i is[2], ms[2];
                quad_sums(f[a], is, ms);
                for (int h = 0; h < 2; h++)
                    acc[a][h] = step16(acc[a][h], is[h], ms[h], d[h], dmin[h], dx);
            }
        }
        for (uint32_t a = 0; a < na; a++)
            for (uint32_t i = 0; i < 4 && r + i < r1; i++) {
                float y0, y1;
                lanes_sum2(acc[a][i / 2], &y0, &y1);
                y[a * ys + r + i] = i % 2 ? y1 : y0;
            }
    }
}
