/*
** grammar.c — the GBNF parser: grammar text to the rule table grammar.h
** describes, then the checks that make matching safe: every referenced
** rule defined, a root, and no left recursion (a rule that can reach itself
** without consuming a character would make the matcher expand forever).
**
** The parser is a loop, not a recursive descent: a group "( ... )" pushes
** a frame (a new rule whose body grows in g->body) and ")" pops it into a
** reference. A finished body moves to g->elems in one piece, so every rule
** is contiguous. Repetitions copy their item into new rules as llama.cpp
** does: x* is R ::= x R | ; x{2,4} is x x R1 with R1 ::= x R2 | and
** R2 ::= x | .
*/
#include "grammar.h"

#define MAX_TEXT (1u << 20) /* grammar text: bounds the name lookups */

typedef struct frame {
    uint32_t rule;
    uint32_t body0; /* where its body starts in g->body */
    uint32_t item;  /* start of the last item (for a postfix), GR_NONE after | */
} frame;

typedef struct parser {
    l4lm_grammar *g;
    const char *s;
    uint32_t n, i, n_body, depth;
    frame fr[L4LM_GRAMMAR_MAX_NEST + 1];
    l4lm_status st;
    l4lm_grammar_why why;
    uint32_t at;
} parser;

static bool fail(parser *p, l4lm_status st, l4lm_grammar_why why, uint32_t at)
{
    if (p->st == L4LM_OK) {
        p->st = st;
        p->why = why;
        p->at = at;
    }
    return false;
}

static bool too_big(parser *p)
{
    return fail(p, L4LM_E_LIMIT, L4LM_GRAMMAR_TOO_BIG, p->i);
}

static bool put_body(parser *p, uint32_t e)
{
    if (p->n_body >= L4LM_GRAMMAR_MAX_ELEMS)
        return too_big(p);
    p->g->body[p->n_body++] = e;
    return true;
}

static bool put_done(parser *p, uint32_t e)
{
    if (p->g->n_elems >= L4LM_GRAMMAR_MAX_ELEMS)
        return too_big(p);
    p->g->elems[p->g->n_elems++] = e;
    return true;
}

static bool new_rule(parser *p, uint32_t off, uint32_t len, uint32_t *id)
{
    l4lm_grammar *g = p->g;
    if (g->n_rules >= L4LM_GRAMMAR_MAX_RULES)
        return too_big(p);
    gr_rule *r = &g->rules[g->n_rules];
    __builtin_memset(r, 0, sizeof *r);
    r->start = GR_NONE;
    r->name_off = off;
    r->name_len = len;
    *id = g->n_rules++;
    return true;
}

/* The rule named s[off, +len): found, or added as referenced only. */
static bool symbol(parser *p, uint32_t off, uint32_t len, uint32_t *id)
{
    const l4lm_grammar *g = p->g;
    for (uint32_t r = 0; r < g->n_rules; r++)
        if (g->rules[r].name_len == len &&
            __builtin_memcmp(p->s + g->rules[r].name_off, p->s + off, len) == 0) {
            *id = r;
            return true;
        }
    return new_rule(p, off, len, id);
}

/* body[from, n_body) plus END becomes rule id. */
static bool finish_rule(parser *p, uint32_t id, uint32_t from)
{
    p->g->rules[id].start = p->g->n_elems;
    for (uint32_t k = from; k < p->n_body; k++)
        if (!put_done(p, p->g->body[k]))
            return false;
    p->n_body = from;
    return put_done(p, GR_EL(GR_END, 0));
}

/* ---- lexical ---- */

