#!/usr/bin/env bash
# features.sh — `make bench`, second part: what three features cost, each
# without and with, as medians of BENCH_REPS interleaved fresh `l4lm run`s
# (one thread), into bench/results/features.md with the machine's load.
#
#   grammar       stories260K (the demo model), temperature 1, seed 42, at
#                 400 tokens (--ignore-eos) after "Once upon a time",
#                 without and with --json-schema (an array of at least 40
#                 strings of at least 20 characters, so the story goes on
#                 inside it to the end): ms per generated token, and the
#                 grammar's counters (tokens checked per generated token,
#                 steps whose first sample the grammar rejected).
#   prompt cache  time to first token (the prompt's eval, as `run` prints
#                 it) for a 400-token system prompt + a 12-token question:
#                 cold, and with --prompt-cache holding the system prompt
#                 (a copy of one saved state each time, so every run loads
#                 the same 400 tokens). n_ctx 512, as the README's figure.
#   KV cache      decode tok/s of 32 greedy steps after a 1500-id prompt,
#                 n_ctx 2048, --kv f16 against --kv q8_0; and the KV bytes
#                 `l4lm plan` gives each.
# The last two use mkgguf's TinyLlama-shaped Q8_0 file with FEATURES_LAYERS
# (4) layers, made once into bench/models as bench.sh makes its files.
#
# Knobs: BENCH_REPS (3), BENCH_BUILD (build), BENCH_MODELS (bench/models),
# BENCH_NICE (10) as in bench.sh; FEATURES_LAYERS (4); FEATURES_THREADS (1);
# FEATURES_STORIES (the stories260K GGUF; the grammar row is skipped without
# it); FEATURES_MODEL (any GGUF in place of the TinyLlama-shaped one, e.g. a
# tiny one to check this script; its head size must suit --kv q8_0).
set -u
cd "$(dirname "$0")/.." || exit 1

reps=${BENCH_REPS:-3}
bin=${BENCH_BUILD:-build}
models=${BENCH_MODELS:-bench/models}
layers=${FEATURES_LAYERS:-4}
threads=${FEATURES_THREADS:-1}
stories=${FEATURES_STORIES:-../shared/models/stories260K.gguf}
out=bench/results/features.md
run=(nice -n "${BENCH_NICE:-10}")
# shellcheck source=bench/lib.sh
. bench/lib.sh

die() { echo "features: $*" >&2; exit 1; }
for f in "$bin/l4lm" "$bin/tools/mkgguf"; do
    [ -x "$f" ] || die "$f missing (run make bench)"
done
mkdir -p "$models" bench/results || exit 1
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
t_start=$(date +%s)

model=${FEATURES_MODEL:-$(tinyllama_model "$layers" q8_0)} || exit 1
n_vocab=$("$bin/l4lm" info -m "$model" | awk '$1 == "n_vocab" { print $2 }')
[ -n "$n_vocab" ] || die "cannot read n_vocab of $model"
cat "$model" >/dev/null # into the page cache before any timing
ids1500=$(lcg_ids 1500 "$n_vocab")
ids412=$(lcg_ids 412 "$n_vocab")
ids400=$(lcg_ids 400 "$n_vocab")
[ -f "$stories" ] || { echo "features: no $stories: no grammar row (make demo fetches it)" >&2; stories=; }
echo '{"type":"array","items":{"type":"string","minLength":20},"minItems":40}' >"$tmp/story.json"

# One `l4lm run`; its stderr (the figures) in $tmp/err, or die with it.
l4lm_run() {
    "${run[@]}" "$bin/l4lm" run --threads "$threads" "$@" >/dev/null 2>"$tmp/err" ||
        die "l4lm run $* failed: $(tail -n 2 "$tmp/err")"
}
# Figures from the last run's stderr, appended one a line to $tmp/NAME.
keep() { echo "$2" >>"$tmp/$1"; }
# figure '\N': field N of the last run's "l4lm: prompt ..." line (1 prompt
# tokens, 2 prompt seconds, 3 tokens generated, 4 their tok/s).
figure() {
    sed -n "s/^l4lm: prompt \([0-9]*\) tokens in \([0-9.]*\) s, [0-9.]* tok\/s; generated \([0-9]*\) tokens, \([0-9.]*\) tok\/s.*/$1/p" "$tmp/err"
}
ms_per_token() { figure '\4' | awk '{ printf "%.4f", 1000 / $1 }'; }
med() { if [ -s "$tmp/$1" ]; then median <"$tmp/$1"; else echo -; fi; }

