"""Soak under sanitizers: the module built with ASan and UBSan
(--enable-debug, libasan preloaded into Debian's httpd) serves 10,000
requests of mixed sizes (0 B, 1 KiB, 64 KiB, 1 MiB; Content-Length and
chunked; downloads and uploads) from 16 keep-alive clients, interleaved with
1,000 client aborts at random points (in the request head, after the
request, in the request body, in the response body) and with backends that
reset mid-body, answer garbage, stall (short RProxyIOTimeout and
RProxyResponseHeaderTimeout), or close idle pooled connections under the
proxy.  Then a graceful stop.

Checked: no sanitizer report and no crash (error log, stderr and ASan's own
report files), no file descriptor leaked by the httpd child (after the idle
timeout its /proc fd table holds none that it did not hold before), no backend
connection left open after the idle timeout, every completed response 200
and byte-exact (sha256), every faulty exchange answered the way it must be
(502 / 504, or a response cut so that it cannot pass for complete).

RPTEST_SOAK_REQUESTS changes the number of requests (default 10,000; the
aborts and faults scale with it).  RPTEST_ASAN_MODULE is the sanitizer
build of the module (default <repo>/build-asan/mod_rproxy.so, what
tests/run.sh builds)."""

import os
import queue
import random
import re
import socket
import struct
import subprocess
import threading
import time

import pytest

import backends
import client
import rphttpd

N_REQUESTS = int(os.environ.get("RPTEST_SOAK_REQUESTS", "10000"))
N_ABORTS = N_REQUESTS // 10
N_FAULTS = N_REQUESTS // 100  # of each kind
CLIENTS = 16
IDLE = 2
SIZES = (0, 1024, 64 * 1024, 1024 * 1024)
# (weight, method, size, chunked): mostly small, some large, some chunked
MIX = ((20, "GET", 0, False), (25, "GET", 1024, False),
       (15, "GET", 65536, False), (4, "GET", 1048576, False),
       (4, "GET", 0, True), (8, "GET", 1024, True), (6, "GET", 65536, True),
       (2, "GET", 1048576, True),
       (5, "PUT", 0, False), (5, "PUT", 1024, False), (3, "PUT", 65536, False),
       (2, "PUT", 1024, True), (1, "PUT", 65536, True))
