/*
** mkseeds.c — writes seed corpora for the harnesses (the plain GGUF seeds
** come from tools/mkgguf, see tests/fuzz.sh):
**
**   mkseeds OUTDIR MODELDIR
**
** OUTDIR/gguf:      MODELDIR/tiny.gguf rewritten with its numbers in other
**                   value types (u64, i32, u16, i64, f64) and extra keys of
**                   other types, nested arrays among them: shapes random
**                   mutation rarely reaches; small hostile files and models
**                   with hostile and byte-level BPE vocabularies
**                   (mkseeds_gguf.h)
** OUTDIR/l2c:       tiny llama2.c checkpoints with tokenizer.bin files
**                   (synthetic, and with MODELDIR/tok512.bin if present)
** OUTDIR/tokenizer: texts and id streams for every vocabulary slot, and
**                   texts of the hostile vocabularies' pieces (mkseeds_tok.h)
** OUTDIR/serve:     scripts of a client submitting, polling, cancelling
** OUTDIR/cli:       command lines
** The same arguments give the same files.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct bytes {
    uint8_t *p;
    size_t n, cap;
} bytes;

static void put(bytes *b, const void *src, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            exit(1);
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void put32(bytes *b, uint32_t v)
{
    uint8_t le[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(b, le, 4);
}

static void putf(bytes *b, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    put32(b, u);
}

static void put8(bytes *b, uint32_t v)
{
    uint8_t c = (uint8_t)v;
    put(b, &c, 1);
}

static void put64(bytes *b, uint64_t v)
{
    put32(b, (uint32_t)v);
    put32(b, (uint32_t)(v >> 32));
}

/* The whole file appended to b; false if it cannot be read. */
static bool read_file(const char *dir, const char *name, bytes *b)
{
    char path[4096];
    uint8_t chunk[4096];
    size_t n;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        put(b, chunk, n);
    fclose(f);
    return true;
}

static void save(const char *dir, const char *sub, const char *name, const bytes *b)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/%s", dir, sub, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(b->p, 1, b->n, f) != b->n || fclose(f)) {
        fprintf(stderr, "mkseeds: cannot write %s\n", path);
        exit(1);
    }
}

static const char *seed_name(int k)
{
    static char name[16];
    snprintf(name, sizeof name, "seed-%02d", k);
    return name;
}

/* ---- llama2.c ---- */

/* A tokenizer.bin: <unk>, BOS, EOS, the 256 byte tokens, then merges. */
static void l2c_tokenizer(bytes *t, uint32_t n_vocab)
{
    static const char *const merges[] = {" a", "ab", " ab", "b", "a", " "};
    put32(t, 8);
    for (uint32_t i = 0; i < n_vocab; i++) {
        char piece[16];
        if (i < 3)
            snprintf(piece, sizeof piece, "%s", i == 0 ? "<unk>" : i == 1 ? "\n<s>\n" : "\n</s>\n");
        else if (i < 259)
            snprintf(piece, sizeof piece, "<0x%02X>", i - 3);
        else
            snprintf(piece, sizeof piece, "%s", merges[(i - 259) % 6]);
        putf(t, i < 259 ? 0.0f : -(float)(i - 259));
        put32(t, (uint32_t)strlen(piece));
        put(t, piece, strlen(piece));
    }
}

/* Header dims, n_vocab negative for an unshared classifier; weights of small values. */
static void l2c_checkpoint(bytes *c, const int32_t h[7])
{
    uint64_t d = (uint64_t)h[0], f = (uint64_t)h[1], L = (uint64_t)h[2];
    uint64_t kv = d * (uint64_t)h[4] / (uint64_t)h[3], v = (uint64_t)(h[5] < 0 ? -h[5] : h[5]);
    uint64_t n = v * d + L * (2 * d + 2 * d * d + 2 * kv * d + 3 * f * d) + d +
                 (uint64_t)h[6] * (d / (uint64_t)h[3]) + (h[5] < 0 ? v * d : 0);
    for (int i = 0; i < 7; i++)
        put32(c, (uint32_t)h[i]);
    for (uint64_t i = 0; i < n; i++)
        putf(c, (float)((i * 2654435761u) % 2001) / 1000.0f - 1.0f);
}

