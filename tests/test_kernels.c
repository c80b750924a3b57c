/*
** test_kernels.c — the dot and matrix kernels (kernels.c) against a
** double-precision reference computed here from weights and activations
** decoded by this file's own code, for every weight type and several sizes.
**
** Tolerances (u = 2^-24, S = sum |w_i * a_i| over the partner values):
**  - vs the reference on the partner-converted activations: |err| <= (n/32 + 8) u S,
**    a bound on float rounding for the kernels' order (32 lanes, or one
**    rounding per block and 8 lanes of block sums, then a tree);
**  - vs the unrounded activations: that, plus the activation rounding: F16
**    2^-11 |x|, BF16 2^-8 |x|, Q8_0 d/2 + 127 |fp16(d) - d| per element
**    (times |d_w q_w|); for Q4_1/Q5_1 also their min m times the error of
**    Q8_1's s against sum x: 32 d/2 + (2^-11 + 2^-23) |s| + 2^-25 a block.
** Q4_1/Q5_1 meet Q8_1 activations, whose s the partner reference uses as
** ggml does: block sum d_w d_x sum q_w q_x + m s.
** The SIMD path (when built) must equal the portable path bit for bit, and
** the batched product must equal the single dots bit for bit.
*/
#include <float.h>
#include <math.h>
#include <stdint.h>
#include "kernels.h"
#include "t.h"
#include "posix.h"

/* The kernels under test: those L4LM_SIMD names, else this CPU's best. */
static const l4lm_kern *K;

#define U (1.0 / 16777216.0)

static uint64_t rng = 0x243f6a8885a308d3ull;
static uint32_t rnd(void)
{
    return t_xorshift(&rng);
}
static double rnd01(void)
{
    return rnd() / 4294967296.0;
}
static float rnd_sym(void)
{
    return (float)(rnd01() * 2 - 1);
}

