/*
** kernels_tile.h — the part of the SIMD matrix kernels that is the same on
** every architecture: walking the rows of a tile, and one copy of the loops
** per weight type. Included once, near the end, by kernels_x86.c and
** kernels_arm.c after each defines its own primitives: ACC_VEC and ACC_VECS
** (the registers holding one activation row's 8 quantised lanes),
** FLOAT_VECS (those holding its 32 float lanes), float_pass(),
** quant_lanes(), finish(), prefetch_row(), INLINE, UNROLL; for prefill's
** blocked float product FVEC (a register of FV_LANES floats), fv_load(),
** fv_zero(), fv_mac() (add after multiply, or fused where that gives the
** same bits), fv_acc() (one pair's FV_REGS registers as FLOAT_VECS
** ACC_VECs) and the tile, FLOAT_TR weight rows by FLOAT_TA activation rows
** in FLOAT_SPLIT passes, fv_raw() (2 FV_LANES halves as they are, a
** BF16 pair to a lane), fv_odd() and fv_even() (a lane's elements as
** floats); FLOAT_BF16_DP when it has fv_dot() (vdpbf16ps), FLOAT_DP_TR
** and FLOAT_DP_TA, FLOAT_DP_WIDE_TR and FLOAT_DP_WIDE_TA when that has its
** own tiles for narrow and wide rows, FLOAT_DP_ACCS for the registers of
** sums a pass of them may take, FLOAT_DP_CHUNK when wide rows go in
** chunks of that many elements (dp_wide);
** FLOAT_WIDE_HALVES when F16's wide rows read activations as halves; and
** SIMD_F16 when it has
** an F16 path, FLOAT_GROUP when it has float_group() (decode over several
** weight rows at once), QUANT_PAIRS when it has quant_pair() (quant_lanes
** for two weight rows at once), QUANT_QUADS when it has quant_quad() (four
** rows, their outputs written), QUANT_DECODE_PREFETCH when decode's
** quantised rows have their own prefetch_decode(); FLOAT_DEC_ROWS when
** decode's F16 and BF16 rows go that many at a time (float_dec) and
** QUANT_FAR when its Q4_0 and Q8_0 rows go 4 at a time (quant_far), as
** streams (kernels.h, L4LM_DECODE_STREAMS).
*/

/* Decode of F32 and F16: the one activation row read as halves for F16
** (the same values), and the rows left to the hardware prefetcher: asking for them
** as well cost a fifth of the bandwidth (zen4, F16, one core). */
INLINE void float_decode(uint32_t t, const uint8_t *w, size_t rb, const uint8_t *act, uint32_t n,
                         uint32_t r0, uint32_t r1, float *y)
{
    const uint8_t *x = t == L4LM_TYPE_F32 ? act : l4lm_kern_halves(act, n);
    uint32_t r = r0;
#ifdef FLOAT_GROUP
    size_t xb = (size_t)n * (t == L4LM_TYPE_F32 ? 4 : 2);
    for (; xb > L4LM_DECODE_ACT_BYTES && r + FLOAT_GROUP <= r1; r += FLOAT_GROUP) {
        ACC_VEC s[FLOAT_GROUP][FLOAT_VECS];
        uint32_t done = float_group(t, w + r * rb, rb, x, n, s);
        for (uint32_t k = 0; k < FLOAT_GROUP; k++)
            y[r + k] = finish(t, w + (r + k) * rb, act, n, done, s[k], FLOAT_VECS);
    }
#endif
    for (; r < r1; r++) {
        ACC_VEC s[1][FLOAT_VECS];
        uint32_t done = float_pass(t, t, w + r * rb, x, 0, n, 1, s);
        y[r] = finish(t, w + r * rb, act, n, done, s[0], FLOAT_VECS);
    }
}

