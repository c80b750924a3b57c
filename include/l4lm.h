/*
** l4lm.h — the one public header of l4lm, an LLM inference engine for places
** with no operating system underneath (seL4, bare metal) and for Linux.
**
** The engine never allocates and keeps no global state. The caller gives it
**   (a) the model as a read-only byte range, used in place, and
**   (b) one arena, sized beforehand by l4lm_plan().
**
**   l4lm_model m;  l4lm_plan_result p;  l4lm_session *s;  size_t n;
**   l4lm_model_index_size(bytes, size, &n);    // then n bytes for `index`
**   l4lm_open_opts oo = {.index = index, .index_size = n};
**   l4lm_model_open(&m, bytes, size, &oo);
**   l4lm_plan(&m, &opts, &p);                  // p.total = exact arena bytes
**   l4lm_session_init(&s, &m, &opts, arena, p.total);
**   l4lm_tokenize(s, "Once upon a time", 16, L4LM_TOK_BOS, ids, cap, &n);
**   l4lm_eval(s, ids, n, &logits);             // logits of the last token
**   l4lm_sample(s, &sampler, &next);
**
** Every failure is an l4lm_status; l4lm_strerror() names it and
** l4lm_model_error() tells where in the file a model open failed.
*/
#ifndef L4LM_H
#define L4LM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* This header's version: a minor release adds, a major one changes or removes. */
#define L4LM_VERSION_MAJOR  0
#define L4LM_VERSION_MINOR  1
#define L4LM_VERSION_PATCH  0
#define L4LM_VERSION_STRING "0.1.0"

/* Every public function and object: exported from a shared library built
** with -fvisibility=hidden (GCC, clang); nothing elsewhere. */
#if defined(__GNUC__) || defined(__clang__)
#define L4LM_API __attribute__((visibility("default")))
#else
#define L4LM_API
#endif

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
    L4LM_E_INDEX = 22,           /* the name index given to the open is too small */
    L4LM_E_GRAMMAR = 23,         /* a malformed grammar, or text a grammar rejects */
    L4LM_E_STATE_MISMATCH = 24,  /* a saved session state of another model or plan, or damaged */
    L4LM_E_NO_WEIGHTS = 25,      /* l4lm_eval on a vocabulary-only model */
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

/* The KV cache's element type. Q8_0 is ggml's block (fp16 d, 32 int8), as
** llama.cpp's -ctk/-ctv q8_0; like llama.cpp it needs head_dim a multiple
** of 32 (else L4LM_E_ARG from l4lm_plan and l4lm_session_init). */
typedef enum l4lm_kv_type { L4LM_KV_F32 = 0, L4LM_KV_F16 = 1, L4LM_KV_Q8_0 = 2 } l4lm_kv_type;

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

/*
** An open model: caller-owned storage whose contents only the engine reads
** (the real struct is in src/core/internal.h). Read-only after
** l4lm_model_open(); l4lm_model_get_info() and l4lm_model_error() say what
** is in it.
*/
#define L4LM_MODEL_BYTES 1024
#ifndef L4LM_INTERNAL
typedef struct l4lm_model {
    uint64_t opaque[L4LM_MODEL_BYTES / 8]; /* 8-byte aligned */
} l4lm_model;
#else
typedef struct l4lm_model l4lm_model;
#endif

/*
** What a model open needs besides the bytes. GGUF: a name index of
** l4lm_model_index_size() bytes, 8-byte aligned and writable; the open fills
** it (every key and tensor sorted by name: duplicates are found and every
** lookup is a binary search, so opening costs O(n log n)) and the model
** reads it as long as it is used, so it must stay valid and untouched until
** the model and every session on it are gone. llama2.c: tokenizer.bin.
*/
typedef struct l4lm_open_opts {
    const void *tokenizer; /* llama2.c only: tokenizer.bin; else NULL */
    size_t tokenizer_size;
    void *index; /* GGUF only: the name index; may be NULL when its size is 0 */
    size_t index_size;
} l4lm_open_opts;

