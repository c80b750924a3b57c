/*
** cmd_info.c — `l4lm info` (what is in a model file) and `l4lm plan` (how
** much memory a session needs, as ready seL4 Microkit memory regions).
*/
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void print_hparams(const l4lm_model_info *hp)
{
    printf("format         %s\n", hp->format == L4LM_FORMAT_GGUF ? "GGUF" : "llama2.c");
    if (hp->format == L4LM_FORMAT_GGUF)
        printf("gguf version   %u (alignment %u, %llu metadata keys, %llu tensors)\n",
               hp->gguf_version, hp->gguf_alignment, (unsigned long long)hp->n_metadata,
               (unsigned long long)hp->n_tensors);
    printf("architecture   %s\n", hp->arch);
    printf("n_vocab        %u (%s from %s, bos %d, eos %d)\n", hp->n_vocab,
           hp->vocab_bpe ? "byte-level BPE" : "SentencePiece BPE",
           hp->vocab_external ? "tokenizer.bin" : "GGUF metadata", hp->bos, hp->eos);
    if (hp->vocab_only) {
        printf("weights        none: vocabulary only, no weights (l4lm tokenize works, run "
               "does not)\n");
        return;
    }
    printf("n_embd         %u\nn_ff           %u\nn_layer        %u\n", hp->n_embd, hp->n_ff,
           hp->n_layer);
    printf("n_head         %u\nn_head_kv      %u\nhead_dim       %u\n", hp->n_head, hp->n_head_kv,
           hp->head_dim);
    printf("n_ctx_train    %u\nrms_eps        %g\nrope_base      %g\nrope           %s\n",
           hp->n_ctx_train, hp->rms_eps, hp->rope_base,
           hp->rope_neox ? "neox (pairs half a head apart)" : "normal (adjacent pairs)");
    printf("output         %s\n", hp->tied_output ? "tied to token_embd" : "own classifier");
    l4lm_run_opts ro = {0};
    l4lm_kernels_info k;
    l4lm_posix_simd(&ro);
    l4lm_kernels_pick(&ro, &k);
    printf("kernels        %s\n", k.describe); /* this build on this CPU, or L4LM_SIMD's */
}

/* Parse the options and open the model: true when it is open, else *rc is
** the exit status (0 after --help, 2 after a usage error, 1 if it did not open). */
static bool open_model(int argc, char **argv, l4lm_cli_opts *o, l4lm_posix_model *pm, int *rc)
{
    int parsed = l4lm_cli_parse(argc, argv, o);
    *rc = parsed ? l4lm_cli_exit(parsed) : L4LM_EXIT_FAIL;
    return !parsed && !l4lm_posix_model_load(pm, o->model, o->tokenizer);
}

int l4lm_cmd_info(int argc, char **argv)
{
    l4lm_cli_opts o;
    l4lm_posix_model pm;
    int rc;
    if (!open_model(argc, argv, &o, &pm, &rc))
        return rc;
    const l4lm_model *m = &pm.m;
    const l4lm_model_info *hp = &pm.info;
    print_hparams(hp);
    if (hp->vocab_only) {
        l4lm_posix_model_unload(&pm);
        return 0;
    }
    if (hp->format == L4LM_FORMAT_GGUF) {
        printf("tensors:\n");
        for (uint64_t i = 0; i < hp->n_tensors; i++) {
            l4lm_tensor t;
            if (l4lm_model_tensor(m, i, &t))
                break;
            printf("  %-28.*s %-5s [", (int)t.name_len, t.name, l4lm_type_name(t.type));
            for (uint32_t d = 0; d < t.n_dims; d++)
                printf(d ? ", %llu" : "%llu", (unsigned long long)t.ne[d]);
            printf("] offset %llu, %llu bytes\n", (unsigned long long)t.offset,
                   (unsigned long long)t.nbytes);
        }
    } else if (hp->l2c_version == 0) {
        printf("tensors: F32 arrays in llama2.c order (token_embedding, rms_att, wq, wk, wv, wo,\n"
               "         rms_ffn, w1, w2, w3, rms_final, freq_cis%s) from byte 28\n",
               hp->tied_output ? "" : ", wcls");
    } else {
        printf("tensors: export.py version %u: F32 rms_att, rms_ffn, rms_final, then %s arrays\n"
               "         token_embedding, wq, wk, wv, wo, w1, w2, w3%s from byte 256\n",
               hp->l2c_version, hp->l2c_version == 2 ? "int8-group" : "F32",
               hp->tied_output ? "" : ", wcls");
    }
    printf("weight bytes   %llu\n", (unsigned long long)hp->weight_bytes);
    l4lm_posix_model_unload(&pm);
    return 0;
}

static unsigned long long page_round(unsigned long long n)
{
    return (n + 4095) / 4096 * 4096;
}

int l4lm_cmd_plan(int argc, char **argv)
{
    l4lm_cli_opts o;
    l4lm_posix_model pm;
    int rc;
    if (!open_model(argc, argv, &o, &pm, &rc))
        return rc;
    l4lm_run_opts ro = {.n_ctx = o.n_ctx, .kv_type = o.kv_type, .n_batch = o.n_batch};
    l4lm_plan_result p;
    l4lm_status st = l4lm_cli_kv_check(&pm.m, o.kv_type) ? L4LM_E_ARG : l4lm_plan(&pm.m, &ro, &p);
    if (st) {
        fprintf(stderr, "l4lm: cannot plan: %s\n", l4lm_strerror(st));
        l4lm_posix_model_unload(&pm);
        return 1;
    }
    if (p.ctx_beyond_training)
        fprintf(stderr, "l4lm: warning: context %u exceeds the model's training context %u\n",
                p.n_ctx, pm.info.n_ctx_train);
    printf("context        %u tokens, KV cache %s\n", p.n_ctx,
           o.kv_type == L4LM_KV_Q8_0 ? "q8_0"
           : o.kv_type               ? "f16"
                                     : "f32");
    printf("session        %zu bytes\n", p.session);
    if (p.weights)
        printf("weights        %zu bytes (llama2.c version 2's int8 weights as F32)\n", p.weights);
    printf("kv cache       %zu bytes\n", p.kv_cache);
    printf("activations    %zu bytes\n", p.activations);
    printf("scratch        %zu bytes\n", p.scratch);
    printf("tokenizer      %zu bytes\n", p.tokenizer);
    printf("total          %zu bytes\n", p.total);
    printf("model          %zu bytes\n", pm.size);
    printf("name index     %zu bytes (l4lm_model_index_size: the open's, kept while the model "
           "is used)\n",
           pm.index_size);
    printf("<memory_region name=\"model\" size=\"0x%llx\" />\n", page_round(pm.size));
    printf("<memory_region name=\"arena\" size=\"0x%llx\" />\n", page_round(p.total));
    if (pm.index_size)
        printf("<memory_region name=\"index\" size=\"0x%llx\" />\n", page_round(pm.index_size));
    l4lm_posix_model_unload(&pm);
    return 0;
}
