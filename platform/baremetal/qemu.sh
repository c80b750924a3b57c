#!/bin/sh
# qemu.sh — boots a bare-metal l4lm image in QEMU with the serial console on
# stdout and exits with the image's own status (0 = the story was generated).
#   qemu.sh aarch64 IMAGE [MODEL_FILE LOAD_ADDR]   (the model placed by QEMU's loader)
#   qemu.sh riscv64 IMAGE [MODEL_FILE LOAD_ADDR]   (S-mode image under QEMU's OpenSBI)
#   qemu.sh x86_64 IMAGE
# BM_TIMEOUT=SECONDS stops a hung machine (status 124); 0 or unset: no limit.
# BM_SMP=N (aarch64): N CPUs, each emulated by its own host thread.
arch=$1 image=$2 model=$3 addr=$4
limit=${BM_TIMEOUT:-0}
case $arch in
aarch64)
    # Semihosting carries the exit status; CPU: a plain Armv8.0-A core.
    set -- qemu-system-aarch64 -M virt -cpu cortex-a72 -m 512M -nographic -no-reboot \
        -semihosting-config enable=on,target=native -kernel "$image"
    if [ "${BM_SMP:-1}" -gt 1 ]; then
        set -- "$@" -smp "$BM_SMP" -accel tcg,thread=multi
    fi
    if [ -n "$model" ]; then
        set -- "$@" -device "loader,file=$model,addr=$addr,force-raw=on"
    fi
    exec timeout "$limit" "$@" </dev/null ;;
riscv64)
    # OpenSBI (-bios default) starts the image in S-mode; the sifive_test
    # device carries the exit status.
    set -- qemu-system-riscv64 -M virt -cpu rv64 -m 512M -nographic -no-reboot \
        -bios default -kernel "$image"
    if [ -n "$model" ]; then
        set -- "$@" -device "loader,file=$model,addr=$addr,force-raw=on"
    fi
    exec timeout "$limit" "$@" </dev/null ;;
x86_64)
    # isa-debug-exit makes QEMU exit with status*2+1: undo that.
    timeout "$limit" qemu-system-x86_64 -M pc -cpu max -m 256M -nographic -no-reboot \
        -device isa-debug-exit,iobase=0xf4,iosize=0x04 -kernel "$image" </dev/null
    s=$?
    [ "$s" -eq 124 ] && exit 124
    [ $((s & 1)) -eq 1 ] && exit $((s >> 1))
    echo "qemu.sh: QEMU exited with $s without a status from the image" >&2
    exit 125 ;;
*)
    echo "usage: qemu.sh aarch64|riscv64|x86_64 IMAGE [MODEL_FILE LOAD_ADDR]" >&2
    exit 2 ;;
esac
