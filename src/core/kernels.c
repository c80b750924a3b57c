/*
** kernels.c — dot products and matrix products over the weight types F32,
** F16, BF16 and the 32-element block types Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, in
** portable C (the K-quants live in kernels_k.c). kernels_x86.c and kernels_arm.c
** run the same arithmetic in SIMD when the build targets AVX2 or NEON, in the
** same order (kernels.h), so all paths agree bit for bit.
**
** As in ggml, the activations are first converted to the weight type's
** partner type, which makes results match llama.cpp's: F32 stays F32, F16
** and BF16 activations are rounded to F16/BF16, and Q8_0/Q4_0/Q5_0 weights
** meet activations quantised to Q8_0 blocks the way ggml's reference
** quantize_row_q8_0 does, Q4_1/Q5_1 weights Q8_1 blocks as
** quantize_row_q8_1 makes them (laid out for the kernels, see kernels.h).
** Weight rows may be unaligned. Attention's scores and weighted sums over
** the KV cache, and the exp of softmax and SwiGLU, have vectorised helpers
** here too (l4lm_vec_dots, _wsum, _exp, _silu_mul), each the same bits as
** its scalar expression.
*/
#include <float.h>
#include "kernels_k.h"

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
    return t == L4LM_TYPE_F32 || t == L4LM_TYPE_F16 || t == L4LM_TYPE_BF16 || l4lm_kern_quant(t) ||
           l4lm_kq_type(t);
}

