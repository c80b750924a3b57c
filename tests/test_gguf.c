/*
** test_gguf.c — the GGUF reader against files written here by a tiny writer
** (every value type, nested arrays, custom alignment, one broken file per
** check) and against ../shared/models/stories260K.gguf and the llama.cpp
** vocabulary files. Every file is opened from an exact-size copy so that
** AddressSanitizer catches any read past its end.
*/
#include <stdint.h>

#include "internal.h"
#include "t.h"

#include "gguf_write.h"

static void wheader(wbuf *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv)
{
    put(b, "GGUF", 4);
    w32(b, version);
    w64(b, n_tensors);
    w64(b, n_kv);
}

static void wkey(wbuf *b, const char *key, uint32_t type)
{
    wstr(b, key);
    w32(b, type);
}

static void warr(wbuf *b, uint32_t elem_type, uint64_t n)
{
    w32(b, elem_type);
    w64(b, n);
}

static void wtensor(wbuf *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                    uint64_t off)
{
    wstr(b, name);
    w32(b, n_dims);
    for (uint32_t d = 0; d < n_dims; d++)
        w64(b, ne[d]);
    w32(b, type);
    w64(b, off);
}

static void wpad(wbuf *b, size_t align)
{
    while (b->n % align)
        wle(b, 0, 1);
}

static size_t up(size_t x, size_t a)
{
    return (x + a - 1) / a * a;
}

/* ---- opening from an exact-size copy ---- */

static unsigned char *exact_copy(const void *p, size_t n)
{
    unsigned char *c = malloc(n ? n : 1);
    if (!c)
        abort();
    if (n)
        memcpy(c, p, n);
    return c;
}

/* l4lm_gguf_open with a name index of exactly the size asked for, in a heap
** block of its own (AddressSanitizer sees any access past it). *ix holds it
** while g is used; each call frees the one before, and free(*ix) ends it. */
static l4lm_status gopen(void **ix, l4lm_gguf *g, const void *p, size_t n, l4lm_error *e)
{
    size_t need = 0;
    free(*ix);
    if (p)
        l4lm_gguf_index_size(p, n, &need);
    if (!(*ix = malloc(need ? need : 1)))
        abort();
    return l4lm_gguf_open(g, p, n, *ix, need, e);
}

static l4lm_status open_blob(const wbuf *b, l4lm_error *e)
{
    unsigned char *c = exact_copy(b->p, b->n);
    l4lm_gguf g;
    void *ix = NULL;
    l4lm_status st = gopen(&ix, &g, c, b->n, e);
    free(c);
    free(ix);
    return st;
}

#define ANY_OFFSET UINT64_MAX

/*
** Opens b (then frees it) and expects status want and, unless NULL or
** ANY_OFFSET, exactly the error text what at file offset off.
*/
static void expect_msg(const char *name, wbuf *b, l4lm_status want, const char *what, uint64_t off)
{
    l4lm_error e = {0};
    l4lm_status st = open_blob(b, &e);
    T_CHECK(name,
            st == want && (!what || !strcmp(e.what, what)) &&
                (off == ANY_OFFSET || e.offset == off),
            "got %d (%s: '%s' at %llu), want %d", st, l4lm_strerror(st), e.what,
            (unsigned long long)e.offset, want);
    free(b->p);
    memset(b, 0, sizeof *b);
}

static void expect(const char *name, wbuf *b, l4lm_status want)
{
    expect_msg(name, b, want, NULL, ANY_OFFSET);
}

/* ---- the valid file: every value type, nested arrays, five tensors ---- */

typedef struct tspec {
    const char *name;
    uint32_t n_dims;
    uint64_t ne[4];
    uint32_t type;
    size_t bytes;
} tspec;

static const tspec tensors[] = {
    {"tok", 2, {4, 3}, L4LM_TYPE_F32, 48},
    {"q8", 2, {64, 2}, L4LM_TYPE_Q8_0, 4 * 34},
    {"h", 1, {5}, L4LM_TYPE_F16, 10},
    {"q4", 3, {32, 1, 2}, L4LM_TYPE_Q4_0, 2 * 18},
    {"bf", 4, {2, 1, 1, 3}, L4LM_TYPE_BF16, 12},
};
#define N_TENSORS (sizeof tensors / sizeof tensors[0])

/* Where the writer put things, to compare with what the reader finds. */
typedef struct layout {
    size_t data_start;
    size_t off[N_TENSORS];
    size_t nested_val_size; /* bytes of the "t.nested" value */
    uint64_t n_kv;
} layout;