/* Prefill's float products as a blocked matrix product: a tile of nr <=
** FLOAT_TR weight rows (w, rb bytes apart) by na <= FLOAT_TA activation rows
** (act, st apart; read as floats, or as halves when at is t), every pair's
** 32 lanes in registers while the rows pass, so each weight vector is
** widened once for na rows and each activation vector loaded once for nr.
** With too few registers for all 32 lanes of every pair, the tile takes
** several passes over the rows (fv_split: FLOAT_SPLIT, or for vdpbf16ps
** those its tile needs within FLOAT_DP_ACCS registers), each pass kp of the
** FV_REGS registers (lanes 8k..8k+7 for AVX2), parking the finished ones
** in z. Every lane still adds its elements in order, and finish() sums the
** lanes in the fixed tree: the bits of one float_pass per output. */
#define FV_REGS (L4LM_LANES / FV_LANES)
#ifndef FLOAT_DP_TA /* vdpbf16ps's own tiles, narrow rows and wide, where it has them */
#define FLOAT_DP_TR      FLOAT_TR
#define FLOAT_DP_TA      FLOAT_TA
#define FLOAT_DP_WIDE_TR FLOAT_TR
#define FLOAT_DP_WIDE_TA FLOAT_TA
#endif
/* The largest tiles, sizing the registers' arrays (by the preprocessor: a
** conditional expression would have equal arms in some builds). */
#if FLOAT_DP_WIDE_TR > FLOAT_TR && FLOAT_DP_WIDE_TR >= FLOAT_DP_TR
#define FLOAT_TR_MAX FLOAT_DP_WIDE_TR
#elif FLOAT_DP_TR > FLOAT_TR
#define FLOAT_TR_MAX FLOAT_DP_TR
#else
#define FLOAT_TR_MAX FLOAT_TR
#endif
#if FLOAT_DP_WIDE_TA > FLOAT_TA && FLOAT_DP_WIDE_TA >= FLOAT_DP_TA
#define FLOAT_TA_MAX FLOAT_DP_WIDE_TA
#elif FLOAT_DP_TA > FLOAT_TA
#define FLOAT_TA_MAX FLOAT_DP_TA
#else
#define FLOAT_TA_MAX FLOAT_TA
#endif
_Static_assert(L4LM_FLOAT_ACTS % FLOAT_TA == 0 && L4LM_FLOAT_NARROW_ACTS % FLOAT_TA == 0 &&
                   L4LM_FLOAT_ACTS % FLOAT_DP_WIDE_TA == 0 &&
                   L4LM_FLOAT_DP_NARROW_ACTS % FLOAT_DP_TA == 0,
               "kernels.c hands the float types whole tiles");

INLINE bool fv_bf16(uint32_t t)
{
    return t == L4LM_TYPE_BF16 || t == L4LM_KTYPE_BF16_DP;
}

/* Passes over the row a tile of type t, nr by na, takes. */
INLINE uint32_t fv_split(uint32_t t, uint32_t nr, uint32_t na)
{
#ifdef FLOAT_DP_ACCS
    if (t == L4LM_KTYPE_BF16_DP)
        return nr * na * FV_REGS > FLOAT_DP_ACCS ? FV_REGS : 1;
#endif
    (void)t, (void)nr, (void)na;
    return FLOAT_SPLIT;
}

/* Register k of a pair's lanes for the elements from i: elements
** i + FV_LANES k .. of a weight row, and of an activation row (floats, or
** halves); for BF16 the 2 FV_LANES halves from i + 2 FV_LANES k as they
** are, lane j holding a pair, for fv_mac to split. */
INLINE FVEC fv_weights(uint32_t t, const uint8_t *row, size_t i, uint32_t k)
{
    if (fv_bf16(t))
        return fv_raw(row + 2 * (i + 2 * FV_LANES * (size_t)k));
    return fv_load(t, row + (i + k * FV_LANES) * (t == L4LM_TYPE_F32 ? 4 : 2));
}

INLINE FVEC fv_acts(uint32_t t, uint32_t at, const uint8_t *act, uint32_t n, size_t i, uint32_t k)
{
    if (fv_bf16(t))
        return fv_raw(l4lm_kern_halves(act, n) + 2 * (i + 2 * FV_LANES * (size_t)k));
    if (at != L4LM_TYPE_F32)
        return fv_load(at, l4lm_kern_halves(act, n) + (i + k * FV_LANES) * 2);
    return fv_load(L4LM_TYPE_F32, act + (i + k * FV_LANES) * 4);
}
#ifndef FLOAT_WIDE_HALVES
#define FLOAT_WIDE_HALVES 0
#endif
/* One register of BF16 pairs into its lanes: the odd elements' products,
** then the even ones' (kernels.h); fv_dot() (vdpbf16ps) does both in one
** for L4LM_KTYPE_BF16_DP, where the architecture has it. */
INLINE FVEC fv_pairs(uint32_t t, FVEC z, FVEC w, FVEC x)
{
#ifdef FLOAT_BF16_DP
    if (t == L4LM_KTYPE_BF16_DP)
        return fv_dot(z, w, x);
#endif
    (void)t;
    z = fv_mac(L4LM_TYPE_F32, z, fv_odd(w), fv_odd(x));
    return fv_mac(L4LM_TYPE_F32, z, fv_even(w), fv_even(x));
}

