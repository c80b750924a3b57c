#!/usr/bin/env bash
# baremetal.sh — boots the no-OS images in QEMU (aarch64 virt, x86_64
# Multiboot) and checks that they generate exactly the hosted build's and the
# reference implementation's greedy tokens, then boots an aarch64 image whose
# >= 64 MiB random-weight model is placed by QEMU's loader instead of embedded.
# The aarch64 images also run on 2 cores (PSCI CPU_ON, QEMU -smp 2): the same
# ids, and on the random model the same logits hash, as on one core.
# The riscv64 image (QEMU virt, S-mode under OpenSBI) gives the same ids,
# and its loader variant the hosted driver's ids on the random model.
# Installs QEMU and the aarch64 and riscv64 cross compilers from apt when they are missing.
cd "$(dirname "$0")/.." || exit 1
SHARED=${L4LM_SHARED:-../shared}
MODEL=$SHARED/models/stories260K.gguf
REF=$SHARED/reference/once_upon_a_time.json
BM=build/baremetal
OUT=$BM/test
LIMIT=${BM_TEST_TIMEOUT:-180}   # seconds per boot; a hang fails
N_REF=128                       # greedy tokens checked against the reference
N_RANDOM=16                     # greedy tokens checked on the random model
LOAD_ADDR=0x48000000
CLI=${L4LM_CLI:-build/l4lm}        # the hosted command line
failed=0

ok() { echo "ok $1"; }
fail() { echo "FAIL $1: $2"; failed=1; }
skip() { echo "skip $1: $2"; }

need_tools() {
    command -v qemu-system-aarch64 && command -v qemu-system-x86_64 &&
        command -v aarch64-linux-gnu-gcc
} >/dev/null

# riscv64: optional (skipped when its tools cannot be installed).
need_riscv() {
    command -v qemu-system-riscv64 && command -v riscv64-unknown-elf-gcc &&
        [ -f /usr/share/qemu/opensbi-riscv64-generic-fw_dynamic.bin ]
} >/dev/null
if ! need_riscv; then
    { DEBIAN_FRONTEND=noninteractive apt-get install -y qemu-system-misc gcc-riscv64-unknown-elf ||
        { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y qemu-system-misc gcc-riscv64-unknown-elf; }
    } >/dev/null 2>&1
fi
if ! need_tools; then
    export DEBIAN_FRONTEND=noninteractive
    { apt-get install -y qemu-system-arm qemu-system-x86 gcc-aarch64-linux-gnu ||
        { apt-get update && apt-get install -y qemu-system-arm qemu-system-x86 gcc-aarch64-linux-gnu; }
    } >/dev/null 2>&1
fi
if ! need_tools; then
    skip baremetal "qemu-system-arm, qemu-system-x86 or gcc-aarch64-linux-gnu missing and apt-get install failed"
    exit 0
fi
if [ ! -f "$MODEL" ] || [ ! -f "$REF" ]; then
    skip baremetal "$MODEL or $REF not found"
    exit 0
fi
mkdir -p "$OUT"

# The ids after "ids:" in a serial log (QEMU's console adds \r).
ids_of() { tr -d '\r' <"$1" | sed -n 's/^ids: //p' | tail -n 1; }

# Greedy ids from the hosted CLI; model, context, count.
greedy_cli() {
    "$CLI" logits -m "$1" -p "Once upon a time" -n "$3" --ctx "$2" --kv f32 2>/dev/null |
        awk '$1 == "step" { printf "%s%s", sep, $4; sep = " " }'
}

# Build an image with make; name, make arguments...
build() {
    local name=$1; shift
    if make --no-print-directory "$@" >"$OUT/$name.build" 2>&1; then
        ok "baremetal_build_$name"
    else
        fail "baremetal_build_$name" "make $* failed: $(tail -n 3 "$OUT/$name.build" | tr '\n' ' ')"
        return 1
    fi
}

