#!/bin/sh
# Run every test: style and log-ID checks, the C unit tests of core/ under
# ASan and UBSan (also against an APR with pool debugging), the fuzz
# targets, and the integration tests against Debian's httpd with the module
# built from this tree (with -Wall -Wextra -Werror).
# Ends with one line "N passed, N failed"; exits non-zero on any failure.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
"$top/scripts/deps.sh" || { echo "0 passed, 1 failed"; exit 1; }

passed=0
failed=0
count() { # count <passed> <failed>
    passed=$((passed + $1))
    failed=$((failed + $2))
}
# Add the counts of the last "N passed, N failed" style line of a log
# (ours, or pytest's "N failed, N passed, N errors in Ts"). Sets $last_failed.
tally() {
    line=$(grep -E '[0-9]+ (passed|failed|errors?)' "$1" | tail -n 1)
    p=$(echo "$line" | grep -Eo '[0-9]+ passed' | grep -Eo '[0-9]+')
    last_failed=$(echo "$line" | grep -Eo '[0-9]+ (failed|errors?)' |
        awk '{s+=$1} END {print s+0}')
    count "${p:-0}" "$last_failed"
}
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

echo "== build (CI flavour: -Werror) and (ASan+UBSan)"
if ! scripts/build.sh "$top/build" --enable-werror; then
    echo "build failed"; count 0 1
    echo "$passed passed, $failed failed"; exit 1
fi
if ! scripts/build.sh "$top/build-asan" --enable-debug --enable-werror; then
    echo "sanitizer build failed"; count 0 1
    echo "$passed passed, $failed failed"; exit 1
fi

echo "== style"
if make -s -C build check-style >"$logs/style" 2>&1; then
    echo "PASS check-style"; count 1 0
else
    cat "$logs/style"; echo "FAIL check-style"; count 0 1
fi

echo "== unit tests (ASan, UBSan)"
if ! make -s -C build-asan check TESTS= >"$logs/unit-build" 2>&1; then
    cat "$logs/unit-build"; echo "FAIL building the unit tests"; count 0 1
fi
for t in build-asan/tests/unit/test_rp_*; do
    [ -x "$t" ] || continue
    case "$t" in *.o|*.trs|*.log) continue ;; esac
    name=$(basename "$t")
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        timeout 300 "$t" >"$logs/$name" 2>&1
    rc=$?
    grep -E '^(FAIL|    )' "$logs/$name"
    tally "$logs/$name"
    if [ $rc -ne 0 ] && [ "$last_failed" -eq 0 ]; then
        tail -n 40 "$logs/$name"; count 0 1 # crash or sanitizer report
    fi
    echo "$name: $(tail -n 1 "$logs/$name")"
done

echo "== unit tests against APR with pool debugging (ASan, UBSan; one count per program)"
timeout 900 tests/pool-debug.sh "$top/build-pool-debug" >"$logs/pool-debug" 2>&1
rc=$?
cat "$logs/pool-debug"
tally "$logs/pool-debug"
if [ $rc -ne 0 ] && [ "$last_failed" -eq 0 ]; then
    count 0 1 # the build or the script itself failed
fi

echo "== fuzz targets (libFuzzer, ASan+UBSan, 30 s each, one per CPU at a time; one count each)"
FUZZ_SECONDS=30 timeout 900 tests/fuzz/run.sh "$top/build-fuzz" \
    >"$logs/fuzz" 2>&1
rc=$?
cat "$logs/fuzz"
tally "$logs/fuzz"
if [ $rc -ne 0 ] && [ "$last_failed" -eq 0 ]; then
    count 0 1 # the build or the script itself failed
fi

echo "== integration tests (Debian apache2 + build/mod_rproxy.so)"
# test_soak_sanitizers.py runs the ASan+UBSan build under load
RPTEST_ASAN_MODULE="$top/build-asan/mod_rproxy.so" \
RPROXY_MODULE="$top/build/mod_rproxy.so" timeout 900 \
    /usr/bin/python3 -m pytest -q -rs -p no:cacheprovider tests/integration \
    >"$logs/integration" 2>&1
rc=$?
cat "$logs/integration"
tally "$logs/integration"
if [ $rc -ne 0 ] && [ "$last_failed" -eq 0 ]; then
    count 0 1 # pytest itself failed (collection error, timeout)
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
