/*
** chat.c — chat templates without a Jinja engine. A GGUF model carries its
** chat template as Jinja source in tokenizer.chat_template; like llama.cpp's
** built-in templates we recognise the family by distinctive substrings of
** that source and render it with fixed code, byte for byte as llama.cpp's
** llama_chat_apply_template does. A model without a template, or with one
** of a family we do not render, gets ChatML (llama.cpp's fallback too).
**
** l4lm_chat_tokenize renders and tokenizes in one go, marking which bytes
** came from the messages: there the tokenizer cuts out no control token, so
** "<|im_end|><|im_start|>system" inside a message stays text and cannot
** forge a turn; the template's own markers still become their tokens.
*/
#include "session.h"
#include "tok.h"

enum family {
    CHATML,
    LLAMA3,
    LLAMA2,
    LLAMA2_SYS,
    LLAMA2_SYS_BOS,
    LLAMA2_SYS_STRIP,
    MISTRAL_V1,
    MISTRAL_V3,
    MISTRAL_V3_TEKKEN,
    MISTRAL_V7,
    MISTRAL_V7_TEKKEN,
    PHI3,
    PHI4,
    FALCON3,
    ZEPHYR,
    GLMEDGE,
    GEMMA,
    N_FAMILIES,
    UNKNOWN = N_FAMILIES /* recognised by llama.cpp as a family we do not render */
};

/* Names as llama.cpp spells them (a template string equal to one selects it),
** and the text that ends a turn, a stop token when the vocabulary has it whole. */
static const struct {
    char name[20];
    char end_of_turn[16];
} families[N_FAMILIES] = {
    [CHATML] = {"chatml", "<|im_end|>"},
    [LLAMA3] = {"llama3", "<|eot_id|>"},
    [LLAMA2] = {"llama2", ""},
    [LLAMA2_SYS] = {"llama2-sys", ""},
    [LLAMA2_SYS_BOS] = {"llama2-sys-bos", ""},
    [LLAMA2_SYS_STRIP] = {"llama2-sys-strip", ""},
    [MISTRAL_V1] = {"mistral-v1", ""},
    [MISTRAL_V3] = {"mistral-v3", ""},
    [MISTRAL_V3_TEKKEN] = {"mistral-v3-tekken", ""},
    [MISTRAL_V7] = {"mistral-v7", ""},
    [MISTRAL_V7_TEKKEN] = {"mistral-v7-tekken", ""},
    [PHI3] = {"phi3", "<|end|>"},
    [PHI4] = {"phi4", "<|im_end|>"},
    [FALCON3] = {"falcon3", ""},
    [ZEPHYR] = {"zephyr", "<|endoftext|>"},
    [GLMEDGE] = {"glmedge", "<|user|>"},
    [GEMMA] = {"gemma", "<end_of_turn>"},
};

/* ---------------------------------------------------------------- detection */

typedef struct text {
    const char *p;
    size_t n;
} text;

static bool has(text t, const char *needle)
{
    size_t k = l4lm_strlen(needle);
    for (size_t i = 0; k <= t.n && i <= t.n - k; i++)
        if (__builtin_memcmp(t.p + i, needle, k) == 0)
            return true;
    return false;
}

/* The [INST] families: Mistral's official templates, else Llama 2 and its variants. */
static enum family detect_inst(text t)
{
    if (has(t, "[SYSTEM_PROMPT]"))
        return MISTRAL_V7;
    if (has(t, "' [INST] ' + system_message") || has(t, "[AVAILABLE_TOOLS]"))
        return has(t, " [INST]")      ? MISTRAL_V1
               : has(t, "\"[INST]\"") ? MISTRAL_V3_TEKKEN
                                      : MISTRAL_V3;
    if (has(t, "content.strip()"))
        return LLAMA2_SYS_STRIP;
    if (has(t, "bos_token + '[INST]"))
        return LLAMA2_SYS_BOS;
    return has(t, "<<SYS>>") ? LLAMA2_SYS : LLAMA2;
}

