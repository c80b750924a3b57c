/*
** test_serve_reconnect.c — `l4lm serve-shm` against clients that come and
** go: 10,000 connections, each of which keeps its doorbell eventfd (as a
** hostile client may) and drops the rest. The server's resident memory
** (VmRSS), its descriptors (/proc/PID/fd) and its epoll set (the tfd lines
** of /proc/PID/fdinfo) must stay flat between the 1,000th and the
** 10,000th, and the server must write no page of a fresh region but the
** header's (the memfd's allocated blocks, counted). Then: one process gets
** no more than --clients-per-pid slots, and an idle client is dropped after
** --idle-timeout. L4LM_BIN names another binary (to measure an older build).
*/
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "serve_shm.h"
#include "t.h"
#include "t_spawn.h"

#define RECONNECTS 10000

#define REPORT(name, cond, ...)                                                                    \
    ((cond) ? t_report("ok", name, __VA_ARGS__) : (void)T_FAIL(name, __VA_ARGS__))

static const char *bin;
static char model[4200], sock_path[100], log_path[128];
static int kept[RECONNECTS];

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static pid_t start(const char *idle)
{
    const char *argv[] = {bin, "serve-shm", "-m",      model, "--ctx", "512", "--clients",
                          "2", "--socket",  sock_path, NULL,  NULL,    NULL};
    if (idle)
        argv[10] = "--idle-timeout", argv[11] = idle;
    return t_spawn(log_path, argv);
}

/* A raw connection: the hello and, with a slot, its two descriptors (memfd, doorbell). */
static int dial(l4lm_shm_hello *h, int fds[2])
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", sock_path);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a)) {
        if (s >= 0)
            close(s);
        return -1;
    }
    fds[0] = fds[1] = -1;
    if (l4lm_shm_recv_fds(s, h, fds, 2)) { /* "no free slot" comes without descriptors */
        fds[0] = fds[1] = -1;
        h->size = 0;
    }
    return s;
}

typedef struct usage {
    long rss_kb, fds, watched;
} usage;

/* The server's VmRSS, open descriptors and epoll entries. */
static usage measure(pid_t p)
{
    usage u = {-1, 0, 0};
    char path[128], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)p);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6))
            u.rss_kb = atol(line + 6);
    if (f)
        fclose(f);
    snprintf(path, sizeof path, "/proc/%d/fd", (int)p);
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        u.fds++;
        char link[320], target[64] = {0};
        snprintf(link, sizeof link, "/proc/%d/fd/%s", (int)p, e->d_name);
        if (readlink(link, target, sizeof target - 1) > 0 && strstr(target, "eventpoll")) {
            snprintf(link, sizeof link, "/proc/%d/fdinfo/%s", (int)p, e->d_name);
            FILE *fi = fopen(link, "r");
            while (fi && fgets(line, sizeof line, fi))
                u.watched += !strncmp(line, "tfd:", 4);
            if (fi)
                fclose(fi);
        }
    }
    if (d)
        closedir(d);
    return u;
}

static void test_reconnects(pid_t server)
{
    usage at1k = {0}, end;
    long written = 0, n = 0, refused = 0;
    size_t region = 0;
    double t0 = now();
    while (n < RECONNECTS && now() - t0 < 120) {
        l4lm_shm_hello h;
        int fds[2], s = dial(&h, fds);
        if (s < 0)
            break;
        if (h.size) {
            struct stat st;
            if (!fstat(fds[0], &st) && st.st_blocks * 512 > written)
                written = st.st_blocks * 512; /* pages of the region that exist: touched */
            region = h.size;
            close(fds[0]);
            kept[n++] = fds[1]; /* the hostile part: the doorbell is kept */
        } else {
            refused++; /* the last one's drop was not seen yet */
        }
        close(s);
        if (n == 1000 && !at1k.fds) {
            usleep(200000);
            at1k = measure(server);
        }
    }
    usleep(200000);
    end = measure(server);
    for (long i = 0; i < n; i++)
        close(kept[i]);
    printf("  after 1,000 reconnects: VmRSS %ld kB, %ld descriptors, %ld watched; after %ld: "
           "%ld kB, %ld, %ld (%ld refused while the last drop was pending, %.1f s)\n",
           at1k.rss_kb, at1k.fds, at1k.watched, n, end.rss_kb, end.fds, end.watched, refused,
           now() - t0);
    REPORT("shm_reconnect_count", n == RECONNECTS, "%ld of %d reconnects", n, RECONNECTS);
    REPORT("shm_reconnect_flat_memory", end.rss_kb >= 0 && end.rss_kb - at1k.rss_kb < 1024,
           "VmRSS %ld kB after 1,000, %ld kB after %ld", at1k.rss_kb, end.rss_kb, n);
    REPORT("shm_reconnect_flat_descriptors", end.fds <= at1k.fds && end.watched <= at1k.watched,
           "descriptors %ld -> %ld, epoll entries %ld -> %ld", at1k.fds, end.fds, at1k.watched,
           end.watched);
    REPORT("shm_region_untouched", region && written <= 2 * 4096,
           "%ld bytes of a %zu-byte region allocated when it reached the client", written, region);
}

