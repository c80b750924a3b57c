/*
** batch.c — how forward.c's steps share a batch among the session's
** threads: n independent items (tokens, rows, elements, heads) are cut
** into one contiguous range or one task each, and the two steps that are
** nothing but such a loop live here whole: the RMSNorm of every token and
** a weight matrix times every token. Threads split by item, never inside
** one output, so the thread count does not change the bits; a job too
** small to pay for waking the threads runs on the caller's.
*/
#include "session.h"

/* Below this many multiply-adds a job is over before threads could help:
** waking them costs more than it saves (tiny models, short contexts). 2^15
** shares a prefill batch's RMSNorm, activation preparation and q/k/v steps
** too (32 tokens of 2048: 2^16), which 2^17 left to one thread (TinyLlama
** Q4_0 prompt, 2 threads: ~4 % faster); workers spin between such jobs. */
#define MIN_PARALLEL_WORK (1u << 15)

static bool worth_threads(const l4lm_session *s, uint64_t work)
{
    return s->parallel_for && s->n_threads > 1 && work >= MIN_PARALLEL_WORK;
}

typedef struct range_job {
    l4lm_range_fn *fn;
    void *arg;
    uint32_t n, n_tasks;
} range_job;

static void range_task(void *arg, uint32_t i)
{
    const range_job *j = arg;
    j->fn(j->arg, (uint32_t)((uint64_t)j->n * i / j->n_tasks),
          (uint32_t)((uint64_t)j->n * (i + 1) / j->n_tasks));
}

void l4lm_batch_split(l4lm_session *s, uint64_t work, uint32_t n, l4lm_range_fn *fn, void *arg)
{
    range_job j = {fn, arg, n, s->n_threads};
    if (worth_threads(s, work))
        s->parallel_for(s->parallel_ctx, range_task, &j, j.n_tasks);
    else
        fn(arg, 0, n);
}

void l4lm_batch_tasks(l4lm_session *s, uint64_t work, uint32_t n, l4lm_task_fn fn, void *arg)
{
    if (worth_threads(s, work))
        s->parallel_for(s->parallel_ctx, fn, arg, n);
    else
        for (uint32_t i = 0; i < n; i++)
            fn(arg, i);
}

/* ------------------------------------------------------------- RMSNorm */

void l4lm_rmsnorm(float *out, const float *x, const l4lm_mat *w, uint32_t n, float eps)
{
    const float *g = w->data;
    double ss = 0.0; /* double, as ggml sums it: the norm is sensitive to order */
    for (uint32_t i = 0; i < n; i++)
        ss += (double)x[i] * x[i];
    float scale = 1.0f / l4lm_sqrtf((float)(ss / n) + eps);
    for (uint32_t i = 0; i < n; i++)
        out[i] = (x[i] * scale) * g[i];
}

typedef struct norm_job {
    const l4lm_session *s;
    float *out;
    const float *x;
    const l4lm_mat *w;
} norm_job;

static void norm_rows(void *arg, uint32_t b0, uint32_t b1)
{
    const norm_job *j = arg;
    uint32_t e = j->s->hp.n_embd;
    for (uint32_t b = b0; b < b1; b++)
        l4lm_rmsnorm(j->out + (size_t)b * e, j->x + (size_t)b * e, j->w, e, j->s->hp.rms_eps);
}

void l4lm_batch_norm(l4lm_session *s, float *out, const float *x, const l4lm_mat *w, uint32_t n_b)
{
    norm_job j = {s, out, x, w};
    l4lm_batch_split(s, (uint64_t)n_b * s->hp.n_embd, n_b, norm_rows, &j);
}

/* ------------------------------------------------ matrix times a batch */

typedef struct matmul_job {
    const l4lm_kern *k;
    const l4lm_mat *w;
    const float *x; /* n_b rows, x_stride floats apart */
    uint32_t x_stride;
    uint8_t *act; /* n_b prepared rows, act_stride bytes apart */
    size_t act_stride;
    float *y; /* n_b rows of y_stride floats */
    uint32_t y_stride, n_b;
} matmul_job;

/* Activation rows b0..b1-1 prepared for the weight type. */
static void prepare_rows(void *arg, uint32_t b0, uint32_t b1)
{
    const matmul_job *j = arg;
    for (uint32_t b = b0; b < b1; b++)
        l4lm_act_prepare(j->k, j->w->type, j->x + (size_t)b * j->x_stride, j->w->n_in,
                         j->act + b * j->act_stride);
}

static void matmul_rows(void *arg, uint32_t r0, uint32_t r1)
{
    const matmul_job *j = arg;
    const l4lm_mat *w = j->w;
    l4lm_matmul(j->k, l4lm_mat_ktype(w), w->data, j->act, j->act_stride, w->n_in, j->y, j->y_stride,
                r0, r1, j->n_b);
}

void l4lm_batch_matmul(l4lm_session *s, const l4lm_mat *w, const float *x, uint32_t x_stride,
                       float *y, uint32_t y_stride, uint32_t n_b, bool same_input)
{
    matmul_job j = {s->kern, w,        x,  x_stride, s->act, l4lm_act_bytes(w->type, w->n_in),
                    y,       y_stride, n_b};
    if (!same_input || s->act_type != w->type) {
        l4lm_batch_split(s, (uint64_t)w->n_in * n_b, n_b, prepare_rows, &j);
        s->act_type = w->type;
    }
    l4lm_batch_split(s, (uint64_t)w->n_out * w->n_in * n_b, w->n_out, matmul_rows, &j);
}
