# lib.sh — helpers shared by bench/bench.sh and bench/features.sh (sourced):
# model files made once by tools/mkgguf and reused, fixed prompt ids, medians.
# Expects $bin (where l4lm and tools/mkgguf are), $models and the run=(...)
# prefix (nice) to be set, and a die() function.
# shellcheck shell=bash disable=SC2154 # bin, models and run are the sourcing script's

# A file is reused when the stamp beside it holds the same recipe and size.
fresh() { # file recipe
    [ -f "$1" ] && [ -f "$1.stamp" ] && [ "$(cat "$1.stamp")" = "$2 $(stat -c %s "$1")" ]
}
stamp() { echo "$2 $(stat -c %s "$1")" >"$1.stamp"; }

# The TinyLlama-1.1B shape (random weights) with n_layer layers; the words
# and their order are part of the files' stamps (keep them).
tinyllama_shape() { # n_layer
    echo "--n-embd 2048 --n-ff 5632 --n-layer $1 --n-head 32 --n-head-kv 4 --n-vocab 32000 --ctx 2048 --untied --seed 1"
}

# mkgguf's TinyLlama-shaped file with n_layer layers, every matrix of type.
tinyllama_model() { # n_layer type -> prints the path
    local f="$models/tinyllama-L$1-$2.gguf" shape
    shape=$(tinyllama_shape "$1")
    local want="$shape --type $2"
    if ! fresh "$f" "$want"; then
        echo "bench: writing $f" >&2
        rm -f "$f.stamp"
        # shellcheck disable=SC2086 # the shape options are meant to split
        "${run[@]}" "$bin/tools/mkgguf" -o "$f" --type "$2" $shape >&2 || die "mkgguf failed for $2"
        stamp "$f" "$want"
    fi
    echo "$f"
}

# n fixed pseudo-random ids past the byte tokens (a small LCG, so awk's
# doubles compute it exactly).
lcg_ids() { # n n_vocab
    awk -v n="$1" -v v="$2" 'BEGIN {
        s = 1; for (i = 0; i < n; i++) { s = (s * 75 + 74) % 65537;
        printf "%s%d", i ? " " : "", 259 + s % (v - 259) } }'
}

# The median of the numbers on stdin, one a line.
median() {
    sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
