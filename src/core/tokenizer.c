/*
** tokenizer.c — SentencePiece-style BPE over a vocabulary used in place.
**
** The pieces stay where the model loader found them (a GGUF string array or a
** llama2.c tokenizer.bin). The arena holds only tables: each piece's offset
** and length, the ids sorted by piece text (a binary search stands in for a
** hash map), the byte-fallback map, and the scratch of one encode.
**
** Encoding follows llama.cpp's SPM tokenizer, which llama2.c's encode also
** matches: normalise the text (GGUF: ' ' -> U+2581 "▁"; a leading space as the
** dummy prefix), split it into UTF-8 characters, then repeatedly merge the
** adjacent pair whose concatenation is a piece with the highest score, ties
** going to the leftmost pair. Each symbol keeps the score of the pair it
** starts, and the pairs sit in an indexed max-heap, so a merge costs
** O(log n). A final symbol that is not a piece is written as byte tokens
** <0xNN> (byte fallback), or as unk when the vocabulary has none.
**
** Known differences from llama.cpp: user-defined tokens (GGUF type 4) are not
** split out of the text before BPE (they merge like any other piece); an
** invalid UTF-8 byte is a symbol of its own (see tok_split); a byte with no
** byte token gives unk (llama.cpp aborts).
*/
#include "internal.h"

enum {
    TYPE_NORMAL = 1,
    TYPE_UNKNOWN = 2,
    TYPE_CONTROL = 3,
    TYPE_USER = 4,
    TYPE_UNUSED = 5,
    TYPE_BYTE = 6
};

/* Longest text an arena can be planned for: keeps every index within 32 bits. */
#define TOK_MAX_TEXT ((1u << 30) - 2)

/* One character or merged run of the normalised text, in a doubly linked list. */
typedef struct tok_sym {
    uint32_t start;     /* first byte in norm; the symbol ends where next starts */
    int32_t prev, next; /* live neighbours, -1 at the ends */
    int32_t slot;       /* heap position of the pair (this, next); -1: not a piece */
    uint32_t key;       /* that pair's score as an ordered integer */
} tok_sym;

struct l4lm_tok {
    l4lm_vocab_src v;
    uint32_t *off;        /* [n_vocab] piece offset from v.tokens */
    uint16_t *len;        /* [n_vocab] piece length in bytes */
    uint32_t *sorted;     /* [n_vocab] ids ordered by piece bytes, then id */
    int32_t byte_id[256]; /* byte-fallback token of each byte, -1: none */
    size_t max_text;
    uint8_t *norm;  /* [norm_cap] normalised text of one encode */
    tok_sym *sym;   /* [max_text + 1] */
    uint32_t *heap; /* [max_text + 1] symbol ids, best pair first */
    uint32_t n_norm, n_heap;
};

