/*
** layout.c — where everything lives in a client's shared region. The
** layout is a pure function of the configuration and the region size, so
** the server computes it once and keeps it privately, and a client checks a
** header simply by recomputing it.
*/
#include "l4lm_serve.h"

_Static_assert(sizeof(l4lm_shm_header) == 64, "header is one cache line");
_Static_assert(sizeof(l4lm_shm_ring) == 192, "ring control is three cache lines");
_Static_assert(sizeof(l4lm_shm_req) == 16, "request slot");
_Static_assert(sizeof(l4lm_shm_resp) == 32, "response slot");
_Static_assert(__builtin_offsetof(l4lm_shm_header, cancel_id) == 60, "cancel_id offset");
_Static_assert(__builtin_offsetof(l4lm_shm_ring, head) == 64, "head on its own line");
_Static_assert(__builtin_offsetof(l4lm_shm_ring, consumer_waiting) == 128, "flags line");

#define PART_ALIGN 64u

l4lm_shm_config l4lm_shm_config_default(void)
{
    l4lm_shm_config c = {8, 64, 64, 16384, 0};
    return c;
}

static bool slots_ok(uint32_t n)
{
    return n >= 2 && n <= L4LM_SHM_MAX_SLOTS && (n & (n - 1)) == 0;
}

static uint64_t align64(uint64_t x)
{
    return (x + PART_ALIGN - 1) & ~(uint64_t)(PART_ALIGN - 1);
}

static l4lm_status check_config(const l4lm_shm_config *c)
{
    if (!slots_ok(c->req_slots) || !slots_ok(c->resp_slots) || c->resp_chunk < 16 ||
        c->resp_chunk % 16 || c->resp_chunk > 4096)
        return L4LM_E_ARG;
    /* The server never starts a token unless its whole text and a DONE fit. */
    uint32_t per_token = (L4LM_SHM_TEXT_CAP + c->resp_chunk - 1) / c->resp_chunk;
    if (c->resp_slots < per_token + 1)
        return L4LM_E_ARG;
    if (c->max_request < L4LM_SHM_REQ_FIXED || c->max_request > (1u << 24) ||
        c->max_grammar > L4LM_SHM_MAX_GRAMMAR)
        return L4LM_E_LIMIT;
    return L4LM_OK;
}

/* Fill the offsets of the fixed parts; returns where request data starts. */
static uint64_t place(const l4lm_shm_config *c, l4lm_shm_header *h)
{
    uint64_t off = sizeof(l4lm_shm_header);
    h->req_ring = (uint32_t)off;
    off = align64(off + sizeof(l4lm_shm_ring) + (uint64_t)c->req_slots * sizeof(l4lm_shm_req));
    h->resp_ring = (uint32_t)off;
    off = align64(off + sizeof(l4lm_shm_ring) + (uint64_t)c->resp_slots * sizeof(l4lm_shm_resp));
    h->resp_data = (uint32_t)off;
    off = align64(off + (uint64_t)c->resp_slots * c->resp_chunk);
    h->req_data = (uint32_t)off;
    return off;
}

l4lm_status l4lm_shm_layout_init(const l4lm_shm_config *cfg, uint32_t size, l4lm_shm_header *h)
{
    if (!cfg || !h)
        return L4LM_E_ARG;
    l4lm_status st = check_config(cfg);
    if (st)
        return st;
    if (size > L4LM_SHM_MAX_REGION)
        return L4LM_E_LIMIT;
    __builtin_memset(h, 0, sizeof *h);
    uint64_t req_data = place(cfg, h);
    /* Every request slot needs room for at least a fixed part in its share. */
    uint64_t least = (uint64_t)cfg->req_slots * align64(L4LM_SHM_REQ_FIXED);
    if (req_data + least > size)
        return L4LM_E_LIMIT;
    h->magic = L4LM_SHM_MAGIC;
    h->version = L4LM_SHM_VERSION;
    h->region_size = size;
    h->header_size = sizeof(l4lm_shm_header);
    h->req_slots = cfg->req_slots;
    h->resp_slots = cfg->resp_slots;
    h->resp_chunk = cfg->resp_chunk;
    h->req_data_size = (uint32_t)((size - req_data) & ~(uint64_t)(PART_ALIGN - 1));
    h->max_request = cfg->max_request;
    h->max_grammar = cfg->max_grammar;
    return L4LM_OK;
}

uint32_t l4lm_shm_layout_bytes(const l4lm_shm_config *cfg, uint32_t req_data)
{
    l4lm_shm_header h;
    if (!cfg || check_config(cfg))
        return 0;
    uint64_t end = align64(place(cfg, &h) + req_data);
    return end <= L4LM_SHM_MAX_REGION ? (uint32_t)end : 0;
}

l4lm_status l4lm_shm_layout_check(const l4lm_shm_header *h, uint32_t size)
{
    if (h->magic != L4LM_SHM_MAGIC)
        return L4LM_E_MAGIC;
    if (h->version != L4LM_SHM_VERSION)
        return L4LM_E_VERSION;
    if (h->region_size != size || h->header_size != sizeof(l4lm_shm_header))
        return L4LM_E_LIMIT;
    l4lm_shm_config c = {h->req_slots, h->resp_slots, h->resp_chunk, h->max_request,
                         h->max_grammar};
    l4lm_shm_header want;
    l4lm_status st = l4lm_shm_layout_init(&c, size, &want);
    if (st)
        return st;
    want.cancel_id = h->cancel_id;
    return __builtin_memcmp(&want, h, sizeof want) ? L4LM_E_LIMIT : L4LM_OK;
}
