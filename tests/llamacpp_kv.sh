#!/usr/bin/env bash
# llamacpp_kv.sh — the Q8_0 KV cache (--kv q8_0) against llama.cpp's
# -ctk q8_0 -ctv q8_0 (node-llama-cpp 3.22.1's experimentalKvCacheKeyType /
# ValueType; llama.cpp quantises V only with flash attention, so --fa on).
# F32 weights on the "gqa" and "wide" shapes of tests/llamacpp.sh, 32
# greedy steps, the prompt a token at a time. Both engines quantise k and v
# rows with ggml's Q8_0 rule and q to Q8_0 for the q8_0 x q8_0 dot, so the
# top-5 logits agree to ~1e-5 (measured 5.2e-6 on gqa); the tolerance 1e-2
# still catches what the cache type changes: l4lm with an F32 cache is
# 6.1e-2 away from llama.cpp's Q8_0 one at the first step on gqa.
# llama.cpp's default is kept: it rotates q, k and v by a Walsh-Hadamard
# matrix when the cache is quantised and head_dim % 64 == 0 (PR 21038), and
# so does l4lm (forward.c, hadamard): "wide" (head_dim 64: k and v in chunks
# of 64) and "wide128" (head_dim 128: k in chunks of 128, v in 64) take it,
# "gqa" (head_dim 32) does not. Without the rotation l4lm was 1.2e-1 away
# from llama.cpp on "wide" at step 0 (with LLAMA_ATTN_ROT_DISABLE=1 on its
# side, 1.1e-4 over 32 steps).
cd "$(dirname "$0")/.." || exit 1

# shellcheck source=tests/llamacpp/common.sh
. tests/llamacpp/common.sh

# shellcheck disable=SC2034
declare -A shapes=(
    [gqa]="--n-embd 256 --n-ff 704 --n-layer 2 --n-head 8 --n-head-kv 2 --n-vocab 1000 --ctx 256 --seed 2"
    [wide]="--n-embd 512 --n-ff 1376 --n-layer 2 --n-head 8 --n-head-kv 8 --n-vocab 1024 --ctx 256 --untied --rope-base 500000 --eps 1e-6 --seed 3"
    [wide128]="--n-embd 512 --n-ff 1376 --n-layer 2 --n-head 4 --n-head-kv 2 --n-vocab 1024 --ctx 256 --seed 4"
)
for s in gqa wide wide128; do
    name="llamacpp_${s}_f32_kvq8_0" model="$tmp/$s.gguf"
    # shellcheck disable=SC2086
    if ! "$B"/tools/mkgguf -o "$model" --type f32 ${shapes[$s]} 2>"$tmp/err"; then
        echo "FAIL $name: mkgguf: $(cat "$tmp/err")"
    elif ! nice node "$dir/ref.mjs" "$model" "$ids" $n_gen --ctx 256 --kv q8_0 --fa on \
        --one-by-one >"$tmp/ref.json" 2>"$tmp/err"; then
        echo "FAIL $name: llama.cpp (ref.mjs): $(head -c 300 "$tmp/err")"
    else
        nice node "$dir/compare.mjs" "$name" "$tmp/ref.json" 1e-2 \
            "$B"/l4lm logits -m "$model" --ctx 256 --kv q8_0
    fi
done

# The rule llama.cpp has too: Q8_0 rows need head_dim % 32 == 0.
m=../shared/models/stories260K.gguf
if [ ! -f "$m" ]; then
    echo "skip llamacpp_kv_head_dim: $m absent"
elif "$B"/l4lm plan -m "$m" --kv q8_0 2>"$tmp/err" >/dev/null; then
    echo "FAIL llamacpp_kv_head_dim: stories260K (head_dim 8) planned a q8_0 cache"
elif grep -q "multiple of 32" "$tmp/err"; then
    echo "ok llamacpp_kv_head_dim: stories260K refused: $(head -1 "$tmp/err")"
else
    echo "FAIL llamacpp_kv_head_dim: unclear refusal: $(head -c 200 "$tmp/err")"
fi
