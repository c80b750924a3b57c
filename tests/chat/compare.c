/*
** tests/chat/compare.c — built and run by tests/llamacpp_chat.sh. Renders
** conversations with l4lm's chat template of MODEL and with llama.cpp's own
** llama_chat_apply_template — from the prebuilt libllama that node-llama-cpp
** ships, loaded with dlopen — on MODEL's tokenizer.chat_template (NULL when
** it has none, which llama.cpp renders as "chatml"): a two-turn conversation
** (system, user, assistant, user), an awkward one (blank and late system
** messages, an empty user turn, a "tool" role) and none, each with and
** without the assistant's opening. Prints "ok NAME" / "FAIL NAME: why" and
** writes l4lm's text of the two-turn conversation with the assistant's
** opening to OUT, for the token comparison that follows.
**
**   compare NAME MODEL LIBLLAMA OUT
*/
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "posix.h"

/* As llama.h declares it. */
typedef struct llama_chat_message {
    const char *role;
    const char *content;
} llama_chat_message;
typedef int (*apply_fn)(const char *tmpl, const llama_chat_message *chat, size_t n_msg,
                        _Bool add_ass, char *buf, int length);

static const l4lm_chat_msg two_turns[] = {
    {"system", "You are a helpful assistant."},
    {"user", "Hello!"},
    {"assistant", " Hi there, how can I help?\n"},
    {"user", "Tell me a story about a cat."},
};
static const l4lm_chat_msg awkward[] = {
    {"system", " \n"}, {"system", "Be brief. "}, {"user", ""},        {"assistant", "\tOK "},
    {"tool", "42"},    {"system", "Late."},      {"user", "  Next?"},
};
static const struct {
    const l4lm_chat_msg *msgs;
    size_t n;
} convs[] = {
    {two_turns, sizeof two_turns / sizeof two_turns[0]},
    {awkward, sizeof awkward / sizeof awkward[0]},
    {two_turns, 0},
};
#define CAP (1 << 16)

/* The first offset where a and b differ, for the message. */
static size_t diff_at(const char *a, size_t na, const char *b, size_t nb)
{
    size_t i = 0;
    while (i < na && i < nb && a[i] == b[i])
        i++;
    return i;
}

/* Conversation k both ways; 0 when the texts are equal. */
static int compare(const char *name, const l4lm_model *m, apply_fn apply, const char *tmpl, int k,
                   bool add)
{
    static char ours[CAP], theirs[CAP];
    size_t n_ours;
    l4lm_status st = l4lm_chat_format(m, convs[k].msgs, convs[k].n, add, ours, CAP, &n_ours);
    int n_theirs =
        apply(tmpl, (const llama_chat_message *)convs[k].msgs, convs[k].n, add, theirs, CAP);
    if (st || n_theirs < 0 || n_theirs >= CAP) {
        printf("FAIL %s: conversation %d: l4lm %s, llama.cpp returned %d\n", name, k,
               l4lm_strerror(st), n_theirs);
        return 1;
    }
    if (n_ours != (size_t)n_theirs || memcmp(ours, theirs, n_ours)) {
        size_t at = diff_at(ours, n_ours, theirs, (size_t)n_theirs);
        printf("FAIL %s: conversation %d, add_assistant=%d: texts differ at byte %zu: "
               "l4lm \"%.40s\" llama.cpp \"%.40s\"\n",
               name, k, add, at, ours + at, theirs + at);
        return 1;
    }
    return 0;
}

static int write_text(const char *path, const l4lm_model *m)
{
    static char text[CAP];
    size_t n;
    if (l4lm_chat_format(m, convs[0].msgs, convs[0].n, true, text, CAP, &n))
        return -1;
    FILE *f = fopen(path, "wb");
    int bad = !f || fwrite(text, 1, n, f) != n;
    return (f && fclose(f)) || bad ? -1 : 0;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: compare NAME MODEL LIBLLAMA OUT\n");
        return 2;
    }
    const char *name = argv[1];
    void *lib = dlopen(argv[3], RTLD_NOW | RTLD_LOCAL);
    apply_fn apply = lib ? (apply_fn)dlsym(lib, "llama_chat_apply_template") : NULL;
    if (!apply) {
        printf("skip %s: cannot load llama_chat_apply_template: %s\n", name, dlerror());
        return 0;
    }
    size_t model_size;
    char why[256], *tmpl = NULL;
    const void *model = l4lm_posix_map(argv[2], &model_size, why, sizeof why);
    /* The templates need only the GGUF metadata: a model l4lm cannot run yet
    ** (a vocabulary it does not tokenize) is still a GGUF to render from. */
    l4lm_model m = {0};
    l4lm_error err;
    size_t need = 0; /* the name index lives until exit */
    void *index =
        model && !l4lm_model_index_size(model, model_size, &need) ? malloc(need ? need : 1) : NULL;
    l4lm_open_opts oo = {.index = index, .index_size = need};
    bool open = index && (!l4lm_model_open(&m, model, model_size, &oo) ||
                          !l4lm_gguf_open(&m.gguf, model, model_size, index, need, &err));
    m.format = L4LM_FORMAT_GGUF;
    if (!open) {
        printf("FAIL %s: cannot open %s: %s\n", name, argv[2], model ? "not a GGUF" : why);
        return 1;
    }
    const char *t;
    uint64_t t_len;
    if (l4lm_gguf_str(&m.gguf, "tokenizer.chat_template", &t, &t_len))
        tmpl = strndup(t, t_len);
    int failed = 0;
    for (int k = 0; k < (int)(sizeof convs / sizeof convs[0]); k++)
        for (int add = 0; add <= 1; add++)
            failed |= compare(name, &m, apply, tmpl, k, add);
    if (write_text(argv[4], &m)) {
        printf("FAIL %s: cannot write %s\n", name, argv[4]);
        failed = 1;
    }
    if (!failed)
        printf("ok %s (%s)\n", name, l4lm_chat_template_name(&m));
    l4lm_posix_unmap(model, model_size);
    free(tmpl);
    return failed;
}
