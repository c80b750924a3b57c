/*
** kernels_rvv.c — RISC-V Vector (RVV 1.0) inner loops of the kernels,
** compiled only when the build targets the V extension (clang's RVV
** intrinsics). They keep the reduction order of kernels.h — separate
** multiply and add, float lane i % 32 (BF16: pair i / 2, in lane
** i / 2 % 32), exact integer block sums into lane j % 8 — so they return
** exactly what the portable C path returns, for any
** vector length: every loop sets a fixed element count (32 float lanes in
** one LMUL=8 register group, 32 bytes of a block in LMUL=2), which VLEN 128,
** the least RVV 1.0 allows, already holds, so a longer VLEN changes nothing
** but the tail of the registers, which no instruction reads. The lanes
** are summed by the C code's tree (l4lm_kern_finish), the block sums'
** float steps are the C path's scalar expressions.
**
** Weights and float activations are read with byte loads (rows may be
** unaligned), the prepared quantised activations with 32-bit strided loads
** (they are aligned). Without Zvfh (QEMU 7.2 has none), F16 weights are
** widened with integer operations, bit for bit l4lm_half_decode.
*/
#include "kernels.h"

#ifdef L4LM_SIMD_RVV
#include <riscv_vector.h>

#define FLANES L4LM_LANES /* float lanes: one e32m8 group at VLEN >= 128 */
#define QBYTES L4LM_QBLOCK

/* ---------------------------------------------------------- F32, F16, BF16 */

/* l4lm_half_decode of 32 halves, in lanes: zero and subnormals as m 2^-24
** (exact), inf and NaN quieted, normals rebiased; then the sign. */
static inline vfloat32m8_t half_to_f32(vuint32m8_t h, size_t vl)
{
    vuint32m8_t e = __riscv_vand_vx_u32m8(h, 0x7c00u, vl), m = __riscv_vand_vx_u32m8(h, 0x3ffu, vl);
    vuint32m8_t mag = __riscv_vsll_vx_u32m8(__riscv_vand_vx_u32m8(h, 0x7fffu, vl), 13, vl);
    vfloat32m8_t tiny = __riscv_vfmul_vf_f32m8(__riscv_vfcvt_f_xu_v_f32m8(m, vl), 0x1p-24f, vl);
    vuint32m8_t bits = __riscv_vadd_vx_u32m8(mag, 112u << 23, vl);
    vuint32m8_t special = __riscv_vadd_vx_u32m8(mag, 224u << 23, vl);
    special = __riscv_vor_vx_u32m8_mu(__riscv_vmsne_vx_u32m8_b4(m, 0, vl), special, special,
                                      0x400000u, vl);
    bits = __riscv_vmerge_vvm_u32m8(bits, special, __riscv_vmseq_vx_u32m8_b4(e, 0x7c00u, vl), vl);
    bits = __riscv_vmerge_vvm_u32m8(bits, __riscv_vreinterpret_v_f32m8_u32m8(tiny),
                                    __riscv_vmseq_vx_u32m8_b4(e, 0, vl), vl);
    vuint32m8_t sign = __riscv_vsll_vx_u32m8(__riscv_vand_vx_u32m8(h, 0x8000u, vl), 16, vl);
    return __riscv_vreinterpret_v_u32m8_f32m8(__riscv_vor_vv_u32m8(bits, sign, vl));
}

/* 32 weights of type t at p, as floats (vl 32); byte loads need no alignment. */
static inline vfloat32m8_t load32(uint32_t t, const uint8_t *p, size_t vl)
{
    if (t == L4LM_TYPE_F32)
        return __riscv_vreinterpret_v_u32m8_f32m8(
            __riscv_vreinterpret_v_u8m8_u32m8(__riscv_vle8_v_u8m8(p, 4 * vl)));
    vuint16m4_t h = __riscv_vreinterpret_v_u8m4_u16m4(__riscv_vle8_v_u8m4(p, 2 * vl));
    vuint32m8_t u = __riscv_vzext_vf2_u32m8(h, vl);
    if (t == L4LM_TYPE_BF16)
        return __riscv_vreinterpret_v_u32m8_f32m8(__riscv_vsll_vx_u32m8(u, 16, vl));
    return half_to_f32(u, vl);
}

