/*
** test_math.c — l4lm's own float math (math.c) against libm computed in
** double, over dense sweeps of floats, and the fp16/bf16 conversions against
** references written differently (nearest-value search over decoded tables).
** Each check prints the largest error it saw. L4LM_EXHAUSTIVE=1 makes the
** sweeps visit every float of their ranges (minutes; for manual runs).
*/
#include <float.h>
#include <math.h>
#include <stdint.h>
#include "internal.h"
#include "t.h"

static uint32_t bits_of(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}
static float float_of(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    return t_xorshift(&rng);
}
static double rnd01(void)
{
    return rnd() / 4294967296.0;
}

static int quick;      /* --asan: fewer samples */
static int exhaustive; /* L4LM_EXHAUSTIVE=1: every float */

/* How far got is from the exact value ref, in units in the last place of the
** float nearest ref. Infinities must match exactly (error 0 or 1e9). */
static double ulp_err(float got, double ref)
{
    float rf = (float)ref;
    if (isnan(ref) || isnan(got))
        return isnan(ref) && isnan(got) ? 0 : 1e9;
    if (isinf(rf) || isinf(got))
        return rf == got ? 0 : 1e9;
    int e;
    frexp(ref, &e);
    double ulp = ldexp(1.0, e - 24 < -149 ? -149 : e - 24);
    return fabs(got - ref) / ulp;
}

typedef struct {
    double ulp, rel;
    long n;
    float worst;
} stat;

/* FNV-1a over every result, printed so runs on different CPUs can be compared. */
static uint64_t hash = 0xcbf29ce484222325ull;

static void account(stat *s, float x, float got, double ref)
{
    double u = ulp_err(got, ref);
    uint32_t gb = isnan(got) ? 0x7fc00000 : bits_of(got);
    for (int i = 0; i < 4; i++)
        hash = (hash ^ ((gb >> (8 * i)) & 255)) * 0x100000001b3ull;
    s->n++;
    if (u > s->ulp) {
        s->ulp = u;
        s->worst = x;
    }
    /* relative error means little for subnormal results: count normal ones */
    if (fabs(ref) >= FLT_MIN && isfinite(ref) && isfinite(got) &&
        fabs(got - ref) / fabs(ref) > s->rel)
        s->rel = fabs(got - ref) / fabs(ref);
}

static void report(const char *name, const stat *s, double bound)
{
    if (s->ulp <= bound)
        printf("ok %s: max %.3f ulp, max rel err %.3g over %ld samples\n", name, s->ulp, s->rel,
               s->n);
    else
        T_FAIL(name, "max %.3f ulp at x=%a (bound %.1f), rel %.3g over %ld samples", s->ulp,
               s->worst, bound, s->rel, s->n);
}

