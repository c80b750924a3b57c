#!/usr/bin/env bash
# bench.sh — `make bench`: l4lm against llama.cpp on the same GGUF files.
#
# Writes random-weight TinyLlama-1.1B-shaped models (n_embd 2048, 22 layers,
# 32 heads, 4 KV heads, n_ff 5632, vocab 32000, own classifier) in each weight
# type with build/tools/mkgguf into bench/models/ (once; reused while their
# options and size are unchanged), then for every type and thread count runs
# both engines in turn, BENCH_REPS times, each run a fresh process under
# /usr/bin/time: prefill of the same 128 prompt ids in one batch, then 64
# greedy decode steps, F16 KV cache, context 512. bench/report.mjs turns the
# runs into medians: bench/results/bench.{json,md} and bench.png (gnuplot).
#
# llama.cpp is the prebuilt CPU library in npm node-llama-cpp 3.22.1 (the one
# tests/llamacpp.sh uses), driven by bench/llamacpp_bench.mjs at its defaults.
#
# Knobs: BENCH_QUICK=1 (4 layers, same widths: a fast check of the harness),
# BENCH_REPS (3), BENCH_TYPES ("q4_0 q8_0 f16 q4_k_m"), BENCH_THREADS ("1 2"),
# BENCH_NICE (10), BENCH_MODELS (bench/models), BENCH_BUILD (build: where
# l4lm and tools/mkgguf are).
#
# Run it on an otherwise idle machine: Linux autogroup splits the CPU evenly
# between busy sessions whatever their nice values, so one other busy session
# leaves a 2-thread run one core. The report marks such rows (see report.mjs).
set -u
cd "$(dirname "$0")/.." || exit 1

reps=${BENCH_REPS:-3}
types=${BENCH_TYPES:-"q4_0 q8_0 f16 q4_k_m"}
threads=${BENCH_THREADS:-"1 2"}
models=${BENCH_MODELS:-bench/models}
results=bench/results
bin=${BENCH_BUILD:-build}
n_layer=22
[ "${BENCH_QUICK:-0}" = 1 ] && n_layer=4
n_prompt=128 n_gen=64 ctx=512 n_vocab=32000
shape="--n-embd 2048 --n-ff 5632 --n-layer $n_layer --n-head 32 --n-head-kv 4 --n-vocab $n_vocab --ctx 2048 --untied --seed 1"
run=(nice -n "${BENCH_NICE:-10}")

die() { echo "bench: $*" >&2; exit 1; }
for f in "$bin/l4lm" "$bin/tools/mkgguf"; do [ -x "$f" ] || die "$f missing (run make)"; done
[ -x /usr/bin/time ] || die "/usr/bin/time missing (apt-get install time)"
for c in node npm; do command -v $c >/dev/null || die "$c is needed for llama.cpp"; done

# The pinned llama.cpp, shared with the cross-check tests (see tests/llamacpp.sh).
dir=tests/llamacpp
if [ ! -d "$dir/node_modules/node-llama-cpp" ]; then
    (cd "$dir" && { npm ci || npm install --no-save --prefer-offline; }) >/dev/null 2>&1 ||
        die "npm install of node-llama-cpp in $dir failed"
fi
if ! command -v gnuplot >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "bench: installing gnuplot-nox for the chart"
    apt-get install -y -qq gnuplot-nox >/dev/null 2>&1 ||
        { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq gnuplot-nox >/dev/null 2>&1; }
fi

mkdir -p "$models" "$results" || exit 1
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

# A model is reused when the stamp beside it holds the same options and size.
make_model() { # type -> prints the path
    local f="$models/tinyllama-L$n_layer-$1.gguf" want="$shape --type $1"
    if [ -f "$f" ] && [ -f "$f.stamp" ] &&
        [ "$(cat "$f.stamp")" = "$want $(stat -c %s "$f")" ]; then
        echo "$f"
        return
    fi
    echo "bench: writing $f" >&2
    rm -f "$f.stamp"
    # shellcheck disable=SC2086 # the shape options are meant to split
    "${run[@]}" "$bin/tools/mkgguf" -o "$f" --type "$1" $shape >&2 || die "mkgguf failed for $1"
    echo "$want $(stat -c %s "$f")" >"$f.stamp"
    echo "$f"
}

