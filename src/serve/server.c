/*
** server.c — the inference server's event-driven core. l4lm_shm_server_poll()
** does a bounded amount of work (per client at most `slice` forward passes)
** so it can run inside a Microkit notified() handler; doorbells are a
** platform callback.
**
** Trust: the region is written by a possibly hostile client at any moment.
** The server keeps the layout and its own ring counters privately and
** never reads them back; it reads only the client's counters (checked by
** the ring code), the request slot (each word loaded once), the request
** body (copied into private memory, then checked) and cancel_id. Every
** write goes to an offset computed from the private layout.
**
** Isolation: each client has its own engine session, request copy, token
** buffer and grammar memory. A session is reset and reseeded (or put in the
** engine's fixed first state: restore) at a client's first request after
** its region was attached or an error; a later request of the same
** client keeps the longest common prefix of the cached tokens and its prompt
** (when the engine can: reuse), which gives the same tokens as evaluating
** them again, so nothing of one request changes another's answer and
** nothing of one client reaches another.
**
** An engine whose tokens come from elsewhere (the gateway) answers wait()
** before each token; while it has none the client's turn ends as if it were
** blocked, and the platform polls again when one arrives.
*/
#include "bytes.h"
#include "l4lm_serve.h"

enum { IDLE, PROMPT, GENERATE };

/* A turn's budget in units: a generated token costs this many, a prompt token one. */
#define PROMPT_UNITS 8u

l4lm_status l4lm_shm_server_init(l4lm_shm_server *s, const l4lm_shm_server_engine *engine,
                                 const l4lm_shm_config *cfg, l4lm_shm_server_client *clients,
                                 uint32_t n_clients, uint32_t slice, l4lm_shm_notify_fn notify,
                                 void *notify_ctx)
{
    if (!s || !engine || !cfg || !clients || !n_clients || !slice || slice > 65536 || !notify ||
        !l4lm_shm_layout_bytes(cfg, 0))
        return L4LM_E_ARG;
    __builtin_memset(clients, 0, n_clients * sizeof *clients);
    s->engine = engine;
    s->cfg = *cfg;
    s->clients = clients;
    s->n_clients = n_clients;
    s->next = 0;
    s->slice = slice;
    s->notify = notify;
    s->notify_ctx = notify_ctx;
    return L4LM_OK;
}

static size_t body_bytes(const l4lm_shm_config *cfg)
{
    return ((size_t)cfg->max_request + 7) & ~(size_t)7;
}

size_t l4lm_shm_server_work_bytes(const l4lm_shm_config *cfg, uint32_t max_prompt_tokens)
{
    return body_bytes(cfg) + (size_t)max_prompt_tokens * sizeof(int32_t);
}

l4lm_status l4lm_shm_server_client_init(l4lm_shm_server *s, uint32_t i, void *session, void *work,
                                        size_t work_size)
{
    if (!s || i >= s->n_clients || !session || !work || ((uintptr_t)work & 7) ||
        work_size < l4lm_shm_server_work_bytes(&s->cfg, 1))
        return L4LM_E_ARG;
    l4lm_shm_server_client *c = &s->clients[i];
    size_t tok_cap = (work_size - body_bytes(&s->cfg)) / sizeof(int32_t);
    c->session = session;
    c->body = work;
    c->tokens = (int32_t *)((uint8_t *)work + body_bytes(&s->cfg));
    c->tok_cap = tok_cap > L4LM_MAX_CTX ? L4LM_MAX_CTX : (uint32_t)tok_cap;
    return L4LM_OK;
}

l4lm_status l4lm_shm_server_attach(l4lm_shm_server *s, uint32_t i, void *region, size_t size)
{
    if (!region || size > L4LM_SHM_MAX_REGION)
        return L4LM_E_ARG;
    /* Nothing a previous user of the region left behind may remain. */
    __builtin_memset(region, 0, size);
    return l4lm_shm_server_attach_zeroed(s, i, region, size);
}