/* Visit floats with bit patterns lo..hi (both >= 0), about n of them, with sign. */
#define SWEEP(u, lo, hi, n)                                                                        \
    for (uint64_t u##_step = exhaustive ? 1 : ((hi) - (lo)) / (n) + 1, u = (lo); u <= (hi);        \
         u += u##_step)

static void sweep_unary(stat *s, float (*f)(float), double (*ref)(double), float lo, float hi,
                        long n, int neg)
{
    SWEEP(u, bits_of(lo), bits_of(hi), n)
    {
        float x = float_of((uint32_t)u | (neg ? 0x80000000u : 0));
        account(s, x, f(x), ref((double)x));
    }
}

static void test_exp(long n)
{
    stat s = {0};
    sweep_unary(&s, l4lm_expf, exp, 0.0f, 89.0f, n, 0);
    sweep_unary(&s, l4lm_expf, exp, 0.0f, 104.0f, n, 1);
    /* the overflow and subnormal-result edges, every float */
    sweep_unary(&s, l4lm_expf, exp, 88.0f, 89.0f, 1L << 30, 0);
    sweep_unary(&s, l4lm_expf, exp, 87.0f, 104.0f, n, 1);
    const float sp[] = {INFINITY, -INFINITY, 200.0f, -200.0f, 1e30f, -1e30f, FLT_MAX, -FLT_MAX};
    for (size_t i = 0; i < sizeof sp / sizeof *sp; i++)
        account(&s, sp[i], l4lm_expf(sp[i]), exp((double)sp[i]));
    account(&s, NAN, l4lm_expf(NAN), NAN);
    report("expf", &s, 1.0);
}

static void test_log(long n)
{
    stat s = {0};
    sweep_unary(&s, l4lm_logf, log, float_of(1), FLT_MAX, n, 0);
    sweep_unary(&s, l4lm_logf, log, 0.5f, 2.0f, n, 0);
    account(&s, 0.0f, l4lm_logf(0.0f), -INFINITY);
    account(&s, -0.0f, l4lm_logf(-0.0f), -INFINITY);
    account(&s, INFINITY, l4lm_logf(INFINITY), INFINITY);
    account(&s, -1.0f, l4lm_logf(-1.0f), NAN);
    account(&s, NAN, l4lm_logf(NAN), NAN);
    report("logf", &s, 1.0);
}

static void test_sqrt(long n)
{
    stat s = {0};
    sweep_unary(&s, l4lm_sqrtf, sqrt, 0.0f, INFINITY, n, 0);
    account(&s, -1.0f, l4lm_sqrtf(-1.0f), NAN);
    report("sqrtf", &s, 0.5);
}

static void pow_case(stat *s, float x, float y)
{
    float got = l4lm_powf(x, y);
    float lib = powf(x, y);
    /* libm decides the special cases; elsewhere compare with the exact value */
    if (!isfinite(lib) || lib == 0 || x == 0 || !isfinite(x) || !isfinite(y)) {
        int same = (isnan(got) && isnan(lib)) || bits_of(got) == bits_of(lib);
        account(s, x, same ? lib : NAN, lib);
    } else {
        account(s, x, got, pow((double)x, (double)y));
    }
}

static void test_pow(long n)
{
    stat s = {0}, rope = {0};
    for (long i = 0; i < n; i++) { /* x log-uniform in [1e-4, 1e6], y in [-12, 12] */
        float x = (float)exp(log(1e-4) + rnd01() * log(1e10));
        float y = (float)(rnd01() * 24 - 12);
        pow_case(&s, x, y);
        pow_case(&s, -x, (float)(int)y); /* negative base, integer power */
    }
    for (long i = 0; i < n / 4; i++) { /* any finite pair: overflow, underflow, subnormals */
        uint32_t ux = rnd() & 0x7f7fffff, uy = rnd() % 0x42000000;
        pow_case(&s, float_of(ux), float_of(uy | (rnd() & 0x80000000)));
    }
    const float sp[] = {0.0f,    -0.0f, 1.0f,  -1.0f,    0.5f,      -0.5f, 2.0f,
                        -2.0f,   3.0f,  -3.0f, INFINITY, -INFINITY, NAN,   1e-40f,
                        -1e-40f, 1e30f, 0.25f, 1.5f,     -7.0f};
    const int nsp = sizeof sp / sizeof *sp;
    for (int i = 0; i < nsp; i++)
        for (int j = 0; j < nsp; j++)
            pow_case(&s, sp[i], sp[j]);
    report("powf", &s, 1.0);
    /* RoPE: base^(2i/d) as the session computes it, for common bases and head sizes */
    const float bases[] = {10000.0f, 500000.0f, 1000000.0f, 1e4f * 8, 75000.0f};
    const int dims[] = {32, 48, 64, 80, 96, 128, 256};
    for (size_t b = 0; b < sizeof bases / sizeof *bases; b++)
        for (size_t d = 0; d < sizeof dims / sizeof *dims; d++)
            for (int i = 0; i < dims[d] / 2; i++) {
                float y = (float)(2 * i) / (float)dims[d];
                account(&rope, y, l4lm_powf(bases[b], y), pow(bases[b], y));
                account(&rope, -y, l4lm_powf(bases[b], -y), pow(bases[b], -y));
            }
    report("powf_rope", &rope, 1.0);
}

static void sincos_case(stat *ss, stat *cs, float x)
{
    float s, c;
    l4lm_sincosf(x, &s, &c);
    account(ss, x, s, sin((double)x));
    account(cs, x, c, cos((double)x));
}

static void test_sincos(long n)
{
    stat ss = {0}, cs = {0};
    for (int neg = 0; neg < 2; neg++) {
        uint32_t sg = neg ? 0x80000000u : 0;
        SWEEP(u, 0, bits_of(1.0f), n) sincos_case(&ss, &cs, float_of((uint32_t)u | sg));
        SWEEP(u, bits_of(1.0f), bits_of(1048576.0f), 2 * n)
        sincos_case(&ss, &cs, float_of((uint32_t)u | sg));
        SWEEP(u, bits_of(1048576.0f), bits_of(FLT_MAX), n)
        sincos_case(&ss, &cs, float_of((uint32_t)u | sg));
    }
    /* the hard cases: floats next to multiples of pi/2, where r cancels most */
    for (long k = 1; k < 100000000; k += k < 200000 ? (quick ? 97 : 1) : 997) {
        uint32_t u = bits_of((float)(k * M_PI / 2));
        for (uint32_t d = u - 2; d <= u + 2; d++)
            sincos_case(&ss, &cs, float_of(d));
    }
    /* RoPE angles: position * frequency */
    for (uint32_t pos = 0; pos < 1100000; pos += quick ? 4099 : 97)
        for (float f = 1.0f; f > 1e-4f; f *= 0.37f)
            sincos_case(&ss, &cs, (float)pos * f);
    sincos_case(&ss, &cs, INFINITY);
    sincos_case(&ss, &cs, NAN);
    report("sinf", &ss, 1.0);
    report("cosf", &cs, 1.0);
}

static void test_tanh(long n)
{
    stat s = {0};
    sweep_unary(&s, l4lm_tanhf, tanh, 0.0f, 12.0f, n, 0);
    sweep_unary(&s, l4lm_tanhf, tanh, 0.0f, 12.0f, n, 1);
    sweep_unary(&s, l4lm_tanhf, tanh, 0x1p-13f, 0x1p-11f, n / 8, 0); /* the switch to x - x^3/3 */
    sweep_unary(&s, l4lm_tanhf, tanh, 9.0f, 9.2f, n / 8, 1);         /* the switch to 1 */
    const float sp[] = {INFINITY, -INFINITY, FLT_MAX, -FLT_MAX, 0.0f, -0.0f, 1e-40f, 50.0f};
    for (size_t i = 0; i < sizeof sp / sizeof *sp; i++)
        account(&s, sp[i], l4lm_tanhf(sp[i]), tanh((double)sp[i]));
    account(&s, NAN, l4lm_tanhf(NAN), NAN);
    T_CHECK("tanhf keeps -0", signbit(l4lm_tanhf(-0.0f)), "tanhf(-0) = %a", l4lm_tanhf(-0.0f));
    report("tanhf", &s, 1.0);
}

static uint16_t ref_to_fp16(float f);
static double half_value(uint16_t h);

/* GELU against ggml's recipe evaluated with libm's tanhf and the test's own
** half rounding, on a grid of 65536 points in [-10, 10) and random floats in
** [-12, 12); and against the same formula in double, within half precision. */
static void test_gelu(long n)
{
    long wrong = 0, far = 0, cnt = 0;
    float worst = 0;
    for (long i = 0; i < n + 65536; i++) {
        float x = i < 65536 ? (float)(i - 32768) / 3276.8f : (float)(rnd01() * 24 - 12);
        float want;
        if (x <= -10.0f)
            want = 0.0f;
        else if (x >= 10.0f)
            want = x;
        else {
            float h = (float)half_value(ref_to_fp16(x));
            const float c = 0.79788456080286535588f, a = 0.044715f; /* ggml's constants */
            float g = 0.5f * h * (1.0f + tanhf(c * h * (1.0f + a * h * h)));
            want = (float)half_value(ref_to_fp16(g));
        }
        float got = l4lm_gelu(x);
        double exact = 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * x * (1 + 0.044715 * (double)x * x)));
        cnt++;
        if (bits_of(got) != bits_of(want) && !(got == 0 && want == 0))
            wrong++, worst = x;
        /* two half roundings (of x, and of the result; GELU' < 1.13), plus
        ** the spacing of subnormal halves */
        far += fabs(got - exact) > fabs(exact) * 0x1p-11 + fabs((double)x) * 0x1p-10 + 0x1p-23;
    }
    if (wrong == 0 && far == 0)
        printf("ok gelu: %ld inputs equal ggml's recipe (libm tanhf), all near exact GELU\n", cnt);
    else
        T_FAIL("gelu", "%ld of %ld differ from the recipe (e.g. x=%a: %a), %ld far from GELU",
               wrong, cnt, worst, l4lm_gelu(worst), far);
}

