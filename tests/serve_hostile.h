/*
** serve_hostile.h — what a hostile client does to its shared region, for
** the fuzz tests: random words anywhere (header, flags, slots, data),
** half-valid requests (a valid body with random bytes, with or without a
** context shift and a grammar, valid or malformed; sometimes a random
** length or kind), random cancel_ids, and consuming responses like a real
** client so the server keeps working for it. The four ring counters are
** scribbled only rarely: a client that destroys them is simply not served
** any more, which tests little.
*/
#ifndef SERVE_HOSTILE_H
#define SERVE_HOSTILE_H
#include <string.h>

#include "l4lm_serve.h"

typedef struct hostile_stats {
    uint64_t moves, requests, responses, errors;
} hostile_stats;

static uint64_t hostile_rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void hostile_poke(uint8_t *p, uint32_t v)
{
    __atomic_store_n((uint32_t *)p, v, __ATOMIC_RELAXED);
}

static uint32_t hostile_peek(const uint8_t *p)
{
    return __atomic_load_n((const uint32_t *)p, __ATOMIC_RELAXED);
}

static bool hostile_is_counter(const l4lm_shm_header *h, uint32_t at)
{
    return at == h->req_ring || at == h->req_ring + 64 || at == h->resp_ring ||
           at == h->resp_ring + 64;
}

/* A valid request with a few random bytes, at a random place, pushed honestly. */
static void hostile_request(uint8_t *base, const l4lm_shm_header *h, uint64_t *s)
{
    static const char *const prompts[] = {"Once", "hostile", "", "\xff\xfe\x80", "The dog"};
    uint8_t body[256];
    l4lm_shm_request r;
    memset(&r, 0, sizeof r);
    r.prompt = prompts[hostile_rnd(s) % 5];
    r.prompt_len = (uint32_t)strlen(r.prompt);
    r.max_tokens = (uint32_t)(hostile_rnd(s) % 64);
    r.flags = (uint32_t)(hostile_rnd(s) % 16); /* also context shift and grammar */
    r.n_keep = (uint32_t)(hostile_rnd(s) % 8);
    static const char *const grammars[] = {"root ::= [a-z ]+", "root ::= (", "root ::= x"};
    r.grammar = grammars[hostile_rnd(s) % 3];
    r.grammar_len = (uint32_t)strlen(r.grammar);
    r.sampler = (l4lm_sampler){0.5f, 10, 0.9f, 0.0f, 1.0f, 64, hostile_rnd(s)};
    r.n_stop = (uint32_t)(hostile_rnd(s) % 2);
    r.stop[0] = "e";
    r.stop_len[0] = 1;
    uint32_t len = l4lm_shm_request_size(&r);
    l4lm_shm_request_encode(&r, body, sizeof body);
    for (uint64_t k = hostile_rnd(s) % 3; k > 0; k--)
        body[hostile_rnd(s) % len] = (uint8_t)hostile_rnd(s);
    uint32_t off = (uint32_t)(hostile_rnd(s) % (h->req_data_size - sizeof body));
    memcpy(base + h->req_data + off, body, len);
    l4lm_shm_ring *ring = (l4lm_shm_ring *)(base + h->req_ring);
    uint32_t tail = hostile_peek((uint8_t *)&ring->tail);
    uint32_t head = hostile_peek((uint8_t *)&ring->head);
    if (tail - head >= h->req_slots)
        tail = head; /* resynchronise with the server's last published head */
    l4lm_shm_req m = {1, (uint32_t)(hostile_rnd(s) % 8), off, len};
    if (hostile_rnd(s) % 16 == 0)
        m.kind = (uint32_t)hostile_rnd(s);
    if (hostile_rnd(s) % 8 == 0)
        m.len = (uint32_t)hostile_rnd(s);
    if (hostile_rnd(s) % 16 == 0)
        m.off = (uint32_t)hostile_rnd(s);
    memcpy(base + h->req_ring + sizeof *ring + (tail % h->req_slots) * sizeof m, &m, sizeof m);
    hostile_poke((uint8_t *)&ring->tail, tail + 1);
}

/* Read the responses like a client (counting them), then release them all. */
static void hostile_consume(uint8_t *base, const l4lm_shm_header *h, hostile_stats *st)
{
    l4lm_shm_ring *ring = (l4lm_shm_ring *)(base + h->resp_ring);
    uint32_t tail = hostile_peek((uint8_t *)&ring->tail);
    uint32_t head = hostile_peek((uint8_t *)&ring->head);
    for (; head != tail && tail - head <= h->resp_slots; head++) {
        const uint8_t *m =
            base + h->resp_ring + sizeof *ring + (head % h->resp_slots) * sizeof(l4lm_shm_resp);
        if (hostile_peek(m + 4) == L4LM_SHM_DONE) {
            st->responses++;
            st->errors += hostile_peek(m + 8) >= L4LM_SHM_E_KIND;
        }
    }
    hostile_poke((uint8_t *)&ring->head, tail);
}

/* One move; true when it pushed a request (the caller may ring the doorbell). */
static bool hostile_move(uint8_t *base, const l4lm_shm_header *h, uint32_t size, uint64_t *s,
                         hostile_stats *st)
{
    uint32_t what = (uint32_t)(hostile_rnd(s) % 16);
    st->moves++;
    if (what < 4) { /* anywhere, or (move 0) in the header, rings and slots */
        uint32_t span = what == 0 ? h->resp_data : size;
        uint32_t at = (uint32_t)(hostile_rnd(s) % (span / 4)) * 4;
        if (!hostile_is_counter(h, at) || hostile_rnd(s) % 1024 == 0)
            hostile_poke(base + at, hostile_rnd(s) % 2 ? (uint32_t)hostile_rnd(s)
                                                       : (uint32_t)(hostile_rnd(s) % 64));
        return false;
    }
    if (what < 8) {
        hostile_request(base, h, s);
        st->requests++;
        return true;
    }
    if (what == 8)
        hostile_poke(base + 60, (uint32_t)(hostile_rnd(s) % 8)); /* cancel_id */
    else
        hostile_consume(base, h, st);
    return false;
}
#endif
