/*
** math.c — the engine's own float math: exp, log, sqrt, pow, sin/cos and the
** fp16/bf16 conversions. No libm exists under the core.
**
** The transcendental functions compute in double and round once to float,
** so every result is within 1 ulp (tests/test_math.c measures this against
** libm). Only plain double additions and multiplications are used (the core
** is built with -ffp-contract=off), so every CPU gives the same bits.
*/
#include "internal.h"
#include "half.h"

#define LN2  0x1.62e42fefa39efp-1
#define PIO4 0x1.921fb54442d18p-1
/* ln2/32 in two parts; HI has 39 significant bits so k * HI is exact for |k| < 2^14. */
#define LN2_32_HI  0x1.62e42fefa4000p-6
#define LN2_32_LO  (-0x1.8432a1b0e2634p-48)
#define INV_LN2_32 0x1.71547652b82fep+5

static double f64_from_bits(uint64_t u)
{
    double d;
    __builtin_memcpy(&d, &u, sizeof d);
    return d;
}

/* 2^(j/32) for j = 0..31, rounded to double. */
static const double exp2_j32[32] = {
    0x1.0000000000000p+0, 0x1.059b0d3158574p+0, 0x1.0b5586cf9890fp+0, 0x1.11301d0125b51p+0,
    0x1.172b83c7d517bp+0, 0x1.1d4873168b9aap+0, 0x1.2387a6e756238p+0, 0x1.29e9df51fdee1p+0,
    0x1.306fe0a31b715p+0, 0x1.371a7373aa9cbp+0, 0x1.3dea64c123422p+0, 0x1.44e086061892dp+0,
    0x1.4bfdad5362a27p+0, 0x1.5342b569d4f82p+0, 0x1.5ab07dd485429p+0, 0x1.6247eb03a5585p+0,
    0x1.6a09e667f3bcdp+0, 0x1.71f75e8ec5f74p+0, 0x1.7a11473eb0187p+0, 0x1.82589994cce13p+0,
    0x1.8ace5422aa0dbp+0, 0x1.93737b0cdc5e5p+0, 0x1.9c49182a3f090p+0, 0x1.a5503b23e255dp+0,
    0x1.ae89f995ad3adp+0, 0x1.b7f76f2fb5e47p+0, 0x1.c199bdd85529cp+0, 0x1.cb720dcef9069p+0,
    0x1.d5818dcfba487p+0, 0x1.dfc97337b9b5fp+0, 0x1.ea4afa2a490dap+0, 0x1.f50765b6e4540p+0,
};

/*
** e^z for |z| <= 110 (callers clamp), relative error about 1e-16.
** z = (32 m + j) ln2/32 + r with |r| <= ln2/64, so e^z = 2^m * 2^(j/32) * e^r
** and a degree-6 Taylor polynomial is exact to double precision for e^r.
*/
static double exp_d(double z)
{
    double t = z * INV_LN2_32;
    int32_t k = (int32_t)(t < 0 ? t - 0.5 : t + 0.5);
    double r = (z - k * LN2_32_HI) - k * LN2_32_LO;
    int32_t j = (int32_t)((uint32_t)k & 31);
    int32_t m = (k - j) / 32;
    double p =
        1 + r * (1 + r * (1.0 / 2 +
                          r * (1.0 / 6 + r * (1.0 / 24 + r * (1.0 / 120 + r * (1.0 / 720))))));
    return exp2_j32[j] * p * f64_from_bits((uint64_t)(m + 1023) << 52);
}

/* e^z rounded to float for any non-NaN z, overflowing to +inf and underflowing to 0. */
static float exp_to_float(double z)
{
    if (z > 89.0) /* e^88.73 > FLT_MAX */
        return __builtin_inff();
    if (z < -104.0) /* below half the smallest subnormal, 2^-150 */
        return 0.0f;
    double v = exp_d(z);
    /* Round-to-nearest sends v >= FLT_MAX + ulp/2 to +inf; spell it out, as
    ** converting an out-of-range double is undefined behaviour in C. */
    if (v >= 0x1.ffffffp127)
        return __builtin_inff();
    return (float)v;
}

/*
** ln(x) for finite x > 0 (subnormals included), relative error about 1e-16.
** x = 2^e * m with m in [sqrt(1/2), sqrt(2)]; ln(m) = 2 atanh(s) with
** s = (m-1)/(m+1), |s| <= 0.172, whose odd series converges by s^2 <= 0.03.
*/
static double log_d(float x)
{
    uint32_t u = l4lm_f32_bits(x);
    int32_t e = 0;
    if (u < 0x00800000) { /* subnormal: scale into the normal range first (exact) */
        u = l4lm_f32_bits(x * 0x1p23f);
        e = -23;
    }
    e += (int32_t)(u >> 23) - 127;
    u = (u & 0x7fffff) | 0x3f800000;
    if (u > 0x3fb504f3) { /* m > sqrt(2): halve it */
        u -= 0x00800000;
        e++;
    }
    double m = l4lm_f32_from_bits(u);
    double s = (m - 1) / (m + 1), s2 = s * s;
    double p =
        s2 * (1.0 / 3 +
              s2 * (1.0 / 5 +
                    s2 * (1.0 / 7 +
                          s2 * (1.0 / 9 +
                                s2 * (1.0 / 11 +
                                      s2 * (1.0 / 13 +
                                            s2 * (1.0 / 15 +
                                                  s2 * (1.0 / 17 +
                                                        s2 * (1.0 / 19 + s2 * (1.0 / 21))))))))));
    return e * LN2 + 2 * (s + s * p);
}

