/*
** http_slots.c — the slots of `l4lm serve`: one session (its own arena)
** and one worker thread per slot, all reading the one read-only model, and
** the bounded FIFO queue they take jobs from.
**
** A worker runs a job as `l4lm run` runs a prompt: tokenize, evaluate,
** then sample / detokenize / evaluate one token at a time. After each token
** it publishes the new text under the server mutex and wakes the job's
** reader; text that could be the start of a stop string is held back
** (not "released") until the next token shows whether the stop string
** follows. The worker looks at the job's cancel flag at every token, so a
** client that goes away frees its slot within one token's time.
*/
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"

void http_job_free(http_job *j)
{
    if (!j)
        return;
    free(j->prompt);
    free(j->prompt_ids);
    for (size_t i = 0; i < j->n_stop; i++)
        free(j->stop[i]);
    free(j->text);
    free(j->ids);
    pthread_cond_destroy(&j->cv);
    free(j);
}

static void unref_locked(http_job *j)
{
    if (--j->refs == 0)
        http_job_free(j);
}

void http_job_release(http_server *S, http_job *j)
{
    pthread_mutex_lock(&S->mu);
    unref_locked(j);
    pthread_mutex_unlock(&S->mu);
}

http_job *http_job_new(void)
{
    http_job *j = calloc(1, sizeof *j);
    if (j && pthread_cond_init(&j->cv, NULL)) {
        free(j);
        return NULL;
    }
    return j;
}

bool http_submit(http_server *S, http_job *j)
{
    pthread_mutex_lock(&S->mu);
    S->n_requests++;
    bool ok = !S->stopping && S->n_queued + S->n_running < S->n_slots + S->queue_cap;
    if (ok) {
        snprintf(j->id, sizeof j->id, "%s-%llu", j->chat ? "chatcmpl" : "cmpl",
                 (unsigned long long)++S->next_id);
        j->created = (long)time(NULL);
        j->refs = 2;
        j->state = JOB_QUEUED;
        j->next = NULL;
        if (S->tail)
            S->tail->next = j;
        else
            S->head = j;
        S->tail = j;
        S->n_queued++;
        pthread_cond_signal(&S->work);
    } else {
        S->n_rejected++;
    }
    pthread_mutex_unlock(&S->mu);
    return ok;
}

/* ---------------------------------------------------------- generation */

static bool grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t c = *cap ? *cap : 256;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q)
        return false;
    *p = q;
    *cap = c;
    return true;
}

/*
** Release what can be sent: up to the first stop string (then true: the
** job is over, and the stop string and all after it are dropped), else all
** but the longest tail that a stop string begins with. A stop string can
** only start at or after `released`: any earlier start would have been
** held back.
*/
bool http_stop_release(http_job *j)
{
    const char *t = j->text + j->released;
    size_t n = j->text_len - j->released, best = n, hold = 0;
    for (size_t i = 0; i < j->n_stop; i++) {
        const char *p = memmem(t, n, j->stop[i], strlen(j->stop[i]));
        if (p && (size_t)(p - t) < best)
            best = (size_t)(p - t);
    }
    if (best < n) {
        j->text_len = j->released += best;
        return true;
    }
    for (size_t i = 0; i < j->n_stop; i++) {
        size_t len = strlen(j->stop[i]);
        for (size_t k = len - 1 < n ? len - 1 : n; k > hold; k--)
            if (!memcmp(t + n - k, j->stop[i], k)) {
                hold = k;
                break;
            }
    }
    j->released += n - hold;
    return false;
}

typedef enum { GO_ON, STOP_STRING, CANCELLED } emit_result;

/* Publish one token and its text; what the job should do next. */
static emit_result emit(http_server *S, http_job *j, int32_t tok, const char *text, size_t n)
{
    emit_result r = GO_ON;
    pthread_mutex_lock(&S->mu);
    if (j->cancel || S->stopping) {
        r = CANCELLED;
    } else if (!grow((void **)&j->text, &j->text_cap, j->text_len + n + 1, 1) ||
               (j->return_tokens &&
                !grow((void **)&j->ids, &j->ids_cap, j->n_ids + 1, sizeof *j->ids))) {
        http_err(&j->err, 500, NULL, NULL, "out of memory");
        r = CANCELLED;
    } else {
        memcpy(j->text + j->text_len, text, n);
        j->text_len += n;
        if (j->return_tokens)
            j->ids[j->n_ids++] = tok;
        j->completion_tokens++;
        r = http_stop_release(j) ? STOP_STRING : GO_ON;
        pthread_cond_broadcast(&j->cv);
    }
    pthread_mutex_unlock(&S->mu);
    return r;
}

