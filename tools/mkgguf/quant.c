/*
** mkgguf/quant.c — row sizes and encoders of every weight type mkgguf
** writes. Quantised rows are bit-for-bit what ggml's reference quantisers
** make of the same floats, so llama.cpp and l4lm read the same weights.
*/
#include "quant.h"

#include "internal.h"

#include <float.h>
#include <math.h>
#include <string.h>

uint64_t mkgguf_row_bytes(uint32_t type, uint64_t n)
{
    if (mkgguf_k_block_bytes(type))
        return n / QK_K * mkgguf_k_block_bytes(type);
    switch (type) {
    case L4LM_TYPE_F32:
        return 4 * n;
    case L4LM_TYPE_F16:
    case L4LM_TYPE_BF16:
        return 2 * n;
    case L4LM_TYPE_Q8_0:
        return n / QK * (2 + QK);
    case L4LM_TYPE_Q4_1:
        return n / QK * (4 + QK / 2);
    case L4LM_TYPE_Q5_0:
        return n / QK * (6 + QK / 2);
    case L4LM_TYPE_Q5_1:
        return n / QK * (8 + QK / 2);
    default:
        return n / QK * (2 + QK / 2); /* Q4_0 */
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

/* ggml's packing of 32 quants of 4 or 5 bits: element j in the low nibble
** of qs[j], element j + 16 in its high nibble; the fifth bit of element j,
** when qh is given, in bit j of the little-endian 32-bit qh. */
static void pack_quants(const uint8_t q[QK], uint8_t *qs, uint8_t *qh)
{
    uint32_t bits = 0;
    for (int j = 0; j < QK / 2; j++) {
        qs[j] = (uint8_t)((q[j] & 15) | (q[j + QK / 2] & 15) << 4);
        bits |= (uint32_t)(q[j] >> 4 & 1) << j | (uint32_t)(q[j + QK / 2] >> 4 & 1) << (j + QK / 2);
    }
    for (int k = 0; qh && k < 4; k++)
        qh[k] = (uint8_t)(bits >> (8 * k));
}

/* ggml's reference Q5_0: like Q4_0 with 5 bits, the signed value of
** largest magnitude maps to -16; block: fp16 d, qh, qs. */
static void quant_q5_0(const float *x, uint8_t *out)
{
    float amax = 0.0f, max = 0.0f;
    uint8_t q[QK];
    for (int j = 0; j < QK; j++) {
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    float d = max / -16.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    put_u16(out, l4lm_f32_to_fp16(d));
    for (int j = 0; j < QK; j++) {
        int v = (int8_t)(x[j] * id + 16.5f);
        q[j] = (uint8_t)(v < 31 ? v : 31);
    }
    pack_quants(q, out + 6, out + 2);
}

/* ggml's reference Q4_1 (bits 4) and Q5_1 (bits 5): d = (max - min) /
** (2^bits - 1), m = min, q = (x - min) / d rounded half up, Q4_1's capped
** at 15 (Q5_1's is not: ggml converts it as it is); block: fp16 d, fp16 m,
** [qh,] qs. */
static void quant_min(const float *x, uint8_t *out, int bits)
{
    float min = FLT_MAX, max = -FLT_MAX;
    uint8_t q[QK];
    for (int j = 0; j < QK; j++) {
        if (x[j] < min)
            min = x[j];
        if (x[j] > max)
            max = x[j];
    }
    float d = (max - min) / (float)((1 << bits) - 1), id = d != 0.0f ? 1.0f / d : 0.0f;
    put_u16(out, l4lm_f32_to_fp16(d));
    put_u16(out + 2, l4lm_f32_to_fp16(min));
    for (int j = 0; j < QK; j++) {
        float v = (x[j] - min) * id + 0.5f;
        if (bits == 4) {
            int v4 = (int8_t)v;
            q[j] = (uint8_t)(v4 < 15 ? v4 : 15);
        } else {
            q[j] = (uint8_t)v;
        }
    }
    if (bits == 4)
        pack_quants(q, out + 4, NULL);
    else
        pack_quants(q, out + 8, out + 4);
}

void mkgguf_encode_row(uint32_t type, const float *x, uint64_t n, uint8_t *out)
{
    for (uint64_t i = 0; mkgguf_k_block_bytes(type) && i < n; i += QK_K)
        mkgguf_encode_k(type, x + i, out + i / QK_K * mkgguf_k_block_bytes(type));
    for (uint64_t i = 0; type == L4LM_TYPE_Q8_0 && i < n; i += QK)
        quant_q8_0(x + i, out + i / QK * (2 + QK));
    for (uint64_t i = 0; type == L4LM_TYPE_Q4_0 && i < n; i += QK)
        quant_q4_0(x + i, out + i / QK * (2 + QK / 2));
    for (uint64_t i = 0; type == L4LM_TYPE_Q4_1 && i < n; i += QK)
        quant_min(x + i, out + i / QK * (4 + QK / 2), 4);
    for (uint64_t i = 0; type == L4LM_TYPE_Q5_0 && i < n; i += QK)
        quant_q5_0(x + i, out + i / QK * (6 + QK / 2));
    for (uint64_t i = 0; type == L4LM_TYPE_Q5_1 && i < n; i += QK)
        quant_min(x + i, out + i / QK * (8 + QK / 2), 5);
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