/* ---- this test's own decoding of the formats ---- */
static double half_val(const uint8_t *p)
{
    int h = p[0] | p[1] << 8, e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25); /* no inf/nan generated */
    return (h & 0x8000) ? -v : v;
}
static double bf16_val(const uint8_t *p)
{
    uint32_t u = (uint32_t)(p[0] | p[1] << 8) << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static double f32_val(const uint8_t *p)
{
    float f;
    memcpy(&f, p, 4);
    return f;
}

static int is_quant(uint32_t t)
{
    return t == L4LM_TYPE_Q8_0 || t == L4LM_TYPE_Q4_0 || t == L4LM_TYPE_Q4_1 ||
           t == L4LM_TYPE_Q5_0 || t == L4LM_TYPE_Q5_1;
}

static int has_min(uint32_t t)
{
    return t == L4LM_TYPE_Q4_1 || t == L4LM_TYPE_Q5_1;
}

/* ggml's block layouts: bytes, and where the nibbles and fifth bits are. */
static uint32_t block_bytes(uint32_t t)
{
    return t == L4LM_TYPE_Q8_0   ? 34
           : t == L4LM_TYPE_Q4_0 ? 18
           : t == L4LM_TYPE_Q4_1 ? 20
           : t == L4LM_TYPE_Q5_0 ? 22
                                 : 24;
}

/* Element i of a row of type t (Q8_0 is also the activation layout), as
** d q of its block (q less the zero point 8 or 16 of Q4_0, Q5_0) and, in
** *m, the block's min (Q4_1, Q5_1; else 0): the element is their sum. */
static double elem_q(uint32_t t, const uint8_t *row, uint32_t i, double *m)
{
    *m = 0;
    switch (t) {
    case L4LM_TYPE_F32:
        return f32_val(row + 4 * i);
    case L4LM_TYPE_F16:
        return half_val(row + 2 * i);
    case L4LM_TYPE_BF16:
        return bf16_val(row + 2 * i);
    }
    const uint8_t *b = row + block_bytes(t) * (i / 32);
    int j = i % 32;
    if (t == L4LM_TYPE_Q8_0)
        return half_val(b) * (int8_t)b[2 + j];
    const uint8_t *qs = b + block_bytes(t) - 16;
    int q = j < 16 ? qs[j] & 15 : qs[j - 16] >> 4;
    if (t == L4LM_TYPE_Q5_0 || t == L4LM_TYPE_Q5_1) {
        const uint8_t *qh = b + (t == L4LM_TYPE_Q5_0 ? 2 : 4);
        uint32_t bits = qh[0] | qh[1] << 8 | qh[2] << 16 | (uint32_t)qh[3] << 24;
        q += (bits >> j & 1) << 4;
    }
    if (has_min(t))
        *m = half_val(b + 2);
    return half_val(b) * (q - (t == L4LM_TYPE_Q4_0 ? 8 : t == L4LM_TYPE_Q5_0 ? 16 : 0));
}

#define TYPE_Q8_1 9 /* ggml's id: the partner of Q4_1 and Q5_1 */

static uint32_t partner(uint32_t t)
{
    return has_min(t) ? TYPE_Q8_1 : is_quant(t) ? L4LM_TYPE_Q8_0 : t;
}

static void put16(uint8_t *p, uint16_t h)
{
    p[0] = (uint8_t)h, p[1] = (uint8_t)(h >> 8);
}

/* The prepared-activation layout as kernels.h documents it, decoded here.
** Quantised rows: int8 q[32 nb], float d[nb], int32 s8[nb]; block j's
** quants at 32 j, but whole groups of 8 blocks are interleaved: element
** e of the group's block k at 32 (e / 4) + 4 k + e % 4. */
static int act_quant(const uint8_t *act, uint32_t nb, uint32_t j, uint32_t e)
{
    if (j >= nb / 8 * 8)
        return (int8_t)act[32 * j + e];
    return (int8_t)act[32 * (j - j % 8) + 32 * (e / 4) + 4 * (j % 8) + e % 4];
}
static float act_scale(const uint8_t *act, uint32_t nb, uint32_t j)
{
    return (float)f32_val(act + 32 * nb + 4 * j);
}
static int32_t act_s8(const uint8_t *act, uint32_t nb, uint32_t j)
{
    int32_t v;
    memcpy(&v, act + 36 * nb + 4 * j, 4);
    return v;
}
/* Q8_1 rows keep the float s where Q8_0 rows keep s8. */
static double act_s(const uint8_t *act, uint32_t nb, uint32_t j)
{
    return f32_val(act + 36 * nb + 4 * j);
}
/* Element i of a prepared activation row for weights of type t. */
static double act_val(uint32_t t, const uint8_t *act, uint32_t n, uint32_t i)
{
    if (is_quant(t))
        return (double)act_scale(act, n / 32, i / 32) * act_quant(act, n / 32, i / 32, i % 32);
    return f32_val(act + 4 * i);
}

/* ggml's reference quantize_row_q8_0, with libm's roundf; s gets
** quantize_row_q8_1's extra fp16 s = sum of the quants times d. */
static void ref_quant_q8_0(const float *x, uint8_t *blk, uint8_t s[2])
{
    float amax = 0;
    int sum = 0;
    for (int j = 0; j < 32; j++)
        amax = fmaxf(amax, fabsf(x[j]));
    float d = amax / 127, id = d ? 1.0f / d : 0.0f;
    put16(blk, l4lm_f32_to_fp16(d));
    for (int j = 0; j < 32; j++) {
        blk[2 + j] = (uint8_t)(int8_t)roundf(x[j] * id);
        sum += (int8_t)blk[2 + j];
    }
    put16(s, l4lm_f32_to_fp16((float)sum * d));
}

/* Random row of type t; scale sets the magnitude. */
static void make_row(uint32_t t, uint8_t *row, uint32_t n, float scale)
{
    for (uint32_t i = 0; i < n; i++) {
        float v = rnd_sym() * scale;
        switch (t) {
        case L4LM_TYPE_F32:
            memcpy(row + 4 * i, &v, 4);
            break;
        case L4LM_TYPE_F16:
            put16(row + 2 * i, l4lm_f32_to_fp16(v));
            break;
        case L4LM_TYPE_BF16:
            put16(row + 2 * i, l4lm_f32_to_bf16(v));
            break;
        }
    }
    if (is_quant(t)) {
        uint32_t bb = block_bytes(t);
        for (uint32_t b = 0; b < n / 32; b++) {
            uint8_t *blk = row + b * bb;
            put16(blk, l4lm_f32_to_fp16((float)(rnd01() * scale / 64)));
            for (uint32_t j = 2; j < bb; j++)
                blk[j] = (uint8_t)rnd();
            if (has_min(t))
                put16(blk + 2, l4lm_f32_to_fp16(rnd_sym() * scale / 4));
            if (t == L4LM_TYPE_Q8_0 && (rnd() & 3) == 0)
                blk[2 + rnd() % 32] = 0x80; /* -128: legal in files, hard for SIMD sign tricks */
        }
    }
}

/* Activations: blocks of very different magnitude, some all zero, some outliers. */
static void make_x(float *x, uint32_t n, float maxscale)
{
    for (uint32_t b = 0; b < n; b += 32) {
        float scale = (float)(maxscale * pow(10, -4 * rnd01()));
        int kind = rnd() % 8;
        for (uint32_t j = b; j < b + 32 && j < n; j++)
            x[j] = kind == 0 ? 0.0f : rnd_sym() * scale;
        if (kind == 1) {
            uint32_t at = b + rnd() % 32 % (n - b);
            x[at] = scale * 50 * (rnd() & 1 ? 1 : -1);
        }
    }
}

typedef struct {
    double partner_ratio; /* max |err| / (u S) against the partner reference */
    double exact_ratio;   /* max |err| / bound against the unrounded product */
    long dots;
    int simd_diff, sub_diff, act_diff, deq_diff;
} result;

/* Bound on |a_i - x_i| from converting activation x (block amax) to the partner. */
static double act_err(uint32_t t, float x, float amax)
{
    switch (t) {
    case L4LM_TYPE_F16:
        return fabs(x) * ldexp(1, -11) + ldexp(1, -25);
    case L4LM_TYPE_BF16:
        return fabs(x) * ldexp(1, -8);
    case L4LM_TYPE_Q8_0:
    case L4LM_TYPE_Q4_0:
    case L4LM_TYPE_Q4_1:
    case L4LM_TYPE_Q5_0:
    case L4LM_TYPE_Q5_1: {
        double d = amax / 127.0;
        return d / 2 * (1 + 1e-6) + 127 * fmax(d * ldexp(1, -11), ldexp(1, -25));
    }
    }
    return 0;
}

static void check_type(uint32_t t, uint32_t n, uint32_t rows, result *res)
{
    uint64_t rb;
    if (!l4lm_row_bytes(t, n, &rb))
        return;
    uint8_t *wbuf = malloc(rb * rows + 1), *w = wbuf + 1; /* deliberately unaligned */
    float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * (rows + 2));
    float *deq = malloc(sizeof(float) * n);
    size_t ab = l4lm_act_bytes(t, n);
    uint8_t *abuf = malloc(ab + 64), *act = abuf + 64;
    double *ad = malloc(sizeof(double) * n);
    for (uint32_t r = 0; r < rows; r++)
        make_row(t, w + r * rb, n, (float)pow(10, 2 - 4 * rnd01()));
    make_x(x, n, t == L4LM_TYPE_F16 ? 100.0f : 1000.0f);
    l4lm_act_prepare(K, t, x, n, act);

    /* the partner values are exactly what ggml would make */
    for (uint32_t i = 0; i < n; i++) {
        uint8_t h[2];
        if (t == L4LM_TYPE_F32)
            res->act_diff += memcmp(act + 4 * i, x + i, 4) != 0;
        if (t == L4LM_TYPE_F16 || t == L4LM_TYPE_BF16) {
            put16(h, t == L4LM_TYPE_F16 ? l4lm_f32_to_fp16(x[i]) : l4lm_f32_to_bf16(x[i]));
            res->act_diff +=
                f32_val(act + 4 * i) != (t == L4LM_TYPE_F16 ? half_val(h) : bf16_val(h));
            res->act_diff += memcmp(act + 4 * (size_t)n + 2 * i, h, 2) != 0; /* the halves */
        }
    }
    if (is_quant(t))
        for (uint32_t b = 0; b < n / 32; b++) {
            uint8_t blk[34], s[2];
            int sum = 0, bad = 0;
            ref_quant_q8_0(x + 32 * b, blk, s);
            for (uint32_t j = 0; j < 32; j++) {
                bad |= act_quant(act, n / 32, b, j) != (int8_t)blk[2 + j];
                sum += (int8_t)blk[2 + j];
            }
            bad |= act_scale(act, n / 32, b) != half_val(blk);
            if (partner(t) == TYPE_Q8_1)
                bad |= memcmp(&(double){act_s(act, n / 32, b)}, &(double){half_val(s)}, 8) != 0;
            else
                bad |= act_s8(act, n / 32, b) != 8 * sum;
            res->act_diff += bad;
        }
    for (uint32_t i = 0; i < n; i++)
        ad[i] = act_val(t, act, n, i);

    for (uint32_t r = 0; r < rows; r++) {
        const uint8_t *row = w + r * rb;
        l4lm_row_to_f32(t, row, deq, n);
        double ref = 0, S = 0, exact = 0, bound = 0, m;
        float amax = 0;
        for (uint32_t i = 0; i < n; i++) {
            double wq = elem_q(t, row, i, &m), wi = wq + m;
            res->deq_diff += deq[i] != (float)wi; /* one rounding, as ggml's d q + m has */
            if (i % 32 == 0) {
                amax = 0;
                for (uint32_t j = i; j < i + 32 && j < n; j++)
                    amax = fmaxf(amax, fabsf(x[j]));
            }
            if (i % 32 == 0 && partner(t) == TYPE_Q8_1) { /* the block's m s */
                double sb = act_s(act, n / 32, i / 32);
                ref += m * sb;
                S += fabs(m * sb);
                bound += fabs(m) * (16 * amax / 127.0 * (1 + 1e-6) +
                                    fabs(sb) * (ldexp(1, -11) + ldexp(1, -23)) + ldexp(1, -25));
            }
            ref += wq * ad[i];
            S += fabs(wq * ad[i]);
            exact += wi * x[i];
            bound += fabs(wq) * act_err(t, x[i], amax);
        }
        double kb = (n / 32.0 + 8) * U;
        float got = l4lm_vec_dot(K, t, row, act, n);
        double pr = S > 0 ? fabs(got - ref) / (U * S) : (got == 0 ? 0 : INFINITY);
        double eb = bound + kb * S;
        double er = eb > 0 ? fabs(got - exact) / eb : (got == exact ? 0 : INFINITY);
        res->partner_ratio = fmax(res->partner_ratio, pr / (n / 32.0 + 8));
        res->exact_ratio = fmax(res->exact_ratio, er);
        res->simd_diff += memcmp(&got, &(float){l4lm_vec_dot_plain(t, row, act, n)}, 4) != 0;
        t_hash_float(got);
        res->dots++;
    }

    /* matvec: whole range equals the dots; any sub-range equals the whole */
    float *full = malloc(sizeof(float) * rows);
    l4lm_matvec(K, t, w, act, n, full, 0, rows);
    for (uint32_t r = 0; r < rows; r++) {
        float d = l4lm_vec_dot(K, t, w + r * rb, act, n);
        res->sub_diff += memcmp(&d, full + r, 4) != 0;
    }
    for (int k = 0; k < 6; k++) {
        uint32_t r0 = rnd() % rows, r1 = r0 + rnd() % (rows - r0 + 1);
        for (uint32_t r = 0; r < rows + 2; r++)
            y[r] = -12345.0f;
        l4lm_matvec(K, t, w, act, n, y, r0, r1);
        for (uint32_t r = 0; r < rows + 2; r++)
            res->sub_diff +=
                (r >= r0 && r < r1) ? memcmp(y + r, full + r, 4) != 0 : y[r] != -12345.0f;
    }
    free(full), free(wbuf), free(x), free(y), free(deq), free(abuf), free(ad);
}

