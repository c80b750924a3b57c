/*
** mkgguf/main.c — writes a llama-architecture GGUF v3 model with seeded random
** weights, for cross-checks against llama.cpp and for benchmarks at real
** shapes (speed does not depend on weight values).
**
**   mkgguf -o FILE --type f32|f16|bf16|q8_0|q4_0|q4_1|q5_0|q5_1
**          |q2_k|q3_k|q4_k|q5_k|q6_k|q5_k_m|q4_k_m|q3_k_m
**          | --ftype q4_0|q8_0|q6_k|q5_k_m|q4_k_m|q3_k_m|q2_k
**          --n-embd N --n-ff N
**          --n-layer N --n-head N [--n-head-kv N] --n-vocab N --ctx N
**          [--seed S] [--untied] [--rope-base B] [--eps E]
**          [--arch llama|qwen2|qwen3|phi3|exaone|gemma|gemma2|gemma3]
**          [--head-dim N] [--rope-freqs]
**          [--rope-scale F] [--vocab-from MODEL.gguf] [--chat-template FILE]
**          [--swa N] [--swa-pattern P] [--softcap-attn C] [--softcap-final C]
**
** --type gives every weight matrix that type (the *_k_m names: llama.cpp's
** mix of that name); --ftype the types llama-quantize chooses for its file
** type of that name, tensor by tensor (mix.c: its Q4_0 has a Q6_K
** classifier, its Q2_K Q3_K/Q4_K attn_v, ffn_down and attn_output, ...).
**
** Each --arch writes llama.cpp's tensor layout for it: qwen2 adds Q/K/V
** biases; qwen3 per-head q/k norms (attn_q_norm, attn_k_norm); phi3 fuses
** Q, K, V into attn_qkv and gate and up into ffn_up (gate rows first);
** exaone has llama's tensors (its graph is llama's with NeoX RoPE).
** --head-dim sets attention.key_length apart from n_embd / n_head;
** --rope-freqs adds Llama 3's rope_freqs.weight (random divisors in [1, 8));
** --rope-scale writes linear RoPE scaling by that factor.
** gemma (--arch gemma|gemma2|gemma3) ties the classifier; gemma2/3 add the
** post_attention_norm and post_ffw_norm of each layer, gemma3 the q/k norms.
** --swa writes attention.sliding_window (gemma2 always writes it: 4096 by
** default, as do its soft-caps: --softcap-attn 50, --softcap-final 30);
** --swa-pattern attention.sliding_window_pattern; gemma3 writes a final
** soft-cap only when --softcap-final is given.
**
** The vocabulary is a synthetic SentencePiece-shaped one (<unk> <s> </s>, the
** 256 byte tokens, then made-up pieces), or with --vocab-from every
** tokenizer.* key of another GGUF copied verbatim (n_vocab then follows it).
** --chat-template writes FILE's text as tokenizer.chat_template (in place of
** a copied one).
**
** The file is streamed: header, metadata and tensor infos first (every data
** offset follows from the shapes), then each tensor row by row, so a
** multi-gigabyte model never sits in memory. The same options and seed give
** the same bytes. Quantised rows are bit-for-bit what ggml's reference
** quantisers make of the same floats.
*/
#include "internal.h"
#include "posix.h"
#include "quant.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALIGNMENT     32
#define N_BYTE_TOKENS 256
#define FIRST_PIECE   (3 + N_BYTE_TOKENS) /* <unk> <s> </s>, then <0x00>..<0xFF> */
#define MAX_TENSORS   (4 + 12 * L4LM_MAX_LAYERS)

typedef struct opts {
    const char *out, *arch, *vocab_from;
    const char *chat_template; /* a file of Jinja text, or NULL */
    uint32_t type;             /* l4lm_type */
    uint32_t n_embd, n_ff, n_layer, n_head, n_head_kv, n_vocab, ctx;
    uint32_t head_dim; /* 0: n_embd / n_head, and no attention.key_length key */
    uint64_t seed;
    bool untied, rope_freqs;
    const mkgguf_mix *mix;             /* llama-quantize's per-tensor types, or NULL */
    float rope_base, eps, rope_scale;  /* rope_scale 0: no scaling keys */
    uint32_t swa, swa_pattern;         /* gemma2/3; 0: not written (gemma2: 4096) */
    float softcap_attn, softcap_final; /* gemma2/3; 0: not written (gemma2: 50, 30) */
} opts;

