#!/usr/bin/env bash
# kernels_simd.sh — every SIMD path of the kernels this machine can run, each
# built from the same sources with its own compiler flags and put through
# tests/test_kernels.c and tests/test_kquant.c (which check it against the
# portable C path and a double-precision reference): the portable C path
# itself, AVX2 without and with F16C, AVX2 with VNNI (AVX-512 VNNI or
# AVX-VNNI, where the CPU has them), AVX-512 with BF16 (vdpbf16ps), and NEON without and with sdot
# (natively on aarch64, else under qemu-aarch64 when the cross compiler and
# qemu are installed). Every build must pass and print the same hash of its
# dot results: the same bits on every path, whichever one the main build
# picked. The hosted build carries its host's variants, one table of
# kernels each, and the core gives each session one (kernels_pick.c; the
# platform passes L4LM_SIMD in the run options): on x86_64 the main build
# (build/, from `make`) under each variant this CPU runs, forced with
# L4LM_SIMD, and none must give the same hashes again, left to itself pick
# the best, and under qemu-x86_64 pick what the emulated CPU has (and say
# so when L4LM_SIMD asks for more); the aarch64 hosted choice is built the
# Makefile's way and run under qemu-aarch64 on two CPUs. The cross compiler
# and qemu are installed first when missing (apt-get, as mk/deps.mk does).
cd "$(dirname "$0")/.." || exit 1
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

# What the x86_64 runs need besides the compiler: the aarch64 cross
# compiler and its libc, and qemu's user-mode emulators.
install_tools() {
    local p missing=() sudo=
    [ "$(uname -m)" = x86_64 ] || return 0
    for p in gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -gt 0 ] || return 0
    [ "$(id -u)" = 0 ] || sudo=sudo
    echo "# kernels_simd: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 ||
        { $sudo apt-get update -qq >/dev/null 2>&1 && $sudo apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1; } ||
        echo "FAIL kernels-simd-tools: cannot install ${missing[*]}"
}
install_tools
# The test program and the modules it calls: every kernels*.c, and helpers.
SRC=""
for f in src/core/kernels*.c; do
    SRC+="$(basename "$f" .c) "
done
SRC+="math types util"
hashes=()

