#!/usr/bin/env bash
# cli_help.sh — what a new user meets first: every command answers -h and
# --help with its usage on stdout and exit status 0; `l4lm --help` lists
# every command; usage errors exit 2 and runtime failures 1, in every
# command; a file that is no model, and a llama2.c checkpoint without its
# tokenizer, get messages that say what to do.
cd "$(dirname "$0")/.." || exit 1
L=build/l4lm
[ -x "$L" ] || { echo "FAIL cli_help: $L is missing (run make first)"; exit 1; }
COMMANDS="run chat info tokenize plan logits serve serve-shm client gateway"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# expect NAME WANT_STATUS WANT_TEXT STREAM -- l4lm arguments: the status,
# and WANT_TEXT (fixed string, may be empty) in stdout or stderr.
expect() {
    local name=$1 want=$2 text=$3 stream=$4; shift 5
    timeout 20 "$L" "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    if [ "$rc" -ne "$want" ]; then
        echo "FAIL $name: exit status $rc, not $want ($(head -c 300 "$tmp/err"))"
    elif [ -n "$text" ] && ! grep -qF -- "$text" "$tmp/$stream"; then
        echo "FAIL $name: no '$text' in $stream: $(head -c 300 "$tmp/$stream")"
    else
        echo "ok $name"
    fi
}

# ---- help ----
expect help_top 0 "usage: l4lm COMMAND" out -- --help
expect help_top_short 0 "usage: l4lm COMMAND" out -- -h
listed=$("$L" --help | awk '/^commands:/{f=1;next} f&&/^  [a-z]/{print $1} f&&!/^  /{f=0}' | sort | tr '\n' ' ')
want=$(tr ' ' '\n' <<<"$COMMANDS" | sort | tr '\n' ' ')
[ "$listed" = "$want" ] && echo "ok help_lists_every_command" ||
    echo "FAIL help_lists_every_command: lists '$listed', commands are '$want'"
"$L" --help | grep -A5 "^exit status:" | grep -q "^  2  usage error" && echo "ok help_exit_statuses" ||
    echo "FAIL help_exit_statuses: l4lm --help does not document the exit statuses"
for c in $COMMANDS; do
    expect "help_$c" 0 "usage: l4lm $c " out -- "$c" --help
    expect "help_short_$c" 0 "usage: l4lm $c " out -- "$c" -h
    [ -s "$tmp/err" ] && echo "FAIL help_quiet_$c: -h wrote to stderr: $(head -c 200 "$tmp/err")"
    # help wins wherever it stands among the options
    case $c in
    gateway) late="--clients 2" ;; client) late="--socket s" ;; *) late="-m x.gguf" ;;
    esac
    # shellcheck disable=SC2086
    expect "help_late_$c" 0 "usage: l4lm $c " out -- "$c" $late --help
    expect "bad_option_$c" 2 "--no-such-option" err -- "$c" --no-such-option 1
done
expect no_command 2 "usage: l4lm COMMAND" err --
expect unknown_command 2 "unknown command 'frob'" err -- frob
expect bad_number 2 "--temp takes a number" err -- run -m x.gguf --temp warm
expect missing_value 2 "missing value for '-n'" err -- run -m x.gguf -n
expect no_model 2 "give one with -m MODEL" err -- run -p hi
expect bad_kv 2 "--kv takes f16, f32 or q8_0" err -- plan -m x.gguf --kv f8
expect serve_shm_no_socket 2 "--socket PATH" err -- serve-shm -m x.gguf
expect gateway_no_upstream 2 "--upstream URL" err -- gateway --shm s

# ---- files that are not what a command needs: status 1 ----
nomodel="not a model file (expected GGUF or a llama2.c checkpoint)"
for c in info run plan; do
    expect "not_a_model_$c" 1 "$nomodel" err -- "$c" -m /etc/passwd -p hi
done
: >"$tmp/empty"
expect not_a_model_empty 1 "$nomodel" err -- info -m "$tmp/empty"
expect not_a_model_elf 1 "$nomodel" err -- info -m "$L"
expect no_such_file 1 "cannot open" err -- info -m "$tmp/none.gguf"
# A plausible llama2.c header beyond l4lm's limits keeps its own message:
# dim 2^17, hidden 4, 1 layer, 1 head, 1 kv head, vocab 32, seq_len 8.
printf '\x00\x00\x02\x00\x04\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x01\x00\x00\x00\x20\x00\x00\x00\x08\x00\x00\x00' >"$tmp/big.bin"
expect l2c_beyond_limits 1 "exceeds l4lm's limits" err -- info -m "$tmp/big.bin"
grep -qF "not a model" "$tmp/err" && echo "FAIL l2c_beyond_limits_is_a_model: told it is no model"

models=${L4LM_SHARED:-../shared}/models
if [ -f "$models/stories260K.bin" ] && [ -f "$models/tok512.bin" ]; then
    expect l2c_without_z 1 "pass it with -z tokenizer.bin" err -- run -m "$models/stories260K.bin" -p hi
    expect l2c_without_z_info 1 "-z tokenizer.bin" err -- info -m "$models/stories260K.bin"
    expect l2c_with_z 0 "llama2.c" out -- info -m "$models/stories260K.bin" -z "$models/tok512.bin"
    expect run_ok 0 "" out -- run -m "$models/stories260K.bin" -z "$models/tok512.bin" -p hi -n 4 --threads 1
else
    echo "skip cli_help_l2c: $models/stories260K.bin or tok512.bin is absent"
fi
vocab=${L4LM_SHARED:-../shared}/vocab/ggml-vocab-llama-spm.gguf
if [ -f "$vocab" ]; then # a vocabulary only: tokenize works, run says why it does not
    expect vocab_only_tokenize 0 "15043 3186" out -- tokenize -m "$vocab" -p "Hello world"
    expect vocab_only_run 1 "has no weights" err -- run -m "$vocab" -p hi
else
    echo "skip cli_help_vocab_only: $vocab is absent"
fi

# ---- the README documents the commands and the exit statuses ----
for c in $COMMANDS; do
    grep -q "^l4lm $c " README.md || echo "FAIL readme_$c: README's command list lacks l4lm $c"
done
grep -A5 "^exit status:" README.md | grep -q "^  2  usage error" && echo "ok readme_exit_statuses" ||
    echo "FAIL readme_exit_statuses: README does not document the exit statuses"