l4lm_status l4lm_shm_server_attach_zeroed(l4lm_shm_server *s, uint32_t i, void *region, size_t size)
{
    if (!s || i >= s->n_clients || !s->clients[i].session || !region || ((uintptr_t)region & 63) ||
        size > L4LM_SHM_MAX_REGION)
        return L4LM_E_ARG;
    l4lm_shm_server_client *c = &s->clients[i];
    l4lm_status st = l4lm_shm_layout_init(&s->cfg, (uint32_t)size, &c->lay);
    if (st)
        return st;
    l4lm_shm_header *h = region;
    *h = c->lay;
    h->magic = 0;
    __atomic_store_n(&h->magic, L4LM_SHM_MAGIC, __ATOMIC_RELEASE);
    uint8_t *base = region;
    l4lm_shm_ring_init(&c->req, base + c->lay.req_ring, c->lay.req_slots, sizeof(l4lm_shm_req), 0);
    l4lm_shm_ring_init(&c->resp, base + c->lay.resp_ring, c->lay.resp_slots, sizeof(l4lm_shm_resp),
                       0);
    c->state = IDLE;
    c->warm = false; /* a new client: its first request starts from an empty session */
    c->region = region;
    return L4LM_OK;
}

size_t l4lm_shm_server_grammar_bytes(const l4lm_shm_server *s, void *session)
{
    const l4lm_shm_server_engine *e = s ? s->engine : 0;
    if (!e || !session || !s->cfg.max_grammar || !e->grammar_vocab_bytes || !e->grammar_vocab ||
        !e->sample_masked)
        return 0;
    size_t v = e->grammar_vocab_bytes(session);
    return v ? L4LM_GRAMMAR_BYTES + ((v + 7) & ~(size_t)7) : 0;
}

l4lm_status l4lm_shm_server_client_grammar(l4lm_shm_server *s, uint32_t i, void *mem, size_t size)
{
    if (!s || i >= s->n_clients || !s->clients[i].session || !mem || ((uintptr_t)mem & 7))
        return L4LM_E_ARG;
    l4lm_shm_server_client *c = &s->clients[i];
    size_t need = l4lm_shm_server_grammar_bytes(s, c->session);
    if (!need || size < need)
        return L4LM_E_ARG;
    /* the compiled grammar first, the token table (built once) after it */
    l4lm_status st = s->engine->grammar_vocab(c->session, (uint8_t *)mem + L4LM_GRAMMAR_BYTES,
                                              size - L4LM_GRAMMAR_BYTES, &c->vocab);
    c->gmem = st ? 0 : mem;
    if (st)
        c->vocab = 0;
    return st;
}

bool l4lm_shm_server_busy(const l4lm_shm_server *s, uint32_t i)
{
    return s && i < s->n_clients && s->clients[i].state != IDLE;
}

void l4lm_shm_server_detach(l4lm_shm_server *s, uint32_t i)
{
    if (s && i < s->n_clients) {
        if (s->clients[i].state != IDLE && s->engine->end)
            s->engine->end(s->clients[i].session);
        s->clients[i].region = 0;
        s->clients[i].state = IDLE;
    }
}

/* ---- writing responses (only into this client's slots and chunks) ---- */

/* Response slots one step may need: its text in chunks, then a DONE. */
_Static_assert(L4LM_GEN_PIECE_CAP + L4LM_SHM_MAX_STOP_BYTES - 1 <= L4LM_SHM_TEXT_CAP,
               "a step's text (held-back bytes and one token's) fits L4LM_SHM_TEXT_CAP");
static uint32_t slots_needed(const l4lm_shm_server_client *c)
{
    return (L4LM_SHM_TEXT_CAP + c->lay.resp_chunk - 1) / c->lay.resp_chunk + 1;
}

