/*
** grammar_host.h — constrained output for the hosted front ends: a grammar
** (GBNF text, or a JSON Schema turned into GBNF) and the session's token
** table, in malloc'd memory, ready for l4lm_gen_opts.
*/
#ifndef L4LM_GRAMMAR_HOST_H
#define L4LM_GRAMMAR_HOST_H
#include <stdbool.h>
#include <stddef.h>

#include "l4lm.h"

typedef struct l4lm_host_grammar {
    l4lm_grammar *g;
    l4lm_grammar_vocab *v;
    void *gmem, *vmem;
} l4lm_host_grammar;

typedef enum { L4LM_HOST_GBNF, L4LM_HOST_SCHEMA, L4LM_HOST_JSON_OBJECT } l4lm_host_grammar_kind;

/* Build from text (ignored for JSON_OBJECT); why gets a message on failure. */
l4lm_status l4lm_host_grammar_build(l4lm_host_grammar *h, l4lm_session *s,
                                    l4lm_host_grammar_kind kind, const char *text, size_t len,
                                    char *why, size_t why_cap);
/* From --grammar-file or --json-schema (one of them non-NULL); prints why on failure. */
l4lm_status l4lm_host_grammar_file(l4lm_host_grammar *h, l4lm_session *s, const char *gbnf_file,
                                   const char *schema_file);
/* The GBNF of --grammar-file, or of --json-schema converted (one of them
** non-NULL), malloc'd; NULL with a line printed on failure. */
char *l4lm_host_grammar_text(const char *gbnf_file, const char *schema_file, size_t *len);
/* Put it in the options (nothing when h holds none). */
void l4lm_host_grammar_use(l4lm_host_grammar *h, l4lm_gen_opts *o);
void l4lm_host_grammar_free(l4lm_host_grammar *h);

#endif
