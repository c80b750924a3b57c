#!/usr/bin/env bash
# readme_outputs.sh — README.md cannot go stale (issue 17):
#  1. every fenced block right after a line `<!-- readme-test -->` is a
#     console transcript: each `$ command` line is run (from a scratch
#     directory where build/ and ../shared/ are this tree's), stdout (line
#     buffered, as on a terminal) and stderr together, and must print the lines under it exactly, numbers
#     included; only speeds ("8653.2 tok/s") and times ("in 0.002 s,") are masked. A command ending
#     in `&` is a server: its first lines are compared, and it runs until
#     this script ends;
#  2. the memory figures: the bare-metal table (model, arena; code and .bss
#     when the images are built) against the model file and `bm-host --plan`
#     (the image's arena), and the Microkit paragraph's region sizes against
#     what platform/sel4/microkit/gen.c computes for its defaults.
#   bash tests/readme_outputs.sh            checks README.md
#   L4LM_README=other.md bash tests/...     checks another copy (to see it fail)
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
README=${L4LM_README:-README.md}
SHARED=${L4LM_SHARED:-../shared}
BUILD=${BUILD:-build}
MODEL=$SHARED/models/stories260K.gguf
T=$(mktemp -d)
servers= # the pids of the transcripts' background commands
trap '[ -n "$servers" ] && kill $servers 2>/dev/null; rm -rf "$T"' EXIT

ok() { echo "ok $1"; }
fail() { echo "FAIL $1: $2"; }

if [ ! -f "$MODEL" ]; then
    echo "skip readme_outputs: $MODEL is absent"
    exit 0
fi
if ! out=$(nice make -s --no-print-directory -j2 "$BUILD/l4lm" "$BUILD/baremetal/bm-host" 2>&1); then
    fail readme_build "$(printf '%s\n' "$out" | tail -3 | tr '\n' ' ')"
    exit 1
fi

# ---- 1. console transcripts ----

# Split the marked blocks into $T/case/N.cmd and N.want (a command ending in
# a backslash continues on the next line).
awk -v dir="$T/case" '
    /^<!-- readme-test -->/ { armed = 1; next }
    armed && /^```/ { armed = 0; inside = 1; next }
    inside && /^```/ { inside = 0; next }
    !inside { armed = armed && /^[ \t]*$/; next }
    cont { cmd = cmd "\n" $0; cont = /\\$/; if (!cont) printf "%s\n", cmd > (dir "/" n ".cmd"); next }
    /^\$ / { n++; cmd = substr($0, 3); printf "" > (dir "/" n ".want"); cont = /\\$/
             if (!cont) printf "%s\n", cmd > (dir "/" n ".cmd"); next }
    n { print > (dir "/" n ".want") }
' "$(mkdir -p "$T/case" && echo "$README")"

# Speeds vary from run to run; every other number must match. Spaces at
# the ends of lines are not compared (editors strip them from the README).
mask() { sed -E 's/[0-9]+(\.[0-9]+)? tok\/s/N tok\/s/g; s/ in [0-9]+\.[0-9]+ s,/ in N s,/g; s/[ \t]+$//'; }

mkdir -p "$T/tree"
ln -s "$ROOT/$BUILD" "$T/tree/build"
ln -s "$(cd "$SHARED" && pwd)" "$T/shared"
n_cases=$(find "$T/case" -name '*.cmd' | wc -l)
if [ "$n_cases" -eq 0 ]; then
    fail readme_transcripts "no <!-- readme-test --> block in $README"
fi
for c in $(find "$T/case" -name '*.cmd' | sort -V); do
    cmd=$(cat "$c")
    name="readme_output: \$ $(head -1 "$c" | cut -c1-70)"
    want=$(mask <"${c%.cmd}.want")
    if [ "${cmd%&}" != "$cmd" ]; then # a server: its first lines, then it keeps running
        bg=${c%.cmd}.out
        (cd "$T/tree" && exec stdbuf -oL bash -c "exec ${cmd%&}" >"$bg" 2>&1) &
        servers="$servers $!"
        for _ in $(seq 100); do
            got=$(mask <"$bg")
            [ "$got" = "$want" ] && break
            sleep 0.2
        done
    else
        got=$(cd "$T/tree" && stdbuf -oL bash -c "$cmd" 2>&1 | mask)
    fi
    if [ "$got" = "$want" ]; then
        ok "$name"
    else
        fail "$name" "the README shows other output; diff (README, now):"
        diff <(printf '%s\n' "$want") <(printf '%s\n' "$got") | head -10 | sed 's/^/    /'
    fi
