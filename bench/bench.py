#!/usr/bin/env python3
# Licensed under the Apache License, Version 2.0 (the "License"); you may not
# use this file except in compliance with the License. You may obtain a copy
# of the License at http://www.apache.org/licenses/LICENSE-2.0
"""bench.py: the driver behind bench/run.sh (read bench/README.md first).

    bench.py load | mem | cost | all     the benchmarks (run.sh sets the env)
    bench.py sink PORT DIR                the upload backend (started by mem)

Everything runs on 127.0.0.1. Every process it starts is written to
$BENCH_DIR/pids and stopped by PID when it ends, however it ends (SIGTERM,
then SIGKILL after a bounded wait). Nothing here asserts a timing: it
measures and prints tables (markdown, also saved under $BENCH_DIR).
"""

import json
import math
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

LOOP = "127.0.0.1"
APACHE = "/usr/sbin/apache2"
NGINX = "/usr/sbin/nginx"
MODDIR = "/usr/lib/apache2/modules"
CLK_TCK = os.sysconf("SC_CLK_TCK")
IS_ROOT = os.geteuid() == 0

# ---------------------------------------------------------------------------
# settings (environment; bench/README.md lists them)


def env_str(name, default):
    v = os.environ.get(name)
    return v if v not in (None, "") else default


def env_num(name, default, kind=int):
    v = os.environ.get(name)
    return kind(v) if v not in (None, "") else default


QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
DIR = os.path.abspath(env_str("BENCH_DIR", "/tmp/rproxy-bench"))
RPROXY_SO = os.environ.get("RPROXY_SO", "")
# target rproxy_b: a second build of the module, for A/B rounds in one run
RPROXY_B_SO = os.environ.get("BENCH_RPROXY_B", "")
TRIVIAL_SO = os.environ.get("TRIVIAL_SO", "")
COMMIT = env_str("BENCH_COMMIT", "unknown")

TARGETS = env_str("BENCH_TARGETS", "rproxy proxy_http" if QUICK
                  else "rproxy proxy_http nginx").split()
SIZES = env_str("BENCH_SIZES", "1k 64k 1m c64k").split()
CONNS = [int(x) for x in env_str("BENCH_CONNS", "32 256").split()]
ROUNDS = env_num("BENCH_ROUNDS", 3)
DURATION = env_num("BENCH_DURATION", 2 if QUICK else 10)
WARMUP = env_num("BENCH_WARMUP", 1 if QUICK else 2)
WRK_THREADS = env_num("BENCH_WRK_THREADS", 2)
# 2: what nginx's "worker_processes auto" gives on the bench's 2 cores; with
# 1, that worker saturates at 1 MiB x 256 connections and its queue sets
# both proxies' p99 (RESULTS.md, 2026-11-22)
BACKEND_WORKERS = env_num("BENCH_BACKEND_WORKERS", 2)
# 1: the backend accepts every pending connection per pass of its event
# loop. nginx's default (0) takes one, so a worker busy sending 1 MiB bodies
# answers new connections late: a proxy that opens many (mod_rproxy did,
# after wrk cut its responses, until it kept them: RESULTS.md, fifth
# session) pays for it in p99. The default stays nginx's: a stock backend.
BACKEND_MULTI_ACCEPT = env_num("BENCH_BACKEND_MULTI_ACCEPT", 0)
# 1: the proxies reach the backend over TLS (a second nginx server block on
# its own port, TLS 1.3, a self-signed certificate for 127.0.0.1 that the
# proxies trust and verify); "direct" stays plain.
BACKEND_TLS = env_num("BENCH_BACKEND_TLS", 0)
# its certificate (made by start_backend()), the proxies' CA file
BACKEND_CERT = os.path.join(DIR, "backend", "cert.pem") if BACKEND_TLS \
    else None

MEM_TARGETS = env_str("BENCH_MEM_TARGETS", "rproxy proxy_http").split()
BIG_MB = env_num("BENCH_BIG_MB", 1024)
SLOW_MB = env_num("BENCH_SLOW_MB", 20 if QUICK else 100)
SLOW_RATE_KB = env_num("BENCH_SLOW_RATE_KB", 1024)

