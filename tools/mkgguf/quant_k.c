/*
** mkgguf/quant_k.c — encoders of the K-quant weight types Q2_K..Q6_K: the
** same bytes ggml's reference quantisers (quantize_row_q*_K_ref, which
** llama-quantize uses without an importance matrix) make of the same
** floats, so llama.cpp reads these files as it reads its own. That means
** following their float arithmetic step by step, in the same order: the
** searches for the best scale compare rounded sums, and a different
** rounding picks a different scale.
**
** All work on one super-block of 256 floats; the row loop is in quant.c.
*/
#include "quant.h"

#include "internal.h"

#include <math.h>
#include <string.h>

#define GROUP_EPS 1e-15f /* ggml's GROUP_MAX_EPS: a group this small is all zero */

/* ggml's nearest_int: round half to even by adding 1.5 * 2^23 (|v| < 2^22). */
static int nearest(float v)
{
    float f = v + 12582912.0f;
    int32_t i;
    memcpy(&i, &f, 4);
    return (i & 0x007fffff) - 0x00400000;
}

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static void put_half(uint8_t *p, float v)
{
    uint16_t h = l4lm_f32_to_fp16(v);
    p[0] = (uint8_t)h;
    p[1] = (uint8_t)(h >> 8);
}

static float half_at(const uint8_t *p)
{
    return l4lm_fp16_to_f32((uint16_t)(p[0] | p[1] << 8));
}

/* The element of largest magnitude, sign kept (the first of equals). */
static float signed_extreme(const float *x, int n)
{
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > amax) {
            amax = fabsf(x[i]);
            max = x[i];
        }
    return max;
}

/* Quantise x at iscale to [-nmax, nmax) (into L, offset by bias, when L is
** given) and return the x^2-weighted sums sum w x l and sum w l^2. */
static void try_scale(int n, int nmax, const float *x, float iscale, int8_t *L, int bias,
                      float *sumlx, float *suml2)
{
    float slx = 0, sl2 = 0;
    for (int i = 0; i < n; i++) {
        int l = clampi(nearest(iscale * x[i]), -nmax, nmax - 1);
        if (L)
            L[i] = (int8_t)(l + bias);
        float w = x[i] * x[i];
        slx += w * x[i] * l;
        sl2 += w * l * l;
    }
    *sumlx = slx;
    *suml2 = sl2;
}

