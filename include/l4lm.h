/*
** l4lm.h — the one public header of l4lm, an LLM inference engine for places
** with no operating system underneath (seL4, bare metal) and for Linux.
**
** The engine never allocates and keeps no global state. The caller gives it
**   (a) the model as a read-only byte range, used in place, and
**   (b) one arena, sized beforehand by l4lm_plan().
**
**   l4lm_model m;  l4lm_plan_result p;  l4lm_session *s;
**   l4lm_model_open(&m, bytes, size, NULL, 0);
**   l4lm_plan(&m, &opts, &p);                  // p.total = exact arena bytes
**   l4lm_session_init(&s, &m, &opts, arena, p.total);
**   l4lm_tokenize(s, "Once upon a time", 16, L4LM_TOK_BOS, ids, cap, &n);
**   l4lm_eval(s, ids, n, &logits);             // logits of the last token
**   l4lm_sample(s, &sampler, &next);
**
** Every failure is an l4lm_status; l4lm_strerror() names it and
** l4lm_model.err tells where in the file a model open failed.
*/
#ifndef L4LM_H
#define L4LM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes: every failure is distinct. Values are pinned. */
typedef enum l4lm_status {
    L4LM_OK = 0,
    L4LM_E_ARG = 1,              /* a NULL pointer or an invalid option */
    L4LM_E_TRUNCATED = 2,        /* the file ends inside a structure */
    L4LM_E_MAGIC = 3,            /* not a GGUF file nor a llama2.c checkpoint */
    L4LM_E_VERSION = 4,          /* unsupported GGUF version */
    L4LM_E_METADATA = 5,         /* a malformed metadata key/value */
    L4LM_E_TENSOR_INFO = 6,      /* a malformed tensor description */
    L4LM_E_TENSOR_OFFSET = 7,    /* tensor data not where the layout says */
    L4LM_E_TYPE = 8,             /* unsupported tensor or value type */
    L4LM_E_ARCH = 9,             /* unsupported model architecture */
    L4LM_E_MISSING_TENSOR = 10,  /* a tensor the architecture needs is absent */
    L4LM_E_SHAPE = 11,           /* a tensor has the wrong shape */
    L4LM_E_HPARAMS = 12,         /* missing or inconsistent hyperparameters */
    L4LM_E_TOKENIZER = 13,       /* missing or malformed vocabulary */
    L4LM_E_LIMIT = 14,           /* a size beyond a documented limit */
    L4LM_E_OVERFLOW = 15,        /* size arithmetic would overflow */
    L4LM_E_ARENA = 16,           /* the arena is smaller than l4lm_plan() said */
    L4LM_E_CONTEXT_FULL = 17,    /* more tokens than the context length */
    L4LM_E_PROMPT_TOO_LONG = 18, /* prompt text longer than the planned maximum */
    L4LM_E_TOKEN = 19,           /* a token id outside the vocabulary */
    L4LM_E_BUFFER = 20,          /* an output buffer is too small */
    L4LM_E_STATE = 21,           /* call out of order (e.g. sample before eval) */
    L4LM_STATUS_COUNT
} l4lm_status;

/* Tensor types, numbered as ggml numbers them (the GGUF on-disk ids). */
typedef enum l4lm_type {
    L4LM_TYPE_F32 = 0,
    L4LM_TYPE_F16 = 1,
    L4LM_TYPE_Q4_0 = 2,
    L4LM_TYPE_Q4_1 = 3,
    L4LM_TYPE_Q5_0 = 6,
    L4LM_TYPE_Q5_1 = 7,
    L4LM_TYPE_Q8_0 = 8,
    L4LM_TYPE_Q2_K = 10, /* the K-quants: 256-element super-blocks */
    L4LM_TYPE_Q3_K = 11,
    L4LM_TYPE_Q4_K = 12,
    L4LM_TYPE_Q5_K = 13,
    L4LM_TYPE_Q6_K = 14,
    L4LM_TYPE_Q8_K = 15,
    L4LM_TYPE_BF16 = 30,
    L4LM_TYPE_COUNT = 40 /* one past the largest ggml id known to us */
} l4lm_type;

typedef enum l4lm_kv_type { L4LM_KV_F32 = 0, L4LM_KV_F16 = 1 } l4lm_kv_type;

/* RoPE pairing: NORMAL rotates (x[2i], x[2i+1]); NEOX rotates (x[i], x[i+d/2]). */
typedef enum l4lm_rope { L4LM_ROPE_NORMAL = 0, L4LM_ROPE_NEOX = 2 } l4lm_rope;

typedef enum l4lm_format { L4LM_FORMAT_GGUF = 1, L4LM_FORMAT_LLAMA2C = 2 } l4lm_format;