/* Where each table lives, as offsets from the arena start. */
typedef struct tok_layout {
    uint64_t off, len, sorted, norm, sym, heap, total;
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

/* One function sizes and places the tables, so plan and init always agree. */
static l4lm_status tok_layout_of(const l4lm_vocab_src *v, size_t max_text, tok_layout *L)
{
    if (!v || v->n_vocab == 0 ||
        (v->format != L4LM_FORMAT_GGUF && v->format != L4LM_FORMAT_LLAMA2C))
        return L4LM_E_TOKENIZER;
    if (v->n_vocab > L4LM_MAX_VOCAB || max_text > TOK_MAX_TEXT)
        return L4LM_E_LIMIT;
    uint64_t n_sym = (uint64_t)max_text + 1; /* the dummy prefix adds one character */
    uint64_t norm_per_char = v->format == L4LM_FORMAT_GGUF ? 3 : 1; /* ' ' grows to "▁" */
    uint64_t at = l4lm_align_up(sizeof(struct l4lm_tok), L4LM_ALIGN);
    bool ok = carve(&at, v->n_vocab, sizeof(uint32_t), &L->off) &&
              carve(&at, v->n_vocab, sizeof(uint16_t), &L->len) &&
              carve(&at, v->n_vocab, sizeof(uint32_t), &L->sorted) &&
              carve(&at, n_sym, norm_per_char, &L->norm) &&
              carve(&at, n_sym, sizeof(tok_sym), &L->sym) &&
              carve(&at, n_sym, sizeof(uint32_t), &L->heap);
    L->total = at;
    return ok && at <= SIZE_MAX ? L4LM_OK : L4LM_E_OVERFLOW;
}

size_t l4lm_tok_arena_bytes(const l4lm_vocab_src *v, size_t max_text)
{
    tok_layout L;
    return tok_layout_of(v, max_text, &L) == L4LM_OK ? (size_t)L.total : 0;
}

/* ---- validating the source ---- */

/* Fails with the token index as the name, e.g. "tokenizer: piece too long '42'". */
static l4lm_status tok_fail(l4lm_error *err, l4lm_status st, uint64_t off, const char *what,
                            uint32_t index)
{
    char num[10];
    size_t n = sizeof num;
    do {
        num[--n] = (char)('0' + index % 10);
        index /= 10;
    } while (index && n);
    return l4lm_fail(err, st, off, what, num + n, sizeof num - n);
}

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
            return tok_fail(err, L4LM_E_TRUNCATED, pos, "tokenizer: truncated at piece", i);
        const uint8_t *p = v->tokens + pos;
        uint64_t n = gguf ? l4lm_rd64(p) : (uint64_t)(int64_t)(int32_t)l4lm_rd32(p + 4);
        if (!gguf && (int64_t)n < 0)
            return tok_fail(err, L4LM_E_TOKENIZER, pos, "tokenizer: negative length of piece", i);
        if (n > L4LM_MAX_TOKEN_BYTES)
            return tok_fail(err, L4LM_E_LIMIT, pos, "tokenizer: too long piece", i);
        pos += 8;
        if (size - pos < n)
            return tok_fail(err, L4LM_E_TRUNCATED, pos, "tokenizer: truncated piece", i);
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
    return L4LM_OK;
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

static float tok_score(const l4lm_tok *t, uint32_t id)
{
    if (t->v.format == L4LM_FORMAT_LLAMA2C) /* the score precedes the length */
        return l4lm_rdf32(tok_text(t, id) - 8);
    return t->v.scores ? l4lm_rdf32(t->v.scores + 4 * (size_t)id) : 0.0f;
}

/* GGUF token type; without a type array every token is normal. */
static int32_t tok_type(const l4lm_tok *t, uint32_t id)
{
    return t->v.types ? (int32_t)l4lm_rd32(t->v.types + 4 * (size_t)id) : TYPE_NORMAL;
}

/* Scores as unsigned integers that order like the floats (NaN sorts to an end). */
static uint32_t score_key(float f)
{
    uint32_t u;
    if (f == 0.0f)
        /* cppcheck-suppress duplicateConditionalAssign ; it turns -0 into +0 */
        f = 0.0f; /* -0 and +0 tie, as they compare equal */
    __builtin_memcpy(&u, &f, sizeof u);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

static int bytes_cmp(const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
    size_t n = na < nb ? na : nb;
    int c = n ? __builtin_memcmp(a, b, n) : 0;
    if (c)
        return c;
    return (na > nb) - (na < nb);
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

/* ---- piece -> id: ids sorted by text (heapsort: no recursion, no memory) ---- */

static bool id_less(const l4lm_tok *t, uint32_t a, uint32_t b)
{
    int c = bytes_cmp(tok_text(t, a), t->len[a], tok_text(t, b), t->len[b]);
    return c < 0 || (c == 0 && a < b);
}

static void sort_sift(const l4lm_tok *t, uint32_t *a, size_t i, size_t n)
{
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            return;
        if (c + 1 < n && id_less(t, a[c], a[c + 1]))
            c++;
        if (!id_less(t, a[i], a[c]))
            return;
        uint32_t tmp = a[i];
        a[i] = a[c];
        a[c] = tmp;
        i = c;
    }
}

static void sort_ids(const l4lm_tok *t, uint32_t *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        a[i] = (uint32_t)i;
    for (size_t i = n / 2; i-- > 0;)
        sort_sift(t, a, i, n);
    for (size_t end = n; end-- > 1;) {
        uint32_t tmp = a[0];
        a[0] = a[end];
        a[end] = tmp;
        sort_sift(t, a, 0, end);
    }
}

/* The id of the piece s[0..n), or -1. Equal pieces: the highest id wins, as in llama.cpp. */
static int32_t tok_find(const l4lm_tok *t, const uint8_t *s, size_t n)
{
    size_t lo = 0, hi = t->v.n_vocab; /* find the first entry sorting after s */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint32_t id = t->sorted[mid];
        if (bytes_cmp(tok_text(t, id), t->len[id], s, n) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return -1;
    uint32_t id = t->sorted[lo - 1];
    return bytes_cmp(tok_text(t, id), t->len[id], s, n) == 0 ? (int32_t)id : -1;
}

/* Byte fallback: <0xNN> as llama.cpp spells it, else the byte as a one-byte piece. */
static void build_byte_map(l4lm_tok *t)
{
    static const char hex[] = "0123456789ABCDEF";
    for (int b = 0; b < 256; b++) {
        uint8_t name[6] = {'<', '0', 'x', (uint8_t)hex[b >> 4], (uint8_t)hex[b & 15], '>'};
        uint8_t raw = (uint8_t)b;
        int32_t id = tok_find(t, name, sizeof name);
        t->byte_id[b] = id >= 0 ? id : tok_find(t, &raw, 1);
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
    t->off = (uint32_t *)(void *)(base + L.off);
    t->len = (uint16_t *)(void *)(base + L.len);
    t->sorted = (uint32_t *)(void *)(base + L.sorted);
    t->norm = base + L.norm;
    t->sym = (tok_sym *)(void *)(base + L.sym);
    t->heap = (uint32_t *)(void *)(base + L.heap);
    t->max_text = max_text;
    st = tok_walk(v, NULL, t->off, t->len);
    if (st != L4LM_OK)
        return st;
    sort_ids(t, t->sorted, v->n_vocab);
    build_byte_map(t);
    *out = t;
    return L4LM_OK;
}

/* ---- the pair heap: best score first, ties to the leftmost symbol ---- */

static bool pair_better(const l4lm_tok *t, uint32_t a, uint32_t b)
{
    uint32_t ka = t->sym[a].key, kb = t->sym[b].key;
    return ka > kb || (ka == kb && a < b);
}

static void heap_put(l4lm_tok *t, uint32_t pos, uint32_t s)
{
    t->heap[pos] = s;
    t->sym[s].slot = (int32_t)pos;
}

static void heap_up(l4lm_tok *t, uint32_t pos)
{
    uint32_t s = t->heap[pos];
    while (pos > 0 && pair_better(t, s, t->heap[(pos - 1) / 2])) {
        heap_put(t, pos, t->heap[(pos - 1) / 2]);
        pos = (pos - 1) / 2;
    }
    heap_put(t, pos, s);
}

static void heap_down(l4lm_tok *t, uint32_t pos)
{
    uint32_t s = t->heap[pos];
    for (;;) {
        uint32_t c = 2 * pos + 1;
        if (c >= t->n_heap)
            break;
        if (c + 1 < t->n_heap && pair_better(t, t->heap[c + 1], t->heap[c]))
            c++;
        if (!pair_better(t, t->heap[c], s))
            break;
        heap_put(t, pos, t->heap[c]);
        pos = c;
    }
    heap_put(t, pos, s);
}

static void heap_remove(l4lm_tok *t, uint32_t s)
{
    int32_t pos = t->sym[s].slot;
    if (pos < 0)
        return;
    t->sym[s].slot = -1;
    uint32_t last = t->heap[--t->n_heap];
    if ((uint32_t)pos == t->n_heap)
        return;
    heap_put(t, (uint32_t)pos, last);
    heap_up(t, (uint32_t)pos);
    heap_down(t, (uint32_t)t->sym[last].slot);
}

static uint32_t sym_end(const l4lm_tok *t, uint32_t s)
{
    int32_t next = t->sym[s].next;
    return next >= 0 ? t->sym[next].start : t->n_norm;
}

/* Re-evaluates the pair starting at symbol s: in the heap iff it is a piece. */
static void pair_update(l4lm_tok *t, int32_t s)
{
    if (s < 0)
        return;
    heap_remove(t, (uint32_t)s);
    if (t->sym[s].next < 0)
        return;
    uint32_t start = t->sym[s].start, n = sym_end(t, (uint32_t)t->sym[s].next) - start;
    int32_t id = n <= L4LM_MAX_TOKEN_BYTES ? tok_find(t, t->norm + start, n) : -1;
    if (id < 0)
        return;
    t->sym[s].key = score_key(tok_score(t, (uint32_t)id));
    heap_put(t, t->n_heap++, (uint32_t)s);
    heap_up(t, (uint32_t)t->sym[s].slot);
}

/* ---- encoding ---- */

/* Text -> norm: the dummy prefix, and ' ' -> "▁" for GGUF (llama2.c pieces keep spaces). */
static void tok_normalise(l4lm_tok *t, const char *text, size_t len)
{
    bool gguf = t->v.format == L4LM_FORMAT_GGUF;
    uint32_t n = 0;
    for (size_t i = 0; i < len + 1; i++) {
        uint8_t c = i == 0 ? ' ' : (uint8_t)text[i - 1];
        if (i == 0 && (len == 0 || !t->v.add_space_prefix))
            continue;
        if (c == ' ' && gguf) {
            t->norm[n++] = 0xE2;
            t->norm[n++] = 0x96;
            t->norm[n++] = 0x81;
        } else {
            t->norm[n++] = c;
        }
    }
    t->n_norm = n;
}

/*
** One symbol per UTF-8 character. A lead byte whose continuation bytes are
** missing is a symbol of its own, as is a stray continuation byte; so every
** symbol starts at a byte of the original text (or the prefix) and there are
** at most len + 1 of them. For valid UTF-8 this is llama.cpp's split; for
** invalid bytes llama.cpp lets a lead byte swallow whatever follows.
*/
static uint32_t tok_split(l4lm_tok *t)
{
    static const uint8_t seq_len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    const uint8_t *p = t->norm;
    uint32_t n_sym = 0;
    for (uint32_t at = 0; at < t->n_norm; n_sym++) {
        tok_sym *s = &t->sym[n_sym];
        s->start = at;
        s->prev = (int32_t)n_sym - 1;
        s->slot = -1;
        uint32_t n = seq_len[p[at] >> 4], k = 1;
        while (k < n && at + k < t->n_norm && (p[at + k] & 0xC0) == 0x80)
            k++;
        at += k == n ? n : 1;
        s->next = at < t->n_norm ? (int32_t)n_sym + 1 : -1;
    }
    return n_sym;
}

static void tok_merge(l4lm_tok *t, uint32_t n_sym)
{
    t->n_heap = 0;
    for (uint32_t s = 0; s + 1 < n_sym; s++)
        pair_update(t, (int32_t)s);
    while (t->n_heap) {
        uint32_t l = t->heap[0];
        int32_t r = t->sym[l].next;
        heap_remove(t, l);
        heap_remove(t, (uint32_t)r);
        t->sym[l].next = t->sym[r].next;
        if (t->sym[r].next >= 0)
            t->sym[t->sym[r].next].prev = (int32_t)l;
        pair_update(t, t->sym[l].prev);
        pair_update(t, (int32_t)l);
    }
}

static void emit(int32_t *out, size_t cap, size_t *n, int32_t id)
{
    if (*n < cap)
        out[*n] = id;
    (*n)++;
}

/* Symbols -> ids: a piece as itself, anything else byte by byte. */
static l4lm_status tok_emit(const l4lm_tok *t, uint32_t n_sym, int32_t *out, size_t cap, size_t *n)
{
    for (int32_t s = n_sym ? 0 : -1; s >= 0; s = t->sym[s].next) {
        uint32_t start = t->sym[s].start, len = sym_end(t, (uint32_t)s) - start;
        int32_t id = len <= L4LM_MAX_TOKEN_BYTES ? tok_find(t, t->norm + start, len) : -1;
        if (id >= 0) {
            emit(out, cap, n, id);
            continue;
        }
        for (uint32_t i = 0; i < len; i++) {
            int32_t b = t->byte_id[t->norm[start + i]];
            if (b < 0)
                b = t->v.unk;
            if (b < 0)
                return L4LM_E_TOKENIZER; /* neither byte tokens nor unk */
            emit(out, cap, n, b);
        }
    }
    return L4LM_OK;
}

/*
** Writes up to cap ids to out. *n_out is the number of ids the text needs;
** when that exceeds cap the result is L4LM_E_BUFFER (out holds the first cap).
*/
l4lm_status l4lm_tok_encode(l4lm_tok *t, const char *text, size_t len, bool add_bos, int32_t *out,
                            size_t cap, size_t *n_out)
{
    if (!t || !n_out || (!text && len) || (!out && cap))
        return L4LM_E_ARG;
    *n_out = 0;
    if (len > t->max_text)
        return L4LM_E_PROMPT_TOO_LONG;
    size_t n = 0;
    if (add_bos && t->v.add_bos && t->v.bos >= 0)
        emit(out, cap, &n, t->v.bos);
    tok_normalise(t, text, len);
    uint32_t n_sym = tok_split(t);
    tok_merge(t, n_sym);
    l4lm_status st = tok_emit(t, n_sym, out, cap, &n);
    if (st != L4LM_OK)
        return st;
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
    int32_t type = tok_type(t, (uint32_t)id);
    return type == TYPE_UNKNOWN || type == TYPE_CONTROL || type == TYPE_UNUSED;
}

/*
** The text of a token: "▁" as a space (GGUF normal tokens), a byte token
** <0xNN> as its byte, anything else (control, user-defined, llama2.c BOS
** "\n<s>\n") as stored. Writes at most cap bytes, cutting the piece there
** (possibly inside a UTF-8 character), and returns the bytes written; 0 for
** an id outside the vocabulary.
*/
size_t l4lm_tok_piece(const l4lm_tok *t, int32_t id, char *buf, size_t cap)
{
    if (!t || !buf || id < 0 || (uint32_t)id >= t->v.n_vocab)
        return 0;
    const uint8_t *p = tok_text(t, (uint32_t)id);
    size_t n = t->len[id], w = 0;
    int32_t type = t->v.format == L4LM_FORMAT_GGUF ? tok_type(t, (uint32_t)id) : TYPE_BYTE;
    int byte = type == TYPE_BYTE ? piece_byte(p, n) : -1;
    if (byte >= 0) {
        if (cap)
            buf[w++] = (char)byte;
        return w;
    }
    bool unescape = t->v.format == L4LM_FORMAT_GGUF && type != TYPE_UNKNOWN &&
                    type != TYPE_CONTROL && type != TYPE_USER && type != TYPE_UNUSED;
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