/* Pass p of a tile over the elements i0..i1-1: lanes kp p .. of every pair
** added into v (kp = FV_REGS over the passes). */
INLINE void float_run(uint32_t t, uint32_t at, const uint8_t *w, size_t rb, const uint8_t *act,
                      size_t st, uint32_t n, uint32_t i0, uint32_t i1, uint32_t nr, uint32_t na,
                      uint32_t p, FVEC v[FLOAT_TR_MAX][FLOAT_TA_MAX][FV_REGS])
{
    const uint32_t kp = FV_REGS / fv_split(t, nr, na);
    for (uint32_t i = i0; i < i1; i += l4lm_kern_float_step(t)) {
        UNROLL
        for (uint32_t k = 0; k < kp; k++) {
            FVEC wv[FLOAT_TR_MAX];
            UNROLL
            for (uint32_t r = 0; r < nr; r++)
                wv[r] = fv_weights(t, w + r * rb, i, p * kp + k);
            UNROLL
            for (uint32_t a = 0; a < na; a++) {
                FVEC x = fv_acts(t, at, act + a * st, n, i, p * kp + k);
                UNROLL
                for (uint32_t r = 0; r < nr; r++)
                    v[r][a][k] = fv_bf16(t) ? fv_pairs(t, v[r][a][k], wv[r], x)
                                            : fv_mac(t, v[r][a][k], wv[r], x);
            }
        }
    }
}

/* Pass p of a tile: lanes kp p .. of every pair into v. */
INLINE void float_lanes(uint32_t t, uint32_t at, const uint8_t *w, size_t rb, const uint8_t *act,
                        size_t st, uint32_t n, uint32_t done, uint32_t nr, uint32_t na, uint32_t p,
                        FVEC v[FLOAT_TR_MAX][FLOAT_TA_MAX][FV_REGS])
{
    const uint32_t kp = FV_REGS / fv_split(t, nr, na);
    UNROLL
    for (uint32_t r = 0; r < nr; r++) {
        UNROLL
        for (uint32_t a = 0; a < na; a++) {
            UNROLL
            for (uint32_t k = 0; k < kp; k++)
                v[r][a][k] = fv_zero();
        }
    }
    float_run(t, at, w, rb, act, st, n, 0, done, nr, na, p, v);
}

/* The tile's passes, all but the last parked in z, then its outputs. */
INLINE void float_block(uint32_t t, uint32_t at, const uint8_t *w, size_t rb, const uint8_t *act,
                        size_t st, uint32_t n, uint32_t nr, uint32_t na, float *y, size_t ys)
{
    const uint32_t sp = fv_split(t, nr, na), kp = FV_REGS / sp, parked = FV_REGS - kp;
    uint32_t done = n / l4lm_kern_float_step(t) * l4lm_kern_float_step(t);
    FVEC v[FLOAT_TR_MAX][FLOAT_TA_MAX][FV_REGS];
    FVEC z[FLOAT_TR_MAX][FLOAT_TA_MAX][FV_REGS - 1]; /* at least one pass's lanes not parked */
    for (uint32_t p = 0; p + 1 < sp; p++) {
        float_lanes(t, at, w, rb, act, st, n, done, nr, na, p, v);
        UNROLL
        for (uint32_t r = 0; r < nr; r++) {
            UNROLL
            for (uint32_t a = 0; a < na; a++) {
                UNROLL
                for (uint32_t k = 0; k < kp; k++)
                    z[r][a][p * kp + k] = v[r][a][k];
            }
        }
    }
    float_lanes(t, at, w, rb, act, st, n, done, nr, na, sp - 1, v);
    UNROLL
    for (uint32_t r = 0; r < nr; r++) {
        UNROLL
        for (uint32_t a = 0; a < na; a++) {
            FVEC l[FV_REGS];
            ACC_VEC s[FLOAT_VECS];
            UNROLL
            for (uint32_t k = 0; k < FV_REGS; k++)
                l[k] = k < parked ? z[r][a][k] : v[r][a][k - parked];
            fv_acc(t, l, s);
            y[a * ys + r] = finish(t, w + r * rb, act + a * st, n, done, s, FLOAT_VECS);
        }
    }
}