/* Where a model open failed: a file offset and the thing being read. */
typedef struct l4lm_error {
    l4lm_status status;
    uint64_t offset;
    char what[96];
} l4lm_error;

/* A tensor used in place. ne[0] is the row length (ggml order). */
typedef struct l4lm_tensor {
    const void *data;
    uint64_t offset; /* file offset of data */
    uint64_t ne[4];
    uint64_t nbytes;
    uint32_t n_dims;
    l4lm_type type;
    const char *name; /* not NUL-terminated */
    uint32_t name_len;
} l4lm_tensor;

/* A validated view of a GGUF file (all offsets checked by the open). */
typedef struct l4lm_gguf {
    const uint8_t *base;
    uint64_t size;
    uint32_t version;
    uint32_t alignment;
    uint64_t n_kv;
    uint64_t n_tensors;
    uint64_t kv_off;   /* first metadata key/value */
    uint64_t ti_off;   /* first tensor info */
    uint64_t data_off; /* start of the aligned data section */
} l4lm_gguf;

typedef struct l4lm_hparams {
    char arch[32];
    uint32_t n_vocab;
    uint32_t n_embd;
    uint32_t n_ff;
    uint32_t n_layer;
    uint32_t n_head;
    uint32_t n_head_kv;
    uint32_t head_dim; /* attention.key_length; n_embd / n_head when absent */
    uint32_t n_ctx_train;
    float rms_eps;
    float rope_base;
    l4lm_rope rope;
    bool qkv_bias;         /* Q, K and V projections add a bias (qwen2) */
    bool qk_norm;          /* per-head RMSNorm of q and k before RoPE (qwen3) */
    float rope_freq_scale; /* linear RoPE scaling: angles times 1/factor (1: none) */
    bool tied_output;      /* the classifier reuses the token embedding */
    /* the gemma family (zero for the other architectures) */
    bool gemma;           /* embeddings times sqrt(n_embd), GELU-gated FFN, q scaled by q_scale */
    bool post_norms;      /* RMSNorm of each branch output before the residual add (gemma2/3) */
    float q_scale;        /* gemma: q times this before the dot products */
    float attn_softcap;   /* 0: off; else scores become c tanh(scores / c) (gemma2) */
    float final_softcap;  /* 0: off; else logits become c tanh(logits / c) */
    uint32_t n_swa;       /* 0: off; else local layers see the last n_swa positions */
    uint32_t swa_pattern; /* layer l is local iff l % p < p - 1 (0: every layer) */
    float rope_base_swa;  /* RoPE base and linear scale of the local layers */
    float rope_freq_scale_swa;
} l4lm_hparams;

/* Byte-level BPE pre-tokenizers (GGUF tokenizer.ggml.pre); NONE: SentencePiece. */
typedef enum l4lm_pretok {
    L4LM_PRE_NONE = 0,
    L4LM_PRE_GPT2 = 1,   /* "gpt-2" and its aliases */
    L4LM_PRE_LLAMA3 = 2, /* "llama-bpe", "llama3", ... (whole-word tokens skip the merges) */
    L4LM_PRE_QWEN2 = 3   /* "qwen2", "deepseek-r1-qwen" */
} l4lm_pretok;

/* Where the vocabulary lives in the caller's bytes. */
typedef struct l4lm_vocab_src {
    l4lm_format format;
    uint32_t n_vocab;
    const uint8_t *tokens; /* GGUF: string array payload; llama2.c: tokenizer.bin */
    uint64_t tokens_size;
    const uint8_t *scores; /* GGUF: f32 array, or NULL */
    const uint8_t *types;  /* GGUF: i32 array, or NULL */
    int32_t bos, eos, unk; /* -1: none */
    bool add_bos;
    bool add_eos;
    bool add_space_prefix;
    bool special_rstrip; /* whitespace after a special token is dropped (Phi-3, by general.name) */
    l4lm_pretok pre;     /* byte-level BPE when not L4LM_PRE_NONE */
    const uint8_t *merges; /* BPE: string array payload of "left right" merges, rank order */
    uint64_t merges_size;  /* bytes from merges to the end of the blob */
    uint32_t n_merges;
} l4lm_vocab_src;

/* An open model: caller-owned, read-only after l4lm_model_open(). */
typedef struct l4lm_model {
    l4lm_format format;
    l4lm_hparams hp;
    l4lm_gguf gguf;       /* GGUF only */
    const uint8_t *bytes; /* the model blob */
    uint64_t size;
    uint64_t weight_bytes; /* bytes of tensor data (the GGUF data section) */
    l4lm_vocab_src vocab;
    l4lm_error err; /* set when l4lm_model_open fails */
} l4lm_model;

