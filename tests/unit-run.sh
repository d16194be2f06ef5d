#!/bin/sh
# Run every unit test program of a build under ASan and UBSan:
#   tests/unit-run.sh BUILD_DIR LOG_DIR
# Each program's FAIL lines and its own "N passed, N failed" are printed; a
# program that crashes, trips a sanitizer or does not end within 300 s
# (a hang) counts as one more failure, with the end of its output. Ends
# with the sum, "N passed, N failed"; exits non-zero on any failure.
# tests/run.sh runs it on the ASan build, tests/pool-debug.sh on the build
# against APR with pool debugging.
set -u
build=$1
logs=$2
mkdir -p "$logs"
passed=0
failed=0
programs=0
for t in "$build"/tests/unit/test_rp_*; do
    [ -x "$t" ] || continue
    case "$t" in *.o | *.trs | *.log) continue ;; esac
    name=$(basename "$t")
    log="$logs/$name.log"
    programs=$((programs + 1))
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        timeout 300 "$t" >"$log" 2>&1
    rc=$?
    grep -E '^(FAIL|    )' "$log"
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
    p=$(echo "$line" | awk '{print $1}')
    f=$(echo "$line" | awk '{print $3}')
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0}))
    if [ $rc -ne 0 ] && [ "${f:-0}" -eq 0 ]; then
        [ $rc -eq 124 ] && echo "    $name: no end within 300 s (a deadlock?)"
        tail -n 40 "$log"
        failed=$((failed + 1)) # crash, sanitizer report or hang
    fi
    echo "$name: ${line:-exit $rc}"
done
if [ "$programs" -eq 0 ]; then
    echo "no unit test programs in $build/tests/unit"
    failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