/* One tensor: ne0 is the row length (the input dimension), ne1 the rows. */
typedef struct tensor {
    char name[48];
    uint64_t ne0, ne1;
    uint32_t type;
    bool is_norm;
} tensor;

/* ---- growable byte buffer for the header; all integers little-endian ---- */

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
    uint64_t n_kv; /* key/value pairs written so far */
} buf;

static void die(const char *fmt, const char *arg)
{
    fprintf(stderr, "mkgguf: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    exit(1);
}

static void put(buf *b, const void *src, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            die("%s", "out of memory");
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void put_le(buf *b, uint64_t v, int nbytes)
{
    uint8_t le[8];
    for (int i = 0; i < nbytes; i++)
        le[i] = (uint8_t)(v >> (8 * i));
    put(b, le, (size_t)nbytes);
}

static void put_f32(buf *b, float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    put_le(b, u, 4);
}

static void put_str(buf *b, const char *s, size_t n)
{
    put_le(b, n, 8);
    put(b, s, n);
}

static void kv_head(buf *b, const char *key, enum l4lm_gguf_vtype t)
{
    put_str(b, key, strlen(key));
    put_le(b, t, 4);
    b->n_kv++;
}

static void kv_u32(buf *b, const char *key, uint32_t v)
{
    kv_head(b, key, L4LM_GGUF_U32);
    put_le(b, v, 4);
}

static void kv_f32(buf *b, const char *key, float v)
{
    kv_head(b, key, L4LM_GGUF_F32);
    put_f32(b, v);
}

static void kv_str(buf *b, const char *key, const char *s)
{
    kv_head(b, key, L4LM_GGUF_STRING);
    put_str(b, s, strlen(s));
}

static void kv_array(buf *b, const char *key, enum l4lm_gguf_vtype elem, uint64_t n)
{
    kv_head(b, key, L4LM_GGUF_ARRAY);
    put_le(b, elem, 4);
    put_le(b, n, 8);
}

/* ---- seeded random numbers (splitmix64): reproducible on every host ---- */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [-a, a), from 24 random bits (exact in a float). */
static float rng_uniform(uint64_t *s, float a)
{
    float u = (float)(rng_next(s) >> 40) * (1.0f / 16777216.0f);
    return (2.0f * u - 1.0f) * a;
}

/* ---- the vocabulary: a small SentencePiece-shaped one ---- */

/* Piece k >= FIRST_PIECE: alternately "▁w" and "w" for the words a..z, aa.. */
static void piece_name(uint32_t k, char *out)
{
    uint32_t i = k - FIRST_PIECE, w = i / 2 + 1;
    char word[16];
    int n = 0;
    while (w > 0) { /* bijective base 26: 1 -> a, 26 -> z, 27 -> aa */
        w--;
        word[n++] = (char)('a' + w % 26);
        w /= 26;
    }
    char *p = out;
    if (i % 2 == 0) {
        memcpy(p, "\xe2\x96\x81", 3); /* U+2581, SentencePiece's space */
        p += 3;
    }
    while (n > 0)
        *p++ = word[--n];
    *p = 0;
}

static void put_vocab(buf *b, uint32_t n_vocab)
{
    char piece[32];
    kv_str(b, "tokenizer.ggml.model", "llama");
    kv_array(b, "tokenizer.ggml.tokens", L4LM_GGUF_STRING, n_vocab);
    for (uint32_t k = 0; k < n_vocab; k++) {
        if (k < 3)
            strcpy(piece, k == 0 ? "<unk>" : k == 1 ? "<s>" : "</s>");
        else if (k < FIRST_PIECE)
            snprintf(piece, sizeof piece, "<0x%02X>", k - 3);
        else
            piece_name(k, piece);
        put_str(b, piece, strlen(piece));
    }
    /* Scores: higher merges first, as a SentencePiece BPE vocabulary ranks them. */
    kv_array(b, "tokenizer.ggml.scores", L4LM_GGUF_F32, n_vocab);
    for (uint32_t k = 0; k < n_vocab; k++)
        put_f32(b, k < FIRST_PIECE ? 0.0f : -(float)(k - FIRST_PIECE));
    /* Token types as llama.cpp numbers them: 1 normal, 2 unknown, 3 control, 6 byte. */
    kv_array(b, "tokenizer.ggml.token_type", L4LM_GGUF_I32, n_vocab);
    for (uint32_t k = 0; k < n_vocab; k++)
        put_le(b, k == 0 ? 2 : k < 3 ? 3 : k < FIRST_PIECE ? 6 : 1, 4);
    kv_u32(b, "tokenizer.ggml.unknown_token_id", 0);
    kv_u32(b, "tokenizer.ggml.bos_token_id", 1);
    kv_u32(b, "tokenizer.ggml.eos_token_id", 2);
    kv_head(b, "tokenizer.ggml.add_bos_token", L4LM_GGUF_BOOL);
    put_le(b, 1, 1);
}

/* Copies every tokenizer.* key/value of the GGUF at path (but its chat
** template when skip_template); returns its n_vocab. */
static uint32_t put_vocab_from(buf *b, const char *path, bool skip_template)
{
    char why[256];
    size_t size;
    const void *p = l4lm_posix_map(path, &size, why, sizeof why);
    if (!p)
        die("%s", why);
    l4lm_gguf g;
    l4lm_error err;
    l4lm_gguf_kv kv;
    uint64_t n_vocab = 0;
    size_t need = 0; /* the name index lives until exit */
    l4lm_gguf_index_size(p, size, &need);
    void *index = malloc(need ? need : 1);
    if (!index || l4lm_gguf_open(&g, p, size, index, need, &err) != L4LM_OK)
        die("--vocab-from: %s", err.what);
    for (uint64_t i = 0; i < g.n_kv; i++) {
        if (l4lm_gguf_kv_at(&g, i, &kv) != L4LM_OK)
            die("--vocab-from: bad key/value in %s", path);
        if (kv.key_len < 10 || memcmp(kv.key, "tokenizer.", 10) != 0 ||
            (skip_template && l4lm_streq(kv.key, kv.key_len, "tokenizer.chat_template")))
            continue;
        put_str(b, kv.key, kv.key_len);
        put_le(b, kv.type, 4);
        put(b, kv.val, kv.val_size);
        b->n_kv++;
        if (l4lm_streq(kv.key, kv.key_len, "tokenizer.ggml.tokens"))
            n_vocab = kv.arr_n;
    }
    l4lm_posix_unmap(p, size);
    if (n_vocab == 0 || n_vocab > L4LM_MAX_VOCAB)
        die("--vocab-from: %s has no usable tokenizer.ggml.tokens", path);
    return (uint32_t)n_vocab;
}

/* tokenizer.chat_template: the text of the file at path, as it is. */
static void put_chat_template(buf *b, const char *path)
{
    char why[256];
    size_t size;
    const void *p = l4lm_posix_map(path, &size, why, sizeof why);
    if (!p)
        die("--chat-template: %s", why);
    kv_head(b, "tokenizer.chat_template", L4LM_GGUF_STRING);
    put_str(b, p, size);
    l4lm_posix_unmap(p, size);
}

/* ---- the model layout ---- */

static void add(tensor *t, uint32_t *n, const char *name, uint64_t ne0, uint64_t ne1, uint32_t type)
{
    tensor *x = &t[(*n)++];
    snprintf(x->name, sizeof x->name, "%s", name);
    x->ne0 = ne0;
    x->ne1 = ne1;
    x->is_norm = ne1 == 1;
    x->type = x->is_norm ? L4LM_TYPE_F32 : type; /* norms stay F32, as in llama.cpp */
}

static uint32_t head_dim(const opts *o)
{
    return o->head_dim ? o->head_dim : o->n_embd / o->n_head;
}

/* "blk.<l>.<suffix>" */
static void add_blk(tensor *t, uint32_t *n, uint32_t l, const char *suffix, uint64_t ne0,
                    uint64_t ne1, uint32_t type)
{
    char name[48];
    snprintf(name, sizeof name, "blk.%u.%s", l, suffix);
    add(t, n, name, ne0, ne1, type);
}

/* llama.cpp's tensors for the architecture, {ne0, ne1} each, in the order of
** its converter (the order only fixes the file bytes). */
static uint32_t layout(const opts *o, tensor *t)
{
    uint64_t e = o->n_embd, d = head_dim(o), ff = o->n_ff, q = d * o->n_head;
    uint64_t kv = d * o->n_head_kv;
    uint32_t n = 0, ty = o->type;
    bool qwen2 = !strcmp(o->arch, "qwen2"), qwen3 = !strcmp(o->arch, "qwen3");
    bool phi3 = !strcmp(o->arch, "phi3"), gemma3 = !strcmp(o->arch, "gemma3");
    bool post_norms = gemma3 || !strcmp(o->arch, "gemma2");
    add(t, &n, "token_embd.weight", e, o->n_vocab, ty);
    if (o->rope_freqs)
        add(t, &n, "rope_freqs.weight", d / 2, 1, ty);
    for (uint32_t l = 0; l < o->n_layer; l++) {
        add_blk(t, &n, l, "attn_norm.weight", e, 1, ty);
        if (phi3) {
            add_blk(t, &n, l, "attn_qkv.weight", e, q + 2 * kv, ty);
        } else {
            add_blk(t, &n, l, "attn_q.weight", e, q, ty);
            add_blk(t, &n, l, "attn_k.weight", e, kv, ty);
            add_blk(t, &n, l, "attn_v.weight", e, kv, ty);
        }
        add_blk(t, &n, l, "attn_output.weight", q, e, ty);
        add_blk(t, &n, l, "ffn_norm.weight", e, 1, ty);
        if (!phi3)
            add_blk(t, &n, l, "ffn_gate.weight", e, ff, ty);
        add_blk(t, &n, l, "ffn_up.weight", e, phi3 ? 2 * ff : ff, ty);
        add_blk(t, &n, l, "ffn_down.weight", ff, e, ty);
        if (qwen2) {
            add_blk(t, &n, l, "attn_q.bias", q, 1, ty);
            add_blk(t, &n, l, "attn_k.bias", kv, 1, ty);
            add_blk(t, &n, l, "attn_v.bias", kv, 1, ty);
        }
        if (qwen3 || gemma3) {
            add_blk(t, &n, l, "attn_q_norm.weight", d, 1, ty);
            add_blk(t, &n, l, "attn_k_norm.weight", d, 1, ty);
        }
        if (post_norms) {
            add_blk(t, &n, l, "post_attention_norm.weight", e, 1, ty);
            add_blk(t, &n, l, "post_ffw_norm.weight", e, 1, ty);
        }
    }
    add(t, &n, "output_norm.weight", e, 1, ty);
    if (o->untied)
        add(t, &n, "output.weight", e, o->n_vocab, ty);
    return n;
}

/* general.file_type: llama.cpp's LLAMA_FTYPE for an all-of-this-type model. */
static uint32_t file_type(uint32_t type)
{
    switch (type) {
    case L4LM_TYPE_F32:
        return 0;
    case L4LM_TYPE_F16:
        return 1;
    case L4LM_TYPE_Q4_0:
        return 2;
    case L4LM_TYPE_Q4_1:
        return 3;
    case L4LM_TYPE_Q8_0:
        return 7;
    case L4LM_TYPE_Q5_0:
        return 8;
    case L4LM_TYPE_Q5_1:
        return 9;
    case L4LM_TYPE_Q2_K:
        return 10;
    case L4LM_TYPE_Q3_K:
        return 11; /* the _S variants: all tensors of the type */
    case L4LM_TYPE_Q4_K:
        return 14;
    case L4LM_TYPE_Q5_K:
        return 16;
    case L4LM_TYPE_Q6_K:
        return 18;
    default:
        return 32; /* BF16 */
    }
}

/* gemma2's window and soft-caps (always, as its converter writes them);
** gemma3's only when asked for. */
static void put_gemma_keys(buf *b, const opts *o)
{
    char key[64];
    bool g2 = !strcmp(o->arch, "gemma2");
    if (!g2 && strcmp(o->arch, "gemma3"))
        return;
#define KEY(suffix) (snprintf(key, sizeof key, "%s." suffix, o->arch), key)
    float attn = o->softcap_attn > 0.0f ? o->softcap_attn : 50.0f;
    float final = o->softcap_final > 0.0f ? o->softcap_final : 30.0f;
    if (g2 || o->softcap_attn > 0.0f)
        kv_f32(b, KEY("attn_logit_softcapping"), attn);
    if (g2 || o->softcap_final > 0.0f)
        kv_f32(b, KEY("final_logit_softcapping"), final);
    if (g2 || o->swa)
        kv_u32(b, KEY("attention.sliding_window"), o->swa ? o->swa : 4096);
    if (o->swa_pattern)
        kv_u32(b, KEY("attention.sliding_window_pattern"), o->swa_pattern);
#undef KEY
}

/* Header and metadata; vocab holds the tokenizer key/values already encoded. */
static void put_metadata(buf *b, const opts *o, uint32_t n_tensors, const buf *vocab)
{
    char key[64];
    const char *a = o->arch;
    put(b, "GGUF", 4);
    put_le(b, 3, 4);
    put_le(b, n_tensors, 8);
    put_le(b, 0, 8); /* key/value count, patched below once all are written */
    kv_str(b, "general.architecture", a);
    kv_str(b, "general.name", "l4lm random weights");
    kv_u32(b, "general.alignment", ALIGNMENT);
    kv_u32(b, "general.file_type", o->mix ? mkgguf_mix_file_type(o->mix) : file_type(o->type));
#define KEY(suffix) (snprintf(key, sizeof key, "%s." suffix, a), key)
    kv_u32(b, KEY("vocab_size"), o->n_vocab);
    kv_u32(b, KEY("context_length"), o->ctx);
    kv_u32(b, KEY("embedding_length"), o->n_embd);
    kv_u32(b, KEY("feed_forward_length"), o->n_ff);
    kv_u32(b, KEY("block_count"), o->n_layer);
    kv_u32(b, KEY("attention.head_count"), o->n_head);
    kv_u32(b, KEY("attention.head_count_kv"), o->n_head_kv);
    kv_f32(b, KEY("rope.freq_base"), o->rope_base);
    kv_f32(b, KEY("attention.layer_norm_rms_epsilon"), o->eps);
    kv_u32(b, KEY("rope.dimension_count"), head_dim(o));
    if (o->head_dim) {
        kv_u32(b, KEY("attention.key_length"), o->head_dim);
        kv_u32(b, KEY("attention.value_length"), o->head_dim);
    }
    if (o->rope_scale > 0.0f) {
        kv_str(b, KEY("rope.scaling.type"), "linear");
        kv_f32(b, KEY("rope.scaling.factor"), o->rope_scale);
    }
    put_gemma_keys(b, o);
#undef KEY
    put(b, vocab->p, vocab->n);
    b->n_kv += vocab->n_kv;
    for (int i = 0; i < 8; i++) /* the count follows magic, version and n_tensors */
        b->p[16 + i] = (uint8_t)(b->n_kv >> (8 * i));
}

/* Tensor infos: each data offset is the previous end, aligned. */
static void put_tensor_infos(buf *b, const tensor *t, uint32_t n)
{
    uint64_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
        put_str(b, t[i].name, strlen(t[i].name));
        put_le(b, t[i].is_norm ? 1 : 2, 4);
        put_le(b, t[i].ne0, 8);
        if (!t[i].is_norm)
            put_le(b, t[i].ne1, 8);
        put_le(b, t[i].type, 4);
        put_le(b, off, 8);
        off = l4lm_align_up(off + mkgguf_row_bytes(t[i].type, t[i].ne0) * t[i].ne1, ALIGNMENT);
    }
}

static void write_or_die(FILE *f, const void *p, size_t n, const char *path)
{
    if (n > 0 && fwrite(p, 1, n, f) != n) {
        remove(path);
        die("cannot write %s", path);
    }
}

/*
** Weights are uniform with standard deviation gain/sqrt(row length), so a
** matrix-vector product of a unit-RMS input has outputs of RMS ~gain.
**  - embedding/classifier gain 4: logits spread with std ~4, so greedy
**    choices and top-5 orders are rarely decided by rounding noise;
**  - attn_output/ffn_down gain 2: the residual branches outweigh the token's
**    own embedding, which a tied classifier would otherwise echo back as the
**    next token over and over;
**  - everything else gain 1. Norm weights are uniform in [0.8, 1.2).
*/
static float weight_gain(const char *name)
{
    if (!strcmp(name, "token_embd.weight") || !strcmp(name, "output.weight"))
        return 4.0f;
    if (strstr(name, ".attn_output.") || strstr(name, ".ffn_down."))
        return 2.0f;
    return 1.0f;
}

static void write_tensor(FILE *f, const tensor *t, uint64_t *rng, float *row, uint8_t *enc,
                         const char *path)
{
    float a = sqrtf(3.0f) * weight_gain(t->name) / sqrtf((float)t->ne0);
    for (uint64_t r = 0; r < t->ne1; r++) {
        for (uint64_t i = 0; i < t->ne0; i++)
            row[i] = !t->is_norm                      ? rng_uniform(rng, a)
                     : strstr(t->name, ".bias")       ? rng_uniform(rng, 0.5f)
                     : strstr(t->name, "rope_freqs.") ? 4.5f + rng_uniform(rng, 3.5f)
                                                      : 1.0f + rng_uniform(rng, 0.2f);
        mkgguf_encode_row(t->type, row, t->ne0, enc);
        write_or_die(f, enc, mkgguf_row_bytes(t->type, t->ne0), path);
    }
}

/* ---- command line ---- */

static void usage(const char *why)
{
    fprintf(stderr,
            "mkgguf: %s\n"
            "usage: mkgguf -o FILE --type f32|f16|bf16|q8_0|q4_0|q4_1|q5_0|q5_1\n"
            "              |q2_k|q3_k|q4_k|q5_k|q6_k|q5_k_m|q4_k_m|q3_k_m\n"
            "              | --ftype q4_0|q8_0|q6_k|q5_k_m|q4_k_m|q3_k_m|q2_k\n"
            "              --n-embd N --n-ff N\n"
            "              --n-layer N --n-head N [--n-head-kv N] --n-vocab N --ctx N\n"
            "              [--seed S] [--untied] [--rope-base B] [--eps E]\n"
            "              [--arch llama|qwen2|qwen3|phi3|exaone|gemma|gemma2|gemma3]\n"
            "              [--head-dim N] [--rope-freqs]\n"
            "              [--rope-scale F] [--vocab-from MODEL.gguf] [--chat-template FILE]\n"
            "              [--swa N] [--swa-pattern P] [--softcap-attn C] [--softcap-final C]\n",
            why);
    exit(2);
}

static uint64_t parse_uint(const char *s, uint64_t max)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s || *end || s[0] == '-' || v > max) {
        fprintf(stderr, "mkgguf: bad number '%s'\n", s);
        usage("invalid argument");
    }
    return v;
}

