/*
** gguf.c — reads GGUF v2/v3 files (llama.cpp's model format) in place.
**
** A GGUF file is: "GGUF", u32 version, u64 tensor count, u64 key/value count,
** the key/values, the tensor infos, padding to the alignment, tensor data.
** Everything is little-endian; strings are a u64 length and bytes (no NUL).
**
** The file is hostile input. l4lm_gguf_open() walks every byte the accessors
** will ever touch and checks each length, count, type, shape and offset
** against the blob before using it, so the accessors can simply re-read.
** Nothing here recurses: nested arrays use a small explicit stack.
**
** Opening costs O(n log n) in what it reads, never more: the caller lends a
** name index (l4lm_gguf_index_size() bytes), the open fills it with the file
** offset of every key and tensor info and sorts their ranks by name with a
** heapsort (no recursion, no worst case beyond n log n). Duplicates are then
** equal neighbours, and every lookup by name is a binary search.
*/
#include <float.h>

#include "internal.h"

#define GGUF_HEADER_BYTES      24
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_NEST          8 /* arrays of arrays, at most this deep */

/*
** The name index, in the caller's memory (u64-aligned):
**   u64 work               names compared and entries read (a test hook)
**   u64 kv[n_kv]           file offset of each key/value, in file order
**   u64 ti[n_tensors]      file offset of each tensor info, in file order
**   u32 kv_by_name[n_kv]   ranks (file-order positions) sorted by name, then rank
**   u32 ti_by_name[n_tensors]
*/
#define IDX_WORK 0
#define IDX_KV   1

/* A read position in the blob, and what to blame when a read fails. */
typedef struct cursor {
    const uint8_t *base;
    uint64_t size;
    uint64_t off;        /* always <= size */
    l4lm_error *err;     /* NULL when re-walking an already checked file */
    const uint8_t *name; /* the key or tensor being read, for messages */
    uint64_t name_len;
    uint64_t steps; /* values and entries read (the work count) */
} cursor;

/* Smallest encoding of one value of each type: strings are a u64 length,
** arrays a u32 type and a u64 count; the others are fixed-size. */
static const uint8_t vtype_min[L4LM_GGUF_VTYPE_COUNT] = {
    [L4LM_GGUF_U8] = 1,     [L4LM_GGUF_I8] = 1,     [L4LM_GGUF_U16] = 2, [L4LM_GGUF_I16] = 2,
    [L4LM_GGUF_U32] = 4,    [L4LM_GGUF_I32] = 4,    [L4LM_GGUF_F32] = 4, [L4LM_GGUF_BOOL] = 1,
    [L4LM_GGUF_STRING] = 8, [L4LM_GGUF_ARRAY] = 12, [L4LM_GGUF_U64] = 8, [L4LM_GGUF_I64] = 8,
    [L4LM_GGUF_F64] = 8,
};

/* x rounded up to a power of two a; true if that overflows. */
static bool align_ovf(uint64_t x, uint64_t a, uint64_t *r)
{
    if (l4lm_add_ovf(x, a - 1, r))
        return true;
    *r = l4lm_align_up(x, a);
    return false;
}

static cursor cursor_at(const l4lm_gguf *g, uint64_t off)
{
    cursor c = {g->base, g->size, off, NULL, NULL, 0, 0};
    return c;
}

/* Returns st itself, not l4lm_fail's result, so that static analysis can see
** every failure path return non-zero (l4lm_fail lives in another file). */
static l4lm_status fail(const cursor *c, l4lm_status st, uint64_t off, const char *what)
{
    l4lm_fail(c->err, st, off, what, (const char *)c->name, c->name_len);
    return st;
}

static bool has(const cursor *c, uint64_t n)
{
    return n <= c->size - c->off;
}

static l4lm_status get_u32(cursor *c, uint32_t *v, const char *what)
{
    if (!has(c, 4))
        return fail(c, L4LM_E_TRUNCATED, c->off, what);
    *v = l4lm_rd32(c->base + c->off);
    c->off += 4;
    return L4LM_OK;
}

static l4lm_status get_u64(cursor *c, uint64_t *v, const char *what)
{
    if (!has(c, 8))
        return fail(c, L4LM_E_TRUNCATED, c->off, what);
    *v = l4lm_rd64(c->base + c->off);
    c->off += 8;
    return L4LM_OK;
}

