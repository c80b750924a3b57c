#!/usr/bin/env bash
# fuzz.sh — the libFuzzer harnesses of tests/fuzz/ inside `make test`:
# builds them (clang -fsanitize=fuzzer,address,undefined), makes the seed
# corpora (tools/mkgguf models, tests/fuzz/mkseeds), replays every input ever
# kept in tests/corpus/<harness>/ plus the seeds, then fuzzes each harness
# for L4LM_FUZZ_SECONDS (default 45; five harnesses stay under 5 minutes).
# A crash is a FAIL naming the saved input; once fixed, that input goes to
# tests/corpus/<harness>/ so it is replayed forever.
#   bash tests/fuzz.sh              as in make test (make fuzz sets the time)
#   bash tests/fuzz.sh --coverage   replay all corpora in the coverage build
#                                   and print llvm-cov line coverage (make fuzz-cov)
cd "$(dirname "$0")/.." || exit 1
SECONDS_EACH=${L4LM_FUZZ_SECONDS:-45}
B=build-fuzz
NAMES="gguf l2c tokenizer serve cli grammar"
SHARED=${L4LM_SHARED:-../shared}
export L4LM_FUZZ_MODELS=$PWD/$B/models
# ASan reports are the crash reports; leaks of a harness's start-up state are not findings
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}

# The files each harness is about, for coverage.
declare -A TARGETS=(
    [gguf]="src/core/gguf.c src/core/model.c src/core/arch.c src/core/weights.c src/core/vocab_src.c src/core/session.c src/core/forward.c src/core/batch.c src/core/types.c"
    [l2c]="src/core/model.c src/core/llama2c.c src/core/tokenizer.c"
    [tokenizer]="src/core/tokenizer.c src/core/tok_spm.c src/core/tok_bpe.c src/core/tok_merge.c src/core/pretok.c src/core/detok.c"
    [serve]="src/serve/server.c src/serve/request.c src/serve/ring.c src/serve/client.c src/serve/layout.c src/serve/engine.c"
    [cli]="platform/posix/cli/cli.c"
    [grammar]="src/core/grammar.c src/core/grammar_match.c src/core/json_schema.c"
)

libfuzzer_links() {
    local t; t=$(mktemp -d)
    echo 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return (int)(d && n) * 0; }' >"$t/t.c"
    clang -fsanitize=fuzzer,address,undefined "$t/t.c" -o "$t/t" >/dev/null 2>&1
    local rc=$?; rm -rf "$t"; return $rc
}

if ! command -v clang >/dev/null; then
    echo "skip fuzz: clang is not installed"; exit 0
fi
if ! libfuzzer_links; then
    apt-get install -y libclang-rt-14-dev >/dev/null 2>&1
    libfuzzer_links || { echo "skip fuzz: clang cannot link -fsanitize=fuzzer (libclang-rt-14-dev missing, apt-get failed)"; exit 0; }
fi
if ! out=$(nice make -s --no-print-directory -j2 fuzz-build 2>&1); then
    echo "FAIL fuzz-build: the harnesses do not build:"; printf '%s\n' "$out" | tail -20; exit 1
fi

# ---- models for the harnesses that load one, and the seed corpora ----
mkmodel() { # file, mkgguf options...
    local f=$1; shift
    [ -s "$f" ] || build/tools/mkgguf -o "$f" "$@" || echo "FAIL fuzz-seeds: mkgguf $*"
}
mkdir -p "$B/models"
mkmodel "$B/models/tiny.gguf" --type q4_0 --n-embd 32 --n-ff 32 --n-layer 1 --n-head 2 \
    --n-head-kv 1 --n-vocab 262 --ctx 16
if [ -f "$SHARED/models/stories260K.gguf" ]; then
    for f in stories260K.gguf stories260K.bin tok512.bin; do
        ln -sf "$(cd "$SHARED/models" && pwd)/$f" "$B/models/$f"
    done
    mkmodel "$B/models/spm.gguf" --type q4_0 --n-embd 32 --n-ff 32 --n-layer 1 --n-head 2 \
        --n-head-kv 1 --ctx 16 --vocab-from "$SHARED/vocab/ggml-vocab-llama-spm.gguf"
    for v in qwen2 gpt-2; do # byte-level BPE
        mkmodel "$B/models/$v.gguf" --type q4_0 --n-embd 32 --n-ff 32 --n-layer 1 --n-head 2 \
            --n-head-kv 1 --ctx 16 --vocab-from "$SHARED/vocab/ggml-vocab-$v.gguf"
    done
else
    echo "# ../shared is absent: the tokenizer and serve harnesses use a synthetic vocabulary only"
fi
for h in $NAMES; do mkdir -p "$B/seeds/$h" "$B/corpus/$h" "$B/crashes" "tests/corpus/$h"; done
$B/mkseeds "$B/seeds" "$B/models" || echo "FAIL fuzz-seeds: mkseeds"
k=0
small="--n-embd 32 --n-ff 32 --n-layer 1 --n-head 2 --n-head-kv 1"
wide="--n-embd 64 --n-ff 96 --n-layer 2 --n-head 4 --n-head-kv 2 --untied"
odd="--n-embd 6 --n-ff 10 --n-layer 1 --n-head 3" # rows of no whole SIMD vector
for spec in "f32 $small" "f16 $small" "bf16 $small" "q8_0 $small" "q4_0 $small" \
            "f32 $wide" "f16 $wide" "bf16 $wide" "q8_0 $wide" "q4_0 $wide" \
            "f32 $odd" "f16 $odd" "bf16 $odd"; do
    # shellcheck disable=SC2086
    mkmodel "$B/seeds/gguf/seed-$k" --type $spec --n-vocab 262 --ctx 8 --seed $k
    k=$((k + 1))
