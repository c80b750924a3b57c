/*
** test_tokenizer.c — the SentencePiece BPE tokenizer (tokenizer.c) and the
** streaming detokeniser (detok.c), against llama.cpp's and llama2.c's
** recorded outputs: the golden prompt ids and texts of ../shared/reference,
** llama.cpp's tokenizer vectors in ../shared/vocab, and hostile sources.
*/
#include "internal.h"
#include "json.h"
#include "t.h"

#include <stdint.h>

#include "tok_vocab.h"

static bool asan;

/* ------------------------------------------------------- golden refs */

static const char *k_cases[] = {"once_upon_a_time", "lily_and_tom", "empty_prompt",
                                "dog_said_hello"};

static void test_reference(const char *shared, vocab *vv, const char *label)
{
    for (size_t c = 0; c < sizeof k_cases / sizeof *k_cases; c++) {
        char rel[256], name[256], why[512];
        snprintf(rel, sizeof rel, "reference/%s.json", k_cases[c]);
        char *js = read_text(shared, rel);
        char *prompt = js ? json_string(json_key(js, "prompt")) : NULL;
        const char *l2c = js ? json_key(js, "llama2c_fp32") : NULL;
        const char *lcpp = json_key(l2c, "llamacpp");
        snprintf(name, sizeof name, "%s_prompt_ids_%s", label, k_cases[c]);
        if (!prompt || !l2c || !lcpp) {
            T_FAIL(name, "cannot read %s", rel);
            free(js);
            continue;
        }
        double want[2][64];
        size_t nw[2] = {json_numbers(json_key(l2c, "prompt_ids"), want[0], 64),
                        json_numbers(json_key(lcpp, "prompt_ids"), want[1], 64)};
        int32_t ids[64];
        l4lm_status st;
        size_t n = encode(vv, prompt, strlen(prompt), true, ids, 64, &st);
        ids_text(ids, n, why, sizeof why);
        T_CHECK(name,
                st == L4LM_OK && ids_equal(ids, n, want[0], nw[0]) &&
                    ids_equal(ids, n, want[1], nw[1]),
                "status %d, got %s", st, why);

        /* generated ids -> text: llama2.c's decode rules, specials as "" */
        static double gen[256];
        int32_t gids[256];
        size_t ng = json_numbers(json_key(l2c, "generated_ids"), gen, 256);
        for (size_t i = 0; i < ng && i < 256; i++)
            gids[i] = (int32_t)gen[i];
        char *want_text = json_string(json_key(l2c, "generated_text"));
        for (char *p; want_text && (p = strstr(want_text, "\n<s>\n"));)
            memmove(p, p + 5, strlen(p + 5) + 1); /* llama2.c prints BOS, we hide it */
        static char got[8192];
        size_t k = stream(vv, gids, ng, nw[0] == 1, got, sizeof got);
        snprintf(name, sizeof name, "%s_generated_text_%s", label, k_cases[c]);
        T_CHECK(name, want_text && k != (size_t)-1 && !strcmp(got, want_text), "got \"%.60s\"",
                k == (size_t)-1 ? "(stream failed)" : got);
        free(want_text);
        free(prompt);
        free(js);
    }
}

/* ------------------------------------------------- streaming and pieces */

static size_t push(vocab *vv, l4lm_detok *d, int32_t id, char *buf, size_t cap, l4lm_status *st)
{
    return l4lm_detok_push(&vv->sess, d, id, buf, cap, st);
}

