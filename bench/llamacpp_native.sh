#!/usr/bin/env bash
# llamacpp_native.sh — the anchor of `make bench`: llama.cpp's own llama-bench
# and llama-quantize, built for this CPU from the very source release that npm
# node-llama-cpp ships (node_modules/node-llama-cpp/llama/gitRelease.bundle),
# so the native column and the node column are the same llama.cpp code.
#
#   bash bench/llamacpp_native.sh [CACHE_DIR]     (default bench/llamacpp-native)
#
# Clones the bundle into CACHE_DIR/src, configures CACHE_DIR/build with the
# CMake line below (printed) and builds only the two targets. Nothing is
# downloaded: the bundle comes with the registry package; the options turn off
# everything that would fetch (server web UI, HTTPS, the unified app). Cached:
# a stamp holds the bundle's commit and the CMake line, and a later run with
# the same stamp only lets ninja check the targets. Nothing here is committed
# (the cache dir is gitignored). Prints the directory of the two binaries last.
set -u
cd "$(dirname "$0")/.." || exit 1
cache=${1:-bench/llamacpp-native}
bundle=tests/llamacpp/node_modules/node-llama-cpp/llama/gitRelease.bundle
die() { echo "llamacpp_native: $*" >&2; exit 1; }
[ -f "$bundle" ] || die "$bundle missing (npm install in tests/llamacpp)"
for c in git cmake ninja c++; do command -v $c >/dev/null || die "$c is needed to build llama.cpp"; done

commit=$(git bundle list-heads "$bundle" | awk '$2 == "HEAD" { print $1 }')
[ -n "$commit" ] || die "$bundle has no HEAD"
flags=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DBUILD_SHARED_LIBS=OFF
    -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF
    -DLLAMA_BUILD_APP=OFF -DLLAMA_OPENSSL=OFF)
want="$commit ${flags[*]}"
bin="$cache/build/bin"
nice=(nice -n "${BENCH_NICE:-10}")

if [ "$(cat "$cache/stamp" 2>/dev/null)" != "$want" ]; then
    rm -rf "$cache/src" "$cache/build" "$cache/stamp"
    mkdir -p "$cache" || exit 1
    echo "llamacpp_native: cloning $bundle ($commit) into $cache/src" >&2
    git clone -q -c advice.detachedHead=false "$bundle" "$cache/src" >&2 || die "git clone of the bundle failed"
    echo "llamacpp_native: cmake -S $cache/src -B $cache/build ${flags[*]}" >&2
    "${nice[@]}" cmake -S "$cache/src" -B "$cache/build" "${flags[@]}" >"$cache/cmake.log" 2>&1 ||
        die "cmake failed, see $cache/cmake.log"
    echo "$want" >"$cache/stamp"
else
    echo "llamacpp_native: cached $cache ($commit); CMake line: cmake ${flags[*]}" >&2
fi
[ -x "$bin/llama-bench" ] ||
    echo "llamacpp_native: building llama-bench llama-quantize (minutes)" >&2
"${nice[@]}" cmake --build "$cache/build" --target llama-bench llama-quantize -j "$(nproc)" \
    >"$cache/build.log" 2>&1 || die "build failed, see $cache/build.log"
for b in llama-bench llama-quantize; do [ -x "$bin/$b" ] || die "$bin/$b missing after the build"; done
echo "$bin"
