/*
** http_tokens.c — `l4lm serve`'s token-level answers: the logprobs fields
** of a choice (the values are the core's, l4lm_logprobs, computed by the
** worker as it generates) and llama-server's POST /tokenize and
** /detokenize.
**
** logprobs, as OpenAI shapes them:
**   completions  {"tokens": [..], "token_logprobs": [..],
**                 "top_logprobs": [{"tok": lp, ..}, ..], "text_offset": [..]}
**   chat         {"content": [{"token", "logprob", "bytes",
**                 "top_logprobs": [{"token", "logprob", "bytes"}, ..]}, ..],
**                 "refusal": null}
** A token is its piece (l4lm_token_piece); a piece that is not valid UTF-8
** on its own (part of a character) is written as "bytes:\xNN..", as OpenAI
** writes such tokens; "bytes" always holds the raw bytes.
*/
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

#define PIECE_CAP L4LM_GEN_PIECE_CAP

/* Is s[0, n) valid UTF-8 (no overlongs, surrogates or code points past U+10FFFF)? */
static bool utf8_valid(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t k = c < 0x80                 ? 0
                   : c >= 0xC2 && c <= 0xDF ? 1
                   : c >= 0xE0 && c <= 0xEF ? 2
                   : c >= 0xF0 && c <= 0xF4 ? 3
                                            : 4;
        if (k == 4 || n - i <= k)
            return false;
        unsigned lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
        unsigned hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
        for (size_t b = 1; b <= k; b++, lo = 0x80, hi = 0xBF)
            if (s[i + b] < lo || s[i + b] > hi)
                return false;
        i += k + 1;
    }
    return true;
}

/* The token's text for JSON into buf (NUL-terminated); its raw bytes in raw[0, *n_raw). */
static const char *token_text(const http_server *S, int32_t id, char *raw, size_t *n_raw, char *buf,
                              size_t cap)
{
    *n_raw = l4lm_token_piece(S->tok_s, id, raw, PIECE_CAP);
    if (*n_raw >= PIECE_CAP)
        *n_raw = PIECE_CAP - 1;
    if (utf8_valid((const unsigned char *)raw, *n_raw) && !memchr(raw, 0, *n_raw)) {
        memcpy(buf, raw, *n_raw);
        buf[*n_raw] = 0;
        return buf;
    }
    size_t k = (size_t)snprintf(buf, cap, "bytes:");
    for (size_t i = 0; i < *n_raw && k + 5 < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "\\x%02x", (unsigned char)raw[i]);
    return buf;
}

/* {"token", "logprob", "bytes"} of one token (chat). */
static cJSON *chat_entry(const http_server *S, l4lm_logprob lp)
{
    char raw[PIECE_CAP], text[4 * PIECE_CAP + 8];
    size_t n;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "token", token_text(S, lp.token, raw, &n, text, sizeof text));
    cJSON_AddNumberToObject(o, "logprob", lp.logprob);
    cJSON *bytes = cJSON_AddArrayToObject(o, "bytes");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(bytes, cJSON_CreateNumber((unsigned char)raw[i]));
    return o;
}

static cJSON *chat_logprobs(const http_server *S, const http_logprob *lps, size_t n)
{
    cJSON *o = cJSON_CreateObject(), *content = cJSON_AddArrayToObject(o, "content");
    for (size_t i = 0; i < n; i++) {
        cJSON *e = chat_entry(S, lps[i].lp.chosen);
        cJSON *top = cJSON_AddArrayToObject(e, "top_logprobs");
        for (uint32_t k = 0; k < lps[i].lp.n_top; k++)
            cJSON_AddItemToArray(top, chat_entry(S, lps[i].lp.top[k]));
        cJSON_AddItemToArray(content, e);
    }
    cJSON_AddNullToObject(o, "refusal");
    return o;
}

static cJSON *legacy_logprobs(const http_server *S, const http_logprob *lps, size_t n)
{
    char raw[PIECE_CAP], text[4 * PIECE_CAP + 8];
    size_t n_raw;
    cJSON *o = cJSON_CreateObject();
    cJSON *tokens = cJSON_AddArrayToObject(o, "tokens");
    cJSON *values = cJSON_AddArrayToObject(o, "token_logprobs");
    cJSON *tops = cJSON_AddArrayToObject(o, "top_logprobs");
    cJSON *offsets = cJSON_AddArrayToObject(o, "text_offset");
    for (size_t i = 0; i < n; i++) {
        const l4lm_token_logprobs *lp = &lps[i].lp;
        const char *t = token_text(S, lp->chosen.token, raw, &n_raw, text, sizeof text);
        cJSON_AddItemToArray(tokens, cJSON_CreateString(t));
        cJSON_AddItemToArray(values, cJSON_CreateNumber(lp->chosen.logprob));
        cJSON *top = cJSON_CreateObject();
        for (uint32_t k = 0; k < lp->n_top; k++)
            cJSON_AddNumberToObject(top,
                                    token_text(S, lp->top[k].token, raw, &n_raw, text, sizeof text),
                                    lp->top[k].logprob);
        cJSON_AddItemToArray(tops, top);
        cJSON_AddItemToArray(offsets, cJSON_CreateNumber(lps[i].text_offset));
    }
    return o;
}

