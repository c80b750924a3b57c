/*
** session.h — the state of one inference session, placed at the start of
** its arena. Shared by session.c (layout), forward.c and sampler.c.
*/
#ifndef L4LM_SESSION_H
#define L4LM_SESSION_H
#include "internal.h"

struct l4lm_session {
    const l4lm_model *m;
    l4lm_hparams hp;
    l4lm_weights w;
    l4lm_layer *layers; /* (n_layer) */
    uint32_t n_ctx;
    uint32_t pos; /* tokens in the KV cache */
    l4lm_kv_type kv_type;
    uint32_t n_batch;  /* tokens per forward batch */
    uint32_t act_type; /* the type act was last prepared for */
    uint32_t n_threads;
    void *k_cache; /* (n_layer, n_ctx, kv_dim) F32, F16 or Q8_0 blocks */
    void *v_cache; /* (n_layer, n_ctx, kv_dim) */
    /* activations of the batch being evaluated */
    float *x;             /* (n_batch, n_embd) the residual stream */
    float *xb, *xb2;      /* (n_batch, n_embd) normed input / branch output;
                             xb also the attention output (n_batch, n_head * head_dim) */
    float *hb, *hb2;      /* (n_batch, n_ff) gate and up projections */
    float *q, *k, *v;     /* (n_batch, n_head * head_dim), (n_batch, kv_dim) twice */
    float *att;           /* (n_head, n_ctx) attention scores */
    void *act;            /* (n_batch) activations prepared for a weight type */
    uint8_t *kq_act;      /* Q8_0 cache: each head's query prepared as Q8_0 */
    size_t kq_act_stride; /* bytes per head */
    /* RoPE: set 0 for every layer; set 1 (only when hp.n_swa) for the
       sliding-window layers, which have their own base and scale (gemma) */
    float *rope_inv_freq;       /* (sets, head_dim/2) */
    float *rope_cos, *rope_sin; /* (sets, n_batch, head_dim/2) */
    float *logits;              /* (n_vocab) */
    /* sampler */
    uint32_t *cand_id; /* (n_vocab) candidates */
    float *cand_val;   /* (n_vocab) their logits, after penalties */
    float *cand_prob;  /* (n_vocab) probabilities of the sorted candidates */
    uint8_t *seen;     /* (n_vocab bits) repetition-penalty marks, kept zero */
    int32_t *history;  /* (n_ctx) every token fed, for the repetition penalty */
    uint64_t rng;
    l4lm_tok *tok;
    const l4lm_kern *kern; /* the SIMD kernels (kernels_pick.c), for every kernel call */
    l4lm_parallel_fn parallel_for;
    void *parallel_ctx;
    bool have_logits;
    bool rng_fresh; /* nothing sampled since the last seed: a sampler's seed may set rng */
};

/* state.c: the most bytes l4lm_session_save writes for these options (0: overflow). */
uint64_t l4lm_state_max(const l4lm_hparams *hp, uint32_t n_ctx, l4lm_kv_type kv);

#endif
