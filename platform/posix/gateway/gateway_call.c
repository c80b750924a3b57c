/*
** gateway_call.c — one request forwarded to the upstream's
** `POST /v1/completions` with "stream": true, in its own worker thread.
**
** Why a thread per request: the server loop must never wait on the network.
** The worker alone blocks (in curl_multi_poll, never longer than the idle
** timeout), queues what arrives and rings the server loop's eventfd; the
** loop only takes queued tokens under a mutex. Cancelling wakes the worker
** at once (curl_multi_wakeup), which drops the connection. A per-request
** multi handle, rather than one shared with the loop, keeps libcurl out of
** the server loop and lets each call measure its own idle time.
**
** The call is shared by the worker and the engine session and freed by the
** last of the two to let go of it.
*/
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gateway.h"

#define MAX_LINE (1u << 20) /* an event line longer than this is broken */
#define ERR_BODY 1024u      /* bytes of an error response kept for its message */

struct gw_call {
    pthread_mutex_t mu; /* guards the fields below down to why */
    uint32_t refs;      /* 2 while the session and the worker both hold it */
    bool aborted;       /* the session let go: stop now */
    uint8_t *q;         /* queued tokens: {int32 id, uint32 len, text} each */
    size_t q_head, q_len, q_cap;
    bool over;       /* no more tokens will come; status says how it ended */
    uint32_t status; /* the l4lm_shm_status the request ends with */
    int32_t value;
    char why[200];
    /* the worker's own */
    gw_config *g;
    CURLM *multi;
    CURL *easy;
    struct curl_slist *headers;
    char *body, *url;
    long http;
    double last; /* when data last arrived, seconds */
    char *line;
    size_t line_len;
    char err[ERR_BODY + 1];
    size_t err_len;
};

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static void ring(gw_config *g)
{
    uint64_t one = 1;
    if (write(g->wake_fd, &one, sizeof one) < 0 && errno != EAGAIN)
        return; /* a full counter already rings */
}

/* The request's end, the first one reported winning; caller holds mu. */
static void end_locked(gw_call *c, uint32_t status, int32_t value, const char *why)
{
    if (c->over)
        return;
    c->over = true;
    c->status = status;
    c->value = value;
    snprintf(c->why, sizeof c->why, "%s", why ? why : "");
}

static void end_call(gw_call *c, uint32_t status, int32_t value, const char *why)
{
    pthread_mutex_lock(&c->mu);
    end_locked(c, status, value, why);
    pthread_mutex_unlock(&c->mu);
}

/* Queue one token; caller holds mu. False when out of memory. */
static bool push(gw_call *c, int32_t id, const char *text, uint32_t len)
{
    size_t need = c->q_len + 8 + len;
    if (need > c->q_cap) {
        if (c->q_head) { /* slide the unread part down first */
            memmove(c->q, c->q + c->q_head, c->q_len - c->q_head);
            c->q_len -= c->q_head;
            c->q_head = 0;
            need = c->q_len + 8 + len;
        }
        size_t cap = c->q_cap ? c->q_cap : 4096;
        while (cap < need)
            cap *= 2;
        uint8_t *q = cap == c->q_cap ? c->q : realloc(c->q, cap);
        if (!q)
            return false;
        c->q = q;
        c->q_cap = cap;
    }
    memcpy(c->q + c->q_len, &id, 4);
    memcpy(c->q + c->q_len + 4, &len, 4);
    memcpy(c->q + c->q_len + 8, text, len);
    c->q_len += 8 + len;
    return true;
}

/* A token id the upstream sent; false unless a whole number in range. */
static bool token_id(const cJSON *x, int32_t *id)
{
    if (!cJSON_IsNumber(x) || !(x->valuedouble >= 0 && x->valuedouble <= INT32_MAX) ||
        x->valuedouble != (double)(int32_t)x->valuedouble)
        return false;
    *id = (int32_t)x->valuedouble;
    return true;
}

