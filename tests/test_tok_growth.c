/*
** test_tok_growth.c — the tokenizer's setup costs O(n log n) whatever the
** vocabulary (issue 16). For each hostile vocabulary of tests/tok_hostile.h
** (many special tokens, pieces of one hash, merges of one hash bucket) the
** work the tokenizer counts (comparisons in its sorts and table look-ups,
** l4lm_tok.work) is read at sizes n and 8n: a quadratic setup grows 64-fold,
** an O(n log n) one about 8 log(8n) / log(n)-fold; the check allows a
** quarter more than that. Then a text of the hostile pieces is encoded at
** both sizes: its look-ups may grow only with log n too. No timing.
*/
#include "internal.h"
#include "t.h"
#include "tok.h"
#include "tok_hostile.h"

#include <math.h>

typedef struct built {
    hv_vocab hv;
    l4lm_vocab_src src;
    void *arena;
    l4lm_tok *t;
} built;

static l4lm_status build(built *b, size_t max_text)
{
    l4lm_vocab_src *v = &b->src;
    memset(v, 0, sizeof *v);
    v->format = L4LM_FORMAT_GGUF;
    v->n_vocab = b->hv.n_vocab;
    v->tokens = b->hv.tokens.p;
    v->tokens_size = b->hv.tokens.n;
    v->types = b->hv.types.p;
    v->bos = v->eos = v->unk = -1;
    if (b->hv.bpe) {
        v->pre = L4LM_PRE_GPT2;
        v->merges = b->hv.merges.p;
        v->merges_size = b->hv.merges.n;
        v->n_merges = b->hv.n_merges;
    }
    size_t bytes = l4lm_tok_arena_bytes(v, max_text);
    b->arena = bytes ? aligned_alloc(64, bytes) : NULL;
    if (!b->arena)
        return L4LM_E_ARENA;
    return l4lm_tok_init(&b->t, v, b->arena, bytes, max_text);
}

static void unbuild(built *b)
{
    free(b->arena);
    hv_free(&b->hv);
}

/* The work at n and 8n within the n log n bound. */
static void check_growth(const char *name, uint32_t n, uint64_t w1, uint64_t w8)
{
    double ratio = (double)w8 / (double)w1;
    double bound = 8.0 * log2(8.0 * n) / log2((double)n) * 1.25;
    printf("# %s: work %llu at n = %u, %llu at 8n: x%.2f (n log n bound x%.2f, n^2 x64)\n", name,
           (unsigned long long)w1, n, (unsigned long long)w8, ratio, bound);
    T_CHECK(name, w1 > 0 && ratio <= bound, "grew x%.2f from n = %u to 8n (bound x%.2f)", ratio, n,
            bound);
}

typedef void (*gen_fn)(hv_vocab *, uint32_t);

static void gen_specials(hv_vocab *v, uint32_t n)
{
    hv_specials(v, n);
}

static void gen_pieces(hv_vocab *v, uint32_t n)
{
    hv_pieces(v, n);
}

static void gen_merges(hv_vocab *v, uint32_t n)
{
    hv_merges(v, 8192, n);
}

/* Setup work at n and 8n; with enc, also the work of encoding the first
** 64 hostile pieces (written one after another) at both sizes. */
static void setup_case(const char *name, gen_fn gen, uint32_t n, const char *enc_name)
{
    uint64_t work[2] = {0, 0}, enc[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        built b = {0};
        gen(&b.hv, k ? 8 * n : n);
        l4lm_status st = build(&b, 8192);
        if (st != L4LM_OK) {
            T_FAIL(name, "init at %u: %s", k ? 8 * n : n, l4lm_strerror(st));
            unbuild(&b);
            return;
        }
        work[k] = b.t->work;
        if (enc_name) {
            /* the text: pieces 256.. (the hostile ones), as they are */
            char text[8192];
            size_t len = 0, n_ids;
            const uint8_t *p = b.src.tokens;
            for (uint32_t id = 0; id < 256 + 64 && id < b.src.n_vocab; id++) {
                uint64_t plen;
                memcpy(&plen, p, 8);
                if (id >= 256 && len + plen <= sizeof text)
                    memcpy(text + len, p + 8, plen), len += plen;
                p += 8 + plen;
            }
            static int32_t ids[8192 * 3];
            uint64_t before = b.t->work;
            st = l4lm_tok_encode(b.t, text, len, 0, ids, sizeof ids / sizeof *ids, &n_ids);
            enc[k] = b.t->work - before;
            if (st != L4LM_OK)
                T_FAIL(enc_name, "encode: %s", l4lm_strerror(st));
        }
        unbuild(&b);
    }
    check_growth(name, n, work[0], work[1]);
    if (enc_name) {
        /* the same text: only the look-up cost may change, by log n at most */
        double ratio = (double)enc[1] / (double)enc[0], bound = 1.25 * log2(8.0 * n) / log2(n);
        printf("# %s: work %llu at n = %u, %llu at 8n: x%.2f (bound x%.2f)\n", enc_name,
               (unsigned long long)enc[0], n, (unsigned long long)enc[1], ratio, bound);
        T_CHECK(enc_name, enc[0] > 0 && ratio <= bound, "x%.2f", ratio);
    }
}

/* The sort itself: comparisons within 2 n log2 n + n on orders that are
** hard for other sorts (sorted, reversed, all equal, organ pipe). */
static bool by_value(const void *ctx, uint32_t a, uint32_t b)
{
    (void)ctx;
    return a < b;
}

static void sort_case(void)
{
    enum { N = 1 << 14 };
    static uint32_t a[N];
    bool ok = true;
    for (int shape = 0; shape < 4; shape++) {
        for (uint32_t i = 0; i < N; i++)
            a[i] = shape == 0 ? i : shape == 1 ? N - i : shape == 2 ? 7 : i < N / 2 ? i : N - i;
        uint64_t cmp = l4lm_sort(a, N, by_value, NULL);
        for (uint32_t i = 1; i < N; i++)
            ok &= a[i - 1] <= a[i];
        ok &= cmp <= 2ull * N * 14 + N;
    }
    T_CHECK("heapsort_bound", ok, "unsorted or over 2 n log2 n + n comparisons");
}

int main(void)
{
    sort_case();
    setup_case("growth_specials", gen_specials, 2048, NULL);
    setup_case("growth_colliding_pieces", gen_pieces, 2048, "lookup_colliding_pieces");
    setup_case("growth_colliding_merges", gen_merges, 512, "lookup_colliding_merges");
    T_EXIT();
}
