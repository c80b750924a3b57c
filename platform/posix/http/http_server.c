/*
** http_server.c — `l4lm serve`: an OpenAI-compatible HTTP server on
** libmicrohttpd. This file has the command line, the daemon, request
** bodies (with their size limit) and routing:
**   POST /v1/completions, POST /v1/chat/completions   (http_stream.c)
**   GET  /v1/models, /v1/models/ID, /health           (http_api.c)
**   POST /tokenize, /detokenize                       (http_tokens.c)
** Anything else gets a 404 or 405 with an OpenAI-style error body.
**
** libmicrohttpd runs one thread per connection (bounded by --max-conn, and
** per client address by --max-conn-per-ip), so a connection may block while
** its job waits and runs; the slots' workers (http_slots.c) do the
** generating. A request's headers and body must arrive within --timeout
** seconds (a watchdog here shuts the socket of one that does not: an idle
** timeout alone lets a client that trickles a byte now and then hold its
** connection forever). SIGINT or SIGTERM stops the server.
*/
#define _GNU_SOURCE
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "http.h"

/* ------------------------------------------------------------ options */

typedef struct serve_opts {
    const char *host, *port, *alias;
    uint32_t parallel, queue, threads, max_conn, max_conn_ip, timeout;
    uint64_t max_body;
} serve_opts;

typedef struct serve_num {
    const char *name;
    uint64_t lo, hi;
    size_t off;
} serve_num;

#define SOFF(f) offsetof(serve_opts, f)
static const serve_num serve_nums[] = {
    {"--parallel", 1, 256, SOFF(parallel)},
    {"--queue", 0, 65536, SOFF(queue)},
    {"--threads", 1, 256, SOFF(threads)},
    {"--max-conn", 1, 4096, SOFF(max_conn)},
    {"--max-conn-per-ip", 0, 4096, SOFF(max_conn_ip)},
    {"--timeout", 1, 3600, SOFF(timeout)},
    {"--max-body", 1024, 1u << 30, SOFF(max_body)},
};

static int missing(const char *name)
{
    fprintf(stderr, "l4lm: missing value for '%s'\n", name);
    return -1;
}

/* One of our options (each takes a value, NULL when absent); 1 when not ours, -1 when bad. */
static int take_opt(serve_opts *so, const char *name, const char *val)
{
    const char **str = !strcmp(name, "--host")    ? &so->host
                       : !strcmp(name, "--port")  ? &so->port
                       : !strcmp(name, "--alias") ? &so->alias
                                                  : NULL;
    if (str) {
        *str = val;
        return val ? 0 : missing(name);
    }
    for (size_t k = 0; k < sizeof serve_nums / sizeof *serve_nums; k++) {
        const serve_num *n = &serve_nums[k];
        if (strcmp(name, n->name))
            continue;
        if (!val)
            return missing(name);
        char *end;
        errno = 0;
        unsigned long long v = strtoull(val, &end, 10);
        if (!*val || *end || errno || *val == '-' || v < n->lo || v > n->hi) {
            fprintf(stderr, "l4lm: %s takes a whole number from %llu to %llu, not '%s'\n", name,
                    (unsigned long long)n->lo, (unsigned long long)n->hi, val);
            return -1;
        }
        if (n->off == SOFF(max_body))
            so->max_body = v;
        else
            *(uint32_t *)((char *)so + n->off) = (uint32_t)v;
        return 0;
    }
    return 1;
}

/* Ours into so; the rest (model, context, sampling defaults) through l4lm_cli_parse. */
static int parse(int argc, char **argv, serve_opts *so, l4lm_cli_opts *o)
{
    *so = (serve_opts){"127.0.0.1", "8080", NULL, 1, 64, 1, 256, 64, 30, 1u << 20};
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    int n = 0, rc = rest ? 0 : -1;
    for (int i = 0; rc == 0 && i < argc; i++) {
        int t = i > 0 ? take_opt(so, argv[i], i + 1 < argc ? argv[i + 1] : NULL) : 1;
        if (t == 1)
            rest[n++] = argv[i];
        else if (t == 0)
            i++;
        rc = t < 0 ? -1 : 0;
    }
    if (rc == 0)
        rc = l4lm_cli_parse(n, rest, o);
    free(rest);
    return rc;
}