/* A string of at most max bytes; *s points into the blob. */
static l4lm_status get_str(cursor *c, const uint8_t **s, uint64_t *len, uint64_t max,
                           const char *what)
{
    uint64_t at = c->off;
    l4lm_status st = get_u64(c, len, "file ends inside a string length");
    if (st)
        return st;
    if (*len > max)
        return fail(c, L4LM_E_LIMIT, at, what);
    if (!has(c, *len))
        return fail(c, L4LM_E_TRUNCATED, at, "string extends past end of file");
    *s = c->base + c->off;
    c->off += *len;
    return L4LM_OK;
}

/*
** Steps over one value of the given type. An array whose elements have a
** fixed size is skipped in one step; arrays of strings or of arrays push a
** level (element type, elements left) and are walked element by element.
** Every count is first checked against the bytes left, so a hostile count
** fails at once instead of looping.
*/
static l4lm_status skip_value(cursor *c, uint32_t type)
{
    struct {
        uint32_t type;
        uint64_t left;
    } stack[GGUF_MAX_NEST];
    unsigned depth = 0;
    for (;; c->steps++) {
        uint64_t at = c->off, n, bytes;
        if (type == L4LM_GGUF_ARRAY) {
            if (!has(c, 12))
                return fail(c, L4LM_E_TRUNCATED, at, "file ends inside an array header");
            type = l4lm_rd32(c->base + at);
            n = l4lm_rd64(c->base + at + 4);
            c->off += 12;
            if (type >= L4LM_GGUF_VTYPE_COUNT)
                return fail(c, L4LM_E_TYPE, at, "bad array element type");
            if (depth == GGUF_MAX_NEST)
                return fail(c, L4LM_E_METADATA, at, "arrays nested too deeply");
            if (l4lm_mul_ovf(n, vtype_min[type], &bytes))
                return fail(c, L4LM_E_OVERFLOW, at, "array size overflows");
            if (!has(c, bytes))
                return fail(c, L4LM_E_TRUNCATED, at, "array extends past end of file");
            if (type == L4LM_GGUF_STRING || type == L4LM_GGUF_ARRAY) {
                stack[depth].type = type;
                stack[depth].left = n;
                depth++;
            } else {
                c->off += bytes;
            }
        } else if (type == L4LM_GGUF_STRING) {
            const uint8_t *s;
            l4lm_status st = get_str(c, &s, &n, L4LM_MAX_STRING, "string value too long");
            if (st)
                return st;
        } else {
            if (!has(c, vtype_min[type]))
                return fail(c, L4LM_E_TRUNCATED, at, "file ends inside a metadata value");
            c->off += vtype_min[type];
        }
        while (depth > 0 && stack[depth - 1].left == 0)
            depth--;
        if (depth == 0)
            return L4LM_OK;
        stack[depth - 1].left--;
        type = stack[depth - 1].type;
    }
}

/* Reads the key/value at the cursor into kv and steps past it. */
static l4lm_status next_kv(cursor *c, l4lm_gguf_kv *kv)
{
    const uint8_t *key;
    uint64_t key_len, start;
    l4lm_status st;
    c->name = NULL;
    c->steps++;
    st = get_str(c, &key, &key_len, L4LM_MAX_KEY, "metadata key too long");
    if (st)
        return st;
    c->name = key;
    c->name_len = key_len;
    if ((st = get_u32(c, &kv->type, "file ends inside a metadata value type")))
        return st;
    if (kv->type >= L4LM_GGUF_VTYPE_COUNT)
        return fail(c, L4LM_E_TYPE, c->off - 4, "bad metadata value type");
    start = c->off;
    if ((st = skip_value(c, kv->type)))
        return st;
    kv->key = (const char *)key;
    kv->key_len = (uint32_t)key_len;
    kv->val = c->base + start;
    kv->val_size = c->off - start;
    kv->arr_type = 0;
    kv->arr_n = 0;
    kv->arr = NULL;
    if (kv->type == L4LM_GGUF_ARRAY) {
        kv->arr_type = l4lm_rd32(kv->val);
        kv->arr_n = l4lm_rd64(kv->val + 4);
        kv->arr = kv->val + 12;
    }
    return L4LM_OK;
}

