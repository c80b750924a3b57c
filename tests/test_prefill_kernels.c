/*
** test_prefill_kernels.c — the kernels prefill leans on besides the matrix
** products: l4lm_vec_dots (attention's scores, several cached keys at once)
** must give every row the bits of the plain-C l4lm_vec_dot_plain, whatever
** SIMD path this build has, for any row count and head size; and
** l4lm_vec_wsum (attention's weighted sum of the values) must add in row
** order, each product and sum rounded to float; the vectorised exp of
** softmax and SwiGLU must equal l4lm_expf. A helper the chosen kernels
** (L4LM_SIMD, else this CPU's best) do not vectorise is the C path itself:
** its check says skip rather than compare the C path with itself.
*/
#include <math.h>
#include <stdint.h>
#include "t.h"
#include "kernels.h"
#include "posix.h"

/* The kernels under test: those L4LM_SIMD names, else this CPU's best. */
static const l4lm_kern *K;

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng >> 33);
}

static float rnd_sym(void) /* in [-1, 1) */
{
    return (float)((int32_t)rnd() - (1 << 30)) / (float)(1 << 30);
}

static void test_dots(int quick)
{
    enum { MAX_N = 160, MAX_ROWS = 21, STRIDE = MAX_N + 24 };
    static uint16_t h[MAX_ROWS * STRIDE];
    static float f[MAX_ROWS * STRIDE], x[MAX_N], out[MAX_ROWS];
    const uint32_t sizes[] = {32, 64, 96, 128, 160, 40, 7};
    int bad = 0, checked = 0;
    for (int rep = 0; rep < (quick ? 3 : 20); rep++) {
        for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
            uint32_t n = sizes[si], n_rows = 1 + rnd() % MAX_ROWS;
            for (uint32_t i = 0; i < MAX_ROWS * STRIDE; i++) {
                f[i] = rnd_sym() * 8;
                h[i] = l4lm_f32_to_fp16(f[i]);
            }
            for (uint32_t i = 0; i < n; i++)
                x[i] = rnd_sym() * 3;
            for (int t = 0; t < 2; t++) {
                uint32_t type = t ? L4LM_TYPE_F16 : L4LM_TYPE_F32;
                const void *rows = t ? (const void *)h : (const void *)f;
                size_t es = t ? 2 : 4;
                l4lm_vec_dots(K, type, rows, STRIDE, x, n, n_rows, out);
                for (uint32_t r = 0; r < n_rows; r++) {
                    float want =
                        l4lm_vec_dot_plain(type, (const uint8_t *)rows + r * STRIDE * es, x, n);
                    bad += memcmp(&want, out + r, 4) != 0;
                    checked++;
                }
            }
        }
    }
    T_CHECK("vec_dots == vec_dot_plain (f32, f16)", bad == 0, "%d of %d differ", bad, checked);
}

/* l4lm_vec_wsum against the same sums done here one product and one add
** at a time in float, in row order from 0. */
static void test_wsum(int quick)
{
    enum { MAX_N = 160, MAX_ROWS = 40, STRIDE = MAX_N + 8 };
    static uint16_t h[MAX_ROWS * STRIDE];
    static float f[MAX_ROWS * STRIDE], a[MAX_ROWS], out[MAX_N], want[MAX_N];
    const uint32_t sizes[] = {32, 64, 128, 160, 40, 7};
    int bad = 0, checked = 0;
    for (int rep = 0; rep < (quick ? 3 : 20); rep++) {
        for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
            uint32_t n = sizes[si], n_rows = 1 + rnd() % MAX_ROWS;
            for (uint32_t i = 0; i < MAX_ROWS * STRIDE; i++) {
                h[i] = l4lm_f32_to_fp16(rnd_sym() * 8);
                f[i] = l4lm_fp16_to_f32(h[i]);
            }
            for (uint32_t r = 0; r < n_rows; r++)
                a[r] = rnd_sym();
            for (uint32_t i = 0; i < n; i++) {
                volatile float acc = 0.0f; /* one rounding per product and per add */
                for (uint32_t r = 0; r < n_rows; r++) {
                    volatile float p = a[r] * f[r * STRIDE + i];
                    acc = acc + p;
                }
                want[i] = acc;
            }
            for (int t = 0; t < 2; t++) {
                l4lm_vec_wsum(K, t ? L4LM_TYPE_F16 : L4LM_TYPE_F32,
                              t ? (const void *)h : (const void *)f, STRIDE, a, n_rows, out, n);
                for (uint32_t i = 0; i < n; i++, checked++)
                    bad += memcmp(out + i, want + i, 4) != 0;
            }
        }
    }
    T_CHECK("vec_wsum == sequential float sums (f32, f16)", bad == 0, "%d of %d differ", bad,
            checked);
}

/* l4lm_vec_exp and l4lm_vec_silu_mul against the scalar expressions they
** replace, over exp's whole range, with a few infinities, NaNs and
** out-of-range values among ordinary ones. */
static void test_exp(int quick)
{
    enum { N = 4099 };
    static float in[N], x[N], g[N], u[N];
    int bad = 0;
    for (int rep = 0; rep < (quick ? 2 : 20); rep++) {
        float sub = rnd_sym() * 10;
        for (uint32_t i = 0; i < N; i++) {
            uint32_t k = rnd() % 1000;
            in[i] = k == 0   ? NAN
                    : k == 1 ? INFINITY
                    : k == 2 ? -INFINITY
                    : k < 10 ? rnd_sym() * 200
                             : rnd_sym() * (rep % 2 ? 100 : 8);
            x[i] = g[i] = in[i];
            u[i] = rnd_sym() * 4;
        }
        l4lm_vec_exp(K, x, sub, N);
        l4lm_vec_silu_mul(K, g, u, N);
        for (uint32_t i = 0; i < N; i++) {
            float e = l4lm_expf(in[i] - sub), y = in[i] / (1.0f + l4lm_expf(-in[i])) * u[i];
            bad += memcmp(&e, x + i, 4) != 0 && !(e != e && x[i] != x[i]);
            bad += memcmp(&y, g + i, 4) != 0 && !(y != y && g[i] != g[i]);
        }
    }
    T_CHECK("vec_exp, vec_silu_mul == l4lm_expf expressions", bad == 0, "%d differ", bad);
}

/* Whether K has the SIMD helper; prints the skip line when not. */
static int has(const void *entry, const char *what)
{
    if (!entry)
        printf("skip %s: the %s kernels do it in C, which this would compare with itself\n", what,
               K->name);
    return entry != NULL;
}

int main(int argc, char **argv)
{
    int quick = argc > 1 && strcmp(argv[1], "--asan") == 0;
    l4lm_run_opts ro = {0};
    l4lm_posix_simd(&ro);
    K = l4lm_kern_pick(ro.simd, ro.hwcap, NULL);
    printf("# SIMD path of the kernels: %s\n", l4lm_kernels_simd(K));
    if (has((const void *)K->dots, "vec_dots"))
        test_dots(quick);
    if (has((const void *)K->wsum, "vec_wsum"))
        test_wsum(quick);
    if (has(K->exp && K->silu_mul ? (const void *)K->exp : NULL, "vec_exp, vec_silu_mul"))
        test_exp(quick);
    T_EXIT();
}
