/*
** mkseeds_gguf.h — the GGUF fuzzer's seeds from the tests' hostile writers
** (issue 16; included by mkseeds.c after its writers), all small:
**   dup-keys-N:  tests/gguf_write.h's string array then keys, the last a
**                duplicate (refused);
**   layers-N:    its width-2 llama models of several layers, and one with
**                many unused tensors (names to look up);
**   vocab-NAME:  a width-2 llama model carrying each of tests/tok_hostile.h's
**                vocabularies (many specials, pieces of one hash, merges of
**                one hash bucket) and its plain byte-level BPE one (gpt2).
** The per-architecture seeds come from tools/mkgguf (tests/fuzz.sh).
** OUTDIR/gguf/<name>.
*/

/* gguf_write.h's buffer writer is named put, as is mkseeds.c's, and its
** parameters named bytes would shadow mkseeds.c's type: rename its. */
#define put   gw_put
#define bytes gw_bytes
#include "../gguf_write.h"
#undef bytes
#undef put
#include "../tok_hostile.h"

static void save_raw(const char *dir, const char *name, unsigned char *p, size_t n)
{
    bytes b = {p, n, n};
    save(dir, "gguf", name, &b);
    free(p);
}

/* A string array key whose payload (n strings) is already written in src. */
static void gw_strings(wbuf *kv, const char *key, uint64_t n, const hv_buf *src)
{
    wstr(kv, key), w32(kv, 9), w32(kv, 8), w64(kv, n);
    gw_put(kv, src->p, src->n);
}

/* A llama model of one layer of width 2 (as gguf_write_layers) whose
** vocabulary is v: n_vocab rows of embedding, the tokenizer keys from v. */
static unsigned char *vocab_model(const hv_vocab *v, size_t *size)
{
    static const char *const names[11] = {
        "token_embd.weight",        "output_norm.weight",    "blk.0.attn_norm.weight",
        "blk.0.attn_q.weight",      "blk.0.attn_k.weight",   "blk.0.attn_v.weight",
        "blk.0.attn_output.weight", "blk.0.ffn_norm.weight", "blk.0.ffn_gate.weight",
        "blk.0.ffn_up.weight",      "blk.0.ffn_down.weight"};
    static const char *const u32_keys[7] = {
        "llama.context_length",      "llama.embedding_length",     "llama.feed_forward_length",
        "llama.block_count",         "llama.attention.head_count", "llama.attention.head_count_kv",
        "llama.rope.dimension_count"};
    static const uint32_t u32_vals[7] = {16, 2, 2, 1, 1, 1, 2};
    wmtensor t[11];
    wbuf kv = {0};
    uint64_t n_kv = 0;
    for (int i = 0; i < 11; i++) {
        snprintf(t[i].name, sizeof t[i].name, "%s", names[i]);
        t[i].ne0 = 2;
        t[i].ne1 = i == 0 ? v->n_vocab : i == 1 || i == 2 || i == 7 ? 0 : 2;
    }
    wstr(&kv, "general.architecture"), w32(&kv, 8), wstr(&kv, "llama"), n_kv++;
    for (int i = 0; i < 7; i++)
        wstr(&kv, u32_keys[i]), w32(&kv, 4), w32(&kv, u32_vals[i]), n_kv++;
    wstr(&kv, "llama.attention.layer_norm_rms_epsilon"), w32(&kv, 6), wf32(&kv, 1e-5f), n_kv++;
    wstr(&kv, "tokenizer.ggml.model"), w32(&kv, 8), wstr(&kv, v->bpe ? "gpt2" : "llama"), n_kv++;
    if (v->bpe)
        wstr(&kv, "tokenizer.ggml.pre"), w32(&kv, 8), wstr(&kv, "gpt-2"), n_kv++;
    gw_strings(&kv, "tokenizer.ggml.tokens", v->n_vocab, &v->tokens), n_kv++;
    wstr(&kv, "tokenizer.ggml.token_type"), w32(&kv, 9), w32(&kv, 5), w64(&kv, v->n_vocab);
    gw_put(&kv, v->types.p, v->types.n), n_kv++;
    if (v->n_merges)
        gw_strings(&kv, "tokenizer.ggml.merges", v->n_merges, &v->merges), n_kv++;
    wstr(&kv, "tokenizer.ggml.bos_token_id"), w32(&kv, 4), w32(&kv, 1), n_kv++;
    wstr(&kv, "tokenizer.ggml.eos_token_id"), w32(&kv, 4), w32(&kv, 2), n_kv++;
    unsigned char *p = gguf_write_f32_model(&kv, n_kv, t, 11, gguf_write_small, NULL, size);
    free(kv.p);
    return p;
}

static void hostile_gguf_seeds(const char *dir)
{
    static const uint32_t dup[][2] = {{1, 2}, {16, 8}, {64, 32}};
    static const uint32_t layers[][2] = {{1, 0}, {3, 0}, {1, 96}};
    static const char *const vocab_names[4] = {"specials", "pieces", "merges", "bpe"};
    char name[32];
    size_t n;
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, "dup-keys-%d", i);
        unsigned char *p = gguf_write_dup_keys(dup[i][0], dup[i][1], &n);
        save_raw(dir, name, p, n);
        snprintf(name, sizeof name, "layers-%d", i);
        p = gguf_write_layers(layers[i][0], layers[i][1], &n);
        save_raw(dir, name, p, n);
    }
    hv_vocab v[4];
    memset(v, 0, sizeof v);
    hv_specials(&v[0], 16);
    hv_pieces(&v[1], 16);
    hv_merges(&v[2], 300, 32);
    hv_bpe(&v[3]);
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "vocab-%s", vocab_names[i]);
        unsigned char *p = vocab_model(&v[i], &n);
        save_raw(dir, name, p, n);
        hv_free(&v[i]);
    }
}
