/*
** kernels_k_rvv.c — RISC-V Vector (RVV 1.0) dot products of the Q4_K, Q5_K
** and Q6_K weight types against Q8_K activations. As in kernels_k_x86.c and
** kernels_k_arm.c, the integer sums of a super-block are exact (kernels_k.h
** bounds them) and the float steps are l4lm_kq_step itself in kernels_k.h's
** eight lanes, summed by l4lm_kq_lanes, so the results are the bits of the
** C path for any VLEN (every vector op has a fixed count: 32 bytes in
** LMUL=2, 16 in LMUL=1, which VLEN 128 holds). Other K types fall back to
** the C path.
**
** A super-block is unpacked once, with vectors, into 256 signed quants on
** the stack, and each group of 16 is dotted with up to L4LM_TILE
** activation rows by a widening multiply and a widening sum.
*/
#include "kernels_k.h"

#ifdef L4LM_SIMD_RVV
#include <riscv_vector.h>

#define INLINE static inline __attribute__((always_inline))
#define VL32   32 /* bytes per e8m2 step */

/* One super-block, unpacked: element e's quant in q[e], group g's scale
** sc[g] and min mn[g]. */
typedef struct kunp {
    int8_t q[L4LM_QK_K];
    int32_t sc[16], mn[16];
    float d, dmin;
} kunp;

static inline float half_at(const uint8_t *p)
{
    return l4lm_half_decode(l4lm_kern_ld16(p));
}

/* Q4_K and Q5_K: element 64 p + 32 k + l is nibble k of qs[32 p + l],
** plus 16 if bit 2p + k of qh[l] is set (Q5_K); sub-block j's scale and
** min serve its two groups. */
INLINE void unpack_q45_k(const uint8_t *blk, kunp *v, bool five)
{
    const uint8_t *qs = blk + (five ? 48 : 16);
    vuint8m2_t qh = __riscv_vle8_v_u8m2(blk + 16, VL32);
    for (int p = 0; p < 4; p++) {
        vuint8m2_t b = __riscv_vle8_v_u8m2(qs + 32 * p, VL32);
        vuint8m2_t lo = __riscv_vand_vx_u8m2(b, 15, VL32), hi = __riscv_vsrl_vx_u8m2(b, 4, VL32);
        if (five) {
            vuint8m2_t h0 = __riscv_vsrl_vx_u8m2(qh, 2 * p, VL32);
            vuint8m2_t h1 = __riscv_vsrl_vx_u8m2(qh, 2 * p + 1, VL32);
            lo = __riscv_vor_vv_u8m2(
                lo, __riscv_vsll_vx_u8m2(__riscv_vand_vx_u8m2(h0, 1, VL32), 4, VL32), VL32);
            hi = __riscv_vor_vv_u8m2(
                hi, __riscv_vsll_vx_u8m2(__riscv_vand_vx_u8m2(h1, 1, VL32), 4, VL32), VL32);
        }
        __riscv_vse8_v_u8m2((uint8_t *)v->q + 64 * p, lo, VL32);
        __riscv_vse8_v_u8m2((uint8_t *)v->q + 64 * p + 32, hi, VL32);
    }
    uint64_t sc, mn;
    l4lm_kq_scales_k4(blk + 4, &sc, &mn);
    for (int g = 0; g < 16; g++) {
        v->sc[g] = (int32_t)((sc >> (8 * (g / 2))) & 63);
        v->mn[g] = (int32_t)((mn >> (8 * (g / 2))) & 63);
    }
    v->d = half_at(blk);
    v->dmin = half_at(blk + 2);
}

