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
# counted <log name> <command...>: run a step that prints its own
# "N passed, N failed", show its output and add its counts; a step that
# fails without counting a failure (its build, the script) counts one.
counted() {
    log="$logs/$1"
    shift
    "$@" >"$log" 2>&1
    rc=$?
    cat "$log"
    tally "$log"
    if [ $rc -ne 0 ] && [ "$last_failed" -eq 0 ]; then
        count 0 1
    fi
}

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
counted unit tests/unit-run.sh build-asan "$logs/unit-programs"

echo "== unit tests against APR with pool debugging (ASan, UBSan)"
counted pool-debug timeout 900 tests/pool-debug.sh "$top/build-pool-debug"

echo "== fuzz targets (libFuzzer, ASan+UBSan, 30 s each, one per CPU at a time; one count each)"
counted fuzz env FUZZ_SECONDS=30 timeout 900 tests/fuzz/run.sh "$top/build-fuzz"

echo "== integration tests (Debian apache2 + build/mod_rproxy.so)"
# test_soak_sanitizers.py runs the ASan+UBSan build under load; a pytest
# that fails without a count (collection error, timeout) counts one
counted integration env RPTEST_ASAN_MODULE="$top/build-asan/mod_rproxy.so" \
    RPROXY_MODULE="$top/build/mod_rproxy.so" timeout 900 \
    /usr/bin/python3 -m pytest -q -rs -p no:cacheprovider tests/integration

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
