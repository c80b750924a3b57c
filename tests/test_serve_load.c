/*
** test_serve_load.c — `l4lm serve` under hostile clients, on loopback only;
** every phase is bounded in connections and seconds.
**
**  - 256 slowloris connections from 127.0.0.2 (a header line every second,
**    reconnecting when dropped) while 200 normal requests come from
**    127.0.0.1: every normal request is answered (--max-conn-per-ip);
**  - with --timeout 2, connections that trickle headers are closed within
**    the timeout although they are never idle, and SIGTERM ends the server
**    at once while such connections are open;
**  - the work of a body of token ids grows with its size, not its square:
**    the server's CPU time for 8 bodies of 512000 ids against 64 of 64000 (the
**    same bytes) — a quadratic parse makes the first 8 times the second;
**  - a request followed by shutdown(SHUT_WR) (a half-close) is answered.
** L4LM_BIN names another binary (to measure an older build).
*/
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "t.h"
#include "t_spawn.h"

/* ok with the figures, or FAIL with them */
#define REPORT(name, cond, ...)                                                                    \
    ((cond) ? t_report("ok", name, __VA_ARGS__) : (void)T_FAIL(name, __VA_ARGS__))

#define SLOW_CONNS  256
#define NORMAL_REQS 200

static const char *bin;
static char model[4200], log_path[128];

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Start `l4lm serve` on a free port with extra options; its port, or 0. */
static int start(pid_t *pid, const char *const *extra)
{
    const char *argv[32] = {bin, "serve", "-m", model, "--port", "0"};
    int n = 6;
    for (; extra && *extra && n < 30; extra++)
        argv[n++] = *extra;
    argv[n] = NULL;
    *pid = t_spawn(log_path, argv);
    for (int i = 0; i < 200; i++) { /* up to 20 s for the model to load */
        usleep(100000);
        size_t size;
        char *log = (char *)t_read_file(log_path, &size);
        char *p = log ? strstr(log, "http://127.0.0.1:") : NULL;
        int port = p ? atoi(p + 17) : 0;
        free(log);
        if (port)
            return port;
    }
    return 0;
}

/* A TCP connection to the server from the loopback address src (non-blocking if asked). */
static int dial(int port, const char *src, bool nonblock)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, src, &a.sin_addr);
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a)) {
        if (s >= 0)
            close(s);
        return -1;
    }
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    a.sin_port = htons((uint16_t)port);
    if (connect(s, (struct sockaddr *)&a, sizeof a) && errno != EINPROGRESS) {
        close(s);
        return -1;
    }
    return s;
}

