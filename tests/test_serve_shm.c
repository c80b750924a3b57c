/*
** test_serve_shm.c — the service protocol as two processes: `l4lm
** serve-shm` (the ASan/UBSan build when run with --asan) and this program
** as its clients, over memfd regions and doorbells.
**
**  - a greedy story streams exactly the golden token ids (llama2.c, in
**    ../shared/reference) and the text `l4lm run` prints; a sampled one
**    (seed, top-k/p, min-p, repetition penalty) the same text as `l4lm run`;
**  - the same prompt again reuses the cached tokens and gives the golden
**    ids; a context shift, a grammar (as `l4lm run`), a malformed grammar;
**  - two clients at the same time each get their own correct answer;
**  - a cancel stops the request within one token (with the response ring
**    full, none at all is generated after it), and the next request is served;
**  - a hostile child process scribbles over its region and abuses its
**    doorbell, reconnecting now and then, for 30 s (--asan; 3 s otherwise)
**    while this process must keep getting exact answers; the server maps
**    every region between PROT_NONE guard pages and must exit cleanly.
*/
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "serve_hostile.h"
#include "serve_shm.h"
#include "shm_request.h"
#include "t.h"
#include "t_spawn.h"

#define N_GEN 200

static const char *bin, *model;
static char sock_path[128], log_path[128];
static int32_t golden_once[N_GEN], golden_lily[N_GEN];

typedef struct result {
    int32_t ids[1024];
    uint32_t n_ids;
    char text[1 << 15];
    size_t n_text;
    l4lm_shm_event done;
    bool finished;
} result;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The 200 greedy ids of llama2.c for one case of ../shared/reference. */
static bool golden(const char *shared, const char *name, int32_t *ids)
{
    char path[4200];
    size_t size;
    snprintf(path, sizeof path, "%s/reference/%s.json", shared, name);
    char *json = (char *)t_read_file(path, &size);
    char *p = json ? strstr(json, "\"llama2c_fp32\"") : NULL;
    p = p ? strstr(p, "\"generated_ids\"") : NULL;
    p = p ? strchr(p, '[') : NULL;
    int n = 0;
    while (p && n < N_GEN) {
        char *end;
        long v = strtol(p + 1, &end, 10);
        if (end == p + 1)
            break;
        ids[n++] = (int32_t)v;
        p = strchr(end, ',');
    }
    free(json);
    return n == N_GEN;
}

/* stdout of `l4lm run ARGS`, or NULL. */
static char *run_text(const char *args)
{
    char cmd[1024];
    static char out[1 << 15];
    snprintf(cmd, sizeof cmd, "%s run -m %s --ctx 512 --threads 1 %s 2>/dev/null", bin, model,
             args);
    FILE *f = popen(cmd, "r");
    if (!f)
        return NULL;
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = 0;
    return pclose(f) == 0 ? out : NULL;
}

static pid_t start_server(void)
{
    const char *argv[] = {bin, "serve-shm", "-m", model,      "--ctx",   "512", "--clients",
                          "3", "--threads", "1",  "--socket", sock_path, NULL};
    return t_spawn(log_path, argv);
}

/* Greedy, everything else off (as `l4lm run --temp 0` with its defaults). */
static const l4lm_sampler GREEDY = {0.0f, 0, 1.0f, 0.0f, 1.0f, 64, 0};
/* The sampled case: every option of the chain on. */
static const l4lm_sampler SAMPLED = {0.8f, 40, 0.95f, 0.05f, 1.1f, 64, 42};

/* Add one event of request id to r; true once it is done. */
static bool take(result *r, uint32_t id, const l4lm_shm_event *ev)
{
    if (ev->id != id)
        return false;
    if (ev->kind == L4LM_SHM_DONE) {
        r->done = *ev;
        r->finished = true;
        return true;
    }
    if (ev->kind == L4LM_SHM_TOKEN && r->n_ids < 1024)
        r->ids[r->n_ids++] = ev->value;
    if (r->n_text + ev->len < sizeof r->text) {
        memcpy(r->text + r->n_text, ev->text, ev->len);
        r->n_text += ev->len;
    }
    return false;
}

