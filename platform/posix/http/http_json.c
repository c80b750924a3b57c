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