/* float_block for a leading part of na activation rows, with a constant
** count (FLOAT_TA, or 3, 2, 1 for the rest), each its own copy of the
** loops. Returns the rows done. */
INLINE uint32_t float_blocks(uint32_t t, uint32_t at, const uint8_t *w, size_t rb,
                             const uint8_t *act, size_t st, uint32_t n, uint32_t nr, uint32_t na,
                             float *y, size_t ys)
{
    _Static_assert(FLOAT_TA >= 3, "float_blocks takes the rest in 3, 2 and 1 rows");
#if FLOAT_TA > 3
    if (na >= FLOAT_TA) {
        float_block(t, at, w, rb, act, st, n, nr, FLOAT_TA, y, ys);
        return FLOAT_TA;
    }
#endif
    if (na >= 3) {
        float_block(t, at, w, rb, act, st, n, nr, 3, y, ys);
        return 3;
    }
    if (na == 2) {
        float_block(t, at, w, rb, act, st, n, nr, 2, y, ys);
        return 2;
    }
    float_block(t, at, w, rb, act, st, n, nr, 1, y, ys);
    return 1;
}

/* Prefill: FLOAT_TR weight rows at a time (single rows at the end of the
** range), each against the activations FLOAT_TA rows at a time. */
INLINE void float_gemm(uint32_t t, uint32_t at, const uint8_t *w, size_t rb, const uint8_t *act,
                       size_t st, uint32_t n, uint32_t na, uint32_t r0, uint32_t r1, float *y,
                       size_t ys, bool ahead)
{
    for (uint32_t r = r0; r < r1;) {
        uint32_t nr = na > 1 && r1 - r >= FLOAT_TR ? FLOAT_TR : 1; /* decode: a row at a time */
        for (uint32_t k = 0; ahead && k < nr; k++)
            prefetch_row(w + (r + k) * rb, rb);
        for (uint32_t a = 0; a < na;) {
            if (nr == FLOAT_TR)
                a += float_blocks(t, at, w + r * rb, rb, act + a * st, st, n, FLOAT_TR, na - a,
                                  y + a * ys + r, ys);
            else
                a += float_blocks(t, at, w + r * rb, rb, act + a * st, st, n, 1, na - a,
                                  y + a * ys + r, ys);
        }
        r += nr;
    }
}

#ifdef FLOAT_BF16_DP
/* float_gemm for vdpbf16ps: tr weight rows by ta activation rows, the rest
** as float_gemm takes them. */
INLINE void dp_gemm(uint32_t t, const uint8_t *w, size_t rb, const uint8_t *act, size_t st,
                    uint32_t n, uint32_t na, uint32_t r0, uint32_t r1, float *y, size_t ys,
                    bool ahead, uint32_t tr, uint32_t ta)
{
    for (uint32_t r = r0; r < r1;) {
        uint32_t nr = r1 - r >= tr ? tr : 1;
        for (uint32_t k = 0; ahead && k < nr; k++)
            prefetch_row(w + (r + k) * rb, rb);
        for (uint32_t a = 0; a < na;) {
            const uint8_t *wr = w + r * rb, *ar = act + a * st;
            float *yr = y + a * ys + r;
            if (nr == tr && na - a >= ta) {
                float_block(t, t, wr, rb, ar, st, n, tr, ta, yr, ys);
                a += ta;
            } else if (nr == tr) {
                a += float_blocks(t, t, wr, rb, ar, st, n, tr, na - a, yr, ys);
            } else {
                a += float_blocks(t, t, wr, rb, ar, st, n, 1, na - a, yr, ys);
            }
        }
        r += nr;
    }
}

