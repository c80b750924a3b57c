/*
** test_vocab.c — byte-level BPE (tok_bpe.c, pretok.c, unicode_tab.c): the
** GPT-2, Llama 3 and Qwen2 vocabularies of ../shared/vocab against
** llama.cpp's tokenizer vectors, round trips of random text, the three
** pre-tokenizers against their regexes, GPT-2's byte map, special tokens
** and the BOS/EOS flags, arena bounds, and hostile merge tables.
*/
#include "internal.h"
#include "t.h"
#include "tok.h"

#include "tok_vocab.h"

static bool asan;

enum { GPT2, LLAMA3, QWEN2, N_VOCABS };
static const char *k_names[N_VOCABS] = {"gpt-2", "llama-bpe", "qwen2"};

/* ---------------------------------------------------- pre-tokenizers */

/*
** One text, split as the Python `regex` module splits it with each model's
** pre-tokenizer regex (tokenizer.json); the words, '|' separated, were
** recorded from regex.findall, an implementation independent of ours.
*/
static void test_pretok(void)
{
    static const char text[] =
        "Hello   world\n\n  x123456'Sam 'lle \t,.;\r\n\xC2\xA0\xC3\xA9\xD9\xA3\xD9\xA4";
    static const char *want[N_VOCABS] = {
        "Hello|  | world|\n\n | x|123456|'|Sam| '|lle| "
        "|\t|,.;|\r\n|\xC2\xA0|\xC3\xA9|\xD9\xA3\xD9\xA4",
        "Hello|  | world|\n\n| | x|123|456|'S|am| '|lle| "
        "|\t|,.;\r\n|\xC2\xA0\xC3\xA9|\xD9\xA3\xD9\xA4",
        "Hello|  | world|\n\n| | x|1|2|3|4|5|6|'S|am| '|lle| "
        "|\t|,.;\r\n|\xC2\xA0\xC3\xA9|\xD9\xA3|\xD9\xA4",
    };
    static const l4lm_pretok pre[N_VOCABS] = {L4LM_PRE_GPT2, L4LM_PRE_LLAMA3, L4LM_PRE_QWEN2};
    uint32_t cps[64];
    uint32_t n = l4lm_utf8_decode((const uint8_t *)text, sizeof text - 1, cps);
    for (int v = 0; v < N_VOCABS; v++) {
        char got[256] = "", name[64];
        size_t w = 0;
        for (uint32_t pos = 0, end; pos < n && w < 200; pos = end) {
            end = l4lm_pretok_next(pre[v], cps, n, pos);
            if (end <= pos || end > n)
                break;
            if (pos)
                got[w++] = '|';
            for (uint32_t i = pos; i < end; i++)
                w += l4lm_utf8_encode(cps[i], (uint8_t *)got + w);
        }
        got[w] = 0;
        snprintf(name, sizeof name, "pretok_%s", k_names[v]);
        T_CHECK(name, !strcmp(got, want[v]), "got \"%s\"", got);
    }
}

/* Invalid UTF-8 reads as llama.cpp reads it: one U+FFFD per bad byte. */
static void test_decode(void)
{
    static const uint8_t bad[] = {0x80, 0xC3, 'a', 0xE2, 0x82, 0xFF, 0xF0, 0x9F, 0xA6, 0x99, 0xC3};
    uint32_t cps[16];
    uint32_t n = l4lm_utf8_decode(bad, sizeof bad, cps);
    static const uint32_t want[] = {0xFFFD, 0xFFFD, 'a', 0xFFFD, 0xFFFD, 0xFFFD, 0x1F999, 0xFFFD};
    T_CHECK("utf8_decode_invalid", n == 8 && !memcmp(cps, want, sizeof want), "n %u", n);
}

/* ------------------------------------------------------- the byte map */