/* Multi-byte text fed as single byte tokens never yields half a character. */
static void test_stream(vocab *vv)
{
    const char *text = "\xC3\x84pfel \xF0\x9F\xA6\x99 \xE2\x9C\x85 C\xE1\xBB\xAD"
                       "a";
    int32_t ids[64];
    size_t n = strlen(text);
    bool bytes_ok = true;
    for (size_t i = 0; i < n; i++) {
        char b;
        ids[i] = 3 + (unsigned char)text[i]; /* <0x00>..<0xFF> are ids 3..258 */
        bytes_ok &= l4lm_tok_piece(tok_of(vv), ids[i], &b, 1) == 1 && b == text[i];
    }
    static char out[256];
    size_t k = bytes_ok ? stream(vv, ids, n, false, out, sizeof out) : 0;
    T_CHECK("stream_utf8_byte_tokens", bytes_ok && k == n && !memcmp(out, text, n),
            "bytes %d, got %zu bytes", bytes_ok, k);

    /* a character cut short, a stray byte, a held byte at the end */
    l4lm_detok d = {{0}, 0, false, false};
    char buf[64];
    l4lm_status st;
    size_t w = 0;
    char all[64];
    int32_t seq[] = {3 + 0xE2, 3 + 0x82, 3 + 'A', 3 + 0x80, 3 + 0xF0, -1};
    for (size_t i = 0; i < sizeof seq / sizeof *seq; i++) {
        size_t m = push(vv, &d, seq[i], buf, sizeof buf, &st);
        memcpy(all + w, buf, m);
        w += m;
    }
    T_CHECK("stream_invalid_as_fffd",
            w == 10 && !memcmp(all,
                               "\xEF\xBF\xBD"
                               "A\xEF\xBF\xBD\xEF\xBF\xBD",
                               10),
            "got %zu bytes", w);

    /* BOS hides itself and the dummy-prefix space of the next piece */
    d = (l4lm_detok){{0}, 0, false, false};
    size_t m1 = push(vv, &d, 1, buf, sizeof buf, &st);
    size_t m2 = push(vv, &d, 15043, buf, sizeof buf, &st); /* "▁Hello" */
    size_t m3 = push(vv, &d, 3186, buf + m2, sizeof buf - m2, &st);
    size_t m4 = push(vv, &d, 2, buf + m2 + m3, sizeof buf - m2 - m3, &st);
    T_CHECK("stream_bos_strips_space",
            m1 == 0 && m4 == 0 && m2 + m3 == 11 && !memcmp(buf, "Hello world", 11) && st == L4LM_OK,
            "got %zu+%zu \"%.*s\"", m2, m3, (int)(m2 + m3), buf);

    d = (l4lm_detok){{0}, 0, false, false};
    push(vv, &d, 3 + 0xE2, buf, sizeof buf, &st);
    l4lm_detok before = d;
    size_t m = push(vv, &d, 15043, buf, 8, &st); /* 3 held + " Hello": needs 9+3 */
    T_CHECK("stream_small_buffer", m == 0 && st == L4LM_E_BUFFER && !memcmp(&d, &before, sizeof d),
            "wrote %zu, status %d", m, st);
    m = push(vv, &d, (int32_t)vv->src.n_vocab, buf, sizeof buf, &st);
    T_CHECK("stream_bad_token", m == 0 && st == L4LM_E_TOKEN, "status %d", st);
}

static void test_pieces(vocab *l2c, vocab *gg)
{
    char buf[16];
    size_t n = l4lm_tok_piece(tok_of(l2c), 1, buf, sizeof buf);
    T_CHECK("piece_llama2c_bos_raw", n == 5 && !memcmp(buf, "\n<s>\n", 5), "len %zu", n);
    n = l4lm_tok_piece(tok_of(gg), 1, buf, sizeof buf);
    T_CHECK("piece_gguf_bos_raw", n == 3 && !memcmp(buf, "<s>", 3), "len %zu", n);
    n = l4lm_tok_piece(tok_of(gg), 3 + 'Z', buf, sizeof buf);
    T_CHECK("piece_byte_token", n == 1 && buf[0] == 'Z', "len %zu", n);
    bool same = true;
    for (int32_t id = 0; id < 512; id++) { /* same vocabulary, two spellings of space */
        char a[64], b[64];
        size_t na = l4lm_tok_piece(tok_of(l2c), id, a, sizeof a);
        size_t nb = l4lm_tok_piece(tok_of(gg), id, b, sizeof b);
        bool special = l4lm_tok_is_special(tok_of(gg), id);
        same &= special == l4lm_tok_is_special(tok_of(l2c), id);
        same &= special || (na == nb && !memcmp(a, b, na));
    }
    T_CHECK("piece_formats_agree", same, "tok512.bin and stories260K.gguf differ");
    T_CHECK("special_ids",
            l4lm_tok_is_special(tok_of(gg), 0) && l4lm_tok_is_special(tok_of(gg), 2) &&
                !l4lm_tok_is_special(tok_of(gg), 3) && l4lm_tok_is_special(tok_of(l2c), 0) &&
                !l4lm_tok_is_special(tok_of(l2c), 300) && !l4lm_tok_is_special(tok_of(l2c), 512) &&
                !l4lm_tok_is_special(tok_of(gg), -1),
            "wrong special set");
    n = l4lm_tok_piece(tok_of(gg), 403, buf, 3); /* "▁Once" -> " Once", cut at 3 */
    T_CHECK("piece_truncates", n == 3 && !memcmp(buf, " On", 3), "len %zu", n);
    T_CHECK("piece_bad_id",
            l4lm_tok_piece(tok_of(gg), 512, buf, 16) == 0 &&
                l4lm_tok_piece(tok_of(gg), -5, buf, 16) == 0,
            "non-zero");
}

