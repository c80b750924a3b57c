/*
** http_api.c — the OpenAI API's shapes: the fields of a /v1/completions or
** /v1/chat/completions request checked and turned into a job, and a job
** turned into response JSON (a whole body, or one server-sent event).
**
** Fields a request leaves out take the server's command-line values
** (--temp, --top-k, --top-p, --min-p, --seed, -n, ...), as llama.cpp's
** server does, so `l4lm serve` answers like `l4lm run` with the same options.
** Fields we cannot honour (n > 1, logprobs, echo, suffix, penalties other
** than 0) are refused with a 400 rather than silently ignored.
*/
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

/* ------------------------------------------------------------ requests */

static bool parse_model(const http_server *S, const cJSON *req, http_error *e)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(req, "model");
    if (!m || cJSON_IsNull(m))
        return true; /* one model is served: leaving it out is no ambiguity */
    if (!cJSON_IsString(m)) {
        http_err(e, 400, "model", "invalid_type", "'model' must be a string");
        return false;
    }
    if (strcmp(m->valuestring, S->model_name)) {
        http_err(e, 404, "model", "model_not_found", "The model '%.100s' does not exist",
                 m->valuestring);
        return false;
    }
    return true;
}

/* A number field of which we support one value only (when present and not null). */
static bool only(const cJSON *req, const char *key, double value, http_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, key);
    if (!v || cJSON_IsNull(v) || (cJSON_IsNumber(v) && v->valuedouble == value))
        return true;
    http_err(e, 400, key, "unsupported_parameter", "only %s=%g is supported", key, value);
    return false;
}

/* Fields that would change the answer in ways we do not support. */
static bool refuse_unsupported(const cJSON *req, http_error *e)
{
    static const char *const absent[] = {"suffix", "logit_bias", "tools", "functions",
                                         "response_format"};
    for (size_t i = 0; i < sizeof absent / sizeof *absent; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, absent[i]);
        if (v && !cJSON_IsNull(v)) {
            http_err(e, 400, absent[i], "unsupported_parameter", "'%s' is not supported",
                     absent[i]);
            return false;
        }
    }
    static const char *const falsy[] = {"logprobs", "echo", "top_logprobs"};
    for (size_t i = 0; i < sizeof falsy / sizeof *falsy; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, falsy[i]);
        if (v && !cJSON_IsNull(v) && !cJSON_IsFalse(v) &&
            !(cJSON_IsNumber(v) && v->valuedouble == 0)) {
            http_err(e, 400, falsy[i], "unsupported_parameter", "'%s' is not supported", falsy[i]);
            return false;
        }
    }
    return only(req, "presence_penalty", 0, e) && only(req, "frequency_penalty", 0, e) &&
           only(req, "best_of", 1, e) && only(req, "n", 1, e);
}

static bool parse_sampling(const http_server *S, const cJSON *req, bool chat, http_job *j,
                           http_error *e)
{
    l4lm_sampler *sp = &j->sp;
    double t = sp->temperature, p = sp->top_p, k = sp->top_k, mp = sp->min_p;
    double rp = sp->repeat_penalty, rn = sp->repeat_last_n, seed = (double)sp->seed;
    double max = S->defaults.n_predict;
    if (!http_json_num(req, "temperature", 0, 2, false, &t, e) ||
        !http_json_num(req, "top_p", 0, 1, false, &p, e) ||
        !http_json_num(req, "top_k", 0, 1e9, true, &k, e) ||
        !http_json_num(req, "min_p", 0, 0.999999, false, &mp, e) ||
        !http_json_num(req, "repeat_penalty", 1e-3, 100, false, &rp, e) ||
        !http_json_num(req, "repeat_last_n", 0, 1e9, true, &rn, e) ||
        !http_json_num(req, "seed", 0, 18446744073709549568.0, true, &seed, e) ||
        !http_json_num(req, "max_tokens", 0, 1e9, true, &max, e) ||
        (chat && !http_json_num(req, "max_completion_tokens", 0, 1e9, true, &max, e)))
        return false;
    if (p == 0) /* keep only the most likely token: that is greedy */
        t = 0, p = 1;
    *sp = (l4lm_sampler){(float)t,  (int32_t)k,  (float)p,      (float)mp,
                         (float)rp, (int32_t)rn, (uint64_t)seed};
    j->max_tokens = (int32_t)max;
    return true;
}