/* Bytes of name index the open of this file needs: from the GGUF header's
** counts (12 per key and tensor, plus 8); 0 for a llama2.c checkpoint. No
** file l4lm opens needs more than L4LM_INDEX_MAX_BYTES (2^12 keys, 2^14 tensors). */
#define L4LM_INDEX_MAX_BYTES 245768
L4LM_API l4lm_status l4lm_model_index_size(const void *bytes, size_t size, size_t *needed);

/*
** Open a model in place. The bytes must stay valid and unchanged while the
** model is used. o may be NULL when neither a tokenizer nor an index is
** needed. An index smaller than
** l4lm_model_index_size() gives L4LM_E_INDEX, the bytes needed in
** l4lm_model_error(m).
*/
L4LM_API l4lm_status l4lm_model_open(l4lm_model *m, const void *bytes, size_t size,
                                     const l4lm_open_opts *o);

/* The i-th tensor of a GGUF model, in file order (for listings). */
L4LM_API l4lm_status l4lm_model_tensor(const l4lm_model *m, uint64_t i, l4lm_tensor *t);

/* What l4lm_model_get_info() tells about an open model. */
typedef struct l4lm_model_info {
    const char *arch; /* general.architecture ("llama", "qwen2", ...), NUL-terminated */
    l4lm_format format;
    uint32_t n_vocab;
    uint32_t n_embd;
    uint32_t n_layer;
    uint32_t n_head;
    uint32_t n_head_kv;
    uint32_t head_dim;
    uint32_t n_ff;
    uint32_t n_ctx_train;
    float rms_eps;
    float rope_base;
    bool rope_neox;      /* pairs half a head apart (else adjacent pairs) */
    bool tied_output;    /* the classifier is the token embedding */
    int32_t bos, eos;    /* -1: none */
    bool vocab_external; /* the vocabulary came from tokenizer.bin (llama2.c) */
    bool vocab_bpe;      /* byte-level BPE (GGUF "gpt2"), else SentencePiece */
    /* A GGUF without tensors (llama.cpp's ggml-vocab-*.gguf): only arch,
    ** format, the GGUF fields and the vocabulary (n_vocab, bos, eos) are set.
    ** Its sessions tokenize and detokenize; l4lm_eval is L4LM_E_NO_WEIGHTS. */
    bool vocab_only;
    uint64_t weight_bytes;
    uint64_t n_tensors;    /* GGUF only (0 for llama2.c) */
    uint32_t gguf_version; /* GGUF only */
    uint32_t gguf_alignment;
    uint64_t n_metadata; /* GGUF only: metadata keys */
    uint32_t l2c_version; /* llama2.c only: 0 legacy, 1 float32, 2 int8 groups (export.py) */
} l4lm_model_info;
/* Fill *out from m; after a failed open, what the open did not reach is 0. */
L4LM_API l4lm_status l4lm_model_get_info(const l4lm_model *m, l4lm_model_info *out);
/* Why the open of m failed (status L4LM_OK when it did not). */
L4LM_API const l4lm_error *l4lm_model_error(const l4lm_model *m);

/* Optional parallelism: run task(arg, i) for every i in [0, n), in any order. */
typedef void (*l4lm_task_fn)(void *arg, uint32_t i);
typedef void (*l4lm_parallel_fn)(void *pctx, l4lm_task_fn task, void *arg, uint32_t n);

/* The longest context a session takes (n_ctx above it is L4LM_E_ARG). */
#define L4LM_MAX_CTX (1u << 20)
/* The most tokens one forward batch takes (n_batch above it is L4LM_E_ARG). */
#define L4LM_MAX_BATCH 512u

typedef struct l4lm_run_opts {
    uint32_t n_ctx; /* 0: the model's training context, at most L4LM_MAX_CTX */
    l4lm_kv_type kv_type;
    uint32_t n_batch;              /* tokens per forward batch (prefill); 0: 32, at most 512 */
    uint32_t max_prompt_bytes;     /* longest text l4lm_tokenize accepts; 0: 16 * n_ctx */
    l4lm_parallel_fn parallel_for; /* NULL: single-threaded */
    void *parallel_ctx;
    uint32_t n_threads; /* how many tasks to split work into (1 if no pool) */
    /* SIMD kernels. simd: NULL or "": the best this CPU runs; else a
    ** variant of this build ("avx512bf16", "avx512", "avxvnni", "avx2", "dotprod",
    ** "neon", "rvv") or "none" (portable C); every choice gives the same
    ** bits. hwcap: on aarch64 and riscv64 the OS's AT_HWCAP bits (Linux),
    ** which say whether the CPU has sdot (0: plain NEON) or the V
    ** extension (0: the C path). */
    const char *simd;
    uint64_t hwcap;
} l4lm_run_opts;