/* Symmetric quants in [-nmax, nmax) with weights x^2 (ggml's
** make_qx_quants, rmse_type 1): the first guess from the signed extreme,
** then 18 nearby scales, each kept if it lowers the weighted error.
** L gets q + nmax; returns the scale. */
static float qx_quants(int n, int nmax, const float *x, int8_t *L)
{
    float max = signed_extreme(x, n);
    if (fabsf(max) < GROUP_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float iscale = -nmax / max, sumlx, suml2;
    try_scale(n, nmax, x, iscale, L, nmax, &sumlx, &suml2);
    float scale = suml2 ? sumlx / suml2 : 0.0f, best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (is == 0)
            continue;
        iscale = -(nmax + 0.1f * is) / max;
        try_scale(n, nmax, x, iscale, NULL, 0, &sumlx, &suml2);
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            try_scale(n, nmax, x, iscale, L, nmax, &sumlx, &suml2);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Q3_K's group quants (ggml's make_q3_quants with do_rmse): symmetric in
** [-nmax, nmax), then up to 5 rounds moving single quants while that
** lowers the x^2-weighted error. L gets q + nmax; returns the scale. */
static float q3_quants(int n, int nmax, const float *x, int8_t *L)
{
    float max = signed_extreme(x, n);
    if (fabsf(max) < GROUP_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float iscale = -nmax / max, sumlx, suml2;
    try_scale(n, nmax, x, iscale, L, 0, &sumlx, &suml2);
    for (int round = 0; round < 5; round++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            float w = x[i] * x[i], slx = sumlx - w * x[i] * L[i];
            if (!(slx > 0))
                continue;
            float sl2 = suml2 - w * L[i] * L[i];
            int l = clampi(nearest(x[i] * sl2 / slx), -nmax, nmax - 1);
            if (l == L[i])
                continue;
            slx += w * x[i] * l;
            sl2 += w * l * l;
            if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                L[i] = (int8_t)l;
                sumlx = slx;
                suml2 = sl2;
                changed++;
            }
        }
        if (!changed)
            break;
    }
    for (int i = 0; i < n; i++)
        L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* Affine quants in [0, nmax] with x = scale * q - min (ggml's
** make_qkx2_quants): the min/max guess, then nstep + 1 scales from
** (nmax + rmin) to (nmax + rmin + nstep rdelta) over the range, each
** refitted by weighted least squares and kept if its error (squared, or
** absolute with mad) is lower. *neg_min gets -min >= 0. */
typedef struct {
    int nmax, nstep;
    float rmin, rdelta;
    bool mad;
} affine;

static float err_of(float diff, bool mad)
{
    return mad ? fabsf(diff) : diff * diff;
}

static float affine_quants(const affine *p, int n, const float *x, const float *wt, uint8_t *L,
                           float *neg_min)
{
    uint8_t Laux[32];
    float min = x[0], max = x[0], sum_w = wt[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        min = x[i] < min ? x[i] : min;
        max = x[i] > max ? x[i] : max;
        sum_w += wt[i];
        sum_x += wt[i] * x[i];
    }
    if (min > 0)
        min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *neg_min = -min;
        return 0.0f;
    }
    float iscale = p->nmax / (max - min), scale = 1 / iscale, best = 0;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)clampi(nearest(iscale * (x[i] - min)), 0, p->nmax);
        best += wt[i] * err_of(scale * L[i] + min - x[i], p->mad);
    }
    for (int is = 0; is <= p->nstep; is++) {
        iscale = (p->rmin + p->rdelta * is + p->nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = clampi(nearest(iscale * (x[i] - min)), 0, p->nmax);
            Laux[i] = (uint8_t)l;
            sum_l += wt[i] * l;
            sum_l2 += wt[i] * l * l;
            sum_xl += wt[i] * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (!(D > 0))
            continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
        float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
        if (this_min > 0) {
            this_min = 0;
            this_scale = sum_xl / sum_l2;
        }
        float cur = 0;
        for (int i = 0; i < n; i++)
            cur += wt[i] * err_of(this_scale * Laux[i] + this_min - x[i], p->mad);
        if (cur < best) {
            memcpy(L, Laux, (size_t)n);
            best = cur;
            scale = this_scale;
            min = this_min;
        }
    }
    *neg_min = -min;
    return scale;
}

/* Packs 2-bit quants: element 128 h + 32 j + l into bits 2j of byte 32 h + l. */
static void pack2(const uint8_t *L, uint8_t *qs)
{
    for (int j = 0; j < 256; j += 128)
        for (int l = 0; l < 32; l++)
            qs[j / 4 + l] =
                (uint8_t)(L[j + l] | L[j + l + 32] << 2 | L[j + l + 64] << 4 | L[j + l + 96] << 6);
}

/* Q2_K: scales[16] qs[64] d dmin (84 bytes). */
static void q2_k(const float *x, uint8_t *y)
{
    static const affine p = {3, 15, -0.5f, 0.1f, true};
    uint8_t L[256];
    float wt[16], scales[16], mins[16], max_scale = 0, max_min = 0;
    for (int j = 0; j < 16; j++) {
        for (int l = 0; l < 16; l++)
            wt[l] = fabsf(x[16 * j + l]);
        scales[j] = affine_quants(&p, 16, x + 16 * j, wt, L + 16 * j, &mins[j]);
        max_scale = scales[j] > max_scale ? scales[j] : max_scale;
        max_min = mins[j] > max_min ? mins[j] : max_min;
    }
    memset(y, 0, 84);
    if (max_scale > 0) {
        float iscale = 15.f / max_scale;
        for (int j = 0; j < 16; j++)
            y[j] = (uint8_t)nearest(iscale * scales[j]);
        put_half(y + 80, max_scale / 15.f);
    }
    if (max_min > 0) {
        float iscale = 15.f / max_min;
        for (int j = 0; j < 16; j++)
            y[j] = (uint8_t)(y[j] | nearest(iscale * mins[j]) << 4);
        put_half(y + 82, max_min / 15.f);
    }
    for (int j = 0; j < 16; j++) { /* the quants again, against the rounded scales */
        float d = half_at(y + 80) * (y[j] & 15);
        if (!d)
            continue;
        float dm = half_at(y + 82) * (y[j] >> 4);
        for (int i = 0; i < 16; i++)
            L[16 * j + i] = (uint8_t)clampi(nearest((x[16 * j + i] + dm) / d), 0, 3);
    }
    pack2(L, y + 16);
}

