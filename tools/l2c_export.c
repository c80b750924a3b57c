/*
** l2c_export.c — rewrites a legacy llama2.c checkpoint (version 0) in the
** newer layouts of karpathy/llama2.c's export.py, so the tests can check
** that l4lm reads them without PyTorch:
**
**   l2c_export IN.bin OUT.bin 1        float32 ("version1_export")
**   l2c_export IN.bin OUT.bin 2 [GS]   int8 groups ("version2_export", runq.c)
**
** Both start with a 256-byte header: uint32 magic 0x616b3432 ("ak42"),
** int32 version, seven int32 (dim, hidden_dim, n_layers, n_heads,
** n_kv_heads, vocab_size — positive —, max_seq_len), uint8
** shared_classifier, and for version 2 an int32 group size right after it
** (byte 37, unaligned), then zeros up to 256.
** Version 1 then holds the float32 arrays rms_att (all layers), rms_ffn,
** rms_final, token_embedding, wq, wk, wv, wo, w1, w2, w3, [wcls].
** Version 2 holds rms_att, rms_ffn, rms_final in float32, then each of
** token_embedding, wq (per layer), wk, wv, wo, w1, w2, w3, [wcls] as its
** int8 values followed by one float32 scale per group of GS values:
** scale = max|w| / 127, q = round(w / scale) (halves to even, as torch).
** export.py halves GS (default 64) until it divides dim; so does this.
** The legacy file's freq_cis arrays are dropped, as export.py never writes them.
*/
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct tensor {
    const float *data;
    size_t n; /* floats */
} tensor;

/* A group of GS floats as int8 and a scale, written as export.py does. */
static void quantize(const float *w, size_t n, size_t gs, int8_t *q, float *s)
{
    for (size_t g = 0; g < n / gs; g++) {
        float max = 0.0f;
        for (size_t i = 0; i < gs; i++)
            max = fmaxf(max, fabsf(w[g * gs + i]));
        s[g] = max / 127.0f;
        for (size_t i = 0; i < gs; i++)
            q[g * gs + i] = s[g] > 0.0f ? (int8_t)nearbyintf(w[g * gs + i] / s[g]) : 0;
    }
}

static int write_q8(FILE *out, tensor t, size_t gs)
{
    int8_t *q = malloc(t.n);
    float *s = malloc(t.n / gs * sizeof *s);
    int ok = q && s;
    if (ok) {
        quantize(t.data, t.n, gs, q, s);
        ok = fwrite(q, 1, t.n, out) == t.n && fwrite(s, sizeof *s, t.n / gs, out) == t.n / gs;
    }
    free(q);
    free(s);
    return ok ? 0 : -1;
}

static int write_f32(FILE *out, tensor t)
{
    return fwrite(t.data, sizeof *t.data, t.n, out) == t.n ? 0 : -1;
}

static void *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    void *p = NULL;
    if (f && !fseek(f, 0, SEEK_END)) {
        long n = ftell(f);
        rewind(f);
        p = n > 0 ? malloc((size_t)n) : NULL;
        if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
            free(p);
            p = NULL;
        }
        *size = n > 0 ? (size_t)n : 0;
    }
    if (f)
        fclose(f);
    return p;
}

int main(int argc, char **argv)
{
    if (argc < 4 || (strcmp(argv[3], "1") && strcmp(argv[3], "2"))) {
        fprintf(stderr, "usage: l2c_export IN.bin OUT.bin 1|2 [GROUP_SIZE]\n");
        return 2;
    }
    int version = atoi(argv[3]);
    size_t gs = argc > 4 ? (size_t)atol(argv[4]) : 64, size;
    int32_t *h = read_file(argv[1], &size);
    if (!h || size < 28) {
        fprintf(stderr, "l2c_export: cannot read %s\n", argv[1]);
        return 1;
    }
    int32_t dim = h[0], hidden = h[1], n_layers = h[2], n_heads = h[3], n_kv = h[4];
    int32_t vocab = abs(h[5]), seq = h[6];
    uint8_t shared = h[5] > 0;
    size_t d = (size_t)dim, f = (size_t)hidden, L = (size_t)n_layers, V = (size_t)vocab;
    size_t kv = d / (size_t)n_heads * (size_t)n_kv, hs = d / (size_t)n_heads;
    /* the legacy order, with the sizes of each array (all layers) */
    size_t sizes[13] = {V * d, L * d,     L * d * d, L * kv * d, L * kv * d, L * d * d,
                        L * d, L * f * d, L * d * f, L * f * d,  d,          (size_t)seq * hs,
                        V * d};
    tensor t[13];
    const float *p = (const float *)(h + 7), *end = (const float *)((char *)h + size);
    for (int i = 0; i < 13; i++) {
        t[i] = (tensor){p, sizes[i]};
        p += i == 12 && shared ? 0 : sizes[i];
    }
    if (p > end || gs == 0) {
        fprintf(stderr, "l2c_export: %s is shorter than its header says\n", argv[1]);
        return 1;
    }
    while (d % gs) /* export.py's back-off */
        gs /= 2;
    enum { EMB, ATT, WQ, WK, WV, WO, FFN, W1, W2, W3, NORM, FREQ, CLS };
    FILE *out = fopen(argv[2], "wb");
    uint8_t header[256] = {0};
    uint32_t magic = 0x616b3432u;
    int32_t params[9] = {version, dim, hidden, n_layers, n_heads, n_kv, vocab, seq};
    memcpy(header, &magic, 4);
    memcpy(header + 4, params, 8 * 4);
    header[36] = shared;
    if (version == 2)
        memcpy(header + 37, &(int32_t){(int32_t)gs}, 4);
    int err = !out || fwrite(header, 1, sizeof header, out) != sizeof header;
    int order[] = {ATT, FFN, NORM, EMB, WQ, WK, WV, WO, W1, W2, W3, CLS};
    for (int i = 0; i < 12 && !err; i++) {
        int k = order[i];
        if (k == CLS && shared)
            break;
        if (version == 1 || i < 3) {
            err = write_f32(out, t[k]);
            continue;
        }
        /* runq.c reads the per-layer tensors one after another, each with its scales */
        size_t per = k == EMB || k == CLS ? t[k].n : t[k].n / L;
        for (size_t off = 0; off < t[k].n && !err; off += per)
            err = write_q8(out, (tensor){t[k].data + off, per}, gs);
    }
    if (out && fclose(out))
        err = 1;
    free(h);
    if (err) {
        fprintf(stderr, "l2c_export: cannot write %s\n", argv[2]);
        return 1;
    }
    if (version == 2)
        fprintf(stderr, "l2c_export: group size %zu\n", gs);
    return 0;
}