/* Two slots, one process: the second connection is refused while the first is held. */
static void test_per_pid(void)
{
    l4lm_shm_hello h1, h2;
    int f1[2], f2[2];
    int a = dial(&h1, f1), b = dial(&h2, f2);
    REPORT("shm_per_pid_limit", a >= 0 && b >= 0 && h1.size && !h2.size,
           "first connection %s, second %s (want: a slot, then none)",
           h1.size ? "got a slot" : "refused", h2.size ? "got a slot" : "refused");
    for (int k = 0; k < 2; k++) {
        if (f1[k] >= 0)
            close(f1[k]);
        if (f2[k] >= 0)
            close(f2[k]);
    }
    if (a >= 0)
        close(a);
    if (b >= 0)
        close(b);
}

/* With --idle-timeout 1, a client that asks nothing loses its connection. */
static void test_idle(void)
{
    pid_t server = start("1");
    l4lm_shm_hello h = {0, 0};
    int fds[2] = {-1, -1}, s = -1;
    for (int i = 0; i < 200 && s < 0; i++) { /* the model loads */
        usleep(100000);
        s = dial(&h, fds);
    }
    double t0 = now();
    char c;
    struct timeval tv = {5, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ssize_t got = s >= 0 ? recv(s, &c, 1, 0) : -1;
    double dt = now() - t0;
    REPORT("shm_idle_timeout", h.size && got == 0 && dt < 3,
           "an idle client was dropped after %.2f s (--idle-timeout 1)", dt);
    for (int k = 0; k < 2; k++)
        if (fds[k] >= 0)
            close(fds[k]);
    if (s >= 0)
        close(s);
    kill(server, SIGTERM);
    waitpid(server, NULL, 0);
}

int main(int argc, char **argv)
{
    bool asan = argc > 1 && !strcmp(argv[1], "--asan");
    const char *shared = t_shared();
    bin = getenv("L4LM_BIN") ? getenv("L4LM_BIN") : asan ? "build-asan/l4lm" : "build/l4lm";
    if (!shared || access(bin, X_OK)) {
        T_SKIP("shm_reconnect", "%s", shared ? "no l4lm binary" : "../shared is absent");
        T_EXIT();
    }
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < RECONNECTS + 64) {
        T_SKIP("shm_reconnect", "only %lu descriptors allowed", (unsigned long)rl.rlim_cur);
        T_EXIT();
    }
    snprintf(model, sizeof model, "%s/models/stories260K.gguf", shared);
    snprintf(sock_path, sizeof sock_path, "/tmp/l4lm-reconnect-%d.sock", (int)getpid());
    snprintf(log_path, sizeof log_path, "/tmp/l4lm-reconnect-%d.log", (int)getpid());
    pid_t server = start(NULL);
    l4lm_shm_hello h;
    int fds[2], s = -1;
    for (int i = 0; i < 200 && s < 0; i++) { /* the model loads */
        usleep(100000);
        s = dial(&h, fds);
    }
    if (s < 0) {
        T_FAIL("shm_reconnect", "the server did not start (log %s)", log_path);
        kill(server, SIGKILL);
        T_EXIT();
    }
    for (int k = 0; k < 2; k++)
        if (fds[k] >= 0)
            close(fds[k]);
    close(s);
    test_reconnects(server);
    test_per_pid();
    kill(server, SIGTERM);
    int status = 0;
    waitpid(server, &status, 0);
    REPORT("shm_reconnect_clean_exit", WIFEXITED(status) && WEXITSTATUS(status) == 0,
           "server status %d (log %s)", status, log_path);
    test_idle();
    if (!t_failed)
        unlink(log_path);
    T_EXIT();
}
