/*
** gateway.h — `l4lm gateway`: the shared-memory protocol served by
** forwarding each request to an OpenAI-compatible upstream. gateway_call.c
** runs one upstream request (HTTP with libcurl, server-sent events parsed
** with cJSON) in a worker thread; gateway.c is the engine the server core
** drives and the command.
*/
#ifndef L4LM_GATEWAY_H
#define L4LM_GATEWAY_H
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "l4lm_serve.h"

/* What the gateway's calls share: where to go, and who to wake. */
typedef struct gw_config {
    const char *url;   /* upstream base, e.g. http://127.0.0.1:8080 */
    const char *model; /* "model" in the request, or NULL */
    long timeout_ms;   /* to connect, and between two reads of the stream */
    int wake_fd;       /* eventfd: rung when a call has news for the server loop */
    pthread_mutex_t mu;
    pthread_cond_t quiet;
    uint32_t live; /* worker threads still running */
} gw_config;

/* One upstream request; its worker thread and the engine session share it. */
typedef struct gw_call gw_call;

/* Start the request r (its prompt and options) in a new worker; NULL if that fails. */
gw_call *gw_call_start(gw_config *g, const l4lm_shm_request *r);
/*
** The next thing the call has for the server: 0 and a token (*id, up to
** L4LM_SHM_TEXT_CAP bytes of text in text, *len), L4LM_SERVE_WAIT, or the
** status the request ends with (*value and *why set, why valid until the
** call is released).
*/
uint32_t gw_call_peek(gw_call *c, int32_t *value, const char **why);
bool gw_call_pop(gw_call *c, int32_t *id, char *text, uint32_t *len);
/* Abort the request (if it still runs) and let go of it. */
void gw_call_release(gw_call *c);
/* Wait (up to ms) until every worker has ended. */
void gw_wait_workers(gw_config *g, long ms);
#endif
