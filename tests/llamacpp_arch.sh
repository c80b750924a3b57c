#!/usr/bin/env bash
# llamacpp_arch.sh — l4lm against llama.cpp (node-llama-cpp 3.22.1) on the
# llama-like architectures beyond llama/qwen2, with random-weight models from
# $BUILD/tools/mkgguf in llama.cpp's tensor layout for each (see
# tests/llamacpp.sh for the method and the tolerances: F32 1e-3, Q8_0 3e-1):
#   qwen3   per-head RMSNorm of q and k before NeoX RoPE, and a head size
#           (attention.key_length 64) that is not n_embd / n_head (32), so
#           wq has 512 rows for a 256-wide model and wo takes 512 inputs;
#   llama3  Llama 3 RoPE: rope_freqs.weight divides each frequency;
#   linear  linear RoPE scaling (rope.scaling.type linear, factor 4);
#   phi3    Q, K and V fused in attn_qkv (GQA 8:4, so the three parts differ
#           in size) and gate and up fused in ffn_up, NeoX RoPE;
#   exaone  llama's graph and tensors with NeoX RoPE, here with rope_freqs.
# Then each family once more with its real vocabulary (../shared/vocab: the
# tokenizer keys copied, so n_vocab is 151936 / 128256 / 32064 and the
# classifier has real size): qwen2 and qwen3 with Qwen2's, Llama 3 with its
# own, phi3 with Phi-3's; and a Qwen2.5-like file as people download it:
# Qwen2's vocabulary, tied classifier, Q4_K_M (Q4_K with Q6_K where
# llama.cpp puts it).
cd "$(dirname "$0")/.." || exit 1

declare -A shapes=(
    [qwen3]="--arch qwen3 --n-embd 256 --n-ff 704 --n-layer 2 --n-head 8 --n-head-kv 2 --head-dim 64 --n-vocab 1000 --ctx 256 --untied --rope-base 1000000 --eps 1e-6 --seed 5"
    [llama3]="--n-embd 256 --n-ff 704 --n-layer 2 --n-head 8 --n-head-kv 2 --n-vocab 1000 --ctx 256 --rope-freqs --rope-base 500000 --seed 6"
    [linear]="--n-embd 256 --n-ff 704 --n-layer 2 --n-head 8 --n-head-kv 2 --n-vocab 1000 --ctx 256 --rope-scale 4 --seed 8"
    [phi3]="--arch phi3 --n-embd 256 --n-ff 704 --n-layer 2 --n-head 8 --n-head-kv 4 --n-vocab 1000 --ctx 256 --untied --seed 7"
    [qwen2_vocab]="--arch qwen2 --n-embd 128 --n-ff 384 --n-layer 2 --n-head 4 --n-head-kv 2 --ctx 256 --rope-base 1000000 --eps 1e-6 --seed 11 --vocab-from ../shared/vocab/ggml-vocab-qwen2.gguf"
    [qwen3_vocab]="--arch qwen3 --n-embd 128 --n-ff 384 --n-layer 2 --n-head 4 --n-head-kv 2 --head-dim 64 --ctx 256 --rope-base 1000000 --eps 1e-6 --seed 12 --vocab-from ../shared/vocab/ggml-vocab-qwen2.gguf"
    [llama3_vocab]="--n-embd 128 --n-ff 384 --n-layer 2 --n-head 4 --n-head-kv 2 --ctx 256 --rope-freqs --rope-base 500000 --seed 13 --vocab-from ../shared/vocab/ggml-vocab-llama-bpe.gguf"
    [phi3_vocab]="--arch phi3 --n-embd 128 --n-ff 384 --n-layer 2 --n-head 4 --n-head-kv 4 --ctx 256 --untied --seed 14 --vocab-from ../shared/vocab/ggml-vocab-phi-3.gguf"
    [qwen2_real]="--arch qwen2 --n-embd 256 --n-ff 768 --n-layer 2 --n-head 4 --n-head-kv 2 --ctx 256 --rope-base 1000000 --eps 1e-6 --seed 15 --vocab-from ../shared/vocab/ggml-vocab-qwen2.gguf"
    [exaone]="--arch exaone --n-embd 256 --n-ff 704 --n-layer 2 --n-head 8 --n-head-kv 2 --n-vocab 1000 --ctx 256 --untied --rope-freqs --seed 9"
)

. tests/llamacpp/common.sh

for s in qwen3 llama3 linear phi3; do
    run_case $s f32 f32
    run_case $s q8_0 f32
done
run_case exaone f32 f32
if [ -d ../shared/vocab ]; then
    for s in qwen2_vocab qwen3_vocab llama3_vocab phi3_vocab; do
        run_case $s q8_0 f32
    done
    run_case qwen2_real q4_k_m f32
else
    echo "skip llamacpp_arch_vocab: ../shared/vocab not found"
fi
