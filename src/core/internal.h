/*
** internal.h — declarations shared between the files of src/core.
** Nothing here is public API. Each section belongs to one .c file.
*/
#ifndef L4LM_INTERNAL_H
#define L4LM_INTERNAL_H

/* The engine sees the real model struct below; callers see its storage. */
#if defined(L4LM_H) && !defined(L4LM_INTERNAL)
#error "include internal.h before l4lm.h"
#endif
#define L4LM_INTERNAL 1
#include "l4lm.h"

#define L4LM_ALIGN 64
/* Documented limits on what a model file may declare. */
#define L4LM_MAX_DIMS        4
#define L4LM_MAX_LAYERS      1024
#define L4LM_MAX_VOCAB       (1u << 21)
#define L4LM_MAX_EMBD        (1u << 16)
#define L4LM_MAX_HEAD_DIM    1024 /* attention.key_length */
#define L4LM_MAX_NAME        256  /* longest tensor name (ggml: 64) */
#define L4LM_MAX_STRING      (1u << 24)
#define L4LM_MAX_KEY         1024 /* longest metadata key: bounds a name comparison */
#define L4LM_MAX_TENSORS     (1u << 14)
#define L4LM_MAX_KV          (1u << 12)
#define L4LM_MAX_TOKEN_BYTES 512 /* longest vocabulary piece */
#define L4LM_DEFAULT_BATCH   32

/* ---- the open model and what it points at (model.c, gguf.c, arch.c, vocab_src.c) ---- */
/* RoPE pairing: NORMAL rotates (x[2i], x[2i+1]); NEOX rotates (x[i], x[i+d/2]). */
typedef enum l4lm_rope { L4LM_ROPE_NORMAL = 0, L4LM_ROPE_NEOX = 2 } l4lm_rope;

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
    uint64_t *index;   /* the caller's name index (see l4lm_open_opts) */
    bool counting;     /* lookups add to the index's work count (tests; off after open) */
} l4lm_gguf;

/* The feed-forward gate's activation: SwiGLU (llama) or GeGLU (gemma). */
typedef enum l4lm_ffn_act { L4LM_FFN_SILU = 0, L4LM_FFN_GELU = 1 } l4lm_ffn_act;

