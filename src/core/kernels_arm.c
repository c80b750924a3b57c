/*
** kernels_arm.c — NEON (aarch64) inner loops of the kernels, compiled only
** for aarch64; the dot-product extension (sdot) is used when the build
** targets it. They keep the reduction order of kernels.h — separate
** multiply and add, float lane i % 32 (BF16: pair i / 2, in lane
** i / 2 % 32), exact integer block sums into lane j % 8 — so they return
** exactly what the portable C path returns.
**
** Each pass unpacks 8 blocks of one weight row once and dots them with up to
** L4LM_TILE activation rows (prefill), or with one (decode). Prefill of the
** float types is a blocked product (kernels_tile.h, float_block).
*/
#include "kernels.h"

#ifdef L4LM_SIMD_ARM
#include <arm_neon.h>

#define INLINE static inline __attribute__((always_inline))
/* Loops over registers must unroll for the registers to exist. */
#define UNROLL _Pragma("GCC unroll 8")

/* The tree of kernels.h over 8 lanes (lo: 0..3, hi: 4..7), in the C order. */
static inline float hsum8(float32x4_t lo, float32x4_t hi)
{
    float32x4_t h = vaddq_f32(lo, hi);
    float32x2_t q = vadd_f32(vget_low_f32(h), vget_high_f32(h));
    return vget_lane_f32(q, 0) + vget_lane_f32(q, 1);
}

/* One output from nv registers of lanes (8: the 32 float lanes; 2: the 8
** quantised ones). When the loop stopped short of n, the C code adds the
** rest and sums. */
INLINE float finish(uint32_t t, const uint8_t *w, const uint8_t *a, uint32_t n, uint32_t done,
                    const float32x4_t *s, int nv)
{
    if (done == n && nv == 2)
        return hsum8(s[0], s[1]);
    if (done == n) { /* 32 lanes: j + 16, then j + 8, then the 8-lane tree */
        float32x4_t h[4];
        for (int k = 0; k < 4; k++)
            h[k] = vaddq_f32(s[k], s[k + 4]);
        return hsum8(vaddq_f32(h[0], h[2]), vaddq_f32(h[1], h[3]));
    }
    float acc[L4LM_LANES];
    for (int k = 0; k < nv; k++)
        vst1q_f32(acc + 4 * k, s[k]);
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
        __builtin_prefetch((const void *)(ahead + o), 0, 2);
}

/* ---------------------------------------------------------- F32, F16, BF16 */

/* Four weights of type t at p, as floats; byte loads need no alignment. */
INLINE float32x4_t load4(uint32_t t, const uint8_t *p)
{
    switch (t) {
    case L4LM_TYPE_F16:
        return vcvt_f32_f16(vreinterpret_f16_u8(vld1_u8(p)));
    case L4LM_TYPE_BF16:
        return vreinterpretq_f32_u32(vshll_n_u16(vreinterpret_u16_u8(vld1_u8(p)), 16));
    default:
        return vreinterpretq_f32_u8(vld1q_u8(p));
    }
}

/* na (1 or 2) activation rows of type at (F32, or t's halves): s[a][k]
** holds lanes 4k..4k+3 of the 32, each weight vector is loaded once for
** both rows. Returns the elements done. */
INLINE uint32_t float_pass(uint32_t t, uint32_t at, const uint8_t *w, const uint8_t *act, size_t st,
                           uint32_t n, uint32_t na, float32x4_t s[][8])
{
    size_t es = t == L4LM_TYPE_F32 ? 4 : 2, xs = at == L4LM_TYPE_F32 ? 4 : 2;
    UNROLL
    for (uint32_t a = 0; a < na; a++) {
        UNROLL
        for (int k = 0; k < 8; k++)
            s[a][k] = vdupq_n_f32(0.0f);
    }
    uint32_t i = 0;
    for (; i + L4LM_LANES <= n; i += L4LM_LANES) {
        UNROLL
        for (int k = 0; k < 8; k++) {
            float32x4_t wv = load4(t, w + (i + 4 * (size_t)k) * es);
            UNROLL
            for (uint32_t a = 0; a < na; a++) {
                float32x4_t x = load4(at, act + a * st + (i + 4 * (size_t)k) * xs);
                s[a][k] = vaddq_f32(s[a][k], vmulq_f32(wv, x));
            }
        }
    }
    return i;
}

