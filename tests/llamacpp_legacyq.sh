#!/usr/bin/env bash
# llamacpp_legacyq.sh — the 32-element block types Q4_1, Q5_0 and Q5_1
# against llama.cpp itself (node-llama-cpp 3.22.1, as tests/llamacpp.sh).
#
# 1. tests/llamacpp/ggml_quant.c loads llama.cpp's libggml-base.so and checks
#    bit for bit that mkgguf's encoders are ggml's reference quantisers,
#    that l4lm_row_to_f32 is ggml's dequantisation, and that l4lm's
#    activation blocks are ggml's Q8_0 / Q8_1 (with Q8_1's s = d * sum).
# 2. For each type, random-weight models of the "gqa" and "wide" shapes of
#    tests/llamacpp.sh: 32 greedy steps with an F32 KV cache, prompt a token
#    at a time (llama.cpp's matrix-vector path, flash attention off); the
#    greedy tokens must agree (near-ties excepted) and the top-5 raw logits
#    be within 3e-1 (tests/llamacpp/common.sh). Why 3e-1: the activations
#    are quantised to Q8_0/Q8_1 in both engines, so a 1-ulp summation
#    difference now and then moves an element a whole step (amax/127) and
#    the change cascades. llama.cpp's own spread under a like perturbation
#    (flash attention on vs off, q rounded to F16), measured on these
#    shapes: q4_1 1.7e-1 / 2.3e-1, q5_0 2.3e-1 / 1.9e-1, q5_1 2.1e-1 /
#    1.7e-1 (gqa / wide). Real bugs (block layout, the min term, the fifth
#    bits) move logits by whole units (logit std ~4).
cd "$(dirname "$0")/.." || exit 1

# shellcheck source=tests/llamacpp/common.sh
. tests/llamacpp/common.sh

# 1. The formats, bit for bit against ggml.
lib=
for f in "$dir"/node_modules/@node-llama-cpp/*/bins/*/libggml-base.so; do
    [ -f "$f" ] && lib=$f && break
done
encoders=() # mkgguf's sources but its main
for f in tools/mkgguf/*.c; do
    [ "$f" = tools/mkgguf/main.c ] || encoders+=("$f")
done
if [ -z "$lib" ]; then
    echo "skip llamacpp_legacyq_ggml_quant: no libggml-base.so in node-llama-cpp"
elif ! cc -std=gnu11 -O2 -ffp-contract=off -Wall -Wextra -Werror -Iinclude -Isrc/core \
    -Itools/mkgguf "$dir/ggml_quant.c" "${encoders[@]}" \
    "$B"/libl4lm_posix.a "$B"/libl4lm.a -ldl -lm -lpthread -o "$tmp/ggml_quant" 2>"$tmp/err"; then
    echo "FAIL llamacpp_legacyq_ggml_quant: does not build: $(head -c 300 "$tmp/err")"
else
    "$tmp/ggml_quant" "$lib"
fi

# 2. Whole models, l4lm against llama.cpp.
# shellcheck disable=SC2034 # run_case (common.sh) reads the shapes
declare -A shapes=(
    [gqa]="--n-embd 256 --n-ff 704 --n-layer 2 --n-head 8 --n-head-kv 2 --n-vocab 1000 --ctx 256 --seed 2"
    [wide]="--n-embd 512 --n-ff 1376 --n-layer 2 --n-head 8 --n-head-kv 8 --n-vocab 1024 --ctx 256 --untied --rope-base 500000 --eps 1e-6 --seed 3"
)
for s in gqa wide; do
    for type in q4_1 q5_0 q5_1; do
        run_case $s $type f32
    done
done
