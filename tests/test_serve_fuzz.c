/*
** test_serve_fuzz.c — a hostile client inside the process: a thread writes
** random bytes into its region (header, counters, slots, bodies, cancel_id),
** mixed with half-valid requests so the server keeps parsing them, all while
** the server polls. A well-behaved client on another region must get
** exactly the reference stream every time. Both regions sit between
** PROT_NONE guard pages, so a stray access kills the test. Runs 3 seconds.
** Every 100 ms the hostile client is detached and attached again, as a
** reconnecting client would be, since its scribbles eventually destroy the
** counters it needs to be served at all.
** (The two-process version against the real engine is test_serve_shm.c.)
*/
#define _GNU_SOURCE
#include <pthread.h>
#include <time.h>

#include "t.h"
#include "serve_fake.h"

#define REGION 16384u
#define MAX_REQUEST 1024u
#define TOK_CAP 256u
#define SECONDS 3

static l4lm_server srv;
static l4lm_serve_client cl[2];
static fake eng[2];
static uint64_t work[2][(MAX_REQUEST + 4 * TOK_CAP) / 8];
static uint8_t *region[2];
static volatile int stop;

static void bell_client(void *ctx, uint32_t i)
{
    (void)ctx;
    (void)i;
}

static void bell_server(void *ctx)
{
    (void)ctx;
}

static uint64_t rnd(uint64_t *s)
{
    *s = fake_mix(*s + 0x9e3779b97f4a7c15ull);
    return *s;
}

static void poke32(uint8_t *p, uint32_t v)
{
    __atomic_store_n((uint32_t *)p, v, __ATOMIC_RELAXED);
}

static uint32_t peek32(const uint8_t *p)
{
    return __atomic_load_n((const uint32_t *)p, __ATOMIC_RELAXED);
}

/* A request that is valid except for a few random bytes, at a plausible place. */
static void half_valid(uint8_t *base, const l4lm_shm_header *h, uint64_t *s)
{
    uint8_t body[256];
    l4lm_shm_request r;
    memset(&r, 0, sizeof r);
    r.prompt = "hostile";
    r.prompt_len = (uint32_t)(rnd(s) % 8);
    r.max_tokens = (uint32_t)(rnd(s) % 300);
    r.sampler = (l4lm_sampler){0.5f, 10, 0.9f, 0.0f, 1.0f, 64, rnd(s)};
    r.n_stop = (uint32_t)(rnd(s) % 2);
    r.stop[0] = "zz";
    r.stop_len[0] = 2;
    uint32_t len = l4lm_shm_request_size(&r);
    l4lm_shm_request_encode(&r, body, sizeof body);
    for (uint64_t k = rnd(s) % 4; k > 0; k--)
        body[rnd(s) % len] = (uint8_t)rnd(s);
    uint32_t off = (uint32_t)(rnd(s) % 1024);
    memcpy(base + h->req_data + off, body, len);
    l4lm_shm_ring *ring = (l4lm_shm_ring *)(base + h->req_ring);
    uint32_t tail = peek32((uint8_t *)&ring->tail), head = peek32((uint8_t *)&ring->head);
    if (tail - head >= h->req_slots)
        tail = head; /* resynchronise with the server's last published head */
    l4lm_shm_req m = {1 + (uint32_t)(rnd(s) % 16 == 0), (uint32_t)rnd(s) % 8, off, len};
    if (rnd(s) % 8 == 0)
        m.len = (uint32_t)rnd(s);
    memcpy(base + h->req_ring + sizeof *ring + (tail % h->req_slots) * sizeof m, &m, sizeof m);
    poke32((uint8_t *)&ring->tail, tail + 1);
}

/* Offsets of the four ring counters: scribbled only now and then, or nothing is served. */
static bool is_counter(const l4lm_shm_header *h, uint32_t at)
{
    return at == h->req_ring || at == h->req_ring + 64 || at == h->resp_ring ||
           at == h->resp_ring + 64;
}

