/*
** tok_hostile.h — vocabularies built to make a tokenizer's setup slow, as
** an attacker would choose them offline (issue 16), for tests/test_tok_growth.c
** and the tokenizer fuzzer's seeds (tests/fuzz/mkseeds_tok.c):
**   specials: n control tokens sharing a first byte, shortest first (an
**             insertion sort by length moves each past all the earlier ones);
**   pieces:   n pieces with one and the same 32-bit FNV-1a hash (the piece
**             table's hash), from a multicollision: blocks A_i != B_i with
**             the same state after them, any choice of each giving the hash;
**   merges:   n merge rules whose pairs share the low bits of the rule
**             table's pair hash, found by search over the pairs;
**   bpe:      a small plain byte-level BPE vocabulary (GPT-2 characters).
** Each fills an hv_vocab: GGUF string-array payloads of the pieces and the
** merges, and the i32 token types, ready for an l4lm_vocab_src.
** Tests only: aborts when out of memory.
*/
#ifndef L4LM_TEST_TOK_HOSTILE_H
#define L4LM_TEST_TOK_HOSTILE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Its own byte buffer rather than gguf_write.h's: mkseeds.c, which includes
** this too, has writers of the same names (put, ...) for its own buffer. */
typedef struct hv_buf {
    uint8_t *p;
    size_t n, cap;
} hv_buf;

typedef struct hv_vocab {
    hv_buf tokens, types, merges;
    uint32_t n_vocab, n_merges;
    bool bpe;
} hv_vocab;

static inline void hv_put(hv_buf *b, const void *src, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            abort();
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static inline void hv_le(hv_buf *b, uint64_t v, int n_bytes)
{
    for (int i = 0; i < n_bytes; i++) {
        uint8_t c = (uint8_t)(v >> (8 * i));
        hv_put(b, &c, 1);
    }
}

static inline void hv_token(hv_vocab *v, const void *s, size_t n, int32_t type)
{
    hv_le(&v->tokens, n, 8);
    hv_put(&v->tokens, s, n);
    hv_le(&v->types, (uint32_t)type, 4);
    v->n_vocab++;
}

static inline void hv_merge(hv_vocab *v, const char *l, const char *r)
{
    hv_le(&v->merges, strlen(l) + 1 + strlen(r), 8);
    hv_put(&v->merges, l, strlen(l));
    hv_put(&v->merges, " ", 1);
    hv_put(&v->merges, r, strlen(r));
    v->n_merges++;
}

static inline void hv_free(hv_vocab *v)
{
    free(v->tokens.p);
    free(v->types.p);
    free(v->merges.p);
    memset(v, 0, sizeof *v);
}

/* SentencePiece byte tokens <0x00>..<0xFF> (type 6), so any text encodes. */
static inline void hv_byte_tokens(hv_vocab *v)
{
    for (int b = 0; b < 256; b++) {
        char s[8];
        snprintf(s, sizeof s, "<0x%02X>", b);
        hv_token(v, s, 6, 6);
    }
}

static inline void hv_specials(hv_vocab *v, uint32_t n)
{
    hv_byte_tokens(v);
    for (uint32_t i = 0; i < n; i++) {
        char s[520];
        int k = snprintf(s, sizeof s, "<%u", i);
        size_t len = 2 + (size_t)i * 500 / n; /* shortest first */
        while ((size_t)k < len)
            s[k++] = 'x';
        hv_token(v, s, (size_t)k, 3); /* control */
    }
}

/* ---- FNV-1a multicollisions ---- */

static inline uint32_t hv_fnv(uint32_t h, const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 16777619u;
    return h;
}

static inline uint64_t hv_rand(uint64_t *s) /* splitmix64 */
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Two printable 4-byte blocks a != b taking state h to the same state
** (a birthday search over 2^18 random blocks); returns that state. */
static inline uint32_t hv_collide(uint32_t h, uint64_t *seed, uint8_t a[4], uint8_t b[4])
{
    enum { BITS = 19 };
    uint64_t *tab = calloc((size_t)1 << BITS, sizeof *tab); /* state << 32 | block + 1 */
    if (!tab)
        abort();
    for (;;) {
        uint64_t r = hv_rand(seed);
        uint8_t blk[4];
        for (int i = 0; i < 4; i++)
            blk[i] = (uint8_t)('!' + (r >> (8 * i)) % 94);
        uint32_t out = hv_fnv(h, blk, 4), word;
        memcpy(&word, blk, 4);
        for (uint32_t s = out >> (32 - BITS);; s = (s + 1) & ((1u << BITS) - 1)) {
            if (!tab[s]) {
                tab[s] = (uint64_t)out << 32 | word;
                break;
            }
            if ((uint32_t)(tab[s] >> 32) == out && (uint32_t)tab[s] != word) {
                uint32_t other = (uint32_t)tab[s];
                memcpy(a, &other, 4);
                memcpy(b, blk, 4);
                free(tab);
                return out;
            }
            if ((uint32_t)(tab[s] >> 32) == out)
                break;
        }
    }
}

/* n pieces (n <= 2^20), all of the same FNV-1a hash, 4 ceil(log2 n) bytes each. */
static inline void hv_pieces(hv_vocab *v, uint32_t n)
{
    enum { MAX_BLOCKS = 20 };
    uint8_t a[MAX_BLOCKS][4], b[MAX_BLOCKS][4];
    int blocks = 0;
    uint64_t seed = 16;
    uint32_t h = 2166136261u;
    while (blocks < MAX_BLOCKS && (1u << blocks) < n) {
        h = hv_collide(h, &seed, a[blocks], b[blocks]);
        blocks++;
    }
    hv_byte_tokens(v);
    for (uint32_t i = 0; i < n; i++) {
        uint8_t s[4 * MAX_BLOCKS];
        for (int k = 0; k < blocks; k++)
            memcpy(s + 4 * k, i >> k & 1 ? b[k] : a[k], 4);
        hv_token(v, s, 4 * (size_t)blocks, 1);
    }
}

/* ---- merges sharing the low bits of the pair hash ---- */

/* tok_bpe.c's pair hash (a 64-bit finaliser mix of the two ids). */
static inline uint32_t hv_pair_hash(uint32_t left, uint32_t right)
{
    uint64_t x = (uint64_t)left << 32 | right;
    x ^= x >> 33;
    x *= 0xFF51AFD7ED558CCDull;
    x ^= x >> 33;
    return (uint32_t)x;
}

/* Piece i of the merge vocabularies: three characters that are their own
** GPT-2 characters, no space. */
static inline void hv_name(uint32_t i, char s[4])
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    s[0] = abc[i >> 12 & 63];
    s[1] = abc[i >> 6 & 63];
    s[2] = abc[i & 63];
    s[3] = 0;
}

