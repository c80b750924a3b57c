#!/usr/bin/env bash
# sel4.sh — builds and boots l4lm on seL4 when the user points to one:
#   MICROKIT_SDK=/path/to/microkit-sdk-X.Y.Z   the Microkit system (two client
#       PDs) on each QEMU virt board the SDK has (qemu_virt_aarch64,
#       qemu_virt_riscv64; a board it lacks is skipped): every client's PASS,
#       the streamed text equal to the hosted `l4lm run` with the same prompt,
#       seed and sampler, the arena region equal to `l4lm plan`; then the same
#       with a >= 64 MiB random-weight model placed by QEMU's loader instead
#       of embedded; and with a fixed system prompt's state (SYSTEM=, made by
#       the hosted CLI, embedded read-only): the text equal to `l4lm run` with
#       the full prompt, the infer PD's count of prompt tokens reused equal to
#       what `l4lm run --prompt-cache` keeps of that state, and a state of
#       another --ctx refused at boot with a printed status.
#   SEL4_PREFIX=/path/to/kernel/install   the root task (x86_64 pc99, or
#       aarch64 qemu-arm-virt booted by seL4's elfloader; the kernel's
#       configuration says which): its greedy ids equal the llama2.c
#       reference and the hosted CLI's; with an SMP kernel (KernelMaxNumNodes
#       >= 4, KernelRootCNodeSizeBits 16 for the embedded 72 MiB random
#       model) the root task on 1, 2 and 4 cores: the workers' seL4 objects
#       printed and accounted, and ids and logits hash equal at every core
#       count and to the hosted driver's (bm-host). An aarch64 kernel starts
#       exactly KernelMaxNumNodes cores, so QEMU has that many and CORES
#       picks how many run workers.
# Without them it prints why it skipped: nothing passes without a real boot.
cd "$(dirname "$0")/.." || exit 1
SHARED=${L4LM_SHARED:-../shared}
MODEL=$SHARED/models/stories260K.gguf
REF=$SHARED/reference/once_upon_a_time.json
CLI=${L4LM_CLI:-build/l4lm}
OUT=build/sel4/test
PROMPT="Once upon a time"
SYSTEM_PROMPT="Once upon a time, there was a little girl named Lily."
STATE_PROMPT="$SYSTEM_PROMPT She loved"
failed=0

ok() { echo "ok $1"; }
fail() { echo "FAIL $1: $2"; failed=1; }
skip() { echo "skip $1: $2"; }

if [ -z "$MICROKIT_SDK" ] && [ -z "$SEL4_PREFIX" ]; then
    skip sel4-microkit "MICROKIT_SDK is not set (a Microkit SDK, e.g. microkit-sdk-2.0.1)"
    skip sel4-roottask "SEL4_PREFIX is not set (an x86_64 or aarch64 seL4 kernel install with KernelPrinting)"
    exit 0
fi
if [ ! -f "$MODEL" ] || [ ! -x "$CLI" ]; then
    skip sel4 "$MODEL or $CLI not found"
    exit 0
fi
mkdir -p "$OUT"

# Build with make; name, log, make arguments...
build() {
    local name=$1 log=$2; shift 2
    if make --no-print-directory "$@" >"$log" 2>&1; then
        ok "$name"
    else
        fail "$name" "make $* failed: $(tail -n 3 "$log" | tr '\n' ' ')"
        return 1
    fi
}

# A client's streamed text, glued back from its "name: |..." / "name: +..." lines.
text_of() { # log, pd
    tr -d '\r' <"$1" | awk -v p="$2: " 'index($0, p) == 1 {
        m = substr($0, length(p) + 1, 1); t = substr($0, length(p) + 2)
        if (m == "|") printf "%s\n", t; else if (m == "+") printf "%s", t }'
}

# The hosted run with the client's request: sampler, seed, context and KV type.
hosted_text() { # model, n, prompt
    "$CLI" run -m "$1" -p "$3" -n "$2" --temp 0.8 --top-k 40 --top-p 0.95 --min-p 0.05 \
        --repeat-penalty 1 --repeat-last-n 64 --seed 42 --ctx 512 --kv f16 2>/dev/null
}

