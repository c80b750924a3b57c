#!/usr/bin/env bash
# freestanding.sh — proves the freestanding contract of src/core and src/serve:
# built with -ffreestanding -nostdinc (no libc headers) and linked with ld -r,
# `nm -u` lists only memcpy/memset/memmove/memcmp, there are no writable
# globals, no recursion, and the deepest call chain fits in 3 KiB of stack
# (per-function frames from gcc -fcallgraph-info=su, chained over the call
# graph by build/tools/stackdepth, which follows calls through the kernel
# table's slots into the SIMD kernels). Done for each freestanding image target
# of mk/flags.mk (x86_64, x86_64-avx2 with the AVX2 kernels, aarch64, riscv64), with
# the compiler and flags those images are built with (make print-cflags).
cd "$(dirname "$0")/.." || exit 1
STACK_LIMIT=3072
flags() { # layer, target: the build's own flags, with absolute include paths
    make -s --no-print-directory print-cflags LAYER="$1" TARGET="$2" L4LM_TOP="$PWD/"
}

check_arch() { # target
    local label=$1 cc pfx tmp f cflags core serve
    cc=$(make -s --no-print-directory print-cc TARGET="$1") pfx=${cc%gcc}
    core=$(flags core "$1") serve=$(flags serve "$1")
    tmp=$(mktemp -d)
    for f in src/core/*.c src/serve/*.c; do
        [ -f "$f" ] || continue
        cflags=$core
        [ "${f#src/serve/}" != "$f" ] && cflags=$serve
        # shellcheck disable=SC2086 # flag lists are meant to split
        if ! (cd "$tmp" && $cc $cflags -fcallgraph-info=su \
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
    # The kernel table's slots: each `.slot = function` of its initialiser
    # (kernels_simd.c) whose function the built table holds (a relocation of
    # kernels_simd.o), so that a call through k->slot( continues into it.
    local held slot fn rules=()
    held=$(${pfx}objdump -r "$tmp/kernels_simd.o" | awk '/^RELOCATION RECORDS FOR/ {
        d = $0 !~ /debug|text|eh_frame/ } d { print $3 }')
    while read -r slot fn; do
        grep -qx "$fn" <<<"$held" && rules+=(-i "$slot=$fn")
    done < <(sed -n 's/^ *\.\([a-z0-9_]*\) = \(l4lm_simd_[a-z0-9_]*\),.*/\1 \2/p' src/core/kernels_simd.c)
    local out
    if out=$(build/tools/stackdepth $STACK_LIMIT "${rules[@]}" "$tmp"/*.ci); then
        echo "$out" | sed "s/^/  $label: /"; echo "ok freestanding-$label-stack"
    else
        echo "$out" | sed 's/^FAIL stack/FAIL freestanding-'"$label"'-stack/'
        echo "$out" | grep -q '^FAIL' || echo "FAIL freestanding-$label-stack: stackdepth failed"
    fi
    rm -rf "$tmp"
}

check_arch x86_64
check_arch x86_64-avx2
if ! command -v aarch64-linux-gnu-gcc >/dev/null; then
    apt-get install -y gcc-aarch64-linux-gnu >/dev/null 2>&1 || true
fi
if command -v aarch64-linux-gnu-gcc >/dev/null; then
    check_arch aarch64
else
    echo "skip freestanding-aarch64: gcc-aarch64-linux-gnu is not installed and apt-get failed"
fi
if ! command -v riscv64-unknown-elf-gcc >/dev/null; then
    apt-get install -y gcc-riscv64-unknown-elf >/dev/null 2>&1 || true
fi
if command -v riscv64-unknown-elf-gcc >/dev/null; then
    check_arch riscv64
else
    echo "skip freestanding-riscv64: gcc-riscv64-unknown-elf is not installed and apt-get failed"
fi
