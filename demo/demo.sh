#!/bin/sh
# Build mod_rproxy and run a demo: Debian's httpd on 127.0.0.1:${DEMO_PORT:-8080}
# with the module, proxying /api/ to the bundled backend on 127.0.0.1:$((DEMO_PORT+1)).
# Stays in the foreground; Ctrl-C stops both servers.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
port=${DEMO_PORT:-8080}
bport=$((port + 1))
"$top/scripts/deps.sh"
echo "building mod_rproxy..."
"$top/scripts/build.sh" "$top/build" --enable-werror
run="$top/build/demo"
mkdir -p "$run"
chmod 755 "$run"
cat >"$run/httpd.conf" <<CONF
ServerRoot "$run"
ServerName 127.0.0.1
Listen 127.0.0.1:$port
PidFile "$run/httpd.pid"
DefaultRuntimeDir "$run"
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule rproxy_module "$top/build/mod_rproxy.so"
ErrorLog "$run/error.log"
LogLevel warn rproxy:info
LogFormat "%h \"%r\" %>s %b backend=%{rproxy-backend}n backend_us=%{rproxy-backend-time}n" rproxy
CustomLog "$run/access.log" rproxy
$( [ "$(id -u)" -eq 0 ] && printf 'User www-data\nGroup www-data\n' )

# Everything under /api/ goes to the backend, with /api/ mapped to /.
RProxyPass /api/ http://127.0.0.1:$bport/
RProxyFlushInterval 100
CONF
for p in $port $bport; do
    if curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$p/"; then
        echo "port $p on 127.0.0.1 is already in use; pick others with DEMO_PORT=N" >&2
        exit 1
    fi
done
hpid=""
python3 "$top/demo/backend.py" "$bport" &
bpid=$!
stop() {
    if [ -n "$hpid" ]; then
        kill "$hpid" 2>/dev/null || true
        wait "$hpid" 2>/dev/null || true
        hpid=""
    fi
    kill "$bpid" 2>/dev/null || true
    wait "$bpid" 2>/dev/null || true
}
trap 'stop; exit 0' INT TERM
trap stop EXIT
# wait_for URL WHAT PID: until URL answers 200 (at most 10 s) while PID lives.
wait_for() {
    i=0
    until [ "$(curl -s -o /dev/null -w '%{http_code}' "$1")" = 200 ]; do
        i=$((i + 1))
        if [ $i -gt 50 ] || ! kill -0 "$3" 2>/dev/null; then
            echo "$2 did not come up" >&2
            [ -f "$run/error.log" ] && cat "$run/error.log" >&2
            exit 1
        fi
        sleep 0.2
    done
}
wait_for "http://127.0.0.1:$bport/" "the backend on port $bport" "$bpid"
/usr/sbin/apache2 -f "$run/httpd.conf" -DFOREGROUND &
hpid=$!
wait_for "http://127.0.0.1:$port/api/" "httpd on port $port (see $run/error.log)" "$hpid"
cat <<MSG

mod_rproxy demo is up: httpd on http://127.0.0.1:$port, backend on 127.0.0.1:$bport
Try:
  curl -i http://127.0.0.1:$port/api/hello?x=1          # echo of what the backend got
  curl -N http://127.0.0.1:$port/api/events             # server-sent events, streamed
  curl -s http://127.0.0.1:$port/api/big?mb=100 | sha256sum
  curl -i -d 'some data' http://127.0.0.1:$port/api/upload
Logs: $run/access.log (backend address and time per request), $run/error.log
Configuration: $run/httpd.conf.  Ctrl-C stops.
MSG
wait "$hpid"