/*
** GPT-2's bytes_to_unicode, computed here from its definition: the
** printable Latin-1 bytes stand for themselves, the rest take U+0100 on.
** Every byte's character must be a one-character token whose piece is the byte.
*/
static void test_byte_map(vocab *vv)
{
    int bad = 0;
    for (uint32_t b = 0, n = 0; b < 256; b++) {
        bool self = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        uint32_t cp = self ? b : 256 + n++;
        uint8_t utf8[4];
        char piece[8];
        uint32_t k = l4lm_utf8_encode(cp, utf8);
        int32_t id = l4lm_tok_find(tok_of(vv), utf8, k);
        size_t m = id >= 0 ? l4lm_tok_piece(tok_of(vv), id, piece, sizeof piece) : 0;
        bad += l4lm_gpt2_byte_cp[b] != cp || m != 1 || (uint8_t)piece[0] != b;
    }
    T_CHECK("byte_map_gpt2", bad == 0, "%d bytes wrong", bad);
    char buf[8];
    int32_t hello = l4lm_tok_find(tok_of(vv), (const uint8_t *)"\xC4\xA0Hello", 7);
    size_t n = hello >= 0 ? l4lm_tok_piece(tok_of(vv), hello, buf, 4) : 0;
    T_CHECK("piece_bpe_space_truncated", n == 4 && !memcmp(buf, " Hel", 4), "len %zu", n);
}

/* ------------------------------------------------- special tokens, flags */

static bool ids_is(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
    return na == nb && !memcmp(a, b, na * sizeof *a);
}

/* ids of the parts, joined: what the text with special tokens cut out must give */
static size_t join(vocab *vv, const char *const *parts, const int32_t *specials, size_t n_parts,
                   int32_t *out)
{
    size_t n = 0;
    for (size_t i = 0; i < n_parts; i++) {
        l4lm_status st;
        n += encode(vv, parts[i], strlen(parts[i]), 0, out + n, 256 - n, &st);
        if (specials[i] >= 0)
            out[n++] = specials[i];
    }
    return n;
}

static void test_special(vocab *qwen, vocab *llama3)
{
    static const char text[] = "<|im_start|>user\nHi there<|im_end|>\n[PAD151646]x";
    static const char *const parts[] = {"", "user\nHi there", "\n", "x"};
    static const int32_t marks[] = {151644, 151645, 151646, -1};
    int32_t want[256], got[256], none[256];
    size_t nw = join(qwen, parts, marks, 4, want), m;
    l4lm_status st, st2;
    size_t n = encode(qwen, text, sizeof text - 1, L4LM_TOK_SPECIAL, got, 256, &st);
    T_CHECK("special_parsed", st == L4LM_OK && ids_is(got, n, want, nw), "status %d, n %zu", st, n);
    char back[256];
    size_t k = stream(qwen, got, n, false, back, sizeof back);
    T_CHECK("special_hidden_in_text",
            k != (size_t)-1 && !strcmp(back, "user\nHi there\n[PAD151646]x"), "got \"%s\"", back);

    /* without the flag control tokens are text, user-defined ones still match */
    n = encode(qwen, text, sizeof text - 1, 0, none, 256, &st);
    bool control = false, user = false;
    for (size_t i = 0; i < n; i++) {
        control |= none[i] == 151644 || none[i] == 151645;
        user |= none[i] == 151646;
    }
    k = stream(qwen, none, n, false, back, sizeof back);
    T_CHECK("special_as_text",
            st == L4LM_OK && !control && user && k == sizeof text - 1 && !strcmp(back, text),
            "control %d user %d", control, user);

    /* qwen2's "</s>" is a normal token, but on llama.cpp's end-of-generation list */
    n = encode(qwen, "a</s>b", 6, L4LM_TOK_SPECIAL, got, 256, &st);
    m = encode(qwen, "a</s>b", 6, 0, none, 256, &st2);
    T_CHECK("special_control_text",
            st == L4LM_OK && n == 3 && got[1] == 128247 && m > 3 &&
                l4lm_tok_is_special(tok_of(qwen), 128247) &&
                !l4lm_tok_is_special(tok_of(qwen), 522),
            "n %zu m %zu", n, m);

    /* Llama 3 adds BOS itself; the text's own <|begin_of_text|> is a second one */
    n = encode(llama3, "<|begin_of_text|>Hello", 22, L4LM_TOK_BOS | L4LM_TOK_SPECIAL, got, 256,
               &st);
    m = encode(llama3, "Hello", 5, 0, none, 256, &st2);
    T_CHECK("special_bos_twice",
            st == L4LM_OK && st2 == L4LM_OK && n == m + 2 && got[0] == 128000 && got[1] == 128000 &&
                ids_is(got + 2, n - 2, none, m),
            "n %zu", n);
}

