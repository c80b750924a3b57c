/*
** test_grammar.c — constrained output. The GBNF parser takes the shapes of
** llama.cpp's grammars/ examples and refuses bad and hostile grammars with
** a status; the matcher accepts and rejects tables of strings; the JSON
** Schema converter's grammars, sampled with stories260K at temperature 1,
** give text that an independent JSON parser and schema check (below, in
** this file) accept every time; and the cost of a step with a grammar is
** counted in tokens checked.
*/
#include "t.h"
#include "gguf_write.h"
#include "l4lm.h"
#include <stdbool.h>

static _Alignas(8) unsigned char gmem[L4LM_GRAMMAR_BYTES];

static l4lm_status compile(const char *text, l4lm_grammar **g, l4lm_grammar_error *err)
{
    return l4lm_grammar_init(g, text, strlen(text), gmem, sizeof gmem, err);
}

/* Does the whole of s match the grammar (fed in pieces of `step` bytes)? */
static int matches(l4lm_grammar *g, const char *s, size_t step)
{
    l4lm_grammar_reset(g);
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i += step) {
        size_t k = n - i < step ? n - i : step;
        if (l4lm_grammar_accept(g, s + i, k) != L4LM_OK)
            return 0;
    }
    return l4lm_grammar_can_end(g);
}

typedef struct gcase {
    const char *name, *grammar;
    const char *yes[8], *no[8];
} gcase;

static const gcase cases[] = {
    {"literal", "root ::= \"ab\" \"c\"", {"abc"}, {"", "ab", "abcd", "abd"}},
    {"alternatives", "root ::= \"cat\" | \"dog\" | \"\"", {"cat", "dog", ""}, {"ca", "cow"}},
    {"class", "root ::= [a-c0-9_] [^x-z\\n]", {"a1", "9q", "_-"}, {"d1", "ax", "a\n", "a"}},
    {"star plus opt",
     "root ::= \"a\"* \"b\"+ \"c\"?",
     {"b", "aab", "bbc", "abbbc"},
     {"", "a", "c", "bcc"}},
    {"braces",
     "root ::= [0-9]{2} \"-\" [a-z]{1,3} \"-\" \"x\"{2,}",
     {"12-a-xx", "00-abc-xxxxx"},
     {"1-a-xx", "12--xx", "12-abcd-xx", "12-a-x"}},
    {"exact", "root ::= \"ab\"{3}", {"ababab"}, {"abab", "abababab"}},
    {"groups", "root ::= (\"a\" (\"b\" | \"c\"))+ \"!\"", {"ab!", "acab!"}, {"a!", "!", "abc!"}},
    {"refs and comments",
     "# a comment\nroot ::= item (\",\" item)* # trailing\nitem ::= [0-9]+\n",
     {"1", "12,3,456"},
     {"", "1,", ",1", "1,,2"}},
    {"multiline",
     "root ::=\n  \"{\" (\n    \"a\" |\n    \"b\"\n  ) \"}\"\n",
     {"{a}", "{b}"},
     {"{}", "{ab}"}},
    {"escapes",
     "root ::= \"\\x41\\u00e9\\t\\\"\\\\\" [\\[\\]]",
     {"A\xc3\xa9\t\"\\[", "A\xc3\xa9\t\"\\]"},
     {"Ae\t\"\\[", "A\xc3\xa9\t\"\\"}},
    {"utf8",
     "root ::= [\\u4e00-\\u9fff]+ \"\xc3\xa9\"",
     {"\xe4\xb8\xad\xe6\x96\x87\xc3\xa9"},
     {"a\xc3\xa9", "\xc3\xa9", "\xe4\xb8"}},
    {"any", "root ::= \".\" . .", {".ab", ".\xc3\xa9z"}, {"ab", ".a"}},
    {"right recursion", "root ::= \"(\" root \")\" | \"x\"", {"x", "((x))"}, {"(x", "()", "x)"}},
    {"json",
     "root ::= object\n"
     "value ::= object | array | string | number | (\"true\" | \"false\" | \"null\") ws\n"
     "object ::= \"{\" ws ( string \":\" ws value (\",\" ws string \":\" ws value)* )? \"}\" ws\n"
     "array ::= \"[\" ws ( value (\",\" ws value)* )? \"]\" ws\n"
     "string ::= \"\\\"\" ( [^\"\\\\\\x7F\\x00-\\x1F] | \"\\\\\" ([\"\\\\bfnrt] | \"u\" "
     "[0-9a-fA-F]{4}) )* \"\\\"\" ws\n"
     "number ::= (\"-\"? ([0-9] | [1-9] [0-9]{0,15})) (\".\" [0-9]+)? ([eE] [-+]? [0-9] "
     "[1-9]{0,15})? ws\n"
     "ws ::= | \" \" | \"\\n\" [ \\t]{0,20}\n",
     {"{}", "{\"a\": [1, 2.5, \"x\", {\"b\": null}], \"c\": true}", "{\"u\": \"\\u00e9\\n\"}"},
     {"[]", "{\"a\"}", "{\"a\": tru}", "{\"a\": 01}", "{'a': 1}"}},
};