/* "unsupported tensor type q4_K": the type's name is the useful part. */
static l4lm_status bad_tensor_type(const cursor *c, uint64_t at, uint32_t type)
{
    static const char prefix[] = "unsupported tensor type ";
    char what[48];
    const char *name = l4lm_type_name((l4lm_type)type);
    size_t n = sizeof prefix - 1;
    __builtin_memcpy(what, prefix, n);
    while (*name && n + 1 < sizeof what)
        what[n++] = *name++;
    what[n] = 0;
    return fail(c, L4LM_E_TYPE, at, what);
}

/* The shape of a tensor info: n_dims, then n_dims u64 sizes (ggml order). */
static l4lm_status get_shape(cursor *c, l4lm_tensor *t)
{
    uint64_t at = c->off, bound = 1;
    l4lm_status st = get_u32(c, &t->n_dims, "file ends inside a tensor info");
    if (st)
        return st;
    if (t->n_dims < 1 || t->n_dims > L4LM_MAX_DIMS)
        return fail(c, L4LM_E_TENSOR_INFO, at, "tensor has a bad number of dimensions");
    for (uint32_t d = 0; d < L4LM_MAX_DIMS; d++) {
        t->ne[d] = 1;
        if (d < t->n_dims && (st = get_u64(c, &t->ne[d], "file ends inside a tensor shape")))
            return st;
        /* ggml reads sizes as int64 and allows 0 (an empty tensor). Zeros
        ** count as 1 here so that every partial product fits in int64 too. */
        if (t->ne[d] > INT64_MAX)
            return fail(c, L4LM_E_TENSOR_INFO, at, "tensor dimension is negative");
        if (l4lm_mul_ovf(bound, t->ne[d] ? t->ne[d] : 1, &bound) || bound > INT64_MAX)
            return fail(c, L4LM_E_OVERFLOW, at, "tensor element count overflows");
    }
    return L4LM_OK;
}

/*
** Reads the tensor info at the cursor and checks it alone: name, shape,
** type and byte size. t->offset is left relative to the data section.
*/
static l4lm_status next_tensor(cursor *c, l4lm_tensor *t)
{
    const l4lm_type_traits *ti;
    const uint8_t *name;
    uint64_t at = c->off, len, rows;
    uint32_t type = 0;
    l4lm_status st;
    c->name = NULL;
    c->steps++;
    if ((st = get_str(c, &name, &len, L4LM_MAX_NAME, "tensor name too long")))
        return st;
    if (len == 0)
        return fail(c, L4LM_E_TENSOR_INFO, at, "empty tensor name");
    c->name = name;
    c->name_len = len;
    t->name = (const char *)name;
    t->name_len = (uint32_t)len;
    if ((st = get_shape(c, t)) || (st = get_u32(c, &type, "file ends inside a tensor info")))
        return st;
    if (!(ti = l4lm_type_info(type)))
        return bad_tensor_type(c, c->off - 4, type);
    t->type = (l4lm_type)type;
    if (t->ne[0] % ti->block != 0)
        return fail(c, L4LM_E_TENSOR_INFO, at, "tensor rows are not whole blocks");
    if (!l4lm_row_bytes(t->type, t->ne[0], &t->nbytes) || l4lm_mul_ovf(t->ne[1], t->ne[2], &rows) ||
        l4lm_mul_ovf(rows, t->ne[3], &rows) || l4lm_mul_ovf(t->nbytes, rows, &t->nbytes))
        return fail(c, L4LM_E_OVERFLOW, at, "tensor byte size overflows");
    t->data = NULL;
    return get_u64(c, &t->offset, "file ends inside a tensor info");
}

/* Turns a tensor's data-relative offset into a file offset and a pointer. */
static void place(const l4lm_gguf *g, l4lm_tensor *t)
{
    t->offset += g->data_off;
    t->data = g->base + t->offset;
}