/*
** One chunk's tokens and text. A chunk with several ids gives its text to
** the last (the concatenation is what matters); without ids it is one token
** of id -1. Text longer than one token's may be (L4LM_GEN_PIECE_CAP) goes
** first as id -1 pieces, cut between UTF-8 characters.
*/
static bool push_chunk(gw_call *c, const cJSON *ids, const char *text, size_t len)
{
    /* walked by its links: cJSON_GetArrayItem(ids, i) walks from the start each time */
    const cJSON *last = cJSON_IsArray(ids) ? ids->child : NULL;
    int32_t id = -1;
    for (; last && last->next; last = last->next)
        if (!token_id(last, &id) || !push(c, id, "", 0))
            return false;
    while (len > L4LM_GEN_PIECE_CAP) {
        size_t cut = L4LM_GEN_PIECE_CAP;
        while (cut > L4LM_GEN_PIECE_CAP - 4 && (text[cut] & 0xc0) == 0x80)
            cut--;
        if (!push(c, -1, text, (uint32_t)cut))
            return false;
        text += cut;
        len -= cut;
    }
    id = -1;
    if (last && !token_id(last, &id))
        return false;
    if (!last && !len)
        return true; /* e.g. the final chunk that only says why it finished */
    return push(c, id, text, (uint32_t)len);
}

/* One `data:` payload: a completion chunk, an error object, or [DONE]. */
static void on_event(gw_call *c, const char *data, size_t n)
{
    if (n == 6 && !memcmp(data, "[DONE]", 6)) {
        end_call(c, L4LM_SHM_EOS, 0, NULL); /* if no finish_reason came */
        return;
    }
    cJSON *j = cJSON_ParseWithLength(data, n);
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(j, "choices");
    const cJSON *ch = cJSON_IsArray(choices) ? choices->child : NULL;
    const cJSON *err = cJSON_GetObjectItemCaseSensitive(j, "error");
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(ch, "text");
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(ch, "tokens");
    const cJSON *fin = cJSON_GetObjectItemCaseSensitive(ch, "finish_reason");
    if (!ids)
        ids = cJSON_GetObjectItemCaseSensitive(j, "tokens");
    pthread_mutex_lock(&c->mu);
    if (err) {
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(err, "message");
        char why[160];
        snprintf(why, sizeof why, "upstream error: %s",
                 cJSON_IsString(msg) ? msg->valuestring : "(no message)");
        end_locked(c, L4LM_SHM_E_UPSTREAM, 0, why);
    } else if (!ch || (text && !cJSON_IsString(text)) ||
               !push_chunk(c, ids, text ? text->valuestring : "",
                           text ? strlen(text->valuestring) : 0)) {
        end_locked(c, L4LM_SHM_E_UPSTREAM, 0, "upstream sent a broken event");
    } else if (cJSON_IsString(fin)) {
        /* "length" before max_tokens (else the server ended first): the context is full. */
        bool full = !strcmp(fin->valuestring, "length");
        end_locked(c, full ? L4LM_SHM_CONTEXT_FULL : L4LM_SHM_EOS, 0, NULL);
    }
    pthread_mutex_unlock(&c->mu);
    cJSON_Delete(j);
}

/* A complete line of the event stream; other fields and comments are skipped. */
static void on_line(gw_call *c, char *s, size_t n)
{
    if (n && s[n - 1] == '\r')
        n--;
    if (n >= 5 && !memcmp(s, "data:", 5)) {
        size_t skip = n > 5 && s[5] == ' ' ? 6 : 5;
        on_event(c, s + skip, n - skip);
    }
}

/* curl's write callback: split the stream into lines (or keep an error body). */
static size_t on_data(char *p, size_t size, size_t nmemb, void *ud)
{
    gw_call *c = ud;
    size_t len = size * nmemb;
    c->last = now();
    if (!c->http)
        curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &c->http);
    if (c->http >= 300) {
        size_t k = len < ERR_BODY - c->err_len ? len : ERR_BODY - c->err_len;
        memcpy(c->err + c->err_len, p, k);
        c->err_len += k;
        return len;
    }
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(p + i, '\n', len - i);
        size_t k = nl ? (size_t)(nl - (p + i)) : len - i;
        if (c->line_len + k > MAX_LINE) {
            end_call(c, L4LM_SHM_E_UPSTREAM, 0, "upstream sent an overlong event line");
            return 0;
        }
        memcpy(c->line + c->line_len, p + i, k);
        c->line_len += k;
        i += k;
        if (nl) {
            on_line(c, c->line, c->line_len);
            c->line_len = 0;
            i++;
        }
    }
    pthread_mutex_lock(&c->mu);
    bool stop = c->over && c->status >= L4LM_SHM_E_KIND;
    pthread_mutex_unlock(&c->mu);
    ring(c->g);
    return stop ? 0 : len; /* 0 makes curl drop a stream that went bad */
}