/* The batched product: every output of l4lm_matmul equals l4lm_vec_dot's
** bit for bit, for 1 to max_b activation rows (every tile width) and any
** row range; nothing else is written. Returns the number of wrong outputs. */
static int check_matmul(uint32_t t, uint32_t n, uint32_t rows, uint32_t max_b)
{
    uint64_t rb;
    if (!l4lm_row_bytes(t, n, &rb))
        return 0;
    uint32_t n_b = 1 + rnd() % max_b, ys = rows + 3;
    size_t ab = l4lm_act_bytes(t, n);
    uint8_t *wbuf = malloc(rb * rows + 1), *w = wbuf + 1, *act = aligned_alloc(64, ab * n_b);
    float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * ys * n_b);
    for (uint32_t r = 0; r < rows; r++)
        make_row(t, w + r * rb, n, (float)pow(10, 2 - 4 * rnd01()));
    for (uint32_t b = 0; b < n_b; b++) {
        make_x(x, n, t == L4LM_TYPE_F16 ? 100.0f : 1000.0f);
        l4lm_act_prepare(K, t, x, n, act + b * ab);
    }
    for (size_t i = 0; i < (size_t)ys * n_b; i++)
        y[i] = -12345.0f;
    uint32_t r0 = rnd() % 4 == 0 ? 0 : rnd() % rows;
    uint32_t r1 = rnd() % 4 == 0 ? rows : r0 + rnd() % (rows - r0 + 1);
    l4lm_matmul(K, t, w, act, ab, n, y, ys, r0, r1, n_b);
    int diff = 0;
    for (uint32_t b = 0; b < n_b; b++)
        for (uint32_t r = 0; r < ys; r++) {
            float want =
                r >= r0 && r < r1 ? l4lm_vec_dot(K, t, w + r * rb, act + b * ab, n) : -12345.0f;
            diff += memcmp(&want, y + (size_t)b * ys + r, 4) != 0;
        }
    free(wbuf), free(act), free(x), free(y);
    return diff;
}

