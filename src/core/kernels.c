/*
** kernels.c — dot products and matrix-vector products over the weight types
** F32, F16, BF16, Q8_0 and Q4_0, in portable C. kernels_x86.c and
** kernels_arm.c run the same arithmetic in SIMD when the build targets
** AVX2 or NEON, in the same order (kernels.h), so all paths agree bit for bit.
**
** As in ggml, the activations are first converted to the weight type's
** partner type, which makes results match llama.cpp's: F32 stays F32, F16
** and BF16 activations are rounded to F16/BF16, and Q8_0/Q4_0 weights meet
** activations quantised to Q8_0 blocks (ggml's block_q8_0 layout) the way
** ggml's reference quantize_row_q8_0 does. Weight rows may be unaligned.
*/
#include "kernels.h"

static float ld_f32(const uint8_t *p)
{
    float f;
    __builtin_memcpy(&f, p, sizeof f);
    return f;
}

size_t l4lm_act_bytes(uint32_t wtype, uint32_t n)
{
    switch (wtype) {
    case L4LM_TYPE_F32: return (size_t)n * 4;
    case L4LM_TYPE_F16:
    case L4LM_TYPE_BF16: return (size_t)n * 2;
    case L4LM_TYPE_Q8_0:
    case L4LM_TYPE_Q4_0: return (size_t)(n / L4LM_QBLOCK) * L4LM_Q8_0_BYTES;
    default: return 0;
    }
}

/* roundf (halves away from zero) into int8's symmetric range. |v| <= 127
** for finite input; inf/NaN input saturates or gives 0 instead of the
** undefined float-to-int conversion. */
static int32_t round_q8(float v)
{
    if (v != v)
        return 0;
    if (v >= 127.0f)
        return 127;
    if (v <= -127.0f)
        return -127;
    int32_t t = (int32_t)v;      /* toward zero */
    float frac = v - (float)t;   /* exact */
    if (frac >= 0.5f)
        t++;
    else if (frac <= -0.5f)
        t--;
    return t;
}

/* ggml's reference: d = amax / 127, q = round(x / d), d stored as fp16. */
static void quantize_q8_0(const float *x, uint8_t *blk)
{
    float amax = 0.0f;
    for (int j = 0; j < L4LM_QBLOCK; j++) {
        float v = x[j] < 0 ? -x[j] : x[j];
        if (v > amax)
            amax = v;
    }
    float d = amax / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    uint16_t dh = l4lm_f32_to_fp16(d);
    __builtin_memcpy(blk, &dh, sizeof dh);
    for (int j = 0; j < L4LM_QBLOCK; j++)
        blk[2 + j] = (uint8_t)(int8_t)round_q8(x[j] * id);
}

void l4lm_act_prepare(uint32_t wtype, const float *x, uint32_t n, void *act)
{
    uint8_t *o = act;
    switch (wtype) {
    case L4LM_TYPE_F32:
        __builtin_memcpy(o, x, (size_t)n * 4);
        break;
    case L4LM_TYPE_F16:
    case L4LM_TYPE_BF16:
        for (uint32_t i = 0; i < n; i++) {
            uint16_t h = wtype == L4LM_TYPE_F16 ? l4lm_f32_to_fp16(x[i]) : l4lm_f32_to_bf16(x[i]);
            __builtin_memcpy(o + 2 * (size_t)i, &h, sizeof h);
        }
        break;
    case L4LM_TYPE_Q8_0:
    case L4LM_TYPE_Q4_0:
        for (uint32_t b = 0; b < n / L4LM_QBLOCK; b++)
            quantize_q8_0(x + (size_t)b * L4LM_QBLOCK, o + (size_t)b * L4LM_Q8_0_BYTES);
        break;
    default:
        break;
    }
}

/* The product of one element of the float types, written once for all three. */
static inline float fprod(uint32_t t, const uint8_t *w, const uint8_t *a)
{
    switch (t) {
    case L4LM_TYPE_F16:
        return l4lm_half_decode(l4lm_kern_ld16(w)) * l4lm_half_decode(l4lm_kern_ld16(a));
    case L4LM_TYPE_BF16:
        return l4lm_bf16_decode(l4lm_kern_ld16(w)) * l4lm_bf16_decode(l4lm_kern_ld16(a));
    default:
        return ld_f32(w) * ld_f32(a);
    }
}

static inline __attribute__((always_inline)) void accumulate(uint32_t t, float *acc,
                                                             const uint8_t *w, const uint8_t *a,
                                                             uint32_t len)
{
    size_t es = t == L4LM_TYPE_F32 ? 4 : 2;
    for (uint32_t j = 0; j < len; j++)
        acc[j] += fprod(t, w + j * es, a + j * es);
}

/* Lane i % 32 takes element i; then a fixed tree sums the lanes. Inlined
** with a constant t so each type gets its own loop without a switch in it. */
static inline __attribute__((always_inline)) float dot_float(uint32_t t, const uint8_t *w,
                                                              const uint8_t *a, uint32_t n,
                                                              bool simd)
{
    size_t es = t == L4LM_TYPE_F32 ? 4 : 2;
    float acc[L4LM_LANES] = {0};
    uint32_t i = 0;
#ifdef L4LM_SIMD
    if (simd)
        i = l4lm_simd_lanes(t, acc, w, a, n);
#else
    (void)simd;
#endif
    for (; i + L4LM_LANES <= n; i += L4LM_LANES) /* fixed count: the compiler vectorises */
        accumulate(t, acc, w + i * es, a + i * es, L4LM_LANES);
    accumulate(t, acc, w + i * es, a + i * es, n - i);
    for (uint32_t half = L4LM_LANES / 2; half > 0; half /= 2)
        for (uint32_t j = 0; j < half; j++)
            acc[j] += acc[j + half];
    return acc[0];
}

