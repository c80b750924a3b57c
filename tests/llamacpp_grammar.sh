#!/usr/bin/env bash
# llamacpp_grammar.sh — l4lm's GBNF matcher against llama.cpp's: the grammars
# of tests/llamacpp/grammar (NAME.gbnf, and NAME.schema.json turned into GBNF
# by l4lm's JSON-Schema converter, the same text then going to both) and
# their strings (NAME.txt, NAME.schema.txt: accepted, rejected, prefixes).
# llama.cpp answers through node-llama-cpp's grammar evaluation state, fed
# stories260K's byte tokens (tests/llamacpp/grammar.mjs); l4lm through
# tools/grammar_verdict. Every string must get the same verdict from both:
# accept, prefix (more must follow) or reject at the same byte, or both
# refuse the grammar ("error"); NAME.known lists the exceptions, each with
# why, and each must still occur.
cd "$(dirname "$0")/.." || exit 1

# shellcheck source=tests/llamacpp/common.sh
. tests/llamacpp/common.sh

m=../shared/models/stories260K.gguf
[ -f "$m" ] || skip_all "$m absent"
[ -x "$B"/tools/grammar_verdict ] || { echo "FAIL llamacpp_grammar: $B/tools/grammar_verdict missing (run make)"; exit 1; }

g=$dir/grammar names=() jobs=()
for f in "$g"/*.gbnf "$g"/*.schema.json; do
    name=$(basename "${f%.gbnf}" .json)
    if [[ $f == *.json ]] && ! "$B"/tools/grammar_verdict --schema "$f" >"$tmp/$name.gbnf" 2>"$tmp/err"; then
        echo "FAIL llamacpp_grammar_$name: the schema does not convert: $(cat "$tmp/err")"
        continue
    fi
    [[ $f == *.json ]] || cp "$f" "$tmp/$name.gbnf"
    names+=("$name")
    jobs+=("$tmp/$name.gbnf" "$g/$name.txt" "$tmp/$name.ref")
done
if ! nice node "$dir/grammar.mjs" "$m" "${jobs[@]}" 2>"$tmp/err"; then
    echo "FAIL llamacpp_grammar: llama.cpp (grammar.mjs): $(head -c 300 "$tmp/err")"
    exit 0
fi
for name in "${names[@]}"; do
    label="llamacpp_grammar_$name"
    if ! "$B"/tools/grammar_verdict "$tmp/$name.gbnf" "$g/$name.txt" >"$tmp/$name.got" 2>"$tmp/err"; then
        echo "FAIL $label: l4lm: $(cat "$tmp/err")"
    else
        # verdict pairs, then the strings on which they differ that NAME.known
        # does not list (its lines: llama.cpp's verdict, l4lm's, the string)
        paste -d '\t' "$tmp/$name.ref" "$tmp/$name.got" <(grep -v '^$' "$g/$name.txt") >"$tmp/pairs"
        known=$g/$name.known
        [ -f "$known" ] || known=/dev/null
        diff=$(awk -F '\t' 'FILENAME == ARGV[1] { if ($0 !~ /^#/) k[$0] = 1; next }
            $1 != $2 { if ($0 in k) { n++; delete k[$0] } else { print "\"" $3 "\": llama.cpp " $1 ", l4lm " $2; exit } }
            END { for (x in k) { print "known difference gone: " x; exit } }' "$known" "$tmp/pairs")
        n_known=$(grep -vc '^#' "$known")
        note=
        [ "$n_known" -gt 0 ] && note=", and the $n_known known differences of $(basename "$known")"
        counts=$(cut -d' ' -f1 "$tmp/$name.ref" | sort | uniq -c | awk '{ printf "%s%s %s", sep, $1, $2; sep = ", " }')
        if [ "$(wc -l <"$tmp/$name.ref")" != "$(wc -l <"$tmp/$name.got")" ]; then
            echo "FAIL $label: the verdicts differ in number"
        elif [ -n "$diff" ]; then
            echo "FAIL $label: $diff"
        else
            echo "ok $label: the same verdicts on $(wc -l <"$tmp/$name.ref") strings ($counts)$note"
        fi
    fi
done
