/*
** grammar_host.c — builds what constrained output needs on a hosted
** system: the grammar's fixed-size memory, the token table sized for the
** session, and for a JSON Schema the conversion to GBNF first.
*/
#include "grammar_host.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *alloc8(size_t n)
{
    return aligned_alloc(8, (n + 7) / 8 * 8);
}

/* A JSON Schema to GBNF in malloc'd memory (*out), or a status. */
static l4lm_status schema_to_gbnf(const char *text, size_t len, char **out, size_t *out_len)
{
    size_t wn = l4lm_json_schema_work_size(len);
    void *work = alloc8(wn);
    if (!work)
        return L4LM_E_ARG;
    l4lm_status st = l4lm_json_schema_to_grammar(text, len, work, wn, NULL, 0, out_len);
    *out = st == L4LM_E_BUFFER ? malloc(*out_len + 1) : NULL;
    if (*out)
        st = l4lm_json_schema_to_grammar(text, len, work, wn, *out, *out_len, out_len);
    free(work);
    return st;
}

l4lm_status l4lm_host_grammar_build(l4lm_host_grammar *h, l4lm_session *s,
                                    l4lm_host_grammar_kind kind, const char *text, size_t len,
                                    char *why, size_t why_cap)
{
    memset(h, 0, sizeof *h);
    char *gbnf = NULL;
    l4lm_status st = L4LM_OK;
    if (kind == L4LM_HOST_JSON_OBJECT) {
        text = l4lm_json_object_grammar;
        len = strlen(text);
    } else if (kind == L4LM_HOST_SCHEMA) {
        st = schema_to_gbnf(text, len, &gbnf, &len);
        text = gbnf;
        if (st) {
            snprintf(why, why_cap, "JSON Schema: %s", l4lm_strerror(st));
            free(gbnf);
            return st;
        }
    }
    size_t vb = 0;
    l4lm_grammar_error err = {0};
    h->gmem = alloc8(L4LM_GRAMMAR_BYTES);
    st = h->gmem ? l4lm_grammar_init(&h->g, text, len, h->gmem, L4LM_GRAMMAR_BYTES, &err)
                 : L4LM_E_ARG;
    free(gbnf);
    if (st) {
        snprintf(why, why_cap, "grammar: %s (%s at byte %u)", l4lm_strerror(st),
                 l4lm_grammar_why_text(err.why), err.offset);
        l4lm_host_grammar_free(h);
        return st;
    }
    st = l4lm_grammar_vocab_size(s, &vb);
    if (!st)
        st = (h->vmem = alloc8(vb)) ? l4lm_grammar_vocab_init(&h->v, s, h->vmem, vb) : L4LM_E_ARG;
    if (st) {
        snprintf(why, why_cap, "grammar token table: %s", l4lm_strerror(st));
        l4lm_host_grammar_free(h);
    }
    return st;
}

/* The whole file, malloc'd (NULL with a line printed when it cannot be read). */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    *len = 0;
    if (f) {
        FILE *m = open_memstream(&text, len);
        int c;
        while (m && (c = getc(f)) != EOF)
            putc(c, m);
        if (m)
            fclose(m);
        fclose(f);
    }
    if (!text)
        fprintf(stderr, "l4lm: cannot read %s\n", path);
    return text;
}

char *l4lm_host_grammar_text(const char *gbnf_file, const char *schema_file, size_t *len)
{
    const char *path = gbnf_file ? gbnf_file : schema_file;
    char *text = read_file(path, len), *gbnf = NULL;
    l4lm_status st = text && schema_file ? schema_to_gbnf(text, *len, &gbnf, len) : L4LM_OK;
    if (!text || !schema_file)
        return text;
    free(text);
    if (st) {
        fprintf(stderr, "l4lm: %s: JSON Schema: %s\n", path, l4lm_strerror(st));
        free(gbnf);
        return NULL;
    }
    return gbnf;
}

l4lm_status l4lm_host_grammar_file(l4lm_host_grammar *h, l4lm_session *s, const char *gbnf_file,
                                   const char *schema_file)
{
    const char *path = gbnf_file ? gbnf_file : schema_file;
    char why[256];
    size_t len = 0;
    memset(h, 0, sizeof *h);
    char *text = read_file(path, &len);
    if (!text)
        return L4LM_E_ARG;
    l4lm_status st = l4lm_host_grammar_build(h, s, gbnf_file ? L4LM_HOST_GBNF : L4LM_HOST_SCHEMA,
                                             text, len, why, sizeof why);
    if (st)
        fprintf(stderr, "l4lm: %s: %s\n", path, why);
    free(text);
    return st;
}

void l4lm_host_grammar_use(l4lm_host_grammar *h, l4lm_gen_opts *o)
{
    if (h->g) {
        l4lm_grammar_reset(h->g);
        o->grammar = h->g;
        o->grammar_vocab = h->v;
    }
}

void l4lm_host_grammar_free(l4lm_host_grammar *h)
{
    free(h->gmem);
    free(h->vmem);
    memset(h, 0, sizeof *h);
}