static void test_flags(vocab *gpt2, vocab *llama3)
{
    int32_t a[64], b[64];
    l4lm_status st, st2;
    size_t na = encode(llama3, "Hello", 5, L4LM_TOK_BOS, a, 64, &st);
    size_t nb = encode(llama3, "Hello", 5, 0, b, 64, &st2);
    T_CHECK("flag_bos_llama3",
            st == L4LM_OK && na == nb + 1 && a[0] == 128000 && ids_is(a + 1, na - 1, b, nb),
            "%zu %zu", na, nb);
    na = encode(gpt2, "Hello", 5, L4LM_TOK_BOS, a, 64, &st);
    nb = encode(gpt2, "Hello", 5, 0, b, 64, &st2);
    T_CHECK("flag_bos_gpt2_not_wanted", st == L4LM_OK && ids_is(a, na, b, nb), "%zu %zu", na, nb);

    vocab eos = *llama3; /* a vocabulary that asks for EOS too */
    eos.src.add_eos = true;
    if (!vocab_start(&eos, 64)) {
        T_FAIL("flag_eos", "init failed");
        return;
    }
    na = encode(&eos, "Hello", 5, L4LM_TOK_BOS, a, 64, &st);
    nb = encode(&eos, "Hello", 5, 0, b, 64, &st2);
    T_CHECK("flag_eos",
            st == L4LM_OK && na == nb + 2 && a[0] == 128000 && a[na - 1] == 128001 &&
                b[nb - 1] != 128001,
            "%zu %zu", na, nb);
    free(eos.arena);
}

/* ----------------------------------------------------- random texts */

/* Letters of several scripts, digits, contractions, every kind of space, marks, emoji. */
static size_t random_text(uint64_t *seed, char *out, size_t max, bool valid)
{
    static const char *const parts[] = {"a",
                                        "Th",
                                        "e",
                                        " ",
                                        "  ",
                                        "\t",
                                        "\n",
                                        "\r\n",
                                        "'s",
                                        "'LL",
                                        "'Re",
                                        "'",
                                        "3",
                                        "1234",
                                        "\xD9\xA3",
                                        "\xEF\xBC\x97",
                                        ".",
                                        ",!?",
                                        "(",
                                        "\xC3\xA9",
                                        "e\xCC\x81",
                                        "\xD0\xB6",
                                        "\xE4\xBD\xA0\xE5\xA5\xBD",
                                        "\xE3\x80\x80",
                                        "\xC2\xA0",
                                        "\xF0\x9F\xA6\x99",
                                        "\xE2\x80\xA8",
                                        "\xE0\xA4\xB9\xE0\xA4\xBF",
                                        "\xCE\xA9",
                                        "<|im_end|>",
                                        "\x7F",
                                        "\x01"};
    static const char *const bad[] = {"\x80", "\xC3",         "\xE2\x9C",
                                      "\xFF", "\xED\xA0\x80", "\xF8\x88"};
    return random_pieces(seed, parts, sizeof parts / sizeof *parts, bad, sizeof bad / sizeof *bad,
                         valid, out, max);
}

