/*
** mkgguf/quant.c — row sizes and encoders of every weight type mkgguf
** writes. Quantised rows are bit-for-bit what ggml's reference quantisers
** make of the same floats, so llama.cpp and l4lm read the same weights.
*/
#include "quant.h"

#include "internal.h"

#include <math.h>
#include <string.h>

uint64_t mkgguf_row_bytes(uint32_t type, uint64_t n)
{
    switch (type) {
    case L4LM_TYPE_F32: return 4 * n;
    case L4LM_TYPE_F16:
    case L4LM_TYPE_BF16: return 2 * n;
    case L4LM_TYPE_Q8_0: return n / QK * (2 + QK);
    default: return n / QK * (2 + QK / 2); /* Q4_0 */
    }
}

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

/* ggml's reference Q8_0: d = amax/127, q = round(x * (1/d)). */
static void quant_q8_0(const float *x, uint8_t *out)
{
    float amax = 0.0f;
    for (int j = 0; j < QK; j++)
        amax = fmaxf(amax, fabsf(x[j]));
    float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    put_u16(out, l4lm_f32_to_fp16(d));
    for (int j = 0; j < QK; j++)
        out[2 + j] = (uint8_t)(int8_t)roundf(x[j] * id);
}

/* ggml's reference Q4_0: the signed value of largest magnitude maps to -8;
** element j goes to the low nibble of byte j, element j+16 to its high nibble. */
static void quant_q4_0(const float *x, uint8_t *out)
{
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < QK; j++) {
        if (amax < fabsf(x[j])) { /* strict: the first of equal magnitudes wins */
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    float d = max / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    put_u16(out, l4lm_f32_to_fp16(d));
    for (int j = 0; j < QK / 2; j++) {
        int lo = (int8_t)(x[j] * id + 8.5f), hi = (int8_t)(x[j + QK / 2] * id + 8.5f);
        out[2 + j] = (uint8_t)((lo < 15 ? lo : 15) | (hi < 15 ? hi : 15) << 4);
    }
}

void mkgguf_encode_row(uint32_t type, const float *x, uint64_t n, uint8_t *out)
{
    for (uint64_t i = 0; type == L4LM_TYPE_Q8_0 && i < n; i += QK)
        quant_q8_0(x + i, out + i / QK * (2 + QK));
    for (uint64_t i = 0; type == L4LM_TYPE_Q4_0 && i < n; i += QK)
        quant_q4_0(x + i, out + i / QK * (2 + QK / 2));
    for (uint64_t i = 0; type == L4LM_TYPE_F16 && i < n; i++)
        put_u16(out + 2 * i, l4lm_f32_to_fp16(x[i]));
    for (uint64_t i = 0; type == L4LM_TYPE_BF16 && i < n; i++)
        put_u16(out + 2 * i, l4lm_f32_to_bf16(x[i]));
    for (uint64_t i = 0; type == L4LM_TYPE_F32 && i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        for (int k = 0; k < 4; k++)
            out[4 * i + k] = (uint8_t)(u >> (8 * k));
    }
}