static void test_table(void)
{
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const gcase *k = &cases[c];
        l4lm_grammar *g;
        l4lm_grammar_error err;
        char name[128];
        snprintf(name, sizeof name, "grammar %s: parses", k->name);
        l4lm_status st = compile(k->grammar, &g, &err);
        if (!T_CHECK(name, st == L4LM_OK, "%s: %s at %u", l4lm_strerror(st),
                     l4lm_grammar_why_text(err.why), err.offset))
            continue;
        int bad = 0;
        for (int i = 0; i < 8 && k->yes[i]; i++)
            for (size_t step = 1; step <= 64; step *= 4)
                if (!matches(g, k->yes[i], step)) {
                    T_FAIL(name, "rejects \"%s\" (step %zu)", k->yes[i], step);
                    bad = 1;
                }
        for (int i = 0; i < 8 && k->no[i]; i++)
            if (matches(g, k->no[i], 1)) {
                T_FAIL(name, "accepts \"%s\"", k->no[i]);
                bad = 1;
            }
        snprintf(name, sizeof name, "grammar %s: accepts and rejects its table", k->name);
        if (!bad)
            T_OK(name);
    }
}

typedef struct badcase {
    const char *name, *grammar;
    l4lm_status st;
    l4lm_grammar_why why;
} badcase;