#ifdef FLOAT_DP_CHUNK
/* Wide rows for vdpbf16ps, whole tiles of FLOAT_DP_WIDE_TR by _TA: all the
** range's tiles a chunk of FLOAT_DP_CHUNK elements at a time, their lanes
** parked between chunks (each lane still adds its pairs in order), so the
** activations' chunk stays in level 1 while the weight rows pass. Returns
** the rows done. */
INLINE uint32_t dp_wide(uint32_t t, const uint8_t *w, size_t rb, const uint8_t *act, size_t st,
                        uint32_t n, uint32_t r0, uint32_t r1, float *y, size_t ys, bool ahead)
{
    enum { TR = FLOAT_DP_WIDE_TR, TA = FLOAT_DP_WIDE_TA, G = L4LM_FLOAT_WIDE_PANEL / TR };
    const uint32_t sp = fv_split(t, TR, TA), kp = FV_REGS / sp;
    uint32_t done = n / l4lm_kern_float_step(t) * l4lm_kern_float_step(t);
    uint32_t ng = (r1 - r0 < G * TR ? r1 - r0 : G * TR) / TR;
    FVEC park[G][TR][TA][FV_REGS];
    for (uint32_t g = 0; ahead && g < ng * TR; g++)
        prefetch_row(w + (r0 + g) * rb, rb);
    for (uint32_t c = 0; c < done; c += FLOAT_DP_CHUNK) {
        uint32_t ce = done - c > FLOAT_DP_CHUNK ? c + FLOAT_DP_CHUNK : done;
        for (uint32_t g = 0; g < ng; g++)
            for (uint32_t p = 0; p < sp; p++) {
                FVEC v[FLOAT_TR_MAX][FLOAT_TA_MAX][FV_REGS];
                UNROLL
                for (uint32_t r = 0; r < TR; r++) {
                    UNROLL
                    for (uint32_t a = 0; a < TA; a++) {
                        UNROLL
                        for (uint32_t k = 0; k < kp; k++)
                            v[r][a][k] = c ? park[g][r][a][p * kp + k] : fv_zero();
                    }
                }
                float_run(t, t, w + (r0 + g * TR) * rb, rb, act, st, n, c, ce, TR, TA, p, v);
                UNROLL
                for (uint32_t r = 0; r < TR; r++) {
                    UNROLL
                    for (uint32_t a = 0; a < TA; a++) {
                        UNROLL
                        for (uint32_t k = 0; k < kp; k++)
                            park[g][r][a][p * kp + k] = v[r][a][k];
                    }
                }
            }
    }
    for (uint32_t g = 0; g < ng; g++)
        for (uint32_t r = 0; r < TR; r++)
            for (uint32_t a = 0; a < TA; a++) {
                ACC_VEC s[FLOAT_VECS];
                const uint8_t *wr = w + (r0 + g * TR + r) * rb;
                fv_acc(t, park[g][r][a], s);
                y[a * ys + r0 + g * TR + r] = finish(t, wr, act + a * st, n, done, s, FLOAT_VECS);
            }
    return ng * TR;
}
#endif
#endif

#ifdef FLOAT_BF16_DP
/* vdpbf16ps's prefill: narrow rows in its narrow tiles, wide ones in its
** wide tiles, in chunks (dp_wide) where it takes them. */
INLINE void dp_prefill(uint32_t t, const uint8_t *w, size_t rb, const uint8_t *act, size_t st,
                       uint32_t n, uint32_t na, uint32_t r0, uint32_t r1, float *y, size_t ys,
                       bool ahead)
{
    if (l4lm_kern_float_narrow(n)) {
        dp_gemm(t, w, rb, act, st, n, na, r0, r1, y, ys, ahead, FLOAT_DP_TR, FLOAT_DP_TA);
        return;
    }
    uint32_t r = r0;
#ifdef FLOAT_DP_CHUNK
    if (na == FLOAT_DP_WIDE_TA)
        r += dp_wide(t, w, rb, act, st, n, r0, r1, y, ys, ahead);
#endif
    dp_gemm(t, w, rb, act, st, n, na, r, r1, y, ys, ahead, FLOAT_DP_WIDE_TR, FLOAT_DP_WIDE_TA);
}
#endif

