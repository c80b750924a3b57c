/*
** serve_host.c — the server side of the Linux transport, for any engine:
** a unix socket, one sealed memfd region and eventfd doorbell per client
** slot, and the event loop. `l4lm serve-shm` hosts the model with it and
** `l4lm gateway` its upstream forwarder.
**
** One thread: epoll for the listening socket, client sockets and an
** optional wake descriptor (an engine whose tokens arrive from elsewhere
** rings it), then l4lm_shm_server_poll() rounds until every client is idle or
** blocked.
**
** No client may keep what it no longer uses: a dropped client's socket and
** doorbell leave the epoll set explicitly (the client holds a copy of the
** doorbell, so closing ours would not), each region is a fresh memfd whose
** zero pages the kernel supplies on first touch (none is written here but
** the header's), a client with no request in progress for idle_ms is
** dropped, and one process (SO_PEERCRED) holds at most per_pid slots.
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
#include <time.h>
#include <unistd.h>

#include "serve_shm.h"

struct l4lm_shm_host_slot {
    int sock, bell; /* -1 when the slot is free */
    uint8_t *region;
    void *work;
    pid_t pid;     /* the peer process (SO_PEERCRED) */
    int64_t heard; /* when it last rang or had a request in progress (ms) */
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

enum { TAG_LISTEN, TAG_SOCK, TAG_BELL, TAG_WAKE };

static volatile sig_atomic_t stop_serving;

static void on_signal(int sig)
{
    (void)sig;
    stop_serving = 1;
}

