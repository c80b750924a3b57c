/*
** ggml_quant.c — the 32-element block formats against ggml itself: loads
** llama.cpp's libggml-base.so (from node-llama-cpp, path in argv[1]) and
** checks, bit for bit on the same floats,
**  - mkgguf's encoders (tools/mkgguf/quant.c) against ggml's reference
**    quantize_row_{q4_0,q4_1,q5_0,q5_1,q8_0}_ref: the files l4lm writes
**    are the files llama-quantize would write;
**  - l4lm_row_to_f32 against ggml's dequantize_row_*: the weights mean the
**    same numbers in both engines;
**  - l4lm_act_prepare's activation blocks against quantize_row_q8_0_ref and
**    quantize_row_q8_1_ref (quants, d, and Q8_1's s): the partners that
**    ggml's dot products take.
** Prints `ok NAME` / `FAIL NAME: why` lines, as the test scripts do.
*/
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "quant.h"

typedef void (*quant_fn)(const float *x, void *y, int64_t k);
typedef void (*dequant_fn)(const void *x, float *y, int64_t k);

#define N (32 * 64) /* elements per row tested */

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static double rnd01(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

/* Blocks of many kinds: wide and tiny magnitudes, all zero, constant, one
** sign only, one outlier, and values on the quantisers' rounding ties. */
static void make_row(float *x, int rep)
{
    for (int b = 0; b < N / 32; b++) {
        float scale = (float)pow(10, 3 - 8 * rnd01()), *v = x + 32 * b;
        int kind = (b + rep) % 7;
        for (int j = 0; j < 32; j++) {
            double u = rnd01() * 2 - 1;
            v[j] = kind == 0   ? 0.0f
                   : kind == 1 ? scale
                   : kind == 2 ? (float)(fabs(u) * scale)
                   : kind == 3 ? (float)(-fabs(u) * scale)
                   : kind == 4 ? (float)(floor(u * 16) / 2 + 0.25) /* ties of x / d at d = 1/2 */
                               : (float)(u * scale);
        }
        if (kind == 6)
            v[(int)(rnd01() * 32)] = -50 * scale;
    }
}

static int fails;

static void check(const char *name, int bad, const char *what)
{
    if (bad) {
        printf("FAIL %s: %d %s differ\n", name, bad, what);
        fails++;
    } else {
        printf("ok %s\n", name);
    }
}

/* Element e of block j of a prepared activation row (the layout of kernels.h). */
static int8_t act_quant(const uint8_t *act, uint32_t nb, uint32_t j, uint32_t e)
{
    if (j >= nb / 8 * 8)
        return (int8_t)act[32 * j + e];
    return (int8_t)act[32 * (j - j % 8) + 32 * (e / 4) + 4 * (j % 8) + e % 4];
}

static float act_f32(const uint8_t *act, uint32_t nb, uint32_t at, uint32_t j)
{
    float f;
    memcpy(&f, act + (size_t)at * nb + 4 * j, 4);
    return f;
}

static float half(const uint8_t *p)
{
    return l4lm_fp16_to_f32((uint16_t)(p[0] | p[1] << 8));
}

int main(int argc, char **argv)
{
    void *lib = argc > 1 ? dlopen(argv[1], RTLD_NOW | RTLD_LOCAL) : NULL;
    if (!lib) {
        printf("FAIL ggml_quant: cannot load libggml-base: %s\n", argc > 1 ? dlerror() : "no path");
        return 0;
    }
    static const struct {
        const char *name;
        uint32_t type;
    } types[] = {{"q4_0", L4LM_TYPE_Q4_0},
                 {"q4_1", L4LM_TYPE_Q4_1},
                 {"q5_0", L4LM_TYPE_Q5_0},
                 {"q5_1", L4LM_TYPE_Q5_1},
                 {"q8_0", L4LM_TYPE_Q8_0}};
    static float x[N], mine_f[N], ggml_f[N];
    static uint8_t mine[N * 2], theirs[N * 2], act[N * 2];
    char sym[64], name[96];
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        snprintf(sym, sizeof sym, "quantize_row_%s_ref", types[t].name);
        quant_fn q = (quant_fn)dlsym(lib, sym);
        snprintf(sym, sizeof sym, "dequantize_row_%s", types[t].name);
        dequant_fn dq = (dequant_fn)dlsym(lib, sym);
        if (!q || !dq) {
            printf("FAIL ggml_quant_%s: libggml-base lacks %s\n", types[t].name, sym);
            fails++;
            continue;
        }
        uint64_t rb = mkgguf_row_bytes(types[t].type, N);
        int bytes_bad = 0, deq_bad = 0;
        for (int rep = 0; rep < 50; rep++) {
            make_row(x, rep);
            mkgguf_encode_row(types[t].type, x, N, mine);
            q(x, theirs, N);
            for (uint64_t i = 0; i < rb; i++)
                bytes_bad += mine[i] != theirs[i];
            l4lm_row_to_f32(types[t].type, theirs, mine_f, N);
            dq(theirs, ggml_f, N);
            for (int i = 0; i < N; i++)
                deq_bad += memcmp(mine_f + i, ggml_f + i, 4) != 0;
        }
        snprintf(name, sizeof name, "ggml_quant_%s_encoder", types[t].name);
        check(name, bytes_bad, "bytes");
        snprintf(name, sizeof name, "ggml_quant_%s_dequantize", types[t].name);
        check(name, deq_bad, "values");
    }

    /* Activations: Q8_0 for Q4_0/Q5_0/Q8_0 weights, Q8_1 for Q4_1/Q5_1. */
    quant_fn q8[2] = {(quant_fn)dlsym(lib, "quantize_row_q8_0_ref"),
                      (quant_fn)dlsym(lib, "quantize_row_q8_1_ref")};
    uint32_t wtype[2] = {L4LM_TYPE_Q5_0, L4LM_TYPE_Q4_1};
    for (int k = 0; k < 2; k++) {
        const char *what = k ? "ggml_quant_q8_1_activations" : "ggml_quant_q8_0_activations";
        int bad = 0;
        uint32_t nb = N / 32, bb = k ? 36 : 34; /* block_q8_1: fp16 d, fp16 s, qs */
        if (!q8[k]) {
            printf("FAIL %s: libggml-base lacks its quantize_row_q8_*_ref\n", what);
            fails++;
            continue;
        }
        for (int rep = 0; rep < 50; rep++) {
            make_row(x, rep);
            l4lm_act_prepare(l4lm_kern_pick(NULL, 0, NULL), wtype[k], x, N, act);
            q8[k](x, theirs, N);
            for (uint32_t j = 0; j < nb; j++) {
                const uint8_t *blk = theirs + bb * j;
                bad += act_f32(act, nb, 32, j) != half(blk);
                if (k)
                    bad +=
                        memcmp(&(float){act_f32(act, nb, 36, j)}, &(float){half(blk + 2)}, 4) != 0;
                for (uint32_t e = 0; e < 32; e++)
                    bad += act_quant(act, nb, j, e) != (int8_t)blk[bb - 32 + e];
            }
        }
        check(what, bad, "quants, scales or sums");
    }
    dlclose(lib);
    return 0;
}