/* One dot of weight row w (type t) with float row x: 32 lanes, each a
** multiply then an add per element, the rest and the tree in C. */
static inline __attribute__((always_inline)) float dot_float(uint32_t t, const uint8_t *w,
                                                             const uint8_t *x, uint32_t n)
{
    size_t es = t == L4LM_TYPE_F32 ? 4 : 2, vl = __riscv_vsetvl_e32m8(FLANES);
    vfloat32m8_t acc = __riscv_vfmv_v_f_f32m8(0.0f, vl);
    uint32_t i = 0;
    for (; i + FLANES <= n; i += FLANES) {
        vfloat32m8_t wv = load32(t, w + i * es, vl);
        vfloat32m8_t xv = load32(L4LM_TYPE_F32, x + 4 * (size_t)i, vl);
        acc = __riscv_vfadd_vv_f32m8(acc, __riscv_vfmul_vv_f32m8(wv, xv, vl), vl);
    }
    float lanes[FLANES];
    __riscv_vse32_v_f32m8(lanes, acc, vl);
    return l4lm_kern_finish(t, w, x, n, i, lanes);
}

/* The same for a BF16 row against a prepared BF16 row's halves, in pairs
** (kernels.h): 64 halves as 32 lanes of two, the odd element's product
** added first (its lane's high half, masked), then the even's (shifted). */
static float dot_bf16(const uint8_t *w, const uint8_t *act, uint32_t n)
{
    size_t vl = __riscv_vsetvl_e32m8(FLANES);
    const uint8_t *x = l4lm_kern_halves(act, n);
    vfloat32m8_t acc = __riscv_vfmv_v_f_f32m8(0.0f, vl);
    uint32_t i = 0;
    for (; i + 2 * FLANES <= n; i += 2 * FLANES) {
        vuint32m8_t wv = __riscv_vreinterpret_v_u8m8_u32m8(__riscv_vle8_v_u8m8(w + 2 * i, 4 * vl));
        vuint32m8_t xv = __riscv_vreinterpret_v_u8m8_u32m8(__riscv_vle8_v_u8m8(x + 2 * i, 4 * vl));
        vfloat32m8_t wo =
            __riscv_vreinterpret_v_u32m8_f32m8(__riscv_vand_vx_u32m8(wv, 0xffff0000u, vl));
        vfloat32m8_t xo =
            __riscv_vreinterpret_v_u32m8_f32m8(__riscv_vand_vx_u32m8(xv, 0xffff0000u, vl));
        vfloat32m8_t we = __riscv_vreinterpret_v_u32m8_f32m8(__riscv_vsll_vx_u32m8(wv, 16, vl));
        vfloat32m8_t xe = __riscv_vreinterpret_v_u32m8_f32m8(__riscv_vsll_vx_u32m8(xv, 16, vl));
        acc = __riscv_vfadd_vv_f32m8(acc, __riscv_vfmul_vv_f32m8(wo, xo, vl), vl);
        acc = __riscv_vfadd_vv_f32m8(acc, __riscv_vfmul_vv_f32m8(we, xe, vl), vl);
    }
    float lanes[FLANES];
    __riscv_vse32_v_f32m8(lanes, acc, vl);
    return l4lm_kern_finish(L4LM_TYPE_BF16, w, act, n, i, lanes);
}

/* Rows r0..r1-1 against na float activation rows (prepared F16 rows start
** with their values as floats, which the C path reads too). */
static inline __attribute__((always_inline)) void
float_rows(uint32_t t, const uint8_t *w, size_t rb, const uint8_t *act, size_t st, uint32_t n,
           uint32_t na, uint32_t r0, uint32_t r1, float *y, size_t ys)
{
    for (uint32_t r = r0; r < r1; r++)
        for (uint32_t a = 0; a < na; a++)
            y[a * ys + r] = t == L4LM_TYPE_BF16 ? dot_bf16(w + r * rb, act + a * st, n)
                                                : dot_float(t, w + r * rb, act + a * st, n);
}

/* The widening is exact, then a separate multiply and add, as the C path. */
uint32_t l4lm_simd_axpy_f16(const uint8_t *v, float a, float *out, uint32_t n)
{
    size_t vl = __riscv_vsetvl_e32m8(FLANES);
    uint32_t i = 0;
    for (; i + FLANES <= n; i += FLANES) {
        vfloat32m8_t x = load32(L4LM_TYPE_F16, v + 2 * (size_t)i, vl);
        vfloat32m8_t o = __riscv_vle32_v_f32m8(out + i, vl);
        __riscv_vse32_v_f32m8(out + i,
                              __riscv_vfadd_vv_f32m8(o, __riscv_vfmul_vf_f32m8(x, a, vl), vl), vl);
    }
    return i;
}

uint32_t l4lm_simd_dots(uint32_t t, const uint8_t *rows, size_t rb, const float *x, uint32_t n,
                        uint32_t n_rows, float *out)
{
    if (t != L4LM_TYPE_F32 && t != L4LM_TYPE_F16)
        return 0;
    for (uint32_t r = 0; r < n_rows; r++)
        out[r] = t == L4LM_TYPE_F32
                     ? dot_float(L4LM_TYPE_F32, rows + r * rb, (const uint8_t *)x, n)
                     : dot_float(L4LM_TYPE_F16, rows + r * rb, (const uint8_t *)x, n);
    return n_rows;
}