/* float_gemm for each type, out of line: the frames of its many copies of
** the blocked loops then do not add to those of the quantised types'. */
static __attribute__((noinline)) void float_prefill(uint32_t t, const uint8_t *w, size_t rb,
                                                    const uint8_t *act, size_t st, uint32_t n,
                                                    uint32_t na, uint32_t r0, uint32_t r1, float *y,
                                                    size_t ys, bool ahead)
{
    const uint32_t f32 = L4LM_TYPE_F32;
    if (t == L4LM_TYPE_F32)
        float_gemm(f32, f32, w, rb, act, st, n, na, r0, r1, y, ys, ahead);
#ifdef SIMD_F16
    else if (t == L4LM_TYPE_F16 && FLOAT_WIDE_HALVES && !l4lm_kern_float_narrow(n))
        float_gemm(L4LM_TYPE_F16, L4LM_TYPE_F16, w, rb, act, st, n, na, r0, r1, y, ys, ahead);
    else if (t == L4LM_TYPE_F16)
        float_gemm(L4LM_TYPE_F16, f32, w, rb, act, st, n, na, r0, r1, y, ys, ahead);
#endif
#ifdef FLOAT_BF16_DP
    else if (t == L4LM_KTYPE_BF16_DP && na > 1)
        dp_prefill(t, w, rb, act, st, n, na, r0, r1, y, ys, ahead);
    else if (t == L4LM_KTYPE_BF16_DP)
        float_gemm(t, t, w, rb, act, st, n, na, r0, r1, y, ys, ahead);
#endif
    else
        float_gemm(L4LM_TYPE_BF16, L4LM_TYPE_BF16, w, rb, act, st, n, na, r0, r1, y, ys, ahead);
}

#ifdef FLOAT_DEC_ROWS
/* Decode of F16 and BF16: nr <= FLOAT_DEC_ROWS weight rows (at row[])
** against the one activation row, read side by side as streams (kernels.h,
** L4LM_DECODE_STREAMS); every row's lanes add up as in float_block. F16
** reads the activations as floats, its exact products fused (fv_mac): half
** the widenings of float_pass's halves. From level 2, 4 rows of 2048: F16
** ~98 GB/s where float_pass ran at 54, BF16 (vdpbf16ps) ~104 where
** float_block's one row ran at 100 (zen5, one core). */
INLINE uint32_t float_dec(uint32_t t, const uint8_t *const *row, const uint8_t *act, uint32_t n,
                          uint32_t nr, ACC_VEC s[][FLOAT_VECS])
{
    const uint32_t at = fv_bf16(t) ? t : L4LM_TYPE_F32, step = l4lm_kern_float_step(t);
    FVEC z[FLOAT_DEC_ROWS][FV_REGS];
    UNROLL
    for (uint32_t r = 0; r < nr; r++) {
        UNROLL
        for (uint32_t k = 0; k < FV_REGS; k++)
            z[r][k] = fv_zero();
    }
    uint32_t i = 0;
    for (; i + step <= n; i += step) {
        UNROLL
        for (uint32_t r = 0; r < nr; r++) {
            l4lm_kern_streams(row[r] + 2 * (size_t)i, 2 * (size_t)step, L4LM_DECODE_FLOAT_AHEAD);
            UNROLL
            for (uint32_t k = 0; k < FV_REGS; k++) {
                FVEC wv = fv_weights(t, row[r], i, k), x = fv_acts(t, at, act, n, i, k);
                z[r][k] = fv_bf16(t) ? fv_pairs(t, z[r][k], wv, x) : fv_mac(t, z[r][k], wv, x);
            }
        }
    }
    UNROLL
    for (uint32_t r = 0; r < nr; r++)
        fv_acc(t, z[r], s[r]);
    return i;
}

/* Rows r0..r1-1 by float_dec: FLOAT_DEC_ROWS at a time, each from its own
** part of the range, then the rest one by one. */
INLINE void float_far(uint32_t t, const uint8_t *w, size_t rb, const uint8_t *act, uint32_t n,
                      uint32_t r0, uint32_t r1, float *y)
{
    uint32_t q = (r1 - r0) / FLOAT_DEC_ROWS;
    for (uint32_t r = r0; r < r0 + q; r++) {
        const uint8_t *row[FLOAT_DEC_ROWS];
        ACC_VEC s[FLOAT_DEC_ROWS][FLOAT_VECS];
        for (uint32_t k = 0; k < FLOAT_DEC_ROWS; k++)
            row[k] = w + (r + k * q) * rb;
        uint32_t done = float_dec(t, row, act, n, FLOAT_DEC_ROWS, s);
        for (uint32_t k = 0; k < FLOAT_DEC_ROWS; k++)
            y[r + k * q] = finish(t, row[k], act, n, done, s[k], FLOAT_VECS);
    }
    for (uint32_t r = r0 + q * FLOAT_DEC_ROWS; r < r1; r++) {
        const uint8_t *row[1] = {w + r * rb};
        ACC_VEC s[1][FLOAT_VECS];
        uint32_t done = float_dec(t, row, act, n, 1, s);
        y[r] = finish(t, row[0], act, n, done, s[0], FLOAT_VECS);
    }
}
#endif