/* ---- fp16: the test's own decoding, and nearest-value encoding ---- */

/* Value of half h by the definition; 0x7c00 is given the value 2^16, which
** is where rounding to nearest must start giving +inf. */
static double half_value(uint16_t h)
{
    int e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : 65536.0) : ldexp(1024 + m, e - 25);
    return (h & 0x8000) ? -v : v;
}

static uint16_t ref_to_fp16(float f)
{
    if (isnan(f))
        return (uint16_t)(signbit(f) ? 0xfe00 : 0x7e00);
    double a = fabs((double)f);
    int lo = 0, hi = 0x7c00; /* largest h with half_value(h) <= a */
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (half_value((uint16_t)mid) <= a)
            lo = mid;
        else
            hi = mid - 1;
    }
    int h = lo;
    if (h < 0x7c00) {
        double below = a - half_value((uint16_t)h), above = half_value((uint16_t)(h + 1)) - a;
        if (above < below || (above == below && (h & 1)))
            h++;
    }
    return (uint16_t)(h | (signbit(f) ? 0x8000 : 0));
}

static void test_fp16(long n)
{
    int bad = 0, trip = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = l4lm_fp16_to_f32((uint16_t)h);
        double v = half_value((uint16_t)h);
        int nan = ((h >> 10) & 31) == 31 && (h & 1023);
        if (nan) { /* stays NaN, made quiet, keeps sign and payload */
            uint32_t u = bits_of(f);
            bad += !isnan(f) || !(u & 0x400000) || ((u >> 13) & 0x3ff) != ((h & 0x3ff) | 0x200) ||
                   (u >> 31) != (h >> 15);
            trip += l4lm_f32_to_fp16(f) != ((h & 0x8000) | 0x7e00);
        } else {
            bad += (double)f != ((h & 0x7fff) == 0x7c00 ? copysign(INFINITY, v) : v) ||
                   (signbit(f) != 0) != (h >> 15);
            trip += l4lm_f32_to_fp16(f) != h;
        }
    }
    T_CHECK("fp16_to_f32 all 65536", bad == 0, "%d halves decoded wrong", bad);
    T_CHECK("fp16 round trip all 65536", trip == 0, "%d halves did not round-trip", trip);

    long cnt = 0, wrong = 0;
    float worst = 0;
    for (long i = 0; i < n; i++) {
        float fs[3];
        fs[0] = float_of(rnd());                        /* any float at all */
        uint32_t mag = rnd() % 0x15800000 + 0x32800000; /* 2^-26..2^17 */
        fs[1] = float_of(mag | (rnd() & 0x80000000));
        uint16_t h = (uint16_t)(rnd() % 0x7c00); /* a tie between neighbours, or near */
        double mid = (half_value(h) + half_value((uint16_t)(h + 1))) / 2;
        fs[2] = nextafterf((float)mid, (rnd() & 1) ? INFINITY : 0);
        if (rnd() & 1)
            fs[2] = (float)mid;
        for (int k = 0; k < 3; k++, cnt++)
            if (l4lm_f32_to_fp16(fs[k]) != ref_to_fp16(fs[k]))
                wrong++, worst = fs[k];
    }
    /* every float at the subnormal and overflow edges */
    SWEEP(u, bits_of(0x1p-26f), bits_of(0x1p-13f), n)
    {
        float f = float_of((uint32_t)u);
        cnt++;
        if (l4lm_f32_to_fp16(f) != ref_to_fp16(f))
            wrong++, worst = f;
    }
    for (uint32_t u = bits_of(65000.0f); u <= bits_of(70000.0f); u++) {
        float f = float_of(u);
        cnt++;
        if (l4lm_f32_to_fp16(f) != ref_to_fp16(f))
            wrong++, worst = f;
    }
    if (wrong == 0)
        printf("ok f32_to_fp16: %ld floats match nearest-even search\n", cnt);
    else
        T_FAIL("f32_to_fp16", "%ld of %ld differ, e.g. %a -> %04x, want %04x", wrong, cnt, worst,
               l4lm_f32_to_fp16(worst), ref_to_fp16(worst));
}

