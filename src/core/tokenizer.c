/*
** tokenizer.c — text to token ids and back, over a vocabulary used in place.
**
** The pieces stay where the model loader found them (a GGUF string array or a
** llama2.c tokenizer.bin). The arena holds only tables: each piece's offset
** and length, a table from piece text to id (tok_table.c: a hash table
** whose cost stays bounded when the pieces are chosen to collide), the
** special tokens by first byte, the BPE merge rules, and the scratch of one
** encode. Two tokenizers
** share them: SentencePiece-style BPE (tok_spm.c: Llama 2, Phi-3, llama2.c)
** and byte-level BPE (tok_bpe.c: GPT-2, Llama 3, Qwen2).
**
** Encoding first cuts special tokens out of the text, as llama.cpp does:
** user-defined tokens always, control and unknown tokens when asked
** (L4LM_TOK_SPECIAL). Like llama.cpp, a token whose text is on its list of
** end-of-generation markers (</s>, <|im_end|>, ...) counts as a control
** token whatever its type. The text between them goes to the tokenizer
** fragment by fragment; for SentencePiece each fragment at the start or
** after a special token gets the dummy-prefix space. Phi-3 models drop the
** whitespace after most special tokens (llama.cpp's RSTRIP attribute).
**
** Known differences from llama.cpp: llama.cpp cuts out the longest special
** tokens first over the whole text, here at each position the longest one
** starting there wins (they differ only for overlapping special texts);
** of the lstrip/rstrip attributes only Phi-3's rstrip is applied; llama.cpp
** also makes the first-found fill-in-the-middle tokens control tokens, not
** done here; an invalid UTF-8 byte in SPM
** text is a symbol of its own (see tok_spm.c); a byte with no byte token
** gives unk (llama.cpp aborts).
*/
#include "tok.h"

/* Longest text an arena can be planned for: keeps every index (BPE: 6 bytes
** per byte of text) within 32 bits. */
#define TOK_MAX_TEXT ((1u << 28) - 2)

/* Where each table lives, as offsets from the arena start. */
typedef struct tok_layout {
    uint64_t off, len, piece_slot, piece_over, special, norm, sym, heap, cps, rule, rule_slot;
    uint64_t rule_over, plain, total;
    uint32_t piece_slots, rule_slots, n_special;
} tok_layout;

/* Reserves count*size bytes at *at (64-aligned); false on overflow. */
static bool carve(uint64_t *at, uint64_t count, uint64_t size, uint64_t *where)
{
    uint64_t n;
    if (l4lm_mul_ovf(count, size, &n) || n > UINT64_MAX - L4LM_ALIGN)
        return false;
    *where = *at;
    return !l4lm_add_ovf(*at, l4lm_align_up(n, L4LM_ALIGN), at);
}

/* GGUF token type; without a type array every token is normal. */
static int32_t type_of(const l4lm_vocab_src *v, uint32_t id)
{
    return v->types ? (int32_t)l4lm_rd32(v->types + 4 * (size_t)id) : TYPE_NORMAL;
}

int32_t l4lm_tok_type(const l4lm_tok *t, uint32_t id)
{
    return type_of(&t->v, id);
}

/* Tokens that may be cut out of the text whole. */
static bool special_type(int32_t type)
{
    return type == TYPE_UNKNOWN || type == TYPE_CONTROL || type == TYPE_USER;
}

/* The end-of-generation texts llama.cpp makes control tokens whatever their type. */
static const char k_control_texts[TOK_N_CONTROL_TEXTS][28] = {
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<\xEF\xBD\234end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>",
    "[e~["}; /* \234: 0x9C */

static bool control_text(const l4lm_tok *t, int32_t id)
{
    for (int i = 0; i < TOK_N_CONTROL_TEXTS; i++)
        if (t->control_text[i] == id)
            return true;
    return false;
}

