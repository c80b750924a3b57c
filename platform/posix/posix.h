/*
** posix.h — what the hosted (Linux) platform offers the CLI and its
** subcommands: mapping files read-only, guarded arenas, a thread pool.
*/
#ifndef L4LM_POSIX_H
#define L4LM_POSIX_H
#include "l4lm.h"

/* Map a whole file PROT_READ. NULL on failure, with a message in err. */
const void *l4lm_posix_map(const char *path, size_t *size, char *err, size_t errcap);
void l4lm_posix_unmap(const void *p, size_t size);
/* An arena of exactly size bytes ending at a PROT_NONE guard page. */
void *l4lm_posix_arena(size_t size);
void l4lm_posix_arena_free(void *p, size_t size);

/* Open MODEL (and optional llama2.c tokenizer) and print a one-line error on
** failure. The name index the open needs is malloc'd and lives as long as m. */
typedef struct l4lm_posix_model {
    const void *bytes, *tok;
    size_t size, tok_size;
    void *index;
    size_t index_size;
    l4lm_model m;
    l4lm_model_info info; /* m's, filled by the load */
} l4lm_posix_model;
int l4lm_posix_model_load(l4lm_posix_model *pm, const char *path, const char *tok_path);
void l4lm_posix_model_unload(l4lm_posix_model *pm);
/* 0 if pm has weights; else -1 after saying that path is a vocabulary only. */
int l4lm_posix_need_weights(const l4lm_posix_model *pm, const char *path);

/* The SIMD kernels the run options ask for: L4LM_SIMD from the
** environment and (aarch64) the CPU's AT_HWCAP bits (simd.c). */
void l4lm_posix_simd(l4lm_run_opts *o);

/* A thread pool behind the core's parallel_for hook. */
typedef struct l4lm_pool l4lm_pool;
l4lm_pool *l4lm_pool_start(uint32_t n_threads);
void l4lm_pool_stop(l4lm_pool *p);
void l4lm_pool_parallel_for(void *pool, l4lm_task_fn task, void *arg, uint32_t n);

/* Subcommands (argv[0] is the subcommand name). */
int l4lm_cmd_run(int argc, char **argv);
int l4lm_cmd_info(int argc, char **argv);
int l4lm_cmd_tokenize(int argc, char **argv);
int l4lm_cmd_plan(int argc, char **argv);
int l4lm_cmd_logits(int argc, char **argv);
int l4lm_cmd_serve_shm(int argc, char **argv);
int l4lm_cmd_client(int argc, char **argv);
int l4lm_cmd_chat(int argc, char **argv);
int l4lm_cmd_gateway(int argc, char **argv);
int l4lm_cmd_serve(int argc, char **argv);
#endif