/* The SIMD kernels some run options give on this CPU (l4lm_kernels_pick). */
#define L4LM_KERNELS_MAX 8
typedef struct l4lm_kernels_info {
    const char *name;     /* the variant used: "avx2", or "none" */
    const char *describe; /* for people: "AVX2 + F16C", "NEON", "none" */
    const char *best;     /* the best variant this CPU runs */
    bool unknown;         /* simd names no variant of this build: best is used */
    bool unsupported;     /* simd names one this CPU cannot run: best is used */
    const char *variants[L4LM_KERNELS_MAX]; /* this build's, best first, "none" last, then NULL */
} l4lm_kernels_info;

L4LM_API void l4lm_kernels_pick(const l4lm_run_opts *o, l4lm_kernels_info *info);

/* Arena sizes, in bytes; total = the sum, each part aligned to 64. */
typedef struct l4lm_plan_result {
    size_t total;
    size_t session; /* the session struct and layer table */
    size_t weights; /* llama2.c export version 2: its int8 weights as F32 (else 0) */
    size_t kv_cache;
    size_t activations;
    size_t scratch; /* sampler and logits */
    size_t tokenizer;
    size_t state; /* the most l4lm_session_save writes (not part of total) */
    uint32_t n_ctx;
    bool ctx_beyond_training; /* n_ctx > the model's training context */
} l4lm_plan_result;

L4LM_API l4lm_status l4lm_plan(const l4lm_model *m, const l4lm_run_opts *o, l4lm_plan_result *p);

typedef struct l4lm_session l4lm_session; /* lives in the arena */

L4LM_API l4lm_status l4lm_session_init(l4lm_session **s, const l4lm_model *m,
                                       const l4lm_run_opts *o, void *arena, size_t arena_size);
/* Forget all tokens (KV cache, history); keeps the tokenizer. */
L4LM_API void l4lm_session_reset(l4lm_session *s);
L4LM_API uint32_t l4lm_session_pos(const l4lm_session *s);
L4LM_API uint32_t l4lm_session_n_ctx(const l4lm_session *s);
L4LM_API const l4lm_model *l4lm_session_model(const l4lm_session *s);
/* Context shift, as llama.cpp's: forget the n_discard tokens after the
** first keep, move the rest down by n_discard positions and rotate their
** cached keys by RoPE of -n_discard (each layer with its own RoPE set; an
** F16 or Q8_0 cache is widened, rotated and rounded again). The logits of
** the last evaluated token stay. L4LM_E_ARG when keep + n_discard > pos. */
L4LM_API l4lm_status l4lm_session_shift(l4lm_session *s, uint32_t keep, uint32_t n_discard);

/*
** Session state: save a session after a long prompt (a system prompt) and
** load it later, in this or another session of the same model and plan,
** instead of evaluating those tokens again. A state holds a header (magic,
** version, a fingerprint of the model's hyperparameters and tensor table,
** n_ctx and the KV type), the position, the token history, the PRNG state,
** the last logits when there are some, and the KV cache rows below the
** position -- nothing beyond it, so a short prompt saves a short state.
** Bytes are little-endian; a checksum covers them all.
**
** save: *len = the bytes this state needs; L4LM_E_BUFFER when cap is less
** (nothing written); never more than l4lm_plan_result.state.
** load: reads exactly len bytes and changes the session only when every
** field checks out: L4LM_E_TRUNCATED when len is not the length the
** header declares (a cut state), L4LM_E_STATE_MISMATCH for another model,
** another n_ctx or KV type, another version, a bad token id or checksum.
** The checksum catches damage, not forgery: load only states you wrote.
*/
L4LM_API l4lm_status l4lm_session_save(const l4lm_session *s, void *buf, size_t cap, size_t *len);
L4LM_API l4lm_status l4lm_session_load(l4lm_session *s, const void *buf, size_t len);
/* The tokens in the KV cache, in order (the session's history): returns
** how many (the position) and points *ids at them (in the arena). */
L4LM_API uint32_t l4lm_session_tokens(const l4lm_session *s, const int32_t **ids);
/* Keep the first k tokens (k <= position, else L4LM_E_ARG): the next eval
** writes from row k on. The last logits are gone when k < position. */
L4LM_API l4lm_status l4lm_session_truncate(l4lm_session *s, uint32_t k);
/* Prepare to evaluate the n tokens of a prompt in a session that may
** already hold some: keeps the longest common prefix of the session's
** tokens and ids, and returns how many of ids are already evaluated
** (*kept); evaluate ids + *kept, n - *kept then. *kept < n unless the
** session holds exactly ids and their logits, so after the eval the
** logits always belong to the prompt's last token. */
L4LM_API l4lm_status l4lm_session_reuse(l4lm_session *s, const int32_t *ids, size_t n, size_t *kept);

