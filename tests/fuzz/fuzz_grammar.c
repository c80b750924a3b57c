/*
** fuzz_grammar.c — libFuzzer harness: the GBNF parser and matcher, and the
** JSON Schema converter. The first byte picks: even, the input up to the
** first NUL is a grammar and the bytes after it are text to match; odd,
** the rest is a JSON Schema whose GBNF must then compile (or the
** converter gives a status). Every result must be a status, never a crash.
*/
#include "fuzz.h"

static _Alignas(8) unsigned char gmem[L4LM_GRAMMAR_BYTES];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    l4lm_grammar *g;
    if (data[0] % 2 == 0) {
        const char *nul = memchr(p, 0, n);
        size_t glen = nul ? (size_t)(nul - p) : n;
        char *text = (char *)fuzz_copy((const uint8_t *)p, glen);
        l4lm_grammar_error err;
        l4lm_status st = l4lm_grammar_init(&g, text, glen, gmem, sizeof gmem, &err);
        FUZZ_CHECK(st == L4LM_OK || st == L4LM_E_GRAMMAR || st == L4LM_E_LIMIT, "status %d", st);
        FUZZ_CHECK(st != L4LM_OK || err.why == L4LM_GRAMMAR_OK, "why %d", err.why);
        if (st == L4LM_OK && nul)
            for (size_t i = glen + 1; i < n; i++)
                if (l4lm_grammar_accept(g, p + i, 1) != L4LM_OK)
                    break;
        free(text);
        return 0;
    }
    size_t wn = l4lm_json_schema_work_size(n), len = 0;
    void *work = aligned_alloc(8, (wn + 7) / 8 * 8);
    char *out = malloc(65536);
    char *schema = (char *)fuzz_copy((const uint8_t *)p, n);
    l4lm_status st = l4lm_json_schema_to_grammar(schema, n, work, wn, out, 65536, &len);
    if (st == L4LM_OK) {
        l4lm_status gs = l4lm_grammar_init(&g, out, len, gmem, sizeof gmem, NULL);
        FUZZ_CHECK(gs == L4LM_OK || gs == L4LM_E_LIMIT, "schema grammar does not compile: %d", gs);
    }
    free(schema);
    free(out);
    free(work);
    return 0;
}