static const char *tname(uint32_t t)
{
    return l4lm_type_name((l4lm_type)t);
}

static void test_type(uint32_t t, int quick)
{
    /* 4136 and 8224: decode takes F32 rows (above 4096) and F16/BF16 rows
    ** (above 8192) in groups (kernels.h, L4LM_DECODE_ACT_BYTES). */
    static const uint32_t ns_float[] = {1, 7, 32, 33, 64, 100, 288, 4095, 4096, 4136, 8224};
    static const uint32_t ns_quant[] = {32, 64, 96, 288, 352, 640, 2048, 4096};
    int q = is_quant(t);
    const uint32_t *ns = q ? ns_quant : ns_float;
    size_t nn = q ? sizeof ns_quant / sizeof *ns_quant : sizeof ns_float / sizeof *ns_float;
    result res = {0};
    int mm_diff = 0;
    for (int rep = 0; rep < (quick ? 2 : 8); rep++)
        for (size_t k = 0; k < nn; k++) {
            check_type(t, ns[k], ns[k] > 1000 ? 9 : 17, &res);
            mm_diff += check_matmul(t, ns[k], ns[k] > 1000 ? 19 : 37, 9);
        }
    if (q) { /* tiles of up to 16 activation rows (kernels.h, L4LM_QUANT_ACTS), from a
             ** side stream of rnd so that the hash stays */
        uint64_t keep = rng;
        for (int rep = 0; rep < (quick ? 2 : 6); rep++)
            for (size_t k = 0; k < nn; k++)
                mm_diff += check_matmul(t, ns[k], ns[k] > 1000 ? 19 : 37, 20);
        rng = keep;
    }
    char name[64];
    snprintf(name, sizeof name, "vec_dot %s", tname(t));
    if (res.partner_ratio <= 1 && res.exact_ratio <= 1)
        printf("ok %s: %ld dots; worst error %.3g of the partner bound, %.3g of the bound "
               "vs unrounded x\n",
               name, res.dots, res.partner_ratio, res.exact_ratio);
    else
        T_FAIL(name, "worst %.3g of partner bound, %.3g of exact bound", res.partner_ratio,
               res.exact_ratio);
    snprintf(name, sizeof name, "act_prepare %s matches ggml", tname(t));
    T_CHECK(name, res.act_diff == 0, "%d elements/blocks differ", res.act_diff);
    snprintf(name, sizeof name, "row_to_f32 %s", tname(t));
    T_CHECK(name, res.deq_diff == 0, "%d elements differ", res.deq_diff);
    snprintf(name, sizeof name, "matvec %s sub-ranges", tname(t));
    T_CHECK(name, res.sub_diff == 0, "%d outputs differ", res.sub_diff);
    snprintf(name, sizeof name, "matmul %s == vec_dot", tname(t));
    T_CHECK(name, mm_diff == 0, "%d outputs differ", mm_diff);
    snprintf(name, sizeof name, "simd == plain %s", tname(t));
    T_CHECK(name, res.simd_diff == 0, "%d dots differ", res.simd_diff);
}

/* |x - q d16| <= d/2 + |q| |d16 - d| for Q8_0 activations (d = amax/127 unrounded) */
static void test_q8_bounds(void)
{
    float x[4096];
    static uint8_t act[4096 / 32 * 40];
    double worst = 0;
    int bad = 0;
    for (int rep = 0; rep < 20; rep++) {
        make_x(x, 4096, 1e4f);
        l4lm_act_prepare(K, L4LM_TYPE_Q8_0, x, 4096, act);
        for (int b = 0; b < 128; b++) {
            float amax = 0;
            for (int j = 0; j < 32; j++)
                amax = fmaxf(amax, fabsf(x[32 * b + j]));
            double d = amax / 127.0f, d16 = act_scale(act, 128, b);
            for (int j = 0; j < 32; j++) {
                int qv = act_quant(act, 128, b, j);
                double err = fabs(x[32 * b + j] - qv * d16);
                double lim = d / 2 * (1 + 1e-6) + abs(qv) * fabs(d16 - d);
                bad += err > lim;
                if (lim > 0)
                    worst = fmax(worst, err / lim);
            }
        }
    }
    T_CHECK("q8_0 quantise error <= d/2 (+ fp16 rounding of d)", bad == 0, "%d elements over", bad);
    printf("# q8_0 worst error %.4f of its bound\n", worst);
}

