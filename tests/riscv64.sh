#!/usr/bin/env bash
# riscv64.sh — the hosted build cross-compiled for riscv64 (Debian's
# riscv64-linux-gnu-gcc, the portable C kernels: the Makefile is told
# HOST_ARCH=riscv64, so it carries no x86 variants) and run under
# qemu-riscv64-static in user mode: test_golden (stories260K's ids and logits
# equal the llama2.c/llama.cpp references), test_kernels and test_kquant (their
# hash of all dot results equals the x86 build's: the same bits on every
# CPU), test_determinism, and the `l4lm` program's greedy ids equal the
# reference's. Debian 12 has no riscv64 libcurl/libmicrohttpd, so the
# cross build leaves out the HTTP and gateway folders (POSIX_DIRS) and links
# `l4lm` with a stand-in for those two commands that says so.
# Installs the cross compiler and qemu-user-static first when missing.
cd "$(dirname "$0")/.." || exit 1
B=build-riscv64
CC=riscv64-linux-gnu-gcc
SYSROOT=/usr/riscv64-linux-gnu
QEMU="qemu-riscv64-static -L $SYSROOT"
SHARED=${L4LM_SHARED:-../shared}
export L4LM_SHARED=$SHARED
MAKE_RV=(make --no-print-directory BUILD=$B CC=$CC HOST_ARCH=riscv64 POSIX_DIRS="cli shm"
    LDLIBS="-lm -lpthread")

install_tools() {
    local p missing=() sudo=
    for p in gcc-riscv64-linux-gnu libc6-dev-riscv64-cross qemu-user-static clang-16; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    [ "$(id -u)" = 0 ] || sudo=sudo
    echo "# riscv64: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 ||
        { $sudo apt-get update -qq >/dev/null 2>&1 && $sudo apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1; }
}
install_tools
if ! command -v $CC >/dev/null || ! command -v qemu-riscv64-static >/dev/null; then
    echo "skip riscv64: $CC or qemu-riscv64-static missing and apt-get install failed"
    exit 0
fi
mkdir -p $B
log=$B/riscv64-build.log

