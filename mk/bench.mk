# bench.mk — `make bench`: l4lm against llama.cpp at its best (llama-bench built
# natively from the source node-llama-cpp ships) and via npm node-llama-cpp, on
# the same TinyLlama-shaped GGUF files; see bench/bench.sh. Not part of `make test`.
# BENCH_QUICK=1 make bench   4 layers instead of 22: a fast check of the harness.
bench: $(BUILD)/l4lm $(BUILD)/tools/mkgguf $(BUILD)/bench/bwprobe
	BENCH_BUILD=$(BUILD) bash bench/bench.sh

# The read-bandwidth probe: host code, built for this CPU like the native llama.cpp.
$(BUILD)/bench/bwprobe: bench/bwprobe.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O3 -march=native $(WARN) -pthread $< -o $@