static float parse_float(const char *s)
{
    char *end;
    float v = strtof(s, &end);
    if (end == s || *end || !(v > 0.0f) || !isfinite(v)) {
        fprintf(stderr, "mkgguf: bad value '%s'\n", s);
        usage("invalid argument");
    }
    return v;
}

/* --type: a type for every weight matrix, or a *_k_m mix. */
static void parse_type(const char *s, opts *o)
{
    static const struct {
        const char *name;
        uint32_t type;
    } names[] = {{"f32", L4LM_TYPE_F32},   {"f16", L4LM_TYPE_F16},   {"bf16", L4LM_TYPE_BF16},
                 {"q8_0", L4LM_TYPE_Q8_0}, {"q4_0", L4LM_TYPE_Q4_0}, {"q4_1", L4LM_TYPE_Q4_1},
                 {"q5_0", L4LM_TYPE_Q5_0}, {"q5_1", L4LM_TYPE_Q5_1}, {"q2_k", L4LM_TYPE_Q2_K},
                 {"q3_k", L4LM_TYPE_Q3_K}, {"q4_k", L4LM_TYPE_Q4_K}, {"q5_k", L4LM_TYPE_Q5_K},
                 {"q6_k", L4LM_TYPE_Q6_K}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i].name) == 0) {
            o->type = names[i].type, o->mix = NULL;
            return;
        }
    if (!(o->mix = mkgguf_mix_find(s))) /* the names above are whole-file types */
        usage("--type must be f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_k, q3_k, q4_k, "
              "q5_k, q6_k, q5_k_m, q4_k_m or q3_k_m");
    o->type = mkgguf_mix_base(o->mix);
}