COST_TARGETS = env_str("BENCH_COST_TARGETS", "trivial proxy_http rproxy").split()
COST_SIZES = env_str("BENCH_COST_SIZES", "1k 64k 1m c64k").split()
COST_N1 = env_num("BENCH_COST_N1", 100)
COST_N2 = env_num("BENCH_COST_N2", 300 if QUICK else 600)
COST_TOOLS = env_str("BENCH_COST_TOOLS", "callgrind strace").split()
if COST_N2 <= COST_N1:
    COST_N1, COST_N2 = max(1, COST_N2 // 5), max(COST_N2, 2)

SIZE_BYTES = {"1k": 1024, "64k": 65536, "1m": 1048576}
NAMES = {"rproxy": "mod_rproxy", "proxy_http": "mod_proxy_http",
         "nginx": "nginx proxy_pass", "direct": "direct backend",
         "trivial": "httpd trivial handler",
         "rproxy_b": "mod_rproxy (B)",
         "bare": "httpd bare proxy"}


def size_path(size):
    """"1k" -> "/1k"; "c64k" (chunked variant) -> "/chunked/64k"."""
    return "/chunked/" + size[1:] if size.startswith("c") else "/" + size


def size_len(size):
    return SIZE_BYTES[size.lstrip("c")]


def size_label(size):
    base = {"1k": "1 KiB", "64k": "64 KiB", "1m": "1 MiB"}[size.lstrip("c")]
    return base + (" chunked" if size.startswith("c") else "")


def log(msg):
    sys.stderr.write("[bench %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


# ---------------------------------------------------------------------------
# processes: started ones are tracked and stopped by PID


def free_port():
    s = socket.socket()
    s.bind((LOOP, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def clean_env():
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("APACHE") and k != "LD_PRELOAD"}
    env["LANG"] = env["LC_ALL"] = "C"
    return env


def proc_stat(pid):
    """Fields after "(comm)" of /proc/pid/stat, or None."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            s = f.read().decode("latin-1")
    except OSError:
        return None
    return s[s.rfind(")") + 2:].split()


def children_of(pid):
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = proc_stat(int(name))
            if st and st[0] != "Z" and int(st[1]) == pid:
                out.append(int(name))
    return sorted(out)


def alive(pid):
    st = proc_stat(pid)
    return st is not None and st[0] != "Z"


def cpu_ticks(pid, reaped=False):
    """(utime, stime) in clock ticks, with cutime and cstime (reaped
    children) when asked."""
    st = proc_stat(pid)
    if not st:
        return 0, 0
    # after "(comm)": state=0 ppid=1 ... utime=11 stime=12 cutime=13 cstime=14
    u, s = int(st[11]), int(st[12])
    if reaped:
        u, s = u + int(st[13]), s + int(st[14])
    return u, s


def rss_kb(pid, field="VmRSS:"):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def signal_pid(pid, sig):
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class Proc:
    """A started process (and, for servers, the children it forks)."""

    registry = []

    def __init__(self, name, argv, log_path, cwd=None, env=None):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.logf = open(log_path, "wb")
        # A process group of its own (a Ctrl-C at the terminal reaches the
        # bench, which stops the servers in order), but not a session of
        # its own: with the kernel's autogroup scheduling
        # (/proc/sys/kernel/sched_autogroup_enabled) each session is a
        # scheduling group, and the CPU would be shared between wrk, the
        # backend and the proxy as three groups instead of between their
        # threads. That capped the proxy's share, cost about a third of
        # every httpd's req/s at 1 KiB and tripled its p99 (performance.md,
        # thirteenth pass).
        self.popen = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=self.logf,
            stderr=subprocess.STDOUT, cwd=cwd or DIR,
            env=env or clean_env(), preexec_fn=os.setpgrp)
        self.pid = self.popen.pid
        self.known_children = set()
        Proc.registry.append(self)
        self._record(self.pid)

    def _record(self, pid):
        with open(os.path.join(DIR, "pids"), "a") as f:
            f.write("%d\n" % pid)

    def children(self):
        kids = children_of(self.pid)
        for k in kids:
            if k not in self.known_children:
                self.known_children.add(k)
                self._record(k)
        return kids

    def running(self):
        return self.popen.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=15, main_pid=None):
        """Signal main_pid (default: our PID), wait for our PID to end within
        timeout, then SIGKILL it and every child seen."""
        if self.popen.returncode is None:
            self.children()
            signal_pid(main_pid or self.pid, sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                log("%s did not stop within %ss: SIGKILL" % (self.name, timeout))
                signal_pid(self.pid, signal.SIGKILL)
                try:
                    self.popen.wait(5)
                except subprocess.TimeoutExpired:
                    pass
        deadline = time.monotonic() + 3
        for k in sorted(self.known_children):
            while alive(k) and time.monotonic() < deadline:
                time.sleep(0.05)
            if alive(k) and self._ours(k):
                signal_pid(k, signal.SIGKILL)
        if not self.logf.closed:
            self.logf.close()
        if self in Proc.registry:
            Proc.registry.remove(self)

    def _ours(self, pid):
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                return DIR.encode() in f.read()
        except OSError:
            return False

    @classmethod
    def stop_all(cls):
        for p in list(reversed(cls.registry)):
            try:
                p.stop(timeout=10)
            except Exception as e:  # keep stopping the others
                log("stopping %s: %s" % (p.name, e))


def wait_http(port, path, proc, timeout, expect=200):
    """Until GET path answers `expect` (bounded), while proc lives."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and not proc.running():
            break
        try:
            c = HttpConn(port, timeout=5)
            status, _, _ = c.get(path)
            c.close()
            if status == expect:
                return
            last = "status %d" % status
        except (OSError, EOFError, ValueError) as e:
            last = str(e)
        time.sleep(0.1)
    raise RuntimeError("%s on port %d not ready (%s); see %s" % (
        proc.name if proc else "server", port, last,
        proc.log_path if proc else "?"))


# ---------------------------------------------------------------------------
# a minimal HTTP/1.1 client (keep-alive, Content-Length and chunked)


class HttpConn:
    BUF = 1 << 20

    def __init__(self, port, timeout=60, rcvbuf=None):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(timeout)
        s.connect((LOOP, port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.s = s
        self.buf = bytearray()
        self.scratch = bytearray(self.BUF)

    def close(self):
        self.s.close()

    def _fill(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError("connection closed")
        self.buf += d

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        i = self.buf.index(b"\r\n")
        line = bytes(self.buf[:i])
        del self.buf[:i + 2]
        return line

    def read_head(self):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
            if len(self.buf) > 1 << 20:
                raise ValueError("response head too large")
        i = self.buf.index(b"\r\n\r\n")
        lines = bytes(self.buf[:i]).decode("latin-1").split("\r\n")
        del self.buf[:i + 4]
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        return status, headers

    def _skip(self, n, pace=None):
        """Read and drop n body bytes; pace(nbytes) is called after each
        read (rate limiting)."""
        take = min(n, len(self.buf))
        del self.buf[:take]
        left = n - take
        if pace and take:
            pace(take)
        mv = memoryview(self.scratch)
        chunk = pace.chunk if pace else self.BUF
        while left:
            got = self.s.recv_into(mv[:min(left, chunk)])
            if not got:
                raise EOFError("connection closed inside the body")
            left -= got
            if pace:
                pace(got)
        return n

    def read_body(self, headers, pace=None):
        if "chunked" in headers.get("transfer-encoding", "").lower():
            total = 0
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line():
                        pass
                    return total
                total += self._skip(size, pace)
                self._line()
        if "content-length" in headers:
            return self._skip(int(headers["content-length"]), pace)
        total = len(self.buf)
        self.buf.clear()
        while True:
            got = self.s.recv_into(self.scratch)
            if not got:
                return total
            total += got

    def get(self, path, pace=None):
        self.s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n"
                        % (path, LOOP)).encode())
        status, headers = self.read_head()
        n = self.read_body(headers, pace)
        return status, headers, n

    def post(self, path, size, piece=1 << 20):
        self.s.sendall(("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n"
                        "Content-Type: application/octet-stream\r\n\r\n"
                        % (path, LOOP, size)).encode())
        zeros = bytes(piece)
        left = size
        while left:
            n = min(left, piece)
            self.s.sendall(zeros if n == piece else zeros[:n])
            left -= n
        status, headers = self.read_head()
        n = int(headers.get("content-length", "0"))
        while len(self.buf) < n:
            self._fill()
        body = bytes(self.buf[:n])
        del self.buf[:n]
        return status, headers, body


class Pacer:
    """Sleeps so that reading runs at about `rate` bytes per second."""

    def __init__(self, rate, chunk=16384):
        self.rate = float(rate)
        self.chunk = chunk
        self.t0 = time.monotonic()
        self.got = 0

    def __call__(self, n):
        self.got += n
        ahead = self.t0 + self.got / self.rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)


# ---------------------------------------------------------------------------
# the upload sink: discards request bodies, answers with the byte count


def sink_main(port):
    import socketserver

    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            s = self.request
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            buf = bytearray()
            scratch = bytearray(1 << 20)
            mv = memoryview(scratch)

            def fill():
                d = s.recv(65536)
                if not d:
                    raise EOFError
                buf.extend(d)

            def line():
                while b"\r\n" not in buf:
                    fill()
                i = buf.index(b"\r\n")
                out = bytes(buf[:i])
                del buf[:i + 2]
                return out

            def drain(n):
                take = min(n, len(buf))
                del buf[:take]
                left = n - take
                while left:
                    got = s.recv_into(mv[:min(left, len(scratch))])
                    if not got:
                        raise EOFError
                    left -= got
                return n

            try:
                while True:
                    while b"\r\n\r\n" not in buf:
                        fill()
                    i = buf.index(b"\r\n\r\n")
                    lines = bytes(buf[:i]).decode("latin-1").split("\r\n")
                    del buf[:i + 4]
                    h = {}
                    for ln in lines[1:]:
                        k, _, v = ln.partition(":")
                        h[k.strip().lower()] = v.strip()
                    total = 0
                    if "chunked" in h.get("transfer-encoding", "").lower():
                        while True:
                            n = int(line().split(b";")[0], 16)
                            if n == 0:
                                while line():
                                    pass
                                break
                            total += drain(n)
                            line()
                    else:
                        total = drain(int(h.get("content-length", "0")))
                    body = b"%d\n" % total
                    s.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                              b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            except (EOFError, OSError):
                return

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    srv = Server((LOOP, port), Handler)
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    srv.serve_forever()


# ---------------------------------------------------------------------------
# servers and their configurations


def mkdir(path, mode=0o755):
    os.makedirs(path, exist_ok=True)
    os.chmod(path, mode)
    return path


def make_bodies():
    """www/1k, 64k, 1m (text), big/<BIG_MB>m and big/<SLOW_MB>m (sparse)."""
    www = mkdir(os.path.join(DIR, "www"))
    line = (b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
            b"+\n")
    for name, n in SIZE_BYTES.items():
        path = os.path.join(www, name)
        if not os.path.exists(path) or os.path.getsize(path) != n:
            data = (line * (n // len(line) + 1))[:n]
            with open(path, "wb") as f:
                f.write(data)
        os.chmod(path, 0o644)
    big = mkdir(os.path.join(www, "big"))
    for mb in {BIG_MB, SLOW_MB}:
        path = os.path.join(big, "%dm" % mb)
        if not os.path.exists(path) or os.path.getsize(path) != mb << 20:
            with open(path, "wb") as f:
                f.truncate(mb << 20)  # sparse: no disk, read as zeros
        os.chmod(path, 0o644)
    return www


def nginx_common(name, workers):
    d = mkdir(os.path.join(DIR, name))
    for t in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        mkdir(os.path.join(d, t + "-tmp"), 0o777)
    head = ["# generated by bench/bench.py",
            "daemon off;", "master_process on;",
            "worker_processes %d;" % workers,
            "pid %s/nginx.pid;" % d,
            "error_log %s/error.log warn;" % d,
            "worker_rlimit_nofile 65536;"]
    if IS_ROOT:
        head.append("user www-data www-data;")
    http = ["access_log off;",
            "client_body_temp_path %s/body-tmp;" % d,
            "proxy_temp_path %s/proxy-tmp;" % d,
            "fastcgi_temp_path %s/fastcgi-tmp;" % d,
            "uwsgi_temp_path %s/uwsgi-tmp;" % d,
            "scgi_temp_path %s/scgi-tmp;" % d,
            "default_type application/octet-stream;",
            "sendfile on;", "tcp_nopush on;", "tcp_nodelay on;",
            "keepalive_timeout 75s;", "keepalive_requests 1000000;"]
    return d, head, http


def start_nginx(name, head, http, servers, port, ready_path, events=""):
    d = os.path.join(DIR, name)
    conf = os.path.join(d, "nginx.conf")
    text = "\n".join(head) + \
        "\nevents { worker_connections 8192; %s}\n" % events + \
        "http {\n    " + "\n    ".join(http) + "\n" + servers + "}\n"
    with open(conf, "w") as f:
        f.write(text)
    p = Proc(name, [NGINX, "-p", d, "-e", d + "/error.log", "-c", conf],
             os.path.join(d, "stdout.log"))
    p.port = port
    p.kind = "nginx"
    wait_http(port, ready_path, p, 20)
    p.children()
    return p


def make_backend_cert(d):
    """BACKEND_CERT, self-signed for 127.0.0.1, and its key, in d (the
    backend's directory); kept from an earlier run."""
    cert, key = BACKEND_CERT, os.path.join(d, "key.pem")
    if not os.path.exists(cert):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                        "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", key, "-out", cert, "-days", "30",
                        "-subj", "/CN=%s" % LOOP,
                        "-addext", "subjectAltName=IP:%s" % LOOP],
                       check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=60)
        os.chmod(key, 0o644)
    return cert, key


def start_backend(www):
    """nginx serving the bodies; /chunked/ is the same files through SSI
    (no length known: chunked; sendfile off there, or the last chunk waits
    for a delayed ACK); /nginx_status counts accepted connections (of both
    server blocks). With BENCH_BACKEND_TLS the same server also listens
    with TLS on .tls_port."""
    port = free_port()
    d, head, http = nginx_common("backend", BACKEND_WORKERS)
    body = """        root %s;
        location /chunked/ {
            alias %s/; ssi on; ssi_types *;
            sendfile off; output_buffers 2 64k;
        }
        location = /nginx_status { stub_status; }
""" % (www, www)
    servers = "    server {\n        listen %s:%d backlog=4096;\n%s    }\n" % (
        LOOP, port, body)
    tls_port = None
    if BACKEND_TLS:
        tls_port = free_port()
        cert, key = make_backend_cert(d)
        servers += ("    server {\n        listen %s:%d ssl backlog=4096;\n"
                    "        ssl_certificate %s;\n"
                    "        ssl_certificate_key %s;\n"
                    "        ssl_protocols TLSv1.3;\n%s    }\n"
                    % (LOOP, tls_port, cert, key, body))
    p = start_nginx("backend", head, http, servers, port, "/1k",
                    "multi_accept on; " if BACKEND_MULTI_ACCEPT else "")
    p.tls_port = tls_port
    return p


def proxied_port(backend):
    """The backend port the proxies are given: the TLS one with
    BENCH_BACKEND_TLS."""
    return backend.tls_port if BACKEND_TLS else backend.port


def start_nginx_proxy(backend_port):
    port = free_port()
    d, head, http = nginx_common("nginx-proxy", 2)
    tls = ""
    if BACKEND_CERT:  # verified against the backend's certificate
        tls = ("proxy_ssl_protocols TLSv1.3; proxy_ssl_verify on; "
               "proxy_ssl_trusted_certificate %s; "
               "proxy_ssl_name %s;" % (BACKEND_CERT, LOOP))
    servers = """    upstream be { server %s:%d; keepalive 256; keepalive_requests 1000000; }
    server {
        listen %s:%d backlog=4096;
        location / {
            proxy_pass %s://be;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            %s
        }
    }
""" % (LOOP, backend_port, LOOP, port, "https" if BACKEND_TLS else "http",
       tls)
    return start_nginx("nginx-proxy", head, http, servers, port, "/1k")


def backend_accepts(backend):
    """nginx stub_status 'accepts'. It counts the asking connection: the
    connections opened between two calls are the difference minus one."""
    c = HttpConn(backend.port, timeout=10)
    c.s.sendall(b"GET /nginx_status HTTP/1.1\r\nHost: x\r\n"
                b"Connection: close\r\n\r\n")
    _, headers = c.read_head()
    n = int(headers.get("content-length", "0"))
    while len(c.buf) < n:
        c._fill()
    text = bytes(c.buf[:n]).decode()
    c.close()
    nums = text.splitlines()[2].split()
    return int(nums[0])


class AcceptWindow(threading.Thread):
    """Backend connections opened while wrk runs, from 2 s after its start
    to 1 s before its end: the steady state, without the connections that
    wrk's start and stop make the proxy open (responses cut at the end of a
    round close their backend connection, as they must, and the next round
    opens new ones while it ramps up)."""

    def __init__(self, backend, seconds):
        super().__init__(daemon=True)
        self.backend, self.seconds = backend, seconds
        self.t0 = time.monotonic()
        self.result = None
        self.queries = 0  # its own connections to the backend's counter

    def run(self):
        if self.seconds < 4:
            return
        try:
            time.sleep(max(0, self.t0 + 2 - time.monotonic()))
            self.queries += 1
            a0, ta = backend_accepts(self.backend), time.monotonic()
            time.sleep(max(0, self.t0 + self.seconds - 1 - time.monotonic()))
            self.queries += 1
            a1, tb = backend_accepts(self.backend), time.monotonic()
            self.result = (a1 - a0 - 1, tb - ta)
        except (OSError, EOFError, ValueError):
            pass


def httpd_conf(impl, name, port, backend_port, mpm, sink_port=None,
               extra=""):
    """An httpd.conf for one implementation: rproxy, proxy_http, trivial.
    mpm: "load" (2 x 256 threads, as in issue 7), "single" (1 x 25) or
    "x" (1 x 4, for apache2 -X under valgrind/strace)."""
    d = mkdir(os.path.join(DIR, name))
    mkdir(os.path.join(d, "run"))
    if mpm == "load":
        m = ["StartServers 2", "ServerLimit 2", "ThreadLimit 256",
             "ThreadsPerChild 256", "MaxRequestWorkers 512",
             "MinSpareThreads 25", "MaxSpareThreads 512"]
    else:
        t = 25 if mpm == "single" else 4
        m = ["StartServers 1", "ServerLimit 1", "ThreadLimit %d" % t,
             "ThreadsPerChild %d" % t, "MaxRequestWorkers %d" % t,
             "MinSpareThreads 1", "MaxSpareThreads %d" % (2 * t)]
    lines = [
        "# generated by bench/bench.py (%s)" % impl,
        "ServerRoot %s" % d, "ServerName %s" % LOOP,
        "Listen %s:%d" % (LOOP, port),
        "PidFile %s/httpd.pid" % d, "DefaultRuntimeDir %s/run" % d,
        "Mutex file:%s/run default" % d,
        "ErrorLog %s/error.log" % d, "LogLevel warn",
        "LoadModule mpm_event_module %s/mod_mpm_event.so" % MODDIR,
        "LoadModule authz_core_module %s/mod_authz_core.so" % MODDIR,
    ] + m + [
        "MaxConnectionsPerChild 0", "ListenBacklog 4096",
        "Timeout 300", "KeepAlive On", "KeepAliveTimeout 30",
        "MaxKeepAliveRequests 0",
        "<Location />", "    Require all granted", "</Location>",
    ]
    if IS_ROOT:
        lines += ["User www-data", "Group www-data"]
    be = "%s://%s:%d/" % ("https" if BACKEND_TLS else "http", LOOP,
                          backend_port)
    cert = BACKEND_CERT
    sink = "http://%s:%d/" % (LOOP, sink_port) if sink_port else None
    if impl in ("rproxy", "rproxy_b"):
        so = RPROXY_SO if impl == "rproxy" else RPROXY_B_SO
        if not so:
            raise SystemExit("target rproxy_b needs BENCH_RPROXY_B=<.so>")
        lines.append("LoadModule rproxy_module %s" % so)
        if cert:
            lines.append("RProxyTLSCACertificateFile %s" % cert)
        if sink:
            lines.append("RProxyPass /sink/ %s" % sink)
        lines.append("RProxyPass / %s" % be)
    elif impl == "proxy_http":
        lines += ["LoadModule proxy_module %s/mod_proxy.so" % MODDIR,
                  "LoadModule proxy_http_module %s/mod_proxy_http.so" % MODDIR]
        if cert:
            lines += ["LoadModule ssl_module %s/mod_ssl.so" % MODDIR,
                      "LoadModule socache_shmcb_module %s/mod_socache_shmcb.so"
                      % MODDIR,
                      "SSLProxyEngine On", "SSLProxyVerify require",
                      "SSLProxyCACertificateFile %s" % cert]
        if sink:
            lines.append("ProxyPass /sink/ %s enablereuse=on" % sink)
        lines.append("ProxyPass / %s enablereuse=on" % be)
    elif impl == "trivial":
        lines += ["LoadModule bench_trivial_module %s" % TRIVIAL_SO,
                  "<Location />", "    SetHandler bench-trivial",
                  "</Location>"]
    elif impl == "bare":
        # the least a worker-thread proxy can do (mod_bench_trivial.c):
        # plain http, Content-Length bodies only
        if BACKEND_TLS:
            raise SystemExit("target bare has no TLS (BENCH_BACKEND_TLS)")
        lines += ["LoadModule bench_trivial_module %s" % TRIVIAL_SO,
                  "BenchBareBackend %s:%d" % (LOOP, backend_port),
                  "<Location />", "    SetHandler bench-bare",
                  "</Location>"]
    else:
        raise ValueError(impl)
    if extra:
        lines.append(extra)
    conf = os.path.join(d, "httpd.conf")
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(conf, 0o644)
    return d, conf


def start_httpd(impl, name, backend_port, mpm, sink_port=None):
    port = free_port()
    d, conf = httpd_conf(impl, name, port, backend_port, mpm, sink_port)
    # a fresh error log: check_error_log() reports this run's lines only
    if os.path.exists(os.path.join(d, "error.log")):
        os.unlink(os.path.join(d, "error.log"))
    p = Proc(name, [APACHE, "-f", conf, "-DFOREGROUND"],
             os.path.join(d, "stdout.log"), cwd=d)
    p.port = port
    p.kind = "httpd"
    p.error_log = os.path.join(d, "error.log")
    wait_http(port, "/1k", p, 30)
    deadline = time.monotonic() + 10
    want = 2 if mpm == "load" else 1
    while len(p.children()) < want and time.monotonic() < deadline:
        time.sleep(0.05)
    return p


def server_cpu_ticks(p):
    """(user, sys) ticks of a server: parent (with reaped children) plus
    live children."""
    u, s = cpu_ticks(p.pid, reaped=True)
    for k in p.children():
        ku, ks = cpu_ticks(k)
        u, s = u + ku, s + ks
    return u, s


def server_rss_kb(p):
    return sum(rss_kb(k) for k in p.children())


def host_ticks():
    """(steal, total) ticks of all CPUs from /proc/stat's "cpu" line: the
    time the hypervisor gave to others while this VM wanted to run."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest times are
    # already in user and nice)
    return fields[7], sum(fields[:8])


def steal_share(t0, t1):
    total = t1[1] - t0[1]
    return (t1[0] - t0[0]) / float(total) if total > 0 else 0.0


# ---------------------------------------------------------------------------
# load: wrk in alternating rounds

_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def parse_wrk(text):
    out = {"requests": 0, "rps": 0.0, "p99_ms": None, "errors": 0}
    m = re.search(r"(\d+) requests in", text)
    if m:
        out["requests"] = int(m.group(1))
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if m:
        out["rps"] = float(m.group(1))
    m = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
    if m:
        out["p99_ms"] = float(m.group(1)) * _UNIT[m.group(2)]
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                  r"timeout (\d+)", text)
    if m:
        out["errors"] += sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        out["errors"] += int(m.group(1))
    return out


def run_wrk(port, path, conns, seconds):
    threads = max(1, min(WRK_THREADS, conns))
    argv = ["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % seconds,
            "--timeout", "10s", "--latency", "http://%s:%d%s" % (LOOP, port, path)]
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=seconds + 60)
    text = r.stdout.decode("utf-8", "replace")
    if r.returncode != 0:
        raise RuntimeError("wrk failed: %s" % text)
    return parse_wrk(text), text


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(v, nd=0):
    if v is None:
        return "-"
    if nd == 0:
        return "{:,.0f}".format(v)
    return "{:,.{}f}".format(v, nd)


def ratio(v, ref):
    if v is None or not ref:
        return "-"
    return "%.2f×" % (v / ref)


def refuse_bare_with_chunked(targets, sizes, var):
    """The bare proxy reads bodies with a Content-Length only."""
    if "bare" in targets and any(x.startswith("c") for x in sizes):
        raise SystemExit("target bare: bodies with a length only (%s "
                         "without c64k)" % var)


def bench_load():
    refuse_bare_with_chunked(TARGETS, SIZES, "BENCH_SIZES")
    www = make_bodies()
    log("starting the backend and the proxies")
    backend = start_backend(www)
    servers = {}
    for t in TARGETS:
        if t == "direct":
            servers[t] = None
        elif t == "nginx":
            servers[t] = start_nginx_proxy(proxied_port(backend))
        elif t in ("rproxy", "rproxy_b", "proxy_http", "trivial", "bare"):
            servers[t] = start_httpd(t, "load-" + t, proxied_port(backend),
                                     "load")
        else:
            raise SystemExit("unknown target %r (BENCH_TARGETS)" % t)

    def port_of(t):
        return backend.port if t == "direct" else servers[t].port

    loads = [(s, c) for s in SIZES for c in CONNS]
    total = len(loads) * len(TARGETS) * (ROUNDS * DURATION + WARMUP)
    log("%d loads x %d targets x %d rounds of %ds (+%ds warm-up): ~%d min"
        % (len(loads), len(TARGETS), ROUNDS, DURATION, WARMUP,
           (total + 59) // 60))
    results = []
    for size, conns in loads:
        path = size_path(size)
        for t in TARGETS:
            if WARMUP > 0:
                run_wrk(port_of(t), path, conns, WARMUP)
        rounds = {t: [] for t in TARGETS}
        for r in range(ROUNDS):
            for t in TARGETS:
                srv = servers[t]
                acc0 = backend_accepts(backend)
                cpu0 = server_cpu_ticks(srv) if srv else None
                host0 = host_ticks()
                window = AcceptWindow(backend, DURATION)
                window.start()
                w, raw = run_wrk(port_of(t), path, conns, DURATION)
                cpu1 = server_cpu_ticks(srv) if srv else None
                w["steal"] = steal_share(host0, host_ticks())
                window.join(10)
                acc1 = backend_accepts(backend)
                # minus the counter's own connections in between: acc1's
                # (nginx counts the asking one) and the window's two
                w["backend_conns"] = acc1 - acc0 - 1 - window.queries
                w["steady_conns"], w["steady_reqs"] = None, None
                if window.result and w["rps"]:
                    w["steady_conns"] = window.result[0]
                    w["steady_reqs"] = w["rps"] * window.result[1]
                w["cpu_us"] = w["sys_share"] = None
                if srv and w["requests"]:
                    du, ds = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
                    w["cpu_us"] = (du + ds) * 1e6 / CLK_TCK / w["requests"]
                    w["sys_share"] = ds / float(du + ds) if du + ds else None
                w["rss_kb"] = server_rss_kb(srv) if srv else None
                rounds[t].append(w)
                # the new backend connections of the round beside its p99:
                # a request on a new connection waits for the backend to
                # accept it, which a busy nginx does one per pass
                # and the host's CPU steal: rounds the hypervisor starved
                log("%-7s %3d conns  %-11s round %d: %9.0f req/s  p99 %s ms"
                    "  new backend conns %d  steal %.1f%%"
                    % (size, conns, t, r + 1, w["rps"], fmt(w["p99_ms"], 2),
                       w["backend_conns"], w["steal"] * 100))
        # RSS again once every server has been idle for 2 s or more: memory
        # a server keeps only while busy (mod_rproxy's block cache, trimmed
        # after half a second unused) is gone; what a load left behind stays
        time.sleep(2)
        settled = {t: server_rss_kb(servers[t]) if servers[t] else None
                   for t in TARGETS}
        row = {"size": size, "conns": conns, "targets": {}}
        for t in TARGETS:
            rs = rounds[t]
            reqs = sum(x["requests"] for x in rs)
            row["targets"][t] = {
                "rps": median([x["rps"] for x in rs]),
                "rps_min": min(x["rps"] for x in rs),
                "rps_max": max(x["rps"] for x in rs),
                "p99_ms": median([x["p99_ms"] for x in rs]),
                "cpu_us": median([x["cpu_us"] for x in rs]),
                "sys_share": median([x["sys_share"] for x in rs]),
                "steady_per_10k": (
                    sum(x["steady_conns"] for x in rs) * 1e4
                    / sum(x["steady_reqs"] for x in rs)
                    if all(x["steady_reqs"] for x in rs) else None),
                "rss_kb": rs[-1]["rss_kb"],
                "rss_idle_kb": settled[t],
                "requests": reqs,
                "errors": sum(x["errors"] for x in rs),
                "backend_conns": sum(x["backend_conns"] for x in rs),
                "conns_per_10k": (sum(x["backend_conns"] for x in rs) * 1e4
                                  / reqs if reqs else None),
                "rounds": rs,
            }
        results.append(row)
    for t, srv in servers.items():
        if srv is not None and srv.kind == "httpd":
            check_error_log(srv)
    return results


def check_error_log(srv):
    try:
        with open(srv.error_log) as f:
            bad = [ln for ln in f if re.search(
                r":(error|crit|alert|emerg)\]|exit signal|Segmentation", ln)]
    except OSError:
        return
    if bad:
        log("%s error log has %d error lines, e.g.: %s" % (
            srv.name, len(bad), bad[0].strip()))


def load_table(results):
    ref_t = "proxy_http"
    out = ["Median of %d alternating rounds of %d s (wrk -t%d, keep-alive); "
           "ratios (×mph) are to mod_proxy_http in the same run (req/s: "
           "higher is better; the others: lower is better). CPU = utime + "
           "stime of all the server's processes over the round / requests, "
           "sys = the kernel's share of it; RSS = sum of the worker "
           "processes at the end of the last round (end) and after every "
           "server has been idle for 2 s or more (idle); backend conns = "
           "connections the "
           "backend nginx accepted per 10,000 requests, over whole rounds "
           "(all) and from 2 s after the start to 1 s before the end of each "
           "round (steady: without the responses cut when wrk stops and the "
           "ramp-up; needs rounds of 4 s or more)."
           % (ROUNDS, DURATION, WRK_THREADS), ""]
    out.append("| body | conns | server | req/s | ×mph | spread | p99 ms | ×mph "
               "| CPU µs/req | ×mph | sys | RSS MB end | ×mph | RSS MB idle | ×mph "
               "| backend conns/10k: steady | all | errors |")
    out.append("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:"
               "|---:|---:|---:|---:|---:|")
    for row in results:
        ref = row["targets"].get(ref_t, {})
        for t, v in row["targets"].items():
            spread = ((v["rps_max"] - v["rps_min"]) / v["rps"] * 100
                      if v["rps"] else None)
            rss = v["rss_kb"] / 1024.0 if v["rss_kb"] is not None else None
            ref_rss = (ref.get("rss_kb") or 0) / 1024.0
            idle = (v["rss_idle_kb"] / 1024.0
                    if v.get("rss_idle_kb") is not None else None)
            ref_idle = (ref.get("rss_idle_kb") or 0) / 1024.0
            sys_share = v.get("sys_share")
            out.append("| %s | %d | %s | %s | %s | %s%% | %s | %s | %s | %s "
                       "| %s | %s | %s | %s | %s | %s | %s | %d |" % (
                           size_label(row["size"]), row["conns"], NAMES[t],
                           fmt(v["rps"]), ratio(v["rps"], ref.get("rps")),
                           fmt(spread), fmt(v["p99_ms"], 2),
                           ratio(v["p99_ms"], ref.get("p99_ms")),
                           fmt(v["cpu_us"], 1),
                           ratio(v["cpu_us"], ref.get("cpu_us")),
                           "%.0f%%" % (sys_share * 100)
                           if sys_share is not None else "-",
                           fmt(rss, 1), ratio(rss, ref_rss),
                           fmt(idle, 1), ratio(idle, ref_idle),
                           fmt(v.get("steady_per_10k"), 1),
                           fmt(v["conns_per_10k"], 1), v["errors"]))
    out += paired_table(results, ref_t)
    steals = [x["steal"] * 100 for row in results
              for v in row["targets"].values() for x in v["rounds"]]
    if steals:
        out += ["", "Host CPU steal per round (the hypervisor's, /proc/stat): "
                "median %.1f%%, max %.1f%% (each round's is in the progress "
                "lines)." % (median(steals), max(steals))]
    return "\n".join(out)


def paired_table(results, ref_t):
    """req/s as a ratio to ref_t per pair of rounds (round r of a target
    against round r of ref_t, run one after the other): the geometric mean,
    lowest and highest of those ratios. The host's speed drifts over a run
    (RESULTS.md: up to 40 % between rounds of one server); a ratio taken
    within a pair moves less than the ratio of the medians in the main
    table, which stays the figure issue 7 asks for."""
    out = []
    for row in results:
        ref = row["targets"].get(ref_t)
        if not ref:
            return []
        cells = []
        for t, v in row["targets"].items():
            if t == ref_t:
                continue
            rs = [a["rps"] / b["rps"] for a, b in zip(v["rounds"], ref["rounds"])
                  if a["rps"] and b["rps"]]
            if not rs:
                continue
            geo = math.exp(sum(math.log(x) for x in rs) / len(rs))
            cells.append("%s %.2f× (%.2f–%.2f)" % (NAMES[t], geo, min(rs),
                                                   max(rs)))
        if cells:
            out.append("- %s, %d conns: %s" % (size_label(row["size"]),
                                               row["conns"], "; ".join(cells)))
    if out:
        out = ["", "req/s per pair of rounds, as a ratio to %s (geometric "
               "mean over the rounds, lowest–highest): less moved by the "
               "host's drift over the run than the ratio of medians above."
               % NAMES[ref_t], ""] + out
    return out


# ---------------------------------------------------------------------------
# mem: RSS of a single httpd child during big and slow transfers


class RssSampler(threading.Thread):
    def __init__(self, pid, every=0.02):
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.peak = rss_kb(pid)
        self.stop_ev = threading.Event()

    def run(self):
        while not self.stop_ev.is_set():
            self.peak = max(self.peak, rss_kb(self.pid))
            time.sleep(self.every)

    def finish(self):
        self.stop_ev.set()
        self.join(5)
        self.peak = max(self.peak, rss_kb(self.pid))
        return self.peak


def measure_rss(srv, action):
    kids = srv.children()
    if len(kids) != 1:
        raise RuntimeError("%s: expected one child, got %s" % (srv.name, kids))
    pid = kids[0]
    before = rss_kb(pid)
    sampler = RssSampler(pid)
    sampler.start()
    t0 = time.monotonic()
    try:
        detail = action()
    finally:
        peak = sampler.finish()
    secs = time.monotonic() - t0
    time.sleep(0.5)
    after = rss_kb(pid)
    return {"before_kb": before, "peak_kb": peak, "after_kb": after,
            "growth_kb": peak - before, "seconds": secs, "detail": detail}


def warm(srv):
    c = HttpConn(srv.port)
    for path in ("/1k", "/64k", "/1m", "/chunked/64k"):
        c.get(path)
    c.post("/sink/", 1 << 20)
    c.close()


def bench_mem():
    www = make_bodies()
    backend = start_backend(www)
    sink_port = free_port()
    sink = Proc("sink", [sys.executable, os.path.abspath(__file__), "sink",
                         str(sink_port), DIR],
                os.path.join(DIR, "sink.log"))
    sink.port = sink_port
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection((LOOP, sink_port), 1).close()
            break
        except OSError:
            if time.monotonic() > deadline or not sink.running():
                raise RuntimeError("the sink did not start; see sink.log")
            time.sleep(0.05)
    # Read the big bodies once straight from the backend: the first reader
    # of a sparse file pays for filling the page cache, and that must not
    # be whichever proxy goes first.
    for mb in sorted({BIG_MB, SLOW_MB}):
        c = HttpConn(backend.port, timeout=120)
        c.get("/big/%dm" % mb)
        c.close()
    srvs = {t: start_httpd(t, "mem-" + t, proxied_port(backend), "single",
                           sink_port)
            for t in MEM_TARGETS}
    big = BIG_MB << 20
    res = {t: {} for t in MEM_TARGETS}
    for t, srv in srvs.items():
        warm(srv)

        def download():
            c = HttpConn(srv.port, timeout=120)
            st, _, n = c.get("/big/%dm" % BIG_MB)
            c.close()
            if st != 200 or n != big:
                raise RuntimeError("download: status %d, %d bytes" % (st, n))
            return "%d bytes" % n

        def upload():
            c = HttpConn(srv.port, timeout=120)
            st, _, body = c.post("/sink/", big)
            c.close()
            if st != 200 or int(body or b"0") != big:
                raise RuntimeError("upload: status %d, sink got %r" % (st, body))
            return "sink got %s bytes" % body.decode().strip()

        log("mem %s: download %d MiB" % (t, BIG_MB))
        res[t]["download"] = measure_rss(srv, download)
        log("mem %s: upload %d MiB" % (t, BIG_MB))
        res[t]["upload"] = measure_rss(srv, upload)
    # slow readers: all targets at once (each its own httpd), rate-limited
    log("mem: slow clients read %d MiB at %d KiB/s (all targets in parallel,"
        " ~%d s)" % (SLOW_MB, SLOW_RATE_KB, SLOW_MB * 1024 // SLOW_RATE_KB))
    threads = []
    for t, srv in srvs.items():
        def slow(srv=srv):
            c = HttpConn(srv.port, timeout=300, rcvbuf=65536)
            p = Pacer(SLOW_RATE_KB * 1024)
            st, _, n = c.get("/big/%dm" % SLOW_MB, pace=p)
            c.close()
            if st != 200 or n != SLOW_MB << 20:
                raise RuntimeError("slow read: status %d, %d bytes" % (st, n))
            return "%d bytes at %.0f KiB/s" % (
                n, n / 1024.0 / max(1e-9, time.monotonic() - p.t0))

        def run(t=t, srv=srv, slow=slow):
            try:
                res[t]["slow"] = measure_rss(srv, slow)
            except Exception as e:
                res[t]["slow"] = {"error": str(e)}
        th = threading.Thread(target=run, daemon=True)
        th.start()
        threads.append(th)
    for th in threads:
        th.join(SLOW_MB * 1024 // SLOW_RATE_KB * 3 + 120)
    for srv in srvs.values():
        check_error_log(srv)
    return res


def mem_table(res):
    out = ["RSS of the single httpd child (event MPM, 1 process x 25 threads) "
           "before the transfer (after a warm-up), its peak during it (sampled "
           "every 20 ms) and the growth; one client at a time for the %d MiB "
           "transfers, the slow readers (SO_RCVBUF 64 KiB, %d KiB/s) of a %d "
           "MiB body at the same time." % (BIG_MB, SLOW_RATE_KB, SLOW_MB), "",
           "| server | transfer | RSS before MB | peak MB | growth MB | after MB"
           " | seconds | MB/s |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    names = {"download": "download %d MiB" % BIG_MB,
             "upload": "upload %d MiB" % BIG_MB,
             "slow": "slow read %d MiB" % SLOW_MB}
    for t, r in res.items():
        for k in ("download", "upload", "slow"):
            v = r.get(k)
            if not v:
                continue
            if "error" in v:
                out.append("| %s | %s | failed: %s |||||| " % (NAMES[t], names[k],
                                                                 v["error"]))
                continue
            mb = (BIG_MB if k != "slow" else SLOW_MB) * 1.048576
            out.append("| %s | %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.0f |" % (
                NAMES[t], names[k], v["before_kb"] / 1024.0,
                v["peak_kb"] / 1024.0, v["growth_kb"] / 1024.0,
                v["after_kb"] / 1024.0, v["seconds"], mb / v["seconds"]))
    return "\n".join(out)


# ---------------------------------------------------------------------------
# cost: instructions (callgrind) and syscalls (strace) per request of
# apache2 -X, from two runs with N1 and N2 requests


def www_data_ids():
    import pwd
    pw = pwd.getpwnam("www-data")
    return pw.pw_uid, pw.pw_gid


def cost_run(tool, impl, size, n, backend):
    name = "cost-%s-%s-%s-%d" % (tool, impl, size, n)
    port = free_port()
    d, conf = httpd_conf(impl, name, port, proxied_port(backend), "x")
    out = os.path.join(d, "%s.out" % tool)
    if tool == "callgrind":
        # created here, writable by the user httpd switches to
        with open(out, "w"):
            pass
        os.chmod(out, 0o666)
        if IS_ROOT:
            os.chown(out, *www_data_ids())
        argv = ["valgrind", "--tool=callgrind", "--vgdb=no",
                "--dump-instr=no", "--callgrind-out-file=" + out,
                APACHE, "-X", "-f", conf]
    else:
        argv = ["strace", "-f", "-c", "-o", out, APACHE, "-X", "-f", conf]
    p = Proc(name, argv, os.path.join(d, "stdout.log"), cwd=d)
    try:
        wait_http(port, "/1k", p, 180)
        path = size_path(size)
        want = size_len(size)
        c = HttpConn(port, timeout=120)
        for _ in range(n):
            st, _, got = c.get(path)
            if st != 200 or got != want:
                raise RuntimeError("%s: status %d, %d bytes" % (name, st, got))
        c.close()
        time.sleep(0.2)
        main = p.pid
        if tool == "strace":
            kids = [k for k in p.children()
                    if (proc_stat(k) or [""])[0] != "Z"]
            if not kids:
                raise RuntimeError("%s: no apache2 under strace" % name)
            main = kids[0]
        p.stop(signal.SIGTERM, timeout=120, main_pid=main)
    finally:
        if p in Proc.registry:
            p.stop(timeout=30)
    with open(out) as f:
        text = f.read()
    if tool == "callgrind":
        m = re.search(r"^(?:summary|totals):\s+(\d+)", text, re.M)
        if not m:
            raise RuntimeError("%s: no totals in %s" % (name, out))
        return {"total": int(m.group(1)), "file": out}
    calls = {}
    for line in text.splitlines():
        f = line.split()
        if len(f) >= 5 and re.match(r"^[\d.]+$", f[0]) and f[-1] != "total":
            calls[f[-1]] = int(f[3])
    if not calls:
        raise RuntimeError("%s: no strace summary in %s" % (name, out))
    return {"total": sum(calls.values()), "calls": calls, "file": out}


def bench_cost():
    refuse_bare_with_chunked(COST_TARGETS, COST_SIZES, "BENCH_COST_SIZES")
    www = make_bodies()
    backend = start_backend(www)
    res = {}
    for tool in COST_TOOLS:
        for impl in COST_TARGETS:
            for size in COST_SIZES:
                a = cost_run(tool, impl, size, COST_N1, backend)
                b = cost_run(tool, impl, size, COST_N2, backend)
                per = (b["total"] - a["total"]) / float(COST_N2 - COST_N1)
                entry = {"per_req": per, "n1": a, "n2": b}
                if tool == "strace":
                    entry["by_call"] = {
                        k: (b["calls"].get(k, 0) - a["calls"].get(k, 0))
                        / float(COST_N2 - COST_N1)
                        for k in set(a["calls"]) | set(b["calls"])}
                res.setdefault(tool, {}).setdefault(impl, {})[size] = entry
                log("cost %-9s %-10s %-5s %12.1f per request" % (
                    tool, impl, size, per))
    if "callgrind" in res:
        res["profile"] = {}
        for impl in COST_TARGETS:
            for size in COST_SIZES:
                if size in ("1k",) or (impl == "rproxy" and size == "1m"):
                    e = res["callgrind"][impl][size]
                    res["profile"]["%s/%s" % (impl, size)] = profile_diff(
                        e["n1"]["file"], e["n2"]["file"])
    return res


_NAME_KIND = {"ob": "ob", "cob": "ob", "fl": "fl", "fi": "fl", "fe": "fl",
              "cfi": "fl", "cfl": "fl", "fn": "fn", "cfn": "fn"}


def parse_callgrind(path):
    """{(object, function, file): [self Ir, Ir of the calls it makes]} from
    a callgrind out file (name compression "(id) name" resolved; the file
    keeps apart static functions of one name). Inclusive = self + calls."""
    names = {"ob": {}, "fl": {}, "fn": {}}
    stats = {}
    cur_ob = cur_fl = None
    st = [0, 0]
    in_call = False
    with open(path, errors="replace") as f:
        for line in f:
            c = line[:1]
            if c and (c.isdigit() or c in "+-*"):
                parts = line.split()
                cost = int(parts[1]) if len(parts) > 1 else 0
                if in_call:
                    st[1] += cost
                    in_call = False
                else:
                    st[0] += cost
                continue
            key, eq, val = line.rstrip("\n").partition("=")
            if not eq:
                continue
            kind = _NAME_KIND.get(key)
            if kind:
                m = re.match(r"\((\d+)\)(?:\s+(.*))?$", val)
                if m and m.group(2) is not None:
                    names[kind][m.group(1)] = m.group(2)
                    val = m.group(2)
                elif m:
                    val = names[kind].get(m.group(1), "?")
                if key == "ob":
                    cur_ob = val
                elif key == "fl":
                    cur_fl = val
                elif key == "fn":
                    st = stats.setdefault((cur_ob, val, cur_fl), [0, 0])
            elif key == "calls":
                in_call = True
    return stats


def category(fn, obj, path):
    o = os.path.basename(obj or "?")
    path = path or ""
    if o.startswith("mod_rproxy"):
        return ("mod_rproxy core" if "/core/" in path or path.startswith("core/")
                else "mod_rproxy adapter")
    if o.startswith("mod_proxy"):
        return "mod_proxy + mod_proxy_http"
    if o.startswith("mod_bench_trivial"):
        return "trivial handler"
    if o == "mod_mpm_event.so":
        return "httpd event MPM"
    if o == "apache2" or (o.startswith("mod_") and o.endswith(".so")):
        return "httpd filters" if "filter" in fn else "httpd core"
    if o.startswith("libapr"):
        return "APR / APR-util"
    if o.startswith(("libc.so", "libpthread", "ld-linux")):
        return "libc (memcpy, malloc, str*, ...)"
    return "other (%s)" % o


def profile_diff(f1, f2):
    """Per-request self and inclusive Ir by function: (run N2 - run N1) /
    (N2 - N1), so start-up and shutdown cancel out."""
    dn = float(COST_N2 - COST_N1)
    a, b = parse_callgrind(f1), parse_callgrind(f2)
    funcs = {}
    for k in set(a) | set(b):
        va, vb = a.get(k, [0, 0]), b.get(k, [0, 0])
        self_ = (vb[0] - va[0]) / dn
        incl = (vb[0] + vb[1] - va[0] - va[1]) / dn
        if abs(self_) >= 0.5 or abs(incl) >= 0.5:
            funcs[k] = {"self": self_, "incl": incl}
    cats = {}
    for (obj, fn, fl), v in funcs.items():
        c = category(fn, obj, fl)
        cats[c] = cats.get(c, 0) + v["self"]
    return {"functions": funcs, "categories": cats}


def cost_tables(res):
    out = []
    dn = COST_N2 - COST_N1
    for tool, unit in (("callgrind", "instructions"), ("strace", "syscalls")):
        if tool not in res:
            continue
        t = res[tool]
        out.append("%s per request (apache2 -X, one keep-alive client, (%s(N2) "
                   "- %s(N1)) / (N2 - N1), N1=%d, N2=%d)%s:" % (
                       unit.capitalize(), unit, unit, COST_N1, COST_N2,
                       "" if tool == "callgrind" else " under strace -f -c"))
        out.append("")
        hdr = "| server | " + " | ".join(size_label(s) for s in COST_SIZES) + " |"
        out.append(hdr)
        out.append("|---|" + "---:|" * len(COST_SIZES))
        for impl in COST_TARGETS:
            out.append("| %s | %s |" % (NAMES[impl], " | ".join(
                fmt(t[impl][s]["per_req"], 0 if tool == "callgrind" else 1)
                for s in COST_SIZES)))
        if "trivial" in t and "proxy_http" in t:
            out.append("")
            out.append("Above the trivial handler (the proxying part), and as a "
                       "ratio to mod_proxy_http's:")
            out.append("")
            out.append(hdr)
            out.append("|---|" + "---:|" * len(COST_SIZES))
            for impl in COST_TARGETS:
                if impl == "trivial":
                    continue
                cells = []
                for s in COST_SIZES:
                    v = t[impl][s]["per_req"] - t["trivial"][s]["per_req"]
                    ref = (t["proxy_http"][s]["per_req"]
                           - t["trivial"][s]["per_req"])
                    cells.append("%s (%s)" % (
                        fmt(v, 0 if tool == "callgrind" else 1), ratio(v, ref)))
                out.append("| %s | %s |" % (NAMES[impl], " | ".join(cells)))
        if tool == "strace":
            out.append("")
            out.append("Syscalls per request by call (≥ 0.05 per request):")
            out.append("")
            for s in COST_SIZES:
                for impl in COST_TARGETS:
                    bc = t[impl][s]["by_call"]
                    items = sorted(((v, k) for k, v in bc.items() if v >= 0.05),
                                   reverse=True)
                    out.append("- %s, %s: %s" % (NAMES[impl], size_label(s),
                               ", ".join("%s %.2f" % (k, v) for v, k in items)))
        out.append("")
    if "profile" in res:
        for key, prof in res["profile"].items():
            impl, size = key.split("/")
            out.append("Where the instructions go, %s at %s (callgrind, self "
                       "cost per request by area):" % (NAMES[impl],
                                                       size_label(size)))
            out.append("")
            out.append("| area | instructions/request | share |")
            out.append("|---|---:|---:|")
            total = sum(prof["categories"].values()) or 1
            for c, v in sorted(prof["categories"].items(),
                               key=lambda kv: -kv[1]):
                out.append("| %s | %s | %.1f%% |" % (c, fmt(v), v * 100 / total))
            out.append("")
        for key in [k for k in res["profile"] if k.startswith("rproxy/")]:
            funcs = res["profile"][key]["functions"]
            size = key.split("/")[1]
            out.append("Top functions by self cost, mod_rproxy at %s, "
                       "instructions per request:" % size_label(size))
            out.append("")
            out.append("| self | inclusive | function | object |")
            out.append("|---:|---:|---|---|")
            for (o, fn, fl), v in sorted(funcs.items(),
                                     key=lambda kv: -kv[1]["self"])[:30]:
                out.append("| %s | %s | %s | %s |" % (
                    fmt(v["self"]), fmt(v["incl"]), fn, os.path.basename(o)))
            out.append("")
            out.append("mod_rproxy's own functions by inclusive cost (what "
                       "they call included), instructions per request:")
            out.append("")
            out.append("| inclusive | self | function | file |")
            out.append("|---:|---:|---|---|")
            ours = [(v["incl"], v["self"], fn, fl)
                    for (o, fn, fl), v in funcs.items()
                    if os.path.basename(o or "").startswith("mod_rproxy")]
            for incl, self_, fn, fl in sorted(ours, reverse=True)[:30]:
                out.append("| %s | %s | %s | %s |" % (
                    fmt(incl), fmt(self_), fn,
                    "/".join((fl or "?").split("/")[-2:])))
            out.append("")
    return "\n".join(out)


# ---------------------------------------------------------------------------


def header(what):
    def cmd(argv):
        try:
            return subprocess.run(argv, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT,
                                  timeout=10).stdout.decode().strip()
        except Exception:
            return "?"
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(ln.split(":", 1)[1].strip() for ln in f
                       if ln.startswith("model name"))
    except Exception:
        pass
    ver = cmd([APACHE, "-v"]).splitlines()
    def sysctl(path):
        try:
            with open("/proc/sys/" + path) as f:
                return f.read().strip()
        except OSError:
            return "?"
    autogroup = sysctl("kernel/sched_autogroup_enabled")
    congestion = sysctl("net/ipv4/tcp_congestion_control")
    return "\n".join([
        "- date: %s" % time.strftime("%Y-%m-%d %H:%M %Z"),
        "- commit: %s" % COMMIT,
        "- benchmark: %s" % what,
        "- backend: %s" % ("TLS 1.3 to the proxies (BENCH_BACKEND_TLS=1)"
                           if BACKEND_TLS else "plain HTTP"),
        "- machine: %d CPUs (%s), kernel %s, sched_autogroup_enabled %s "
        "(all processes in one session since the thirteenth session), "
        "TCP congestion control %s"
        % (os.cpu_count(), cpu, os.uname().release, autogroup, congestion),
        "- %s; %s; %s" % (ver[0] if ver else "?",
                          cmd([NGINX, "-v"]).replace("nginx version: ", ""),
                          cmd(["wrk", "-v"]).splitlines()[0]
                          if cmd(["wrk", "-v"]) else "wrk ?"),
    ])


def jsonable(v):
    """Tuple keys (object, function, file) become "object | function | file"."""
    if isinstance(v, dict):
        return {(" | ".join(str(x) for x in k) if isinstance(k, tuple)
                 else k): jsonable(x)
                for k, x in v.items()}
    if isinstance(v, list):
        return [jsonable(x) for x in v]
    return v


def main(argv):
    if len(argv) >= 2 and argv[1] == "sink":
        sink_main(int(argv[2]))
        return 0
    what = argv[1] if len(argv) > 1 else "load"
    if what not in ("load", "mem", "cost", "all"):
        sys.stderr.write(__doc__)
        return 2
    mkdir(DIR)

    def on_signal(signum, frame):
        # once: the cleanup that follows must not be interrupted again
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    parts = [("load", bench_load, load_table), ("mem", bench_mem, mem_table),
             ("cost", bench_cost, cost_tables)]
    for name, run, table in parts:
        if what not in (name, "all"):
            continue
        try:
            res = run()
        finally:
            Proc.stop_all()
        md = "## %s\n\n%s\n\n%s\n" % (name, header(name), table(res))
        base = os.path.join(DIR, "%s-%s" % (name, stamp))
        with open(base + ".md", "w") as f:
            f.write(md)
        with open(base + ".json", "w") as f:
            json.dump(jsonable(res), f, indent=1, default=str)
        sys.stdout.write("\n" + md + "\n")
        sys.stdout.flush()
        log("saved %s.md and .json" % base)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    finally:
        Proc.stop_all()