/* bf16: nearest of the two bf16 values around f, ties to the even one */
static uint16_t ref_to_bf16(float f)
{
    uint32_t u = bits_of(f);
    if (isnan(f))
        return (uint16_t)((u >> 16) | 0x40);
    uint32_t lo = u & 0xffff0000u;
    double vlo = fabs((double)float_of(lo)), a = fabs((double)f);
    double vhi = ((lo + 0x10000) & 0x7fffffff) == 0x7f800000 ? ldexp(1, 128)
                                                             : fabs((double)float_of(lo + 0x10000));
    uint32_t q = lo >> 16;
    if (vhi - a < a - vlo || (vhi - a == a - vlo && (q & 1)))
        q++;
    return (uint16_t)q;
}

static void test_bf16(long n)
{
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = l4lm_bf16_to_f32((uint16_t)h);
        bad += bits_of(f) != h << 16;
        if (!isnan(f))
            bad += l4lm_f32_to_bf16(f) != h;
    }
    T_CHECK("bf16 all 65536 decode and round trip", bad == 0, "%d wrong", bad);
    long wrong = 0;
    float worst = 0;
    for (long i = 0; i < n; i++) {
        uint32_t u = rnd(), tie = (u & 0xffff0000u) | 0x8000 | (rnd() & 1); /* ties and near */
        float f = float_of(i & 1 ? u : tie);
        if (l4lm_f32_to_bf16(f) != ref_to_bf16(f))
            wrong++, worst = f;
    }
    float nq = float_of(0x7f800001); /* signalling NaN: quiet, top bits kept */
    wrong += l4lm_f32_to_bf16(nq) != 0x7fc0;
    if (wrong == 0)
        printf("ok f32_to_bf16: %ld floats match nearest-even\n", n);
    else
        T_FAIL("f32_to_bf16", "%ld differ, e.g. %a", wrong, worst);
}

int main(int argc, char **argv)
{
    quick = argc > 1 && strcmp(argv[1], "--asan") == 0;
    const char *ex = getenv("L4LM_EXHAUSTIVE");
    exhaustive = ex && *ex == '1';
    long n = quick ? 200000 : 4000000;
    test_exp(n);
    test_log(n);
    test_sqrt(n);
    test_pow(quick ? n / 4 : n);
    test_sincos(n / 2);
    test_tanh(n);
    test_gelu(quick ? n / 8 : n);
    test_fp16(quick ? n / 4 : n);
    test_bf16(n);
    printf("# hash of all results: %016llx (equal on every CPU and build)\n",
           (unsigned long long)hash);
    T_EXIT();
}
