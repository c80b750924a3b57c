/*
** fuzz_gguf.c — libFuzzer harness: the input is a GGUF file. Open it; if it
** opens, list its tensors, plan a small session, check the plan is exact
** (one byte less is refused) and run a few evaluation and sampling steps.
** Seeds: small models from tools/mkgguf in every tensor type.
*/
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *bytes = fuzz_copy(data, size);
    l4lm_model m;
    void *index;
    l4lm_status st = fuzz_open(&m, bytes, size, NULL, 0, &index);
    if (st) {
        FUZZ_CHECK(st < L4LM_STATUS_COUNT && l4lm_model_error(&m)->what[0],
                   "status %d without a message", (int)st);
    } else {
        l4lm_model_info mi;
        l4lm_model_get_info(&m, &mi);
        FUZZ_CHECK(mi.format == L4LM_FORMAT_GGUF || mi.format == L4LM_FORMAT_LLAMA2C, "format");
        l4lm_tensor t;
        for (uint64_t i = 0; i < mi.n_tensors; i++) {
            FUZZ_CHECK(l4lm_model_tensor(&m, i, &t) == L4LM_OK, "tensor %llu",
                       (unsigned long long)i);
            FUZZ_CHECK(t.offset <= size && t.nbytes <= size - t.offset, "tensor outside the file");
        }
        fuzz_exercise(&m);
    }
    free(bytes);
    free(index);
    return 0;
}