/* The message of an OpenAI-style error body, or its start. */
static void http_error(gw_call *c)
{
    char why[200];
    cJSON *j = cJSON_ParseWithLength(c->err, c->err_len);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "error");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(e, "message");
    if (cJSON_IsString(e))
        msg = e;
    c->err[c->err_len] = 0;
    snprintf(why, sizeof why, "upstream HTTP %ld: %.150s", c->http,
             cJSON_IsString(msg) ? msg->valuestring : c->err);
    cJSON_Delete(j);
    end_call(c, L4LM_SHM_E_UPSTREAM, (int32_t)c->http, why);
}

/* How the transfer ended, unless an event already said. */
static void transfer_over(gw_call *c, CURLcode res)
{
    char why[200];
    long ms = c->g->timeout_ms;
    if (c->http >= 300) {
        http_error(c);
    } else if (res == CURLE_OPERATION_TIMEDOUT) {
        snprintf(why, sizeof why, "cannot connect to the upstream within %ld ms", ms);
        end_call(c, L4LM_SHM_E_TIMEOUT, 0, why);
    } else if (res == CURLE_COULDNT_CONNECT || res == CURLE_COULDNT_RESOLVE_HOST) {
        snprintf(why, sizeof why, "cannot connect to the upstream: %s", curl_easy_strerror(res));
        end_call(c, L4LM_SHM_E_UPSTREAM, 0, why);
    } else if (res != CURLE_OK) {
        snprintf(why, sizeof why, "upstream stream broken: %s", curl_easy_strerror(res));
        end_call(c, L4LM_SHM_E_UPSTREAM, 0, why);
    } else {
        end_call(c, L4LM_SHM_E_UPSTREAM, 0, "upstream stream ended without finishing");
    }
}

static void call_free(gw_call *c)
{
    if (c->multi && c->easy)
        curl_multi_remove_handle(c->multi, c->easy);
    curl_easy_cleanup(c->easy);
    curl_multi_cleanup(c->multi);
    curl_slist_free_all(c->headers);
    pthread_mutex_destroy(&c->mu);
    free(c->q);
    free(c->line);
    free(c->body);
    free(c->url);
    free(c);
}

static void unref(gw_call *c)
{
    pthread_mutex_lock(&c->mu);
    uint32_t left = --c->refs;
    pthread_mutex_unlock(&c->mu);
    if (!left)
        call_free(c);
}

static bool aborted(gw_call *c)
{
    pthread_mutex_lock(&c->mu);
    bool a = c->aborted;
    pthread_mutex_unlock(&c->mu);
    return a;
}

/* Drive the transfer until it ends, goes idle too long, or the session lets go. */
static void *worker(void *p)
{
    gw_call *c = p;
    gw_config *g = c->g;
    int running = 1;
    CURLcode res = CURLE_OK;
    c->last = now();
    while (running && !aborted(c)) {
        if (curl_multi_perform(c->multi, &running) != CURLM_OK)
            break;
        double idle_ms = (now() - c->last) * 1e3;
        if (running && idle_ms >= (double)g->timeout_ms) {
            char why[120];
            snprintf(why, sizeof why, "no answer from the upstream for %ld ms", g->timeout_ms);
            end_call(c, L4LM_SHM_E_TIMEOUT, 0, why);
            break;
        }
        if (running)
            curl_multi_poll(c->multi, NULL, 0, (int)((double)g->timeout_ms - idle_ms) + 1, NULL);
    }
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(c->multi, &left)))
        if (m->msg == CURLMSG_DONE)
            res = m->data.result;
    if (!running)
        transfer_over(c, res);
    ring(g);
    unref(c);
    pthread_mutex_lock(&g->mu);
    g->live--;
    pthread_cond_broadcast(&g->quiet);
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