/* Send a request and read the answer until the server closes; the status, or 0. */
static int ask(int port, const char *src, const char *req, size_t len, bool half_close)
{
    int s = dial(port, src, false);
    if (s < 0)
        return 0;
    struct timeval tv = {10, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    for (size_t off = 0; off < len;) {
        ssize_t k = send(s, req + off, len - off, MSG_NOSIGNAL);
        if (k <= 0)
            break;
        off += (size_t)k;
    }
    if (half_close)
        shutdown(s, SHUT_WR);
    char buf[4096];
    ssize_t got = 0, k;
    while (got < (ssize_t)sizeof buf - 1 && (k = recv(s, buf + got, sizeof buf - 1 - got, 0)) > 0)
        got += k;
    buf[got] = 0;
    close(s);
    int status = 0;
    return sscanf(buf, "HTTP/1.1 %d", &status) == 1 ? status : 0;
}

static int post(int port, const char *src, const char *body, size_t n, bool half_close)
{
    size_t cap = n + 256;
    char *req = malloc(cap);
    int len = snprintf(req, cap,
                       "POST /v1/completions HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                       "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                       n);
    memcpy(req + len, body, n);
    int st = ask(port, src, req, (size_t)len + n, half_close);
    free(req);
    return st;
}

/*
** A child that keeps n connections from src trickling header lines (one
** every `every` seconds per connection), reconnecting those the server
** drops, for `seconds`; it writes to fd `out` how many the server closed
** and the longest life of one it closed.
*/
typedef struct slow_report {
    long closed;
    double longest;
} slow_report;

static pid_t slowloris(int port, const char *src, int n, double every, double seconds, int out)
{
    pid_t p = fork();
    if (p)
        return p;
    int fd[SLOW_CONNS];
    double next[SLOW_CONNS], born[SLOW_CONNS];
    bool started[SLOW_CONNS];
    slow_report r = {0, 0};
    double t0 = now();
    for (int i = 0; i < n; i++)
        fd[i] = -1;
    for (double t = t0; t - t0 < seconds; t = now()) {
        for (int i = 0; i < n; i++) {
            char junk[64];
            if (fd[i] >= 0 && recv(fd[i], junk, sizeof junk, MSG_DONTWAIT) == 0) {
                close(fd[i]); /* dropped by the server: come back */
                fd[i] = -1;
                r.closed++;
                r.longest = t - born[i] > r.longest ? t - born[i] : r.longest;
            }
            if (fd[i] < 0 && (fd[i] = dial(port, src, true)) >= 0) {
                born[i] = next[i] = t;
                started[i] = false;
            }
            if (fd[i] >= 0 && t >= next[i]) {
                const char *line = started[i] ? "X-Slow: a\r\n" : "GET /health HTTP/1.1\r\n";
                send(fd[i], line, strlen(line), MSG_NOSIGNAL);
                started[i] = true;
                next[i] = t + every;
            }
        }
        usleep(20000);
    }
    if (write(out, &r, sizeof r) < 0)
        _exit(1);
    _exit(0);
}

static slow_report slow_result(pid_t p, int rd)
{
    slow_report r = {-1, 0};
    waitpid(p, NULL, 0);
    if (read(rd, &r, sizeof r) != sizeof r)
        r.closed = -1;
    return r;
}

static const char small[] = "{\"prompt\":\"Once upon a time\",\"max_tokens\":2}";

static void test_slowloris(int port)
{
    int pfd[2];
    if (pipe(pfd))
        return;
    pid_t p = slowloris(port, "127.0.0.2", SLOW_CONNS, 1.0, 20, pfd[1]);
    usleep(1500000); /* let them take what they can */
    int answered = 0, statuses[600] = {0};
    double t0 = now();
    for (int i = 0; i < NORMAL_REQS && now() - t0 < 15; i++) {
        int st = post(port, "127.0.0.1", small, sizeof small - 1, false);
        answered += st == 200;
        statuses[st < 600 ? st : 0]++;
    }
    double dt = now() - t0;
    kill(p, SIGTERM);
    waitpid(p, NULL, 0);
    close(pfd[0]);
    close(pfd[1]);
    if (answered == NORMAL_REQS)
        t_report("ok", "http_slowloris",
                 "%d slow connections open, %d of %d normal requests "
                 "answered 200 in %.1f s",
                 SLOW_CONNS, answered, NORMAL_REQS, dt);
    else
        T_FAIL("http_slowloris", "%d of %d answered 200 (%d with no answer) in %.1f s", answered,
               NORMAL_REQS, statuses[0], dt);
}

/* Trickled headers are cut at --timeout (2 s) though never idle; SIGTERM is quick. */
static void test_deadline(void)
{
    static const char *const opts[] = {"--timeout", "2", "--max-conn", "16", NULL};
    pid_t server;
    int port = start(&server, opts), pfd[2];
    if (!port || pipe(pfd)) {
        T_FAIL("http_header_deadline", "the server did not start (log %s)", log_path);
        return;
    }
    pid_t p = slowloris(port, "127.0.0.2", 16, 0.5, 5, pfd[1]);
    slow_report r = slow_result(p, pfd[0]);
    REPORT("http_header_deadline", r.closed >= 16 && r.longest < 3,
           "%ld trickling connections closed in 5 s, the longest after %.2f s (want >= 16, "
           "each within 3 s)",
           r.closed, r.longest);
    p = slowloris(port, "127.0.0.2", 16, 0.5, 3, pfd[1]);
    usleep(1000000);
    double t0 = now();
    kill(server, SIGTERM);
    int status = 0;
    waitpid(server, &status, 0);
    double dt = now() - t0;
    slow_result(p, pfd[0]);
    close(pfd[0]);
    close(pfd[1]);
    REPORT("http_sigterm_prompt", dt < 2 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
           "exit %d after %.2f s with 16 trickling connections", status, dt);
}

static double cpu_seconds(pid_t p)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)p);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = 0;
    char *q = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    if (q)
        sscanf(q + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st);
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* CPU of `reps` bodies of n token ids; the statuses must all be one 4xx. */
static double ids_cpu(pid_t server, int port, size_t n, int reps, int *status)
{
    char *body = malloc(n * 2 + 64);
    size_t len = (size_t)sprintf(body, "{\"prompt\":[");
    for (size_t i = 0; i < n; i++)
        len += (size_t)sprintf(body + len, i ? ",1" : "1");
    len += (size_t)sprintf(body + len, "],\"max_tokens\":1}");
    double c0 = cpu_seconds(server);
    for (int i = 0; i < reps; i++)
        *status = post(port, "127.0.0.1", body, len, false);
    free(body);
    return cpu_seconds(server) - c0;
}