# The cross build, and the x86 build whose hashes it must equal.
progs="tests/test_golden tests/test_kernels tests/test_kquant tests/test_determinism"
if ! "${MAKE_RV[@]}" ${progs//tests\//$B/tests/} >"$log" 2>&1; then
    echo "FAIL riscv64-build: $(grep -m3 -E 'error|Error' "$log" | tr '\n' ' ')"
    exit 1
fi
if ! make --no-print-directory build/tests/test_kernels build/tests/test_kquant build/tools/mkgguf \
    build/l4lm >>"$log" 2>&1; then
    echo "FAIL riscv64-host-build: the x86 build of the kernel tests failed (see $log)"
    exit 1
fi
# `l4lm` with the two network commands replaced by a message.
cat >$B/no_net.c <<'EOF'
/* The riscv64 cross build of l4lm has no HTTP server or gateway (no riscv64 libcurl/libmicrohttpd). */
#include <stdio.h>
static int no_net(const char *cmd)
{
    fprintf(stderr, "l4lm: '%s' is not in this riscv64 build (no libcurl/libmicrohttpd)\n", cmd);
    return 2;
}
int l4lm_cmd_serve(int argc, char **argv) { (void)argc; (void)argv; return no_net("serve"); }
int l4lm_cmd_gateway(int argc, char **argv) { (void)argc; (void)argv; return no_net("gateway"); }
EOF
if ! "${MAKE_RV[@]}" $B/platform/posix/main.o >>"$log" 2>&1 ||
    ! $CC -O2 -c $B/no_net.c -o $B/no_net.o >>"$log" 2>&1 ||
    ! $CC $B/platform/posix/main.o $B/no_net.o $B/libl4lm_posix.a $B/libl4lm.a -lm -lpthread \
        -o $B/l4lm >>"$log" 2>&1; then
    echo "FAIL riscv64-build-l4lm: see $log"
    exit 1
fi
echo "ok riscv64-build: $(file -b $B/l4lm | cut -d, -f1-2)"

# A test program under qemu: all its own lines must be ok (skip allowed).
run_test() { # name, [args]
    local name=$1 out
    shift
    out=$($QEMU $B/tests/$name "$@" 2>&1)
    local s=$? n
    n=$(printf '%s\n' "$out" | grep -c '^ok ')
    if [ $s -ne 0 ] || printf '%s\n' "$out" | grep -q '^FAIL ' || [ "$n" -eq 0 ]; then
        echo "FAIL riscv64-$name: exit $s, $n ok: $(printf '%s\n' "$out" | grep -m3 '^FAIL ' | tr '\n' ' ')"
        return 1
    fi
    echo "ok riscv64-$name: $n checks pass under qemu-riscv64"
    printf '%s\n' "$out" | grep '^skip ' | sed 's/^skip /skip riscv64-/'
}
hash_of() { sed -n 's/^# hash of all dot results: \([0-9a-f]*\).*/\1/p'; }

# The kernels' hashes: the short run (--asan) on both, as kernels_simd.sh.
declare -A x86_hash
for t in test_kernels test_kquant; do
    rv=$($QEMU $B/tests/$t --asan 2>&1)
    x86=$(build/tests/$t --asan 2>&1 | hash_of)
    x86_hash[$t]=$x86
    got=$(printf '%s\n' "$rv" | hash_of)
    if printf '%s\n' "$rv" | grep -q '^FAIL '; then
        echo "FAIL riscv64-$t: $(printf '%s\n' "$rv" | grep -m3 '^FAIL ' | tr '\n' ' ')"
    elif [ -n "$got" ] && [ "$got" = "$x86" ]; then
        echo "ok riscv64-$t-hash: $got, the x86 build's"
    else
        echo "FAIL riscv64-$t-hash: riscv64 '$got', x86 '$x86'"
    fi
done
run_test test_determinism
if [ -f "$SHARED/models/stories260K.gguf" ] && [ -f "$SHARED/reference/once_upon_a_time.json" ]; then
    run_test test_golden
    # The program itself: 32 greedy ids of stories260K equal llama2.c's.
    want=$(python3 -c 'import json,sys; print(" ".join(map(str, json.load(open(sys.argv[1]))["llama2c_fp32"]["generated_ids"][:32])))' \
        "$SHARED/reference/once_upon_a_time.json" 2>/dev/null)
    got=$($QEMU $B/l4lm logits -m "$SHARED/models/stories260K.gguf" -p "Once upon a time" -n 32 --ctx 512 \
        --kv f32 2>/dev/null | awk '$1 == "step" { printf "%s%s", sep, $4; sep = " " }')
    if [ -n "$want" ] && [ "$got" = "$want" ]; then
        echo "ok riscv64-l4lm-greedy: 32 ids equal the reference"
    else
        echo "FAIL riscv64-l4lm-greedy: got '${got:0:60}', want '${want:0:60}'"
    fi
else
    echo "skip riscv64-test_golden: $SHARED/models/stories260K.gguf or the reference not found"
fi

# ------------------------------------------------------------ RVV kernels
RVV=build-riscv64-rvv
RVV_CC="clang-16 --target=riscv64-linux-gnu"
RVV_LOG=$RVV/riscv64-rvv-build.log
vcpu() { echo "-cpu rv64,v=true,vlen=$1,vext_spec=v1.0"; }
if ! command -v clang-16 >/dev/null; then
    echo "skip riscv64-rvv: clang-16 missing and apt-get install failed (gcc 12 has no RVV intrinsics)"
    exit 0
fi
mkdir -p $RVV
# shellcheck disable=SC2086 # the list of programs is meant to split
if ! make --no-print-directory BUILD=$RVV CC="$RVV_CC" HOST_ARCH=riscv64 POSIX_DIRS="cli shm" \
    LDLIBS="-lm -lpthread" ${progs//tests\//$RVV/tests/} >"$RVV_LOG" 2>&1 ||
    ! $RVV_CC -std=gnu11 -O2 -ffp-contract=off -Wall -Wextra -Werror -Iinclude -Isrc/core \
        -Iplatform/posix bench/matvec.c $RVV/libl4lm_posix.a $RVV/libl4lm.a -lm -lpthread \
        -o $RVV/matvec >>"$RVV_LOG" 2>&1; then
    echo "FAIL riscv64-rvv-build: $(grep -m3 -E 'error|Error' "$RVV_LOG" | tr '\n' ' ')"
    exit 1
fi
# Every VLEN: the rvv path, all checks ok, the x86 build's hash.
for vlen in 128 256 512; do
    for t in test_kernels test_kquant; do
        # shellcheck disable=SC2046 # the cpu option is meant to split
        out=$($QEMU $(vcpu $vlen) $RVV/tests/$t --asan 2>&1)
        path=$(printf '%s\n' "$out" | sed -n 's/^# SIMD path of the kernels: //p')
        got=$(printf '%s\n' "$out" | hash_of)
        n=$(printf '%s\n' "$out" | grep -c '^ok ')
        if printf '%s\n' "$out" | grep -q '^FAIL ' || [ "$path" != "RVV 1.0" ] ||
            [ -z "$got" ] || [ "$got" != "${x86_hash[$t]}" ]; then
            echo "FAIL riscv64-rvv-vlen$vlen-$t: path '$path', hash '$got' (x86 '${x86_hash[$t]}'):" \
                "$(printf '%s\n' "$out" | grep -m3 '^FAIL ' | tr '\n' ' ')"
        else
            echo "ok riscv64-rvv-vlen$vlen-$t: path $path, $n checks pass, hash $got, the x86 build's"
        fi
    done
done
# The choice: V in AT_HWCAP gives rvv, none without it (and says so when
# L4LM_SIMD asks for rvv); L4LM_SIMD=none gives the C path, and =rvv is a name it knows.
pick() { # env, qemu cpu options
    # shellcheck disable=SC2086
    env $1 $QEMU $2 $RVV/tests/test_kernels --asan 2>&1 |
        sed -n 's/^# SIMD path of the kernels: //p; s/^l4lm: \(L4LM_SIMD.*\)/\1/p' | tr '\n' '|'
}
got="$(pick "" "$(vcpu 256)")$(pick "" "")$(pick L4LM_SIMD=none "$(vcpu 256)")$(pick L4LM_SIMD=rvv "")"
want="RVV 1.0|none|none|L4LM_SIMD=rvv: this CPU cannot run it; using none|none|"
[ "$got" = "$want" ] && echo "ok riscv64-rvv-pick: V gives rvv, no V none, L4LM_SIMD=none|rvv obeyed" ||
    echo "FAIL riscv64-rvv-pick: got '$got', want '$want'"
if [ -f "$SHARED/models/stories260K.gguf" ]; then
    # shellcheck disable=SC2046
    out=$($QEMU $(vcpu 256) $RVV/tests/test_golden 2>&1)
    s=$?
    n=$(printf '%s\n' "$out" | grep -c '^ok ')
    if [ $s -ne 0 ] || [ "$n" -eq 0 ] || printf '%s\n' "$out" | grep -q '^FAIL '; then
        echo "FAIL riscv64-rvv-test_golden: $(printf '%s\n' "$out" | grep -m3 '^FAIL ' | tr '\n' ' ')"
    else
        echo "ok riscv64-rvv-test_golden: $n checks pass under rvv at VLEN 256"
    fi
fi
# A matrix-vector product per weight type: the same bits under rvv and none.
bad=""
for ty in q4_0 q8_0 f32 f16 q4_k q6_k; do
    # shellcheck disable=SC2046
    a=$(L4LM_SIMD=rvv $QEMU $(vcpu 128) $RVV/matvec $ty 64 2048 1 2>&1 | sed 's/.*hash //')
    # shellcheck disable=SC2046
    b=$(L4LM_SIMD=none $QEMU $(vcpu 128) $RVV/matvec $ty 64 2048 1 2>&1 | sed 's/.*hash //')
    [ -n "$a" ] && [ "$a" = "$b" ] || bad+=" $ty"
done
[ -z "$bad" ] && echo "ok riscv64-rvv-matvec: 6 weight types, the same outputs under rvv and none" ||
    echo "FAIL riscv64-rvv-matvec: differ:$bad"
# Instructions of one Q4_0 product of 16 rows of TinyLlama's 2048 columns
# (every row costs the same): qemu runs 1 and 2 of them, the difference
# is one, without the set-up. Counted, not timed.
insns() { # L4LM_SIMD value, repetitions
    # shellcheck disable=SC2046
    L4LM_SIMD=$1 $QEMU $(vcpu 256) -singlestep -d exec,nochain -D /dev/fd/3 $RVV/matvec q4_0 16 2048 "$2" \
        3>&1 >/dev/null | grep -c '^Trace'
}
rv=$(($(insns rvv 2) - $(insns rvv 1)))
c=$(($(insns none 2) - $(insns none 1)))
if [ "$rv" -gt 0 ] && [ "$c" -gt "$rv" ]; then
    echo "ok riscv64-rvv-insns: Q4_0 16x2048 product: rvv $rv instructions, C $c" \
        "($((c * 10 / rv / 10)).$((c * 10 / rv % 10))x; 2048x2048: $((rv * 128)) vs $((c * 128)))"
else
    echo "FAIL riscv64-rvv-insns: rvv $rv instructions, C $c"
fi
