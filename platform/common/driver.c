/*
** driver.c — the generation run of the bare-metal images: open the model in
** place, check the arena against l4lm_plan(), tokenize the prompt, generate
** greedily and stream the story to the console. The hosted check program
** (hosted.c) runs this same file on Linux, so both print identical ids.
*/
#include "driver.h"
#include "port.h"

static int failed(const char *what, l4lm_status st)
{
    l4lm_port_puts("error: ");
    l4lm_port_puts(what);
    l4lm_port_puts(": ");
    l4lm_port_puts(l4lm_strerror(st));
    l4lm_port_putc('\n');
    return (int)st;
}

static void put_ids(const char *label, const int32_t *ids, size_t n)
{
    l4lm_port_puts(label);
    for (size_t i = 0; i < n; i++) {
        l4lm_port_putc(' ');
        l4lm_port_putu((uint64_t)(uint32_t)ids[i]);
    }
    l4lm_port_putc('\n');
}

/* "N tokens in M ms[, R tok/s]": the clock may be absent (now_ns() == 0). */
static void put_timing(const char *label, size_t n, uint64_t t0, uint64_t t1)
{
    l4lm_port_puts(label);
    l4lm_port_putu(n);
    if (t0 == 0 || t1 <= t0) {
        l4lm_port_puts(" tokens (no clock)\n");
        return;
    }
    uint64_t us = (t1 - t0) / 1000;
    l4lm_port_puts(" tokens in ");
    l4lm_port_putu(us / 1000);
    l4lm_port_puts(" ms, ");
    uint64_t tenths = us ? (uint64_t)n * 10000000u / us : 0;
    l4lm_port_putu(tenths / 10);
    l4lm_port_putc('.');
    l4lm_port_putu(tenths % 10);
    l4lm_port_puts(" tok/s\n");
}

/* FNV-1a over the bits of one logits row, folded into h. */
static uint64_t hash_logits(uint64_t h, const float *logits, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        uint32_t bits;
        __builtin_memcpy(&bits, &logits[i], sizeof bits);
        for (int b = 0; b < 32; b += 8)
            h = (h ^ ((bits >> b) & 0xffu)) * 0x100000001b3u;
    }
    return h;
}

/* Stream one token's text; special tokens print nothing. */
static l4lm_status put_token(const l4lm_session *s, l4lm_detok *d, int32_t id)
{
    char buf[32 + 512]; /* l4lm.h: 32 bytes plus the longest piece (512) */
    l4lm_status st = L4LM_OK;
    size_t n = l4lm_detok_push(s, d, id, buf, sizeof buf, &st);
    for (size_t i = 0; i < n; i++)
        l4lm_port_putc(buf[i]);
    return st;
}

static void put_model(const l4lm_model *m, size_t size)
{
    l4lm_model_info mi;
    l4lm_model_get_info(m, &mi);
    l4lm_port_puts("model: ");
    l4lm_port_puts(mi.arch);
    l4lm_port_puts(", ");
    l4lm_port_putu(mi.n_layer);
    l4lm_port_puts(" layers, embd ");
    l4lm_port_putu(mi.n_embd);
    l4lm_port_puts(", vocab ");
    l4lm_port_putu(mi.n_vocab);
    l4lm_port_puts(", ");
    l4lm_port_putu(size);
    l4lm_port_puts(" bytes\n");
}

size_t l4lm_port_index_bytes(const void *model, size_t size)
{
    size_t n = 0;
    l4lm_model_index_size(model, size, &n);
    return (n + 63) / 64 * 64; /* keeps the session arena after it 64-byte aligned */
}

static l4lm_status open_and_plan(l4lm_model *m, const void *model, size_t size, void *index,
                                 uint32_t n_ctx, l4lm_run_opts *opts, l4lm_plan_result *p)
{
    l4lm_open_opts oo = {.index = index, .index_size = l4lm_port_index_bytes(model, size)};
    l4lm_status st = l4lm_model_open(m, model, size, &oo);
    if (st != L4LM_OK) {
        l4lm_port_puts("model open failed at file offset ");
        l4lm_port_putu(l4lm_model_error(m)->offset);
        l4lm_port_puts(": ");
        l4lm_port_puts(l4lm_model_error(m)->what);
        l4lm_port_putc('\n');
        return st;
    }
    *opts = (l4lm_run_opts){.n_ctx = n_ctx, .kv_type = L4LM_KV_F32, .n_threads = 1};
    return l4lm_plan(m, opts, p);
}

size_t l4lm_port_plan(const void *model, size_t size, uint32_t n_ctx, void *scratch)
{
    l4lm_model m;
    l4lm_run_opts opts;
    l4lm_plan_result p;
    l4lm_status st = open_and_plan(&m, model, size, scratch, n_ctx, &opts, &p);
    if (st != L4LM_OK) {
        failed("plan", st);
        return 0;
    }
    return l4lm_port_index_bytes(model, size) + p.total;
}

