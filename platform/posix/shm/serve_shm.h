/*
** serve_shm.h — the Linux transport of the shared-memory protocol, shared by
** `l4lm serve-shm`, `l4lm client` and the tests.
**
** A client connects to the server's unix socket and receives, with
** SCM_RIGHTS, a sealed memfd (its region) and an eventfd (its doorbell to
** the server). The server's doorbell to the client is a byte on the socket
** (sent with MSG_DONTWAIT, so a client cannot make the server block); a
** closed socket tells either side the other is gone. docs/protocol.md says why.
** serve_host.c is the server's side of it, serve_shm.c the rest.
*/
#ifndef L4LM_SERVE_SHM_H
#define L4LM_SERVE_SHM_H
#include <stddef.h>
#include <stdint.h>

#include "l4lm_serve.h"

/* The hello the server sends with the descriptors; size 0 means "no free slot". */
typedef struct l4lm_shm_hello {
    uint32_t size;  /* region bytes */
    uint32_t index; /* client number */
} l4lm_shm_hello;

/* Send/receive a hello with n descriptors; 0 on success. */
int l4lm_shm_send_fds(int sock, const l4lm_shm_hello *h, const int *fds, int n);
int l4lm_shm_recv_fds(int sock, l4lm_shm_hello *h, int *fds, int n);

/* Map size bytes of fd shared, between two PROT_NONE pages; NULL on failure. */
uint8_t *l4lm_shm_map_guarded(int fd, size_t size);
void l4lm_shm_unmap_guarded(uint8_t *p, size_t size);

/* ---- the server side, for any engine (serve_host.c) ---- */
typedef struct l4lm_shm_host {
    l4lm_shm_server srv;
    l4lm_shm_server_client *clients;
    struct l4lm_shm_host_slot *slots;
    uint32_t n;
    size_t region_size;
    size_t grammar_size; /* grammar memory per client; 0: requests with a grammar are refused */
    int listen_fd, ep, wake;
    uint32_t idle_ms; /* drop a client idle this long; 0: never (60 s) */
    uint32_t per_pid; /* slots one process may hold (all but one) */
} l4lm_shm_host;

/*
** Listen on path and serve n client slots, client i with sessions[i] and work
** memory for max_prompt_tokens; the regions hold cfg with room for a maximal
** request in every request slot. 0, or -1 with a line printed.
*/
int l4lm_shm_host_open(l4lm_shm_host *H, const char *path, const l4lm_shm_server_engine *engine,
                       const l4lm_shm_config *cfg, void *const *sessions, uint32_t n,
                       uint32_t slice, uint32_t max_prompt_tokens);
/* Also poll when fd (a non-blocking eventfd, drained by the loop) becomes readable. */
int l4lm_shm_host_wake_on(l4lm_shm_host *H, int fd);
/* Serve until SIGINT or SIGTERM. */
void l4lm_shm_host_run(l4lm_shm_host *H);
void l4lm_shm_host_close(l4lm_shm_host *H, const char *path);

/* A client's connection. */
typedef struct l4lm_shm_conn {
    int sock;
    int bell; /* eventfd: rings the server */
    uint8_t *region;
    size_t size;
    uint32_t index;
    l4lm_shm_client c;
} l4lm_shm_conn;

/* Connect, retrying for up to wait_ms while the socket is not there yet. 0 on success. */
int l4lm_shm_connect(l4lm_shm_conn *k, const char *path, int wait_ms, char *err, size_t errcap);
void l4lm_shm_disconnect(l4lm_shm_conn *k);
/* Block until the server rings (1), timeout_ms passes (0) or the server is gone (-1). */
int l4lm_shm_wait(l4lm_shm_conn *k, int timeout_ms);
/* The next event, sleeping on the doorbell as needed: 1, 0 on timeout, -1 server gone. */
int l4lm_shm_next_wait(l4lm_shm_conn *k, l4lm_shm_event *ev, int timeout_ms);
/* Submit, sleeping while the request ring is full: an l4lm_status, or -1 server gone. */
int l4lm_shm_submit_wait(l4lm_shm_conn *k, const l4lm_shm_request *r, uint32_t *id);
#endif
