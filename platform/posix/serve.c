/*
** serve.c — `l4lm serve-shm` and `l4lm client`: the shared-memory inference
** service as two Linux processes.
**
** The server owns the model and one session (arena) per client slot. Each
** connecting client gets a fresh sealed memfd region, mapped here between
** PROT_NONE guard pages, and an eventfd doorbell; the server core
** (src/serve) does the rest. One thread: epoll for sockets and doorbells,
** then l4lm_serve_poll() rounds until every client is idle or blocked.
*/
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"
#include "serve_shm.h"

/* ---- options: ours are taken out, the rest goes to l4lm_cli_parse ---- */

typedef int (*take_fn)(void *o, const char *name, const char *val);

static bool listed(const char *const *names, const char *a)
{
    for (; *names; names++)
        if (!strcmp(*names, a))
            return true;
    return false;
}

/* rest gets argv[0], every argument not ours, then extra (NULL-terminated). */
static int split_args(int argc, char **argv, const char *const *valued, const char *const *flags,
                      take_fn take, void *o, char **rest, int *n_rest, char *const *extra)
{
    int n = 0;
    rest[n++] = argv[0];
    for (int i = 1; i < argc; i++) {
        if (listed(valued, argv[i])) {
            if (i + 1 >= argc) {
                fprintf(stderr, "l4lm: missing value for '%s'\n", argv[i]);
                return -1;
            }
            if (take(o, argv[i], argv[i + 1]))
                return -1;
            i++;
        } else if (listed(flags, argv[i])) {
            if (take(o, argv[i], NULL))
                return -1;
        } else {
            rest[n++] = argv[i];
        }
    }
    for (; extra && *extra; extra++)
        rest[n++] = *extra;
    rest[n] = NULL;
    *n_rest = n;
    return 0;
}

static int whole(const char *name, const char *val, long lo, long hi, uint32_t *out)
{
    char *end;
    errno = 0;
    long v = strtol(val, &end, 10);
    if (!*val || *end || errno || v < lo || v > hi) {
        fprintf(stderr, "l4lm: %s takes a whole number in [%ld, %ld], not '%s'\n", name, lo, hi,
                val);
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

/* ---- the server ---- */

typedef struct serve_opts {
    const char *socket;
    uint32_t clients, slice;
} serve_opts;

static int take_serve(void *p, const char *name, const char *val)
{
    serve_opts *o = p;
    if (!strcmp(name, "--socket")) {
        o->socket = val;
        return 0;
    }
    if (!strcmp(name, "--clients"))
        return whole(name, val, 1, 64, &o->clients);
    return whole(name, val, 1, 4096, &o->slice);
}

typedef struct slot {
    int sock, bell; /* -1 when the slot is free */
    uint8_t *region;
    void *arena, *work;
} slot;

typedef struct shm_server {
    l4lm_cli_ctx cli; /* the model, the pool, the plan and client 0's session */
    l4lm_server srv;
    l4lm_serve_client *clients;
    slot *slots;
    uint32_t n;
    size_t region_size;
    int listen_fd, ep;
} shm_server;

enum { TAG_LISTEN, TAG_SOCK, TAG_BELL };

static volatile sig_atomic_t stop_serving;

static void on_signal(int sig)
{
    (void)sig;
    stop_serving = 1;
}

/* The server's doorbell: one byte, never blocking; a full socket already rings. */
static void ring_client(void *ctx, uint32_t i)
{
    shm_server *S = ctx;
    if (send(S->slots[i].sock, "!", 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno != EAGAIN)
        return; /* a gone client is dropped when its socket reports it */
}

static int watch(shm_server *S, int fd, uint32_t events, uint32_t tag, uint32_t i)
{
    struct epoll_event ev = {.events = events, .data.u64 = (uint64_t)tag << 32 | i};
    return epoll_ctl(S->ep, EPOLL_CTL_ADD, fd, &ev);
}

static int listen_on(const char *path)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof a.sun_path) {
        fprintf(stderr, "l4lm: socket path too long: '%s'\n", path);
        return -1;
    }
    strcpy(a.sun_path, path);
    unlink(path);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 16)) {
        fprintf(stderr, "l4lm: cannot listen on '%s': %s\n", path, strerror(errno));
        if (s >= 0)
            close(s);
        return -1;
    }
    return s;
}