static l4lm_status read_header(cursor *c, l4lm_gguf *g)
{
    uint64_t n = c->size < 4 ? c->size : 4;
    uint32_t v;
    if (__builtin_memcmp(c->base, "GGUF", n) != 0)
        return fail(c, L4LM_E_MAGIC, 0, "not a GGUF file (bad magic)");
    if (!has(c, GGUF_HEADER_BYTES))
        return fail(c, L4LM_E_TRUNCATED, 0, "file ends inside the GGUF header");
    v = l4lm_rd32(c->base + 4);
    if (v == 1)
        return fail(c, L4LM_E_VERSION, 4, "GGUF v1 is not supported");
    /* A big-endian file shows its small version number byte-swapped. */
    if (v != 2 && v != 3)
        return fail(c, L4LM_E_VERSION, 4,
                    __builtin_bswap32(v) - 1 < 3 ? "big-endian GGUF is not supported"
                                                 : "unsupported GGUF version");
    g->version = v;
    g->n_tensors = l4lm_rd64(c->base + 8);
    g->n_kv = l4lm_rd64(c->base + 16);
    if (g->n_tensors > L4LM_MAX_TENSORS)
        return fail(c, L4LM_E_LIMIT, 8, "too many tensors");
    if (g->n_kv > L4LM_MAX_KV)
        return fail(c, L4LM_E_LIMIT, 16, "too many metadata keys");
    c->off = GGUF_HEADER_BYTES;
    return L4LM_OK;
}

/* ---- the name index ---- */

static size_t index_bytes(uint64_t n_kv, uint64_t n_tensors)
{
    uint64_t n = n_kv + n_tensors; /* both within their limits: no overflow */
    return (size_t)(8 * (IDX_KV + n) + l4lm_align_up(4 * n, 8));
}

_Static_assert(8 * (IDX_KV + L4LM_MAX_KV + L4LM_MAX_TENSORS) +
                       4 * (L4LM_MAX_KV + L4LM_MAX_TENSORS) ==
                   L4LM_INDEX_MAX_BYTES,
               "l4lm.h's largest index matches the limits");

static uint64_t *offsets(const l4lm_gguf *g, bool tensors)
{
    return g->index + IDX_KV + (tensors ? g->n_kv : 0);
}

static uint32_t *by_name(const l4lm_gguf *g, bool tensors)
{
    uint32_t *kv = (uint32_t *)(g->index + IDX_KV + g->n_kv + g->n_tensors);
    return tensors ? kv + g->n_kv : kv;
}

/* Adds to the work count while g->counting: during the open, and later
** only when a test asks, since sessions on several threads may look names
** up in one model at once (and then nothing may write). */
static void count_work(const l4lm_gguf *g, uint64_t n)
{
    if (g->index && g->counting)
        g->index[IDX_WORK] += n;
}

/* Byte order, then length: the order the index is sorted in. */
static int name_cmp(const uint8_t *a, uint64_t alen, const uint8_t *b, uint64_t blen)
{
    uint64_t n = alen < blen ? alen : blen;
    int d = n ? __builtin_memcmp(a, b, n) : 0;
    return d ? d : (alen > blen) - (alen < blen);
}

/* Keys and tensor infos both start with their name (a GGUF string). */
static int entry_cmp(const uint8_t *base, uint64_t a, uint64_t b)
{
    return name_cmp(base + a + 8, l4lm_rd64(base + a), base + b + 8, l4lm_rd64(base + b));
}

typedef struct sorter {
    const uint8_t *base;
    const uint64_t *off; /* file offset of each rank */
    uint32_t *v;         /* the ranks being sorted */
    uint64_t cmps;
} sorter;

/* Does rank a sort after rank b: by name, equal names in file order. */
static bool after(sorter *s, uint32_t a, uint32_t b)
{
    int d = entry_cmp(s->base, s->off[a], s->off[b]);
    s->cmps++;
    return d ? d > 0 : a > b;
}

static void sift_down(sorter *s, size_t i, size_t n)
{
    uint32_t *v = s->v;
    for (size_t c; (c = 2 * i + 1) < n; i = c) {
        if (c + 1 < n && after(s, v[c + 1], v[c]))
            c++;
        if (!after(s, v[c], v[i]))
            return;
        uint32_t t = v[i];
        v[i] = v[c];
        v[c] = t;
    }
}

/* Heapsort: O(n log n) comparisons at worst, no recursion, no memory. */
static void sort_by_name(l4lm_gguf *g, bool tensors)
{
    sorter s = {g->base, offsets(g, tensors), by_name(g, tensors), 0};
    size_t n = (size_t)(tensors ? g->n_tensors : g->n_kv);
    if (!s.v)
        return;
    for (size_t i = 0; i < n; i++)
        s.v[i] = (uint32_t)i;
    for (size_t i = n / 2; i-- > 0;)
        sift_down(&s, i, n);
    for (size_t end = n; end > 1; end--) {
        uint32_t t = s.v[0];
        s.v[0] = s.v[end - 1];
        s.v[end - 1] = t;
        sift_down(&s, 0, end - 1);
    }
    count_work(g, s.cmps);
}

