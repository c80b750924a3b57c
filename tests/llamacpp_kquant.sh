#!/usr/bin/env bash
# llamacpp_kquant.sh — the K-quant weight types against llama.cpp itself
# (the harness of tests/llamacpp/common.sh: node-llama-cpp 3.22.1, 32 greedy
# steps from the same ids, one token at a time, F32 KV cache, flash
# attention off). Models are written by $BUILD/tools/mkgguf, whose K
# encoders give ggml's reference bytes, in shapes whose n_embd and n_ff are
# multiples of 256 (a K-quant row is whole 256-element super-blocks):
#   k256: GQA 4:2, tied classifier, 2 layers;
#   k512: 8 layers (so q4_k_m mixes: Q6_K attn_v and ffn_down in layers
#         0, 3, 6 and 7, Q6_K output.weight, Q4_K elsewhere), untied;
#   mix:  4 layers, GQA 8:2, untied, written with `mkgguf --ftype`: the
#         per-tensor types llama.cpp's llama-quantize chooses for its file
#         types (tools/mkgguf/mix.c; checked tensor for tensor, bytes
#         included, against llama-quantize's output of the same floats):
#         lq-q4_0:   Q4_0, output.weight Q6_K;
#         lq-q5_k_m: Q5_K, Q6_K attn_v and ffn_down in layers 2 and 3 and
#                    output.weight;
#         lq-q3_k_m: Q3_K, attn_v Q5_K in layers 0-1 and Q4_K in 2-3,
#                    ffn_down and attn_output Q4_K, output.weight Q6_K;
#         lq-q2_k:   Q2_K, attn_v Q4_K (GQA >= 4), ffn_down and
#                    attn_output Q3_K, output.weight Q6_K.
#         Its Q8_0 and Q6_K are every tensor of the type and its Q4_K_M is
#         mkgguf's q4_k_m, the same bytes as the --type files run here and
#         in tests/llamacpp.sh, so they are not run again.
# Tolerance 3e-1 on the top-5 logits, as for q8_0/q4_0 in llamacpp.sh and
# for the same reason: both engines quantise the activations (here to
# Q8_K, 256-element blocks of amax/127 steps), so a 1-ulp summation
# difference now and then flips one rounding and moves an element by a
# whole step, and the flip cascades; llama.cpp's own spread under a like
# perturbation (flash attention on vs off) reached 3.1e-1 on Q8_0 models,
# and 3.2e-1 on the k512 q4_k_m model here (its greedy tokens part at step
# 26). Real bugs (a wrong nibble, scale or min) move logits by whole units.
cd "$(dirname "$0")/.." || exit 1

. tests/llamacpp/common.sh

declare -A shapes=(
    [k256]="--n-embd 256 --n-ff 768 --n-layer 2 --n-head 4 --n-head-kv 2 --n-vocab 1000 --ctx 256 --seed 5"
    [k512]="--n-embd 512 --n-ff 1536 --n-layer 8 --n-head 8 --n-head-kv 4 --n-vocab 1024 --ctx 256 --untied --rope-base 500000 --seed 6"
    [mix]="--n-embd 256 --n-ff 768 --n-layer 4 --n-head 8 --n-head-kv 2 --n-vocab 1024 --ctx 256 --untied --seed 8"
)
for type in q4_k q6_k q5_k q2_k q3_k q4_k_m; do
    run_case k256 $type f32
done
for type in q4_k q6_k q4_k_m; do
    run_case k512 $type f32
done
for type in lq-q4_0 lq-q5_k_m lq-q3_k_m lq-q2_k; do
    run_case mix $type f32
done
