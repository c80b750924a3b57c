/*
** kernels.c — dot products and matrix products over the weight types F32,
** F16, BF16, Q8_0 and Q4_0, in portable C. kernels_x86.c and kernels_arm.c
** run the same arithmetic in SIMD when the build targets AVX2 or NEON, in the
** same order (kernels.h), so all paths agree bit for bit.
**
** As in ggml, the activations are first converted to the weight type's
** partner type, which makes results match llama.cpp's: F32 stays F32, F16
** and BF16 activations are rounded to F16/BF16, and Q8_0/Q4_0 weights meet
** activations quantised to Q8_0 blocks the way ggml's reference
** quantize_row_q8_0 does (laid out for the kernels, see kernels.h).
** Weight rows may be unaligned.
*/
#include <float.h>
#include "kernels.h"

#define ROW_TILE 16 /* weight rows kept in cache while a tile of activations passes */

static float ld_f32(const uint8_t *p)
{
    float f;
    __builtin_memcpy(&f, p, sizeof f);
    return f;
}

static int32_t ld_i32(const uint8_t *p)
{
    int32_t v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
}

static uint32_t min_u32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

static bool has_kernel(uint32_t t)
{
    return t == L4LM_TYPE_F32 || t == L4LM_TYPE_F16 || t == L4LM_TYPE_BF16 || l4lm_kern_quant(t);
}

size_t l4lm_act_bytes(uint32_t wtype, uint32_t n)
{
    uint64_t bytes;
    if (!has_kernel(wtype))
        return 0;
    if (l4lm_kern_quant(wtype))
        bytes = (uint64_t)(n / L4LM_QBLOCK) * (L4LM_QBLOCK + 8);
    else
        bytes = (uint64_t)n * 4;
    return (size_t)l4lm_align_up(bytes, L4LM_ALIGN);
}

/* roundf (halves away from zero) of v, |v| < 2^31: trunc, then one step
** away from zero if the fraction (exact) is a half or more. */
static inline int32_t round_away(float v)
{
    int32_t t = (int32_t)v;
    float frac = v - (float)t;
    return t + (frac >= 0.5f) - (frac <= -0.5f);
}

/* ggml's reference: d = amax / 127, q = round(x / d), d rounded to fp16.
** Stores the quants in q, returns d; *sum gets the sum of the quants. */
static float quantize_q8_0(const float *x, int8_t q[L4LM_QBLOCK], int32_t *sum)
{
    uint32_t top = 0; /* max |x| as bits, which order like the values; NaN and inf above all */
    for (int j = 0; j < L4LM_QBLOCK; j++) {
        uint32_t u = l4lm_f32_bits(x[j]) & 0x7fffffffu;
        top = u > top ? u : top;
    }
    float amax = l4lm_f32_from_bits(top);
    bool finite = top < 0x7f800000u;
    if (!finite) { /* NaNs do not count */
        amax = 0.0f;
        for (int j = 0; j < L4LM_QBLOCK; j++) {
            float v = x[j] < 0 ? -x[j] : x[j];
            amax = v > amax ? v : amax;
        }
    }
    float d = amax / 127.0f;
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    int32_t s = 0;
    if (finite && id <= FLT_MAX) { /* |x * id| <= 127 (+ rounding): the common, branch-free loop */
        for (int j = 0; j < L4LM_QBLOCK; j++) {
            q[j] = (int8_t)round_away(x[j] * id);
            s += q[j];
        }
    } else { /* NaN gives 0 and the rest saturates, instead of undefined conversions */
        for (int j = 0; j < L4LM_QBLOCK; j++) {
            float v = x[j] * id;
            q[j] = (int8_t)(v != v ? 0 : v >= 127.0f ? 127 : v <= -127.0f ? -127 : round_away(v));
            s += q[j];
        }
    }
    *sum = s;
    return l4lm_half_decode(l4lm_f32_to_fp16(d));
}

/* Where element i of block j goes in a quantised activation row (kernels.h). */
static size_t quant_slot(uint32_t nb, uint32_t j, uint32_t i)
{
    if (j >= nb - nb % L4LM_QGROUP)
        return (size_t)j * L4LM_QBLOCK + i;
    size_t group = (size_t)(j - j % L4LM_QGROUP) * L4LM_QBLOCK;
    return group + 32 * (i / 4) + 4 * (j % L4LM_QGROUP) + i % 4;
}

static void prepare_quant(const float *x, uint32_t n, uint8_t *o)
{
    uint32_t nb = n / L4LM_QBLOCK;
    for (uint32_t j = 0; j < nb; j++) {
        int8_t q[L4LM_QBLOCK];
        int32_t sum;
        float d = quantize_q8_0(x + (size_t)j * L4LM_QBLOCK, q, &sum);
        int32_t s8 = 8 * sum;
        __builtin_memcpy(o + l4lm_kern_qa_d(nb) + 4 * (size_t)j, &d, sizeof d);
        __builtin_memcpy(o + l4lm_kern_qa_s8(nb) + 4 * (size_t)j, &s8, sizeof s8);
        for (uint32_t i = 0; i < L4LM_QBLOCK; i += 4)
            __builtin_memcpy(o + quant_slot(nb, j, i), q + i, 4);
    }
}

