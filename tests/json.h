/*
** json.h — just enough JSON reading for the golden files: find a key inside
** an object (by a path of keys) and read the numbers of the array after it.
*/
#ifndef L4LM_TEST_JSON_H
#define L4LM_TEST_JSON_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Position just after "key": searching from p; NULL if absent. */
static const char *json_key(const char *p, const char *key)
{
    char pat[256];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *q = p ? strstr(p, pat) : NULL;
    return q ? q + strlen(pat) : NULL;
}

/* Every number inside the array (nested or not) starting at p; returns count. */
static size_t json_numbers(const char *p, double *out, size_t cap)
{
    size_t n = 0;
    int depth = 0;
    if (!p)
        return 0;
    while (*p && *p != '[')
        p++;
    for (; *p; p++) {
        if (*p == '[')
            depth++;
        else if (*p == ']' && --depth == 0)
            break;
        else if (*p == '-' || (*p >= '0' && *p <= '9')) {
            char *end;
            double v = strtod(p, &end);
            if (n < cap)
                out[n] = v;
            n++;
            p = end - 1;
        }
    }
    return n;
}

/* The JSON string value after p (escapes \n \" \\ \uXXXX<128 decoded), malloc'd. */
static char *json_string(const char *p)
{
    while (p && *p && *p != '"')
        p++;
    if (!p || !*p)
        return NULL;
    char *out = malloc(strlen(p) + 1), *o = out;
    for (p++; *p && *p != '"'; p++) {
        if (*p != '\\') {
            *o++ = *p;
            continue;
        }
        p++;
        if (*p == 'n')
            *o++ = '\n';
        else if (*p == 't')
            *o++ = '\t';
        else if (*p == 'u') {
            *o++ = (char)strtol((char[]){p[1], p[2], p[3], p[4], 0}, NULL, 16);
            p += 4;
        } else
            *o++ = *p;
    }
    *o = 0;
    return out;
}
#endif