/* Decode of the float types (l4lm_simd_matmul sends the rest to float_prefill). */
INLINE void float_rows(uint32_t t, const uint8_t *w, size_t rb, const uint8_t *act, size_t st,
                       uint32_t n, uint32_t na, uint32_t r0, uint32_t r1, float *y, size_t ys,
                       bool ahead)
{
    (void)st, (void)na, (void)ys, (void)ahead;
#ifdef FLOAT_DEC_ROWS
    if (t != L4LM_TYPE_F32)
        float_far(t, w, rb, act, n, r0, r1, y);
    else
#endif
        float_decode(t, w, rb, act, n, r0, r1, y);
}

/* Decode's own prefetch, where the architecture has one. */
#ifndef QUANT_DECODE_PREFETCH
#define prefetch_decode prefetch_row
#endif

INLINE void quant_rows(uint32_t t, const uint8_t *w, size_t rb, const uint8_t *act, size_t st,
                       uint32_t n, uint32_t na, uint32_t r0, uint32_t r1, float *y, size_t ys,
                       bool ahead)
{
    uint32_t nb = n / L4LM_QBLOCK, done = nb / 8 * 8 * L4LM_QBLOCK, r = r0;
#ifdef QUANT_FAR
    if (na == 1 && quant_far_type(t)) { /* decode: rows r, r + q, r + 2q, r + 3q */
        uint32_t q = (r1 - r0) / 4;
        for (; r < r0 + q; r++)
            quant_far(t, w + r * rb, rb, q, act, n, y + r);
        r = r0 + 4 * q;
    }
#endif
#ifdef QUANT_QUADS
    for (; na > 1 && r + 4 <= r1; r += 4) {
        const uint8_t *row = w + r * rb;
        for (uint32_t k = 0; ahead && k < 4; k++)
            prefetch_row(row + k * rb, rb);
        if (!quant_quad(t, row, rb, act, st, n, na, y + r, ys))
            break;
    }
#endif
#ifdef QUANT_PAIRS
    for (; na > 1 && r + 2 <= r1; r += 2) {
        const uint8_t *row = w + r * rb;
        if (ahead) {
            prefetch_row(row, rb);
            prefetch_row(row + rb, rb);
        }
        ACC_VEC s[2][L4LM_QUANT_ACTS][ACC_VECS];
        quant_pair(t, row, rb, act, st, nb, na, s[0], s[1]);
        for (uint32_t a = 0; a < na; a++)
            for (uint32_t k = 0; k < 2; k++)
                y[a * ys + r + k] =
                    finish(t, row + k * rb, act + a * st, n, done, s[k][a], ACC_VECS);
    }
#endif
    for (; r < r1; r++) {
        const uint8_t *row = w + r * rb;
        if (ahead && na == 1)
            prefetch_decode(row, rb);
        else if (ahead)
            prefetch_row(row, rb);
        ACC_VEC s[L4LM_QUANT_ACTS][ACC_VECS];
        quant_lanes(t, row, act, st, nb, na, s);
        for (uint32_t a = 0; a < na; a++)
            y[a * ys + r] = finish(t, row, act + a * st, n, done, s[a], ACC_VECS);
    }
}

/* One copy of the loops per type; decode's single activation row gets its own. */
INLINE void rows(uint32_t t, const uint8_t *w, size_t rb, const uint8_t *act, size_t st, uint32_t n,
                 uint32_t na, uint32_t r0, uint32_t r1, float *y, size_t ys, bool ahead)
{
    if (l4lm_kern_quant(t))
        quant_rows(t, w, rb, act, st, n, na, r0, r1, y, ys, ahead);
    else
        float_rows(t, w, rb, act, st, n, na, r0, r1, y, ys, ahead);
}

