/*
** fuzz_tokenizer.c — libFuzzer harness: tokenizer encode of arbitrary bytes
** and streaming decode of arbitrary ids, over real vocabularies loaded once
** ($L4LM_FUZZ_MODELS: stories260K.gguf, the Llama SentencePiece vocabulary
** in spm.gguf, stories260K.bin + tok512.bin, the byte-level BPE vocabularies
** of Qwen2 and GPT-2 in qwen2.gguf and gpt-2.gguf; tiny.gguf always), and
** always the hostile vocabularies of tests/tok_hostile.h (many specials,
** pieces of one hash, merges of one hash bucket) and a small byte-level BPE
** one, built in memory (no weights: a session stand-in holds the tokenizer).
**
** Input: byte 0 picks the vocabulary, the flags and the decode buffer size; the
** rest is the text, and read two bytes at a time, the token ids.
** Checked besides memory safety: ids are in the vocabulary; a buffer of
** exactly the needed size suffices and one less is refused; decoding
** valid UTF-8 text's ids gives the text back (for vocabularies that pass
** that on a sample at start-up, when no special or unknown id is involved);
** the decoded stream of arbitrary ids is valid UTF-8 and respects the cap.
*/
#define _GNU_SOURCE  /* memmem */
#include "session.h" /* before l4lm.h: the model's fields */
#include "fuzz.h"
#include "tok_hostile.h"
#include "utf8.h"

#define MAX_TEXT 4096
#define MAX_IDS  512

typedef struct vocab {
    uint8_t *model, *tok;
    l4lm_model m;
    l4lm_session *s;
    bool round_trip;         /* decode(encode(text)) == text holds for this vocabulary */
    hv_vocab hv;             /* a hostile vocabulary's bytes */
    struct l4lm_session own; /* its session: only the tokenizer and the model's vocab */
} vocab;

static vocab vocabs[10];
static unsigned n_vocabs;
static int32_t ids[3 * MAX_TEXT + 2], ids2[3 * MAX_TEXT + 2];
static char out[MAX_IDS * 600 + MAX_TEXT * 8];

/* The text of ids through the streaming detokenizer, flushed at the end. */
static size_t decode(const l4lm_session *s, const int32_t *v, size_t n, size_t cap)
{
    l4lm_detok d = {.after_bos = true};
    l4lm_status st;
    size_t len = 0;
    for (size_t i = 0; i <= n; i++) {
        size_t k = l4lm_detok_push(s, &d, i < n ? v[i] : -1, out + len, i < n ? cap : 600, &st);
        FUZZ_CHECK(k <= cap || i == n, "wrote %zu bytes into %zu", k, cap);
        FUZZ_CHECK(!st || !k, "an error with output");
        len += k;
    }
    return len;
}

static bool has_special(const vocab *vb, const int32_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (l4lm_token_is_special(vb->s, v[i]) || v[i] == vb->m.vocab.unk)
            return true;
    return false;
}

/* The sample text's round trip decides whether round trips are checked. */
static void check_round_trip(vocab *vb, const char *name)
{
    static const char sample[] = "Hello world, a  b\tc\n d\xc3\xa9j\xc3\xa0 vu \xe2\x82\xac 42!";
    size_t n, len = sizeof sample - 1;
    vb->round_trip = !l4lm_tokenize(vb->s, sample, len, L4LM_TOK_BOS, ids, 3 * MAX_TEXT, &n) &&
                     decode(vb->s, ids, n, 600) == len && !memcmp(out, sample, len);
    fprintf(stderr, "fuzz_tokenizer: %s: %u tokens, round trip %s\n", name, vb->m.hp.n_vocab,
            vb->round_trip ? "checked" : "not checked");
    n_vocabs++;
}

/* A vocabulary of tests/tok_hostile.h, with a tokenizer of exactly its planned arena. */
static void add_hostile(const char *name, int kind)
{
    vocab *vb = &vocabs[n_vocabs];
    hv_vocab *hv = &vb->hv;
    if (kind == 0)
        hv_specials(hv, 4096);
    else if (kind == 1)
        hv_pieces(hv, 4096);
    else if (kind == 2)
        hv_merges(hv, 4096, 2048);
    else
        hv_bpe(hv);
    l4lm_vocab_src *v = &vb->m.vocab;
    *v = (l4lm_vocab_src){.format = L4LM_FORMAT_GGUF,
                          .n_vocab = hv->n_vocab,
                          .tokens = hv->tokens.p,
                          .tokens_size = hv->tokens.n,
                          .types = hv->types.p,
                          .bos = -1,
                          .eos = -1,
                          .unk = -1};
    if (hv->bpe) {
        v->pre = L4LM_PRE_GPT2;
        v->merges = hv->merges.p;
        v->merges_size = hv->merges.n;
        v->n_merges = hv->n_merges;
    }
    vb->m.format = L4LM_FORMAT_GGUF;
    vb->m.hp.n_vocab = hv->n_vocab;
    size_t bytes = l4lm_tok_arena_bytes(v, MAX_TEXT);
    void *arena = fuzz_arena(bytes);
    vb->own.m = &vb->m;
    FUZZ_CHECK(l4lm_tok_init(&vb->own.tok, v, arena, bytes - 1, MAX_TEXT) == L4LM_E_ARENA,
               "%s: an arena of plan-1 bytes was taken", name);
    FUZZ_CHECK(l4lm_tok_init(&vb->own.tok, v, arena, bytes, MAX_TEXT) == L4LM_OK,
               "%s: its tokenizer does not start", name);
    vb->s = &vb->own;
    check_round_trip(vb, name);
}

