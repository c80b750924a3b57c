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

#define MAX_STOPS 4

typedef struct chat {
    l4lm_cli_ctx c;
    l4lm_chat_msg *msgs; /* strings malloc'd */
    size_t n_msgs;
    int32_t *fed; /* (n_ctx) the tokens in the KV cache */
    size_t n_fed;
    int32_t stops[MAX_STOPS];
    size_t n_stops;
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

static bool is_stop(const chat *ch, int32_t tok)
{
    for (size_t i = 0; i < ch->n_stops; i++)
        if (ch->stops[i] == tok)
            return true;
    return false;
}

/* Generate and stream one answer; it is added to the conversation. 0 on success. */
static int answer(chat *ch, const l4lm_cli_opts *o)
{
    char *text = NULL, piece[1024];
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    l4lm_detok d = {0};
    l4lm_status st = f ? L4LM_OK : L4LM_E_ARG;
    for (int32_t k = 0; !st && k < o->n_predict; k++) {
        int32_t tok;
        if ((st = l4lm_sample(ch->c.s, &o->sampler, &tok)) || is_stop(ch, tok))
            break;
        size_t n = l4lm_detok_push(ch->c.s, &d, tok, piece, sizeof piece, &st);
        fwrite(piece, 1, n, stdout);
        fwrite(piece, 1, n, f);
        fflush(stdout);
        if (ch->n_fed == ch->c.plan.n_ctx) {
            fprintf(stderr, "\nl4lm: the context of %u tokens is full\n", ch->c.plan.n_ctx);
            st = L4LM_E_CONTEXT_FULL;
        } else if (!st && !(st = l4lm_eval(ch->c.s, &tok, 1, NULL))) {
            ch->fed[ch->n_fed++] = tok;
        }
    }
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
    int rc = 1;
    if (l4lm_cli_parse(argc, argv, &o) || l4lm_cli_session(&ch.c, &o))
        goto out;
    if (!(ch.fed = malloc(ch.c.plan.n_ctx * sizeof *ch.fed)) ||
        (o.system && add_msg(&ch, "system", o.system, strlen(o.system))))
        goto out;
    ch.n_stops = l4lm_chat_stop_tokens(&ch.c.pm.m, ch.stops, MAX_STOPS);
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
    l4lm_cli_close(&ch.c);
    return rc;
}
