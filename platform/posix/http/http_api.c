/*
** http_api.c — the OpenAI API's shapes: the fields of a /v1/completions or
** /v1/chat/completions request checked and turned into a job, and a job
** turned into response JSON (a whole body, or one server-sent event).
**
** Fields a request leaves out take the server's command-line values
** (--temp, --top-k, --top-p, --min-p, --seed, -n, ...), as llama.cpp's
** server does, so `l4lm serve` answers like `l4lm run` with the same options.
** Fields we cannot honour (n > 1, echo, suffix, penalties other than 0)
** are refused with a 400 rather than silently ignored. logprobs
** (completions: an integer N; chat: true, with top_logprobs N) are the
** core's (l4lm_logprobs), rendered in http_tokens.c.
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
static bool only(const cJSON *req, const char *key, double value, const char *why, http_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, key);
    if (!v || cJSON_IsNull(v) || (cJSON_IsNumber(v) && v->valuedouble == value))
        return true;
    http_err(e, 400, key, "unsupported_parameter", "'%s' must be %g: %s", key, value, why);
    return false;
}

/* Fields that would change the answer in ways we do not support. */
static bool refuse_unsupported(const cJSON *req, http_error *e)
{
    static const char *const absent[] = {"suffix", "logit_bias", "tools", "functions"};
    for (size_t i = 0; i < sizeof absent / sizeof *absent; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, absent[i]);
        if (v && !cJSON_IsNull(v)) {
            http_err(e, 400, absent[i], "unsupported_parameter", "'%s' is not supported",
                     absent[i]);
            return false;
        }
    }
    static const char *const falsy[] = {"echo"};
    for (size_t i = 0; i < sizeof falsy / sizeof *falsy; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, falsy[i]);
        if (v && !cJSON_IsNull(v) && !cJSON_IsFalse(v) &&
            !(cJSON_IsNumber(v) && v->valuedouble == 0)) {
            http_err(e, 400, falsy[i], "unsupported_parameter", "'%s' is not supported", falsy[i]);
            return false;
        }
    }
    return only(req, "presence_penalty", 0, "penalties other than 0 are not supported", e) &&
           only(req, "frequency_penalty", 0, "penalties other than 0 are not supported", e) &&
           only(req, "best_of", 1, "one candidate per request is supported", e) &&
           only(req, "n", 1, "one choice per request is supported (send n requests instead)", e);
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

/* Keep GBNF in the job once it compiles; else a 400 that says why. */
static bool set_grammar(http_job *j, const char *field, const char *gbnf, size_t len, http_error *e)
{
    l4lm_grammar *g;
    l4lm_grammar_error ge = {0};
    void *mem = aligned_alloc(8, L4LM_GRAMMAR_BYTES);
    l4lm_status st =
        mem ? l4lm_grammar_init(&g, gbnf, len, mem, L4LM_GRAMMAR_BYTES, &ge) : L4LM_E_ARG;
    free(mem);
    if (st) {
        http_err(e, 400, field, "invalid_value", "%s: %s at byte %u", l4lm_strerror(st),
                 l4lm_grammar_why_text(ge.why), ge.offset);
        return false;
    }
    if (!(j->grammar = malloc(len + 1))) {
        http_err(e, 500, NULL, NULL, "out of memory");
        return false;
    }
    memcpy(j->grammar, gbnf, len);
    j->grammar[len] = 0;
    j->grammar_len = len;
    return true;
}

static bool schema_grammar(http_job *j, const cJSON *schema, http_error *e)
{
    char *text = cJSON_PrintUnformatted(schema), *gbnf = NULL;
    size_t len = text ? strlen(text) : 0, wn = l4lm_json_schema_work_size(len), n = 0;
    void *work = text ? aligned_alloc(8, (wn + 7) / 8 * 8) : NULL;
    l4lm_status st =
        work ? l4lm_json_schema_to_grammar(text, len, work, wn, NULL, 0, &n) : L4LM_E_ARG;
    if (st == L4LM_E_BUFFER && (gbnf = malloc(n + 1)))
        st = l4lm_json_schema_to_grammar(text, len, work, wn, gbnf, n, &n);
    bool ok = st == L4LM_OK && set_grammar(j, "response_format", gbnf, n, e);
    if (st)
        http_err(e, 400, "response_format", "invalid_value", "json_schema.schema: %s",
                 l4lm_strerror(st));
    free(text);
    free(work);
    free(gbnf);
    return ok;
}

/* llama.cpp's "grammar" (GBNF) or OpenAI's response_format: text,
** json_object, or json_schema with its schema. */
static bool parse_grammar(const cJSON *req, http_job *j, http_error *e)
{
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(req, "grammar");
    const cJSON *rf = cJSON_GetObjectItemCaseSensitive(req, "response_format");
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(rf, "type");
    bool has_g = g && !cJSON_IsNull(g), has_rf = rf && !cJSON_IsNull(rf);
    if (has_g && !cJSON_IsString(g)) {
        http_err(e, 400, "grammar", "invalid_value", "'grammar' must be a string (GBNF)");
        return false;
    }
    if (has_rf && (!cJSON_IsObject(rf) || !cJSON_IsString(type))) {
        http_err(e, 400, "response_format", "invalid_value",
                 "'response_format' must be an object with a string 'type'");
        return false;
    }
    if (has_rf && !strcmp(type->valuestring, "text"))
        has_rf = false;
    if (has_g && has_rf) {
        http_err(e, 400, "grammar", "invalid_value",
                 "'grammar' and 'response_format' exclude each other");
        return false;
    }
    if (has_g)
        return !g->valuestring[0] ||
               set_grammar(j, "grammar", g->valuestring, strlen(g->valuestring), e);
    if (!has_rf)
        return true;
    if (!strcmp(type->valuestring, "json_object"))
        return set_grammar(j, "response_format", l4lm_json_object_grammar,
                           strlen(l4lm_json_object_grammar), e);
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(rf, "json_schema");
    const cJSON *schema = cJSON_GetObjectItemCaseSensitive(js, "schema");
    if (strcmp(type->valuestring, "json_schema") || !cJSON_IsObject(schema)) {
        http_err(e, 400, "response_format", "invalid_value",
                 "'response_format' type must be text, json_object, or json_schema with "
                 "json_schema.schema an object");
        return false;
    }
    return schema_grammar(j, schema, e);
}

