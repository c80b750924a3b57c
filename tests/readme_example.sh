#!/usr/bin/env bash
# readme_example.sh — the README's API example must compile and work: the
# C block under "The API in twenty lines" is cut out, given a main(), built
# against build/libl4lm.a and run on stories260K.
cd "$(dirname "$0")/.." || exit 1
model=../shared/models/stories260K.gguf
[ -f "$model" ] || { echo "skip readme_example: $model is absent"; exit 0; }
tmp=$(mktemp -d)
awk '/^## The API in twenty lines/{f=1} f&&/^```c$/{c=1;next} c&&/^```$/{exit} c' README.md > "$tmp/ex.c"
cat >> "$tmp/ex.c" <<'MAIN'
#include <string.h>
int main(int argc, char **argv)
{
    FILE *f = fopen(argv[1], "rb");
    static unsigned char buf[4 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    return argc > 2 ? generate(buf, n, argv[2]) : 2;
}
MAIN
sed -i '1i #include <string.h>' "$tmp/ex.c"
if gcc -std=gnu11 -Wall -Werror -Iinclude "$tmp/ex.c" -Wl,--start-group build/libl4lm.a build/libl4lm_posix.a -Wl,--end-group -lm -lpthread -o "$tmp/ex" 2>"$tmp/err"; then
    out=$("$tmp/ex" "$model" "Once upon a time")
    echo "  $out" | head -3
    case "$out" in
        *"there was a little girl named Lily"*) echo "ok readme_example" ;;
        *) echo "FAIL readme_example: unexpected output" ;;
    esac
else
    echo "FAIL readme_example: does not compile:"; head -5 "$tmp/err"
fi
rm -rf "$tmp"
