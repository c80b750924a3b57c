#!/bin/sh
# run.sh — boots seL4 (x86_64) with l4lm as its root task in QEMU and exits
# with the root task's status (0 = the story was generated).
#   run.sh KERNEL32_ELF ROOTTASK_ELF
# SEL4_TIMEOUT=SECONDS (default 600) stops a hung machine (status 124).
# SEL4_SMP=N: N CPUs, each emulated by its own host thread.
kernel=$1 roottask=$2
smp=
[ "${SEL4_SMP:-1}" -gt 1 ] && smp="-smp $SEL4_SMP -accel tcg,thread=multi"
# A CPU with what the kernel was configured for (Nehalem, no XSAVE, FS/GS
# base through MSRs) plus 1 GiB pages.
timeout "${SEL4_TIMEOUT:-600}" qemu-system-x86_64 \
    -cpu Nehalem,-vme,+pdpe1gb,-xsave,-xsaveopt,-xsavec,-fsgsbase,-invpcid,+syscall,+lm \
    -m 512M $smp -nographic -no-reboot -serial mon:stdio \
    -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
    -kernel "$kernel" -initrd "$roottask" </dev/null
s=$?
[ "$s" -eq 124 ] && exit 124
# isa-debug-exit makes QEMU exit with status * 2 + 1.
[ $((s & 1)) -eq 1 ] && exit $((s >> 1))
echo "run.sh: QEMU exited with $s without a status from the root task" >&2
exit 125
