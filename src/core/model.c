/*
** model.c — opens a model in place: a GGUF file or a llama2.c checkpoint
** with its tokenizer.bin. The work is done by one file per part:
** arch.c (the architecture table and the hyperparameters), vocab_src.c
** (the GGUF vocabulary), weights.c (every tensor the forward pass needs,
** present with the right shape and type) and llama2c.c (the checkpoint
** format). Nothing is copied: the model points into the caller's bytes.
** A GGUF without tensors (llama.cpp's ggml-vocab-*.gguf) opens as a
** vocabulary only: it tokenizes, and refuses to plan a forward pass.
*/
#include "internal.h"

/* A vocabulary-only file: the architecture's name for `info` (any name, as
** its hyperparameters are never used) and n_vocab from the token array. */
static l4lm_status vocab_only(l4lm_model *m)
{
    const char *arch = "";
    uint64_t len = 0;
    l4lm_gguf_kv kv;
    l4lm_gguf_str(&m->gguf, "general.architecture", &arch, &len);
    len = len < sizeof m->hp.arch - 1 ? len : sizeof m->hp.arch - 1;
    __builtin_memcpy(m->hp.arch, arch, len);
    m->vocab_only = true;
    if (!l4lm_gguf_find(&m->gguf, "tokenizer.ggml.tokens", &kv) || kv.type != L4LM_GGUF_ARRAY ||
        kv.arr_n == 0 || kv.arr_n > L4LM_MAX_VOCAB)
        return l4lm_fail(&m->err, L4LM_E_TOKENIZER, 0, "no weights and no vocabulary", 0, 0);
    m->hp.n_vocab = (uint32_t)kv.arr_n;
    return L4LM_OK;
}

static l4lm_status gguf_open(l4lm_model *m, const l4lm_open_opts *o)
{
    l4lm_status st = l4lm_gguf_open(&m->gguf, m->bytes, m->size, o->index, o->index_size, &m->err);
    if (!st && m->gguf.n_tensors == 0) {
        st = vocab_only(m);
        if (!st)
            st = l4lm_vocab_gguf(m);
        m->gguf.counting = false;
        return st;
    }
    if (!st)
        st = l4lm_arch_hparams(m);
    if (!st)
        st = l4lm_vocab_gguf(m);
    l4lm_weights w;
    if (!st)
        st = l4lm_weights_gguf(m, &w, 0, &m->err);
    m->weight_bytes = m->size - m->gguf.data_off;
    m->gguf.counting = false; /* from now on lookups write nothing */
    return st;
}

l4lm_status l4lm_model_index_size(const void *bytes, size_t size, size_t *needed)
{
    return l4lm_gguf_index_size(bytes, size, needed);
}

l4lm_status l4lm_model_open(l4lm_model *m, const void *bytes, size_t size, const l4lm_open_opts *o)
{
    static const l4lm_open_opts none = {0};
    if (!m)
        return L4LM_E_ARG;
    __builtin_memset(m, 0, sizeof *m);
    o = o ? o : &none;
    if (!bytes || ((uintptr_t)bytes & 3) || (o->tokenizer_size && !o->tokenizer))
        return l4lm_fail(&m->err, L4LM_E_ARG, 0, "model bytes must be non-NULL and 4-byte aligned",
                         0, 0);
    m->bytes = bytes;
    m->size = size;
    l4lm_status st;
    if (l4lm_gguf_is_gguf(bytes, size)) {
        m->format = L4LM_FORMAT_GGUF;
        st = gguf_open(m, o);
    } else {
        m->format = L4LM_FORMAT_LLAMA2C;
        st = l4lm_l2c_open(m, o->tokenizer, o->tokenizer_size);
    }
    if (st)
        m->err.status = st;
    return st;
}

l4lm_status l4lm_model_weights(const l4lm_model *m, l4lm_weights *w, l4lm_layer *layers,
                               const void *unpacked, l4lm_error *err)
{
    if (m->vocab_only)
        return l4lm_fail(err, L4LM_E_NO_WEIGHTS, 0, "vocabulary only", 0, 0);
    if (m->format == L4LM_FORMAT_LLAMA2C) {
        l4lm_l2c_weights(m, w, layers, unpacked);
        return L4LM_OK;
    }
    return l4lm_weights_gguf(m, w, layers, err);
}

l4lm_status l4lm_model_tensor(const l4lm_model *m, uint64_t i, l4lm_tensor *t)
{
    if (!m || !t || m->format != L4LM_FORMAT_GGUF || i >= m->gguf.n_tensors)
        return L4LM_E_ARG;
    return l4lm_gguf_tensor_at(&m->gguf, i, t);
}

l4lm_status l4lm_model_get_info(const l4lm_model *m, l4lm_model_info *out)
{
    if (!m || !out)
        return L4LM_E_ARG;
    const l4lm_hparams *hp = &m->hp;
    bool gguf = m->format == L4LM_FORMAT_GGUF;
    *out = (l4lm_model_info){
        .arch = hp->arch,
        .format = m->format,
        .n_vocab = hp->n_vocab,
        .n_embd = hp->n_embd,
        .n_layer = hp->n_layer,
        .n_head = hp->n_head,
        .n_head_kv = hp->n_head_kv,
        .head_dim = hp->head_dim,
        .n_ff = hp->n_ff,
        .n_ctx_train = hp->n_ctx_train,
        .rms_eps = hp->rms_eps,
        .rope_base = hp->rope_base,
        .rope_neox = hp->rope == L4LM_ROPE_NEOX,
        .tied_output = hp->tied_output,
        .vocab_only = m->vocab_only,
        .bos = m->vocab.bos,
        .eos = m->vocab.eos,
        .vocab_external = m->vocab.format == L4LM_FORMAT_LLAMA2C,
        .vocab_bpe = m->vocab.pre != L4LM_PRE_NONE,
        .weight_bytes = m->weight_bytes,
        .n_tensors = gguf ? m->gguf.n_tensors : 0,
        .gguf_version = gguf ? m->gguf.version : 0,
        .gguf_alignment = gguf ? m->gguf.alignment : 0,
        .n_metadata = gguf ? m->gguf.n_kv : 0,
        .l2c_version = m->format == L4LM_FORMAT_LLAMA2C ? l4lm_l2c_version(m) : 0,
    };
    return L4LM_OK;
}

const l4lm_error *l4lm_model_error(const l4lm_model *m)
{
    return &m->err;
}
