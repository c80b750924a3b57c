/*
** http_slots.c — the slots of `l4lm serve`: one session (its own arena)
** and one worker thread per slot, all reading the one read-only model, and
** the bounded FIFO queue they take jobs from.
**
** A worker runs a job as `l4lm run` runs a prompt: tokenize, evaluate
** what the slot's session does not hold yet (it keeps the longest common
** prefix of the last request's tokens and this prompt's: l4lm_session_reuse),
** then one l4lm_gen_step() a token (sample, stop checks, detokenize,
** evaluate). After each step it publishes the step's text under the server
** mutex and wakes the job's reader; the generator holds back text that
** could be the start of a stop string until later text decides. The worker looks at the job's
*cancel flag at every token, so a
** client that goes away frees its slot within one token's time.
*/
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "grammar_host.h"
#include "http.h"

void http_job_free(http_job *j)
{
    if (!j)
        return;
    free(j->prompt);
    free(j->prompt_ids);
    for (size_t i = 0; i < j->n_stop; i++)
        free(j->stop[i]);
    free(j->grammar);
    free(j->text);
    free(j->ids);
    free(j->lps);
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

/* Publish one step: its text (the generator already held back what could
** be a stop string) and, if it generated one, its token and logprobs (lp,
** its text at *offset in prompt + completion); false when the job is
** cancelled or out of memory. */
static bool emit(http_server *S, http_job *j, const l4lm_gen *g, bool new_token, const char *text,
                 size_t n, const http_logprob *lp)
{
    bool go_on = true;
    pthread_mutex_lock(&S->mu);
    if (j->cancel || S->stopping) {
        go_on = false;
    } else if (!grow((void **)&j->text, &j->text_cap, j->text_len + n + 1, 1) ||
               (j->return_tokens &&
                !grow((void **)&j->ids, &j->ids_cap, j->n_ids + 1, sizeof *j->ids)) ||
               (j->logprobs &&
                !grow((void **)&j->lps, &j->lps_cap, j->n_lps + 1, sizeof *j->lps))) {
        http_err(&j->err, 500, NULL, NULL, "out of memory");
        go_on = false;
    } else {
        memcpy(j->text + j->text_len, text, n);
        j->released = j->text_len += n;
        if (new_token && j->return_tokens)
            j->ids[j->n_ids++] = g->token;
        if (new_token && j->logprobs)
            j->lps[j->n_lps++] = *lp;
        j->completion_tokens = g->n_gen;
        pthread_cond_broadcast(&j->cv);
    }
    pthread_mutex_unlock(&S->mu);
    return go_on;
}

/* The prompt's ids (malloc'd, or the job's own); NULL with j->err set. */
static int32_t *prompt_ids(http_slot *sl, http_job *j, size_t *n)
{
    if (j->prompt_ids) {
        *n = j->n_prompt_ids;
        return j->prompt_ids;
    }
    size_t cap = l4lm_cli_token_cap(j->prompt_len);
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

/* The loop of generate(). */
static const char *run_gen(http_slot *sl, http_job *j, l4lm_gen *g, const int32_t *ids, size_t n)
{
    l4lm_session *s = sl->s;
    char piece[L4LM_GEN_PIECE_CAP];
    /* the prompt goes through the detokenizer (its text dropped) exactly as
    ** `l4lm run` echoes it; its length is where text_offset begins */
    g->detok.after_bos = true;
    http_logprob lp = {.text_offset = 0};
    for (size_t i = 0; i < n; i++)
        lp.text_offset +=
            (uint32_t)l4lm_detok_push(s, &g->detok, ids[i], piece, sizeof piece, NULL);
    l4lm_finish f = L4LM_FINISH_NONE;
    while (f == L4LM_FINISH_NONE) {
        const char *text;
        size_t len;
        uint32_t n_gen = g->n_gen;
        f = l4lm_gen_step(g, &text, &len);
        bool new_token = g->n_gen != n_gen;
        lp.lp = g->logprobs;
        if (!emit(sl->S, j, g, new_token, text, len, &lp))
            return NULL;
        if (new_token && !l4lm_token_is_special(s, g->token)) /* the next token's text follows */
            lp.text_offset += (uint32_t)l4lm_token_piece(s, g->token, piece, sizeof piece);
        if (f == L4LM_FINISH_ERROR) {
            http_err(&j->err, 500, NULL, NULL, "generation failed: %s", l4lm_strerror(g->status));
            return NULL;
        }
    }
    return f == L4LM_FINISH_LENGTH || f == L4LM_FINISH_CONTEXT ? "length" : "stop";
}

/* Generate until a stop, max_tokens, a full context or a cancel; the finish reason or NULL. */
static const char *generate(http_slot *sl, http_job *j, const int32_t *ids, size_t n)
{
    l4lm_session *s = sl->s;
    l4lm_gen g;
    l4lm_gen_opts o = l4lm_gen_opts_default(&sl->S->pm.m, (uint32_t)j->max_tokens);
    o.sampler = j->sp;
    o.ignore_eos = j->ignore_eos;
    o.n_stop = (uint32_t)j->n_stop;
    o.logprobs = j->logprobs;
    o.top_logprobs = j->top_logprobs;
    /* n_keep counts prompt tokens after BOS, as `l4lm run --keep` and llama-server */
    o.context_shift = j->context_shift;
    o.n_keep = j->n_keep + (n && ids[0] == sl->S->pm.info.bos);
    o.n_keep = o.n_keep < n ? o.n_keep : (uint32_t)n;
    for (size_t i = 0; i < j->n_stop; i++) {
        o.stop[i] = j->stop[i];
        o.stop_len[i] = (uint32_t)strlen(j->stop[i]);
    }
    l4lm_host_grammar gram = {0};
    char why[256];
    l4lm_status st = j->grammar ? l4lm_host_grammar_build(&gram, s, L4LM_HOST_GBNF, j->grammar,
                                                          j->grammar_len, why, sizeof why)
                                : L4LM_OK;
    l4lm_host_grammar_use(&gram, &o);
    if (!st)
        st = l4lm_gen_init(&g, s, &o);
    if (st) {
        http_err(&j->err, 500, NULL, NULL, "generation failed: %s", l4lm_strerror(st));
        l4lm_host_grammar_free(&gram);
        return NULL;
    }
    const char *fin = run_gen(sl, j, &g, ids, n);
    /* after a shift the cached keys past n_keep are not what evaluating those
    ** tokens afresh gives: the next request of this slot may not reuse them */
    if (g.n_shifts && l4lm_session_pos(s) > g.o.n_keep)
        l4lm_session_truncate(s, g.o.n_keep);
    l4lm_host_grammar_free(&gram);
    return fin;
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
    size_t n = 0, kept = 0;
    const char *finish = NULL;
    l4lm_session_seed(sl->s, j->sp.seed);
    int32_t *ids = prompt_ids(sl, j, &n);
    if (ids && start_job(sl, j, n)) {
        /* the KV rows of the tokens this prompt shares with the slot's last
        ** one (prompt and answer) are kept: a shared system prompt is evaluated once */
        l4lm_status st = l4lm_session_reuse(sl->s, ids, n, &kept);
        if (!st && kept < n)
            st = l4lm_eval(sl->s, ids + kept, n - kept, NULL);
        if (st)
            http_err(&j->err, 500, NULL, NULL, "evaluation failed: %s", l4lm_strerror(st));
        else
            finish = generate(sl, j, ids, n);
    }
    if (ids != j->prompt_ids)
        free(ids);
    pthread_mutex_lock(&S->mu);
    if (finish && !j->cancel) {
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
    fprintf(stderr, "l4lm: %s %s: %u prompt (%zu kept) + %u generated tokens in %.3f s (slot %u)\n",
            j->id,
            j->finish       ? j->finish
            : j->err.status ? "failed"
                            : "cancelled, slot freed",
            j->prompt_tokens, kept, j->completion_tokens, now() - t0, (unsigned)(sl - S->slots));
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

/* /tokenize's session: a context of one token, the slots' longest prompt text. */
static int make_tok_session(http_server *S)
{
    l4lm_run_opts o = {.n_ctx = 1, .n_batch = 1, .max_prompt_bytes = 16 * S->plan.n_ctx};
    l4lm_plan_result p;
    l4lm_status st = l4lm_plan(&S->pm.m, &o, &p);
    pthread_mutex_init(&S->tok_mu, NULL);
    if (!st) {
        S->tok_arena_size = p.total;
        S->tok_arena = l4lm_posix_arena(p.total);
        st = S->tok_arena ? l4lm_session_init(&S->tok_s, &S->pm.m, &o, S->tok_arena, p.total)
                          : L4LM_E_ARENA;
    }
    if (st)
        fprintf(stderr, "l4lm: cannot start the tokenizer session: %s\n", l4lm_strerror(st));
    return st ? -1 : 0;
}

int http_slots_start(http_server *S)
{
    /* every slot has the same options but for its own thread pool */
    l4lm_run_opts o = {.n_ctx = S->defaults.n_ctx,
                       .kv_type = S->defaults.kv_type,
                       .n_threads = S->threads > 1 ? S->threads : 0};
    l4lm_posix_simd(&o);
    l4lm_status st = l4lm_plan(&S->pm.m, &o, &S->plan);
    if (st) {
        fprintf(stderr, "l4lm: cannot plan the arena: %s\n", l4lm_strerror(st));
        return -1;
    }
    if (S->plan.ctx_beyond_training)
        fprintf(stderr, "l4lm: warning: context %u exceeds the model's training context %u\n",
                S->plan.n_ctx, S->pm.info.n_ctx_train);
    if (!(S->slots = calloc(S->n_slots, sizeof *S->slots)))
        return -1;
    for (uint32_t i = 0; i < S->n_slots; i++)
        if (make_slot(S, &S->slots[i], o))
            return -1;
    if (make_tok_session(S))
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
    if (S->tok_arena)
        l4lm_posix_arena_free(S->tok_arena, S->tok_arena_size);
    S->tok_arena = NULL;
    S->tok_s = NULL;
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
