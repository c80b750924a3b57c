/*
** kernels_pick.c — which kernel table (kernels_simd.c) a session uses. A
** hosted build carries every variant of its architecture and takes the best
** this CPU runs: on x86_64 the core asks cpuid and xgetbv itself, on aarch64
** and riscv64 the platform passes the OS's AT_HWCAP bits in the run options
** (user mode cannot read the ID registers everywhere, nor misa at all). A freestanding build
*carries
** the one variant its flags target, and runs it. Either way the run
** options may name another variant, or "none" for the portable C path;
** one the build lacks or the CPU cannot run gives the best instead, and
** says so for the platform to tell its user. Nothing here is written after
** the compiler laid it out: the choice lives in the session.
*/
#include "kernels.h"

const l4lm_kern l4lm_kern_none = {.name = "none", .describe = "none", .act_tile = SIZE_MAX};

#if defined(L4LM_SIMD_DISPATCH) && defined(__x86_64__)
extern const l4lm_kern l4lm_kern_avx512bf16, l4lm_kern_avx512, l4lm_kern_avxvnni, l4lm_kern_avx2;
#define N_VARIANTS 5
static const l4lm_kern *const variants[N_VARIANTS] = {
    &l4lm_kern_avx512bf16, &l4lm_kern_avx512, &l4lm_kern_avxvnni, &l4lm_kern_avx2, &l4lm_kern_none};

static void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
    __asm__ volatile("cpuid"
                     : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
                     : "a"(leaf), "c"(sub));
}

/* The register state the OS saves on a context switch (XCR0). */
static uint64_t os_state(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (uint64_t)hi << 32 | lo;
}

#define BIT(n) (1u << (n))

/* AVX2 with FMA and F16C, AVX-512 F+BW+VL+VNNI, AVX512_BF16, AVX-VNNI: each
** only with the OS saving the registers it uses. */
static uint32_t cpu_features(uint64_t hwcap)
{
    (void)hwcap;
    uint32_t r[4], max, need1 = BIT(12) | BIT(27) | BIT(28) | BIT(29); /* FMA OSXSAVE AVX F16C */
    cpuid(0, 0, r);
    max = r[0];
    cpuid(1, 0, r);
    if (max < 7 || (r[2] & need1) != need1)
        return 0;
    uint64_t xcr0 = os_state();
    cpuid(7, 0, r);
    if ((xcr0 & 0x6) != 0x6 || !(r[1] & BIT(5))) /* SSE and AVX state; AVX2 */
        return 0;
    uint32_t f = L4LM_CPU_AVX2;
    if ((r[1] & BIT(16)) && (r[1] & BIT(30)) && (r[1] & BIT(31)) && (r[2] & BIT(11)) &&
        (xcr0 & 0xe0) == 0xe0)
        f |= L4LM_CPU_AVX512; /* F, BW, VL, VNNI; opmask and all 32 zmm registers */
    cpuid(7, 1, r);
    if (r[0] & BIT(4))
        f |= L4LM_CPU_AVXVNNI;
    if ((r[0] & BIT(5)) && (f & L4LM_CPU_AVX512))
        f |= L4LM_CPU_AVX512BF16;
    return f;
}
#elif defined(L4LM_SIMD_DISPATCH) && defined(__aarch64__)
extern const l4lm_kern l4lm_kern_dotprod, l4lm_kern_neon;
#define N_VARIANTS 3
static const l4lm_kern *const variants[N_VARIANTS] = {&l4lm_kern_dotprod, &l4lm_kern_neon,
                                                      &l4lm_kern_none};

#define HWCAP_ASIMDDP (1u << 20) /* Linux's AT_HWCAP bit for sdot/udot */

static uint32_t cpu_features(uint64_t hwcap)
{
    return (hwcap & HWCAP_ASIMDDP) ? L4LM_CPU_DOTPROD : 0;
}
#elif defined(L4LM_SIMD_DISPATCH) && defined(__riscv)
extern const l4lm_kern l4lm_kern_rvv;
#define N_VARIANTS 2
static const l4lm_kern *const variants[N_VARIANTS] = {&l4lm_kern_rvv, &l4lm_kern_none};

#define HWCAP_V (1u << ('V' - 'A')) /* Linux's AT_HWCAP bit: the misa letter V */

static uint32_t cpu_features(uint64_t hwcap)
{
    return (hwcap & HWCAP_V) ? L4LM_CPU_RVV : 0;
}
#else
/* One variant, or none: the build's flags say what the CPU runs. */
#ifdef L4LM_SIMD
#define N_VARIANTS 2
static const l4lm_kern *const variants[N_VARIANTS] = {&l4lm_kern_simd, &l4lm_kern_none};
#else
#define N_VARIANTS 1
static const l4lm_kern *const variants[N_VARIANTS] = {&l4lm_kern_none};
#endif

static uint32_t cpu_features(uint64_t hwcap)
{
    (void)hwcap;
    return ~0u;
}
#endif

static bool same(const char *a, const char *b)
{
    return l4lm_streq(a, l4lm_strlen(a), b);
}

static bool runs(const l4lm_kern *v, uint32_t features)
{
    return (v->needs & features) == v->needs;
}

const l4lm_kern *l4lm_kern_pick(const char *want, uint64_t hwcap, l4lm_kernels_info *info)
{
    uint32_t f = cpu_features(hwcap);
    int best = N_VARIANTS - 1, named = -1;      /* the last is the C path, which always runs */
    for (int i = N_VARIANTS - 1; i >= 0; i--) { /* worst first: the best that runs wins */
        best = runs(variants[i], f) ? i : best;
        named = want && same(want, variants[i]->name) ? i : named;
    }
    bool can = named >= 0 && runs(variants[named], f);
    const l4lm_kern *got = variants[can ? named : best];
    if (info) {
        *info = (l4lm_kernels_info){.name = got->name,
                                    .describe = got->describe,
                                    .best = variants[best]->name,
                                    .unknown = want && *want && named < 0,
                                    .unsupported = named >= 0 && !can};
        for (int i = 0; i < N_VARIANTS && i < L4LM_KERNELS_MAX - 1; i++)
            info->variants[i] = variants[i]->name;
    }
    return got;
}

void l4lm_kernels_pick(const l4lm_run_opts *o, l4lm_kernels_info *info)
{
    if (info)
        l4lm_kern_pick(o ? o->simd : 0, o ? o->hwcap : 0, info);
}

const char *l4lm_kernels_simd(const l4lm_kern *k)
{
    return k->describe;
}