static bool parse_stop(const cJSON *req, http_job *j, http_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, "stop");
    if (!v || cJSON_IsNull(v))
        return true;
    const cJSON *one = v, *it;
    int n = cJSON_IsString(v) ? 1 : cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1;
    if (n < 0 || n > HTTP_MAX_STOPS) {
        http_err(e, 400, "stop", "invalid_value",
                 "'stop' must be a string or an array of at most %d strings", HTTP_MAX_STOPS);
        return false;
    }
    for (int i = 0; i < n; i++) {
        it = cJSON_IsArray(v) ? cJSON_GetArrayItem(v, i) : one;
        size_t len = cJSON_IsString(it) ? strlen(it->valuestring) : 0;
        if (len == 0 || len > HTTP_MAX_STOP_BYTES) {
            http_err(e, 400, "stop", "invalid_value", "each stop string must have 1 to %d bytes",
                     HTTP_MAX_STOP_BYTES);
            return false;
        }
        if (!(j->stop[j->n_stop++] = strdup(it->valuestring))) {
            http_err(e, 500, NULL, NULL, "out of memory");
            return false;
        }
    }
    return true;
}

/* The prompt: a string, an array of one string, or an array of token ids. */
static bool parse_prompt(const http_server *S, const cJSON *req, http_job *j, http_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, "prompt");
    int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : 0;
    if (n == 1 && cJSON_IsString(cJSON_GetArrayItem(v, 0)))
        v = cJSON_GetArrayItem(v, 0);
    if (cJSON_IsString(v)) {
        j->prompt_len = strlen(v->valuestring);
        j->prompt = strdup(v->valuestring);
    } else if (n > 0 && cJSON_IsNumber(cJSON_GetArrayItem(v, 0))) {
        j->prompt_ids = malloc((size_t)n * sizeof *j->prompt_ids);
        for (int i = 0; j->prompt_ids && i < n; i++) {
            const cJSON *id = cJSON_GetArrayItem(v, i);
            double x = cJSON_IsNumber(id) ? id->valuedouble : -1;
            if (!(x >= 0 && x < S->pm.m.hp.n_vocab) || x != (int32_t)x) {
                http_err(e, 400, "prompt", "invalid_value", "prompt token %d is not an id below %u",
                         i, S->pm.m.hp.n_vocab);
                return false;
            }
            j->prompt_ids[j->n_prompt_ids++] = (int32_t)x;
        }
    } else {
        http_err(e, 400, "prompt", "invalid_value",
                 "'prompt' must be a string, or an array of token ids (one prompt only)");
        return false;
    }
    if (!j->prompt && !j->prompt_ids) {
        http_err(e, 500, NULL, NULL, "out of memory");
        return false;
    }
    return true;
}

/* A message's content: a string, or an array of {"type":"text","text":...} parts (joined). */
static char *message_content(const cJSON *c)
{
    if (!c || cJSON_IsNull(c))
        return strdup("");
    if (cJSON_IsString(c))
        return strdup(c->valuestring);
    if (!cJSON_IsArray(c))
        return NULL;
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    const cJSON *part;
    bool ok = f != NULL;
    cJSON_ArrayForEach(part, c)
    {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");
        ok = ok && cJSON_IsString(type) && !strcmp(type->valuestring, "text") &&
             cJSON_IsString(text) && fputs(text->valuestring, f) >= 0;
    }
    if (f)
        fclose(f);
    if (!ok) {
        free(out);
        return NULL;
    }
    return out;
}

