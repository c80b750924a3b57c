#!/usr/bin/env bash
# llamacpp_kquant.sh — the K-quant weight types against llama.cpp itself
# (the harness of tests/llamacpp/common.sh: node-llama-cpp 3.22.1, 32 greedy
# steps from the same ids, one token at a time, F32 KV cache, flash
# attention off). Models are written by $BUILD/tools/mkgguf, whose K
# encoders give ggml's reference bytes, in shapes whose n_embd and n_ff are
# multiples of 256 (a K-quant row is whole 256-element super-blocks):
#   k256: GQA 4:2, tied classifier, 2 layers;
#   k512: 8 layers (so q4_k_m mixes: Q6_K attn_v and ffn_down in layers
#         0, 3, 6 and 7, Q6_K output.weight, Q4_K elsewhere), untied.
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
)
for type in q4_k q6_k q5_k q2_k q3_k q4_k_m; do
    run_case k256 $type f32
done
for type in q4_k q6_k q4_k_m; do
    run_case k512 $type f32
done
