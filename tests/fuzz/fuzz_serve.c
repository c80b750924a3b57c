/*
** fuzz_serve.c — libFuzzer harness: the service-protocol server (and the
** client library reading what comes back) with two client regions. The
** input is a script of moves. Client 0 is hostile: it pokes bytes or words
** anywhere in its region (header, counters, flags, slots, data), submits
** requests with any options through the client library or pushes raw
** slots with made-up bodies, cancels, re-attaches. Client 1 is honest: it
** only submits valid requests and reads the answers. Between moves the
** server polls.
**
** Requests may carry a context shift (n_keep) and a grammar (from a list
** of valid and malformed ones, or input bytes): the real engine compiles
** it into the client's grammar memory, the fake one takes no grammars.
**
** Engine: byte 0 picks the fake engine of tests/serve_fake.h (fast) or,
** one time in four, the real engine over tiny.gguf (tools/mkgguf: one
** layer, 262 tokens) with a 32-token context, and the slice.
** Checked besides memory safety (each region is a heap block of exactly its
** size): a poll changes only what the protocol lets the server write (the
** request ring's head and flags, the response ring's tail and flags, the
** response slots and the response data); every event the client library
** hands out points inside the region; and, with the fake engine, every
** answer the honest client gets is exactly serve_fake.h's reference()
** stream for its request, whatever its neighbour does.
*/
#define _GNU_SOURCE /* serve_fake.h uses memmem */
#include "fuzz.h"
#include "serve_fake.h"

#define N_CLIENTS      2
#define REQ_DATA       2048u
#define TOK_CAP        64u
#define MAX_MOVES      256
#define MAX_POLLS_REAL 16 /* the real engine costs a forward pass per token */

static const l4lm_shm_config cfg = {4, 16, 64, 512, 128};
static uint32_t region_size;
static l4lm_shm_header lay; /* the layout the server computes; never read from a region */
static uint8_t *region[N_CLIENTS];
static volatile uint8_t sink; /* reads of event text land here */
static void *work[N_CLIENTS];
static size_t work_size;
static void *gram[N_CLIENTS]; /* the real engine's grammar memory */
static size_t gram_size;
static l4lm_session *real[N_CLIENTS]; /* NULL without a model */
static l4lm_model model;
static uint32_t fields[64], n_fields;

/* The honest client's requests in flight (copies), and the answer being read. */
typedef struct honest_req {
    l4lm_shm_request r;
    char prompt[24], stops[L4LM_SHM_MAX_STOPS][4];
} honest_req;
static honest_req queue[8];
static uint32_t q_head, q_tail;
static stream got, want;
static bool check_answers; /* the fake engine has a reference */

static void ring_client(void *ctx, uint32_t i)
{
    (void)ctx;
    (void)i;
}

static void ring_server(void *ctx)
{
    (void)ctx;
}

/* Words worth aiming at: the header, the four counters and flags, the first slots. */
static void add_fields(void)
{
    for (uint32_t w = 0; w < 16; w++)
        fields[n_fields++] = 4 * w;
    uint32_t rings[2] = {lay.req_ring, lay.resp_ring};
    for (int r = 0; r < 2; r++) {
        fields[n_fields++] = rings[r];
        fields[n_fields++] = rings[r] + 64;
        fields[n_fields++] = rings[r] + 128;
        fields[n_fields++] = rings[r] + 132;
        for (uint32_t w = 0; w < 16; w++)
            fields[n_fields++] = rings[r] + (uint32_t)sizeof(l4lm_shm_ring) + 4 * w;
    }
}

/* The parts of a region the server must never write (docs/protocol.md, section
** 1): all but the request ring's head and flags, the response ring's tail and
** flags, the response slots and the response data. */
static uint32_t frozen[8][2], n_frozen;

static void freeze(uint32_t from, uint32_t to)
{
    frozen[n_frozen][0] = from;
    frozen[n_frozen++][1] = to;
}