/* Prefill's blocked product (kernels_tile.h, float_block): 32 registers
** hold all 32 lanes of only 4 pairs, so two passes each take half of every
** pair's lanes (elements 0..15, then 16..31, of each 32) for 2 weight rows
** by 3 activation rows: 24 sums, 6 multiplies and 6 adds per 2 widenings
** and 3 activation loads, against 2 of each per 1 and 2 in float_pass.
** The parked halves take 768 bytes of stack. */
#define FVEC        float32x4_t
#define FV_LANES    4
#define FLOAT_TR    2
#define FLOAT_TA    3
#define FLOAT_SPLIT 2
#define fv_load     load4
INLINE float32x4_t fv_zero(void)
{
    return vdupq_n_f32(0.0f);
}

/* 8 halves at p, as they are (BF16 pairs, two to a 32-bit lane). */
INLINE float32x4_t fv_raw(const uint8_t *p)
{
    return vreinterpretq_f32_u8(vld1q_u8(p));
}

/* A lane's odd and even BF16 element as floats: a mask, a shift. */
INLINE float32x4_t fv_odd(float32x4_t v)
{
    return vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(v), vdupq_n_u32(0xffff0000u)));
}

INLINE float32x4_t fv_even(float32x4_t v)
{
    return vreinterpretq_f32_u32(vshlq_n_u32(vreinterpretq_u32_f32(v), 16));
}

INLINE float32x4_t fv_mac(uint32_t t, float32x4_t z, float32x4_t w, float32x4_t x)
{
    (void)t; /* unfused for every type (F16 could fuse as on x86, unmeasured) */
    return vaddq_f32(z, vmulq_f32(w, x));
}

INLINE void fv_acc(uint32_t t, const float32x4_t z[8], float32x4_t s[8])
{
    (void)t;
    UNROLL
    for (int k = 0; k < 8; k++)
        s[k] = z[k];
}

/* The widening is exact, as l4lm_half_decode (NaNs quieted, payloads kept). */
uint32_t l4lm_simd_axpy_f16(const uint8_t *v, float a, float *out, uint32_t n)
{
    const float32x4_t av = vdupq_n_f32(a);
    uint32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t x = vcvt_f32_f16(vreinterpret_f16_u8(vld1_u8(v + 2 * (size_t)i)));
        vst1q_f32(out + i, vaddq_f32(vld1q_f32(out + i), vmulq_f32(av, x)));
    }
    return i;
}

/* l4lm_vec_wsum of Q8_0 rows, a block (32 columns) at a time as kernels.c's
** wsum_q8_0: each int8 widened exactly, times the block's scale (ggml's
** dequantised value), times a[r], added; the other types stay in C. */
uint32_t l4lm_simd_wsum(uint32_t t, const uint8_t *rows, size_t rb, const float *a, uint32_t n_rows,
                        float *out, uint32_t n)
{
    uint32_t i = 0;
    for (; t == L4LM_TYPE_Q8_0 && i + L4LM_QBLOCK <= n; i += L4LM_QBLOCK) {
        const uint8_t *p = rows + i / L4LM_QBLOCK * L4LM_Q8_0_BYTES;
        float32x4_t s[8];
        UNROLL
        for (int k = 0; k < 8; k++)
            s[k] = vdupq_n_f32(0.0f);
        for (uint32_t r = 0; r < n_rows; r++, p += rb) {
            float32x4_t d = vdupq_n_f32(l4lm_half_decode(l4lm_kern_ld16(p)));
            float32x4_t ar = vdupq_n_f32(a[r]);
            UNROLL
            for (int k = 0; k < 4; k++) {
                int16x8_t q = vmovl_s8(vld1_s8((const int8_t *)(p + 2 + 8 * k)));
                float32x4_t lo = vcvtq_f32_s32(vmovl_s16(vget_low_s16(q)));
                float32x4_t hi = vcvtq_f32_s32(vmovl_s16(vget_high_s16(q)));
                s[2 * k] = vaddq_f32(s[2 * k], vmulq_f32(ar, vmulq_f32(lo, d)));
                s[2 * k + 1] = vaddq_f32(s[2 * k + 1], vmulq_f32(ar, vmulq_f32(hi, d)));
            }
        }
        UNROLL
        for (int k = 0; k < 8; k++)
            vst1q_f32(out + i + 4 * k, s[k]);
    }
    return i;
}

