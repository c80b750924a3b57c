/*
** http.h — the parts of `l4lm serve`, the OpenAI-compatible HTTP server:
**   http_server.c  the command, the libmicrohttpd daemon, routing, bodies
**   http_stream.c  answering one generation request (waiting, SSE events)
**   http_api.c     OpenAI request fields -> a job; a job -> response JSON
**   http_json.c    typed reads of request JSON, error bodies
**   http_slots.c   the bounded queue and the slots: one session, one worker
**                  thread each, generating with the core API
** One mutex (http_server.mu) guards the queue, the counters and every job's
** shared fields; each job has its own condition variable for its reader.
*/
#ifndef L4LM_HTTP_H
#define L4LM_HTTP_H
#include <cjson/cJSON.h>
#include <pthread.h>

#include "cli.h"

#define HTTP_MAX_STOPS       4   /* stop strings per request (as OpenAI) */
#define HTTP_MAX_STOP_BYTES  256 /* bytes of one stop string */
#define HTTP_MAX_STOP_TOKENS 4   /* chat: end-of-turn token ids */
#define HTTP_JSON_MAX_DEPTH  32  /* nesting of a request body */

/* An OpenAI-style error: the HTTP status and the body's fields. */
typedef struct http_error {
    int status;
    const char *type;  /* "invalid_request_error", ... */
    const char *param; /* the request field at fault, or NULL */
    const char *code;  /* machine-readable code, or NULL */
    char message[256];
} http_error;

typedef enum http_job_state { JOB_QUEUED, JOB_RUNNING, JOB_DONE } http_job_state;

/* One generated token's logprobs and where its text begins in prompt + completion. */
typedef struct http_logprob {
    l4lm_token_logprobs lp;
    uint32_t text_offset;
} http_logprob;

typedef struct http_job {
    /* the request, fixed before it is queued */
    bool chat, stream, include_usage, return_tokens, ignore_eos, add_bos;
    char *prompt; /* text (chat: rendered with the template), malloc'd */
    size_t prompt_len;
    int32_t *prompt_ids; /* or the prompt as token ids, malloc'd */
    size_t n_prompt_ids;
    l4lm_sampler sp;
    int32_t max_tokens;
    char *stop[HTTP_MAX_STOPS];
    size_t n_stop;
    bool logprobs;         /* chat: logprobs true; completions: logprobs N */
    uint32_t top_logprobs; /* <= L4LM_LOGPROBS_MAX_TOP */
    bool context_shift;    /* a full context drops old tokens after n_keep and goes on */
    uint32_t n_keep;       /* prompt tokens a shift keeps, after BOS (llama-server's n_keep) */
    char *grammar; /* GBNF the answer must match (grammar, response_format), malloc'd, or NULL */
    size_t grammar_len;
    char id[48];
    long created;
    /* shared with the worker: under http_server.mu */
    pthread_cond_t cv; /* signalled whenever the fields below change */
    http_job_state state;
    bool started; /* the prompt is accepted: a 200 can go out */
    bool cancel;  /* the client went away (or the server stops) */
    int refs;     /* the connection and the queue/worker */
    char *text;   /* the generated text; text[0..released) may be sent */
    size_t text_len, text_cap, released;
    int32_t *ids; /* the sampled ids (return_tokens) */
    size_t n_ids, ids_cap;
    http_logprob *lps; /* each generated token's logprobs (logprobs) */
    size_t n_lps, lps_cap;
    uint32_t prompt_tokens, completion_tokens;
    const char *finish;    /* "stop" or "length" once done without error */
    http_error err;        /* err.status != 0: the job failed */
    struct http_job *next; /* the queue's link */
} http_job;

typedef struct http_slot {
    struct http_server *S;
    l4lm_session *s;
    void *arena;
    l4lm_pool *pool;
    pthread_t thread;
    bool thread_started;
} http_slot;

