/*
** tok.h — what the tokenizer's files share: the tokenizer struct and the
** calls between tokenizer.c (tables, special tokens, the encode driver),
** tok_spm.c (SentencePiece fragments), tok_bpe.c (byte-level BPE
** fragments and merges), tok_merge.c (the pair heap both merge with),
** pretok.c (the BPE pre-tokenizers) and unicode_tab.c (generated tables).
** tok_table.c (the look-up tables: their cost is bounded whatever the
** vocabulary) and sort.c (the one sort).
*/
#ifndef L4LM_TOK_H
#define L4LM_TOK_H

#include "sort.h"

enum {
    TYPE_NORMAL = 1,
    TYPE_UNKNOWN = 2,
    TYPE_CONTROL = 3,
    TYPE_USER = 4,
    TYPE_UNUSED = 5,
    TYPE_BYTE = 6
};

/* How many token texts count as control tokens whatever their type (tokenizer.c). */
#define TOK_N_CONTROL_TEXTS 22
#define SPECIAL_ALWAYS      0x80000000u

/* One character or merged run of the normalised text, in a doubly linked list. */
typedef struct tok_sym {
    uint32_t start;     /* first byte in norm; the symbol ends where next starts */
    int32_t prev, next; /* live neighbours, -1 at the ends */
    int32_t slot;       /* heap position of the pair (this, next); -1: not mergeable */
    uint32_t key;       /* that pair's priority: higher merges first */
    int32_t id;         /* BPE: the symbol's token, -1 if none */
    int32_t pair_id;    /* BPE: the token the pair merges into */
} tok_sym;

/* A hash table whose probes stop after a bound; what finds no slot by then
** goes to a sorted overflow array (tok_table.c). */
typedef struct tok_table {
    uint32_t *slot; /* [mask + 1] element + 1; 0: empty */
    uint32_t mask;
    uint32_t *over; /* [as many as elements] the elements that found no slot, sorted */
    uint32_t n_over;
} tok_table;

/* What a put or get compares with, and where it counts its comparisons. */
typedef struct tok_table_key {
    l4lm_sort_cmp cmp; /* element against key */
    const void *ctx, *key;
    uint64_t *work;
    bool replace; /* put: an equal element already in the table is replaced (else kept) */
} tok_table_key;

typedef struct tok_merge_rule {
    int32_t left, right, result; /* result -1: the concatenation is not a token */
} tok_merge_rule;

struct l4lm_tok {
    l4lm_vocab_src v;
    bool bpe;             /* byte-level BPE (v.pre set), else SentencePiece */
    uint32_t *off;        /* [n_vocab] piece offset from v.tokens */
    uint16_t *len;        /* [n_vocab] piece length in bytes */
    tok_table pieces;     /* piece -> id, by the piece's FNV-1a hash */
    int32_t byte_id[256]; /* SPM byte fallback token of each byte, -1: none */
    tok_merge_rule *rule; /* [n_merges] BPE merges; rank = index */
    tok_table rules;      /* (left, right) -> rank, by a hash of the pair */
    uint32_t *special;    /* [n_special] ids matched in the text, by first byte then longest;
                          ** SPECIAL_ALWAYS set: matched without L4LM_TOK_SPECIAL too */
    uint32_t n_special;
    int32_t control_text[TOK_N_CONTROL_TEXTS]; /* ids of those texts (tokenizer.c), -1: absent */
    uint32_t control_first[8];                 /* bit c: some such text starts with byte c */
    uint32_t special_at[257]; /* special[special_at[b] .. special_at[b+1]) start with byte b */
    size_t max_text;
    uint8_t *norm;  /* [norm_cap] normalised text of one fragment or word */
    tok_sym *sym;   /* [sym_cap] */
    uint32_t *heap; /* [sym_cap] symbol ids, best pair first */
    uint32_t *cps;  /* [max_text] BPE: the fragment's code points */
    uint8_t *plain; /* [max_text / 8 + 1] bit i: byte i of a chat is message text, where
                    ** only user-defined tokens are cut out (chat.c) */
    uint32_t n_norm, n_heap;
    uint64_t work; /* comparisons made by the sorts and look-ups since init: the test hook
                   ** that proves the cost bound (tests/test_tok_growth.c) */
};

