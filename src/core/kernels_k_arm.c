/*
** kernels_k_arm.c — NEON (aarch64) dot products of the Q4_K and Q6_K
** weight types against Q8_K activations, with sdot when the build targets
** the dot-product extension. As in kernels_k_x86.c, the integer sums of a
** super-block are exact (kernels_k.h bounds them) and the float steps are
** l4lm_kq_step itself in kernels_k.h's eight lanes, summed by
** l4lm_kq_lanes, so the results are the bits of the C path. Other K types
** fall back to the C path.
**
** A super-block is unpacked once into 16 vectors of 16 signed quants, one
** per scale group, and dotted with up to L4LM_TILE activation rows.
*/
#include "kernels_k.h"

#ifdef L4LM_SIMD_ARM
#include <arm_neon.h>

#define INLINE static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16")

/* One super-block, unpacked: group g's quants in q[g], scale sc[g], min mn[g]. */
typedef struct kvec {
    int8x16_t q[16];
    int32_t sc[16];
    int16x8_t mn_lo, mn_hi; /* mins of groups 0-7, 8-15 (zero for Q6_K) */
    float d, dmin;
} kvec;

/* The 4-lane sums of w x over 16 signed bytes. Without sdot the products
** go through int16 pairs: |w| <= 32 (or w <= 15), |x| <= 128, so a pair
** stays below 2^13 and cannot overflow. */
static inline int32x4_t dot16(int32x4_t acc, int8x16_t w, int8x16_t x)
{
#ifdef __ARM_FEATURE_DOTPROD
    return vdotq_s32(acc, w, x);
#else
    int16x8_t p = vmull_s8(vget_low_s8(w), vget_low_s8(x));
    return vpadalq_s16(acc, vmlal_high_s8(p, w, x));
#endif
}

static inline float half_at(const uint8_t *p)
{
    return l4lm_half_decode(l4lm_kern_ld16(p));
}

/* Q4_K: element 64 p + 32 k + l is nibble k of qs[32 p + l]; the two
** groups of sub-block j share its scale and min. */
INLINE void unpack_q4_k(const uint8_t *blk, kvec *v)
{
    const uint8x16_t low4 = vdupq_n_u8(15);
    UNROLL
    for (int p = 0; p < 4; p++) {
        uint8x16_t a = vld1q_u8(blk + 16 + 32 * p), b = vld1q_u8(blk + 32 + 32 * p);
        v->q[4 * p] = vreinterpretq_s8_u8(vandq_u8(a, low4));
        v->q[4 * p + 1] = vreinterpretq_s8_u8(vandq_u8(b, low4));
        v->q[4 * p + 2] = vreinterpretq_s8_u8(vshrq_n_u8(a, 4));
        v->q[4 * p + 3] = vreinterpretq_s8_u8(vshrq_n_u8(b, 4));
    }
    uint64_t sc, mn;
    l4lm_kq_scales_k4(blk + 4, &sc, &mn);
    for (int g = 0; g < 16; g++)
        v->sc[g] = (int32_t)((sc >> (8 * (g / 2))) & 63);
    uint8x8_t m = vcreate_u8(mn);
    v->mn_lo = vreinterpretq_s16_u16(vmovl_u8(vzip1_u8(m, m))); /* m0 m0 m1 m1 .. m3 m3 */
    v->mn_hi = vreinterpretq_s16_u16(vmovl_u8(vzip2_u8(m, m)));
    v->d = half_at(blk);
    v->dmin = half_at(blk + 2);
}

/* Q6_K: in half h, element 128 h + 32 m + l has its low nibble in
** ql[64 h + l + 32 (m % 2)] (nibble m / 2) and its top 2 bits at bit 2m of
** qh[32 h + l]; counted from -32, so signed bytes. */
INLINE void unpack_q6_k(const uint8_t *blk, kvec *v)
{
    const uint8x16_t low4 = vdupq_n_u8(15), three = vdupq_n_u8(3);
    const int8x16_t off = vdupq_n_s8(32);
    UNROLL
    for (int h = 0; h < 2; h++)
        UNROLL
    for (int half = 0; half < 2; half++) { /* l = 16 half .. 16 half + 15 */
        const uint8_t *ql = blk + 64 * h + 16 * half;
        uint8x16_t l0 = vld1q_u8(ql), l1 = vld1q_u8(ql + 32);
        uint8x16_t hb = vld1q_u8(blk + 128 + 32 * h + 16 * half);
        uint8x16_t u[4] = {
            vorrq_u8(vandq_u8(l0, low4), vshlq_n_u8(vandq_u8(hb, three), 4)),
            vorrq_u8(vandq_u8(l1, low4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 2), three), 4)),
            vorrq_u8(vshrq_n_u8(l0, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 4), three), 4)),
            vorrq_u8(vshrq_n_u8(l1, 4), vshlq_n_u8(vshrq_n_u8(hb, 6), 4))};
        UNROLL
        for (int m = 0; m < 4; m++) /* group (128 h + 32 m + 16 half) / 16 */
            v->q[8 * h + 2 * m + half] = vsubq_s8(vreinterpretq_s8_u8(u[m]), off);
    }
    for (int g = 0; g < 16; g++)
        v->sc[g] = (blk[192 + g] ^ 0x80) - 128; /* the int8 scale */
    v->mn_lo = v->mn_hi = vdupq_n_s16(0);
    v->d = half_at(blk + 208);
    v->dmin = 0.0f;
}