static void add(const char *name, const char *tok_name)
{
    vocab *vb = &vocabs[n_vocabs];
    size_t size, tok_size = 0;
    void *arena, *index; /* both live as long as the fuzzer */
    if (!(vb->model = fuzz_load(name, &size)))
        return;
    if (tok_name && !(vb->tok = fuzz_load(tok_name, &tok_size)))
        return;
    l4lm_run_opts o = {.n_ctx = 16, .kv_type = L4LM_KV_F16, .max_prompt_bytes = MAX_TEXT};
    if (fuzz_open(&vb->m, vb->model, size, vb->tok, tok_size, &index) ||
        !(vb->s = fuzz_session(&vb->m, &o, &arena))) {
        fprintf(stderr, "fuzz_tokenizer: %s does not open\n", name);
        abort();
    }
    check_round_trip(vb, name);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    add("stories260K.gguf", NULL);
    add("spm.gguf", NULL);
    add("stories260K.bin", "tok512.bin");
    add("tiny.gguf", NULL);
    add("qwen2.gguf", NULL);
    add("gpt-2.gguf", NULL);
    add_hostile("hostile specials", 0);
    add_hostile("hostile pieces", 1);
    add_hostile("hostile merges", 2);
    add_hostile("byte-level BPE", 3);
    if (!n_vocabs) {
        fprintf(stderr, "fuzz_tokenizer: no vocabulary in $L4LM_FUZZ_MODELS\n");
        abort();
    }
    return 0;
}

/* Encode text: every id valid, the exact buffer enough, one less refused. */
static void encode(const vocab *vb, const char *text, size_t len, uint32_t flags)
{
    size_t n = 0, n2 = 0;
    l4lm_status st = l4lm_tokenize(vb->s, text, len, flags, ids, 3 * MAX_TEXT + 2, &n);
    FUZZ_CHECK(st == L4LM_OK, "encode of %zu bytes: %s", len, l4lm_strerror(st));
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(ids[i] >= 0 && (uint32_t)ids[i] < vb->m.hp.n_vocab, "id %d", (int)ids[i]);
    FUZZ_CHECK(l4lm_tokenize(vb->s, text, len, flags, ids2, n, &n2) == L4LM_OK && n2 == n &&
                   !memcmp(ids, ids2, n * sizeof *ids),
               "the exact buffer gives another result");
    if (n) {
        st = l4lm_tokenize(vb->s, text, len, flags, ids2, n - 1, &n2);
        FUZZ_CHECK(st == L4LM_E_BUFFER && n2 == n, "a short buffer gave %s", l4lm_strerror(st));
    }
    bool plain = utf8_valid((const uint8_t *)text, len) &&
                 (vb->m.format != L4LM_FORMAT_GGUF || !memmem(text, len, "\xe2\x96\x81", 3));
    if (vb->round_trip && plain && !has_special(vb, ids, n)) {
        size_t got = decode(vb->s, ids, n, 600);
        FUZZ_CHECK(got == len && !memcmp(out, text, len), "round trip: %zu bytes back of %zu", got,
                   len);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t caps[8] = {0, 1, 3, 4, 8, 35, 64, 600};
    if (size < 1)
        return 0;
    const vocab *vb = &vocabs[data[0] % n_vocabs];
    size_t len = size - 1 > MAX_TEXT ? MAX_TEXT : size - 1;
    char *text = (char *)fuzz_copy(data + 1, len);
    uint32_t flags = (data[0] & 0x10 ? L4LM_TOK_BOS : 0) | (data[0] & 0x08 ? L4LM_TOK_SPECIAL : 0);
    encode(vb, text, len, flags);
    /* arbitrary ids, mostly near the vocabulary, some far out */
    size_t n = len / 2 > MAX_IDS ? MAX_IDS : len / 2;
    uint32_t n_vocab = vb->m.hp.n_vocab;
    char piece[600];
    for (size_t i = 0; i < n; i++) {
        uint16_t u = (uint16_t)(data[1 + 2 * i] | data[2 + 2 * i] << 8);
        ids[i] = data[0] & 0x20 ? (int32_t)(int16_t)u : (int32_t)(u % (n_vocab + 8)) - 4;
        size_t k = l4lm_token_piece(vb->s, ids[i], piece, caps[i % 8]);
        FUZZ_CHECK(k <= caps[i % 8], "piece of %zu bytes in %zu", k, caps[i % 8]);
        FUZZ_CHECK(ids[i] >= 0 && (uint32_t)ids[i] < n_vocab ? 1 : k == 0, "piece of a bad id");
    }
    size_t got = decode(vb->s, ids, n, caps[(data[0] >> 6) + 4]);
    FUZZ_CHECK(utf8_valid((const uint8_t *)out, got), "decoded text is not UTF-8");
    free(text);
    return 0;
}