/* ------------------------------------------------------ random inputs */

/* Random text over letters, spaces, punctuation, multi-byte and stray bytes. */
static size_t random_text(uint64_t *seed, char *out, size_t max, bool valid)
{
    static const char *const parts[] = {"a",
                                        "e",
                                        "th",
                                        "s",
                                        " ",
                                        "  ",
                                        ".",
                                        "\n",
                                        "\xC3\xA9",
                                        "\xE2\x9C\x85",
                                        "\xF0\x9F\xA6\x99",
                                        "\xD0\xB6",
                                        "3",
                                        "'"};
    static const char *const bad[] = {"\x80", "\xC3", "\xE2\x9C", "\xFF", "\xED\xA0\x80"};
    return random_pieces(seed, parts, sizeof parts / sizeof *parts, bad, sizeof bad / sizeof *bad,
                         valid, out, max);
}

/* The two spellings of the stories260K vocabulary tokenise alike; valid text round-trips. */
static void test_random(vocab *l2c, vocab *gg, vocab *spm)
{
    uint64_t seed = 42;
    int rounds = asan ? 300 : 3000;
    int agree = 0, trips = 0, valid_out = 0, ids_ok = 0;
    for (int r = 0; r < rounds; r++) {
        char text[256], back[2048];
        size_t len = random_text(&seed, text, sizeof text, r % 2 == 0);
        int32_t a[512], b[512];
        l4lm_status sa, sb;
        size_t na = encode(l2c, text, len, true, a, 512, &sa);
        size_t nb = encode(gg, text, len, true, b, 512, &sb);
        agree += sa == L4LM_OK && sb == L4LM_OK && na == nb && !memcmp(a, b, na * 4);
        size_t ns = encode(spm, text, len, false, a, 512, &sa);
        bool in_range = sa == L4LM_OK;
        for (size_t i = 0; i < ns; i++)
            in_range &= a[i] >= 0 && (uint32_t)a[i] < spm->src.n_vocab;
        ids_ok += in_range;
        size_t k = stream(spm, a, ns, true, back, sizeof back);
        valid_out += k != (size_t)-1;
        trips += r % 2 == 1 || (k == len && !memcmp(back, text, len));
    }
    T_CHECK("random_formats_agree", agree == rounds, "%d/%d", agree, rounds);
    T_CHECK("random_ids_in_range", ids_ok == rounds, "%d/%d", ids_ok, rounds);
    T_CHECK("random_stream_valid_utf8", valid_out == rounds, "%d/%d", valid_out, rounds);
    T_CHECK("random_roundtrip", trips == rounds, "%d/%d", trips, rounds);
}

/* --------------------------------------------------- arena and limits */