/* The server's doorbell: one byte, never blocking; a full socket already rings. */
static void ring_client(void *ctx, uint32_t i)
{
    l4lm_shm_host *H = ctx;
    if (send(H->slots[i].sock, "!", 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno != EAGAIN)
        return; /* a gone client is dropped when its socket reports it */
}

static int watch(l4lm_shm_host *H, int fd, uint32_t events, uint32_t tag, uint32_t i)
{
    struct epoll_event ev = {.events = events, .data.u64 = (uint64_t)tag << 32 | i};
    return epoll_ctl(H->ep, EPOLL_CTL_ADD, fd, &ev);
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

int l4lm_shm_host_open(l4lm_shm_host *H, const char *path, const l4lm_shm_server_engine *engine,
                       const l4lm_shm_config *cfg, void *const *sessions, uint32_t n,
                       uint32_t slice, uint32_t max_prompt_tokens)
{
    memset(H, 0, sizeof *H);
    H->listen_fd = H->ep = -1;
    H->n = n;
    H->clients = calloc(n, sizeof *H->clients);
    H->slots = calloc(n, sizeof *H->slots);
    if (!H->clients || !H->slots)
        return -1;
    for (uint32_t i = 0; i < n; i++)
        H->slots[i].sock = H->slots[i].bell = -1;
    H->idle_ms = 60000;
    H->per_pid = n > 1 ? n - 1 : 1;
    /* Every request slot can hold a maximal body. */
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    uint32_t bytes = l4lm_shm_layout_bytes(cfg, cfg->req_slots * cfg->max_request);
    H->region_size = (bytes + pg - 1) / pg * pg;
    if (!bytes ||
        l4lm_shm_server_init(&H->srv, engine, cfg, H->clients, n, slice, ring_client, H)) {
        fprintf(stderr, "l4lm: cannot lay out the client regions\n");
        return -1;
    }
    /* one allocation per client: the work buffer, then its grammar memory (if any) */
    size_t work = l4lm_shm_server_work_bytes(cfg, max_prompt_tokens);
    size_t at = (work + 63) & ~(size_t)63;
    for (uint32_t i = 0; i < n; i++) {
        size_t gram = l4lm_shm_server_grammar_bytes(&H->srv, sessions[i]);
        uint8_t *w = H->slots[i].work = aligned_alloc(64, (at + gram + 63) & ~(size_t)63);
        H->grammar_size = gram;
        if (!w || l4lm_shm_server_client_init(&H->srv, i, sessions[i], w, work) ||
            (gram && l4lm_shm_server_client_grammar(&H->srv, i, w + at, gram))) {
            fprintf(stderr, "l4lm: cannot set up client %u\n", i);
            return -1;
        }
    }
    H->ep = epoll_create1(EPOLL_CLOEXEC);
    H->listen_fd = listen_on(path);
    if (H->ep < 0 || H->listen_fd < 0 || watch(H, H->listen_fd, EPOLLIN, TAG_LISTEN, 0))
        return -1;
    return 0;
}

int l4lm_shm_host_wake_on(l4lm_shm_host *H, int fd)
{
    H->wake = fd;
    return watch(H, fd, EPOLLIN, TAG_WAKE, 0);
}

static void drop(l4lm_shm_host *H, uint32_t i)
{
    struct l4lm_shm_host_slot *sl = &H->slots[i];
    l4lm_shm_server_detach(&H->srv, i);
    /* The client may still hold the doorbell's file: closing ours would leave it watched. */
    if (sl->sock >= 0) {
        epoll_ctl(H->ep, EPOLL_CTL_DEL, sl->sock, NULL);
        close(sl->sock);
    }
    if (sl->bell >= 0) {
        epoll_ctl(H->ep, EPOLL_CTL_DEL, sl->bell, NULL);
        close(sl->bell);
    }
    l4lm_shm_unmap_guarded(sl->region, H->region_size);
    sl->sock = sl->bell = -1;
    sl->region = NULL;
}

/* A fresh, sealed region: the client can neither shrink it (SIGBUS here) nor grow it. */
static int new_region(l4lm_shm_host *H, struct l4lm_shm_host_slot *sl)
{
    int fd = memfd_create("l4lm-client", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return -1;
    if (ftruncate(fd, (off_t)H->region_size) ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) ||
        !(sl->region = l4lm_shm_map_guarded(fd, H->region_size))) {
        close(fd);
        return -1;
    }
    return fd;
}

/* A free slot for the peer process pid, or H->n when none (or it holds per_pid already). */
static uint32_t free_slot(const l4lm_shm_host *H, pid_t pid)
{
    uint32_t free = H->n, held = 0;
    for (uint32_t i = 0; i < H->n; i++) {
        if (H->slots[i].sock < 0 && free == H->n)
            free = i;
        held += H->slots[i].sock >= 0 && H->slots[i].pid == pid;
    }
    return held < H->per_pid ? free : H->n;
}

static void accept_client(l4lm_shm_host *H)
{
    int s = accept4(H->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (s < 0)
        return;
    struct ucred cred = {0};
    socklen_t len = sizeof cred;
    getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cred, &len);
    uint32_t i = free_slot(H, cred.pid);
    l4lm_shm_hello h = {0, 0};
    if (i == H->n) {
        l4lm_shm_send_fds(s, &h, NULL, 0); /* no free slot */
        close(s);
        return;
    }
    struct l4lm_shm_host_slot *sl = &H->slots[i];
    int memfd = new_region(H, sl);
    sl->sock = s;
    sl->pid = cred.pid;
    sl->heard = now_ms();
    sl->bell = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    h.size = (uint32_t)H->region_size;
    h.index = i;
    int fds[2] = {memfd, sl->bell};
    if (memfd < 0 || sl->bell < 0 ||
        l4lm_shm_server_attach_zeroed(&H->srv, i, sl->region, H->region_size) ||
        l4lm_shm_send_fds(s, &h, fds, 2) || watch(H, s, EPOLLIN | EPOLLRDHUP, TAG_SOCK, i) ||
        watch(H, sl->bell, EPOLLIN | EPOLLET, TAG_BELL, i))
        drop(H, i);
    if (memfd >= 0)
        close(memfd);
}

/* Bytes from a client mean nothing; end of file means it is gone. */
static void client_socket(l4lm_shm_host *H, uint32_t i, uint32_t events)
{
    char junk[4096];
    ssize_t n = recv(H->slots[i].sock, junk, sizeof junk, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN) || (events & (EPOLLHUP | EPOLLERR)))
        drop(H, i);
}

/* Drop the clients that have had no request in progress, nor rung, for idle_ms. */
static void drop_idle(l4lm_shm_host *H)
{
    int64_t t = now_ms();
    for (uint32_t i = 0; i < H->n; i++) {
        struct l4lm_shm_host_slot *sl = &H->slots[i];
        if (sl->sock < 0)
            continue;
        if (l4lm_shm_server_busy(&H->srv, i))
            sl->heard = t;
        else if (H->idle_ms && t - sl->heard > (int64_t)H->idle_ms)
            drop(H, i);
    }
}

/* Our own wake eventfd (non-blocking): empty it so it stops reporting. */
static void drain(int fd)
{
    uint64_t count;
    while (read(fd, &count, sizeof count) > 0) {
    }
}

/*
** The doorbell eventfd is edge-triggered and never read: a read could block
** if the client cleared O_NONBLOCK on the shared file or drained it first.
** The wake descriptor is ours, so it is drained.
*/
void l4lm_shm_host_run(l4lm_shm_host *H)
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
        /* with an idle limit, wake now and then to apply it */
        int wait = more ? 0 : H->idle_ms ? (int)(H->idle_ms < 4000 ? H->idle_ms / 4 : 1000) : -1;
        int n = epoll_pwait(H->ep, ev, 32, wait, &old);
        if (n < 0 && errno != EINTR)
            break;
        for (int k = 0; k < n; k++) {
            uint32_t tag = (uint32_t)(ev[k].data.u64 >> 32), i = (uint32_t)ev[k].data.u64;
            if (tag == TAG_LISTEN)
                accept_client(H);
            else if (tag == TAG_SOCK && H->slots[i].sock >= 0)
                client_socket(H, i, ev[k].events);
            else if (tag == TAG_BELL)
                H->slots[i].heard = now_ms();
            else if (tag == TAG_WAKE)
                drain(H->wake);
        }
        more = l4lm_shm_server_poll(&H->srv);
        drop_idle(H);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
}

void l4lm_shm_host_close(l4lm_shm_host *H, const char *path)
{
    for (uint32_t i = 0; H->slots && i < H->n; i++) {
        drop(H, i);
        free(H->slots[i].work);
    }
    if (H->listen_fd >= 0) {
        close(H->listen_fd);
        unlink(path);
    }
    if (H->ep >= 0)
        close(H->ep);
    free(H->clients);
    free(H->slots);
}