/* --------------------------------------- Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 */

/* Four fp16 block scales at p, p + stride, ..., as floats (exact conversion). */
static inline float32x4_t scales4(const uint8_t *p, size_t stride)
{
    uint16x4_t h = vdup_n_u16(0);
    h = vset_lane_u16(l4lm_kern_ld16(p), h, 0);
    h = vset_lane_u16(l4lm_kern_ld16(p + stride), h, 1);
    h = vset_lane_u16(l4lm_kern_ld16(p + 2 * stride), h, 2);
    h = vset_lane_u16(l4lm_kern_ld16(p + 3 * stride), h, 3);
    return vcvt_f32_f16(vreinterpret_f16_u16(h));
}

/* Bytes 0..15 of 4 blocks at p, stride bytes apart, transposed to the
** activation layout: 32-bit lane k of v[c] holds bytes 4c..4c+3 of block k. */
static inline void transpose4(const uint8_t *p, size_t stride, int8x16_t v[4])
{
    uint32x4_t b0 = vreinterpretq_u32_u8(vld1q_u8(p));
    uint32x4_t b1 = vreinterpretq_u32_u8(vld1q_u8(p + stride));
    uint32x4_t b2 = vreinterpretq_u32_u8(vld1q_u8(p + 2 * stride));
    uint32x4_t b3 = vreinterpretq_u32_u8(vld1q_u8(p + 3 * stride));
    uint64x2_t a = vreinterpretq_u64_u32(vtrn1q_u32(b0, b1));
    uint64x2_t b = vreinterpretq_u64_u32(vtrn2q_u32(b0, b1));
    uint64x2_t c = vreinterpretq_u64_u32(vtrn1q_u32(b2, b3));
    uint64x2_t d = vreinterpretq_u64_u32(vtrn2q_u32(b2, b3));
    v[0] = vreinterpretq_s8_u64(vtrn1q_u64(a, c));
    v[1] = vreinterpretq_s8_u64(vtrn1q_u64(b, d));
    v[2] = vreinterpretq_s8_u64(vtrn2q_u64(a, c));
    v[3] = vreinterpretq_s8_u64(vtrn2q_u64(b, d));
}

