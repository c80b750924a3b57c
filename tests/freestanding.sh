#!/usr/bin/env bash
# freestanding.sh — proves the freestanding contract of src/core and src/serve:
# built with -ffreestanding -nostdinc (no libc headers) and linked with ld -r,
# `nm -u` lists only memcpy/memset/memmove/memcmp, there are no writable
# globals, no recursion, and the deepest call chain fits in 3 KiB of stack
# (per-function frames from gcc -fcallgraph-info=su, chained over the call
# graph by build/tools/stackdepth). Done for x86_64 and aarch64.
cd "$(dirname "$0")/.." || exit 1
STACK_LIMIT=3072

check_arch() { # label, compiler prefix
    local label=$1 pfx=$2 cc="${2}gcc" tmp
    tmp=$(mktemp -d)
    local inc; inc=$($cc -print-file-name=include)
    for f in src/core/*.c src/serve/*.c; do
        [ -f "$f" ] || continue
        if ! (cd "$tmp" && $cc -std=c11 -O2 -ffreestanding -fno-math-errno -ffp-contract=off \
              -nostdinc -isystem "$inc" -I"$OLDPWD/include" -I"$OLDPWD/src" -I"$OLDPWD/src/core" -I"$OLDPWD/src/serve" \
              -Wall -Wextra -Wshadow -Wvla -Werror -fcallgraph-info=su \
              -c "$OLDPWD/$f" -o "$(basename "$f" .c).o") 2>"$tmp/err"; then
            echo "FAIL freestanding-$label: $f does not build freestanding:"; head -5 "$tmp/err"
            rm -rf "$tmp"; return
        fi
    done
    ${pfx}ld -r -o "$tmp/all.o" "$tmp"/*.o
    local undef glob
    undef=$(${pfx}nm -u "$tmp/all.o" | awk '{print $2}' | grep -vxE 'memcpy|memset|memmove|memcmp' | tr '\n' ' ')
    # writable = any object in .data/.bss/COMMON; const tables of pointers land in
    # .data.rel.ro (read-only after relocation) and are allowed
    glob=$(${pfx}objdump -t "$tmp/all.o" | awk '$NF != "" && ($0 ~ / \.(s?data|s?bss)[.\t ]/ || $0 ~ /\*COM\*/) \
        && $0 !~ /\.data\.rel\.ro/ && $0 ~ / O / {print $NF}' | tr '\n' ' ')
    echo "  $label: nm -u: $(${pfx}nm -u "$tmp/all.o" | awk '{print $2}' | tr '\n' ' ')"
    [ -z "$undef" ] && echo "ok freestanding-$label-symbols" \
        || echo "FAIL freestanding-$label-symbols: references $undef"
    [ -z "$glob" ] && echo "ok freestanding-$label-no-writable-globals" \
        || echo "FAIL freestanding-$label-no-writable-globals: $glob"
    local out
    if out=$(build/tools/stackdepth $STACK_LIMIT "$tmp"/*.ci); then
        echo "  $label: $out"; echo "ok freestanding-$label-stack"
    else
        echo "$out" | sed 's/^FAIL stack/FAIL freestanding-'"$label"'-stack/'
        echo "$out" | grep -q '^FAIL' || echo "FAIL freestanding-$label-stack: stackdepth failed"
    fi
    rm -rf "$tmp"
}

check_arch x86_64 ""
if ! command -v aarch64-linux-gnu-gcc >/dev/null; then
    apt-get install -y gcc-aarch64-linux-gnu >/dev/null 2>&1 || true
fi
if command -v aarch64-linux-gnu-gcc >/dev/null; then
    check_arch aarch64 aarch64-linux-gnu-
else
    echo "skip freestanding-aarch64: gcc-aarch64-linux-gnu is not installed and apt-get failed"
fi
