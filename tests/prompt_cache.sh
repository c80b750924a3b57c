#!/usr/bin/env bash
# prompt_cache.sh — a saved prompt changes no output. `l4lm run
# --prompt-cache F`: the run that writes F, the runs that load it (the same
# prompt, a longer one, greedy and seeded sampling) and the runs that must
# refuse it (a damaged F, another --ctx) print what a run without a cache
# prints, and say how many prompt tokens came from F. `l4lm serve`: a
# request sharing a prefix with the slot's last one keeps those KV rows and
# answers as a fresh server answers it.
cd "$(dirname "$0")/.." || exit 1
B=${BUILD:-build}
model=../shared/models/stories260K.gguf
[ -f "$model" ] || { echo "skip prompt_cache: $model is absent"; exit 0; }
[ -x "$B/l4lm" ] || { echo "FAIL prompt_cache: $B/l4lm missing (run make)"; exit 1; }
. tests/servers.bash # $tmp, $pids and their clean-up

check() { # name, condition status, why
    if [ "$2" -eq 0 ]; then echo "ok prompt_cache $1"; else echo "FAIL prompt_cache $1: $3"; fi
}

SYS="Once upon a time, there was a little girl named Lily. She lived in a small house with her mom"
SYS="$SYS and dad. Every day she played in the garden with her dog, Max."
run() { # output file, prompt, options...
    local out=$1 p=$2; shift 2
    "$B/l4lm" run -m "$model" --ctx 128 -p "$p" -n 40 "$@" >"$out" 2>"$out.err"
}

# ------------------------------------------------------------- l4lm run
cache=$tmp/prompt.state
for mode in greedy seeded; do
    opts=(--temp 0)
    [ $mode = seeded ] && opts=(--temp 0.8 --seed 42)
    rm -f "$cache"
    run "$tmp/cold" "$SYS" "${opts[@]}"
    run "$tmp/write" "$SYS" "${opts[@]}" --prompt-cache "$cache"
    run "$tmp/load" "$SYS" "${opts[@]}" --prompt-cache "$cache"
    cmp -s "$tmp/cold" "$tmp/write" && cmp -s "$tmp/cold" "$tmp/load"
    check "run $mode: writing and loading the cache print what a cold run prints" $? \
        "$(diff "$tmp/cold" "$tmp/load" | head -3)"
    grep -q 'prompt cache: 0 of' "$tmp/write.err" && grep -Eq 'prompt cache: ([0-9]+) of \1 ' "$tmp/load.err"
    check "run $mode: the second run takes the whole prompt from the cache" $? \
        "$(grep 'prompt cache' "$tmp/write.err" "$tmp/load.err")"
    run "$tmp/cold2" "$SYS The dog barked." "${opts[@]}"
    run "$tmp/longer" "$SYS The dog barked." "${opts[@]}" --prompt-cache "$cache"
    cmp -s "$tmp/cold2" "$tmp/longer" && grep -Eq 'prompt cache: [1-9][0-9]* of' "$tmp/longer.err"
    check "run $mode: a longer prompt evaluates only its new tokens, same output" $? \
        "$(grep 'prompt cache' "$tmp/longer.err"; diff "$tmp/cold2" "$tmp/longer" | head -3)"
done

# A damaged cache and one of another plan are reported and not used.
run "$tmp/cold" "$SYS" --temp 0
run "$tmp/write" "$SYS" --temp 0 --prompt-cache "$cache"
size=$(stat -c %s "$cache")
printf '\x55' | dd of="$cache" bs=1 seek=$((size / 2)) conv=notrunc status=none
run "$tmp/bad" "$SYS" --temp 0 --prompt-cache "$cache"
cmp -s "$tmp/cold" "$tmp/bad" && grep -q 'not used: session state of another model' "$tmp/bad.err" &&
    grep -q 'prompt cache: 0 of' "$tmp/bad.err"
check "run: a damaged cache is refused, the output unchanged" $? "$(cat "$tmp/bad.err")"
run "$tmp/write" "$SYS" --temp 0 --prompt-cache "$cache"
truncate -s $((size - 1)) "$cache"
run "$tmp/cut" "$SYS" --temp 0 --prompt-cache "$cache"
cmp -s "$tmp/cold" "$tmp/cut" && grep -q 'not used: file truncated' "$tmp/cut.err"
check "run: a truncated cache is refused, the output unchanged" $? "$(cat "$tmp/cut.err")"
"$B/l4lm" run -m "$model" --ctx 100 -p "$SYS" -n 40 --temp 0 --prompt-cache "$cache" \
    >"$tmp/ctx" 2>"$tmp/ctx.err"
"$B/l4lm" run -m "$model" --ctx 100 -p "$SYS" -n 40 --temp 0 >"$tmp/ctx_cold" 2>/dev/null
cmp -s "$tmp/ctx" "$tmp/ctx_cold" && grep -q 'not used' "$tmp/ctx.err"
check "run: a cache of another --ctx is refused, the output unchanged" $? "$(cat "$tmp/ctx.err")"

# ------------------------------------------------------------ l4lm serve
command -v curl >/dev/null || { echo "skip prompt_cache serve: curl not installed"; exit 0; }
command -v python3 >/dev/null || { echo "skip prompt_cache serve: python3 not installed"; exit 0; }
start() { # name: a one-slot server; sets url
    "$B/l4lm" serve -m "$model" --port 0 --ctx 128 --parallel 1 2>"$tmp/$1.log" &
    pids+=($!)
    url=
    for _ in $(seq 100); do
        url=$(grep -so 'http://127.0.0.1:[0-9]*' "$tmp/$1.log" | head -1)
        [ -n "$url" ] && curl -fs "$url/health" >/dev/null && return 0
        sleep 0.1
    done
    echo "FAIL prompt_cache serve: the server did not start: $(cat "$tmp/$1.log")"
    exit 1
}
complete() { # prompt, seed: the completion's text
    local body
    body=$(python3 -c 'import json,sys; print(json.dumps({"prompt": sys.argv[1], "max_tokens": 40,
        "temperature": 0.8, "seed": int(sys.argv[2])}))' "$1" "$2")
    curl -fs "$url/v1/completions" -H 'Content-Type: application/json' -d "$body" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["choices"][0]["text"])'
}
start cold
cold=$(complete "$SYS The cat sat." 7)
start warm
first=$(complete "$SYS The dog ran." 3)
warm=$(complete "$SYS The cat sat." 7)
again=$(complete "$SYS The cat sat." 7)
[ -n "$cold" ] && [ "$cold" = "$warm" ] && [ "$cold" = "$again" ] && [ -n "$first" ]
check "serve: a request sharing a prefix answers as on a fresh server" $? \
    "fresh '$cold', after a shared prefix '$warm', repeated '$again'"
kept=$(grep -o 'prompt ([0-9]* kept)' "$tmp/warm.log" | grep -o '[0-9]*' | tr '\n' ' ')
[[ "$kept" =~ ^0\ [1-9][0-9]*\ [1-9][0-9]*\ $ ]]
check "serve: the slot kept the shared rows (kept per request: $kept)" $? "$(cat "$tmp/warm.log")"