void l4lm_act_prepare(uint32_t wtype, const float *x, uint32_t n, void *act)
{
    float *o = act;
    switch (wtype) {
    case L4LM_TYPE_F32:
        __builtin_memcpy(o, x, (size_t)n * 4);
        break;
    case L4LM_TYPE_F16: {
        uint32_t i = 0;
#ifdef L4LM_SIMD_F16_ROUND
        i = l4lm_simd_round_f16(x, n, o);
#endif
        for (; i < n; i++)
            o[i] = l4lm_half_decode(l4lm_f32_to_fp16(x[i]));
        break;
    }
    case L4LM_TYPE_BF16:
        for (uint32_t i = 0; i < n; i++)
            o[i] = l4lm_bf16_decode(l4lm_f32_to_bf16(x[i]));
        break;
    case L4LM_TYPE_Q8_0:
    case L4LM_TYPE_Q4_0:
        prepare_quant(x, n, act);
        break;
    default:
        break;
    }
}

/* ------------------------------------------------ one dot, lane by lane */

/* The weight element of the float types, written once for all three. */
static inline float fweight(uint32_t t, const uint8_t *w)
{
    switch (t) {
    case L4LM_TYPE_F16:
        return l4lm_half_decode(l4lm_kern_ld16(w));
    case L4LM_TYPE_BF16:
        return l4lm_bf16_decode(l4lm_kern_ld16(w));
    default:
        return ld_f32(w);
    }
}

static inline __attribute__((always_inline)) void
accumulate(uint32_t t, float *acc, const uint8_t *w, const uint8_t *a, uint32_t len)
{
    size_t es = t == L4LM_TYPE_F32 ? 4 : 2;
    for (uint32_t j = 0; j < len; j++)
        acc[j] += fweight(t, w + j * es) * ld_f32(a + 4 * (size_t)j);
}

/* Elements from..n-1 into lane i % 32. Inlined with a constant t so each
** type gets its own loop without a switch in it. */
static inline __attribute__((always_inline)) void
lanes_float(uint32_t t, const uint8_t *w, const uint8_t *a, uint32_t n, uint32_t i, float *acc)
{
    size_t es = t == L4LM_TYPE_F32 ? 4 : 2;
    for (; i + L4LM_LANES <= n; i += L4LM_LANES) /* fixed count: the compiler vectorises */
        accumulate(t, acc, w + i * es, a + 4 * (size_t)i, L4LM_LANES);
    accumulate(t, acc, w + i * es, a + 4 * (size_t)i, n - i);
}

static float scale(const uint8_t *blk)
{
    return l4lm_half_decode(l4lm_kern_ld16(blk));
}

/* Blocks from..nb-1 into lane j % 8. */
static void lanes_quant(uint32_t t, const uint8_t *w, const uint8_t *a, uint32_t nb, uint32_t from,
                        float *acc)
{
    for (uint32_t j = from; j < nb; j++) {
        int32_t isum = 0;
        if (t == L4LM_TYPE_Q8_0) {
            const uint8_t *b = w + (size_t)j * L4LM_Q8_0_BYTES + 2;
            for (uint32_t c = 0; c < L4LM_QBLOCK; c += 4) { /* 4 quants at a time stay together */
                const int8_t *x = (const int8_t *)a + quant_slot(nb, j, c);
                for (uint32_t i = 0; i < 4; i++)
                    isum += (int8_t)b[c + i] * x[i];
            }
        } else {
            const uint8_t *b = w + (size_t)j * L4LM_Q4_0_BYTES + 2;
            for (uint32_t c = 0; c < 16; c += 4) {
                const int8_t *lo = (const int8_t *)a + quant_slot(nb, j, c);
                const int8_t *hi = (const int8_t *)a + quant_slot(nb, j, c + 16);
                for (int i = 0; i < 4; i++)
                    isum += (b[c + i] & 15) * lo[i] + (b[c + i] >> 4) * hi[i];
            }
            isum -= ld_i32(a + l4lm_kern_qa_s8(nb) + 4 * (size_t)j);
        }
        float dw = scale(w + (size_t)j * (t == L4LM_TYPE_Q8_0 ? L4LM_Q8_0_BYTES : L4LM_Q4_0_BYTES));
        float dx = ld_f32(a + l4lm_kern_qa_d(nb) + 4 * (size_t)j);
        acc[j % L4LM_QLANES] = l4lm_kern_block(acc[j % L4LM_QLANES], isum, dw, dx);
    }
}