/* The same weights in export.py's version 1 (F32) or 2 (int8 groups of 8,
** scale 1/127): the "ak42" header, the norms first, no freq_cis. Tied only. */
static void l2c_checkpoint_v(bytes *c, const int32_t h[7], uint32_t version)
{
    uint64_t d = (uint64_t)h[0], f = (uint64_t)h[1], L = (uint64_t)h[2];
    uint64_t kv = d * (uint64_t)h[4] / (uint64_t)h[3], v = (uint64_t)h[5];
    uint64_t norms = (2 * L + 1) * d;
    uint64_t q[8] = {v * d,     L * d * d, L * kv * d, L * kv * d,
                     L * d * d, L * f * d, L * f * d,  L * f * d};
    uint8_t header[256] = {0};
    put32(c, 0x616b3432u);
    put32(c, version);
    for (int i = 0; i < 7; i++)
        put32(c, (uint32_t)h[i]);
    header[0] = 1; /* shared classifier, then the group size */
    header[1] = version == 2 ? 8 : 0;
    put(c, header, 256 - 36);
    for (uint64_t i = 0; i < norms; i++)
        putf(c, 1.0f);
    for (int t = 0; t < 8; t++) {
        uint64_t per = t ? q[t] / L : q[t];
        for (uint64_t k = 0; k < q[t] / per; k++) {
            for (uint64_t i = 0; i < per; i++) {
                int8_t x = (int8_t)((i * 2654435761u) % 255 - 127);
                if (version == 2)
                    put(c, &x, 1);
                else
                    putf(c, x / 127.0f);
            }
            for (uint64_t i = 0; version == 2 && i < per / 8; i++)
                putf(c, 1.0f / 127.0f);
        }
    }
}

static void l2c_seed(const char *dir, int k, const int32_t h[7], const bytes *tok)
{
    bytes c = {0}, s = {0};
    if (k >= 4) /* seeds 4 and 5: versions 1 and 2 */
        l2c_checkpoint_v(&c, h, (uint32_t)k - 3);
    else
        l2c_checkpoint(&c, h);
    put32(&s, (uint32_t)c.n);
    put(&s, c.p, c.n);
    put(&s, tok->p, tok->n);
    save(dir, "l2c", seed_name(k), &s);
    free(c.p);
    free(s.p);
}

static void l2c_seeds(const char *dir, const char *models)
{
    static const int32_t shapes[][7] = {
        {8, 16, 1, 2, 1, 262, 8}, {8, 8, 2, 2, 2, -262, 4}, {16, 24, 1, 4, 2, 262, 16}};
    bytes t = {0};
    l2c_tokenizer(&t, 262);
    for (int i = 0; i < 3; i++)
        l2c_seed(dir, i, shapes[i], &t);
    for (int i = 4; i < 6; i++)
        l2c_seed(dir, i, shapes[0], &t);
    bytes real = {0};
    if (read_file(models, "tok512.bin", &real)) { /* the real 512-token vocabulary */
        static const int32_t h[7] = {8, 16, 1, 2, 1, 512, 8};
        l2c_seed(dir, 3, h, &real);
    }
    free(real.p);
    free(t.p);
}

/* ---- GGUF: the same model with its values in other types ---- */

static void put_key(bytes *b, const char *key, uint32_t type)
{
    put64(b, strlen(key));
    put(b, key, strlen(key));
    put32(b, type);
}

/* A u32 value as variant v spells it: u64, i32, u16 (if it fits) or i64. */
static void put_u32_as(bytes *b, const l4lm_gguf_kv *kv, uint32_t x, int v)
{
    static const uint32_t types[4] = {L4LM_GGUF_U64, L4LM_GGUF_I32, L4LM_GGUF_U16, L4LM_GGUF_I64};
    uint32_t t = v == 2 && x > 0xffff ? L4LM_GGUF_U32 : types[v];
    put64(b, kv->key_len);
    put(b, kv->key, kv->key_len);
    put32(b, t);
    if (t == L4LM_GGUF_U64 || t == L4LM_GGUF_I64)
        put64(b, x);
    else if (t == L4LM_GGUF_U16) {
        put8(b, x);
        put8(b, x >> 8);
    } else
        put32(b, x);
}

/* Keys of other types, an array of arrays of strings among them. */
static void extra_keys(bytes *b)
{
    put_key(b, "fuzz.i8", L4LM_GGUF_I8);
    put8(b, 0x80);
    put_key(b, "fuzz.i16", L4LM_GGUF_I16);
    put(b, "\xff\xff", 2);
    put_key(b, "fuzz.bool", L4LM_GGUF_BOOL);
    put8(b, 1);
    put_key(b, "fuzz.nested", L4LM_GGUF_ARRAY);
    put32(b, L4LM_GGUF_ARRAY);
    put64(b, 2);
    for (int i = 0; i < 2; i++) {
        put32(b, L4LM_GGUF_STRING);
        put64(b, 2);
        put64(b, 1);
        put(b, "x", 1);
        put64(b, 0);
    }
}
#define N_EXTRA_KEYS 4