/* Q4_0 weights quantised here as ggml's reference does; l4lm_row_to_f32 must
** give values within d/2 of x (within d for the side that saturates at 15). */
static void test_q4_bounds(void)
{
    float x[32 * 64], out[32 * 64];
    uint8_t row[18 * 64];
    int bad = 0;
    double worst = 0;
    for (int rep = 0; rep < 50; rep++) {
        make_x(x, 32 * 64, 10.0f);
        for (int b = 0; b < 64; b++) {
            float mx = 0;
            for (int j = 0; j < 32; j++)
                if (fabsf(x[32 * b + j]) > fabsf(mx))
                    mx = x[32 * b + j];
            float d = mx / -8, id = d ? 1.0f / d : 0.0f;
            put16(row + 18 * b, l4lm_f32_to_fp16(d));
            for (int j = 0; j < 16; j++) {
                int q0 = (int)fminf(15.0f, x[32 * b + j] * id + 8.5f);
                int q1 = (int)fminf(15.0f, x[32 * b + j + 16] * id + 8.5f);
                row[18 * b + 2 + j] = (uint8_t)(q0 | q1 << 4);
            }
        }
        l4lm_row_to_f32(L4LM_TYPE_Q4_0, row, out, 32 * 64);
        for (int b = 0; b < 64; b++) {
            double d16 = half_val(row + 18 * b), d = 0;
            for (int j = 0; j < 32; j++) /* (not fmax: gcc 12 for aarch64 crashes on it) */
                if (fabs(x[32 * b + j]) / 8 > d)
                    d = fabs(x[32 * b + j]) / 8;
            for (int j = 0; j < 32; j++) {
                double v = x[32 * b + j], err = fabs(v - out[32 * b + j]);
                int sat = fabs(v / d) >= 7.5 && (v > 0) == (d16 > 0);
                double lim = (sat ? d : d / 2) * (1 + 1e-6) + 8 * fabs(fabs(d16) - d);
                bad += err > lim;
                if (lim > 0)
                    worst = fmax(worst, err / lim);
            }
        }
    }
    T_CHECK("q4_0 dequantise error <= d/2", bad == 0, "%d elements over", bad);
    printf("# q4_0 worst error %.4f of its bound\n", worst);
}

