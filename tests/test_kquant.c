/*
** test_kquant.c — the K-quant kernels (kernels_k.c and its SIMD paths):
** Q2_K, Q3_K, Q4_K, Q5_K, Q6_K and Q8_K weights against Q8_K activations.
**
**  - Activations: l4lm_act_prepare must give, byte for byte, what this
**    file's own reimplementation of ggml's quantize_row_q8_K reference
**    (libm rintf/fabsf) gives, in the layout kernels_k.h documents.
**  - row_to_f32 against this file's decoding of the blocks, written after
**    the loop structure of ggml's dequantize_row_* (in double): each output
**    is (d * sc) * q - dmin * m in float, so |err| <= 3 u (|d sc q| + |dmin m|).
**  - Dots against a double-precision sum over the decoded weights and
**    activations. With S = sum_i (|d sc q_i| + |dmin m|) |x_i|, the float
**    steps of kernels_k.h (per super-block: two scale products, two
**    conversions, two products, a subtraction; then ceil(nb / 8) adds in
**    its lane and 3 in the tree over the eight lanes) give
**    |err| <= (ceil(nb / 8) + 7) u S (first order; 1% slack).
**  - SIMD == portable C bit for bit, matmul == vec_dot bit for bit (any
**    tile), and rows of a bad length give 0.
** Weights are random bytes (every bit pattern is a legal block) with
** random fp16 scales, plus all-extreme blocks to hit the integer bounds.
*/
#include <math.h>
#include <stdint.h>
#include "internal.h"
#include "t.h"
#include "posix.h"

/* The kernels under test: those L4LM_SIMD names, else this CPU's best. */
static const l4lm_kern *K;

#define U  (1.0 / 16777216.0)
#define QK 256

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    return t_xorshift(&rng);
}
static double rnd01(void)
{
    return rnd() / 4294967296.0;
}

static double half_val(const uint8_t *p)
{
    int h = p[0] | p[1] << 8, e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    return (h & 0x8000) ? -v : v;
}

static const uint32_t types[] = {L4LM_TYPE_Q2_K, L4LM_TYPE_Q3_K, L4LM_TYPE_Q4_K,
                                 L4LM_TYPE_Q5_K, L4LM_TYPE_Q6_K, L4LM_TYPE_Q8_K};
static const uint32_t block_bytes[] = {84, 110, 144, 176, 210, 292};

/* ---- this test's decoding: per element the value parts a = d sc q, b = dmin m ---- */