/* Valid text comes back byte for byte; any text gives ids in range and valid UTF-8. */
static void test_random(vocab *vv, const char *label)
{
    uint64_t seed = 7;
    int rounds = asan ? 200 : 2000, trips = 0, sane = 0;
    for (int r = 0; r < rounds; r++) {
        char text[256], back[2048];
        int32_t ids[800];
        size_t len = random_text(&seed, text, sizeof text, r % 2 == 0);
        l4lm_status st;
        size_t n = encode(vv, text, len, r % 4 < 2 ? 0 : L4LM_TOK_BOS, ids, 800, &st);
        bool ok = st == L4LM_OK;
        for (size_t i = 0; i < n && ok; i++)
            ok = ids[i] >= 0 && (uint32_t)ids[i] < vv->src.n_vocab;
        size_t k = ok ? stream(vv, ids, n, false, back, sizeof back) : (size_t)-1;
        bool same = k == len && !memcmp(back, text, len);
        sane += k != (size_t)-1;
        trips += r % 2 == 1 || same;
        if (r % 2 == 0 && !same && trips + 1 == (r + 2) / 2) /* the first failure */
            printf("# %s: \"%.*s\" came back as \"%s\"\n", label, (int)len, text,
                   k == (size_t)-1 ? "(failed)" : back);
    }
    char name[64];
    snprintf(name, sizeof name, "%s_random_sane", label);
    T_CHECK(name, sane == rounds, "%d/%d", sane, rounds);
    snprintf(name, sizeof name, "%s_random_roundtrip", label);
    T_CHECK(name, trips == rounds, "%d/%d", trips, rounds);
}

/* ---------------------------------------------------------- the arena */

/* An exactly sized arena (ASan sees any byte past it) and the worst texts at max_text. */
static void test_arena(vocab *vv)
{
    size_t max_text = 300, bytes = l4lm_tok_arena_bytes(&vv->src, max_text);
    void *mem = aligned_alloc(64, bytes);
    l4lm_tok *t = NULL;
    l4lm_status st = l4lm_tok_init(&t, &vv->src, mem, bytes, max_text);
    static const char *fill[] = {"\xFF", "a",           " ", "\n", "7", "\xF0\x9F\xA6\x99",
                                 "'",    "\xE3\x80\x80"};
    static char text[301];
    static int32_t ids[1024];
    size_t n = 0;
    bool ok = st == L4LM_OK;
    for (int f = 0; f < 8 && ok; f++) {
        size_t m = strlen(fill[f]);
        for (size_t i = 0; i + m <= max_text; i += m)
            memcpy(text + i, fill[f], m);
        if (max_text % m)
            memset(text + max_text - max_text % m, 'b', max_text % m);
        ok = l4lm_tok_encode(t, text, max_text, L4LM_TOK_BOS, ids, 1024, &n) == L4LM_OK && n > 0;
    }
    T_CHECK("bpe_arena_exact_full_text", ok, "status %d", st);
    T_CHECK("bpe_prompt_too_long",
            ok &&
                l4lm_tok_encode(t, text, max_text + 1, 0, ids, 1024, &n) == L4LM_E_PROMPT_TOO_LONG,
            "accepted");
    size_t need = 0;
    st = ok ? l4lm_tok_encode(t, "Hello world, again", 18, 0, ids, 1024, &need) : L4LM_E_ARG;
    l4lm_status st2 =
        ok ? l4lm_tok_encode(t, "Hello world, again", 18, 0, ids, need - 1, &n) : L4LM_E_ARG;
    T_CHECK("bpe_buffer_too_small", st == L4LM_OK && need > 1 && st2 == L4LM_E_BUFFER && n == need,
            "%d %d", st, st2);
    free(mem);
}

/* ---------------------------------------------------- hostile merges */