/* tiny.gguf with its u32 (but the alignment) and f32 values retyped; tensor infos and
** data as they were. */
static void gguf_seed(const char *dir, int v, const bytes *src)
{
    l4lm_gguf g;
    l4lm_gguf_kv kv;
    l4lm_tensor t;
    bytes b = {0};
    size_t need = 0;
    l4lm_gguf_index_size(src->p, src->n, &need);
    void *index = malloc(need ? need : 1);
    if (!index || l4lm_gguf_open(&g, src->p, src->n, index, need, NULL)) {
        free(index);
        return;
    }
    put(&b, "GGUF", 4);
    put32(&b, 3);
    put64(&b, g.n_tensors);
    put64(&b, g.n_kv + N_EXTRA_KEYS);
    for (uint64_t i = 0; i < g.n_kv && !l4lm_gguf_kv_at(&g, i, &kv); i++) {
        if (kv.type == L4LM_GGUF_U32 && !l4lm_streq(kv.key, kv.key_len, "general.alignment")) {
            put_u32_as(&b, &kv, l4lm_rd32(kv.val), v);
        } else if (kv.type == L4LM_GGUF_F32) {
            double d = l4lm_rdf32(kv.val);
            uint64_t u;
            memcpy(&u, &d, 8);
            put64(&b, kv.key_len);
            put(&b, kv.key, kv.key_len);
            put32(&b, L4LM_GGUF_F64);
            put64(&b, u);
        } else {
            put64(&b, kv.key_len);
            put(&b, kv.key, kv.key_len);
            put32(&b, kv.type);
            put(&b, kv.val, kv.val_size);
        }
    }
    extra_keys(&b);
    uint64_t ti_end = g.ti_off; /* each info: name, n_dims, dims, type, offset */
    for (uint64_t i = 0; i < g.n_tensors && !l4lm_gguf_tensor_at(&g, i, &t); i++)
        ti_end += 8 + t.name_len + 4 + 8 * (uint64_t)t.n_dims + 4 + 8;
    put(&b, src->p + g.ti_off, ti_end - g.ti_off);
    while (b.n % 32)
        put8(&b, 0);
    put(&b, src->p + g.data_off, src->n - g.data_off);
    char name[32];
    snprintf(name, sizeof name, "retyped-%d", v);
    save(dir, "gguf", name, &b);
    free(b.p);
    free(index);
}

static void gguf_seeds(const char *dir, const char *models)
{
    bytes src = {0};
    if (read_file(models, "tiny.gguf", &src))
        for (int v = 0; v < 4; v++)
            gguf_seed(dir, v, &src);
    free(src.p);
}

/* ---- tokenizer: byte 0 picks vocabulary, BOS and decode cap ---- */

static void tokenizer_seeds(const char *dir)
{
    static const char *const texts[] = {
        "Once upon a time, there was a little girl named Lily.",
        "  leading spaces and\ttabs\nand new lines  ",
        "d\xc3\xa9j\xc3\xa0 vu \xe2\x82\xac \xf0\x9f\x98\x80 \xe4\xb8\xad\xe6\x96\x87",
        "bad \xff\xfe bytes \xc3 cut \xed\xa0\x80 surrogate \xe0\x80\x80 overlong",
        "<s> </s> <unk> <0x41> \xe2\x96\x81 literal specials",
        "1234567890 !@#$%^&*() aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    };
    int k = 0;
    for (uint32_t sel = 0; sel < 4; sel++)
        for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
            bytes b = {0};
            put8(&b, sel | (i % 2 ? 0x10 : 0) | (i % 3 == 0 ? 0x20 : 0) | (uint32_t)(i % 4) << 6);
            put(&b, texts[i], strlen(texts[i]));
            save(dir, "tokenizer", seed_name(k++), &b);
            free(b.p);
        }
}

#include "mkseeds_tok.h"
#include "mkseeds_gguf.h"

/* ---- serve: [mode] then moves (see fuzz_serve.c) ---- */

enum { POKE, WORD, SUBMIT, RAW, POLL, DRAIN, CANCEL, REATTACH };

