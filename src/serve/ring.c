/*
** ring.c — single-producer single-consumer rings in shared memory, sDDF
** style. Each side keeps its own counter privately and only publishes it;
** the other side's counter is read with an acquire load and checked, since
** the peer may be hostile: an impossible counter reads as "nothing to do".
**
** The "signal me" flags avoid a lost wake-up with a store-load fence on each
** side (Dekker): a sleeper sets its flag, fences, rechecks the ring; a
** waker publishes, fences, reads the flag. At least one of them sees the
** other's store, and doorbells are sticky (seL4 notifications, eventfd).
*/
#include "l4lm_serve.h"

static uint32_t load_acquire(const uint32_t *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void store_release(uint32_t *p, uint32_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

void l4lm_shm_ring_init(l4lm_shm_ring_ref *r, void *ctl, uint32_t n, uint32_t slot_size,
                        uint32_t index)
{
    r->ctl = ctl;
    r->slots = (uint8_t *)ctl + sizeof(l4lm_shm_ring);
    r->n = n;
    r->slot_size = slot_size;
    r->index = index;
}

void *l4lm_shm_ring_slot(const l4lm_shm_ring_ref *r, uint32_t k)
{
    return r->slots + (size_t)((r->index + k) & (r->n - 1)) * r->slot_size;
}

/* Free-running counters: tail - head is the fill level modulo 2^32. */
uint32_t l4lm_shm_ring_free(const l4lm_shm_ring_ref *r)
{
    uint32_t used = r->index - load_acquire(&r->ctl->head);
    return used <= r->n ? r->n - used : 0;
}

void l4lm_shm_ring_push(l4lm_shm_ring_ref *r, uint32_t k)
{
    r->index += k;
    store_release(&r->ctl->tail, r->index);
}

uint32_t l4lm_shm_ring_avail(const l4lm_shm_ring_ref *r)
{
    uint32_t filled = load_acquire(&r->ctl->tail) - r->index;
    return filled <= r->n ? filled : 0;
}

void l4lm_shm_ring_pop(l4lm_shm_ring_ref *r, uint32_t k)
{
    r->index += k;
    store_release(&r->ctl->head, r->index);
}

/* Clear a set flag and report that it was set. */
static bool take_flag(uint32_t *flag)
{
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (!__atomic_load_n(flag, __ATOMIC_RELAXED))
        return false;
    __atomic_store_n(flag, 0, __ATOMIC_RELAXED);
    return true;
}

bool l4lm_shm_ring_wake_consumer(l4lm_shm_ring_ref *r)
{
    return take_flag(&r->ctl->consumer_waiting);
}

bool l4lm_shm_ring_wake_producer(l4lm_shm_ring_ref *r)
{
    return take_flag(&r->ctl->producer_waiting);
}

bool l4lm_shm_ring_consumer_sleep(l4lm_shm_ring_ref *r)
{
    __atomic_store_n(&r->ctl->consumer_waiting, 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return l4lm_shm_ring_avail(r) == 0;
}

bool l4lm_shm_ring_producer_sleep(l4lm_shm_ring_ref *r, uint32_t need)
{
    __atomic_store_n(&r->ctl->producer_waiting, 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return l4lm_shm_ring_free(r) < need;
}