/* Write message k after the ring's tail; its text goes to the slot's own chunk. */
static void put(l4lm_shm_server_client *c, uint32_t k, uint32_t kind, uint32_t status,
                int32_t value, const char *text, size_t len)
{
    uint32_t slot = (c->resp.index + k) & (c->resp.n - 1);
    uint32_t off = slot * c->lay.resp_chunk;
    if (len > c->lay.resp_chunk)
        len = c->lay.resp_chunk;
    if (text && len)
        __builtin_memcpy(c->region + c->lay.resp_data + off, text, len);
    l4lm_shm_resp m = {c->id, kind, status, off, (uint32_t)len, value, c->n_prompt, c->n_gen};
    __builtin_memcpy(l4lm_shm_ring_slot(&c->resp, k), &m, sizeof m);
}

static void publish(l4lm_shm_server *s, l4lm_shm_server_client *c, uint32_t k)
{
    if (!k)
        return;
    l4lm_shm_ring_push(&c->resp, k);
    if (l4lm_shm_ring_wake_consumer(&c->resp))
        s->notify(s->notify_ctx, (uint32_t)(c - s->clients));
}

/* The final message of the request; returns the messages written. */
static uint32_t done(l4lm_shm_server_client *c, uint32_t k, uint32_t status, int32_t value,
                     const char *why)
{
    put(c, k, L4LM_SHM_DONE, status, value, why, why ? l4lm_shm_strlen(why) : 0);
    /* after a context shift the cached keys past n_keep are not what
    ** evaluating those tokens afresh gives: the next request may not reuse them */
    if (c->state == GENERATE && c->gen.n_shifts && c->exact > c->gen.o.n_keep)
        c->exact = c->gen.o.n_keep;
    c->state = IDLE;
    if (status >= L4LM_SHM_E_KIND) /* whatever the session holds now, the next request resets it */
        c->warm = false;
    return k + 1;
}

/* Text in chunk-sized messages: TEXT ones, then a TOKEN of id tok when
** is_token (else the last is TEXT too). */
static uint32_t put_text(l4lm_shm_server_client *c, bool is_token, int32_t tok, const char *text,
                         size_t len)
{
    uint32_t k = 0, chunk = c->lay.resp_chunk;
    for (; len > chunk; text += chunk, len -= chunk)
        put(c, k++, L4LM_SHM_TEXT, 0, -1, text, chunk);
    put(c, k++, is_token ? L4LM_SHM_TOKEN : L4LM_SHM_TEXT, 0, is_token ? tok : -1, text, len);
    return k;
}

/* ---- reading requests ---- */

static bool cancelled(const l4lm_shm_server_client *c)
{
    const l4lm_shm_header *h = (const l4lm_shm_header *)c->region;
    uint32_t id = __atomic_load_n(&h->cancel_id, __ATOMIC_ACQUIRE);
    return id && id == c->id;
}

/* Copy the body into private memory, after checking the slot's words once each. */
static uint32_t copy_body(l4lm_shm_server_client *c, uint32_t kind, uint32_t off, uint32_t len,
                          const char **why)
{
    if (kind != L4LM_SHM_SUBMIT) {
        *why = "unknown request kind";
        return L4LM_SHM_E_KIND;
    }
    if (off > c->lay.req_data_size || len > c->lay.req_data_size - off) {
        *why = "off/len outside the request data";
        return L4LM_SHM_E_RANGE;
    }
    if (len > c->lay.max_request) {
        *why = "body larger than max_request";
        return L4LM_SHM_E_SIZE;
    }
    __builtin_memcpy(c->body, c->region + c->lay.req_data + off, len);
    /* The compiler must read the private copy from here on, never the region. */
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    return 0;
}

