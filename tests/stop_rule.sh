#!/usr/bin/env bash
# stop_rule.sh — one stop-string rule through every hosted front end: for
# stop strings cut from stories260K's own greedy continuation (across token
# boundaries, at the very start, a near miss that only begins like the text,
# none that occurs), `l4lm run --stop`, `l4lm serve` (HTTP, /v1/completions)
# and `l4lm serve-shm` + `l4lm client --stop` must all give the text before
# the stop string's first occurrence and nothing of it — worked out here by
# bash from the text without any stop string.
cd "$(dirname "$0")/.." || exit 1
B=${BUILD:-build}
M=${L4LM_SHARED:-../shared}/models/stories260K.gguf
[ -f "$M" ] || { echo "skip stop_rule: $M absent"; exit 0; }
[ -x "$B/l4lm" ] || { echo "FAIL stop_rule: $B/l4lm missing (run make)"; exit 1; }
command -v curl >/dev/null || { echo "skip stop_rule: curl not installed"; exit 0; }
command -v python3 >/dev/null || { echo "skip stop_rule: python3 not installed"; exit 0; }
. tests/servers.bash # $tmp, $pids and their clean-up

P="Once upon a time"
N=60
opts=(-m "$M" --temp 0 -n $N --ctx 256 --threads 1)

# What follows the echoed prompt in `l4lm run`-style output ($1: a file).
continuation() {
    local out
    out=$(cat "$1"; echo x)
    out=${out%x}
    out=${out%$'\n'}
    printf '%s' "${out#"$P"}"
}

"$B/l4lm" run "${opts[@]}" -p "$P" >"$tmp/full.out" 2>"$tmp/full.err" ||
    { echo "FAIL stop_rule: l4lm run: $(cat "$tmp/full.err")"; exit 1; }
full=$(continuation "$tmp/full.out"; echo x)
full=${full%x}
[ ${#full} -gt 40 ] || { echo "FAIL stop_rule: a short continuation: '$full'"; exit 1; }

# Stop strings: across tokens mid-text, at the start, a near miss, absent.
mid=${full:20:9}
start=${full:0:3}
near="${full:30:4}#"
declare -A stops=([mid]="$mid" [start]="$start" [near]="$near" [absent]="qqqzzz")

"$B/l4lm" serve -m "$M" --port 0 --ctx 256 --threads 1 2>"$tmp/http.log" &
pids+=($!)
"$B/l4lm" serve-shm -m "$M" --ctx 256 --socket "$tmp/shm.sock" 2>"$tmp/shm.log" &
pids+=($!)
url=
for _ in $(seq 100); do
    url=$(grep -so 'http://127.0.0.1:[0-9]*' "$tmp/http.log" | head -1)
    [ -n "$url" ] && curl -fs "$url/health" >/dev/null && [ -S "$tmp/shm.sock" ] && break
    url=
    sleep 0.1
done
[ -n "$url" ] || { echo "FAIL stop_rule: the servers did not start: $(cat "$tmp"/*.log)"; exit 1; }

http_text() { # stop string -> the completion's text
    python3 -c 'import json,sys; print(json.dumps({"prompt": sys.argv[1], "max_tokens": int(sys.argv[2]),
        "temperature": 0, "stop": [sys.argv[3]]}))' "$P" $N "$1" >"$tmp/req.json"
    curl -fs "$url/v1/completions" -H 'Content-Type: application/json' -d @"$tmp/req.json" |
        python3 -c 'import json,sys; c=json.load(sys.stdin)["choices"][0]; sys.stdout.write(c["text"] + "\n" + c["finish_reason"])'
}

for name in mid start near absent; do
    s=${stops[$name]}
    want=${full%%"$s"*} # the text before the first occurrence (all of it if none)
    "$B/l4lm" run "${opts[@]}" -p "$P" --stop "$s" >"$tmp/run.out" 2>"$tmp/run.err"
    run=$(continuation "$tmp/run.out"; echo x)
    run=${run%x}
    "$B/l4lm" client --socket "$tmp/shm.sock" -p "$P" --temp 0 -n $N --stop "$s" \
        >"$tmp/shm.out" 2>"$tmp/shm.err"
    shm=$(continuation "$tmp/shm.out"; echo x)
    shm=${shm%x}
    http=$(http_text "$s"; echo x)
    http=${http%x}
    finish=${http##*$'\n'}
    http=${http%$'\n'*}
    want_finish=length
    [ "$want" != "$full" ] && want_finish=stop
    if [ "$run" == "$want" ] && [ "$shm" == "$want" ] && [ "$http" == "$want" ] &&
        [ "$finish" == "$want_finish" ]; then
        echo "ok stop_rule_$name (${#want} of ${#full} bytes, $want_finish)"
    else
        echo "FAIL stop_rule_$name: stop '$s': want '$want' ($want_finish); run '$run'; shm '$shm'; http '$http' ($finish)"
    fi
done
