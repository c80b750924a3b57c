# fuzz.mk — libFuzzer harnesses (tests/fuzz/fuzz_*.c) for hostile input.
#   make fuzz FUZZ_SECONDS=N   build, replay tests/corpus/, fuzz each harness N seconds
#   make fuzz-build            the harnesses: clang -fsanitize=fuzzer,address,undefined
#   make fuzz-cov              a coverage build; replays every corpus and prints
#                              llvm-cov line coverage of each harness's target files
# `make test` runs tests/fuzz.sh, which does the same with a short time per harness.
# Everything lands in build-fuzz/ (fuzz/ sanitizer build, cov/ coverage build).

FUZZ_SECONDS ?= 60
FUZZ_BUILD   := build-fuzz
FUZZ_CC      := clang
FUZZ_NAMES   := gguf l2c tokenizer serve cli grammar
FUZZ_POSIX   := platform/posix/cli/cli.c platform/posix/map.c platform/posix/pool.c platform/posix/simd.c
FUZZ_OPT     := -O1 -g -fno-omit-frame-pointer -ffp-contract=off
# The core keeps its freestanding flags (mk/flags.mk, clang's own headers
# only) and SIMD kernels: the one variant of SIMD, or the best this host runs.
FUZZ_CORE_FLAGS = $(call l4lm_fs_cflags,$(FUZZ_CC),$(FUZZ_OPT)) $(if $(SIMD_VARIANTS),$(SIMD_HOST),$(SIMD))
# serve_fake.h has helpers the harness does not call.
FUZZ_HOST_FLAGS = -std=gnu11 $(FUZZ_OPT) $(WARN) -Wno-unused-function $(TEST_INC) -Itests/fuzz

# Two variants: sanitizers (for finding bugs) and coverage (for measuring).
FUZZ_INSTR_fuzz := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
FUZZ_LINK_fuzz  := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_INSTR_cov  := -fprofile-instr-generate -fcoverage-mapping
FUZZ_LINK_cov   := -fsanitize=fuzzer -fprofile-instr-generate -fcoverage-mapping

.PHONY: fuzz fuzz-build fuzz-cov
define fuzz_variant
$(FUZZ_BUILD)/$(1)/obj/src/core/%.o: src/core/%.c
	@mkdir -p $$(@D)
	$(FUZZ_CC) $$(FUZZ_CORE_FLAGS) $$(CORE_INC) $(FUZZ_INSTR_$(1)) $$(DEPFLAGS) -c $$< -o $$@
$(FUZZ_BUILD)/$(1)/obj/src/serve/%.o: src/serve/%.c
	@mkdir -p $$(@D)
	$(FUZZ_CC) $$(FUZZ_CORE_FLAGS) $$(SERVE_INC) $(FUZZ_INSTR_$(1)) $$(DEPFLAGS) -c $$< -o $$@
$(FUZZ_BUILD)/$(1)/obj/platform/%.o: platform/%.c
	@mkdir -p $$(@D)
	$(FUZZ_CC) $$(FUZZ_HOST_FLAGS) $(FUZZ_INSTR_$(1)) $$(DEPFLAGS) -c $$< -o $$@
FUZZ_OBJ_$(1) := $(CORE_SRC:%.c=$(FUZZ_BUILD)/$(1)/obj/%.o) \
  $(SERVE_SRC:%.c=$(FUZZ_BUILD)/$(1)/obj/%.o) $(FUZZ_POSIX:%.c=$(FUZZ_BUILD)/$(1)/obj/%.o)
$(FUZZ_BUILD)/$(1)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h tests/serve_fake.h \
    $$(FUZZ_OBJ_$(1))
	$(FUZZ_CC) $$(FUZZ_HOST_FLAGS) $(FUZZ_LINK_$(1)) $$< $$(FUZZ_OBJ_$(1)) -lm -lpthread -o $$@
-include $$(FUZZ_OBJ_$(1):.o=.d)
endef
$(foreach v,fuzz cov,$(eval $(call fuzz_variant,$(v))))
# objects made by pattern rules are kept, not deleted as intermediates
.SECONDARY: $(FUZZ_OBJ_fuzz) $(FUZZ_OBJ_cov)

$(FUZZ_BUILD)/mkseeds: tests/fuzz/mkseeds.c $(wildcard tests/fuzz/mkseeds_*.h) $(LIB_FILES)
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) $(TEST_INC) $< $(LIBS) $(LDLIBS) -o $@

fuzz-build: $(FUZZ_NAMES:%=$(FUZZ_BUILD)/fuzz/fuzz_%) $(FUZZ_BUILD)/mkseeds $(BUILD)/tools/mkgguf

fuzz-cov: $(FUZZ_NAMES:%=$(FUZZ_BUILD)/cov/fuzz_%) fuzz-build
	bash tests/fuzz.sh --coverage

fuzz: fuzz-build
	L4LM_FUZZ_SECONDS=$(FUZZ_SECONDS) bash tests/fuzz.sh

clean: fuzz-clean
.PHONY: fuzz-clean
fuzz-clean:
	rm -rf $(FUZZ_BUILD)