/*
** Open a model in place. For a llama2.c checkpoint pass tokenizer.bin as
** tok/tok_size; for GGUF pass NULL, 0. The bytes must stay valid and
** unchanged while the model is used.
*/
l4lm_status l4lm_model_open(l4lm_model *m, const void *bytes, size_t size, const void *tok,
                            size_t tok_size);

/* The i-th tensor of a GGUF model, in file order (for listings). */
l4lm_status l4lm_model_tensor(const l4lm_model *m, uint64_t i, l4lm_tensor *t);

/* Optional parallelism: run task(arg, i) for every i in [0, n), in any order. */
typedef void (*l4lm_task_fn)(void *arg, uint32_t i);
typedef void (*l4lm_parallel_fn)(void *pctx, l4lm_task_fn task, void *arg, uint32_t n);

typedef struct l4lm_run_opts {
    uint32_t n_ctx; /* 0: the model's training context */
    l4lm_kv_type kv_type;
    uint32_t n_batch;              /* tokens per forward batch (prefill); 0: 32, at most 512 */
    uint32_t max_prompt_bytes;     /* longest text l4lm_tokenize accepts; 0: 16 * n_ctx */
    l4lm_parallel_fn parallel_for; /* NULL: single-threaded */
    void *parallel_ctx;
    uint32_t n_threads; /* how many tasks to split work into (1 if no pool) */
} l4lm_run_opts;

/* Arena sizes, in bytes; total = the sum, each part aligned to 64. */
typedef struct l4lm_plan_result {
    size_t total;
    size_t session; /* the session struct and layer table */
    size_t kv_cache;
    size_t activations;
    size_t scratch; /* sampler and logits */
    size_t tokenizer;
    uint32_t n_ctx;
    bool ctx_beyond_training; /* n_ctx > the model's training context */
} l4lm_plan_result;

l4lm_status l4lm_plan(const l4lm_model *m, const l4lm_run_opts *o, l4lm_plan_result *p);

typedef struct l4lm_session l4lm_session; /* lives in the arena */

l4lm_status l4lm_session_init(l4lm_session **s, const l4lm_model *m, const l4lm_run_opts *o,
                              void *arena, size_t arena_size);
/* Forget all tokens (KV cache, history); keeps the tokenizer. */
void l4lm_session_reset(l4lm_session *s);
uint32_t l4lm_session_pos(const l4lm_session *s);
uint32_t l4lm_session_n_ctx(const l4lm_session *s);
const l4lm_model *l4lm_session_model(const l4lm_session *s);

/*
** Text to ids. flags: L4LM_TOK_BOS adds BOS (and EOS) where the vocabulary
** asks for them (tokenizer.ggml.add_bos_token / add_eos_token); passing
** true means L4LM_TOK_BOS. L4LM_TOK_SPECIAL turns the text of control and
** unknown tokens (<|im_start|>, <s>, ...) into those tokens; user-defined
** tokens are always matched, as in llama.cpp. *n_out is the number of ids
** the text needs; above cap the result is L4LM_E_BUFFER.
*/
#define L4LM_TOK_BOS     1u
#define L4LM_TOK_SPECIAL 2u
l4lm_status l4lm_tokenize(l4lm_session *s, const char *text, size_t len, uint32_t flags,
                          int32_t *out, size_t cap, size_t *n_out);

/* Feed n tokens; *logits (n_vocab floats, in the arena) belong to the last one. */
l4lm_status l4lm_eval(l4lm_session *s, const int32_t *tokens, size_t n, const float **logits);

typedef struct l4lm_sampler {
    float temperature;    /* <= 0: greedy (argmax, lowest id wins ties) */
    int32_t top_k;        /* <= 0: off */
    float top_p;          /* >= 1: off */
    float min_p;          /* <= 0: off */
    float repeat_penalty; /* 1: off */
    int32_t repeat_last_n;
    uint64_t seed;
} l4lm_sampler;

/* A sampler with everything off (greedy). */
l4lm_sampler l4lm_sampler_default(void);
/* Pick the next token from the last logits; the PRNG state lives in the session. */
l4lm_status l4lm_sample(l4lm_session *s, const l4lm_sampler *sp, int32_t *token);
void l4lm_session_seed(l4lm_session *s, uint64_t seed);

/*
** Streaming detokenisation: feeds one token, writes the text that is now
** complete (never half a UTF-8 character) and returns its length.
** Special tokens (BOS/EOS/control) give no text. buf needs 32 bytes at least
** plus the longest piece; too small gives 0 and *st = L4LM_E_BUFFER.
*/
typedef struct l4lm_detok {
    uint8_t pending[4];
    uint8_t n_pending;
    bool after_bos; /* strip the dummy-prefix space of the next piece */
    bool started;
} l4lm_detok;
size_t l4lm_detok_push(const l4lm_session *s, l4lm_detok *d, int32_t token, char *buf, size_t cap,
                       l4lm_status *st);