/* Client 0 uses the CLI's session; the others get an arena of the same plan each. */
static int setup_slots(shm_server *S)
{
    l4lm_cli_ctx *c = &S->cli;
    size_t work = l4lm_serve_work_bytes(&S->srv.cfg, c->plan.n_ctx);
    for (uint32_t i = 0; i < S->n; i++) {
        slot *sl = &S->slots[i];
        l4lm_session *s = c->s;
        if (i > 0) {
            sl->arena = l4lm_posix_arena(c->plan.total);
            if (!sl->arena || l4lm_session_init(&s, &c->pm.m, &c->opts, sl->arena, c->plan.total)) {
                fprintf(stderr, "l4lm: cannot make the session of client %u\n", i);
                return -1;
            }
        }
        sl->work = aligned_alloc(64, (work + 63) & ~(size_t)63);
        if (!sl->work || l4lm_serve_client_init(&S->srv, i, s, sl->work, work)) {
            fprintf(stderr, "l4lm: cannot set up client %u\n", i);
            return -1;
        }
    }
    return 0;
}

static int setup(shm_server *S, const l4lm_cli_opts *o, const serve_opts *so)
{
    memset(S, 0, sizeof *S);
    S->listen_fd = S->ep = -1;
    S->n = so->clients;
    S->clients = calloc(S->n, sizeof *S->clients);
    S->slots = calloc(S->n, sizeof *S->slots);
    for (uint32_t i = 0; S->slots && i < S->n; i++)
        S->slots[i].sock = S->slots[i].bell = -1;
    if (!S->clients || !S->slots || l4lm_cli_session(&S->cli, o))
        return -1;
    /* A request may carry the longest prompt the tokenizer takes, plus stop strings. */
    l4lm_shm_config cfg = l4lm_shm_config_default();
    uint64_t max_req = L4LM_SHM_REQ_FIXED + 16ull * S->cli.plan.n_ctx +
                       L4LM_SHM_MAX_STOPS * (4 + L4LM_SHM_MAX_STOP_BYTES);
    cfg.max_request = max_req < (1u << 24) ? (uint32_t)max_req : 1u << 24;
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    uint32_t bytes = l4lm_shm_region_bytes(&cfg, cfg.req_slots * cfg.max_request);
    S->region_size = (bytes + pg - 1) / pg * pg;
    if (!bytes || l4lm_server_init(&S->srv, l4lm_serve_engine_l4lm(), &cfg, S->clients, S->n,
                                   so->slice, ring_client, S)) {
        fprintf(stderr, "l4lm: cannot lay out the client regions\n");
        return -1;
    }
    if (setup_slots(S))
        return -1;
    S->ep = epoll_create1(EPOLL_CLOEXEC);
    S->listen_fd = listen_on(so->socket);
    if (S->ep < 0 || S->listen_fd < 0 || watch(S, S->listen_fd, EPOLLIN, TAG_LISTEN, 0))
        return -1;
    fprintf(stderr,
            "l4lm: serving up to %u clients on %s: region %zu bytes, arena %zu bytes each\n", S->n,
            so->socket, S->region_size, S->cli.plan.total);
    return 0;
}

static void drop(shm_server *S, uint32_t i)
{
    slot *sl = &S->slots[i];
    l4lm_serve_detach(&S->srv, i);
    if (sl->sock >= 0)
        close(sl->sock); /* closing removes them from the epoll set */
    if (sl->bell >= 0)
        close(sl->bell);
    l4lm_shm_unmap_guarded(sl->region, S->region_size);
    sl->sock = sl->bell = -1;
    sl->region = NULL;
}

/* A fresh, sealed region: the client can neither shrink it (SIGBUS here) nor grow it. */
static int new_region(shm_server *S, slot *sl)
{
    int fd = memfd_create("l4lm-client", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return -1;
    if (ftruncate(fd, (off_t)S->region_size) ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) ||
        !(sl->region = l4lm_shm_map_guarded(fd, S->region_size))) {
        close(fd);
        return -1;
    }
    return fd;
}