static void test_ids_work(pid_t server, int port)
{
    int s1 = 0, s2 = 0;
    double small_cpu = ids_cpu(server, port, 64000, 64, &s1);
    double big_cpu = ids_cpu(server, port, 512000, 8, &s2);
    /* Linear: equal bytes, equal work (a tick of slack each); quadratic would be 8x. */
    bool linear = big_cpu <= 2 * small_cpu + 0.05;
    if (s1 == 400 && s2 == 400 && linear)
        t_report("ok", "http_ids_linear",
                 "server CPU %.0f ms for 64 x 64000 ids, %.0f ms for 8 x 512000 ids (1 MB each): "
                 "%.1f ms a 1 MB body",
                 small_cpu * 1e3, big_cpu * 1e3, big_cpu * 1e3 / 8);
    else
        T_FAIL("http_ids_linear", "HTTP %d/%d; CPU %.3f s (64 x 64k) vs %.3f s (8 x 512k)", s1, s2,
               small_cpu, big_cpu);
}

int main(int argc, char **argv)
{
    bool asan = argc > 1 && !strcmp(argv[1], "--asan");
    const char *shared = t_shared();
    bin = getenv("L4LM_BIN") ? getenv("L4LM_BIN") : asan ? "build-asan/l4lm" : "build/l4lm";
    if (!shared || access(bin, X_OK)) {
        T_SKIP("serve_load", "%s", shared ? "no l4lm binary" : "../shared is absent");
        T_EXIT();
    }
    snprintf(model, sizeof model, "%s/models/stories260K.gguf", shared);
    snprintf(log_path, sizeof log_path, "/tmp/l4lm-load-test-%d.log", (int)getpid());
    int probe = dial(1, "127.0.0.2", false); /* 127.0.0.0/8 is all loopback on Linux */
    if (probe < 0 && errno == EADDRNOTAVAIL) {
        T_SKIP("serve_load", "cannot bind 127.0.0.2");
        T_EXIT();
    }
    if (probe >= 0)
        close(probe);
    signal(SIGPIPE, SIG_IGN);
    pid_t server;
    int port = start(&server, NULL);
    if (!port) {
        T_FAIL("serve_load", "the server did not start (log %s)", log_path);
        kill(server, SIGKILL);
        T_EXIT();
    }
    test_slowloris(port);
    test_ids_work(server, port);
    T_CHECK("http_half_close", post(port, "127.0.0.1", small, sizeof small - 1, true) == 200,
            "a request followed by shutdown(SHUT_WR) got no 200");
    kill(server, SIGTERM);
    waitpid(server, NULL, 0);
    test_deadline();
    if (!t_failed)
        unlink(log_path);
    T_EXIT();
}
