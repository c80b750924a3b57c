/*
** mkgguf/quant.h — the weight encoders mkgguf uses (quant.c).
*/
#ifndef MKGGUF_QUANT_H
#define MKGGUF_QUANT_H

#include <stdbool.h>
#include <stdint.h>

#define QK 32 /* elements per Q8_0 / Q4_0 / Q4_1 / Q5_0 / Q5_1 block */

/* Bytes of a row of n elements of type (n a multiple of the type's block). */
uint64_t mkgguf_row_bytes(uint32_t type, uint64_t n);
/* Encode n floats as a row of type. */
void mkgguf_encode_row(uint32_t type, const float *x, uint64_t n, uint8_t *out);

/* quant_k.c: the K-quants Q2_K..Q6_K, in super-blocks of QK_K elements. */
#define QK_K 256
/* Bytes of one super-block of a K type, or 0 for any other type. */
uint64_t mkgguf_k_block_bytes(uint32_t type);
/* Encode one super-block (QK_K floats) of K type as ggml's reference does. */
void mkgguf_encode_k(uint32_t type, const float *x, uint8_t *out);
/* mix.c: llama-quantize's file types, e.g. "q4_k_m": the weight type it
** gives each tensor. */
typedef struct mkgguf_mix mkgguf_mix;
typedef struct mkgguf_mix_model {
    uint32_t n_layer, n_head, n_head_kv;
    bool tied; /* token_embd.weight is also the classifier */
} mkgguf_mix_model;
/* The mix of that name (q4_0 q8_0 q6_k q5_k_m q4_k_m q3_k_m q2_k), or NULL. */
const mkgguf_mix *mkgguf_mix_find(const char *name);
/* general.file_type (llama.cpp's LLAMA_FTYPE_MOSTLY_*) and the main type. */
uint32_t mkgguf_mix_file_type(const mkgguf_mix *m);
uint32_t mkgguf_mix_base(const mkgguf_mix *m);
/* The type of the weight matrix name with rows of ne0 elements. */
uint32_t mkgguf_mix_type(const mkgguf_mix *m, const char *name, uint64_t ne0,
                         const mkgguf_mix_model *mm);

#endif