FAULTS = ("reset", "reset-chunked", "garbage", "stall-body", "stall-head")
GARBAGE = (b"\x00\xff garbage\r\n\r\n",
           b"HTTP/1.1 2000 Too Big\r\nContent-Length: 0\r\n\r\n",
           b"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n",
           b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
           b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")


def _asan_module():
    return os.path.abspath(os.environ.get("RPTEST_ASAN_MODULE") or os.path.join(
        rphttpd.REPO, "build-asan", "mod_rproxy.so"))


def _libasan(module):
    """The libasan the module was linked with (ldd), to preload."""
    if os.environ.get("RPTEST_HTTPD_PRELOAD"):
        return os.environ["RPTEST_HTTPD_PRELOAD"]
    out = subprocess.run(["ldd", module], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, timeout=20).stdout.decode()
    m = re.search(r"libasan\.so\S*\s+=>\s+(\S+)", out)
    return m.group(1) if m else None


def _fds(pid):
    """fd number -> what it points to, for one process."""
    out = {}
    d = "/proc/%d/fd" % pid
    for name in os.listdir(d):
        try:
            out[int(name)] = os.readlink(os.path.join(d, name))
        except OSError:
            pass
    return out


def _new_fds(before, after):
    """The descriptors of `after` that `before` did not have, or had
    pointing elsewhere: what the soak leaked.  One that `before` had and
    `after` lacks is not a leak (the baseline can catch a connection in its
    last moments, a lingering close of the warm-up's aborted client)."""
    return {fd: t for fd, t in after.items() if before.get(fd) != t}


def _wait_fds(pid, before, timeout):
    """Poll the fd table until it holds nothing `before` did not; return
    the last seen."""
    deadline = time.monotonic() + timeout
    fds = _fds(pid)
    while _new_fds(before, fds) and time.monotonic() < deadline:
        time.sleep(0.2)
        fds = _fds(pid)
    return fds


# --------------------------------------------------------------------------
# Backends


def _main_handler():
    downloads = {}
    for size in SIZES:
        for chunked in (False, True):
            downloads["/dl/%d/%s" % (size, "chunked" if chunked else "cl")] = \
                backends.make_download_handler(
                    backends.payload(size, seed=size % 251 + 1),
                    chunked=chunked)

    def handler(req, conn):
        path = req.target.split("?", 1)[0]
        h = downloads.get(path)
        if h is not None:
            return h(req, conn)
        return backends.echo_handler(req, conn)
    return handler


def _garbage_handler(req, conn):
    req.drain()
    i = int(req.target.rsplit("/", 1)[-1]) % len(GARBAGE)
    conn.send(GARBAGE[i])
    conn.close_after = True


# --------------------------------------------------------------------------
# Clients


class KeepAlive:
    """One client's keep-alive connection.  A request whose reused
    connection was closed before any response byte arrived (the server
    ends idle or used-up keep-alive connections) is sent again on a fresh
    one; anything received makes the answer final."""

    def __init__(self, port):
        self.port = port
        self.sess = None

    def close(self):
        if self.sess is not None:
            self.sess.close()
            self.sess = None

    def request(self, method, target, body, chunked):
        for _ in range(2):
            fresh = self.sess is None
            if fresh:
                self.sess = client.Session(self.port, timeout=30)
            s = self.sess
            try:
                s.sock.sendall(client.build_request(
                    method, target, (), body, s.host, chunked_body=chunked))
                r = client.read_response(s.sock, method, reader=s.reader,
                                         hash_body=True)
            except (client.NoResponse, BrokenPipeError,
                    ConnectionResetError) as e:
                self.close()
                if fresh:
                    return "no response on a fresh connection: %s" % e
                continue
            except (OSError, client.ProtocolError) as e:
                self.close()
                return "failed: %r" % e
            if not r.complete or "close" in (r.header("connection") or "").lower():
                self.close()
            return r
        return "no response twice"


def _check_normal(item, r):
    """None when the answer is right, else what is wrong."""
    _, method, size, chunked = item
    if isinstance(r, str):
        return r
    if r.status != 200 or not r.complete:
        return "status %s complete=%s end=%s" % (r.status, r.complete, r.end)
    if method == "GET":
        want = backends.sha256(backends.payload(size, seed=size % 251 + 1))
        if r.sha256 != want or r.body_len != size:
            return "body differs (%d bytes)" % r.body_len
        return None
    info = r.json()
    want = backends.sha256(backends.payload(size, seed=size % 13 + 500))
    if info["body_sha256"] != want or info["body_len"] != size:
        return "upload arrived altered (%d bytes)" % info["body_len"]
    return None


def _normal(ka, item):
    _, method, size, chunked = item
    if method == "GET":
        target = "/app/dl/%d/%s" % (size, "chunked" if chunked else "cl")
        return _check_normal(item, ka.request("GET", target, None, False))
    body = backends.payload(size, seed=size % 13 + 500)
    return _check_normal(item, ka.request("PUT", "/app/up/%d" % size, body,
                                          chunked))


def _rst_close(s, rnd):
    if rnd.random() < 0.5:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                     struct.pack("ii", 1, 0))
    s.close()


def _abort(port, rnd):
    """Open a connection, give up at a random point; never fails the test
    itself (the server's health is checked afterwards)."""
    where = rnd.choice(("head", "after-head", "request-body", "mid-body",
                        "mid-body"))
    try:
        s = client.connect(port, timeout=10)
    except OSError:
        return
    try:
        if where == "head":
            head = client.build_request("GET", "/app/dl/1048576/cl",
                                        host="127.0.0.1")
            s.sendall(head[:rnd.randrange(1, len(head))])
        elif where == "after-head":
            s.sendall(client.build_request(
                "GET", rnd.choice(("/app/dl/1048576/cl", "/app/up/x")),
                host="127.0.0.1"))
            time.sleep(rnd.random() * 0.01)
        elif where == "request-body":
            body = backends.payload(65536, seed=3)
            req = client.build_request("PUT", "/app/up/abort", body=body,
                                       host="127.0.0.1",
                                       chunked_body=rnd.random() < 0.5)
            s.sendall(req[:rnd.randrange(1, len(req) - 16)])
        else:
            s.sendall(client.build_request(
                "GET", "/app/dl/1048576/%s" % rnd.choice(("cl", "chunked")),
                host="127.0.0.1"))
            want, got = rnd.randrange(1, 1048576), 0
            while got < want:
                piece = s.recv(min(65536, want - got))
                if not piece:
                    break
                got += len(piece)
    except OSError:
        pass
    finally:
        _rst_close(s, rnd)


