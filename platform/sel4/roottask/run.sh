#!/bin/sh
# run.sh — boots seL4 with l4lm as its root task in QEMU and exits with the
# root task's status (0 = the story was generated).
#   run.sh KERNEL32_ELF ROOTTASK_ELF   x86_64: Multiboot kernel + module
#   run.sh IMAGE_ELF                   aarch64: an elfloader image (virt)
# SEL4_TIMEOUT=SECONDS (default 600) stops a hung machine (status 124).
# SEL4_SMP=N: N CPUs, each emulated by its own host thread (aarch64: the
# kernel's KernelMaxNumNodes, as it waits for every core it was built for).
smp=
[ "${SEL4_SMP:-1}" -gt 1 ] && smp="-smp $SEL4_SMP -accel tcg,thread=multi"
if [ $# -eq 1 ]; then
    # QEMU virt with the memory and CPU the kernel's device tree was dumped
    # with (QEMU_MEMORY=2048, ARM_CPU=cortex-a57); the root task ends the
    # run through semihosting, which QEMU exits with its status.
    timeout "${SEL4_TIMEOUT:-600}" qemu-system-aarch64 -machine virt,virtualization=on -cpu cortex-a57 \
        -m 2G $smp -nographic -no-reboot -serial mon:stdio \
        -semihosting-config enable=on,userspace=on -kernel "$1" </dev/null
    exit $?
fi
kernel=$1 roottask=$2
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