static void submit(bytes *b, uint32_t client, const char *prompt, uint32_t max_tokens,
                   uint32_t flags, uint32_t n_stop)
{
    put8(b, SUBMIT | client << 4);
    put8(b, (uint32_t)strlen(prompt));
    put(b, prompt, strlen(prompt));
    put8(b, max_tokens);
    put8(b, flags);
    if (client == 0)
        put8(b, 0);           /* no raw floats (client 1, the honest one, reads no such byte) */
    put8(b, 24);              /* temperature 0.75 */
    put8(b, 5);               /* top_k */
    put8(b, 230);             /* top_p */
    put8(b, 10);              /* min_p */
    put8(b, 6);               /* repeat penalty */
    put8(b, 9);               /* repeat_last_n 8 */
    put32(b, 7 + max_tokens); /* seed */
    put8(b, n_stop);
    for (uint32_t i = 0; i < n_stop; i++) {
        put8(b, 0); /* one byte */
        put8(b, 'e');
    }
}

static void polls(bytes *b, int n)
{
    for (int i = 0; i < n; i++) {
        put8(b, POLL);
        put8(b, 3);
        put8(b, DRAIN);
        put8(b, DRAIN | 1 << 4);
    }
}

static void serve_seeds(const char *dir)
{
    int k = 0;
    for (uint32_t mode = 0; mode < 2; mode++) {
        bytes b = {0};
        put8(&b, mode);
        submit(&b, 0, "Once upon a time", 10, 0, 0);
        submit(&b, 1, "The dog", 6, 2, 1);
        polls(&b, 6);
        save(dir, "serve", seed_name(k++), &b);
        b.n = 0;
        put8(&b, mode | 4);
        submit(&b, 0, "Lily", 11, 1, 0);
        polls(&b, 1);
        put8(&b, CANCEL);
        put8(&b, 1);
        polls(&b, 2);
        put8(&b, RAW); /* a raw slot: a 60-byte body at 128, its own kind/off/len */
        put8(&b, 60);
        put8(&b, 128);
        put8(&b, 0);
        put32(&b, 5);   /* max_tokens */
        put32(&b, 0);   /* flags */
        putf(&b, 0.0f); /* greedy */
        put32(&b, 0);   /* top_k */
        putf(&b, 1.0f); /* top_p */
        putf(&b, 0.0f); /* min_p */
        putf(&b, 1.0f); /* repeat penalty */
        put32(&b, 0);   /* repeat_last_n */
        put32(&b, 0);   /* seed */
        put32(&b, 0);
        put32(&b, 12); /* prompt_len */
        put32(&b, 0);  /* n_stop */
        put(&b, "hello world!", 12);
        put8(&b, 0); /* kind, off and len as written */
        put8(&b, 9); /* id */
        polls(&b, 2);
        put8(&b, WORD); /* scribble the request ring's tail */
        put8(&b, 16);
        put8(&b, 1);
        put32(&b, 0xffffffffu);
        polls(&b, 1);
        put8(&b, REATTACH);
        submit(&b, 0, "again", 3, 0, 0);
        polls(&b, 3);
        save(dir, "serve", seed_name(k++), &b);
        free(b.p);
    }
}

/* ---- cli: argv after "run", NUL-separated ---- */

static void cli_seeds(const char *dir)
{
    static const char *const lines[] = {
        "-m|m.gguf|-p|Once upon a time|-n|200|--temp|0",
        "-m|m.bin|-z|tok.bin|--ctx|512|--seed|42|--top-k|40|--top-p|0.9|--min-p|0.05",
        "-m|x|--repeat-penalty|1.1|--repeat-last-n|64|--kv|f32|--threads|2|--no-bos",
        "-m|x|--ids|1,2,3|--pieces|--ignore-eos|-f|prompt.txt",
        "--seed|18000000000000000000|-m|x|--temp|1e-3|-n|0",
        "-m|x|--ctx|0x10|--top-p|nan|--kv|q8",
    };
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
        bytes b = {0};
        put(&b, lines[i], strlen(lines[i]));
        for (size_t j = 0; j < b.n; j++)
            if (b.p[j] == '|')
                b.p[j] = 0;
        save(dir, "cli", seed_name((int)i), &b);
        free(b.p);
    }
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: mkseeds OUTDIR MODELDIR\n");
        return 2;
    }
    gguf_seeds(argv[1], argv[2]);
    hostile_gguf_seeds(argv[1]);
    l2c_seeds(argv[1], argv[2]);
    tokenizer_seeds(argv[1]);
    hostile_tokenizer_seeds(argv[1]);
    serve_seeds(argv[1]);
    cli_seeds(argv[1]);
    return 0;
}
