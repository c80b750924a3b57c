/*
** json_schema.c — JSON Schema to GBNF, for response_format and
** --json-schema. A small JSON reader first turns the schema into a flat
** table of values (a loop with an explicit stack: bounded depth, linear
** time, no recursion); then each schema that needs a rule of its own gets
** one, named s<its index>, emitted from a queue. Objects list their
** properties in declared order: property i may come first only if all
** before it are optional, and rule s<n>-t<i> is "what may follow property
** i", so optional properties cost a linear number of rules.
*/
#include "internal.h"

#define MAX_DEPTH 64
#define NONE      0xffffffffu

enum { J_OBJ, J_ARR, J_STR, J_NUM, J_LIT };

typedef struct jnode {
    uint8_t type;
    uint32_t off, len;         /* the value's text */
    uint32_t key_off, key_len; /* in an object: its key's text, quotes included */
    uint32_t first, next;      /* children; the next sibling */
} jnode;

typedef struct reader {
    const char *s;
    uint32_t n, i, count, cap;
    jnode *nodes;
} reader;

size_t l4lm_json_schema_work_size(size_t len)
{
    return (len + 2) * (sizeof(jnode) + sizeof(uint32_t));
}

static void skip_ws(reader *r)
{
    while (r->i < r->n &&
           (r->s[r->i] == ' ' || r->s[r->i] == '\t' || r->s[r->i] == '\n' || r->s[r->i] == '\r'))
        r->i++;
}

