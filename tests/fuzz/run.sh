#!/bin/sh
# Build every libFuzzer target of tests/fuzz/ against core/ and run each one
# for FUZZ_SECONDS with its seed corpus and dictionary (tests/fuzz/README.md).
#
#   tests/fuzz/run.sh [OUT_DIR]        default OUT_DIR: ./build-fuzz
#   FUZZ_SECONDS=60                    run time of each target
#   FUZZ_TARGETS="h1_chunked url"      a subset (default: every directory)
#   FUZZ_BUILD_ONLY=1                  build, do not run
#   CC=clang                           needs -fsanitize=fuzzer (Debian: clang)
#
# New corpus entries go to OUT_DIR/corpus/<target>, never into the tree; a
# crashing or property-violating input is saved as
# OUT_DIR/artifacts/<target>-crash-<sha1>. Prints one PASS/FAIL line per
# target and ends with "N passed, N failed"; exits non-zero on any failure.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
fuzz="$top/tests/fuzz"
out=${1:-$PWD/build-fuzz}
mkdir -p "$out" && out=$(cd "$out" && pwd)
seconds=${FUZZ_SECONDS:-60}
cc=${CC:-clang}
targets=${FUZZ_TARGETS:-$(cd "$fuzz" && for d in */; do
    [ -f "$d${d%/}.c" ] && echo "${d%/}"; done)}

# The flags configure gives core/ (APR, APR-util, OpenSSL), plus the
# sanitizers; assertions on (RP_DEBUG) as in the --enable-debug build.
deps_cflags="$(apr-1-config --cppflags --cflags) -I$(apr-1-config --includedir)
    -I$(apu-1-config --includedir) $(pkg-config --cflags openssl)"
deps_libs="$(apu-1-config --link-ld --libs) $(apr-1-config --link-ld --libs)
    $(pkg-config --libs openssl)"
cflags="-g -O1 -fno-omit-frame-pointer -DRP_DEBUG -Wall -Wextra
    -Wno-unused-parameter -Wno-missing-field-initializers
    -Wno-null-pointer-subtraction
    -fsanitize=address,undefined -fno-sanitize-recover=all"

build() {
    mkdir -p "$out/obj" "$out/bin" || return 1
    # core/ once, instrumented for coverage; an archive, so that each target
    # links only the members it uses.
    objs=""
    for c in "$top"/core/*.c; do
        o="$out/obj/$(basename "${c%.c}").o"
        objs="$objs $o"
        if [ ! -f "$o" ] || [ "$c" -nt "$o" ] ||
            [ -n "$(find "$top/core" -name '*.h' -newer "$o")" ]; then
            # shellcheck disable=SC2086
            $cc $cflags -fsanitize=fuzzer-no-link $deps_cflags \
                -I"$top/core" -c "$c" -o "$o" || return 1
            rm -f "$out/obj/librpcore-fuzz.a"
        fi
    done
    if [ ! -f "$out/obj/librpcore-fuzz.a" ]; then
        # shellcheck disable=SC2086
        ar rcs "$out/obj/librpcore-fuzz.a" $objs || return 1
    fi
    for t in $targets; do
        # shellcheck disable=SC2086
        $cc $cflags -fsanitize=fuzzer $deps_cflags -I"$top/core" \
            "$fuzz/$t/$t.c" "$out/obj/librpcore-fuzz.a" $deps_libs \
            -o "$out/bin/fuzz_$t" || return 1
    done
}

# The last status line of a libFuzzer log ("#N ... cov: C ft: F corp: K/B"),
# as "N runs, cov C, corpus K".
stats() {
    line=$(grep -E '^#[0-9]+' "$1" | tail -n 1)
    runs=$(echo "$line" | sed -n 's/^#\([0-9]*\).*/\1/p')
    cov=$(echo "$line" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
    corp=$(echo "$line" | sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p')
    echo "${runs:-?} runs, cov ${cov:-?}, corpus ${corp:-?}"
}

run_one() { # run_one <target>; returns libFuzzer's status
    t=$1
    corpus="$out/corpus/$t"
    mkdir -p "$corpus" "$out/artifacts" "$out/logs"
    # The first corpus directory receives new entries; the seeds in the
    # tree are read only. -timeout: a slow input (a hang) is a finding too.
    "$out/bin/fuzz_$t" -max_total_time="$seconds" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 \
        -dict="$fuzz/$t/$t.dict" \
        -artifact_prefix="$out/artifacts/$t-" \
        "$corpus" "$fuzz/$t/corpus" >"$out/logs/$t.log" 2>&1
}

if ! build; then
    echo "FAIL building the fuzz targets"
    echo "0 passed, 1 failed"
    exit 1
fi
[ "${FUZZ_BUILD_ONLY:-0}" = 1 ] && exit 0

# Targets run FUZZ_JOBS at a time (default: one per CPU), each for the
# whole FUZZ_SECONDS: on 2 cores the CI step takes half as long.
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
passed=0
failed=0
report() { # report <target> <status>
    if [ "$2" -eq 0 ]; then
        passed=$((passed + 1))
        echo "PASS fuzz_$1: ${seconds}s, $(stats "$out/logs/$1.log")"
    else
        failed=$((failed + 1))
        grep -E -A 30 'PROPERTY VIOLATED|ERROR: (AddressSanitizer|libFuzzer|UndefinedBehaviorSanitizer)|runtime error' \
            "$out/logs/$1.log" | head -n 60
        echo "FAIL fuzz_$1: $(stats "$out/logs/$1.log");" \
            "input: $(ls -t "$out/artifacts/$1-"* 2>/dev/null | head -n 1)"
    fi
}
set -- $targets
while [ $# -gt 0 ]; do
    batch=""
    n=0
    while [ $# -gt 0 ] && [ "$n" -lt "$jobs" ]; do
        (run_one "$1"; echo $? >"$out/logs/$1.rc") &
        batch="$batch $1"
        n=$((n + 1))
        shift
    done
    wait
    for t in $batch; do
        report "$t" "$(cat "$out/logs/$t.rc" 2>/dev/null || echo 1)"
    done
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