/* Open the model with its name index carved from the front of the job's
** arena, and start a session in the rest; says what failed. */
static l4lm_status start(const l4lm_port_job *job, l4lm_model *m, l4lm_session **s,
                         const char **what)
{
    l4lm_run_opts opts;
    l4lm_plan_result p;
    size_t index = l4lm_port_index_bytes(job->model, job->model_size);
    *what = "model open/plan";
    if (index > job->arena_size)
        return L4LM_E_INDEX;
    l4lm_status st =
        open_and_plan(m, job->model, job->model_size, job->arena, job->n_ctx, &opts, &p);
    if (st != L4LM_OK)
        return st;
    put_model(m, job->model_size);
    l4lm_port_puts("arena: name index ");
    l4lm_port_putu(index);
    l4lm_port_puts(" + plan ");
    l4lm_port_putu(p.total);
    l4lm_port_puts(" bytes, have ");
    l4lm_port_putu(job->arena_size);
    l4lm_port_puts(" bytes (n_ctx ");
    l4lm_port_putu(p.n_ctx);
    l4lm_port_puts(")\n");
    if (job->pool) {
        opts.parallel_for = l4lm_work_parallel_for;
        opts.parallel_ctx = job->pool;
        opts.n_threads = job->pool->n_threads;
        l4lm_port_puts("cores: ");
        l4lm_port_putu(opts.n_threads);
        l4lm_port_putc('\n');
    }
    *what = "session init";
    if (p.total > job->arena_size - index)
        return L4LM_E_ARENA;
    return l4lm_session_init(s, m, &opts, (char *)job->arena + index, job->arena_size - index);
}

/* Greedy tokens after the prompt, each streamed as soon as it is picked, until
** n_generate, EOS or an end-of-turn token, or a full context; *n_gen of them.
** Every step that evaluated its token adds the new logits (the session's
** logits row, where the prompt's came) to *hash. */
static l4lm_status generate(l4lm_gen *g, int32_t *gen, uint32_t *n_gen, uint64_t *hash,
                            const float *logits, uint32_t n_vocab)
{
    l4lm_finish f = L4LM_FINISH_NONE;
    while (f == L4LM_FINISH_NONE) {
        const char *text;
        size_t len;
        uint32_t before = g->n_gen;
        f = l4lm_gen_step(g, &text, &len);
        if (g->n_gen != before)
            gen[before] = g->token;
        if (f == L4LM_FINISH_NONE)
            *hash = hash_logits(*hash, logits, n_vocab);
        for (size_t i = 0; i < len; i++)
            l4lm_port_putc(text[i]);
    }
    *n_gen = g->n_gen;
    if (f == L4LM_FINISH_EOS || f == L4LM_FINISH_EOT)
        l4lm_port_puts("\n(end of text)");
    else if (f == L4LM_FINISH_CONTEXT)
        l4lm_port_puts("\n(context full)");
    return f == L4LM_FINISH_ERROR ? g->status : L4LM_OK;
}

int l4lm_port_generate(const l4lm_port_job *job)
{
    l4lm_model m;
    l4lm_session *s;
    const char *what;
    l4lm_status st = start(job, &m, &s, &what);
    if (st != L4LM_OK)
        return failed(what, st);
    l4lm_model_info mi;
    l4lm_model_get_info(&m, &mi);
    size_t n_prompt;
    st = l4lm_tokenize(s, job->prompt, job->prompt_len, L4LM_TOK_BOS, job->ids, job->ids_cap, &n_prompt);
    if (st != L4LM_OK)
        return failed("tokenize", st);
    if (n_prompt == 0 || job->ids_cap - n_prompt < job->n_generate)
        return failed("prompt and generated ids", L4LM_E_BUFFER);
    put_ids("prompt ids:", job->ids, n_prompt);
    l4lm_port_puts("---\n");

    /* The prompt is echoed from its tokens, so the detokenizer sees BOS. */
    static l4lm_gen g; /* 1.2 KiB: kept off the small stacks of the ports (one job at a time) */
    l4lm_gen_opts go = l4lm_gen_opts_default(&m, job->n_generate); /* greedy */
    st = l4lm_gen_init(&g, s, &go);
    for (size_t i = 0; i < n_prompt && st == L4LM_OK; i++)
        st = put_token(s, &g.detok, job->ids[i]);
    const float *logits;
    l4lm_work_count c0 = job->pool ? l4lm_work_counted(job->pool) : (l4lm_work_count){0};
    uint64_t t0 = l4lm_port_now_ns();
    if (st == L4LM_OK)
        st = l4lm_eval(s, job->ids, n_prompt, &logits);
    uint64_t t1 = l4lm_port_now_ns();
    if (st != L4LM_OK)
        return failed("prompt", st);
    l4lm_work_count c1 = job->pool ? l4lm_work_counted(job->pool) : c0;
    uint64_t hash = hash_logits(0xcbf29ce484222325u, logits, mi.n_vocab);
    int32_t *gen = job->ids + n_prompt;
    uint32_t n_gen;
    st = generate(&g, gen, &n_gen, &hash, logits, mi.n_vocab);
    uint64_t t2 = l4lm_port_now_ns();
    if (st != L4LM_OK)
        return failed("generate", st);
    l4lm_port_puts("\n---\n");
    put_ids("ids:", gen, n_gen);
    l4lm_port_puts("logits fnv1a: ");
    l4lm_port_putx(hash);
    l4lm_port_putc('\n');
    put_timing("prompt: ", n_prompt, t0, t1);
    put_timing("generate: ", n_gen, t1, t2);
    if (job->pool) {
        l4lm_work_count c2 = l4lm_work_counted(job->pool);
        l4lm_work_put_count("prompt work: ", c0, c1, n_prompt);
        l4lm_work_put_count("generate work: ", c1, c2, n_gen);
    }
    return 0;
}