/* A half as float bits, inf and NaN included (NaNs quieted, payload kept,
** as conversions in hardware do). */
static float half_any(uint16_t h)
{
    uint8_t p[2] = {(uint8_t)h, (uint8_t)(h >> 8)};
    if ((h & 0x7c00) != 0x7c00)
        return (float)half_val(p);
    uint32_t u = (uint32_t)(h & 0x8000) << 16 | 0x7f800000 | (uint32_t)(h & 0x3ff) << 13;
    u |= (h & 0x3ff) ? 0x400000 : 0;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* l4lm_vec_axpy: out[i] + a * row[i] with one rounding for the product and
** one for the sum, whatever path runs; F16 rows of random bits (subnormals,
** inf, NaN), lengths across the SIMD widths and their tails. */
static void test_axpy(void)
{
    uint16_t h[100];
    float f[100], out[100], want[100];
    int bad = 0;
    for (int rep = 0; rep < 40; rep++) {
        uint32_t n = 1 + rnd() % 100;
        float a = rnd_sym() * 4;
        for (int t = 0; t < 2; t++) {
            for (uint32_t i = 0; i < n; i++) {
                h[i] = (uint16_t)rnd();
                f[i] = rnd_sym() * 100;
                out[i] = rnd_sym();
                float prod = a * (t ? half_any(h[i]) : f[i]);
                want[i] = out[i] + prod;
            }
            l4lm_vec_axpy(K, t ? L4LM_TYPE_F16 : L4LM_TYPE_F32, t ? (void *)h : (void *)f, a, out,
                          n);
            for (uint32_t i = 0; i < n; i++)
                bad += memcmp(out + i, want + i, 4) != 0;
        }
    }
    T_CHECK("vec_axpy f32 f16", bad == 0, "%d values differ", bad);
}

/* l4lm_vec_wsum of Q8_0 rows (a quantised KV cache's values, a head of n
** columns inside rows of STRIDE): each value dequantised as q d, then every
** product and sum rounded to float, in row order, on every path. */
static void test_wsum_q8_0(int quick)
{
    enum { STRIDE = 160, MAX_ROWS = 70, RB = STRIDE / 32 * 34 };
    static uint8_t rows[MAX_ROWS * RB];
    static float a[MAX_ROWS], out[STRIDE], want[STRIDE];
    const uint32_t sizes[] = {32, 64, 128, 96, 160};
    int bad = 0;
    for (int rep = 0; rep < (quick ? 4 : 30); rep++) {
        uint32_t n = sizes[rep % 5], n_rows = 1 + rnd() % MAX_ROWS, at = (STRIDE - n) / 32 * 32;
        for (uint32_t r = 0; r < n_rows; r++) {
            make_row(L4LM_TYPE_Q8_0, rows + r * RB, STRIDE, 8);
            a[r] = (float)rnd01();
        }
        for (uint32_t i = 0; i < n; i++) {
            const uint8_t *blk = rows + (at + i) / 32 * 34;
            volatile float acc = 0.0f; /* one rounding per product and per add */
            for (uint32_t r = 0; r < n_rows; r++, blk += RB) {
                volatile float v = (float)(int8_t)blk[2 + (at + i) % 32] * (float)half_val(blk);
                volatile float p = a[r] * v;
                acc = acc + p;
            }
            want[i] = acc;
        }
        l4lm_vec_wsum(K, L4LM_TYPE_Q8_0, rows + at / 32 * 34, STRIDE, a, n_rows, out, n);
        for (uint32_t i = 0; i < n; i++) {
            bad += memcmp(out + i, want + i, 4) != 0;
            t_hash_float(out[i]);
        }
    }
    T_CHECK("vec_wsum q8_0", bad == 0, "%d values differ", bad);
}

/* Zeros, infinities and NaNs in activations must not crash or invoke UB. */
static void test_edges(void)
{
    float x[64] = {0};
    uint8_t act[128], w[68] = {0};
    l4lm_act_prepare(K, L4LM_TYPE_Q8_0, x, 64, act);
    int ok = l4lm_act_bytes(L4LM_TYPE_Q8_0, 64) == sizeof act;
    for (int i = 0; i < 80; i++)
        ok &= act[i] == 0;
    /* d = 1 exactly: halves must round away from zero, as roundf does */
    x[0] = 127.0f, x[1] = 2.5f, x[2] = -2.5f, x[3] = 0.5f, x[4] = -126.5f;
    l4lm_act_prepare(K, L4LM_TYPE_Q8_0, x, 32, act);
    ok &= act_scale(act, 1, 0) == 1.0f && act_s8(act, 1, 0) == 8 * (127 + 3 - 3 + 1 - 127);
    ok &= (int8_t)act[1] == 3 && (int8_t)act[2] == -3 && act[3] == 1 && (int8_t)act[4] == -127;
    x[3] = INFINITY, x[40] = NAN, x[41] = -1e-45f;
    l4lm_act_prepare(K, L4LM_TYPE_Q8_0, x, 64, act);
    (void)l4lm_vec_dot(K, L4LM_TYPE_Q8_0, w, act, 64);
    float y[2] = {1, 1};
    l4lm_matvec(K, 5, w, act, 32, y, 0, 2); /* a type with no kernel: outputs 0 */
    ok &= y[0] == 0 && y[1] == 0 && l4lm_act_bytes(5, 64) == 0 &&
          l4lm_vec_dot(K, 99, w, act, 32) == 0;
    T_CHECK("kernel edge cases", ok, "zero block, roundf ties or unknown type wrong");
}

/* F16 activation rounding on its edges, whichever path does it (F16C or C):
** round to nearest even, overflow to inf, half subnormals, and every NaN to
** the plain quiet NaN of its sign. Expected bits worked out by hand. */
static void test_f16_round(void)
{
    static const uint32_t in[][2] = {
        {0x477fe000, 0x477fe000}, /* 65504, the largest half */
        {0x477fefff, 0x477fe000}, /* just under the tie: down */
        {0x477ff000, 0x7f800000}, /* 65520, the tie: to even, which is inf */
        {0x4e6e6b28, 0x7f800000}, /* 1e9 */
        {0xff800000, 0xff800000}, /* -inf */
        {0x7f800001, 0x7fc00000}, /* signalling NaN with a payload */
        {0xffa12345, 0xffc00000}, /* negative NaN */
        {0x33800000, 0x33800000}, /* 2^-24, the smallest half */
        {0x33000000, 0x00000000}, /* 2^-25, the tie: to even zero */
        {0x33400000, 0x33800000}, /* 1.5 * 2^-25: up */
        {0x33c00000, 0x34000000}, /* 3 * 2^-25, the tie: to even 2^-23 */
        {0x32800000, 0x00000000}, /* 2^-26 */
        {0x80000001, 0x80000000}, /* -1e-45 keeps its sign */
        {0x3f801000, 0x3f800000}, /* 1 + 2^-11, the tie: down to even */
        {0x3f803000, 0x3f804000}, /* 1 + 3 * 2^-11, the tie: up to even */
        {0x387fffff, 0x38800000}, /* just under 2^-14: up to the smallest normal */
        {0xc0490fdb, 0xc0490000}, /* -pi */
        {0x7f800000, 0x7f800000}, /* inf, in the C tail */
        {0x7fffffff, 0x7fc00000}, /* NaN, in the C tail */
    };
    enum { N = sizeof in / sizeof *in };
    float x[N], o[N + N / 2 + 16]; /* the floats, then the halves */
    int bad = l4lm_act_bytes(L4LM_TYPE_F16, N) > sizeof o;
    for (int i = 0; i < N; i++)
        memcpy(x + i, in[i], 4);
    l4lm_act_prepare(K, L4LM_TYPE_F16, x, N, o);
    const uint8_t *halves = (const uint8_t *)(o + N);
    for (int i = 0; i < N; i++) {
        uint8_t h[2];
        put16(h, l4lm_f32_to_fp16(x[i]));
        bad += memcmp(o + i, &in[i][1], 4) != 0 || memcmp(halves + 2 * i, h, 2) != 0;
    }
    T_CHECK("F16 activation rounding edges", bad == 0, "%d of %d values wrong", bad, N);
}

/* BF16 rows for vdpbf16ps (kernels.h): in-range random rows pass the scan
** where K has it, and every output of l4lm_matmul for L4LM_KTYPE_BF16_DP
** (1 to 9 activation rows, decode too; 6 and 25: whole prefill tiles and
** a rest) equals the C path's; a row with
** one value out of range (subnormal, 2^60, inf, NaN) fails it, and the
** type the session would then use gives the C path's bits. */
static int bf16_dp_case(uint32_t n, uint32_t rows, uint32_t n_b, uint16_t bad_value, uint64_t *r)
{
    uint32_t ys = rows;
    n_b = n_b ? n_b : 1 + (uint32_t)(t_xorshift(r) % 9);
    size_t ab = l4lm_act_bytes(L4LM_TYPE_BF16, n);
    uint8_t *w = malloc(2 * (size_t)n * rows), *act = aligned_alloc(64, ab * n_b);
    float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * ys * n_b);
    for (size_t i = 0; i < (size_t)n * rows; i++)
        put16(w + 2 * i, l4lm_f32_to_bf16((float)((t_xorshift(r) / 4294967296.0 * 2 - 1) *
                                                  pow(10, 2 - 4 * (t_xorshift(r) % 100) / 100.0))));
    if (bad_value)
        put16(w + 2 * (t_xorshift(r) % ((size_t)n * rows)), bad_value);
    for (uint32_t b = 0; b < n_b; b++) {
        for (uint32_t i = 0; i < n; i++)
            x[i] = (float)((t_xorshift(r) / 4294967296.0 * 2 - 1) * 1000);
        l4lm_act_prepare(K, L4LM_TYPE_BF16, x, n, act + b * ab);
    }
    l4lm_mat m = {w, L4LM_TYPE_BF16, n, rows, false};
    l4lm_kern_mark(K, &m);
    int wrong = m.bf16_dp != (K->bf16_in_range && !bad_value);
    uint32_t t = bad_value ? l4lm_mat_ktype(&m) : L4LM_KTYPE_BF16_DP;
    l4lm_matmul(K, t, w, act, ab, n, y, ys, 0, rows, n_b);
    for (uint32_t b = 0; b < n_b; b++)
        for (uint32_t row = 0; row < rows; row++) {
            float want =
                l4lm_vec_dot_plain(L4LM_TYPE_BF16, w + 2 * (size_t)n * row, act + b * ab, n);
            float one = l4lm_vec_dot(K, t, w + 2 * (size_t)n * row, act + b * ab, n);
            wrong += memcmp(&want, y + (size_t)b * ys + row, 4) != 0 || memcmp(&want, &one, 4) != 0;
        }
    free(w), free(act), free(x), free(y);
    return wrong;
}

