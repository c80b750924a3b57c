#!/usr/bin/env bash
# tests/llamacpp_chat.sh — chat templates against llama.cpp (node-llama-cpp
# 3.22.1). For each case mkgguf writes a tiny model with a real vocabulary
# (../shared/vocab) and a real chat template of a model family (tests/chat/,
# or the one the vocabulary file carries); then
#   chat_render_NAME: l4lm_chat_format's text of a two-turn conversation must
#     equal llama.cpp's llama_chat_apply_template's (tests/chat/compare.c);
#   chat_tokens_NAME: l4lm's tokens of that text (BOS, special tokens parsed)
#     must equal llama.cpp's (tests/llamacpp/chat_tokens.mjs). Skipped, with
#     the reason, while l4lm cannot tokenize the vocabulary or does not parse
#     special tokens yet.
# The families no fixture reaches are also checked by name (a template that
# is just "zephyr" selects it in llama.cpp as in l4lm), rendering only.
cd "$(dirname "$0")/.." || exit 1
shared=${L4LM_SHARED:-../shared}
[ -d "$shared/vocab" ] || { echo "skip llamacpp_chat: $shared/vocab absent"; exit 0; }
. tests/llamacpp/common.sh

lib=$(find "$dir/node_modules/@node-llama-cpp" -name 'libllama*.so*' 2>/dev/null | head -1)
[ -n "$lib" ] || skip_all "no prebuilt libllama in node-llama-cpp"
gcc -std=gnu11 -O1 -Iinclude -Isrc/core -Iplatform/posix tests/chat/compare.c \
    "$B"/libl4lm_posix.a "$B"/libl4lm.a -ldl -lm -lpthread -o "$tmp/compare" 2>"$tmp/err" ||
    { echo "FAIL llamacpp_chat: cannot build tests/chat/compare.c: $(head -c 300 "$tmp/err")"; exit 1; }

# name -> vocabulary file, template file ("-": the vocabulary's own, if any)
declare -A cases=(
    [chatml_none]="ggml-vocab-llama-spm.gguf -"
    [qwen2.5]="ggml-vocab-qwen2.gguf qwen2.5.jinja"
    [qwen2_vocab]="ggml-vocab-qwen2.gguf -"
    [qwen3]="ggml-vocab-qwen2.gguf qwen3.jinja"
    [llama3]="ggml-vocab-llama-bpe.gguf llama3.jinja"
    [llama3.1]="ggml-vocab-llama-bpe.gguf llama3.1.jinja"
    [llama2-chat]="ggml-vocab-llama-spm.gguf llama2-chat.jinja"
    [mistral-v0.2]="ggml-vocab-llama-spm.gguf mistral-v0.2.jinja"
    [mistral-nemo]="ggml-vocab-llama-spm.gguf mistral-nemo.jinja"
    [mistral-v1]="ggml-vocab-llama-spm.gguf mistral-v1.jinja"
    [mistral-v3]="ggml-vocab-llama-spm.gguf mistral-v3.jinja"
    [mistral-v7]="ggml-vocab-llama-spm.gguf mistral-v7.jinja"
    [fusionnet]="ggml-vocab-llama-spm.gguf fusionnet.jinja"
    [phi4]="ggml-vocab-llama-spm.gguf phi4.jinja"
    [tinyllama]="ggml-vocab-llama-spm.gguf tinyllama.jinja"
    [gemma]="ggml-vocab-llama-spm.gguf gemma.jinja"
    [gemma2]="ggml-vocab-llama-spm.gguf gemma2.jinja"
    [phi3.5]="ggml-vocab-phi-3.gguf phi3.5.jinja"
    [phi3_vocab]="ggml-vocab-phi-3.gguf -"
)

check_tokens() { # name, model, text file
    local ours ref rc
    # with --special once `l4lm tokenize` has it (special tokens parsed)
    ours=$("$B"/l4lm tokenize --special -m "$2" -f "$3" 2>&1); rc=$?
    if [[ $ours == *"unknown option '--special'"* ]]; then
        ours=$("$B"/l4lm tokenize -m "$2" -f "$3" 2>&1); rc=$?
    fi
    if [ $rc -ne 0 ]; then
        echo "skip chat_tokens_$1: l4lm cannot tokenize this vocabulary yet: ${ours#l4lm: }"
        return
    fi
    if ! nice node "$dir/chat_tokens.mjs" "$2" "$3" >"$tmp/ref" 2>"$tmp/err"; then
        echo "FAIL chat_tokens_$1: llama.cpp: $(head -c 300 "$tmp/err")"
        return
    fi
    ref=$(sed -n 1p "$tmp/ref")
    if [ "$ours" = "$ref" ]; then
        echo "ok chat_tokens_$1"
    elif [ "$ours" = "$(sed -n 2p "$tmp/ref")" ]; then
        echo "skip chat_tokens_$1: l4lm_tokenize does not parse special tokens yet"
    else
        echo "FAIL chat_tokens_$1: l4lm [$ours] llama.cpp [$ref]"
    fi
}

for name in $(printf '%s\n' "${!cases[@]}" | sort); do
    read -r vocab tmpl <<<"${cases[$name]}"
    model="$tmp/$name.gguf"
    args=(-o "$model" --type f32 --n-embd 32 --n-ff 64 --n-layer 1 --n-head 2 --ctx 256
          --vocab-from "$shared/vocab/$vocab")
    [ "$tmpl" = - ] || args+=(--chat-template "tests/chat/$tmpl")
    if ! "$B"/tools/mkgguf "${args[@]}" 2>"$tmp/err"; then
        echo "FAIL chat_render_$name: mkgguf: $(head -c 300 "$tmp/err")"
        continue
    fi
    "$tmp/compare" "chat_render_$name" "$model" "$lib" "$tmp/text" && check_tokens "$name" "$model" "$tmp/text"
    rm -f "$model"
done

for name in chatml llama3 llama2 llama2-sys llama2-sys-bos llama2-sys-strip mistral-v1 mistral-v3 \
    mistral-v3-tekken mistral-v7 mistral-v7-tekken phi3 phi4 falcon3 zephyr glmedge gemma; do
    printf '%s' "$name" >"$tmp/name"
    if ! "$B"/tools/mkgguf -o "$tmp/m.gguf" --type f32 --n-embd 32 --n-ff 64 --n-layer 1 --n-head 2 \
        --n-vocab 300 --ctx 256 --chat-template "$tmp/name" 2>"$tmp/err"; then
        echo "FAIL chat_render_name_$name: mkgguf: $(head -c 300 "$tmp/err")"
        continue
    fi
    "$tmp/compare" "chat_render_name_$name" "$tmp/m.gguf" "$lib" "$tmp/text"
done
