#!/usr/bin/env bash
# gateway.sh — `l4lm gateway` on loopback: a shared-memory client gets
# through the gateway the same token ids and text as straight from
# `l4lm serve-shm` (the upstream is `l4lm serve` when the build has it, else
# tests/gateway/fake_upstream.mjs replaying the direct answer), and every
# upstream failure becomes an error status in bounded time: HTTP 500, a
# broken event, an upstream that never answers (idle timeout), one killed
# mid-stream, one not listening. A second client is served while the first
# waits on a silent upstream, and a cancel aborts the upstream request.
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
bin=$BUILD/l4lm
model=../shared/models/stories260K.gguf
[ -f "$model" ] || { echo "skip gateway: $model is absent"; exit 0; }
command -v node >/dev/null || { echo "skip gateway: node is absent"; exit 0; }
. tests/servers.bash # $tmp, $pids and their clean-up

PROMPT="Once upon a time"
ARGS=(-n 40 --temp 0.8 --top-k 20 --seed 42)
TIMEOUT_MS=2000

ms() { echo $(($(date +%s%N) / 1000000)); }
# Wait for a file to appear (a socket or a port file), up to 10 s.
await() { for _ in $(seq 100); do [ -e "$1" ] && return 0; sleep 0.1; done; return 1; }
# Run a client; its stdout, stderr and exit status go to $tmp/NAME.{out,err,rc}.
client() {
    local name=$1 sock=$2; shift 2
    "$bin" client --socket "$sock" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
    echo $? >"$tmp/$name.rc"
}
# check NAME CONDITION-COMMAND... : ok or FAIL with the client's stderr.
check() {
    local name=$1; shift
    sed 's/^/  /' "$tmp/$name.err" 2>/dev/null
    if "$@"; then echo "ok $name"; else echo "FAIL $name: $(tr '\n' ' ' <"$tmp/$name.err" 2>/dev/null)"; fi
}
status_is() { grep -q "^l4lm: $2" "$tmp/$1.err" && [ "$(cat "$tmp/$1.rc")" = "$3" ]; }

# ---- straight from serve-shm ----
"$bin" serve-shm -m "$model" --ctx 512 --socket "$tmp/direct.sock" 2>"$tmp/direct.log" &
pids+=($!)
await "$tmp/direct.sock" || { echo "FAIL gateway: serve-shm did not start"; exit 0; }
client direct "$tmp/direct.sock" -p "$PROMPT" "${ARGS[@]}"
client direct_ids "$tmp/direct.sock" -p "$PROMPT" "${ARGS[@]}" --print-ids
grep -q "^l4lm: length" "$tmp/direct.err" || { echo "FAIL gateway: direct run: $(cat "$tmp/direct.err")"; exit 0; }

# ---- the upstream: l4lm serve if built, else the fake replaying the direct answer ----
node -e '
const fs = require("fs"), [p, out, ids, ans] = process.argv.slice(1);
let text = fs.readFileSync(out, "utf8");
text = text.slice(p.length, text.length - 1); // the client echoes the prompt and ends with a newline
fs.writeFileSync(ans, JSON.stringify({ prompt: p, max_tokens: 40, seed: 42, finish: "length",
    ids: fs.readFileSync(ids, "utf8").trim().split(" ").map(Number), text }));
' "$PROMPT" "$tmp/direct.out" "$tmp/direct_ids.out" "$tmp/answer.json"
# Started from a subshell so its SIGKILL later is not reported as a job of ours.
(node tests/gateway/fake_upstream.mjs "$tmp/port" "$tmp/answer.json" "$tmp/fake.log" &
    echo $! >"$tmp/fake.pid")
fake=$(cat "$tmp/fake.pid")
pids+=($fake)
await "$tmp/port" || { echo "FAIL gateway: the fake upstream did not start"; exit 0; }
upstream=http://127.0.0.1:$(cat "$tmp/port")
if timeout 5 "$bin" serve --help 2>&1 | grep -q -- --port; then
    port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
    "$bin" serve -m "$model" --ctx 512 --port "$port" 2>"$tmp/serve.log" &
    pids+=($!)
    for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
    same_upstream=http://127.0.0.1:$port
    echo "  same-answer upstream: l4lm serve"