/* The messages rendered with the model's chat template, into j->prompt. */
static bool parse_messages(const http_server *S, const cJSON *req, http_job *j, http_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, "messages");
    int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : 0;
    if (n <= 0) {
        http_err(e, 400, "messages", "invalid_value", "'messages' must be a non-empty array");
        return false;
    }
    l4lm_chat_msg *msgs = calloc((size_t)n, sizeof *msgs);
    bool ok = msgs != NULL;
    for (int i = 0; ok && i < n; i++) {
        const cJSON *m = cJSON_GetArrayItem(v, i);
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        msgs[i].role = cJSON_IsString(role) && *role->valuestring ? role->valuestring : NULL;
        msgs[i].content = message_content(cJSON_GetObjectItemCaseSensitive(m, "content"));
        if (!msgs[i].role || !msgs[i].content) {
            http_err(e, 400, "messages", "invalid_value",
                     "message %d needs a role and a string (or text parts) as content", i);
            ok = false;
        }
    }
    size_t len = 0;
    l4lm_status st = L4LM_E_ARG;
    /* The message bytes are marked after the prompt's NUL (HTTP_PROMPT_PLAIN):
    ** no control token is cut out of them, so a message cannot forge a turn;
    ** "chat_special_content": true leaves them unmarked (the old behaviour). */
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(req, "chat_special_content");
    if (ok) {
        st = l4lm_chat_format(&S->pm.m, msgs, (size_t)n, true, NULL, 0, &len);
        if (st == L4LM_E_BUFFER && (j->prompt = calloc(len + 1 + (len + 1) / 8 + 1, 1)))
            st = l4lm_chat_format_marked(&S->pm.m, msgs, (size_t)n, true, j->prompt, len + 1, &len,
                                         cJSON_IsTrue(sc) ? NULL : (uint8_t *)j->prompt + len + 1);
        if (st)
            http_err(e, 400, "messages", "invalid_value", "cannot render the messages: %s",
                     l4lm_strerror(st));
        j->prompt_len = len;
    }
    for (int i = 0; msgs && i < n; i++)
        free((char *)msgs[i].content);
    free(msgs);
    return ok && !st;
}

bool http_api_parse(http_server *S, const cJSON *req, bool chat, http_job *j, http_error *e)
{
    if (!cJSON_IsObject(req)) {
        http_err(e, 400, NULL, "invalid_json", "the body must be a JSON object");
        return false;
    }
    j->chat = chat; /* also: the template's markers are tokenized as special tokens */
    j->sp = S->defaults.sampler;
    j->add_bos = !S->defaults.no_bos;
    j->ignore_eos = S->defaults.ignore_eos;
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(req, "stream_options");
    if (!parse_model(S, req, e) || !refuse_unsupported(req, e) ||
        !parse_sampling(S, req, chat, j, e) || !parse_stop(req, j, e) ||
        !http_json_bool(req, "stream", &j->stream, e) ||
        !http_json_bool(req, "ignore_eos", &j->ignore_eos, e) ||
        !http_json_bool(req, "add_bos", &j->add_bos, e) ||
        !http_json_bool(req, "return_tokens", &j->return_tokens, e) ||
        !http_json_bool(so, "include_usage", &j->include_usage, e))
        return false;
    return chat ? parse_messages(S, req, j, e) : parse_prompt(S, req, j, e);
}

/* ----------------------------------------------------------- responses */

/* id, object, created, model: the head of every response object. */
static cJSON *envelope(const http_server *S, const http_job *j, const char *object)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", j->id);
    cJSON_AddStringToObject(o, "object", object);
    cJSON_AddNumberToObject(o, "created", (double)j->created);
    cJSON_AddStringToObject(o, "model", S->model_name);
    return o;
}

static void add_text(cJSON *o, const char *key, const char *text, size_t len)
{
    char *copy = len ? strndup(text, len) : NULL;
    cJSON_AddStringToObject(o, key, copy ? copy : "");
    free(copy);
}

/* The extension "tokens": the ids the text came from. */
static void add_ids(cJSON *o, const int32_t *ids, size_t n)
{
    cJSON_AddItemToObject(o, "tokens", n ? cJSON_CreateIntArray(ids, (int)n) : cJSON_CreateArray());
}

static void add_usage(cJSON *o, const http_job *j)
{
    cJSON *u = cJSON_AddObjectToObject(o, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", j->prompt_tokens);
    cJSON_AddNumberToObject(u, "completion_tokens", j->completion_tokens);
    cJSON_AddNumberToObject(u, "total_tokens", (double)j->prompt_tokens + j->completion_tokens);
}

/* choices[0], with its text (chat: as message or delta) and finish_reason. */
static cJSON *add_choice(cJSON *o, const char *finish)
{
    cJSON *c = cJSON_CreateObject();
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "choices"), c);
    cJSON_AddNumberToObject(c, "index", 0);
    cJSON_AddNullToObject(c, "logprobs");
    if (finish)
        cJSON_AddStringToObject(c, "finish_reason", finish);
    else
        cJSON_AddNullToObject(c, "finish_reason");
    return c;
}

