/*
** test_bounds.c — the engine touches exactly the memory it is given.
**
** A full generation (longest allowed prompt tokenized, prefill in batches,
** sampling with every stage on, detokenizing, until the context is full)
** runs with the arena exactly l4lm_plan()'s total bytes and the model
** mapped PROT_READ, each placed against a PROT_NONE guard page: once flush
** with the page after it, once flush with the page before it (a page
** cannot sit on both sides of an arbitrary size). The slack on the other
** side is filled with a pattern that must survive. No fault proves the
** plan is big enough and nothing is read or written outside; then an
** arena one byte short (and shorter) must give L4LM_E_ARENA and stay
** untouched. Each case runs in a child process so a fault is reported as a
** failure of that case.
**
** Models: random ones from build/tools/mkgguf in every tensor type and with
** odd widths, and stories260K.gguf, stories260K.bin + tok512.bin (../shared).
*/
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "l4lm.h"
#include "gguf_write.h"
#include "t.h"

#define PATTERN 0xA5
#define N_CTX   48

/* size bytes between guard pages, flush against the upper one or the lower one. */
typedef struct guarded {
    uint8_t *map, *p, *body;
    size_t map_size, body_size, n;
} guarded;

static size_t page(void)
{
    return (size_t)sysconf(_SC_PAGESIZE);
}

