#!/usr/bin/env bash
# static.sh — static analysis of src/ (the freestanding core and the service
# protocol): cppcheck (warning, style, performance, portability) and
# clang-tidy with the checks of .clang-tidy (clang-analyzer, bugprone, cert)
# must both report nothing. Suppressions are inline, each with its reason;
# the one global cppcheck suppression is explained below. The kernels'
# headers have more #ifdef configurations than cppcheck's default 12 (one
# per SIMD build: each variant, run-time dispatch, none), so it checks 32.
cd "$(dirname "$0")/.." || exit 1
SRC=$(ls src/core/*.c src/serve/*.c)
TIDY=$(command -v clang-tidy-14 || command -v clang-tidy)
if ! command -v cppcheck >/dev/null || [ -z "$TIDY" ]; then
    apt-get install -y cppcheck clang-tidy >/dev/null 2>&1
    TIDY=$(command -v clang-tidy-14 || command -v clang-tidy)
fi

# invalidPointerCast: session.c carves typed arrays (float *) out of the byte
# arena. The bytes are fresh storage that is only ever used as that type, so
# the representation concern of this check does not apply.
if ! command -v cppcheck >/dev/null; then
    echo "skip static-cppcheck: cppcheck is not installed and apt-get failed"
elif out=$(nice cppcheck --enable=warning,style,performance,portability --std=c11 -q --max-configs=32 \
        --inline-suppr --suppress=invalidPointerCast --error-exitcode=1 \
        -Iinclude -Isrc/core -Isrc/serve $SRC 2>&1) && [ -z "$out" ]; then
    echo "ok static-cppcheck: $(echo $SRC | wc -w) files, no findings"
else
    echo "FAIL static-cppcheck: findings:"; printf '%s\n' "$out" | head -40
fi

if [ -z "$TIDY" ]; then
    echo "skip static-clang-tidy: clang-tidy is not installed and apt-get failed"
    exit 0
fi
# Each layer with the build's own flags for it (mk/flags.mk), for clang,
# without SIMD (the kernels' SIMD paths follow).
CC=$(command -v clang >/dev/null && echo clang || echo gcc)
flags() { make -s --no-print-directory print-cflags LAYER="$1" CC="$CC" SIMD= 2>/dev/null; }
CFLAGS=$(flags core)
# shellcheck disable=SC2086
out=$(nice "$TIDY" --quiet src/core/*.c -- $CFLAGS 2>&1 | grep -E '(warning|error):')
# shellcheck disable=SC2086
out+=$(nice "$TIDY" --quiet src/serve/*.c -- $(flags serve) 2>&1 | grep -E '(warning|error):')
# The kernels again with the SIMD paths the Makefile builds on this host.
# kernels_x86.c defines _MM_MALLOC_H_INCLUDED on purpose (GCC's immintrin.h
# would pull in libc's stdlib.h), a reserved name; that file belongs to the
# kernels, so this pass leaves out the reserved-identifier checks rather than
# marking the line.
SIMD=$(make -s --no-print-directory --eval 'l4lm-print-simd: ; @echo $(if $(SIMD_VARIANTS),$(SIMD_HOST),$(SIMD))' l4lm-print-simd 2>/dev/null)
if [ -n "$SIMD" ]; then
    # shellcheck disable=SC2086
    out+=$(nice "$TIDY" --quiet \
        --checks=-bugprone-reserved-identifier,-cert-dcl37-c,-cert-dcl51-cpp \
        src/core/kernels*.c -- $CFLAGS $SIMD 2>&1 | grep -E '(warning|error):')
fi
if [ -z "$out" ]; then
    echo "ok static-clang-tidy: $(echo $SRC | wc -w) files, no findings"
else
    echo "FAIL static-clang-tidy: $(printf '%s\n' "$out" | wc -l) findings:"
    printf '%s\n' "$out" | head -40
fi