static void add_frozen(void)
{
    uint32_t resp_end = lay.resp_data + lay.resp_slots * lay.resp_chunk;
    freeze(0, lay.req_ring + 64);                   /* header, request tail */
    freeze(lay.req_ring + 68, lay.req_ring + 128);  /* padding */
    freeze(lay.req_ring + 136, lay.resp_ring);      /* padding, request slots */
    freeze(lay.resp_ring + 4, lay.resp_ring + 128); /* padding, response head */
    freeze(lay.resp_ring + 136, lay.resp_ring + 192);
    freeze(resp_end, region_size); /* request data */
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    region_size = l4lm_shm_layout_bytes(&cfg, REQ_DATA);
    FUZZ_CHECK(region_size && !l4lm_shm_layout_init(&cfg, region_size, &lay), "layout");
    add_fields();
    add_frozen();
    work_size = l4lm_shm_server_work_bytes(&cfg, TOK_CAP);
    for (int i = 0; i < N_CLIENTS; i++) {
        region[i] = fuzz_arena(region_size);
        work[i] = fuzz_arena(work_size);
    }
    size_t size;
    uint8_t *bytes = fuzz_load("tiny.gguf", &size);
    static void *index; /* lives as long as model */
    if (bytes && !fuzz_open(&model, bytes, size, NULL, 0, &index)) {
        l4lm_run_opts o = {.n_ctx = 32, .kv_type = L4LM_KV_F16, .max_prompt_bytes = 256};
        void *arena;
        for (int i = 0; i < N_CLIENTS; i++)
            real[i] = fuzz_session(&model, &o, &arena);
        l4lm_shm_server tmp; /* asked only how much grammar memory a session needs */
        l4lm_shm_server_client one;
        if (real[0] && !l4lm_shm_server_init(&tmp, l4lm_shm_server_engine_l4lm(), &cfg, &one, 1, 1,
                                             ring_client, NULL))
            gram_size = l4lm_shm_server_grammar_bytes(&tmp, real[0]);
        FUZZ_CHECK(!real[0] || gram_size, "grammar memory size");
        for (int i = 0; i < N_CLIENTS && real[0]; i++)
            gram[i] = fuzz_arena(gram_size);
    }
    if (!real[0])
        fprintf(stderr, "fuzz_serve: no model in $L4LM_FUZZ_MODELS; fake engine only\n");
    return 0;
}

/* One server poll; each region may change only where the server may write. */
static bool poll_checked(l4lm_shm_server *srv)
{
    static uint8_t before[N_CLIENTS][1 << 16];
    FUZZ_CHECK(region_size <= sizeof before[0], "region too big for the check");
    for (int i = 0; i < N_CLIENTS; i++)
        memcpy(before[i], region[i], region_size);
    bool more = l4lm_shm_server_poll(srv);
    for (int i = 0; i < N_CLIENTS; i++)
        for (uint32_t k = 0; k < n_frozen; k++)
            FUZZ_CHECK(!memcmp(before[i] + frozen[k][0], region[i] + frozen[k][0],
                               frozen[k][1] - frozen[k][0]),
                       "server wrote into bytes %u..%u of region %d", frozen[k][0], frozen[k][1],
                       i);
    return more;
}

/* The honest client's answer is complete: it must be the reference stream. */
static void answer_done(void)
{
    FUZZ_CHECK(q_head != q_tail, "an answer to no request");
    const honest_req *h = &queue[q_head++ % 8];
    if (check_answers) {
        reference(&h->r, TOK_CAP, &want);
        const char *d = stream_diff(&got, &want);
        FUZZ_CHECK(!*d, "honest client got another answer: %s", d);
    }
    memset(&got, 0, sizeof got);
}

/* Read up to 32 events as a client would; each must point into the region. */
static void drain(l4lm_shm_client *c, int i)
{
    l4lm_shm_event ev;
    for (int k = 0; k < 32 && l4lm_shm_client_next(c, &ev); k++) {
        const uint8_t *t = (const uint8_t *)ev.text;
        FUZZ_CHECK(t >= region[i] && ev.len <= region_size &&
                       (size_t)(t - region[i]) <= region_size - ev.len,
                   "event text outside region");
        if (ev.len)
            sink ^= t[ev.len - 1]; /* touch its end: ASan checks the read */
        if (i == 1) {
            absorb(&got, &ev);
            if (got.done)
                answer_done();
        }
    }
}