/*
** Text to ids. flags: L4LM_TOK_BOS adds BOS (and EOS) where the vocabulary
** asks for them (tokenizer.ggml.add_bos_token / add_eos_token);
** L4LM_TOK_SPECIAL turns the text of control and
** unknown tokens (<|im_start|>, <s>, ...) into those tokens; user-defined
** tokens are always matched, as in llama.cpp. *n_out is the number of ids
** the text needs; above cap the result is L4LM_E_BUFFER.
*/
#define L4LM_TOK_BOS     1u
#define L4LM_TOK_SPECIAL 2u
L4LM_API l4lm_status l4lm_tokenize(l4lm_session *s, const char *text, size_t len, uint32_t flags,
                                   int32_t *out, size_t cap, size_t *n_out);

/* Feed n tokens; *logits (n_vocab floats, in the arena) belong to the last one. */
L4LM_API l4lm_status l4lm_eval(l4lm_session *s, const int32_t *tokens, size_t n,
                               const float **logits);

typedef struct l4lm_sampler {
    float temperature;    /* <= 0: greedy (argmax, lowest id wins ties) */
    int32_t top_k;        /* <= 0: off */
    float top_p;          /* >= 1: off */
    float min_p;          /* <= 0: off */
    float repeat_penalty; /* 1: off */
    int32_t repeat_last_n;
    uint64_t seed; /* 0: the session's PRNG as it is; else it is seeded with this at the
                      first sample after l4lm_session_reset() or l4lm_session_seed() */
} l4lm_sampler;

/* A sampler with everything off: greedy, seed 0. */
L4LM_API l4lm_sampler l4lm_sampler_greedy(void);
/* Pick the next token from the last logits; the PRNG state lives in the session. */
L4LM_API l4lm_status l4lm_sample(l4lm_session *s, const l4lm_sampler *sp, int32_t *token);
/* The same among the tokens whose bit is set in allow (bit i of byte i / 8);
** L4LM_E_ARG when none is. */
L4LM_API l4lm_status l4lm_sample_masked(l4lm_session *s, const l4lm_sampler *sp,
                                        const uint8_t *allow, int32_t *token);
/* Seed the session's PRNG now (a reset seeds it with 0); a sampler's non-zero
** seed still replaces it at the next sample. */
L4LM_API void l4lm_session_seed(l4lm_session *s, uint64_t seed);

/*
** Log-probabilities (OpenAI's logprobs): the log-softmax of the logits of
** the last l4lm_eval as the model gave them, before repetition penalty,
** temperature, top-k, top-p and min-p: the model's distribution, not the
** sampler's. Max-subtracted, summed in double in id order: deterministic,
** within a float rounding of the exact value. out->chosen is token's;
** out->top the top_n most likely tokens (top_n <= L4LM_LOGPROBS_MAX_TOP,
** OpenAI's limit), most likely first, the lower id first on ties.
** L4LM_E_STATE before an eval (or with NaN or infinite logits),
** L4LM_E_TOKEN for a token outside the vocabulary.
*/
#define L4LM_LOGPROBS_MAX_TOP 20u
typedef struct l4lm_logprob {
    int32_t token;
    float logprob;
} l4lm_logprob;
typedef struct l4lm_token_logprobs {
    l4lm_logprob chosen;
    uint32_t n_top;
    l4lm_logprob top[L4LM_LOGPROBS_MAX_TOP];
} l4lm_token_logprobs;
L4LM_API l4lm_status l4lm_logprobs(const l4lm_session *s, int32_t token, uint32_t top_n,
                                   l4lm_token_logprobs *out);

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
L4LM_API size_t l4lm_detok_push(const l4lm_session *s, l4lm_detok *d, int32_t token, char *buf,
                                size_t cap, l4lm_status *st);