static int guard_alloc(guarded *g, size_t n, int flush_end)
{
    size_t pg = page();
    g->n = n;
    g->body_size = (n + pg - 1) / pg * pg;
    g->map_size = g->body_size + 2 * pg;
    g->map = mmap(NULL, g->map_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (g->map == MAP_FAILED)
        return -1;
    g->body = g->map + pg;
    if (mprotect(g->body, g->body_size, PROT_READ | PROT_WRITE))
        return -1;
    memset(g->body, PATTERN, g->body_size);
    g->p = flush_end ? g->body + g->body_size - n : g->body;
    return 0;
}

/* The slack beside the object still holds the pattern. */
static int slack_intact(const guarded *g)
{
    for (const uint8_t *q = g->body; q < g->body + g->body_size; q++)
        if ((q < g->p || q >= g->p + g->n) && *q != PATTERN)
            return 0;
    return 1;
}

/* A read-only copy of bytes; flush_end needs a 4-byte aligned start (model open). */
static int guard_readonly(guarded *g, const unsigned char *bytes, size_t n, int flush_end)
{
    if (guard_alloc(g, n, flush_end))
        return -1;
    memcpy(g->p, bytes, n);
    return mprotect(g->body, g->body_size, PROT_READ);
}

typedef struct bounds_case {
    const char *name;
    const unsigned char *model, *tok;
    size_t model_size, tok_size;
} bounds_case;

/* Fails the case from inside the child. */
#define CHILD_FAIL(...) (T_FAIL(__VA_ARGS__), exit(3))

/* Every arena size below the plan is refused and leaves the arena untouched. */
static void short_arenas(const char *name, const l4lm_model *m, const l4lm_run_opts *o,
                         size_t total, int flush_end)
{
    size_t shorter[3] = {total - 1, total - 64, total / 2};
    for (int i = 0; i < 3; i++) {
        guarded a;
        l4lm_session *s = NULL;
        /* a start 64-aligned below the guard: the arena ends short of it */
        if (guard_alloc(&a, total, flush_end))
            CHILD_FAIL(name, "mmap");
        l4lm_status st = l4lm_session_init(&s, m, o, a.p, shorter[i]);
        a.n = 0; /* all of the body must keep the pattern */
        if (st != L4LM_E_ARENA || !slack_intact(&a))
            CHILD_FAIL(name, "arena of %zu of %zu bytes: %s, %s", shorter[i], total,
                       l4lm_strerror(st), slack_intact(&a) ? "untouched" : "written");
        munmap(a.map, a.map_size);
    }
}

/*
** Tokenize prompts of exactly the allowed length and one byte more. Spaces
** grow most in normalisation ("▁" is 3 bytes); a run of one letter makes
** every neighbouring pair a candidate merge (a full pair heap); invalid
** UTF-8 goes byte by byte.
*/
static void longest_prompt(const char *name, l4lm_session *s, uint32_t max_bytes)
{
    static const char *const fills[] = {" ", "a", "e", " a", "ab", "\xc3"};
    char *text = malloc(max_bytes + 1);
    size_t cap = 3 * ((size_t)max_bytes + 1) + 1, n; /* BOS, prefix, bytes */
    int32_t *ids = malloc(cap * sizeof *ids);
    l4lm_status st;
    for (size_t f = 0; f < sizeof fills / sizeof *fills; f++) {
        for (uint32_t i = 0; i <= max_bytes; i++)
            text[i] = fills[f][i % strlen(fills[f])];
        if ((st = l4lm_tokenize(s, text, max_bytes, L4LM_TOK_BOS, ids, cap, &n)))
            CHILD_FAIL(name, "longest prompt of '%s': %s", fills[f], l4lm_strerror(st));
    }
    st = l4lm_tokenize(s, text, max_bytes + 1, L4LM_TOK_BOS, ids, cap, &n);
    if (st != L4LM_E_PROMPT_TOO_LONG)
        CHILD_FAIL(name, "prompt one byte too long: %s", l4lm_strerror(st));
    free(text);
    free(ids);
}

/* Prompt, then sample / detokenize / feed back until the context is full. */
static void generate(const char *name, l4lm_session *s, const l4lm_model *m)
{
    int32_t ids[64], tok;
    size_t n;
    char text[600];
    l4lm_status st = l4lm_tokenize(s, "Once upon a time", 16, L4LM_TOK_BOS, ids, 64, &n);
    if (st || (st = l4lm_eval(s, ids, n, NULL)))
        CHILD_FAIL(name, "prompt: %s", l4lm_strerror(st));
    l4lm_sampler sp = {0.9f, 20, 0.95f, 0.02f, 1.1f, -1, 7};
    l4lm_detok d = {.after_bos = true};
    while (l4lm_session_pos(s) < N_CTX) {
        if ((st = l4lm_sample(s, &sp, &tok)) || tok < 0 || (uint32_t)tok >= t_n_vocab(m))
            CHILD_FAIL(name, "sample at %u: %s", l4lm_session_pos(s), l4lm_strerror(st));
        l4lm_detok_push(s, &d, tok, text, sizeof text, &st);
        if ((st = l4lm_eval(s, &tok, 1, NULL)))
            CHILD_FAIL(name, "eval at %u: %s", l4lm_session_pos(s), l4lm_strerror(st));
    }
    if ((st = l4lm_eval(s, &tok, 1, NULL)) != L4LM_E_CONTEXT_FULL)
        CHILD_FAIL(name, "past the context: %s", l4lm_strerror(st));
    /* and the whole context again in one prefill, batch by batch */
    int32_t full[N_CTX];
    for (uint32_t i = 0; i < N_CTX; i++)
        full[i] = (int32_t)((i * 37u + 1) % t_n_vocab(m));
    l4lm_session_reset(s);
    if ((st = l4lm_eval(s, full, N_CTX, NULL)) || (st = l4lm_sample(s, &sp, &tok)))
        CHILD_FAIL(name, "full prefill: %s", l4lm_strerror(st));
}

static void run_case(const bounds_case *c, const l4lm_run_opts *o, int flush_end)
{
    char name[160];
    snprintf(name, sizeof name, "bounds %s, %s, kv %s, batch %u", c->name,
             flush_end ? "against the upper guard" : "against the lower guard",
             o->kv_type == L4LM_KV_F16 ? "f16" : "f32", o->n_batch ? o->n_batch : 32);
    if (flush_end && c->model_size % 4) {
        T_SKIP(name, "model size %zu is not a multiple of 4", c->model_size);
        return;
    }
    guarded model, tok = {0}, arena;
    l4lm_model m;
    l4lm_plan_result p;
    l4lm_session *s;
    if (guard_readonly(&model, c->model, c->model_size, flush_end) ||
        (c->tok && guard_readonly(&tok, c->tok, c->tok_size, flush_end)))
        CHILD_FAIL(name, "mmap");
    void *index; /* this child exits before freeing anything */
    l4lm_status st = t_model_open(&m, model.p, c->model_size, tok.p, c->tok_size, &index);
    if (st || (st = l4lm_plan(&m, o, &p)))
        CHILD_FAIL(name, "open/plan: %s (%s)", l4lm_strerror(st), l4lm_model_error(&m)->what);
    short_arenas(name, &m, o, p.total, flush_end);
    if (guard_alloc(&arena, p.total, flush_end) ||
        (st = l4lm_session_init(&s, &m, o, arena.p, p.total)))
        CHILD_FAIL(name, "session in %zu bytes: %s", p.total, l4lm_strerror(st));
    longest_prompt(name, s, o->max_prompt_bytes);
    generate(name, s, &m);
    if (!slack_intact(&arena))
        CHILD_FAIL(name, "a byte beside the arena was written");
    T_OK(name);
    printf("  arena %zu bytes (session %zu, kv %zu, activations %zu, scratch %zu, tokenizer %zu)\n",
           p.total, p.session, p.kv_cache, p.activations, p.scratch, p.tokenizer);
}

/* Both placements and both KV types, each in a child: a fault fails that case only. */
static void check_model(const bounds_case *c)
{
    l4lm_run_opts opts[2] = {
        {.n_ctx = N_CTX, .kv_type = L4LM_KV_F16, .max_prompt_bytes = 200},
        {.n_ctx = N_CTX, .kv_type = L4LM_KV_F32, .n_batch = 7, .max_prompt_bytes = 333},
    };
    for (int flush_end = 1; flush_end >= 0; flush_end--) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            run_case(c, &opts[flush_end], flush_end);
            fflush(stdout);
            _exit(0);
        }
        int st;
        waitpid(pid, &st, 0);
        if (!WIFEXITED(st) || (WEXITSTATUS(st) != 0 && WEXITSTATUS(st) != 3))
            T_FAIL("bounds", "%s (%s placement) died: %s %d", c->name,
                   flush_end ? "upper" : "lower", WIFSIGNALED(st) ? "signal" : "exit status",
                   WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
        else if (WEXITSTATUS(st) == 3)
            t_failed = 1;
    }
}

