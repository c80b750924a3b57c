#!/usr/bin/env bash
# serve_http.sh — `l4lm serve` on loopback, driven by the official openai npm
# client (tests/openai, pinned by its package-lock.json): completions and chat
# completions, streaming and not, must equal what `l4lm run` / `l4lm chat`
# print for the same prompt, seed and sampling; 32 concurrent streams must
# each get their own text; bad requests get the right 4xx with an OpenAI
# error body; past the queue, 429; a client that hangs up frees its slot;
# logprobs equal a double-precision log-softmax of the logits (test_logprobs
# --dump); /tokenize equals `l4lm tokenize`, /detokenize gives the text back.
cd "$(dirname "$0")/.." || exit 1
B=${BUILD:-build}
dir=tests/openai
model=../shared/models/stories260K.gguf
skip_all() { echo "skip serve_http: $1"; exit 0; }
[ -f "$model" ] || skip_all "$model is absent"
[ -x "$B/l4lm" ] || { echo "FAIL serve_http: $B/l4lm missing (run make)"; exit 1; }
command -v node >/dev/null || skip_all "node not installed"
command -v npm >/dev/null || skip_all "npm not installed"
if [ ! -d "$dir/node_modules/openai" ]; then
    if ! (cd "$dir" && npm ci --no-audit --no-fund >/dev/null 2>&1); then
        log=$(cd "$dir" && npm install --no-save --no-audit --no-fund --prefer-offline 2>&1) ||
            skip_all "npm install failed: $(printf '%s\n' "$log" | grep -m1 'error code')"
    fi
fi

. tests/servers.bash # $tmp, $pids and their clean-up

# The sampling options the requests send too (check.mjs), and the context.
SAMPLING=(--temp 0.8 --top-k 40 --top-p 0.95 --min-p 0.05)
CTX=256
N=48

# Expected texts: 32 prompt/seed pairs through `l4lm run`, one chat turn through `l4lm chat`.
prompts=("Once upon a time" "The little dog" "Lily went to the park" "Tom had a red ball")
echo '{"completions": [' >"$tmp/cases.json"
for i in $(seq 0 31); do
    p=${prompts[i % 4]} seed=$((1000 + i))
    nice "$B/l4lm" run -m "$model" --ctx $CTX -p "$p" -n $N --seed $seed "${SAMPLING[@]}" \
        >"$tmp/run$i.txt" 2>"$tmp/run.err" || { echo "FAIL serve_http: l4lm run: $(cat "$tmp/run.err")"; exit 1; }
    printf '%s{"prompt": "%s", "seed": %d, "n": %d, "file": "run%d.txt"}\n' \
        "$([ "$i" -gt 0 ] && echo ,)" "$p" $seed $N "$i" >>"$tmp/cases.json"
done
compare=false
if printf 'Tell me a story\n' | "$B/l4lm" chat -m "$model" --ctx $CTX -n $N --seed 7 "${SAMPLING[@]}" \
    >"$tmp/chat.txt" 2>/dev/null; then
    compare=true
fi
printf '], "chat": {"user": "Tell me a story", "seed": 7, "n": %d, "file": "chat.txt", "compare": %s}}\n' \
    $N $compare >>"$tmp/cases.json"

# References for logprobs (greedy, top 5) and /tokenize.
[ -x "$B/tests/test_logprobs" ] || { echo "FAIL serve_http: $B/tests/test_logprobs missing (run make)"; exit 1; }
"$B/tests/test_logprobs" --dump "Once upon a time" 8 5 >"$tmp/lp_completion.json" &&
    "$B/tests/test_logprobs" --dump --chat "Tell me a story" 8 5 >"$tmp/lp_chat.json" ||
    { echo "FAIL serve_http: test_logprobs --dump failed"; exit 1; }
toktext="Once upon a time, Lily met a café cat."
"$B/l4lm" tokenize -m "$model" -p "$toktext" >"$tmp/tok_bos.txt" &&
    "$B/l4lm" tokenize -m "$model" -p "$toktext" --no-bos >"$tmp/tok_nobos.txt" ||
    { echo "FAIL serve_http: l4lm tokenize failed"; exit 1; }

