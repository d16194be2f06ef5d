#!/bin/sh
# Build one flavour of the tree out of source: scripts/build.sh DIR [configure args]
# The source tree itself stays unconfigured so that several flavours coexist.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
dir=$1
shift
if [ -f "$top/config.status" ]; then
    echo "build.sh: $top is configured in place; run 'make distclean' there first" >&2
    exit 1
fi
if [ ! -x "$top/configure" ]; then
    (cd "$top" && autoreconf -fi >/dev/null 2>&1) || { echo "build.sh: autoreconf failed" >&2; exit 1; }
fi
mkdir -p "$dir"
cd "$dir"
if [ ! -f Makefile ] || [ "$top/configure" -nt Makefile ]; then
    "$top/configure" "$@" >configure.out 2>&1 || { cat configure.out >&2; exit 1; }
fi
make -j"$(nproc 2>/dev/null || echo 2)" >make.out 2>&1 || { cat make.out >&2; exit 1; }