static const uint8_t fixed_size[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

static void write_kvs(wbuf *b, uint32_t alignment, layout *l)
{
    size_t at;
    l->n_kv = 0;
#define KV(key, type) (wkey(b, key, type), l->n_kv++)
    KV("general.architecture", L4LM_GGUF_STRING), wstr(b, "llama");
    KV("t.u8", L4LM_GGUF_U8), wle(b, 200, 1);
    KV("t.i8", L4LM_GGUF_I8), wle(b, (uint8_t)-5, 1);
    KV("t.u16", L4LM_GGUF_U16), wle(b, 60000, 2);
    KV("t.i16", L4LM_GGUF_I16), wle(b, (uint16_t)-300, 2);
    KV("t.u32", L4LM_GGUF_U32), w32(b, 4000000000u);
    KV("t.i32", L4LM_GGUF_I32), w32(b, (uint32_t)-7);
    KV("t.i32pos", L4LM_GGUF_I32), w32(b, 123);
    KV("t.f32", L4LM_GGUF_F32), wf32(b, 1.5f);
    KV("t.bool", L4LM_GGUF_BOOL), wle(b, 1, 1);
    KV("t.u64", L4LM_GGUF_U64), w64(b, 5000000000ull);
    KV("t.u64small", L4LM_GGUF_U64), w64(b, 77);
    KV("t.i64", L4LM_GGUF_I64), w64(b, (uint64_t)-9);
    KV("t.f64", L4LM_GGUF_F64), wf64(b, 2.25);
    KV("t.f64big", L4LM_GGUF_F64), wf64(b, 1e300);
    /* An array of each fixed-size element type, elements 1, 2, 3. */
    for (uint32_t t = 0; t < L4LM_GGUF_VTYPE_COUNT; t++) {
        char key[32];
        if (!fixed_size[t])
            continue;
        snprintf(key, sizeof key, "t.arr%u", t);
        KV(key, L4LM_GGUF_ARRAY), warr(b, t, 3);
        for (int i = 1; i <= 3; i++)
            wle(b, (uint64_t)i, fixed_size[t]);
    }
    KV("t.strs", L4LM_GGUF_ARRAY), warr(b, L4LM_GGUF_STRING, 3);
    wstr(b, "a"), wstr(b, "bc"), wstr(b, "");
    KV("t.empty", L4LM_GGUF_ARRAY), warr(b, L4LM_GGUF_F32, 0);
    /* [[1, 2], [["x"], []]] : arrays of arrays, of mixed element types. */
    KV("t.nested", L4LM_GGUF_ARRAY);
    at = b->n;
    warr(b, L4LM_GGUF_ARRAY, 2);
    warr(b, L4LM_GGUF_U32, 2), w32(b, 1), w32(b, 2);
    warr(b, L4LM_GGUF_ARRAY, 2);
    warr(b, L4LM_GGUF_STRING, 1), wstr(b, "x");
    warr(b, L4LM_GGUF_STRING, 0);
    l->nested_val_size = b->n - at;
    if (alignment)
        KV("general.alignment", L4LM_GGUF_U32), w32(b, alignment);
#undef KV
}

static wbuf build_valid(uint32_t version, uint32_t alignment, layout *l)
{
    wbuf b = {0}, kvs = {0};
    size_t a = alignment ? alignment : 32, next = 0;
    write_kvs(&kvs, alignment, l);
    wheader(&b, version, N_TENSORS, l->n_kv);
    put(&b, kvs.p, kvs.n);
    free(kvs.p);
    for (size_t i = 0; i < N_TENSORS; i++) {
        l->off[i] = next;
        next = up(next + tensors[i].bytes, a);
        wtensor(&b, tensors[i].name, tensors[i].n_dims, tensors[i].ne, tensors[i].type, l->off[i]);
    }
    wpad(&b, a);
    l->data_start = b.n;
    for (size_t i = 0; i < N_TENSORS; i++) {
        while (b.n < l->data_start + l->off[i])
            wle(&b, 0xee, 1);
        for (size_t k = 0; k < tensors[i].bytes; k++)
            wle(&b, (i + 1) * 16 + k % 16, 1);
    }
    return b;
}

static int tensor_ok(const unsigned char *blob, const layout *l, size_t i, const l4lm_tensor *t)
{
    const tspec *s = &tensors[i];
    const unsigned char *d = t->data;
    if (t->name_len != strlen(s->name) || memcmp(t->name, s->name, t->name_len) ||
        t->n_dims != s->n_dims || t->type != (l4lm_type)s->type || t->nbytes != s->bytes ||
        t->offset != l->data_start + l->off[i] || d != blob + l->data_start + l->off[i])
        return 0;
    for (size_t d4 = 0; d4 < 4; d4++)
        if (t->ne[d4] != (d4 < s->n_dims ? s->ne[d4] : 1))
            return 0;
    return d[0] == (i + 1) * 16 && d[s->bytes - 1] == (i + 1) * 16 + (s->bytes - 1) % 16;
}

static void test_valid(uint32_t version, uint32_t alignment)
{
    void *ix = NULL;
    char name[64];
    layout l;
    wbuf b = build_valid(version, alignment, &l);
    unsigned char *blob = exact_copy(b.p, b.n);
    l4lm_gguf g;
    l4lm_error e = {0};
    l4lm_tensor t;
    l4lm_status st = gopen(&ix, &g, blob, b.n, &e);
    uint32_t want_align = alignment ? alignment : 32;
    int ok = 1;

    snprintf(name, sizeof name, "gguf_valid_v%u_align%u", version, want_align);
    if (!T_CHECK(name,
                 st == L4LM_OK && g.version == version && g.alignment == want_align &&
                     g.n_kv == l.n_kv && g.n_tensors == N_TENSORS && g.data_off == l.data_start,
                 "st %d (%s), version %u align %u n_kv %llu data_off %llu want %zu", st, e.what,
                 g.version, g.alignment, (unsigned long long)g.n_kv, (unsigned long long)g.data_off,
                 l.data_start))
        goto done;
    for (size_t i = 0; i < N_TENSORS; i++) {
        ok &= l4lm_gguf_tensor_at(&g, i, &t) == L4LM_OK && tensor_ok(blob, &l, i, &t);
        ok &= l4lm_gguf_tensor(&g, tensors[i].name, &t) && tensor_ok(blob, &l, i, &t);
    }
    ok &= !l4lm_gguf_tensor(&g, "nope", &t) && !l4lm_gguf_tensor(&g, "to", &t);
    ok &= l4lm_gguf_tensor_at(&g, N_TENSORS, &t) == L4LM_E_ARG;
    snprintf(name, sizeof name, "gguf_valid_v%u_align%u_tensors", version, want_align);
    T_CHECK(name, ok, "a tensor's name, shape, type, size or data pointer is wrong");
done:
    free(blob);
    free(b.p);
    free(ix);
}

/* Typed getters, arrays and nested arrays on the valid file. */
static void test_values(void)
{
    void *ix = NULL;
    layout l;
    wbuf b = build_valid(3, 64, &l);
    unsigned char *blob = exact_copy(b.p, b.n);
    l4lm_gguf g;
    l4lm_gguf_kv kv;
    uint32_t u = 4242;
    float f = 0;
    bool bo = false;
    const char *s = NULL;
    uint64_t len = 0;
    int ok;

    if (gopen(&ix, &g, blob, b.n, NULL) != L4LM_OK) {
        T_FAIL("gguf_getters", "valid file did not open");
        goto done;
    }
    ok = l4lm_gguf_u32(&g, "t.u8", &u) && u == 200;
    ok &= l4lm_gguf_u32(&g, "t.u16", &u) && u == 60000;
    ok &= l4lm_gguf_u32(&g, "t.u32", &u) && u == 4000000000u;
    ok &= l4lm_gguf_u32(&g, "t.i32pos", &u) && u == 123;
    ok &= l4lm_gguf_u32(&g, "t.u64small", &u) && u == 77;
    u = 4242;
    ok &= !l4lm_gguf_u32(&g, "t.i8", &u) && !l4lm_gguf_u32(&g, "t.i16", &u) &&
          !l4lm_gguf_u32(&g, "t.i32", &u) && !l4lm_gguf_u32(&g, "t.i64", &u) &&
          !l4lm_gguf_u32(&g, "t.u64", &u) && !l4lm_gguf_u32(&g, "t.f32", &u) &&
          !l4lm_gguf_u32(&g, "t.bool", &u) && !l4lm_gguf_u32(&g, "missing", &u) &&
          !l4lm_gguf_u32(&g, "t.u", &u) && u == 4242;
    T_CHECK("gguf_getter_u32", ok, "u32 getter accepted or rejected the wrong values");

    ok = l4lm_gguf_f32(&g, "t.f32", &f) && f == 1.5f;
    ok &= l4lm_gguf_f32(&g, "t.f64", &f) && f == 2.25f;
    f = 7;
    ok &= !l4lm_gguf_f32(&g, "t.f64big", &f) && !l4lm_gguf_f32(&g, "t.u32", &f) && f == 7;
    ok &= l4lm_gguf_bool(&g, "t.bool", &bo) && bo && !l4lm_gguf_bool(&g, "t.u8", &bo);
    ok &= l4lm_gguf_str(&g, "general.architecture", &s, &len) && len == 5 &&
          !memcmp(s, "llama", 5) && !l4lm_gguf_str(&g, "t.u8", &s, &len);
    T_CHECK("gguf_getter_f32_bool_str", ok, "f32/bool/str getter wrong");

    ok = 1;
    for (uint32_t t = 0; t < L4LM_GGUF_VTYPE_COUNT; t++) {
        char key[32];
        const uint8_t *p;
        if (!fixed_size[t])
            continue;
        snprintf(key, sizeof key, "t.arr%u", t);
        ok &= l4lm_gguf_find(&g, key, &kv) && kv.type == L4LM_GGUF_ARRAY && kv.arr_type == t &&
              kv.arr_n == 3 && kv.val_size == 12 + 3u * fixed_size[t];
        p = kv.arr;
        ok &= p[0] == 1 && p[fixed_size[t]] == 2 && p[2 * fixed_size[t]] == 3;
    }
    ok &= l4lm_gguf_find(&g, "t.strs", &kv) && kv.arr_type == L4LM_GGUF_STRING && kv.arr_n == 3 &&
          kv.val_size == 12 + 8 + 1 + 8 + 2 + 8 && kv.arr[0] == 1 && kv.arr[8] == 'a' &&
          kv.arr[9] == 2 && kv.arr[17] == 'b';
    ok &= l4lm_gguf_find(&g, "t.empty", &kv) && kv.arr_n == 0 && kv.val_size == 12;
    ok &= l4lm_gguf_find(&g, "t.nested", &kv) && kv.arr_type == L4LM_GGUF_ARRAY && kv.arr_n == 2 &&
          kv.val_size == l.nested_val_size;
    T_CHECK("gguf_arrays", ok, "array type, count, size or elements wrong");

    ok = l4lm_gguf_kv_at(&g, 0, &kv) == L4LM_OK &&
         l4lm_streq(kv.key, kv.key_len, "general.architecture") && kv.type == L4LM_GGUF_STRING &&
         kv.val_size == 8 + 5;
    ok &= l4lm_gguf_kv_at(&g, l.n_kv - 1, &kv) == L4LM_OK &&
          l4lm_streq(kv.key, kv.key_len, "general.alignment");
    ok &= l4lm_gguf_kv_at(&g, l.n_kv, &kv) == L4LM_E_ARG;
    T_CHECK("gguf_kv_at", ok, "kv_at wrong");
done:
    free(blob);
    free(b.p);
    free(ix);
}

/* ---- one broken file per check ---- */

/* A file with one u8 KV "k" of the given type, the value bytes to follow. */
static wbuf one_kv(const char *key, uint32_t type)
{
    wbuf b = {0};
    wheader(&b, 3, 0, 1);
    wkey(&b, key, type);
    return b;
}

/* A file with n tensors of F32 [4] at the given data offsets, data filled. */
static wbuf f32_tensors(const char *const *names, const uint64_t *offs, size_t n, size_t data)
{
    wbuf b = {0};
    uint64_t ne[1] = {4};
    wheader(&b, 3, n, 0);
    for (size_t i = 0; i < n; i++)
        wtensor(&b, names[i], 1, ne, L4LM_TYPE_F32, offs[i]);
    wpad(&b, 32);
    for (size_t i = 0; i < data; i++)
        wle(&b, 0, 1);
    return b;
}

/* One tensor with the given shape and type, its data present. */
static wbuf one_tensor(const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                       size_t data)
{
    wbuf b = {0};
    wheader(&b, 3, 1, 0);
    wtensor(&b, name, n_dims, ne, type, 0);
    wpad(&b, 32);
    for (size_t i = 0; i < data; i++)
        wle(&b, 0, 1);
    return b;
}

/* Arrays nested `levels` deep around one u8 (or one string). */
static wbuf nested(int levels, uint32_t inner)
{
    wbuf b = one_kv("deep", L4LM_GGUF_ARRAY);
    for (int i = 1; i < levels; i++)
        warr(&b, L4LM_GGUF_ARRAY, 1);
    warr(&b, inner, 1);
    if (inner == L4LM_GGUF_STRING)
        wstr(&b, "s");
    else
        wle(&b, 7, 1);
    return b;
}

static void test_header_errors(void)
{
    void *ix = NULL;
    wbuf b = {0};
    l4lm_error e = {0};
    l4lm_gguf g;

    T_CHECK("gguf_null_bytes", gopen(&ix, &g, NULL, 10, &e) == L4LM_E_ARG, "not E_ARG");
    expect("gguf_empty_file", &b, L4LM_E_TRUNCATED);
    put(&b, "GG", 2);
    expect("gguf_two_bytes", &b, L4LM_E_TRUNCATED);
    put(&b, "PK", 2);
    expect("gguf_short_not_gguf", &b, L4LM_E_MAGIC);
    wheader(&b, 3, 0, 0);
    b.p[3] = 'X';
    expect("gguf_bad_magic", &b, L4LM_E_MAGIC);
    wheader(&b, 3, 0, 0);
    b.n = 20;
    expect("gguf_header_truncated", &b, L4LM_E_TRUNCATED);
    wheader(&b, 1, 0, 0);
    expect("gguf_v1", &b, L4LM_E_VERSION);
    wheader(&b, 4, 0, 0);
    expect_msg("gguf_v4", &b, L4LM_E_VERSION, "unsupported GGUF version", 4);
    wheader(&b, 0, 0, 0);
    expect_msg("gguf_v0", &b, L4LM_E_VERSION, "unsupported GGUF version", 4);
    wheader(&b, 0x03000000u, 0, 0);
    expect_msg("gguf_big_endian", &b, L4LM_E_VERSION, "big-endian GGUF is not supported", 4);
    wheader(&b, 3, 0, 0);
    expect("gguf_empty_v3", &b, L4LM_OK);
    wheader(&b, 2, 0, 0);
    expect("gguf_empty_v2", &b, L4LM_OK);
    wheader(&b, 3, (uint64_t)1 << 40, 0);
    expect("gguf_huge_tensor_count", &b, L4LM_E_LIMIT);
    wheader(&b, 3, L4LM_MAX_TENSORS + 1, 0);
    expect("gguf_tensor_count_limit", &b, L4LM_E_LIMIT);
    wheader(&b, 3, 0, UINT64_MAX);
    expect("gguf_huge_kv_count", &b, L4LM_E_LIMIT);
    wheader(&b, 3, 0, 5);
    expect("gguf_kv_count_past_end", &b, L4LM_E_TRUNCATED);
    free(ix);
}

static void test_kv_errors(void)
{
    wbuf b = {0};

    wheader(&b, 3, 0, 1);
    w64(&b, 100), put(&b, "short", 5);
    expect("gguf_key_past_end", &b, L4LM_E_TRUNCATED);
    wheader(&b, 3, 0, 1);
    w64(&b, (uint64_t)L4LM_MAX_STRING + 1), put(&b, "k", 1);
    expect("gguf_key_too_long", &b, L4LM_E_LIMIT);
    b = one_kv("k", L4LM_GGUF_STRING), w64(&b, 10), put(&b, "abc", 3);
    expect_msg("gguf_string_past_end", &b, L4LM_E_TRUNCATED, "string extends past end of file 'k'",
               24 + 9 + 4);
    b = one_kv("k", L4LM_GGUF_STRING), w64(&b, UINT64_MAX);
    expect("gguf_string_huge", &b, L4LM_E_LIMIT);
    b = one_kv("k", L4LM_GGUF_U32), put(&b, "ab", 2);
    expect("gguf_value_past_end", &b, L4LM_E_TRUNCATED);
    b = one_kv("k", L4LM_GGUF_VTYPE_COUNT), w32(&b, 0);
    expect("gguf_bad_value_type", &b, L4LM_E_TYPE);
    b = one_kv("k", UINT32_MAX), w32(&b, 0);
    expect("gguf_bad_value_type_max", &b, L4LM_E_TYPE);
    b = one_kv("k", L4LM_GGUF_ARRAY), warr(&b, 13, 1), w32(&b, 0);
    expect("gguf_bad_array_type", &b, L4LM_E_TYPE);
    b = one_kv("k", L4LM_GGUF_ARRAY), warr(&b, L4LM_GGUF_U64, (uint64_t)1 << 62);
    expect("gguf_array_size_overflow", &b, L4LM_E_OVERFLOW);
    b = one_kv("k", L4LM_GGUF_ARRAY), warr(&b, L4LM_GGUF_ARRAY, (uint64_t)1 << 61);
    expect("gguf_array_of_arrays_overflow", &b, L4LM_E_OVERFLOW);
    b = one_kv("k", L4LM_GGUF_ARRAY), warr(&b, L4LM_GGUF_U32, 1000), w64(&b, 0);
    expect("gguf_array_past_end", &b, L4LM_E_TRUNCATED);
    b = one_kv("k", L4LM_GGUF_ARRAY), warr(&b, L4LM_GGUF_STRING, (uint64_t)1 << 60);
    expect("gguf_string_array_past_end", &b, L4LM_E_TRUNCATED);
    b = one_kv("k", L4LM_GGUF_ARRAY), warr(&b, L4LM_GGUF_STRING, 2), wstr(&b, "a"), w64(&b, 50);
    expect("gguf_string_in_array_past_end", &b, L4LM_E_TRUNCATED);
    b = one_kv("k", L4LM_GGUF_ARRAY), warr(&b, L4LM_GGUF_U8, 3), put(&b, "abc", 3);
    expect("gguf_array_exact_end", &b, L4LM_OK);

    b = nested(8, L4LM_GGUF_U8);
    expect("gguf_nested_8_ok", &b, L4LM_OK);
    b = nested(8, L4LM_GGUF_STRING);
    expect("gguf_nested_8_strings_ok", &b, L4LM_OK);
    b = nested(9, L4LM_GGUF_U8);
    expect_msg("gguf_nested_9_too_deep", &b, L4LM_E_METADATA, "arrays nested too deeply 'deep'",
               24 + 12 + 4 + 8 * 12);
    b = nested(200, L4LM_GGUF_U8);
    expect("gguf_nested_200_too_deep", &b, L4LM_E_METADATA);

    wheader(&b, 3, 0, 3);
    wkey(&b, "a", L4LM_GGUF_U8), wle(&b, 1, 1);
    wkey(&b, "b", L4LM_GGUF_ARRAY), warr(&b, L4LM_GGUF_STRING, 1), wstr(&b, "a");
    wkey(&b, "a", L4LM_GGUF_STRING), wstr(&b, "x");
    expect_msg("gguf_duplicate_key", &b, L4LM_E_METADATA, "duplicate metadata key 'a'", b.n - 22);
    wheader(&b, 3, 0, 2);
    wkey(&b, "ab", L4LM_GGUF_U8), wle(&b, 1, 1);
    wkey(&b, "a", L4LM_GGUF_U8), wle(&b, 1, 1);
    expect("gguf_prefix_keys_distinct", &b, L4LM_OK);

    b = one_kv("general.alignment", L4LM_GGUF_U32), w32(&b, 0);
    expect("gguf_alignment_zero", &b, L4LM_E_METADATA);
    b = one_kv("general.alignment", L4LM_GGUF_U32), w32(&b, 48);
    expect("gguf_alignment_not_pow2", &b, L4LM_E_METADATA);
    b = one_kv("general.alignment", L4LM_GGUF_U64), w64(&b, 64);
    expect("gguf_alignment_not_u32", &b, L4LM_E_METADATA);
    b = one_kv("general.alignment", L4LM_GGUF_U32), w32(&b, 1);
    expect("gguf_alignment_one", &b, L4LM_OK);
}

static void test_tensor_errors(void)
{
    static const char *const ab[] = {"a", "b"}, *const aa[] = {"a", "a"};
    static const char *const abc[] = {"a", "b", "c"};
    uint64_t ne[5] = {4, 1, 1, 1, 1};
    char long_name[L4LM_MAX_NAME + 2];
    wbuf b;

    b = f32_tensors(ab, (const uint64_t[]){0, 32}, 2, 48);
    expect("gguf_two_tensors_ok", &b, L4LM_OK);
    b = f32_tensors(aa, (const uint64_t[]){0, 32}, 2, 48);
    expect("gguf_duplicate_tensor", &b, L4LM_E_TENSOR_INFO);
    b = f32_tensors(ab, (const uint64_t[]){32, 64}, 2, 80);
    expect("gguf_first_offset_not_0", &b, L4LM_E_TENSOR_OFFSET);
    b = f32_tensors(ab, (const uint64_t[]){0, 16}, 2, 48);
    expect("gguf_offset_misaligned", &b, L4LM_E_TENSOR_OFFSET);
    b = f32_tensors(abc, (const uint64_t[]){0, 64, 96}, 3, 112);
    expect("gguf_offset_gap", &b, L4LM_E_TENSOR_OFFSET);
    b = f32_tensors(ab, (const uint64_t[]){0, 0}, 2, 48);
    expect("gguf_offset_overlap", &b, L4LM_E_TENSOR_OFFSET);
    b = f32_tensors(ab, (const uint64_t[]){0, 32}, 2, 47);
    expect_msg("gguf_data_past_end", &b, L4LM_E_TRUNCATED,
               "tensor data extends past end of file 'b'", b.n - 47 + 32);
    b = f32_tensors(ab, (const uint64_t[]){0, 32}, 2, 0);
    expect("gguf_data_missing", &b, L4LM_E_TRUNCATED);
    b = f32_tensors(ab, (const uint64_t[]){0, 32}, 2, 0);
    b.n -= 1; /* cut inside the padding before the data */
    expect("gguf_data_start_past_end", &b, L4LM_E_TRUNCATED);

    b = one_tensor("t", 0, ne, L4LM_TYPE_F32, 16);
    expect("gguf_ndims_0", &b, L4LM_E_TENSOR_INFO);
    b = one_tensor("t", 5, ne, L4LM_TYPE_F32, 16);
    expect("gguf_ndims_5", &b, L4LM_E_TENSOR_INFO);
    b = one_tensor("t", 4, ne, L4LM_TYPE_F32, 16);
    expect("gguf_ndims_4_ok", &b, L4LM_OK);
    b = one_tensor("t", 2, (const uint64_t[]){(uint64_t)1 << 32, (uint64_t)1 << 32}, L4LM_TYPE_F32,
                   0);
    expect("gguf_dim_product_overflow", &b, L4LM_E_OVERFLOW);
    /* 2^63 elements: the byte size (2^63 * 18/32) would still fit in a u64. */
    b = one_tensor("t", 2, (const uint64_t[]){(uint64_t)1 << 32, (uint64_t)1 << 31}, L4LM_TYPE_Q4_0,
                   0);
    expect("gguf_dim_product_int64_max", &b, L4LM_E_OVERFLOW);
    b = one_tensor("t", 3, (const uint64_t[]){0, (uint64_t)1 << 40, (uint64_t)1 << 40},
                   L4LM_TYPE_F32, 0);
    expect("gguf_dim_product_overflow_with_zero", &b, L4LM_E_OVERFLOW);
    b = one_tensor("t", 1, (const uint64_t[]){(uint64_t)1 << 63}, L4LM_TYPE_F32, 0);
    expect("gguf_dim_negative", &b, L4LM_E_TENSOR_INFO);
    b = one_tensor("t", 1, (const uint64_t[]){(uint64_t)1 << 62}, L4LM_TYPE_F32, 0);
    expect("gguf_byte_size_overflow", &b, L4LM_E_OVERFLOW);
    b = one_tensor("t", 2, (const uint64_t[]){0, 5}, L4LM_TYPE_F32, 0);
    expect("gguf_empty_tensor_ok", &b, L4LM_OK);
    b = one_tensor("t", 1, ne, 99, 16);
    expect("gguf_tensor_type_unknown", &b, L4LM_E_TYPE);
    b = one_tensor("t", 1, ne, 4, 16); /* an id ggml retired */
    expect("gguf_tensor_type_retired", &b, L4LM_E_TYPE);
    b = one_tensor("blk.0.ffn_up.weight", 2, (const uint64_t[]){256, 2}, 16, 2 * 66);
    expect_msg("gguf_tensor_type_unsupported", &b, L4LM_E_TYPE,
               "unsupported tensor type iq2_xxs 'blk.0.ffn_up.weight'", ANY_OFFSET);
    b = one_tensor("t", 1, (const uint64_t[]){33}, L4LM_TYPE_Q8_0, 68);
    expect("gguf_q8_0_partial_block", &b, L4LM_E_TENSOR_INFO);
    b = one_tensor("t", 1, (const uint64_t[]){64}, L4LM_TYPE_Q8_0, 68);
    expect("gguf_q8_0_ok", &b, L4LM_OK);
    b = one_tensor("t", 1, (const uint64_t[]){64}, L4LM_TYPE_Q4_0, 35);
    expect("gguf_q4_0_data_short", &b, L4LM_E_TRUNCATED);
    b = one_tensor("", 1, ne, L4LM_TYPE_F32, 16);
    expect("gguf_tensor_name_empty", &b, L4LM_E_TENSOR_INFO);
    memset(long_name, 'n', sizeof long_name);
    long_name[L4LM_MAX_NAME] = 0;
    b = one_tensor(long_name, 1, ne, L4LM_TYPE_F32, 16);
    expect("gguf_tensor_name_max_ok", &b, L4LM_OK);
    long_name[L4LM_MAX_NAME] = 'n', long_name[L4LM_MAX_NAME + 1] = 0;
    b = one_tensor(long_name, 1, ne, L4LM_TYPE_F32, 16);
    expect("gguf_tensor_name_too_long", &b, L4LM_E_LIMIT);
    b = one_tensor("t", 2, ne, L4LM_TYPE_F32, 16);
    b.n = 24 + 8 + 1 + 4 + 8 + 3; /* inside the second dimension */
    expect("gguf_tensor_info_truncated", &b, L4LM_E_TRUNCATED);
}

/* ---- the real files ---- */

static unsigned char *read_shared(const char *rel, size_t *n)
{
    char path[4200];
    const char *sh = t_shared();
    unsigned char *p, *c;
    if (!sh)
        return NULL;
    snprintf(path, sizeof path, "%s/%s", sh, rel);
    if (!(p = t_read_file(path, n)))
        return NULL;
    c = exact_copy(p, *n);
    free(p);
    return c;
}

static void test_stories(void)
{
    void *ix = NULL;
    void *ixh = NULL;
    size_t n, nbin;
    unsigned char *blob = read_shared("models/stories260K.gguf", &n);
    unsigned char *bin = read_shared("models/stories260K.bin", &nbin);
    l4lm_gguf g;
    l4lm_error e = {0};
    l4lm_tensor t;
    uint32_t ctx = 0;
    const char *arch = NULL;
    uint64_t len = 0;
    l4lm_status st;
    int ok;

    if (!blob || !bin) {
        T_SKIP("gguf_stories260K", "../shared/models not available");
        free(blob);
        free(bin);
        return;
    }
    st = gopen(&ix, &g, blob, n, &e);
    ok = st == L4LM_OK && g.version == 3 && g.n_tensors == 48 && g.n_kv == 19 && g.alignment == 32;
    ok = ok && l4lm_gguf_tensor(&g, "token_embd.weight", &t) && t.n_dims == 2 && t.ne[0] == 64 &&
         t.ne[1] == 512 && t.ne[2] == 1 && t.type == L4LM_TYPE_F32 && t.nbytes == 64 * 512 * 4;
    /* The llama2.c checkpoint holds the same weights after its 28-byte
    ** header: token embedding first; rms_final after the layer weights. */
    ok = ok && !memcmp(t.data, bin + 28, 64 * 512 * 4);
    ok = ok && l4lm_gguf_tensor(&g, "output_norm.weight", &t) && t.n_dims == 1 && t.ne[0] == 64 &&
         !memcmp(t.data,
                 bin + 28 +
                     4 * (512 * 64 + 5 * 64 + 5 * 64 * 64 * 2 + 5 * 32 * 64 * 2 + 5 * 64 +
                          5 * 172 * 64 * 3),
                 64 * 4);
    ok = ok && l4lm_gguf_u32(&g, "llama.context_length", &ctx) && ctx == 128;
    ok = ok && l4lm_gguf_str(&g, "general.architecture", &arch, &len) && len == 5 &&
         !memcmp(arch, "llama", 5);
    T_CHECK("gguf_stories260K", ok, "st %d (%s), version %u, %llu tensors, %llu kv, align %u", st,
            e.what, g.version, (unsigned long long)g.n_tensors, (unsigned long long)g.n_kv,
            g.alignment);

    /* Every prefix up to the data section, then ~2000 cuts through the data. */
    if (st == L4LM_OK) {
        uint64_t data_off = g.data_off, bad = 0, first_bad = 0;
        size_t step = (n - data_off) / 2000 + 1;
        for (size_t cut = 0; cut < n; cut = cut < data_off ? cut + 1 : cut + step) {
            unsigned char *c = exact_copy(blob, cut);
            l4lm_gguf h;
            if (gopen(&ixh, &h, c, cut, NULL) != L4LM_E_TRUNCATED && !bad++)
                first_bad = cut;
            free(c);
        }
        {
            unsigned char *c = exact_copy(blob, n - 1);
            l4lm_gguf h;
            bad += gopen(&ixh, &h, c, n - 1, NULL) != L4LM_E_TRUNCATED;
            free(c);
        }
        T_CHECK("gguf_stories260K_truncated", !bad,
                "%llu cuts did not give E_TRUNCATED, first at %llu", (unsigned long long)bad,
                (unsigned long long)first_bad);
    }
    free(blob);
    free(bin);
    free(ix);
    free(ixh);
}

/*
** Random single-byte changes in the header and tensor infos: whatever the
** status, nothing may crash, and a file that still opens must keep every
** tensor inside the blob.
*/
static void test_mutations(void)
{
    void *ix = NULL;
    void *ixh = NULL;
    size_t n;
    unsigned char *blob = read_shared("models/stories260K.gguf", &n);
    uint64_t x = 0x9e3779b97f4a7c15ull, opened = 0, bad = 0;
    l4lm_gguf g;
    if (!blob || gopen(&ix, &g, blob, n, NULL) != L4LM_OK) {
        T_SKIP("gguf_mutations", "../shared/models not available");
        free(blob);
        return;
    }
    /* Half of the changes go to the tensor infos, half anywhere before the data. */
    for (int i = 0; i < 8000; i++) {
        l4lm_gguf h;
        l4lm_tensor t;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t pos = i & 1 ? g.ti_off + x % (g.data_off - g.ti_off) : x % g.data_off;
        unsigned char old = blob[pos];
        blob[pos] = (unsigned char)(x >> 32);
        if (gopen(&ixh, &h, blob, n, NULL) == L4LM_OK) {
            opened++;
            for (uint64_t k = 0; k < h.n_tensors; k++)
                bad += l4lm_gguf_tensor_at(&h, k, &t) != L4LM_OK ||
                       (const unsigned char *)t.data + t.nbytes > blob + n;
        }
        blob[pos] = old;
    }
    T_CHECK("gguf_mutations", !bad && opened > 0 && opened < 8000,
            "%llu tensors outside the blob (%llu of 8000 files opened)", (unsigned long long)bad,
            (unsigned long long)opened);
    free(blob);
    free(ix);
    free(ixh);
}

/* llama.cpp's vocabulary-only files: no tensors, no padding at the end. */
static void test_vocab_files(void)
{
    static const struct {
        const char *file;
        uint64_t n_vocab;
    } v[] = {
        {"vocab/ggml-vocab-llama-spm.gguf", 32000}, {"vocab/ggml-vocab-phi-3.gguf", 32064},
        {"vocab/ggml-vocab-gpt-2.gguf", 50257},     {"vocab/ggml-vocab-llama-bpe.gguf", 128256},
        {"vocab/ggml-vocab-qwen2.gguf", 151936},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char name[64];
        size_t n;
        unsigned char *blob = read_shared(v[i].file, &n);
        l4lm_gguf g;
        l4lm_gguf_kv kv;
        l4lm_error e = {0};
        snprintf(name, sizeof name, "gguf_%s", strchr(v[i].file, '/') + 1);
        if (!blob) {
            T_SKIP(name, "../shared/vocab not available");
            continue;
        }
        void *ix = NULL;
        l4lm_status st = gopen(&ix, &g, blob, n, &e);
        T_CHECK(name,
                st == L4LM_OK && g.n_tensors == 0 &&
                    l4lm_gguf_find(&g, "tokenizer.ggml.tokens", &kv) &&
                    kv.arr_type == L4LM_GGUF_STRING && kv.arr_n == v[i].n_vocab,
                "st %d (%s at %llu)", st, e.what, (unsigned long long)e.offset);
        free(blob);
        free(ix);
    }
}

int main(void)
{
    test_valid(3, 64);
    test_valid(2, 64);
    test_valid(3, 0);
    test_valid(3, 1);
    test_valid(2, 4096);
    test_values();
    test_header_errors();
    test_kv_errors();
    test_tensor_errors();
    test_stories();
    test_mutations();
    test_vocab_files();
    T_EXIT();
}
