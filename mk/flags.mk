# flags.mk — the one place the compile flags of the layers are written down.
# Every build includes it: the top Makefile (hosted build, fuzz builds,
# bare-metal images) and the seL4 Makefiles, which set L4LM_TOP to the
# checkout (with a trailing /) before including it by relative path. The
# scripts ask the top Makefile for the flags instead of restating them:
#   make -s print-cflags LAYER=core|serve [TARGET=hosted|x86_64|x86_64-avx2|aarch64|riscv64]
#   make -s print-cc [TARGET=...]
# Layers and what each may include are described in docs/architecture.md.
ifndef L4LM_FLAGS_MK
L4LM_FLAGS_MK := 1

L4LM_TOP ?=
OPT      ?= -O2
WARN     := -Wall -Wextra -Wshadow -Wvla -Werror

# The freestanding layers (src/core, src/serve) for compiler $(1) at
# optimisation $(2): C11, only the compiler's own headers, no errno from
# math, no FMA contraction (the same bits on every platform).
l4lm_fs_cflags = -std=c11 $(2) -g -ffreestanding -nostdinc -isystem $(shell $(1) -print-file-name=include) \
  -fno-math-errno -ffp-contract=off $(WARN)

# What each layer may include (the build gives it nothing else):
#   src/core       the public header and itself
#   src/serve      the public headers and itself (its own byte-order helpers)
#   platform/common and the freestanding ports: the public headers, this
#                  shared port code, and their own folder (added per rule)
CORE_INC  = -I$(L4LM_TOP)include -I$(L4LM_TOP)src/core
SERVE_INC = -I$(L4LM_TOP)include -I$(L4LM_TOP)src/serve
PORT_INC  = -I$(L4LM_TOP)include -I$(L4LM_TOP)platform/common
# The POSIX port: one folder per program plus what they share
# (platform/posix itself); each program also sees the folders it names here.
POSIX_DIRS        := cli shm http gateway
POSIX_USES_cli    := cli
POSIX_USES_shm    := shm cli
POSIX_USES_http   := http cli
POSIX_USES_gateway := gateway shm cli
posix_inc = -I$(L4LM_TOP)include -I$(L4LM_TOP)platform/posix $(POSIX_USES_$(1):%=-I$(L4LM_TOP)platform/posix/%)
# Tests and tools may see every layer's internals.
TEST_INC  = -I$(L4LM_TOP)include -I$(L4LM_TOP)src/core -I$(L4LM_TOP)src/serve -I$(L4LM_TOP)platform/posix \
  $(POSIX_DIRS:%=-I$(L4LM_TOP)platform/posix/%) -I$(L4LM_TOP)tests

# Freestanding images: a compiler and its architecture flags per target.
# No outline-atomics helpers (they live in libgcc); no red zone under
# exceptions; static, position-dependent code without unwind tables.
AARCH64_CC ?= aarch64-linux-gnu-gcc
RISCV64_CC ?= riscv64-unknown-elf-gcc
X86_64_CC  ?= $(if $(filter x86_64,$(shell uname -m)),gcc,x86_64-linux-gnu-gcc)
FS_TARGETS := aarch64 x86_64 x86_64-avx2 riscv64
FS_CC_aarch64 = $(AARCH64_CC)
FS_ARCH_aarch64 := -mno-outline-atomics
# riscv64: RV64GC with Zbb (RVA22; byte swaps without libgcc), hard-float
# ABI; medany, as the image runs at 0x80200000.
FS_CC_riscv64 = $(RISCV64_CC)
FS_ARCH_riscv64 := -march=rv64gc_zbb -mabi=lp64d -mcmodel=medany
FS_CC_x86_64 = $(X86_64_CC)
FS_ARCH_x86_64 := -mno-red-zone
FS_CC_x86_64-avx2 = $(X86_64_CC)
FS_ARCH_x86_64-avx2 := -mno-red-zone -mavx2 -mf16c
FS_IMAGE_CFLAGS := -fno-pie -fno-stack-protector -fno-asynchronous-unwind-tables
# The core's flags for target $(1) (without include paths).
fs_target_cflags = $(call l4lm_fs_cflags,$(FS_CC_$(1)),$(OPT)) $(FS_IMAGE_CFLAGS) $(FS_ARCH_$(1))

# Header dependencies: each object writes its own .d file beside it.
DEPFLAGS := -MMD -MP
endif
