# l4lm — build, demo and tests. `make` builds build/l4lm.
# Module fragments live in mk/*.mk (each adds its own targets and tests).

CC      ?= gcc
OPT     ?= -O2
include mk/flags.mk
# Build in parallel unless the command line says how (-j N).
ifeq ($(filter -j%,$(MAKEFLAGS)),)
MAKEFLAGS += -j$(shell nproc 2>/dev/null || echo 1)
endif
# SIMD kernels. The hosted build carries every variant of them for its host
# (SIMD_VARIANTS: each file of SIMD_SRC compiled once per variant, with its
# flags, into one table of kernels per variant) and the core gives each
# session the best this CPU runs (src/core/kernels_pick.c); L4LM_SIMD=
# VARIANT|none in the environment picks another (platform/posix/simd.c).
# SIMD=flags builds the one variant those flags give instead, as
# freestanding targets do (SIMD= is the portable C path on x86_64). SIMD_HOST: the flags of the
# best variant this host runs (fuzz builds and static checks).
SIMD_FLAGS_avx2    := -mavx2 -mf16c -mfma
SIMD_FLAGS_avxvnni := $(SIMD_FLAGS_avx2) -mavxvnni
SIMD_FLAGS_avx512  := $(SIMD_FLAGS_avx2) -mavx512f -mavx512bw -mavx512vl -mavx512vnni
SIMD_FLAGS_avx512bf16 := $(SIMD_FLAGS_avx512) -mavx512bf16
SIMD_FLAGS_dotprod := -march=armv8.2-a+dotprod
SIMD_FLAGS_neon    :=
SIMD_FLAGS_rvv     := -march=rv64gcv
HOST_ARCH := $(shell uname -m)
cpu_has   = $(shell grep -qw $(1) /proc/cpuinfo 2>/dev/null && echo y)
ifeq ($(HOST_ARCH),x86_64)
SIMD_HOST := $(if $(and $(call cpu_has,avx2),$(call cpu_has,f16c),$(call cpu_has,fma)),\
               $(if $(and $(call cpu_has,avx512_vnni),$(call cpu_has,avx512vl),$(call cpu_has,avx512bw)),\
                    $(if $(call cpu_has,avx512_bf16),$(SIMD_FLAGS_avx512bf16),$(SIMD_FLAGS_avx512)),\
               $(if $(call cpu_has,avx_vnni),$(SIMD_FLAGS_avxvnni),$(SIMD_FLAGS_avx2))))
HOST_VARIANTS := avx512bf16 avx512 avxvnni avx2
SIMD_SRC := src/core/kernels_x86.c src/core/kernels_x86_vec.c src/core/kernels_k_x86.c \
            src/core/kernels_simd.c
else ifeq ($(HOST_ARCH),aarch64)
SIMD_HOST := $(if $(call cpu_has,asimddp),$(SIMD_FLAGS_dotprod))
HOST_VARIANTS := dotprod neon
SIMD_SRC := src/core/kernels_arm.c src/core/kernels_k_arm.c src/core/kernels_simd.c
else ifeq ($(HOST_ARCH),riscv64)
# RVV 1.0 needs clang's intrinsics (gcc 12 has none): with gcc, the C path only.
SIMD_HOST :=
HOST_VARIANTS := $(if $(findstring clang,$(firstword $(CC))),rvv)
SIMD_SRC := src/core/kernels_rvv.c src/core/kernels_k_rvv.c src/core/kernels_simd.c
endif
ifeq ($(origin SIMD),undefined)
SIMD_VARIANTS := $(HOST_VARIANTS)
SIMD :=
endif
# A build with SIMD=... given keeps its objects apart from the normal one.
BUILD   ?= build$(if $(SIMD_VARIANTS),,-simd$(or $(subst =,_,$(subst +,_,$(subst $() ,,$(SIMD)))),-none))
# The core and the service code (freestanding, see mk/flags.mk); the hosted
# platform code, tests and tools (each layer with its own include paths).
CORE_CFLAGS := $(call l4lm_fs_cflags,$(CC),$(OPT)) $(SIMD) $(if $(SIMD_VARIANTS),-DL4LM_SIMD_DISPATCH) $(EXTRA_CFLAGS)
HOST_CFLAGS := -std=gnu11 $(OPT) -g -ffp-contract=off $(WARN) $(EXTRA_CFLAGS)
LDLIBS  := -lm -lpthread

