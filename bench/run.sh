#!/bin/bash
# bench/run.sh [load|mem|cost|all]: mod_rproxy against mod_proxy_http (and
# nginx) on 127.0.0.1. Installs what it needs (Debian 12, as root), builds
# the module and the bench's trivial handler, then runs bench/bench.py.
# Settings are environment variables: see bench/README.md. A benchmark, not
# a test: it prints tables and asserts nothing about timings.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)

usage() {
    cat <<'EOF'
usage: bench/run.sh [load|mem|cost|all|lb]
  load  wrk in alternating rounds: req/s, p99, CPU/request, RSS (default)
  mem   RSS growth of one httpd child: 1 GiB download and upload, slow reader
  cost  instructions (callgrind) and syscalls (strace) per request, apache2 -X
  all   the three in turn
  lb    balancers with 1 slow member of 4: P2C, RR, least, mod_proxy_balancer
BENCH_QUICK=1 for a short run; BENCH_DIR (default /tmp/rproxy-bench) holds the
build, configs, logs and results. See bench/README.md.
EOF
}

what=${1:-load}
case $what in
load | mem | cost | all | lb) ;;
-h | --help | help)
    usage
    exit 0
    ;;
*)
    usage >&2
    exit 2
    ;;
esac

export BENCH_DIR=${BENCH_DIR:-/tmp/rproxy-bench}
mkdir -p "$BENCH_DIR"
chmod 755 "$BENCH_DIR"
BENCH_DIR=$(cd "$BENCH_DIR" && pwd)

# ---- packages -------------------------------------------------------------
# The build's own list (scripts/deps.sh), then what the bench adds.
if [ -x "$top/scripts/deps.sh" ]; then
    "$top/scripts/deps.sh"
fi
PKGS="wrk nginx-light valgrind strace apache2 apache2-dev python3 curl procps
tar"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
        missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "installing:$missing" >&2
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq >/dev/null
    # keep the packages' maintainer scripts from starting services
    rm_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
        $SUDO chmod +x /usr/sbin/policy-rc.d
        rm_policy=1
    fi
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
        status=$?
    [ -n "$rm_policy" ] && $SUDO rm -f /usr/sbin/policy-rc.d
    [ "${status:-0}" -eq 0 ] || {
        echo "run.sh: apt-get install failed" >&2
        exit 1
    }
fi

# ---- build ------------------------------------------------------------------
# From a copy of the tree (scripts/build.sh refuses a tree configured in
# place, and the copy keeps the work tree clean). BENCH_SRC=head (default)
# builds the last commit (git archive HEAD); BENCH_SRC=worktree copies the
# tracked files as they are now, uncommitted edits included.
src="$BENCH_DIR/src"
rm -rf "$src"
mkdir -p "$src"
commit="unknown"
if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
    commit=$(git -C "$top" rev-parse --short HEAD)
    if [ "${BENCH_SRC:-head}" = head ]; then
        git -C "$top" archive HEAD | tar -C "$src" -xf -
    else
        (cd "$top" && git ls-files -z | tar --null --ignore-failed-read -T - -cf - 2>/dev/null) |
            tar -C "$src" -xf -
        git -C "$top" diff-index --quiet HEAD -- 2>/dev/null || commit="$commit + uncommitted changes"
    fi
else
    tar -C "$top" --exclude=./.git -cf - . | tar -C "$src" -xf -
    if [ -f "$src/config.status" ]; then
        make -C "$src" distclean >/dev/null 2>&1 || rm -f "$src/config.status"
    fi
fi
export BENCH_COMMIT="$commit"
echo "building mod_rproxy ($commit) in $BENCH_DIR/build ..." >&2
"$src/scripts/build.sh" "$BENCH_DIR/build" --enable-werror
export RPROXY_SO="$BENCH_DIR/build/mod_rproxy.so"
[ -f "$RPROXY_SO" ] || {
    echo "run.sh: no $RPROXY_SO after the build" >&2
    exit 1
}

# the trivial handler (the floor): apxs builds it next to a copy of its source
tdir="$BENCH_DIR/trivial"
rm -rf "$tdir"
mkdir -p "$tdir"
cp "$here/mod_bench_trivial.c" "$tdir/"
(cd "$tdir" && apxs -c -Wc,-O2 -Wc,-Wall -Wc,-Wextra -Wc,-Wno-unused-parameter \
    -Wc,-Wno-missing-field-initializers -Wc,-Werror mod_bench_trivial.c \
    >apxs.out 2>&1) || {
    cat "$tdir/apxs.out" >&2
    exit 1
}
export TRIVIAL_SO="$tdir/.libs/mod_bench_trivial.so"
chmod -R a+rX "$BENCH_DIR/build" "$tdir"

# ---- run --------------------------------------------------------------------
# 256 connections per proxy plus as many to the backend: lift the fd limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 65536 2>/dev/null || true

pids="$BENCH_DIR/pids"
: >"$pids"
bench_pid=""
# Stop by PID whatever bench.py recorded and left running (it stops its own;
# this is for when it was killed). Only processes whose command line names
# $BENCH_DIR are touched.
# shellcheck disable=SC2317 # called from the traps
leftovers() {
    local p left=""
    [ -f "$pids" ] || return 0
    while read -r p; do
        if [ -r "/proc/$p/cmdline" ] && tr '\0' ' ' <"/proc/$p/cmdline" | grep -qF "$BENCH_DIR"; then
            kill -TERM "$p" 2>/dev/null && left="$left $p"
        fi
    done <"$pids"
    [ -n "$left" ] || return 0
    for _ in $(seq 50); do
        local any=""
        for p in $left; do kill -0 "$p" 2>/dev/null && any=1; done
        [ -n "$any" ] || return 0
        sleep 0.1
    done
    for p in $left; do kill -KILL "$p" 2>/dev/null || true; done
}
# shellcheck disable=SC2317 # called from the trap
on_signal() {
    if [ -n "$bench_pid" ]; then
        kill -TERM "$bench_pid" 2>/dev/null || true
        for _ in $(seq 300); do
            kill -0 "$bench_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$bench_pid" 2>/dev/null || true
    fi
    leftovers
    exit 130
}
trap on_signal INT TERM
trap leftovers EXIT

script=bench.py
[ "$what" = lb ] && script=lb.py # balancers (bench/lb.py)
python3 "$here/$script" "$what" &
bench_pid=$!
rc=0
wait "$bench_pid" || rc=$?
bench_pid=""
exit "$rc"