/* A grammar for the hostile client: valid, malformed, or input bytes. */
static void pick_grammar(l4lm_shm_request *r, fuzz_in *f, char *buf, size_t cap)
{
    static const char *const some[] = {"root ::= [a-z ]+ \".\"",
                                       "root ::= \"Once\" | \"The\"",
                                       "root ::= x",
                                       "root ::= (",
                                       "root ::= [^\\n]*",
                                       "x ::= \"a\""};
    uint32_t k = fuzz_u8(f) % 8;
    if (k < 6) {
        r->grammar = some[k];
        r->grammar_len = (uint32_t)strlen(some[k]);
        return;
    }
    r->grammar_len = 1 + fuzz_u8(f) % (uint32_t)(cap - 1);
    for (uint32_t i = 0; i < r->grammar_len; i++)
        buf[i] = (char)fuzz_u8(f);
    r->grammar = buf;
}

/* A request through the client library, from the input; the hostile
** client's options may be invalid. The honest one keeps a copy. */
static void submit(l4lm_shm_client *c, fuzz_in *f, bool honest)
{
    static honest_req scratch;
    honest_req *h = honest ? &queue[q_tail % 8] : &scratch;
    char *prompt = h->prompt;
    l4lm_shm_request r;
    memset(&r, 0, sizeof r);
    /* honest prompts have a token even without BOS: the server refuses an empty one */
    r.prompt_len = fuzz_u8(f) % sizeof h->prompt;
    if (honest && r.prompt_len == 0)
        r.prompt_len = 1;
    for (uint32_t i = 0; i < r.prompt_len; i++)
        prompt[i] = (char)fuzz_u8(f);
    r.prompt = prompt;
    r.max_tokens = fuzz_u8(f) % 12;
    /* the fake engine's reference knows no context shift or grammar */
    r.flags = fuzz_u8(f) % (honest ? 4 : 16);
    uint32_t raw = honest ? 0 : fuzz_u8(f);
    /* one statement each: the input is read in this order */
    r.sampler.temperature = fuzz_u8(f) / 32.0f;
    r.sampler.top_k = (int32_t)(fuzz_u8(f) % 8);
    r.sampler.top_p = (fuzz_u8(f) + 1) / 256.0f;
    r.sampler.min_p = fuzz_u8(f) / 512.0f;
    r.sampler.repeat_penalty = 1.0f + fuzz_u8(f) / 64.0f;
    r.sampler.repeat_last_n = (int32_t)(fuzz_u8(f) % 16) - 1;
    r.sampler.seed = fuzz_u32(f);
    if (raw & 1) { /* the raw bits of a float: NaN, infinities, negatives */
        uint32_t u = fuzz_u32(f);
        memcpy(raw & 2 ? &r.sampler.temperature : &r.sampler.top_p, &u, 4);
    }
    if (raw & 4)
        r.flags = fuzz_u32(f);
    r.n_stop = fuzz_u8(f) % 3;
    for (uint32_t i = 0; i < r.n_stop; i++) {
        r.stop_len[i] = 1 + fuzz_u8(f) % 4;
        for (uint32_t j = 0; j < r.stop_len[i]; j++)
            h->stops[i][j] = (char)fuzz_u8(f);
        r.stop[i] = h->stops[i];
    }
    static char gbuf[64];
    r.n_keep = r.flags & L4LM_SHM_CONTEXT_SHIFT ? fuzz_u8(f) % 40 : 0;
    if (r.flags & L4LM_SHM_GRAMMAR)
        pick_grammar(&r, f, gbuf, sizeof gbuf);
    if (l4lm_shm_client_submit(c, &r, NULL) == L4LM_OK && honest) {
        h->r = r;
        q_tail++;
        FUZZ_CHECK(q_tail - q_head < 8, "more requests in flight than slots");
    }
}

