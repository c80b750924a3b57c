/*
** tok_table.c — the tokenizer's look-up tables (piece -> id, merge pair ->
** rule) with a cost bound that holds for any vocabulary. A plain hash table
** with linear probing is fast but floodable: entries chosen offline to share
** a hash (the hashes are unseeded, and the core has no randomness to seed
** them) make each insert and look-up walk all the earlier ones, O(n^2) at
** session start. Here an entry looks for a free slot only within
** TOK_PROBES slots of its hash; one that finds none goes to an overflow
** array, heapsorted once all are in (sort.c) and binary-searched. So an
** insert costs at most TOK_PROBES comparisons, the overflow O(n log n) to
** sort, and a look-up at most TOK_PROBES + log2(n) + 1 comparisons. With a
** real vocabulary the table is at most half full, probe runs are short and
** the overflow stays empty or nearly, so the common case is one probe, as
** in a plain hash table.
*/
#include "tok.h"

#define TOK_PROBES 32

void l4lm_tok_table_put(tok_table *x, uint32_t e, uint32_t h, const tok_table_key *k)
{
    for (uint32_t i = 0; i < TOK_PROBES; i++, h = (h + 1) & x->mask) {
        uint32_t s = x->slot[h & x->mask];
        if (!s) {
            x->slot[h & x->mask] = e + 1;
            return;
        }
        ++*k->work;
        if (k->cmp(k->ctx, s - 1, k->key) == 0) {
            if (k->replace)
                x->slot[h & x->mask] = e + 1;
            return;
        }
    }
    x->over[x->n_over++] = e;
}

uint64_t l4lm_tok_table_seal(tok_table *x, l4lm_sort_less less, const void *ctx)
{
    return l4lm_sort(x->over, x->n_over, less, ctx);
}

int64_t l4lm_tok_table_get(const tok_table *x, uint32_t h, const tok_table_key *k)
{
    for (uint32_t i = 0; i < TOK_PROBES; i++, h = (h + 1) & x->mask) {
        uint32_t s = x->slot[h & x->mask];
        if (!s)
            return -1; /* a full run would have sent the key to the overflow */
        ++*k->work;
        if (k->cmp(k->ctx, s - 1, k->key) == 0)
            return s - 1;
    }
    return x->n_over ? l4lm_sort_search(x->over, x->n_over, k->cmp, k->ctx, k->key, k->work) : -1;
}