# The prompt: n_prompt fixed pseudo-random ids past the byte tokens (a small
# LCG, so awk's doubles compute it exactly).
ids=$(awk -v n=$n_prompt -v v=$n_vocab 'BEGIN {
    s = 1; for (i = 0; i < n; i++) { s = (s * 75 + 74) % 65537;
    printf "%s%d", i ? " " : "", 259 + s % (v - 259) } }')

# Runs one engine under /usr/bin/time; appends one JSON line to $raw.
raw="$tmp/runs.jsonl"
measure() { # engine type threads rep model
    local out="$tmp/out" err="$tmp/err" tv="$tmp/time" res
    if [ "$1" = l4lm ]; then
        "${run[@]}" /usr/bin/time -v -o "$tv" "$bin/l4lm" run -m "$5" --ids "$ids" -n $n_gen \
            --temp 0 --ignore-eos --threads "$3" --ctx $ctx --kv f16 >/dev/null 2>"$err"
        res=$(sed -n 's/^l4lm: prompt \([0-9]*\) tokens, \([0-9.]*\) tok\/s; generated \([0-9]*\) tokens, \([0-9.]*\) tok\/s.*/{"n_prompt":\1,"prefill_tps":\2,"n_gen":\3,"decode_tps":\4}/p' "$err")
    else
        "${run[@]}" /usr/bin/time -v -o "$tv" node bench/llamacpp_bench.mjs "$5" "$ids" $n_gen \
            --threads "$3" --ctx $ctx >"$out" 2>"$err"
        res=$(tail -n 1 "$out")
    fi
    if [ -z "$res" ]; then
        echo "bench: $1 $2 ${3}t failed: $(grep -v '^\s*$' "$err" | tail -n 2 | tr '\n' ' ')" >&2
        res=null
    fi
    awk -v e="$1" -v t="$2" -v th="$3" -v r="$4" -v res="$res" -F': ' '
        /Maximum resident set size/ { rss = $2 }
        /Minor \(reclaiming/ { minflt = $2 }
        /User time/ { cpu += $2 } /System time/ { cpu += $2 }
        /Elapsed \(wall clock\)/ { n = split($2, p, ":"); wall = 0
            for (i = 1; i <= n; i++) wall = wall * 60 + p[i] }
        END { printf "{\"engine\":\"%s\",\"type\":\"%s\",\"threads\":%d,\"rep\":%d,\"rss_kb\":%d," \
              "\"minor_faults\":%d,\"process_cpu_s\":%.2f,\"process_wall_s\":%.2f,\"run\":%s}\n",
              e, t, th, r, rss, minflt, cpu, wall, res }' "$tv" >>"$raw"
}

declare -A model
model_args=()
for t in $types; do
    model[$t]=$(make_model "$t") || exit 1
    model_args+=(--model "$t=${model[$t]}")
    cat "${model[$t]}" >/dev/null # into the page cache before any timing
done

"${run[@]}" /usr/bin/time -v -o "$tmp/time" node bench/llamacpp_bench.mjs --baseline >/dev/null ||
    die "node-llama-cpp does not load"
node_base_kb=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$tmp/time")

load0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "bench: $n_layer layers, types: $types, threads: $threads, $reps reps; load average $load0"
awk '$1 > 0.5 { exit 1 }' /proc/loadavg ||
    echo "bench: warning: the machine is busy; timings (2 threads above all) will suffer" >&2
# Interleaved: every rep runs every case, each case both engines back to back.
for rep in $(seq 1 "$reps"); do
    for t in $types; do
        for th in $threads; do
            for engine in l4lm llama.cpp; do
                measure "$engine" "$t" "$th" "$rep" "${model[$t]}"
            done
        done
    done
    echo "bench: rep $rep of $reps done" >&2
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)

node bench/report.mjs "$raw" "$results" --n-layer "$n_layer" --node-baseline-kb "$node_base_kb" \
    --load "$load0 / $load1" --nice "${BENCH_NICE:-10}" \
    "${model_args[@]}" || exit 1
if command -v gnuplot >/dev/null; then
    gnuplot -e "dat='$results/bench.dat'; out='$results/bench.png'" bench/chart.gp ||
        echo "bench: gnuplot failed; no chart" >&2
else
    echo "bench: gnuplot not installed; no chart" >&2
fi