/* Lane k: the exact sum of block k's 32 products, w[c] against the chunk
** at x + 32 c (kernels.h). Without sdot, a 16-bit lane adds two products
** (at most 2 * 128 * 127) before widening. */
INLINE int32x4_t block_sums(const int8x16_t *w, const uint8_t *x)
{
#ifdef __ARM_FEATURE_DOTPROD
    int32x4_t s0 = vdupq_n_s32(0), s1 = vdupq_n_s32(0); /* two chains overlap */
    UNROLL
    for (int c = 0; c < 8; c += 2) {
        s0 = vdotq_s32(s0, w[c], vreinterpretq_s8_u8(vld1q_u8(x + 32 * c)));
        s1 = vdotq_s32(s1, w[c + 1], vreinterpretq_s8_u8(vld1q_u8(x + 32 * c + 32)));
    }
    return vaddq_s32(s0, s1);
#else
    int32x4_t lo = vdupq_n_s32(0), hi = vdupq_n_s32(0); /* blocks 0 0 1 1, 2 2 3 3 */
    UNROLL
    for (int c = 0; c < 8; c += 2) {
        int8x16_t x0 = vreinterpretq_s8_u8(vld1q_u8(x + 32 * c));
        int8x16_t x1 = vreinterpretq_s8_u8(vld1q_u8(x + 32 * c + 32));
        int16x8_t pl = vmlal_s8(vmull_s8(vget_low_s8(w[c]), vget_low_s8(x0)), vget_low_s8(w[c + 1]),
                                vget_low_s8(x1));
        int16x8_t ph = vmlal_high_s8(vmull_high_s8(w[c], x0), w[c + 1], x1);
        lo = vpadalq_s16(lo, pl);
        hi = vpadalq_s16(hi, ph);
    }
    return vpaddq_s32(lo, hi);
#endif
}

/* Block sums of 4 blocks j.. of type t in block order, to float lanes
** j % 8 (half of them): less Q4_0's or Q5_0's offset times the sums s8,
** scaled by dw * dx, plus (Q4_1, Q5_1) the mins mw times the activations'
** s, added to sum. */
INLINE float32x4_t add_blocks(uint32_t t, float32x4_t sum, int32x4_t isum, float32x4_t dw,
                              float32x4_t mw, const uint8_t *a, uint32_t nb, uint32_t j)
{
    uint8x16_t s = vld1q_u8(a + l4lm_kern_qa_s8(nb) + 4 * (size_t)j); /* s8, or Q8_1's s */
    if (l4lm_kern_offset(t))
        isum = vsubq_s32(isum, vmulq_n_s32(vreinterpretq_s32_u8(s), l4lm_kern_offset(t)));
    float32x4_t dx = vreinterpretq_f32_u8(vld1q_u8(a + l4lm_kern_qa_d(nb) + 4 * (size_t)j));
    float32x4_t p = vmulq_f32(vcvtq_f32_s32(isum), vmulq_f32(dw, dx));
    if (l4lm_kern_q8_1(t))
        p = vaddq_f32(p, vmulq_f32(mw, vreinterpretq_f32_u8(s)));
    return vaddq_f32(sum, p);
}

/* The fifth bits of Q5 quants for activation chunk c (elements 4c..4c+3
** of each block: bits 4c..4c+3 of qh, which lane k of h holds for block
** k), as 16 or 0 in the chunk's bytes: byte c / 2 of each lane goes to
** all four bytes, and byte i keeps bit 4 (c % 2) + i. */
INLINE int8x16_t fifth_bits(uint8x16_t h, int c)
{
    static const uint8_t spread[16] = {0, 0, 0, 0, 4, 4, 4, 4, 8, 8, 8, 8, 12, 12, 12, 12};
    uint8x16_t bytes = vqtbl1q_u8(h, vaddq_u8(vld1q_u8(spread), vdupq_n_u8((uint8_t)(c / 2))));
    uint8x16_t bit = vreinterpretq_u8_u32(vdupq_n_u32(c % 2 ? 0x80402010u : 0x08040201u));
    return vreinterpretq_s8_u8(vandq_u8(vtstq_u8(bytes, bit), vdupq_n_u8(16)));
}

/* The 32-bit words at p, p + stride, ..., p + 3 stride. */
static inline uint8x16_t words4(const uint8_t *p, size_t stride)
{
    uint32_t v[4];
    for (int k = 0; k < 4; k++)
        __builtin_memcpy(v + k, p + k * stride, 4);
    return vreinterpretq_u8_u32(vld1q_u32(v));
}

