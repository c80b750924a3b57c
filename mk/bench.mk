# bench.mk — `make bench`: l4lm against llama.cpp at its best (llama-bench built
# natively from the source node-llama-cpp ships) and via npm node-llama-cpp, on
# the same TinyLlama-shaped GGUF files; see bench/bench.sh. Then what the grammar,
# the prompt cache and the Q8_0 KV cache cost (bench/features.sh, a few minutes).
# Not part of `make test`.
# BENCH_QUICK=1 make bench   4 layers instead of 22: a fast check of the harness.
# BENCH_FEATURES=0 make bench   leaves out bench/features.sh;
# make bench-features           runs only it.
.PHONY: bench-features
bench: $(BUILD)/l4lm $(BUILD)/tools/mkgguf $(BUILD)/bench/bwprobe $(BUILD)/bench/peakprobe
	BENCH_BUILD=$(BUILD) bash bench/bench.sh
	$(if $(filter 0,$(BENCH_FEATURES)),,BENCH_BUILD=$(BUILD) FEATURES_STORIES=$(DEMO_MODEL) bash bench/features.sh)

bench-features: $(BUILD)/l4lm $(BUILD)/tools/mkgguf
	BENCH_BUILD=$(BUILD) FEATURES_STORIES=$(DEMO_MODEL) bash bench/features.sh

# The read-bandwidth and arithmetic-peak probes: host code, built for this CPU
# like the native llama.cpp (the widest vectors it has).
$(BUILD)/bench/bwprobe $(BUILD)/bench/peakprobe: $(BUILD)/bench/%: bench/%.c bench/probe.h
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O3 -march=native $(WARN) -pthread $< -o $@
