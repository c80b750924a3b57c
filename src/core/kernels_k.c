/*
** kernels_k.c — the K-quant weight types (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K and
** Q8_K) in portable C: activations quantised to Q8_K as ggml's reference
** does, dot products in the order of kernels_k.h, matrix products, and
** rows decoded to floats exactly as ggml's dequantize_row_* give them.
** kernels_k_x86.c runs the same arithmetic in SIMD for some types.
**
** Each super-block is first decoded to one form (quants, per-16 scales and
** mins, two float scales), so the six layouts are written once each and
** the arithmetic once for all.
*/
#include "kernels_k.h"

typedef struct kblock {
    int8_t q[L4LM_QK_K];
    int16_t sc[16], mn[16]; /* per group of 16 elements */
    float d, dmin;
} kblock;

static float half_at(const uint8_t *p)
{
    return l4lm_half_decode(l4lm_kern_ld16(p));
}

/* Q2_K: scales[16] (low nibble scale, high nibble min), qs[64], d, dmin.
** Element 128 h + 32 j + l is bits 2j..2j+1 of qs[32 h + l]. */
static void unpack_q2_k(const uint8_t *b, kblock *k)
{
    for (int e = 0; e < L4LM_QK_K; e++)
        k->q[e] = (int8_t)((b[16 + 32 * (e / 128) + e % 32] >> (2 * (e % 128 / 32))) & 3);
    for (int g = 0; g < 16; g++) {
        k->sc[g] = (int16_t)(b[g] & 15);
        k->mn[g] = (int16_t)(b[g] >> 4);
    }
    k->d = half_at(b + 80);
    k->dmin = half_at(b + 82);
}

/* Q3_K: hmask[32], qs[64], scales[12], d. The low 2 bits as in Q2_K; bit
** 4 h + j of hmask[l] set means +0, clear means -4. Scale g is 6 bits: the
** low 4 from nibble g of bytes 0-7, the top 2 from byte 8 + g % 4 at bit
** 2 (g / 4); it counts from -32. */
static void unpack_q3_k(const uint8_t *b, kblock *k)
{
    for (int e = 0; e < L4LM_QK_K; e++) {
        int h = e / 128, j = e % 128 / 32, l = e % 32;
        int lo = (b[32 + 32 * h + l] >> (2 * j)) & 3;
        k->q[e] = (int8_t)(lo - ((b[l] >> (4 * h + j)) & 1 ? 0 : 4));
    }
    const uint8_t *s = b + 96;
    for (int g = 0; g < 16; g++) {
        int lo = g < 8 ? s[g] & 15 : s[g - 8] >> 4;
        int hi = (s[8 + g % 4] >> (2 * (g / 4))) & 3;
        k->sc[g] = (int16_t)((lo | hi << 4) - 32);
        k->mn[g] = 0;
    }
    k->d = half_at(b + 108);
    k->dmin = 0.0f;
}

/* Q4_K and Q5_K: d, dmin, 12 bytes of 6-bit scales and mins (one each per
** 32 elements), [Q5_K: qh[32]], qs[128]. Element 64 p + 32 k + l is nibble
** k of qs[32 p + l], plus 16 if bit 2p + k of qh[l] is set (Q5_K). */
static void unpack_q45_k(const uint8_t *b, kblock *k, bool five)
{
    const uint8_t *qs = b + (five ? 48 : 16);
    for (int e = 0; e < L4LM_QK_K; e++) {
        int p = e / 64, hi = e % 64 / 32, l = e % 32;
        int v = (qs[32 * p + l] >> (4 * hi)) & 15;
        if (five)
            v += ((b[16 + l] >> (2 * p + hi)) & 1) << 4;
        k->q[e] = (int8_t)v;
    }
    uint64_t sc, mn;
    l4lm_kq_scales_k4(b + 4, &sc, &mn);
    for (int g = 0; g < 16; g++) {
        k->sc[g] = (int16_t)((sc >> (8 * (g / 2))) & 63);
        k->mn[g] = (int16_t)((mn >> (8 * (g / 2))) & 63);
    }
    k->d = half_at(b);
    k->dmin = half_at(b + 2);
}