static int32_t isum_q8_0(const uint8_t *wb, const uint8_t *ab)
{
    const int8_t *wq = (const int8_t *)(wb + 2), *aq = (const int8_t *)(ab + 2);
    int32_t s = 0;
    for (int j = 0; j < L4LM_QBLOCK; j++)
        s += wq[j] * aq[j];
    return s;
}

static int32_t isum_q4_0(const uint8_t *wb, const uint8_t *ab)
{
    const uint8_t *wq = wb + 2;
    const int8_t *aq = (const int8_t *)(ab + 2);
    int32_t s = 0;
    for (int j = 0; j < L4LM_QBLOCK / 2; j++)
        s += ((wq[j] & 15) - 8) * aq[j] + ((wq[j] >> 4) - 8) * aq[j + 16];
    return s;
}

static float scale(const uint8_t *blk)
{
    return l4lm_half_decode(l4lm_kern_ld16(blk));
}

static float dot_quant(uint32_t t, const uint8_t *w, const uint8_t *a, uint32_t n, bool simd)
{
    uint32_t nb = n / L4LM_QBLOCK;
#ifdef L4LM_SIMD
    if (simd)
        return l4lm_simd_dot_quant(t, w, a, nb);
#else
    (void)simd;
#endif
    float sum = 0.0f;
    if (t == L4LM_TYPE_Q8_0) {
        for (uint32_t b = 0; b < nb; b++, w += L4LM_Q8_0_BYTES, a += L4LM_Q8_0_BYTES)
            sum = l4lm_kern_block(sum, isum_q8_0(w, a), scale(w), scale(a));
    } else {
        for (uint32_t b = 0; b < nb; b++, w += L4LM_Q4_0_BYTES, a += L4LM_Q8_0_BYTES)
            sum = l4lm_kern_block(sum, isum_q4_0(w, a), scale(w), scale(a));
    }
    return sum;
}

static float dot(uint32_t t, const void *wrow, const void *act, uint32_t n, bool simd)
{
    const uint8_t *w = wrow, *a = act;
    switch (t) {
    case L4LM_TYPE_F32: return dot_float(L4LM_TYPE_F32, w, a, n, simd);
    case L4LM_TYPE_F16: return dot_float(L4LM_TYPE_F16, w, a, n, simd);
    case L4LM_TYPE_BF16: return dot_float(L4LM_TYPE_BF16, w, a, n, simd);
    case L4LM_TYPE_Q8_0:
    case L4LM_TYPE_Q4_0: return dot_quant(t, w, a, n, simd);
    default: return 0.0f;
    }
}

float l4lm_vec_dot(uint32_t wtype, const void *wrow, const void *act, uint32_t n)
{
    return dot(wtype, wrow, act, n, true);
}

float l4lm_vec_dot_plain(uint32_t wtype, const void *wrow, const void *act, uint32_t n)
{
    return dot(wtype, wrow, act, n, false);
}

void l4lm_matvec(uint32_t wtype, const void *w, const void *act, uint32_t n, float *y,
                 uint32_t r0, uint32_t r1)
{
    uint64_t rb = 0;
    bool known = l4lm_row_bytes(wtype, n, &rb);
    for (uint32_t r = r0; r < r1; r++)
        y[r] = known ? dot(wtype, (const uint8_t *)w + r * rb, act, n, true) : 0.0f;
}

void l4lm_row_to_f32(uint32_t wtype, const void *row, float *out, uint32_t n)
{
    const uint8_t *p = row;
    switch (wtype) {
    case L4LM_TYPE_F32:
        __builtin_memcpy(out, p, (size_t)n * 4);
        break;
    case L4LM_TYPE_F16:
        for (uint32_t i = 0; i < n; i++)
            out[i] = l4lm_half_decode(l4lm_kern_ld16(p + 2 * (size_t)i));
        break;
    case L4LM_TYPE_BF16:
        for (uint32_t i = 0; i < n; i++)
            out[i] = l4lm_bf16_decode(l4lm_kern_ld16(p + 2 * (size_t)i));
        break;
    case L4LM_TYPE_Q8_0:
        for (uint32_t b = 0; b < n / L4LM_QBLOCK; b++, p += L4LM_Q8_0_BYTES, out += L4LM_QBLOCK) {
            float d = l4lm_half_decode(l4lm_kern_ld16(p));
            for (int j = 0; j < L4LM_QBLOCK; j++)
                out[j] = (float)(int8_t)p[2 + j] * d;
        }
        break;
    case L4LM_TYPE_Q4_0:
        for (uint32_t b = 0; b < n / L4LM_QBLOCK; b++, p += L4LM_Q4_0_BYTES, out += L4LM_QBLOCK) {
            float d = l4lm_half_decode(l4lm_kern_ld16(p));
            for (int j = 0; j < L4LM_QBLOCK / 2; j++) {
                out[j] = (float)((p[2 + j] & 15) - 8) * d;
                out[j + 16] = (float)((p[2 + j] >> 4) - 8) * d;
            }
        }
        break;
    default:
        break;
    }
}
