/*
** grammar.h — the compiled grammar and the matcher state, shared by
** grammar.c (the GBNF parser) and grammar_match.c (the matcher). Not API.
**
** A rule is a run of elements: its alternatives, each ended by ALT, the last
** by END. An element is a uint32: type in the top byte, value below. A class
** (CHAR or CHAR_NOT, value n) is followed by 2n raw words: the ranges
** lo, hi. "." is CHAR_NOT with no ranges. A literal character is CHAR with
** one range.
**
** A parse state is a stack of element positions: the top is the class the
** next code point must match, those below are where each open rule goes on
** when its rule ends. Depth 0 means the text is complete.
*/
#ifndef L4LM_GRAMMAR_H
#define L4LM_GRAMMAR_H

#include "internal.h"

enum { GR_END = 0, GR_ALT = 1, GR_REF = 2, GR_CHAR = 3, GR_CHAR_NOT = 4 };
#define GR_TYPE(e)  ((e) >> 24)
#define GR_VAL(e)   ((e)&0xffffffu)
#define GR_EL(t, v) (((uint32_t)(t) << 24) | (uint32_t)(v))
#define GR_NONE     0xffffffffu

typedef struct gr_rule {
    uint32_t start;     /* first element; GR_NONE while only referenced */
    uint32_t name_off;  /* in the text: named rules; where it began: others */
    uint32_t name_len;  /* 0: a group or repetition */
    uint32_t alt_first; /* into l4lm_grammar.alts */
    uint32_t alt_count;
    uint8_t nullable; /* can match the empty text */
    uint8_t color;    /* left-recursion search */
} gr_rule;

/* A set of parse states and the UTF-8 decoder between bytes. */
typedef struct gr_set {
    uint32_t n;
    uint32_t cp;  /* the code point decoded so far */
    uint8_t need; /* continuation bytes still to come */
    uint8_t have; /* bytes of it seen */
    uint8_t depth[L4LM_GRAMMAR_MAX_STACKS];
    uint16_t pos[L4LM_GRAMMAR_MAX_STACKS][L4LM_GRAMMAR_MAX_DEPTH];
} gr_set;

/* A state waiting to be expanded. */
typedef struct gr_work {
    uint8_t depth;
    uint16_t pos[L4LM_GRAMMAR_MAX_DEPTH];
} gr_work;

#define GR_WORK_SLOTS 256

struct l4lm_grammar {
    uint32_t n_elems, n_rules, root, n_alts;
    uint32_t elems[L4LM_GRAMMAR_MAX_ELEMS];
    uint32_t alts[L4LM_GRAMMAR_MAX_ELEMS]; /* where each alternative starts */
    gr_rule rules[L4LM_GRAMMAR_MAX_RULES];
    gr_set *cur, *tmp[2]; /* the state; scratch for accept and check */
    gr_set sets[3];
    gr_work work[GR_WORK_SLOTS];
    uint32_t body[L4LM_GRAMMAR_MAX_ELEMS]; /* the parser's rules in progress */
};

_Static_assert(sizeof(struct l4lm_grammar) + 8 <= L4LM_GRAMMAR_BYTES,
               "L4LM_GRAMMAR_BYTES holds the grammar");

struct l4lm_grammar_vocab {
    uint32_t n_vocab;
    uint32_t *off;    /* token t is text[off[t], off[t + 1]) */
    uint8_t *special; /* bit per token */
    uint8_t *mask;    /* bit per token: the allowed ones, filled by a step */
    char *text;
};

/* grammar_vocab.c: test or take one token's text. */
l4lm_status l4lm_grammar_check_token(l4lm_grammar *g, const l4lm_grammar_vocab *v, int32_t t);
l4lm_status l4lm_grammar_accept_token(l4lm_grammar *g, const l4lm_grammar_vocab *v, int32_t t);

/* grammar_match.c: set cur to the start of root (E_LIMIT if it is too big). */
l4lm_status l4lm_grammar_start(l4lm_grammar *g);

#endif