FAULT_TARGETS = {"reset": "/reset/cl", "reset-chunked": "/reset/chunked",
                 "garbage": "/garbage/%d", "stall-body": "/stall/body",
                 "stall-head": "/stall/head"}


def _fault(port, kind, i):
    """One request to a faulty backend; None when answered as it must be."""
    target = FAULT_TARGETS[kind].replace("%d", str(i))
    try:
        r = client.get(port, target, timeout=30, hash_body=True)
    except (AssertionError, OSError, client.ProtocolError) as e:
        return "%s: no answer: %r" % (kind, e)
    if kind == "garbage":
        ok = r.status == 502
    elif kind == "stall-head":
        ok = r.status == 504
    elif kind == "stall-body":
        ok = r.status == 200 and not r.complete
    else:  # the reset may beat the head to the proxy: then it is a 502
        ok = (r.status == 200 and not r.complete) or r.status == 502
    return None if ok else "%s: %r" % (kind, r)


counts_lock = threading.Lock()


def _worker(port, work, failures, counts, seed):
    rnd = random.Random(seed)
    ka = KeepAlive(port)
    try:
        while True:
            try:
                item = work.get_nowait()
            except queue.Empty:
                return
            kind = item[0]
            if kind == "req":
                err = _normal(ka, item)
            elif kind == "abort":
                err = _abort(port, rnd)
            else:
                err = _fault(port, item[1], item[2])
            with counts_lock:
                counts[kind] = counts.get(kind, 0) + 1
            if err:
                failures.append((item, err))
    except Exception as e:  # keep it for the test; do not hang the pool
        failures.append(("worker", repr(e)))
    finally:
        ka.close()


def _work_items(rnd):
    weights = [m[0] for m in MIX]
    items = [("req",) + m[1:] for m in rnd.choices(MIX, weights, k=N_REQUESTS)]
    items += [("abort",)] * N_ABORTS
    items += [("fault", k, i) for k in FAULTS for i in range(N_FAULTS)]
    rnd.shuffle(items)
    return items


def _idle_closer(b, stop, closed):
    """The backend closes its idle keep-alive connections now and then
    (FIN or RST), as servers with short keep-alive timeouts do."""
    n = 0
    while not stop.wait(0.25):
        closed[0] += b.close_idle_connections(rst=n % 2 == 1)
        n += 1


