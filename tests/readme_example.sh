#!/usr/bin/env bash
# readme_example.sh — the README's API example must compile and work as
# printed: the C block under "The API in twenty lines" is cut out unchanged
# and compiled on its own (strict C11, all warnings as errors), then linked
# with a separate main() against build/libl4lm.a and run on stories260K.
cd "$(dirname "$0")/.." || exit 1
model=../shared/models/stories260K.gguf
[ -f "$model" ] || { echo "skip readme_example: $model is absent"; exit 0; }
[ -f build/libl4lm.a ] || { echo "FAIL readme_example: build/libl4lm.a missing (run make)"; exit 1; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
awk '/^## The API in twenty lines/{f=1} f&&/^```c$/{c=1;next} c&&/^```$/{exit} c' README.md >"$tmp/ex.c"
[ -s "$tmp/ex.c" ] || { echo "FAIL readme_example: no C block under the API heading"; exit 0; }
cat >"$tmp/main.c" <<'MAIN'
#include <stddef.h>
#include <stdio.h>
int generate(const void *model_bytes, size_t model_size, const char *prompt);
int main(int argc, char **argv)
{
    static unsigned char buf[4 << 20];
    FILE *f = argc > 2 ? fopen(argv[1], "rb") : NULL;
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    return n ? generate(buf, n, argv[2]) : 2;
}
MAIN
cc="gcc -std=c11 -pedantic -Wall -Wextra -Werror -Iinclude"
if ! $cc -c "$tmp/ex.c" -o "$tmp/ex.o" 2>"$tmp/err"; then
    echo "FAIL readme_example: the README block does not compile as printed:"
    head -5 "$tmp/err"
elif ! $cc "$tmp/main.c" "$tmp/ex.o" build/libl4lm.a -lm -lpthread -o "$tmp/ex" 2>"$tmp/err"; then
    echo "FAIL readme_example: does not link:"
    head -5 "$tmp/err"
else
    out=$("$tmp/ex" "$model" "Once upon a time")
    echo "  $out" | head -3
    case "$out" in
    *"there was a little girl named Lily"*) echo "ok readme_example" ;;
    *) echo "FAIL readme_example: unexpected output" ;;
    esac
fi
