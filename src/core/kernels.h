/*
** kernels.h — private to kernels.c, kernels_x86.c and kernels_arm.c: the
** reduction order they share, so that the portable C path and the SIMD
** paths return the same bits on every CPU.
**
**  - F32, F16, BF16 (after converting both sides to float): element i is
**    multiplied, rounded, and added into lane i % 32 (no fused multiply-add);
**    the 32 lanes are then summed in a fixed tree (kernels.c).
**  - Q8_0, Q4_0 against Q8_0 activations: each 32-block's integer sum is
**    exact, and the blocks are summed in order by l4lm_kern_block.
*/
#ifndef L4LM_KERNELS_H
#define L4LM_KERNELS_H

#include "internal.h"
#include "half.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "the kernels read ggml's little-endian blocks with native loads");

#define L4LM_LANES 32
#define L4LM_QBLOCK 32
#define L4LM_Q8_0_BYTES 34 /* fp16 d, int8 q[32] */
#define L4LM_Q4_0_BYTES 18 /* fp16 d, 16 bytes: element j low nibble, j + 16 high */

static inline uint16_t l4lm_kern_ld16(const uint8_t *p)
{
    uint16_t h;
    __builtin_memcpy(&h, p, sizeof h);
    return h;
}

/* Adds one block: sum + isum * (d_w * d_x), with the fp16 scales decoded by
** the caller (in software or by an exact hardware conversion). Their product
** is exact in float, so only the multiply by isum and the add round. */
static inline float l4lm_kern_block(float sum, int32_t isum, float dw, float dx)
{
    return sum + (float)isum * (dw * dx);
}

#if defined(__x86_64__) && defined(__AVX2__)
#define L4LM_SIMD_X86 1
#elif defined(__aarch64__) && defined(__ARM_NEON)
#define L4LM_SIMD_ARM 1
#endif

#if defined(L4LM_SIMD_X86) || defined(L4LM_SIMD_ARM)
#define L4LM_SIMD 1
/* F32/F16/BF16: fills acc[0..31] from elements [0, n - n % 32) and returns
** that count; returns 0 and leaves acc alone for a type it does not handle. */
uint32_t l4lm_simd_lanes(uint32_t wtype, float acc[L4LM_LANES], const uint8_t *w,
                         const uint8_t *a, uint32_t n);
/* Q8_0/Q4_0 weights: the whole dot over nb blocks. */
float l4lm_simd_dot_quant(uint32_t wtype, const uint8_t *w, const uint8_t *a, uint32_t nb);
#endif

#endif