static void test_arena(vocab *gg)
{
    l4lm_vocab_src *v = &gg->src;
    size_t max_text = 300, bytes = l4lm_tok_arena_bytes(v, max_text);
    l4lm_tok *t = NULL;
    void *mem = aligned_alloc(64, bytes + 64);
    T_CHECK("arena_deterministic",
            bytes && bytes % 64 == 0 && bytes == l4lm_tok_arena_bytes(v, max_text), "%zu", bytes);
    T_CHECK("arena_one_short", l4lm_tok_init(&t, v, mem, bytes - 1, max_text) == L4LM_E_ARENA,
            "accepted");
    T_CHECK("arena_misaligned",
            l4lm_tok_init(&t, v, (char *)mem + 4, bytes, max_text) == L4LM_E_ARG, "accepted");
    free(mem);
    static unsigned char small[64] __attribute__((aligned(64)));
    T_CHECK("arena_too_much_text",
            l4lm_tok_arena_bytes(v, (size_t)1 << 31) == 0 &&
                l4lm_tok_init(&t, v, small, sizeof small, (size_t)1 << 31) == L4LM_E_LIMIT,
            "accepted");

    /* exactly sized (ASan sees any byte past it): worst-case texts at max_text */
    mem = aligned_alloc(64, bytes);
    l4lm_status st = l4lm_tok_init(&t, v, mem, bytes, max_text);
    static char text[301];
    int32_t ids[1024];
    size_t n = 0;
    bool ok = st == L4LM_OK;
    const char fill[] = {' ', 'a', '\x80', '\xF0'};
    for (int f = 0; f < 4 && ok; f++) {
        memset(text, fill[f], max_text);
        ok = l4lm_tok_encode(t, text, max_text, true, ids, 1024, &n) == L4LM_OK && n > 1;
    }
    T_CHECK("arena_exact_full_text", ok, "status %d", st);
    T_CHECK("prompt_too_long",
            st == L4LM_OK && l4lm_tok_encode(t, text, max_text + 1, true, ids, 1024, &n) ==
                                 L4LM_E_PROMPT_TOO_LONG,
            "accepted");
    st = st ? st : l4lm_tok_encode(t, "Once upon a time", 16, true, ids, 4, &n);
    T_CHECK("buffer_too_small", st == L4LM_E_BUFFER && n == 5 && ids[3] == 261, "status %d n %zu",
            st, n);
    st = l4lm_tok_encode(t, "Once upon a time", 16, true, ids, 5, &n);
    T_CHECK("buffer_exact", st == L4LM_OK && n == 5, "status %d", st);
    st = l4lm_tok_encode(t, "", 0, true, ids, 5, &n);
    T_CHECK("empty_is_bos", st == L4LM_OK && n == 1 && ids[0] == 1, "n %zu", n);
    st = l4lm_tok_encode(t, "", 0, false, ids, 0, &n);
    T_CHECK("empty_no_bos", st == L4LM_OK && n == 0, "n %zu", n);
    free(mem);
}

/* ------------------------------------------------ a hand-made vocabulary */

/*
** " aba": pairs " a" (-3), "ab" (id 8: the later duplicate, -2), "ba" (-1).
** "ba" merges first, then " a": ids 9 7. Had the first "ab" (id 6, -1) been
** used, "ab" would tie "ba" and win as the leftmost: 3 6 4.
** "c" and "\xC3\xA9" have neither a piece nor byte tokens: unk per byte.
*/
static void test_synthetic(void)
{
    static const struct {
        const char *s;
        float score;
    } pieces[] = {{"<unk>", 0}, {"\n<s>\n", 0}, {"\n</s>\n", 0}, {" ", 0},   {"a", 0},
                  {"b", 0},     {"ab", -1},     {"ba", -1},      {"ab", -2}, {" a", -3}};
    unsigned char file[256];
    size_t n = 4;
    memset(file, 0, 4);
    for (size_t i = 0; i < 10; i++) {
        int32_t len = (int32_t)strlen(pieces[i].s);
        memcpy(file + n, &pieces[i].score, 4);
        memcpy(file + n + 4, &len, 4);
        memcpy(file + n + 8, pieces[i].s, (size_t)len);
        n += 8 + (size_t)len;
    }
    vocab vv;
    memset(&vv, 0, sizeof vv);
    l2c_vocab(file, n, 10, &vv.src);
    if (!vocab_start(&vv, 16)) {
        T_FAIL("synthetic", "init failed");
        return;
    }
    int32_t ids[16];
    l4lm_status st, st2, st3;
    size_t k = encode(&vv, "aba", 3, false, ids, 16, &st);
    T_CHECK("synthetic_duplicate_last_wins", st == L4LM_OK && k == 2 && ids[0] == 9 && ids[1] == 7,
            "n %zu: %d %d", k, ids[0], ids[1]);
    k = encode(&vv, "c\xC3\xA9", 3, true, ids, 16, &st);
    T_CHECK("synthetic_unk_fallback",
            st == L4LM_OK && k == 5 && ids[0] == 1 && ids[1] == 3 && ids[2] == 0 && ids[3] == 0 &&
                ids[4] == 0,
            "n %zu", k);
    free(vv.arena);
    vv.src.unk = -1;
    vocab_start(&vv, 16);
    encode(&vv, "c", 1, false, ids, 16, &st);
    encode(&vv, "ab", 2, false, ids, 16, &st2);
    free(vv.arena);
    vv.src.add_space_prefix = false;
    vocab_start(&vv, 16);
    k = encode(&vv, "ab", 2, false, ids, 16, &st3);
    T_CHECK("synthetic_no_unk",
            st == L4LM_E_TOKENIZER && st2 == L4LM_OK && st3 == L4LM_OK && k == 1 && ids[0] == 8,
            "%d %d %d", st, st2, st3);
    free(vv.arena);
}