static void test_bf16_dp(void)
{
    static const uint32_t ns[] = {1, 7, 64, 100, 130, 2048, 4136};
    static const uint16_t bad[] = {0x0001, 0x8040, 0x5d80, 0x7f80, 0x7fc1, 0x2670};
    uint64_t r = 0x9e3779b97f4a7c15ull; /* its own stream: the hash stays */
    int wrong = 0, wrong_bad = 0;
    for (size_t k = 0; k < sizeof ns / sizeof *ns; k++)
        for (int rep = 0; rep < 2; rep++)
            wrong += bf16_dp_case(ns[k], ns[k] > 1000 ? 9 : 17, 0, 0, &r);
    for (uint32_t n_b = 6; n_b <= 25; n_b += 19) /* whole tiles of the prefill, and the rest */
        for (size_t k = 5; k < sizeof ns / sizeof *ns; k++)
            wrong += bf16_dp_case(ns[k], 9, n_b, 0, &r);
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++)
        wrong_bad += bf16_dp_case(k % 2 ? 2048 : 288, 9, 0, bad[k], &r);
    T_CHECK(K->bf16_in_range ? "bf16 vdpbf16ps == C path" : "bf16 marked rows == C path",
            wrong == 0, "%d outputs or marks wrong", wrong);
    T_CHECK("bf16 out-of-range weights unmarked, C path's bits", wrong_bad == 0,
            "%d outputs or marks wrong", wrong_bad);
}

/* BF16 activation rounding as kernels.h states it, worked out here another
** way: the nearer of the two BF16 values around x (bits u) by exact double
** distances (the even one on a tie; above the largest, 2^128), then
** magnitudes below 2^-50 to +0, above 2^50 to +-2^50, any NaN to 0x7fc0. */
static uint16_t ref_bf16(uint32_t u)
{
    uint32_t a[3] = {u & 0x7fffffff, u & 0x7fff0000, (u & 0x7fff0000) + 0x10000};
    uint16_t sign = (uint16_t)(u >> 16 & 0x8000), to_up = 0;
    if (a[0] > 0x7f800000)
        return 0x7fc0;
    double x = f32_val((uint8_t *)a), down = f32_val((uint8_t *)(a + 1));
    if (a[0] < 0x7f800000) { /* inf stays inf */
        double up = a[2] == 0x7f800000 ? 0x1p128 : f32_val((uint8_t *)(a + 2));
        to_up = up - x < x - down || (up - x == x - down && (a[1] >> 16 & 1));
        x = f32_val((uint8_t *)(a + 1 + to_up)); /* 2^128 is inf */
    }
    if (x < 0x1p-50)
        return 0;
    return x > 0x1p50 ? sign | 0x5880 : sign | (uint16_t)(a[1 + to_up] >> 16);
}

