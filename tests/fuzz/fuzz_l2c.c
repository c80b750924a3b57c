/*
** fuzz_l2c.c — libFuzzer harness: a llama2.c checkpoint and its
** tokenizer.bin. The first 4 input bytes say how many of the rest are the
** checkpoint (modulo their count); the remainder is tokenizer.bin. Each part
** sits in a block of exactly its size. A model that opens is exercised.
*/
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = {data, size};
    uint32_t split = fuzz_u32(&in);
    size_t n_ckpt = in.n ? split % (in.n + 1) : 0;
    uint8_t *ckpt = fuzz_copy(in.p, n_ckpt), *tok = fuzz_copy(in.p + n_ckpt, in.n - n_ckpt);
    l4lm_model m;
    void *index = NULL;
    /* a GGUF magic here would test the GGUF reader, which has its own harness */
    l4lm_status st = n_ckpt >= 4 && !memcmp(ckpt, "GGUF", 4)
                         ? L4LM_E_MAGIC
                         : fuzz_open(&m, ckpt, n_ckpt, tok, in.n - n_ckpt, &index);
    if (st == L4LM_OK) {
        l4lm_model_info mi;
        l4lm_model_get_info(&m, &mi);
        FUZZ_CHECK(mi.format == L4LM_FORMAT_LLAMA2C, "format");
        FUZZ_CHECK(mi.weight_bytes <= n_ckpt, "weights beyond the checkpoint");
        fuzz_exercise(&m);
    } else if (n_ckpt < 4 || memcmp(ckpt, "GGUF", 4)) {
        FUZZ_CHECK(st < L4LM_STATUS_COUNT && l4lm_model_error(&m)->what[0],
                   "status %d without a message", (int)st);
    }
    free(ckpt);
    free(tok);
    free(index);
    return 0;
}