/* Send a request and read its whole answer (60 s without an event is a failure). */
static bool ask(l4lm_shm_conn *k, const l4lm_shm_request *rq, result *r)
{
    uint32_t id;
    l4lm_shm_event ev;
    memset(r, 0, sizeof *r);
    if (l4lm_shm_submit_wait(k, rq, &id))
        return false;
    while (l4lm_shm_next_wait(k, &ev, 60000) > 0)
        if (take(r, id, &ev))
            return true;
    return false;
}

static bool same_ids(const result *r, const int32_t *want, uint32_t n)
{
    return r->finished && r->n_ids == n && !memcmp(r->ids, want, n * sizeof *want) &&
           r->done.n_gen == n;
}

/* The client's text as `l4lm run` prints it: the prompt, the continuation, a newline. */
static bool same_text(const result *r, const char *prompt, const char *run)
{
    size_t np = strlen(prompt);
    return run && r->finished && strlen(run) == np + r->n_text + 1 && !strncmp(run, prompt, np) &&
           !memcmp(run + np, r->text, r->n_text) && run[np + r->n_text] == '\n';
}

static const char *sampled_run;

static void test_parity(l4lm_shm_conn *k)
{
    static result r;
    l4lm_shm_request rq = shm_request("Once upon a time", N_GEN, GREEDY, L4LM_SHM_IGNORE_EOS);
    bool ok = ask(k, &rq, &r);
    T_CHECK("shm_greedy_equals_golden_ids", ok && same_ids(&r, golden_once, N_GEN),
            "finished %d, %u ids, status %u", r.finished, r.n_ids, r.done.status);
    const char *run = run_text("-p 'Once upon a time' -n 200 --temp 0 --ignore-eos");
    T_CHECK("shm_greedy_equals_run", same_text(&r, "Once upon a time", run), "text differs");
    rq = shm_request("Lily and Tom", 150, SAMPLED, 0);
    ok = ask(k, &rq, &r);
    /* kept: run_text's buffer is used again by later tests */
    sampled_run = run_text("-p 'Lily and Tom' -n 150 --temp 0.8 --top-k 40 --top-p 0.95 "
                           "--min-p 0.05 --repeat-penalty 1.1 --repeat-last-n 64 --seed 42");
    sampled_run = sampled_run ? strdup(sampled_run) : NULL;
    T_CHECK("shm_sampled_equals_run", ok && same_text(&r, "Lily and Tom", sampled_run),
            "text differs (status %u, %u tokens)", r.done.status, r.n_ids);
}

/*
** The request fields beyond sampling, through the real server: the same
** prompt again on this connection reuses its cached tokens and still gives
** the golden ids; a context shift goes past the 512-token context as `l4lm
** run --context-shift --keep` does; a grammar gives `l4lm run
** --grammar-file`'s text; a malformed grammar gets bad-grammar.
*/
static void test_fields(l4lm_shm_conn *k)
{
    static result r;
    l4lm_shm_request rq = shm_request("Once upon a time", N_GEN, GREEDY, L4LM_SHM_IGNORE_EOS);
    bool ok = ask(k, &rq, &r) && ask(k, &rq, &r);
    T_CHECK("shm_reuse_equals_golden_ids",
            ok && same_ids(&r, golden_once, N_GEN) && r.done.value == (int32_t)r.done.n_prompt - 1,
            "%u ids, %d of %u prompt tokens reused", r.n_ids, r.done.value, r.done.n_prompt);
    rq = shm_request("Once upon a time", 700, GREEDY, L4LM_SHM_IGNORE_EOS | L4LM_SHM_CONTEXT_SHIFT);
    rq.n_keep = 4;
    ok = ask(k, &rq, &r);
    const char *run =
        run_text("-p 'Once upon a time' -n 700 --temp 0 --ignore-eos --context-shift --keep 4");
    T_CHECK("shm_context_shift_equals_run",
            ok && r.done.status == L4LM_SHM_LENGTH && r.done.n_gen == 700 &&
                same_text(&r, "Once upon a time", run),
            "status %u, %u tokens", r.done.status, r.done.n_gen);
    static const char gbnf[] = "root ::= \" \" [a-z ,]+ \".\"\n";
    char path[160], args[400];
    snprintf(path, sizeof path, "/tmp/l4lm-shm-test-%d.gbnf", (int)getpid());
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(gbnf, f);
        fclose(f);
    }
    rq = shm_request("Once upon a time", 80, SAMPLED, L4LM_SHM_GRAMMAR);
    rq.grammar = gbnf;
    rq.grammar_len = sizeof gbnf - 1;
    ok = ask(k, &rq, &r);
    snprintf(args, sizeof args,
             "-p 'Once upon a time' -n 80 --temp 0.8 --top-k 40 --top-p 0.95 --min-p 0.05 "
             "--repeat-penalty 1.1 --repeat-last-n 64 --seed 42 --grammar-file %s",
             path);
    run = run_text(args);
    unlink(path);
    T_CHECK("shm_grammar_equals_run", ok && same_text(&r, "Once upon a time", run),
            "status %u: '%.*s'", r.done.status, (int)r.n_text, r.text);
    rq.grammar = "root ::= [a-";
    rq.grammar_len = (uint32_t)strlen(rq.grammar);
    ok = ask(k, &rq, &r);
    T_CHECK("shm_grammar_malformed", ok && r.done.status == L4LM_SHM_E_GRAMMAR && !r.n_ids,
            "status %u", r.done.status);
}

