/*
** mkseeds_tok.h — the tokenizer fuzzer's seeds for its hostile vocabularies
** (issue 16; included by mkseeds.c after its writers): texts made of the
** pieces of tests/tok_hostile.h's vocabularies (many specials, pieces of one
** hash, merge pairs of one hash bucket) and plain English for the byte-level
** BPE one, for every vocabulary selector, with and without special parsing.
** OUTDIR/tokenizer/hostile-NN.
*/
#include "../tok_hostile.h"

/* The first max pieces of v from piece `from` on, one after another, into b. */
static void hostile_text(bytes *b, const hv_vocab *v, uint32_t from, uint32_t max)
{
    const uint8_t *p = v->tokens.p;
    for (uint32_t id = 0; id < v->n_vocab && id < from + max; id++) {
        uint64_t n;
        memcpy(&n, p, 8);
        if (id >= from)
            put(b, p + 8, (size_t)n);
        p += 8 + n;
    }
}

static void hostile_tokenizer_seeds(const char *dir)
{
    hv_vocab v[3];
    memset(v, 0, sizeof v);
    hv_specials(&v[0], 64);
    hv_pieces(&v[1], 64);
    hv_merges(&v[2], 512, 64);
    static const char english[] = "the thing in there is an other one, then again";
    int k = 0;
    for (uint32_t sel = 0; sel < 16; sel++)
        for (int t = 0; t < 4; t++) {
            bytes b = {0};
            char name[32];
            put8(&b, sel | (t % 2 ? 0x08 : 0) | (t == 2 ? 0x10 : 0));
            if (t < 3)
                hostile_text(&b, &v[t], t < 2 ? 256 : 0, 48);
            else
                put(&b, english, sizeof english - 1);
            snprintf(name, sizeof name, "hostile-%03d", k++);
            save(dir, "tokenizer", name, &b);
            free(b.p);
        }
    for (int i = 0; i < 3; i++)
        hv_free(&v[i]);
}