/* --ftype: llama-quantize's types for its file type of that name. */
static void parse_ftype(const char *s, opts *o)
{
    if (!(o->mix = mkgguf_mix_find(s)))
        usage("--ftype must be q4_0, q8_0, q6_k, q5_k_m, q4_k_m, q3_k_m or q2_k");
    o->type = mkgguf_mix_base(o->mix);
}

static void parse_args(int argc, char **argv, opts *o)
{
    *o =
        (opts){.arch = "llama", .type = UINT32_MAX, .seed = 1, .rope_base = 10000.0f, .eps = 1e-5f};
    struct {
        const char *flag;
        uint32_t *dst;
        uint32_t max;
    } dims[] = {{"--n-embd", &o->n_embd, L4LM_MAX_EMBD},
                {"--n-ff", &o->n_ff, 1u << 20},
                {"--n-layer", &o->n_layer, L4LM_MAX_LAYERS},
                {"--n-head", &o->n_head, 1024},
                {"--n-head-kv", &o->n_head_kv, 1024},
                {"--n-vocab", &o->n_vocab, L4LM_MAX_VOCAB},
                {"--ctx", &o->ctx, L4LM_MAX_CTX},
                {"--head-dim", &o->head_dim, L4LM_MAX_HEAD_DIM},
                {"--swa", &o->swa, UINT32_MAX},
                {"--swa-pattern", &o->swa_pattern, UINT32_MAX}};
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        size_t d = 0;
        while (d < sizeof dims / sizeof dims[0] && strcmp(f, dims[d].flag) != 0)
            d++;
        if (strcmp(f, "--untied") == 0) {
            o->untied = true;
            continue;
        }
        if (strcmp(f, "--rope-freqs") == 0) {
            o->rope_freqs = true;
            continue;
        }
        if (!v)
            usage("an option is missing its value");
        i++;
        if (d < sizeof dims / sizeof dims[0])
            *dims[d].dst = (uint32_t)parse_uint(v, dims[d].max);
        else if (strcmp(f, "-o") == 0)
            o->out = v;
        else if (strcmp(f, "--type") == 0)
            parse_type(v, o);
        else if (strcmp(f, "--ftype") == 0)
            parse_ftype(v, o);
        else if (strcmp(f, "--seed") == 0)
            o->seed = parse_uint(v, UINT64_MAX);
        else if (strcmp(f, "--rope-base") == 0)
            o->rope_base = parse_float(v);
        else if (strcmp(f, "--eps") == 0)
            o->eps = parse_float(v);
        else if (strcmp(f, "--rope-scale") == 0)
            o->rope_scale = parse_float(v);
        else if (strcmp(f, "--softcap-attn") == 0)
            o->softcap_attn = parse_float(v);
        else if (strcmp(f, "--softcap-final") == 0)
            o->softcap_final = parse_float(v);
        else if (strcmp(f, "--arch") == 0)
            o->arch = v;
        else if (strcmp(f, "--vocab-from") == 0)
            o->vocab_from = v;
        else if (strcmp(f, "--chat-template") == 0)
            o->chat_template = v;
        else {
            fprintf(stderr, "mkgguf: unknown option '%s'\n", f);
            usage("invalid argument");
        }
    }
    if (o->n_head_kv == 0)
        o->n_head_kv = o->n_head;
}