/*
** After the ChatML and [INST] checks, llama.cpp's remaining tests in its
** order: the first rule whose needles all occur wins. Families we do not
** render still need their rules, so that their templates are not taken for
** a later family (e.g. a Command-R template mentions no Llama 3 header, but
** an OpenChat one could meet a later rule).
*/
static const struct {
    const char *a, *b, *c; /* b, c: NULL when unused */
    uint8_t family;
} rules[] = {
    {"<|assistant|>", "<|end|>", NULL, PHI3},
    {"[gMASK]<sop>", NULL, NULL, UNKNOWN},                      /* ChatGLM 4 */
    {"<|assistant|>", "<|user|>", "<|tool_declare|>", UNKNOWN}, /* EXAONE MoE */
    {"<|assistant|>", "<|user|>", "</s>", FALCON3},
    {"<|assistant|>", "<|user|>", NULL, GLMEDGE}, /* also TinyLlama's and Zephyr-7B's */
    {"<|{{ item['role'] }}|>", "<|begin_of_image|>", NULL, GLMEDGE},
    {"<|user|>", "<|endoftext|>", NULL, ZEPHYR},
    {"bos_token + message['role']", NULL, NULL, UNKNOWN}, /* Monarch */
    {"<start_of_turn>", NULL, NULL, GEMMA},
    {"'\\n\\nAssistant: ' + eos_token", NULL, NULL, UNKNOWN},     /* Orion */
    {"GPT4 Correct ", NULL, NULL, UNKNOWN},                       /* OpenChat */
    {"USER: ", "ASSISTANT: ", NULL, UNKNOWN},                     /* Vicuna */
    {"### Instruction:", "<|EOT|>", NULL, UNKNOWN},               /* DeepSeek Coder */
    {"<|START_OF_TURN_TOKEN|>", "<|USER_TOKEN|>", NULL, UNKNOWN}, /* Command-R */
    {"<|start_header_id|>", "<|end_header_id|>", NULL, LLAMA3},
};

static enum family detect(text t)
{
    for (int f = 0; f < N_FAMILIES; f++)
        if (l4lm_streq(t.p, t.n, families[f].name))
            return (enum family)f;
    if (has(t, "<|im_start|>"))
        return has(t, "<|im_sep|>") ? PHI4 : has(t, "<end_of_utterance>") ? UNKNOWN : CHATML;
    if ((t.n >= 7 && __builtin_memcmp(t.p, "mistral", 7) == 0) || has(t, "[INST]"))
        return detect_inst(t);
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
        if (has(t, rules[i].a) && (!rules[i].b || has(t, rules[i].b)) &&
            (!rules[i].c || has(t, rules[i].c)))
            return (enum family)rules[i].family;
    return UNKNOWN;
}

/* The family to render with: the model's template's, else ChatML. */
static enum family model_family(const l4lm_model *m)
{
    text t;
    uint64_t n;
    if (!m || m->format != L4LM_FORMAT_GGUF ||
        !l4lm_gguf_str(&m->gguf, "tokenizer.chat_template", &t.p, &n))
        return CHATML;
    t.n = (size_t)n;
    enum family f = detect(t);
    return f == UNKNOWN ? CHATML : f;
}

const char *l4lm_chat_template_name(const l4lm_model *m)
{
    return families[model_family(m)].name;
}

/* ---------------------------------------------------------------- rendering */

/* Output that keeps counting past the capacity, so the caller learns the size.
** With plain, the bytes of message text are marked there (one bit each, for
** the first plain_cap bytes): the tokenizer cuts no control token out of them. */
typedef struct out {
    char *buf;
    size_t cap, len;
    uint8_t *plain;
    size_t plain_cap;
} out;

static void put_n(out *o, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++, o->len++)
        if (o->len < o->cap)
            o->buf[o->len] = s[i];
}

static void put(out *o, const char *s)
{
    put_n(o, s, l4lm_strlen(s));
}

