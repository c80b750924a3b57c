/*
** kernels.h — private to the kernel files (kernels*.c): the layout of
** prepared activations and the reduction order the kernels share, so that
** the portable C path and the SIMD paths return the same bits on every CPU;
** and the table (l4lm_kern) through which the core reaches one variant's
** SIMD kernels.
**
** Reduction order of one dot product:
**  - F32, F16 (both sides as float): element i is multiplied, rounded,
**    and added into lane i % 32 (no fused multiply-add, but where the
**    product is exact, as F16's is, fusing gives the same bits).
**  - BF16, in pairs: pair p, elements 2p and 2p + 1, goes into lane p % 32,
**    first the odd element's product (rounded) is added (rounded), then the
**    even one's; an odd n's last element alone. That is what AVX-512
**    BF16's vdpbf16ps does in each 32-bit lane (two halves per lane, odd
**    first), and SIMD without it widens a lane's halves by a mask and a
**    shift, no shuffle. vdpbf16ps, though, reads subnormals as 0, flushes
**    subnormal results and keeps a wider exponent between its two adds: it
**    gives these bits only while every product and partial sum is 0 or a
**    normal float. The activations' range (below) and a scan of the
**    weights (l4lm_kern_mark: every value 0 or of magnitude 2^-50 to 2^50,
**    rows of at most 2^24) make sure: the products are then exact, 0 or
**    of magnitude 2^-100 to 2^100, and multiples of 2^-114; so is every
**    partial sum (a sum below 2^-90 in magnitude has at most 24
**    significant bits, so it is exact; above, the ulp of its rounding is a
**    multiple of 2^-114), hence 0 or at least 2^-114 in magnitude, normal,
**    and below 2^126 (2^24 products of 2^100, roundings included). Weights
**    that fail the scan take the mask and shift path, with the same bits
**    (IEEE multiply then add).
**  - the 32-element block types against Q8 activations: block j's integer
**    sum isum_j (of the weights' integer quants times the activation's) is
**    exact; (float)isum_j * (dw_j * dx_j) is added into lane j % 8. The
**    scale product of two fp16 values is exact in float, so only the
**    multiply by isum_j and the add round. Q4_1 and Q5_1, whose weights are
**    dw q + m, add (float)isum_j * (dw_j * dx_j) + m_j * s_j instead (s_j:
**    the activation block's fp16 dx * sum x; m_j * s_j is exact), as ggml's
**    vec_dot does.
**  Then a fixed tree sums the lanes: lane j takes lane j + h, for h = half
**  the lanes, then half that, down to 1. Lanes are what lets SIMD keep 8 or
**  32 independent sums in registers.
**
** Prepared activations (l4lm_act_prepare), one row of n elements:
**  - F32: n floats. F16, BF16: n floats rounded to F16/BF16 values (stored
**    widened, so prefill's kernels convert only the weights), then the
**    same n values as halves at 4 n (l4lm_kern_halves): decode's kernels
**    read those, as half the bytes stay in level 1 beside the weights, and
**    BF16's kernels all do. BF16's rounded values are then kept in range
**    for vdpbf16ps (above): magnitudes below 2^-50 (L4LM_BF16_LO) become
**    +0, those above 2^50 (L4LM_BF16_HI, inf too) +-2^50, and every NaN
**    the one quiet NaN 0x7fc0, which every path's multiplies and adds
**    pass on unchanged (x86 and NEON keep an operand's NaN, RISC-V makes
**    this one), while two different NaNs would meet in an order-dependent
**    way.
**  - Q8_0, Q4_0, Q5_0 weights: the quants and scales of ggml's
**    quantize_row_q8_0; Q4_1, Q5_1: those of quantize_row_q8_1 (the same
**    quants and scales, and s). nb = n / 32 blocks, as
**        int8  q[32 nb]   at 0          the quants, in the order below
**        float d[nb]      at 32 nb      block scales (fp16 values)
**        int32 s8[nb]     at 36 nb      8 * the sum of the block's quants,
**     or float s[nb]      at 36 nb      for Q8_1: fp16(sum * unrounded d)
**    Block j's quants are at 32 j in element order, except in whole groups
**    of 8 blocks (j < nb - nb % 8), which are interleaved by 4 bytes:
**    element e of the group's block k is at 32 (e / 4) + 4 k + e % 4 of
**    the group's 256 bytes. So 32-bit lane k of a vector holds block k:
**    the weights, transposed the same way, meet their quants without
**    shuffles, and one vector's lanes sum 8 blocks at once. Q4_0's and
**    Q5_0's quants are used unsigned (0..15, 0..31): sum (w - 8) x =
**    sum w x - s8 and sum (w - 16) x = sum w x - 2 s8.
**  Weight blocks (ggml's, 32 elements): fp16 d, [fp16 m,] [u32 qh,] qs[16]
**  for the nibble types, element e < 16 in the low nibble of qs[e], e + 16
**  in its high nibble; Q5's fifth bit of element e is bit e of qh.
**  Rows are padded to L4LM_ALIGN bytes.
*/
#ifndef L4LM_KERNELS_H
#define L4LM_KERNELS_H

