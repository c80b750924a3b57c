/*
** test_serve_ring.c — the SPSC rings of the service protocol: empty, full,
** wrap-around of the 32-bit counters, impossible counters from a hostile
** peer, the "signal me" flags, and two-thread stress runs with checksums:
** one spinning (10 million messages; 1 million under --asan, where every
** access is instrumented) and one sleeping on semaphores as doorbells,
** which hangs (and fails after 10 s) if a wake-up is ever lost.
*/
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdint.h>
#include <time.h>

#include "l4lm_serve.h"
#include "t.h"

#define SLOTS 64u

typedef struct msg {
    uint64_t seq;
    uint64_t check;
} msg;

/* An independent 64-bit mix, so a torn or stale slot cannot pass. */
static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

static _Alignas(64) uint8_t mem[sizeof(l4lm_shm_ring) + SLOTS * sizeof(msg)];

/* A producer and a consumer view of mem, both counters at start. */
static void views(l4lm_shm_ring_ref *p, l4lm_shm_ring_ref *c, uint32_t n, uint32_t start)
{
    memset(mem, 0, sizeof mem);
    l4lm_shm_ring *ctl = (l4lm_shm_ring *)mem;
    ctl->tail = ctl->head = start;
    l4lm_shm_ring_init(p, mem, n, sizeof(msg), start);
    l4lm_shm_ring_init(c, mem, n, sizeof(msg), start);
}

static void put(l4lm_shm_ring_ref *p, uint32_t k, uint64_t seq)
{
    msg m = {seq, mix(seq)};
    memcpy(l4lm_shm_ring_slot(p, k), &m, sizeof m);
}

static uint64_t get(l4lm_shm_ring_ref *c, uint32_t k)
{
    msg m;
    memcpy(&m, l4lm_shm_ring_slot(c, k), sizeof m);
    return m.check == mix(m.seq) ? m.seq : UINT64_MAX;
}

static void test_empty_full(void)
{
    l4lm_shm_ring_ref p, c;
    views(&p, &c, 8, 0);
    T_CHECK("ring_empty", l4lm_shm_ring_avail(&c) == 0 && l4lm_shm_ring_free(&p) == 8,
            "avail %u free %u", l4lm_shm_ring_avail(&c), l4lm_shm_ring_free(&p));
    for (uint32_t i = 0; i < 8; i++)
        put(&p, i, 100 + i);
    l4lm_shm_ring_push(&p, 8);
    T_CHECK("ring_full", l4lm_shm_ring_free(&p) == 0 && l4lm_shm_ring_avail(&c) == 8,
            "free %u avail %u", l4lm_shm_ring_free(&p), l4lm_shm_ring_avail(&c));
    int order = 1;
    for (uint32_t i = 0; i < 8; i++)
        order &= get(&c, i) == 100 + i;
    l4lm_shm_ring_pop(&c, 3);
    T_CHECK("ring_fifo", order && l4lm_shm_ring_free(&p) == 3 && l4lm_shm_ring_avail(&c) == 5,
            "order %d free %u avail %u", order, l4lm_shm_ring_free(&p), l4lm_shm_ring_avail(&c));
}

/* Counters start 5 below 2^32 and run 3 times round the 8 slots across the wrap. */
static void test_wrap(void)
{
    l4lm_shm_ring_ref p, c;
    views(&p, &c, 8, UINT32_MAX - 4);
    int ok = 1;
    uint64_t seq = 0, want = 0;
    for (int round = 0; round < 6; round++) {
        uint32_t k = l4lm_shm_ring_free(&p) < 5 ? l4lm_shm_ring_free(&p) : 5;
        for (uint32_t i = 0; i < k; i++)
            put(&p, i, seq++);
        l4lm_shm_ring_push(&p, k);
        uint32_t a = l4lm_shm_ring_avail(&c);
        ok &= a == k;
        for (uint32_t i = 0; i < a; i++)
            ok &= get(&c, i) == want++;
        l4lm_shm_ring_pop(&c, a);
    }
    l4lm_shm_ring *ctl = (l4lm_shm_ring *)mem;
    T_CHECK("ring_wrap",
            ok && ctl->tail == (uint32_t)(UINT32_MAX - 4 + 30) && ctl->tail < 100 &&
                l4lm_shm_ring_avail(&c) == 0 && l4lm_shm_ring_free(&p) == 8,
            "ok %d tail %u", ok, ctl->tail);
}

/* A hostile peer's counter that cannot be right reads as "nothing to do". */
static void test_impossible(void)
{
    l4lm_shm_ring_ref p, c;
    views(&p, &c, 8, 1000);
    l4lm_shm_ring *ctl = (l4lm_shm_ring *)mem;
    ctl->tail = 1000 + 9; /* more than the ring holds */
    int ok = l4lm_shm_ring_avail(&c) == 0;
    ctl->tail = 999; /* behind the consumer */
    ok &= l4lm_shm_ring_avail(&c) == 0;
    ctl->tail = 1008; /* exactly full is fine */
    ok &= l4lm_shm_ring_avail(&c) == 8;
    ctl->head = 1001; /* ahead of the producer */
    ok &= l4lm_shm_ring_free(&p) == 0;
    ctl->head = 1000 - 9; /* further behind than the ring holds */
    ok &= l4lm_shm_ring_free(&p) == 0;
    ctl->head = 1000 - 8;
    ok &= l4lm_shm_ring_free(&p) == 0;
    ctl->head = 1000 - 3;
    ok &= l4lm_shm_ring_free(&p) == 5;
    T_CHECK("ring_impossible_counters", ok, "a bad counter was believed");
}