/* The raw text of one token (▁ as space, <0xNN> as the byte), no special handling. */
L4LM_API size_t l4lm_token_piece(const l4lm_session *s, int32_t token, char *buf, size_t cap);
L4LM_API bool l4lm_token_is_special(const l4lm_session *s, int32_t token);

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
L4LM_API l4lm_status l4lm_chat_format(const l4lm_model *m, const l4lm_chat_msg *msgs, size_t n_msgs,
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
L4LM_API l4lm_status l4lm_chat_tokenize(l4lm_session *s, const l4lm_chat_msg *msgs, size_t n_msgs,
                                        bool add_assistant, uint32_t flags, char *buf, size_t cap,
                                        size_t *len, int32_t *ids, size_t ids_cap, size_t *n_ids);
/* The same in two steps, for a program that renders before it has a session
** (the HTTP server): l4lm_chat_format that also marks the message bytes in
** plain (cap / 8 + 1 bytes, bit i for byte i), and l4lm_tokenize that cuts
** no control token out of marked bytes (plain NULL: l4lm_tokenize). */
L4LM_API l4lm_status l4lm_chat_format_marked(const l4lm_model *m, const l4lm_chat_msg *msgs,
                                             size_t n_msgs, bool add_assistant, char *buf,
                                             size_t cap, size_t *len, uint8_t *plain);
L4LM_API l4lm_status l4lm_tokenize_marked(l4lm_session *s, const char *text, size_t len,
                                          uint32_t flags, const uint8_t *plain, int32_t *out,
                                          size_t cap, size_t *n_out);
/* Name of the recognised template ("chatml", "llama3", "llama2-sys", "gemma",
** "phi3", "glmedge", ... as llama.cpp names them). */
L4LM_API const char *l4lm_chat_template_name(const l4lm_model *m);
/* The tokens that end an assistant turn, for stopping generation: the
** template's end-of-turn marker when the vocabulary has it as one token
** (<|im_end|>, <|eot_id|>, <end_of_turn>, <|end|>, ...), then the ids of
** tokenizer.ggml.eot_token_id and eom_token_id, then EOS; distinct, at most
** 4. Writes up to cap ids and returns how many it wrote. */
L4LM_API size_t l4lm_chat_stop_tokens(const l4lm_model *m, int32_t *ids, size_t cap);

/*
** Generation, one token a step: sample, stop checks, detokenise, eval.
** Every front end drives its loop with l4lm_gen_step(), so the stop rules
** below hold everywhere:
**  - EOS and end-of-turn tokens (gen_opts.eot) stop unless ignore_eos; they
**    give no text. A stop token is checked before its text is made.
**  - A stop string ends the text where it begins: the text before it is
**    returned, the stop string and everything after it never are. After
**    each token the text so far is searched; once a stop string is there,
**    the one that begins first wins. Text that
**    could be the start of a stop string is held back until later text
**    decides; whatever is held when generation ends another way (EOS,
**    end-of-turn, length, full context) was no stop string and is returned.
**  - max_tokens generated tokens end with LENGTH (the last one not fed
**    back); a token that no longer fits the context ends with CONTEXT.
**  - A failed sample, detokenisation or eval ends with ERROR and its
**    status in g->status; text still held back is dropped.
** The state lives in caller memory; nothing is allocated.
*/
#define L4LM_GEN_MAX_STOPS      4u   /* stop strings */
#define L4LM_GEN_MAX_STOP_BYTES 256u /* bytes of one stop string */
#define L4LM_GEN_MAX_EOT        4u   /* end-of-turn token ids */
/* Text of one token: the detokeniser's 32 bytes plus the longest piece (512). */
#define L4LM_GEN_PIECE_CAP 544u
/* The most text one step returns: held-back bytes plus one token's text. */
#define L4LM_GEN_TEXT_CAP (L4LM_GEN_PIECE_CAP + L4LM_GEN_MAX_STOP_BYTES)

/* Why generation ended; values are pinned. */
typedef enum l4lm_finish {
    L4LM_FINISH_NONE = 0,    /* not yet: call l4lm_gen_step again */
    L4LM_FINISH_EOS = 1,     /* the end-of-text token */
    L4LM_FINISH_EOT = 2,     /* an end-of-turn token (gen_opts.eot) */
    L4LM_FINISH_STOP = 3,    /* a stop string */
    L4LM_FINISH_LENGTH = 4,  /* max_tokens generated */
    L4LM_FINISH_CONTEXT = 5, /* the context is full */
    L4LM_FINISH_ERROR = 6    /* a step failed: l4lm_gen.status says how */
} l4lm_finish;

/* What a step drives, through ctx. l4lm_gen_init uses the session's own
** functions; an engine whose tokens come from elsewhere gives its own. */
typedef struct l4lm_gen_io {
    l4lm_status (*sample)(void *ctx, const l4lm_sampler *sp, int32_t *token);
    size_t (*detok)(void *ctx, l4lm_detok *d, int32_t token, char *buf, size_t cap,
                    l4lm_status *st);
    l4lm_status (*eval)(void *ctx, const int32_t *tokens, size_t n); /* E_CONTEXT_FULL: full */
    bool (*is_eos)(void *ctx, int32_t token);
    /* optional: the sampled token's logprobs (gen_opts.logprobs needs it) */
    l4lm_status (*logprobs)(void *ctx, int32_t token, uint32_t top_n, l4lm_token_logprobs *out);
    /* optional: make room in a full context keeping the first keep tokens
    ** (gen_opts.context_shift needs it); the session's drops half the rest */
    l4lm_status (*shift)(void *ctx, uint32_t keep);
} l4lm_gen_io;
/* With a grammar, a step also samples among the tokens whose bit is set in
** allow (bit i of byte i / 8): l4lm_gen_init sets l4lm_gen.sample_masked to
** the session's; after l4lm_gen_init_io the caller sets it (else a grammar
** gives L4LM_E_ARG at the first step). */
typedef l4lm_status (*l4lm_gen_sample_masked)(void *ctx, const l4lm_sampler *sp,
                                              const uint8_t *allow, int32_t *token);

typedef struct l4lm_grammar l4lm_grammar;             /* see "Constrained output" */
typedef struct l4lm_grammar_vocab l4lm_grammar_vocab; /* below */

typedef struct l4lm_gen_opts {
    l4lm_sampler sampler;
    uint32_t max_tokens;
    bool ignore_eos; /* EOS and end-of-turn tokens do not stop */
    uint32_t n_eot;
    int32_t eot[L4LM_GEN_MAX_EOT];
    uint32_t n_stop; /* stop strings: 1 to L4LM_GEN_MAX_STOP_BYTES bytes each, */
    const char *stop[L4LM_GEN_MAX_STOPS]; /* kept by the caller while generating */
    uint32_t stop_len[L4LM_GEN_MAX_STOPS];
    bool logprobs;         /* fill l4lm_gen.logprobs for every generated token */
    uint32_t top_logprobs; /* with the top this many (<= L4LM_LOGPROBS_MAX_TOP) */
    /* Constrained output (NULL: none). Only tokens whose text the grammar
    ** can continue with are sampled; EOS and end-of-turn tokens only where
    ** it can end (even with ignore_eos), and generation ends (EOS) once it
    ** cannot continue. The grammar's state advances with every token. */
    l4lm_grammar *grammar;
    l4lm_grammar_vocab *grammar_vocab; /* the session's token texts */
    /* A full context shifts (io.shift) instead of ending with CONTEXT,
    ** keeping the first n_keep tokens; it still ends when nothing can go. */
    bool context_shift;
    uint32_t n_keep;
} l4lm_gen_opts;

typedef struct l4lm_gen {
    l4lm_gen_io io;
    void *ctx;
    l4lm_gen_sample_masked sample_masked;
    l4lm_gen_opts o;
    l4lm_detok detok;   /* feed the prompt through it first to echo it or skip its text */
    int32_t token;      /* the token the last step sampled */
    uint32_t n_gen;     /* tokens generated (stop tokens not counted) */
    l4lm_finish finish; /* once not NONE, steps return it and no text */
    l4lm_status status; /* with L4LM_FINISH_ERROR */
    uint32_t held_off, n_held; /* text[held_off, +n_held): held back */
    uint64_t n_checked; /* grammar: tokens checked against it, all steps */
    uint32_t n_masked;  /* grammar: steps whose first sample was rejected */
    uint32_t n_shifts;  /* context shifts: the cached tokens after o.n_keep are no longer
                           what evaluating them afresh gives (do not reuse them) */
    char text[L4LM_GEN_TEXT_CAP];
    /* the logprobs of token, when o.logprobs and the step generated it */
    l4lm_token_logprobs logprobs;
} l4lm_gen;

/* Options for m: greedy, its EOS (through the session) and its end-of-turn
** tokens (l4lm_chat_stop_tokens), no stop strings. */
L4LM_API l4lm_gen_opts l4lm_gen_opts_default(const l4lm_model *m, uint32_t max_tokens);
/* Start generating after the prompt was evaluated; L4LM_E_ARG for bad options
** (too many or empty or too long stop strings, too many eot ids, logprobs
** beyond L4LM_LOGPROBS_MAX_TOP or from an io without them). */
L4LM_API l4lm_status l4lm_gen_init(l4lm_gen *g, l4lm_session *s, const l4lm_gen_opts *o);
L4LM_API l4lm_status l4lm_gen_init_io(l4lm_gen *g, const l4lm_gen_io *io, void *ctx,
                                      const l4lm_gen_opts *o);
/* One token: *text, *len (in g, valid until the next call) is what may be
** shown now; the result says whether generation ended. */
L4LM_API l4lm_finish l4lm_gen_step(l4lm_gen *g, const char **text, size_t *len);

/*
** Constrained output: a grammar in llama.cpp's GBNF, matched on UTF-8 code
** points. Syntax: `name ::= alternatives` rules (one per line; newlines
** are allowed inside ( ), after ::= and after |), a rule named root,
** alternatives |, sequences, groups ( ), postfix * + ? {m} {m,} {m,n},
** string literals "...", character classes [a-z0-9_] and [^...], . (any
** code point), rule names, # comments; escapes \n \r \t \\ \" \[ \]
** \xNN \uNNNN \UNNNNNNNN. Groups and repetitions become rules of their own.
**
** Matching keeps a set of stacks of grammar positions (as llama.cpp does)
** and advances it a byte at a time. All of it lives in L4LM_GRAMMAR_BYTES
** of caller memory (8-byte aligned); the limits below bound both the
** memory and the work per byte. A grammar beyond a limit gets L4LM_E_LIMIT;
** a malformed one L4LM_E_GRAMMAR with the reason in the error. Left
** recursion (a rule that can reach itself without consuming a character)
** is refused, so every step ends.
*/
#define L4LM_GRAMMAR_MAX_ELEMS  16384 /* compiled elements (3 per literal character) */
#define L4LM_GRAMMAR_MAX_RULES  2048  /* named, groups and repetitions */
#define L4LM_GRAMMAR_MAX_NEST   32    /* nested ( ) */
#define L4LM_GRAMMAR_MAX_REPEAT 1000  /* m and n of {m,n} */
#define L4LM_GRAMMAR_MAX_STACKS 256   /* live parse states */
#define L4LM_GRAMMAR_MAX_DEPTH  64    /* rules open in one state */
#define L4LM_GRAMMAR_MAX_WORK   4096  /* states made while expanding one byte */
#define L4LM_GRAMMAR_BYTES      (512u * 1024u)

typedef enum l4lm_grammar_why {
    L4LM_GRAMMAR_OK = 0,
    L4LM_GRAMMAR_SYNTAX = 1,         /* an unexpected character */
    L4LM_GRAMMAR_UNTERMINATED = 2,   /* a string, class or group never closed */
    L4LM_GRAMMAR_UNKNOWN_RULE = 3,   /* a reference to a rule never defined */
    L4LM_GRAMMAR_DUPLICATE = 4,      /* a rule defined twice */
    L4LM_GRAMMAR_NO_ROOT = 5,        /* no rule named root */
    L4LM_GRAMMAR_LEFT_RECURSION = 6, /* a rule reaches itself without consuming */
    L4LM_GRAMMAR_ESCAPE = 7,         /* a bad escape or bad UTF-8 in the grammar */
    L4LM_GRAMMAR_TOO_BIG = 8,        /* beyond a limit above (with L4LM_E_LIMIT) */
    L4LM_GRAMMAR_REJECTED = 9        /* matching: the text cannot continue */
} l4lm_grammar_why;

typedef struct l4lm_grammar_error {
    l4lm_grammar_why why;
    uint32_t offset; /* byte offset in the grammar text */
} l4lm_grammar_error;

/* Compile text into mem (L4LM_GRAMMAR_BYTES); *g points into mem. err may be NULL. */
L4LM_API l4lm_status l4lm_grammar_init(l4lm_grammar **g, const char *text, size_t len, void *mem,
                                       size_t mem_size, l4lm_grammar_error *err);
/* Back to the start of root. */
L4LM_API void l4lm_grammar_reset(l4lm_grammar *g);
/* Advance by n bytes of text: OK, L4LM_E_GRAMMAR when it cannot continue,
** L4LM_E_LIMIT when the states outgrow the limits; the state is unchanged
** unless OK. A code point may be split across calls. */
L4LM_API l4lm_status l4lm_grammar_accept(l4lm_grammar *g, const char *text, size_t n);
/* The same test without changing the state. */
L4LM_API l4lm_status l4lm_grammar_check(l4lm_grammar *g, const char *text, size_t n);
L4LM_API bool l4lm_grammar_can_end(const l4lm_grammar *g);      /* the text so far is complete */
L4LM_API bool l4lm_grammar_can_continue(const l4lm_grammar *g); /* some text may follow */
L4LM_API const char *l4lm_grammar_why_text(l4lm_grammar_why why);

/* Every token's text (l4lm_token_piece) and a mask of n_vocab bits, built
** once per session so a step reads them instead of the vocabulary. */
L4LM_API l4lm_status l4lm_grammar_vocab_size(const l4lm_session *s, size_t *bytes);
L4LM_API l4lm_status l4lm_grammar_vocab_init(l4lm_grammar_vocab **v, const l4lm_session *s,
                                             void *mem, size_t mem_size);

/*
** JSON Schema to GBNF (the rule "root"), as text into out. Handles type
** (string, number, integer, boolean, null, object, array, or a list of
** them), properties in declared order with required (others optional),
** items with minItems/maxItems, minLength/maxLength of strings, enum,
** const, anyOf/oneOf, and {} or an object with no properties as any JSON
** value/object. Only declared properties are produced, whatever
** additionalProperties says (that output is valid either way). Numbers
** have at most 16 integer and 16 fraction digits. Unsupported keywords
** ($ref, pattern, minimum, ...) are ignored. work holds the parsed schema:
** l4lm_json_schema_work_size(len) bytes (fewer: L4LM_E_ARENA). L4LM_E_BUFFER
** when out is too small (*out_len: the bytes needed); E_GRAMMAR for a schema that is not
** JSON or not a schema, E_LIMIT beyond 64 levels of nesting.
*/
L4LM_API size_t l4lm_json_schema_work_size(size_t len);
L4LM_API l4lm_status l4lm_json_schema_to_grammar(const char *schema, size_t len, void *work,
                                                 size_t work_size, char *out, size_t cap,
                                                 size_t *out_len);
/* The GBNF of any JSON object (response_format json_object). */
extern L4LM_API const char l4lm_json_object_grammar[];

L4LM_API const char *l4lm_strerror(l4lm_status st);
L4LM_API const char *l4lm_type_name(l4lm_type t);

#ifdef __cplusplus
}
#endif
#endif