/*
** Two clients at once. The first one's answer is not read until the second's
** is complete: its response ring fills and its request waits, so the second
** client can only finish if the server serves both at the same time.
*/
static void test_concurrent(l4lm_shm_conn *a, l4lm_shm_conn *b)
{
    static result ra, rb;
    l4lm_shm_request qa = shm_request("Once upon a time", N_GEN, GREEDY, L4LM_SHM_IGNORE_EOS);
    l4lm_shm_request qb = shm_request("Lily and Tom", N_GEN, GREEDY, L4LM_SHM_IGNORE_EOS);
    uint32_t ia, ib, a_done_early = 0;
    l4lm_shm_event ev;
    memset(&ra, 0, sizeof ra);
    memset(&rb, 0, sizeof rb);
    bool sent = !l4lm_shm_submit_wait(a, &qa, &ia) && !l4lm_shm_submit_wait(b, &qb, &ib);
    while (sent && l4lm_shm_next_wait(b, &ev, 60000) > 0 && !take(&rb, ib, &ev))
        ;
    for (uint32_t i = a->c.held; i < l4lm_shm_ring_avail(&a->c.resp); i++) /* past the held one */
        a_done_early +=
            ((const l4lm_shm_resp *)l4lm_shm_ring_slot(&a->c.resp, i))->kind == L4LM_SHM_DONE;
    while (sent && l4lm_shm_next_wait(a, &ev, 60000) > 0 && !take(&ra, ia, &ev))
        ;
    T_CHECK("shm_concurrent_second_correct", same_ids(&rb, golden_lily, N_GEN) && !a_done_early,
            "%u ids, first request done already: %u", rb.n_ids, a_done_early);
    T_CHECK("shm_concurrent_first_correct", same_ids(&ra, golden_once, N_GEN), "%u ids", ra.n_ids);
}

/* Cancel while the server waits for room: nothing may be generated after it. */
static void test_cancel(l4lm_shm_conn *k)
{
    static result r;
    l4lm_shm_request rq = shm_request("Once upon a time", 400, GREEDY, L4LM_SHM_IGNORE_EOS);
    uint32_t id, queued = 0;
    memset(&r, 0, sizeof r);
    l4lm_shm_submit_wait(k, &rq, &id);
    l4lm_shm_ring *resp = (l4lm_shm_ring *)(k->region + k->c.lay.resp_ring);
    double end = now() + 30;
    while (!__atomic_load_n(&resp->producer_waiting, __ATOMIC_ACQUIRE) && now() < end)
        usleep(1000);
    for (uint32_t i = k->c.held; i < l4lm_shm_ring_avail(&k->c.resp); i++) {
        const l4lm_shm_resp *m = l4lm_shm_ring_slot(&k->c.resp, i);
        queued += m->kind == L4LM_SHM_TOKEN;
    }
    l4lm_shm_client_cancel(&k->c, id);
    l4lm_shm_event ev;
    while (l4lm_shm_next_wait(k, &ev, 60000) > 0 && !take(&r, id, &ev))
        ;
    T_CHECK("shm_cancel_within_one_token",
            queued > 0 && r.finished && r.done.status == L4LM_SHM_CANCELLED && r.n_ids == queued &&
                r.done.n_gen == queued && !memcmp(r.ids, golden_once, queued * sizeof *r.ids),
            "%u tokens queued at the cancel, %u received, status %u, usage %u", queued, r.n_ids,
            r.done.status, r.done.n_gen);
    rq = shm_request("Once upon a time", 60, GREEDY, L4LM_SHM_IGNORE_EOS);
    T_CHECK("shm_served_after_cancel", ask(k, &rq, &r) && same_ids(&r, golden_once, 60), "%u ids",
            r.n_ids);
}