static bool is_stop_token(const http_server *S, const http_job *j, int32_t tok)
{
    if (j->ignore_eos)
        return false;
    if (!j->chat)
        return tok == S->pm.m.vocab.eos;
    for (size_t i = 0; i < S->n_chat_stops; i++)
        if (S->chat_stops[i] == tok)
            return true;
    return false;
}

/* The prompt's ids (malloc'd, or the job's own); NULL with j->err set. */
static int32_t *prompt_ids(http_slot *sl, http_job *j, size_t *n)
{
    if (j->prompt_ids) {
        *n = j->n_prompt_ids;
        return j->prompt_ids;
    }
    size_t cap = 3 * (j->prompt_len + 1) + 1; /* as l4lm_cli_tokens: 3 ids a byte at most, + BOS */
    int32_t *ids = malloc(cap * sizeof *ids);
    uint32_t flags = (j->add_bos ? L4LM_TOK_BOS : 0) | (j->chat ? L4LM_TOK_SPECIAL : 0);
    /* chat: the template's markers are special tokens, the messages' bytes
    ** (marked after the prompt's NUL by http_api.c) are plain text */
    const uint8_t *plain = j->chat ? (const uint8_t *)j->prompt + j->prompt_len + 1 : NULL;
    l4lm_status st =
        ids ? l4lm_tokenize_marked(sl->s, j->prompt, j->prompt_len, flags, plain, ids, cap, n)
            : L4LM_E_ARG;
    if (st) {
        http_err(&j->err, 400, j->chat ? "messages" : "prompt",
                 st == L4LM_E_PROMPT_TOO_LONG ? "context_length_exceeded" : "invalid_value",
                 "cannot tokenize the prompt: %s", l4lm_strerror(st));
        free(ids);
        return NULL;
    }
    return ids;
}

/* Tokenize and check the prompt, then let the reader answer 200; false with j->err set. */
static bool start_job(http_slot *sl, http_job *j, size_t n)
{
    http_server *S = sl->S;
    if (n == 0)
        http_err(&j->err, 400, "prompt", "invalid_value", "the prompt has no tokens");
    else if (n > S->plan.n_ctx)
        http_err(&j->err, 400, j->chat ? "messages" : "prompt", "context_length_exceeded",
                 "the prompt has %zu tokens but the context holds %u", n, S->plan.n_ctx);
    pthread_mutex_lock(&S->mu);
    j->prompt_tokens = (uint32_t)n;
    j->started = !j->err.status;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&S->mu);
    return j->started;
}

/* Generate until a stop, max_tokens, a full context or a cancel; the finish reason or NULL. */
static const char *generate(http_slot *sl, http_job *j, const int32_t *ids, size_t n)
{
    l4lm_session *s = sl->s;
    char piece[1024];
    l4lm_detok d = {.after_bos = true};
    /* the prompt goes through the detokenizer (its text dropped) exactly as `l4lm run` echoes it */
    for (size_t i = 0; i < n; i++)
        l4lm_detok_push(s, &d, ids[i], piece, sizeof piece, NULL);
    for (int32_t k = 0; k < j->max_tokens; k++) {
        int32_t tok;
        l4lm_status st = l4lm_sample(s, &j->sp, &tok);
        if (!st && is_stop_token(sl->S, j, tok))
            return "stop";
        size_t len = st ? 0 : l4lm_detok_push(s, &d, tok, piece, sizeof piece, &st);
        if (st) {
            http_err(&j->err, 500, NULL, NULL, "sampling failed: %s", l4lm_strerror(st));
            return NULL;
        }
        emit_result r = emit(sl->S, j, tok, piece, len);
        if (r != GO_ON)
            return r == STOP_STRING ? "stop" : NULL;
        if (l4lm_session_pos(s) == l4lm_session_n_ctx(s))
            return "length";
        if ((st = l4lm_eval(s, &tok, 1, NULL))) {
            http_err(&j->err, 500, NULL, NULL, "generation failed: %s", l4lm_strerror(st));
            return NULL;
        }
    }
    return "length";
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static void run_job(http_slot *sl, http_job *j)
{
    http_server *S = sl->S;
    double t0 = now();
    size_t n = 0;
    const char *finish = NULL;
    l4lm_session_reset(sl->s);
    l4lm_session_seed(sl->s, j->sp.seed);
    int32_t *ids = prompt_ids(sl, j, &n);
    if (ids && start_job(sl, j, n)) {
        l4lm_status st = l4lm_eval(sl->s, ids, n, NULL);
        if (st)
            http_err(&j->err, 500, NULL, NULL, "evaluation failed: %s", l4lm_strerror(st));
        else
            finish = generate(sl, j, ids, n);
    }
    if (ids != j->prompt_ids)
        free(ids);
    pthread_mutex_lock(&S->mu);
    if (finish && !j->cancel) {
        if (j->released < j->text_len) /* the end came first: nothing held back can stop now */
            j->released = j->text_len;
        j->finish = finish;
        S->n_completed++;
    } else if (j->err.status) {
        S->n_errors++;
    } else {
        S->n_cancelled++;
        j->cancel = true;
    }
    j->state = JOB_DONE;
    S->n_running--; /* with the job's end, so /health never shows a finished job running */
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&S->mu);
    fprintf(stderr, "l4lm: %s %s: %u prompt + %u generated tokens in %.3f s (slot %u)\n", j->id,
            j->finish       ? j->finish
            : j->err.status ? "failed"
                            : "cancelled, slot freed",
            j->prompt_tokens, j->completion_tokens, now() - t0, (unsigned)(sl - S->slots));
}

