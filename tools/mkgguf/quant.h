/*
** mkgguf/quant.h — the weight encoders mkgguf uses (quant.c).
*/
#ifndef MKGGUF_QUANT_H
#define MKGGUF_QUANT_H

#include <stdint.h>

#define QK 32 /* elements per Q8_0 / Q4_0 block */

/* Bytes of a row of n elements of type (n a multiple of the type's block). */
uint64_t mkgguf_row_bytes(uint32_t type, uint64_t n);
/* Encode n floats as a row of type. */
void mkgguf_encode_row(uint32_t type, const float *x, uint64_t n, uint8_t *out);

#endif
