#!/usr/bin/env bash
# layers.sh — the layers of docs/architecture.md hold: arrows only point
# down. Two checks:
#  includes  every #include "X" in src/ and platform/ resolves (as the
#            compiler would: the file's own folder, then the -I paths the
#            build gives its layer, asked of make) to a file inside one of
#            those folders; a relative path that climbs out (../) or a
#            header the layer is not given is a crossing.
#  symbols   in the hosted build's objects, src/core references no symbol
#            that src/serve or platform/ defines, and src/serve none that
#            platform/ defines.
# Allowed crossings, each until its cause is gone, are listed below.
cd "$(dirname "$0")/.." || exit 1

declare -A INC # make's answer for each layer, asked once
inc_of() {
    [ -n "${INC[$*]+set}" ] ||
        INC[$*]=$(make -s --no-print-directory print-inc "$@" | tr ' ' '\n' | sed -n 's/^-I//p')
    echo "${INC[$*]}"
}

# The folders a file may include from (beyond its own), by its path.
allowed_dirs() { # file
    local f=$1 d
    case $f in
    src/core/*) inc_of LAYER=core ;;
    src/serve/*) inc_of LAYER=serve ;;
    platform/posix/*/*)
        d=${f#platform/posix/}
        inc_of LAYER=posix DIR="${d%%/*}"
        ;;
    platform/posix/*) inc_of LAYER=posix ;;
    platform/common/* | platform/baremetal/* | platform/sel4/*) inc_of LAYER=port ;;
    esac
    case $f in
    # Host programs that plan a freestanding image: they map the model with
    # the POSIX port's library (posix.h).
    platform/baremetal/hosted.c | platform/sel4/microkit/gen.c) echo platform/posix ;;
    esac
}
# Headers the freestanding builds generate into their build folder.
GENERATED="config.h"

tmp=$(mktemp) || exit 1
trap 'rm -f "$tmp"' EXIT
fails=0 files=0
crossing() { echo "FAIL layers-includes: $1"; fails=$((fails + 1)); }
while IFS= read -r f; do
    files=$((files + 1))
    allowed_dirs "$f" >"$tmp"
    dirs=$(cat "$tmp")
    own=$(dirname "$f")
    while IFS= read -r hdr; do
        [ -n "$hdr" ] || continue
        case $hdr in *..*) crossing "$f includes \"$hdr\" (climbs out of its folder)"; continue ;; esac
        found=""
        for d in "$own" $dirs; do
            [ -f "$d/$hdr" ] && { found="$d/$hdr"; break; }
        done
        if [ -z "$found" ]; then
            case " $GENERATED " in *" $hdr "*) continue ;; esac
            crossing "$f includes \"$hdr\", which its layer's folders ($own $(echo $dirs)) do not have"
        fi
    done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
done < <(find src platform -name '*.[chS]' | sort)
[ "$fails" -eq 0 ] && echo "ok layers-includes: $files files of src/ and platform/ include only what their layer may"

# Symbols: the hosted build's objects (built here if missing).
if ! make -s --no-print-directory BUILD=build build/libl4lm.a build/libl4lm_posix.a >/dev/null 2>&1; then
    echo "FAIL layers-symbols: the hosted build does not build"
    exit 1
fi
defined() { find "$@" -name '*.o' -exec nm -g --defined-only {} + 2>/dev/null | awk 'NF == 3 {print $3}' | sort -u; }
undefined() { find "$@" -name '*.o' -exec nm -u {} + 2>/dev/null | awk '{print $NF}' | sort -u; }
up=$(comm -12 <(undefined build/src/core) <(defined build/src/serve build/platform))
up+=$'\n'$(comm -12 <(undefined build/src/serve) <(defined build/platform))
if [ -z "$(echo $up)" ]; then
    echo "ok layers-symbols: src/core and src/serve reference nothing of the layers above them"
else
    echo "FAIL layers-symbols: referenced from below: $(echo $up)"
fi
