#!/usr/bin/env bash
# llamacpp.sh — cross-check l4lm against llama.cpp itself (the prebuilt CPU
# library in npm node-llama-cpp 3.22.1, driven by tests/llamacpp/ref.mjs).
#
# First proves the harness: ref.mjs must reproduce the stored llama.cpp golden
# run of stories260K (../shared/reference). Then, for random-weight models
# written by build/tools/mkgguf (every weight type, two shapes), both engines
# decode 32 greedy steps from the same ids with an F32 KV cache (llama.cpp:
# flash attention off, prompt fed a token at a time so that every product is
# its matrix-vector path, which rounds activations to the weight's partner
# type exactly as l4lm does; its batched path differs from that by up to
# 3e-2 on F16/BF16 weights) and tests/llamacpp/compare.mjs checks that the tokens
# agree (near-ties excepted, see there) and the top-5 raw logits are within a
# per-type tolerance, fixed from the arithmetic each type implies, not from
# observed output:
#   f32 1e-3 (summation order only); f16/bf16 5e-3 (activations rounded to
#   the weight type in both engines); q8_0/q4_0 3e-2 (activations quantised to
#   Q8_0: a rounding flip moves one element by a quantum). Two more cases use
#   an F16 KV cache on both sides (3e-2, see below).
cd "$(dirname "$0")/.." || exit 1
dir=tests/llamacpp

skip_all() { echo "skip llamacpp: $1"; exit 0; }
command -v node >/dev/null || skip_all "node not installed"
command -v npm >/dev/null || skip_all "npm not installed"

# Install once. `npm ci` refuses the lock file when the registry cannot serve
# some other-platform optional packages (they are then absent from the lock);
# `npm install --no-save` installs exactly the locked versions instead.
if [ ! -d "$dir/node_modules/node-llama-cpp" ]; then
    if ! (cd "$dir" && npm ci >/dev/null 2>&1); then
        log=$(cd "$dir" && npm install --no-save --prefer-offline 2>&1) ||
            skip_all "npm install failed: $(printf '%s\n' "$log" | grep -m1 'error code')"
    fi
fi

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

# 1. The harness reproduces llama.cpp's stored run (F32 KV, no flash attention).
if [ -f ../shared/reference/once_upon_a_time.json ]; then
    if nice node "$dir/ref.mjs" ../shared/models/stories260K.gguf "1 403 407 261 378" 64 \
        --ctx 512 >"$tmp/h.json" 2>"$tmp/h.err"; then
        node -e '
            const fs = require("fs");
            const a = JSON.parse(fs.readFileSync(process.argv[1]));
            const r = JSON.parse(fs.readFileSync(process.argv[2])).llamacpp_f32_kv_no_flash_attn;
            let worst = 0, why = "";
            if (String(a.generated_ids) !== String(r.generated_ids.slice(0, 64))) why = "greedy ids differ";
            r.top5_logits_first_64_steps.forEach((s, k) => s.forEach(([id, l], j) => {
                if (a.top5[k][j][0] !== id) why = `step ${k}: top-5 order differs`;
                worst = Math.max(worst, Math.abs(a.top5[k][j][1] - l));
            }));
            if (!why && worst > 1e-4) why = `max |dlogit| ${worst} > 1e-4`;
            console.log(why ? `FAIL llamacpp_harness: ${why}` :
                `ok llamacpp_harness: stories260K 64 greedy ids and top-5 match the stored llama.cpp run, max |dlogit| ${worst.toExponential(2)} (tol 1e-4)`);
        ' "$tmp/h.json" ../shared/reference/once_upon_a_time.json
    else
        echo "FAIL llamacpp_harness: ref.mjs failed: $(head -c 300 "$tmp/h.err")"
    fi
else
    echo "skip llamacpp_harness: ../shared/reference not found"
fi

# 2. l4lm against llama.cpp on random-weight models.
[ -x build/tools/mkgguf ] || { echo "FAIL llamacpp: build/tools/mkgguf missing (run make)"; exit 1; }
[ -x build/l4lm ] || { echo "FAIL llamacpp: build/l4lm missing (run make)"; exit 1; }
if build/l4lm logits 2>&1 | grep -q "unknown command"; then
    skip_all "build/l4lm has no 'logits' subcommand yet"
fi

tol_of() { # weight type, KV type
    case $1-$2 in
    f32-f32) echo 1e-3 ;;
    f16-f32 | bf16-f32) echo 5e-3 ;;
    *) echo 3e-2 ;;
    esac
}
# mkgguf shape options: GQA 8:2 with a tied classifier; n_embd 512, untied,
# another RoPE base and eps
gqa="--n-embd 256 --n-ff 704 --n-layer 2 --n-head 8 --n-head-kv 2 --n-vocab 1000 --ctx 256 --seed 2"
wide="--n-embd 512 --n-ff 1376 --n-layer 2 --n-head 8 --n-head-kv 8 --n-vocab 1024 --ctx 256 --untied --rope-base 500000 --eps 1e-6 --seed 3"
ids="1 300 451 602 753 904 315 517"
n_gen=32

run_case() { # shape name, weight type, KV type
    local name="llamacpp_$1_$2" model="$tmp/$1-$2.gguf"
    [ "$3" = f32 ] || name="${name}_kv$3"
    # shellcheck disable=SC2086 # the shape options are meant to split
    if ! build/tools/mkgguf -o "$model" --type "$2" ${!1} 2>"$tmp/err"; then
        echo "FAIL $name: mkgguf: $(cat "$tmp/err")"
    elif ! nice node "$dir/ref.mjs" "$model" "$ids" $n_gen --ctx 256 --kv "$3" --fa off \
        --one-by-one >"$tmp/ref.json" 2>"$tmp/err"; then
        echo "FAIL $name: llama.cpp (ref.mjs): $(head -c 300 "$tmp/err")"
    else
        nice node "$dir/compare.mjs" "$name" "$tmp/ref.json" "$(tol_of "$2" "$3")" \
            build/l4lm logits -m "$model" --ctx 256 --kv "$3"
    fi
    rm -f "$model"
}

for shape in gqa wide; do
    for type in f32 f16 bf16 q8_0 q4_0; do
        run_case $shape $type f32
    done
done
# The F16 KV cache (l4lm's default): llama.cpp also rounds q and the softmax
# weights to F16 for its F16 K/V products, hence the looser tolerance.
run_case gqa f32 f16
run_case wide q8_0 f16
