/*
** cmd_chat.c — `l4lm chat`: a conversation with the model's chat template.
** Each line of stdin is a user turn (so a pipe works as well as a terminal);
** each answer is streamed to stdout and ends with a newline.
**
** The conversation stays in the KV cache. Every turn the whole conversation
** is rendered and tokenized again, and only the tokens past those already
** evaluated are fed: the cache then always holds exactly the tokens a
** single-shot run of the rendered text would hold, even where the answer's
** text tokenizes differently from the tokens that were sampled (then the
** conversation is evaluated again from the start).
*/
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "grammar_host.h"

typedef struct chat {
    l4lm_cli_ctx c;
    l4lm_chat_msg *msgs; /* strings malloc'd */
    size_t n_msgs;
    int32_t *fed; /* (n_ctx) the tokens in the KV cache */
    size_t n_fed;
    l4lm_host_grammar gram; /* --grammar-file / --json-schema, or none */
} chat;

/* Append a message (copying content); -1 when out of memory. */
static int add_msg(chat *ch, const char *role, const char *content, size_t len)
{
    l4lm_chat_msg *m = realloc(ch->msgs, (ch->n_msgs + 1) * sizeof *m);
    char *copy = strndup(content, len);
    if (m)
        ch->msgs = m;
    if (!m || !copy) {
        free(copy);
        fprintf(stderr, "l4lm: out of memory\n");
        return -1;
    }
    m[ch->n_msgs++] = (l4lm_chat_msg){role, copy};
    return 0;
}

/* The conversation rendered, with the assistant's opening, malloc'd; NULL after printing why. */
static char *render(const chat *ch, size_t *len)
{
    l4lm_status st = l4lm_chat_format(&ch->c.pm.m, ch->msgs, ch->n_msgs, true, NULL, 0, len);
    char *text = st == L4LM_E_BUFFER ? malloc(*len + 1) : NULL;
    if (text)
        st = l4lm_chat_format(&ch->c.pm.m, ch->msgs, ch->n_msgs, true, text, *len + 1, len);
    if (!text || st) {
        fprintf(stderr, "l4lm: cannot render the chat: %s\n",
                text ? l4lm_strerror(st) : "no memory");
        free(text);
        return NULL;
    }
    return text;
}

/*
** Tokens of the rendered conversation, malloc'd; NULL after printing why.
** The template's markers (<|im_start|> ...) become their tokens; special-token
** text typed in a message stays text, so a line cannot forge a system turn,
** unless --special asks for the old behaviour (message text parsed too).
*/
static int32_t *tokenize(chat *ch, const l4lm_cli_opts *o, size_t *n)
{
    size_t len;
    char *text = render(ch, &len);
    if (!text)
        return NULL;
    size_t cap = 3 * (len + 1) + 2; /* as l4lm_cli_tokens: at most 3 ids a byte, + BOS, EOS */
    int32_t *ids = malloc(cap * sizeof *ids);
    uint32_t flags =
        L4LM_TOK_BOS | L4LM_TOK_SPECIAL | (o->special ? L4LM_TOK_CHAT_CONTENT_SPECIAL : 0);
    l4lm_status st = ids ? l4lm_chat_tokenize(ch->c.s, ch->msgs, ch->n_msgs, true, flags, text,
                                              len + 1, &len, ids, cap, n)
                         : L4LM_E_ARG;
    free(text);
    if (st) {
        fprintf(stderr, "l4lm: cannot tokenize the chat: %s\n", l4lm_strerror(st));
        free(ids);
        return NULL;
    }
    return ids;
}

/* Feed the conversation's tokens past those in the cache; 0 on success. */
static int feed(chat *ch, const int32_t *ids, size_t n)
{
    size_t p = 0;
    while (p < n && p < ch->n_fed && ids[p] == ch->fed[p])
        p++;
    if (p < ch->n_fed || p == n) { /* the cache disagrees (or has no new token): start over */
        l4lm_session_reset(ch->c.s);
        ch->n_fed = p = 0;
    }
    if (n > ch->c.plan.n_ctx) {
        fprintf(stderr,
                "l4lm: the conversation has %zu tokens but the context holds %u: "
                "it cannot go on (use a larger --ctx)\n",
                n, ch->c.plan.n_ctx);
        return -1;
    }
    l4lm_status st = l4lm_eval(ch->c.s, ids + p, n - p, NULL);
    if (st) {
        fprintf(stderr, "l4lm: evaluation failed: %s\n", l4lm_strerror(st));
        return -1;
    }
    memcpy(ch->fed + p, ids + p, (n - p) * sizeof *ids);
    ch->n_fed = n;
    return 0;
}