static bool is_word(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

static void skip_space(parser *p, bool newlines)
{
    while (p->i < p->n) {
        char c = p->s[p->i];
        if (c == '#')
            while (p->i < p->n && p->s[p->i] != '\n' && p->s[p->i] != '\r')
                p->i++;
        else if (c == ' ' || c == '\t' || (newlines && (c == '\n' || c == '\r')))
            p->i++;
        else
            return;
    }
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool read_hex(parser *p, uint32_t digits, uint32_t *cp)
{
    uint32_t v = 0, at = p->i;
    for (uint32_t k = 0; k < digits; k++, p->i++) {
        int h = p->i < p->n ? hexval(p->s[p->i]) : -1;
        if (h < 0)
            return fail(p, L4LM_E_GRAMMAR, L4LM_GRAMMAR_ESCAPE, at);
        v = v * 16 + (uint32_t)h;
    }
    if (v > 0x10ffff)
        return fail(p, L4LM_E_GRAMMAR, L4LM_GRAMMAR_ESCAPE, at);
    *cp = v;
    return true;
}

static bool read_escape(parser *p, uint32_t *cp)
{
    uint32_t at = p->i++;
    if (p->i >= p->n)
        return fail(p, L4LM_E_GRAMMAR, L4LM_GRAMMAR_UNTERMINATED, at);
    char c = p->s[p->i++];
    switch (c) {
    case 'x':
        return read_hex(p, 2, cp);
    case 'u':
        return read_hex(p, 4, cp);
    case 'U':
        return read_hex(p, 8, cp);
    case 'n':
        *cp = '\n';
        return true;
    case 'r':
        *cp = '\r';
        return true;
    case 't':
        *cp = '\t';
        return true;
    case '\\':
    case '"':
    case '[':
    case ']':
    case '-':
    case '^':
    case '/':
        *cp = (uint8_t)c;
        return true;
    default:
        return fail(p, L4LM_E_GRAMMAR, L4LM_GRAMMAR_ESCAPE, at);
    }
}

/* One character of a literal or class: an escape or one UTF-8 code point. */
static bool read_char(parser *p, uint32_t *cp)
{
    if (p->s[p->i] == '\\')
        return read_escape(p, cp);
    uint8_t b = (uint8_t)p->s[p->i];
    uint32_t need = b < 0x80                ? 0
                    : b >= 0xc2 && b < 0xe0 ? 1
                    : b >= 0xe0 && b < 0xf0 ? 2
                    : b >= 0xf0 && b < 0xf5 ? 3
                                            : 9;
    if (need == 9 || p->n - p->i <= need)
        return fail(p, L4LM_E_GRAMMAR, L4LM_GRAMMAR_ESCAPE, p->i);
    uint32_t v = need ? b & (0x3fu >> need) : b;
    for (uint32_t k = 1; k <= need; k++) {
        uint8_t c = (uint8_t)p->s[p->i + k];
        if ((c & 0xc0) != 0x80)
            return fail(p, L4LM_E_GRAMMAR, L4LM_GRAMMAR_ESCAPE, p->i);
        v = v << 6 | (c & 0x3fu);
    }
    static const uint32_t min[4] = {0, 0x80, 0x800, 0x10000};
    if (v < min[need] || v > 0x10ffff || (v >= 0xd800 && v < 0xe000))
        return fail(p, L4LM_E_GRAMMAR, L4LM_GRAMMAR_ESCAPE, p->i);
    p->i += need + 1;
    *cp = v;
    return true;
}

/* ---- items ---- */

static bool literal(parser *p)
{
    uint32_t at = p->i++;
    for (;;) {
        if (p->i >= p->n)
            return fail(p, L4LM_E_GRAMMAR, L4LM_GRAMMAR_UNTERMINATED, at);
        if (p->s[p->i] == '"') {
            p->i++;
            return true;
        }
        uint32_t cp = 0;
        if (!read_char(p, &cp) || !put_body(p, GR_EL(GR_CHAR, 1)) || !put_body(p, cp) ||
            !put_body(p, cp))
            return false;
    }
}

static bool char_class(parser *p)
{
    uint32_t at = p->i++, head = p->n_body, n = 0;
    bool neg = p->i < p->n && p->s[p->i] == '^';
    p->i += neg;
    if (!put_body(p, 0))
        return false;
    for (;;) {
        if (p->i >= p->n)
            return fail(p, L4LM_E_GRAMMAR, L4LM_GRAMMAR_UNTERMINATED, at);
        if (p->s[p->i] == ']')
            break;
        uint32_t lo = 0, hi;
        if (!read_char(p, &lo))
            return false;
        hi = lo;
        if (p->i + 1 < p->n && p->s[p->i] == '-' && p->s[p->i + 1] != ']') {
            p->i++;
            if (!read_char(p, &hi))
                return false;
        }
        if (!put_body(p, lo) || !put_body(p, hi))
            return false;
        n++;
    }
    p->i++;
    p->g->body[head] = GR_EL(neg ? GR_CHAR_NOT : GR_CHAR, n);
    return true;
}

static bool read_count(parser *p, uint32_t *v)
{
    uint32_t at = p->i, x = 0;
    if (p->i >= p->n || p->s[p->i] < '0' || p->s[p->i] > '9')
        return fail(p, L4LM_E_GRAMMAR, L4LM_GRAMMAR_SYNTAX, at);
    while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') {
        x = x * 10 + (uint32_t)(p->s[p->i++] - '0');
        if (x > L4LM_GRAMMAR_MAX_REPEAT)
            return fail(p, L4LM_E_LIMIT, L4LM_GRAMMAR_TOO_BIG, at);
    }
    *v = x;
    return true;
}

/* {m}, {m,}, {m,n} after the '{'; n = GR_NONE for no upper bound. */
static bool braces(parser *p, uint32_t *m, uint32_t *n)
{
    uint32_t at = p->i++;
    skip_space(p, true);
    if (!read_count(p, m))
        return false;
    skip_space(p, true);
    *n = *m;
    if (p->i < p->n && p->s[p->i] == ',') {
        p->i++;
        skip_space(p, true);
        *n = GR_NONE;
        if (p->i < p->n && p->s[p->i] != '}' && !read_count(p, n))
            return false;
        skip_space(p, true);
    }
    if (p->i >= p->n || p->s[p->i] != '}' || (*n != GR_NONE && *n < *m))
        return fail(p, L4LM_E_GRAMMAR, L4LM_GRAMMAR_SYNTAX, at);
    p->i++;
    return true;
}

/* A new rule: the item, then a reference to `then` (if any), then an empty alternative. */
static bool item_rule(parser *p, uint32_t item, uint32_t then, bool self, uint32_t *id)
{
    if (!new_rule(p, p->i, 0, id))
        return false;
    p->g->rules[*id].start = p->g->n_elems;
    for (uint32_t k = item; k < p->n_body; k++)
        if (!put_done(p, p->g->body[k]))
            return false;
    uint32_t ref = self ? *id : then;
    if (ref != GR_NONE && !put_done(p, GR_EL(GR_REF, ref)))
        return false;
    return put_done(p, GR_EL(GR_ALT, 0)) && put_done(p, GR_EL(GR_END, 0));
}

/* Apply x{m,n} to the last item of frame f. */
static bool repeat(parser *p, frame *f, uint32_t m, uint32_t n)
{
    uint32_t item = f->item, len = p->n_body - item, tail = GR_NONE;
    if (n == GR_NONE) {
        if (!item_rule(p, item, GR_NONE, true, &tail))
            return false;
    } else
        for (uint32_t k = m; k < n; k++)
            if (!item_rule(p, item, tail, false, &tail))
                return false;
    if (m == 0)
        p->n_body = item;
    for (uint32_t c = 1; c < m; c++)
        for (uint32_t k = 0; k < len; k++)
            if (!put_body(p, p->g->body[item + k]))
                return false;
    return tail == GR_NONE || put_body(p, GR_EL(GR_REF, tail));
}

static bool postfix(parser *p, frame *f)
{
    uint32_t m = 0, n = GR_NONE;
    char c = p->s[p->i];
    if (f->item == GR_NONE)
        return fail(p, L4LM_E_GRAMMAR, L4LM_GRAMMAR_SYNTAX, p->i);
    if (c == '{') {
        if (!braces(p, &m, &n))
            return false;
    } else {
        p->i++;
        m = c == '+';
        n = c == '?' ? 1 : GR_NONE;
    }
    return repeat(p, f, m, n);
}

static bool reference(parser *p)
{
    uint32_t off = p->i, id;
    while (p->i < p->n && is_word(p->s[p->i]))
        p->i++;
    return symbol(p, off, p->i - off, &id) && put_body(p, GR_EL(GR_REF, id));
}

static bool open_group(parser *p)
{
    if (p->depth >= L4LM_GRAMMAR_MAX_NEST)
        return too_big(p);
    frame *f = &p->fr[++p->depth];
    f->body0 = p->n_body;
    f->item = GR_NONE;
    return new_rule(p, p->i++, 0, &f->rule);
}

static bool close_group(parser *p)
{
    if (p->depth == 0)
        return fail(p, L4LM_E_GRAMMAR, L4LM_GRAMMAR_SYNTAX, p->i);
    frame *f = &p->fr[p->depth--];
    p->i++;
    if (!finish_rule(p, f->rule, f->body0))
        return false;
    p->fr[p->depth].item = p->n_body;
    return put_body(p, GR_EL(GR_REF, f->rule));
}

/* One step of a rule body at p->i: an item, a postfix, | or ( or ). */
static bool body_step(parser *p)
{
    frame *f = &p->fr[p->depth];
    char c = p->s[p->i];
    if (c == '*' || c == '+' || c == '?' || c == '{')
        return postfix(p, f);
    if (c == '(')
        return open_group(p);
    if (c == ')')
        return close_group(p);
    if (c == '|') {
        p->i++;
        f->item = GR_NONE;
        skip_space(p, true);
        return put_body(p, GR_EL(GR_ALT, 0));
    }
    f->item = p->n_body;
    if (c == '"')
        return literal(p);
    if (c == '[')
        return char_class(p);
    if (c == '.') {
        p->i++;
        return put_body(p, GR_EL(GR_CHAR_NOT, 0));
    }
    if (is_word(c))
        return reference(p);
    return fail(p, L4LM_E_GRAMMAR, L4LM_GRAMMAR_SYNTAX, p->i);
}

/* name ::= body, up to the end of its line (outside groups). */
static bool parse_rule(parser *p)
{
    uint32_t off = p->i, id;
    while (p->i < p->n && is_word(p->s[p->i]))
        p->i++;
    uint32_t len = p->i - off;
    skip_space(p, false);
    if (len == 0 || p->n - p->i < 3 || __builtin_memcmp(p->s + p->i, "::=", 3) != 0)
        return fail(p, L4LM_E_GRAMMAR, L4LM_GRAMMAR_SYNTAX, p->i);
    p->i += 3;
    if (!symbol(p, off, len, &id))
        return false;
    if (p->g->rules[id].start != GR_NONE)
        return fail(p, L4LM_E_GRAMMAR, L4LM_GRAMMAR_DUPLICATE, off);
    p->g->rules[id].name_off = off; /* where it is defined, for errors */
    p->depth = 0;
    p->fr[0] = (frame){id, p->n_body, GR_NONE};
    skip_space(p, true);
    for (;;) {
        skip_space(p, p->depth > 0);
        if (p->i >= p->n || p->s[p->i] == '\n' || p->s[p->i] == '\r') {
            if (p->depth > 0)
                return fail(p, L4LM_E_GRAMMAR, L4LM_GRAMMAR_UNTERMINATED,
                            p->g->rules[p->fr[p->depth].rule].name_off);
            return finish_rule(p, id, p->fr[0].body0);
        }
        if (!body_step(p))
            return false;
    }
}

/* ---- checks after parsing ---- */

static uint32_t class_end(const l4lm_grammar *g, uint32_t pos)
{
    return pos + 1 + 2 * GR_VAL(g->elems[pos]);
}

/* Where each alternative of each rule starts. */
static void index_alts(l4lm_grammar *g)
{
    g->n_alts = 0;
    for (uint32_t r = 0; r < g->n_rules; r++) {
        gr_rule *rule = &g->rules[r];
        uint32_t pos = rule->start;
        rule->alt_first = g->n_alts;
        g->alts[g->n_alts++] = pos;
        for (;;) {
            uint32_t t = GR_TYPE(g->elems[pos]);
            if (t == GR_END)
                break;
            if (t == GR_ALT)
                g->alts[g->n_alts++] = pos + 1;
            pos = t >= GR_CHAR ? class_end(g, pos) : pos + 1;
        }
        rule->alt_count = g->n_alts - rule->alt_first;
    }
}

static bool alt_nullable(const l4lm_grammar *g, uint32_t pos)
{
    for (;; pos++) {
        uint32_t e = g->elems[pos], t = GR_TYPE(e);
        if (t == GR_ALT || t == GR_END)
            return true;
        if (t != GR_REF || !g->rules[GR_VAL(e)].nullable)
            return false;
    }
}

/* Fixpoint: a rule is nullable if one alternative is all nullable references. */
static void find_nullable(l4lm_grammar *g)
{
    for (bool changed = true; changed;) {
        changed = false;
        for (uint32_t r = 0; r < g->n_rules; r++) {
            gr_rule *rule = &g->rules[r];
            for (uint32_t a = 0; a < rule->alt_count && !rule->nullable; a++)
                if (alt_nullable(g, g->alts[rule->alt_first + a]))
                    rule->nullable = changed = true;
        }
    }
}

/* Depth-first search along left edges (references that can come first);
** a grey rule met again is left recursion. Frames in g->body: rule, alt, pos. */
static uint32_t find_left_recursion(l4lm_grammar *g)
{
    uint32_t *st = g->body, n = 0;
    for (uint32_t r0 = 0; r0 < g->n_rules; r0++) {
        if (g->rules[r0].color)
            continue;
        g->rules[r0].color = 1;
        st[0] = r0, st[1] = 0, st[2] = g->alts[g->rules[r0].alt_first], n = 1;
        while (n) {
            uint32_t *f = &st[3 * (n - 1)];
            gr_rule *r = &g->rules[f[0]];
            if (f[1] >= r->alt_count) {
                r->color = 2;
                n--;
                continue;
            }
            uint32_t e = g->elems[f[2]];
            bool go_on = GR_TYPE(e) == GR_REF && g->rules[GR_VAL(e)].nullable;
            if (go_on)
                f[2]++;
            else if (++f[1] < r->alt_count)
                f[2] = g->alts[r->alt_first + f[1]];
            if (GR_TYPE(e) != GR_REF)
                continue;
            gr_rule *x = &g->rules[GR_VAL(e)];
            if (x->color == 1)
                return GR_VAL(e);
            if (x->color == 0) {
                x->color = 1;
                uint32_t *nf = &st[3 * n++];
                nf[0] = GR_VAL(e), nf[1] = 0, nf[2] = g->alts[x->alt_first];
            }
        }
    }
    return GR_NONE;
}

static bool check(parser *p)
{
    l4lm_grammar *g = p->g;
    g->root = GR_NONE;
    for (uint32_t r = 0; r < g->n_rules; r++) {
        const gr_rule *rule = &g->rules[r];
        if (rule->start == GR_NONE)
            return fail(p, L4LM_E_GRAMMAR, L4LM_GRAMMAR_UNKNOWN_RULE, rule->name_off);
        if (rule->name_len == 4 && __builtin_memcmp(p->s + rule->name_off, "root", 4) == 0)
            g->root = r;
    }
    if (g->root == GR_NONE)
        return fail(p, L4LM_E_GRAMMAR, L4LM_GRAMMAR_NO_ROOT, 0);
    index_alts(g);
    find_nullable(g);
    uint32_t lr = find_left_recursion(g);
    if (lr != GR_NONE)
        return fail(p, L4LM_E_GRAMMAR, L4LM_GRAMMAR_LEFT_RECURSION, g->rules[lr].name_off);
    return true;
}

l4lm_status l4lm_grammar_init(l4lm_grammar **out, const char *text, size_t len, void *mem,
                              size_t mem_size, l4lm_grammar_error *err)
{
    l4lm_grammar_error dummy = {L4LM_GRAMMAR_OK, 0};
    err = err ? err : &dummy;
    *err = (l4lm_grammar_error){L4LM_GRAMMAR_OK, 0};
    if (!out || (!text && len) || !mem || ((uintptr_t)mem & 7) || mem_size < sizeof(l4lm_grammar))
        return L4LM_E_ARG;
    if (len > MAX_TEXT) {
        err->why = L4LM_GRAMMAR_TOO_BIG;
        return L4LM_E_LIMIT;
    }
    l4lm_grammar *g = mem;
    g->n_elems = g->n_rules = 0;
    parser p = {.g = g, .s = text, .n = (uint32_t)len};
    skip_space(&p, true);
    while (p.i < p.n && parse_rule(&p))
        skip_space(&p, true);
    if (p.st == L4LM_OK && check(&p)) {
        g->sets[0].n = 0;
        p.st = l4lm_grammar_start(g);
        p.why = p.st ? L4LM_GRAMMAR_TOO_BIG : L4LM_GRAMMAR_OK;
    }
    *err = (l4lm_grammar_error){p.why, p.at};
    if (p.st == L4LM_OK)
        *out = g;
    return p.st;
}

const char *l4lm_grammar_why_text(l4lm_grammar_why why)
{
    static const char *const text[] = {
        [L4LM_GRAMMAR_OK] = "ok",
        [L4LM_GRAMMAR_SYNTAX] = "syntax error",
        [L4LM_GRAMMAR_UNTERMINATED] = "unterminated string, class or group",
        [L4LM_GRAMMAR_UNKNOWN_RULE] = "reference to an undefined rule",
        [L4LM_GRAMMAR_DUPLICATE] = "rule defined twice",
        [L4LM_GRAMMAR_NO_ROOT] = "no rule named root",
        [L4LM_GRAMMAR_LEFT_RECURSION] = "left recursion",
        [L4LM_GRAMMAR_ESCAPE] = "bad escape or UTF-8",
        [L4LM_GRAMMAR_TOO_BIG] = "beyond a grammar limit",
        [L4LM_GRAMMAR_REJECTED] = "text rejected",
    };
    return (uint32_t)why <= L4LM_GRAMMAR_REJECTED ? text[why] : "unknown";
}