/* ggml's get_scale_min_k4 for Q4_K/Q5_K, sub-block j. */
static void scale_min_k4(int j, const uint8_t *q, int *d, int *m)
{
    if (j < 4) {
        *d = q[j] & 63, *m = q[j + 4] & 63;
    } else {
        *d = (q[j + 4] & 15) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* Decodes one super-block to a[256], b[256]: w_i = a_i - b_i. */
static void decode(uint32_t t, const uint8_t *x, double *a, double *b)
{
    int k = 0;
    switch (t) {
    case L4LM_TYPE_Q2_K: { /* scales[16] qs[64] d dmin */
        double d = half_val(x + 80), mn = half_val(x + 82);
        const uint8_t *q = x + 16;
        int is = 0;
        for (int n = 0; n < QK; n += 128, q += 32)
            for (int shift = 0; shift < 8; shift += 2)
                for (int half = 0; half < 2; half++, is++)
                    for (int l = 0; l < 16; l++, k++) {
                        a[k] = d * (x[is] & 15) * ((q[l + 16 * half] >> shift) & 3);
                        b[k] = mn * (x[is] >> 4);
                    }
        break;
    }
    case L4LM_TYPE_Q3_K: { /* hmask[32] qs[64] scales[12] d */
        double d = half_val(x + 108);
        const uint8_t *q = x + 32, *hm = x, *s = x + 96;
        int sc[16];
        for (int j = 0; j < 16; j++) { /* the quantiser's packing, read back */
            int lo = j < 8 ? s[j] & 15 : s[j - 8] >> 4;
            sc[j] = (lo | ((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4) - 32;
        }
        int is = 0, m = 1;
        for (int n = 0; n < QK; n += 128, q += 32)
            for (int shift = 0; shift < 8; shift += 2, m <<= 1)
                for (int half = 0; half < 2; half++, is++)
                    for (int l = 0; l < 16; l++, k++) {
                        int i = l + 16 * half;
                        a[k] = d * sc[is] * (((q[i] >> shift) & 3) - (hm[i] & m ? 0 : 4));
                        b[k] = 0;
                    }
        break;
    }
    case L4LM_TYPE_Q4_K:
    case L4LM_TYPE_Q5_K: { /* d dmin scales[12] [qh[32]] qs[128] */
        int five = t == L4LM_TYPE_Q5_K;
        double d = half_val(x), mn = half_val(x + 2);
        const uint8_t *ql = x + (five ? 48 : 16), *qh = x + 16;
        int u = 1;
        for (int j = 0; j < 8; j += 2, ql += 32, u <<= 2)
            for (int hi = 0; hi < 2; hi++) {
                int sc, m;
                scale_min_k4(j + hi, x + 4, &sc, &m);
                for (int l = 0; l < 32; l++, k++) {
                    int v = (hi ? ql[l] >> 4 : ql[l] & 15);
                    if (five && (qh[l] & (hi ? u << 1 : u)))
                        v += 16;
                    a[k] = d * sc * v;
                    b[k] = mn * m;
                }
            }
        break;
    }
    case L4LM_TYPE_Q6_K: { /* ql[128] qh[64] scales[16] d */
        double d = half_val(x + 208);
        const uint8_t *ql = x, *qh = x + 128;
        const int8_t *sc = (const int8_t *)(x + 192);
        for (int n = 0; n < QK; n += 128, ql += 64, qh += 32, sc += 8)
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                a[n + l] = d * sc[is] * (((ql[l] & 15) | ((qh[l] & 3) << 4)) - 32);
                a[n + l + 32] =
                    d * sc[is + 2] * (((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32);
                a[n + l + 64] = d * sc[is + 4] * (((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
                a[n + l + 96] =
                    d * sc[is + 6] * (((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
                b[n + l] = b[n + l + 32] = b[n + l + 64] = b[n + l + 96] = 0;
            }
        break;
    }
    default: { /* Q8_K: float d, int8 qs[256], int16 bsums[16] */
        float d;
        memcpy(&d, x, 4);
        for (; k < QK; k++)
            a[k] = (double)d * (int8_t)x[4 + k], b[k] = 0;
    }
    }
}

/* ---- ggml's reference quantize_row_q8_K, written again with libm ---- */

typedef struct {
    float d;
    int8_t q[QK];
    int16_t bsum[16];
} q8k;

static void ref_q8_k(const float *x, q8k *o)
{
    float max = 0, amax = 0;
    for (int j = 0; j < QK; j++)
        if (fabsf(x[j]) > amax)
            amax = fabsf(x[j]), max = x[j];
    memset(o, 0, sizeof *o);
    if (amax == 0)
        return;
    float iscale = -127.f / max;
    for (int j = 0; j < QK; j++) {
        float v = rintf(iscale * x[j]); /* round half to even, as nearest_int */
        o->q[j] = (int8_t)(v < 127 ? v : 127);
    }
    for (int j = 0; j < QK; j++)
        o->bsum[j / 16] += o->q[j];
    o->d = 1 / iscale;
}

/* The prepared row (kernels_k.h layout) read back into blocks. */
static void read_act(const uint8_t *act, uint32_t nb, uint32_t b, q8k *o)
{
    memcpy(o->q, act + 256 * b, QK);
    memcpy(o->bsum, act + 256 * nb + 32 * b, 32);
    memcpy(&o->d, act + 288 * nb + 4 * b, 4);
}

/* ---- random data ---- */

static void make_row(uint32_t t, uint8_t *row, uint32_t nb, int extreme)
{
    size_t bb = block_bytes[t - L4LM_TYPE_Q2_K];
    for (uint32_t b = 0; b < nb; b++) {
        uint8_t *x = row + b * bb;
        for (size_t i = 0; i < bb; i++)
            x[i] = extreme ? 0xff : (uint8_t)rnd();
        uint16_t h = l4lm_f32_to_fp16((float)((rnd01() * 2 - 1) * 1e-3));
        uint16_t hm = l4lm_f32_to_fp16((float)(rnd01() * 1e-3));
        size_t at = t == L4LM_TYPE_Q2_K   ? 80
                    : t == L4LM_TYPE_Q3_K ? 108
                    : t == L4LM_TYPE_Q6_K ? 208
                                          : 0;
        if (t == L4LM_TYPE_Q8_K) {
            float d = (float)(rnd01() * 1e-3);
            memcpy(x, &d, 4);
            if (extreme) /* -128 too: legal in a block */
                x[4 + rnd() % QK] = 0x80;
            continue;
        }
        x[at] = (uint8_t)h, x[at + 1] = (uint8_t)(h >> 8);
        if (t == L4LM_TYPE_Q2_K || t == L4LM_TYPE_Q4_K || t == L4LM_TYPE_Q5_K)
            x[at + 2] = (uint8_t)hm, x[at + 3] = (uint8_t)(hm >> 8);
        if (extreme && t == L4LM_TYPE_Q6_K)
            memset(x + 192, 0x80, 16); /* scales -128 */
    }
}

static void make_x(float *x, uint32_t n, int extreme)
{
    for (uint32_t b = 0; b < n; b += QK) {
        double scale = pow(10, 2 - 6 * rnd01());
        int kind = extreme ? 9 : (int)(rnd() % 8);
        for (uint32_t j = b; j < b + QK; j++)
            x[j] = kind == 0   ? 0.0f
                   : kind == 9 ? (j % 2 ? 1.0f : -1.0f) * (float)scale
                               : (float)((rnd01() * 2 - 1) * scale);
        if (kind == 1)
            x[b + rnd() % QK] = (float)(scale * 40);
        if (kind == 2) { /* amax 254: iscale -1/2 makes every odd value a tie */
            for (uint32_t j = b; j < b + QK; j++)
                x[j] = (float)((int)(rnd() % 507) - 253);
            x[b + rnd() % QK] = 254;
        }
    }
}

/* ---- checks ---- */

typedef struct {
    double dot_ratio, deq_ratio; /* max |err| / bound */
    long dots, act_bad, simd_diff, tile_diff;
} result;

static void check(uint32_t t, uint32_t n, uint32_t rows, int extreme, result *r)
{
    uint32_t nb = n / QK;
    size_t bb = block_bytes[t - L4LM_TYPE_Q2_K], rb = bb * nb;
    uint8_t *wbuf = malloc(rb * rows + 1), *w = wbuf + 1; /* deliberately unaligned */
    size_t ab = l4lm_act_bytes(t, n);
    uint32_t n_b = 1 + rnd() % 11;
    uint8_t *act = malloc(ab * n_b + 64);
    float *x = malloc(sizeof(float) * n), *deq = malloc(sizeof(float) * n);
    float *y = malloc(sizeof(float) * rows * n_b);
    double *a = malloc(sizeof(double) * n), *b = malloc(sizeof(double) * n);
    make_row(t, w, nb * rows, extreme);
    for (uint32_t k = 0; k < n_b; k++) {
        make_x(x, n, extreme);
        uint8_t *ak = act + k * ab;
        l4lm_act_prepare(K, t, x, n, ak);
        for (uint32_t j = 0; j < nb; j++) {
            q8k want, got;
            ref_q8_k(x + j * QK, &want);
            read_act(ak, nb, j, &got);
            r->act_bad += memcmp(&want, &got, sizeof want) != 0;
        }
    }
    uint32_t r0 = rnd() % rows, r1 = r0 + 1 + rnd() % (rows - r0);
    l4lm_matmul(K, t, w, act, ab, n, y, rows, r0, r1, n_b);
    for (uint32_t row = 0; row < rows; row++) {
        const uint8_t *wr = w + row * rb;
        l4lm_row_to_f32(t, wr, deq, n);
        for (uint32_t j = 0; j < nb; j++)
            decode(t, wr + j * bb, a + j * QK, b + j * QK);
        for (uint32_t i = 0; i < n; i++) {
            double err = fabs(deq[i] - (a[i] - b[i])), bound = 3 * U * (fabs(a[i]) + fabs(b[i]));
            if (err > 0 && err / bound > r->deq_ratio)
                r->deq_ratio = err / bound;
        }
        for (uint32_t k = 0; k < n_b; k++) {
            const uint8_t *ak = act + k * ab;
            double ref = 0, s = 0;
            for (uint32_t j = 0; j < nb; j++) {
                q8k q;
                read_act(ak, nb, j, &q);
                for (int i = 0; i < QK; i++) {
                    double xv = (double)q.d * q.q[i];
                    ref += (a[j * QK + i] - b[j * QK + i]) * xv;
                    s += (fabs(a[j * QK + i]) + fabs(b[j * QK + i])) * fabs(xv);
                }
            }
            float got = l4lm_vec_dot(K, t, wr, ak, n), plain = l4lm_vec_dot_plain(t, wr, ak, n);
            double bound = ((nb + 7) / 8 + 7) * U * s * 1.01;
            double ratio = fabs(got - ref) / (bound > 0 ? bound : 1e-300);
            if (fabs(got - ref) > 0 && ratio > r->dot_ratio)
                r->dot_ratio = ratio;
            r->simd_diff += memcmp(&got, &plain, 4) != 0;
            if (row >= r0 && row < r1)
                r->tile_diff += memcmp(&got, &y[k * rows + row], 4) != 0;
            t_hash_float(got);
            r->dots++;
        }
    }
    free(wbuf), free(act), free(x), free(deq), free(y), free(a), free(b);
}

/* The type table: ggml's names, 256-element blocks and block sizes. */
static void check_types(void)
{
    static const char *names[] = {"q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "q8_K"};
    int ok = 1;
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        const l4lm_type_traits *ti = l4lm_type_info(types[k]);
        uint64_t rb = 0;
        ok &= ti && ti->block == QK && ti->block_bytes == block_bytes[k] &&
              !strcmp(l4lm_type_name((l4lm_type)types[k]), names[k]) &&
              l4lm_row_bytes(types[k], 4096, &rb) && rb == 16 * block_bytes[k];
    }
    T_CHECK("kquant_types", ok, "a K type's name or block layout differs from ggml's");
}

/* Lengths that are not whole super-blocks: no dot, no read past the row. */
static void check_bad_n(void)
{
    uint8_t w[292 * 2] = {0};
    float x[300], y[2] = {1, 1}, out[256];
    uint8_t act[2 * 292 + 64];
    int ok = 1;
    for (int i = 0; i < 300; i++)
        x[i] = (float)i;
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        uint32_t t = types[k];
        uint64_t rb;
        ok &= !l4lm_row_bytes(t, 255, &rb) && !l4lm_row_bytes(t, 257, &rb);
        ok &= l4lm_act_bytes(t, 300) >= 292 && l4lm_act_bytes(t, 100) == 0;
        l4lm_act_prepare(K, t, x, 300, act);
        ok &= l4lm_vec_dot(K, t, w, act, 257) == 0.0f && l4lm_vec_dot(K, t, w, act, 0) == 0.0f;
        l4lm_matmul(K, t, w, act, 0, 300, y, 0, 0, 2, 1);
        ok &= y[0] == 0.0f && y[1] == 0.0f;
        out[0] = 42;
        l4lm_row_to_f32(t, w, out, 100); /* less than a block: nothing written */
        ok &= out[0] == 42;
    }
    T_CHECK("kquant_bad_n", ok, "a length that is not whole super-blocks was not refused");
}

/* NaN and inf activations: defined, finite-size outputs (no crash, no UB). */
static void check_nonfinite(void)
{
    float x[256];
    uint8_t act[292 + 64], w[210] = {0};
    for (int i = 0; i < 256; i++)
        x[i] = i % 3 ? NAN : (i % 5 ? INFINITY : 1.0f);
    l4lm_act_prepare(K, L4LM_TYPE_Q6_K, x, 256, act);
    float got = l4lm_vec_dot(K, L4LM_TYPE_Q6_K, w, act, 256),
          plain = l4lm_vec_dot_plain(L4LM_TYPE_Q6_K, w, act, 256);
    for (int i = 0; i < 256; i++)
        x[i] = NAN;
    l4lm_act_prepare(K, L4LM_TYPE_Q4_K, x, 256, act);
    int zero = 1;
    for (int i = 0; i < 256; i++)
        zero &= act[i] == 0;
    T_CHECK("kquant_nonfinite", zero && memcmp(&got, &plain, 4) == 0,
            "NaN-only block not all zero, or SIMD and C differ on inf input");
}

/* Prefill's full passes (x86_64 serves 32 activation rows a pass, four
** or two weight rows at a time): a matmul of many activation rows and a
** row range of any start and length, bit for bit vec_dot's. Runs after
** the hashed checks, so the hash stays that of the dots above. */
static void check_tiles(void)
{
    static const uint32_t tt[] = {L4LM_TYPE_Q4_K, L4LM_TYPE_Q5_K, L4LM_TYPE_Q6_K};
    const uint32_t n = 2816, nb = n / QK, rows = 23, n_b = 37;
    long diff = 0, outs = 0;
    for (size_t k = 0; k < sizeof tt / sizeof tt[0]; k++) {
        uint32_t t = tt[k];
        size_t rb = block_bytes[t - L4LM_TYPE_Q2_K] * nb, ab = l4lm_act_bytes(t, n);
        uint8_t *w = malloc(rb * rows), *act = malloc(ab * n_b);
        float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * rows * n_b);
        make_row(t, w, nb * rows, 0);
        for (uint32_t a = 0; a < n_b; a++) {
            make_x(x, n, 0);
            l4lm_act_prepare(K, t, x, n, act + a * ab);
        }
        for (int rep = 0; rep < 4; rep++) {
            uint32_t r0 = rep ? rnd() % rows : 0, r1 = rep ? r0 + 1 + rnd() % (rows - r0) : rows;
            l4lm_matmul(K, t, w, act, ab, n, y, rows, r0, r1, n_b);
            for (uint32_t r = r0; r < r1; r++)
                for (uint32_t a = 0; a < n_b; a++, outs++) {
                    float want = l4lm_vec_dot(K, t, w + r * rb, act + a * ab, n);
                    diff += memcmp(&want, &y[a * rows + r], 4) != 0;
                }
        }
        free(w), free(act), free(x), free(y);
    }
    T_CHECK("kquant_full_tiles", diff == 0, "%ld of %ld matmul outputs differ from vec_dot", diff,
            outs);
}

/* The SIMD path's activation quantisation against the C path's, byte for
** byte, on blocks made to hit its corners: ties of the largest magnitude
** with either sign, NaNs, infinities, subnormals, zeros, -0. */
static void check_act_corners(void)
{
    static const float pick[] = {0.0f, -0.0f, 1.0f,     -1.0f,     3.5f,  -3.5f,  1e-40f, -1e-40f,
                                 NAN,  -NAN,  INFINITY, -INFINITY, 1e30f, -1e30f, 0.5f,   126.5f};
    const uint32_t n = 4 * QK;
    float x[4 * QK];
    const l4lm_kern *C = l4lm_kern_pick("none", 0, NULL);
    size_t ab = l4lm_act_bytes(L4LM_TYPE_Q4_K, n);
    uint8_t *a = calloc(1, ab), *b = calloc(1, ab);
    long bad = 0;
    for (int rep = 0; rep < 400; rep++) {
        uint32_t mask = rnd() % 16 | 1; /* which of pick's values a block draws from */
        for (uint32_t i = 0; i < n; i++) {
            uint32_t r = rnd();
            x[i] = (r >> 8) % 4 ? (float)((int)(r >> 12) % 2001 - 1000) * 0.01f
                                : pick[(r & 15) & (mask | (mask << 4))];
        }
        if (rep % 7 == 0) /* a block of only zeros and NaNs */
            for (uint32_t i = 0; i < QK; i++)
                x[i] = i % 3 ? 0.0f : NAN;
        l4lm_act_prepare(K, L4LM_TYPE_Q4_K, x, n, a);
        l4lm_act_prepare(C, L4LM_TYPE_Q4_K, x, n, b);
        bad += memcmp(a, b, ab) != 0;
    }
    free(a), free(b);
    T_CHECK("kquant_act_simd_same_bytes", bad == 0, "%ld of 400 rows differ from the C path", bad);
}

int main(int argc, char **argv)
{
    int quick = argc > 1 && strcmp(argv[1], "--asan") == 0;
    l4lm_run_opts ro = {0};
    l4lm_posix_simd(&ro);
    K = l4lm_kern_pick(ro.simd, ro.hwcap, NULL);
    static const char *names[] = {"q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "q8_K"};
    static const uint32_t sizes[] = {256, 512, 1024, 2816, 4096};
    printf("# SIMD path of the kernels: %s\n", l4lm_kernels_simd(K));
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        result r = {0};
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
            for (int rep = 0; rep < (quick ? 2 : 6); rep++)
                check(types[k], sizes[s], 1 + rnd() % 20, rep == 0 && s == 1, &r);
        char name[64];
        snprintf(name, sizeof name, "kquant_%s_act", names[k]);
        T_CHECK(name, r.act_bad == 0, "%ld Q8_K blocks differ from ggml's reference", r.act_bad);
        snprintf(name, sizeof name, "kquant_%s_row_to_f32", names[k]);
        T_CHECK(name, r.deq_ratio <= 1, "error %.3g of the bound", r.deq_ratio);
        snprintf(name, sizeof name, "kquant_%s_dot", names[k]);
        T_CHECK(name, r.dot_ratio <= 1, "error %.3g of the bound (%ld dots)", r.dot_ratio, r.dots);
        snprintf(name, sizeof name, "kquant_%s_simd_same_bits", names[k]);
        T_CHECK(name, r.simd_diff == 0 && r.tile_diff == 0,
                "%ld dots differ from the C path, %ld matmul outputs from vec_dot", r.simd_diff,
                r.tile_diff);
        printf("# %s: %ld dots, worst dot error %.3g of the bound\n", names[k], r.dots,
               r.dot_ratio);
    }
    check_types();
    check_bad_n();
    check_nonfinite();
    check_tiles();
    check_act_corners();
    t_print_hash();
    T_EXIT();
}
