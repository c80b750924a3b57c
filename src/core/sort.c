/*
** sort.c — the core's one sort: heapsort of 32-bit elements (ids, ranks)
** under an order the caller gives. Heapsort because its worst case is
** O(n log n) comparisons (about 2 n log2 n) whatever the input, and it needs
** no recursion and no memory beyond the array: a vocabulary chosen to be
** sorted slowly costs no more than any other. Also a bucket sort on top of
** it (a counting sort by bucket number, then each bucket sorted) and the
** binary search of a sorted run.
*/
#include "sort.h"

/* Moves a[root] down the max-heap a[0..n) to its place. */
static uint64_t sift(uint32_t *a, size_t root, size_t n, l4lm_sort_less less, const void *ctx)
{
    uint64_t cmp = 0;
    uint32_t x = a[root];
    for (;;) {
        size_t c = 2 * root + 1;
        if (c >= n)
            break;
        if (c + 1 < n && (cmp++, less(ctx, a[c], a[c + 1])))
            c++;
        cmp++;
        if (!less(ctx, x, a[c]))
            break;
        a[root] = a[c];
        root = c;
    }
    a[root] = x;
    return cmp;
}

uint64_t l4lm_sort(uint32_t *a, size_t n, l4lm_sort_less less, const void *ctx)
{
    uint64_t cmp = 0;
    if (n < 2)
        return 0;
    for (size_t i = n / 2; i-- > 0;)
        cmp += sift(a, i, n, less, ctx);
    for (size_t end = n - 1; end > 0; end--) {
        uint32_t top = a[0];
        a[0] = a[end];
        a[end] = top;
        cmp += sift(a, 0, end, less, ctx);
    }
    return cmp;
}

uint64_t l4lm_sort_buckets(l4lm_sort_index *x, uint32_t n, l4lm_sort_bucket_fn bucket,
                           l4lm_sort_less less, const void *ctx)
{
    uint32_t *at = x->at, nb = x->n_buckets;
    __builtin_memset(at, 0, ((size_t)nb + 1) * sizeof *at);
    for (uint32_t e = 0; e < n; e++) {
        uint32_t b = bucket(ctx, e);
        if (b < nb)
            at[b + 1]++;
    }
    for (uint32_t b = 0; b < nb; b++)
        at[b + 1] += at[b];
    for (uint32_t e = 0; e < n; e++) {
        uint32_t b = bucket(ctx, e);
        if (b < nb)
            x->el[at[b]++] = e;
    }
    for (uint32_t b = nb; b > 0; b--) /* each start moved to its bucket's end: shift back */
        at[b] = at[b - 1];
    at[0] = 0;
    uint64_t cmp = 0;
    for (uint32_t b = 0; b < nb; b++)
        cmp += l4lm_sort(x->el + at[b], at[b + 1] - at[b], less, ctx);
    return cmp;
}

int64_t l4lm_sort_search(const uint32_t *a, uint32_t n, l4lm_sort_cmp cmp, const void *ctx,
                         const void *key, uint64_t *work)
{
    /* Lower bound: where hi last moved, the element was compared, so its
    ** result tells whether the bound is an equal element. */
    uint32_t lo = 0, hi = n;
    bool equal = false;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = cmp(ctx, a[mid], key);
        ++*work;
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
            equal = c == 0;
        }
    }
    return equal ? (int64_t)a[lo] : -1;
}