static bool is_gemma(const opts *o)
{
    return !strncmp(o->arch, "gemma", 5) &&
           (!o->arch[5] || !strcmp(o->arch + 5, "2") || !strcmp(o->arch + 5, "3"));
}

static void check_args(const opts *o)
{
    if (!o->out || o->type == UINT32_MAX)
        usage("-o and --type or --ftype are required");
    if (!o->n_embd || !o->n_ff || !o->n_layer || !o->n_head || !o->ctx)
        usage("--n-embd, --n-ff, --n-layer, --n-head and --ctx must be given and > 0");
    if (strcmp(o->arch, "llama") && strcmp(o->arch, "qwen2") && strcmp(o->arch, "qwen3") &&
        strcmp(o->arch, "phi3") && strcmp(o->arch, "exaone") && !is_gemma(o))
        usage("--arch takes llama, qwen2, qwen3, phi3, exaone, gemma, gemma2 or gemma3");
    if (o->untied && is_gemma(o) && strcmp(o->arch, "gemma3"))
        usage("gemma and gemma2 always tie the classifier (llama.cpp has no output.weight)");
    if ((o->swa || o->swa_pattern || o->softcap_attn > 0.0f || o->softcap_final > 0.0f) &&
        strcmp(o->arch, "gemma2") && strcmp(o->arch, "gemma3"))
        usage("--swa, --swa-pattern and --softcap-* are for gemma2 and gemma3");
    if (o->rope_freqs && strcmp(o->arch, "llama") && strcmp(o->arch, "exaone"))
        usage("--rope-freqs is for --arch llama or exaone (llama.cpp reads it there)");
    if (!o->vocab_from && o->n_vocab < FIRST_PIECE)
        usage("--n-vocab must be at least 259 (<unk> <s> </s> and 256 byte tokens)");
    if ((!o->head_dim && o->n_embd % o->n_head) || head_dim(o) % 2)
        usage("--n-embd must be n-head times an even head size (or give an even --head-dim)");
    if (o->head_dim && !strcmp(o->arch, "phi3") && o->head_dim * o->n_head != o->n_embd)
        usage("phi3 needs --head-dim times --n-head = --n-embd");
    if (o->n_head % o->n_head_kv)
        usage("--n-head must be a multiple of --n-head-kv");
    if (mkgguf_k_block_bytes(o->type) && !o->mix &&
        (o->n_embd % QK_K || o->n_ff % QK_K || head_dim(o) * o->n_head % QK_K))
        usage("K-quant types need --n-embd, --n-ff and n-head * head-dim multiples of 256");
    if ((o->mix || l4lm_type_info(o->type)->block == QK) &&
        (o->n_embd % QK || o->n_ff % QK || head_dim(o) * o->n_head % QK))
        usage("quantised types need --n-embd, --n-ff and n-head * head-dim multiples of 32");
}