/* Q3_K: hmask[32] qs[64] scales[12] d (110 bytes). */
static void q3_k(const float *x, uint8_t *y)
{
    int8_t L[256];
    float scales[16];
    for (int j = 0; j < 16; j++)
        scales[j] = q3_quants(16, 4, x + 16 * j, L + 16 * j);
    float max_scale = signed_extreme(scales, 16);
    memset(y, 0, 110);
    uint8_t *s = y + 96;
    if (max_scale) { /* 6-bit scales from -32: low nibbles in 0-7, top 2 bits in 8-11 */
        float iscale = -32.f / max_scale;
        for (int j = 0; j < 16; j++) {
            int l = clampi((int8_t)nearest(iscale * scales[j]), -32, 31) + 32;
            s[j % 8] = (uint8_t)(s[j % 8] | (l & 15) << (j < 8 ? 0 : 4));
            s[8 + j % 4] = (uint8_t)(s[8 + j % 4] | (l >> 4) << (2 * (j / 4)));
        }
        put_half(y + 108, 1 / iscale);
    }
    for (int j = 0; j < 16; j++) {
        int sc = (j < 8 ? s[j] & 15 : s[j - 8] >> 4) | ((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4;
        float d = half_at(y + 108) * (sc - 32);
        if (!d)
            continue;
        for (int i = 0; i < 16; i++)
            L[16 * j + i] = (int8_t)(clampi(nearest(x[16 * j + i] / d), -4, 3) + 4);
    }
    uint8_t low[256];
    for (int j = 0; j < 256; j++) { /* the high bit of element j: bit j / 32 of hmask[j % 32] */
        if (L[j] > 3)
            y[j % 32] = (uint8_t)(y[j % 32] | 1 << (j / 32));
        low[j] = (uint8_t)(L[j] > 3 ? L[j] - 4 : L[j]);
    }
    pack2(low, y + 32);
}

/* Q4_K and Q5_K: d dmin scales[12] [qh[32]] qs[128] (144 / 176 bytes). */
static void q45_k(const float *x, uint8_t *y, bool five)
{
    static const affine p4 = {15, 20, -1.f, 0.1f, false}, p5 = {31, 15, -0.5f, 0.1f, false};
    uint8_t L[256];
    float wt[32], scales[8], mins[8], max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; j++) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++)
            sum_x2 += x[32 * j + l] * x[32 * j + l];
        float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++)
            wt[l] = av_x + fabsf(x[32 * j + l]);
        scales[j] = affine_quants(five ? &p5 : &p4, 32, x + 32 * j, wt, L + 32 * j, &mins[j]);
        max_scale = scales[j] > max_scale ? scales[j] : max_scale;
        max_min = mins[j] > max_min ? mins[j] : max_min;
    }
    memset(y, 0, five ? 176 : 144);
    uint8_t *s = y + 4;
    float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    uint8_t ls[8], lm[8];
    for (int j = 0; j < 8; j++) { /* as uint8_t, as ggml stores them, then at most 63 */
        ls[j] = (uint8_t)nearest(inv_scale * scales[j]);
        lm[j] = (uint8_t)nearest(inv_min * mins[j]);
        ls[j] = ls[j] < 63 ? ls[j] : 63;
        lm[j] = lm[j] < 63 ? lm[j] : 63;
    }
    for (int j = 0; j < 8; j++) { /* the layout l4lm_kq_scales_k4 reads */
        if (j < 4) {
            s[j] = (uint8_t)(s[j] | ls[j]);
            s[j + 4] = (uint8_t)(s[j + 4] | lm[j]);
        } else {
            s[j + 4] = (uint8_t)((ls[j] & 15) | (lm[j] & 15) << 4);
            s[j - 4] = (uint8_t)(s[j - 4] | (ls[j] >> 4) << 6);
            s[j] = (uint8_t)(s[j] | (lm[j] >> 4) << 6);
        }
    }
    put_half(y, max_scale / 63.f);
    put_half(y + 2, max_min / 63.f);
    int top = five ? 31 : 15;
    for (int j = 0; j < 8; j++) {
        int sc = j < 4 ? s[j] & 63 : (s[j + 4] & 15) | (s[j - 4] >> 6) << 4;
        int m = j < 4 ? s[j + 4] & 63 : (s[j + 4] >> 4) | (s[j] >> 6) << 4;
        float d = half_at(y) * sc;
        if (!d)
            continue;
        float dm = half_at(y + 2) * m;
        for (int i = 0; i < 32; i++)
            L[32 * j + i] = (uint8_t)clampi(nearest((x[32 * j + i] + dm) / d), 0, top);
    }
    uint8_t *qh = y + 16, *qs = y + (five ? 48 : 16);
    for (int e = 0; e < 256; e++) { /* element 64 p + 32 k + l: nibble k of qs[32 p + l] */
        int p = e / 64, k = e % 64 / 32, l = e % 32;
        qs[32 * p + l] = (uint8_t)(qs[32 * p + l] | (L[e] & 15) << (4 * k));
        if (L[e] > 15)
            qh[l] = (uint8_t)(qh[l] | 1 << (2 * p + k));
    }
}

