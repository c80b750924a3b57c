/*
** test_chat.c — the chat-template renderer on its own: GGUF headers built
** here carry only tokenizer.chat_template (and for the stop tokens a small
** vocabulary). Expected texts follow llama.cpp's built-in templates as
** written in its src/llama-chat.cpp; tests/llamacpp_chat.sh checks them
** against llama.cpp itself.
*/
#include "internal.h"
#include "t.h"

static unsigned char gguf[4096];

static size_t put_u(size_t at, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        gguf[at + i] = (unsigned char)(v >> (8 * i));
    return at + n;
}

static size_t put_s(size_t at, const char *s)
{
    size_t n = strlen(s);
    at = put_u(at, n, 8);
    memcpy(gguf + at, s, n);
    return at + n;
}

/* A model whose GGUF has tokenizer.chat_template = tmpl (none when NULL). */
static l4lm_model model_with(const char *tmpl)
{
    l4lm_model m;
    l4lm_error err;
    size_t at = put_u(0, 0x46554747, 4); /* "GGUF" */
    at = put_u(at, 3, 4);
    at = put_u(at, 0, 8); /* tensors */
    at = put_u(at, tmpl ? 1 : 0, 8);
    if (tmpl) {
        at = put_s(at, "tokenizer.chat_template");
        at = put_u(at, L4LM_GGUF_STRING, 4);
        at = put_s(at, tmpl);
    }
    memset(&m, 0, sizeof m);
    m.format = L4LM_FORMAT_GGUF;
    static uint64_t index[8]; /* 8 + 12 bytes for the one key */
    if (l4lm_gguf_open(&m.gguf, gguf, at, index, sizeof index, &err))
        printf("FAIL chat_gguf: %s\n", err.what);
    return m;
}

static const l4lm_chat_msg conv[] = {
    {"system", "Be kind."}, {"user", "Hi"}, {"assistant", " Hello "}, {"user", "Bye"}};

/* Render conv[0..n) and compare with want. */
static void check_render(const char *name, const char *tmpl, size_t n, bool add, const char *want)
{
    l4lm_model m = model_with(tmpl);
    char buf[512];
    size_t len = 99;
    l4lm_status st = l4lm_chat_format(&m, conv, n, add, buf, sizeof buf, &len);
    T_CHECK(name, !st && len == strlen(want) && !strcmp(buf, want), "status %d, got \"%s\"", st,
            st ? "" : buf);
}