/* --------------------------------------- Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 */

/* Weight block b's 32 integer quants in element order (vl 32): Q8_0's
** bytes, or the nibble types' unsigned quants, with Q5's fifth bit (bit e
** of qh, which a mask load reads as lane e) adding 16. */
static inline vint8m2_t block_quants(uint32_t t, const uint8_t *b)
{
    if (t == L4LM_TYPE_Q8_0)
        return __riscv_vle8_v_i8m2((const int8_t *)b + 2, QBYTES);
    vuint8m2_t qs = __riscv_vle8_v_u8m2(b + l4lm_kern_qs(t), QBYTES / 2);
    vuint8m2_t lo = __riscv_vand_vx_u8m2(qs, 15, QBYTES / 2);
    vuint8m2_t q =
        __riscv_vslideup_vx_u8m2(lo, __riscv_vsrl_vx_u8m2(qs, 4, QBYTES / 2), QBYTES / 2, QBYTES);
    if (l4lm_kern_q5(t))
        q = __riscv_vor_vx_u8m2_mu(__riscv_vlm_v_b4(b + l4lm_kern_qh(t), QBYTES), q, q, 16, QBYTES);
    return __riscv_vreinterpret_v_u8m2_i8m2(q);
}

/* The exact sum of block k's products in a group of 8 interleaved
** activation blocks at x (kernels.h): its 4-byte chunks lie 32 bytes apart. */
static inline int32_t block_isum(vint8m2_t q, const uint8_t *x, uint32_t k)
{
    vint8m2_t xv = __riscv_vreinterpret_v_i32m2_i8m2(
        __riscv_vlse32_v_i32m2((const int32_t *)(const void *)(x + 4 * k), 32, QBYTES / 4));
    vint16m4_t p = __riscv_vwmul_vv_i16m4(q, xv, QBYTES);
    vint32m1_t s = __riscv_vwredsum_vs_i16m4_i32m1(p, __riscv_vmv_v_x_i32m1(0, 1), QBYTES);
    return __riscv_vmv_x_s_i32m1_i32(s);
}

/* The 8 fp16 fields at p, p + bb, ... as floats in 8 lanes (exact). */
static inline vfloat32m2_t scales8(const uint8_t *p, size_t bb)
{
    vuint16m4_t h =
        __riscv_vlse16_v_u16m4((const uint16_t *)(const void *)p, (ptrdiff_t)bb, L4LM_QGROUP);
    vfloat32m8_t f = half_to_f32(__riscv_vzext_vf2_u32m8(h, L4LM_QGROUP), L4LM_QGROUP);
    return __riscv_vlmul_trunc_v_f32m8_f32m2(f);
}

/* A group's float steps into the 8 lanes at lane, block k in lane k: the C
** path's expression (kernels.c, lanes_quant) lane by lane, less Q4_0's or
** Q5_0's offset times s8, scaled by dw dx, plus (Q4_1, Q5_1) the min mw
** times the activation's s. Blocks j..j+7 of activation row a. */
static inline void group_step(uint32_t t, float *lane, const int32_t *isum, vfloat32m2_t dw,
                              vfloat32m2_t mw, const uint8_t *a, uint32_t nb, uint32_t j)
{
    const size_t vl = L4LM_QGROUP;
    const uint8_t *sa = a + l4lm_kern_qa_s8(nb) + 4 * (size_t)j;
    vint32m2_t is = __riscv_vle32_v_i32m2(isum, vl);
    if (l4lm_kern_offset(t))
        is = __riscv_vsub_vv_i32m2(
            is,
            __riscv_vmul_vx_i32m2(__riscv_vle32_v_i32m2((const int32_t *)(const void *)sa, vl),
                                  l4lm_kern_offset(t), vl),
            vl);
    vfloat32m2_t dx = __riscv_vle32_v_f32m2(
        (const float *)(const void *)(a + l4lm_kern_qa_d(nb) + 4 * (size_t)j), vl);
    vfloat32m2_t p = __riscv_vfmul_vv_f32m2(__riscv_vfcvt_f_x_v_f32m2(is, vl),
                                            __riscv_vfmul_vv_f32m2(dw, dx, vl), vl);
    if (l4lm_kern_q8_1(t))
        p = __riscv_vfadd_vv_f32m2(
            p,
            __riscv_vfmul_vv_f32m2(mw, __riscv_vle32_v_f32m2((const float *)(const void *)sa, vl),
                                   vl),
            vl);
    __riscv_vse32_v_f32m2(lane, __riscv_vfadd_vv_f32m2(__riscv_vle32_v_f32m2(lane, vl), p, vl), vl);
}