/* ---------------------------------------------------------- responses */

int http_send_json(struct MHD_Connection *c, unsigned status, char *body)
{
    if (!body)
        return MHD_NO; /* out of memory: drop the connection */
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    if (status == 429)
        MHD_add_response_header(r, "Retry-After", "1");
    int ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

int http_send_error(struct MHD_Connection *c, const http_error *e)
{
    fprintf(stderr, "l4lm: HTTP %d: %s\n", e->status, e->message);
    return http_send_json(c, (unsigned)e->status, http_err_body(e));
}

/* ----------------------------------------------------------- watchdog */

/*
** Every connection is on the watchdog's list from accept to close. While a
** request's headers or body are due, its deadline is armed; a thread looks
** every WATCH_NS and shuts down (both ways) the socket of one that is late:
** its libmicrohttpd thread then sees end of file and closes it. The
** deadline is disarmed while a request is answered and armed again for the
** next request on the connection. libmicrohttpd tells us a connection is
** closed before it closes the socket, so the descriptor shut is never a
** reused one (both happen under mu).
*/
#define WATCH_NS 200000000L

typedef struct watched {
    struct watched *prev, *next;
    struct watchdog *w;
    int fd;
    double deadline; /* 0: not armed */
} watched;

typedef struct watchdog {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    watched *head;
    double timeout;
    bool stop;
    pthread_t thread;
} watchdog;

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Shut every late socket (every armed one when all is true); caller holds mu. */
static void shut_late(watchdog *w, bool all)
{
    double t = mono_now();
    for (watched *k = w->head; k; k = k->next)
        if (k->deadline > 0 && (all || t > k->deadline)) {
            shutdown(k->fd, SHUT_RDWR);
            k->deadline = 0;
        }
}

static void *watch_loop(void *arg)
{
    watchdog *w = arg;
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        shut_late(w, false);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += WATCH_NS;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&w->cv, &w->mu, &ts);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* libmicrohttpd's connection notice: on the list from accept to close. */
static void on_connection(void *cls, struct MHD_Connection *c, void **ctx,
                          enum MHD_ConnectionNotificationCode what)
{
    watchdog *w = cls;
    watched *k = *ctx;
    if (what == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci || !(k = calloc(1, sizeof *k)))
            return; /* unwatched: the idle timeout still applies */
        *k = (watched){NULL, NULL, w, ci->connect_fd, mono_now() + w->timeout};
        pthread_mutex_lock(&w->mu);
        k->next = w->head;
        if (w->head)
            w->head->prev = k;
        w->head = k;
        pthread_mutex_unlock(&w->mu);
        *ctx = k;
    } else if (k) {
        pthread_mutex_lock(&w->mu);
        if (k->prev)
            k->prev->next = k->next;
        else
            w->head = k->next;
        if (k->next)
            k->next->prev = k->prev;
        pthread_mutex_unlock(&w->mu);
        free(k);
        *ctx = NULL;
    }
}

/* Arm (a request is due within the timeout) or disarm the connection's deadline. */
static void watch_arm(struct MHD_Connection *c, bool on)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    watched *k = ci ? ci->socket_context : NULL;
    if (!k)
        return;
    pthread_mutex_lock(&k->w->mu);
    k->deadline = on ? mono_now() + k->w->timeout : 0;
    pthread_mutex_unlock(&k->w->mu);
}

static int watch_start(watchdog *w, unsigned timeout)
{
    *w = (watchdog){.timeout = timeout};
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    return pthread_create(&w->thread, NULL, watch_loop, w);
}

static void watch_stop(watchdog *w)
{
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
}

/* ------------------------------------------------------------ routing */

typedef struct request {
    char *body;
    size_t len, cap;
    bool too_big; /* len then counts the bytes dropped too */
} request;