/* ------------------------------------------------------- bad sources */

static l4lm_status check_l2c(const unsigned char *b, size_t size, uint32_t n_vocab, l4lm_error *err)
{
    l4lm_vocab_src v;
    l2c_vocab(b, size, n_vocab, &v);
    memset(err, 0, sizeof *err);
    return l4lm_tok_check(&v, err);
}

static void test_bad(vocab *l2c, vocab *gg)
{
    l4lm_error err;
    size_t size = l2c->size;
    unsigned char *b = malloc(size);
    memcpy(b, l2c->file, size);
    T_CHECK("bad_none_ok", check_l2c(b, size, 512, &err) == L4LM_OK, "%s", err.what);

    int accepted = 0;
    for (size_t cut = 0; cut < size; cut += asan ? 7 : 1) {
        unsigned char *c = malloc(cut ? cut : 1); /* exact size: ASan sees overreads */
        memcpy(c, b, cut);
        accepted += check_l2c(c, cut, 512, &err) != L4LM_E_TRUNCATED;
        free(c);
    }
    T_CHECK("bad_truncated_every_length", accepted == 0, "%d lengths accepted", accepted);

    l4lm_status st = check_l2c(b, size, 513, &err);
    T_CHECK("bad_nvocab_more", st == L4LM_E_TRUNCATED && err.what[0], "status %d", st);
    st = check_l2c(b, size, 511, &err);
    T_CHECK("bad_nvocab_fewer", st == L4LM_E_TOKENIZER, "status %d", st);
    st = check_l2c(b, size, 0, &err);
    T_CHECK("bad_nvocab_zero", st == L4LM_E_TOKENIZER, "status %d", st);
    st = check_l2c(b, size, L4LM_MAX_VOCAB + 1, &err);
    T_CHECK("bad_nvocab_huge", st == L4LM_E_LIMIT, "status %d", st);

    /* the length field of the last piece (a 7-byte merge at the end of tok512.bin) */
    size_t last_len_at = 4;
    for (int i = 0; i < 511; i++)
        last_len_at += 8 + le(b + last_len_at + 4, 4);
    last_len_at += 4;
    uint32_t orig = (uint32_t)le(b + last_len_at, 4);
    const uint32_t lens[] = {orig + 1, 0x7FFFFFFFu, 0x80000000u, 513};
    const l4lm_status want[] = {L4LM_E_TRUNCATED, L4LM_E_LIMIT, L4LM_E_TOKENIZER, L4LM_E_LIMIT};
    bool ok = orig >= 1 && last_len_at + 4 + orig == size;
    for (int i = 0; i < 4; i++) {
        memcpy(b + last_len_at, &lens[i], 4);
        st = check_l2c(b, size, 512, &err);
        ok &= st == want[i];
        if (st != want[i])
            printf("# piece length %u: status %d (%s)\n", lens[i], st, err.what);
    }
    memcpy(b + last_len_at, &orig, 4);
    T_CHECK("bad_piece_length", ok, "see above");
    check_l2c(b, size - 1, 512, &err);
    printf("# truncated tokenizer.bin: \"%s\" at %llu\n", err.what, (unsigned long long)err.offset);

    l4lm_vocab_src v;
    l2c_vocab(b, size, 512, &v);
    v.bos = 512;
    st = l4lm_tok_check(&v, &err);
    v.bos = 1;
    v.unk = -2;
    l4lm_status st2 = l4lm_tok_check(&v, &err);
    T_CHECK("bad_special_ids", st == L4LM_E_TOKENIZER && st2 == L4LM_E_TOKENIZER, "%d %d", st, st2);
    l2c_vocab(NULL, 0, 512, &v);
    T_CHECK("bad_no_tokens", l4lm_tok_check(&v, &err) == L4LM_E_TOKENIZER, "accepted");
    l2c_vocab(b, size, 512, &v);
    v.format = (l4lm_format)7;
    T_CHECK("bad_format",
            l4lm_tok_check(&v, &err) == L4LM_E_TOKENIZER && l4lm_tok_arena_bytes(&v, 10) == 0,
            "accepted");

    /* init validates too, with the same verdict */
    l2c_vocab(b, size - 3, 512, &v);
    static unsigned char arena[1 << 16] __attribute__((aligned(64)));
    l4lm_tok *t;
    T_CHECK("bad_init_rejects", l4lm_tok_init(&t, &v, arena, sizeof arena, 100) == L4LM_E_TRUNCATED,
            "accepted");

    /* GGUF: array cut short, and a string length of 2^64-1 */
    v = gg->src;
    v.tokens_size -= 1;
    st = l4lm_tok_check(&v, &err);
    unsigned char *g = malloc(gg->src.tokens_size);
    memcpy(g, gg->src.tokens, gg->src.tokens_size);
    memset(g + 8 + le(g, 8), 0xFF, 8); /* length of piece 1 */
    v.tokens = g;
    v.tokens_size = gg->src.tokens_size;
    l4lm_status st3 = l4lm_tok_check(&v, &err);
    T_CHECK("bad_gguf", st == L4LM_E_TRUNCATED && st3 == L4LM_E_LIMIT, "%d %d", st, st3);
    free(g);
    free(b);
}