/* A byte-level BPE vocabulary of n_vocab three-character pieces and n
** merges of pairs whose hashes agree in the bits the rule table of n
** rules masks with (n <= 2^16; n_vocab <= 2^18, n_vocab^2 >> 2^bits n). */
static inline void hv_merges(hv_vocab *v, uint32_t n_vocab, uint32_t n)
{
    uint32_t slots = 16;
    while (slots < n + n / 2)
        slots *= 2;
    v->bpe = true;
    for (uint32_t i = 0; i < n_vocab; i++) {
        char s[4];
        hv_name(i, s);
        hv_token(v, s, 3, 1);
    }
    for (uint32_t l = 0; l < n_vocab && v->n_merges < n; l++)
        for (uint32_t r = 0; r < n_vocab && v->n_merges < n; r++)
            if ((hv_pair_hash(l, r) & (slots - 1)) == 0) {
                char a[4], b[4];
                hv_name(l, a);
                hv_name(r, b);
                hv_merge(v, a, b);
            }
}

/* GPT-2's character for byte c (printable Latin-1 as itself, the rest from U+0100). */
static inline uint32_t hv_gpt2_cp(uint32_t c)
{
    uint32_t k = 0;
    if ((c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF))
        return c;
    for (uint32_t d = 0; d < c; d++)
        k += !((d >= 0x21 && d <= 0x7E) || (d >= 0xA1 && d <= 0xAC) || (d >= 0xAE && d <= 0xFF));
    return 0x100 + k;
}

static inline size_t hv_utf8(uint32_t cp, char *s)
{
    if (cp < 0x80) {
        s[0] = (char)cp;
        return 1;
    }
    s[0] = (char)(0xC0 | cp >> 6);
    s[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

/* A plain byte-level BPE vocabulary: the 256 byte characters, then merges
** of a few common English pairs and "Ġ" (space) with each letter. */
static inline void hv_bpe(hv_vocab *v)
{
    static const char *const pairs[][2] = {{"t", "h"}, {"th", "e"}, {"i", "n"}, {"e", "r"},
                                           {"a", "n"}, {"o", "n"},  {"r", "e"}, {"in", "g"}};
    char sp[3] = {0};
    v->bpe = true;
    for (uint32_t c = 0; c < 256; c++) {
        char s[3];
        hv_token(v, s, hv_utf8(hv_gpt2_cp(c), s), 1);
    }
    for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++) {
        char s[8];
        snprintf(s, sizeof s, "%s%s", pairs[i][0], pairs[i][1]);
        hv_token(v, s, strlen(s), 1);
        hv_merge(v, pairs[i][0], pairs[i][1]);
    }
    hv_utf8(hv_gpt2_cp(' '), sp);
    for (char c = 'a'; c <= 'z'; c++) {
        char l[2] = {c, 0}, s[4];
        snprintf(s, sizeof s, "%s%c", sp, c);
        hv_token(v, s, strlen(s), 1);
        hv_merge(v, sp, l);
    }
}

#endif
