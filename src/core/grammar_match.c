/*
** grammar_match.c — the matcher: a set of parse states (stacks of grammar
** positions, grammar.h) advanced one code point at a time, bytes decoded
** as UTF-8 on the way. A state's top is always a character class;
** expanding a state replaces a rule reference on top by one state per
** alternative of that rule, and pops rules that ended. A reference that
** ends its alternative is popped before the rule is entered (a tail call),
** so right recursion such as x* does not deepen the stack.
**
** Work is bounded: at most L4LM_GRAMMAR_MAX_STACKS states, each at most
** L4LM_GRAMMAR_MAX_DEPTH deep, and L4LM_GRAMMAR_MAX_WORK states made per
** code point; beyond that the text gets L4LM_E_LIMIT. Expansion ends
** because grammar.c refused left recursion.
*/
#include "grammar.h"

static bool ends_alt(uint32_t e)
{
    return GR_TYPE(e) == GR_END || GR_TYPE(e) == GR_ALT;
}

/* Add w to out unless an equal state is there. */
static l4lm_status add_state(gr_set *out, const gr_work *w)
{
    for (uint32_t i = 0; i < out->n; i++)
        if (out->depth[i] == w->depth &&
            __builtin_memcmp(out->pos[i], w->pos, w->depth * sizeof w->pos[0]) == 0)
            return L4LM_OK;
    if (out->n >= L4LM_GRAMMAR_MAX_STACKS)
        return L4LM_E_LIMIT;
    out->depth[out->n] = w->depth;
    __builtin_memcpy(out->pos[out->n++], w->pos, w->depth * sizeof w->pos[0]);
    return L4LM_OK;
}

/* Push one state per alternative of rule r on top of w (already popped to its continuation). */
static l4lm_status enter(l4lm_grammar *g, const gr_work *w, uint32_t r, uint32_t *n_work,
                         uint32_t *budget)
{
    const gr_rule *rule = &g->rules[r];
    if (w->depth >= L4LM_GRAMMAR_MAX_DEPTH)
        return L4LM_E_LIMIT;
    for (uint32_t a = rule->alt_count; a-- > 0;) {
        if (*n_work >= GR_WORK_SLOTS || *budget == 0)
            return L4LM_E_LIMIT;
        --*budget;
        gr_work *nw = &g->work[(*n_work)++];
        nw->depth = (uint8_t)(w->depth + 1);
        __builtin_memcpy(nw->pos, w->pos, w->depth * sizeof w->pos[0]);
        nw->pos[w->depth] = (uint16_t)g->alts[rule->alt_first + a];
    }
    return L4LM_OK;
}

/* Expand g->work[0, *n_work) until every state has a class (or nothing) on top. */
static l4lm_status expand(l4lm_grammar *g, uint32_t n_work, gr_set *out, uint32_t *budget)
{
    while (n_work) {
        gr_work w = g->work[--n_work];
        for (;;) {
            if (w.depth == 0)
                break;
            uint32_t pos = w.pos[w.depth - 1], e = g->elems[pos];
            if (ends_alt(e)) {
                w.depth--;
                continue;
            }
            if (GR_TYPE(e) != GR_REF)
                break;
            if (ends_alt(g->elems[pos + 1]))
                w.depth--;
            else
                w.pos[w.depth - 1] = (uint16_t)(pos + 1);
            l4lm_status st = enter(g, &w, GR_VAL(e), &n_work, budget);
            if (st)
                return st;
            w.depth = 0xff; /* entered: nothing to add */
            break;
        }
        if (w.depth != 0xff) {
            l4lm_status st = add_state(out, &w);
            if (st)
                return st;
        }
    }
    return L4LM_OK;
}

l4lm_status l4lm_grammar_start(l4lm_grammar *g)
{
    gr_set *s = &g->sets[0];
    g->cur = s;
    g->tmp[0] = &g->sets[1];
    g->tmp[1] = &g->sets[2];
    s->n = s->cp = s->need = s->have = 0;
    uint32_t budget = L4LM_GRAMMAR_MAX_WORK, n_work = 0;
    gr_work w = {.depth = 0};
    l4lm_status st = enter(g, &w, g->root, &n_work, &budget);
    return st ? st : expand(g, n_work, s, &budget);
}

void l4lm_grammar_reset(l4lm_grammar *g)
{
    if (g)
        (void)l4lm_grammar_start(g); /* it succeeded once in l4lm_grammar_init */
}

static bool class_has(const uint32_t *cls, uint32_t cp)
{
    uint32_t n = GR_VAL(cls[0]);
    bool in = false;
    for (uint32_t k = 0; k < n && !in; k++)
        in = cls[1 + 2 * k] <= cp && cp <= cls[2 + 2 * k];
    return GR_TYPE(cls[0]) == GR_CHAR ? in : !in;
}

/* Can the class match some code point in [lo, hi]? (A negated class is
** taken to match unless one range excludes all of them.) */
static bool class_meets(const uint32_t *cls, uint32_t lo, uint32_t hi)
{
    uint32_t n = GR_VAL(cls[0]);
    for (uint32_t k = 0; k < n; k++) {
        uint32_t a = cls[1 + 2 * k], b = cls[2 + 2 * k];
        if (GR_TYPE(cls[0]) == GR_CHAR && a <= hi && lo <= b)
            return true;
        if (GR_TYPE(cls[0]) == GR_CHAR_NOT && a <= lo && hi <= b)
            return false;
    }
    return GR_TYPE(cls[0]) == GR_CHAR_NOT;
}