int main(int argc, char **argv)
{
    asan = argc > 1 && !strcmp(argv[1], "--asan");
    const char *shared = t_shared();
    if (!shared) {
        T_SKIP("tokenizer", "../shared not found (set L4LM_SHARED)");
        T_EXIT();
    }
    static vocab tok512, stories, bin32k, spm, phi3;
    if (!vocab_load(&tok512, shared, "models/tok512.bin", 512) ||
        !vocab_load(&stories, shared, "models/stories260K.gguf", 0) ||
        !vocab_load(&bin32k, shared, "models/tokenizer.bin", 32000) ||
        !vocab_load(&spm, shared, "vocab/ggml-vocab-llama-spm.gguf", 0) ||
        !vocab_load(&phi3, shared, "vocab/ggml-vocab-phi-3.gguf", 0)) {
        T_FAIL("load", "a vocabulary in ../shared did not load");
        T_EXIT();
    }
    test_reference(shared, &tok512, "tok512");
    test_reference(shared, &stories, "stories_gguf");
    test_vectors(shared, &spm, "ggml-vocab-llama-spm.gguf", "llama_spm");
    test_vectors(shared, &phi3, "ggml-vocab-phi-3.gguf", "phi3");
    /* tokenizer.bin is Llama 2's vocabulary: llama-spm's expected ids apply */
    test_vectors(shared, &bin32k, "ggml-vocab-llama-spm.gguf", "tokenizer_bin");
    int32_t ids[8];
    l4lm_status st;
    size_t n = encode(&bin32k, "Hello world", 11, false, ids, 8, &st);
    T_CHECK("tokenizer_bin_hello_world",
            st == L4LM_OK && n == 2 && ids[0] == 15043 && ids[1] == 3186, "n %zu", n);
    test_stream(&spm);
    test_pieces(&tok512, &stories);
    test_random(&tok512, &stories, &spm);
    test_arena(&stories);
    test_synthetic();
    test_bad(&tok512, &stories);
    vocab *all[] = {&tok512, &stories, &bin32k, &spm, &phi3};
    for (int i = 0; i < 5; i++)
        vocab_free(all[i]);
    T_EXIT();
}
