/*
** vocab_src.c — where a GGUF file keeps its vocabulary: the token, score
** and type arrays, the special ids, BOS/EOS/space-prefix flags (llama.cpp's
** defaults, then the file's keys) and, for byte-level BPE, the
** pre-tokenizer and merges. Points at them in place; tokenizer.c builds
** its tables from this l4lm_vocab_src.
*/
#include "internal.h"

/* Find an array KV of n_vocab elements of the given element type. */
static const uint8_t *vocab_array(l4lm_model *m, const char *key, uint32_t elem, bool need,
                                  l4lm_status *st)
{
    l4lm_gguf_kv kv;
    if (!l4lm_gguf_find(&m->gguf, key, &kv)) {
        if (need)
            *st = l4lm_fail(&m->err, L4LM_E_TOKENIZER, 0, "missing vocabulary key", key,
                            l4lm_strlen(key));
        return 0;
    }
    if (kv.type != L4LM_GGUF_ARRAY || kv.arr_type != elem || kv.arr_n != m->hp.n_vocab) {
        *st = l4lm_fail(&m->err, L4LM_E_TOKENIZER, (uint64_t)(kv.val - m->bytes),
                        "vocabulary array has the wrong type or length", key, l4lm_strlen(key));
        return 0;
    }
    return kv.arr;
}

static int32_t vocab_id(const l4lm_gguf *g, const char *key, int32_t dflt)
{
    uint32_t v;
    return l4lm_gguf_u32(g, key, &v) && v < L4LM_MAX_VOCAB ? (int32_t)v : dflt;
}

/* Does s[0..n) contain sub, ignoring ASCII case? */
static bool name_has(const char *s, uint64_t n, const char *sub)
{
    size_t k = l4lm_strlen(sub);
    for (uint64_t i = 0; i + k <= n; i++) {
        size_t j = 0;
        while (j < k && (s[i + j] | 0x20) == sub[j])
            j++;
        if (j == k)
            return true;
    }
    return false;
}

/* Byte-level BPE ("gpt2"): the pre-tokenizer and the merge rules. */
static l4lm_status bpe_vocab(l4lm_model *m)
{
    l4lm_vocab_src *v = &m->vocab;
    const char *s = 0;
    uint64_t len = 0;
    l4lm_gguf_kv kv;
    l4lm_gguf_str(&m->gguf, "tokenizer.ggml.pre", &s, &len);
    v->pre = s ? l4lm_tok_pre_named(s, len) : L4LM_PRE_NONE;
    if (v->pre == L4LM_PRE_NONE)
        return l4lm_fail(&m->err, L4LM_E_TOKENIZER, 0, "unsupported pre-tokenizer",
                         s ? s : "(none)", s ? len : 6);
    if (!l4lm_gguf_find(&m->gguf, "tokenizer.ggml.merges", &kv) || kv.type != L4LM_GGUF_ARRAY ||
        kv.arr_type != L4LM_GGUF_STRING || kv.arr_n > UINT32_MAX)
        return l4lm_fail(&m->err, L4LM_E_TOKENIZER, 0, "missing or malformed merges",
                         "tokenizer.ggml.merges", 21);
    v->merges = kv.arr;
    v->merges_size = m->size - (uint64_t)(kv.arr - m->bytes);
    v->n_merges = (uint32_t)kv.arr_n;
    v->add_bos = v->pre == L4LM_PRE_LLAMA3; /* llama.cpp's defaults */
    v->add_space_prefix = false;
    return L4LM_OK;
}

l4lm_status l4lm_vocab_gguf(l4lm_model *m)
{
    const l4lm_gguf *g = &m->gguf;
    l4lm_vocab_src *v = &m->vocab;
    const char *s;
    uint64_t len;
    l4lm_status st = L4LM_OK;
    if (!l4lm_gguf_str(g, "tokenizer.ggml.model", &s, &len))
        return l4lm_fail(&m->err, L4LM_E_TOKENIZER, 0, "no tokenizer.ggml.model", 0, 0);
    bool bpe = l4lm_streq(s, len, "gpt2");
    if (!bpe && !l4lm_streq(s, len, "llama"))
        return l4lm_fail(&m->err, L4LM_E_TOKENIZER, 0, "unsupported tokenizer", s, len);
    v->format = L4LM_FORMAT_GGUF;
    v->n_vocab = m->hp.n_vocab;
    v->tokens = vocab_array(m, "tokenizer.ggml.tokens", L4LM_GGUF_STRING, true, &st);
    v->scores = vocab_array(m, "tokenizer.ggml.scores", L4LM_GGUF_F32, false, &st);
    v->types = vocab_array(m, "tokenizer.ggml.token_type", L4LM_GGUF_I32, false, &st);
    if (st)
        return st;
    v->tokens_size = m->size - (uint64_t)(v->tokens - m->bytes);
    v->bos = vocab_id(g, "tokenizer.ggml.bos_token_id", bpe ? -1 : 1);
    v->eos = vocab_id(g, "tokenizer.ggml.eos_token_id", bpe ? -1 : 2);
    v->unk = vocab_id(g, "tokenizer.ggml.unknown_token_id", bpe ? -1 : 0);
    v->add_bos = true;
    v->add_space_prefix = true;
    st = bpe ? bpe_vocab(m) : L4LM_OK;
    if (st)
        return st;
    l4lm_gguf_bool(g, "tokenizer.ggml.add_bos_token", &v->add_bos);
    l4lm_gguf_bool(g, "tokenizer.ggml.add_eos_token", &v->add_eos);
    l4lm_gguf_bool(g, "tokenizer.ggml.add_space_prefix", &v->add_space_prefix);
    /* llama.cpp recognises Phi-3 by name and strips the whitespace after its special tokens */
    if (l4lm_gguf_str(g, "general.name", &s, &len))
        v->special_rstrip = name_has(s, len, "phi-3") || name_has(s, len, "phi3");
    return l4lm_tok_check(v, &m->err);
}