/* Compile the request's grammar into the client's grammar memory; 0, or
** the messages of the error answer. */
static uint32_t compile_grammar(const l4lm_shm_server *s, l4lm_shm_server_client *c,
                                l4lm_grammar **g)
{
    if (!c->vocab)
        return done(c, 0, L4LM_SHM_E_GRAMMAR, L4LM_E_ARG, "this server takes no grammars");
    if (c->rq.grammar_len > s->cfg.max_grammar)
        return done(c, 0, L4LM_SHM_E_GRAMMAR, L4LM_E_LIMIT, "grammar longer than max_grammar");
    l4lm_grammar_error err = {L4LM_GRAMMAR_OK, 0};
    l4lm_status st =
        l4lm_grammar_init(g, c->rq.grammar, c->rq.grammar_len, c->gmem, L4LM_GRAMMAR_BYTES, &err);
    return st ? done(c, 0, L4LM_SHM_E_GRAMMAR, (int32_t)st, l4lm_grammar_why_text(err.why)) : 0;
}

/*
** Start the session: afresh (start), or keeping what it holds of this
** prompt from the client's last request (reuse; only the cached tokens an
** evaluation afresh would give, so the answer is the same). The prompt
** tokens from c->n_fed on are fed in slices.
*/
static uint32_t prepare(l4lm_shm_server *s, l4lm_shm_server_client *c)
{
    const l4lm_shm_server_engine *e = s->engine;
    bool warm = e->reuse && c->warm;
    size_t n = 0, kept = 0, exact = 0;
    c->warm = false;
    if (!warm) {
        /* the engine's first state may hold tokens (a loaded system prompt) */
        warm = e->reuse && e->restore && !e->restore(c->session, c->rq.sampler.seed, &exact);
        if (warm)
            c->exact = exact < 0xffffffffu ? (uint32_t)exact : 0xffffffffu;
        else
            e->start(c->session, c->rq.sampler.seed);
        if (e->request)
            e->request(c->session, &c->rq);
    }
    l4lm_status st = e->tokenize(c->session, c->rq.prompt, c->rq.prompt_len,
                                 !(c->rq.flags & L4LM_SHM_NO_BOS), c->tokens, c->tok_cap, &n);
    if (st)
        return done(c, 0, L4LM_SHM_E_PROMPT, (int32_t)st, "prompt does not tokenize or fit");
    if (n == 0 || n > c->tok_cap)
        return done(c, 0, L4LM_SHM_E_PROMPT, L4LM_E_ARG, "prompt has no tokens");
    if (warm && (st = e->reuse(c->session, c->rq.sampler.seed, c->tokens,
                               n < c->exact ? n : c->exact, &kept)))
        return done(c, 0, L4LM_SHM_E_ENGINE, (int32_t)st, "evaluation failed");
    c->n_prompt = (uint32_t)n;
    c->n_fed = c->n_kept = (uint32_t)kept;
    c->exact = 0xffffffffu; /* what follows the kept tokens is evaluated now */
    return 0;
}

/* The request's generation options: stop tokens and strings, grammar, context shift. */
static l4lm_gen_opts gen_opts(const l4lm_shm_server *s, const l4lm_shm_server_client *c,
                              l4lm_grammar *g)
{
    const l4lm_shm_server_engine *e = s->engine;
    l4lm_gen_opts o = l4lm_gen_opts_default(0, c->rq.max_tokens);
    size_t n_eot = e->stop_tokens ? e->stop_tokens(c->session, o.eot, L4LM_GEN_MAX_EOT) : 0;
    o.n_eot = (uint32_t)(n_eot < L4LM_GEN_MAX_EOT ? n_eot : L4LM_GEN_MAX_EOT);
    o.sampler = c->rq.sampler;
    o.ignore_eos = (c->rq.flags & L4LM_SHM_IGNORE_EOS) != 0;
    o.n_stop = c->rq.n_stop;
    for (uint32_t i = 0; i < c->rq.n_stop; i++) {
        o.stop[i] = c->rq.stop[i];
        o.stop_len[i] = c->rq.stop_len[i];
    }
    o.grammar = g;
    o.grammar_vocab = g ? c->vocab : 0;
    /* n_keep counts prompt tokens after BOS; the engine's shift keeps BOS too */
    o.context_shift = (c->rq.flags & L4LM_SHM_CONTEXT_SHIFT) != 0;
    o.n_keep = c->rq.n_keep < c->n_prompt ? c->rq.n_keep : c->n_prompt;
    return o;
}