else
    same_upstream=$upstream
    echo "  same-answer upstream: the fake (l4lm serve is not in this build)"
fi

"$bin" gateway --shm "$tmp/gw.sock" --upstream "$same_upstream" --timeout-ms "$TIMEOUT_MS" \
    2>"$tmp/gw.log" &
pids+=($!)
"$bin" gateway --shm "$tmp/fail.sock" --upstream "$upstream" --timeout-ms "$TIMEOUT_MS" \
    --clients 4 2>"$tmp/gwf.log" &
gwf=$!
pids+=($gwf)
await "$tmp/gw.sock" && await "$tmp/fail.sock" || { echo "FAIL gateway: gateway did not start"; exit 0; }

client same "$tmp/gw.sock" -p "$PROMPT" "${ARGS[@]}"
client same_ids "$tmp/gw.sock" -p "$PROMPT" "${ARGS[@]}" --print-ids
check same cmp -s "$tmp/direct.out" "$tmp/same.out"
if [ "$same_upstream" != "$upstream" ] && grep -qw -- -1 "$tmp/same_ids.out"; then
    echo "skip same_ids: l4lm serve sends no token ids (choices[0].tokens) in its stream"
else
    check same_ids cmp -s "$tmp/direct_ids.out" "$tmp/same_ids.out"
fi
check same_status status_is same "length" 0

# ---- failures become error statuses, quickly ----
t0=$(ms); client http500 "$tmp/fail.sock" -p "x #http500" -n 5; t=$(($(ms) - t0))
check http500 eval 'status_is http500 "upstream: upstream HTTP 500: the fake is broken" 1 && [ $t -lt 1000 ]'
client badjson "$tmp/fail.sock" -p "x #badjson" -n 5
check badjson status_is badjson "upstream: upstream sent a broken event" 1

t0=$(ms); client hang "$tmp/fail.sock" -p "x #hang" -n 5; t=$(($(ms) - t0))
echo "  silent upstream: timeout status after $t ms (--timeout-ms $TIMEOUT_MS)"
check hang eval 'status_is hang "timeout" 1 && [ $t -ge $TIMEOUT_MS ] && [ $t -lt $((TIMEOUT_MS + 1500)) ]'

# A second client is served while the first waits on the silent upstream.
client waiting "$tmp/fail.sock" -p "y #hang" -n 5 &
waiting=$!
sleep 0.3
t0=$(ms); client second "$tmp/fail.sock" -p "$PROMPT" "${ARGS[@]}"; t=$(($(ms) - t0))
echo "  second client: done in $t ms while the first waits"
check second eval 'cmp -s "$tmp/direct.out" "$tmp/second.out" && kill -0 $waiting 2>/dev/null'
wait $waiting
check waiting status_is waiting "timeout" 1

# Cancel after one token: the client gets "cancelled" and the upstream request is dropped.
: >"$tmp/fake.log"
client cancel "$tmp/fail.sock" -p "z #slow" -n 40 --cancel-after 1
for _ in $(seq 20); do grep -q aborted "$tmp/fake.log" && break; sleep 0.1; done
check cancel eval 'status_is cancel "cancelled" 0 && grep -q aborted "$tmp/fake.log"'

# Killed mid-stream (the fake SIGKILLs itself after two chunks).
t0=$(ms); client die "$tmp/fail.sock" -p "w #die" -n 40; t=$(($(ms) - t0))
echo "  upstream killed mid-stream: error after $t ms"
check die eval 'status_is die "upstream: upstream stream broken" 1 && [ $t -lt $TIMEOUT_MS ] && [ $(wc -w <"$tmp/die.out") -ge 1 ]'

# Not listening: the fake is dead now, so its port refuses connections.
t0=$(ms); client refused "$tmp/fail.sock" -p "$PROMPT" -n 5; t=$(($(ms) - t0))
check refused eval 'status_is refused "upstream: cannot connect to the upstream" 1 && [ $t -lt 1000 ]'

# The gateway survived all of it and exits cleanly on SIGTERM.
kill -TERM $gwf
wait $gwf
rc=$?
check gateway_exit eval '[ $rc -eq 0 ]'
