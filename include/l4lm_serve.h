/*
** l4lm_serve.h — the l4lm shared-memory service protocol: an inference
** server that owns the model, and untrusted clients that each share one
** memory region with it and ring a doorbell (seL4 notification, eventfd).
** docs/protocol.md is the byte-level specification; this header is its C form.
**
** The region (every offset is from its start, every word a native-endian
** u32 — little-endian on every supported target):
**
**   l4lm_shm_header      layout, written once by the server, plus cancel_id
**   request ring         l4lm_shm_ring control + req_slots x l4lm_shm_req
**   response ring        l4lm_shm_ring control + resp_slots x l4lm_shm_resp
**   response data        resp_slots x resp_chunk bytes of text, server-written
**   request data         the client's bytes; requests point into it
**
** The rings follow sDDF: single producer, single consumer, free-running u32
** tail (written by the producer) and head (written by the consumer), an
** acquire load of the other side's counter before touching slots and a
** release store of our own after, and a "signal me" flag per side so a
** doorbell only rings when the other side sleeps.
**
** Server side (freestanding, event driven):
**   l4lm_shm_server_init(&srv, l4lm_shm_server_engine_l4lm(), &cfg, clients, n, slice,
**                        notify, ctx);
**   l4lm_shm_server_client_init(&srv, i, session_i, work_i, work_size);  // per client
**   l4lm_shm_server_attach(&srv, i, region_i, region_size);              // writes the header
**   on any doorbell:  while (l4lm_shm_server_poll(&srv)) {}              // bounded steps
**
** Client side:
**   l4lm_shm_client_open(&c, region, size, notify, ctx);
**   l4lm_shm_client_submit(&c, &request, &id);
**   while (!done) {
**       if (l4lm_shm_client_next(&c, &ev)) use(ev);
**       else if (l4lm_shm_client_sleep(&c)) wait();
**   }
**
** One prefix per role: l4lm_shm_server_ (the server), l4lm_shm_client_ (a
** client), l4lm_shm_layout_ (the region's layout), l4lm_shm_ring_ (one
** ring), l4lm_shm_request_ (a request's encoding).
*/
#ifndef L4LM_SERVE_H
#define L4LM_SERVE_H

#include "l4lm.h"