/* ASCII white space as C's isspace() sees it in the "C" locale. */
static bool is_space(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* s without leading and trailing white space (llama.cpp's trim). */
static text trimmed(const char *s)
{
    text t = {s, l4lm_strlen(s)};
    while (t.n > 0 && is_space(t.p[0]))
        t.p++, t.n--;
    while (t.n > 0 && is_space(t.p[t.n - 1]))
        t.n--;
    return t;
}

/* Message text: marked plain. */
static void put_text(out *o, const char *s, size_t n)
{
    for (size_t i = o->len; o->plain && i < o->len + n && i < o->plain_cap; i++)
        o->plain[i >> 3] |= (uint8_t)(1u << (i & 7));
    put_n(o, s, n);
}

static void put_msg(out *o, const char *s)
{
    put_text(o, s, l4lm_strlen(s));
}

static void put_msg_trimmed(out *o, const char *s)
{
    text t = trimmed(s);
    put_text(o, t.p, t.n);
}

/* A role that is a plain word ("user", "tool_result") is template text, so
** Phi-3's "<|" role "|>" still meets its <|user|> token; any other role is
** message text, so a role cannot forge markers either. */
static void put_role(out *o, const char *role)
{
    for (const char *c = role; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '_' || *c == '-')) {
            put_msg(o, role);
            return;
        }
    put(o, role);
}

static bool is(const char *role, const char *name)
{
    return l4lm_streq(role, l4lm_strlen(role), name);
}

/* Every message as PRE role MID content END, then the assistant opening. */
static void render_simple(out *o, const l4lm_chat_msg *msgs, size_t n, bool add_assistant,
                          const char *pre, const char *mid, const char *end, bool trim,
                          const char *assistant)
{
    for (size_t i = 0; i < n; i++) {
        put(o, pre);
        put_role(o, msgs[i].role);
        put(o, mid);
        if (trim)
            put_msg_trimmed(o, msgs[i].content);
        else
            put_msg(o, msgs[i].content);
        put(o, end);
    }
    if (add_assistant)
        put(o, assistant);
}

/* Llama 2: [INST] turns; a system message in <<SYS>> (or plain) inside the first. */
static void render_llama2(out *o, enum family f, const l4lm_chat_msg *msgs, size_t n)
{
    bool inside = true; /* the opening [INST] is written here; BOS is the tokenizer's */
    put(o, "[INST] ");
    for (size_t i = 0; i < n; i++) {
        const char *role = msgs[i].role, *content = msgs[i].content;
        text c = f == LLAMA2_SYS_STRIP ? trimmed(content) : (text){content, l4lm_strlen(content)};
        if (!inside) {
            put(o, f == LLAMA2_SYS_BOS ? "<s>[INST] " : "[INST] ");
            inside = true;
        }
        if (is(role, "system")) {
            put(o, f == LLAMA2 ? "" : "<<SYS>>\n");
            put_text(o, c.p, c.n);
            put(o, f == LLAMA2 ? "\n" : "\n<</SYS>>\n\n");
        } else if (is(role, "user")) {
            put_text(o, c.p, c.n);
            put(o, " [/INST]");
        } else {
            put_text(o, c.p, c.n);
            put(o, "</s>");
            inside = false;
        }
    }
}

/* Mistral v1/v3/v3-tekken: like Llama 2 with other spacing, system as a paragraph. */
static void render_mistral(out *o, enum family f, const l4lm_chat_msg *msgs, size_t n)
{
    const char *lead = f == MISTRAL_V1 ? " " : "", *trail = f == MISTRAL_V3_TEKKEN ? "" : " ";
    bool inside = false;
    for (size_t i = 0; i < n; i++) {
        const char *role = msgs[i].role, *content = msgs[i].content;
        if (!inside) {
            put(o, lead);
            put(o, "[INST]");
            put(o, trail);
            inside = true;
        }
        if (is(role, "system")) {
            put_msg(o, content);
            put(o, "\n\n");
        } else if (is(role, "user")) {
            put_msg(o, content);
            put(o, lead);
            put(o, "[/INST]");
        } else {
            put(o, trail);
            if (f == MISTRAL_V3)
                put_msg_trimmed(o, content);
            else
                put_msg(o, content);
            put(o, "</s>");
            inside = false;
        }
    }
}

static void render_mistral_v7(out *o, enum family f, const l4lm_chat_msg *msgs, size_t n)
{
    const char *sp = f == MISTRAL_V7 ? " " : "";
    for (size_t i = 0; i < n; i++) {
        bool sys = is(msgs[i].role, "system"), user = is(msgs[i].role, "user");
        put(o, sys ? "[SYSTEM_PROMPT]" : user ? "[INST]" : "");
        put(o, sp);
        put_msg(o, msgs[i].content);
        put(o, sys ? "[/SYSTEM_PROMPT]" : user ? "[/INST]" : "</s>");
    }
}

/*
** Gemma has no system turn: system messages (trimmed, joined with nothing
** between) open the next turn that is not the model's, then a blank line.
** Rather than buffering them, remember where the pending ones start.
*/
static void render_gemma(out *o, const l4lm_chat_msg *msgs, size_t n, bool add_assistant)
{
    size_t sys_from = 0;
    bool sys_pending = false; /* some pending system text is non-empty */
    for (size_t i = 0; i < n; i++) {
        const char *role = msgs[i].role;
        if (is(role, "system")) {
            sys_pending |= trimmed(msgs[i].content).n > 0;
            continue;
        }
        bool model = is(role, "assistant") || is(role, "model");
        put(o, "<start_of_turn>");
        put_role(o, is(role, "assistant") ? "model" : role);
        put(o, "\n");
        if (sys_pending && !model) {
            for (size_t k = sys_from; k < i; k++)
                if (is(msgs[k].role, "system"))
                    put_msg_trimmed(o, msgs[k].content);
            put(o, "\n\n");
            sys_pending = false;
            sys_from = i + 1;
        }
        put_msg_trimmed(o, msgs[i].content);
        put(o, "<end_of_turn>\n");
    }
    if (add_assistant)
        put(o, "<start_of_turn>model\n");
}

static void render(out *o, enum family f, const l4lm_chat_msg *msgs, size_t n, bool add_assistant)
{
    switch (f) {
    case LLAMA3:
        render_simple(o, msgs, n, add_assistant, "<|start_header_id|>", "<|end_header_id|>\n\n",
                      "<|eot_id|>", true, "<|start_header_id|>assistant<|end_header_id|>\n\n");
        break;
    case LLAMA2:
    case LLAMA2_SYS:
    case LLAMA2_SYS_BOS:
    case LLAMA2_SYS_STRIP:
        render_llama2(o, f, msgs, n);
        break;
    case MISTRAL_V1:
    case MISTRAL_V3:
    case MISTRAL_V3_TEKKEN:
        render_mistral(o, f, msgs, n);
        break;
    case MISTRAL_V7:
    case MISTRAL_V7_TEKKEN:
        render_mistral_v7(o, f, msgs, n);
        break;
    case PHI3:
        render_simple(o, msgs, n, add_assistant, "<|", "|>\n", "<|end|>\n", false,
                      "<|assistant|>\n");
        break;
    case PHI4:
        render_simple(o, msgs, n, add_assistant, "<|im_start|>", "<|im_sep|>", "<|im_end|>", false,
                      "<|im_start|>assistant<|im_sep|>");
        break;
    case FALCON3:
        render_simple(o, msgs, n, add_assistant, "<|", "|>\n", "\n", false, "<|assistant|>\n");
        break;
    case ZEPHYR:
        render_simple(o, msgs, n, add_assistant, "<|", "|>\n", "<|endoftext|>\n", false,
                      "<|assistant|>\n");
        break;
    case GLMEDGE:
        render_simple(o, msgs, n, add_assistant, "<|", "|>\n", "", false, "<|assistant|>");
        break;
    case GEMMA:
        render_gemma(o, msgs, n, add_assistant);
        break;
    default: /* CHATML */
        render_simple(o, msgs, n, add_assistant, "<|im_start|>", "\n", "<|im_end|>\n", false,
                      "<|im_start|>assistant\n");
        break;
    }
}

/* Renders into o (o->plain, when set, cleared first). */
static l4lm_status format(const l4lm_model *m, const l4lm_chat_msg *msgs, size_t n_msgs,
                          bool add_assistant, out *o, size_t *len)
{
    if (!m || !len || (!msgs && n_msgs) || (!o->buf && o->cap))
        return L4LM_E_ARG;
    *len = 0;
    for (size_t i = 0; i < n_msgs; i++)
        if (!msgs[i].role || !msgs[i].content || !msgs[i].role[0])
            return L4LM_E_ARG;
    if (o->plain)
        __builtin_memset(o->plain, 0, o->plain_cap / 8 + 1);
    render(o, model_family(m), msgs, n_msgs, add_assistant);
    *len = o->len;
    if (o->len >= o->cap) /* no room for the NUL: *len tells the size needed, less one */
        return L4LM_E_BUFFER;
    o->buf[o->len] = 0;
    return L4LM_OK;
}

l4lm_status l4lm_chat_format(const l4lm_model *m, const l4lm_chat_msg *msgs, size_t n_msgs,
                             bool add_assistant, char *buf, size_t cap, size_t *len)
{
    out o = {buf, cap, 0, NULL, 0};
    return format(m, msgs, n_msgs, add_assistant, &o, len);
}

l4lm_status l4lm_chat_format_marked(const l4lm_model *m, const l4lm_chat_msg *msgs, size_t n_msgs,
                                    bool add_assistant, char *buf, size_t cap, size_t *len,
                                    uint8_t *plain)
{
    out o = {buf, cap, 0, plain, cap};
    return format(m, msgs, n_msgs, add_assistant, &o, len);
}

l4lm_status l4lm_tokenize_marked(l4lm_session *s, const char *str, size_t len, uint32_t flags,
                                 const uint8_t *plain, int32_t *ids, size_t cap, size_t *n_out)
{
    if (!s)
        return L4LM_E_ARG;
    return l4lm_tok_encode_plain(s->tok, str ? str : "", len, flags, plain, ids, cap, n_out);
}

l4lm_status l4lm_chat_tokenize(l4lm_session *s, const l4lm_chat_msg *msgs, size_t n_msgs,
                               bool add_assistant, uint32_t flags, char *buf, size_t cap,
                               size_t *len, int32_t *ids, size_t ids_cap, size_t *n_ids)
{
    if (!s || !n_ids || (!ids && ids_cap))
        return L4LM_E_ARG;
    *n_ids = 0;
    l4lm_tok *t = s->tok;
    bool content_special = flags & L4LM_TOK_CHAT_CONTENT_SPECIAL;
    out o = {buf, cap, 0, content_special ? NULL : t->plain, t->max_text};
    l4lm_status st = format(l4lm_session_model(s), msgs, n_msgs, add_assistant, &o, len);
    if (st != L4LM_OK)
        return st;
    return l4lm_tok_encode_plain(t, buf, *len, flags & (L4LM_TOK_BOS | L4LM_TOK_SPECIAL), o.plain,
                                 ids, ids_cap, n_ids);
}

/* ---------------------------------------------------------------- stop tokens */

/* The id of the GGUF vocabulary piece equal to s, or -1. */
static int32_t find_piece(const l4lm_vocab_src *v, const char *s)
{
    size_t k = l4lm_strlen(s);
    uint64_t pos = 0;
    if (v->format != L4LM_FORMAT_GGUF || !v->tokens || k == 0)
        return -1;
    for (uint32_t id = 0; id < v->n_vocab && pos + 8 <= v->tokens_size; id++) {
        uint64_t n = l4lm_rd64(v->tokens + pos);
        if (n > v->tokens_size - pos - 8)
            return -1;
        if (n == k && __builtin_memcmp(v->tokens + pos + 8, s, k) == 0)
            return (int32_t)id;
        pos += 8 + n;
    }
    return -1;
}

static void add_stop(int32_t id, const l4lm_model *m, int32_t *ids, size_t cap, size_t *n)
{
    if (id < 0 || (uint32_t)id >= m->vocab.n_vocab || *n >= cap)
        return;
    for (size_t i = 0; i < *n; i++)
        if (ids[i] == id)
            return;
    ids[(*n)++] = id;
}

size_t l4lm_chat_stop_tokens(const l4lm_model *m, int32_t *ids, size_t cap)
{
    size_t n = 0;
    uint32_t id;
    if (!m || !ids)
        return 0;
    add_stop(find_piece(&m->vocab, families[model_family(m)].end_of_turn), m, ids, cap, &n);
    if (m->format == L4LM_FORMAT_GGUF &&
        l4lm_gguf_u32(&m->gguf, "tokenizer.ggml.eot_token_id", &id))
        add_stop((int32_t)id, m, ids, cap, &n);
    if (m->format == L4LM_FORMAT_GGUF &&
        l4lm_gguf_u32(&m->gguf, "tokenizer.ggml.eom_token_id", &id))
        add_stop((int32_t)id, m, ids, cap, &n);
    add_stop(m->vocab.eos, m, ids, cap, &n);
    return n;
}
