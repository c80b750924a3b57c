#!/usr/bin/env bash
# run.sh — boots a Microkit system image in QEMU virt (aarch64 or riscv64),
# shows the console, and stops QEMU once every client PD has given its
# verdict ("clientN: PASS" / "...: FAIL: why") or a PD faulted. Prints one
# last line, PASS or FAIL, and exits 0 only on PASS.
#   [BOARD=qemu_virt_riscv64] run.sh LOADER_IMG N_CLIENTS [MODEL PHYS_ADDR]
# (MODEL placed at PHYS_ADDR by QEMU's loader). BOARD is the image's Microkit
# board (default qemu_virt_aarch64). SEL4_TIMEOUT=SECONDS (default 600) fails
# a system that never finishes; SEL4_QEMU_MEM_MIB sets QEMU's memory
# (default 2048, or up to a loaded model's end).
img=$1 clients=$2 model=$3 addr=$4
limit=${SEL4_TIMEOUT:-600}
log=$(dirname "$img")/qemu.log
board=${BOARD:-qemu_virt_aarch64}
# Per board: where RAM starts, and QEMU with the image loaded as the
# Microkit manual says (aarch64: raw at the loader's link address, booted at
# EL2; riscv64: as the kernel that QEMU's OpenSBI starts in S-mode).
case $board in
qemu_virt_aarch64)
    ram=0x40000000
    qemu=(qemu-system-aarch64 -machine virt,virtualization=on -cpu cortex-a53
        -device "loader,file=$img,addr=0x70000000,cpu-num=0") ;;
qemu_virt_riscv64)
    ram=0x80000000
    qemu=(qemu-system-riscv64 -machine virt -bios default -kernel "$img") ;;
*) board= ;;
esac
if [ ! -f "$img" ] || [ -z "$clients" ] || [ -z "$board" ]; then
    echo "usage: [BOARD=qemu_virt_aarch64|qemu_virt_riscv64] run.sh LOADER_IMG N_CLIENTS [MODEL PHYS_ADDR]" >&2
    exit 2
fi

# The kernel knows 2 GiB of RAM from $ram; a loaded model sits above it, so
# QEMU gets enough memory to reach its end. QEMU's loader reads no file of
# 2 GiB or more: a big model goes in 1 GiB parts.
mem_mib=${SEL4_QEMU_MEM_MIB:-2048}
loaders=()
if [ -n "$model" ]; then
    size=$(stat -c %s "$model") || exit 2
    end_mib=$(((addr + size - ram + (1 << 20) - 1) >> 20))
    [ "$end_mib" -gt "$mem_mib" ] && mem_mib=$end_mib
    part=$((1 << 30))
    if [ "$size" -le "$part" ]; then
        loaders+=(-device "loader,file=$model,addr=$addr,force-raw=on")
    else
        rm -f "$log.part."*
        split -b "$part" -d -a 3 "$model" "$log.part." || exit 2
        i=0
        for f in "$log.part."*; do
            loaders+=(-device "loader,file=$f,addr=$((addr + i * part)),force-raw=on")
            i=$((i + 1))
        done
    fi
fi

# The log exists (and is empty) before QEMU and tail start: tail -f on a file
# the shell has not yet created gave up at once and left the console empty.
: >"$log" || exit 2
"${qemu[@]}" -m "${mem_mib}M" -nographic -serial mon:stdio "${loaders[@]}" </dev/null >>"$log" 2>&1 &
qemu=$!
tail -n +1 -F --pid=$qemu "$log" 2>/dev/null &
shower=$!

verdict=
t0=$SECONDS
while [ -z "$verdict" ]; do
    sleep 0.5
    out=$(tr -d '\r' <"$log")
    pass=$(printf '%s\n' "$out" | grep -Eo 'client[0-9]+: PASS' | wc -l)
    if printf '%s\n' "$out" | grep -Eq '(client[0-9]+|infer): FAIL|MON\|ERROR'; then
        verdict=FAIL
    elif [ "$pass" -ge "$clients" ]; then
        verdict=PASS
    elif ! kill -0 $qemu 2>/dev/null; then
        verdict=FAIL why="QEMU exited"
    elif [ $((SECONDS - t0)) -ge "$limit" ]; then
        verdict=FAIL why="no verdict within ${limit}s"
    fi
done
sleep 1 # the infer PD reports its stack once the clients are done
kill $qemu 2>/dev/null
wait $qemu 2>/dev/null
wait $shower 2>/dev/null
echo
echo "# boot to verdict: $((SECONDS - t0)) s${why:+; $why}"
echo "$verdict"
[ "$verdict" = PASS ]