#ifdef __cplusplus
extern "C" {
#endif

#define L4LM_SHM_MAGIC   0x4853344cu /* the bytes "L4SH" */
#define L4LM_SHM_VERSION 1u

#define L4LM_SHM_MAX_SLOTS      4096u       /* ring slots: a power of two in [2, this] */
#define L4LM_SHM_MAX_REGION     0x40000000u /* 1 GiB */
#define L4LM_SHM_MAX_STOPS      4u          /* stop strings per request */
#define L4LM_SHM_MAX_STOP_BYTES 32u         /* bytes per stop string */
#define L4LM_SHM_REQ_FIXED      48u         /* bytes of a request body before the prompt */
#define L4LM_SHM_MAX_TOKENS     (1u << 20)
#define L4LM_SHM_MAX_GRAMMAR    65536u /* largest max_grammar a server may set */
/* Text the server may produce for one token: the detokeniser's 32 bytes plus
** the longest vocabulary piece (512), rounded up. */
#define L4LM_SHM_TEXT_CAP 576u

/* The region header (64 bytes at offset 0). Only cancel_id is client-written. */
typedef struct l4lm_shm_header {
    uint32_t magic;       /* L4LM_SHM_MAGIC, stored last (release) by the server */
    uint32_t version;     /* L4LM_SHM_VERSION */
    uint32_t region_size; /* bytes of the whole region */
    uint32_t header_size; /* sizeof(l4lm_shm_header) */
    uint32_t req_ring;    /* offset of the request ring control */
    uint32_t req_slots;
    uint32_t resp_ring; /* offset of the response ring control */
    uint32_t resp_slots;
    uint32_t resp_data;  /* offset of the response data area */
    uint32_t resp_chunk; /* its bytes per response slot (slot i owns chunk i) */
    uint32_t req_data;   /* offset of the request data area */
    uint32_t req_data_size;
    uint32_t max_request; /* largest request body the server accepts */
    uint32_t max_grammar; /* largest grammar a request may carry; 0: grammars refused */
    uint32_t reserved;
    uint32_t cancel_id; /* client: id of a request to cancel; 0 = none */
} l4lm_shm_header;

/* Ring control (192 bytes); the slots follow it. One cache line per writer. */
typedef struct l4lm_shm_ring {
    uint32_t tail; /* producer: slots ever published */
    uint32_t pad0[15];
    uint32_t head; /* consumer: slots ever consumed */
    uint32_t pad1[15];
    uint32_t consumer_waiting; /* consumer sets before sleeping; producer clears and signals */
    uint32_t producer_waiting; /* producer sets when full; consumer clears and signals */
    uint32_t pad2[14];
} l4lm_shm_ring;

/* Request kinds. */
enum { L4LM_SHM_SUBMIT = 1 };

/* A request ring slot (16 bytes): the body is len bytes at req_data + off. */
typedef struct l4lm_shm_req {
    uint32_t kind; /* L4LM_SHM_SUBMIT */
    uint32_t id;   /* chosen by the client, echoed in every response */
    uint32_t off;
    uint32_t len;
} l4lm_shm_req;

/* Response kinds. */
enum {
    L4LM_SHM_TOKEN = 1, /* one generated token: value = its id, text = its text */
    L4LM_SHM_TEXT = 2,  /* text without a token: a long text's leading part, or held-back text */
    L4LM_SHM_DONE = 3   /* the last message of a request: status, usage, text = reason */
};

/* Final status of a request (DONE); values are pinned. */
typedef enum l4lm_shm_status {
    L4LM_SHM_LENGTH = 0,       /* max_tokens generated */
    L4LM_SHM_EOS = 1,          /* the model ended the text */
    L4LM_SHM_STOP = 2,         /* a stop string appeared (its text is never sent) */
    L4LM_SHM_CANCELLED = 3,    /* cancel_id named the request */
    L4LM_SHM_CONTEXT_FULL = 4, /* the context filled up */
    L4LM_SHM_E_KIND = 16,      /* unknown request kind */
    L4LM_SHM_E_RANGE = 17,     /* off/len outside the request data area */
    L4LM_SHM_E_SIZE = 18,      /* body too big, too small, or lengths inconsistent */
    L4LM_SHM_E_OPTION = 19,    /* an option out of range (the text says which) */
    L4LM_SHM_E_PROMPT = 20,    /* the prompt did not tokenize or fit (value: l4lm_status) */
    L4LM_SHM_E_ENGINE = 21,    /* the engine failed (value: l4lm_status) */
    L4LM_SHM_E_UPSTREAM =
        22, /* gateway: the upstream failed or is unreachable (value: HTTP status or 0) */
    L4LM_SHM_E_TIMEOUT = 23, /* gateway: the upstream did not connect or answer in time */
    L4LM_SHM_E_GRAMMAR = 24  /* a grammar refused: none taken, too long or malformed (value:
                                l4lm_status) */
} l4lm_shm_status;

/* A response ring slot (32 bytes). */
typedef struct l4lm_shm_resp {
    uint32_t id;
    uint32_t kind;
    uint32_t status; /* DONE: l4lm_shm_status; else 0 */
    uint32_t off;    /* text: resp_chunk bytes at most, at resp_data + off */
    uint32_t len;
    int32_t value;     /* TOKEN: token id; DONE: an l4lm_status detail (errors) or the prompt
                          tokens kept from the last request (else); TEXT: -1 */
    uint32_t n_prompt; /* usage so far: prompt tokens */
    uint32_t n_gen;    /* usage so far: generated tokens */
} l4lm_shm_resp;

/* Request flags. */
enum {
    L4LM_SHM_NO_BOS = 1,        /* do not prepend BOS to the prompt */
    L4LM_SHM_IGNORE_EOS = 2,    /* keep generating past the end-of-text token */
    L4LM_SHM_CONTEXT_SHIFT = 4, /* a full context drops old tokens after n_keep, goes on */
    L4LM_SHM_GRAMMAR = 8        /* the output must match grammar (GBNF) */
};

/* A request as the client builds it and as the server reads it after decoding. */
typedef struct l4lm_shm_request {
    const char *prompt;
    uint32_t prompt_len;
    uint32_t max_tokens;
    uint32_t flags;
    l4lm_sampler sampler;
    uint32_t n_stop;
    const char *stop[L4LM_SHM_MAX_STOPS];
    uint32_t stop_len[L4LM_SHM_MAX_STOPS];
    uint32_t n_keep;     /* CONTEXT_SHIFT: prompt tokens a shift keeps, after BOS */
    const char *grammar; /* GRAMMAR: GBNF text, 1 .. the server's max_grammar bytes */
    uint32_t grammar_len;
} l4lm_shm_request;

/* Body size of r, or 0 when a length is out of range. */
L4LM_API uint32_t l4lm_shm_request_size(const l4lm_shm_request *r);
/* Write r's body (little-endian, docs/protocol.md) to out; false if it does not fit. */
L4LM_API bool l4lm_shm_request_encode(const l4lm_shm_request *r, uint8_t *out, uint32_t cap);
/*
** Check and decode a body held in private memory; r's pointers point into it.
** Returns L4LM_SHM_LENGTH (0) when valid, else an error status with *why set.
*/
L4LM_API l4lm_shm_status l4lm_shm_request_decode(const uint8_t *body, uint32_t len,
                                                 l4lm_shm_request *r, const char **why);

/* ---- layout ---- */
typedef struct l4lm_shm_config {
    uint32_t req_slots;   /* a power of two */
    uint32_t resp_slots;  /* a power of two, enough for one token's text plus DONE */
    uint32_t resp_chunk;  /* a multiple of 16, at least 16 */
    uint32_t max_request; /* the server's private copy buffer per client */
    uint32_t max_grammar; /* bytes of grammar a request may carry (<= L4LM_SHM_MAX_GRAMMAR);
                             0: requests with a grammar get bad-grammar */
} l4lm_shm_config;

L4LM_API l4lm_shm_config l4lm_shm_config_default(void);
/* Compute the layout for a region of size bytes; E_ARG/E_LIMIT if it cannot fit. */
L4LM_API l4lm_status l4lm_shm_layout_init(const l4lm_shm_config *cfg, uint32_t size,
                                          l4lm_shm_header *h);
/* The smallest region that holds cfg with at least req_data request-data bytes. */
L4LM_API uint32_t l4lm_shm_layout_bytes(const l4lm_shm_config *cfg, uint32_t req_data);
/* Check a layout read from a region of size bytes (the client's view). */
L4LM_API l4lm_status l4lm_shm_layout_check(const l4lm_shm_header *h, uint32_t size);

/* ---- SPSC rings: a private view of one shared ring ---- */
typedef struct l4lm_shm_ring_ref {
    l4lm_shm_ring *ctl; /* shared */
    uint8_t *slots;     /* shared */
    uint32_t n;         /* slot count, a power of two (private) */
    uint32_t slot_size;
    uint32_t index; /* private copy of our own counter (tail or head) */
} l4lm_shm_ring_ref;

L4LM_API void l4lm_shm_ring_init(l4lm_shm_ring_ref *r, void *ctl, uint32_t n, uint32_t slot_size,
                                 uint32_t index);
L4LM_API void *l4lm_shm_ring_slot(const l4lm_shm_ring_ref *r,
                                  uint32_t k); /* the k-th slot after index */
/* Producer: free slots (0 when the consumer's head is impossible); publish k slots. */
L4LM_API uint32_t l4lm_shm_ring_free(const l4lm_shm_ring_ref *r);
L4LM_API void l4lm_shm_ring_push(l4lm_shm_ring_ref *r, uint32_t k);
/* Consumer: filled slots (0 when the producer's tail is impossible); release k slots. */
L4LM_API uint32_t l4lm_shm_ring_avail(const l4lm_shm_ring_ref *r);
L4LM_API void l4lm_shm_ring_pop(l4lm_shm_ring_ref *r, uint32_t k);
/* After push/pop: true when the other side asked to be signalled (flag now cleared). */
L4LM_API bool l4lm_shm_ring_wake_consumer(l4lm_shm_ring_ref *r);
L4LM_API bool l4lm_shm_ring_wake_producer(l4lm_shm_ring_ref *r);
/* Before sleeping: ask to be signalled; true if still nothing to do (then sleep). */
L4LM_API bool l4lm_shm_ring_consumer_sleep(l4lm_shm_ring_ref *r);
L4LM_API bool l4lm_shm_ring_producer_sleep(l4lm_shm_ring_ref *r, uint32_t need);

/* ---- the engine, as the server sees it (one session per client) ---- */
typedef struct l4lm_shm_server_engine {
    void (*start)(void *session, uint64_t seed); /* forget everything, seed the sampler */
    l4lm_status (*tokenize)(void *session, const char *text, size_t len, bool add_bos, int32_t *out,
                            size_t cap, size_t *n);
    l4lm_status (*eval)(void *session, const int32_t *tokens, size_t n);
    l4lm_status (*sample)(void *session, const l4lm_sampler *sp, int32_t *token);
    size_t (*detok)(void *session, l4lm_detok *d, int32_t token, char *buf, size_t cap,
                    l4lm_status *st);
    bool (*is_eos)(void *session, int32_t token);
    /* Optional: the end-of-turn tokens that stop generation like EOS (at
    ** most cap written, how many returned); NULL: none. */
    size_t (*stop_tokens)(void *session, int32_t *ids, size_t cap);
    /*
    ** Optional, for an engine whose tokens come from elsewhere (the gateway);
    ** NULL for a local engine. request: after start, the whole request.
    ** wait: before each generated token; 0 when sample has a token now,
    ** L4LM_SERVE_WAIT when none has arrived yet (the client's turn ends; the
    ** platform polls again when one does), else the request ends with that
    ** status (*value and *why set). end: the request is over or its client
    ** left; drop whatever still works on it.
    */
    void (*request)(void *session, const l4lm_shm_request *r);
    uint32_t (*wait)(void *session, int32_t *value, const char **why);
    void (*end)(void *session);
    /*
    ** Optional (NULL: the engine takes no grammars): constrained output.
    ** grammar_vocab_bytes: the bytes of the session's token table;
    ** grammar_vocab: build it in mem; sample_masked: sample among allowed tokens.
    */
    size_t (*grammar_vocab_bytes)(void *session);
    l4lm_status (*grammar_vocab)(void *session, void *mem, size_t size, l4lm_grammar_vocab **v);
    l4lm_gen_sample_masked sample_masked;
    /* Optional (NULL: CONTEXT_SHIFT ends at a full context as without it):
    ** make room keeping the first keep tokens (l4lm_gen_io.shift). */
    l4lm_status (*shift)(void *session, uint32_t keep);
    /* Optional (NULL: every request starts afresh): instead of start, for
    ** the next request of the same client: seed, keep the longest common
    ** prefix of the session's tokens and ids[0, n), say how many it kept
    ** (l4lm_session_reuse); the rest is evaluated. */
    l4lm_status (*reuse)(void *session, uint64_t seed, const int32_t *ids, size_t n, size_t *kept);
    /* Optional, with reuse (NULL: start): instead of start, put the session
    ** in its first state, which may already hold *exact tokens as an
    ** evaluation afresh gives them (a fixed system prompt's loaded state);
    ** the request then keeps what its prompt shares of them (reuse). Not
    ** L4LM_OK: start is called instead. */
    l4lm_status (*restore)(void *session, uint64_t seed, size_t *exact);
} l4lm_shm_server_engine;

#define L4LM_SERVE_WAIT 0xffffffffu /* from engine->wait: nothing yet (never on the wire) */

/* The real engine: session is an l4lm_session *. (A function, not a global:
** the serve layer keeps no global symbols, writable or not.) */
L4LM_API const l4lm_shm_server_engine *l4lm_shm_server_engine_l4lm(void);

/* ---- server ---- */
typedef void (*l4lm_shm_notify_fn)(void *ctx, uint32_t client);

/* The server's private state for one client; fields are not an API. */
typedef struct l4lm_shm_server_client {
    uint8_t *region;     /* NULL: detached */
    l4lm_shm_header lay; /* private copy of the layout; never re-read */
    l4lm_shm_ring_ref req, resp;
    void *session;
    uint8_t *body;   /* private copy of the request (max_request bytes) */
    int32_t *tokens; /* prompt tokens */
    uint32_t tok_cap;
    uint32_t state; /* idle, prompt or generate */
    uint32_t id, n_prompt, n_fed, n_gen;
    uint32_t n_kept;           /* prompt tokens the session still held from the last request */
    uint32_t exact;            /* leading cached tokens an evaluation afresh would give */
    bool warm;                 /* the session holds this client's earlier requests */
    uint8_t *gmem;             /* grammar memory: the compiled grammar (L4LM_GRAMMAR_BYTES) */
    l4lm_grammar_vocab *vocab; /* the token table after it; NULL: no grammars */
    l4lm_shm_request rq;       /* decoded; points into body */
    l4lm_gen gen;              /* the request's generation: detokeniser, stop strings, text */
} l4lm_shm_server_client;

typedef struct l4lm_shm_server {
    const l4lm_shm_server_engine *engine;
    l4lm_shm_config cfg;
    l4lm_shm_server_client *clients;
    uint32_t n_clients;
    uint32_t next;  /* round-robin: who goes first in the next poll */
    uint32_t slice; /* tokens generated per client per turn (prompt tokens: 8x) */
    l4lm_shm_notify_fn notify;
    void *notify_ctx;
} l4lm_shm_server;

L4LM_API l4lm_status l4lm_shm_server_init(l4lm_shm_server *s, const l4lm_shm_server_engine *engine,
                                          const l4lm_shm_config *cfg,
                                          l4lm_shm_server_client *clients, uint32_t n_clients,
                                          uint32_t slice, l4lm_shm_notify_fn notify,
                                          void *notify_ctx);
/* Bytes of private work memory per client (request copy + prompt tokens). */
L4LM_API size_t l4lm_shm_server_work_bytes(const l4lm_shm_config *cfg, uint32_t max_prompt_tokens);
/* Give client i its engine session and work memory (8-byte aligned). */
L4LM_API l4lm_status l4lm_shm_server_client_init(l4lm_shm_server *s, uint32_t i, void *session,
                                                 void *work, size_t work_size);
/* Bytes of grammar memory a client with this session needs: L4LM_GRAMMAR_BYTES
** plus the session's token table; 0 when cfg.max_grammar is 0 or the engine
** takes no grammars (then none is given and grammars are refused). */
L4LM_API size_t l4lm_shm_server_grammar_bytes(const l4lm_shm_server *s, void *session);
/* After client_init: give client i grammar memory (8-byte aligned, at least
** grammar_bytes); builds the token table in it. Without it, client i's
** requests with a grammar get bad-grammar. */
L4LM_API l4lm_status l4lm_shm_server_client_grammar(l4lm_shm_server *s, uint32_t i, void *mem,
                                                    size_t size);
/* Zero the region (64-byte aligned), write its header; client i is then served. */
L4LM_API l4lm_status l4lm_shm_server_attach(l4lm_shm_server *s, uint32_t i, void *region,
                                            size_t size);
/* The same for a region known to be all zero (a fresh memfd): no page is written but the header's.
 */
L4LM_API l4lm_status l4lm_shm_server_attach_zeroed(l4lm_shm_server *s, uint32_t i, void *region,
                                                   size_t size);
/* Client i has a request in progress. */
L4LM_API bool l4lm_shm_server_busy(const l4lm_shm_server *s, uint32_t i);
/* Stop touching client i's region (its request, if any, is dropped). */
L4LM_API void l4lm_shm_server_detach(l4lm_shm_server *s, uint32_t i);
/*
** One round: every client gets a turn of at most slice generated tokens
** (or 8 x slice prompt tokens), the first client rotating. True when some client can go on right
*away; false
** when all are idle or blocked with their "signal me" flags set.
*/
L4LM_API bool l4lm_shm_server_poll(l4lm_shm_server *s);

/* ---- client ---- */
typedef struct l4lm_shm_event {
    uint32_t id, kind, status;
    int32_t value;
    uint32_t n_prompt, n_gen;
    const char *text; /* in the region; valid until the next l4lm_shm_client_next */
    uint32_t len;
} l4lm_shm_event;

typedef struct l4lm_shm_client {
    uint8_t *region;
    l4lm_shm_header lay;
    l4lm_shm_ring_ref req, resp;
    uint32_t chunk; /* request data bytes per request slot */
    uint32_t next_id;
    uint32_t held; /* response slots handed out by the last l4lm_shm_client_next */
    void (*notify)(void *ctx);
    void *notify_ctx;
} l4lm_shm_client;

/* E_STATE until the server has written the header; E_MAGIC/E_VERSION/E_LIMIT if bad. */
L4LM_API l4lm_status l4lm_shm_client_open(l4lm_shm_client *c, void *region, size_t size,
                                          void (*notify)(void *ctx), void *notify_ctx);
/* Queue a request; E_BUFFER when the ring is full (sleep on space), E_LIMIT if too big. */
L4LM_API l4lm_status l4lm_shm_client_submit(l4lm_shm_client *c, const l4lm_shm_request *r,
                                            uint32_t *id);
/* The next response message, if any. */
L4LM_API bool l4lm_shm_client_next(l4lm_shm_client *c, l4lm_shm_event *ev);
/* Ask the server to stop request id (within one token) and ring the doorbell. */
L4LM_API void l4lm_shm_client_cancel(l4lm_shm_client *c, uint32_t id);
/* Before blocking on the doorbell: true if there is still nothing to read / no space. */
L4LM_API bool l4lm_shm_client_sleep(l4lm_shm_client *c);
L4LM_API bool l4lm_shm_client_sleep_space(l4lm_shm_client *c);

L4LM_API const char *l4lm_shm_status_name(uint32_t status);

#ifdef __cplusplus
}
#endif
#endif