/*
** Duplicates are equal neighbours once sorted. The one reported is the
** first entry in file order that repeats an earlier name, as a pairwise
** check would find it.
*/
static l4lm_status check_unique(const l4lm_gguf *g, bool tensors, l4lm_status dup, const char *what,
                                l4lm_error *err)
{
    const uint64_t *off = offsets(g, tensors);
    const uint32_t *v = by_name(g, tensors);
    size_t n = (size_t)(tensors ? g->n_tensors : g->n_kv);
    uint32_t first = UINT32_MAX;
    for (size_t i = 1; i < n; i++)
        if (v[i] < first && entry_cmp(g->base, off[v[i - 1]], off[v[i]]) == 0)
            first = v[i]; /* v[i - 1] < v[i]: equal names sort in file order */
    count_work(g, n);
    if (first == UINT32_MAX)
        return L4LM_OK;
    const uint8_t *p = g->base + off[first];
    return l4lm_fail(err, dup, off[first], what, (const char *)p + 8, l4lm_rd64(p));
}

/* The file-order rank of the entry called name, or -1: a binary search. */
static int64_t lookup(const l4lm_gguf *g, bool tensors, const char *name)
{
    uint64_t len = l4lm_strlen(name), cmps = 0;
    size_t lo = 0, hi = (size_t)(tensors ? g->n_tensors : g->n_kv);
    int64_t found = -1;
    if (!g->index)
        return -1;
    const uint64_t *off = offsets(g, tensors);
    const uint32_t *v = by_name(g, tensors);
    while (lo < hi && found < 0) {
        size_t mid = lo + (hi - lo) / 2;
        const uint8_t *p = g->base + off[v[mid]];
        int d = name_cmp(p + 8, l4lm_rd64(p), (const uint8_t *)name, len);
        cmps++;
        if (d == 0)
            found = v[mid];
        else if (d < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    count_work(g, cmps);
    return found;
}

static l4lm_status take_index(l4lm_gguf *g, void *index, size_t index_size, l4lm_error *err)
{
    size_t need = index_bytes(g->n_kv, g->n_tensors);
    if (!index || index_size < need)
        return l4lm_fail_index(err, L4LM_E_INDEX, 0, "name index too small; bytes needed",
                               (uint32_t)need);
    if ((uintptr_t)index & 7)
        return l4lm_fail(err, L4LM_E_ARG, 0, "name index is not 8-byte aligned", NULL, 0);
    g->index = index;
    g->index[IDX_WORK] = 0;
    g->counting = true;
    return L4LM_OK;
}

l4lm_status l4lm_gguf_index_size(const void *bytes, size_t size, size_t *needed)
{
    const uint8_t *p = bytes;
    if (!needed || !bytes)
        return L4LM_E_ARG;
    *needed = 0;
    /* A header the open will refuse needs no index: the open says why. */
    if (!l4lm_gguf_is_gguf(bytes, size) || size < GGUF_HEADER_BYTES ||
        l4lm_rd64(p + 8) > L4LM_MAX_TENSORS || l4lm_rd64(p + 16) > L4LM_MAX_KV)
        return L4LM_OK;
    *needed = index_bytes(l4lm_rd64(p + 16), l4lm_rd64(p + 8));
    return L4LM_OK;
}

uint64_t l4lm_gguf_work(const l4lm_gguf *g)
{
    return g->index ? g->index[IDX_WORK] : 0;
}

/* ---- open ---- */

/* general.alignment: a u32 power of two, 32 when absent (as in ggml). */
static l4lm_status read_alignment(l4lm_gguf *g, l4lm_error *err)
{
    l4lm_gguf_kv kv;
    uint32_t a;
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    if (!l4lm_gguf_find(g, "general.alignment", &kv))
        return L4LM_OK;
    if (kv.type != L4LM_GGUF_U32)
        return l4lm_fail(err, L4LM_E_METADATA, (uint64_t)(kv.val - g->base),
                         "alignment is not a u32", kv.key, kv.key_len);
    a = l4lm_rd32(kv.val);
    if (a == 0 || (a & (a - 1)) != 0)
        return l4lm_fail(err, L4LM_E_METADATA, (uint64_t)(kv.val - g->base),
                         "alignment is not a power of two", kv.key, kv.key_len);
    g->alignment = a;
    return L4LM_OK;
}

/* Checks every key/value alone and notes where each one starts. */
static l4lm_status walk_kvs(cursor *c, l4lm_gguf *g)
{
    uint64_t *off = offsets(g, false);
    l4lm_gguf_kv kv;
    g->kv_off = c->off;
    for (uint64_t i = 0; i < g->n_kv; i++) {
        off[i] = c->off;
        l4lm_status st = next_kv(c, &kv);
        if (st)
            return st;
    }
    g->ti_off = c->off;
    return L4LM_OK;
}

/* Checks every tensor info alone; the data section starts after them. */
static l4lm_status walk_tensor_infos(cursor *c, l4lm_gguf *g)
{
    uint64_t *off = offsets(g, true);
    l4lm_tensor t;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        off[i] = c->off;
        l4lm_status st = next_tensor(c, &t);
        if (st)
            return st;
    }
    if (align_ovf(c->off, g->alignment, &g->data_off))
        return fail(c, L4LM_E_OVERFLOW, c->off, "data section offset overflows");
    return L4LM_OK;
}

/*
** The data layout, as ggml requires it: each tensor starts where the one
** before it ends, rounded up to the alignment (the first at 0), and all of
** it lies inside the file. Without tensors there is no data section at all
** (vocabulary-only files end right after their metadata).
*/
static l4lm_status check_layout(const l4lm_gguf *g, l4lm_error *err)
{
    cursor c = cursor_at(g, g->ti_off);
    uint64_t expect = 0, end;
    l4lm_tensor t;
    l4lm_status st = L4LM_OK;
    c.err = err;
    for (uint64_t i = 0; !st && i < g->n_tensors; i++) {
        if ((st = next_tensor(&c, &t)))
            break;
        if (t.offset != expect)
            st = fail(&c, L4LM_E_TENSOR_OFFSET, c.off - 8,
                      "tensor data offset is not the next aligned one");
        else if (l4lm_add_ovf(g->data_off, t.offset, &end) || l4lm_add_ovf(end, t.nbytes, &end) ||
                 end > g->size)
            st = fail(&c, L4LM_E_TRUNCATED, g->data_off + t.offset,
                      "tensor data extends past end of file");
        else if (align_ovf(t.offset + t.nbytes, g->alignment, &expect))
            st = fail(&c, L4LM_E_OVERFLOW, c.off - 8, "tensor data offset overflows");
    }
    count_work(g, c.steps);
    return st;
}

l4lm_status l4lm_gguf_open(l4lm_gguf *g, const void *bytes, size_t size, void *index,
                           size_t index_size, l4lm_error *err)
{
    cursor c = {bytes, size, 0, err, NULL, 0, 0};
    l4lm_status st;
    if (!g || !bytes)
        return l4lm_fail(err, L4LM_E_ARG, 0, "no GGUF bytes", NULL, 0);
    __builtin_memset(g, 0, sizeof *g);
    g->base = bytes;
    g->size = size;
    if ((st = read_header(&c, g)) || (st = take_index(g, index, index_size, err)) ||
        (st = walk_kvs(&c, g)))
        goto bad;
    sort_by_name(g, false); /* read_alignment looks a key up */
    if ((st = read_alignment(g, err)) || (st = walk_tensor_infos(&c, g)) ||
        (st = check_layout(g, err)) ||
        (st = check_unique(g, false, L4LM_E_METADATA, "duplicate metadata key", err)))
        goto bad;
    sort_by_name(g, true);
    if ((st = check_unique(g, true, L4LM_E_TENSOR_INFO, "duplicate tensor name", err)))
        goto bad;
    count_work(g, c.steps);
    return L4LM_OK;
bad:
    count_work(g, c.steps);
    index = g->index;
    __builtin_memset(g, 0, sizeof *g);
    g->index = index; /* keeps the work count readable */
    return st;
}

bool l4lm_gguf_is_gguf(const void *bytes, size_t size)
{
    return bytes && size >= 4 && __builtin_memcmp(bytes, "GGUF", 4) == 0;
}

l4lm_status l4lm_gguf_kv_at(const l4lm_gguf *g, uint64_t i, l4lm_gguf_kv *kv)
{
    if (i >= g->n_kv)
        return L4LM_E_ARG;
    cursor c = cursor_at(g, offsets(g, false)[i]);
    l4lm_status st = next_kv(&c, kv);
    count_work(g, c.steps);
    return st;
}

bool l4lm_gguf_find(const l4lm_gguf *g, const char *key, l4lm_gguf_kv *kv)
{
    int64_t i = lookup(g, false, key);
    return i >= 0 && l4lm_gguf_kv_at(g, (uint64_t)i, kv) == L4LM_OK;
}

/* Any integer value that is >= 0; false for negatives and non-integers. */
static bool kv_unsigned(const l4lm_gguf_kv *kv, uint64_t *out)
{
    const uint8_t *p = kv->val;
    int64_t s;
    switch (kv->type) {
    case L4LM_GGUF_U8:
        *out = p[0];
        return true;
    case L4LM_GGUF_U16:
        *out = l4lm_rd16(p);
        return true;
    case L4LM_GGUF_U32:
        *out = l4lm_rd32(p);
        return true;
    case L4LM_GGUF_U64:
        *out = l4lm_rd64(p);
        return true;
    case L4LM_GGUF_I8:
        s = (int8_t)p[0]; /* NOLINT(bugprone-signed-char-misuse,cert-str34-c): I8 is signed */
        break;
    case L4LM_GGUF_I16:
        s = (int16_t)l4lm_rd16(p);
        break;
    case L4LM_GGUF_I32:
        s = (int32_t)l4lm_rd32(p);
        break;
    case L4LM_GGUF_I64:
        s = (int64_t)l4lm_rd64(p);
        break;
    default:
        return false;
    }
    if (s < 0)
        return false;
    *out = (uint64_t)s;
    return true;
}

bool l4lm_gguf_u32(const l4lm_gguf *g, const char *key, uint32_t *out)
{
    l4lm_gguf_kv kv;
    uint64_t v = 0;
    if (!l4lm_gguf_find(g, key, &kv) || !kv_unsigned(&kv, &v) || v > UINT32_MAX)
        return false;
    *out = (uint32_t)v;
    return true;
}

bool l4lm_gguf_f32(const l4lm_gguf *g, const char *key, float *out)
{
    l4lm_gguf_kv kv;
    if (!l4lm_gguf_find(g, key, &kv))
        return false;
    if (kv.type == L4LM_GGUF_F32) {
        *out = l4lm_rdf32(kv.val);
        return true;
    }
    if (kv.type == L4LM_GGUF_F64) {
        uint64_t u = l4lm_rd64(kv.val);
        double d;
        __builtin_memcpy(&d, &u, sizeof d);
        /* A finite double beyond float range does not convert (C11 6.3.1.5). */
        if ((d > FLT_MAX || d < -FLT_MAX) && !__builtin_isinf(d))
            return false;
        *out = (float)d;
        return true;
    }
    return false;
}

bool l4lm_gguf_bool(const l4lm_gguf *g, const char *key, bool *out)
{
    l4lm_gguf_kv kv;
    if (!l4lm_gguf_find(g, key, &kv) || kv.type != L4LM_GGUF_BOOL)
        return false;
    *out = kv.val[0] != 0;
    return true;
}

bool l4lm_gguf_str(const l4lm_gguf *g, const char *key, const char **s, uint64_t *len)
{
    l4lm_gguf_kv kv;
    if (!l4lm_gguf_find(g, key, &kv) || kv.type != L4LM_GGUF_STRING)
        return false;
    *s = (const char *)kv.val + 8;
    *len = l4lm_rd64(kv.val);
    return true;
}

l4lm_status l4lm_gguf_tensor_at(const l4lm_gguf *g, uint64_t i, l4lm_tensor *t)
{
    if (i >= g->n_tensors)
        return L4LM_E_ARG;
    cursor c = cursor_at(g, offsets(g, true)[i]);
    l4lm_status st = next_tensor(&c, t);
    count_work(g, c.steps);
    if (!st)
        place(g, t);
    return st;
}

bool l4lm_gguf_tensor(const l4lm_gguf *g, const char *name, l4lm_tensor *t)
{
    int64_t i = lookup(g, true, name);
    return i >= 0 && l4lm_gguf_tensor_at(g, (uint64_t)i, t) == L4LM_OK;
}