/*
** Compile the grammar, start the session and tokenize the prompt; the
** prompt is then fed in slices. The prompt also goes through the
** detokenizer (its text is not sent), so the continuation's text is
** exactly what `l4lm run` prints.
*/
static uint32_t begin(l4lm_shm_server *s, l4lm_shm_server_client *c)
{
    const l4lm_shm_server_engine *e = s->engine;
    l4lm_grammar *g = 0;
    uint32_t k = c->rq.flags & L4LM_SHM_GRAMMAR ? compile_grammar(s, c, &g) : 0;
    if (k || (k = prepare(s, c)))
        return k;
    /* the engine's own functions; EOS is whatever its is_eos says, the
    ** end-of-turn tokens whatever its stop_tokens says */
    const l4lm_gen_io io = {.sample = e->sample,
                            .detok = e->detok,
                            .eval = e->eval,
                            .is_eos = e->is_eos,
                            .shift = e->shift};
    l4lm_gen_opts o = gen_opts(s, c, g);
    l4lm_status st = l4lm_gen_init_io(&c->gen, &io, c->session, &o);
    if (st)
        return done(c, 0, L4LM_SHM_E_OPTION, (int32_t)st, "bad stop strings");
    c->gen.sample_masked = e->sample_masked;
    c->gen.detok.after_bos = true;
    for (uint32_t i = 0; i < c->n_prompt; i++)
        e->detok(c->session, &c->gen.detok, c->tokens[i], c->gen.text, L4LM_GEN_PIECE_CAP, &st);
    c->state = c->n_fed < c->n_prompt ? PROMPT : GENERATE;
    c->warm = true;
    return 0;
}

/* Take the next request off the ring; answer at once if it is bad. */
static uint32_t start(l4lm_shm_server *s, l4lm_shm_server_client *c)
{
    const uint32_t *slot = l4lm_shm_ring_slot(&c->req, 0);
    uint32_t kind = __atomic_load_n(&slot[0], __ATOMIC_RELAXED);
    uint32_t len = __atomic_load_n(&slot[3], __ATOMIC_RELAXED);
    c->id = __atomic_load_n(&slot[1], __ATOMIC_RELAXED);
    c->n_prompt = c->n_gen = 0;
    const char *why = 0;
    uint32_t st = copy_body(c, kind, __atomic_load_n(&slot[2], __ATOMIC_RELAXED), len, &why);
    l4lm_shm_ring_pop(&c->req, 1); /* the client may reuse the slot and its data now */
    if (l4lm_shm_ring_wake_producer(&c->req))
        s->notify(s->notify_ctx, (uint32_t)(c - s->clients));
    if (!st)
        st = l4lm_shm_request_decode(c->body, len, &c->rq, &why);
    return st ? done(c, 0, st, 0, why) : begin(s, c);
}

/* ---- generation ---- */

static uint32_t feed_prompt(l4lm_shm_server *s, l4lm_shm_server_client *c, uint32_t *budget)
{
    uint32_t n = c->n_prompt - c->n_fed;
    if (n > *budget)
        n = *budget; /* a prompt token costs one unit */
    l4lm_status st = s->engine->eval(c->session, c->tokens + c->n_fed, n);
    *budget -= n;
    c->n_fed += n;
    if (st == L4LM_E_CONTEXT_FULL)
        return done(c, 0, L4LM_SHM_E_PROMPT, (int32_t)st, "prompt longer than the context");
    if (st)
        return done(c, 0, L4LM_SHM_E_ENGINE, (int32_t)st, "evaluation failed");
    if (c->n_fed == c->n_prompt)
        c->state = GENERATE;
    return 0;
}