done
# one tiny file per architecture, with the options each reads (tests/llamacpp_arch.sh)
arch="--n-embd 16 --n-ff 16 --n-layer 2 --n-head 2 --n-head-kv 1 --n-vocab 262 --ctx 8"
for spec in "llama f32 --rope-freqs --rope-base 500000 --rope-scale 4" \
            "qwen2 f16 --untied --eps 1e-6 --rope-base 1000000" \
            "qwen3 bf16 --head-dim 8 --untied" "phi3 f32 --untied" \
            "exaone f16 --untied --rope-freqs" "gemma f32 --head-dim 16" \
            "gemma2 bf16 --swa 4 --softcap-attn 2.5 --softcap-final 8" \
            "gemma3 f32 --n-layer 3 --swa 4 --swa-pattern 2 --rope-scale 8 --untied"; do
    read -r a t opts <<<"$spec"
    # shellcheck disable=SC2086
    mkmodel "$B/seeds/gguf/arch-$a" --arch "$a" --type "$t" $arch $opts --seed "$k"
    k=$((k + 1))
done
# the same file as GGUF v2 (the version field is the only difference we read)
[ -s "$B/seeds/gguf/seed-v2" ] || { cp "$B/seeds/gguf/seed-0" "$B/seeds/gguf/seed-v2" &&
    printf '\x02' | dd of="$B/seeds/gguf/seed-v2" bs=1 seek=4 conv=notrunc 2>/dev/null; }

# ---- coverage: replay every corpus in the coverage build ----
if [ "${1:-}" = --coverage ]; then
    for h in $NAMES; do
        rm -f "$B/cov/$h".prof*
        LLVM_PROFILE_FILE="$PWD/$B/cov/$h.profraw" "$B/cov/fuzz_$h" -runs=0 \
            "$B/corpus/$h" "$B/seeds/$h" "tests/corpus/$h" >/dev/null 2>&1
        llvm-profdata-14 merge -o "$B/cov/$h.profdata" "$B/cov/$h.profraw"
        echo "== fuzz_$h: line coverage of its targets (corpus: $(ls "$B/corpus/$h" | wc -l) inputs)"
        # shellcheck disable=SC2086
        llvm-cov-14 report "$B/cov/fuzz_$h" -instr-profile="$B/cov/$h.profdata" ${TARGETS[$h]} |
            awk 'NF >= 10 && $1 !~ /^(-|Filename)/ {
                     sub(".*/", "", $1); printf "  %-12s lines %7s  (%d of %d)\n", $1, $10, $8 - $9, $8 }'
    done
    exit 0
fi

# ---- replay: every kept regression input and every seed, once ----
for h in $NAMES; do
    n=$(find "tests/corpus/$h" "$B/seeds/$h" -type f | wc -l)
    if out=$(nice "$B/fuzz/fuzz_$h" -runs=0 -artifact_prefix="$B/crashes/$h-replay-" \
        "tests/corpus/$h" "$B/seeds/$h" 2>&1); then
        echo "ok fuzz-replay-$h: $n inputs"
    else
        echo "FAIL fuzz-replay-$h: an input of tests/corpus/$h or the seeds fails:"
        printf '%s\n' "$out" | grep -E 'ERROR|SUMMARY|invariant|Running:|^    #[0-5] ' | head -12
    fi
done

# ---- fuzz each harness for a bounded time ----
for h in $NAMES; do
    dict=""; [ -f "tests/fuzz/fuzz_$h.dict" ] && dict="-dict=tests/fuzz/fuzz_$h.dict"
    log="$B/fuzz_$h.log"
    # shellcheck disable=SC2086
    nice "$B/fuzz/fuzz_$h" -max_total_time="$SECONDS_EACH" -timeout=20 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$B/crashes/$h-" $dict \
        "$B/corpus/$h" "$B/seeds/$h" "tests/corpus/$h" >"$log" 2>&1
    rc=$?
    runs=$(grep -o 'number_of_executed_units: [0-9]*' "$log" | tail -1 | awk '{print $2}')
    cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -1)
    echo "# fuzz_$h: ${runs:-?} executions in ${SECONDS_EACH}s ($cov)"
    if [ $rc -eq 0 ]; then
        echo "ok fuzz-$h"
    else
        crash=$(grep -o "Test unit written to [^ ]*" "$log" | tail -1 | sed 's/Test unit written to //')
        echo "FAIL fuzz-$h: exit $rc, input saved as ${crash:-?} (log $log); fix it, then keep the input in tests/corpus/$h/"
        grep -E 'ERROR|SUMMARY|invariant|^    #[0-5] ' "$log" | head -12
    fi
done