#include "internal.h"
#include "half.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "the kernels read ggml's little-endian blocks with native loads");

#define L4LM_LANES  32 /* float lanes; the quantised dots use the first 8 */
#define L4LM_QLANES 8
#define L4LM_TILE   8 /* activation rows one pass over a weight row serves */
/* Bytes of activations one tile of them may take (kernels.c). With VNNI
** and AVX-512 the passes are cheap enough that level-2 bandwidth shows:
** wide rows then go fewer at a time (~10% on zen4, Q4_0, at 32 KiB).
** Since Q4_0 and Q8_0 take two weight rows per 512-bit register, sharing
** each unpacking with more rows gains more (zen5: 64 KiB ~7% over 32, as
** the FFN's down projection takes 8 rows, not 5; then 128 KiB with
** L4LM_QUANT_ACTS 16). Elsewhere all L4LM_TILE rows measured best. */
#if defined(__x86_64__) && defined(__AVX512VNNI__) && defined(__AVX512VL__)
#define L4LM_ACT_TILE_BYTES ((size_t)131072)
#else
#define L4LM_ACT_TILE_BYTES SIZE_MAX
#endif
/* Activation rows one pass over a quantised weight row may serve (a
** variant's quant_acts): where Q4_0 and Q8_0 take two weight rows per
** 512-bit register (kernels_x86_quant.h), unpacking the weights is about a
** quarter of the work at 8 rows, and 16 share it better (~10% on zen5),
** 32 better still (matmuls ~4%, Q4_0 prefill 1 thread ~3%, zen5; the
** FFN's down projection still takes 20 within L4LM_ACT_TILE_BYTES).
** Their outputs' lanes are 4 KiB of stack for 4 weight rows (the matmul's
** frame 6.75 KiB), so only for the hosted build's threads (default
** stacks): a freestanding build keeps 8 within its 3 KiB. */
#if defined(__x86_64__) && defined(__AVX512VNNI__) && defined(__AVX512VL__) &&                     \
    defined(L4LM_SIMD_DISPATCH)
#define L4LM_QUANT_ACTS 32
#else
#define L4LM_QUANT_ACTS L4LM_TILE
#endif
/* Activation rows one call takes for the float weight types: whole tiles
** of 3 in the SIMD paths' blocked product (kernels_tile.h, float_block).
** Narrow rows (3 of them as floats within L4LM_FLOAT_NARROW_BYTES: n up to
** 2730) go 3 at a time against panels of L4LM_FLOAT_PANEL weight rows: the
** 3 rows stay in level 1 while the panel (256 KiB of F16 at n 2048)
** streams from level 2, and all the activations pass once per panel, not
** once per 16 weight rows, which read them from level 3 (1.25 times the
** speed, zen5 F16; 1.1 with AVX2). Wider rows, the FFN's down projection,
** fit neither way and go 6 at a time against 32 weight rows. */
#define L4LM_FLOAT_ACTS           6
#define L4LM_FLOAT_NARROW_ACTS    3
#define L4LM_FLOAT_NARROW_BYTES   ((size_t)32768)
#define L4LM_FLOAT_DP_NARROW_ACTS 6 /* for L4LM_KTYPE_BF16_DP (kernels_x86.c) */
#define L4LM_FLOAT_PANEL          64
#define L4LM_FLOAT_WIDE_PANEL     32