static void test_bad(void)
{
    static char big[3][40000];
    /* nesting beyond the limit, a huge repetition, a state explosion */
    memset(big[0], 0, sizeof big[0]);
    strcpy(big[0], "root ::= ");
    for (int i = 0; i < 40; i++)
        strcat(big[0], "(");
    strcat(big[0], "\"a\"");
    for (int i = 0; i < 40; i++)
        strcat(big[0], ")");
    snprintf(big[1], sizeof big[1], "root ::= (\"abcdefgh\"{1000}){1000}");
    /* after k a's, 3^k different stacks (which letter closes each level) */
    strcpy(big[2], "root ::= s\ns ::= \"a\" s \"b\" | \"a\" s \"c\" | \"a\" s \"d\" | \"x\"\n");
    const badcase bad[] = {
        {"unknown rule", "root ::= item\n", L4LM_E_GRAMMAR, L4LM_GRAMMAR_UNKNOWN_RULE},
        {"no root", "item ::= \"a\"\n", L4LM_E_GRAMMAR, L4LM_GRAMMAR_NO_ROOT},
        {"duplicate", "root ::= \"a\"\nroot ::= \"b\"\n", L4LM_E_GRAMMAR, L4LM_GRAMMAR_DUPLICATE},
        {"left recursion", "root ::= root \"a\" | \"b\"\n", L4LM_E_GRAMMAR,
         L4LM_GRAMMAR_LEFT_RECURSION},
        {"indirect left recursion", "root ::= a\na ::= b? c\nb ::= \"x\"\nc ::= a \"y\" | \"z\"\n",
         L4LM_E_GRAMMAR, L4LM_GRAMMAR_LEFT_RECURSION},
        {"nullable star", "root ::= (\"a\"?)*\n", L4LM_E_GRAMMAR, L4LM_GRAMMAR_LEFT_RECURSION},
        {"unterminated string", "root ::= \"abc\n", L4LM_E_GRAMMAR, L4LM_GRAMMAR_UNTERMINATED},
        {"unterminated class", "root ::= [abc", L4LM_E_GRAMMAR, L4LM_GRAMMAR_UNTERMINATED},
        {"unterminated group", "root ::= (\"a\" | \"b\"", L4LM_E_GRAMMAR,
         L4LM_GRAMMAR_UNTERMINATED},
        {"unmatched paren", "root ::= \"a\")\n", L4LM_E_GRAMMAR, L4LM_GRAMMAR_SYNTAX},
        {"missing ::=", "root = \"a\"\n", L4LM_E_GRAMMAR, L4LM_GRAMMAR_SYNTAX},
        {"postfix first", "root ::= *\"a\"\n", L4LM_E_GRAMMAR, L4LM_GRAMMAR_SYNTAX},
        {"bad braces", "root ::= \"a\"{3,1}\n", L4LM_E_GRAMMAR, L4LM_GRAMMAR_SYNTAX},
        {"bad escape", "root ::= \"\\q\"\n", L4LM_E_GRAMMAR, L4LM_GRAMMAR_ESCAPE},
        {"bad hex", "root ::= \"\\xZZ\"\n", L4LM_E_GRAMMAR, L4LM_GRAMMAR_ESCAPE},
        {"bad utf-8", "root ::= \"\xff\"\n", L4LM_E_GRAMMAR, L4LM_GRAMMAR_ESCAPE},
        {"repeat beyond limit", "root ::= \"a\"{1001}\n", L4LM_E_LIMIT, L4LM_GRAMMAR_TOO_BIG},
        {"nesting beyond limit", big[0], L4LM_E_LIMIT, L4LM_GRAMMAR_TOO_BIG},
        {"elements beyond limit", big[1], L4LM_E_LIMIT, L4LM_GRAMMAR_TOO_BIG},
        {"empty", "", L4LM_E_GRAMMAR, L4LM_GRAMMAR_NO_ROOT},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        l4lm_grammar *g;
        l4lm_grammar_error err;
        char name[96];
        snprintf(name, sizeof name, "grammar refused: %s", bad[i].name);
        l4lm_status st = compile(bad[i].grammar, &g, &err);
        T_CHECK(name, st == bad[i].st && err.why == bad[i].why, "got %s / %s at %u",
                l4lm_strerror(st), l4lm_grammar_why_text(err.why), err.offset);
    }
    /* too many live states: compiles, then the text gets a clear status */
    l4lm_grammar *g;
    l4lm_status st = compile(big[2], &g, NULL);
    l4lm_status acc = L4LM_OK;
    for (int i = 0; st == L4LM_OK && i < 40 && acc == L4LM_OK; i++)
        acc = l4lm_grammar_accept(g, "a", 1);
    T_CHECK("grammar: too many live states gives E_LIMIT", st == L4LM_OK && acc == L4LM_E_LIMIT,
            "compile %s, accept %s", l4lm_strerror(st), l4lm_strerror(acc));
    /* deep right recursion: the depth limit, not a crash */
    st = compile("root ::= \"(\" root \")\" | \"x\"", &g, NULL);
    acc = L4LM_OK;
    for (int i = 0; st == L4LM_OK && i < 100 && acc == L4LM_OK; i++)
        acc = l4lm_grammar_accept(g, "(", 1);
    T_CHECK("grammar: nesting beyond the depth limit gives E_LIMIT", acc == L4LM_E_LIMIT, "%s",
            l4lm_strerror(acc));
    T_CHECK("grammar: small memory is E_ARG",
            l4lm_grammar_init(&g, "root ::= \"a\"", 12, gmem, 1024, NULL) == L4LM_E_ARG, "");
}

