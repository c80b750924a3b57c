# bench.mk — `make bench`: l4lm against llama.cpp (npm node-llama-cpp) on the
# same TinyLlama-shaped GGUF files; see bench/bench.sh. Not part of `make test`.
# BENCH_QUICK=1 make bench   4 layers instead of 22: a fast check of the harness.
bench: $(BUILD)/l4lm $(BUILD)/tools/mkgguf
	BENCH_BUILD=$(BUILD) bash bench/bench.sh
