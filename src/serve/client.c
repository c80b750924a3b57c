/*
** client.c — the client side of the protocol: open a region the server has
** laid out, send requests, read the stream of responses, cancel.
**
** The client splits its request data area into one share per request slot:
** the body of the request in ring slot i lives in share i, so a share is
** free again as soon as the server has consumed that slot. Responses are
** released lazily (on the next l4lm_shm_client_next) so their text can be read in
** place. A faulty server cannot make the client read outside the region:
** response offsets and lengths are checked here too.
*/
#include "l4lm_serve.h"

l4lm_status l4lm_shm_client_open(l4lm_shm_client *c, void *region, size_t size,
                                 void (*notify)(void *ctx), void *notify_ctx)
{
    if (!c || !region || !notify || ((uintptr_t)region & 63) || size > L4LM_SHM_MAX_REGION)
        return L4LM_E_ARG;
    const l4lm_shm_header *h = region;
    if (__atomic_load_n(&h->magic, __ATOMIC_ACQUIRE) == 0)
        return L4LM_E_STATE;
    __builtin_memcpy(&c->lay, h, sizeof c->lay);
    l4lm_status st = l4lm_shm_layout_check(&c->lay, (uint32_t)size);
    if (st)
        return st;
    uint8_t *base = region;
    l4lm_shm_ring *req = (l4lm_shm_ring *)(base + c->lay.req_ring);
    l4lm_shm_ring *resp = (l4lm_shm_ring *)(base + c->lay.resp_ring);
    l4lm_shm_ring_init(&c->req, req, c->lay.req_slots, sizeof(l4lm_shm_req),
                       __atomic_load_n(&req->tail, __ATOMIC_RELAXED));
    l4lm_shm_ring_init(&c->resp, resp, c->lay.resp_slots, sizeof(l4lm_shm_resp),
                       __atomic_load_n(&resp->head, __ATOMIC_RELAXED));
    c->region = base;
    c->chunk = (c->lay.req_data_size / c->lay.req_slots) & ~7u;
    if (c->chunk > c->lay.max_request)
        c->chunk = c->lay.max_request;
    c->next_id = 1;
    c->held = 0;
    c->notify = notify;
    c->notify_ctx = notify_ctx;
    return L4LM_OK;
}

l4lm_status l4lm_shm_client_submit(l4lm_shm_client *c, const l4lm_shm_request *r, uint32_t *id)
{
    uint32_t size = l4lm_shm_request_size(r);
    if (!size || size > c->chunk)
        return L4LM_E_LIMIT;
    if (!l4lm_shm_ring_free(&c->req))
        return L4LM_E_BUFFER;
    uint32_t off = (c->req.index & (c->req.n - 1)) * c->chunk;
    l4lm_shm_request_encode(r, c->region + c->lay.req_data + off, size);
    if (c->next_id == 0)
        c->next_id = 1; /* 0 means "no request" in cancel_id */
    l4lm_shm_req m = {L4LM_SHM_SUBMIT, c->next_id++, off, size};
    __builtin_memcpy(l4lm_shm_ring_slot(&c->req, 0), &m, sizeof m);
    l4lm_shm_ring_push(&c->req, 1);
    if (l4lm_shm_ring_wake_consumer(&c->req))
        c->notify(c->notify_ctx);
    if (id)
        *id = m.id;
    return L4LM_OK;
}

/* Give back the slot of the last event; the server may be waiting for room. */
static void release(l4lm_shm_client *c)
{
    if (!c->held)
        return;
    l4lm_shm_ring_pop(&c->resp, c->held);
    c->held = 0;
    if (l4lm_shm_ring_wake_producer(&c->resp))
        c->notify(c->notify_ctx);
}

bool l4lm_shm_client_next(l4lm_shm_client *c, l4lm_shm_event *ev)
{
    release(c);
    if (!l4lm_shm_ring_avail(&c->resp))
        return false;
    l4lm_shm_resp m;
    __builtin_memcpy(&m, l4lm_shm_ring_slot(&c->resp, 0), sizeof m);
    uint32_t area = c->lay.resp_slots * c->lay.resp_chunk;
    bool text_ok = m.off <= area && m.len <= area - m.off;
    ev->id = m.id;
    ev->kind = m.kind;
    ev->status = m.status;
    ev->value = m.value;
    ev->n_prompt = m.n_prompt;
    ev->n_gen = m.n_gen;
    ev->text = (const char *)c->region + c->lay.resp_data + (text_ok ? m.off : 0);
    ev->len = text_ok ? m.len : 0;
    c->held = 1;
    return true;
}

void l4lm_shm_client_cancel(l4lm_shm_client *c, uint32_t id)
{
    l4lm_shm_header *h = (l4lm_shm_header *)c->region;
    __atomic_store_n(&h->cancel_id, id, __ATOMIC_RELEASE);
    c->notify(c->notify_ctx);
}

bool l4lm_shm_client_sleep(l4lm_shm_client *c)
{
    release(c);
    return l4lm_shm_ring_consumer_sleep(&c->resp);
}

bool l4lm_shm_client_sleep_space(l4lm_shm_client *c)
{
    return l4lm_shm_ring_producer_sleep(&c->req, 1);
}