/* The final status a generation's end gives on the wire. */
static uint32_t wire_status(l4lm_finish f)
{
    switch (f) {
    case L4LM_FINISH_EOS:
    case L4LM_FINISH_EOT:
        return L4LM_SHM_EOS;
    case L4LM_FINISH_STOP:
        return L4LM_SHM_STOP;
    case L4LM_FINISH_LENGTH:
        return L4LM_SHM_LENGTH;
    case L4LM_FINISH_CONTEXT:
        return L4LM_SHM_CONTEXT_FULL;
    default:
        return L4LM_SHM_E_ENGINE;
    }
}

/*
** One l4lm_gen_step: a generated token goes out as a TOKEN with the text
** the step released (TEXT chunks first when it is long); text released
** without a token (held back until the end) goes out as TEXT.
*/
static uint32_t generate(l4lm_shm_server_client *c)
{
    const char *text;
    size_t len;
    uint32_t n_gen = c->gen.n_gen, k = 0;
    l4lm_finish f = l4lm_gen_step(&c->gen, &text, &len);
    c->n_gen = c->gen.n_gen;
    if (c->gen.n_gen != n_gen || len)
        k = put_text(c, c->gen.n_gen != n_gen, c->gen.token, text, len);
    if (f == L4LM_FINISH_NONE)
        return k;
    if (f == L4LM_FINISH_ERROR)
        return done(c, k, L4LM_SHM_E_ENGINE, (int32_t)c->gen.status, "generation failed");
    return done(c, k, wire_status(f), (int32_t)c->n_kept, 0);
}

/*
** One client's turn: slice generated tokens, or PROMPT_UNITS times as many
** prompt tokens (evaluated as a batch, they read the weights once), or
** slice requests started. Every step first makes sure the response ring has
** room for anything the step may write, so a step never blocks half-way.
** True when the client still has work; false when it is idle or blocked
** with its "signal me" flag set.
*/
static bool turn(l4lm_shm_server *s, l4lm_shm_server_client *c)
{
    const l4lm_shm_server_engine *e = s->engine;
    uint32_t budget = s->slice * PROMPT_UNITS, need = slots_needed(c), w;
    int32_t value = 0;
    const char *why = 0;
    while (budget) {
        if (l4lm_shm_ring_free(&c->resp) < need && l4lm_shm_ring_producer_sleep(&c->resp, need))
            return false;
        uint32_t k;
        if (c->state == IDLE) {
            if (!l4lm_shm_ring_avail(&c->req) && l4lm_shm_ring_consumer_sleep(&c->req))
                return false;
            budget -= budget < PROMPT_UNITS ? budget : PROMPT_UNITS;
            k = start(s, c);
        } else if (cancelled(c)) {
            k = done(c, 0, L4LM_SHM_CANCELLED, 0, 0);
        } else if (c->state == PROMPT) {
            k = feed_prompt(s, c, &budget);
        } else if (e->wait && (w = e->wait(c->session, &value, &why)) != 0) {
            if (w == L4LM_SERVE_WAIT)
                return false; /* the platform polls again when a token arrives */
            k = done(c, 0, w, value, why);
        } else {
            budget -= budget < PROMPT_UNITS ? budget : PROMPT_UNITS;
            k = generate(c);
        }
        publish(s, c, k);
        if (c->state == IDLE && e->end)
            e->end(c->session);
    }
    return true;
}

bool l4lm_shm_server_poll(l4lm_shm_server *s)
{
    bool more = false;
    if (!s->n_clients) /* not initialised */
        return false;
    for (uint32_t i = 0; i < s->n_clients; i++) {
        l4lm_shm_server_client *c = &s->clients[(s->next + i) % s->n_clients];
        if (c->region && turn(s, c))
            more = true;
    }
    s->next = (s->next + 1) % s->n_clients;
    return more;
}