/* The last byte of the UTF-8 sequence at i, or 0 if it is not valid UTF-8. */
static uint32_t utf8_end(const reader *r, uint32_t i)
{
    uint8_t b = (uint8_t)r->s[i];
    uint32_t need = b >= 0xc2 && b < 0xe0   ? 1
                    : b >= 0xe0 && b < 0xf0 ? 2
                    : b >= 0xf0 && b < 0xf5 ? 3
                                            : 0;
    uint32_t cp = b & (0x3fu >> need);
    if (!need || r->n - i <= need)
        return 0;
    for (uint32_t k = 1; k <= need; k++) {
        if (((uint8_t)r->s[i + k] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | ((uint8_t)r->s[i + k] & 0x3fu);
    }
    static const uint32_t min[4] = {0, 0x80, 0x800, 0x10000};
    return cp < min[need] || cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000) ? 0 : i + need;
}

/* A string at r->i: its end (after the closing quote), or NONE. */
static uint32_t scan_string(const reader *r, uint32_t i)
{
    for (i++; i < r->n; i++) {
        uint8_t c = (uint8_t)r->s[i];
        if (c == '"')
            return i + 1;
        if (c < 0x20)
            return NONE;
        if (c == '\\' && ++i >= r->n)
            return NONE;
        if (c >= 0x80 && !(i = utf8_end(r, i)))
            return NONE;
    }
    return NONE;
}

static bool is_num_char(char c)
{
    return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

/* A scalar at r->i into node k; false if it is none. */
static bool scalar(reader *r, jnode *k)
{
    char c = r->s[r->i];
    uint32_t end = r->i;
    if (c == '"') {
        k->type = J_STR;
        end = scan_string(r, r->i);
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        k->type = J_NUM;
        while (end < r->n && is_num_char(r->s[end]))
            end++;
    } else {
        k->type = J_LIT;
        static const char *const lit[] = {"true", "false", "null"};
        for (int w = 0; w < 3 && end == r->i; w++) {
            uint32_t l = (uint32_t)l4lm_strlen(lit[w]);
            if (r->n - r->i >= l && __builtin_memcmp(r->s + r->i, lit[w], l) == 0)
                end = r->i + l;
        }
    }
    if (end == NONE || end == r->i)
        return false;
    k->len = end - r->i;
    r->i = end;
    return true;
}

/* Parse the whole text into r->nodes; node 0 is the top value. */
static l4lm_status read_json(reader *r)
{
    uint32_t stack[MAX_DEPTH], last[MAX_DEPTH], depth = 0;
    for (;;) {
        skip_ws(r);
        uint32_t key_off = 0, key_len = 0;
        bool in_obj = depth && r->nodes[stack[depth - 1]].type == J_OBJ;
        if (in_obj) { /* "key" : */
            uint32_t end = r->i < r->n && r->s[r->i] == '"' ? scan_string(r, r->i) : NONE;
            if (end == NONE)
                return L4LM_E_GRAMMAR;
            key_off = r->i, key_len = end - r->i, r->i = end;
            skip_ws(r);
            if (r->i >= r->n || r->s[r->i++] != ':')
                return L4LM_E_GRAMMAR;
            skip_ws(r);
        }
        if (r->i >= r->n || r->count >= r->cap)
            return r->i >= r->n ? L4LM_E_GRAMMAR : L4LM_E_BUFFER;
        uint32_t id = r->count++;
        jnode *k = &r->nodes[id];
        *k = (jnode){0, r->i, 0, key_off, key_len, NONE, NONE};
        if (depth) { /* link to the parent */
            if (last[depth - 1] == NONE)
                r->nodes[stack[depth - 1]].first = id;
            else
                r->nodes[last[depth - 1]].next = id;
            last[depth - 1] = id;
        }
        char c = r->s[r->i];
        if (c == '{' || c == '[') {
            if (depth >= MAX_DEPTH)
                return L4LM_E_LIMIT;
            k->type = c == '{' ? J_OBJ : J_ARR;
            r->i++;
            stack[depth] = id, last[depth++] = NONE;
            skip_ws(r);
            if (r->i < r->n && r->s[r->i] == (c == '{' ? '}' : ']'))
                goto close; /* empty */
            continue;
        }
        if (!scalar(r, k))
            return L4LM_E_GRAMMAR;
        for (;;) { /* after a value: , or the end of containers */
            skip_ws(r);
            if (depth == 0)
                return r->i == r->n ? L4LM_OK : L4LM_E_GRAMMAR;
            if (r->i >= r->n)
                return L4LM_E_GRAMMAR;
            if (r->s[r->i] == ',') {
                r->i++;
                break;
            }
        close:;
            jnode *top = &r->nodes[stack[depth - 1]];
            if (r->s[r->i] != (top->type == J_OBJ ? '}' : ']'))
                return L4LM_E_GRAMMAR;
            r->i++;
            top->len = r->i - top->off;
            depth--;
        }
    }
}

/* ---- reading the schema ---- */

typedef struct conv {
    const char *s;
    const jnode *nodes;
    uint32_t *queue, n_queue, cap_queue;
    char *out;
    size_t cap, n;
    l4lm_status st;
} conv;

static bool text_is(const conv *c, uint32_t off, uint32_t len, const char *lit)
{
    size_t l = l4lm_strlen(lit);
    return len == l && __builtin_memcmp(c->s + off, lit, l) == 0;
}

/* The member "key" of object node o, or NONE. */
static uint32_t member(const conv *c, uint32_t o, const char *key)
{
    if (o == NONE || c->nodes[o].type != J_OBJ)
        return NONE;
    char quoted[32] = "\"";
    size_t l = l4lm_strlen(key);
    __builtin_memcpy(quoted + 1, key, l);
    quoted[l + 1] = '"';
    quoted[l + 2] = 0;
    for (uint32_t k = c->nodes[o].first; k != NONE; k = c->nodes[k].next)
        if (text_is(c, c->nodes[k].key_off, c->nodes[k].key_len, quoted))
            return k;
    return NONE;
}

/* A non-negative integer member, or def. */
static uint32_t count_of(const conv *c, uint32_t o, const char *key, uint32_t def)
{
    uint32_t k = member(c, o, key), v = 0;
    if (k == NONE || c->nodes[k].type != J_NUM)
        return def;
    for (uint32_t i = 0; i < c->nodes[k].len; i++) {
        char d = c->s[c->nodes[k].off + i];
        if (d < '0' || d > '9')
            break;
        v = v > 100000 ? v : v * 10 + (uint32_t)(d - '0');
    }
    return v;
}

/* ---- writing GBNF ---- */

static void put_n(conv *c, const char *t, size_t n)
{
    for (size_t k = 0; k < n; k++, c->n++)
        if (c->n < c->cap)
            c->out[c->n] = t[k];
}

static void put(conv *c, const char *t)
{
    put_n(c, t, l4lm_strlen(t));
}

static void put_u(conv *c, uint32_t v)
{
    char d[10];
    int k = 0;
    do
        d[k++] = (char)('0' + v % 10);
    while (v /= 10);
    while (k--)
        put_n(c, &d[k], 1);
}

/* The rule name of node x: s<x>, optionally -<part><i>. */
static void put_name(conv *c, uint32_t x, const char *part, uint32_t i)
{
    put(c, "s");
    put_u(c, x);
    if (part) {
        put(c, "-");
        put(c, part);
        put_u(c, i);
    }
}

/* Text of the schema as a GBNF string literal. */
static void put_literal(conv *c, uint32_t off, uint32_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    put(c, "\"");
    for (uint32_t k = 0; k < len; k++) {
        uint8_t b = (uint8_t)c->s[off + k];
        if (b == '"' || b == '\\') {
            char e[2] = {'\\', (char)b};
            put_n(c, e, 2);
        } else if (b < 0x20) {
            char e[4] = {'\\', 'x', hex[b >> 4], hex[b & 15]};
            put_n(c, e, 4);
        } else
            put_n(c, (const char *)&b, 1);
    }
    put(c, "\"");
}

/* Rule s<x> will be written (each schema is referenced once). */
static void use(conv *c, uint32_t x)
{
    if (c->n_queue >= c->cap_queue)
        c->st = L4LM_E_LIMIT;
    else
        c->queue[c->n_queue++] = x;
    put_name(c, x, 0, 0);
}

static void put_repeat(conv *c, uint32_t m, uint32_t n)
{
    put(c, "{");
    put_u(c, m);
    put(c, ",");
    if (n != NONE)
        put_u(c, n);
    put(c, "}");
}

static void string_rule(conv *c, uint32_t x)
{
    uint32_t lo = count_of(c, x, "minLength", 0), hi = count_of(c, x, "maxLength", NONE);
    if (lo > L4LM_GRAMMAR_MAX_REPEAT || (hi != NONE && hi > L4LM_GRAMMAR_MAX_REPEAT))
        c->st = L4LM_E_LIMIT;
    if (lo == 0 && hi == NONE) {
        put(c, "string");
        return;
    }
    put(c, "\"\\\"\" char");
    put_repeat(c, lo, hi);
    put(c, " \"\\\"\"");
}

static void array_rule(conv *c, uint32_t x)
{
    uint32_t items = member(c, x, "items");
    uint32_t lo = count_of(c, x, "minItems", 0), hi = count_of(c, x, "maxItems", NONE);
    if (lo > L4LM_GRAMMAR_MAX_REPEAT || (hi != NONE && hi > L4LM_GRAMMAR_MAX_REPEAT))
        c->st = L4LM_E_LIMIT;
    if (items == NONE) {
        put(c, "array");
        return;
    }
    put(c, "\"[\" ws ");
    if (hi == 0 || (hi != NONE && hi < lo)) {
        put(c, "\"]\"");
        return;
    }
    put(c, lo ? "" : "( ");
    use(c, items);
    put(c, " ( ws \",\" ws ");
    put_name(c, items, 0, 0);
    put(c, " )");
    put_repeat(c, lo ? lo - 1 : 0, hi == NONE ? NONE : hi - 1);
    put(c, lo ? " ws \"]\"" : " )? ws \"]\"");
}

static bool is_required(const conv *c, uint32_t x, uint32_t prop)
{
    uint32_t req = member(c, x, "required");
    if (req == NONE || c->nodes[req].type != J_ARR)
        return false;
    const jnode *p = &c->nodes[prop];
    for (uint32_t k = c->nodes[req].first; k != NONE; k = c->nodes[k].next)
        if (c->nodes[k].len == p->key_len &&
            __builtin_memcmp(c->s + c->nodes[k].off, c->s + p->key_off, p->key_len) == 0)
            return true;
    return false;
}

/* s<x> ::= "{" ws ( first property i, then s<x>-t<i> ) ws "}", with rules
** s<x>-k<i> (property i) and s<x>-t<i> (what may follow it) after it. */
static void object_rule(conv *c, uint32_t x, uint32_t props)
{
    uint32_t n = 0, all_optional = 1;
    put(c, "\"{\" ws ( ");
    for (uint32_t k = c->nodes[props].first; k != NONE; k = c->nodes[k].next, n++) {
        put(c, n ? " | " : "");
        put_name(c, x, "k", n);
        put(c, " ");
        put_name(c, x, "t", n);
        if (is_required(c, x, k)) {
            all_optional = 0;
            break;
        }
    }
    put(c, all_optional ? " | \"\" ) ws \"}\"\n" : " ) ws \"}\"\n");
    n = 0;
    for (uint32_t k = c->nodes[props].first; k != NONE; k = c->nodes[k].next, n++) {
        put_name(c, x, "k", n);
        put(c, " ::= ");
        put_literal(c, c->nodes[k].key_off, c->nodes[k].key_len);
        put(c, " ws \":\" ws ");
        use(c, k);
        put(c, "\n");
        put_name(c, x, "t", n);
        put(c, " ::= ");
        uint32_t nx = c->nodes[k].next;
        if (nx == NONE)
            put(c, "\"\"");
        else {
            put(c, "( ws \",\" ws ");
            put_name(c, x, "k", n + 1);
            put(c, is_required(c, x, nx) ? " ) " : " )? ");
            put_name(c, x, "t", n + 1);
        }
        put(c, "\n");
    }
}

/* One type's body for schema x (without the trailing newline, except objects). */
static bool type_body(conv *c, uint32_t x, uint32_t t)
{
    static const char *const simple[] = {"number", "integer", "boolean", "null"};
    for (int k = 0; k < 4; k++)
        if (text_is(c, c->nodes[t].off + 1, c->nodes[t].len - 2, simple[k])) {
            put(c, simple[k]);
            return false;
        }
    if (text_is(c, c->nodes[t].off, c->nodes[t].len, "\"string\""))
        string_rule(c, x);
    else if (text_is(c, c->nodes[t].off, c->nodes[t].len, "\"array\""))
        array_rule(c, x);
    else if (text_is(c, c->nodes[t].off, c->nodes[t].len, "\"object\"")) {
        uint32_t props = member(c, x, "properties");
        if (props != NONE && c->nodes[props].type == J_OBJ && c->nodes[props].first != NONE) {
            object_rule(c, x, props);
            return true;
        }
        put(c, "object");
    } else
        c->st = L4LM_E_GRAMMAR;
    return false;
}

/* Alternatives: the literal text of each value, or a rule per schema. */
static void alternatives(conv *c, uint32_t list, bool schemas)
{
    if (c->nodes[list].type != J_ARR || c->nodes[list].first == NONE) {
        c->st = L4LM_E_GRAMMAR;
        return;
    }
    for (uint32_t k = c->nodes[list].first; k != NONE; k = c->nodes[k].next) {
        put(c, k == c->nodes[list].first ? "" : " | ");
        if (schemas)
            use(c, k);
        else
            put_literal(c, c->nodes[k].off, c->nodes[k].len);
    }
}

/* s<x> ::= its body. */
static void schema_rule(conv *c, uint32_t x)
{
    put_name(c, x, 0, 0);
    put(c, " ::= ");
    uint32_t k, type = member(c, x, "type");
    bool schema = c->nodes[x].type == J_OBJ; /* true, or not a schema: anything */
    if (schema && (k = member(c, x, "const")) != NONE)
        put_literal(c, c->nodes[k].off, c->nodes[k].len);
    else if (schema && (k = member(c, x, "enum")) != NONE)
        alternatives(c, k, false);
    else if (schema && ((k = member(c, x, "anyOf")) != NONE || (k = member(c, x, "oneOf")) != NONE))
        alternatives(c, k, true);
    else if (schema && type != NONE && c->nodes[type].type == J_STR) {
        if (type_body(c, x, type))
            return;
    } else if (schema && type != NONE && c->nodes[type].type == J_ARR &&
               c->nodes[type].first != NONE) {
        for (k = c->nodes[type].first; k != NONE; k = c->nodes[k].next) {
            put(c, k == c->nodes[type].first ? "( " : " ) | ( ");
            if (c->nodes[k].type != J_STR ||
                text_is(c, c->nodes[k].off, c->nodes[k].len, "\"object\""))
                c->st = L4LM_E_GRAMMAR; /* an object among others: not supported */
            else
                type_body(c, x, k);
        }
        put(c, " )");
    } else if (schema && member(c, x, "properties") != NONE) {
        uint32_t props = member(c, x, "properties");
        if (c->nodes[props].type == J_OBJ && c->nodes[props].first != NONE) {
            object_rule(c, x, props);
            return;
        }
        put(c, "object");
    } else if (schema && member(c, x, "items") != NONE)
        array_rule(c, x);
    else
        put(c, "value");
    put(c, "\n");
}

#define COMMON_RULES                                                                               \
    "ws ::= \" \"?\n"                                                                              \
    "char ::= [^\"\\\\\\x7F\\x00-\\x1F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4})\n"      \
    "string ::= \"\\\"\" char* \"\\\"\"\n"                                                         \
    "integer ::= \"-\"? (\"0\" | [1-9] [0-9]{0,15})\n"                                             \
    "number ::= integer (\".\" [0-9]{1,16})? ([eE] [-+]? [0-9]{1,3})?\n"                           \
    "boolean ::= \"true\" | \"false\"\n"                                                           \
    "null ::= \"null\"\n"                                                                          \
    "value ::= object | array | string | number | boolean | null\n"                                \
    "object ::= \"{\" ws ( string ws \":\" ws value ( ws \",\" ws string ws \":\" ws value )* )? " \
    "ws \"}\"\n"                                                                                   \
    "array ::= \"[\" ws ( value ( ws \",\" ws value )* )? ws \"]\"\n"

const char l4lm_json_object_grammar[] = "root ::= object\n" COMMON_RULES;

l4lm_status l4lm_json_schema_to_grammar(const char *schema, size_t len, void *work,
                                        size_t work_size, char *out, size_t cap, size_t *out_len)
{
    if (!schema || !work || (!out && cap) || !out_len || ((uintptr_t)work & 7) || len > (1u << 24))
        return L4LM_E_ARG;
    *out_len = 0;
    size_t slots = work_size / (sizeof(jnode) + sizeof(uint32_t));
    if (work_size < l4lm_json_schema_work_size(len)) /* E_BUFFER is for out alone */
        return L4LM_E_ARENA;
    reader r = {schema, (uint32_t)len, 0, 0, (uint32_t)slots, work};
    l4lm_status st = read_json(&r);
    if (st)
        return st;
    conv c = {schema, r.nodes, (uint32_t *)(r.nodes + slots), 0, (uint32_t)slots, out, cap,
              0,      L4LM_OK};
    put(&c, "root ::= s0\n" COMMON_RULES);
    c.queue[c.n_queue++] = 0;
    for (uint32_t q = 0; q < c.n_queue && c.st == L4LM_OK; q++)
        schema_rule(&c, c.queue[q]);
    *out_len = c.n;
    if (c.st)
        return c.st;
    return c.n <= cap ? L4LM_OK : L4LM_E_BUFFER;
}