/* POST /v1/completions or /v1/chat/completions with the whole body read. */
static int generate(http_server *S, struct MHD_Connection *c, const request *r, bool chat)
{
    http_error e = {0};
    const char *body = r->body ? r->body : "";
    if (!http_json_bounded(body, r->len, S->max_items, &e))
        return http_send_error(c, &e);
    cJSON *req = cJSON_ParseWithLength(body, r->len);
    http_job *j = req ? http_job_new() : NULL;
    if (!req)
        http_err(&e, 400, NULL, "invalid_json", "the body is not valid JSON");
    else if (!j)
        http_err(&e, 500, NULL, NULL, "out of memory");
    else if (http_api_parse(S, req, chat, j, &e) && !http_submit(S, j))
        http_err(&e, 429, NULL, "rate_limit_exceeded",
                 "the server is busy: %u requests are running or queued; retry later",
                 S->n_slots + S->queue_cap);
    cJSON_Delete(req);
    if (e.status) {
        http_job_free(j);
        return http_send_error(c, &e);
    }
    return http_stream_answer(S, c, j);
}

/* POST /tokenize or /detokenize: the same body limits as the completions. */
static int tokens(http_server *S, struct MHD_Connection *c, const request *r, bool detokenize)
{
    http_error e = {0};
    const char *body = r->body ? r->body : "";
    if (!http_json_bounded(body, r->len, S->max_items, &e))
        return http_send_error(c, &e);
    cJSON *req = cJSON_ParseWithLength(body, r->len);
    char *out = NULL;
    if (!cJSON_IsObject(req))
        http_err(&e, 400, NULL, "invalid_json", "the body is not a JSON object");
    else
        out = detokenize ? http_api_detokenize(S, req, &e) : http_api_tokenize(S, req, &e);
    cJSON_Delete(req);
    return out ? http_send_json(c, 200, out) : http_send_error(c, &e);
}

static int route(http_server *S, struct MHD_Connection *c, const char *url, const char *method,
                 const request *r)
{
    static const char models[] = "/v1/models/";
    bool post = !strcmp(method, "POST"), get = !strcmp(method, "GET");
    bool chat = !strcmp(url, "/v1/chat/completions");
    bool detok = !strcmp(url, "/detokenize"), tok = detok || !strcmp(url, "/tokenize");
    bool generating = chat || !strcmp(url, "/v1/completions");
    http_error e = {0};
    if (generating) {
        if (post)
            return generate(S, c, r, chat);
    } else if (tok) {
        if (post)
            return tokens(S, c, r, detok);
    } else if (!strcmp(url, "/v1/models") || !strncmp(url, models, sizeof models - 1)) {
        if (get) {
            const char *id = url[sizeof models - 2] ? url + sizeof models - 1 : NULL;
            char *body = http_api_models(S, id, &e);
            return body ? http_send_json(c, 200, body) : http_send_error(c, &e);
        }
    } else if (!strcmp(url, "/health")) {
        if (get)
            return http_send_json(c, 200, http_api_health(S));
    } else {
        http_err(&e, 404, NULL, "unknown_url", "Invalid URL (%.16s %.200s)", method, url);
        return http_send_error(c, &e);
    }
    http_err(&e, 405, NULL, "method_not_allowed", "%.200s takes %s, not %.16s", url,
             generating || tok ? "POST" : "GET", method);
    return http_send_error(c, &e);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **ctx)
{
    http_server *S = cls;
    request *r = *ctx;
    http_error e = {0};
    (void)version;
    if (!r) { /* the headers are in */
        if (!(*ctx = r = calloc(1, sizeof *r)))
            return MHD_NO;
        /* A body announced too large is refused before it is read when the client
        ** waits for that ("Expect: 100-continue") or it is far too large; else it
        ** is read and dropped, so the client, still sending, gets the 413. */
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        unsigned long long len = cl ? strtoull(cl, NULL, 10) : 0;
        r->too_big = len > S->max_body;
        if (r->too_big &&
            (MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Expect") || len / 8 > S->max_body)) {
            http_err(&e, 413, NULL, "request_too_large", "the body is larger than %zu bytes",
                     S->max_body);
            return (enum MHD_Result)http_send_error(c, &e);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        /* Too large (or found so only now, as chunks arrive, when libmicrohttpd
        ** takes no response yet): the rest is read and dropped, up to a bound
        ** past which the connection is closed, and the 413 goes at the end. */
        if (r->too_big || r->len + *upload_size > S->max_body) {
            r->too_big = true;
            r->len += *upload_size;
            *upload_size = 0;
            return r->len / 8 > S->max_body ? MHD_NO : MHD_YES;
        }
        if (r->len + *upload_size >= r->cap) {
            size_t cap = (r->len + *upload_size) * 2;
            char *p = realloc(r->body, cap);
            if (!p)
                return MHD_NO;
            r->body = p;
            r->cap = cap;
        }
        memcpy(r->body + r->len, upload, *upload_size);
        r->len += *upload_size;
        *upload_size = 0;
        return MHD_YES;
    }
    watch_arm(c, false); /* the request is in: what follows is the answer */
    if (r->too_big) {
        http_err(&e, 413, NULL, "request_too_large", "the body is larger than %zu bytes",
                 S->max_body);
        return (enum MHD_Result)http_send_error(c, &e);
    }
    return (enum MHD_Result)route(S, c, url, method, r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **ctx,
                         enum MHD_RequestTerminationCode why)
{
    (void)cls, (void)why;
    request *r = *ctx;
    watch_arm(c, true); /* the next request on this connection is due within the timeout */
    if (r)
        free(r->body);
    free(r);
    *ctx = NULL;
}

/* ------------------------------------------------------------- daemon */

static struct MHD_Daemon *start_daemon(http_server *S, const serve_opts *so, watchdog *w)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(so->host, so->port, &hints, &ai);
    if (rc) {
        fprintf(stderr, "l4lm: cannot listen on %s port %s: %s\n", so->host, so->port,
                gai_strerror(rc));
        return NULL;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG |
                     (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, S, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)so->max_conn, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)so->max_conn_ip, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)so->timeout,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_NOTIFY_CONNECTION,
        on_connection, w, MHD_OPTION_END);
    if (!d)
        fprintf(stderr, "l4lm: cannot listen on %s port %s (in use?)\n", so->host, so->port);
    freeaddrinfo(ai);
    return d;
}