/* The JSON body; NULL when out of memory. Stop strings stay with the server core. */
static char *request_body(const gw_config *g, const l4lm_shm_request *r)
{
    const l4lm_sampler *sp = &r->sampler;
    char seed[24], *prompt = strndup(r->prompt, r->prompt_len), *out = NULL;
    cJSON *o = cJSON_CreateObject();
    snprintf(seed, sizeof seed, "%" PRIu64, sp->seed); /* exact, where a double is not */
    if (prompt && o && (!g->model || cJSON_AddStringToObject(o, "model", g->model)) &&
        cJSON_AddStringToObject(o, "prompt", prompt) &&
        cJSON_AddNumberToObject(o, "max_tokens", r->max_tokens) &&
        cJSON_AddTrueToObject(o, "stream") &&
        cJSON_AddNumberToObject(o, "temperature", sp->temperature) &&
        cJSON_AddNumberToObject(o, "top_k", sp->top_k) &&
        cJSON_AddNumberToObject(o, "top_p", sp->top_p) &&
        cJSON_AddNumberToObject(o, "min_p", sp->min_p) &&
        cJSON_AddNumberToObject(o, "repeat_penalty", sp->repeat_penalty) &&
        cJSON_AddNumberToObject(o, "repeat_last_n", sp->repeat_last_n) &&
        cJSON_AddRawToObject(o, "seed", seed) &&
        cJSON_AddBoolToObject(o, "ignore_eos", (r->flags & L4LM_SHM_IGNORE_EOS) != 0) &&
        cJSON_AddBoolToObject(o, "add_bos", !(r->flags & L4LM_SHM_NO_BOS)) &&
        cJSON_AddTrueToObject(o, "return_tokens"))
        out = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    free(prompt);
    return out;
}

static bool setup(gw_call *c, const l4lm_shm_request *r)
{
    size_t n = strlen(c->g->url);
    c->url = malloc(n + sizeof "/v1/completions");
    c->body = request_body(c->g, r);
    c->line = malloc(MAX_LINE);
    c->multi = curl_multi_init();
    c->easy = curl_easy_init();
    c->headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (!c->url || !c->body || !c->line || !c->multi || !c->easy || !c->headers)
        return false;
    memcpy(c->url, c->g->url, n);
    while (n && c->url[n - 1] == '/')
        n--;
    strcpy(c->url + n, "/v1/completions");
    CURL *e = c->easy;
    return !curl_easy_setopt(e, CURLOPT_URL, c->url) &&
           !curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->body) &&
           !curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers) &&
           !curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data) &&
           !curl_easy_setopt(e, CURLOPT_WRITEDATA, c) &&
           !curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->g->timeout_ms) &&
           !curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) &&
           !curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") &&
           !curl_multi_add_handle(c->multi, e);
}

gw_call *gw_call_start(gw_config *g, const l4lm_shm_request *r)
{
    gw_call *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    pthread_mutex_init(&c->mu, NULL);
    c->g = g;
    c->refs = 2;
    pthread_attr_t a;
    pthread_t t;
    bool ok = setup(c, r) && !pthread_attr_init(&a);
    if (ok) {
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        pthread_mutex_lock(&g->mu);
        ok = !pthread_create(&t, &a, worker, c);
        g->live += ok;
        pthread_mutex_unlock(&g->mu);
        pthread_attr_destroy(&a);
    }
    if (!ok) {
        call_free(c);
        return NULL;
    }
    return c;
}

uint32_t gw_call_peek(gw_call *c, int32_t *value, const char **why)
{
    pthread_mutex_lock(&c->mu);
    uint32_t st = c->q_head < c->q_len ? 0 : c->over ? c->status : L4LM_SERVE_WAIT;
    *value = c->value;
    *why = c->why[0] ? c->why : NULL;
    pthread_mutex_unlock(&c->mu);
    return st;
}

bool gw_call_pop(gw_call *c, int32_t *id, char *text, uint32_t *len)
{
    pthread_mutex_lock(&c->mu);
    bool ok = c->q_head < c->q_len;
    if (ok) {
        memcpy(id, c->q + c->q_head, 4);
        memcpy(len, c->q + c->q_head + 4, 4);
        memcpy(text, c->q + c->q_head + 8, *len);
        c->q_head += 8 + *len;
        if (c->q_head == c->q_len)
            c->q_head = c->q_len = 0;
    }
    pthread_mutex_unlock(&c->mu);
    return ok;
}

void gw_call_release(gw_call *c)
{
    pthread_mutex_lock(&c->mu);
    c->aborted = true;
    pthread_mutex_unlock(&c->mu);
    curl_multi_wakeup(c->multi);
    unref(c);
}

void gw_wait_workers(gw_config *g, long ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&g->mu);
    while (g->live && pthread_cond_timedwait(&g->quiet, &g->mu, &until) == 0) {
    }
    pthread_mutex_unlock(&g->mu);
}
