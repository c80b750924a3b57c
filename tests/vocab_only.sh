#!/usr/bin/env bash
# vocab_only.sh — llama.cpp's vocabulary-only GGUF files (ggml-vocab-*.gguf:
# the tokenizer metadata, no tensors) through the CLI: `l4lm tokenize -m`
# gives llama.cpp's ids for the test texts of its test-tokenizer-0 (the
# .inp/.out vectors beside them: add_special and parse_special off, so
# --no-bos and no --special); `l4lm info` says there are no weights; run,
# chat, logits and serve refuse the file with exit status 1 and say why.
# Every text of the SentencePiece vocabularies is checked, every fifth of
# the byte-level BPE ones (their tables take ~0.5 s to build per call;
# test_tokenizer and llamacpp_bpe.sh check all of them in-process).
cd "$(dirname "$0")/.." || exit 1
L=build/l4lm
V=${L4LM_SHARED:-../shared}/vocab
[ -x "$L" ] || { echo "FAIL vocab_only: $L is missing (run make first)"; exit 1; }
[ -d "$V" ] || { echo "skip vocab_only: $V absent"; exit 0; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Split X.gguf.inp on its separator into $tmp/X/N.txt, .out into N.ids.
split_vectors() { # vocab name
    python3 - "$V/ggml-vocab-$1.gguf" "$tmp/$1" <<'PY'
import os, sys
src, dst = sys.argv[1], sys.argv[2]
os.makedirs(dst)
texts = open(src + ".inp", "rb").read().split(b"\n__ggml_vocab_test__\n")[:-1]
ids = open(src + ".out", encoding="utf-8").read().split("\n")
for i, t in enumerate(texts):
    open(f"{dst}/{i}.txt", "wb").write(t)
    open(f"{dst}/{i}.ids", "w").write(" ".join(ids[i].split()) + "\n")
PY
}

for v in llama-spm phi-3 gpt-2 llama-bpe qwen2; do
    gguf=$V/ggml-vocab-$v.gguf
    if ! split_vectors "$v"; then
        echo "FAIL vocab_only_$v: cannot read the .inp/.out vectors"
        continue
    fi
    step=1
    case $v in gpt-2 | llama-bpe | qwen2) step=5 ;; esac
    ok=0 bad=0
    for ((i = 0; ; i += step)); do
        [ -f "$tmp/$v/$i.txt" ] || break
        "$L" tokenize -m "$gguf" --no-bos -f "$tmp/$v/$i.txt" >"$tmp/got" 2>"$tmp/err"
        if cmp -s "$tmp/got" "$tmp/$v/$i.ids"; then
            ok=$((ok + 1))
        else
            bad=$((bad + 1))
            [ $bad -le 3 ] && echo "  $v text $i: got '$(head -c 200 "$tmp/got" "$tmp/err")'," \
                "llama.cpp '$(cat "$tmp/$v/$i.ids")'"
        fi
    done
    if [ $bad -eq 0 ] && [ $ok -gt 0 ]; then
        echo "ok vocab_only_tokenize_$v: $ok texts as llama.cpp"
    else
        echo "FAIL vocab_only_tokenize_$v: $bad of $((ok + bad)) texts differ from llama.cpp"
    fi
done

gguf=$V/ggml-vocab-llama-spm.gguf
if "$L" info -m "$gguf" >"$tmp/info" 2>&1 && grep -q "vocabulary only, no weights" "$tmp/info" &&
    grep -q "^n_vocab *32000" "$tmp/info"; then
    echo "ok vocab_only_info"
else
    echo "FAIL vocab_only_info: $(head -c 300 "$tmp/info")"
fi
for cmd in run chat logits serve; do
    timeout 20 "$L" $cmd -m "$gguf" -p "Hello" </dev/null >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if [ $rc -eq 1 ] && grep -q "has no weights" "$tmp/err" && ! grep -qi "missing tensor" "$tmp/err"; then
        echo "ok vocab_only_refused_$cmd"
    else
        echo "FAIL vocab_only_refused_$cmd: status $rc, $(head -c 300 "$tmp/err")"
    fi
done