# The image is only core + platform code: nothing undefined, no libc in the map.
check_nolibc() { # name, elf, nm
    local undef
    undef=$("$3" -u "$2")
    if [ -n "$undef" ]; then
        fail "baremetal_nolibc_$1" "undefined symbols: $undef"
    elif grep -Eq 'libc\.|libc_|/libc|libm\.' "$2.map"; then
        fail "baremetal_nolibc_$1" "the link map mentions libc/libm"
    elif ! grep -q 'l4lm_eval' "$2.map"; then
        fail "baremetal_nolibc_$1" "the link map has no l4lm_eval"
    else
        ok "baremetal_nolibc_$1"
    fi
}

# The image's static arena is what `l4lm plan` prints for the same model and
# options: the model's name index (rounded up to 64 bytes, so the session
# after it stays aligned) and then the session's total.
check_arena() { # config.h, model, context
    local built planned
    built=$(sed -n 's/^#define L4LM_BM_ARENA_BYTES //p' "$1")
    planned=$("$CLI" plan -m "$2" --ctx "$3" --kv f32 2>/dev/null |
        awk '$1 == "total" { t = $2 } $1 == "name" && $2 == "index" { i = $3 }
             END { if (t != "") print t + int((i + 63) / 64) * 64 }')
    if [ -n "$built" ] && [ "$built" = "$planned" ]; then
        ok baremetal_arena_is_plan
    else
        fail baremetal_arena_is_plan "image arena '$built' bytes, l4lm plan says '$planned'"
    fi
}

# Boot under a time limit; name, qemu.sh arguments... Sets $log.
# BM_SMP=N in the environment boots N cores.
boot() {
    local name=$1; shift
    log=$OUT/$name.log
    local t0=$SECONDS
    BM_TIMEOUT=$LIMIT platform/baremetal/qemu.sh "$@" >"$log" 2>&1
    local s=$?
    if [ "$s" -eq 124 ]; then
        fail "baremetal_boot_$name" "no exit within ${LIMIT}s (hang?)"
        return 1
    elif [ "$s" -ne 0 ] || ! tr -d '\r' <"$log" | grep -qx 'status: 0'; then
        fail "baremetal_boot_$name" "exit status $s: $(tr -d '\r' <"$log" | grep -E 'error|exception|status' | head -n 3 | tr '\n' ' ')"
        return 1
    fi
    ok "baremetal_boot_$name"
    echo "# $name: boot took $((SECONDS - t0)) s; $(tr -d '\r' <"$log" | grep -E '^(generate|generate work|image|stack used):' | tr '\n' ';')"
}

# The ids and the logits hash of a serial log, for comparing two runs.
result_of() { tr -d '\r' <"$1" | grep -E '^(ids|logits fnv1a): '; }

# An image booted on 2 cores must say so and match a one-core run; name, log, want-log.
check_smp() {
    local name=$1
    if ! tr -d '\r' <"$2" | grep -qx 'cores: 2'; then
        fail "$name" "the image did not report 'cores: 2' (PSCI CPU_ON?)"
    elif [ -z "$(result_of "$2")" ] || [ "$(result_of "$2")" != "$(result_of "$3")" ]; then
        fail "$name" "2 cores: '$(result_of "$2" | tr '\n' ' ' | cut -c1-80)' vs 1 core '$(result_of "$3" | tr '\n' ' ' | cut -c1-80)'"
    else
        ok "$name"
    fi
}

# Reference ids: llama2.c fp32, the first N_REF generated.
ref_ids=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(" ".join(map(str, d["llama2c_fp32"]["generated_ids"][:int(sys.argv[2])])))' "$REF" "$N_REF" 2>/dev/null)
if [ -z "$ref_ids" ]; then
    fail baremetal_reference "could not read llama2c_fp32.generated_ids from $REF (python3?)"
fi

# The hosted build: the same driver code on Linux, and the CLI.
host_ids=
if make --no-print-directory "$BM/bm-host" >"$OUT/bm-host.build" 2>&1 &&
    "$BM/bm-host" "$MODEL" 512 "$N_REF" "Once upon a time" >"$OUT/host.log" 2>&1; then
    host_ids=$(ids_of "$OUT/host.log")
fi
cli_ids=$(greedy_cli "$MODEL" 512 "$N_REF")
if [ -n "$host_ids" ] && [ "$host_ids" = "$ref_ids" ]; then
    ok baremetal_hosted_ids
else
    fail baremetal_hosted_ids "the driver on Linux differs from the reference: '${host_ids:0:60}...' (see $OUT/host.log)"
fi
if [ "$cli_ids" = "$ref_ids" ]; then
    ok baremetal_cli_ids
else
    fail baremetal_cli_ids "$CLI logits differs from the reference: '${cli_ids:0:60}...'"
fi

# x86_64-avx2 runs the core's AVX2 kernels: QEMU emulates AVX2 from 7.2 on.
qemu_version=$(qemu-system-x86_64 --version | sed -n 's/.*version \([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
targets="aarch64 x86_64"
if [ "$(printf '%s\n' "$qemu_version" | awk '{ print ($1 > 7 || ($1 == 7 && $2 >= 2)) }')" = 1 ]; then
    targets="$targets x86_64-avx2"
else
    skip baremetal_x86_64-avx2 "QEMU $qemu_version has no AVX2 emulation (needs 7.2)"
fi
if need_riscv; then
    targets="$targets riscv64"
else
    skip baremetal_riscv64 "qemu-system-misc (OpenSBI) or gcc-riscv64-unknown-elf missing and apt-get install failed"
fi
for t in $targets; do
    case $t in
    aarch64) boot_image=$BM/$t/l4lm.elf nm=aarch64-linux-gnu-nm port=aarch64 ;;
    riscv64) boot_image=$BM/$t/l4lm.elf nm=riscv64-unknown-elf-nm port=riscv64 ;;
    *) boot_image=$BM/$t/l4lm-multiboot.elf nm=nm port=x86_64 ;;
    esac
    build "$t" "baremetal-$t" BM_MODEL="$MODEL" PROMPT="Once upon a time" BM_TOKENS="$N_REF" BM_CTX=512 || continue
    check_nolibc "$t" "$BM/$t/l4lm.elf" "$nm"
    [ "$t" = aarch64 ] && check_arena "$BM/$t/config.h" "$MODEL" 512
    boot "$t" "$port" "$boot_image" || continue
    got=$(ids_of "$log")
    if [ "$got" = "$ref_ids" ] && [ "$got" = "$host_ids" ]; then
        ok "baremetal_ids_$t"
    else
        fail "baremetal_ids_$t" "ids differ from the reference/hosted build: got '${got:0:80}...'"
    fi