void http_logprobs_json(const http_server *S, const http_job *j, cJSON *choice,
                        const http_logprob *lps, size_t n)
{
    cJSON *o = j->chat ? chat_logprobs(S, lps, n) : legacy_logprobs(S, lps, n);
    cJSON_ReplaceItemInObjectCaseSensitive(choice, "logprobs", o);
}

/* ------------------------------------------------- tokenize, detokenize */

/* [{"id": 1, "piece": "text"}, ..]; a piece that is not UTF-8 as its bytes. */
static cJSON *with_pieces(const http_server *S, const int32_t *ids, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        char raw[PIECE_CAP + 1];
        size_t len = l4lm_token_piece(S->tok_s, ids[i], raw, PIECE_CAP);
        len = len < PIECE_CAP ? len : PIECE_CAP - 1;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "id", ids[i]);
        if (utf8_valid((const unsigned char *)raw, len) && !memchr(raw, 0, len)) {
            raw[len] = 0;
            cJSON_AddStringToObject(o, "piece", raw);
        } else {
            cJSON *b = cJSON_AddArrayToObject(o, "piece");
            for (size_t k = 0; k < len; k++)
                cJSON_AddItemToArray(b, cJSON_CreateNumber((unsigned char)raw[k]));
        }
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

/*
** {"content": TEXT, "add_special": false, "parse_special": true,
**  "with_pieces": false} -> {"tokens": [..]}, as llama-server: add_special
** adds BOS (and EOS) where the vocabulary asks for them; parse_special
** turns the text of special tokens into those tokens.
*/
char *http_api_tokenize(http_server *S, const cJSON *req, http_error *e)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(req, "content");
    bool add_special = false, parse_special = true, pieces = false;
    if (!cJSON_IsString(c)) {
        http_err(e, 400, "content", "invalid_value", "'content' must be a string");
        return NULL;
    }
    if (!http_json_bool(req, "add_special", &add_special, e) ||
        !http_json_bool(req, "parse_special", &parse_special, e) ||
        !http_json_bool(req, "with_pieces", &pieces, e))
        return NULL;
    size_t len = strlen(c->valuestring), n = 0;
    int32_t *ids = malloc(l4lm_cli_token_cap(len) * sizeof *ids);
    uint32_t flags = (add_special ? L4LM_TOK_BOS : 0) | (parse_special ? L4LM_TOK_SPECIAL : 0);
    l4lm_status st = L4LM_E_ARG;
    if (ids) {
        pthread_mutex_lock(&S->tok_mu);
        st = l4lm_tokenize(S->tok_s, c->valuestring, len, flags, ids, l4lm_cli_token_cap(len), &n);
        pthread_mutex_unlock(&S->tok_mu);
    }
    if (st) {
        http_err(e, 400, "content",
                 st == L4LM_E_PROMPT_TOO_LONG ? "context_length_exceeded" : "invalid_value",
                 "cannot tokenize the content: %s", l4lm_strerror(st));
        free(ids);
        return NULL;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "tokens",
                          pieces ? with_pieces(S, ids, n)
                          : n    ? cJSON_CreateIntArray(ids, (int)n)
                                 : cJSON_CreateArray());
    free(ids);
    return http_json_print(o);
}

/*
** {"tokens": [..]} -> {"content": TEXT}: the text generation would show
** for these tokens (special tokens give none, the dummy-prefix space of
** the first piece goes), so tokenize then detokenize gives the text back.
*/
char *http_api_detokenize(http_server *S, const cJSON *req, http_error *e)
{
    int32_t *ids = NULL;
    size_t n = 0, len = 0;
    if (!http_json_ids(S, cJSON_GetObjectItemCaseSensitive(req, "tokens"), "tokens", &ids, &n, e)) {
        free(ids);
        return NULL;
    }
    char *text = malloc(n * PIECE_CAP + PIECE_CAP + 1);
    l4lm_detok d = {.after_bos = true};
    l4lm_status st = text ? L4LM_OK : L4LM_E_ARG;
    for (size_t i = 0; i <= n && !st; i++) /* the last push (-1) flushes a cut-short character */
        len += l4lm_detok_push(S->tok_s, &d, i < n ? ids[i] : -1, text + len, PIECE_CAP, &st);
    free(ids);
    if (st) {
        http_err(e, 500, NULL, NULL, "cannot detokenize: %s", l4lm_strerror(st));
        free(text);
        return NULL;
    }
    text[len] = 0;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "content", text);
    free(text);
    return http_json_print(o);
}