/* One weight row against na activation rows: whole groups of 8 blocks in
** vectors, each weight block unpacked once for all rows; the C code adds
** the blocks left and sums the 8 lanes. */
static inline __attribute__((always_inline)) void quant_row(uint32_t t, const uint8_t *w,
                                                            const uint8_t *act, size_t st,
                                                            uint32_t n, uint32_t na, float *y,
                                                            size_t ys)
{
    uint32_t nb = n / QBYTES, full = nb / L4LM_QGROUP * L4LM_QGROUP;
    size_t bb = l4lm_kern_bbytes(t);
    float acc[L4LM_TILE][L4LM_QLANES];
    int32_t isum[L4LM_TILE][L4LM_QGROUP];
    for (uint32_t a = 0; a < na; a++)
        for (uint32_t k = 0; k < L4LM_QLANES; k++)
            acc[a][k] = 0.0f;
    for (uint32_t j = 0; j < full; j += L4LM_QGROUP) {
        const uint8_t *g = w + j * bb;
        for (uint32_t k = 0; k < L4LM_QGROUP; k++) {
            vint8m2_t q = block_quants(t, g + k * bb);
            for (uint32_t a = 0; a < na; a++)
                isum[a][k] = block_isum(q, act + a * st + (size_t)j * QBYTES, k);
        }
        vfloat32m2_t dw = scales8(g, bb), mw = dw;
        if (l4lm_kern_q8_1(t))
            mw = scales8(g + 2, bb);
        for (uint32_t a = 0; a < na; a++)
            group_step(t, acc[a], isum[a], dw, mw, act + a * st, nb, j);
    }
    for (uint32_t a = 0; a < na; a++)
        y[a * ys] = l4lm_kern_finish(t, w, act + a * st, n, full * QBYTES, acc[a]);
}

static inline __attribute__((always_inline)) void
quant_rows(uint32_t t, const uint8_t *w, size_t rb, const uint8_t *act, size_t st, uint32_t n,
           uint32_t na, uint32_t r0, uint32_t r1, float *y, size_t ys)
{
    for (uint32_t r = r0; r < r1; r++)
        quant_row(t, w + r * rb, act, st, n, na, y + r, ys);
}

/* One copy of the loops per type. */
static inline __attribute__((always_inline)) void rows(uint32_t t, const uint8_t *w, size_t rb,
                                                       const uint8_t *act, size_t st, uint32_t n,
                                                       uint32_t na, uint32_t r0, uint32_t r1,
                                                       float *y, size_t ys)
{
    if (l4lm_kern_quant(t))
        quant_rows(t, w, rb, act, st, n, na, r0, r1, y, ys);
    else
        float_rows(t, w, rb, act, st, n, na, r0, r1, y, ys);
}

bool l4lm_simd_matmul(uint32_t wtype, const uint8_t *w, size_t row_bytes, const uint8_t *act,
                      size_t act_stride, uint32_t n, uint32_t na, uint32_t r0, uint32_t r1,
                      float *y, size_t y_stride, bool ahead)
{
    (void)ahead; /* no prefetch: RVV 1.0 has none, Zicbop is optional */
    switch (wtype) {
    case L4LM_TYPE_F32:
        rows(L4LM_TYPE_F32, w, row_bytes, act, act_stride, n, na, r0, r1, y, y_stride);
        break;
    case L4LM_TYPE_F16:
        rows(L4LM_TYPE_F16, w, row_bytes, act, act_stride, n, na, r0, r1, y, y_stride);
        break;
    case L4LM_TYPE_BF16:
        rows(L4LM_TYPE_BF16, w, row_bytes, act, act_stride, n, na, r0, r1, y, y_stride);
        break;
    case L4LM_TYPE_Q8_0:
        rows(L4LM_TYPE_Q8_0, w, row_bytes, act, act_stride, n, na, r0, r1, y, y_stride);
        break;
    case L4LM_TYPE_Q4_0:
        rows(L4LM_TYPE_Q4_0, w, row_bytes, act, act_stride, n, na, r0, r1, y, y_stride);
        break;
    case L4LM_TYPE_Q4_1:
        rows(L4LM_TYPE_Q4_1, w, row_bytes, act, act_stride, n, na, r0, r1, y, y_stride);
        break;
    case L4LM_TYPE_Q5_0:
        rows(L4LM_TYPE_Q5_0, w, row_bytes, act, act_stride, n, na, r0, r1, y, y_stride);
        break;
    case L4LM_TYPE_Q5_1:
        rows(L4LM_TYPE_Q5_1, w, row_bytes, act, act_stride, n, na, r0, r1, y, y_stride);
        break;
    default:
        return false;
    }
    return true;
}

#endif