INLINE void tile(uint32_t t, const uint8_t *w, size_t rb, const uint8_t *act, size_t st, uint32_t n,
                 uint32_t na, uint32_t r0, uint32_t r1, float *y, size_t ys, bool ahead)
{
    if (na == 1)
        rows(t, w, rb, act, st, n, 1, r0, r1, y, ys, ahead);
    else
        rows(t, w, rb, act, st, n, na, r0, r1, y, ys, ahead);
}

static __attribute__((noinline)) bool tiles(uint32_t wtype, const uint8_t *w, size_t row_bytes,
                                            const uint8_t *act, size_t act_stride, uint32_t n,
                                            uint32_t na, uint32_t r0, uint32_t r1, float *y,
                                            size_t y_stride, bool ahead)
{
    switch (wtype) {
    case L4LM_TYPE_F32:
        tile(L4LM_TYPE_F32, w, row_bytes, act, act_stride, n, na, r0, r1, y, y_stride, ahead);
        break;
#ifdef SIMD_F16
    case L4LM_TYPE_F16:
        tile(L4LM_TYPE_F16, w, row_bytes, act, act_stride, n, na, r0, r1, y, y_stride, ahead);
        break;
#endif
#ifdef FLOAT_DEC_ROWS /* BF16's decode (l4lm_simd_matmul) */
    case L4LM_TYPE_BF16:
        tile(L4LM_TYPE_BF16, w, row_bytes, act, act_stride, n, na, r0, r1, y, y_stride, ahead);
        break;
#ifdef FLOAT_BF16_DP
    case L4LM_KTYPE_BF16_DP:
        tile(L4LM_KTYPE_BF16_DP, w, row_bytes, act, act_stride, n, na, r0, r1, y, y_stride, ahead);
        break;
#endif
#endif
    case L4LM_TYPE_Q8_0:
        tile(L4LM_TYPE_Q8_0, w, row_bytes, act, act_stride, n, na, r0, r1, y, y_stride, ahead);
        break;
    case L4LM_TYPE_Q4_0:
        tile(L4LM_TYPE_Q4_0, w, row_bytes, act, act_stride, n, na, r0, r1, y, y_stride, ahead);
        break;
    case L4LM_TYPE_Q4_1:
        tile(L4LM_TYPE_Q4_1, w, row_bytes, act, act_stride, n, na, r0, r1, y, y_stride, ahead);
        break;
    case L4LM_TYPE_Q5_0:
        tile(L4LM_TYPE_Q5_0, w, row_bytes, act, act_stride, n, na, r0, r1, y, y_stride, ahead);
        break;
    case L4LM_TYPE_Q5_1:
        tile(L4LM_TYPE_Q5_1, w, row_bytes, act, act_stride, n, na, r0, r1, y, y_stride, ahead);
        break;
    default:
        return false;
    }
    return true;
}

/* The float types' prefill, and BF16's decode too where there is no
** FLOAT_DEC_ROWS (float_gemm's, its pairs in FLOAT_TR weight rows at a time
** against the one activation row), go straight to float_prefill, whose
** frame then does not add to that of the quantised types' loops in tiles()
** (a freestanding build has 3 KiB of stack); tiles() takes the rest. */
bool l4lm_simd_matmul(uint32_t wtype, const uint8_t *w, size_t row_bytes, const uint8_t *act,
                      size_t act_stride, uint32_t n, uint32_t na, uint32_t r0, uint32_t r1,
                      float *y, size_t y_stride, bool ahead)
{
    bool flt = wtype == L4LM_TYPE_F32 || wtype == L4LM_TYPE_BF16;
#ifdef SIMD_F16
    flt |= wtype == L4LM_TYPE_F16;
#endif
#ifdef FLOAT_BF16_DP
    flt |= wtype == L4LM_KTYPE_BF16_DP;
#endif
#ifdef FLOAT_DEC_ROWS
    bool bf16_decode = false; /* float_far's, in tiles() */
#else
    bool bf16_decode = fv_bf16(wtype);
#endif
    if (flt && (na > 1 || bf16_decode)) {
        float_prefill(wtype, w, row_bytes, act, act_stride, n, na, r0, r1, y, y_stride,
                      ahead && na > 1); /* decode: the hardware prefetcher's (float_decode) */
        return true;
    }
    return tiles(wtype, w, row_bytes, act, act_stride, n, na, r0, r1, y, y_stride, ahead);
}