/* The raw text of one token (▁ as space, <0xNN> as the byte), no special handling. */
size_t l4lm_token_piece(const l4lm_session *s, int32_t token, char *buf, size_t cap);
bool l4lm_token_is_special(const l4lm_session *s, int32_t token);

/*
** Chat templates, built in (no Jinja engine): the family of the GGUF key
** tokenizer.chat_template is recognised by the substrings llama.cpp's
** llama_chat_detect_template looks for, and rendered as llama.cpp renders
** it. No template, or one of a family not built in, gives ChatML (as in
** llama.cpp). Roles are rendered as given ("system", "user", "assistant";
** others as llama.cpp treats them); role and content must not be NULL and
** the role not empty (else L4LM_E_ARG). BOS is not written: tokenize the
** text with L4LM_TOK_BOS | L4LM_TOK_SPECIAL so the markers become tokens --
** but then special-token text inside a message becomes tokens too
** ("<|im_end|><|im_start|>system ..." forges a turn). l4lm_chat_tokenize
** does both steps safely.
*/
typedef struct l4lm_chat_msg {
    const char *role;
    const char *content;
} l4lm_chat_msg; /* NUL-terminated strings */
/* Render msgs with the model's chat template; add_assistant appends the
** assistant turn's opening. *len excludes the NUL written after it.
** L4LM_E_BUFFER when cap is too small: then *len is the length needed
** (without the NUL), so a NULL buf with cap 0 asks for the size. */
l4lm_status l4lm_chat_format(const l4lm_model *m, const l4lm_chat_msg *msgs, size_t n_msgs,
                             bool add_assistant, char *buf, size_t cap, size_t *len);
/*
** Render msgs into buf (as l4lm_chat_format, *len and L4LM_E_BUFFER alike)
** and tokenize the text into ids (as l4lm_tokenize, *n_ids and
** L4LM_E_BUFFER alike). flags: L4LM_TOK_BOS, L4LM_TOK_SPECIAL (the
** template's markers become their tokens: normally set), and
** L4LM_TOK_CHAT_CONTENT_SPECIAL. Without the last, no control token is cut
** out of message text (content, and a role that is not a plain word): it
** is tokenized as plain text, so a message cannot forge the template's
** markers. Ordinary messages give the same ids as l4lm_chat_format then
** l4lm_tokenize with L4LM_TOK_SPECIAL. L4LM_TOK_CHAT_CONTENT_SPECIAL is
** that old behaviour, for callers that trust their messages.
*/
#define L4LM_TOK_CHAT_CONTENT_SPECIAL 4u
l4lm_status l4lm_chat_tokenize(l4lm_session *s, const l4lm_chat_msg *msgs, size_t n_msgs,
                               bool add_assistant, uint32_t flags, char *buf, size_t cap,
                               size_t *len, int32_t *ids, size_t ids_cap, size_t *n_ids);
/* The same in two steps, for a program that renders before it has a session
** (the HTTP server): l4lm_chat_format that also marks the message bytes in
** plain (cap / 8 + 1 bytes, bit i for byte i), and l4lm_tokenize that cuts
** no control token out of marked bytes (plain NULL: l4lm_tokenize). */
l4lm_status l4lm_chat_format_marked(const l4lm_model *m, const l4lm_chat_msg *msgs,
                                    size_t n_msgs, bool add_assistant, char *buf, size_t cap,
                                    size_t *len, uint8_t *plain);
l4lm_status l4lm_tokenize_marked(l4lm_session *s, const char *text, size_t len, uint32_t flags,
                                 const uint8_t *plain, int32_t *out, size_t cap, size_t *n_out);
/* Name of the recognised template ("chatml", "llama3", "llama2-sys", "gemma",
** "phi3", "glmedge", ... as llama.cpp names them). */
const char *l4lm_chat_template_name(const l4lm_model *m);
/* The tokens that end an assistant turn, for stopping generation: the
** template's end-of-turn marker when the vocabulary has it as one token
** (<|im_end|>, <|eot_id|>, <end_of_turn>, <|end|>, ...), then the ids of
** tokenizer.ggml.eot_token_id and eom_token_id, then EOS; distinct, at most
** 4. Writes up to cap ids and returns how many it wrote. */
size_t l4lm_chat_stop_tokens(const l4lm_model *m, int32_t *ids, size_t cap);

const char *l4lm_strerror(l4lm_status st);
const char *l4lm_type_name(l4lm_type t);

#ifdef __cplusplus
}
#endif
#endif
