#!/usr/bin/env bash
# llamacpp_offline.sh — l4lm against llama.cpp's stored numbers, without node:
# for each tests/fixtures/llamacpp/*.txt (qwen2, qwen3, phi3, exaone, gemma,
# gemma2, gemma3; written by tests/llamacpp/capture.sh from the models the
# node scripts tests/llamacpp*.sh check) the model is rebuilt with
# $BUILD/tools/mkgguf (deterministic: same options, same bytes), decoded by
# `l4lm logits` from the same 8 ids, and judged by tests/llamacpp/compare.mjs's
# rules with the fixture's tolerance (the node scripts' for that type):
#  * an id in both top-5 lists: |logit difference| <= tol;
#  * an id in one list only: at most tol above the other list's 5th logit;
#  * equal greedy tokens, or a near-tie (l4lm's choice within tol of
#    llama.cpp's best in llama.cpp's logits), after which l4lm restarts on
#    llama.cpp's tokens so far, so every step is compared at the same history.
cd "$(dirname "$0")/.." || exit 1
B=${BUILD:-build}
fix=tests/fixtures/llamacpp
for t in "$B"/l4lm "$B"/tools/mkgguf; do
    [ -x "$t" ] || { echo "FAIL llamacpp_offline: $t missing (run make)"; exit 1; }
done
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

field() { # fixture, key: the rest of the line that starts with key
    sed -n "s/^$2 //p" "$1" | head -1
}

# Judges l4lm's steps (stdin, numbered from 0) as the fixture's steps k0, k0+1,
# ... Prints "FAIL why", "sync K WORST AT" (a near-tie: resume l4lm at step K)
# or "done WORST AT"; WORST/AT carry the largest |dlogit| so far and its step.
judge='
function top(line, ids, ls,   n, i, p) {
    n = split(line, p, " ")
    for (i = 6; i <= n; i++) { split(p[i], q, ":"); ids[i - 5] = q[1]; ls[i - 5] = q[2] + 0 }
    return n - 5
}
function fail(msg) { print "FAIL step " k ": " msg; done = 1; exit }
FNR == NR { if ($1 == "step") ref[$2] = $0; nref = $2 + 1; next }
done || $1 != "step" { next }
{
    k = k0 + $2
    if ($2 != seen++) fail("l4lm steps out of order")
    na = top(ref[k], aid, al); nb = top($0, bid, bl)
    if (na != 5 || nb != 5) fail("not five logits")
    delete inb; delete ina
    for (i = 1; i <= 5; i++) { inb[bid[i]] = bl[i]; ina[aid[i]] = al[i] }
    d = 0
    for (i = 1; i <= 5; i++) if (aid[i] in inb) {
        x = al[i] - inb[aid[i]]; if (x < 0) x = -x; if (x > d) d = x
    }
    for (i = 1; i <= 5; i++) {
        if (!(aid[i] in inb) && al[i] > bl[5] + tol) fail("id " aid[i] " in llama.cpp top-5 only, above l4lm 5th")
        if (!(bid[i] in ina) && bl[i] > al[5] + tol) fail("id " bid[i] " in l4lm top-5 only, above llama.cpp 5th")
    }
    if (d > tol) fail(sprintf("|dlogit| %.3e > tol %s", d, tol))
    if (d > worst) { worst = d; at = k }
    split(ref[k], r, " ")
    if ($4 == r[4]) next
    if (!($4 in ina) || al[1] - ina[$4] > tol)
        fail("l4lm chose " $4 ", llama.cpp " r[4] " (not a near-tie)")
    print "sync " k + 1, worst, at; done = 1; exit
}
END {
    if (done) exit
    if (k0 + seen != nref) { print "FAIL l4lm printed " seen " steps, expected " nref - k0; exit }
    print "done", worst, at
}'

check() { # fixture file
    local f=$1 name opts run tol prompt model gen n k=0 worst=0 at=0 ties=0 res
    name=llamacpp_offline_$(basename "$f" .txt)
    opts=$(field "$f" mkgguf) run=$(field "$f" l4lm) tol=$(field "$f" tol)
    prompt=$(field "$f" prompt) model=$tmp/m.gguf
    # shellcheck disable=SC2086 # the options are meant to split
    if ! "$B"/tools/mkgguf -o "$model" $opts >/dev/null 2>"$tmp/err"; then
        echo "FAIL $name: mkgguf: $(head -c 300 "$tmp/err")"; return
    fi
    read -ra gen <<<"$(awk '$1 == "step" { printf "%s ", $4 }' "$f")"
    n=${#gen[@]}
    while [ "$k" -lt "$n" ]; do
        # shellcheck disable=SC2086
        if ! "$B"/l4lm logits -m "$model" $run --ids "$prompt ${gen[*]:0:k}" -n $((n - k)) \
            >"$tmp/out" 2>"$tmp/err"; then
            res="FAIL l4lm: $(head -c 300 "$tmp/err")"; break
        fi
        res=$(awk -v k0="$k" -v tol="$tol" -v worst="$worst" -v at="$at" "$judge" "$f" "$tmp/out")
        case $res in
        sync*) read -r _ k worst at <<<"$res"; ties=$((ties + 1)) ;;
        *) break ;;
        esac
    done
    case $res in
    done*)
        read -r _ worst at <<<"$res"
        echo "ok $name: $((n - ties))/$n greedy tokens equal ($ties near-ties re-synced)," \
            "max |dlogit| $worst at step $at (tol $tol)" ;;
    *)
        # The model's bytes tell whether mkgguf (not the engine) changed.
        [ "$(sha256sum "$model" | cut -d' ' -f1)" = "$(field "$f" gguf_sha256)" ] ||
            res="$res (and mkgguf now writes other bytes than were captured: recapture with tests/llamacpp/capture.sh)"
        echo "FAIL $name: ${res#FAIL }" ;;
    esac
    rm -f "$model"
}

found=0
for f in "$fix"/*.txt; do
    [ -f "$f" ] || continue
    found=1
    check "$f"
done
[ "$found" = 1 ] || echo "FAIL llamacpp_offline: no fixtures in $fix"