static bool parse_stop(const cJSON *req, http_job *j, http_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, "stop");
    if (!v || cJSON_IsNull(v))
        return true;
    const cJSON *it = cJSON_IsArray(v) ? v->child : cJSON_IsString(v) ? v : NULL;
    if (!it || (cJSON_IsArray(v) && cJSON_GetArraySize(v) > HTTP_MAX_STOPS)) {
        http_err(e, 400, "stop", "invalid_value",
                 "'stop' must be a string or an array of at most %d strings", HTTP_MAX_STOPS);
        return false;
    }
    for (; it; it = it == v ? NULL : it->next) {
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

/*
** Completions: logprobs N (null or false: none) gives N alternatives per
** token. Chat: logprobs true, and top_logprobs N (only with logprobs).
** N is at most OpenAI's 20.
*/
static bool parse_logprobs(const cJSON *req, bool chat, http_job *j, http_error *e)
{
    const double max = L4LM_LOGPROBS_MAX_TOP;
    const cJSON *lp = cJSON_GetObjectItemCaseSensitive(req, "logprobs");
    const cJSON *top = cJSON_GetObjectItemCaseSensitive(req, "top_logprobs");
    double n = 0;
    if (chat) {
        if (!http_json_bool(req, "logprobs", &j->logprobs, e) ||
            !http_json_num(req, "top_logprobs", 0, max, true, &n, e))
            return false;
        if (top && !cJSON_IsNull(top) && !j->logprobs) {
            http_err(e, 400, "top_logprobs", "invalid_value",
                     "'top_logprobs' needs 'logprobs': true");
            return false;
        }
    } else {
        if (top && !cJSON_IsNull(top)) {
            http_err(e, 400, "top_logprobs", "unsupported_parameter",
                     "'top_logprobs' is a chat field; completions take 'logprobs': N");
            return false;
        }
        j->logprobs = lp && !cJSON_IsNull(lp) && !cJSON_IsFalse(lp);
        if (j->logprobs && !http_json_num(req, "logprobs", 0, max, true, &n, e))
            return false;
    }
    j->top_logprobs = (uint32_t)n;
    return true;
}

/* The prompt: a string, an array of one string, or an array of token ids. */
static bool parse_prompt(const http_server *S, const cJSON *req, http_job *j, http_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, "prompt");
    const cJSON *first = cJSON_IsArray(v) ? v->child : NULL;
    if (cJSON_IsString(first) && !first->next)
        v = first;
    if (cJSON_IsNumber(first))
        return http_json_ids(S, v, "prompt", &j->prompt_ids, &j->n_prompt_ids, e);
    if (!cJSON_IsString(v)) {
        http_err(e, 400, "prompt", "invalid_value",
                 "'prompt' must be a string, or an array of token ids (one prompt only)");
        return false;
    }
    j->prompt_len = strlen(v->valuestring);
    if (!(j->prompt = strdup(v->valuestring))) {
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
    const cJSON *m = v->child;
    for (int i = 0; ok && m; i++, m = m->next) { /* by the links: an indexed read is quadratic */
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
    j->context_shift = S->defaults.context_shift;
    double keep = S->defaults.n_keep;
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(req, "stream_options");
    if (!parse_model(S, req, e) || !refuse_unsupported(req, e) ||
        !parse_sampling(S, req, chat, j, e) || !parse_stop(req, j, e) ||
        !parse_logprobs(req, chat, j, e) || !parse_grammar(req, j, e) ||
        !http_json_bool(req, "stream", &j->stream, e) ||
        !http_json_bool(req, "ignore_eos", &j->ignore_eos, e) ||
        !http_json_bool(req, "context_shift", &j->context_shift, e) ||
        !http_json_num(req, "n_keep", 0, 1 << 20, true, &keep, e) ||
        !http_json_bool(req, "add_bos", &j->add_bos, e) ||
        !http_json_bool(req, "return_tokens", &j->return_tokens, e) ||
        !http_json_bool(so, "include_usage", &j->include_usage, e))
        return false;
    j->n_keep = (uint32_t)keep;
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
    if (j->logprobs)
        http_logprobs_json(S, j, c, j->lps, j->n_lps);
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

char *http_api_chunk(const http_server *S, const http_job *j, const http_delta *d)
{
    cJSON *o = envelope(S, j, j->chat ? "chat.completion.chunk" : "text_completion");
    cJSON *c = add_choice(o, d->finish);
    if (j->logprobs && d->n_lps)
        http_logprobs_json(S, j, c, d->lps, d->n_lps);
    if (j->chat) {
        cJSON *delta = cJSON_AddObjectToObject(c, "delta");
        if (d->role)
            cJSON_AddStringToObject(delta, "role", "assistant");
        if (d->len || d->role)
            add_text(delta, "content", d->text, d->len);
    } else {
        add_text(c, "text", d->text, d->len);
    }
    if (j->return_tokens)
        add_ids(c, d->ids, d->n_ids);
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
