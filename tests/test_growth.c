/*
** test_growth.c — opening a model costs at most about n log n in what it
** reads. Each case builds a hostile file at size n and at 8n (generators in
** gguf_write.h), counts the work the reader reports (names compared and
** entries and values read: l4lm_gguf_work) and checks that it grew at most
** like n log n, with room: 8 log(8n) / log(n), times 1.5. A pairwise
** (quadratic) check grows 64 times. Nothing is timed.
*/
#include <math.h>

#include "internal.h" /* before l4lm.h: the model's fields */
#include "gguf_write.h"
#include "t.h"

/* Work 8x the input may cost: n log n's growth, times 1.5. */
static double allowed(double n)
{
    return 1.5 * 8.0 * log2(8.0 * n) / log2(n);
}

static void check_growth(const char *name, double n, uint64_t w1, uint64_t w8)
{
    double ratio = w1 ? (double)w8 / (double)w1 : 1e9;
    T_CHECK(name, w1 && ratio <= allowed(n), "work %llu at n, %llu at 8n: %.1fx, allowed %.1fx",
            (unsigned long long)w1, (unsigned long long)w8, ratio, allowed(n));
    printf("  %s: work %llu -> %llu (%.1fx for 8x the input; n log n allows %.1fx)\n", name,
           (unsigned long long)w1, (unsigned long long)w8, ratio, allowed(n));
}

/* The work of opening (and refusing) a big array, then n keys, then a duplicate. */
static uint64_t dup_keys_work(uint32_t n, l4lm_status *st)
{
    size_t size, need = 0;
    unsigned char *p = gguf_write_dup_keys(16 * (uint64_t)n, n, &size);
    l4lm_gguf g;
    l4lm_error e = {0};
    l4lm_gguf_index_size(p, size, &need);
    void *index = malloc(need);
    *st = l4lm_gguf_open(&g, p, size, index, need, &e);
    uint64_t w = l4lm_gguf_work(&g);
    free(index);
    free(p);
    return w;
}

static void test_dup_keys(void)
{
    l4lm_status s1, s8;
    uint64_t w1 = dup_keys_work(500, &s1), w8 = dup_keys_work(4000, &s8);
    T_CHECK("growth_dup_keys_refused", s1 == L4LM_E_METADATA && s8 == L4LM_E_METADATA,
            "statuses %d %d", s1, s8);
    check_growth("growth_dup_keys", 500 * 17.0, w1, w8);
}

/* Open a model of n_layer layers and n_tensors tensors; its open work, and
** the work of looking every tensor up by name once more. */
static int layers_work(uint32_t n_layer, uint32_t n_tensors, uint64_t *open_w, uint64_t *find_w)
{
    size_t size;
    unsigned char *p = gguf_write_layers(n_layer, n_tensors, &size);
    l4lm_model m;
    void *index;
    l4lm_tensor t;
    l4lm_status st = t_model_open(&m, p, size, NULL, 0, &index);
    int found = 0;
    *open_w = l4lm_gguf_work(&m.gguf);
    m.gguf.counting = true;
    for (uint64_t i = 0; !st && i < m.gguf.n_tensors; i++) {
        l4lm_tensor u;
        found += l4lm_gguf_tensor_at(&m.gguf, i, &t) == L4LM_OK && t.name_len < 48;
        char name[48];
        memcpy(name, t.name, t.name_len);
        name[t.name_len] = 0;
        found -= !l4lm_gguf_tensor(&m.gguf, name, &u) || u.offset != t.offset;
    }
    *find_w = l4lm_gguf_work(&m.gguf) - *open_w;
    if (st)
        printf("  open of %u layers: %s (%s)\n", n_layer, l4lm_strerror(st),
               l4lm_model_error(&m)->what);
    free(index);
    free(p);
    return st ? -1 : found;
}

static void test_layers(void)
{
    uint64_t o1, f1, o8, f8;
    int n1 = layers_work(128, 2048, &o1, &f1), n8 = layers_work(1024, 16384, &o8, &f8);
    T_CHECK("growth_layers_open", n1 == 2048 && n8 == 16384,
            "%d and %d tensors opened and found by name", n1, n8);
    check_growth("growth_layers_open_work", 2048, o1, o8);
    check_growth("growth_tensor_lookups", 2048, f1, f8);
}

/* An index one byte short is refused with the size it needs. */
static void test_index_size(void)
{
    size_t size, need = 0;
    unsigned char *p = gguf_write_layers(1, 0, &size);
    l4lm_model_index_size(p, size, &need);
    void *index = malloc(need);
    l4lm_model m;
    l4lm_open_opts o = {.index = index, .index_size = need - 1};
    char want[64];
    snprintf(want, sizeof want, "bytes needed '%zu'", need);
    l4lm_status st = l4lm_model_open(&m, p, size, &o);
    T_CHECK("growth_index_short", st == L4LM_E_INDEX && strstr(l4lm_model_error(&m)->what, want),
            "status %d: %s (want %s)", st, l4lm_model_error(&m)->what, want);
    o.index_size = need;
    st = l4lm_model_open(&m, p, size, &o);
    T_CHECK("growth_index_exact", st == L4LM_OK && need == 8 + 12 * (11 + 11),
            "status %d (%s), %zu bytes", st, l4lm_model_error(&m)->what, need);
    free(index);
    free(p);
}

int main(void)
{
    test_index_size();
    test_dup_keys();
    test_layers();
    T_EXIT();
}