static inline bool l4lm_kern_float_narrow(uint32_t n)
{
    return (size_t)n * sizeof(float) * L4LM_FLOAT_NARROW_ACTS <= L4LM_FLOAT_NARROW_BYTES;
}
/* Activation bytes above which decode takes float weight rows in groups
** (kernels_x86.c, float_group): one row at a time is fastest while the
** activations and a weight row share level 1 (n up to 4096 on zen4). */
#define L4LM_DECODE_ACT_BYTES ((size_t)16384)
/* Decode's weight rows stream through once: its loops ask for the bytes
** L4LM_DECODE_AHEAD past those they read, a line for every line read,
** non-temporal (zen5, one core, 4-layer TinyLlama-shape decode: each of
** F16, Q8_0 and Q4_0 faster in every one of a dozen interleaved runs; a
** whole row asked for at once, 16 rows ahead, was slower for F16 and no
** better for Q4_0). The hardware prefetcher alone stops at each 4 KiB page.
** Prefetches never fault: past the end they cost only a little bandwidth. */
#define L4LM_DECODE_AHEAD ((size_t)4096)

/* Where the SIMD loops can (AVX-512: F16, BF16, Q4_0, Q8_0), decode reads
** L4LM_DECODE_STREAMS weight rows side by side, each from its own part of
** the rows (row r, r + q, r + 2q, r + 3q for a quarter q of them), each
** asked for ahead bytes on: one core reads memory fastest in a few
** independent streams (bench/bwprobe's best way, 4 streams and
** prefetchnta 2 KiB ahead). Adjacent rows are no such streams: with
** 4 KiB rows the stream prefetch of one row asks for the next. The
** float types asked 1 KiB ahead read faster than 2 (BF16 ~1.15 times,
** F16 ~1.1), 4 KiB slower (~0.87); Q4_0 and Q8_0 want 2 KiB (1 KiB:
** Q4_0 ~0.87 times, Q8_0 ~0.98) (zen5, one core, a busy machine). */
#define L4LM_DECODE_STREAMS     4
#define L4LM_DECODE_FLOAT_AHEAD ((size_t)1024)
#define L4LM_DECODE_QUANT_AHEAD ((size_t)2048)

/* Asks for the len bytes ahead bytes past p, a line at a time, non-temporal. */
static inline void l4lm_kern_streams(const uint8_t *p, size_t len, size_t ahead)
{
    for (size_t o = 0; o < len; o += 64)
        __builtin_prefetch(p + ahead + o, 0, 0);
}

/* Decode's one stream per row, L4LM_DECODE_AHEAD ahead. */
static inline void l4lm_kern_stream(const uint8_t *p, size_t len)
{
    l4lm_kern_streams(p, len, L4LM_DECODE_AHEAD);
}

#define L4LM_QBLOCK        32
#define L4LM_Q8_0_BYTES    34 /* fp16 d, int8 q[32] */
#define L4LM_Q4_0_BYTES    18 /* fp16 d, 16 bytes: element j low nibble, j + 16 high */
#define L4LM_Q4_1_BYTES    20 /* fp16 d, fp16 m, the nibbles */
#define L4LM_Q5_0_BYTES    22 /* fp16 d, u32 qh, the nibbles */
#define L4LM_Q5_1_BYTES    24 /* fp16 d, fp16 m, u32 qh, the nibbles */
#define L4LM_QGROUP        8  /* blocks per SIMD step, interleaved in activations */
#define L4LM_PREFETCH_ROWS 16 /* how far ahead the SIMD loops ask for weight rows */

