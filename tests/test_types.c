/*
** test_types.c — the tensor type table against ggml's block layouts
** (Q8_0: fp16 scale + 32 int8 = 34 bytes; Q4_0: fp16 scale + 16 bytes of
** nibbles = 18 bytes per 32 elements) and the status texts.
*/
#include <stdint.h>

#include "internal.h"
#include "t.h"

static int info_is(uint32_t t, const char *name, uint32_t block, uint32_t bytes)
{
    const l4lm_type_traits *ti = l4lm_type_info(t);
    return ti && !strcmp(ti->name, name) && ti->block == block && ti->block_bytes == bytes &&
           !strcmp(l4lm_type_name((l4lm_type)t), name);
}

static int row_is(uint32_t t, uint64_t n, uint64_t want)
{
    uint64_t got = 12345;
    return l4lm_row_bytes(t, n, &got) && got == want;
}

static int row_fails(uint32_t t, uint64_t n)
{
    uint64_t got = 12345;
    return !l4lm_row_bytes(t, n, &got);
}

int main(void)
{
    int ok = info_is(L4LM_TYPE_F32, "f32", 1, 4) && info_is(L4LM_TYPE_F16, "f16", 1, 2) &&
             info_is(L4LM_TYPE_BF16, "bf16", 1, 2) && info_is(L4LM_TYPE_Q8_0, "q8_0", 32, 34) &&
             info_is(L4LM_TYPE_Q4_0, "q4_0", 32, 18) && info_is(L4LM_TYPE_Q4_1, "q4_1", 32, 20) &&
             info_is(L4LM_TYPE_Q5_0, "q5_0", 32, 22) && info_is(L4LM_TYPE_Q5_1, "q5_1", 32, 24);
    T_CHECK("types_supported", ok, "a supported type has the wrong layout or name");

    ok = !l4lm_type_info(9) && !l4lm_type_info(4) && !l4lm_type_info(16) && !l4lm_type_info(39) &&
         !l4lm_type_info(L4LM_TYPE_COUNT) && !l4lm_type_info(UINT32_MAX);
    ok &= !strcmp(l4lm_type_name((l4lm_type)16), "iq2_xxs") &&
          !strcmp(l4lm_type_name((l4lm_type)14), "q6_K") &&
          !strcmp(l4lm_type_name((l4lm_type)9), "q8_1") &&
          !strcmp(l4lm_type_name((l4lm_type)4), "unknown") &&
          !strcmp(l4lm_type_name(L4LM_TYPE_COUNT), "unknown") &&
          !strcmp(l4lm_type_name((l4lm_type)-1), "unknown");
    T_CHECK("types_unsupported", ok, "unsupported or unknown types not reported as such");

    ok = row_is(L4LM_TYPE_F32, 10, 40) && row_is(L4LM_TYPE_F16, 3, 6) &&
         row_is(L4LM_TYPE_BF16, 7, 14) && row_is(L4LM_TYPE_Q8_0, 64, 68) &&
         row_is(L4LM_TYPE_Q4_0, 96, 54) && row_is(L4LM_TYPE_Q4_0, 0, 0) &&
         row_is(L4LM_TYPE_Q4_1, 64, 40) && row_is(L4LM_TYPE_Q5_0, 96, 66) &&
         row_is(L4LM_TYPE_Q5_1, 32, 24);
    ok &= row_fails(L4LM_TYPE_Q8_0, 33) && row_fails(L4LM_TYPE_Q4_0, 16) &&
          row_fails(L4LM_TYPE_Q5_1, 48) && row_fails(L4LM_TYPE_F32, (uint64_t)1 << 62) &&
          row_fails(L4LM_TYPE_BF16, (uint64_t)1 << 63) && row_fails(16, 256) &&
          row_fails(L4LM_TYPE_COUNT, 1);
    T_CHECK("types_row_bytes", ok, "row sizes wrong or partial blocks/overflow accepted");

    ok = 1;
    for (int i = 0; i < L4LM_STATUS_COUNT; i++) {
        const char *s = l4lm_strerror((l4lm_status)i);
        ok &= s && *s && strcmp(s, "unknown status") != 0;
        for (int j = 0; j < i; j++)
            ok &= strcmp(s, l4lm_strerror((l4lm_status)j)) != 0;
    }
    ok &= !strcmp(l4lm_strerror(L4LM_STATUS_COUNT), "unknown status") &&
          !strcmp(l4lm_strerror((l4lm_status)-1), "unknown status") &&
          !strcmp(l4lm_strerror((l4lm_status)1000), "unknown status");
    T_CHECK("types_strerror", ok, "a status has no text, a shared text, or unknown is wrong");
    (void)t_shared, (void)t_read_file; /* t.h helpers this test does not need */
    T_EXIT();
}
