/*
** http_json.c — typed reads of request fields (each failure becomes a 400
** naming the field) and the OpenAI-style error body
** {"error":{"message","type","param","code"}}.
*/
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "http.h"

void http_err(http_error *e, int status, const char *param, const char *code, const char *fmt, ...)
{
    e->status = status;
    e->param = param;
    e->code = code;
    e->type = status == 429 ? "requests" : status >= 500 ? "server_error" : "invalid_request_error";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
}

char *http_json_print(cJSON *j)
{
    char *s = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    return s;
}

/* A string or null member. */
static void add_str_or_null(cJSON *o, const char *key, const char *v)
{
    if (v)
        cJSON_AddStringToObject(o, key, v);
    else
        cJSON_AddNullToObject(o, key);
}

char *http_err_body(const http_error *e)
{
    cJSON *root = cJSON_CreateObject(), *err = cJSON_AddObjectToObject(root, "error");
    if (!err) {
        cJSON_Delete(root);
        return NULL;
    }
    cJSON_AddStringToObject(err, "message", e->message);
    cJSON_AddStringToObject(err, "type", e->type ? e->type : "invalid_request_error");
    add_str_or_null(err, "param", e->param);
    add_str_or_null(err, "code", e->code);
    return http_json_print(root);
}

/*
** An optional number member in [lo, hi] (whole: an integer). Absent or null
** leaves *out alone; anything else that does not fit is a 400.
*/
bool http_json_num(const cJSON *o, const char *key, double lo, double hi, bool whole, double *out,
                   http_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v))
        return true;
    double x = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    if (!(x >= lo && x <= hi) || (whole && x != floor(x))) {
        http_err(e, 400, key, "invalid_value", "'%s' must be %s from %g to %g", key,
                 whole ? "an integer" : "a number", lo, hi);
        return false;
    }
    *out = x;
    return true;
}

bool http_json_bool(const cJSON *o, const char *key, bool *out, http_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v))
        return true;
    if (!cJSON_IsBool(v)) {
        http_err(e, 400, key, "invalid_type", "'%s' must be true or false", key);
        return false;
    }
    *out = cJSON_IsTrue(v);
    return true;
}

/*
** Before cJSON sees a body: its nesting and its count of values, in one
** pass over the bytes (strings skipped). The parse after it is then bounded
** in time and in nodes (about 64 bytes each), whatever --max-body allows.
*/
bool http_json_bounded(const char *s, size_t n, size_t max_items, http_error *e)
{
    size_t items = 0, depth = 0;
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (in_str) {
            i += ch == '\\'; /* an escape: the next byte cannot end the string */
            in_str = ch != '"';
            continue;
        }
        in_str = ch == '"';
        depth += ch == '[' || ch == '{';
        depth -= (ch == ']' || ch == '}') && depth > 0;
        items += ch == ',' || ch == '[' || ch == '{';
        if (depth > HTTP_JSON_MAX_DEPTH || items > max_items) {
            http_err(e, 400, NULL, "json_too_complex",
                     "the body nests deeper than %d or has more than %zu values",
                     HTTP_JSON_MAX_DEPTH, max_items);
            return false;
        }
    }
    return true;
}

/*
** Token ids, read in one pass over the array's links (an indexed read
** walks from the start each time: quadratic). More ids than the context
** holds are refused before anything is allocated.
*/
bool http_json_ids(const http_server *S, const cJSON *v, const char *param, int32_t **ids,
                   size_t *n, http_error *e)
{
    size_t count = (size_t)cJSON_GetArraySize(v);
    *n = 0;
    if (!cJSON_IsArray(v)) {
        http_err(e, 400, param, "invalid_value", "'%s' must be an array of token ids", param);
        return false;
    }
    if (count > S->plan.n_ctx) {
        http_err(e, 400, param, "context_length_exceeded",
                 "'%s' has %zu tokens but the context holds %u", param, count, S->plan.n_ctx);
        return false;
    }
    if (!(*ids = malloc((count ? count : 1) * sizeof **ids))) {
        http_err(e, 500, NULL, NULL, "out of memory");
        return false;
    }
    const cJSON *id;
    cJSON_ArrayForEach(id, v)
    {
        double x = cJSON_IsNumber(id) ? id->valuedouble : -1;
        if (!(x >= 0 && x < S->pm.info.n_vocab) || x != (int32_t)x) {
            http_err(e, 400, param, "invalid_value", "'%s' element %zu is not a token id below %u",
                     param, *n, S->pm.info.n_vocab);
            return false;
        }
        (*ids)[(*n)++] = (int32_t)x;
    }
    return true;
}