/* Block k's weights, in lane k, for activation chunks 0..7 (q[c]) of the
** 4 blocks at p: Q8_0's bytes, or the nibble types' quants, unsigned
** (0..15, 0..31 with Q5's fifth bits), which int8 holds. */
INLINE void quants4(uint32_t t, const uint8_t *p, int8x16_t q[8])
{
    size_t bb = l4lm_kern_bbytes(t);
    if (t == L4LM_TYPE_Q8_0) {
        transpose4(p + 2, bb, q);
        transpose4(p + 18, bb, q + 4);
        return;
    }
    transpose4(p + l4lm_kern_qs(t), bb, q);
    UNROLL
    for (int c = 0; c < 4; c++) {
        q[c + 4] = vreinterpretq_s8_u8(vshrq_n_u8(vreinterpretq_u8_s8(q[c]), 4));
        q[c] = vandq_s8(q[c], vdupq_n_s8(15));
    }
    if (l4lm_kern_q5(t)) {
        uint8x16_t h = words4(p + l4lm_kern_qh(t), bb);
        UNROLL
        for (int c = 0; c < 8; c++)
            q[c] = vorrq_s8(q[c], fifth_bits(h, c));
    }
}

/* The quantised types, 8 blocks at a time as two halves of 4 (block k of
** a half in lane k); q[h][c] gets the weights of activation chunk c. */
INLINE void quant_lanes(uint32_t t, const uint8_t *w, const uint8_t *act, size_t st, uint32_t nb,
                        uint32_t na, float32x4_t sum[][2])
{
    size_t bb = l4lm_kern_bbytes(t);
    for (uint32_t a = 0; a < na; a++)
        sum[a][0] = sum[a][1] = vdupq_n_f32(0.0f);
    for (uint32_t j = 0; j + 8 <= nb; j += 8) {
        const uint8_t *wg = w + j * bb;
        int8x16_t q[2][8];
        float32x4_t dw[2], mw[2];
        UNROLL
        for (int h = 0; h < 2; h++) {
            const uint8_t *wh = wg + 4 * h * bb;
            quants4(t, wh, q[h]);
            dw[h] = scales4(wh, bb);
            mw[h] = l4lm_kern_q8_1(t) ? scales4(wh + 2, bb) : vdupq_n_f32(0.0f);
        }
        for (uint32_t a = 0; a < na; a++) {
            const uint8_t *x = act + a * st + (size_t)j * L4LM_QBLOCK;
            UNROLL
            for (int h = 0; h < 2; h++)
                sum[a][h] = add_blocks(t, sum[a][h], block_sums(q[h], x + 16 * h), dw[h], mw[h],
                                       act + a * st, nb, j + 4 * h);
        }
    }
}

/* The 8 quantised lanes of one activation row: two 4-float registers. */
#define ACC_VEC    float32x4_t
#define ACC_VECS   2
#define FLOAT_VECS 8 /* the 32 float lanes of one activation row */
#define SIMD_F16   1

#include "kernels_tile.h"

/* Rows against float activations (attention's keys and query), one at a time. */
INLINE uint32_t dots(uint32_t t, const uint8_t *rows, size_t rb, const float *x, uint32_t n,
                     uint32_t n_rows, float *out)
{
    const uint8_t *xb = (const uint8_t *)x;
    for (uint32_t r = 0; r < n_rows; r++) {
        float32x4_t s[1][FLOAT_VECS];
        uint32_t done = float_pass(t, L4LM_TYPE_F32, rows + r * rb, xb, 0, n, 1, s);
        out[r] = finish(t, rows + r * rb, xb, n, done, s[0], FLOAT_VECS);
    }
    return n_rows;
}

uint32_t l4lm_simd_dots(uint32_t t, const uint8_t *rows, size_t rb, const float *x, uint32_t n,
                        uint32_t n_rows, float *out)
{
    if (t == L4LM_TYPE_F16)
        return dots(L4LM_TYPE_F16, rows, rb, x, n, n_rows, out);
    if (t == L4LM_TYPE_F32)
        return dots(L4LM_TYPE_F32, rows, rb, x, n, n_rows, out);
    return 0;
}

#endif