# Start a server on a free port; sets url (empty when it did not start) and pid.
start() { # name, serve options...
    local name=$1; shift
    "$B/l4lm" serve -m "$model" --port 0 "$@" 2>"$tmp/$name.log" &
    pid=$!
    pids+=($pid)
    url=
    for _ in $(seq 100); do
        url=$(grep -so 'http://127.0.0.1:[0-9]*' "$tmp/$name.log" | head -1)
        [ -n "$url" ] && curl -fs "$url/health" >/dev/null && return 0
        sleep 0.1
    done
    echo "FAIL serve_http_$name: the server did not start: $(cat "$tmp/$name.log")"
    url=
}

# SIGTERM: the server must exit 0 at once, with no sanitizer report in its log.
stop() { # name, pid
    kill -TERM "$2"
    local t0=$SECONDS rc
    wait "$2"
    rc=$?
    if [ $rc -eq 0 ] && [ $((SECONDS - t0)) -lt 5 ] &&
        ! grep -qE 'Sanitizer|runtime error' "$tmp/$1.log"; then
        echo "ok http_${1}_exit"
    else
        echo "FAIL http_${1}_exit: status $rc: $(grep -m3 -E 'Sanitizer|runtime error|ERROR' "$tmp/$1.log")"
    fi
}

start main --ctx $CTX --parallel 4 --queue 64 "${SAMPLING[@]}"
if [ -n "$url" ]; then
    timeout 300 node "$dir/check.mjs" main "$url" stories260K.gguf "$tmp"
    # A body sent in chunks (no Content-Length) beyond --max-body is refused too.
    code=$(head -c $((3 << 20)) /dev/zero | tr '\0' 'x' | curl -s -o "$tmp/chunked.json" -w '%{http_code}' \
        -H 'Transfer-Encoding: chunked' -H 'Content-Type: application/json' --data-binary @- "$url/v1/completions")
    if [ "$code" = 413 ] && grep -q '"code":"request_too_large"' "$tmp/chunked.json"; then
        echo "ok http_bad_huge_chunked_body 413"
    else
        echo "FAIL http_bad_huge_chunked_body: HTTP $code $(head -c 200 "$tmp/chunked.json" 2>/dev/null)"
    fi
    stop main $pid
fi

# Context shift: a request past a 64-token context goes on, with the text of
# `l4lm run --context-shift --keep 2`; twice, so the slot's reuse after a shift is exact too.
"$B/l4lm" run -m "$model" --ctx 64 -p "Once upon a time" -n 150 --temp 0 --ignore-eos \
    --context-shift --keep 2 2>/dev/null | tail -c +17 >"$tmp/shift_run.txt"
start shift --ctx 64 --parallel 1
if [ -n "$url" ]; then
    for k in 1 2; do
        curl -s "$url/v1/completions" -H 'Content-Type: application/json' -d '{"prompt": "Once upon a time",
            "max_tokens": 150, "temperature": 0, "ignore_eos": true, "context_shift": true,
            "n_keep": 2}' >"$tmp/shift$k.json"
    done
    node -e 'const fs = require("fs"), [a, b, want] = process.argv.slice(1).map(f => fs.readFileSync(f, "utf8"));
        const t = [a, b].map(s => JSON.parse(s).choices[0]);
        const ok = t.every(c => c.text === want.replace(/\n$/, "") && c.finish_reason === "length");
        console.log(ok ? "ok http_context_shift_goes_on" : "FAIL http_context_shift_goes_on: " + JSON.stringify(t[0]).slice(0, 200));' \
        "$tmp/shift1.json" "$tmp/shift2.json" "$tmp/shift_run.txt"
    code=$(curl -s -o "$tmp/noshift.json" -w '%{http_code}' "$url/v1/completions" -H 'Content-Type: application/json' \
        -d '{"prompt": "Once upon a time", "max_tokens": 150, "temperature": 0, "ignore_eos": true}')
    if [ "$code" = 200 ] && grep -q '"finish_reason":"length"' "$tmp/noshift.json" &&
        [ "$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).usage.completion_tokens)' "$tmp/noshift.json")" -lt 64 ]; then
        echo "ok http_no_context_shift_stops"
    else
        echo "FAIL http_no_context_shift_stops: HTTP $code $(head -c 200 "$tmp/noshift.json")"
    fi
    stop shift $pid
fi

# One slot, a queue of one: the rest of a burst gets 429; a hang-up frees the slot.
start busy --ctx 1024 --parallel 1 --queue 1
if [ -n "$url" ]; then
    timeout 300 node "$dir/check.mjs" busy "$url" stories260K.gguf "$tmp"
    grep -m1 'cancelled, slot freed' "$tmp/busy.log" | sed 's/^/  server: /'
    stop busy $pid
fi