/* Writes ids while they fit in cap, counting all of them in *n. */
static inline void l4lm_tok_emit(int32_t *out, size_t cap, size_t *n, int32_t id)
{
    if (*n < cap)
        out[*n] = id;
    (*n)++;
}

/* tokenizer.c */
/* The id of the piece a[0..na) b[0..nb) (b may be empty), or -1. */
int32_t l4lm_tok_find2(l4lm_tok *t, const uint8_t *a, size_t na, const uint8_t *b, size_t nb);
int32_t l4lm_tok_find(l4lm_tok *t, const uint8_t *s, size_t n);
int32_t l4lm_tok_type(const l4lm_tok *t, uint32_t id);
float l4lm_tok_score(const l4lm_tok *t, uint32_t id);

/* l4lm_tok_encode, and where plain bits are set (t->plain) no control token
** is cut out of the text: chat messages cannot forge the template's markers. */
l4lm_status l4lm_tok_encode_plain(l4lm_tok *t, const char *text, size_t len, uint32_t flags,
                                  const uint8_t *plain, int32_t *out, size_t cap, size_t *n_out);

/* tok_table.c: e goes in with hash h; the overflow is sorted by seal */
void l4lm_tok_table_put(tok_table *x, uint32_t e, uint32_t h, const tok_table_key *k);
uint64_t l4lm_tok_table_seal(tok_table *x, l4lm_sort_less less, const void *ctx);
/* The element equal to the key (hash h), or -1. */
int64_t l4lm_tok_table_get(const tok_table *x, uint32_t h, const tok_table_key *k);

/* tok_merge.c: merges adjacent symbols sym[0..n_sym) best pair first */
void l4lm_tok_merge(l4lm_tok *t, uint32_t n_sym);
uint32_t l4lm_tok_sym_end(const l4lm_tok *t, uint32_t s);

/* tok_spm.c: one SentencePiece fragment (prefix: add the dummy-prefix space) */
l4lm_status l4lm_spm_encode(l4lm_tok *t, const uint8_t *text, size_t len, bool prefix, int32_t *out,
                            size_t cap, size_t *n);

/* tok_bpe.c */
uint64_t l4lm_bpe_rule_slots(uint32_t n_merges);
l4lm_status l4lm_bpe_check(const l4lm_vocab_src *v, l4lm_error *err);
l4lm_status l4lm_bpe_init(l4lm_tok *t);
bool l4lm_bpe_pair(l4lm_tok *t, int32_t left, int32_t right, uint32_t *rank, int32_t *result);
l4lm_status l4lm_bpe_encode(l4lm_tok *t, const uint8_t *text, size_t len, int32_t *out, size_t cap,
                            size_t *n);
size_t l4lm_bpe_piece(const uint8_t *p, size_t n, char *buf, size_t cap);

/* pretok.c */
enum { L4LM_UNI_OTHER = 0, L4LM_UNI_LETTER = 1, L4LM_UNI_NUMBER = 2, L4LM_UNI_SPACE = 3 };
uint32_t l4lm_uni_class(uint32_t cp);
/* Code points of s[0..n) as llama.cpp reads them: each invalid byte is U+FFFD. */
uint32_t l4lm_utf8_decode(const uint8_t *s, size_t n, uint32_t *cps);
/* UTF-8 of cp into out (at most 4 bytes); returns the length. */
uint32_t l4lm_utf8_encode(uint32_t cp, uint8_t *out);
/* The end of the pre-tokenizer word that starts at cps[pos] (pos < n). */
uint32_t l4lm_pretok_next(l4lm_pretok pre, const uint32_t *cps, uint32_t n, uint32_t pos);

/* unicode_tab.c (generated by tools/gen_unicode.py) */
extern const uint32_t l4lm_uni_ranges[];
extern const uint32_t l4lm_uni_n_ranges;
extern const uint32_t l4lm_uni_lower[][2];
extern const uint32_t l4lm_uni_n_lower;
extern const uint16_t l4lm_gpt2_byte_cp[256];

#endif