# Boot a Microkit build and check both clients; tag, build dir, model, n,
# load address, the clients' prompt; $board is the Microkit board.
microkit_boot() {
    local tag=$1 dir=$2 model=$3 n=$4 load=$5 prompt=${6:-$PROMPT} log=$2/boot.log t0=$SECONDS
    BOARD=$board SEL4_TIMEOUT=${SEL4_TEST_TIMEOUT:-300} platform/sel4/microkit/run.sh "$dir/loader.img" 2 \
        ${load:+"$(realpath "$model")" "$load"} >"$log" 2>&1
    if [ "$(tail -n 1 "$log")" = PASS ]; then
        ok "sel4-microkit-pass-$tag"
    else
        fail "sel4-microkit-pass-$tag" "$(tr -d '\r' <"$log" | grep -E 'FAIL|MON\|ERROR|no verdict' | head -n 3 | tr '\n' ' ')"
        return 1
    fi
    echo "# microkit $tag: boot to PASS $((SECONDS - t0)) s; $(tr -d '\r' <"$log" | grep -E '^infer: ' | tr '\n' ';')"
    # The infer PD's stack (stack_size in the .system file): Microkit 2.0.1
    # reserves no guard page below it, so the peak must leave a quarter free.
    local stack size
    stack=$(tr -d '\r' <"$log" | sed -n 's/^infer: idle, stack used \([0-9]*\) bytes of its \([0-9]*\)-byte stack$/\1 \2/p' | tail -n 1)
    size=${stack#* } stack=${stack% *}
    if [ -n "$stack" ] && [ "$((stack * 4))" -le "$((size * 3))" ]; then
        ok "sel4-microkit-stack-$tag"
    else
        fail "sel4-microkit-stack-$tag" "infer used '$stack' bytes of its '$size'-byte stack (more than 3/4)"
    fi
    # The continuation must be the hosted run's; the prompt is echoed as given
    # (`l4lm run` echoes it through the detokenizer: the same for stories260K).
    local want got cont
    want=$(hosted_text "$model" "$n" "$prompt")
    for pd in client0 client1; do
        got=$(text_of "$log" $pd)
        cont=${got#"$prompt"}
        if [ -n "$cont" ] && [ "$cont" != "$got" ] && [ "${want%"$cont"}" != "$want" ]; then
            ok "sel4-microkit-text-$tag-$pd"
        else
            fail "sel4-microkit-text-$tag-$pd" "streamed '${got:0:60}...' vs l4lm run '${want:0:60}...'"
        fi
    done
}

# A fixed system prompt's state in the infer PD (the same build directory:
# only the PDs are built again); arch, build dir, and the caller's args.
microkit_state_tests() {
    local arch=$1 dir=$2 log=$2/boot.log cache=$OUT/cache-$1.state stale=$OUT/stale-$1.state
    build "sel4-microkit-$arch-build-state" "$dir.state.build" "${args[@]}" PROMPT="$STATE_PROMPT" \
        SYSTEM="$SYSTEM_PROMPT" MODEL="$(realpath "$MODEL")" BUILD_DIR="$(realpath -m "$dir")" || return
    microkit_boot "$arch-state" "$dir" "$MODEL" 32 "" "$STATE_PROMPT" || return
    # What the hosted CLI keeps of the same state for the same prompt: K of N.
    local kn counts
    cp "$dir/system.state" "$cache"
    kn=$("$CLI" run -m "$MODEL" --ctx 512 --kv f16 -p "$STATE_PROMPT" -n 0 --prompt-cache "$cache" 2>&1 >/dev/null |
        sed -n 's/^l4lm: prompt cache: \([0-9]*\) of \([0-9]*\) prompt tokens.*/\1 \2/p')
    # The infer PD's count for each request that got to its first token:
    # client, reused, evaluated. The first request of each client (and the
    # one after its bad requests) starts from the state; every request's
    # prompt begins with the system prompt, so each reuses at least K.
    counts=$(tr -d '\r' <"$log" | sed -n 's/^infer: client\([0-9]*\) prompt tokens: \([0-9]*\) reused, \([0-9]*\) evaluated$/\1 \2 \3/p')
    echo "# microkit $arch-state: l4lm run --prompt-cache keeps ${kn% *} of ${kn#* } prompt tokens; infer PD (client reused evaluated): $(echo "$counts" | tr '\n' ';')"
    if [ -n "$kn" ] && [ "${kn% *}" -gt 0 ] && echo "$counts" | awk -v k="${kn% *}" -v n="${kn#* }" '
        !first[$1]++ { ok += $2 == k && $2 + $3 == n; c++ } $2 < k || $2 + $3 != n { bad = 1 }
        END { exit !(c == 2 && ok == 2 && !bad) }'; then
        ok "sel4-microkit-$arch-state-reused"
    else
        fail "sel4-microkit-$arch-state-reused" "infer PD counts '$(echo "$counts" | tr '\n' ';')' vs l4lm run --prompt-cache '$kn' (K N)"
    fi
    # A state of another plan (--ctx 256): refused at boot with the status.
    rm -f "$stale"
    "$CLI" run -m "$MODEL" --ctx 256 --kv f16 -p "$SYSTEM_PROMPT" -n 0 --prompt-cache "$stale" >/dev/null 2>&1
    build "sel4-microkit-$arch-build-stale-state" "$dir.stale.build" "${args[@]}" PROMPT="$STATE_PROMPT" \
        STATE="$(realpath "$stale")" MODEL="$(realpath "$MODEL")" BUILD_DIR="$(realpath -m "$dir")" || return
    log=$dir/stale.log
    if BOARD=$board SEL4_TIMEOUT=60 platform/sel4/microkit/run.sh "$dir/loader.img" 2 >"$log" 2>&1; then
        fail "sel4-microkit-$arch-stale-state" "the system passed with a state of another --ctx"
    elif tr -d '\r' <"$log" | grep -q '^infer: FAIL: the system prompt state .*: '; then
        ok "sel4-microkit-$arch-stale-state"
        echo "# $(tr -d '\r' <"$log" | grep '^infer: FAIL: ')"
    else
        fail "sel4-microkit-$arch-stale-state" "no 'infer: FAIL: the system prompt state' line (see $log)"
    fi
}

# The tests on one board; board, arch (the tests' tag), the big model's
# physical address (above the kernel's 2 GiB of RAM).
microkit_tests() {
    local board=$1 arch=$2 load=$3 dir=$OUT/microkit-$2
    local args=(-C platform/sel4/microkit MICROKIT_SDK="$MICROKIT_SDK" BOARD="$board"
        CLIENTS=2 CTX=512 KV=f16 N=32 SEED=42 TEMP=0.8 PROMPT="$PROMPT")
    build "sel4-microkit-$arch-build" "$dir.build" "${args[@]}" MODEL="$(realpath "$MODEL")" \
        BUILD_DIR="$(realpath -m "$dir")" || return
    local built planned
    built=$(sed -n 's/^#define L4LM_SEL4_ARENA_BYTES \([0-9]*\).*/\1/p' "$dir/config.h")
    planned=$("$CLI" plan -m "$MODEL" --ctx 512 --kv f16 2>/dev/null | awk '$1 == "total" { print $2 }')
    if [ -n "$built" ] && [ "$built" = "$planned" ]; then
        ok "sel4-microkit-$arch-arena-is-plan"
    else
        fail "sel4-microkit-$arch-arena-is-plan" "config.h arena '$built' bytes, l4lm plan says '$planned'"
    fi
    microkit_boot "$arch-embedded" "$dir" "$MODEL" 32
    microkit_state_tests "$arch" "$dir"

    # A model too big to embed comfortably: placed by QEMU's loader.
    local big=$OUT/random-q8_0.gguf size
    [ -f "$big" ] || { make --no-print-directory build/tools/mkgguf >"$OUT/mkgguf.log" 2>&1 &&
        build/tools/mkgguf -o "$big" --type q8_0 --n-embd 512 --n-ff 1536 --n-layer 12 \
            --n-head 8 --n-head-kv 4 --n-vocab 32000 --ctx 256 --seed 4 --untied >>"$OUT/mkgguf.log" 2>&1; }
    size=$(stat -c %s "$big" 2>/dev/null || echo 0)
    if [ "$size" -lt $((64 << 20)) ]; then
        fail "sel4-microkit-$arch-loaded" "no random model of >= 64 MiB ($big: $size bytes)"
        return
    fi
    dir=$OUT/microkit-$arch-loaded
    build "sel4-microkit-$arch-build-loaded" "$dir.build" "${args[@]}" N=6 \
        MODEL="$(realpath "$big")" LOAD="$load" BUILD_DIR="$(realpath -m "$dir")" || return
    microkit_boot "$arch-loaded" "$dir" "$big" 6 "$load" || return
    # The same image with zeros at the model's address: a clean failure.
    local log=$dir/nomodel.log
    if BOARD=$board SEL4_TIMEOUT=60 SEL4_QEMU_MEM_MIB=4096 platform/sel4/microkit/run.sh \
        "$dir/loader.img" 2 >"$log" 2>&1; then
        fail "sel4-microkit-$arch-no-model" "the system passed without its model"
    elif tr -d '\r' <"$log" | grep -q 'infer: FAIL: model open: '; then
        ok "sel4-microkit-$arch-no-model"
    else
        fail "sel4-microkit-$arch-no-model" "no 'infer: FAIL: model open' line (see $log)"
    fi
}

# The kernel's architecture, its cores, and the names of the root task's tests.
GEN_CONFIG=$SEL4_PREFIX/libsel4/include/kernel/gen_config.h
RT_ARCH=x86_64 RT=sel4-roottask QEMU=qemu-system-x86_64
if grep -qs 'define CONFIG_ARCH_AARCH64 ' "$GEN_CONFIG"; then
    RT_ARCH=aarch64 RT=sel4-roottask-aarch64 QEMU=qemu-system-aarch64
fi
NODES=$(sed -n 's/^#define CONFIG_MAX_NUM_NODES *\([0-9]*\).*/\1/p' "$GEN_CONFIG" 2>/dev/null)

# Boot a root task build (its directory) with workers on cores cores; log.
roottask_boot() {
    if [ $RT_ARCH = aarch64 ]; then # QEMU has the kernel's cores, whatever CORES
        # Emulated aarch64 is slower: a longer guard against a hung machine.
        SEL4_SMP=${NODES:-1} SEL4_TIMEOUT=${SEL4_TEST_TIMEOUT:-900} \
            platform/sel4/roottask/run.sh "$1/image.elf" >"$3" 2>&1
    else
        SEL4_SMP=$2 SEL4_TIMEOUT=${SEL4_TEST_TIMEOUT:-300} \
            platform/sel4/roottask/run.sh "$1/kernel32.elf" "$1/roottask.elf" >"$3" 2>&1
    fi
}

roottask_tests() {
    local dir=$OUT/roottask-$RT_ARCH log=$OUT/roottask-$RT_ARCH/boot.log t0
    build $RT-build "$OUT/roottask-$RT_ARCH.build" -C platform/sel4/roottask \
        SEL4_PREFIX="$SEL4_PREFIX" MODEL="$(realpath "$MODEL")" N=128 CTX=512 PROMPT="$PROMPT" \
        BUILD_DIR="$(realpath -m "$dir")" || return
    t0=$SECONDS
    roottask_boot "$dir" 1 "$log"
    local s=$?
    if [ "$s" -ne 0 ] || ! tr -d '\r' <"$log" | grep -qx 'status: 0'; then
        fail $RT-boot "exit status $s: $(tr -d '\r' <"$log" | grep -E 'error|status' | head -n 3 | tr '\n' ' ')"
        return
    fi
    ok $RT-boot
    echo "# roottask $RT_ARCH: boot to exit $((SECONDS - t0)) s; $(tr -d '\r' <"$log" | grep -E '^(arena|generate|stack used|model embedded)' | tr '\n' ';')"
    local got ref cli
    got=$(tr -d '\r' <"$log" | sed -n 's/^ids: //p' | tail -n 1)
    ref=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(" ".join(map(str, d["llama2c_fp32"]["generated_ids"][:128])))' "$REF" 2>/dev/null)
    cli=$("$CLI" logits -m "$MODEL" -p "$PROMPT" -n 128 --ctx 512 --kv f32 2>/dev/null |
        awk '$1 == "step" { printf "%s%s", sep, $4; sep = " " }')
    if [ -n "$got" ] && [ "$got" = "$ref" ] && [ "$got" = "$cli" ]; then
        ok $RT-ids
    else
        fail $RT-ids "root task '${got:0:60}...' vs reference '${ref:0:60}...' vs CLI '${cli:0:60}...'"
    fi
}

# The root task on 1, 2 and 4 cores (QEMU -smp, multi-threaded TCG) with the
# random Q8_0 model, whose matmuls the core splits.
roottask_smp_tests() {
    local dir=$OUT/roottask-smp-$RT_ARCH big=$OUT/random-q8_0.gguf n=16 cores log want
    # Emulated aarch64 with spinning workers on an oversubscribed host: a
    # run of 16 tokens on 4 cores took over 15 minutes; 4 tokens still go
    # through the prompt batch and the single-token steps.
    [ $RT_ARCH = aarch64 ] && n=4
    [ -f "$big" ] || { make --no-print-directory build/tools/mkgguf build/baremetal/bm-host >"$OUT/mkgguf.log" 2>&1 &&
        build/tools/mkgguf -o "$big" --type q8_0 --n-embd 512 --n-ff 1536 --n-layer 12 \
            --n-head 8 --n-head-kv 4 --n-vocab 32000 --ctx 256 --seed 4 --untied >>"$OUT/mkgguf.log" 2>&1; }
    make --no-print-directory build/baremetal/bm-host >>"$OUT/mkgguf.log" 2>&1
    if ! build/baremetal/bm-host "$big" 128 "$n" "$PROMPT" >"$OUT/smp-host.log" 2>&1; then
        fail $RT-smp "no random model or hosted driver run (see $OUT/mkgguf.log, $OUT/smp-host.log)"
        return
    fi
    want=$(tr -d '\r' <"$OUT/smp-host.log" | grep -E '^(ids|logits fnv1a): ')
    for cores in 1 2 4; do
        build "$RT-smp$cores-build" "$OUT/roottask-smp$cores-$RT_ARCH.build" -C platform/sel4/roottask \
            SEL4_PREFIX="$SEL4_PREFIX" MODEL="$(realpath "$big")" N=$n CTX=128 CORES=$cores \
            PROMPT="$PROMPT" BUILD_DIR="$(realpath -m "$dir")" || return
        log=$OUT/roottask-smp$cores-$RT_ARCH.log
        roottask_boot "$dir" $cores "$log"
        if ! tr -d '\r' <"$log" | grep -qx 'status: 0'; then
            fail "$RT-smp$cores-boot" "$(tr -d '\r' <"$log" | grep -E 'error|ERROR|status|cores' | head -n 3 | tr '\n' ' ')"
            continue
        fi
        ok "$RT-smp$cores-boot"
        echo "# roottask $RT_ARCH $cores cores: $(tr -d '\r' <"$log" | grep -E '^(cores|workers from untyped memory|generate|generate work):' | tr '\n' ';')"
        if [ "$cores" -gt 1 ]; then
            # One TCB, notification, stack and IPC buffer per extra core, and the sum adds up.
            tr -d '\r' <"$log" | awk -v w=$((cores - 1)) '
                /^workers from untyped memory: / { seen = 1; nf = split($0, f, /[^0-9]+/); k = 0
                    for (i = 1; i <= nf; i++) if (f[i] != "") v[++k] = f[i]
                    # v: workers, TCB, notification, stack, IPC buffer, tables, total
                    good = v[1] == w && v[7] == w * (v[2] + v[3] + v[4] + v[5]) + v[6] && v[4] > 0 }
                /^generate work: .* [1-9][0-9]* tasks on the other cores$/ { busy = 1 }
                END { exit !(seen && good && busy) }' &&
                ok "$RT-smp$cores-objects" ||
                fail "$RT-smp$cores-objects" "no or wrong 'workers from untyped memory' line, or no task ran on another core (see $log)"
        fi
        if [ "$(tr -d '\r' <"$log" | grep -E '^(ids|logits fnv1a): ')" = "$want" ]; then
            ok "$RT-smp$cores-ids-logits"
        else
            fail "$RT-smp$cores-ids-logits" "ids/logits hash differ from the hosted driver's (see $log)"
        fi
    done
}

need() { # test name, commands...
    local name=$1; shift
    for c in "$@"; do
        if ! command -v "$c" >/dev/null; then
            fail "$name" "$c not found"
            return 1
        fi
    done
}

# Each QEMU virt board: Microkit board, arch, where QEMU's loader puts a big
# model (the kernel has 2 GiB of RAM from 0x40000000 / 0x80000000).
microkit_boards() {
    local board arch load
    while read -r board arch load; do
        if [ ! -d "$MICROKIT_SDK/board/$board/debug/include" ]; then
            skip "sel4-microkit-$arch" "$MICROKIT_SDK has no board $board (debug)"
        elif need "sel4-microkit-$arch" "qemu-system-$arch"; then
            microkit_tests "$board" "$arch" "$load"
        fi
    done <<EOF
qemu_virt_aarch64 aarch64 0xc0000000
qemu_virt_riscv64 riscv64 0x100000000
EOF
}

if [ -z "$MICROKIT_SDK" ]; then
    skip sel4-microkit "MICROKIT_SDK is not set (a Microkit SDK, e.g. microkit-sdk-2.0.1)"
else
    microkit_boards
fi
if [ -z "$SEL4_PREFIX" ]; then
    skip sel4-roottask "SEL4_PREFIX is not set (an x86_64 or aarch64 seL4 kernel install with KernelPrinting)"
elif [ $RT_ARCH = aarch64 ] && [ ! -f "$SEL4_PREFIX/elfloader/elfloader.o" ]; then
    skip $RT "no precompiled elfloader in $SEL4_PREFIX/elfloader (see README: Root task on aarch64)"
elif need $RT $QEMU python3; then
    roottask_tests
    if grep -Eqs 'define CONFIG_MAX_NUM_NODES +([4-9]|[1-9][0-9]+)$' \
        "$SEL4_PREFIX/libsel4/include/kernel/gen_config.h"; then
        roottask_smp_tests
    else
        skip $RT-smp "the kernel at SEL4_PREFIX is not built for 4 cores (KernelMaxNumNodes)"
    fi
fi
exit $failed