static void test_families(void)
{
    check_render("chat_chatml_none", NULL, 4, true,
                 "<|im_start|>system\nBe kind.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                 "<|im_start|>assistant\n Hello <|im_end|>\n<|im_start|>user\nBye<|im_end|>\n"
                 "<|im_start|>assistant\n");
    check_render("chat_llama3", "{{'<|start_header_id|>' + x + '<|end_header_id|>'}}", 2, true,
                 "<|start_header_id|>system<|end_header_id|>\n\nBe kind.<|eot_id|>"
                 "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                 "<|start_header_id|>assistant<|end_header_id|>\n\n");
    check_render("chat_llama2_sys", "[INST] <<SYS>>", 4, true,
                 "[INST] <<SYS>>\nBe kind.\n<</SYS>>\n\nHi [/INST] Hello </s>[INST] Bye [/INST]");
    check_render("chat_gemma_system_folded", "<start_of_turn>", 4, false,
                 "<start_of_turn>user\nBe kind.\n\nHi<end_of_turn>\n<start_of_turn>model\n"
                 "Hello<end_of_turn>\n<start_of_turn>user\nBye<end_of_turn>\n");
    check_render("chat_phi3", "<|assistant|> <|end|>", 1, true,
                 "<|system|>\nBe kind.<|end|>\n<|assistant|>\n");
    check_render("chat_zephyr", "<|user|> <|endoftext|>", 2, false,
                 "<|system|>\nBe kind.<|endoftext|>\n<|user|>\nHi<|endoftext|>\n");
    /* Families llama.cpp knows but l4lm does not render fall back to ChatML,
    ** and a rule for one of them must not let a later family claim it. */
    l4lm_model m =
        model_with("<|START_OF_TURN_TOKEN|><|USER_TOKEN|> <|start_header_id|><|end_header_id|>");
    T_CHECK("chat_unrendered_family", !strcmp(l4lm_chat_template_name(&m), "chatml"), "%s",
            l4lm_chat_template_name(&m));
    m = model_with("mistral whatever");
    T_CHECK("chat_mistral_prefix", !strcmp(l4lm_chat_template_name(&m), "llama2"), "%s",
            l4lm_chat_template_name(&m));
    m = model_with("{{ '<|im_start|>' }}<|im_sep|>");
    T_CHECK("chat_phi4_before_chatml", !strcmp(l4lm_chat_template_name(&m), "phi4"), "%s",
            l4lm_chat_template_name(&m));
}

static void test_buffer(void)
{
    l4lm_model m = model_with(NULL);
    const char *want = "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n";
    size_t n = strlen(want), len = 0;
    char buf[128];
    l4lm_status st = l4lm_chat_format(&m, conv + 1, 1, true, NULL, 0, &len);
    T_CHECK("chat_size_query", st == L4LM_E_BUFFER && len == n, "status %d len %zu", st, len);
    memset(buf, 'x', sizeof buf);
    st = l4lm_chat_format(&m, conv + 1, 1, true, buf, n, &len);
    T_CHECK("chat_no_room_for_nul", st == L4LM_E_BUFFER && len == n && buf[n] == 'x',
            "status %d len %zu", st, len);
    st = l4lm_chat_format(&m, conv + 1, 1, true, buf, n + 1, &len);
    T_CHECK("chat_exact_fit", !st && len == n && !strcmp(buf, want), "status %d", st);
}

static void test_edges(void)
{
    l4lm_model m = model_with(NULL);
    char buf[128];
    size_t len = 99;
    l4lm_status st = l4lm_chat_format(&m, NULL, 0, false, buf, sizeof buf, &len);
    T_CHECK("chat_empty_no_opening", !st && len == 0 && buf[0] == 0, "status %d len %zu", st, len);
    st = l4lm_chat_format(&m, NULL, 0, true, buf, sizeof buf, &len);
    T_CHECK("chat_empty_opening", !st && !strcmp(buf, "<|im_start|>assistant\n"), "status %d", st);
    l4lm_chat_msg odd[] = {{"tool", ""}};
    st = l4lm_chat_format(&m, odd, 1, false, buf, sizeof buf, &len);
    T_CHECK("chat_unknown_role_empty_content",
            !st && !strcmp(buf, "<|im_start|>tool\n<|im_end|>\n"), "status %d", st);
    l4lm_model g = model_with("<start_of_turn>");
    l4lm_chat_msg sys_only[] = {{"system", "Rules."}, {"tool", " out "}};
    st = l4lm_chat_format(&g, sys_only, 2, false, buf, sizeof buf, &len);
    T_CHECK("chat_gemma_unknown_role",
            !st && !strcmp(buf, "<start_of_turn>tool\nRules.\n\nout<end_of_turn>\n"),
            "status %d: %s", st, buf);
    l4lm_chat_msg bad[][1] = {{{NULL, "x"}}, {{"user", NULL}}, {{"", "x"}}};
    for (int i = 0; i < 3; i++) {
        st = l4lm_chat_format(&m, bad[i], 1, true, buf, sizeof buf, &len);
        T_CHECK("chat_bad_message", st == L4LM_E_ARG, "case %d status %d", i, st);
    }
    T_CHECK("chat_bad_args",
            l4lm_chat_format(NULL, conv, 1, true, buf, sizeof buf, &len) == L4LM_E_ARG &&
                l4lm_chat_format(&m, NULL, 1, true, buf, sizeof buf, &len) == L4LM_E_ARG &&
                l4lm_chat_format(&m, conv, 1, true, NULL, 8, &len) == L4LM_E_ARG &&
                l4lm_chat_format(&m, conv, 1, true, buf, sizeof buf, NULL) == L4LM_E_ARG,
            "a NULL was accepted");
}

/* A GGUF-shaped vocabulary: the string-array payload of pieces. */
static void test_stop_tokens(void)
{
    static const char *pieces[] = {"<unk>", "<s>", "</s>", "<|im_end|>", "<|eot_id|>"};
    static unsigned char tokens[128];
    size_t at = 0;
    for (int i = 0; i < 5; i++) {
        size_t n = strlen(pieces[i]);
        for (int b = 0; b < 8; b++)
            tokens[at + b] = (unsigned char)((uint64_t)n >> (8 * b));
        memcpy(tokens + at + 8, pieces[i], n);
        at += 8 + n;
    }
    l4lm_model m = model_with(NULL); /* ChatML: <|im_end|> ends a turn */
    m.vocab = (l4lm_vocab_src){.format = L4LM_FORMAT_GGUF,
                               .n_vocab = 5,
                               .tokens = tokens,
                               .tokens_size = at,
                               .bos = 1,
                               .eos = 2};
    int32_t ids[4] = {-1, -1, -1, -1};
    size_t n = l4lm_chat_stop_tokens(&m, ids, 4);
    T_CHECK("chat_stop_chatml", n == 2 && ids[0] == 3 && ids[1] == 2, "n %zu: %d %d", n, ids[0],
            ids[1]);
    n = l4lm_chat_stop_tokens(&m, ids, 1);
    T_CHECK("chat_stop_cap", n == 1 && ids[0] == 3, "n %zu", n);
    l4lm_model l3 = model_with("<|start_header_id|><|end_header_id|>");
    l3.vocab = m.vocab;
    n = l4lm_chat_stop_tokens(&l3, ids, 4);
    T_CHECK("chat_stop_llama3", n == 2 && ids[0] == 4 && ids[1] == 2, "n %zu: %d", n, ids[0]);
    m.vocab.tokens_size = 20; /* truncated: no piece beyond it is trusted */
    n = l4lm_chat_stop_tokens(&m, ids, 4);
    T_CHECK("chat_stop_truncated_vocab", n == 1 && ids[0] == 2, "n %zu", n);
}

static void test_stories(void)
{
    size_t size;
    unsigned char *bytes = t_shared_file("models/stories260K.gguf", &size);
    l4lm_model m;
    int32_t ids[4];
    size_t need = 0;
    void *index = bytes && !l4lm_model_index_size(bytes, size, &need) ? malloc(need) : NULL;
    l4lm_open_opts oo = {.index = index, .index_size = need};
    if (!index || l4lm_model_open(&m, bytes, size, &oo)) {
        T_SKIP("chat_stories260K", "../shared/models/stories260K.gguf absent or unreadable");
        free(bytes);
        free(index);
        return;
    }
    size_t n = l4lm_chat_stop_tokens(&m, ids, 4);
    T_CHECK("chat_stories260K",
            !strcmp(l4lm_chat_template_name(&m), "chatml") && n == 1 && ids[0] == 2,
            "%s, %zu stop tokens", l4lm_chat_template_name(&m), n);
    free(bytes);
    free(index);
}

int main(void)
{
    test_families();
    test_buffer();
    test_edges();
    test_stop_tokens();
    test_stories();
    T_EXIT();
}
