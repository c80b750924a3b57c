#!/usr/bin/env bash
# llamacpp.sh — cross-check l4lm against llama.cpp itself (the prebuilt CPU
# library in npm node-llama-cpp 3.22.1, driven by tests/llamacpp/ref.mjs).
#
# First proves the harness: ref.mjs must reproduce the stored llama.cpp golden
# run of stories260K (../shared/reference). Then, for random-weight models
# written by build/tools/mkgguf (every weight type, two shapes), both engines
# decode 32 greedy steps from the same ids with an F32 KV cache (llama.cpp:
# flash attention off; prompt fed a token at a time, so every product takes
# the matrix-vector path that rounds activations to the weight's partner type
# as l4lm does) and tests/llamacpp/compare.mjs checks that the greedy tokens
# agree (near-ties excepted, see there) and the top-5 raw logits are within:
#   f32 1e-3: no activation rounding, the engines differ only in summation
#     order (expect ~1e-5);
#   f16 2e-2, bf16 1e-1, q8_0/q4_0 3e-1: activations are rounded to F16/BF16
#     or quantised to Q8_0 in both engines, so a 1-ulp summation difference
#     now and then flips one rounding, moving an element by a whole step
#     (2^-11, 2^-8, amax/127), and the flip cascades through later roundings.
#     The bounds are llama.cpp's own spread under a like perturbation
#     (flash attention on vs off, i.e. q rounded to F16: up to 1.9e-2, 7.1e-2
#     and 3.1e-1 on these shapes), not l4lm's output. Real bugs (layout,
#     RoPE, norms, GQA mapping) move logits by whole units (logit std ~4).
# Two more cases use an F16 KV cache on both sides (2e-2 / 3e-1).
cd "$(dirname "$0")/.." || exit 1

. tests/llamacpp/common.sh

# 1. The harness reproduces llama.cpp's stored run (F32 KV, no flash attention).
if [ -f ../shared/reference/once_upon_a_time.json ]; then
    if nice node "$dir/ref.mjs" ../shared/models/stories260K.gguf "1 403 407 261 378" 64 \
        --ctx 512 >"$tmp/h.json" 2>"$tmp/h.err"; then
        node "$dir/golden.mjs" "$tmp/h.json" ../shared/reference/once_upon_a_time.json
    else
        echo "FAIL llamacpp_harness: ref.mjs failed: $(head -c 300 "$tmp/h.err")"
    fi
else
    echo "skip llamacpp_harness: ../shared/reference not found"
fi


# 2. l4lm against llama.cpp on random-weight models.
# mkgguf shape options: GQA 8:2 with a tied classifier; n_embd 512, untied,
# another RoPE base and eps; the qwen2 architecture
declare -A shapes=(
    [gqa]="--n-embd 256 --n-ff 704 --n-layer 2 --n-head 8 --n-head-kv 2 --n-vocab 1000 --ctx 256 --seed 2"
    [wide]="--n-embd 512 --n-ff 1376 --n-layer 2 --n-head 8 --n-head-kv 8 --n-vocab 1024 --ctx 256 --untied --rope-base 500000 --eps 1e-6 --seed 3"
    [qwen2]="--arch qwen2 --n-embd 256 --n-ff 704 --n-layer 2 --n-head 8 --n-head-kv 2 --n-vocab 1000 --ctx 256 --untied --rope-base 1000000 --eps 1e-6 --seed 4"
)
for s in gqa wide; do
    for type in f32 f16 bf16 q8_0 q4_0; do
        run_case $s $type f32
    done
done
# The F16 KV cache (l4lm's default): llama.cpp also rounds q and the softmax
# weights to F16 for its F16 K/V products, a perturbation like flash attention's.
run_case gqa f32 f16
run_case wide q8_0 f16
# qwen2: Q/K/V biases and NeoX RoPE (pairs half a head apart)
run_case qwen2 f32 f32
run_case qwen2 q8_0 f32