static void *worker_main(void *arg)
{
    http_slot *sl = arg;
    http_server *S = sl->S;
    pthread_mutex_lock(&S->mu);
    for (;;) {
        while (!S->head && !S->stopping)
            pthread_cond_wait(&S->work, &S->mu);
        if (S->stopping)
            break;
        http_job *j = S->head;
        S->head = j->next;
        if (!S->head)
            S->tail = NULL;
        S->n_queued--;
        if (j->cancel) { /* its client left while it waited */
            S->n_cancelled++;
            j->state = JOB_DONE;
            pthread_cond_broadcast(&j->cv);
            unref_locked(j);
            continue;
        }
        j->state = JOB_RUNNING;
        S->n_running++;
        pthread_mutex_unlock(&S->mu);
        run_job(sl, j);
        pthread_mutex_lock(&S->mu);
        unref_locked(j);
    }
    pthread_mutex_unlock(&S->mu);
    return NULL;
}

/* ------------------------------------------------------------- setup */

static int make_slot(http_server *S, http_slot *sl, l4lm_run_opts o)
{
    sl->S = S;
    if (o.n_threads > 1) {
        if (!(sl->pool = l4lm_pool_start(o.n_threads)))
            return -1;
        o.parallel_for = l4lm_pool_parallel_for;
        o.parallel_ctx = sl->pool;
    }
    sl->arena = l4lm_posix_arena(S->plan.total);
    l4lm_status st = sl->arena ? l4lm_session_init(&sl->s, &S->pm.m, &o, sl->arena, S->plan.total)
                               : L4LM_E_ARENA;
    if (st) {
        fprintf(stderr, "l4lm: cannot start a session: %s\n", l4lm_strerror(st));
        return -1;
    }
    return 0;
}

int http_slots_start(http_server *S)
{
    /* every slot has the same options but for its own thread pool */
    l4lm_run_opts o = {.n_ctx = S->defaults.n_ctx,
                       .kv_type = S->defaults.kv_type,
                       .n_threads = S->threads > 1 ? S->threads : 0};
    l4lm_status st = l4lm_plan(&S->pm.m, &o, &S->plan);
    if (st) {
        fprintf(stderr, "l4lm: cannot plan the arena: %s\n", l4lm_strerror(st));
        return -1;
    }
    if (S->plan.ctx_beyond_training)
        fprintf(stderr, "l4lm: warning: context %u exceeds the model's training context %u\n",
                S->plan.n_ctx, S->pm.m.hp.n_ctx_train);
    if (!(S->slots = calloc(S->n_slots, sizeof *S->slots)))
        return -1;
    for (uint32_t i = 0; i < S->n_slots; i++)
        if (make_slot(S, &S->slots[i], o))
            return -1;
    for (uint32_t i = 0; i < S->n_slots; i++) {
        if (pthread_create(&S->slots[i].thread, NULL, worker_main, &S->slots[i]))
            return -1;
        S->slots[i].thread_started = true;
    }
    return 0;
}

/* Stop the workers (a running job ends at its next token) and free the slots. */
void http_slots_stop(http_server *S)
{
    pthread_mutex_lock(&S->mu);
    S->stopping = true;
    pthread_cond_broadcast(&S->work);
    pthread_mutex_unlock(&S->mu);
    for (uint32_t i = 0; S->slots && i < S->n_slots; i++) {
        http_slot *sl = &S->slots[i];
        if (sl->thread_started)
            pthread_join(sl->thread, NULL);
        if (sl->arena)
            l4lm_posix_arena_free(sl->arena, S->plan.total);
        l4lm_pool_stop(sl->pool);
    }
    free(S->slots);
    S->slots = NULL;
    pthread_mutex_lock(&S->mu); /* jobs still queued: the queue's reference goes */
    while (S->head) {
        http_job *j = S->head;
        S->head = j->next;
        j->cancel = true;
        j->state = JOB_DONE;
        pthread_cond_broadcast(&j->cv);
        unref_locked(j);
    }
    S->tail = NULL;
    S->n_queued = 0;
    pthread_mutex_unlock(&S->mu);
}