/* The served model's name: --alias, else the file name. */
static void name_model(http_server *S, const serve_opts *so)
{
    const char *name = so->alias, *slash = strrchr(S->defaults.model, '/');
    if (!name)
        name = slash ? slash + 1 : S->defaults.model;
    snprintf(S->model_name, sizeof S->model_name, "%s", name);
}

static int serve(http_server *S, const serve_opts *so)
{
    if (l4lm_posix_model_load(&S->pm, S->defaults.model, S->defaults.tokenizer) ||
        l4lm_posix_need_weights(&S->pm, S->defaults.model) || http_slots_start(S))
        return 1;
    name_model(S, so);
    S->n_chat_stops = l4lm_chat_stop_tokens(&S->pm.m, S->chat_stops, HTTP_MAX_STOP_TOKENS);
    /* A request needs at most a context of token ids, or messages and their parts. */
    S->max_items = 4 * (size_t)S->plan.n_ctx + 1024;
    watchdog w;
    if (watch_start(&w, so->timeout))
        return 1;
    struct MHD_Daemon *d = start_daemon(S, so, &w);
    if (!d) {
        watch_stop(&w);
        return 1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    fprintf(stderr,
            "l4lm: serving %s on http://%s:%u: %u slots, queue %u, context %u, "
            "arena %zu bytes each\n",
            S->model_name, so->host, di ? di->port : 0, S->n_slots, S->queue_cap, S->plan.n_ctx,
            S->plan.total);
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, "l4lm: signal %d: stopping\n", sig);
    http_slots_stop(S); /* running jobs end at their next token, waiting readers see it */
    pthread_mutex_lock(&w.mu);
    shut_late(&w, true); /* requests still arriving are not waited for */
    pthread_mutex_unlock(&w.mu);
    MHD_stop_daemon(d);
    watch_stop(&w);
    return 0;
}

int l4lm_cmd_serve(int argc, char **argv)
{
    http_server S = {0};
    serve_opts so;
    int parsed = parse(argc, argv, &so, &S.defaults); /* --help: cli.c has the text */
    if (parsed)
        return l4lm_cli_exit(parsed);
    S.n_slots = so.parallel;
    S.queue_cap = so.queue;
    S.threads = so.threads;
    S.max_body = so.max_body;
    /* Every thread made from here on leaves SIGINT/SIGTERM to sigwait. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    pthread_mutex_init(&S.mu, NULL);
    pthread_cond_init(&S.work, NULL);
    int rc = serve(&S, &so);
    http_slots_stop(&S);
    l4lm_posix_model_unload(&S.pm);
    pthread_cond_destroy(&S.work);
    pthread_mutex_destroy(&S.mu);
    return rc;
}