static uint32_t count_special(const l4lm_vocab_src *v)
{
    uint32_t n = 0;
    for (uint32_t id = 0; v->format == L4LM_FORMAT_GGUF && v->types && id < v->n_vocab; id++)
        n += special_type(type_of(v, id));
    return n;
}

/* One function sizes and places the tables, so plan and init always agree. */
static l4lm_status tok_layout_of(const l4lm_vocab_src *v, size_t max_text, tok_layout *L)
{
    if (!v || v->n_vocab == 0 ||
        (v->format != L4LM_FORMAT_GGUF && v->format != L4LM_FORMAT_LLAMA2C) ||
        (uint32_t)v->pre > L4LM_PRE_QWEN2 ||
        (v->pre != L4LM_PRE_NONE && v->format != L4LM_FORMAT_GGUF))
        return L4LM_E_TOKENIZER;
    if (v->n_vocab > L4LM_MAX_VOCAB || max_text > TOK_MAX_TEXT)
        return L4LM_E_LIMIT;
    bool bpe = v->pre != L4LM_PRE_NONE;
    /* SPM: a symbol per byte and the dummy prefix, ' ' growing to "▁".
    ** BPE: a bad byte becomes U+FFFD, 3 symbols of 2 bytes each. */
    uint64_t n_sym = bpe ? 3 * (uint64_t)max_text + 1 : (uint64_t)max_text + 1;
    uint64_t n_norm = bpe ? 6 * (uint64_t)max_text + 1 : 3 * n_sym;
    L->piece_slots = 16;
    while (L->piece_slots < 2 * v->n_vocab)
        L->piece_slots *= 2;
    L->rule_slots = bpe ? (uint32_t)l4lm_bpe_rule_slots(v->n_merges) : 0;
    L->n_special = count_special(v) + TOK_N_CONTROL_TEXTS;
    uint64_t at = l4lm_align_up(sizeof(struct l4lm_tok), L4LM_ALIGN);
    bool ok = carve(&at, v->n_vocab, sizeof(uint32_t), &L->off) &&
              carve(&at, v->n_vocab, sizeof(uint16_t), &L->len) &&
              carve(&at, L->piece_slots, sizeof(uint32_t), &L->piece_slot) &&
              carve(&at, v->n_vocab, sizeof(uint32_t), &L->piece_over) &&
              carve(&at, L->n_special, sizeof(uint32_t), &L->special) &&
              carve(&at, n_norm, 1, &L->norm) && carve(&at, n_sym, sizeof(tok_sym), &L->sym) &&
              carve(&at, n_sym, sizeof(uint32_t), &L->heap) &&
              carve(&at, bpe ? max_text : 0, sizeof(uint32_t), &L->cps) &&
              carve(&at, bpe ? v->n_merges : 0, sizeof(tok_merge_rule), &L->rule) &&
              carve(&at, L->rule_slots, sizeof(uint32_t), &L->rule_slot) &&
              carve(&at, bpe ? v->n_merges : 0, sizeof(uint32_t), &L->rule_over) &&
              carve(&at, max_text / 8 + 1, 1, &L->plain);
    L->total = at;
    return ok && at <= SIZE_MAX ? L4LM_OK : L4LM_E_OVERFLOW;
}

size_t l4lm_tok_arena_bytes(const l4lm_vocab_src *v, size_t max_text)
{
    tok_layout L;
    return tok_layout_of(v, max_text, &L) == L4LM_OK ? (size_t)L.total : 0;
}

l4lm_pretok l4lm_tok_pre_named(const char *name, size_t len)
{
    static const struct {
        char name[16];
        l4lm_pretok pre;
    } names[] = {
        {"gpt-2", L4LM_PRE_GPT2},
        {"phi-2", L4LM_PRE_GPT2},
        {"mpt", L4LM_PRE_GPT2},
        {"olmo", L4LM_PRE_GPT2},
        {"llama-bpe", L4LM_PRE_LLAMA3},
        {"llama3", L4LM_PRE_LLAMA3},
        {"llama-v3", L4LM_PRE_LLAMA3},
        {"falcon3", L4LM_PRE_LLAMA3},
        {"pixtral", L4LM_PRE_LLAMA3},
        {"qwen2", L4LM_PRE_QWEN2},
        {"deepseek-r1-qwen", L4LM_PRE_QWEN2},
    };
    for (size_t i = 0; name && i < sizeof names / sizeof *names; i++)
        if (l4lm_streq(name, len, names[i].name))
            return names[i].pre;
    return L4LM_PRE_NONE;
}