/* BF16 magnitudes (bits without the sign) of 2^-50 and 2^50, and its quiet NaN. */
#define L4LM_BF16_LO  0x2680u
#define L4LM_BF16_HI  0x5880u
#define L4LM_BF16_NAN 0x7fc0u

/* The longest rows whose BF16 dots stay below float's overflow (above). */
#define L4LM_BF16_DP_MAX_N (1u << 24)

/* Elements one pass over all 32 float lanes takes: BF16 goes in pairs. */
static inline uint32_t l4lm_kern_float_step(uint32_t t)
{
    return t == L4LM_TYPE_BF16 || t == L4LM_KTYPE_BF16_DP ? 2 * L4LM_LANES : L4LM_LANES;
}

static inline uint16_t l4lm_kern_ld16(const uint8_t *p)
{
    uint16_t h;
    __builtin_memcpy(&h, p, sizeof h);
    return h;
}

/* The halves of a prepared F16 or BF16 activation row of n elements. */
static inline const uint8_t *l4lm_kern_halves(const uint8_t *act, uint32_t n)
{
    return act + 4 * (size_t)n;
}

static inline bool l4lm_kern_quant(uint32_t t)
{
    return t == L4LM_TYPE_Q8_0 || t == L4LM_TYPE_Q4_0 || t == L4LM_TYPE_Q4_1 ||
           t == L4LM_TYPE_Q5_0 || t == L4LM_TYPE_Q5_1;
}

/* The types whose activations are ggml's Q8_1 (weights dw q + m). */
static inline bool l4lm_kern_q8_1(uint32_t t)
{
    return t == L4LM_TYPE_Q4_1 || t == L4LM_TYPE_Q5_1;
}

static inline bool l4lm_kern_q5(uint32_t t)
{
    return t == L4LM_TYPE_Q5_0 || t == L4LM_TYPE_Q5_1;
}

/* Bytes of a weight block of a quantised type, and where in it the
** nibbles and (Q5) the fifth bits are. */
static inline size_t l4lm_kern_bbytes(uint32_t t)
{
    switch (t) {
    case L4LM_TYPE_Q8_0:
        return L4LM_Q8_0_BYTES;
    case L4LM_TYPE_Q4_1:
        return L4LM_Q4_1_BYTES;
    case L4LM_TYPE_Q5_0:
        return L4LM_Q5_0_BYTES;
    case L4LM_TYPE_Q5_1:
        return L4LM_Q5_1_BYTES;
    default:
        return L4LM_Q4_0_BYTES;
    }
}

static inline size_t l4lm_kern_qs(uint32_t t)
{
    return l4lm_kern_bbytes(t) - 16;
}

static inline size_t l4lm_kern_qh(uint32_t t)
{
    return t == L4LM_TYPE_Q5_1 ? 4 : 2;
}

/* What Q4_0 and Q5_0 take off the unsigned sums: this many times s8. */
static inline int l4lm_kern_offset(uint32_t t)
{
    return t == L4LM_TYPE_Q4_0 ? 1 : t == L4LM_TYPE_Q5_0 ? 2 : 0;
}

/* Offsets of a quantised activation row's scales and sums (nb blocks). */
static inline size_t l4lm_kern_qa_d(uint32_t nb)
{
    return (size_t)nb * L4LM_QBLOCK;
}

static inline size_t l4lm_kern_qa_s8(uint32_t nb)
{
    return (size_t)nb * (L4LM_QBLOCK + 4);
}

/* Adds one block's contribution into its lane. */
static inline float l4lm_kern_block(float lane, int32_t isum, float dw, float dx)
{
    return lane + (float)isum * (dw * dx);
}