float l4lm_expf(float x)
{
    if (x != x)
        return x + x;
    return exp_to_float(x);
}

const double *l4lm_exp2_j32(void)
{
    return exp2_j32;
}

float l4lm_logf(float x)
{
    if (x != x)
        return x + x;
    if (x < 0)
        return __builtin_nanf("");
    if (x == 0)
        return -__builtin_inff();
    if (x == __builtin_inff())
        return x;
    return (float)log_d(x);
}

/* The hardware's correctly rounded square root. Written as the instruction
** on x86_64 and aarch64 so that no build (even one without -fno-math-errno)
** turns it into a call to libm's sqrtf for the errno case. */
float l4lm_sqrtf(float x)
{
#if defined(__x86_64__)
    __asm__("sqrtss %1, %0" : "=x"(x) : "x"(x));
    return x;
#elif defined(__aarch64__)
    __asm__("fsqrt %s0, %s1" : "=w"(x) : "w"(x));
    return x;
#else
    return __builtin_sqrtf(x); /* the build passes -fno-math-errno */
#endif
}

/* 0: y is not an integer, 1: an odd integer, 2: an even one. */
static int int_kind(float ay)
{
    if (ay >= 0x1p24f) /* every float this large is an even integer */
        return 2;
    int32_t t = (int32_t)ay;
    if ((float)t != ay)
        return 0;
    return (t & 1) ? 1 : 2;
}

/* x^y with C99's special cases; x^y = e^(y ln x) with both done in double. */
float l4lm_powf(float x, float y)
{
    if (y == 0 || x == 1)
        return 1.0f;
    if (x != x || y != y)
        return x + y;
    float ax = l4lm_f32_from_bits(l4lm_f32_bits(x) & 0x7fffffff);
    float ay = l4lm_f32_from_bits(l4lm_f32_bits(y) & 0x7fffffff);
    float inf = __builtin_inff(), r;
    if (ay == inf) {
        if (ax == 1)
            return 1.0f;
        return (ax > 1) == (y > 0) ? inf : 0.0f;
    }
    int kind = int_kind(ay);
    if (ax == 0)
        r = y < 0 ? inf : 0.0f;
    else if (ax == inf)
        r = y < 0 ? 0.0f : inf;
    else if (x < 0 && kind == 0)
        return __builtin_nanf("");
    else
        r = exp_to_float(y * log_d(ax));
    /* a negative base (-0 included) to an odd power keeps its sign */
    return (l4lm_f32_bits(x) >> 31) && kind == 1 ? -r : r;
}

/* The bits of 4/pi, after 32 zero bits: word 1 starts with its integer bit. */
static const uint32_t four_over_pi[9] = {
    0x00000000, 0xa2f9836e, 0x4e441529, 0xfc2757d1, 0xf534ddc0,
    0xdb629599, 0x3c439041, 0xfe5163ab, 0xdebbc561,
};

/*
** Payne-Hanek reduction of |x| >= pi/4 given as its float bits: returns r in
** [-pi/4, pi/4] and the quadrant n with |x| = n pi/2 + r (mod 2 pi).
** |x| = M 2^E with M a 24-bit integer; y = |x| 4/pi is needed only mod 8, so
** bits of 4/pi worth 8 or more once multiplied are skipped and a 96-bit
** window of the following ones is multiplied by M in 32-bit pieces, which
** leaves y mod 8 as a 64-bit fixed-point number with 61 fraction bits. This
** is exact enough for every float, even near multiples of pi/2 (RoPE angles
** reach 1e6 radians and more).
*/
static double reduce_pio2(uint32_t ux, uint32_t *quadrant)
{
    uint64_t M = (ux & 0x7fffff) | 0x800000;
    int32_t E = (int32_t)(ux >> 23) - 150; /* >= -24 for |x| >= pi/4 */
    uint32_t pos = (uint32_t)(E + 30);     /* first needed bit, counted in the table */
    uint32_t k = pos >> 5, sh = pos & 31, w[3];
    for (int q = 0; q < 3; q++)
        w[q] = sh ? (four_over_pi[k + q] << sh) | (four_over_pi[k + q + 1] >> (32 - sh))
                  : four_over_pi[k + q];
    uint64_t y = ((uint64_t)(uint32_t)(M * w[0]) << 32) + M * w[1] + ((M * w[2]) >> 32);
    /* round y/2 to the nearest quadrant; the rest is r in units of pi/4 * 2^-61 */
    uint64_t u = y + (1ull << 61);
    *quadrant = (uint32_t)(u >> 62);
    int64_t rest = (int64_t)(u & ((1ull << 62) - 1)) - (int64_t)(1ull << 61);
    return (double)rest * (0x1p-61 * PIO4);
}

