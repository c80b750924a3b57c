/*
** tok_merge.c — the merge loop both tokenizers share. The symbols of one
** fragment (SentencePiece) or word (BPE) sit in a doubly linked list; every
** adjacent pair that may merge sits in an indexed max-heap by priority, ties
** going to the leftmost pair, so each merge costs O(log n).
**   SentencePiece: a pair may merge when its concatenation is a piece; the
**                  priority is that piece's score.
**   BPE:           a pair may merge when a merge rule names its two tokens;
**                  the priority is the rule's rank, lowest first.
*/
#include "tok.h"

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

uint32_t l4lm_tok_sym_end(const l4lm_tok *t, uint32_t s)
{
    int32_t next = t->sym[s].next;
    return next >= 0 ? t->sym[next].start : t->n_norm;
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

/* The priority of merging symbol s with the next one; false if they may not merge. */
static bool pair_key(l4lm_tok *t, uint32_t s, uint32_t *key)
{
    int32_t r = t->sym[s].next;
    if (t->bpe) {
        uint32_t rank;
        if (!l4lm_bpe_pair(t, t->sym[s].id, t->sym[r].id, &rank, &t->sym[s].pair_id))
            return false;
        *key = UINT32_MAX - rank;
        return true;
    }
    uint32_t start = t->sym[s].start, n = l4lm_tok_sym_end(t, (uint32_t)r) - start;
    int32_t id = n <= L4LM_MAX_TOKEN_BYTES ? l4lm_tok_find(t, t->norm + start, n) : -1;
    if (id < 0)
        return false;
    *key = score_key(l4lm_tok_score(t, (uint32_t)id));
    return true;
}

/* Re-evaluates the pair starting at symbol s: in the heap iff it may merge. */
static void pair_update(l4lm_tok *t, int32_t s)
{
    if (s < 0)
        return;
    heap_remove(t, (uint32_t)s);
    uint32_t key;
    if (t->sym[s].next < 0 || !pair_key(t, (uint32_t)s, &key))
        return;
    t->sym[s].key = key;
    heap_put(t, t->n_heap++, (uint32_t)s);
    heap_up(t, (uint32_t)t->sym[s].slot);
}

void l4lm_tok_merge(l4lm_tok *t, uint32_t n_sym)
{
    t->n_heap = 0;
    for (uint32_t s = 0; s < n_sym; s++)
        t->sym[s].slot = -1;
    for (uint32_t s = 0; s + 1 < n_sym; s++)
        pair_update(t, (int32_t)s);
    while (t->n_heap) {
        uint32_t l = t->heap[0];
        int32_t r = t->sym[l].next;
        heap_remove(t, l);
        heap_remove(t, (uint32_t)r);
        t->sym[l].id = t->sym[l].pair_id;
        t->sym[l].next = t->sym[r].next;
        if (t->sym[r].next >= 0)
            t->sym[t->sym[r].next].prev = (int32_t)l;
        pair_update(t, t->sym[l].prev);
        pair_update(t, (int32_t)l);
    }
}
