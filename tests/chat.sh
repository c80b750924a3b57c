#!/usr/bin/env bash
# tests/chat.sh — `l4lm chat` on stories260K (no chat template: ChatML, as
# llama.cpp falls back to). Two user turns are piped in at temperature 0; each
# answer must equal what a single-shot `l4lm run` of the whole conversation
# rendered by hand (ChatML, written out here) continues with — so the second
# answer proves that the KV cache kept from the first turn is right.
cd "$(dirname "$0")/.." || exit 1
B=${BUILD:-build}
M=${L4LM_SHARED:-../shared}/models/stories260K.gguf
[ -f "$M" ] || { echo "skip chat: $M absent"; exit 0; }
[ -x "$B/l4lm" ] || { echo "FAIL chat: $B/l4lm missing (run make)"; exit 1; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

opts=(-m "$M" --temp 0 -n 48 --ctx 512 --threads 1)
sys="You are a storyteller."
u1="Tell me a story about a cat."
u2="What did the cat do next?"

# The continuation `l4lm run` gives for prompt $1 (it echoes the prompt first).
run_answer() {
    printf '%s' "$1" >"$tmp/prompt"
    "$B"/l4lm run "${opts[@]}" -f "$tmp/prompt" >"$tmp/run.out" 2>"$tmp/run.err" || return 1
    local out
    out=$(cat "$tmp/run.out"; echo x) # keep trailing newlines
    out=${out%x}
    out=${out%$'\n'} # run ends with a newline of its own
    [ "${out#"$1"}" != "$out" ] || return 1
    printf '%s' "${out#"$1"}"
}

p1="<|im_start|>system
$sys<|im_end|>
<|im_start|>user
$u1<|im_end|>
<|im_start|>assistant
"
a1=$(run_answer "$p1"; echo x) || { echo "FAIL chat: l4lm run: $(cat "$tmp/run.err")"; exit 1; }
a1=${a1%x}
p2="$p1$a1<|im_end|>
<|im_start|>user
$u2<|im_end|>
<|im_start|>assistant
"
a2=$(run_answer "$p2"; echo x) || { echo "FAIL chat: l4lm run: $(cat "$tmp/run.err")"; exit 1; }
a2=${a2%x}

printf '%s\n%s\n' "$u1" "$u2" | "$B"/l4lm chat "${opts[@]}" --system "$sys" >"$tmp/chat.out" 2>"$tmp/chat.err"
rc=$?
printf '%s\n%s\n' "$a1" "$a2" >"$tmp/expect"
if [ $rc -ne 0 ]; then
    echo "FAIL chat_two_turns: exit $rc: $(cat "$tmp/chat.err")"
elif [ -z "$a1" ] || [ -z "$a2" ]; then
    echo "FAIL chat_two_turns: an empty answer from l4lm run"
elif cmp -s "$tmp/chat.out" "$tmp/expect"; then
    echo "ok chat_two_turns"
else
    echo "FAIL chat_two_turns: answers differ from single-shot runs:"
    diff "$tmp/chat.out" "$tmp/expect" | head -20
fi
grep -q "chat template chatml" "$tmp/chat.err" && echo "ok chat_template_fallback" ||
    echo "FAIL chat_template_fallback: $(head -c 300 "$tmp/chat.err")"

# A context too small for the conversation: a clear message and status 1, no crash.
printf '%s\n%s\n' "$u1" "$u2" | "$B"/l4lm chat "${opts[@]}" --ctx 40 >"$tmp/full.out" 2>"$tmp/full.err"
rc=$?
if [ $rc -eq 1 ] && grep -q "context" "$tmp/full.err"; then
    echo "ok chat_context_full"
else
    echo "FAIL chat_context_full: exit $rc: $(head -c 300 "$tmp/full.err")"
fi

# An empty input is no conversation, and not an error.
if "$B"/l4lm chat "${opts[@]}" </dev/null >"$tmp/empty.out" 2>"$tmp/empty.err" && [ ! -s "$tmp/empty.out" ]; then
    echo "ok chat_empty_input"
else
    echo "FAIL chat_empty_input: $(head -c 300 "$tmp/empty.out" "$tmp/empty.err")"
fi
