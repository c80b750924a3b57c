/*
** matvec.c — a micro driver for one kernel path: a matrix-vector product of
** a weight type over made-up weights (a fixed pseudo-random sequence, so
** every build and CPU sees the same), e.g. TinyLlama's 2048 x 2048 Q4_0
** attention projection, repeated reps times with the kernels L4LM_SIMD
** names. It prints the path and a hash of the outputs' bits (which must be
** the same on every path). tests/riscv64.sh counts the instructions qemu
** runs for 1 and for 2 repetitions: the difference is one product, without
** the set-up.
**   matvec TYPE ROWS COLS REPS       TYPE: q4_0 q8_0 f32 f16 q4_k q6_k
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "posix.h"

static uint32_t rng = 12345;

static uint32_t next(void)
{
    rng = rng * 1664525u + 1013904223u;
    return rng >> 8;
}

/* Random bytes, with each block's fp16 scale fields made small and finite. */
static void fill(uint32_t t, uint8_t *w, size_t bytes)
{
    for (size_t i = 0; i < bytes; i++)
        w[i] = (uint8_t)next();
    if (t == L4LM_TYPE_F32 || t == L4LM_TYPE_F16) { /* values in [-1, 1) */
        size_t es = t == L4LM_TYPE_F32 ? 4 : 2;
        for (size_t i = 0; i + es <= bytes; i += es) {
            float v = (float)(next() % 2048) / 1024.0f - 1.0f;
            if (es == 4)
                memcpy(w + i, &v, 4);
            else {
                uint16_t h = l4lm_f32_to_fp16(v);
                memcpy(w + i, &h, 2);
            }
        }
    }
}

static uint32_t type_of(const char *s)
{
    static const struct {
        const char *name;
        uint32_t t;
    } types[] = {{"q4_0", L4LM_TYPE_Q4_0}, {"q8_0", L4LM_TYPE_Q8_0}, {"f32", L4LM_TYPE_F32},
                 {"f16", L4LM_TYPE_F16},   {"q4_k", L4LM_TYPE_Q4_K}, {"q6_k", L4LM_TYPE_Q6_K}};
    for (size_t i = 0; i < sizeof types / sizeof *types; i++)
        if (strcmp(s, types[i].name) == 0)
            return types[i].t;
    return UINT32_MAX;
}

/* The fp16 fields of quantised blocks: set to a small scale so sums stay finite. */
static void fix_scales(uint32_t t, uint8_t *w, size_t bytes)
{
    size_t bb = t == L4LM_TYPE_Q4_0 ? 18 : t == L4LM_TYPE_Q8_0 ? 34 : 0;
    uint16_t d = l4lm_f32_to_fp16(0.01f);
    for (size_t o = 0; bb && o + bb <= bytes; o += bb)
        memcpy(w + o, &d, 2);
    size_t kb = t == L4LM_TYPE_Q4_K ? 144 : t == L4LM_TYPE_Q6_K ? 210 : 0;
    for (size_t o = 0; kb && o + kb <= bytes; o += kb) {
        memcpy(w + o + (t == L4LM_TYPE_Q6_K ? 208 : 0), &d, 2);
        if (t == L4LM_TYPE_Q4_K)
            memcpy(w + o + 2, &d, 2);
    }
}

int main(int argc, char **argv)
{
    uint32_t t = argc == 5 ? type_of(argv[1]) : UINT32_MAX;
    uint32_t rows = argc == 5 ? (uint32_t)atoi(argv[2]) : 0,
             n = argc == 5 ? (uint32_t)atoi(argv[3]) : 0;
    int reps = argc == 5 ? atoi(argv[4]) : 0;
    uint64_t rb = 0;
    if (t == UINT32_MAX || !rows || !n || reps < 0 || !l4lm_row_bytes(t, n, &rb) ||
        !l4lm_act_bytes(t, n)) {
        fprintf(stderr, "usage: matvec q4_0|q8_0|f32|f16|q4_k|q6_k ROWS COLS REPS\n");
        return 2;
    }
    l4lm_run_opts ro = {0};
    l4lm_posix_simd(&ro);
    const l4lm_kern *k = l4lm_kern_pick(ro.simd, ro.hwcap, NULL);
    uint8_t *w = malloc(rows * rb);
    float *x = malloc(n * sizeof *x), *y = calloc(rows, sizeof *y);
    void *act = aligned_alloc(L4LM_ALIGN, l4lm_act_bytes(t, n));
    if (!w || !x || !y || !act)
        return 1;
    fill(t, w, rows * rb);
    fix_scales(t, w, rows * rb);
    for (uint32_t i = 0; i < n; i++)
        x[i] = (float)(next() % 2048) / 1024.0f - 1.0f;
    l4lm_act_prepare(k, t, x, n, act);
    for (int r = 0; r < reps; r++)
        l4lm_matvec(k, t, w, act, n, y, 0, rows);
    uint64_t h = 1469598103934665603ull; /* FNV-1a of the outputs' bits */
    for (uint32_t r = 0; r < rows; r++) {
        uint32_t u;
        memcpy(&u, y + r, 4);
        for (int b = 0; b < 4; b++)
            h = (h ^ (u >> (8 * b) & 255)) * 1099511628211ull;
    }
    printf("path %s, %s %ux%u, %d reps, hash %016llx\n", l4lm_kernels_simd(k), argv[1], rows, n,
           reps, (unsigned long long)h);
    free(w);
    free(x);
    free(y);
    free(act);
    return 0;
}