static void test_flags(void)
{
    l4lm_shm_ring_ref p, c;
    views(&p, &c, 8, 0);
    int ok = l4lm_shm_ring_consumer_sleep(&c); /* empty: may sleep, flag set */
    ok &= l4lm_shm_ring_wake_consumer(&p);     /* producer sees and clears it */
    ok &= !l4lm_shm_ring_wake_consumer(&p);    /* only once */
    put(&p, 0, 7);
    l4lm_shm_ring_push(&p, 1);
    ok &= !l4lm_shm_ring_consumer_sleep(&c); /* data: do not sleep */
    for (uint32_t i = 1; i < 8; i++)
        put(&p, i, 7);
    l4lm_shm_ring_push(&p, 7);
    ok &= l4lm_shm_ring_producer_sleep(&p, 1); /* full: may sleep */
    l4lm_shm_ring_pop(&c, 2);
    ok &= l4lm_shm_ring_wake_producer(&c) && !l4lm_shm_ring_wake_producer(&c);
    ok &= !l4lm_shm_ring_producer_sleep(&p, 2) && l4lm_shm_ring_producer_sleep(&p, 3);
    T_CHECK("ring_signal_flags", ok, "flag protocol broken");
}

/* ---- two threads ---- */

typedef struct stress {
    l4lm_shm_ring_ref p, c;
    uint64_t n;
    bool sleep;          /* use the flags and semaphores instead of spinning */
    sem_t to_consumer, to_producer;
    uint64_t sum_sent, sum_seen, bad, lost;
} stress;

/* Wait on a doorbell; false after 10 s (a lost wake-up). */
static bool wait_bell(sem_t *s)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 10;
    while (sem_timedwait(s, &ts))
        if (errno != EINTR)
            return false;
    return true;
}

static void *producer(void *arg)
{
    stress *st = arg;
    uint64_t seq = 0;
    while (seq < st->n && !st->lost) {
        uint32_t k = l4lm_shm_ring_free(&st->p);
        if (k == 0) {
            if (!st->sleep)
                sched_yield();
            else if (l4lm_shm_ring_producer_sleep(&st->p, 1) && !wait_bell(&st->to_producer))
                st->lost = 1;
            continue;
        }
        /* Vary the batch so pushes of 1..k slots all happen. */
        k = 1 + (uint32_t)(mix(seq) % k);
        if (k > st->n - seq)
            k = (uint32_t)(st->n - seq);
        for (uint32_t i = 0; i < k; i++) {
            put(&st->p, i, seq);
            st->sum_sent += mix(seq++);
        }
        l4lm_shm_ring_push(&st->p, k);
        if (st->sleep && l4lm_shm_ring_wake_consumer(&st->p))
            sem_post(&st->to_consumer);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    stress *st = arg;
    uint64_t want = 0;
    while (want < st->n && !st->lost) {
        uint32_t a = l4lm_shm_ring_avail(&st->c);
        if (a == 0) {
            if (!st->sleep)
                sched_yield();
            else if (l4lm_shm_ring_consumer_sleep(&st->c) && !wait_bell(&st->to_consumer))
                st->lost = 1;
            continue;
        }
        for (uint32_t i = 0; i < a; i++) {
            uint64_t seq = get(&st->c, i);
            st->bad += seq != want;
            st->sum_seen += mix(want++);
        }
        l4lm_shm_ring_pop(&st->c, a);
        if (st->sleep && l4lm_shm_ring_wake_producer(&st->c))
            sem_post(&st->to_producer);
    }
    return NULL;
}

static void test_stress(const char *name, uint64_t n, bool sleep)
{
    static stress st;
    memset(&st, 0, sizeof st);
    views(&st.p, &st.c, SLOTS, UINT32_MAX - 1000); /* cross the wrap early */
    st.n = n;
    st.sleep = sleep;
    sem_init(&st.to_consumer, 0, 0);
    sem_init(&st.to_producer, 0, 0);
    pthread_t a, b;
    pthread_create(&a, NULL, producer, &st);
    pthread_create(&b, NULL, consumer, &st);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    T_CHECK(name, !st.bad && !st.lost && st.sum_sent == st.sum_seen,
            "%llu messages: %llu out of order or torn, lost wake-up %llu, sums %llx %llx",
            (unsigned long long)n, (unsigned long long)st.bad, (unsigned long long)st.lost,
            (unsigned long long)st.sum_sent, (unsigned long long)st.sum_seen);
    sem_destroy(&st.to_consumer);
    sem_destroy(&st.to_producer);
}

int main(int argc, char **argv)
{
    bool asan = argc > 1 && !strcmp(argv[1], "--asan");
    test_empty_full();
    test_wrap();
    test_impossible();
    test_flags();
    test_stress(asan ? "ring_stress_1M_spin" : "ring_stress_10M_spin", asan ? 1000000 : 10000000,
                false);
    test_stress("ring_stress_200k_doorbells", 200000, true);
    T_EXIT();
}
