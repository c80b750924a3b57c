/*
** tok_bpe.c — byte-level BPE (GPT-2, Llama 3, Qwen2 vocabularies), as
** llama.cpp's BPE tokenizer does it. Pieces spell bytes as printable
** characters (GPT-2's map: ' ' is "Ġ", '\n' is "Ċ"). A text fragment is
** cut into words by the pre-tokenizer (pretok.c); each word's bytes are
** mapped to those characters, one symbol each, and the adjacent pair with
** the lowest-ranked merge rule merges until no rule applies (tok_merge.c).
** Each symbol then is its token; one that is no token (only when the
** vocabulary lacks a single byte's character) goes out byte by byte where
** such one-byte pieces exist, and is dropped otherwise, as in llama.cpp.
**
** The merge rules ("left right", rank = position) become a table
** (tok_table.c) from the two token ids to the rank and the merged token,
** whose cost stays bounded when the rules are chosen to collide.
*/
#include "tok.h"

#define MAX_MERGES (1u << 22)

uint64_t l4lm_bpe_rule_slots(uint32_t n_merges)
{
    uint64_t slots = 16;
    while (slots < (uint64_t)n_merges + n_merges / 2)
        slots *= 2;
    return slots;
}

/* Where "left right" splits: the first space after the first byte, as llama.cpp splits. */
static uint64_t rule_split(const uint8_t *p, uint64_t n)
{
    for (uint64_t i = 1; i + 1 < n; i++)
        if (p[i] == ' ')
            return i;
    return 0;
}

/*
** Every rule inside merges_size, no longer than two pieces and a space, and
** of the form "left right". With t (session init), also resolves each rule
** to token ids in t->rule: both sides must be tokens, the concatenation may
** not be (it then merges into a symbol no later rule names). Error offsets
** are relative to v->merges.
*/
static l4lm_status rule_walk(const l4lm_vocab_src *v, l4lm_error *err, l4lm_tok *t)
{
    if (!v->merges || v->n_merges == 0)
        return l4lm_fail(err, L4LM_E_TOKENIZER, 0, "tokenizer: BPE without merges", NULL, 0);
    if (v->n_merges > MAX_MERGES)
        return l4lm_fail(err, L4LM_E_LIMIT, 0, "tokenizer: too many merges", NULL, 0);
    uint64_t pos = 0, size = v->merges_size;
    for (uint32_t i = 0; i < v->n_merges; i++) {
        if (size - pos < 8)
            return l4lm_fail_index(err, L4LM_E_TRUNCATED, pos, "tokenizer: truncated at merge", i);
        uint64_t n = l4lm_rd64(v->merges + pos);
        if (n > 2 * L4LM_MAX_TOKEN_BYTES + 1)
            return l4lm_fail_index(err, L4LM_E_LIMIT, pos, "tokenizer: too long merge", i);
        pos += 8;
        if (size - pos < n)
            return l4lm_fail_index(err, L4LM_E_TRUNCATED, pos, "tokenizer: truncated merge", i);
        const uint8_t *p = v->merges + pos;
        uint64_t split = rule_split(p, n);
        if (!split)
            return l4lm_fail_index(err, L4LM_E_TOKENIZER, pos, "tokenizer: merge not 'left right'",
                                   i);
        if (t) {
            tok_merge_rule *r = &t->rule[i];
            /* A side that is no token makes the rule inert (it can never
            ** apply), as in llama.cpp, which loads such rules unchecked.
            ** Refusing it here would refuse at session start a model that
            ** opened and planned: only the session has the token table. */
            r->left = l4lm_tok_find(t, p, split);
            r->right = l4lm_tok_find(t, p + split + 1, n - split - 1);
            r->result = l4lm_tok_find2(t, p, split, p + split + 1, n - split - 1);
        }
        pos += n;
    }
    return L4LM_OK;
}

l4lm_status l4lm_bpe_check(const l4lm_vocab_src *v, l4lm_error *err)
{
    return rule_walk(v, err, NULL);
}

static uint32_t pair_hash(int32_t left, int32_t right)
{
    uint64_t x = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    x ^= x >> 33; /* a 64-bit finaliser mix */
    x *= 0xFF51AFD7ED558CCDull;
    x ^= x >> 33;
    return (uint32_t)x;
}

/* Rules order by left, then right id. */
static int rule_cmp(const void *ctx, uint32_t rank, const void *key)
{
    const tok_merge_rule *r = &((const l4lm_tok *)ctx)->rule[rank], *k = key;
    if (r->left != k->left)
        return r->left < k->left ? -1 : 1;
    return r->right == k->right ? 0 : r->right < k->right ? -1 : 1;
}

/* A rule repeating an earlier pair comes after it: the look-up finds the earlier
** (in the table, a repeat is not put in). */
static bool rule_less(const void *ctx, uint32_t x, uint32_t y)
{
    int c = rule_cmp(ctx, x, &((const l4lm_tok *)ctx)->rule[y]);
    return c < 0 || (c == 0 && x < y);
}