CORE_SRC  := $(sort $(wildcard src/core/*.c))
SERVE_SRC := $(sort $(wildcard src/serve/*.c))
POSIX_SRC := $(sort $(filter-out platform/posix/main.c,$(wildcard platform/posix/*.c $(POSIX_DIRS:%=platform/posix/%/*.c))))
CORE_OBJ  := $(filter-out $(if $(SIMD_VARIANTS),$(SIMD_SRC:%.c=$(BUILD)/%.o)),$(CORE_SRC:%.c=$(BUILD)/%.o)) \
             $(foreach v,$(SIMD_VARIANTS),$(SIMD_SRC:%.c=$(BUILD)/%-$(v).o)) $(SERVE_SRC:%.c=$(BUILD)/%.o)
POSIX_OBJ := $(POSIX_SRC:%.c=$(BUILD)/%.o)
# libl4lm.a is the engine and the service protocol, nothing of any platform;
# libl4lm_posix.a the hosted platform, above it.
LIBS      := $(BUILD)/libl4lm_posix.a $(BUILD)/libl4lm.a
LIB_FILES := $(BUILD)/libl4lm.a $(BUILD)/libl4lm_posix.a
TEST_SRC  := $(sort $(wildcard tests/test_*.c))
TEST_BIN  := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
# A tool is tools/NAME.c, or a directory tools/NAME/ of .c files (main.c among them).
TOOL_NAME := $(sort $(patsubst tools/%.c,%,$(wildcard tools/*.c)) $(patsubst tools/%/main.c,%,$(wildcard tools/*/main.c)))
TOOL_BIN  := $(TOOL_NAME:%=$(BUILD)/tools/%)

.PHONY: all demo test check clean bench fuzz print-cflags print-cc print-inc flags-changed
all: $(BUILD)/l4lm $(TOOL_BIN)

# Every object depends on the flags it was built with: the stamp is
# rewritten, and everything rebuilt, when they differ from the last build's.
FLAGS_STAMP := $(BUILD)/.flags
FLAGS_NOW   := $(CC) $(CORE_CFLAGS) | $(HOST_CFLAGS)
ifneq ($(file < $(FLAGS_STAMP)),$(FLAGS_NOW))
$(FLAGS_STAMP): flags-changed
endif
$(FLAGS_STAMP):
	@mkdir -p $(@D)
	@printf '%s\n' '$(subst ','\'',$(FLAGS_NOW))' > $@

$(BUILD)/src/core/%.o: src/core/%.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CORE_CFLAGS) $(CORE_INC) $(DEPFLAGS) -c $< -o $@
$(BUILD)/src/serve/%.o: src/serve/%.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CORE_CFLAGS) $(SERVE_INC) $(DEPFLAGS) -c $< -o $@

# One object per SIMD file and variant: kernels.h appends the variant to its
# entry points and to its table, l4lm_kern_VARIANT (kernels_simd.c).
define simd_variant
$(BUILD)/src/core/%-$(1).o: src/core/%.c $(FLAGS_STAMP)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CORE_CFLAGS) $$(CORE_INC) $$(SIMD_FLAGS_$(1)) -DL4LM_SIMD_VARIANT=$(1) $$(DEPFLAGS) -c $$< -o $$@
endef
$(foreach v,$(SIMD_VARIANTS),$(eval $(call simd_variant,$(v))))

# POSIX objects: the folder of platform/posix/DIR/x.c picks its include paths.
posix_dir = $(if $(findstring /,$*),$(firstword $(subst /, ,$*)))
$(BUILD)/platform/posix/%.o: platform/posix/%.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) $(call posix_inc,$(posix_dir)) $(DEPFLAGS) -c $< -o $@

$(BUILD)/libl4lm.a: $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^
$(BUILD)/libl4lm_posix.a: $(POSIX_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/l4lm: $(BUILD)/platform/posix/main.o $(LIB_FILES)
	$(CC) $(HOST_CFLAGS) $< $(LIBS) $(LDLIBS) -o $@

$(BUILD)/tests/%: tests/%.c $(LIB_FILES) $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) $(TEST_INC) $(DEPFLAGS) $< $(LIBS) $(LDLIBS) -o $@

