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
#include "l4lm.h"

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

int main(void)
{
    test_table();
    test_bad();
    T_EXIT();
}
