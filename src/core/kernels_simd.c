/*
** kernels_simd.c — the table of one ISA variant's kernels: which of the
** core's kernels run in SIMD on that variant, and for which weight types.
** Compiled with the variant's flags, beside its kernel files (the
** Makefile's SIMD_SRC): once per variant in a hosted build, where the table
** is l4lm_kern_VARIANT, or once in a freestanding build, as l4lm_kern_simd.
** kernels_pick.c lists the tables and a session picks one. Entries left
** NULL, and types an entry turns down, run in the portable C path
** (kernels.c, kernels_k.c), which gives the same bits.
**
**                 x86_64: avx512bf16,  aarch64:         riscv64: rvv
**                 avx512, avxvnni,     dotprod, neon
**                 avx2
**  matmul         F32 F16 BF16 Q8_0    F32 F16 BF16     F32 F16 BF16 Q8_0
**                 Q4_0 Q4_1 Q5_0 Q5_1  Q8_0 Q4_0 Q4_1   Q4_0 Q4_1 Q5_0 Q5_1
**                 (F16 needs F16C)     Q5_0 Q5_1
**  kq_rows        Q4_K Q5_K Q6_K       Q4_K Q6_K        Q4_K Q5_K Q6_K
**  dots, axpy_f16 F32, F16 (F16C)      F32, F16         F32, F16
**  wsum           F32, F16, Q8_0       Q8_0             C
**                 (F16C)
**  round_f16      F16 activations      C                C
**                 (F16C)
**  round_bf16     BF16 activations     C                C
**  exp, silu_mul  softmax's exp,       C                C
**                 SwiGLU
**  abs_top,       Q8 activation blocks C                C
**  round_q
**  q8_group       8 Q8 activation      C                C
**                 blocks (F16C)
**  kq_quant       Q8_K activations     C                C
**  bf16_in_range  avx512bf16 (BF16 weights for vdpbf16ps, kernels.h)
** The quantised dots use VNNI's dpbusd on avx512 and avxvnni, sdot on
** dotprod, widening multiplies and sums on rvv (whose F16 widening is
** integer code: no Zvfh needed); Q2_K, Q3_K and Q8_K weights always take
** the C path.
*/
#include "kernels_k.h"

#ifdef L4LM_SIMD
#if defined(L4LM_SIMD_X86)
#if defined(__AVX512VNNI__) && defined(__AVX512VL__) && defined(__AVX512BF16__)
#define NAME     "avx512bf16"
#define DESCRIBE "AVX-512 + VNNI + BF16"
#define NEEDS    (L4LM_CPU_AVX2 | L4LM_CPU_AVX512 | L4LM_CPU_AVX512BF16)
#elif defined(__AVX512VNNI__) && defined(__AVX512VL__)
#define NAME     "avx512"
#define DESCRIBE "AVX-512 + VNNI"
#define NEEDS    (L4LM_CPU_AVX2 | L4LM_CPU_AVX512)
#elif defined(__AVXVNNI__)
#define NAME     "avxvnni"
#define DESCRIBE "AVX2 + F16C + VNNI"
#define NEEDS    (L4LM_CPU_AVX2 | L4LM_CPU_AVXVNNI)
#elif defined(__F16C__)
#define NAME     "avx2"
#define DESCRIBE "AVX2 + F16C"
#define NEEDS    L4LM_CPU_AVX2
#else
#define NAME     "avx2"
#define DESCRIBE "AVX2 (F16 weights in C: no F16C)"
#define NEEDS    L4LM_CPU_AVX2
#endif
#elif defined(L4LM_SIMD_RVV)
#define NAME     "rvv"
#define DESCRIBE "RVV 1.0"
#define NEEDS    L4LM_CPU_RVV
#elif defined(__ARM_FEATURE_DOTPROD)
#define NAME     "dotprod"
#define DESCRIBE "NEON + dotprod"
#define NEEDS    L4LM_CPU_DOTPROD
#else
#define NAME     "neon"
#define DESCRIBE "NEON"
#define NEEDS    0u
#endif

const l4lm_kern l4lm_kern_simd = {
    .name = NAME,
    .describe = DESCRIBE,
    .needs = NEEDS,
    .act_tile = L4LM_ACT_TILE_BYTES,
    .quant_acts = L4LM_QUANT_ACTS,
    .matmul = l4lm_simd_matmul,
    .kq_rows = l4lm_simd_kq_rows,
#if defined(L4LM_SIMD_ARM) || defined(L4LM_SIMD_RVV) || defined(__F16C__)
    .axpy_f16 = l4lm_simd_axpy_f16,
    .dots = l4lm_simd_dots,
#endif
#if defined(L4LM_SIMD_ARM) || defined(__F16C__)
    .wsum = l4lm_simd_wsum,
#endif
#ifdef L4LM_SIMD_X86
    .exp = l4lm_simd_exp,
    .silu_mul = l4lm_simd_silu_mul,
    .abs_top = l4lm_simd_abs_top,
    .round_q = l4lm_simd_round_q,
    .kq_quant = l4lm_simd_kq_quant,
    .round_bf16 = l4lm_simd_round_bf16,
#ifdef __F16C__
    .round_f16 = l4lm_simd_round_f16,
    .q8_group = l4lm_simd_q8_group,
#endif
#ifdef __AVX512BF16__
    .bf16_in_range = l4lm_simd_bf16_in_range,
#endif
#endif
};
#endif
