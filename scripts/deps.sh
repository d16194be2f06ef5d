#!/bin/sh
# Install what building, the demo and the tests need, when it is missing.
# Debian 12; run as root (or with sudo available). Safe to run again.
set -eu
PKGS="build-essential autoconf automake libtool pkg-config apache2 apache2-dev
libapr1-dev libaprutil1-dev libssl-dev python3 python3-pytest nginx-light curl
clang-format procps openssl tinyproxy gdb"
# tests/integration/h2ws.py: an HTTP/2 WebSocket client (RFC 8441)
PKGS="$PKGS python3-h2"
# tests/pool-debug.sh builds APR and APR-util from Debian's .orig tarballs
PKGS="$PKGS bzip2 libexpat1-dev"
# tests/fuzz: clang, and its compiler-rt runtimes (libFuzzer, ASan, UBSan
# for clang), which Debian 12 ships apart in libclang-rt-14-dev.
PKGS="$PKGS clang libclang-rt-14-dev"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
        missing="$missing $p"
done
# The TLS tests address backends as "localhost" (the name in their test
# certificates). A minimal root built by debootstrap has no /etc/hosts entry
# for it, and glibc does not invent one.
if ! getent hosts localhost >/dev/null 2>&1; then
    echo "adding 127.0.0.1 localhost to /etc/hosts (it did not resolve)" >&2
    [ "$(id -u)" -eq 0 ] && printf '127.0.0.1\tlocalhost\n' >>/etc/hosts
fi
[ -z "$missing" ] && exit 0
echo "installing:$missing" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
# Debian's apache2 and nginx packages try to start services; a policy-rc.d
# keeps them from doing so (the tests start their own servers).
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
