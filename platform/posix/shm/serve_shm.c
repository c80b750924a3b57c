/*
** serve_shm.c — the Linux transport under the shared-memory protocol:
** passing descriptors over a unix socket, mapping a region between guard
** pages, and the client's connection with its doorbells.
*/
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "serve_shm.h"

#define MAX_FDS 4

int l4lm_shm_send_fds(int sock, const l4lm_shm_hello *h, const int *fds, int n)
{
    union {
        char buf[CMSG_SPACE(MAX_FDS * sizeof(int))];
        struct cmsghdr align;
    } u;
    struct iovec iov = {(void *)h, sizeof *h};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (n < 0 || n > MAX_FDS)
        return -1;
    if (n) {
        memset(&u, 0, sizeof u);
        msg.msg_control = u.buf;
        msg.msg_controllen = CMSG_SPACE(n * sizeof(int));
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(n * sizeof(int));
        memcpy(CMSG_DATA(c), fds, n * sizeof(int));
    }
    return sendmsg(sock, &msg, MSG_NOSIGNAL) == (ssize_t)sizeof *h ? 0 : -1;
}

int l4lm_shm_recv_fds(int sock, l4lm_shm_hello *h, int *fds, int n)
{
    union {
        char buf[CMSG_SPACE(MAX_FDS * sizeof(int))];
        struct cmsghdr align;
    } u;
    struct iovec iov = {h, sizeof *h};
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    if (n < 0 || n > MAX_FDS)
        return -1;
    ssize_t got = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_WAITALL);
    if (got != (ssize_t)sizeof *h)
        return -1;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
        c->cmsg_len != CMSG_LEN(n * sizeof(int)))
        return -1;
    memcpy(fds, CMSG_DATA(c), n * sizeof(int));
    return 0;
}

uint8_t *l4lm_shm_map_guarded(int fd, size_t size)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    uint8_t *p =
        mmap(NULL, size + 2 * pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    if (mmap(p + pg, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED) {
        munmap(p, size + 2 * pg);
        return NULL;
    }
    return p + pg;
}

void l4lm_shm_unmap_guarded(uint8_t *p, size_t size)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    if (p)
        munmap(p - pg, size + 2 * pg);
}

/* ---- the client's connection ---- */

static void ring_server(void *ctx)
{
    l4lm_shm_conn *k = ctx;
    uint64_t one = 1;
    /* A full counter means a bell is pending anyway. */
    if (write(k->bell, &one, sizeof one) < 0 && errno != EAGAIN)
        return;
}

static int dial(const char *path, int wait_ms)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof a.sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(a.sun_path, path);
    for (int waited = 0;; waited += 20) {
        int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0)
            return -1;
        if (connect(s, (struct sockaddr *)&a, sizeof a) == 0)
            return s;
        int e = errno;
        close(s);
        if ((e != ENOENT && e != ECONNREFUSED) || waited >= wait_ms) {
            errno = e;
            return -1;
        }
        nanosleep(&(struct timespec){0, 20 * 1000000}, NULL);
    }
}

int l4lm_shm_connect(l4lm_shm_conn *k, const char *path, int wait_ms, char *err, size_t errcap)
{
    memset(k, 0, sizeof *k);
    k->bell = -1;
    k->sock = dial(path, wait_ms);
    if (k->sock < 0) {
        snprintf(err, errcap, "cannot connect to '%s': %s", path, strerror(errno));
        return -1;
    }
    l4lm_shm_hello h;
    int fds[2] = {-1, -1};
    if (l4lm_shm_recv_fds(k->sock, &h, fds, 2) || h.size == 0) {
        snprintf(err, errcap, "the server at '%s' has no free client slot", path);
        l4lm_shm_disconnect(k);
        return -1;
    }
    k->bell = fds[1];
    k->size = h.size;
    k->index = h.index;
    k->region = l4lm_shm_map_guarded(fds[0], h.size);
    close(fds[0]);
    l4lm_status st =
        k->region ? l4lm_shm_client_open(&k->c, k->region, k->size, ring_server, k) : L4LM_E_ARG;
    if (st) {
        snprintf(err, errcap, "bad region from the server: %s", l4lm_strerror(st));
        l4lm_shm_disconnect(k);
        return -1;
    }
    return 0;
}

void l4lm_shm_disconnect(l4lm_shm_conn *k)
{
    l4lm_shm_unmap_guarded(k->region, k->size);
    if (k->bell >= 0)
        close(k->bell);
    if (k->sock >= 0)
        close(k->sock);
    k->region = NULL;
    k->bell = k->sock = -1;
}

int l4lm_shm_wait(l4lm_shm_conn *k, int timeout_ms)
{
    struct pollfd p = {k->sock, POLLIN, 0};
    int n = poll(&p, 1, timeout_ms);
    if (n <= 0)
        return n < 0 && errno != EINTR ? -1 : 0;
    char buf[64];
    ssize_t got = recv(k->sock, buf, sizeof buf, MSG_DONTWAIT);
    return got > 0 ? 1 : got < 0 && errno == EAGAIN ? 0 : -1;
}

int l4lm_shm_next_wait(l4lm_shm_conn *k, l4lm_shm_event *ev, int timeout_ms)
{
    for (;;) {
        if (l4lm_shm_client_next(&k->c, ev))
            return 1;
        if (!l4lm_shm_client_sleep(&k->c))
            continue;
        int w = l4lm_shm_wait(k, timeout_ms);
        if (w <= 0)
            return w;
    }
}

int l4lm_shm_submit_wait(l4lm_shm_conn *k, const l4lm_shm_request *r, uint32_t *id)
{
    for (;;) {
        l4lm_status st = l4lm_shm_client_submit(&k->c, r, id);
        if (st != L4LM_E_BUFFER)
            return (int)st;
        if (l4lm_shm_client_sleep_space(&k->c) && l4lm_shm_wait(k, 1000) < 0)
            return -1;
    }
}