/* A slot pushed by hand: any kind, id, offset and length, a body of input bytes. */
static void push_raw(uint8_t *base, fuzz_in *f)
{
    uint32_t len = fuzz_u8(f) % 96;
    uint32_t off = fuzz_u16(f) % REQ_DATA;
    for (uint32_t i = 0; i < len && off + i < lay.req_data_size; i++)
        base[lay.req_data + off + i] = (uint8_t)fuzz_u8(f);
    uint32_t how = fuzz_u8(f);
    l4lm_shm_req m;
    m.kind = how & 1 ? fuzz_u32(f) : L4LM_SHM_SUBMIT;
    m.id = fuzz_u8(f);
    m.off = how & 2 ? fuzz_u32(f) : off;
    m.len = how & 4 ? fuzz_u32(f) : len;
    uint32_t *tail = (uint32_t *)(base + lay.req_ring);
    uint32_t t = __atomic_load_n(tail, __ATOMIC_RELAXED);
    memcpy(base + lay.req_ring + sizeof(l4lm_shm_ring) + (t % lay.req_slots) * sizeof m, &m,
           sizeof m);
    __atomic_store_n(tail, t + 1, __ATOMIC_RELEASE);
}

static void attach(l4lm_shm_server *srv, l4lm_shm_client *c, int i)
{
    FUZZ_CHECK(!l4lm_shm_server_attach(srv, (uint32_t)i, region[i], region_size), "attach");
    FUZZ_CHECK(!l4lm_shm_client_open(c, region[i], region_size, ring_server, NULL), "open");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fake fakes[N_CLIENTS];
    fuzz_in f = {data, size};
    uint32_t mode = fuzz_u8(&f);
    bool use_real = mode % 4 == 1 && real[0];
    l4lm_shm_server srv;
    l4lm_shm_server_client cl[N_CLIENTS];
    l4lm_shm_client cli[N_CLIENTS];
    l4lm_shm_server_init(&srv, use_real ? l4lm_shm_server_engine_l4lm() : &fake_engine, &cfg, cl,
                         N_CLIENTS, 1 + (mode >> 2) % 4, ring_client, NULL);
    check_answers = !use_real;
    q_head = q_tail = 0;
    memset(&got, 0, sizeof got);
    for (int i = 0; i < N_CLIENTS; i++) {
        memset(&fakes[i], 0, sizeof fakes[i]);
        fakes[i].n_ctx = TOK_CAP;
        void *session = use_real ? (void *)real[i] : (void *)&fakes[i];
        FUZZ_CHECK(!l4lm_shm_server_client_init(&srv, (uint32_t)i, session, work[i], work_size),
                   "init");
        if (use_real)
            FUZZ_CHECK(!l4lm_shm_server_client_grammar(&srv, (uint32_t)i, gram[i], gram_size),
                       "grammar memory");
        attach(&srv, &cli[i], i);
    }
    int polls = 0, max_polls = use_real ? MAX_POLLS_REAL : 256;
    for (int moves = 0; f.n && moves < MAX_MOVES; moves++) {
        uint32_t op = fuzz_u8(&f), k = (op >> 4) % N_CLIENTS, v;
        uint8_t *base = region[0];
        if (k == 1 && op % 8 != 2 && op % 8 != 5) /* the honest client submits and reads */
            op = 4;
        switch (op % 8) {
        case 0: /* bytes anywhere */
            v = fuzz_u16(&f) % region_size;
            for (uint32_t n = 1 + fuzz_u8(&f) % 16; n-- && v < region_size;)
                base[v++] = (uint8_t)fuzz_u8(&f);
            break;
        case 1: /* a word in the header, the ring controls or the first slots */
            v = fields[fuzz_u8(&f) % n_fields];
            __atomic_store_n((uint32_t *)(base + v),
                             fuzz_u8(&f) & 1 ? fuzz_u32(&f) : fuzz_u8(&f) % 8, __ATOMIC_RELAXED);
            break;
        case 2:
            submit(&cli[k], &f, k == 1);
            break;
        case 3:
            push_raw(base, &f);
            break;
        case 4:
            for (v = 1 + fuzz_u8(&f) % 4; v-- && polls < max_polls; polls++)
                poll_checked(&srv);
            break;
        case 5:
            drain(&cli[k], (int)k);
            break;
        case 6:
            l4lm_shm_client_cancel(&cli[0], fuzz_u8(&f) % 8);
            break;
        default:
            l4lm_shm_server_detach(&srv, 0);
            attach(&srv, &cli[0], 0);
        }
    }
    /* let the server finish what it can, reading as the clients */
    for (; polls < max_polls && poll_checked(&srv); polls++)
        for (int i = 0; i < N_CLIENTS; i++)
            drain(&cli[i], i);
    return 0;
}