/* What ended the answer, as a status: 0 for a stop (or the length, once the
** last token is in the cache as every other answer token is). */
static l4lm_status answer_end(chat *ch, const l4lm_gen *g, l4lm_finish f)
{
    l4lm_status st;
    if (f == L4LM_FINISH_LENGTH && g->n_gen > 0) {
        /* the generator does not feed the last token back; the cache keeps it */
        if (ch->n_fed == ch->c.plan.n_ctx)
            f = L4LM_FINISH_CONTEXT;
        else if ((st = l4lm_eval(ch->c.s, &g->token, 1, NULL)))
            return st;
        else
            ch->fed[ch->n_fed++] = g->token;
    }
    if (f == L4LM_FINISH_CONTEXT) {
        fprintf(stderr, "\nl4lm: the context of %u tokens is full\n", ch->c.plan.n_ctx);
        return L4LM_E_CONTEXT_FULL;
    }
    return f == L4LM_FINISH_ERROR ? g->status : L4LM_OK;
}

/* Generate and stream one answer; it is added to the conversation. 0 on success. */
static int answer(chat *ch, const l4lm_cli_opts *o)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    l4lm_gen g;
    l4lm_gen_opts go = l4lm_gen_opts_default(&ch->c.pm.m, (uint32_t)o->n_predict);
    go.sampler = o->sampler;
    go.ignore_eos = o->ignore_eos;
    l4lm_host_grammar_use(&ch->gram, &go); /* from its start for every answer */
    l4lm_status st = f ? l4lm_gen_init(&g, ch->c.s, &go) : L4LM_E_ARG;
    l4lm_finish fin = st ? L4LM_FINISH_ERROR : L4LM_FINISH_NONE;
    while (fin == L4LM_FINISH_NONE) {
        const char *piece;
        size_t n;
        fin = l4lm_gen_step(&g, &piece, &n);
        fwrite(piece, 1, n, stdout);
        fwrite(piece, 1, n, f);
        fflush(stdout);
        if (fin == L4LM_FINISH_NONE) /* the token is in the cache now */
            ch->fed[ch->n_fed++] = g.token;
    }
    if (!st)
        st = answer_end(ch, &g, fin);
    printf("\n");
    fflush(stdout);
    if (f)
        fclose(f);
    int rc = st ? -1 : add_msg(ch, "assistant", text ? text : "", len);
    if (st && st != L4LM_E_CONTEXT_FULL)
        fprintf(stderr, "l4lm: generation failed: %s\n", l4lm_strerror(st));
    free(text);
    return rc;
}

/* One user turn: render, feed the new tokens, answer. 0 on success. */
static int turn(chat *ch, const l4lm_cli_opts *o, const char *line, size_t len)
{
    size_t n;
    int32_t *ids;
    if (add_msg(ch, "user", line, len) || !(ids = tokenize(ch, o, &n)))
        return -1;
    int rc = feed(ch, ids, n);
    free(ids);
    return rc ? rc : answer(ch, o);
}

int l4lm_cmd_chat(int argc, char **argv)
{
    l4lm_cli_opts o;
    chat ch = {0};
    char *line = NULL;
    size_t line_cap = 0;
    int parsed = l4lm_cli_parse(argc, argv, &o);
    if (parsed)
        return l4lm_cli_exit(parsed);
    int rc = L4LM_EXIT_FAIL;
    if (l4lm_cli_session(&ch.c, &o))
        goto out;
    if ((o.grammar_file || o.json_schema) &&
        l4lm_host_grammar_file(&ch.gram, ch.c.s, o.grammar_file, o.json_schema))
        goto out;
    if (!(ch.fed = malloc(ch.c.plan.n_ctx * sizeof *ch.fed)) ||
        (o.system && add_msg(&ch, "system", o.system, strlen(o.system))))
        goto out;
    fprintf(stderr, "l4lm: chat template %s; one user turn per line, end with EOF\n",
            l4lm_chat_template_name(&ch.c.pm.m));
    l4lm_session_seed(ch.c.s, o.sampler.seed);
    ssize_t len;
    while ((len = getline(&line, &line_cap, stdin)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        if (len > 0 && turn(&ch, &o, line, (size_t)len))
            goto out;
    }
    rc = 0;
out:
    for (size_t i = 0; i < ch.n_msgs; i++)
        free((char *)ch.msgs[i].content);
    free(ch.msgs);
    free(ch.fed);
    free(line);
    l4lm_host_grammar_free(&ch.gram);
    l4lm_cli_close(&ch.c);
    return rc;
}
