/*
** state.c — a session's state as bytes, and back: what a prompt cache
** keeps so a long prompt (a service's system prompt) is evaluated once.
** Also the prefix bookkeeping that lets a session keep the KV rows of the
** tokens a new prompt shares with the last one (truncate, reuse).
**
** Layout of a state (header little-endian; the payload in the host's
** byte order, little-endian on every target l4lm builds for):
**   0  magic "L4ST"          4  version
**   8  model fingerprint    16  n_ctx       20  KV type
**  24  pos                  28  flags (bit 0: logits follow)
**  32  PRNG state           40  total length
**  48  checksum of every other byte         56  n_vocab   60  zero
**  64  history (pos int32), logits (n_vocab f32, if flagged),
**      K rows [0, pos) of each layer, then V rows [0, pos) of each layer.
** The length follows from the header alone, so a load checks it before it
** reads anything else, and changes the session only after every check.
*/
#include "session.h"

#define STATE_MAGIC   0x5453344cu /* "L4ST" */
/* 2: a Q8_0 cache with head_dim % 64 == 0 holds rows rotated by the
** Walsh-Hadamard transform (as llama.cpp does), so version 1 states of
** such caches mean something else. */
#define STATE_VERSION 2u
#define STATE_HEADER  64u
#define STATE_CK      48u /* offset of the checksum */
#define FLAG_LOGITS   1u

/* ------------------------------------------------------------ hashing */

/* A 64-bit mix over 8-byte words (not cryptographic: it finds damage). */
static uint64_t mix(uint64_t h, uint64_t w)
{
    h ^= w * 0x9e3779b97f4a7c15ull;
    h = (h << 31) | (h >> 33);
    return h * 0xbf58476d1ce4e5b9ull;
}

static uint64_t hash_bytes(uint64_t h, const uint8_t *p, uint64_t n)
{
    uint64_t i = 0;
    for (; i + 8 <= n; i += 8)
        h = mix(h, l4lm_rd64(p + i));
    uint64_t tail = 0;
    for (uint64_t k = 0; i + k < n; k++)
        tail |= (uint64_t)p[i + k] << (8 * k);
    return mix(h, tail ^ (n << 56));
}

/* Every byte of a state but its checksum field. */
static uint64_t checksum(const uint8_t *buf, uint64_t len)
{
    uint64_t h = hash_bytes(0x4c344c4d53544154ull, buf, STATE_CK);
    return hash_bytes(h, buf + STATE_CK + 8, len - STATE_CK - 8);
}

/* The model as the state depends on it: hyperparameters (zeroed padding:
** the open clears the model first), sizes, and where every tensor is. */
static uint64_t model_fingerprint(const l4lm_model *m)
{
    uint64_t h = hash_bytes(1, (const uint8_t *)&m->hp, sizeof m->hp);
    h = mix(mix(mix(h, m->size), m->weight_bytes), m->vocab.tokens_size);
    h = mix(mix(h, (uint64_t)m->format), m->vocab.n_merges);
    for (uint64_t i = 0; m->format == L4LM_FORMAT_GGUF && i < m->gguf.n_tensors; i++) {
        l4lm_tensor t;
        if (l4lm_model_tensor(m, i, &t))
            return 0; /* the open checked every tensor: not reached */
        h = mix(mix(mix(h, t.offset), t.nbytes), (uint64_t)t.type);
    }
    return h;
}

/* ------------------------------------------------------------- sizes */

/* Bytes of one KV row (one position of one layer, K or V); 0 for an
** unknown type. A new KV type (quantised rows) adds its row size here. */
static uint64_t kv_row_bytes(const l4lm_hparams *hp, l4lm_kv_type kv)
{
    uint64_t kv_dim = (uint64_t)hp->n_head_kv * hp->head_dim;
    switch (kv) {
    case L4LM_KV_F32:
        return 4 * kv_dim;
    case L4LM_KV_F16:
        return 2 * kv_dim;
    case L4LM_KV_Q8_0: /* whole 34-byte blocks: the plan refuses kv_dim % 32 */
        return kv_dim % 32 ? 0 : kv_dim / 32 * 34;
    }
    return 0;
}