static void accept_client(shm_server *S)
{
    int s = accept4(S->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (s < 0)
        return;
    uint32_t i = 0;
    while (i < S->n && S->slots[i].sock >= 0)
        i++;
    l4lm_shm_hello h = {0, 0};
    if (i == S->n) {
        l4lm_shm_send_fds(s, &h, NULL, 0); /* no free slot */
        close(s);
        return;
    }
    slot *sl = &S->slots[i];
    int memfd = new_region(S, sl);
    sl->sock = s;
    sl->bell = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    h.size = (uint32_t)S->region_size;
    h.index = i;
    int fds[2] = {memfd, sl->bell};
    if (memfd < 0 || sl->bell < 0 || l4lm_serve_attach(&S->srv, i, sl->region, S->region_size) ||
        l4lm_shm_send_fds(s, &h, fds, 2) || watch(S, s, EPOLLIN | EPOLLRDHUP, TAG_SOCK, i) ||
        watch(S, sl->bell, EPOLLIN | EPOLLET, TAG_BELL, i))
        drop(S, i);
    if (memfd >= 0)
        close(memfd);
}

/* Bytes from a client mean nothing; end of file means it is gone. */
static void client_socket(shm_server *S, uint32_t i, uint32_t events)
{
    char junk[4096];
    ssize_t n = recv(S->slots[i].sock, junk, sizeof junk, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN) || (events & (EPOLLHUP | EPOLLERR)))
        drop(S, i);
}

/*
** The doorbell eventfd is edge-triggered and never read: a read could block
** if the client cleared O_NONBLOCK on the shared file or drained it first.
*/
static void serve_loop(shm_server *S)
{
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &old);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    bool more = false;
    while (!stop_serving) {
        struct epoll_event ev[32];
        int n = epoll_pwait(S->ep, ev, 32, more ? 0 : -1, &old);
        if (n < 0 && errno != EINTR)
            break;
        for (int k = 0; k < n; k++) {
            uint32_t tag = (uint32_t)(ev[k].data.u64 >> 32), i = (uint32_t)ev[k].data.u64;
            if (tag == TAG_LISTEN)
                accept_client(S);
            else if (tag == TAG_SOCK && S->slots[i].sock >= 0)
                client_socket(S, i, ev[k].events);
        }
        more = l4lm_serve_poll(&S->srv);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
}

static void teardown(shm_server *S, const char *path)
{
    for (uint32_t i = 0; S->slots && i < S->n; i++) {
        drop(S, i);
        if (S->slots[i].arena)
            l4lm_posix_arena_free(S->slots[i].arena, S->cli.plan.total);
        free(S->slots[i].work);
    }
    if (S->listen_fd >= 0) {
        close(S->listen_fd);
        unlink(path);
    }
    if (S->ep >= 0)
        close(S->ep);
    l4lm_cli_close(&S->cli);
    free(S->clients);
    free(S->slots);
}

int l4lm_cmd_serve_shm(int argc, char **argv)
{
    static const char *const valued[] = {"--socket", "--clients", "--slice", NULL};
    static const char *const flags[] = {NULL};
    serve_opts so = {NULL, 4, 8};
    l4lm_cli_opts o;
    int n_rest, rc = 1;
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    if (!rest || split_args(argc, argv, valued, flags, take_serve, &so, rest, &n_rest, NULL) ||
        l4lm_cli_parse(n_rest, rest, &o)) {
        free(rest);
        return 2;
    }
    if (!so.socket) {
        fprintf(stderr, "l4lm: serve-shm needs --socket PATH\n");
        free(rest);
        return 2;
    }
    shm_server S;
    if (setup(&S, &o, &so) == 0) {
        serve_loop(&S);
        rc = 0;
    }
    teardown(&S, so.socket);
    free(rest);
    return rc;
}

/* ---- the client ---- */

typedef struct client_opts {
    const char *socket;
    uint32_t n_stop, cancel_after;
    const char *stop[L4LM_SHM_MAX_STOPS];
    bool print_ids;
} client_opts;

