/*
** kernels_k.h — private to kernels.c, kernels_k.c, kernels_k_x86.c and
** kernels_k_arm.c: the K-quant weight types (ggml's Q2_K..Q6_K, and Q8_K),
** their activation layout and the reduction order that the portable C path
** and the SIMD paths share, so all return the same bits on every CPU.
**
** Weights: ggml's 256-element super-blocks, bit for bit. Every type decodes
** to integer quants q_i, a super-block scale d (fp16; float for Q8_K), and
** per group of 16 elements an integer scale sc_g and integer min mn_g
** (mn_g = 0 and dmin = 0 for Q3_K, Q6_K, Q8_K), standing for
**     w_i = (d * sc_g) * q_i - (dmin * mn_g)          (row_to_f32, as ggml)
** Activations: quantised like ggml's quantize_row_q8_K reference (per block
** of 256: amax's signed value m, iscale = -127 / m, q = round-half-even of
** iscale * x capped at 127, d = 1 / iscale as a float), stored as
**        int8  q[256 nb]    at 0          the quants, in element order
**        int16 bsum[16 nb]  at 256 nb     sums of each 16 quants
**        float d[nb]        at 288 nb     block scales
** (ggml's block_q8_K fields as three arrays, so each stays aligned).
**
** Reduction order of one dot: super-block b goes to lane b % 8 of eight
** float accumulators, each starting at +0 and taking its super-blocks in
** increasing order:
**     isum_b = sum_g sc_g * sum_{i in g} q_i x_i        exact in int32
**     msum_b = sum_g mn_g * bsum_g                       exact in int32
**     lane = lane + ((float)isum_b * (d_b * dx_b) - (float)msum_b * (dmin_b * dx_b))
** (l4lm_kq_step), and at the end the lanes add as
**     ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7))      (l4lm_kq_lanes)
** Only the float steps round; the integer sums may be formed in any order,
** which is what frees SIMD, and the eight lanes let one vector of float
** steps serve eight super-blocks. A lane with no super-block left stays as
** it is: adding (+-0) to a lane leaves it unchanged, since a lane that
** starts at +0 never becomes -0, so SIMD may run such lanes on zeros.
** Bounds: |isum| <= 128 * 63 * 127 * 256 < 2^31 (Q6_K, the widest).
*/
#ifndef L4LM_KERNELS_K_H
#define L4LM_KERNELS_K_H

#include "kernels.h"

#define L4LM_QK_K       256
#define L4LM_Q8K_ACT    292 /* prepared activation bytes per super-block */
#define L4LM_Q2_K_BYTES 84
#define L4LM_Q3_K_BYTES 110
#define L4LM_Q4_K_BYTES 144
#define L4LM_Q5_K_BYTES 176
#define L4LM_Q6_K_BYTES 210
#define L4LM_Q8_K_BYTES 292

static inline bool l4lm_kq_type(uint32_t t)
{
    return t >= L4LM_TYPE_Q2_K && t <= L4LM_TYPE_Q8_K;
}

/* Offsets in a prepared activation row of nb super-blocks. */
static inline size_t l4lm_kq_bsum(uint32_t nb)
{
    return (size_t)nb * L4LM_QK_K;
}

static inline size_t l4lm_kq_d(uint32_t nb)
{
    return (size_t)nb * (L4LM_QK_K + 32);
}

/* One super-block's float step of the reduction order above. */
static inline float l4lm_kq_step(float acc, int32_t isum, int32_t msum, float d, float dmin,
                                 float dx)
{
    return acc + ((float)isum * (d * dx) - (float)msum * (dmin * dx));
}

#define L4LM_KQ_LANES 8

/* The end of the reduction order above: the eight lanes summed. */
static inline float l4lm_kq_lanes(const float l[L4LM_KQ_LANES])
{
    return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));
}

/* The 6-bit scales and mins of Q4_K/Q5_K (12 bytes at p) as 8 + 8 bytes:
** bytes 0-3 hold scales 0-3 and 4-7 mins 0-3 in their low 6 bits; bytes
** 8-11 hold the low nibbles of scales 4-7 and (high nibble) mins 4-7,
** whose top 2 bits are the top bits of bytes 0-3 and 4-7. */
static inline void l4lm_kq_scales_k4(const uint8_t *p, uint64_t *sc, uint64_t *mn)
{
    uint32_t u0, u1, u2;
    __builtin_memcpy(&u0, p, 4);
    __builtin_memcpy(&u1, p + 4, 4);
    __builtin_memcpy(&u2, p + 8, 4);
    uint32_t s_hi = (u2 & 0x0f0f0f0fu) | ((u0 >> 6) & 0x03030303u) << 4;
    uint32_t m_hi = ((u2 >> 4) & 0x0f0f0f0fu) | ((u1 >> 6) & 0x03030303u) << 4;
    *sc = (u0 & 0x3f3f3f3fu) | (uint64_t)s_hi << 32;
    *mn = (u1 & 0x3f3f3f3fu) | (uint64_t)m_hi << 32;
}

/* Bytes of a prepared activation row of n elements (before alignment). */
size_t l4lm_kq_act_bytes(uint32_t n);
void l4lm_kq_act_prepare(const l4lm_kern *k, const float *x, uint32_t n, uint8_t *act);
/* The whole dot in portable C, in the order above. */
float l4lm_kq_dot(uint32_t t, const uint8_t *w, const uint8_t *a, uint32_t n);
/* l4lm_matmul for a K type: rows r0..r1-1 of rb bytes, n_b activations. */
void l4lm_kq_matmul(const l4lm_kern *k, uint32_t t, const uint8_t *w, size_t rb, const uint8_t *act,
                    size_t st, uint32_t n, float *y, size_t ys, uint32_t r0, uint32_t r1,
                    uint32_t n_b);
void l4lm_kq_row_to_f32(uint32_t t, const uint8_t *row, float *out, uint32_t n);

#endif