typedef struct http_server {
    /* fixed after setup */
    l4lm_posix_model pm;
    l4lm_plan_result plan;
    l4lm_cli_opts defaults; /* sampling, -n and the rest of the command line */
    char model_name[256];
    uint32_t n_slots, queue_cap, threads;
    size_t max_body;
    size_t max_items; /* values in a request body (http_json_bounded) */
    int32_t chat_stops[HTTP_MAX_STOP_TOKENS];
    size_t n_chat_stops;
    http_slot *slots;
    /* /tokenize's own small session (l4lm_tokenize writes its scratch);
    ** read-only uses (pieces, detokenizing) need no lock */
    l4lm_session *tok_s;
    void *tok_arena;
    size_t tok_arena_size;
    pthread_mutex_t tok_mu;
    /* shared: under mu */
    pthread_mutex_t mu;
    pthread_cond_t work; /* a job was queued, or the server stops */
    http_job *head, *tail;
    uint32_t n_queued, n_running;
    bool stopping;
    uint64_t n_requests, n_completed, n_cancelled, n_rejected, n_errors, next_id;
} http_server;

/* http_slots.c */
int http_slots_start(http_server *S);
void http_slots_stop(http_server *S);
/* Queue a job (refs becomes 2); false when the queue is full or the server stops. */
bool http_submit(http_server *S, http_job *j);
/* Drop one reference (caller does not hold mu); the last frees the job. */
void http_job_release(http_server *S, http_job *j);
http_job *http_job_new(void);
void http_job_free(http_job *j);

/* http_json.c */
void http_err(http_error *e, int status, const char *param, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
char *http_err_body(const http_error *e);
bool http_json_num(const cJSON *o, const char *key, double lo, double hi, bool whole, double *out,
                   http_error *e);
bool http_json_bool(const cJSON *o, const char *key, bool *out, http_error *e);
char *http_json_print(cJSON *j); /* prints and deletes j; NULL when out of memory */
/* The body nests at most HTTP_JSON_MAX_DEPTH deep and has at most max_items values; else a 400. */
bool http_json_bounded(const char *s, size_t n, size_t max_items, http_error *e);
/* An array of token ids (at most the context's, each in the vocabulary) into *ids (malloc'd). */
struct http_server;
bool http_json_ids(const struct http_server *S, const cJSON *v, const char *param, int32_t **ids,
                   size_t *n, http_error *e);

/* http_api.c */
bool http_api_parse(http_server *S, const cJSON *req, bool chat, http_job *j, http_error *e);
char *http_api_body(const http_server *S, const http_job *j);
/* One event: text, the ids and logprobs of the tokens it came from, the role (chat), finish. */
typedef struct http_delta {
    const char *text;
    size_t len;
    const int32_t *ids;
    size_t n_ids;
    const http_logprob *lps;
    size_t n_lps;
    bool role;
    const char *finish;
} http_delta;
char *http_api_chunk(const http_server *S, const http_job *j, const http_delta *d);
char *http_api_usage_chunk(const http_server *S, const http_job *j);
char *http_api_models(const http_server *S, const char *id, http_error *e);
char *http_api_health(http_server *S);
/* POST /tokenize and /detokenize (llama-server's): the response body, or NULL with e set. */
char *http_api_tokenize(http_server *S, const cJSON *req, http_error *e);
char *http_api_detokenize(http_server *S, const cJSON *req, http_error *e);

/* http_tokens.c: choice.logprobs for these tokens (replaces its null). */
void http_logprobs_json(const http_server *S, const http_job *j, cJSON *choice,
                        const http_logprob *lps, size_t n);

/* http_stream.c: answer a queued generation request on this connection. */
struct MHD_Connection;
int http_stream_answer(http_server *S, struct MHD_Connection *c, http_job *j);

/* http_server.c: send a JSON body (malloc'd, taken) or an error body. */
int http_send_json(struct MHD_Connection *c, unsigned status, char *body);
int http_send_error(struct MHD_Connection *c, const http_error *e);
#endif