void l4lm_sincosf(float x, float *s, float *c)
{
    uint32_t ux = l4lm_f32_bits(x) & 0x7fffffff, n = 0;
    if (ux >= 0x7f800000) { /* inf or NaN */
        *s = *c = x - x;
        return;
    }
    double r = ux < 0x3f490fdb ? (double)l4lm_f32_from_bits(ux) : reduce_pio2(ux, &n);
    /* Taylor series on |r| <= pi/4: the first omitted terms are below 1e-11 */
    double r2 = r * r;
    double sr =
        r + r * r2 *
                (-1.0 / 6 + r2 * (1.0 / 120 + r2 * (-1.0 / 5040 +
                                                    r2 * (1.0 / 362880 + r2 * (-1.0 / 39916800)))));
    double cr =
        1 + r2 * (-1.0 / 2 +
                  r2 * (1.0 / 24 +
                        r2 * (-1.0 / 720 + r2 * (1.0 / 40320 +
                                                 r2 * (-1.0 / 3628800 + r2 * (1.0 / 479001600))))));
    double sv = (n & 1) ? cr : sr, cv = (n & 1) ? sr : cr;
    if (n == 1 || n == 2)
        cv = -cv;
    if (n >= 2)
        sv = -sv;
    *s = (float)(x < 0 ? -sv : sv);
    *c = (float)cv;
}

/*
** tanh(x) = (e^2|x| - 1) / (e^2|x| + 1) with the sign of x, in double. The
** subtraction loses about log2(1/|x|) bits, harmless above 2^-12; below it
** x - x^3/3 is exact to double precision. Beyond |x| = 9.1 the float is 1.
*/
float l4lm_tanhf(float x)
{
    if (x != x)
        return x + x;
    bool neg = l4lm_f32_bits(x) >> 31; /* -0 included */
    double a = neg ? -(double)x : (double)x, t;
    if (a < 0x1p-12)
        t = a - a * a * a / 3;
    else if (a > 9.1)
        t = 1.0;
    else {
        double e = exp_d(2 * a);
        t = (e - 1) / (e + 1);
    }
    return (float)(neg ? -t : t);
}

/*
** GELU with the tanh approximation, 0.5 x (1 + tanh(sqrt(2/pi) x (1 + 0.044715 x^2))),
** as ggml's CPU backend gives it for float input: x <= -10 gives 0, x >= 10
** gives x, and in between x is rounded to half precision, the formula is
** evaluated in float (in ggml's operation order) and the result rounded to
** half again (ggml reads it from a table built that way).
*/
float l4lm_gelu(float x)
{
    if (x <= -10.0f)
        return 0.0f;
    if (x >= 10.0f || x != x)
        return x;
    float h = l4lm_fp16_to_f32(l4lm_f32_to_fp16(x));
    const float c = 0.79788456080286535588f, a = 0.044715f;
    float g = 0.5f * h * (1.0f + l4lm_tanhf(c * h * (1.0f + a * h * h)));
    return l4lm_fp16_to_f32(l4lm_f32_to_fp16(g));
}

float l4lm_fp16_to_f32(uint16_t h)
{
    return l4lm_half_decode(h);
}

/*
** float -> IEEE half, round to nearest even; overflow gives inf and every
** NaN becomes the quiet 0x7e00 with its sign, as ggml's portable conversion.
*/
uint16_t l4lm_f32_to_fp16(float f)
{
    uint32_t u = l4lm_f32_bits(f), a = u & 0x7fffffff;
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    if (a > 0x7f800000)
        return sign | 0x7e00;
    uint32_t q, rest, half;
    if (a >= 0x38800000) { /* half-normal range or above: rebias, keep 10 bits */
        q = (a - 0x38000000) >> 13;
        rest = a & 0x1fff;
        half = 0x1000;
    } else { /* half-subnormal: count units of 2^-24 */
        uint32_t e = a >> 23, sh = 126 - e;
        if (sh > 25) /* below 2^-26: rounds to zero */
            return sign;
        uint32_t m = (a & 0x7fffff) | 0x800000;
        q = m >> sh;
        rest = m & ((1u << sh) - 1);
        half = 1u << (sh - 1);
    }
    q += rest > half || (rest == half && (q & 1));
    /* a carry out of the mantissa lands in the exponent, as it should */
    return sign | (uint16_t)(q > 0x7c00 ? 0x7c00 : q);
}

float l4lm_bf16_to_f32(uint16_t h)
{
    return l4lm_bf16_decode(h);
}

/* float -> bfloat16, round to nearest even; a NaN keeps its top bits and is
** made quiet, as ggml does. */
uint16_t l4lm_f32_to_bf16(float f)
{
    uint32_t u = l4lm_f32_bits(f);
    if ((u & 0x7fffffff) > 0x7f800000)
        return (uint16_t)((u >> 16) | 0x40);
    uint32_t q = u >> 16, rest = u & 0xffff;
    q += rest > 0x8000 || (rest == 0x8000 && (q & 1));
    return (uint16_t)q;
}