/* One super-block against one activation row's block b: the float step
** of kernels_k.h from the exact sums. */
INLINE float block_step(float acc, const kvec *v, const uint8_t *arow, uint32_t nb, uint32_t b)
{
    const int8_t *x = (const int8_t *)arow + (size_t)b * L4LM_QK_K;
    int32x4_t is = vdupq_n_s32(0);
    UNROLL
    for (int g = 0; g < 16; g++)
        is = vmlaq_n_s32(is, dot16(vdupq_n_s32(0), v->q[g], vld1q_s8(x + 16 * g)), v->sc[g]);
    const int16_t *bs = (const int16_t *)(arow + l4lm_kq_bsum(nb)) + 16 * (size_t)b;
    int16x8_t b0 = vld1q_s16(bs), b1 = vld1q_s16(bs + 8);
    int32x4_t ms = vmull_s16(vget_low_s16(b0), vget_low_s16(v->mn_lo));
    ms = vmlal_high_s16(ms, b0, v->mn_lo);
    ms = vmlal_s16(ms, vget_low_s16(b1), vget_low_s16(v->mn_hi));
    ms = vmlal_high_s16(ms, b1, v->mn_hi);
    float dx;
    __builtin_memcpy(&dx, arow + l4lm_kq_d(nb) + 4 * (size_t)b, 4);
    return l4lm_kq_step(acc, vaddvq_s32(is), vaddvq_s32(ms), v->d, v->dmin, dx);
}

static inline void prefetch_row(const uint8_t *row, size_t rb)
{
    uintptr_t ahead = (uintptr_t)row + L4LM_PREFETCH_ROWS * rb;
    for (size_t o = 0; o < rb; o += 64)
        __builtin_prefetch((const void *)(ahead + o), 0, 2);
}

INLINE void rows(uint32_t t, const uint8_t *w, size_t rb, const uint8_t *act, size_t st, uint32_t n,
                 uint32_t na, uint32_t r0, uint32_t r1, float *y, size_t ys, bool ahead)
{
    uint32_t nb = n / L4LM_QK_K;
    size_t bb = t == L4LM_TYPE_Q4_K ? L4LM_Q4_K_BYTES : L4LM_Q6_K_BYTES;
    for (uint32_t r = r0; r < r1; r++) {
        const uint8_t *row = w + r * rb;
        if (ahead)
            prefetch_row(row, rb);
        float acc[L4LM_TILE][L4LM_KQ_LANES] = {{0}};
        for (uint32_t b = 0; b < nb; b++) {
            kvec v;
            if (t == L4LM_TYPE_Q4_K)
                unpack_q4_k(row + b * bb, &v);
            else
                unpack_q6_k(row + b * bb, &v);
            for (uint32_t a = 0; a < na; a++)
                acc[a][b % L4LM_KQ_LANES] =
                    block_step(acc[a][b % L4LM_KQ_LANES], &v, act + a * st, nb, b);
        }
        for (uint32_t a = 0; a < na; a++)
            y[a * ys + r] = l4lm_kq_lanes(acc[a]);
    }
}

bool l4lm_simd_kq_rows(uint32_t t, const uint8_t *w, size_t rb, const uint8_t *act, size_t st,
                       uint32_t n, uint32_t na, uint32_t r0, uint32_t r1, float *y, size_t ys,
                       bool ahead)
{
    if (t == L4LM_TYPE_Q4_K && na == 1)
        rows(L4LM_TYPE_Q4_K, w, rb, act, st, n, 1, r0, r1, y, ys, ahead);
    else if (t == L4LM_TYPE_Q4_K)
        rows(L4LM_TYPE_Q4_K, w, rb, act, st, n, na, r0, r1, y, ys, ahead);
    else if (t == L4LM_TYPE_Q6_K && na == 1)
        rows(L4LM_TYPE_Q6_K, w, rb, act, st, n, 1, r0, r1, y, ys, ahead);
    else if (t == L4LM_TYPE_Q6_K)
        rows(L4LM_TYPE_Q6_K, w, rb, act, st, n, na, r0, r1, y, ys, ahead);
    else
        return false;
    return true;
}

#endif