/* The fixed tree: lane j takes lane j + half, for half = lanes/2 .. 1. */
static float reduce(float *acc, uint32_t lanes)
{
    for (uint32_t half = lanes / 2; half > 0; half /= 2)
        for (uint32_t j = 0; j < half; j++)
            acc[j] += acc[j + half];
    return acc[0];
}

float l4lm_kern_finish(uint32_t t, const uint8_t *w, const uint8_t *a, uint32_t n, uint32_t done,
                       float *acc)
{
    switch (t) {
    case L4LM_TYPE_F32:
        lanes_float(L4LM_TYPE_F32, w, a, n, done, acc);
        break;
    case L4LM_TYPE_F16:
        lanes_float(L4LM_TYPE_F16, w, a, n, done, acc);
        break;
    case L4LM_TYPE_BF16:
        lanes_float(L4LM_TYPE_BF16, w, a, n, done, acc);
        break;
    default:
        lanes_quant(t, w, a, n / L4LM_QBLOCK, done / L4LM_QBLOCK, acc);
        return reduce(acc, L4LM_QLANES);
    }
    return reduce(acc, L4LM_LANES);
}

/* The whole dot in C. */
static float dot_plain(uint32_t t, const uint8_t *w, const uint8_t *a, uint32_t n)
{
    float acc[L4LM_LANES] = {0};
    return l4lm_kern_finish(t, w, a, n, 0, acc);
}

float l4lm_vec_dot(uint32_t wtype, const void *wrow, const void *act, uint32_t n)
{
    float y = 0.0f;
    l4lm_matmul(wtype, wrow, act, 0, n, &y, 0, 0, 1, 1);
    return y;
}

float l4lm_vec_dot_plain(uint32_t wtype, const void *wrow, const void *act, uint32_t n)
{
    return has_kernel(wtype) ? dot_plain(wtype, wrow, act, n) : 0.0f;
}

const char *l4lm_kernels_simd(void)
{
#ifdef L4LM_SIMD
    return l4lm_simd_name();
#else
    return "none";
#endif
}

/* Rows in tiles of ROW_TILE; within a tile, activations L4LM_TILE at a time,
** so both the weight tile and the activation tile stay in cache. */
void l4lm_matmul(uint32_t wtype, const void *w, const void *act, size_t act_stride, uint32_t n,
                 float *y, size_t y_stride, uint32_t r0, uint32_t r1, uint32_t n_b)
{
    uint64_t rb = 0;
    bool known = has_kernel(wtype) && l4lm_row_bytes(wtype, n, &rb);
    for (uint32_t rt = r0; rt < r1; rt += ROW_TILE) {
        uint32_t re = rt + min_u32(r1 - rt, ROW_TILE);
        for (uint32_t b = 0; b < n_b; b += L4LM_TILE) {
            uint32_t na = min_u32(n_b - b, L4LM_TILE);
            const uint8_t *ab = (const uint8_t *)act + b * act_stride;
            float *yb = y + b * y_stride;
#ifdef L4LM_SIMD
            if (known &&
                l4lm_simd_matmul(wtype, w, rb, ab, act_stride, n, na, rt, re, yb, y_stride, b == 0))
                continue;
#endif
            for (uint32_t r = rt; r < re; r++)
                for (uint32_t a = 0; a < na; a++)
                    yb[a * y_stride + r] = known ? dot_plain(wtype, (const uint8_t *)w + r * rb,
                                                             ab + a * act_stride, n)
                                                 : 0.0f;
        }
    }
}

void l4lm_matvec(uint32_t wtype, const void *w, const void *act, uint32_t n, float *y, uint32_t r0,
                 uint32_t r1)
{
    l4lm_matmul(wtype, w, act, 0, n, y, 0, r0, r1, 1);
}

void l4lm_row_to_f32(uint32_t wtype, const void *row, float *out, uint32_t n)
{
    const uint8_t *p = row;
    switch (wtype) {
    case L4LM_TYPE_F32:
        __builtin_memcpy(out, p, (size_t)n * 4);
        break;
    case L4LM_TYPE_F16:
    case L4LM_TYPE_BF16:
        for (uint32_t i = 0; i < n; i++)
            out[i] = fweight(wtype, p + 2 * (size_t)i);
        break;
    case L4LM_TYPE_Q8_0:
        for (uint32_t b = 0; b < n / L4LM_QBLOCK; b++, p += L4LM_Q8_0_BYTES, out += L4LM_QBLOCK) {
            float d = scale(p);
            for (int j = 0; j < L4LM_QBLOCK; j++)
                out[j] = (float)(int8_t)p[2 + j] * d;
        }
        break;
    case L4LM_TYPE_Q4_0:
        for (uint32_t b = 0; b < n / L4LM_QBLOCK; b++, p += L4LM_Q4_0_BYTES, out += L4LM_QBLOCK) {
            float d = scale(p);
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