/* The same for Q4_1, Q5_1: min m and the activation's s add m * s. */
static inline float l4lm_kern_block_min(float lane, int32_t isum, float dw, float dx, float m,
                                        float s)
{
    return lane + ((float)isum * (dw * dx) + m * s);
}

#if defined(__x86_64__) && defined(__AVX2__)
#define L4LM_SIMD_X86 1
#elif defined(__aarch64__) && defined(__ARM_NEON)
#define L4LM_SIMD_ARM 1
#elif defined(__riscv) && defined(__riscv_v_intrinsic) && __riscv_v_min_vlen >= 128
#define L4LM_SIMD_RVV 1 /* RVV 1.0 intrinsics (clang; gcc 12 has none) */
#endif

/* Adds elements done..n-1 of the dot of weight row w with activation row a
** to the lanes acc (32 floats; the quantised types use 8) and sums them in
** the fixed tree: the C code that finishes what a SIMD loop left over. */
float l4lm_kern_finish(uint32_t wtype, const uint8_t *w, const uint8_t *a, uint32_t n,
                       uint32_t done, float *acc);

/* A hosted build (L4LM_SIMD_DISPATCH, see the Makefile) compiles the SIMD
** files once per CPU variant, with L4LM_SIMD_VARIANT set to the variant's
** name, which the defines below append to every entry point; each variant's
** entry points then meet in its own l4lm_kern table (kernels_simd.c). A
** freestanding build compiles one variant, under the plain names. */
#ifdef L4LM_SIMD_VARIANT
#define L4LM_SIMD_NAME2(name, v) name##_##v
#define L4LM_SIMD_NAME(name, v)  L4LM_SIMD_NAME2(name, v)
#define l4lm_simd_matmul         L4LM_SIMD_NAME(l4lm_simd_matmul, L4LM_SIMD_VARIANT)
#define l4lm_simd_kq_rows        L4LM_SIMD_NAME(l4lm_simd_kq_rows, L4LM_SIMD_VARIANT)
#define l4lm_simd_exp            L4LM_SIMD_NAME(l4lm_simd_exp, L4LM_SIMD_VARIANT)
#define l4lm_simd_silu_mul       L4LM_SIMD_NAME(l4lm_simd_silu_mul, L4LM_SIMD_VARIANT)
#define l4lm_simd_abs_top        L4LM_SIMD_NAME(l4lm_simd_abs_top, L4LM_SIMD_VARIANT)
#define l4lm_simd_round_q        L4LM_SIMD_NAME(l4lm_simd_round_q, L4LM_SIMD_VARIANT)
#define l4lm_simd_kq_quant       L4LM_SIMD_NAME(l4lm_simd_kq_quant, L4LM_SIMD_VARIANT)
#define l4lm_simd_q8_group       L4LM_SIMD_NAME(l4lm_simd_q8_group, L4LM_SIMD_VARIANT)
#define l4lm_simd_axpy_f16       L4LM_SIMD_NAME(l4lm_simd_axpy_f16, L4LM_SIMD_VARIANT)
#define l4lm_simd_dots           L4LM_SIMD_NAME(l4lm_simd_dots, L4LM_SIMD_VARIANT)
#define l4lm_simd_wsum           L4LM_SIMD_NAME(l4lm_simd_wsum, L4LM_SIMD_VARIANT)
#define l4lm_simd_round_f16      L4LM_SIMD_NAME(l4lm_simd_round_f16, L4LM_SIMD_VARIANT)
#define l4lm_simd_round_bf16     L4LM_SIMD_NAME(l4lm_simd_round_bf16, L4LM_SIMD_VARIANT)
#define l4lm_simd_bf16_in_range  L4LM_SIMD_NAME(l4lm_simd_bf16_in_range, L4LM_SIMD_VARIANT)
#define l4lm_kern_simd           L4LM_SIMD_NAME(l4lm_kern, L4LM_SIMD_VARIANT)
#endif

