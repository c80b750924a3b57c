/*
** sort.h — the core's one sort (sort.c): heapsort of 32-bit elements under
** the caller's order, a bucket sort on it and binary search.
*/
#ifndef L4LM_SORT_H
#define L4LM_SORT_H

#include "internal.h"

/* Whether element a goes before element b. */
typedef bool (*l4lm_sort_less)(const void *ctx, uint32_t a, uint32_t b);
/* <0, 0, >0: element e goes before, with, after the key. */
typedef int (*l4lm_sort_cmp)(const void *ctx, uint32_t e, const void *key);
/* The bucket of element e, or UINT32_MAX to leave e out of the index. */
typedef uint32_t (*l4lm_sort_bucket_fn)(const void *ctx, uint32_t e);

/* Sorts a[0..n) in place; returns the comparisons made (at most 2 n log2 n + n). */
uint64_t l4lm_sort(uint32_t *a, size_t n, l4lm_sort_less less, const void *ctx);

typedef struct l4lm_sort_index {
    uint32_t *at; /* [n_buckets + 1] bucket b holds el[at[b] .. at[b + 1]) */
    uint32_t *el; /* [elements kept] by bucket, each bucket sorted */
    uint32_t n_buckets;
} l4lm_sort_index;

/* Sorts the elements 0..n-1 into buckets, each bucket in order (at, el and
** n_buckets set by the caller); returns the comparisons made. */
uint64_t l4lm_sort_buckets(l4lm_sort_index *x, uint32_t n, l4lm_sort_bucket_fn bucket,
                           l4lm_sort_less less, const void *ctx);
/* The first element of the sorted a[0..n) equal to the key, or -1; adds the
** comparisons made to *work. */
int64_t l4lm_sort_search(const uint32_t *a, uint32_t n, l4lm_sort_cmp cmp, const void *ctx,
                         const void *key, uint64_t *work);

#endif