/* Q6_K: ql[128], qh[64], int8 scales[16], d. In half h, element
** 128 h + 32 m + l has its low nibble in ql[64 h + l + 32 (m % 2)]
** (nibble m / 2) and its top 2 bits at bit 2m of qh[32 h + l]; it counts
** from -32. */
static void unpack_q6_k(const uint8_t *b, kblock *k)
{
    for (int e = 0; e < L4LM_QK_K; e++) {
        int h = e / 128, m = e % 128 / 32, l = e % 32;
        int lo = (b[64 * h + l + 32 * (m % 2)] >> (4 * (m / 2))) & 15;
        int hi = (b[128 + 32 * h + l] >> (2 * m)) & 3;
        k->q[e] = (int8_t)((lo | hi << 4) - 32);
    }
    for (int g = 0; g < 16; g++) {
        k->sc[g] = (int16_t)((b[192 + g] ^ 0x80) - 128); /* the int8 scale */
        k->mn[g] = 0;
    }
    k->d = half_at(b + 208);
    k->dmin = 0.0f;
}

/* Q8_K as a weight: float d, int8 qs[256], bsums (not needed here). */
static void unpack_q8_k(const uint8_t *b, kblock *k)
{
    __builtin_memcpy(&k->d, b, 4);
    __builtin_memcpy(k->q, b + 4, L4LM_QK_K);
    for (int g = 0; g < 16; g++) {
        k->sc[g] = 1;
        k->mn[g] = 0;
    }
    k->dmin = 0.0f;
}

static size_t block_bytes(uint32_t t)
{
    static const uint16_t bytes[] = {L4LM_Q2_K_BYTES, L4LM_Q3_K_BYTES, L4LM_Q4_K_BYTES,
                                     L4LM_Q5_K_BYTES, L4LM_Q6_K_BYTES, L4LM_Q8_K_BYTES};
    return bytes[t - L4LM_TYPE_Q2_K];
}

static void unpack(uint32_t t, const uint8_t *b, kblock *k)
{
    switch (t) {
    case L4LM_TYPE_Q2_K:
        unpack_q2_k(b, k);
        break;
    case L4LM_TYPE_Q3_K:
        unpack_q3_k(b, k);
        break;
    case L4LM_TYPE_Q4_K:
        unpack_q45_k(b, k, false);
        break;
    case L4LM_TYPE_Q5_K:
        unpack_q45_k(b, k, true);
        break;
    case L4LM_TYPE_Q6_K:
        unpack_q6_k(b, k);
        break;
    default:
        unpack_q8_k(b, k);
        break;
    }
}

/* ------------------------------------------------------ activations */

size_t l4lm_kq_act_bytes(uint32_t n)
{
    return (size_t)(n / L4LM_QK_K) * L4LM_Q8K_ACT;
}

/* ggml's nearest_int: round half to even by adding 1.5 * 2^23, for
** |v| < 2^22; other inputs (which only NaN or inf activations make) give
** some value in [-2^22, 2^22) without undefined behaviour. */
static int32_t nearest(float v)
{
    uint32_t u = l4lm_f32_bits(v + 12582912.0f);
    return (int32_t)(u & 0x7fffffu) - 0x400000;
}

void l4lm_kq_act_prepare(const l4lm_kern *k, const float *x, uint32_t n, uint8_t *act)
{
    uint32_t nb = n / L4LM_QK_K;
    for (uint32_t b = 0; b < nb; b++, x += L4LM_QK_K) {
        int16_t bs[16];
        float ds;
        if (k->kq_quant && k->kq_quant(x, act + (size_t)b * L4LM_QK_K, bs, &ds)) {
            __builtin_memcpy(act + l4lm_kq_bsum(nb) + 32 * (size_t)b, bs, sizeof bs);
            __builtin_memcpy(act + l4lm_kq_d(nb) + 4 * (size_t)b, &ds, 4);
            continue;
        }
        float amax = 0.0f, max = 0.0f; /* the first of the largest magnitudes, signed */
        for (int j = 0; j < L4LM_QK_K; j++) {
            float ax = x[j] < 0 ? -x[j] : x[j];
            if (ax > amax) {
                amax = ax;
                max = x[j];
            }
        }
        uint8_t *q = act + (size_t)b * L4LM_QK_K;
        float d = 0.0f;
        if (amax == 0.0f) { /* zeros (and NaNs): all quants 0 */
            __builtin_memset(q, 0, L4LM_QK_K);
        } else {
            float iscale = -127.0f / max;
            for (int j = 0; j < L4LM_QK_K; j++) {
                int32_t v = nearest(iscale * x[j]);
                q[j] = (uint8_t)(v < 127 ? v : 127);
            }
            d = 1.0f / iscale;
        }
        for (int g = 0; g < 16; g++) {
            int16_t s = 0;
            for (int i = 0; i < 16; i++)
                s = (int16_t)(s + (int8_t)q[16 * g + i]);
            __builtin_memcpy(act + l4lm_kq_bsum(nb) + 32 * (size_t)b + 2 * g, &s, 2);
        }
        __builtin_memcpy(act + l4lm_kq_d(nb) + 4 * (size_t)b, &d, 4);
    }
}