# --------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout_s(600)
def test_soak_under_asan_ubsan_no_leak_no_report_byte_exact(
        httpd_factory, backend_factory):
    if rphttpd.impl() != "rproxy":
        pytest.skip("the sanitizer soak checks mod_rproxy's own build")
    module = _asan_module()
    if not os.path.exists(module):
        pytest.fail("sanitizer build of the module missing at %s: run "
                    "scripts/build.sh $PWD/build-asan --enable-debug (or set "
                    "RPTEST_ASAN_MODULE)" % module, pytrace=False)
    libasan = _libasan(module)
    assert libasan and os.path.exists(libasan), \
        "%s links a libasan to preload into httpd (ldd found %r)" % (module, libasan)

    main = backend_factory(_main_handler(), name="soak-main")
    reset = backend_factory(backends.route([
        ("/cl", backends.make_reset_mid_body_handler(256 * 1024, 64 * 1024,
                                                     pause=0.02)),
        ("/chunked", backends.make_reset_mid_body_handler(
            256 * 1024, 64 * 1024, chunked=True, pause=0.02))]),
        name="soak-reset")
    garbage = backend_factory(_garbage_handler, name="soak-garbage")
    stall = backend_factory(backends.route([
        ("/body", backends.make_stall_mid_body_handler(256 * 1024, 16 * 1024,
                                                       stall=30)),
        ("/head", backends.make_silent_handler(30))]), name="soak-stall")
    h = httpd_factory(
        "RProxyIdleTimeout %d\n"
        "RProxyIOTimeout 20\n"
        "RProxyPass /app %s/\n"
        "RProxyPass /reset %s/\n"
        "RProxyPass /garbage %s/\n"
        "<Location /stall>\n"
        "    RProxyPass %s/\n"
        "    RProxyIOTimeout 1\n"
        "    RProxyResponseHeaderTimeout 1\n"
        "</Location>\n" % (IDLE, main.url, reset.url, garbage.url, stall.url),
        threads=32, module=module, preload=libasan)
    everything = (main, reset, garbage, stall)

    # warm up every path once, then let the pools drain: the baseline
    warm = KeepAlive(h.port)
    for item in [("req",) + m[1:] for m in MIX]:
        err = _normal(warm, item)
        assert err is None, "warm-up request %r answers right: %s" % (item, err)
    warm.close()
    for k in FAULTS:
        err = _fault(h.port, k, 0)
        assert err is None, "warm-up fault %s answered right: %s" % (k, err)
    _abort(h.port, random.Random(1))
    kids = h.child_pids()
    assert len(kids) == 1, "one httpd child (%r)" % kids
    child = kids[0]
    for b in everything:
        n = b.wait_open_connections(0, IDLE + 8)
        assert n == 0, "%s: warm-up connections reaped (%d open)" % (b.name, n)
    time.sleep(1)
    before = _fds(child)

    rnd = random.Random(20261122)
    work = queue.Queue()
    for item in _work_items(rnd):
        work.put(item)
    failures, counts = [], {}
    stop = threading.Event()
    closed = [0]
    closer = threading.Thread(target=_idle_closer, args=(main, stop, closed),
                              daemon=True)
    closer.start()
    t0 = time.monotonic()
    threads = [threading.Thread(target=_worker,
                                args=(h.port, work, failures, counts, i),
                                daemon=True) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(540 - (time.monotonic() - t0))
    elapsed = time.monotonic() - t0
    stop.set()
    closer.join(5)
    print("soak: %d requests, %d aborts, %d faults in %.1f s (%r); the "
          "backend closed %d idle connections" % (
              N_REQUESTS, N_ABORTS, N_FAULTS * len(FAULTS), elapsed, counts,
              closed[0]))
    assert not any(t.is_alive() for t in threads), \
        "the clients finished within the bound (%.0f s)" % elapsed
    assert counts.get("req") == N_REQUESTS, "every request was made (%r)" % counts
    assert closed[0] > 0 and not closer.is_alive(), \
        "test setup: the backend closed idle pooled connections under the proxy"
    assert not failures, "%d of %d exchanges went wrong; first ones:\n%s" % (
        len(failures), sum(counts.values()),
        "\n".join("%r: %s" % f for f in failures[:15]))

    assert h.child_pids() == [child], \
        "the httpd child survived the soak (before %d, now %r)" % (child, h.child_pids())
    for b in everything:
        n = b.wait_open_connections(0, IDLE + 8)
        assert n == 0, \
            "%s: after RProxyIdleTimeout %ds no connection from the proxy is open (%d)" % (
                b.name, IDLE, n)
    after = _wait_fds(child, before, 15)
    leaked = _new_fds(before, after)
    assert not leaked, \
        "the httpd child holds no descriptor it did not hold before the soak " \
        "(%d before, %d after; new or changed: %r)" % (
            len(before), len(after), sorted(leaked.items())[:20])

    loud = [l for l in h.error_log.splitlines()
            if "[rproxy:debug]" not in l and (main.hostport in l or "RP00101" in l)]
    assert not loud, \
        "the normal traffic, the recovered keep-alive races and the client " \
        "aborts log nothing above debug level:\n%s" % "\n".join(loud[:10])
    h.check_no_crash()
    reports = h.sanitizer_reports()
    assert not reports, "ASan wrote no report:\n%s" % "\n".join(
        "%s:\n%s" % (p, t[:3000]) for p, t in reports.items())
    h.stop(check=True)  # graceful stop; scans the logs and ASan's reports
    assert h.proc_rc == 0, "httpd exited cleanly after the graceful stop (rc %r)" % h.proc_rc


# --------------------------------------------------------------------------
# Graceful stop while tunnels and streams are open


def _ws_echo(req, conn):
    conn.send(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
              b"Connection: Upgrade\r\n\r\n")
    conn.sock.settimeout(60)
    while True:
        try:
            data = conn.sock.recv(65536)
            if not data:
                break
            conn.sock.sendall(data.upper())
        except OSError:
            break
    conn._close()


def _open_tunnel(port):
    s = client.connect(port, timeout=20)
    s.sendall(b"GET /ws/x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\n"
              b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        c = s.recv(1)
        if not c:
            break
        head += c
    assert head.startswith(b"HTTP/1.1 101"), "a tunnel opens (%r)" % head[:40]
    s.sendall(b"ping")
    got = b""
    while len(got) < 4:
        c = s.recv(4 - len(got))
        if not c:
            break
        got += c
    assert got == b"PING", "the tunnel echoes"
    return s


STREAM = [b"a" * 1000, b"b" * 200000]


def _open_stream(port):
    """A response in flight: its first part now, the rest 2 s later."""
    s = client.connect(port, timeout=20)
    s.sendall(b"GET /slow/x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    return s


def _read_stream(s, out, i):
    r = client.read_response(s, "GET", hash_body=True)
    out[i] = r.complete and r.sha256 == backends.sha256(b"".join(STREAM))


def _wait_end(s, bound):
    """Read until EOF/reset; True when it came within `bound` seconds."""
    s.settimeout(bound)
    deadline = time.monotonic() + bound
    try:
        while time.monotonic() < deadline:
            if not s.recv(65536):
                return True
    except socket.timeout:
        return False
    except OSError:
        return True
    return False


@pytest.mark.timeout_s(90)
def test_graceful_stop_ends_tunnels_lets_responses_finish_under_asan(
        httpd_factory, backend_factory):
    """httpd stops gracefully (GracefulShutdownTimeout 5) while WebSocket
    tunnels are open and responses are in flight: each response still
    arrives whole, each tunnel is closed (within RP_TUNNEL_STOP_CHECK, so
    the client sees its connection end well inside the grace time instead
    of when httpd kills the child), the child exits by itself, no sanitizer
    report, no crash."""
    if rphttpd.impl() != "rproxy":
        pytest.skip("the sanitizer soak checks mod_rproxy's own build")
    module = _asan_module()
    if not os.path.exists(module):
        pytest.fail("sanitizer build of the module missing at %s" % module,
                    pytrace=False)
    b = backend_factory(backends.route([
        ("/ws", _ws_echo),
        ("/slow", backends.make_event_stream_handler(
            STREAM, max_wait=2.0, framing="length",
            content_type="application/octet-stream"))]), name="stop")
    h = httpd_factory("RProxyFlushInterval -1\n"
                      "RProxyPass /ws %s/ws\nRProxyPass /slow %s/slow\n"
                      % (b.url, b.url), module=module,
                      preload=_libasan(module))
    tunnels = [_open_tunnel(h.port) for _ in range(4)]
    streams = [_open_stream(h.port) for _ in range(4)]
    deadline = time.monotonic() + 10
    while len(b.requests) < 8 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(b.requests) == 8, "test setup: the backend got every request"
    ended, whole = {}, {}
    watchers = [threading.Thread(target=lambda i=i, s=s: ended.__setitem__(
        i, _wait_end(s, 4)), daemon=True) for i, s in enumerate(tunnels)]
    watchers += [threading.Thread(target=_read_stream, args=(s, whole, i),
                                  daemon=True) for i, s in enumerate(streams)]
    for t in watchers:
        t.start()
    h.stop(check=True)  # SIGWINCH; scans the logs and ASan's reports
    for t in watchers:
        t.join(20)
    for s in tunnels + streams:
        s.close()
    assert all(whole.get(i) for i in range(len(streams))), \
        "every response in flight at the graceful stop arrived whole (%r)" % whole
    assert all(ended.get(i) for i in range(len(tunnels))), \
        "every tunnel was closed within 4 s of the graceful stop (%r)" % ended
    assert "AH00045" not in h.error_log, \
        "the child exited by itself; httpd did not have to signal it:\n%s" % \
        "\n".join(l for l in h.error_log.splitlines() if "AH0004" in l)
    assert h.error_log.count("RP00180") == len(tunnels), \
        "each tunnel's end is logged (debug) as due to the stop"
    n = b.wait_open_connections(0, 5)
    assert n == 0, "the backend sees its connections closed (%d open)" % n
