/*
** mkgguf/mix.c — llama-quantize's file types (ftypes): which weight type it
** gives each tensor, so mkgguf writes the files people download (llama.cpp's
** Q4_0 has a Q6_K classifier, its Q4_K_M a Q4_K/Q6_K mix, ...) and not only
** files of one type throughout.
**
** The rules are llama.cpp's llama_tensor_get_type_impl (src/llama-quant.cpp)
** for the models mkgguf writes: no experts, not Falcon, not a 70B, no
** importance matrix, no --pure or per-tensor overrides. Checked against
** llama-quantize's own output for every ftype here on llama (GQA 2 and 4,
** tied and untied, 4 and 8 layers) and phi3 files: the same type for every
** tensor and, the encoders being ggml's reference ones, the same bytes.
** Facts worth knowing:
**  - the classifier (output.weight, or token_embd.weight when tied) gets Q6_K
**    unless the mix is Q8_0; an untied token_embd keeps the base type;
**  - phi3's fused attn_qkv counts as an attn_v (llama.cpp's
**    category_is_attn_v), so Q4_K_M gives it Q6_K or Q4_K, never the Q5_K of
**    its dead ATTENTION_QKV branch;
**  - the n-th attn_v and ffn_down are those of layer n in these layouts;
**  - a row whose length is not a whole number of the type's blocks falls
**    back to a 32-element type (llama.cpp's tensor_type_fallback).
*/
#include "quant.h"

#include "internal.h"

#include <stdio.h>
#include <string.h>

/* Which layers of an attn_v or ffn_down get a rule's `more` type. */
enum when {
    NEVER,
    MORE_BITS,   /* llama.cpp's use_more_bits: first and last eighth, every third between */
    FIRST_TWO,   /* layers 0 and 1 */
    FIRST_16TH,  /* layers below n_layer / 16 */
    GQA_4_OR_UP, /* every layer, when n_head / n_head_kv >= 4 */
};

typedef struct rule {
    enum when when;
    uint32_t more, other;
} rule;

struct mkgguf_mix {
    const char *name;
    uint32_t file_type; /* llama.cpp's LLAMA_FTYPE_MOSTLY_* */
    uint32_t base;      /* every weight matrix no rule names */
    uint32_t classifier;
    rule attn_v, ffn_down;
    uint32_t attn_output;
};

enum { Q4_0 = L4LM_TYPE_Q4_0, Q8_0 = L4LM_TYPE_Q8_0, Q2_K = L4LM_TYPE_Q2_K };
enum { Q3_K = L4LM_TYPE_Q3_K, Q4_K = L4LM_TYPE_Q4_K, Q5_K = L4LM_TYPE_Q5_K, Q6_K = L4LM_TYPE_Q6_K };

/* One rule: {when, the type for the layers it names, the type for the rest}. */
static const mkgguf_mix mixes[] = {
    /* name, ftype, base, classifier, attn_v (and attn_qkv), ffn_down, attn_output */
    {"q4_0", 2, Q4_0, Q6_K, {NEVER, Q4_0, Q4_0}, {NEVER, Q4_0, Q4_0}, Q4_0},
    {"q8_0", 7, Q8_0, Q8_0, {NEVER, Q8_0, Q8_0}, {NEVER, Q8_0, Q8_0}, Q8_0},
    {"q6_k", 18, Q6_K, Q6_K, {NEVER, Q6_K, Q6_K}, {NEVER, Q6_K, Q6_K}, Q6_K},
    {"q5_k_m", 17, Q5_K, Q6_K, {MORE_BITS, Q6_K, Q5_K}, {MORE_BITS, Q6_K, Q5_K}, Q5_K},
    {"q4_k_m", 15, Q4_K, Q6_K, {MORE_BITS, Q6_K, Q4_K}, {MORE_BITS, Q6_K, Q4_K}, Q4_K},
    {"q3_k_m", 12, Q3_K, Q6_K, {FIRST_TWO, Q5_K, Q4_K}, {FIRST_16TH, Q5_K, Q4_K}, Q4_K},
    {"q2_k", 10, Q2_K, Q6_K, {GQA_4_OR_UP, Q4_K, Q3_K}, {NEVER, Q3_K, Q3_K}, Q3_K},
};

const mkgguf_mix *mkgguf_mix_find(const char *name)
{
    for (size_t i = 0; i < sizeof mixes / sizeof mixes[0]; i++)
        if (!strcmp(name, mixes[i].name))
            return &mixes[i];
    return NULL;
}

uint32_t mkgguf_mix_file_type(const mkgguf_mix *m)
{
    return m->file_type;
}

uint32_t mkgguf_mix_base(const mkgguf_mix *m)
{
    return m->base;
}

static bool applies(enum when w, uint32_t layer, const mkgguf_mix_model *mm)
{
    uint32_t n = mm->n_layer;
    switch (w) {
    case MORE_BITS:
        return layer < n / 8 || layer >= 7 * n / 8 || (layer - n / 8) % 3 == 2;
    case FIRST_TWO:
        return layer < 2;
    case FIRST_16TH:
        return layer < n / 16;
    case GQA_4_OR_UP:
        return mm->n_head >= 4 * mm->n_head_kv;
    default:
        return false;
    }
}

static uint32_t by_rule(const rule *r, const char *name, const mkgguf_mix_model *mm)
{
    unsigned layer = 0;
    sscanf(name, "blk.%u.", &layer);
    return applies(r->when, layer, mm) ? r->more : r->other;
}

/* llama.cpp's tensor_type_fallback: the 32-element type standing in for a K
** type whose super-blocks do not tile a row of ne0 (ne0 a multiple of 32). */
static uint32_t fallback(uint32_t type, uint64_t ne0)
{
    if (!mkgguf_k_block_bytes(type) || ne0 % QK_K == 0)
        return type;
    switch (type) {
    case L4LM_TYPE_Q4_K:
        return L4LM_TYPE_Q5_0;
    case L4LM_TYPE_Q5_K:
        return L4LM_TYPE_Q5_1;
    case L4LM_TYPE_Q6_K:
        return L4LM_TYPE_Q8_0;
    default: /* Q2_K, Q3_K */
        return L4LM_TYPE_Q4_0;
    }
}

static uint32_t chosen(const mkgguf_mix *m, const char *name, const mkgguf_mix_model *mm)
{
    if (!strcmp(name, "output.weight") || (mm->tied && !strcmp(name, "token_embd.weight")))
        return m->classifier;
    if (strstr(name, ".attn_v.") || strstr(name, ".attn_qkv."))
        return by_rule(&m->attn_v, name, mm);
    if (strstr(name, ".ffn_down."))
        return by_rule(&m->ffn_down, name, mm);
    if (strstr(name, ".attn_output."))
        return m->attn_output;
    return m->base;
}

uint32_t mkgguf_mix_type(const mkgguf_mix *m, const char *name, uint64_t ne0,
                         const mkgguf_mix_model *mm)
{
    return fallback(chosen(m, name, mm), ne0);
}