grammar_reps() {
    local opts=(-m "$stories" --ctx 512 -p "Once upon a time" -n 400 --temp 1 --seed 42 --ignore-eos)
    l4lm_run "${opts[@]}"
    keep plain_ms "$(ms_per_token)"
    keep plain_n "$(figure '\3')"
    l4lm_run "${opts[@]}" --json-schema "$tmp/story.json"
    keep gram_ms "$(ms_per_token)"
    keep gram_n "$(figure '\3')"
    local checked masked n_gen
    read -r checked masked n_gen < <(sed -n \
        's/^l4lm: grammar: \([0-9]*\) tokens checked, \([0-9]*\) of \([0-9]*\) steps.*/\1 \2 \3/p' "$tmp/err")
    if [ -n "${n_gen:-}" ] && [ "$n_gen" -gt 0 ]; then
        keep checked "$(awk -v c="$checked" -v n="$n_gen" 'BEGIN { printf "%.2f", c / n }')"
        keep masked "$masked"
    fi
}

cache_reps() {
    l4lm_run -m "$model" --ctx 512 --ids "$ids412" -n 1 --temp 0
    keep cold_s "$(figure '\2')"
    cp "$tmp/sys.state" "$tmp/warm.state" || exit 1
    l4lm_run -m "$model" --ctx 512 --ids "$ids412" -n 1 --temp 0 --prompt-cache "$tmp/warm.state"
    keep warm_s "$(figure '\2')"
    keep loaded "$(sed -n 's/^l4lm: prompt cache: \([0-9]*\) of .*/\1/p' "$tmp/err")"
}

kv_reps() {
    local kv
    for kv in f16 q8_0; do
        l4lm_run -m "$model" --ctx 2048 --ids "$ids1500" -n 32 --temp 0 --ignore-eos --kv $kv
        keep "kv_$kv" "$(figure '\4')"
        keep "prefill_$kv" "$(figure '\1 \2' | awk '{ printf "%.1f", $1 / $2 }')"
    done
}

load0=$(uptime)
echo "features: $reps reps, $threads thread(s), model $model; $load0" >&2
# The system prompt's state, saved once (its time is not measured).
l4lm_run -m "$model" --ctx 512 --ids "$ids400" -n 1 --temp 0 --prompt-cache "$tmp/sys.state"
for rep in $(seq 1 "$reps"); do
    [ -n "$stories" ] && grammar_reps
    cache_reps
    kv_reps
    echo "features: rep $rep of $reps done" >&2
done
load1=$(uptime)
kv_bytes() { "$bin/l4lm" plan -m "$model" --ctx 2048 --kv "$1" | awk '/^kv cache/ { print $3 }'; }

mb() { awk -v b="$1" 'BEGIN { printf "%.2f MB", b / 1e6 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b / a }'; }
name=$(basename "$model" .gguf)
{
    echo "# Feature costs"
    echo
    echo "bench/features.sh, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD)," \
        "$threads thread(s), medians of $reps runs; model $name."
    echo
    echo "    before: $load0"
    echo "    after:  $load1"
    echo
    echo "| feature | measure | without | with | with / without | notes |"
    echo "|---|---|---|---|---|---|"
    if [ -n "$stories" ]; then
        echo "| grammar: --json-schema, stories260K, temp 1 | ms per generated token |" \
            "$(med plain_ms) | $(med gram_ms) | $(ratio "$(med plain_ms)" "$(med gram_ms)") |" \
            "$(med plain_n) / $(med gram_n) tokens generated; $(med checked) tokens checked per" \
            "generated token, $(med masked) steps masked |"
    fi
    echo "| prompt cache: --prompt-cache, 400 + 12 tokens, n_ctx 512 | time to first token, s |" \
        "$(med cold_s) | $(med warm_s) | $(ratio "$(med cold_s)" "$(med warm_s)") |" \
        "$(ratio "$(med warm_s)" "$(med cold_s)")x faster; $(med loaded) of 412 tokens loaded, state $(mb "$(stat -c %s "$tmp/sys.state")") |"
    echo "| KV cache: --kv q8_0 (without: f16), 1500 ids, n_ctx 2048 | decode tok/s, 32 steps |" \
        "$(med kv_f16) | $(med kv_q8_0) | $(ratio "$(med kv_f16)" "$(med kv_q8_0)") |" \
        "plan's KV $(mb "$(kv_bytes f16)") / $(mb "$(kv_bytes q8_0)");" \
        "prefill $(med prefill_f16) / $(med prefill_q8_0) tok/s |"
} >"$out"
cat "$out"
echo "features: $(($(date +%s) - t_start)) s in all" >&2