/* States of `from` whose class takes cp, moved past it and expanded, into to. */
static l4lm_status advance(l4lm_grammar *g, const gr_set *from, uint32_t cp, gr_set *to)
{
    uint32_t budget = L4LM_GRAMMAR_MAX_WORK;
    to->n = 0;
    for (uint32_t i = 0; i < from->n; i++) {
        uint32_t d = from->depth[i];
        if (d == 0)
            continue;
        uint32_t pos = from->pos[i][d - 1];
        const uint32_t *cls = &g->elems[pos];
        if (!class_has(cls, cp))
            continue;
        gr_work *w = &g->work[0];
        w->depth = (uint8_t)d;
        __builtin_memcpy(w->pos, from->pos[i], d * sizeof w->pos[0]);
        w->pos[d - 1] = (uint16_t)(pos + 1 + 2 * GR_VAL(cls[0]));
        l4lm_status st = expand(g, 1, to, &budget);
        if (st)
            return st;
    }
    return to->n ? L4LM_OK : L4LM_E_GRAMMAR;
}

/* Some state can take a code point that starts with the bytes decoded so far. */
static bool partial_ok(const l4lm_grammar *g, const gr_set *s, uint32_t cp, uint32_t need,
                       uint32_t have)
{
    static const uint32_t min[4] = {0, 0x80, 0x800, 0x10000}; /* shorter forms are overlong */
    uint32_t lo = cp << (6 * need), hi = lo | ((1u << (6 * need)) - 1);
    lo = lo < min[have + need - 1] ? min[have + need - 1] : lo;
    if (lo > hi || lo > 0x10ffff)
        return false;
    for (uint32_t i = 0; i < s->n; i++)
        if (s->depth[i] && class_meets(&g->elems[s->pos[i][s->depth[i] - 1]], lo, hi))
            return true;
    return false;
}

/* One byte into the decoder; true when cp is complete. */
static bool decode(uint8_t b, uint32_t *cp, uint8_t *need, uint8_t *have, bool *bad)
{
    static const uint32_t min[4] = {0, 0x80, 0x800, 0x10000};
    if (*need == 0) {
        *have = 1;
        if (b < 0x80) {
            *cp = b;
            return true;
        }
        *need = b >= 0xc2 && b < 0xe0   ? 1
                : b >= 0xe0 && b < 0xf0 ? 2
                : b >= 0xf0 && b < 0xf5 ? 3
                                        : 0;
        *cp = b & (0x3fu >> *need);
        *bad = *need == 0;
        return false;
    }
    if ((b & 0xc0) != 0x80) {
        *bad = true;
        return false;
    }
    *cp = *cp << 6 | (b & 0x3fu);
    (*have)++;
    if (--*need)
        return false;
    *bad = *cp < min[*have - 1] || *cp > 0x10ffff || (*cp >= 0xd800 && *cp < 0xe000);
    return !*bad;
}

/* Run text from g->cur; the states it leads to are *res (g->cur itself
** when no code point was completed, else a scratch set) and the decoder's
** state goes to (*res)->cp, need, have unless res is g->cur (*dec then). */
typedef struct decoder {
    uint32_t cp;
    uint8_t need, have;
} decoder;

static l4lm_status run(l4lm_grammar *g, const char *text, size_t n, gr_set **res, decoder *dec)
{
    gr_set *src = g->cur;
    uint32_t flip = 0;
    decoder d = {src->cp, src->need, src->have};
    for (size_t k = 0; k < n; k++) {
        bool bad = false;
        if (!decode((uint8_t)text[k], &d.cp, &d.need, &d.have, &bad)) {
            if (bad)
                return L4LM_E_GRAMMAR;
            continue;
        }
        gr_set *dst = g->tmp[flip];
        flip ^= 1;
        l4lm_status st = advance(g, src, d.cp, dst);
        if (st)
            return st;
        src = dst;
    }
    if (d.need && !partial_ok(g, src, d.cp, d.need, d.have))
        return L4LM_E_GRAMMAR;
    *res = src;
    *dec = d;
    return L4LM_OK;
}

l4lm_status l4lm_grammar_check(l4lm_grammar *g, const char *text, size_t n)
{
    gr_set *res;
    decoder d;
    return !g || (!text && n) ? L4LM_E_ARG : run(g, text, n, &res, &d);
}

l4lm_status l4lm_grammar_accept(l4lm_grammar *g, const char *text, size_t n)
{
    gr_set *res;
    decoder d;
    l4lm_status st = !g || (!text && n) ? L4LM_E_ARG : run(g, text, n, &res, &d);
    if (st)
        return st;
    if (res != g->cur) { /* the scratch set becomes the state, the old state scratch */
        uint32_t k = g->tmp[0] == res ? 0 : 1;
        g->tmp[k] = g->cur;
        g->cur = res;
    }
    g->cur->cp = d.cp;
    g->cur->need = d.need;
    g->cur->have = d.have;
    return L4LM_OK;
}

bool l4lm_grammar_can_end(const l4lm_grammar *g)
{
    if (!g || g->cur->need)
        return false;
    for (uint32_t i = 0; i < g->cur->n; i++)
        if (g->cur->depth[i] == 0)
            return true;
    return false;
}

bool l4lm_grammar_can_continue(const l4lm_grammar *g)
{
    if (!g)
        return false;
    for (uint32_t i = 0; i < g->cur->n; i++)
        if (g->cur->depth[i] != 0)
            return true;
    return false;
}
