/*
** driver.h — the one generation run every bare-metal image performs, shared
** with a hosted build of the same code (hosted.c) so the test can compare
** the token ids of both byte for byte.
*/
#ifndef L4LM_PORT_DRIVER_H
#define L4LM_PORT_DRIVER_H
#include "l4lm.h"
#include "workers.h"

typedef struct l4lm_port_job {
    const void *model;      /* the GGUF bytes, used in place */
    size_t model_size;
    void *arena;            /* l4lm_port_plan() bytes: the name index, then the session */
    size_t arena_size;
    const char *prompt;
    size_t prompt_len;
    uint32_t n_ctx;
    uint32_t n_generate; /* greedy tokens after the prompt */
    int32_t *ids;        /* room for the prompt and the generated ids */
    size_t ids_cap;
    l4lm_work_pool *pool; /* the port's worker cores; NULL: this core only */
} l4lm_port_job;

/*
** Open, plan, tokenize, generate greedily and print the story, then a line
** "ids: ..." with the generated ids, an FNV-1a hash of every logits row
** the run computed (bit-identical at any thread count), the timing and,
** with a pool, the parallel_for calls per token. Returns 0 or the first
** failing l4lm_status (after printing what failed).
*/
int l4lm_port_generate(const l4lm_port_job *job);

/* The model's name index (l4lm_model_index_size), rounded up to 64 bytes. */
size_t l4lm_port_index_bytes(const void *model, size_t size);
/* The job arena's bytes: the name index, then what l4lm_plan() asks for; or
** 0 after printing why not. The open behind the plan puts the index in
** scratch (l4lm_port_index_bytes, 8-byte aligned). */
size_t l4lm_port_plan(const void *model, size_t size, uint32_t n_ctx, void *scratch);
#endif
