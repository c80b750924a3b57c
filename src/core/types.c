/*
** types.c — the tensor type table (ggml's type ids, names and block layouts)
** and the status texts. A type the kernels cannot run still has a name here,
** so an error can say "q4_K" rather than "type 12".
*/
#include "internal.h"

/*
** Indexed by ggml type id. block == 0 marks a type ggml knows but l4lm does
** not run yet; an empty name marks an id ggml has retired (or never used).
** Q8_0: fp16 scale + 32 int8.  Q4_0: fp16 scale + 32 nibbles in 16 bytes.
** Q4_1: fp16 scale and min + nibbles.  Q5_0: fp16 scale, 32 fifth bits,
** nibbles.  Q5_1: fp16 scale and min, fifth bits, nibbles.
*/
static const l4lm_type_traits types[L4LM_TYPE_COUNT] = {
    [L4LM_TYPE_F32] = {"f32", 1, 4},
    [L4LM_TYPE_F16] = {"f16", 1, 2},
    [L4LM_TYPE_Q4_0] = {"q4_0", 32, 18},
    [L4LM_TYPE_Q4_1] = {"q4_1", 32, 20},
    [L4LM_TYPE_Q5_0] = {"q5_0", 32, 22},
    [L4LM_TYPE_Q5_1] = {"q5_1", 32, 24},
    [L4LM_TYPE_Q8_0] = {"q8_0", 32, 34},
    [9] = {"q8_1", 0, 0},
    [L4LM_TYPE_Q2_K] = {"q2_K", 256, 84}, /* the K-quants: see kernels_k.c */
    [L4LM_TYPE_Q3_K] = {"q3_K", 256, 110},
    [L4LM_TYPE_Q4_K] = {"q4_K", 256, 144},
    [L4LM_TYPE_Q5_K] = {"q5_K", 256, 176},
    [L4LM_TYPE_Q6_K] = {"q6_K", 256, 210},
    [L4LM_TYPE_Q8_K] = {"q8_K", 256, 292},
    [16] = {"iq2_xxs", 0, 0},
    [17] = {"iq2_xs", 0, 0},
    [18] = {"iq3_xxs", 0, 0},
    [19] = {"iq1_s", 0, 0},
    [20] = {"iq4_nl", 0, 0},
    [21] = {"iq3_s", 0, 0},
    [22] = {"iq2_s", 0, 0},
    [23] = {"iq4_xs", 0, 0},
    [24] = {"i8", 0, 0},
    [25] = {"i16", 0, 0},
    [26] = {"i32", 0, 0},
    [27] = {"i64", 0, 0},
    [28] = {"f64", 0, 0},
    [29] = {"iq1_m", 0, 0},
    [L4LM_TYPE_BF16] = {"bf16", 1, 2},
    [34] = {"tq1_0", 0, 0},
    [35] = {"tq2_0", 0, 0},
    [39] = {"mxfp4", 0, 0},
};

const l4lm_type_traits *l4lm_type_info(uint32_t t)
{
    if (t >= L4LM_TYPE_COUNT || types[t].block == 0)
        return NULL;
    return &types[t];
}

bool l4lm_row_bytes(uint32_t t, uint64_t n, uint64_t *bytes)
{
    const l4lm_type_traits *ti = l4lm_type_info(t);
    if (!ti || n % ti->block != 0)
        return false;
    return !l4lm_mul_ovf(n / ti->block, ti->block_bytes, bytes);
}

const char *l4lm_type_name(l4lm_type t)
{
    if ((uint32_t)t >= L4LM_TYPE_COUNT || !types[t].name[0])
        return "unknown";
    return types[t].name;
}

/* Fixed-size texts rather than pointers, so the table is plain read-only data. */
static const char status_text[L4LM_STATUS_COUNT][56] = {
    [L4LM_OK] = "ok",
    [L4LM_E_ARG] = "invalid argument (a NULL pointer or a bad option)",
    [L4LM_E_TRUNCATED] = "file truncated: it ends inside a structure",
    [L4LM_E_MAGIC] = "not a GGUF file nor a llama2.c checkpoint",
    [L4LM_E_VERSION] = "unsupported GGUF version",
    [L4LM_E_METADATA] = "malformed metadata key/value",
    [L4LM_E_TENSOR_INFO] = "malformed tensor description",
    [L4LM_E_TENSOR_OFFSET] = "tensor data is not where the file layout puts it",
    [L4LM_E_TYPE] = "unsupported tensor or value type",
    [L4LM_E_ARCH] = "unsupported model architecture",
    [L4LM_E_MISSING_TENSOR] = "a tensor the architecture needs is missing",
    [L4LM_E_SHAPE] = "a tensor has the wrong shape",
    [L4LM_E_HPARAMS] = "missing or inconsistent hyperparameters",
    [L4LM_E_TOKENIZER] = "missing or malformed vocabulary",
    [L4LM_E_LIMIT] = "a size beyond a documented limit",
    [L4LM_E_OVERFLOW] = "size arithmetic would overflow",
    [L4LM_E_ARENA] = "arena smaller than l4lm_plan() requires",
    [L4LM_E_CONTEXT_FULL] = "context full: more tokens than the context length",
    [L4LM_E_PROMPT_TOO_LONG] = "prompt longer than the planned maximum",
    [L4LM_E_TOKEN] = "token id outside the vocabulary",
    [L4LM_E_BUFFER] = "output buffer too small",
    [L4LM_E_STATE] = "call out of order",
    [L4LM_E_INDEX] = "name index smaller than l4lm_model_index_size() says",
    [L4LM_E_GRAMMAR] = "malformed grammar, or text the grammar rejects",
    [L4LM_E_STATE_MISMATCH] = "session state of another model or plan, or damaged",
    [L4LM_E_NO_WEIGHTS] = "the model has no weights (a vocabulary only)",
};

const char *l4lm_strerror(l4lm_status st)
{
    if ((uint32_t)st >= L4LM_STATUS_COUNT || !status_text[st][0])
        return "unknown status";
    return status_text[st];
}
