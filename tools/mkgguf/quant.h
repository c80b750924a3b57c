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
/* The type llama.cpp's Q4_K_M gives the weight tensor name (Q4_K, Q5_K or
** Q6_K: more bits for the classifier and some attn_v and ffn_down). */
uint32_t mkgguf_q4_k_m_type(const char *name, uint32_t n_layer, bool has_output);

#endif