/* ---- validating the source ---- */

static bool id_ok(int32_t id, uint32_t n_vocab)
{
    return id == -1 || (id >= 0 && (uint32_t)id < n_vocab);
}

/*
** Walks all n_vocab pieces, checking each lies inside tokens_size. A
** tokenizer.bin must be used up exactly (more bytes mean more tokens than the
** checkpoint's n_vocab); a GGUF array may be followed by the rest of the file
** (its length was matched to n_vocab by the loader). Fills off/len when given.
** Error offsets are relative to v->tokens.
*/
static l4lm_status tok_walk(const l4lm_vocab_src *v, l4lm_error *err, uint32_t *off, uint16_t *len)
{
    if (!v || !v->tokens)
        return l4lm_fail(err, L4LM_E_TOKENIZER, 0, "tokenizer: no vocabulary", NULL, 0);
    if (v->n_vocab == 0 || v->n_vocab > L4LM_MAX_VOCAB)
        return l4lm_fail(err, v->n_vocab ? L4LM_E_LIMIT : L4LM_E_TOKENIZER, 0,
                         "tokenizer: bad vocabulary size", NULL, 0);
    bool gguf = v->format == L4LM_FORMAT_GGUF;
    if (!gguf && v->format != L4LM_FORMAT_LLAMA2C)
        return l4lm_fail(err, L4LM_E_TOKENIZER, 0, "tokenizer: unknown format", NULL, 0);
    uint64_t size = v->tokens_size, pos = gguf ? 0 : 4; /* llama2.c: max_token_length */
    if (pos > size)
        return l4lm_fail(err, L4LM_E_TRUNCATED, 0, "tokenizer: truncated header", NULL, 0);
    for (uint32_t i = 0; i < v->n_vocab; i++) {
        /* GGUF: u64 length, bytes. llama2.c: f32 score, i32 length, bytes. */
        if (size - pos < 8)
            return l4lm_fail_index(err, L4LM_E_TRUNCATED, pos, "tokenizer: truncated at piece", i);
        const uint8_t *p = v->tokens + pos;
        uint64_t n = gguf ? l4lm_rd64(p) : (uint64_t)(int64_t)(int32_t)l4lm_rd32(p + 4);
        if (!gguf && (int64_t)n < 0)
            return l4lm_fail_index(err, L4LM_E_TOKENIZER, pos,
                                   "tokenizer: negative length of piece", i);
        if (n > L4LM_MAX_TOKEN_BYTES)
            return l4lm_fail_index(err, L4LM_E_LIMIT, pos, "tokenizer: too long piece", i);
        pos += 8;
        if (size - pos < n)
            return l4lm_fail_index(err, L4LM_E_TRUNCATED, pos, "tokenizer: truncated piece", i);
        if (off) {
            off[i] = (uint32_t)pos; /* pos < n_vocab * 520 + 4 fits 32 bits */
            len[i] = (uint16_t)n;
        }
        pos += n;
    }
    if (!gguf && pos != size)
        return l4lm_fail(err, L4LM_E_TOKENIZER, pos,
                         "tokenizer: tokenizer.bin has more tokens than n_vocab", NULL, 0);
    if (!id_ok(v->bos, v->n_vocab) || !id_ok(v->eos, v->n_vocab) || !id_ok(v->unk, v->n_vocab))
        return l4lm_fail(err, L4LM_E_TOKENIZER, 0, "tokenizer: bos/eos/unk id out of range", NULL,
                         0);
    if ((uint32_t)v->pre > L4LM_PRE_QWEN2 || (v->pre && !gguf))
        return l4lm_fail(err, L4LM_E_TOKENIZER, 0, "tokenizer: unknown pre-tokenizer", NULL, 0);
    return v->pre ? l4lm_bpe_check(v, err) : L4LM_OK;
}