/* Q6_K: in half h, element 128 h + 32 m + l has its low nibble in
** ql[64 h + l + 32 (m % 2)] (nibble m / 2) and its top 2 bits at bit 2m of
** qh[32 h + l]; counted from -32. */
INLINE void unpack_q6_k(const uint8_t *blk, kunp *v)
{
    for (int h = 0; h < 2; h++) {
        vuint8m2_t l0 = __riscv_vle8_v_u8m2(blk + 64 * h, VL32);
        vuint8m2_t l1 = __riscv_vle8_v_u8m2(blk + 64 * h + 32, VL32);
        vuint8m2_t hb = __riscv_vle8_v_u8m2(blk + 128 + 32 * h, VL32);
        for (int m = 0; m < 4; m++) {
            vuint8m2_t lo = m % 2 ? l1 : l0;
            lo = m / 2 ? __riscv_vsrl_vx_u8m2(lo, 4, VL32) : __riscv_vand_vx_u8m2(lo, 15, VL32);
            vuint8m2_t top = __riscv_vand_vx_u8m2(__riscv_vsrl_vx_u8m2(hb, 2 * m, VL32), 3, VL32);
            vuint8m2_t u = __riscv_vor_vv_u8m2(lo, __riscv_vsll_vx_u8m2(top, 4, VL32), VL32);
            vint8m2_t q = __riscv_vsub_vx_i8m2(__riscv_vreinterpret_v_u8m2_i8m2(u), 32, VL32);
            __riscv_vse8_v_i8m2(v->q + 128 * h + 32 * m, q, VL32);
        }
    }
    for (int g = 0; g < 16; g++) {
        v->sc[g] = (blk[192 + g] ^ 0x80) - 128; /* the int8 scale */
        v->mn[g] = 0;
    }
    v->d = half_at(blk + 208);
    v->dmin = 0.0f;
}

/* The exact sum of the 16 products of group g. */
static inline int32_t group_sum(const int8_t *q, const int8_t *x)
{
    vint16m2_t p =
        __riscv_vwmul_vv_i16m2(__riscv_vle8_v_i8m1(q, 16), __riscv_vle8_v_i8m1(x, 16), 16);
    vint32m1_t s = __riscv_vwredsum_vs_i16m2_i32m1(p, __riscv_vmv_v_x_i32m1(0, 1), 16);
    return __riscv_vmv_x_s_i32m1_i32(s);
}

/* One super-block against one activation row's block b: the float step
** of kernels_k.h from the exact sums. */
INLINE float block_step(float acc, const kunp *v, const uint8_t *arow, uint32_t nb, uint32_t b)
{
    const int8_t *x = (const int8_t *)arow + (size_t)b * L4LM_QK_K;
    const uint8_t *bs = arow + l4lm_kq_bsum(nb) + 32 * (size_t)b;
    int32_t isum = 0, msum = 0;
    for (int g = 0; g < 16; g++) {
        int16_t bsum;
        __builtin_memcpy(&bsum, bs + 2 * g, 2);
        isum += v->sc[g] * group_sum(v->q + 16 * g, x + 16 * g);
        msum += v->mn[g] * bsum;
    }
    float dx;
    __builtin_memcpy(&dx, arow + l4lm_kq_d(nb) + 4 * (size_t)b, 4);
    return l4lm_kq_step(acc, isum, msum, v->d, v->dmin, dx);
}

INLINE void rows(uint32_t t, const uint8_t *w, size_t rb, const uint8_t *act, size_t st, uint32_t n,
                 uint32_t na, uint32_t r0, uint32_t r1, float *y, size_t ys)
{
    uint32_t nb = n / L4LM_QK_K;
    size_t bb = t == L4LM_TYPE_Q4_K   ? L4LM_Q4_K_BYTES
                : t == L4LM_TYPE_Q5_K ? L4LM_Q5_K_BYTES
                                      : L4LM_Q6_K_BYTES;
    for (uint32_t r = r0; r < r1; r++) {
        const uint8_t *row = w + r * rb;
        float acc[L4LM_TILE][L4LM_KQ_LANES] = {{0}};
        for (uint32_t b = 0; b < nb; b++) {
            kunp v;
            if (t == L4LM_TYPE_Q6_K)
                unpack_q6_k(row + b * bb, &v);
            else
                unpack_q45_k(row + b * bb, &v, t == L4LM_TYPE_Q5_K);
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
    (void)ahead;
    if (t == L4LM_TYPE_Q4_K)
        rows(L4LM_TYPE_Q4_K, w, rb, act, st, n, na, r0, r1, y, ys);
    else if (t == L4LM_TYPE_Q5_K)
        rows(L4LM_TYPE_Q5_K, w, rb, act, st, n, na, r0, r1, y, ys);
    else if (t == L4LM_TYPE_Q6_K)
        rows(L4LM_TYPE_Q6_K, w, rb, act, st, n, na, r0, r1, y, ys);
    else
        return false;
    return true;
}

#endif