/* ---- an independent JSON reader for the checks (recursive, hosted) ---- */

enum { V_OBJ, V_ARR, V_STR, V_NUM, V_BOOL, V_NULL };
typedef struct jv {
    int type, n;        /* n: members, elements, or code points of a string */
    bool integer;       /* a number without fraction or exponent */
    char str[64];       /* a string's bytes (first 63) */
    char keys[8][32];   /* an object's keys */
    struct jv *kids[8]; /* members or elements (the first 8) */
} jv;

static jv pool[4096];
static int n_pool;

static const char *ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

/* A JSON string at p (after the quote) into out; code points counted. */
static const char *jstr(const char *p, char *out, size_t cap, int *count)
{
    size_t k = 0;
    *count = 0;
    for (;; (*count)++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            break;
        if (c < 0x20)
            return NULL;
        if (c == '\\') {
            p++;
            if (*p == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i])
                        return NULL;
                p += 5;
            } else if (*p && strchr("\"\\/bfnrt", *p))
                p++;
            else
                return NULL;
            continue;
        }
        int len = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
        if (!len)
            return NULL;
        for (int i = 0; i < len; i++, p++)
            if (k + 1 < cap)
                out[k++] = *p;
    }
    out[k] = 0;
    return p + 1;
}

static const char *jvalue(const char *p, jv **out, int depth)
{
    p = ws(p);
    if (depth > 32 || n_pool >= 4096)
        return NULL;
    jv *v = &pool[n_pool++];
    memset(v, 0, sizeof *v);
    *out = v;
    if (*p == '{' || *p == '[') {
        int obj = *p == '{';
        v->type = obj ? V_OBJ : V_ARR;
        p = ws(p + 1);
        if (*p == (obj ? '}' : ']'))
            return p + 1;
        for (;;) {
            char key[64] = "";
            if (obj) {
                int cnt;
                if (*p != '"' || !(p = jstr(p + 1, key, sizeof key, &cnt)))
                    return NULL;
                if (*(p = ws(p)) != ':')
                    return NULL;
                p++;
            }
            jv *kid;
            if (!(p = jvalue(p, &kid, depth + 1)))
                return NULL;
            if (v->n < 8) {
                v->kids[v->n] = kid;
                snprintf(v->keys[v->n], sizeof v->keys[0], "%s", key);
            }
            v->n++;
            p = ws(p);
            if (*p == ',') {
                p = ws(p + 1);
                continue;
            }
            return *p == (obj ? '}' : ']') ? p + 1 : NULL;
        }
    }
    if (*p == '"') {
        v->type = V_STR;
        return jstr(p + 1, v->str, sizeof v->str, &v->n);
    }
    if (!strncmp(p, "true", 4) || !strncmp(p, "null", 4)) {
        v->type = *p == 't' ? V_BOOL : V_NULL;
        return p + 4;
    }
    if (!strncmp(p, "false", 5)) {
        v->type = V_BOOL;
        return p + 5;
    }
    /* number: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
    v->type = V_NUM;
    v->integer = true;
    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (*p >= '0' && *p <= '9')
            p++;
    else
        return NULL;
    if (*p == '.') {
        v->integer = false;
        if (!(*++p >= '0' && *p <= '9'))
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        v->integer = false;
        p += p[1] == '+' || p[1] == '-' ? 2 : 1;
        if (!(*p >= '0' && *p <= '9'))
            return NULL;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return p;
}

static jv *parse_all(const char *text)
{
    jv *v;
    n_pool = 0;
    const char *p = jvalue(text, &v, 0);
    return p && *ws(p) == 0 ? v : NULL;
}

static jv *get(const jv *o, const char *key)
{
    for (int i = 0; i < o->n && i < 8; i++)
        if (!strcmp(o->keys[i], key))
            return o->kids[i];
    return NULL;
}

/* Only the keys in `allowed` (space separated), each at most once, in that order. */
static bool keys_ok(const jv *o, const char *allowed)
{
    const char *at = allowed;
    for (int i = 0; i < o->n; i++) {
        char pat[40];
        snprintf(pat, sizeof pat, " %s ", o->keys[i]);
        const char *f = strstr(at, pat);
        if (i >= 8 || !f)
            return false;
        at = f + strlen(pat) - 1;
    }
    return true;
}

/* Schema 1: {mood: enum, age: integer, tags?: [string <= 8] <= 3} */
static bool check1(const jv *v)
{
    const jv *m, *a, *t;
    if (!v || v->type != V_OBJ || !keys_ok(v, " mood age tags ") || !(m = get(v, "mood")) ||
        !(a = get(v, "age")))
        return false;
    if (m->type != V_STR ||
        (strcmp(m->str, "happy") && strcmp(m->str, "sad") && strcmp(m->str, "angry")))
        return false;
    if (a->type != V_NUM || !a->integer)
        return false;
    if ((t = get(v, "tags"))) {
        if (t->type != V_ARR || t->n > 3)
            return false;
        for (int i = 0; i < t->n; i++)
            if (t->kids[i]->type != V_STR || t->kids[i]->n > 8)
                return false;
    }
    return true;
}

/* Schema 2: {name: string 1..12, ok: boolean, score?: number, kind: "cat", note?: string <= 6 |
 * null} */
static bool check2(const jv *v)
{
    const jv *n, *o, *s, *k, *t;
    if (!v || v->type != V_OBJ || !keys_ok(v, " name ok score kind note ") ||
        !(n = get(v, "name")) || !(o = get(v, "ok")) || !(k = get(v, "kind")))
        return false;
    if (n->type != V_STR || n->n < 1 || n->n > 12 || o->type != V_BOOL)
        return false;
    if (k->type != V_STR || strcmp(k->str, "cat"))
        return false;
    if ((s = get(v, "score")) && s->type != V_NUM)
        return false;
    if ((t = get(v, "note")) && !(t->type == V_NULL || (t->type == V_STR && t->n <= 6)))
        return false;
    return true;
}

/* Schema 3: [{x: integer, y: integer}] with 1 to 3 items */
static bool check3(const jv *v)
{
    if (!v || v->type != V_ARR || v->n < 1 || v->n > 3)
        return false;
    for (int i = 0; i < v->n; i++) {
        const jv *o = v->kids[i], *x, *y;
        if (o->type != V_OBJ || !keys_ok(o, " x y ") || !(x = get(o, "x")) || !(y = get(o, "y")) ||
            x->type != V_NUM || !x->integer || y->type != V_NUM || !y->integer)
            return false;
    }
    return true;
}

static const char *const schemas[] = {
    "{\"type\":\"object\",\"properties\":{\"mood\":{\"enum\":[\"happy\",\"sad\",\"angry\"]},"
    "\"age\":{\"type\":\"integer\"},\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"string\","
    "\"maxLength\":8},\"maxItems\":3}},\"required\":[\"mood\",\"age\"]}",
    "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"minLength\":1,"
    "\"maxLength\":12},\"ok\":{\"type\":\"boolean\"},\"score\":{\"type\":\"number\"},"
    "\"kind\":{\"const\":\"cat\"},\"note\":{\"type\":[\"string\",\"null\"],\"maxLength\":6}},"
    "\"required\":[\"name\",\"ok\",\"kind\"],\"additionalProperties\":false}",
    "{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{\"x\":{\"type\":"
    "\"integer\"},\"y\":{\"type\":\"integer\"}},\"required\":[\"x\",\"y\"]},\"minItems\":1,"
    "\"maxItems\":3}",
};
static bool (*const checks[])(const jv *) = {check1, check2, check3};

static char gbnf[16384];

static l4lm_status schema_grammar(const char *schema, l4lm_grammar **g)
{
    size_t need = l4lm_json_schema_work_size(strlen(schema)), len;
    void *work = aligned_alloc(8, (need + 7) / 8 * 8);
    l4lm_status st = l4lm_json_schema_to_grammar(schema, strlen(schema), work, need, gbnf,
                                                 sizeof gbnf - 1, &len);
    free(work);
    if (st)
        return st;
    gbnf[len] = 0;
    l4lm_grammar_error err;
    st = l4lm_grammar_init(g, gbnf, len, gmem, sizeof gmem, &err);
    if (st)
        printf("# grammar: %s at %u\n%s\n", l4lm_grammar_why_text(err.why), err.offset, gbnf);
    return st;
}

static void test_schema_strings(void)
{
    static const char *const yes[3][3] = {
        {"{\"mood\":\"sad\",\"age\":-12}",
         "{\"mood\": \"happy\", \"age\": 0, \"tags\": [\"a\", \"b\"]}",
         "{\"mood\":\"angry\",\"age\":7,\"tags\":[]}"},
        {"{\"name\":\"x\",\"ok\":true,\"kind\":\"cat\"}",
         "{\"name\":\"Tim\",\"ok\":false,\"score\":-1.5e3,\"kind\":\"cat\",\"note\":null}",
         "{\"name\":\"\\u00e9\",\"ok\":true,\"kind\":\"cat\",\"note\":\"hi\"}"},
        {"[{\"x\":1,\"y\":2}]", "[{\"x\":1,\"y\":2}, {\"x\":-3,\"y\":0}]",
         "[ {\"x\":1,\"y\":2} ]"}};
    static const char *const no[3][3] = {
        {"{\"mood\":\"ok\",\"age\":1}", "{\"age\":1,\"mood\":\"sad\"}",
         "{\"mood\":\"sad\",\"age\":1,\"tags\":[\"a\",\"b\",\"c\",\"d\"]}"},
        {"{\"name\":\"\",\"ok\":true,\"kind\":\"cat\"}", "{\"name\":\"x\",\"ok\":true}",
         "{\"name\":\"x\",\"ok\":true,\"kind\":\"dog\"}"},
        {"[]", "[{\"x\":1}]", "[{\"x\":1.5,\"y\":2}]"}};
    for (int s = 0; s < 3; s++) {
        l4lm_grammar *g;
        char name[64];
        snprintf(name, sizeof name, "json schema %d: converts and compiles", s + 1);
        if (!T_CHECK(name, schema_grammar(schemas[s], &g) == L4LM_OK, "see above"))
            continue;
        int bad = 0;
        for (int i = 0; i < 3; i++) {
            if (!matches(g, yes[s][i], 1) || !checks[s](parse_all(yes[s][i])))
                bad = printf("# rejects %s\n", yes[s][i]);
            if (matches(g, no[s][i], 1) || checks[s](parse_all(no[s][i])))
                bad = printf("# accepts %s\n", no[s][i]);
        }
        snprintf(name, sizeof name, "json schema %d: grammar and check agree on a table", s + 1);
        T_CHECK(name, !bad, "see above");
    }
    l4lm_grammar *g;
    l4lm_status st = l4lm_grammar_init(&g, l4lm_json_object_grammar,
                                       strlen(l4lm_json_object_grammar), gmem, sizeof gmem, NULL);
    T_CHECK("json_object grammar",
            st == L4LM_OK && matches(g, "{\"a\": [1, {\"b\": null}]}", 1) && !matches(g, "[1]", 1),
            "%s", l4lm_strerror(st));
    char out[64];
    size_t len;
    static _Alignas(8) char work[4096];
    static const char *const bad[] = {
        "{\"type\":", "{\"type\":\"string\"} x",
        ("[[[[[[[[[[[[[[[["
         "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]")};
    static const l4lm_status want[] = {L4LM_E_GRAMMAR, L4LM_E_GRAMMAR, L4LM_E_LIMIT};
    for (int i = 0; i < 3; i++) {
        st = l4lm_json_schema_to_grammar(bad[i], strlen(bad[i]), work, sizeof work, out, sizeof out,
                                         &len);
        T_CHECK("json schema: bad input gets a status", st == want[i], "%d: %s", i,
                l4lm_strerror(st));
    }
    size_t need = l4lm_json_schema_work_size(strlen(schemas[0]));
    _Alignas(8) static char big[1 << 16];
    st = l4lm_json_schema_to_grammar(schemas[0], strlen(schemas[0]), work, need - 1, out,
                                     sizeof out, &len);
    T_CHECK("json schema: too little work memory is E_ARENA", st == L4LM_E_ARENA && len == 0,
            "%s (needs %zu)", l4lm_strerror(st), need);
    T_CHECK("json schema: the test's work memory suffices", need <= sizeof big, "%zu", need);
    st = l4lm_json_schema_to_grammar(schemas[0], strlen(schemas[0]), big, need, out, sizeof out,
                                     &len);
    T_CHECK("json schema: small output is E_BUFFER with the size",
            st == L4LM_E_BUFFER && len > sizeof out, "%s", l4lm_strerror(st));
}

/* ---- sampling under schemas with stories260K ---- */

typedef struct model_ctx {
    l4lm_model m;
    l4lm_session *s;
    l4lm_grammar_vocab *v;
    void *index, *arena, *vmem;
    unsigned char *bytes;
} model_ctx;

static int open_model(model_ctx *mc)
{
    const char *sh = t_shared();
    char path[4200];
    size_t size;
    if (!sh)
        return -1;
    snprintf(path, sizeof path, "%s/models/stories260K.gguf", sh);
    if (!(mc->bytes = t_read_file(path, &size)) ||
        t_model_open(&mc->m, mc->bytes, size, NULL, 0, &mc->index))
        return -1;
    l4lm_run_opts o = {.n_ctx = 512};
    l4lm_plan_result p;
    size_t vb;
    if (l4lm_plan(&mc->m, &o, &p) || !(mc->arena = aligned_alloc(64, p.total)) ||
        l4lm_session_init(&mc->s, &mc->m, &o, mc->arena, p.total) ||
        l4lm_grammar_vocab_size(mc->s, &vb) || !(mc->vmem = aligned_alloc(8, (vb + 7) / 8 * 8)) ||
        l4lm_grammar_vocab_init(&mc->v, mc->s, mc->vmem, vb))
        return -1;
    return 0;
}

/* One completion after the prompt; its text into out. */
static l4lm_finish complete(model_ctx *mc, l4lm_grammar *g, uint64_t seed, float temp, char *out,
                            size_t cap, l4lm_gen *gen, uint32_t max_tokens)
{
    int32_t ids[32];
    size_t n;
    const char *prompt = "Once upon a time";
    l4lm_session_reset(mc->s);
    l4lm_session_seed(mc->s, seed);
    if (l4lm_tokenize(mc->s, prompt, strlen(prompt), L4LM_TOK_BOS, ids, 32, &n) ||
        l4lm_eval(mc->s, ids, n, NULL))
        return L4LM_FINISH_ERROR;
    l4lm_gen_opts o = l4lm_gen_opts_default(&mc->m, max_tokens);
    o.sampler.temperature = temp;
    o.grammar = g;
    o.grammar_vocab = mc->v;
    if (g)
        l4lm_grammar_reset(g);
    if (l4lm_gen_init(gen, mc->s, &o))
        return L4LM_FINISH_ERROR;
    size_t k = 0;
    l4lm_finish f;
    do {
        const char *t;
        size_t len;
        f = l4lm_gen_step(gen, &t, &len);
        if (k + len < cap) {
            memcpy(out + k, t, len);
            k += len;
        }
    } while (f == L4LM_FINISH_NONE);
    out[k] = 0;
    return f;
}

static void test_sampling(void)
{
    static model_ctx mc;
    if (open_model(&mc)) {
        T_SKIP("grammar sampling", "stories260K.gguf not found or did not open");
        return;
    }
    static char text[8192];
    static l4lm_gen gen;
    int per_schema = 340;
    for (int s = 0; s < 3; s++) {
        l4lm_grammar *g;
        if (schema_grammar(schemas[s], &g))
            continue;
        int bad = 0, eos = 0;
        uint64_t checked = 0, tokens = 0, masked = 0;
        for (int i = 0; i < per_schema; i++) {
            l4lm_finish f = complete(&mc, g, 1000u * (unsigned)s + (unsigned)i, 1.0f, text,
                                     sizeof text, &gen, 400);
            eos += f == L4LM_FINISH_EOS;
            checked += gen.n_checked;
            tokens += gen.n_gen;
            masked += gen.n_masked;
            if (f != L4LM_FINISH_EOS || !checks[s](parse_all(text))) {
                if (bad++ < 3)
                    printf("# schema %d seed %d: finish %d, status %s: %s\n", s + 1, i, f,
                           l4lm_strerror(gen.status), text);
            }
            if (i < 2)
                printf("# schema %d sample: %s\n", s + 1, text);
        }
        char name[96];
        snprintf(name, sizeof name,
                 "json schema %d: %d completions at temperature 1 parse and validate", s + 1,
                 per_schema);
        T_CHECK(name, bad == 0, "%d of %d did not (%d ended by the grammar)", bad, per_schema, eos);
        printf("# schema %d cost: %.2f tokens checked per generated token (vocabulary %u; "
               "%.1f%% of steps masked), %.1f tokens per completion\n",
               s + 1, (double)checked / (double)tokens, t_n_vocab(&mc.m),
               100.0 * (double)masked / (double)tokens, (double)tokens / per_schema);
        if (s == 0) {
            /* the trick's bound: at most 1 + n_vocab checks per step, and far fewer on average */
            T_CHECK("grammar cost: a step checks at most 1 + n_vocab tokens",
                    checked <= tokens * (1 + (uint64_t)t_n_vocab(&mc.m)) + masked, "%llu",
                    (unsigned long long)checked);
        }
    }
    /* without a grammar: nothing checked, and greedy text unchanged by the hook */
    static char plain[8192];
    l4lm_finish f = complete(&mc, NULL, 1, 0.0f, plain, sizeof plain, &gen, 120);
    T_CHECK("grammar cost: no grammar checks 0 tokens per step",
            gen.n_checked == 0 && gen.n_gen > 0, "%llu", (unsigned long long)gen.n_checked);
    /* greedy with a grammar that allows everything the model says (no special
    ** token in these 120): the same text */
    l4lm_grammar *any;
    if (l4lm_grammar_init(&any, "root ::= [^\\x00]*", 17, gmem, sizeof gmem, NULL) == L4LM_OK) {
        static char same[8192];
        l4lm_finish f2 = complete(&mc, any, 1, 0.0f, same, sizeof same, &gen, 120);
        T_CHECK("grammar: greedy text under an all-allowing grammar equals the plain one",
                f == f2 && !strcmp(plain, same), "%d/%d\n%s\n%s", f, f2, plain, same);
    }
}

int main(void)
{
    test_table();
    test_bad();
    test_schema_strings();
    test_sampling();
    T_EXIT();
}
