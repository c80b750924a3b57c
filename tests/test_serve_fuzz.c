/*
** test_serve_fuzz.c — a hostile client inside the process: a thread writes
** random bytes into its region (header, counters, slots, bodies, cancel_id),
** mixed with half-valid requests so the server keeps parsing them
** (serve_hostile.h), all while the server polls. A well-behaved client on another region must get
** exactly the reference stream every time. Both regions sit between
** PROT_NONE guard pages, so a stray access kills the test. Runs 3 seconds,
** or up to 10 until 200 hostile requests have reached the engine (the
** hostile thread's pace depends on how busy the machine is).
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
#include "serve_hostile.h"

#define REGION 16384u
#define MAX_REQUEST 1024u
#define TOK_CAP 256u
#define SECONDS 3

static l4lm_shm_server srv;
static l4lm_shm_server_client cl[2];
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

static void *hostile(void *arg)
{
    static hostile_stats st;
    uint64_t seed = 12345;
    l4lm_shm_header h = *(l4lm_shm_header *)region[1]; /* the honest layout, to aim at */
    (void)arg;
    while (!stop)
        hostile_move(region[1], &h, REGION, &seed, &st);
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
    l4lm_shm_config cfg = {4, 16, 64, MAX_REQUEST, 0};
    l4lm_shm_client good;
    l4lm_shm_server_init(&srv, &fake_engine, &cfg, cl, 2, 4, bell_client, NULL);
    for (uint32_t i = 0; i < 2; i++) {
        region[i] = guarded(REGION);
        eng[i].n_ctx = TOK_CAP;
        if (!region[i] || l4lm_shm_server_client_init(&srv, i, &eng[i], work[i], sizeof work[i]) ||
            l4lm_shm_server_attach(&srv, i, region[i], REGION)) {
            T_FAIL("fuzz_setup", "client %u", i);
            T_EXIT();
        }
    }
    l4lm_shm_client_open(&good, region[0], REGION, bell_server, NULL);
    pthread_t t;
    pthread_create(&t, NULL, hostile, NULL);
    uint32_t served = 0, wrong = 0, k = 0;
    const char *why = "";
    double start = now(), reattach = start + 0.1;
    while (now() < start + SECONDS || (eng[1].starts < 200 && now() < start + 10)) {
        if (now() > reattach) {
            l4lm_shm_server_detach(&srv, 1);
            l4lm_shm_server_attach(&srv, 1, region[1], REGION);
            reattach = now() + 0.1;
        }
        l4lm_shm_request r;
        memset(&r, 0, sizeof r);
        r.prompt = "good client";
        r.prompt_len = 11;
        r.max_tokens = 40 + k % 50;
        r.sampler = (l4lm_sampler){0.8f, 40, 0.95f, 0.05f, 1.1f, 64, k++};
        l4lm_shm_client_submit(&good, &r, NULL);
        memset(&got, 0, sizeof got);
        l4lm_shm_event ev;
        for (int polls = 0; polls < 100000 && !got.done; polls++) {
            l4lm_shm_server_poll(&srv);
            while (l4lm_shm_client_next(&good, &ev))
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
    T_CHECK("fuzz_hostile_requests_reached_engine", eng[1].starts >= 200,
            "only %u hostile requests were started", eng[1].starts);
    printf("# %u good requests, %u hostile requests started in %.1f s\n", served, eng[1].starts,
           now() - start);
    T_EXIT();
}