l4lm_status l4lm_tok_check(const l4lm_vocab_src *v, l4lm_error *err)
{
    return tok_walk(v, err, NULL, NULL);
}

/* ---- reading pieces ---- */

static const uint8_t *tok_text(const l4lm_tok *t, uint32_t id)
{
    return t->v.tokens + t->off[id];
}

float l4lm_tok_score(const l4lm_tok *t, uint32_t id)
{
    if (t->v.format == L4LM_FORMAT_LLAMA2C) /* the score precedes the length */
        return l4lm_rdf32(tok_text(t, id) - 8);
    return t->v.scores ? l4lm_rdf32(t->v.scores + 4 * (size_t)id) : 0.0f;
}

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
        return (c | 0x20) - 'a' + 10;
    return -1;
}

/* The byte of a piece spelled <0xNN>, or -1. */
static int piece_byte(const uint8_t *p, size_t n)
{
    if (n != 6 || p[0] != '<' || p[1] != '0' || p[2] != 'x' || p[5] != '>')
        return -1;
    int hi = hexval(p[3]), lo = hexval(p[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

/* ---- piece -> id: the piece index ---- */

/* A piece to look up: a[0..na) then b[0..nb). */
typedef struct piece_key {
    const uint8_t *a, *b;
    size_t na, nb;
} piece_key;

static uint32_t fnv(uint32_t h, const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 16777619u;
    return h;
}

/* FNV-1a, unseeded: collisions cost bounded comparisons (tok_table.c). */
static uint32_t piece_hash(const piece_key *k)
{
    return fnv(fnv(2166136261u, k->a, k->na), k->b, k->nb);
}

static piece_key key_of(const l4lm_tok *t, uint32_t id)
{
    return (piece_key){tok_text(t, id), NULL, t->len[id], 0};
}

/* Pieces order by length, then bytes. */
static int piece_cmp(const void *ctx, uint32_t id, const void *key)
{
    const l4lm_tok *t = ctx;
    const piece_key *k = key;
    size_t n = t->len[id];
    if (n != k->na + k->nb)
        return n < k->na + k->nb ? -1 : 1;
    const uint8_t *p = tok_text(t, id);
    int c = k->na ? __builtin_memcmp(p, k->a, k->na) : 0;
    return c || !k->nb ? c : __builtin_memcmp(p + k->na, k->b, k->nb);
}

/* Equal pieces: the highest id first, so a look-up finds it, as llama.cpp keeps the last. */
static bool piece_less(const void *ctx, uint32_t x, uint32_t y)
{
    piece_key ky = key_of(ctx, y);
    int c = piece_cmp(ctx, x, &ky);
    return c < 0 || (c == 0 && x > y);
}

int32_t l4lm_tok_find2(l4lm_tok *t, const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
    if (na + nb > L4LM_MAX_TOKEN_BYTES)
        return -1;
    piece_key k = {a, b, na, nb};
    tok_table_key q = {piece_cmp, t, &k, &t->work, false};
    return (int32_t)l4lm_tok_table_get(&t->pieces, piece_hash(&k), &q);
}

int32_t l4lm_tok_find(l4lm_tok *t, const uint8_t *s, size_t n)
{
    return l4lm_tok_find2(t, s, n, NULL, 0);
}

/* Equal pieces: the highest id wins, as in llama.cpp. */
static void build_pieces(l4lm_tok *t)
{
    __builtin_memset(t->pieces.slot, 0, ((size_t)t->pieces.mask + 1) * sizeof(uint32_t));
    for (uint32_t id = 0; id < t->v.n_vocab; id++) {
        piece_key k = key_of(t, id);
        tok_table_key q = {piece_cmp, t, &k, &t->work, true};
        l4lm_tok_table_put(&t->pieces, id, piece_hash(&k), &q);
    }
    t->work += l4lm_tok_table_seal(&t->pieces, piece_less, t);
}

/* Byte fallback: <0xNN> as llama.cpp spells it, else the byte as a one-byte piece. */
static void build_byte_map(l4lm_tok *t)
{
    static const char hex[] = "0123456789ABCDEF";
    for (int b = 0; b < 256; b++) {
        uint8_t name[6] = {'<', '0', 'x', (uint8_t)hex[b >> 4], (uint8_t)hex[b & 15], '>'};
        uint8_t raw = (uint8_t)b;
        int32_t id = l4lm_tok_find(t, name, sizeof name);
        t->byte_id[b] = id >= 0 ? id : l4lm_tok_find(t, &raw, 1);
    }
}

/* Control, unknown and user-defined tokens, and those with a control text
** (looked for only among pieces that start as one of those texts does). */
static bool is_special_entry(const l4lm_tok *t, uint32_t id)
{
    if (!t->len[id])
        return false;
    uint8_t c = tok_text(t, id)[0];
    return special_type(l4lm_tok_type(t, id)) ||
           ((t->control_first[c >> 5] >> (c & 31) & 1) && control_text(t, (int32_t)id));
}

/* Special tokens by first byte; the rest leave the index. */
static uint32_t special_bucket(const void *ctx, uint32_t id)
{
    return is_special_entry(ctx, id) ? tok_text(ctx, id)[0] : UINT32_MAX;
}

/* Within a first byte the longest first, so the longest match wins; then by id. */
static bool special_less(const void *ctx, uint32_t x, uint32_t y)
{
    const l4lm_tok *t = ctx;
    uint32_t lx = t->len[x], ly = t->len[y];
    return lx > ly || (lx == ly && x < y);
}

static void build_specials(l4lm_tok *t)
{
    for (int i = 0; i < TOK_N_CONTROL_TEXTS; i++) {
        size_t n = l4lm_strlen(k_control_texts[i]);
        t->control_text[i] = l4lm_tok_find(t, (const uint8_t *)k_control_texts[i], n);
        uint8_t c = (uint8_t)k_control_texts[i][0];
        t->control_first[c >> 5] |= 1u << (c & 31);
    }
    l4lm_sort_index x = {t->special_at, t->special, 256};
    t->work += l4lm_sort_buckets(&x, t->v.n_vocab, special_bucket, special_less, t);
    t->n_special = t->special_at[256];
    for (uint32_t j = 0; j < t->n_special; j++) {
        uint32_t id = t->special[j];
        if (l4lm_tok_type(t, id) == TYPE_USER && !control_text(t, (int32_t)id))
            t->special[j] = id | SPECIAL_ALWAYS;
    }
}

l4lm_status l4lm_tok_init(l4lm_tok **out, const l4lm_vocab_src *v, void *mem, size_t mem_size,
                          size_t max_text)
{
    if (!out || !v || !mem || ((uintptr_t)mem & 7))
        return L4LM_E_ARG;
    *out = NULL;
    tok_layout L;
    l4lm_status st = tok_layout_of(v, max_text, &L);
    if (st != L4LM_OK)
        return st;
    if (L.total > mem_size)
        return L4LM_E_ARENA;
    uint8_t *base = mem;
    l4lm_tok *t = mem;
    __builtin_memset(t, 0, sizeof *t);
    t->v = *v;
    t->bpe = v->pre != L4LM_PRE_NONE;
    t->off = (uint32_t *)(void *)(base + L.off);
    t->len = (uint16_t *)(void *)(base + L.len);
    t->pieces = (tok_table){(uint32_t *)(void *)(base + L.piece_slot), L.piece_slots - 1,
                            (uint32_t *)(void *)(base + L.piece_over), 0};
    t->special = (uint32_t *)(void *)(base + L.special);
    t->norm = base + L.norm;
    t->sym = (tok_sym *)(void *)(base + L.sym);
    t->heap = (uint32_t *)(void *)(base + L.heap);
    t->cps = (uint32_t *)(void *)(base + L.cps);
    t->rule = (tok_merge_rule *)(void *)(base + L.rule);
    t->rules =
        (tok_table){(uint32_t *)(void *)(base + L.rule_slot), L.rule_slots ? L.rule_slots - 1 : 0,
                    (uint32_t *)(void *)(base + L.rule_over), 0};
    t->plain = base + L.plain;
    t->max_text = max_text;
    st = tok_walk(v, NULL, t->off, t->len);
    if (st != L4LM_OK)
        return st;
    build_pieces(t);
    build_byte_map(t);
    build_specials(t);
    st = t->bpe ? l4lm_bpe_init(t) : L4LM_OK;
    if (st != L4LM_OK)
        return st;
    *out = t;
    return L4LM_OK;
}

/* ---- encoding ---- */

static bool any_plain(const uint8_t *plain, size_t from, size_t n)
{
    for (size_t i = from; plain && i < from + n; i++)
        if (plain[i >> 3] >> (i & 7) & 1)
            return true;
    return false;
}

/* The length of the special token at text[i], its id in *id; 0 if none. */
static size_t special_match(const l4lm_tok *t, const uint8_t *text, size_t len, size_t i,
                            bool parse_special, const uint8_t *plain, int32_t *id)
{
    uint8_t b = text[i];
    for (uint32_t j = t->special_at[b]; j < t->special_at[b + 1]; j++) {
        uint32_t s = t->special[j] & ~SPECIAL_ALWAYS;
        size_t n = t->len[s];
        if (!parse_special && !(t->special[j] & SPECIAL_ALWAYS))
            continue;
        if (n <= len - i && !__builtin_memcmp(text + i, tok_text(t, s), n) &&
            ((t->special[j] & SPECIAL_ALWAYS) || !any_plain(plain, i, n))) {
            *id = (int32_t)s;
            return n;
        }
    }
    return 0;
}

/* Phi-3: the whitespace after a special token goes, but after these three. */
static size_t rstrip(const l4lm_tok *t, int32_t id, const uint8_t *text, size_t len, size_t i)
{
    static const char keep[3][16] = {"<unk>", "<s>", "<|endoftext|>"};
    if (!t->v.special_rstrip)
        return i;
    for (int k = 0; k < 3; k++)
        if (l4lm_streq((const char *)tok_text(t, (uint32_t)id), t->len[id], keep[k]))
            return i;
    while (i < len && (text[i] == ' ' || (text[i] >= '\t' && text[i] <= '\r')))
        i++;
    return i;
}

/* Plain text between special tokens. */
static l4lm_status fragment(l4lm_tok *t, const uint8_t *text, size_t len, bool *after_special,
                            int32_t *out, size_t cap, size_t *n)
{
    if (!len)
        return L4LM_OK;
    bool prefix = t->v.add_space_prefix && *after_special;
    *after_special = false;
    return t->bpe ? l4lm_bpe_encode(t, text, len, out, cap, n)
                  : l4lm_spm_encode(t, text, len, prefix, out, cap, n);
}

/*
** Writes up to cap ids to out. *n_out is the number of ids the text needs;
** when that exceeds cap the result is L4LM_E_BUFFER (out holds the first cap).
*/
l4lm_status l4lm_tok_encode(l4lm_tok *t, const char *text, size_t len, uint32_t flags, int32_t *out,
                            size_t cap, size_t *n_out)
{
    return l4lm_tok_encode_plain(t, text, len, flags, NULL, out, cap, n_out);
}

l4lm_status l4lm_tok_encode_plain(l4lm_tok *t, const char *text, size_t len, uint32_t flags,
                                  const uint8_t *plain, int32_t *out, size_t cap, size_t *n_out)
{
    if (!t || !n_out || (!text && len) || (!out && cap))
        return L4LM_E_ARG;
    *n_out = 0;
    if (len > t->max_text)
        return L4LM_E_PROMPT_TOO_LONG;
    const uint8_t *p = (const uint8_t *)text;
    bool add = flags & L4LM_TOK_BOS, parse = flags & L4LM_TOK_SPECIAL, after_special = true;
    size_t n = 0, from = 0;
    l4lm_status st = L4LM_OK;
    if (add && t->v.add_bos && t->v.bos >= 0)
        l4lm_tok_emit(out, cap, &n, t->v.bos);
    for (size_t i = 0; t->n_special && i < len && st == L4LM_OK;) {
        int32_t id;
        size_t k = special_match(t, p, len, i, parse, plain, &id);
        if (!k) {
            i++;
            continue;
        }
        st = fragment(t, p + from, i - from, &after_special, out, cap, &n);
        l4lm_tok_emit(out, cap, &n, id);
        after_special = true;
        from = i = rstrip(t, id, p, len, i + k);
    }
    if (st == L4LM_OK)
        st = fragment(t, p + from, len - from, &after_special, out, cap, &n);
    if (st != L4LM_OK)
        return st;
    if (add && t->v.add_eos && t->v.eos >= 0)
        l4lm_tok_emit(out, cap, &n, t->v.eos);
    *n_out = n;
    return n > cap ? L4LM_E_BUFFER : L4LM_OK;
}

/* ---- decoding one token ---- */

bool l4lm_tok_is_special(const l4lm_tok *t, int32_t id)
{
    if (!t || id < 0 || (uint32_t)id >= t->v.n_vocab)
        return false;
    if (id == t->v.bos || id == t->v.eos)
        return true;
    if (t->v.format == L4LM_FORMAT_LLAMA2C)
        return id == t->v.unk;
    /* what llama.cpp renders as "" when not asked for special text */
    int32_t type = l4lm_tok_type(t, (uint32_t)id);
    return type == TYPE_UNKNOWN || type == TYPE_CONTROL || type == TYPE_UNUSED ||
           control_text(t, id);
}

/*
** The text of a token: a normal token's bytes ("▁" as a space for SPM; GPT-2
** characters as their bytes for BPE), a byte token <0xNN> as its byte,
** anything else (control, user-defined, llama2.c BOS "\n<s>\n") as stored.
** Writes at most cap bytes, cutting the piece there (possibly inside a UTF-8
** character), and returns the bytes written; 0 for an id outside the
** vocabulary.
*/
size_t l4lm_tok_piece(const l4lm_tok *t, int32_t id, char *buf, size_t cap)
{
    if (!t || !buf || id < 0 || (uint32_t)id >= t->v.n_vocab)
        return 0;
    const uint8_t *p = tok_text(t, (uint32_t)id);
    size_t n = t->len[id], w = 0;
    int32_t type = t->v.format == L4LM_FORMAT_GGUF ? l4lm_tok_type(t, (uint32_t)id) : TYPE_BYTE;
    int byte = type == TYPE_BYTE ? piece_byte(p, n) : -1;
    if (byte >= 0) {
        if (cap)
            buf[w++] = (char)byte;
        return w;
    }
    bool unescape = t->v.format == L4LM_FORMAT_GGUF && type != TYPE_UNKNOWN &&
                    type != TYPE_CONTROL && type != TYPE_USER && type != TYPE_UNUSED;
    if (unescape && t->bpe)
        return l4lm_bpe_piece(p, n, buf, cap);
    for (size_t i = 0; i < n && w < cap; i++) {
        if (unescape && n - i >= 3 && p[i] == 0xE2 && p[i + 1] == 0x96 && p[i + 2] == 0x81) {
            buf[w++] = ' ';
            i += 2;
        } else {
            buf[w++] = (char)p[i];
        }
    }
    return w;
}