/* The kernels of one ISA variant: the core calls them through the table its
** session picked (kernels_pick.c), so one build may carry several. Every
** entry does a leading part of its job (or all of it), or returns 0/false
** for a type it does not take; a NULL entry, or a 0/false result, leaves
** the rest to the portable C path, which gives the same bits. */
typedef struct l4lm_kern {
    const char *name;     /* as L4LM_SIMD names it: "avx2"; "none" for the C path */
    const char *describe; /* what l4lm info prints: "AVX2 + F16C" */
    uint32_t needs;       /* CPU features it runs on (L4LM_CPU_*), in a hosted build */
    size_t act_tile;      /* bytes of activations one tile of them may take */
    uint32_t quant_acts;  /* the most activation rows per tile for the 32-element
                          ** block types (0: L4LM_TILE) */
    /* l4lm_matmul for rows r0..r1-1 of w (row_bytes apart) and na <=
    ** L4LM_TILE activation rows (quant_acts for the 32-element block types); false, with nothing
    *written, for a type it
    ** does not take. ahead: prefetch the rows L4LM_PREFETCH_ROWS further
    ** on, which only the first pass over a tile of rows needs. */
    bool (*matmul)(uint32_t wtype, const uint8_t *w, size_t row_bytes, const uint8_t *act,
                   size_t act_stride, uint32_t n, uint32_t na, uint32_t r0, uint32_t r1, float *y,
                   size_t y_stride, bool ahead);
    /* The same for the K-quants (kernels_k.c, l4lm_kq_matmul). */
    bool (*kq_rows)(uint32_t t, const uint8_t *w, size_t rb, const uint8_t *act, size_t st,
                    uint32_t n, uint32_t na, uint32_t r0, uint32_t r1, float *y, size_t ys,
                    bool ahead);
    /* l4lm_vec_exp and l4lm_vec_silu_mul for a leading part of the row. */
    uint32_t (*exp)(float *x, float sub, uint32_t n);
    uint32_t (*silu_mul)(float *g, const float *u, uint32_t n);
    /* Quantising a block of 32 activations (kernels.c, quantize_q8_0): the
    ** largest |x| as bits into *top, and q = round(x id), halves away from
    ** zero, for finite x and id with |x id| <= 127.5, their sum into *sum. */
    bool (*abs_top)(const float *x, uint32_t *top);
    bool (*round_q)(const float *x, float id, int8_t *q, int32_t *sum);
    /* A whole group of L4LM_QGROUP such blocks (kernels.c, prepare_quant):
    ** their quants interleaved into q as the activation layout has them,
    ** each block's d rounded to fp16 into d[b], and 8 times its sum into
    ** s[b], or for Q8_1 (q81) its sum times d rounded to fp16, as a float;
    ** false, with nothing written, when a block holds a NaN or inf or its
    ** 1/d overflows (the C path's saturating case). */
    bool (*q8_group)(const float *x, bool q81, uint8_t *q, float *d, uint32_t *s);
    /* One super-block of Q8_K activations (kernels_k.c): its quants q,
    ** bsums and d, bit for bit the C path's; false, with nothing written,
    ** for a block of zeros and NaNs only. */
    bool (*kq_quant)(const float *x, uint8_t *q, int16_t *bsum, float *d);
    /* l4lm_vec_axpy of an F16 row for a leading part of it (the widening is
    ** exact, then a separate multiply and add). */
    uint32_t (*axpy_f16)(const uint8_t *v, float a, float *out, uint32_t n);
    /* l4lm_vec_dots for a leading part of the rows (row_bytes apart) against
    ** x as floats. */
    uint32_t (*dots)(uint32_t type, const uint8_t *rows, size_t row_bytes, const float *x,
                     uint32_t n, uint32_t n_rows, float *out);
    /* l4lm_vec_wsum for a leading part of the columns (row_bytes apart; a
    ** Q8_0 row's columns in whole blocks). */
    uint32_t (*wsum)(uint32_t type, const uint8_t *rows, size_t row_bytes, const float *a,
                     uint32_t n_rows, float *out, uint32_t n);
    /* h[i] = l4lm_f32_to_fp16(x[i]) and o[i] = l4lm_half_decode(h[i]). */
    uint32_t (*round_f16)(const float *x, uint32_t n, float *o, uint16_t *h);
    /* The same for BF16 activations: h[i] = l4lm_f32_to_bf16(x[i]) kept in
    ** range as kernels.c's bf16_in_range does, o[i] = l4lm_bf16_decode(h[i]). */
    uint32_t (*round_bf16)(const float *x, uint32_t n, float *o, uint16_t *h);
    /* Whether all n BF16 values at w are 0 or of magnitude L4LM_BF16_LO to
    ** L4LM_BF16_HI: set only where matmul takes L4LM_KTYPE_BF16_DP (rows
    ** whose values passed it) to vdpbf16ps. */
    bool (*bf16_in_range)(const uint8_t *w, size_t n);
} l4lm_kern;