done

# The embedded stories260K image on 2 cores (too small for the core to split
# its work: this checks the bring-up and that the ids stay the reference's).
if build aarch64-smp2 baremetal-aarch64-smp BM_CORES=2 BM_MODEL="$MODEL" PROMPT="Once upon a time" \
        BM_TOKENS="$N_REF" BM_CTX=512 &&
    BM_SMP=2 boot aarch64-smp2 aarch64 "$BM/aarch64-smp/l4lm.elf"; then
    got=$(ids_of "$log")
    if tr -d '\r' <"$log" | grep -qx 'cores: 2' && [ "$got" = "$ref_ids" ] && [ "$got" = "$host_ids" ]; then
        ok baremetal-aarch64-smp2-ids
    else
        fail baremetal-aarch64-smp2-ids "no 'cores: 2' or ids differ from the reference: '${got:0:80}...'"
    fi
fi

# A random-weight model of at least 64 MiB (71 MiB of Q8_0), placed by QEMU's loader.
RANDOM_MODEL=$BM/random-q8_0.gguf
rm -f "$RANDOM_MODEL"
make --no-print-directory build/tools/mkgguf >"$OUT/mkgguf.log" 2>&1 &&
    build/tools/mkgguf -o "$RANDOM_MODEL" --type q8_0 --n-embd 512 --n-ff 1536 --n-layer 12 \
        --n-head 8 --n-head-kv 4 --n-vocab 32000 --ctx 256 --seed 4 --untied >>"$OUT/mkgguf.log" 2>&1
size=$(stat -c %s "$RANDOM_MODEL" 2>/dev/null || echo 0)
if [ "$size" -lt $((64 << 20)) ]; then
    fail baremetal_loader "no random model of >= 64 MiB ($RANDOM_MODEL: $size bytes; see $OUT/mkgguf.log)"