size_t l4lm_act_bytes(uint32_t wtype, uint32_t n)
{
    uint64_t bytes;
    if (!has_kernel(wtype))
        return 0;
    if (l4lm_kq_type(wtype))
        bytes = l4lm_kq_act_bytes(n);
    else if (l4lm_kern_quant(wtype))
        bytes = (uint64_t)(n / L4LM_QBLOCK) * (L4LM_QBLOCK + 8);
    else
        bytes = (uint64_t)n * (wtype == L4LM_TYPE_F32 ? 4 : 6);
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
** Stores the quants in q, returns d (not yet rounded to fp16); *sum gets
** the sum of the quants. */
static float quantize_q8_0(const l4lm_kern *k, const float *x, int8_t q[L4LM_QBLOCK], int32_t *sum)
{
    uint32_t top = 0; /* max |x| as bits, which order like the values; NaN and inf above all */
    if (!k->abs_top || !k->abs_top(x, &top))
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
        if (!k->round_q || !k->round_q(x, id, q, &s))
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
    return d;
}

static float round_fp16(float v)
{
    return l4lm_half_decode(l4lm_f32_to_fp16(v));
}

/* Where element i of block j goes in a quantised activation row (kernels.h). */
static size_t quant_slot(uint32_t nb, uint32_t j, uint32_t i)
{
    if (j >= nb - nb % L4LM_QGROUP)
        return (size_t)j * L4LM_QBLOCK + i;
    size_t group = (size_t)(j - j % L4LM_QGROUP) * L4LM_QBLOCK;
    return group + 32 * (i / 4) + 4 * (j % L4LM_QGROUP) + i % 4;
}

/* Block j of a row of nb: Q8_0, or Q8_1 (the same, and s = d * sum) for
** weights of type t. */
static void prepare_block(const l4lm_kern *k, uint32_t t, const float *x, uint32_t nb, uint32_t j,
                          uint8_t *o)
{
    int8_t q[L4LM_QBLOCK];
    int32_t sum;
    float d = quantize_q8_0(k, x + (size_t)j * L4LM_QBLOCK, q, &sum), d16 = round_fp16(d);
    int32_t s8 = 8 * sum;
    float s = l4lm_kern_q8_1(t) ? round_fp16((float)sum * d) : 0.0f;
    __builtin_memcpy(o + l4lm_kern_qa_d(nb) + 4 * (size_t)j, &d16, sizeof d16);
    __builtin_memcpy(o + l4lm_kern_qa_s8(nb) + 4 * (size_t)j,
                     l4lm_kern_q8_1(t) ? (const void *)&s : &s8, 4);
    for (uint32_t i = 0; i < L4LM_QBLOCK; i += 4)
        __builtin_memcpy(o + quant_slot(nb, j, i), q + i, 4);
}

/* A row's blocks: whole groups through the variant's q8_group where it
** takes them, the rest (and the tail) block by block. */
static void prepare_quant(const l4lm_kern *k, uint32_t t, const float *x, uint32_t n, uint8_t *o)
{
    uint32_t nb = n / L4LM_QBLOCK, grouped = nb - nb % L4LM_QGROUP;
    for (uint32_t j = 0; j < nb;) {
        size_t e = (size_t)j * L4LM_QBLOCK;
        if (j < grouped && j % L4LM_QGROUP == 0 && k->q8_group &&
            k->q8_group(x + e, l4lm_kern_q8_1(t), o + e,
                        (float *)(o + l4lm_kern_qa_d(nb) + 4 * (size_t)j),
                        (uint32_t *)(o + l4lm_kern_qa_s8(nb) + 4 * (size_t)j)))
            j += L4LM_QGROUP;
        else
            prepare_block(k, t, x, nb, j++, o);
    }
}

/* A BF16 activation kept in vdpbf16ps's range (kernels.h): tiny to +0,
** huge to +-2^50, NaN to the one quiet NaN. */
static uint16_t bf16_in_range(uint16_t h)
{
    uint16_t mag = h & 0x7fff;
    if (mag > 0x7f80)
        return L4LM_BF16_NAN;
    if (mag < L4LM_BF16_LO)
        return 0;
    return mag > L4LM_BF16_HI ? (uint16_t)((h & 0x8000) | L4LM_BF16_HI) : h;
}

/* BF16 activations, as l4lm_round_f16 does F16's: the kernels' leading
** part, then the rest in C. */
static void round_bf16(const l4lm_kern *k, const float *x, uint32_t n, float *o, uint16_t *h)
{
    uint32_t i = k->round_bf16 ? k->round_bf16(x, n, o, h) : 0;
    for (; i < n; i++) {
        h[i] = bf16_in_range(l4lm_f32_to_bf16(x[i]));
        o[i] = l4lm_bf16_decode(h[i]);
    }
}

void l4lm_act_prepare(const l4lm_kern *k, uint32_t wtype, const float *x, uint32_t n, void *act)
{
    float *o = act;
    switch (wtype) {
    case L4LM_TYPE_F32:
        __builtin_memcpy(o, x, (size_t)n * 4);
        break;
    case L4LM_TYPE_F16:
        l4lm_round_f16(k, x, n, o, (uint16_t *)(o + n));
        break;
    case L4LM_TYPE_BF16:
        round_bf16(k, x, n, o, (uint16_t *)(o + n));
        break;
    case L4LM_TYPE_Q8_0:
    case L4LM_TYPE_Q4_0:
    case L4LM_TYPE_Q4_1:
    case L4LM_TYPE_Q5_0:
    case L4LM_TYPE_Q5_1:
        prepare_quant(k, wtype, x, n, act);
        break;
    default:
        if (l4lm_kq_type(wtype))
            l4lm_kq_act_prepare(k, x, n, act);
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

/* One BF16 pair into its lane: the odd element's product, then the even's. */
static inline __attribute__((always_inline)) float pair(float lane, const uint8_t *w,
                                                        const uint8_t *a)
{
    lane += fweight(L4LM_TYPE_BF16, w + 2) * ld_f32(a + 4);
    return lane + fweight(L4LM_TYPE_BF16, w) * ld_f32(a);
}

/* The pair at element i (even) into its lane. */
static void pair_at(float *acc, const uint8_t *w, const uint8_t *a, uint32_t i)
{
    acc[i / 2 % L4LM_LANES] = pair(acc[i / 2 % L4LM_LANES], w + 2 * (size_t)i, a + 4 * (size_t)i);
}

/* BF16 elements from..n-1 (from even) in pairs, pair p into lane p % 32. */
static void lanes_bf16(const uint8_t *w, const uint8_t *a, uint32_t n, uint32_t i, float *acc)
{
    const uint32_t step = 2 * L4LM_LANES;
    for (; i % step && i + 1 < n; i += 2)
        pair_at(acc, w, a, i);
    for (; i + step <= n; i += step) /* fixed count: the compiler vectorises */
        for (uint32_t j = 0; j < L4LM_LANES; j++)
            acc[j] = pair(acc[j], w + 2 * ((size_t)i + 2 * j), a + 4 * ((size_t)i + 2 * j));
    for (; i + 1 < n; i += 2)
        pair_at(acc, w, a, i);
    if (i < n)
        acc[i / 2 % L4LM_LANES] +=
            fweight(L4LM_TYPE_BF16, w + 2 * (size_t)i) * ld_f32(a + 4 * (size_t)i);
}

static float scale(const uint8_t *blk)
{
    return l4lm_half_decode(l4lm_kern_ld16(blk));
}

static uint32_t ld_u32(const uint8_t *p)
{
    uint32_t v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
}

/* The integer quant of element e of weight block b: Q8_0's signed byte, or
** the nibble types' unsigned value (with Q5's fifth bit from qh). */
static inline int32_t wquant(uint32_t t, const uint8_t *b, uint32_t e)
{
    if (t == L4LM_TYPE_Q8_0)
        return (int8_t)b[2 + e];
    const uint8_t *qs = b + l4lm_kern_qs(t);
    int32_t q = e < 16 ? qs[e] & 15 : qs[e - 16] >> 4;
    if (l4lm_kern_q5(t))
        q |= (int32_t)(ld_u32(b + l4lm_kern_qh(t)) >> e & 1) << 4;
    return q;
}

/* Blocks from..nb-1 into lane j % 8. Inlined with a constant t, as above. */
static inline __attribute__((always_inline)) void
lanes_quant(uint32_t t, const uint8_t *w, const uint8_t *a, uint32_t nb, uint32_t from, float *acc)
{
    for (uint32_t j = from; j < nb; j++) {
        const uint8_t *b = w + (size_t)j * l4lm_kern_bbytes(t);
        const uint8_t *sa = a + l4lm_kern_qa_s8(nb) + 4 * (size_t)j; /* s8, or Q8_1's s */
        int32_t isum = 0;
        for (uint32_t c = 0; c < L4LM_QBLOCK; c += 4) { /* 4 quants at a time stay together */
            const int8_t *x = (const int8_t *)a + quant_slot(nb, j, c);
            for (uint32_t i = 0; i < 4; i++)
                isum += wquant(t, b, c + i) * x[i];
        }
        if (l4lm_kern_offset(t))
            isum -= l4lm_kern_offset(t) * ld_i32(sa);
        float dw = scale(b), dx = ld_f32(a + l4lm_kern_qa_d(nb) + 4 * (size_t)j);
        float *lane = acc + j % L4LM_QLANES;
        if (l4lm_kern_q8_1(t))
            *lane = l4lm_kern_block_min(*lane, isum, dw, dx, scale(b + 2), ld_f32(sa));
        else
            *lane = l4lm_kern_block(*lane, isum, dw, dx);
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
    case L4LM_KTYPE_BF16_DP:
        lanes_bf16(w, a, n, done, acc);
        break;
    case L4LM_TYPE_Q8_0:
        lanes_quant(L4LM_TYPE_Q8_0, w, a, n / L4LM_QBLOCK, done / L4LM_QBLOCK, acc);
        return reduce(acc, L4LM_QLANES);
    case L4LM_TYPE_Q4_0:
        lanes_quant(L4LM_TYPE_Q4_0, w, a, n / L4LM_QBLOCK, done / L4LM_QBLOCK, acc);
        return reduce(acc, L4LM_QLANES);
    case L4LM_TYPE_Q4_1:
        lanes_quant(L4LM_TYPE_Q4_1, w, a, n / L4LM_QBLOCK, done / L4LM_QBLOCK, acc);
        return reduce(acc, L4LM_QLANES);
    case L4LM_TYPE_Q5_0:
        lanes_quant(L4LM_TYPE_Q5_0, w, a, n / L4LM_QBLOCK, done / L4LM_QBLOCK, acc);
        return reduce(acc, L4LM_QLANES);
    case L4LM_TYPE_Q5_1:
        lanes_quant(L4LM_TYPE_Q5_1, w, a, n / L4LM_QBLOCK, done / L4LM_QBLOCK, acc);
        return reduce(acc, L4LM_QLANES);
    default:
        break;
    }
    return reduce(acc, L4LM_LANES);
}

/* The whole dot in C. */
static float dot_plain(uint32_t t, const uint8_t *w, const uint8_t *a, uint32_t n)
{
    if (l4lm_kq_type(t))
        return l4lm_kq_dot(t, w, a, n);
    float acc[L4LM_LANES] = {0};
    return l4lm_kern_finish(t, w, a, n, 0, acc);
}

/* What k->matmul is told for weight type t: BF16 marked for vdpbf16ps
** (L4LM_KTYPE_BF16_DP) only where k has it, and its rows not too long;
** *t itself becomes BF16 for the rest. */
static uint32_t ktype(const l4lm_kern *k, uint32_t *t, uint32_t n)
{
    if (*t != L4LM_KTYPE_BF16_DP)
        return *t;
    *t = L4LM_TYPE_BF16;
    return k->bf16_in_range && n <= L4LM_BF16_DP_MAX_N ? L4LM_KTYPE_BF16_DP : L4LM_TYPE_BF16;
}

void l4lm_kern_mark(const l4lm_kern *k, l4lm_mat *m)
{
    m->bf16_dp = m->type == L4LM_TYPE_BF16 && m->data && k->bf16_in_range &&
                 m->n_in <= L4LM_BF16_DP_MAX_N &&
                 k->bf16_in_range(m->data, (size_t)m->n_in * m->n_out);
}

/* One row straight to the SIMD loop: attention calls this for every cached
** position, so the tiling of l4lm_matmul would cost more than the dot. */
float l4lm_vec_dot(const l4lm_kern *k, uint32_t wtype, const void *wrow, const void *act,
                   uint32_t n)
{
    float y = 0.0f;
    uint32_t kt = ktype(k, &wtype, n);
    if (k->matmul && has_kernel(wtype) && !l4lm_kq_type(wtype) &&
        k->matmul(kt, wrow, 0, act, 0, n, 1, 0, 1, &y, 0, false))
        return y;
    l4lm_matmul(k, wtype, wrow, act, 0, n, &y, 0, 0, 1, 1);
    return y;
}

void l4lm_vec_axpy(const l4lm_kern *k, uint32_t type, const void *row, float a, float *out,
                   uint32_t n)
{
    const uint8_t *p = row;
    uint32_t i = 0;
    if (type == L4LM_TYPE_F16) {
        i = k->axpy_f16 ? k->axpy_f16(p, a, out, n) : 0;
        for (; i < n; i++)
            out[i] += a * l4lm_half_decode(l4lm_kern_ld16(p + 2 * (size_t)i));
    } else if (type == L4LM_TYPE_F32) {
        for (; i < n; i++)
            out[i] += a * ld_f32(p + 4 * (size_t)i);
    }
}

/* Q8_0 rows (a quantised KV cache) against x prepared as Q8_0: the weight
** kernels take any row distance, so the cache's rows need no copying. */
static void dots_q8_0(const l4lm_kern *k, const uint8_t *rows, size_t row_bytes, const void *x,
                      uint32_t n, uint32_t n_rows, float *out)
{
    if (k->matmul &&
        k->matmul(L4LM_TYPE_Q8_0, rows, row_bytes, x, 0, n, 1, 0, n_rows, out, 0, false))
        return;
    for (uint32_t r = 0; r < n_rows; r++)
        out[r] = dot_plain(L4LM_TYPE_Q8_0, rows + r * row_bytes, x, n);
}

void l4lm_vec_dots(const l4lm_kern *k, uint32_t type, const void *rows, size_t stride,
                   const float *x, uint32_t n, uint32_t n_rows, float *out)
{
    if (type == L4LM_TYPE_Q8_0) {
        dots_q8_0(k, rows, stride / L4LM_QBLOCK * L4LM_Q8_0_BYTES, x, n, n_rows, out);
        return;
    }
    size_t es = type == L4LM_TYPE_F16 ? 2 : 4;
    uint32_t r = k->dots ? k->dots(type, rows, stride * es, x, n, n_rows, out) : 0;
    for (; r < n_rows; r++) /* x is floats, not a prepared row: the C path reads it so */
        out[r] = dot_plain(type, (const uint8_t *)rows + r * stride * es, (const uint8_t *)x, n);
}

static inline __attribute__((always_inline)) void quant_to_f32(uint32_t t, const uint8_t *b,
                                                               float *out);

/* Q8_0 rows from column i on (a whole block): each block dequantised as
** ggml does (q d), then a separate multiply and add, row after row, as the
** float types sum. */
static void wsum_q8_0(const uint8_t *rows, size_t row_bytes, const float *a, uint32_t n_rows,
                      float *out, uint32_t i, uint32_t n)
{
    __builtin_memset(out + i, 0, (size_t)(n - i) * sizeof(float));
    for (uint32_t b = i / L4LM_QBLOCK; b < n / L4LM_QBLOCK; b++) {
        float *o = out + (size_t)b * L4LM_QBLOCK, v[L4LM_QBLOCK];
        for (uint32_t r = 0; r < n_rows; r++) {
            quant_to_f32(L4LM_TYPE_Q8_0, rows + r * row_bytes + (size_t)b * L4LM_Q8_0_BYTES, v);
            for (uint32_t e = 0; e < L4LM_QBLOCK; e++)
                o[e] += a[r] * v[e];
        }
    }
}

void l4lm_vec_wsum(const l4lm_kern *k, uint32_t type, const void *rows, size_t stride,
                   const float *a, uint32_t n_rows, float *out, uint32_t n)
{
    if (type == L4LM_TYPE_Q8_0) {
        size_t rb = stride / L4LM_QBLOCK * L4LM_Q8_0_BYTES;
        uint32_t i = k->wsum ? k->wsum(type, rows, rb, a, n_rows, out, n) : 0;
        wsum_q8_0(rows, rb, a, n_rows, out, i, n);
        return;
    }
    size_t es = type == L4LM_TYPE_F16 ? 2 : 4;
    uint32_t i = k->wsum ? k->wsum(type, rows, stride * es, a, n_rows, out, n) : 0;
    __builtin_memset(out + i, 0, (n - i) * sizeof(float));
    for (uint32_t r = 0; i < n && r < n_rows; r++)
        l4lm_vec_axpy(k, type, (const uint8_t *)rows + (r * stride + i) * es, a[r], out + i, n - i);
}

void l4lm_vec_exp(const l4lm_kern *k, float *x, float sub, uint32_t n)
{
    uint32_t i = k->exp ? k->exp(x, sub, n) : 0;
    for (; i < n; i++)
        x[i] = l4lm_expf(x[i] - sub);
}

void l4lm_vec_silu_mul(const l4lm_kern *k, float *g, const float *u, uint32_t n)
{
    uint32_t i = k->silu_mul ? k->silu_mul(g, u, n) : 0;
    for (; i < n; i++)
        g[i] = g[i] / (1.0f + l4lm_expf(-g[i])) * u[i];
}

float l4lm_vec_dot_plain(uint32_t wtype, const void *wrow, const void *act, uint32_t n)
{
    wtype = wtype == L4LM_KTYPE_BF16_DP ? L4LM_TYPE_BF16 : wtype;
    return has_kernel(wtype) ? dot_plain(wtype, wrow, act, n) : 0.0f;
}

/* Rows in tiles of ROW_TILE; within a tile, activations up to L4LM_TILE
** (k->quant_acts for the 32-element block types) at a time (at least 2, at
** most k->act_tile bytes of them), so both the weight tile and the
** activation tile stay in cache; the float types take whole tiles of their
** blocked product, in panels (kernels.h). */
void l4lm_matmul(const l4lm_kern *k, uint32_t wtype, const void *w, const void *act,
                 size_t act_stride, uint32_t n, float *y, size_t y_stride, uint32_t r0, uint32_t r1,
                 uint32_t n_b)
{
    uint64_t rb = 0;
    uint32_t kt = ktype(k, &wtype, n);
    bool known = has_kernel(wtype) && l4lm_row_bytes(wtype, n, &rb);
    if (known && l4lm_kq_type(wtype)) { /* K-quants tile their own way (kernels_k.c) */
        l4lm_kq_matmul(k, wtype, w, rb, act, act_stride, n, y, y_stride, r0, r1, n_b);
        return;
    }
    uint32_t most = k->quant_acts ? k->quant_acts : L4LM_TILE;
    size_t fit = act_stride ? k->act_tile / act_stride : most;
    uint32_t tile = fit < 2 ? 2 : fit > most ? most : (uint32_t)fit;
    uint32_t rows = ROW_TILE;
    if (wtype == L4LM_TYPE_F32 || wtype == L4LM_TYPE_F16 || wtype == L4LM_TYPE_BF16) {
        bool narrow = l4lm_kern_float_narrow(n);
        tile = !narrow                    ? L4LM_FLOAT_ACTS
               : kt == L4LM_KTYPE_BF16_DP ? L4LM_FLOAT_DP_NARROW_ACTS
                                          : L4LM_FLOAT_NARROW_ACTS;
        rows = narrow ? L4LM_FLOAT_PANEL : L4LM_FLOAT_WIDE_PANEL;
    }
    if (n_b == 1) /* decode: no activations to reuse; all rows, for far streams (kernels.h) */
        rows = r1 - r0;
    for (uint32_t rt = r0; rt < r1; rt += rows) {
        uint32_t re = rt + min_u32(r1 - rt, rows);
        for (uint32_t b = 0; b < n_b; b += tile) {
            uint32_t na = min_u32(n_b - b, tile);
            const uint8_t *ab = (const uint8_t *)act + b * act_stride;
            float *yb = y + b * y_stride;
            if (known && k->matmul &&
                k->matmul(kt, w, rb, ab, act_stride, n, na, rt, re, yb, y_stride, b == 0))
                continue;
            for (uint32_t r = rt; r < re; r++)
                for (uint32_t a = 0; a < na; a++)
                    yb[a * y_stride + r] = known ? dot_plain(wtype, (const uint8_t *)w + r * rb,
                                                             ab + a * act_stride, n)
                                                 : 0.0f;
        }
    }
}

void l4lm_matvec(const l4lm_kern *k, uint32_t wtype, const void *w, const void *act, uint32_t n,
                 float *y, uint32_t r0, uint32_t r1)
{
    l4lm_matmul(k, wtype, w, act, 0, n, y, 0, r0, r1, 1);
}

/* One weight block as ggml's dequantize_row_* gives it: q d, (q - 8) d,
** (q - 16) d, or q d + m. Inlined, so that a constant t leaves no type
** tests in the loop (the embedding of a prompt's tokens). */
static inline __attribute__((always_inline)) void quant_to_f32(uint32_t t, const uint8_t *b,
                                                               float *out)
{
    int32_t zero = l4lm_kern_offset(t) * 8;
    float d = scale(b), m = l4lm_kern_q8_1(t) ? scale(b + 2) : 0.0f;
    for (uint32_t e = 0; e < L4LM_QBLOCK; e++) {
        float v = (float)(wquant(t, b, e) - zero) * d;
        out[e] = l4lm_kern_q8_1(t) ? v + m : v;
    }
}

/* A row of blocks of type t (a constant at each call). */
static inline __attribute__((always_inline)) void quant_row_to_f32(uint32_t t, const uint8_t *p,
                                                                   float *out, uint32_t n)
{
    for (uint32_t b = 0; b < n / L4LM_QBLOCK; b++, out += L4LM_QBLOCK)
        quant_to_f32(t, p + b * l4lm_kern_bbytes(t), out);
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
        quant_row_to_f32(L4LM_TYPE_Q8_0, p, out, n);
        break;
    case L4LM_TYPE_Q4_0:
        quant_row_to_f32(L4LM_TYPE_Q4_0, p, out, n);
        break;
    case L4LM_TYPE_Q4_1:
        quant_row_to_f32(L4LM_TYPE_Q4_1, p, out, n);
        break;
    case L4LM_TYPE_Q5_0:
        quant_row_to_f32(L4LM_TYPE_Q5_0, p, out, n);
        break;
    case L4LM_TYPE_Q5_1:
        quant_row_to_f32(L4LM_TYPE_Q5_1, p, out, n);
        break;
    default:
        if (l4lm_kq_type(wtype))
            l4lm_kq_row_to_f32(wtype, row, out, n);
        break;
    }
}

void l4lm_round_f16(const l4lm_kern *k, const float *x, uint32_t n, float *o, uint16_t *h)
{
    uint32_t i = k->round_f16 ? k->round_f16(x, n, o, h) : 0;
    for (; i < n; i++) {
        h[i] = l4lm_f32_to_fp16(x[i]);
        o[i] = l4lm_half_decode(h[i]);
    }
}

void l4lm_quantize_q8_0(const l4lm_kern *k, const float *x, uint32_t n, void *blocks)
{
    uint8_t *o = blocks;
    for (uint32_t j = 0; j < n / L4LM_QBLOCK; j++, o += L4LM_Q8_0_BYTES) {
        int8_t q[L4LM_QBLOCK];
        int32_t sum;
        uint16_t d = l4lm_f32_to_fp16(quantize_q8_0(k, x + (size_t)j * L4LM_QBLOCK, q, &sum));
        __builtin_memcpy(o, &d, sizeof d);
        __builtin_memcpy(o + 2, q, sizeof q);
    }
}
