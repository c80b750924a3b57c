# tests/llamacpp/common.sh — sourced by tests/llamacpp*.sh: installs the
# pinned node-llama-cpp once, makes a scratch directory, and defines run_case,
# which writes a random-weight model with $BUILD/tools/mkgguf and compares
# l4lm's greedy tokens and top-5 logits with llama.cpp's on it. A sourcing
# script declares its own `shapes` (name -> mkgguf options) first.
dir=tests/llamacpp
B=${BUILD:-build} # the build under test (another build directory may be given)

skip_all() { echo "skip llamacpp: $1"; exit 0; }
command -v node >/dev/null || skip_all "node not installed"
command -v npm >/dev/null || skip_all "npm not installed"

# Install once, exactly the locked versions. When `npm ci` fails its own
# errors are shown and every case is skipped (no fallback that could install
# something else). The lock lists all of node-llama-cpp's optional platform
# packages (.npmrc omits them from installs): without them `npm ci` refuses it.
if [ ! -d "$dir/node_modules/node-llama-cpp" ]; then
    if ! log=$(cd "$dir" && npm ci 2>&1); then
        printf '%s\n' "$log" | grep 'npm error' | sed '/npm error Usage:/,$d' | head -20 >&2
        skip_all "npm ci failed in $dir (its errors are above)"
    fi
fi

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

# l4lm and its tool must be built.
[ -x "$B"/tools/mkgguf ] || { echo "FAIL llamacpp: $B/tools/mkgguf missing (run make)"; exit 1; }
[ -x "$B"/l4lm ] || { echo "FAIL llamacpp: $B/l4lm missing (run make)"; exit 1; }
if "$B"/l4lm logits 2>&1 | grep -q "unknown command"; then
    skip_all "$B/l4lm has no 'logits' subcommand yet"
fi

tol_of() { # weight type, KV type
    case $1 in
    f32) [ "$2" = f32 ] && echo 1e-3 || echo 2e-2 ;;
    f16) echo 2e-2 ;;
    bf16) echo 1e-1 ;;
    *) echo 3e-1 ;;
    esac
}
ids="1 300 451 602 753 904 315 517"
n_gen=32

run_case() { # shape name, weight type (lq-FTYPE: llama-quantize's mix), KV type
    local name="llamacpp_$1_$2" model="$tmp/$1-$2.gguf" type=(--type "$2")
    [ "$3" = f32 ] || name="${name}_kv$3"
    [ "${2#lq-}" = "$2" ] || type=(--ftype "${2#lq-}")
    # shellcheck disable=SC2086 # the shape options are meant to split
    if ! "$B"/tools/mkgguf -o "$model" "${type[@]}" ${shapes[$1]} 2>"$tmp/err"; then
        echo "FAIL $name: mkgguf: $(cat "$tmp/err")"
    elif ! nice node "$dir/ref.mjs" "$model" "$ids" $n_gen --ctx 256 --kv "$3" --fa off \
        --one-by-one >"$tmp/ref.json" 2>"$tmp/err"; then
        echo "FAIL $name: llama.cpp (ref.mjs): $(head -c 300 "$tmp/err")"
    else
        nice node "$dir/compare.mjs" "$name" "$tmp/ref.json" "$(tol_of "$2" "$3")" \
            "$B"/l4lm logits -m "$model" --ctx 256 --kv "$3"
    fi
    rm -f "$model"
}

