#!/bin/sh
# The C unit tests of core/ against an APR built with pool debugging, under
# ASan and UBSan (STYLE 25). With --enable-pool-debug every apr_palloc() is a
# malloc() of its own and a pool's clear or destroy frees each one, so ASan
# sees what pools otherwise hide: memory used after its pool went, reads and
# writes past a pool allocation; APR also checks pool lifetimes and locks
# parents while they are cleared (which turns some thread/pool orderings
# into deadlocks that a normal build never shows).
#
#   tests/pool-debug.sh [OUT_DIR]     default OUT_DIR: ./build-pool-debug
#
# Debian ships no such APR, so this builds one: the upstream sources Debian
# 12's libapr1 and libaprutil1 are made from (their .orig tarballs, fetched
# from deb.debian.org and checked against the SHA-256 sums of the Debian
# source packages), into OUT_DIR/apr, once; the tree is then built against
# it into OUT_DIR/build (--enable-debug: ASan, UBSan, -fno-sanitize-recover)
# and every unit test is run by tests/unit-run.sh (a hang is a failure).
# Ends with "N passed, N failed"; exits non-zero on any failure.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$PWD/build-pool-debug}
mkdir -p "$out" && out=$(cd "$out" && pwd)
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
APR=apr-1.7.2
APR_SHA256=75e77cc86776c030c0a5c408dfbd0bf2a0b75eed5351e52d5439fa1e5509a43e
APU=apr-util-1.6.3
APU_SHA256=a41076e3710746326c3945042994ad9a4fcac0ce0277dd8fea076fec3c9772b5
prefix="$out/apr"
jobs=$(nproc 2>/dev/null || echo 2)

die() {
    echo "pool-debug: $*" >&2
    echo "0 passed, 1 failed"
    exit 1
}

# fetch <name-version> <sha256>: OUT_DIR/src/<name>_<version>.orig.tar.bz2
fetch() {
    file=$(echo "$1" | sed 's/-\([0-9][0-9.]*\)$/_\1/').orig.tar.bz2
    dir=$(echo "$1" | sed 's/-[0-9.]*$//')
    mkdir -p "$out/src"
    if ! echo "$2  $out/src/$file" | sha256sum -c - >/dev/null 2>&1; then
        curl -fsS --retry 3 --retry-delay 2 --max-time 120 \
            -o "$out/src/$file" \
            "$mirror/pool/main/a/$dir/$file" ||
            die "could not fetch $mirror/pool/main/a/$dir/$file"
        echo "$2  $out/src/$file" | sha256sum -c - >/dev/null 2>&1 ||
            die "$file does not have the SHA-256 of Debian's source package"
    fi
    rm -rf "$out/src/$1"
    tar -C "$out/src" -xjf "$out/src/$file" || die "cannot unpack $file"
}

# APR and APR-util with pool debugging, once per OUT_DIR.
if [ ! -x "$prefix/bin/apu-1-config" ]; then
    fetch "$APR" "$APR_SHA256"
    fetch "$APU" "$APU_SHA256"
    echo "building $APR with --enable-pool-debug into $prefix"
    (cd "$out/src/$APR" &&
        ./configure --prefix="$prefix" --enable-pool-debug=yes \
            CFLAGS="-g -O1" >"$out/apr-configure.log" 2>&1 &&
        make -j"$jobs" >"$out/apr-make.log" 2>&1 &&
        make install >>"$out/apr-make.log" 2>&1) ||
        die "building $APR failed: see $out/apr-*.log"
    # only what core/ uses: buckets, brigades, base64; no DBM or SQL drivers
    (cd "$out/src/$APU" &&
        ./configure --prefix="$prefix" --with-apr="$prefix" --with-expat=/usr \
            --with-dbm=sdbm --without-crypto --without-pgsql --without-mysql \
            --without-sqlite2 --without-sqlite3 --without-oracle \
            --without-odbc --without-ldap \
            CFLAGS="-g -O1" >"$out/apu-configure.log" 2>&1 &&
        make -j"$jobs" >"$out/apu-make.log" 2>&1 &&
        make install >>"$out/apu-make.log" 2>&1) ||
        die "building $APU failed: see $out/apu-*.log"
fi

"$top/scripts/build.sh" "$out/build" --enable-debug --enable-werror \
    --with-apr-config="$prefix/bin/apr-1-config" \
    --with-apu-config="$prefix/bin/apu-1-config" ||
    die "building the tree against $prefix failed"
make -s -C "$out/build" check TESTS= >"$out/unit-build.log" 2>&1 ||
    die "building the unit tests failed: see $out/unit-build.log"

"$top/tests/unit-run.sh" "$out/build" "$out/logs"