/* A region as the server maps it: both its ends usable, the bytes past them fault. */
static void test_guard_pages(void)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE), size = 4 * pg;
    int faults = 0;
    for (int side = 0; side < 2; side++) {
        pid_t p = fork();
        if (p == 0) {
            int fd = memfd_create("guard-test", 0);
            volatile uint8_t *r =
                fd >= 0 && !ftruncate(fd, (off_t)size) ? l4lm_shm_map_guarded(fd, size) : NULL;
            if (!r)
                _exit(2);
            r[0] = 1;
            r[size - 1] = 1;
            dup2(open("/dev/null", O_WRONLY), 2); /* ASan reports the fault it catches */
            (void)(side ? r[size] : r[-1]);
            _exit(0);
        }
        int st = 0;
        waitpid(p, &st, 0);
        /* A plain build dies of SIGSEGV; under ASan its handler reports and exits 1. */
        faults +=
            (WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV) || (WIFEXITED(st) && WEXITSTATUS(st) == 1);
    }
    T_CHECK("shm_region_guard_pages", faults == 2, "%d of 2 stray accesses faulted", faults);
}

/* ---- the hostile child ---- */

static void hostile_child(double seconds, int report)
{
    hostile_stats st = {0};
    uint64_t seed = (uint64_t)getpid(), connections = 0;
    double end = now() + seconds;
    char err[256];
    while (now() < end) {
        l4lm_shm_conn k;
        if (l4lm_shm_connect(&k, sock_path, 2000, err, sizeof err)) {
            fprintf(stderr, "hostile: %s\n", err);
            usleep(10000);
            continue;
        }
        connections++;
        l4lm_shm_header h = k.c.lay;
        bool bell = true;
        if (hostile_rnd(&seed) % 4 == 0) {
            /* A full counter on a blocking eventfd: a server that wrote or read it would hang. */
            uint64_t full = 0xfffffffffffffffeull;
            fcntl(k.bell, F_SETFL, fcntl(k.bell, F_GETFL) & ~O_NONBLOCK);
            bell = write(k.bell, &full, sizeof full) != sizeof full;
        }
        double until = now() + 0.2 + (hostile_rnd(&seed) % 1000) / 1000.0;
        for (uint32_t n = 0; now() < until && now() < end; n++) {
            if (hostile_move(k.region, &h, (uint32_t)k.size, &seed, &st) && bell) {
                uint64_t one = 1;
                if (write(k.bell, &one, sizeof one) < 0)
                    bell = false;
            }
            if (n % 64 == 0) {
                if (hostile_rnd(&seed) % 8 == 0)
                    send(k.sock, "junk", 4, MSG_DONTWAIT | MSG_NOSIGNAL);
                usleep(50); /* leave the two cores some air */
            }
        }
        l4lm_shm_disconnect(&k);
    }
    dprintf(report, "%llu %llu %llu %llu %llu\n", (unsigned long long)connections,
            (unsigned long long)st.moves, (unsigned long long)st.requests,
            (unsigned long long)st.responses, (unsigned long long)st.errors);
    _exit(0);
}

