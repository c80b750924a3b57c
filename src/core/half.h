/*
** half.h — decoding IEEE half (fp16) and bfloat16 to float. Inline because the
** kernels decode every weight through it; math.c wraps it as the out-of-line
** l4lm_fp16_to_f32/l4lm_bf16_to_f32 and holds the encoders.
** Integer-only, so the result does not depend on the FPU's denormal mode.
*/
#ifndef L4LM_HALF_H
#define L4LM_HALF_H

#include <stdint.h>

static inline float l4lm_f32_from_bits(uint32_t u)
{
    float f;
    __builtin_memcpy(&f, &u, sizeof f);
    return f;
}

static inline uint32_t l4lm_f32_bits(float f)
{
    uint32_t u;
    __builtin_memcpy(&u, &f, sizeof u);
    return u;
}

static inline float l4lm_half_decode(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t e = (h >> 10) & 0x1f, m = h & 0x3ffu, bits;
    if (e == 0x1f) { /* inf, or NaN made quiet as a hardware conversion does */
        bits = 0x7f800000u | (m << 13) | (m ? 0x400000u : 0);
    } else if (e != 0) { /* normal: rebias the exponent from 15 to 127 */
        bits = ((e + 112) << 23) | (m << 13);
    } else if (m != 0) { /* subnormal m * 2^-24: shift the top bit up to bit 10 */
        uint32_t sh = (uint32_t)__builtin_clz(m) - 21;
        bits = ((113 - sh) << 23) | (((m << sh) & 0x3ffu) << 13);
    } else {
        bits = 0;
    }
    return l4lm_f32_from_bits(sign | bits);
}

static inline float l4lm_bf16_decode(uint16_t h)
{
    return l4lm_f32_from_bits((uint32_t)h << 16);
}

#endif
