#!/usr/bin/env bash
# llamacpp_gemma.sh — l4lm against llama.cpp (node-llama-cpp 3.22.1) on the
# gemma family, with random-weight models from $BUILD/tools/mkgguf in
# llama.cpp's tensor layout (see tests/llamacpp.sh for the method and the
# tolerances: F32 1e-3, Q8_0 3e-1). Every shape has a head size
# (attention.key_length) that is not n_embd / n_head, and each decodes 40
# positions (8 prompt ids + 32 steps), beyond every sliding window below:
#   gemma   embeddings times sqrt(n_embd), GELU-gated FFN (ggml's half-
#           precision GELU table), tied classifier, q scaled before the
#           dot products, multi-query attention (1 KV head);
#   gemma2  + post-attention/post-FFN norms, attention scores and logits
#           soft-capped (caps 2.5 and 8, small enough to bend real values),
#           a 16-position window on layers 0 and 2 (pattern 2);
#   gemma3  + per-head q/k norms, no soft-caps, a 12-position window on five
#           layers of every six (layers 0-4 and 6 of 7) with RoPE base 10000
#           there, and base 1e6 with linear scaling by 8 on layer 5 only;
#   gemma3p gemma3 with attention.sliding_window_pattern 3 (layers 0, 1 of 3
#           local) and a final soft-cap, which gemma3 applies only when given.
# F32 cases differ by up to ~6e-4 here, not ~1e-5 as for llama: both engines
# round each GELU input to half precision (ggml's table), so a summation-order
# difference in the gate product now and then flips one rounding by 2^-11.
cd "$(dirname "$0")/.." || exit 1

declare -A shapes=(
    [gemma]="--arch gemma --n-embd 256 --n-ff 768 --n-layer 2 --n-head 4 --n-head-kv 1 --head-dim 128 --n-vocab 1000 --ctx 256 --eps 1e-6 --seed 11"
    [gemma2]="--arch gemma2 --n-embd 256 --n-ff 512 --n-layer 4 --n-head 4 --n-head-kv 2 --head-dim 96 --n-vocab 1000 --ctx 256 --eps 1e-6 --swa 16 --softcap-attn 2.5 --softcap-final 8 --seed 12"
    [gemma3]="--arch gemma3 --n-embd 256 --n-ff 512 --n-layer 7 --n-head 4 --n-head-kv 2 --head-dim 96 --n-vocab 1000 --ctx 256 --eps 1e-6 --swa 12 --rope-base 1000000 --rope-scale 8 --seed 13"
    [gemma3p]="--arch gemma3 --n-embd 256 --n-ff 512 --n-layer 4 --n-head 4 --n-head-kv 2 --head-dim 64 --n-vocab 1000 --ctx 256 --eps 1e-6 --swa 10 --swa-pattern 3 --softcap-final 9 --rope-base 500000 --seed 14"
)

. tests/llamacpp/common.sh

for s in gemma gemma2 gemma3; do
    run_case $s f32 f32
    run_case $s q8_0 f32
done
run_case gemma3p f32 f32
# The F16 KV cache (l4lm's default), where llama.cpp also rounds q to F16 for
# its F16 K products: here q has been scaled before, in both engines.
run_case gemma2 f32 f16
run_case gemma3 q8_0 f16