char *http_api_body(const http_server *S, const http_job *j)
{
    cJSON *o = envelope(S, j, j->chat ? "chat.completion" : "text_completion");
    cJSON *c = add_choice(o, j->finish);
    if (j->chat) {
        cJSON *m = cJSON_AddObjectToObject(c, "message");
        cJSON_AddStringToObject(m, "role", "assistant");
        add_text(m, "content", j->text, j->released);
    } else {
        add_text(c, "text", j->text, j->released);
    }
    if (j->return_tokens)
        add_ids(c, j->ids, j->n_ids);
    add_usage(o, j);
    return http_json_print(o);
}

char *http_api_chunk(const http_server *S, const http_job *j, const char *text, size_t len,
                     const int32_t *ids, size_t n_ids, bool role, const char *finish)
{
    cJSON *o = envelope(S, j, j->chat ? "chat.completion.chunk" : "text_completion");
    cJSON *c = add_choice(o, finish);
    if (j->chat) {
        cJSON *d = cJSON_AddObjectToObject(c, "delta");
        if (role)
            cJSON_AddStringToObject(d, "role", "assistant");
        if (len || role)
            add_text(d, "content", text, len);
    } else {
        add_text(c, "text", text, len);
    }
    if (j->return_tokens)
        add_ids(c, ids, n_ids);
    if (j->include_usage)
        cJSON_AddNullToObject(o, "usage");
    return http_json_print(o);
}

/* The last event when stream_options.include_usage asks for it: no choices, the usage. */
char *http_api_usage_chunk(const http_server *S, const http_job *j)
{
    cJSON *o = envelope(S, j, j->chat ? "chat.completion.chunk" : "text_completion");
    cJSON_AddArrayToObject(o, "choices");
    add_usage(o, j);
    return http_json_print(o);
}

/* GET /v1/models (id NULL) or /v1/models/ID. */
char *http_api_models(const http_server *S, const char *id, http_error *e)
{
    if (id && strcmp(id, S->model_name)) {
        http_err(e, 404, "model", "model_not_found", "The model '%.100s' does not exist", id);
        return NULL;
    }
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", S->model_name);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", 0);
    cJSON_AddStringToObject(m, "owned_by", "l4lm");
    if (id)
        return http_json_print(m);
    cJSON *list = cJSON_CreateObject();
    cJSON_AddStringToObject(list, "object", "list");
    cJSON_AddItemToArray(cJSON_AddArrayToObject(list, "data"), m);
    return http_json_print(list);
}

/* GET /health: the slots and the queue, and what became of the requests. */
char *http_api_health(http_server *S)
{
    cJSON *o = cJSON_CreateObject();
    pthread_mutex_lock(&S->mu);
    cJSON_AddStringToObject(o, "status", S->stopping ? "stopping" : "ok");
    cJSON_AddStringToObject(o, "model", S->model_name);
    cJSON_AddNumberToObject(o, "slots_total", S->n_slots);
    cJSON_AddNumberToObject(o, "slots_idle", S->n_slots - S->n_running);
    cJSON_AddNumberToObject(o, "slots_processing", S->n_running);
    cJSON_AddNumberToObject(o, "queued", S->n_queued);
    cJSON_AddNumberToObject(o, "queue_capacity", S->queue_cap);
    cJSON_AddNumberToObject(o, "requests_total", (double)S->n_requests);
    cJSON_AddNumberToObject(o, "requests_completed", (double)S->n_completed);
    cJSON_AddNumberToObject(o, "requests_cancelled", (double)S->n_cancelled);
    cJSON_AddNumberToObject(o, "requests_rejected", (double)S->n_rejected);
    cJSON_AddNumberToObject(o, "requests_failed", (double)S->n_errors);
    pthread_mutex_unlock(&S->mu);
    return http_json_print(o);
}