int main(int argc, char **argv)
{
    opts o;
    buf b = {0}, vocab = {0};
    parse_args(argc, argv, &o);
    if (o.vocab_from) {
        uint32_t n_vocab = put_vocab_from(&vocab, o.vocab_from, o.chat_template != NULL);
        if (o.n_vocab && o.n_vocab != n_vocab)
            usage("--n-vocab differs from the --vocab-from vocabulary");
        o.n_vocab = n_vocab;
    }
    check_args(&o);
    if (!o.vocab_from)
        put_vocab(&vocab, o.n_vocab);
    if (o.chat_template)
        put_chat_template(&vocab, o.chat_template);
    tensor *t = calloc(MAX_TENSORS, sizeof *t);
    uint64_t max_row = o.n_embd > o.n_ff ? o.n_embd : o.n_ff;
    if ((uint64_t)head_dim(&o) * o.n_head > max_row) /* the row of attn_output */
        max_row = (uint64_t)head_dim(&o) * o.n_head;
    float *row = malloc(max_row * sizeof *row);
    uint8_t *enc = malloc(max_row * sizeof *row);
    if (!t || !row || !enc)
        die("%s", "out of memory");
    uint32_t n = layout(&o, t);
    mkgguf_mix_model mm = {o.n_layer, o.n_head, o.n_head_kv, !o.untied};
    for (uint32_t i = 0; o.mix && i < n; i++)
        if (!t[i].is_norm)
            t[i].type = mkgguf_mix_type(o.mix, t[i].name, t[i].ne0, &mm);
    put_metadata(&b, &o, n, &vocab);
    put_tensor_infos(&b, t, n);
    static const uint8_t zeros[ALIGNMENT];
    put(&b, zeros, l4lm_align_up(b.n, ALIGNMENT) - b.n);

    FILE *f = fopen(o.out, "wb");
    if (!f)
        die("cannot create %s", o.out);
    write_or_die(f, b.p, b.n, o.out);
    uint64_t rng = o.seed;
    for (uint32_t i = 0; i < n; i++) {
        write_tensor(f, &t[i], &rng, row, enc, o.out);
        uint64_t size = mkgguf_row_bytes(t[i].type, t[i].ne0) * t[i].ne1;
        write_or_die(f, zeros, l4lm_align_up(size, ALIGNMENT) - size, o.out);
    }
    if (fclose(f) != 0) {
        remove(o.out);
        die("cannot write %s", o.out);
    }
    free(b.p);
    free(vocab.p);
    free(enc);
    free(row);
    free(t);
    return 0;
}