typedef struct l4lm_hparams {
    char arch[32];
    /* sizes */
    uint32_t n_vocab;
    uint32_t n_embd;
    uint32_t n_ff;
    uint32_t n_layer;
    uint32_t n_head;
    uint32_t n_head_kv;
    uint32_t head_dim; /* attention.key_length; n_embd / n_head when absent */
    uint32_t n_ctx_train;
    float rms_eps;
    /* RoPE */
    l4lm_rope rope;        /* which pairs rotate: the architecture's */
    float rope_base;       /* rope.freq_base */
    float rope_freq_scale; /* linear RoPE scaling: angles times 1/factor (1: none) */
    bool tied_output;      /* the classifier reuses the token embedding */
    /* What the architecture does beyond llama's graph: its row of the table
    ** in src/core/arch.c, with the file's values where a key may override
    ** one. All zero: llama. */
    bool embed_scale;     /* embeddings times sqrt(n_embd) (gemma) */
    l4lm_ffn_act ffn_act; /* SILU: SwiGLU; GELU: GeGLU (gemma) */
    bool qkv_bias;        /* Q, K and V biases are required (qwen2; optional elsewhere) */
    bool qk_norm;         /* per-head RMSNorm of q and k before RoPE (qwen3, gemma3) */
    bool fused_gate_up;   /* ffn_up holds the gate rows, then the up rows (phi3) */
    bool rope_freqs;      /* may carry rope_freqs.weight (Llama 3.1 and later) */
    bool post_norms;      /* RMSNorm of each branch output before the residual add (gemma2/3) */
    float q_scale;        /* 0: scores times 1/sqrt(head_dim); else q times this after RoPE
                             and the scores unscaled (gemma) */
    float attn_softcap;   /* 0: off; else scores become c tanh(scores / c) (gemma2) */
    float final_softcap;  /* 0: off; else logits become c tanh(logits / c) */
    uint32_t n_swa;       /* 0: off; else local layers see the last n_swa positions */
    uint32_t swa_pattern; /* layer l is local iff l % p < p - 1 (0: every layer) */
    float rope_base_swa;  /* with a window: RoPE base and linear scale of the local layers */
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

/* An open model, in the caller's l4lm_model storage (l4lm.h): read-only
** after l4lm_model_open(). */
struct l4lm_model {
    l4lm_format format;
    l4lm_hparams hp;
    l4lm_gguf gguf;       /* GGUF only */
    const uint8_t *bytes; /* the model blob */
    uint64_t size;
    uint64_t weight_bytes; /* bytes of tensor data (the GGUF data section) */
    bool vocab_only;       /* a GGUF without tensors: tokenizes, never evaluates */
    l4lm_vocab_src vocab;
    l4lm_error err; /* set when l4lm_model_open fails */
};
_Static_assert(sizeof(struct l4lm_model) <= L4LM_MODEL_BYTES, "L4LM_MODEL_BYTES too small");
_Static_assert(_Alignof(struct l4lm_model) <= 8, "l4lm_model storage is only 8-byte aligned");

/* ---- util.c: overflow-checked sizes, little-endian reads, small strings ---- */
bool l4lm_add_ovf(uint64_t a, uint64_t b, uint64_t *r);
bool l4lm_mul_ovf(uint64_t a, uint64_t b, uint64_t *r);
uint64_t l4lm_align_up(uint64_t x, uint64_t a); /* a is a power of two */
uint16_t l4lm_rd16(const uint8_t *p);
uint32_t l4lm_rd32(const uint8_t *p);
uint64_t l4lm_rd64(const uint8_t *p);
float l4lm_rdf32(const uint8_t *p);
size_t l4lm_strlen(const char *s);
bool l4lm_streq(const char *a, size_t alen, const char *b); /* b NUL-terminated */
/* Write "prefix" + name into err->what (truncating), set status and offset. */
l4lm_status l4lm_fail(l4lm_error *err, l4lm_status st, uint64_t off, const char *what,
                      const char *name, size_t name_len);
/* The same with a decimal index as the name ("piece too long '42'"). */
l4lm_status l4lm_fail_index(l4lm_error *err, l4lm_status st, uint64_t off, const char *what,
                            uint32_t index);

/* ---- gguf.c: GGUF v2/v3 reader; open validates every byte it will ever read ---- */
enum l4lm_gguf_vtype {
    L4LM_GGUF_U8 = 0,
    L4LM_GGUF_I8 = 1,
    L4LM_GGUF_U16 = 2,
    L4LM_GGUF_I16 = 3,
    L4LM_GGUF_U32 = 4,
    L4LM_GGUF_I32 = 5,
    L4LM_GGUF_F32 = 6,
    L4LM_GGUF_BOOL = 7,
    L4LM_GGUF_STRING = 8,
    L4LM_GGUF_ARRAY = 9,
    L4LM_GGUF_U64 = 10,
    L4LM_GGUF_I64 = 11,
    L4LM_GGUF_F64 = 12,
    L4LM_GGUF_VTYPE_COUNT = 13
};

typedef struct l4lm_gguf_kv {
    const char *key;
    uint32_t key_len;
    uint32_t type;      /* enum l4lm_gguf_vtype */
    const uint8_t *val; /* the value bytes (after the type) */
    uint64_t val_size;
    uint32_t arr_type; /* for arrays */
    uint64_t arr_n;
    const uint8_t *arr; /* first element */
} l4lm_gguf_kv;

/* Bytes of name index l4lm_gguf_open needs, from the header's counts (0 when
** the header is one the open refuses anyway). */
l4lm_status l4lm_gguf_index_size(const void *bytes, size_t size, size_t *needed);
/* index: 8-byte aligned, writable, valid while g is used (lookups read it). */
l4lm_status l4lm_gguf_open(l4lm_gguf *g, const void *bytes, size_t size, void *index,
                           size_t index_size, l4lm_error *err);
/* Test hook: names compared and entries read since the open began (kept
** after a failed open too). Lookups add to it while g->counting, which the
** open sets and l4lm_model_open clears when done (a test may set it again). */
uint64_t l4lm_gguf_work(const l4lm_gguf *g);
bool l4lm_gguf_is_gguf(const void *bytes, size_t size);
bool l4lm_gguf_find(const l4lm_gguf *g, const char *key, l4lm_gguf_kv *kv);
l4lm_status l4lm_gguf_kv_at(const l4lm_gguf *g, uint64_t i, l4lm_gguf_kv *kv);
/* Typed getters: a missing key leaves *out unchanged and returns false. */
bool l4lm_gguf_u32(const l4lm_gguf *g, const char *key, uint32_t *out);
bool l4lm_gguf_f32(const l4lm_gguf *g, const char *key, float *out);
bool l4lm_gguf_bool(const l4lm_gguf *g, const char *key, bool *out);
bool l4lm_gguf_str(const l4lm_gguf *g, const char *key, const char **s, uint64_t *len);
l4lm_status l4lm_gguf_tensor_at(const l4lm_gguf *g, uint64_t i, l4lm_tensor *t);
bool l4lm_gguf_tensor(const l4lm_gguf *g, const char *name, l4lm_tensor *t);

/* ---- types.c: block layouts ---- */
typedef struct l4lm_type_traits {
    char name[8];   /* an array, not a pointer: the table needs no relocation */
    uint32_t block; /* elements per block (0: unsupported) */
    uint32_t block_bytes;
} l4lm_type_traits;
const l4lm_type_traits *l4lm_type_info(uint32_t t); /* NULL if unknown/unsupported */
/* bytes of n elements (n a multiple of the block); false on bad n or overflow */
bool l4lm_row_bytes(uint32_t t, uint64_t n, uint64_t *bytes);

/* ---- math.c: the engine's own float math (no libm) ---- */
float l4lm_expf(float x);
/* The 32 doubles 2^(j/32) l4lm_expf's double exp uses, for the kernels'
** SIMD copy of it (the same operations, so the same bits). */
const double *l4lm_exp2_j32(void);
float l4lm_logf(float x);
float l4lm_sqrtf(float x);
float l4lm_powf(float x, float y);
void l4lm_sincosf(float x, float *s, float *c);
float l4lm_tanhf(float x);
/* GELU (tanh approximation) through half precision, as ggml's CPU backend computes it */
float l4lm_gelu(float x);
float l4lm_fp16_to_f32(uint16_t h);
uint16_t l4lm_f32_to_fp16(float f);
float l4lm_bf16_to_f32(uint16_t h);
uint16_t l4lm_f32_to_bf16(float f);

/* ---- kernels.c: dot products and matrix-vector products ----
** Activations are first converted to the weight type's partner type, as
** ggml does (F32->F32, F16->F16, BF16->BF16, Q8_0/Q4_0->Q8_0), so results
** match llama.cpp. Each output is one dot in a fixed order (deterministic).
** k: the session's SIMD kernels (kernels_pick.c); every table gives the
** same bits as the portable C path.
*/
typedef struct l4lm_kern l4lm_kern; /* one ISA variant's kernels (kernels.h) */
/* The table for a variant name (NULL or "": the best this CPU runs; hwcap:
** aarch64's AT_HWCAP bits), and what was picked into *info (may be NULL). */
const l4lm_kern *l4lm_kern_pick(const char *want, uint64_t hwcap, l4lm_kernels_info *info);
size_t l4lm_act_bytes(uint32_t wtype, uint32_t n);
void l4lm_act_prepare(const l4lm_kern *k, uint32_t wtype, const float *x, uint32_t n, void *act);
float l4lm_vec_dot(const l4lm_kern *k, uint32_t wtype, const void *wrow, const void *act,
                   uint32_t n);
/* y[r] = W[r] . x for r in [r0, r1); W has rows of n elements of wtype. */
void l4lm_matvec(const l4lm_kern *k, uint32_t wtype, const void *w, const void *act, uint32_t n,
                 float *y, uint32_t r0, uint32_t r1);
/* y[b * y_stride + r] = W[r] . act_b for r in [r0, r1), b < n_b, act_b at
** act + b * act_stride: each weight row is unpacked once per few activation
** rows (prefill). Every output equals l4lm_vec_dot's bit for bit. */
void l4lm_matmul(const l4lm_kern *k, uint32_t wtype, const void *w, const void *act,
                 size_t act_stride, uint32_t n, float *y, size_t y_stride, uint32_t r0, uint32_t r1,
                 uint32_t n_b);
/* Dequantize one row of n elements to floats. */
void l4lm_row_to_f32(uint32_t wtype, const void *row, float *out, uint32_t n);
/* l4lm_vec_dot without SIMD, for tests: the SIMD paths must match it bit for bit. */
float l4lm_vec_dot_plain(uint32_t wtype, const void *wrow, const void *act, uint32_t n);
/* out[i] += a * row[i] for an F32 or F16 row (attention's weighted sum of
** cached values): a separate multiply and add, the same bits on every path. */
void l4lm_vec_axpy(const l4lm_kern *k, uint32_t type, const void *row, float a, float *out,
                   uint32_t n);
/* out[r] = l4lm_vec_dot(type, row r, x, n) for r < n_rows, the rows (F32 or
** F16) stride elements apart: attention's scores of one query against the
** cached keys, in one call so SIMD can reduce several rows at once. */
void l4lm_vec_dots(const l4lm_kern *k, uint32_t type, const void *rows, size_t stride,
                   const float *x, uint32_t n, uint32_t n_rows, float *out);
/* out[i] = 0 + a[0] row 0[i] + a[1] row 1[i] + ... in that order, as
** l4lm_vec_axpy row after row gives it: attention's weighted sum of n_rows
** cached values (F32 or F16, stride elements apart), kept in registers. */
void l4lm_vec_wsum(const l4lm_kern *k, uint32_t type, const void *rows, size_t stride,
                   const float *a, uint32_t n_rows, float *out, uint32_t n);
/* ggml's Q8_0 blocks (fp16 d, int8 q[32]) of n floats, n a multiple of 32,
** quantised as the Q8_0 activations are (a quantised KV cache's rows).
** l4lm_vec_dots and l4lm_vec_wsum also take Q8_0 rows (stride elements a
** multiple of 32); then l4lm_vec_dots' x is a row prepared for Q8_0. */
void l4lm_quantize_q8_0(const l4lm_kern *k, const float *x, uint32_t n, void *blocks);
/* h[i] = l4lm_f32_to_fp16(x[i]) and o[i] = l4lm_half_decode(h[i]), with
** SIMD where the kernels have it; o may be x (rounded in place). */
void l4lm_round_f16(const l4lm_kern *k, const float *x, uint32_t n, float *o, uint16_t *h);
/* x[i] = l4lm_expf(x[i] - sub) (softmax), and g[i] = g[i] / (1 + l4lm_expf(-g[i]))
** * u[i] (SwiGLU): the same bits as those scalar expressions, vectorised. */
void l4lm_vec_exp(const l4lm_kern *k, float *x, float sub, uint32_t n);
void l4lm_vec_silu_mul(const l4lm_kern *k, float *g, const float *u, uint32_t n);
/* The weight type l4lm_matmul, _matvec and _vec_dot also take for BF16
** rows whose every value is 0 or of magnitude 2^-50 to 2^50 (rows of at
** most 2^24): the same bits as BF16, by vdpbf16ps where k has it. */
#define L4LM_KTYPE_BF16_DP 0x101eu
/* What table k runs ("AVX2 + F16C", "NEON", "none"). */
const char *l4lm_kernels_simd(const l4lm_kern *k);

/* ---- tokenizer.c: SentencePiece-style BPE; tables live in the arena ---- */
typedef struct l4lm_tok l4lm_tok; /* opaque, placed in the arena */
size_t l4lm_tok_arena_bytes(const l4lm_vocab_src *v, size_t max_text);
l4lm_status l4lm_tok_init(l4lm_tok **t, const l4lm_vocab_src *v, void *mem, size_t mem_size,
                          size_t max_text);
l4lm_status l4lm_tok_encode(l4lm_tok *t, const char *text, size_t len, uint32_t flags, int32_t *out,
                            size_t cap, size_t *n_out);
size_t l4lm_tok_piece(const l4lm_tok *t, int32_t id, char *buf, size_t cap);
bool l4lm_tok_is_special(const l4lm_tok *t, int32_t id);
/* Validate a vocabulary source (called by model open): every piece and merge readable. */
l4lm_status l4lm_tok_check(const l4lm_vocab_src *v, l4lm_error *err);
/* The pre-tokenizer named by tokenizer.ggml.pre; L4LM_PRE_NONE if not supported. */
l4lm_pretok l4lm_tok_pre_named(const char *name, size_t len);

/* ---- the model's weights, used in place (weights.c, llama2c.c; model.c picks) ---- */
typedef struct l4lm_mat {
    const void *data;
    uint32_t type;
    uint32_t n_in;  /* row length (ggml ne[0]) */
    uint32_t n_out; /* rows */
    bool bf16_dp;   /* BF16 the session's kernels dot with vdpbf16ps (l4lm_kern_mark) */
} l4lm_mat;

typedef struct l4lm_layer {
    l4lm_mat attn_norm;      /* (n_embd) */
    l4lm_mat wq;             /* (n_head * head_dim rows, n_embd) */
    l4lm_mat wk;             /* (n_head_kv * head_dim, n_embd) */
    l4lm_mat wv;             /* (n_head_kv * head_dim, n_embd) */
    l4lm_mat wo;             /* (n_embd, n_head * head_dim) */
    l4lm_mat ffn_norm;       /* (n_embd) */
    l4lm_mat w_gate;         /* (n_ff, n_embd) */
    l4lm_mat w_up;           /* (n_ff, n_embd) */
    l4lm_mat w_down;         /* (n_embd, n_ff) */
    l4lm_mat bq, bk, bv;     /* (n_out of wq/wk/wv) biases; data NULL when absent */
    l4lm_mat q_norm, k_norm; /* (head_dim) per-head norms (hp.qk_norm); data NULL when absent */
    l4lm_mat attn_post_norm, ffn_post_norm; /* (n_embd) branch-output norms (hp.post_norms) */
} l4lm_layer;

typedef struct l4lm_weights {
    l4lm_mat tok_embd;   /* (n_vocab rows, n_embd) */
    l4lm_mat out_norm;   /* (n_embd) */
    l4lm_mat output;     /* (n_vocab, n_embd); tok_embd when tied */
    l4lm_mat rope_freqs; /* (head_dim/2) divisors of the RoPE frequencies (Llama 3); or NULL */
} l4lm_weights;

/* Sets m->bf16_dp when m is BF16 and k's kernels have vdpbf16ps and every
** value of m passes their range scan (once, when a session binds its
** weights: it reads the whole tensor). */
void l4lm_kern_mark(const l4lm_kern *k, l4lm_mat *m);
/* What l4lm_matmul is told for m's type. */
static inline uint32_t l4lm_mat_ktype(const l4lm_mat *m)
{
    return m->bf16_dp ? L4LM_KTYPE_BF16_DP : m->type;
}
/* model.c: resolve the global weights and, when layers != NULL, every layer's;
** unpacked: what l4lm_l2c_unpack wrote for a llama2.c version 2, else NULL. */
l4lm_status l4lm_model_weights(const l4lm_model *m, l4lm_weights *w, l4lm_layer *layers,
                               const void *unpacked, l4lm_error *err);

/* ---- arch.c: the architecture table; a GGUF file's hyperparameters ---- */
/* m->hp from m->gguf: sizes, then the architecture's features and their keys. */
l4lm_status l4lm_arch_hparams(l4lm_model *m);
/* The shape rules every architecture shares (sets head_dim when 0); caps sizes at the limits. */
l4lm_status l4lm_arch_check(l4lm_hparams *hp, l4lm_error *err);

/* ---- vocab_src.c: m->vocab from a GGUF file's tokenizer keys, checked ---- */
l4lm_status l4lm_vocab_gguf(l4lm_model *m);

/* ---- weights.c: a GGUF file's tensors bound and checked (layers may be NULL) ---- */
l4lm_status l4lm_weights_gguf(const l4lm_model *m, l4lm_weights *w, l4lm_layer *layers,
                              l4lm_error *err);

/* ---- llama2c.c: the llama2.c checkpoint format ---- */
/* m->hp and m->vocab from the header and tokenizer.bin (tok, tok_size). */
l4lm_status l4lm_l2c_open(l4lm_model *m, const uint8_t *tok, size_t tok_size);
void l4lm_l2c_weights(const l4lm_model *m, l4lm_weights *w, l4lm_layer *layers,
                      const void *unpacked);
/* llama2.c version 2: the arena bytes of its weights as F32 (else 0), and the dequantisation. */
uint64_t l4lm_l2c_unpacked_bytes(const l4lm_model *m);
uint32_t l4lm_l2c_version(const l4lm_model *m); /* 0: legacy; else the "ak42" header's */
void l4lm_l2c_unpack(const l4lm_model *m, float *dst);

/* ---- batch.c: forward.c's steps shared among the session's threads ---- */
/* Work on n independent items split into one contiguous range per thread:
** which thread does an item never changes its bits. work (multiply-adds)
** decides whether threads are worth waking. */
typedef void l4lm_range_fn(void *arg, uint32_t lo, uint32_t hi);
void l4lm_batch_split(l4lm_session *s, uint64_t work, uint32_t n, l4lm_range_fn *fn, void *arg);
/* fn(arg, i) for every i < n, one task each (attention's heads). */
void l4lm_batch_tasks(l4lm_session *s, uint64_t work, uint32_t n, l4lm_task_fn fn, void *arg);
/* out = RMSNorm(x) * w over n floats, the squares summed in double as ggml does. */
void l4lm_rmsnorm(float *out, const float *x, const l4lm_mat *w, uint32_t n, float eps);
/* out[b] = RMSNorm(x[b]) * w for the n_b tokens (rows of n_embd); out may be x. */
void l4lm_batch_norm(l4lm_session *s, float *out, const float *x, const l4lm_mat *w, uint32_t n_b);
/* y[b] = W x[b] for the n_b rows of x (x_stride floats apart; y rows y_stride
** apart). The rows are prepared for W's type, unless same_input says the
** previous call had the same x and its preparation for the type is reused. */
void l4lm_batch_matmul(l4lm_session *s, const l4lm_mat *w, const float *x, uint32_t x_stride,
                       float *y, uint32_t y_stride, uint32_t n_b, bool same_input);

/* ---- session.c ---- */
const l4lm_tok *l4lm_session_tok(const l4lm_session *s);

#endif