l4lm_status l4lm_bpe_init(l4lm_tok *t)
{
    l4lm_status st = rule_walk(&t->v, NULL, t);
    if (st)
        return st;
    __builtin_memset(t->rules.slot, 0, ((size_t)t->rules.mask + 1) * sizeof(uint32_t));
    for (uint32_t i = 0; i < t->v.n_merges; i++) {
        const tok_merge_rule *r = &t->rule[i];
        if (r->left < 0 || r->right < 0)
            continue; /* inert */
        tok_table_key q = {rule_cmp, t, r, &t->work, false};
        l4lm_tok_table_put(&t->rules, i, pair_hash(r->left, r->right), &q);
    }
    t->work += l4lm_tok_table_seal(&t->rules, rule_less, t);
    return L4LM_OK;
}

bool l4lm_bpe_pair(l4lm_tok *t, int32_t left, int32_t right, uint32_t *rank, int32_t *result)
{
    if (left < 0 || right < 0)
        return false;
    tok_merge_rule k = {left, right, -1};
    tok_table_key q = {rule_cmp, t, &k, &t->work, false};
    int64_t at = l4lm_tok_table_get(&t->rules, pair_hash(left, right), &q);
    if (at < 0)
        return false;
    *rank = (uint32_t)at;
    *result = t->rule[*rank].result;
    return true;
}

/* ---- encoding ---- */

/* The word cps[from..to) as GPT-2 characters in norm, one symbol per byte. */
static uint32_t word_symbols(l4lm_tok *t, uint32_t from, uint32_t to)
{
    uint32_t n = 0, n_sym = 0;
    for (uint32_t i = from; i < to; i++) {
        uint8_t bytes[4];
        uint32_t k = l4lm_utf8_encode(t->cps[i], bytes);
        for (uint32_t j = 0; j < k; j++) {
            tok_sym *s = &t->sym[n_sym];
            s->start = n;
            s->prev = (int32_t)n_sym - 1;
            s->next = (int32_t)n_sym + 1;
            n += l4lm_utf8_encode(l4lm_gpt2_byte_cp[bytes[j]], t->norm + n);
            s->id = l4lm_tok_find(t, t->norm + s->start, n - s->start);
            s->pair_id = -1;
            n_sym++;
        }
    }
    if (n_sym)
        t->sym[n_sym - 1].next = -1;
    t->n_norm = n;
    return n_sym;
}

static void word_emit(l4lm_tok *t, int32_t *out, size_t cap, size_t *n)
{
    for (int32_t s = 0; s >= 0; s = t->sym[s].next) {
        if (t->sym[s].id >= 0) {
            l4lm_tok_emit(out, cap, n, t->sym[s].id);
            continue;
        }
        uint32_t start = t->sym[s].start, end = l4lm_tok_sym_end(t, (uint32_t)s);
        for (uint32_t i = start; i < end; i++) {
            int32_t id = l4lm_tok_find(t, t->norm + i, 1);
            if (id >= 0)
                l4lm_tok_emit(out, cap, n, id);
        }
    }
}

l4lm_status l4lm_bpe_encode(l4lm_tok *t, const uint8_t *text, size_t len, int32_t *out, size_t cap,
                            size_t *n)
{
    uint32_t n_cp = l4lm_utf8_decode(text, len, t->cps);
    for (uint32_t pos = 0, end; pos < n_cp; pos = end) {
        end = l4lm_pretok_next(t->v.pre, t->cps, n_cp, pos);
        uint32_t n_sym = word_symbols(t, pos, end);
        /* Llama 3: a word that is a token as a whole skips the merges */
        int32_t whole = t->v.pre == L4LM_PRE_LLAMA3 && t->n_norm <= L4LM_MAX_TOKEN_BYTES
                            ? l4lm_tok_find(t, t->norm, t->n_norm)
                            : -1;
        if (whole >= 0) {
            l4lm_tok_emit(out, cap, n, whole);
            continue;
        }
        l4lm_tok_merge(t, n_sym);
        word_emit(t, out, cap, n);
    }
    return L4LM_OK;
}

/* ---- decoding ---- */

/* The byte a GPT-2 character stands for, or -1 (see tools/gen_unicode.py). */
static int32_t cp_byte(uint32_t cp)
{
    if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF))
        return (int32_t)cp;
    if (cp < 0x100 || cp > 0x143)
        return -1;
    uint32_t k = cp - 0x100; /* the k-th byte not printable as itself */
    return (int32_t)(k <= 0x20 ? k : k <= 0x42 ? 0x7F + (k - 0x21) : 0xAD);
}

/* A normal piece's bytes: each GPT-2 character as its byte, other text as it is. */
size_t l4lm_bpe_piece(const uint8_t *p, size_t n, char *buf, size_t cap)
{
    size_t w = 0;
    for (size_t i = 0; i < n && w < cap;) {
        uint32_t cp;
        size_t k = 1;
        if (p[i] >= 0xC0 && p[i] < 0xE0 && i + 1 < n && (p[i + 1] & 0xC0) == 0x80) {
            cp = (uint32_t)(p[i] & 0x1F) << 6 | (p[i + 1] & 0x3Fu);
            k = 2;
        } else {
            cp = p[i] < 0x80 ? p[i] : 0xFFFFFFFFu;
        }
        int32_t b = cp_byte(cp);
        if (b >= 0) {
            buf[w++] = (char)b;
        } else {
            for (size_t j = 0; j < k && w < cap; j++)
                buf[w++] = (char)p[i + j];
        }
        i += k;
    }
    return w;
}