/* l4lm_act_prepare for BF16 on this build's path (its SIMD hook, then the C
** tail) and on the C path, halves and widened floats, against ref_bf16:
** zeros, subnormals, ties, the range's edges and their neighbours, inf,
** the largest floats and NaNs of many payloads (each BF16 value near
** there, with low bits 0, 1, just under, at and over the tie, all ones),
** then random bit patterns; an odd length, so the C tail runs too. */
static void test_bf16_round(void)
{
    static const uint16_t base[] = {0x0000, 0x0001, 0x007f, 0x0080, 0x2670, 0x267e, 0x267f,
                                    0x2680, 0x2681, 0x3f80, 0x3f81, 0x587f, 0x5880, 0x5881,
                                    0x5882, 0x7f7e, 0x7f7f, 0x7f80, 0x7f81, 0x7fc0, 0x7fff};
    static const uint16_t low[] = {0, 1, 0x7fff, 0x8000, 0x8001, 0xffff};
    enum { N = 2 * 21 * 6 + (1 << 16) + 7 };
    const l4lm_kern *path[2] = {K, l4lm_kern_pick("none", 0, NULL)};
    uint32_t *u = malloc(4 * N), i = 0, bad = 0;
    float *x = malloc(4 * N), *o = malloc(l4lm_act_bytes(L4LM_TYPE_BF16, N));
    uint64_t r = 0x2545f4914f6cdd1dull; /* its own stream: the hash stays */
    for (uint32_t k = 0; k < 2 * 21 * 6; k++)
        u[i++] = (k / 126) << 31 | (uint32_t)base[k / 6 % 21] << 16 | low[k % 6];
    while (i < N)
        u[i++] = t_xorshift(&r);
    memcpy(x, u, 4 * N);
    for (int p = 0; p < 2; p++) {
        l4lm_act_prepare(path[p], L4LM_TYPE_BF16, x, N, o);
        const uint8_t *h = (const uint8_t *)(o + N);
        for (i = 0; i < N; i++) {
            uint32_t want = ref_bf16(u[i]), wide = want << 16;
            bad += (uint32_t)(h[2 * i] | h[2 * i + 1] << 8) != want || memcmp(o + i, &wide, 4);
        }
    }
    T_CHECK("bf16 activations: nearest even, kept in range, SIMD and C", bad == 0, "%u of %d wrong",
            bad, 2 * N);
    free(u), free(x), free(o);
}

/* The SIMD path's Q8_0 and Q8_1 activation quantisation (whole groups of
** blocks in one step) against the C path's, byte for byte: rows of whole
** groups and a tail, blocks of ordinary values, of magnitudes whose d is
** an fp16 subnormal, overflows fp16, or whose 1/d overflows, ties of x id
** at 127 and below, and blocks holding NaN, inf, subnormals and -0. */
static void test_q8_act_simd(void)
{
    static const float scale[] = {1.0f, 1e-40f, 1e-5f, 1e7f, 1e30f, 1e-37f, 3e38f, 0.0f};
    static const float pick[] = {-0.0f, NAN, -NAN, INFINITY, -INFINITY, 1e-40f, -1e-45f, 0.0f};
    const uint32_t n = 19 * 32; /* two groups of 8 blocks, then 3 more */
    const uint32_t types[] = {L4LM_TYPE_Q4_0, L4LM_TYPE_Q4_1};
    const l4lm_kern *C = l4lm_kern_pick("none", 0, NULL);
    float x[19 * 32];
    long bad = 0, rows = 0;
    for (size_t t = 0; t < sizeof types / sizeof *types; t++) {
        size_t ab = l4lm_act_bytes(types[t], n);
        uint8_t *a = calloc(1, ab), *b = calloc(1, ab);
        for (int rep = 0; rep < 300; rep++, rows++) {
            for (uint32_t j = 0; j < n / 32; j++) {
                uint32_t mode = rnd() % 8, sc = rnd() % 8;
                for (uint32_t i = 0; i < 32; i++) {
                    float *v = x + 32 * j + i;
                    uint32_t r = rnd();
                    *v = (float)((int)(r % 2001) - 1000) * 0.01f * (mode < 4 ? 1.0f : scale[sc]);
                    if (mode == 6) /* ties: the largest is 127 (id 1), the rest halves */
                        *v = i == 0 ? (r & 1 ? 127.0f : -127.0f)
                                    : (float)((int)(r % 255) - 127) + 0.5f;
                    if (mode == 7 && r % 5 == 0)
                        *v = pick[(r >> 8) % 8];
                }
            }
            l4lm_act_prepare(K, types[t], x, n, a);
            l4lm_act_prepare(C, types[t], x, n, b);
            bad += memcmp(a, b, ab) != 0;
        }
        free(a), free(b);
    }
    T_CHECK("q8_act_simd_same_bytes", bad == 0, "%ld of %ld rows differ from the C path", bad,
            rows);
}

int main(int argc, char **argv)
{
    int quick = argc > 1 && strcmp(argv[1], "--asan") == 0;
    l4lm_run_opts ro = {0};
    l4lm_posix_simd(&ro);
    K = l4lm_kern_pick(ro.simd, ro.hwcap, NULL);
    printf("# SIMD path of the kernels: %s\n", l4lm_kernels_simd(K));
    const uint32_t types[] = {L4LM_TYPE_F32,  L4LM_TYPE_F16,  L4LM_TYPE_BF16, L4LM_TYPE_Q8_0,
                              L4LM_TYPE_Q4_0, L4LM_TYPE_Q4_1, L4LM_TYPE_Q5_0, L4LM_TYPE_Q5_1};
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        test_type(types[i], quick);
    test_q8_bounds();
    test_q4_bounds();
    test_edges();
    test_f16_round();
    test_axpy();
    test_wsum_q8_0(quick);
    test_bf16_dp();
    test_bf16_round();
    test_q8_act_simd();
    t_print_hash();
    T_EXIT();
}