static void test_bad(vocab *vv)
{
    l4lm_error err;
    l4lm_vocab_src v = vv->src;
    T_CHECK("bad_merges_none_ok", l4lm_tok_check(&v, &err) == L4LM_OK, "%s", err.what);
    v.n_merges = (1u << 22) + 1;
    l4lm_status st = l4lm_tok_check(&v, &err);
    T_CHECK("bad_merges_count_absurd", st == L4LM_E_LIMIT, "status %d", st);
    v = vv->src;
    v.n_merges += 1000; /* runs into the key/values after the array */
    st = l4lm_tok_check(&v, &err);
    T_CHECK("bad_merges_count_too_high", st != L4LM_OK, "accepted");
    v = vv->src;
    v.merges = NULL;
    T_CHECK("bad_merges_missing", l4lm_tok_check(&v, &err) == L4LM_E_TOKENIZER, "accepted");
    v = vv->src;
    v.pre = (l4lm_pretok)9;
    T_CHECK("bad_pre",
            l4lm_tok_check(&v, &err) == L4LM_E_TOKENIZER && l4lm_tok_arena_bytes(&v, 10) == 0,
            "accepted");

    /* the first merge of qwen2 is "Ġ Ġ": length 5, C4 A0 20 C4 A0 */
    size_t size = vv->src.merges_size;
    unsigned char *m = malloc(size);
    memcpy(m, vv->src.merges, size);
    v = vv->src;
    v.merges = m;
    bool layout = le(m, 8) == 5 && !memcmp(m + 8, "\xC4\xA0 \xC4\xA0", 5);
    m[10] = 'x'; /* no space */
    l4lm_status no_space = l4lm_tok_check(&v, &err);
    printf("# merge without a space: \"%s\" at %llu\n", err.what, (unsigned long long)err.offset);
    m[10] = ' ';
    memset(m, 0xFF, 8);
    l4lm_status huge = l4lm_tok_check(&v, &err);
    m[0] = 5;
    memset(m + 1, 0, 7);
    v.merges_size = 10; /* cut inside the first merge */
    l4lm_status cut = l4lm_tok_check(&v, &err);
    T_CHECK("bad_merge_strings",
            layout && no_space == L4LM_E_TOKENIZER && huge == L4LM_E_LIMIT &&
                cut == L4LM_E_TRUNCATED,
            "%d %d %d %d", layout, no_space, huge, cut);

    v.merges_size = size;
    m[11] = 0xFF; /* "Ġ \xFF\xA0": well formed, but no such token */
    vocab bad = *vv;
    bad.src = v;
    bool started = vocab_start(&bad, 16);
    st = l4lm_tok_check(&v, &err);
    /* a rule naming no token is inert, as llama.cpp loads it: the model that
    ** opened and planned also starts a session */
    T_CHECK("bad_merge_unknown_token_inert", st == L4LM_OK && started, "check %d, init %d", st,
            started);
    free(bad.arena);
    free(m);
}

int main(int argc, char **argv)
{
    asan = argc > 1 && !strcmp(argv[1], "--asan");
    test_pretok();
    test_decode();
    const char *shared = t_shared();
    if (!shared) {
        T_SKIP("vocab", "../shared not found (set L4LM_SHARED)");
        T_EXIT();
    }
    static vocab vv[N_VOCABS];
    for (int i = 0; i < N_VOCABS; i++) {
        char rel[64], label[64];
        snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf", k_names[i]);
        snprintf(label, sizeof label, "vocab_%s", k_names[i]);
        if (!vocab_load(&vv[i], shared, rel, 0)) {
            T_FAIL("load", "%s did not load", rel);
            T_EXIT();
        }
        test_vectors(shared, &vv[i], rel + 6, label);
        test_random(&vv[i], label);
    }
    test_byte_map(&vv[GPT2]);
    test_special(&vv[QWEN2], &vv[LLAMA3]);
    test_flags(&vv[GPT2], &vv[LLAMA3]);
    test_arena(&vv[QWEN2]);
    test_bad(&vv[QWEN2]);
    for (int i = 0; i < N_VOCABS; i++)
        vocab_free(&vv[i]);
    T_EXIT();
}