static int take_client(void *p, const char *name, const char *val)
{
    client_opts *o = p;
    if (!strcmp(name, "--socket"))
        o->socket = val;
    else if (!strcmp(name, "--print-ids"))
        o->print_ids = true;
    else if (!strcmp(name, "--cancel-after"))
        return whole(name, val, 1, 1 << 20, &o->cancel_after);
    else if (o->n_stop == L4LM_SHM_MAX_STOPS || !*val || strlen(val) > L4LM_SHM_MAX_STOP_BYTES) {
        fprintf(stderr, "l4lm: at most %u --stop strings of 1 to %u bytes\n", L4LM_SHM_MAX_STOPS,
                L4LM_SHM_MAX_STOP_BYTES);
        return -1;
    } else
        o->stop[o->n_stop++] = val;
    return 0;
}

/* Send one request and stream its answer; the exit status. */
static int client_run(l4lm_shm_conn *k, const l4lm_shm_request *r, const client_opts *co)
{
    uint32_t id, tokens = 0;
    l4lm_shm_event ev;
    int st = l4lm_shm_submit_wait(k, r, &id), w = 0;
    if (st) {
        fprintf(stderr, "l4lm: cannot send the request: %s\n",
                st < 0               ? "the server is gone"
                : st == L4LM_E_LIMIT ? "larger than the server takes (see --ctx)"
                                     : l4lm_strerror((l4lm_status)st));
        return 1;
    }
    if (!co->print_ids) /* echo the prompt, then continue it, as `l4lm run` does */
        fwrite(r->prompt, 1, r->prompt_len, stdout);
    while ((w = l4lm_shm_next_wait(k, &ev, -1)) > 0 && ev.kind != L4LM_SHM_DONE) {
        if (ev.id != id)
            continue;
        if (co->print_ids && ev.kind == L4LM_SHM_TOKEN)
            printf(tokens ? " %d" : "%d", ev.value);
        else if (!co->print_ids)
            fwrite(ev.text, 1, ev.len, stdout);
        fflush(stdout);
        if (ev.kind == L4LM_SHM_TOKEN && ++tokens == co->cancel_after)
            l4lm_shm_cancel(&k->c, id);
    }
    printf("\n");
    if (w <= 0) {
        fprintf(stderr, "l4lm: the server is gone\n");
        return 1;
    }
    fprintf(stderr, "l4lm: %s%s%.*s: prompt %u tokens, generated %u tokens\n",
            l4lm_shm_status_name(ev.status), ev.len ? ": " : "", (int)ev.len, ev.text, ev.n_prompt,
            ev.n_gen);
    return ev.status < L4LM_SHM_E_KIND ? 0 : 1;
}

int l4lm_cmd_client(int argc, char **argv)
{
    static const char *const valued[] = {"--socket", "--stop", "--cancel-after", NULL};
    static const char *const flags[] = {"--print-ids", NULL};
    /* The client has no model; the common parser insists on one. */
    static char *const no_model[] = {"-m", "(none)", NULL};
    client_opts co = {0};
    l4lm_cli_opts o;
    int n_rest, rc = 2;
    char err[512];
    char **rest = calloc((size_t)argc + 3, sizeof *rest);
    if (!rest || split_args(argc, argv, valued, flags, take_client, &co, rest, &n_rest, no_model) ||
        l4lm_cli_parse(n_rest, rest, &o))
        goto out;
    if (!co.socket) {
        fprintf(stderr, "l4lm: client needs --socket PATH\n");
        goto out;
    }
    size_t len;
    char *prompt = l4lm_cli_prompt(&o, &len);
    l4lm_shm_conn k;
    rc = 1;
    if (prompt && l4lm_shm_connect(&k, co.socket, 2000, err, sizeof err) == 0) {
        l4lm_shm_request r = {
            prompt, (uint32_t)len, (uint32_t)o.n_predict, 0, o.sampler, co.n_stop, {0}, {0}};
        r.flags = (o.no_bos ? L4LM_SHM_NO_BOS : 0) | (o.ignore_eos ? L4LM_SHM_IGNORE_EOS : 0);
        for (uint32_t i = 0; i < co.n_stop; i++) {
            r.stop[i] = co.stop[i];
            r.stop_len[i] = (uint32_t)strlen(co.stop[i]);
        }
        rc = client_run(&k, &r, &co);
        l4lm_shm_disconnect(&k);
    } else if (prompt) {
        fprintf(stderr, "l4lm: %s\n", err);
    }
    free(prompt);
out:
    free(rest);
    return rc;
}
