/*
** http_stream.c — answering one queued generation request, on the
** connection's own thread (libmicrohttpd runs a thread per connection, so
** this thread may block while the job waits and runs).
**
** The status line must wait until the worker has tokenized the prompt: a
** prompt longer than the context is a 400, not a 200 with an error inside.
** Then a non-streaming request waits for the end and gets one body; a
** streaming one gets server-sent events ("data: {chunk}\n\n" ... "data:
** [DONE]\n\n") as the worker releases text.
**
** Waiting wakes every 100 ms to look at the socket: a broken connection
** cancels its job even while it is still queued or between two writes.
*/
#define _GNU_SOURCE
#include <microhttpd.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"

#define WAIT_NS 100000000L /* how often a waiting reader looks at its client */

/*
** The connection is broken. A client that only shut its sending side after
** a whole request (end of file to us) still reads the answer, so that is no
** hang-up; one that closed altogether is found when a write to it fails.
*/
static bool client_gone(int fd)
{
    struct pollfd p = {.fd = fd, .events = 0};
    return fd >= 0 && poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR));
}

/* Wait (mu held) for the job to change, at most WAIT_NS; false (and the
** job cancelled) when the client has gone. */
static bool wait_job(http_server *S, http_job *j, int fd)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += WAIT_NS;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(&j->cv, &S->mu, &ts);
    if (j->state != JOB_DONE && client_gone(fd)) {
        j->cancel = true;
        return false;
    }
    return true;
}

typedef struct stream {
    http_server *S;
    http_job *j;
    int fd;
    char *out; /* formatted events not yet handed to libmicrohttpd */
    size_t out_len, out_off, out_cap;
    size_t sent_text, sent_ids, sent_lps;
    bool role_sent, finished;
} stream;

/* Append "data: JSON\n\n" (json malloc'd, taken); false when out of memory. */
static bool add_event(stream *st, char *json, const char *literal)
{
    const char *d = json ? json : literal;
    size_t n = d ? strlen(d) : 0, need = st->out_len + n + 8;
    if (d && need > st->out_cap) {
        char *p = realloc(st->out, need * 2);
        if (p) {
            st->out = p;
            st->out_cap = need * 2;
        }
    }
    bool ok = d && need <= st->out_cap;
    if (ok) {
        memcpy(st->out + st->out_len, "data: ", 6);
        memcpy(st->out + st->out_len + 6, d, n);
        memcpy(st->out + st->out_len + 6 + n, "\n\n", 2);
        st->out_len += n + 8;
    }
    free(json);
    return ok;
}

/* What the job released since the last call, as events; false to break the stream. */
static bool next_events(stream *st)
{
    http_server *S = st->S;
    http_job *j = st->j;
    pthread_mutex_lock(&S->mu);
    while (st->role_sent && j->released == st->sent_text && j->n_ids == st->sent_ids &&
           j->n_lps == st->sent_lps && j->state != JOB_DONE)
        if (!wait_job(S, j, st->fd)) {
            pthread_mutex_unlock(&S->mu);
            return false;
        }
    size_t n_text = j->released - st->sent_text, n_ids = j->n_ids - st->sent_ids;
    size_t n_lps = j->n_lps - st->sent_lps;
    char *text = malloc(n_text + 1);
    int32_t *ids = malloc((n_ids + 1) * sizeof *ids);
    http_logprob *lps = malloc((n_lps + 1) * sizeof *lps);
    bool done = j->state == JOB_DONE, ok = text && ids && lps;
    if (ok) {
        if (n_text)
            memcpy(text, j->text + st->sent_text, n_text);
        if (n_ids)
            memcpy(ids, j->ids + st->sent_ids, n_ids * sizeof *ids);
        if (n_lps)
            memcpy(lps, j->lps + st->sent_lps, n_lps * sizeof *lps);
        st->sent_text = j->released;
        st->sent_ids = j->n_ids;
        st->sent_lps = j->n_lps;
    }
    pthread_mutex_unlock(&S->mu);
    st->out_len = st->out_off = 0;
    if (ok && !st->role_sent)
        ok = add_event(st, http_api_chunk(S, j, &(http_delta){.role = true}), NULL);
    st->role_sent = true;
    http_delta d = {text, n_text, ids, n_ids, lps, n_lps, false, NULL};
    if (ok && (n_text || n_ids || n_lps))
        ok = add_event(st, http_api_chunk(S, j, &d), NULL);
    free(text);
    free(ids);
    free(lps);
    if (ok && done) { /* the job is over: the worker no longer writes to it */
        if (j->err.status)
            ok = add_event(st, http_err_body(&j->err), NULL);
        else if (j->finish)
            ok = add_event(st, http_api_chunk(S, j, &(http_delta){.finish = j->finish}), NULL) &&
                 (!j->include_usage || add_event(st, http_api_usage_chunk(S, j), NULL));
        else
            ok = false; /* cancelled: the server stops */
        ok = ok && add_event(st, NULL, "[DONE]");
        st->finished = true;
    }
    return ok;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    stream *st = cls;
    (void)pos;
    while (st->out_off == st->out_len) {
        if (st->finished)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (!next_events(st))
            return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    size_t n = st->out_len - st->out_off < max ? st->out_len - st->out_off : max;
    memcpy(buf, st->out + st->out_off, n);
    st->out_off += n;
    return (ssize_t)n;
}

/* The response is gone (sent, or the connection broke): a job still running is cancelled. */
static void stream_free(void *cls)
{
    stream *st = cls;
    pthread_mutex_lock(&st->S->mu);
    if (st->j->state != JOB_DONE)
        st->j->cancel = true;
    pthread_mutex_unlock(&st->S->mu);
    http_job_release(st->S, st->j);
    free(st->out);
    free(st);
}

static int start_stream(http_server *S, struct MHD_Connection *c, http_job *j, int fd)
{
    stream *st = calloc(1, sizeof *st);
    struct MHD_Response *r =
        st ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, st, stream_free)
           : NULL;
    if (!r) {
        free(st);
        pthread_mutex_lock(&S->mu);
        j->cancel = true;
        pthread_mutex_unlock(&S->mu);
        http_job_release(S, j);
        return MHD_NO;
    }
    *st = (stream){.S = S, .j = j, .fd = fd, .role_sent = !j->chat};
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    int ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

int http_stream_answer(http_server *S, struct MHD_Connection *c, http_job *j)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    int fd = ci ? ci->connect_fd : -1;
    bool gone = false;
    pthread_mutex_lock(&S->mu);
    while (!gone && !j->started && j->state != JOB_DONE)
        gone = !wait_job(S, j, fd);
    while (!gone && j->started && !j->stream && j->state != JOB_DONE)
        gone = !wait_job(S, j, fd);
    bool started = j->started;
    http_error e = j->err;
    if (!e.status && j->state == JOB_DONE && !j->finish)
        http_err(&e, 503, NULL, "server_stopping", "the server is stopping");
    pthread_mutex_unlock(&S->mu);
    if (gone) {
        http_job_release(S, j);
        return MHD_NO;
    }
    if (started && j->stream)
        return start_stream(S, c, j, fd);
    /* done (the worker lets go of it before it says so) or failed before starting */
    int ret = e.status ? http_send_error(c, &e) : http_send_json(c, 200, http_api_body(S, j));
    http_job_release(S, j);
    return ret;
}
