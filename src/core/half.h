/*
** half.h — decoding IEEE half (fp16) and bfloat16 to float. Inline because the
** kernels decode every weight through it; math.c wraps it as the out-of-line
** l4lm_fp16_to_f32/l4lm_bf16_to_f32 and holds the encoders.
** Branch-free so loops over it vectorise; no subnormal float is produced or
** read, so the result does not depend on the FPU's denormal mode.
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
    uint32_t e = h & 0x7c00u, m = h & 0x3ffu, mag = (uint32_t)(h & 0x7fff) << 13;
    /* zero and subnormals, m * 2^-24: exact, and the float is normal */
    uint32_t tiny = l4lm_f32_bits((float)m * 0x1p-24f);
    /* inf and NaN (made quiet, as hardware conversions do): exponent all ones */
    uint32_t special = (mag + (224u << 23)) | (m ? 0x400000u : 0);
    /* normal: move the bits up and rebias the exponent from 15 to 127 */
    uint32_t bits = e == 0 ? tiny : e == 0x7c00u ? special : mag + (112u << 23);
    return l4lm_f32_from_bits(sign | bits);
}

static inline float l4lm_bf16_decode(uint16_t h)
{
    return l4lm_f32_from_bits((uint32_t)h << 16);
}

#endif