elif build aarch64-load baremetal-aarch64-load BM_LOAD_MODEL="$RANDOM_MODEL" BM_LOAD_ADDR=$LOAD_ADDR \
        PROMPT="Once upon a time" BM_TOKENS="$N_RANDOM" BM_CTX=128 &&
    boot aarch64-load aarch64 "$BM/aarch64-load/l4lm.elf" "$RANDOM_MODEL" "$LOAD_ADDR"; then
    got=$(ids_of "$log")
    "$BM/bm-host" "$RANDOM_MODEL" 128 "$N_RANDOM" "Once upon a time" >"$OUT/host-random.log" 2>&1
    want=$(ids_of "$OUT/host-random.log")
    cli=$(greedy_cli "$RANDOM_MODEL" 128 "$N_RANDOM")
    if [ -n "$got" ] && [ "$got" = "$want" ] && [ "$got" = "$cli" ]; then
        ok baremetal_loader_ids
    else
        fail baremetal_loader_ids "image '$got' vs hosted driver '$want' vs CLI '$cli'"
    fi
    if [ "$(result_of "$log")" = "$(result_of "$OUT/host-random.log")" ]; then
        ok baremetal_loader_logits
    else
        fail baremetal_loader_logits "logits hash differs from the hosted driver's"
    fi
    one_core=$log
    # The same model on 2 cores: here the core splits every matmul.
    if build aarch64-load-smp2 baremetal-aarch64-load-smp BM_CORES=2 BM_LOAD_MODEL="$RANDOM_MODEL" \
            BM_LOAD_ADDR=$LOAD_ADDR PROMPT="Once upon a time" BM_TOKENS="$N_RANDOM" BM_CTX=128 &&
        BM_SMP=2 boot aarch64-load-smp2 aarch64 "$BM/aarch64-load-smp/l4lm.elf" "$RANDOM_MODEL" "$LOAD_ADDR"; then
        check_smp baremetal-aarch64-smp2-loader-ids-logits "$log" "$one_core"
        if tr -d '\r' <"$log" | grep -Eq '^generate work: [1-9][0-9]* parallel_for calls, .*, [1-9][0-9]* tasks on the other cores$'; then
            ok baremetal-aarch64-smp2-second-core-works
        else
            fail baremetal-aarch64-smp2-second-core-works "no parallel_for task ran on the second core"
        fi
    fi
    # The riscv64 loader image: the same model placed at 0x90000000 (RAM
    # starts at 0x80000000 there), the hosted driver's ids.
    if need_riscv && build riscv64-load baremetal-riscv64-load BM_LOAD_MODEL="$RANDOM_MODEL" \
            BM_LOAD_ADDR=0x90000000 PROMPT="Once upon a time" BM_TOKENS="$N_RANDOM" BM_CTX=128 &&
        boot riscv64-load riscv64 "$BM/riscv64-load/l4lm.elf" "$RANDOM_MODEL" 0x90000000; then
        got=$(ids_of "$log")
        if [ -n "$got" ] && [ "$got" = "$want" ] && [ "$(result_of "$log")" = "$(result_of "$OUT/host-random.log")" ]; then
            ok baremetal_loader_riscv64_ids_logits
        else
            fail baremetal_loader_riscv64_ids_logits "image '$got' vs hosted driver '$want' (or the logits hash differs)"
        fi
    fi
    # The same image with no model at the load address: a clean failure
    # status (3, not a GGUF file) must reach the host, not a hang or crash.
    BM_TIMEOUT=$LIMIT platform/baremetal/qemu.sh aarch64 "$BM/aarch64-load/l4lm.elf" >"$OUT/nomodel.log" 2>&1
    s=$?
    if [ "$s" -eq 3 ] && tr -d '\r' <"$OUT/nomodel.log" | grep -qx 'status: 3'; then
        ok baremetal_status_no_model
    else
        fail baremetal_status_no_model "expected exit status 3 without a model, got $s"
    fi
fi
exit $failed