/* Q6_K: ql[128] qh[64] int8 scales[16] d (210 bytes). */
static void q6_k(const float *x, uint8_t *y)
{
    int8_t L[256];
    float scales[16], max_scale = 0, max_abs = 0;
    for (int j = 0; j < 16; j++) {
        scales[j] = qx_quants(16, 32, x + 16 * j, L + 16 * j);
        if (fabsf(scales[j]) > max_abs) {
            max_abs = fabsf(scales[j]);
            max_scale = scales[j];
        }
    }
    memset(y, 0, 210);
    if (max_abs < GROUP_EPS)
        return;
    float iscale = -128.f / max_scale;
    put_half(y + 208, 1 / iscale);
    for (int j = 0; j < 16; j++) {
        int v = nearest(iscale * scales[j]);
        y[192 + j] = (uint8_t)(int8_t)(v < 127 ? v : 127);
    }
    for (int j = 0; j < 16; j++) {
        float d = half_at(y + 208) * (int8_t)y[192 + j];
        if (!d)
            continue;
        for (int i = 0; i < 16; i++)
            L[16 * j + i] = (int8_t)(clampi(nearest(x[16 * j + i] / d), -32, 31) + 32);
    }
    for (int e = 0; e < 256; e++) { /* see kernels_k.c for where each element's bits go */
        int h = e / 128, m = e % 128 / 32, l = e % 32;
        uint8_t *lo = y + 64 * h + l + 32 * (m % 2), *hi = y + 128 + 32 * h + l;
        *lo = (uint8_t)(*lo | (L[e] & 15) << (4 * (m / 2)));
        *hi = (uint8_t)(*hi | (L[e] >> 4) << (2 * m));
    }
}

uint64_t mkgguf_k_block_bytes(uint32_t type)
{
    switch (type) {
    case L4LM_TYPE_Q2_K:
        return 84;
    case L4LM_TYPE_Q3_K:
        return 110;
    case L4LM_TYPE_Q4_K:
        return 144;
    case L4LM_TYPE_Q5_K:
        return 176;
    case L4LM_TYPE_Q6_K:
        return 210;
    default:
        return 0;
    }
}

void mkgguf_encode_k(uint32_t type, const float *x, uint8_t *out)
{
    switch (type) {
    case L4LM_TYPE_Q2_K:
        q2_k(x, out);
        break;
    case L4LM_TYPE_Q3_K:
        q3_k(x, out);
        break;
    case L4LM_TYPE_Q4_K:
        q45_k(x, out, false);
        break;
    case L4LM_TYPE_Q5_K:
        q45_k(x, out, true);
        break;
    default:
        q6_k(x, out);
        break;
    }
}