/* ------------------------------------------------------------- dots */

float l4lm_kq_dot(uint32_t t, const uint8_t *w, const uint8_t *a, uint32_t n)
{
    uint32_t nb = n / L4LM_QK_K;
    size_t bb = block_bytes(t);
    float acc[L4LM_KQ_LANES] = {0};
    kblock k;
    for (uint32_t b = 0; b < nb; b++) {
        unpack(t, w + b * bb, &k);
        const int8_t *x = (const int8_t *)a + (size_t)b * L4LM_QK_K;
        int32_t isum = 0, msum = 0;
        for (int g = 0; g < 16; g++) {
            int32_t s = 0;
            for (int i = 16 * g; i < 16 * g + 16; i++)
                s += k.q[i] * x[i];
            int16_t bsum;
            __builtin_memcpy(&bsum, a + l4lm_kq_bsum(nb) + 32 * (size_t)b + 2 * g, 2);
            isum += k.sc[g] * s;
            msum += k.mn[g] * bsum;
        }
        float dx;
        __builtin_memcpy(&dx, a + l4lm_kq_d(nb) + 4 * (size_t)b, 4);
        acc[b % L4LM_KQ_LANES] = l4lm_kq_step(acc[b % L4LM_KQ_LANES], isum, msum, k.d, k.dmin, dx);
    }
    return l4lm_kq_lanes(acc);
}

static uint32_t min_u32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

/* Activation rows one call of the SIMD path takes: x86_64's serves up to
** thirty-two in a pass (kernels_k_x86.c's KQ_TILE), and takes more than its
** own tile in passes; the other paths take L4LM_TILE at most. */
#if defined(__x86_64__)
#define KQ_ACTS (4 * L4LM_TILE)
#else
#define KQ_ACTS L4LM_TILE
#endif

/* Tiles as in kernels.c: 16 weight rows stay in cache while the
** activations pass KQ_ACTS at a time. */
void l4lm_kq_matmul(const l4lm_kern *k, uint32_t t, const uint8_t *w, size_t rb, const uint8_t *act,
                    size_t st, uint32_t n, float *y, size_t ys, uint32_t r0, uint32_t r1,
                    uint32_t n_b)
{
    for (uint32_t rt = r0; rt < r1; rt += 16) {
        uint32_t re = rt + min_u32(r1 - rt, 16);
        for (uint32_t b = 0; b < n_b; b += KQ_ACTS) {
            uint32_t na = min_u32(n_b - b, KQ_ACTS);
            const uint8_t *ab = act + b * st;
            float *yb = y + b * ys;
            if (k->kq_rows && k->kq_rows(t, w, rb, ab, st, n, na, rt, re, yb, ys, b == 0))
                continue;
            for (uint32_t r = rt; r < re; r++)
                for (uint32_t i = 0; i < na; i++)
                    yb[i * ys + r] = l4lm_kq_dot(t, w + r * rb, ab + i * st, n);
        }
    }
}

void l4lm_kq_row_to_f32(uint32_t t, const uint8_t *row, float *out, uint32_t n)
{
    size_t bb = block_bytes(t);
    kblock k;
    for (uint32_t b = 0; b < n / L4LM_QK_K; b++, out += L4LM_QK_K) {
        unpack(t, row + b * bb, &k);
        for (int g = 0; g < 16; g++) {
            float dl = k.d * (float)k.sc[g], ml = k.dmin * (float)k.mn[g];
            for (int i = 16 * g; i < 16 * g + 16; i++)
                out[i] = dl * (float)k.q[i] - ml;
        }
    }
}
