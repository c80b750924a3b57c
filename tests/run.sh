#!/usr/bin/env bash
# run.sh — runs every test (hosted and ASan/UBSan builds, then tests/*.sh) and
# ends with one line "N passed, N failed, N skipped".
cd "$(dirname "$0")/.." || exit 1
pass=0 fail=0 skip=0
run_one() { # label, command...
    local label=$1; shift
    local out rc
    out=$(timeout "${L4LM_TEST_TIMEOUT:-1200}" "$@" 2>&1); rc=$?
    printf '%s\n' "$out" | sed "s|^|[$label] |"
    local p f s
    p=$(printf '%s\n' "$out" | grep -c '^ok ')
    f=$(printf '%s\n' "$out" | grep -c '^FAIL ')
    s=$(printf '%s\n' "$out" | grep -c '^skip ')
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "[$label] FAIL $label: exited with status $rc"; f=1
    fi
    pass=$((pass + p)) fail=$((fail + f)) skip=$((skip + s))
}
for t in build/tests/test_*; do
    [ -x "$t" ] && run_one "$(basename "$t")" "$t"
done
for t in build-asan/tests/test_*; do
    [ -x "$t" ] && run_one "asan:$(basename "$t")" "$t" --asan
done
for t in tests/*.sh; do
    [ "$(basename "$t")" = run.sh ] && continue
    run_one "$(basename "$t")" bash "$t"
done
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