/* A random model from tools/mkgguf with the given type and shape, read into memory. */
static unsigned char *random_model(const char *args, size_t *size)
{
    const char *tool =
        access("build/tools/mkgguf", X_OK) == 0 ? "build/tools/mkgguf" : "build-asan/tools/mkgguf";
    char path[] = "/tmp/l4lm-bounds-XXXXXX", cmd[512];
    int fd = mkstemp(path);
    if (fd < 0)
        return NULL;
    close(fd);
    snprintf(cmd, sizeof cmd, "%s -o %s %s --n-layer 2 --ctx 64 --untied >/dev/null 2>&1", tool,
             path, args);
    unsigned char *bytes = system(cmd) == 0 ? t_read_file(path, size) : NULL;
    unlink(path);
    return bytes;
}

int main(void)
{
    /* Every tensor type; then odd widths, so no row is a whole number of SIMD
    ** vectors. The 400-token vocabulary has the pieces "a" and "aa": a run of
    ** a makes every neighbouring pair a merge candidate (a full pair heap). */
    static const char *const models[][2] = {
        {"mkgguf f32", "--type f32 --n-embd 64 --n-ff 96 --n-head 4 --n-head-kv 2 --n-vocab 400"},
        {"mkgguf f16", "--type f16 --n-embd 64 --n-ff 96 --n-head 4 --n-head-kv 2 --n-vocab 400"},
        {"mkgguf bf16", "--type bf16 --n-embd 64 --n-ff 96 --n-head 4 --n-head-kv 2 --n-vocab 400"},
        {"mkgguf q8_0", "--type q8_0 --n-embd 64 --n-ff 96 --n-head 4 --n-head-kv 2 --n-vocab 400"},
        {"mkgguf q4_0", "--type q4_0 --n-embd 64 --n-ff 96 --n-head 4 --n-head-kv 2 --n-vocab 400"},
        {"mkgguf f32 odd", "--type f32 --n-embd 14 --n-ff 22 --n-head 7 --n-vocab 301"},
        {"mkgguf f16 odd", "--type f16 --n-embd 6 --n-ff 10 --n-head 1 --n-vocab 263"},
        {"mkgguf bf16 odd", "--type bf16 --n-embd 10 --n-ff 14 --n-head 5 --n-vocab 263"},
    };
    for (size_t i = 0; i < sizeof models / sizeof *models; i++) {
        bounds_case c = {models[i][0], NULL, NULL, 0, 0};
        unsigned char *bytes = random_model(models[i][1], &c.model_size);
        if (!bytes) {
            T_SKIP("bounds", "%s: build/tools/mkgguf did not run", c.name);
            continue;
        }
        c.model = bytes;
        check_model(&c);
        free(bytes);
    }
    if (!t_shared()) {
        T_SKIP("bounds stories260K", "../shared/models is absent");
        T_EXIT();
    }
    bounds_case g = {"stories260K.gguf", NULL, NULL, 0, 0},
                b = {"stories260K.bin", NULL, NULL, 0, 0};
    unsigned char *gguf = t_shared_file("models/stories260K.gguf", &g.model_size);
    unsigned char *bin = t_shared_file("models/stories260K.bin", &b.model_size);
    unsigned char *tok = t_shared_file("models/tok512.bin", &b.tok_size);
    if (!gguf || !bin || !tok) {
        T_FAIL("bounds", "cannot read the stories260K files");
        T_EXIT();
    }
    g.model = gguf;
    b.model = bin;
    b.tok = tok;
    check_model(&g);
    check_model(&b);
    free(gguf);
    free(bin);
    free(tok);
    T_EXIT();
}