static void test_hostile(l4lm_shm_conn *k, pid_t server, double seconds)
{
    static result r;
    int fds[2];
    if (pipe(fds)) {
        T_FAIL("shm_hostile", "pipe");
        return;
    }
    pid_t child = fork();
    if (child == 0) {
        close(fds[0]);
        hostile_child(seconds, fds[1]);
    }
    close(fds[1]);
    uint32_t served = 0, wrong = 0;
    int status;
    pid_t reaped = 0;
    while ((reaped = waitpid(child, &status, WNOHANG)) == 0) {
        bool greedy = served % 2 == 0;
        l4lm_shm_request rq =
            greedy ? shm_request("Once upon a time", N_GEN, GREEDY, L4LM_SHM_IGNORE_EOS)
                   : shm_request("Lily and Tom", 150, SAMPLED, 0);
        bool ok = ask(k, &rq, &r) && (greedy ? same_ids(&r, golden_once, N_GEN)
                                             : same_text(&r, "Lily and Tom", sampled_run));
        wrong += !ok;
        served++;
        if (!ok && !r.finished)
            break; /* the server stopped answering */
    }
    unsigned long long conn = 0, moves = 0, reqs = 0, resps = 0, errs = 0;
    FILE *f = fdopen(fds[0], "r");
    if ((reaped == child || waitpid(child, &status, 0) == child) && f)
        fscanf(f, "%llu %llu %llu %llu %llu", &conn, &moves, &reqs, &resps, &errs);
    if (f)
        fclose(f);
    printf("# hostile %.0f s: %llu connections, %llu moves, %llu requests pushed, %llu answered "
           "(%llu errors); good client: %u requests\n",
           seconds, conn, moves, reqs, resps, errs, served);
    T_CHECK("shm_hostile_good_client_exact", served >= 3 && !wrong, "%u of %u good requests wrong",
            wrong, served);
    T_CHECK("shm_hostile_client_was_served", conn >= 2 && resps >= 10 && errs > 0,
            "the hostile client got %llu answers over %llu connections", resps, conn);
    T_CHECK("shm_server_alive_after_hostile", waitpid(server, &status, WNOHANG) == 0,
            "the server died (status %d)", status);
}

int main(int argc, char **argv)
{
    bool asan = argc > 1 && !strcmp(argv[1], "--asan");
    const char *shared = t_shared();
    static char model_path[4200];
    bin = asan ? "build-asan/l4lm" : "build/l4lm";
    if (!shared || access(bin, X_OK)) {
        test_guard_pages();
        T_SKIP("shm_two_processes", "%s", shared ? "no l4lm binary" : "../shared is absent");
        T_EXIT();
    }
    test_guard_pages();
    snprintf(model_path, sizeof model_path, "%s/models/stories260K.gguf", shared);
    model = model_path;
    if (!golden(shared, "once_upon_a_time", golden_once) ||
        !golden(shared, "lily_and_tom", golden_lily)) {
        T_FAIL("shm_golden", "cannot read the reference ids");
        T_EXIT();
    }
    snprintf(sock_path, sizeof sock_path, "/tmp/l4lm-shm-test-%d.sock", (int)getpid());
    snprintf(log_path, sizeof log_path, "/tmp/l4lm-shm-test-%d.log", (int)getpid());
    pid_t server = start_server();
    l4lm_shm_conn a, b;
    char err[256];
    if (l4lm_shm_connect(&a, sock_path, 20000, err, sizeof err) ||
        l4lm_shm_connect(&b, sock_path, 2000, err, sizeof err)) {
        T_FAIL("shm_connect", "%s", err);
        kill(server, SIGKILL);
        T_EXIT();
    }
    test_parity(&a);
    test_fields(&a);
    test_concurrent(&a, &b);
    test_cancel(&a);
    l4lm_shm_disconnect(&b); /* leave a slot for the hostile client's reconnections */
    test_hostile(&a, server, asan ? 30 : 3);
    l4lm_shm_disconnect(&a);
    int status = 0;
    kill(server, SIGTERM);
    waitpid(server, &status, 0);
    T_CHECK("shm_server_clean_exit", WIFEXITED(status) && WEXITSTATUS(status) == 0,
            "server %s %d (log: %s)", WIFEXITED(status) ? "exit status" : "signal",
            WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), log_path);
    if (!t_failed)
        unlink(log_path);
    T_EXIT();
}