/* The length of a state at pos, with or without logits; false on overflow. */
static bool state_len(const l4lm_hparams *hp, l4lm_kv_type kv, uint32_t pos, bool logits,
                      uint64_t *len)
{
    uint64_t rows, kv_bytes, row = kv_row_bytes(hp, kv);
    uint64_t fixed = STATE_HEADER + 4 * (uint64_t)pos + (logits ? 4 * (uint64_t)hp->n_vocab : 0);
    return row && !l4lm_mul_ovf(2 * (uint64_t)hp->n_layer, pos, &rows) &&
           !l4lm_mul_ovf(rows, row, &kv_bytes) && !l4lm_add_ovf(fixed, kv_bytes, len);
}

uint64_t l4lm_state_max(const l4lm_hparams *hp, uint32_t n_ctx, l4lm_kv_type kv)
{
    uint64_t len;
    return state_len(hp, kv, n_ctx, true, &len) ? len : 0;
}

/* -------------------------------------------------------- save, load */

static void wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void wr64(uint8_t *p, uint64_t v)
{
    wr32(p, (uint32_t)v);
    wr32(p + 4, (uint32_t)(v >> 32));
}

/* The K and V rows [0, pos) of every layer, K first: into out (save), or
** from in (load) when out is NULL. */
static void copy_rows(const l4lm_session *s, uint8_t *out, const uint8_t *in)
{
    uint64_t row = kv_row_bytes(&s->hp, s->kv_type), n = (uint64_t)s->pos * row;
    uint64_t stride = (uint64_t)s->n_ctx * row, at = 0;
    uint8_t *caches[2] = {s->k_cache, s->v_cache};
    for (int c = 0; c < 2; c++)
        for (uint32_t l = 0; l < s->hp.n_layer; l++, at += n) {
            uint8_t *cell = caches[c] + l * stride;
            if (out)
                __builtin_memcpy(out + at, cell, n);
            else
                __builtin_memcpy(cell, in + at, n);
        }
}

l4lm_status l4lm_session_save(const l4lm_session *s, void *buf, size_t cap, size_t *len)
{
    uint64_t need;
    if (!s || !len || (!buf && cap))
        return L4LM_E_ARG;
    if (!state_len(&s->hp, s->kv_type, s->pos, s->have_logits, &need) || need > SIZE_MAX)
        return L4LM_E_OVERFLOW;
    *len = (size_t)need;
    if (cap < need)
        return L4LM_E_BUFFER;
    uint8_t *b = buf;
    if (!b)
        return L4LM_E_ARG;
    __builtin_memset(b, 0, STATE_HEADER);
    wr32(b, STATE_MAGIC);
    wr32(b + 4, STATE_VERSION);
    wr64(b + 8, model_fingerprint(s->m));
    wr32(b + 16, s->n_ctx);
    wr32(b + 20, (uint32_t)s->kv_type);
    wr32(b + 24, s->pos);
    wr32(b + 28, s->have_logits ? FLAG_LOGITS : 0);
    wr64(b + 32, s->rng);
    wr64(b + 40, need);
    wr32(b + 56, s->hp.n_vocab);
    uint8_t *p = b + STATE_HEADER;
    __builtin_memcpy(p, s->history, 4 * (uint64_t)s->pos);
    p += 4 * (uint64_t)s->pos;
    if (s->have_logits) {
        __builtin_memcpy(p, s->logits, 4 * (uint64_t)s->hp.n_vocab);
        p += 4 * (uint64_t)s->hp.n_vocab;
    }
    copy_rows(s, p, 0);
    wr64(b + STATE_CK, checksum(b, need));
    return L4LM_OK;
}

