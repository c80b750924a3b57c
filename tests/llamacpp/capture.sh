#!/usr/bin/env bash
# capture.sh — writes tests/fixtures/llamacpp/*.txt, llama.cpp's own numbers
# for the non-llama architectures, so tests/llamacpp_offline.sh can check
# l4lm's without node or npm. Run once, and again only when a model below or
# mkgguf's output changes:
#   make build/l4lm build/tools/mkgguf && bash tests/llamacpp/capture.sh
# Each fixture is the random-weight model a node script already checks (its
# mkgguf options are read from that script, so both check the same model),
# decoded by llama.cpp (node-llama-cpp 3.22.1 via ref.mjs: prompt fed a token
# at a time, flash attention off) for 32 greedy steps from the node scripts'
# 8 prompt ids, with the top-5 raw logits of each step, the tolerance the node
# scripts use for that weight/KV type, and the model file's SHA-256.
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/llamacpp/common.sh
. tests/llamacpp/common.sh
out=tests/fixtures/llamacpp

# name, the node script that declares the shape, shape, weight type, KV type
fixtures="
qwen2 tests/llamacpp.sh qwen2 f32 f32
qwen3 tests/llamacpp_arch.sh qwen3 f32 f32
phi3 tests/llamacpp_arch.sh phi3 f32 f32
exaone tests/llamacpp_arch.sh exaone f32 f32
gemma tests/llamacpp_gemma.sh gemma f32 f32
gemma2 tests/llamacpp_gemma.sh gemma2 f32 f32
gemma2_kvf16 tests/llamacpp_gemma.sh gemma2 f32 f16
gemma3 tests/llamacpp_gemma.sh gemma3 f32 f32
gemma3p tests/llamacpp_gemma.sh gemma3p f32 f32
"

# ref.mjs's JSON as text: a "prompt" line, then one line per step in the
# format `l4lm logits` prints (float32 logits need 9 significant digits).
to_text='
const r = JSON.parse(require("fs").readFileSync(0, "utf8"));
console.log("prompt " + r.prompt_ids.join(" "));
r.generated_ids.forEach((id, k) => console.log(`step ${k} id ${id} top5 ` +
    r.top5[k].map(([t, l]) => `${t}:${Number(l.toPrecision(9))}`).join(" ")));'

while read -r name script shape type kv; do
    [ -n "$name" ] || continue
    opts=$(sed -n "s/^ *\[$shape\]=\"\(.*\)\"$/\1/p" "$script")
    [ -n "$opts" ] || { echo "FAIL capture $name: no shape $shape in $script"; exit 1; }
    model=$tmp/$name.gguf
    # shellcheck disable=SC2086 # the shape options are meant to split
    "$B"/tools/mkgguf -o "$model" --type "$type" $opts >/dev/null || exit 1
    nice node "$dir/ref.mjs" "$model" "$ids" "$n_gen" --ctx 256 --kv "$kv" --fa off \
        --one-by-one >"$tmp/ref.json" || exit 1
    {
        echo "# llama.cpp (node-llama-cpp 3.22.1) on mkgguf's model; from"
        echo "# bash tests/llamacpp/capture.sh (do not edit), checked by tests/llamacpp_offline.sh"
        echo "mkgguf --type $type $opts"
        echo "l4lm --ctx 256 --kv $kv"
        echo "tol $(tol_of "$type" "$kv")"
        echo "gguf_sha256 $(sha256sum "$model" | cut -d' ' -f1)"
        node -e "$to_text" <"$tmp/ref.json"
    } >"$out/$name.txt"
    echo "wrote $out/$name.txt ($(wc -c <"$out/$name.txt") bytes)"
    rm -f "$model"
done <<<"$fixtures"
