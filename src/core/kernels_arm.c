/*
** kernels_arm.c — NEON (aarch64) inner loops of the kernels, compiled only
** for aarch64. They keep the reduction order of kernels.h — separate
** multiply and add, lane i % 32, exact integer block sums — so they return
** exactly what the portable C path returns.
*/
#include "kernels.h"

#ifdef L4LM_SIMD_ARM
#include <arm_neon.h>

/* Four elements of type t at p, as floats; byte loads need no alignment. */
static inline float32x4_t load4(uint32_t t, const uint8_t *p)
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

/* Registers s[k] hold lanes 4k..4k+3 of the 32. */
static inline __attribute__((always_inline)) uint32_t lanes(uint32_t t, float acc[L4LM_LANES],
                                                            const uint8_t *w, const uint8_t *a,
                                                            uint32_t n)
{
    size_t es = t == L4LM_TYPE_F32 ? 4 : 2;
    float32x4_t s[8];
    for (int k = 0; k < 8; k++)
        s[k] = vdupq_n_f32(0.0f);
    uint32_t i = 0;
    for (; i + L4LM_LANES <= n; i += L4LM_LANES)
        for (int k = 0; k < 8; k++) {
            size_t off = (i + 4 * (size_t)k) * es;
            s[k] = vaddq_f32(s[k], vmulq_f32(load4(t, w + off), load4(t, a + off)));
        }
    for (int k = 0; k < 8; k++)
        vst1q_f32(acc + 4 * k, s[k]);
    return i;
}

uint32_t l4lm_simd_lanes(uint32_t wtype, float acc[L4LM_LANES], const uint8_t *w,
                         const uint8_t *a, uint32_t n)
{
    switch (wtype) {
    case L4LM_TYPE_F32: return lanes(L4LM_TYPE_F32, acc, w, a, n);
    case L4LM_TYPE_F16: return lanes(L4LM_TYPE_F16, acc, w, a, n);
    case L4LM_TYPE_BF16: return lanes(L4LM_TYPE_BF16, acc, w, a, n);
    default: return 0;
    }
}

/* Exact sum of 32 int8 products: each int16 lane adds two products, at most
** 2 * 128 * 127 in size, before widening to int32. */
static inline int32_t isum32(int8x16_t w0, int8x16_t w1, int8x16_t x0, int8x16_t x1)
{
    int16x8_t p0 = vmlal_high_s8(vmull_s8(vget_low_s8(w0), vget_low_s8(x0)), w0, x0);
    int16x8_t p1 = vmlal_high_s8(vmull_s8(vget_low_s8(w1), vget_low_s8(x1)), w1, x1);
    return vaddvq_s32(vpadalq_s16(vpaddlq_s16(p0), p1));
}

/* A block's fp16 scale through the exact hardware conversion (fcvt). */
static inline float scale(const uint8_t *blk)
{
    __fp16 h;
    __builtin_memcpy(&h, blk, sizeof h);
    return (float)h;
}

float l4lm_simd_dot_quant(uint32_t wtype, const uint8_t *w, const uint8_t *a, uint32_t nb)
{
    float sum = 0.0f;
    size_t wb = wtype == L4LM_TYPE_Q8_0 ? L4LM_Q8_0_BYTES : L4LM_Q4_0_BYTES;
    for (uint32_t b = 0; b < nb; b++, w += wb, a += L4LM_Q8_0_BYTES) {
        int8x16_t x0 = vreinterpretq_s8_u8(vld1q_u8(a + 2));
        int8x16_t x1 = vreinterpretq_s8_u8(vld1q_u8(a + 18));
        int8x16_t q0, q1;
        if (wtype == L4LM_TYPE_Q8_0) {
            q0 = vreinterpretq_s8_u8(vld1q_u8(w + 2));
            q1 = vreinterpretq_s8_u8(vld1q_u8(w + 18));
        } else { /* low nibbles are elements 0..15, high ones 16..31 */
            uint8x16_t v = vld1q_u8(w + 2);
            int8x16_t eight = vdupq_n_s8(8);
            q0 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(15))), eight);
            q1 = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), eight);
        }
        sum = l4lm_kern_block(sum, isum32(q0, q1, x0, x1), scale(w), scale(a));
    }
    return sum;
}
#endif