/* Every field of a state against this session, the checksum and the token
** ids too: OK only for a state load may copy as it is. */
static l4lm_status check_state(const l4lm_session *s, const uint8_t *b, size_t len)
{
    uint64_t need;
    if (len < STATE_HEADER)
        return L4LM_E_TRUNCATED;
    uint32_t pos = l4lm_rd32(b + 24), flags = l4lm_rd32(b + 28);
    if (l4lm_rd32(b) != STATE_MAGIC || l4lm_rd32(b + 4) != STATE_VERSION ||
        l4lm_rd32(b + 16) != s->n_ctx || l4lm_rd32(b + 20) != (uint32_t)s->kv_type ||
        l4lm_rd32(b + 56) != s->hp.n_vocab || l4lm_rd32(b + 60) != 0 || pos > s->n_ctx ||
        (flags & ~FLAG_LOGITS) || ((flags & FLAG_LOGITS) && pos == 0) ||
        !state_len(&s->hp, s->kv_type, pos, flags & FLAG_LOGITS, &need) ||
        l4lm_rd64(b + 40) != need)
        return L4LM_E_STATE_MISMATCH;
    if (len != need)
        return len < need ? L4LM_E_TRUNCATED : L4LM_E_STATE_MISMATCH;
    if (l4lm_rd64(b + STATE_CK) != checksum(b, need) || l4lm_rd64(b + 8) != model_fingerprint(s->m))
        return L4LM_E_STATE_MISMATCH;
    for (uint32_t i = 0; i < pos; i++) {
        uint32_t t = l4lm_rd32(b + STATE_HEADER + 4 * (uint64_t)i);
        if (t >= s->hp.n_vocab)
            return L4LM_E_STATE_MISMATCH;
    }
    return L4LM_OK;
}

l4lm_status l4lm_session_load(l4lm_session *s, const void *buf, size_t len)
{
    if (!s || !buf)
        return L4LM_E_ARG;
    const uint8_t *b = buf;
    l4lm_status st = check_state(s, b, len);
    if (st)
        return st;
    s->pos = l4lm_rd32(b + 24);
    s->have_logits = l4lm_rd32(b + 28) & FLAG_LOGITS;
    s->rng = l4lm_rd64(b + 32);
    s->rng_fresh = false; /* the saved stream goes on; l4lm_session_seed starts another */
    const uint8_t *p = b + STATE_HEADER;
    __builtin_memcpy(s->history, p, 4 * (uint64_t)s->pos);
    p += 4 * (uint64_t)s->pos;
    if (s->have_logits) {
        __builtin_memcpy(s->logits, p, 4 * (uint64_t)s->hp.n_vocab);
        p += 4 * (uint64_t)s->hp.n_vocab;
    }
    copy_rows(s, 0, p);
    return L4LM_OK;
}

/* ------------------------------------------------------------ prefixes */

uint32_t l4lm_session_tokens(const l4lm_session *s, const int32_t **ids)
{
    if (ids)
        *ids = s->history;
    return s->pos;
}

l4lm_status l4lm_session_truncate(l4lm_session *s, uint32_t k)
{
    if (!s || k > s->pos)
        return L4LM_E_ARG;
    if (k < s->pos)
        s->have_logits = false;
    s->pos = k;
    return L4LM_OK;
}

l4lm_status l4lm_session_reuse(l4lm_session *s, const int32_t *ids, size_t n, size_t *kept)
{
    if (!s || (!ids && n) || !kept)
        return L4LM_E_ARG;
    size_t k = 0;
    while (k < n && k < s->pos && s->history[k] == ids[k])
        k++;
    /* the prompt's last token is evaluated again unless its logits are here */
    if (k == n && k > 0 && !(k == s->pos && s->have_logits))
        k--;
    *kept = k;
    return l4lm_session_truncate(s, (uint32_t)k);
}
