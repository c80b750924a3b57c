#!/usr/bin/env bash
# llama2c_export.sh — llama2.c's newer checkpoint layouts (export.py
# version 1, float32 with an "ak42" header; version 2, int8 groups as
# runq.c reads them), written from stories260K.bin by tools/l2c_export:
# version 1 must give the greedy ids of the llama2.c reference (run.c on the
# legacy file) for every golden prompt; version 2 the reference's first
# token on each, and it says how many of the 200 greedy ids agree.
cd "$(dirname "$0")/.." || exit 1
L=build/l4lm X=build/tools/l2c_export
S=${L4LM_SHARED:-../shared}
for f in "$L" "$X"; do
    [ -x "$f" ] || { echo "FAIL llama2c_export: $f is missing (run make all first)"; exit 1; }
done
[ -f "$S/models/stories260K.bin" ] || { echo "skip llama2c_export: $S/models absent"; exit 0; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# greedy FILE PROMPT: the 200 generated ids, one line
greedy() {
    "$L" logits -m "$1" -z "$S/models/tok512.bin" -p "$2" -n 200 --threads 1 2>"$tmp/err" |
        awk '$1 == "step" { printf "%s%s", sep, $4; sep = " " } END { print "" }'
}

# reference CASE: the prompt, then the llama2.c reference's generated ids
reference() {
    python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(d["prompt"]); print(" ".join(map(str, d["llama2c_fp32"]["generated_ids"])))' "$1"
}

"$X" "$S/models/stories260K.bin" "$tmp/v1.bin" 1 2>/dev/null ||
    echo "FAIL llama2c_export_v1_write: l2c_export failed"
"$X" "$S/models/stories260K.bin" "$tmp/v2.bin" 2 64 2>/dev/null ||
    echo "FAIL llama2c_export_v2_write: l2c_export failed"

for ref in "$S"/reference/*.json; do
    name=$(basename "$ref" .json)
    { read -r prompt; read -r want; } < <(reference "$ref")
    got=$(greedy "$tmp/v1.bin" "$prompt")
    if [ -n "$got" ] && [ "$got" = "$want" ]; then
        echo "ok llama2c_export_v1_$name: 200 greedy ids as llama2.c"
    else
        echo "FAIL llama2c_export_v1_$name: got '${got:0:80}' $(head -c 200 "$tmp/err")"
    fi
    got=$(greedy "$tmp/v2.bin" "$prompt")
    same=$(paste -d' ' <(tr ' ' '\n' <<<"$got") <(tr ' ' '\n' <<<"$want") | awk '$1 == $2 { n++ } END { print n + 0 }')
    if [ -n "$got" ] && [ "${got%% *}" = "${want%% *}" ]; then
        echo "ok llama2c_export_v2_$name: the same first token; $same of 200 greedy ids agree"
    else
        echo "FAIL llama2c_export_v2_$name: first token '${got%% *}', not '${want%% *}' $(head -c 200 "$tmp/err")"
    fi
done

# a group size that does not divide the tensors, and a later version: refused by name
python3 - "$tmp/v2.bin" "$tmp/gs7.bin" "$tmp/v3.bin" <<'PY'
import struct, sys
b = bytearray(open(sys.argv[1], "rb").read())
open(sys.argv[2], "wb").write(b[:37] + struct.pack("<i", 7) + b[41:])
open(sys.argv[3], "wb").write(b[:4] + struct.pack("<i", 3) + b[8:])
PY
for c in "gs7:llama2.c export version 2 (int8, group size 7) is not supported" \
    "v3:llama2.c export version 3 is not supported"; do
    "$L" run -m "$tmp/${c%%:*}.bin" -z "$S/models/tok512.bin" -p hi >/dev/null 2>"$tmp/err"
    rc=$?
    if [ $rc -eq 1 ] && grep -qF "${c#*:}" "$tmp/err"; then
        echo "ok llama2c_export_refused_${c%%:*}"
    else
        echo "FAIL llama2c_export_refused_${c%%:*}: status $rc, $(head -c 300 "$tmp/err")"
    fi
done