done

# ---- 2. memory tables ----

commas() { tr -d ','; }
model_bytes=$(stat -L -c %s "$MODEL")
bm_plan=$("$BUILD/baremetal/bm-host" --plan "$MODEL" 512 2>/dev/null)

# A row of the bare-metal table: its aarch64 and x86_64 cells, digits only.
row() { grep -F "| $1 |" "$README" | head -1 | awk -F'|' '{ print $3, $4 }' | tr -d ',B' | xargs; }
check_row() { # name, README label, want (both columns)
    local got; got=$(row "$2" | xargs)
    if [ "$got" = "$3 $3" ]; then
        ok "readme_table: $1 $3"
    else
        fail "readme_table: $1" "README says '$got' (aarch64 x86_64), the build says $3"
    fi
}
check_row "model bytes" "model (in .rodata)" "$model_bytes"
# the image's arena: the model's name index and the plan (platform/common/driver.c)
check_row "arena = bm-host --plan MODEL 512" "arena (in .bss)" "$bm_plan"

# Code and .bss of the images, when tests/baremetal.sh (or make baremetal-*) built them.
elf_section() { # elf, section: its size in bytes
    local hex
    hex=$(readelf -SW "$1" 2>/dev/null | sed 's/^ *\[ *[0-9]*\]//' | awk -v s="$2" '$1 == s { print $5; exit }')
    [ -n "$hex" ] && echo $((16#$hex))
}
for a in aarch64:2 x86_64:3; do
    arch=${a%:*} col=${a#*:}
    elf=$BUILD/baremetal/$arch/l4lm.elf
    [ "$arch" = x86_64 ] && elf=$BUILD/baremetal/x86_64/l4lm-multiboot.elf
    if [ ! -f "$elf" ] || ! grep -q "L4LM_BM_ARENA_BYTES $bm_plan" "$BUILD/baremetal/$arch/config.h" 2>/dev/null; then
        echo "skip readme_table: $arch code and .bss ($elf with stories260K, context 512, is not built)"
        continue
    fi
    for s in .text:"code (.text)" .bss:".bss in all (arena, stacks, page tables)"; do
        want=$(elf_section "$elf" "${s%%:*}")
        got=$(row "${s#*:}" | awk -v c=$((col - 1)) '{ print $c }')
        if [ -n "$want" ] && [ "$got" = "$want" ]; then
            ok "readme_table: $arch ${s%%:*} $want"
        else
            fail "readme_table: $arch ${s%%:*}" "README says '$got', $elf has '$want'"
        fi
    done
done

# The Microkit paragraph: gen.c's layout for the Makefile's defaults (KV f16, context 512).
gen=$T/sel4-gen
if ! cc -std=gnu11 -O1 -Iinclude -Iplatform/posix platform/sel4/microkit/gen.c \
    -Wl,--start-group "$BUILD/libl4lm.a" "$BUILD/libl4lm_posix.a" -Wl,--end-group -lm -lpthread \
    -o "$gen" 2>"$T/gen.log"; then
    fail readme_microkit "platform/sel4/microkit/gen.c does not build: $(head -3 "$T/gen.log" | tr '\n' ' ')"
    exit 0
fi
line=$("$gen" -m "$MODEL" --ctx 512 --kv f16 --clients 2 --system "$T/s" --config "$T/c.h")
# "... arena region 0xac000 (plan 692544 + work 10432), shared region 0x13000"
read -r region plan work shm < <(sed -E 's/.*arena region (0x[0-9a-f]+) \(plan ([0-9]+) \+ work ([0-9]+)\), shared region (0x[0-9a-f]+).*/\1 \2 \3 \4/' <<<"$line")
said=$(tr '\n' ' ' <"$README" | tr -s ' ' | commas |
    sed -nE 's/.*an arena region of (0x[0-9a-f]+) per client \(the plan ([0-9]+) B \+ ([0-9]+) B of server work\) a shared region of (0x[0-9a-f]+) per client.*/\1 \2 \3 \4/p')
if [ "$said" = "$region $plan $work $shm" ]; then
    ok "readme_microkit: arena region $region (plan $plan + work $work), shared region $shm"
else
    fail readme_microkit "README says '${said:-?}', gen.c computes arena region $region (plan $plan + work $work), shared region $shm"
fi
