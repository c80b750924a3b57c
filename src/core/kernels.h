/*
** kernels.h — private to kernels.c, kernels_x86.c and kernels_arm.c: the
** layout of prepared activations and the reduction order the kernels share,
** so that the portable C path and the SIMD paths return the same bits on
** every CPU.
**
** Reduction order of one dot product:
**  - F32, F16, BF16 (both sides as float): element i is multiplied, rounded,
**    and added into lane i % 32 (no fused multiply-add).
**  - Q8_0, Q4_0 weights against Q8 activations: block j's integer sum isum_j
**    is exact; (float)isum_j * (dw_j * dx_j) is added into lane j % 8. The
**    scale product of two fp16 values is exact in float, so only the
**    multiply by isum_j and the add round.
**  Then a fixed tree sums the lanes: lane j takes lane j + h, for h = half
**  the lanes, then half that, down to 1. Lanes are what lets SIMD keep 8 or
**  32 independent sums in registers.
**
** Prepared activations (l4lm_act_prepare), one row of n elements:
**  - F32, F16, BF16: n floats, rounded to F16/BF16 values for those types
**    (stored widened, so the kernels convert only the weights).
**  - Q8_0, Q4_0 weights: the quants and scales of ggml's quantize_row_q8_0,
**    nb = n / 32 blocks, as
**        int8  q[32 nb]   at 0          the quants, in the order below
**        float d[nb]      at 32 nb      block scales (fp16 values)
**        int32 s8[nb]     at 36 nb      8 * the sum of the block's quants
**    Block j's quants are at 32 j in element order, except in whole groups
**    of 8 blocks (j < nb - nb % 8), which are interleaved by 4 bytes:
**    element e of the group's block k is at 32 (e / 4) + 4 k + e % 4 of
**    the group's 256 bytes. So 32-bit lane k of a vector holds block k:
**    the weights, transposed the same way, meet their quants without
**    shuffles, and one vector's lanes sum 8 blocks at once. Q4_0's
**    nibbles are used unsigned (0..15): sum (w - 8) x = sum w x - s8.
**  Rows are padded to L4LM_ALIGN bytes.
*/
#ifndef L4LM_KERNELS_H
#define L4LM_KERNELS_H

#include "internal.h"
#include "half.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "the kernels read ggml's little-endian blocks with native loads");

#define L4LM_LANES         32 /* float lanes; the quantised dots use the first 8 */
#define L4LM_QLANES        8
#define L4LM_TILE          8 /* activation rows one pass over a weight row serves */
#define L4LM_QBLOCK        32
#define L4LM_Q8_0_BYTES    34 /* fp16 d, int8 q[32] */
#define L4LM_Q4_0_BYTES    18 /* fp16 d, 16 bytes: element j low nibble, j + 16 high */
#define L4LM_QGROUP        8  /* blocks per SIMD step, interleaved in activations */
#define L4LM_PREFETCH_ROWS 16 /* how far ahead the SIMD loops ask for weight rows */

static inline uint16_t l4lm_kern_ld16(const uint8_t *p)
{
    uint16_t h;
    __builtin_memcpy(&h, p, sizeof h);
    return h;
}

static inline bool l4lm_kern_quant(uint32_t t)
{
    return t == L4LM_TYPE_Q8_0 || t == L4LM_TYPE_Q4_0;
}

/* Offsets of a quantised activation row's scales and sums (nb blocks). */
static inline size_t l4lm_kern_qa_d(uint32_t nb)
{
    return (size_t)nb * L4LM_QBLOCK;
}

static inline size_t l4lm_kern_qa_s8(uint32_t nb)
{
    return (size_t)nb * (L4LM_QBLOCK + 4);
}

/* Adds one block's contribution into its lane. */
static inline float l4lm_kern_block(float lane, int32_t isum, float dw, float dx)
{
    return lane + (float)isum * (dw * dx);
}

#if defined(__x86_64__) && defined(__AVX2__)
#define L4LM_SIMD_X86 1
#elif defined(__aarch64__) && defined(__ARM_NEON)
#define L4LM_SIMD_ARM 1
#endif

/* Adds elements done..n-1 of the dot of weight row w with activation row a
** to the lanes acc (32 floats; the quantised types use 8) and sums them in
** the fixed tree: the C code that finishes what a SIMD loop left over. */
float l4lm_kern_finish(uint32_t wtype, const uint8_t *w, const uint8_t *a, uint32_t n,
                       uint32_t done, float *acc);

#if defined(L4LM_SIMD_X86) || defined(L4LM_SIMD_ARM)
#define L4LM_SIMD 1
/* l4lm_matmul for rows r0..r1-1 of w (row_bytes apart) and na <=
** L4LM_TILE activation rows; false, with nothing written, for a type it
** does not handle. ahead: prefetch the rows L4LM_PREFETCH_ROWS further on,
** which only the first pass over a tile of rows needs. */
bool l4lm_simd_matmul(uint32_t wtype, const uint8_t *w, size_t row_bytes, const uint8_t *act,
                      size_t act_stride, uint32_t n, uint32_t na, uint32_t r0, uint32_t r1,
                      float *y, size_t y_stride, bool ahead);
/* What the SIMD path uses, for l4lm_kernels_simd. */
const char *l4lm_simd_name(void);
#endif

#if defined(L4LM_SIMD_X86) && defined(__F16C__)
#define L4LM_SIMD_F16_ROUND 1
/* o[i] = x[i] rounded to F16, as l4lm_half_decode(l4lm_f32_to_fp16(x[i]))
** gives it, for a leading part of the row; returns how many it did. */
uint32_t l4lm_simd_round_f16(const float *x, uint32_t n, float *o);
#endif

#endif