static void *hostile(void *arg)
{
    uint64_t s = 12345;
    uint8_t *base = region[1];
    l4lm_shm_header h = *(l4lm_shm_header *)base; /* the honest layout, to aim at */
    l4lm_shm_ring *resp = (l4lm_shm_ring *)(base + h.resp_ring);
    (void)arg;
    while (!stop) {
        uint32_t what = (uint32_t)(rnd(&s) % 16), at;
        if (what < 4) { /* anywhere, or (case 0) the header, rings and slots */
            uint32_t span = what == 0 ? h.resp_data : REGION;
            at = (uint32_t)(rnd(&s) % (span / 4)) * 4;
            if (!is_counter(&h, at) || rnd(&s) % 1024 == 0)
                poke32(base + at, rnd(&s) % 2 ? (uint32_t)rnd(&s) : (uint32_t)(rnd(&s) % 64));
        } else if (what < 8) {
            half_valid(base, &h, &s);
        } else if (what == 8) {
            poke32(base + 60, (uint32_t)(rnd(&s) % 8)); /* cancel_id */
        } else { /* consume every response, the way a client would */
            poke32((uint8_t *)&resp->head, peek32((uint8_t *)&resp->tail));
        }
    }
    return NULL;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(void)
{
    static stream got, want;
    l4lm_shm_config cfg = {4, 16, 64, MAX_REQUEST};
    l4lm_shm_client good;
    l4lm_server_init(&srv, &fake_engine, &cfg, cl, 2, 4, bell_client, NULL);
    for (uint32_t i = 0; i < 2; i++) {
        region[i] = guarded(REGION);
        eng[i].n_ctx = TOK_CAP;
        if (!region[i] || l4lm_serve_client_init(&srv, i, &eng[i], work[i], sizeof work[i]) ||
            l4lm_serve_attach(&srv, i, region[i], REGION)) {
            T_FAIL("fuzz_setup", "client %u", i);
            T_EXIT();
        }
    }
    l4lm_shm_client_open(&good, region[0], REGION, bell_server, NULL);
    pthread_t t;
    pthread_create(&t, NULL, hostile, NULL);
    uint32_t served = 0, wrong = 0, k = 0;
    const char *why = "";
    double end = now() + SECONDS, reattach = now() + 0.1;
    while (now() < end) {
        if (now() > reattach) {
            l4lm_serve_detach(&srv, 1);
            l4lm_serve_attach(&srv, 1, region[1], REGION);
            reattach = now() + 0.1;
        }
        l4lm_shm_request r;
        memset(&r, 0, sizeof r);
        r.prompt = "good client";
        r.prompt_len = 11;
        r.max_tokens = 40 + k % 50;
        r.sampler = (l4lm_sampler){0.8f, 40, 0.95f, 0.05f, 1.1f, 64, k++};
        l4lm_shm_submit(&good, &r, NULL);
        memset(&got, 0, sizeof got);
        l4lm_shm_event ev;
        for (int polls = 0; polls < 100000 && !got.done; polls++) {
            l4lm_serve_poll(&srv);
            while (l4lm_shm_next(&good, &ev))
                absorb(&got, &ev);
        }
        reference(&r, TOK_CAP, &want);
        const char *d = stream_diff(&got, &want);
        if (*d) {
            why = d;
            wrong++;
        }
        served++;
    }
    stop = 1;
    pthread_join(t, NULL);
    T_CHECK("fuzz_good_client_served", served > 20 && !wrong,
            "%u requests, %u wrong (%s)", served, wrong, why);
    T_CHECK("fuzz_hostile_requests_reached_engine", eng[1].starts > 1000,
            "only %u hostile requests were started", eng[1].starts);
    printf("# %u good requests, %u hostile requests started in %d s\n", served, eng[1].starts,
           SECONDS);
    T_EXIT();
}