# Compiles the kernels' modules into $dir: every one with the core flags,
# or, with variants given, the aarch64 SIMD files (kernels_arm, kernels_k_arm
# and their table, kernels_simd) once per variant, as the Makefile's hosted
# aarch64 build does; and platform/posix/simd.c, which passes L4LM_SIMD.
compile() { # label, compiler, core flags, dir, [variant:flags ...]
    local label=$1 cc=$2 flags=$3 dir=$4 f v core
    shift 4
    # the core's flags for this compiler, as the build has them (mk/flags.mk)
    core=$(make -s --no-print-directory print-cflags LAYER=core CC="$cc" SIMD=)
    for f in $SRC; do
        if [ $# -gt 0 ] && [[ " kernels_arm kernels_k_arm kernels_simd " == *" $f "* ]]; then
            for v in "$@"; do
                # shellcheck disable=SC2086 # flag lists are meant to split
                $cc $core $flags ${v#*:} -DL4LM_SIMD_VARIANT="${v%%:*}" -c "src/core/$f.c" \
                    -o "$dir/$f-${v%%:*}.o" 2>"$dir/err" || break
            done
        else
            # shellcheck disable=SC2086
            $cc $core $flags -c "src/core/$f.c" -o "$dir/$f.o" 2>"$dir/err"
        fi || { echo "FAIL kernels-simd-$label: src/core/$f.c does not build:"; head -5 "$dir/err"; return 1; }
    done
    # shellcheck disable=SC2086
    if ! $cc -std=gnu11 -O2 $flags -Iinclude -Iplatform/posix -Werror -c \
        platform/posix/simd.c -o "$dir/simd.o" 2>"$dir/err"; then
        echo "FAIL kernels-simd-$label: platform/posix/simd.c does not build:"; head -5 "$dir/err"
        return 1
    fi
}

# Links each test program of the kernels in $dir and runs it (runner may be
# empty, env: NAME=VALUE for it); the build's hash joins theirs.
check() { # label, compiler, runner, link flags, dir, env
    local label=$1 cc=$2 run=$3 ldflags=$4 dir=$5 env=$6 prog out fails path hash all=""
    for prog in test_kernels test_kquant; do
        # shellcheck disable=SC2086
        if [ ! -x "$dir/$prog" ] && ! $cc -std=gnu11 -O2 -ffp-contract=off -Iinclude -Isrc/core \
            -Iplatform/posix -Itests tests/$prog.c "$dir"/*.o -lm $ldflags -o "$dir/$prog" 2>"$dir/err"; then
            echo "FAIL kernels-simd-$label: tests/$prog.c does not link:"; head -5 "$dir/err"
            return 1
        fi
        # --asan: the short run, the same for every build, so the hashes compare
        # shellcheck disable=SC2086
        out=$(env $env $run "$dir/$prog" --asan 2>&1)
        fails=$(printf '%s\n' "$out" | grep -E '^FAIL|^l4lm: L4LM_SIMD')
        path=$(printf '%s\n' "$out" | sed -n 's/^# SIMD path of the kernels: //p')
        hash=$(printf '%s\n' "$out" | sed -n 's/^# hash of all dot results: \([0-9a-f]*\).*/\1/p')
        if [ -n "$fails" ] || [ -z "$hash" ]; then
            echo "FAIL kernels-simd-$label: $prog failed:"
            printf '%s\n' "${fails:-$(printf '%s\n' "$out" | tail -3)}" | head -5
            return 1
        fi
        all="$all${all:+-}$hash"
    done
    echo "ok kernels-simd-$label: path \"$path\", hash $all"
    hashes+=("$label=$all")
    picked=$path
}

variant() { # label, compiler, runner (may be empty), core flags, link flags
    mkdir -p "$tmp/$1"
    compile "$1" "$2" "$4" "$tmp/$1" && check "$1" "$2" "$3" "$5" "$tmp/$1" ""
}

# The hosted aarch64 build's run-time choice, built as the Makefile builds
# it, on the CPUs qemu offers: cortex-a53 (no sdot) must get neon, max
# dotprod; L4LM_SIMD picks either, or none.
arm_dispatch() { # compiler, qemu
    local dir="$tmp/arm-dispatch" cpu want
    mkdir -p "$dir"
    compile arm-dispatch "$1" -DL4LM_SIMD_DISPATCH "$dir" neon: dotprod:-march=armv8.2-a+dotprod ||
        return
    for cpu in cortex-a53:NEON max:"NEON + dotprod"; do
        want=${cpu#*:} cpu=${cpu%%:*}
        check "arm-dispatch-$cpu" "$1" "$2 -cpu $cpu" -static "$dir" "" &&
            { [ "$picked" = "$want" ] || echo "FAIL kernels-simd-arm-dispatch-$cpu: picked \"$picked\", want \"$want\""; }
    done
    check arm-dispatch-max-neon "$1" "$2 -cpu max" -static "$dir" L4LM_SIMD=neon
    check arm-dispatch-max-none "$1" "$2 -cpu max" -static "$dir" L4LM_SIMD=none
}

has() { grep -qw "$1" /proc/cpuinfo; }

# The test programs of the main build under L4LM_SIMD=$2 (empty: its own
# choice), and its tests of the SIMD helpers (attention's dots and sums,
# exp, SwiGLU) against their C, which have no hash to compare: every one
# checked on the x86 variants, every one skipped under none.
dispatch() { # label, L4LM_SIMD value
    check "$1" cc "" "" build/tests "L4LM_SIMD=$2" || return
    local out ok skip want=3
    out=$(L4LM_SIMD=$2 build/tests/test_prefill_kernels 2>&1)
    ok=$(printf '%s\n' "$out" | grep -c '^ok') skip=$(printf '%s\n' "$out" | grep -c '^skip')
    [ "$2" = none ] && want=0
    if printf '%s\n' "$out" | grep -q '^FAIL' || [ "$ok" != "$want" ] || [ $((ok + skip)) != 3 ]; then
        echo "FAIL kernels-simd-$1-helpers: test_prefill_kernels ($ok checked, $skip skipped, want $want checked):"
        printf '%s\n' "$out" | grep -v '^ok' | head -5
        return 1
    fi
    echo "ok kernels-simd-$1-helpers: test_prefill_kernels checked $ok, skipped $skip"
}

dispatch_all() {
    if [ ! -x build/tests/test_kernels ] || [ ! -x build/tests/test_kquant ] ||
        [ ! -x build/tests/test_prefill_kernels ] ||
        ! L4LM_SIMD=none build/tests/test_kernels --asan | grep -q '^# SIMD path of the kernels: none'; then
        echo "skip kernels-simd-dispatch: build/ is not a build with run-time dispatch (make first)"
        return
    fi
    local best=none picked v runs=(none) # the variants this CPU runs, worst first
    has avx2 && has f16c && has fma && runs+=(avx2)
    has avx2 && has f16c && has fma && has avx_vnni && runs+=(avxvnni)
    has avx2 && has f16c && has fma && has avx512bw && has avx512vl && has avx512_vnni && runs+=(avx512)
    has avx2 && has f16c && has fma && has avx512bw && has avx512vl && has avx512_vnni &&
        has avx512_bf16 && runs+=(avx512bf16)
    for v in "${runs[@]}"; do
        dispatch "dispatch-$v" "$v" && best=$picked
    done
    dispatch dispatch-default "" || return
    [ "$picked" = "$best" ] && echo "ok kernels-simd-dispatch-best: picked \"$picked\"" ||
        echo "FAIL kernels-simd-dispatch-best: picked \"$picked\", the best here is \"$best\""
    local said
    said=$(L4LM_SIMD=sse9 build/tests/test_kernels --asan 2>&1 | grep '^l4lm: L4LM_SIMD')
    [[ $said == "l4lm: L4LM_SIMD=sse9 is not one of "*" none; using "* ]] &&
        echo "ok kernels-simd-dispatch-unknown: $said" ||
        echo "FAIL kernels-simd-dispatch-unknown: said \"$said\""
    dispatch_logits "${runs[@]}" ""
    dispatch_qemu
}

# The choice itself on other CPUs, under qemu-x86_64: one without AVX
# (Westmere) must get the C path, QEMU's "max" CPU (AVX2, FMA and F16C but
# no AVX-512) the avx2 variant, and both the logits of this CPU. Asked for
# avx512, "max" must say it cannot and use avx2.
dispatch_qemu() {
    local q=qemu-x86_64-static cpu want m="$tmp/q8_0.gguf" ids="1 20 299 4 50 6" native got path
    command -v $q >/dev/null || { echo "skip kernels-simd-dispatch-qemu: $q is not installed"; return; }
    [ -f "$m" ] || return
    native=$(build/l4lm logits -m "$m" --ids "$ids" -n 4 2>/dev/null)
    for cpu in Westmere:none max:"AVX2 + F16C"; do
        want=${cpu#*:} cpu=${cpu%%:*}
        path=$($q -cpu "$cpu" build/l4lm info -m "$m" 2>/dev/null | sed -n 's/^kernels *//p')
        got=$($q -cpu "$cpu" build/l4lm logits -m "$m" --ids "$ids" -n 4 2>/dev/null)
        if [ "$path" = "$want" ] && [ -n "$got" ] && [ "$got" = "$native" ]; then
            echo "ok kernels-simd-dispatch-qemu-$cpu: picked \"$path\", the same logits"
        else
            echo "FAIL kernels-simd-dispatch-qemu-$cpu: picked \"$path\" (want \"$want\"), logits ${got:+differ}${got:-missing}"
        fi
    done
    got=$(L4LM_SIMD=avx512 $q -cpu max build/l4lm info -m "$m" 2>&1 | grep -E '^l4lm: L4LM_SIMD|^kernels')
    want="l4lm: L4LM_SIMD=avx512: this CPU cannot run it; using avx2
kernels        AVX2 + F16C"
    [ "$got" = "$want" ] && echo "ok kernels-simd-dispatch-qemu-fallback: $(head -1 <<<"$got")" ||
        echo "FAIL kernels-simd-dispatch-qemu-fallback: got \"$got\""
}

# The whole forward pass: l4lm's logits for small models of each kind of
# weight type, under every variant the CPU runs, must be the same text.
dispatch_logits() { # L4LM_SIMD values ("": the build's own choice)
    local t v m out want bad=""
    [ -x build/l4lm ] && [ -x build/tools/mkgguf ] || return
    for t in f16 bf16 q8_0 q4_0 q5_1 q4_k_m q6_k; do
        m="$tmp/$t.gguf"
        build/tools/mkgguf -o "$m" --type "$t" --n-embd 256 --n-ff 512 --n-layer 2 --n-head 4 \
            --n-head-kv 2 --n-vocab 300 --ctx 64 --seed 7 >/dev/null 2>&1 || { bad+=" $t:mkgguf"; continue; }
        want=""
        for v in "$@"; do
            out=$(L4LM_SIMD=$v build/l4lm logits -m "$m" --ids "1 20 299 4 50 6" -n 4 --threads 2 2>/dev/null)
            [ -n "$out" ] || { bad+=" $t:${v:-default}:no-output"; continue; }
            [ -z "$want" ] && want=$out
            [ "$out" = "$want" ] || bad+=" $t:${v:-default}"
        done
    done
    [ -z "$bad" ] && echo "ok kernels-simd-dispatch-logits: 7 weight types, the same logits under $# choices" ||
        echo "FAIL kernels-simd-dispatch-logits: differ or failed:$bad"
}

case $(uname -m) in
x86_64)
    variant x86-plain gcc "" ""
    if has avx2 && has f16c && has fma; then
        variant x86-avx2-nof16c gcc "" "-mavx2"
        variant x86-avx2 gcc "" "-mavx2 -mf16c -mfma"
    else
        echo "skip kernels-simd-x86-avx2: this CPU has no AVX2/F16C/FMA"
    fi
    if has avx2 && has avx512vl && has avx512_vnni; then
        variant x86-avx512vnni gcc "" "-mavx2 -mf16c -mfma -mavx512f -mavx512bw -mavx512vl -mavx512vnni"
    else
        echo "skip kernels-simd-x86-avx512vnni: this CPU has no AVX-512 VNNI"
    fi
    if has avx2 && has avx512vl && has avx512_vnni && has avx512_bf16; then
        variant x86-avx512bf16 gcc "" "-mavx2 -mf16c -mfma -mavx512f -mavx512bw -mavx512vl -mavx512vnni -mavx512bf16"
    else
        echo "skip kernels-simd-x86-avx512bf16: this CPU has no AVX-512 BF16"
    fi
    if has avx2 && has avx_vnni; then
        variant x86-avxvnni gcc "" "-mavx2 -mf16c -mfma -mavxvnni"
    else
        echo "skip kernels-simd-x86-avxvnni: this CPU has no AVX-VNNI"
    fi
    dispatch_all
    if command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64-static >/dev/null; then
        variant arm-neon aarch64-linux-gnu-gcc "qemu-aarch64-static -cpu max" "" "-static"
        variant arm-neon-dotprod aarch64-linux-gnu-gcc "qemu-aarch64-static -cpu max" \
            "-march=armv8.2-a+dotprod" "-static"
        arm_dispatch aarch64-linux-gnu-gcc qemu-aarch64-static
    else
        echo "skip kernels-simd-arm: needs aarch64-linux-gnu-gcc and qemu-aarch64-static"
    fi
    ;;
aarch64)
    variant arm-neon gcc "" ""
    if has asimddp; then
        variant arm-neon-dotprod gcc "" "-march=armv8.2-a+dotprod"
    else
        echo "skip kernels-simd-arm-neon-dotprod: this CPU has no sdot"
    fi
    ;;
*)
    echo "skip kernels-simd: no SIMD paths for $(uname -m)"
    ;;
esac

distinct=$(printf '%s\n' "${hashes[@]}" | cut -d= -f2 | sort -u | wc -l)
if [ "${#hashes[@]}" -lt 2 ]; then
    echo "skip kernels-simd-same-bits: fewer than two builds to compare"
elif [ "$distinct" -eq 1 ]; then
    echo "ok kernels-simd-same-bits: ${#hashes[@]} builds agree"
else
    echo "FAIL kernels-simd-same-bits: the builds disagree: ${hashes[*]}"
fi