.SECONDEXPANSION:
$(TOOL_BIN): $(BUILD)/tools/%: $$(wildcard tools/%.c tools/%/*.c tools/%/*.h) $(LIB_FILES) $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(HOST_CFLAGS) $(TEST_INC) $(filter %.c,$^) $(LIBS) $(LDLIBS) -o $@

-include $(CORE_OBJ:.o=.d) $(POSIX_OBJ:.o=.d) $(BUILD)/platform/posix/main.d $(TEST_BIN:=.d)

# The flags of a layer for the scripts (tests/freestanding.sh, static.sh,
# kernels_simd.sh): LAYER=core|serve, TARGET=hosted (this build) or a
# freestanding image target of mk/flags.mk.
TARGET ?= hosted
print-cflags:
	@echo $(if $(filter hosted,$(TARGET)),$(CORE_CFLAGS),$(call fs_target_cflags,$(TARGET))) \
	  $(if $(filter serve,$(LAYER)),$(SERVE_INC),$(CORE_INC))
print-cc:
	@echo $(if $(filter hosted,$(TARGET)),$(CC),$(FS_CC_$(TARGET)))
# The include paths a layer is given (tests/layers.sh): LAYER=core|serve|port,
# or posix with DIR= one of POSIX_DIRS (empty: platform/posix itself).
print-inc:
	@echo $(if $(filter posix,$(LAYER)),$(call posix_inc,$(DIR)),$($(shell echo $(LAYER) | tr a-z A-Z)_INC))

# The demo: find the model beside the checkout, or download it once. The
# model comes first (the build runs after it, in a sub-make), so a machine
# without network learns that at once. curl writes to a .part file that
# becomes the model only when the download is complete and is a GGUF file.
DEMO_MODEL ?= $(firstword $(wildcard ../shared/models/stories260K.gguf) models/stories260K.gguf)
DEMO_URL   ?= https://huggingface.co/ggml-org/models/resolve/main/tinyllamas/stories260K.gguf
models/stories260K.gguf:
	@mkdir -p models
	@echo "make demo: downloading stories260K.gguf (1.2 MB) from $(DEMO_URL)"
	@if curl -fsSL --connect-timeout 10 --max-time 300 -o $@.part $(DEMO_URL) && \
	    [ "$$(head -c 4 $@.part)" = GGUF ]; then mv -f $@.part $@; else \
	  rm -f $@.part; { \
	  echo "make demo: could not download the demo model. Get stories260K.gguf from"; \
	  echo "  $(DEMO_URL)"; \
	  echo "and put it at $@ (or ../shared/models/stories260K.gguf), then run make demo"; \
	  echo "again; or run the demo on a model you have: make demo DEMO_MODEL=path/to/model.gguf"; \
	  } >&2; exit 1; fi

demo: $(DEMO_MODEL)
	@$(MAKE) --no-print-directory all
	$(BUILD)/l4lm run -m $(DEMO_MODEL) --ctx 512 -p "Once upon a time" -n 200

# Everything `make test` runs: hosted build, sanitizer build, then the runner.
test: all $(TEST_BIN)
	$(MAKE) --no-print-directory BUILD=build-asan CC=clang OPT=-O1 \
	  EXTRA_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
	  build-asan/l4lm $(TEST_SRC:tests/%.c=build-asan/tests/%) $(TOOL_NAME:%=build-asan/tools/%)
	bash tests/run.sh

# The unit tests of this build only: fast, no scripts, no sanitizer build.
check: $(TEST_BIN)
	@fail=0; for t in $(TEST_BIN); do out=$$($$t 2>&1) || echo "FAIL $$t: exit status $$?"; \
	  printf '%s\n' "$$out" | grep -E '^(FAIL|skip) '; \
	  printf '%s\n' "$$out" | grep -q '^FAIL ' && fail=1; \
	  echo "$$t: $$(printf '%s\n' "$$out" | grep -c '^ok ') ok"; done; exit $$fail

clean:
	rm -rf build build-asan build-simd-*

-include $(sort $(wildcard mk/*.mk))
