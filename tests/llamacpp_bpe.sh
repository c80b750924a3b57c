#!/usr/bin/env bash
# tests/llamacpp_bpe.sh — l4lm's tokenizer against llama.cpp's (node-llama-cpp
# 3.22.1) on every vocabulary of ../shared/vocab: byte-level BPE (GPT-2,
# Llama 3, Qwen2) and SentencePiece (Llama 2, Phi-3). For each, mkgguf writes
# a tiny model carrying the vocabulary, and one long text — the llama.cpp
# tokenizer vectors, then seeded random text over many scripts, digits,
# contractions, every kind of space, and special-token texts — is tokenized
# by `l4lm tokenize` and by llama.cpp (tests/llamacpp/chat_tokens.mjs), both
# with the vocabulary's BOS:
#   tok_NAME_special: special tokens parsed (--special / parse_special);
#   tok_NAME_plain:   special-token text as plain text.
cd "$(dirname "$0")/.." || exit 1
shared=${L4LM_SHARED:-../shared}
[ -d "$shared/vocab" ] || { echo "skip llamacpp_bpe: $shared/vocab absent"; exit 0; }
command -v python3 >/dev/null || { echo "skip llamacpp_bpe: python3 absent"; exit 0; }
. tests/llamacpp/common.sh

# The text: valid UTF-8 only (node reads the file as UTF-8 and would replace bad bytes).
python3 - "$shared/vocab/ggml-vocab-qwen2.gguf.inp" >"$tmp/text" <<'PY'
import random, sys
inp = open(sys.argv[1], encoding="utf-8").read().replace("\n__ggml_vocab_test__\n", "\n")
parts = [" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n ", "'s", "'S", "'ll", "'LL", "'re", "'ve",
         "'m", "'d", "'T", "'", "0", "7", "42", "1234567", "3.14", "\u0663\u0664", "\uff17",
         "Hello", "world", "Th", "e", "\u00e9t\u00e9", "e\u0301", "\u00c4pfel", "\u0436\u0443\u043a",
         "\u4f60\u597d", "\u3053\u3093\u306b\u3061\u306f", "\ud55c\uad6d\uc5b4", "\u0939\u093f\u0928\u094d\u0926\u0940",
         "\u05e9\u05dc\u05d5\u05dd", "\u03a9\u03bc\u03b5\u03b3\u03b1", "\u00a0", "\u3000", "\u2028",
         "\u0085", "\u000b", "\u000c", "\U0001f999", "\U0001f469\u200d\U0001f4bb", "\u2705", "...",
         "!!", "?", "(", ")", "[", "]", "{", "}", "<", ">", "/", "\\", "#", "$", "%", "_", "-", "--",
         "=", "+", "*", "`", "~", "^", "|", "\"", ",", ";", ":", "\u201c", "\u201d", "\u2014",
         "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|begin_of_text|>", "<|eot_id|>",
         "<|start_header_id|>", "<s>", "</s>", "<unk>", "<|end|>", "<|assistant|>", "[PAD151650]",
         "<|reserved_special_token_5|>", "<|im_start", "im_end|>"]
random.seed(20261125)
words = [random.choice(parts) for _ in range(6000)]
sys.stdout.write(inp + "".join(words))
PY

# phi-3-named: the same vocabulary in a model named like Phi-3, which llama.cpp
# recognises by name to drop the whitespace after special tokens.
for case in gpt-2 llama-bpe qwen2 llama-spm phi-3 phi-3-named; do
    vocab=${case%-named}
    model="$tmp/$case.gguf"
    if ! "$B"/tools/mkgguf -o "$model" --type f32 --n-embd 32 --n-ff 64 --n-layer 1 --n-head 2 \
        --ctx 8192 --vocab-from "$shared/vocab/ggml-vocab-$vocab.gguf" 2>"$tmp/err"; then
        echo "FAIL tok_$case: mkgguf: $(head -c 300 "$tmp/err")"
        continue
    fi
    if [ "$case" != "$vocab" ] && ! python3 - "$model" <<'PY'
import sys  # general.name, same length: "l4lm random weights" -> "Phi3 random weights"
b = open(sys.argv[1], "rb").read()
assert b.count(b"l4lm random weights") == 1
open(sys.argv[1], "wb").write(b.replace(b"l4lm random weights", b"Phi3 random weights"))
PY
    then
        echo "FAIL tok_$case: cannot rename the model"
        continue
    fi
    if ! nice node "$dir/chat_tokens.mjs" "$model" "$tmp/text" >"$tmp/ref" 2>"$tmp/err"; then
        echo "FAIL tok_$case: llama.cpp: $(head -c 300 "$tmp/err")"
        continue
    fi
    for mode in special plain; do
        flag=; line=2
        [ $mode = special ] && flag=--special && line=1
        # shellcheck disable=SC2086 # an empty flag is no argument
        "$B"/l4lm tokenize -m "$model" $flag -f "$tmp/text" >"$tmp/ours" 2>"$tmp/err"
        sed -n ${line}p "$tmp/ref" >"$tmp/want"
        n=$(wc -w <"$tmp/want")
        if cmp -s "$tmp/ours" "$tmp/want"; then
            echo "ok tok_${case}_$mode ($n tokens)"
        else
            first=$(paste -d' ' <(tr ' ' '\n' <"$tmp/ours") <(tr ' ' '\n' <"$tmp/want") |
                awk '$1 != $2 {print NR - 1 ": l4lm " $1 ", llama.cpp " $2; exit}')
            echo "FAIL tok_${case}_$mode: first difference at token ${first:-?} (of $n)"
        fi
    done
    rm -f "$model"
done