/* CPU features a variant needs (kernels_pick.c finds them). */
#define L4LM_CPU_AVX2       1u /* with FMA, F16C and the OS's AVX state */
#define L4LM_CPU_AVX512     2u /* F, BW, VL, VNNI and the OS's zmm state */
#define L4LM_CPU_AVXVNNI    4u
#define L4LM_CPU_DOTPROD    8u
#define L4LM_CPU_RVV        16u /* the V extension (RVV 1.0) */
#define L4LM_CPU_AVX512BF16 32u

/* The portable C path: every entry NULL. */
extern const l4lm_kern l4lm_kern_none;

/* The entry points of a variant, each as its table entry describes it;
** declared where the variant's files define them. */
#if defined(L4LM_SIMD_X86) || defined(L4LM_SIMD_ARM) || defined(L4LM_SIMD_RVV)
#define L4LM_SIMD 1
extern const l4lm_kern l4lm_kern_simd;
bool l4lm_simd_matmul(uint32_t wtype, const uint8_t *w, size_t row_bytes, const uint8_t *act,
                      size_t act_stride, uint32_t n, uint32_t na, uint32_t r0, uint32_t r1,
                      float *y, size_t y_stride, bool ahead);
bool l4lm_simd_kq_rows(uint32_t t, const uint8_t *w, size_t rb, const uint8_t *act, size_t st,
                       uint32_t n, uint32_t na, uint32_t r0, uint32_t r1, float *y, size_t ys,
                       bool ahead);
uint32_t l4lm_simd_axpy_f16(const uint8_t *v, float a, float *out, uint32_t n);
uint32_t l4lm_simd_dots(uint32_t type, const uint8_t *rows, size_t row_bytes, const float *x,
                        uint32_t n, uint32_t n_rows, float *out);
uint32_t l4lm_simd_wsum(uint32_t type, const uint8_t *rows, size_t row_bytes, const float *a,
                        uint32_t n_rows, float *out, uint32_t n);
#endif
#ifdef L4LM_SIMD_X86
uint32_t l4lm_simd_exp(float *x, float sub, uint32_t n);
uint32_t l4lm_simd_silu_mul(float *g, const float *u, uint32_t n);
bool l4lm_simd_abs_top(const float *x, uint32_t *top);
bool l4lm_simd_round_q(const float *x, float id, int8_t *q, int32_t *sum);
bool l4lm_simd_kq_quant(const float *x, uint8_t *q, int16_t *bsum, float *d);
bool l4lm_simd_q8_group(const float *x, bool q81, uint8_t *q, float *d, uint32_t *s);
uint32_t l4lm_simd_round_f16(const float *x, uint32_t n, float *o, uint16_t *h);
uint32_t l4lm_simd_round_bf16(const float *x, uint32_t n, float *o, uint16_t *h);
#ifdef __AVX512BF16__
bool l4lm_simd_bf16_in_range(const uint8_t *w, size_t n);
#endif
#endif

#endif
