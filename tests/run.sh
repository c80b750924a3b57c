#!/usr/bin/env bash
# run.sh — runs every test (hosted and ASan/UBSan builds, then tests/*.sh) and
# ends with one line "N passed, N failed, N skipped".
#
# A test passes only by saying so. Each program and script prints lines
# starting "ok ", "FAIL " or "skip "; the runner counts them and also fails a
# test that exits non-zero without a FAIL line, or prints no result line at
# all (a crash before the first check, an empty script, a stub).
#
# Which binaries run comes from the sources: one build/tests/test_X per
# tests/test_X.c, and a missing one FAILs. Stale binaries of deleted tests are
# never run. The ASan/UBSan copies (build-asan/tests) are held to the same list
# when that build exists; without it they are one skip.
#
# L4LM_REQUIRE_ALL=1 turns every skip into a failure, for a machine that has
# everything (../shared, node, qemu, seL4). CI leaves it unset: it keeps the
# seL4 skips (tests/sel4.sh needs MICROKIT_SDK / SEL4_PREFIX).
# L4LM_TEST_TIMEOUT (seconds, default 1200) bounds each program or script.
cd "$(dirname "$0")/.." || exit 1
pass=0 fail=0 skip=0
require_all=${L4LM_REQUIRE_ALL:-0}

count() { # pattern, text: the number of lines starting with pattern
    printf '%s\n' "$2" | grep -c "^$1"
}

run_one() { # label, command...
    local label=$1; shift
    local out rc p f s tmp
    # Through a file, not a pipe: a process the test leaves behind holding
    # its output then cannot keep the runner waiting.
    tmp=$(mktemp) || return 1
    timeout "${L4LM_TEST_TIMEOUT:-1200}" "$@" >"$tmp" 2>&1; rc=$?
    out=$(cat "$tmp"); rm -f "$tmp"
    [ -n "$out" ] && printf '%s\n' "$out" | sed "s|^|[$label] |"
    p=$(count 'ok ' "$out") f=$(count 'FAIL ' "$out") s=$(count 'skip ' "$out")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "[$label] FAIL $label: exited with status $rc"; f=1
    elif [ $((p + f + s)) -eq 0 ]; then
        echo "[$label] FAIL $label: printed no ok/FAIL/skip line"; f=1
    fi
    if [ "$require_all" = 1 ] && [ "$s" -gt 0 ]; then
        echo "[$label] FAIL $label: $s skip(s), and L4LM_REQUIRE_ALL=1"
        f=$((f + s)) s=0
    fi
    pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
}

note() { # kind (FAIL or skip), label, why: a result the runner itself gives
    if [ "$1" = FAIL ]; then
        echo "[$2] FAIL $2: $3"; fail=$((fail + 1))
    elif [ "$require_all" = 1 ]; then
        echo "[$2] FAIL $2: $3 (a skip, and L4LM_REQUIRE_ALL=1)"; fail=$((fail + 1))
    else
        echo "[$2] skip $2: $3"; skip=$((skip + 1))
    fi
}

run_bins() { # build directory, label prefix, extra argument...
    local dir=$1 prefix=$2 src name; shift 2
    for src in tests/test_*.c; do
        name=$(basename "$src" .c)
        if [ -x "$dir/tests/$name" ]; then
            run_one "$prefix$name" "$dir/tests/$name" "$@"
        else
            note FAIL "$prefix$name" "$dir/tests/$name was not built (run make)"
        fi
    done
}

run_bins build ""
if [ -d build-asan/tests ]; then
    run_bins build-asan asan: --asan
else
    note skip asan "build-asan/tests is absent (make test builds it)"
fi
for t in tests/*.sh; do
    [ "$(basename "$t")" = run.sh ] && continue
    run_one "$(basename "$t")" bash "$t"
done
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
