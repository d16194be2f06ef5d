"""Operations: `apachectl graceful` (SIGUSR1 to the httpd parent) every 2 s
for 30 s while 64 keep-alive clients send requests through the proxy and
WebSocket tunnels come and go; then one plain restart (SIGHUP) under the
same load.

A request has failed when its answer is not 2xx, or is truncated (framing
incomplete, or the body is not byte-exact), or when a fresh connection got
no answer at all.  A reused keep-alive connection that the server closed
before any byte of the answer arrived is normal after a graceful restart
(the old child ends its idle connections): the client sends the request
again on a fresh connection, and only then.

Graceful restart: zero failed requests; every tunnel either keeps echoing or
ends with a clean close, and no tunnel read waits longer than HANG; no
socket or shared memory segment left behind (sockets of the httpd
processes, the parent's shared mappings, SysV segments created by them and
/dev/shm entries, before and after); the old generations exit; no backend
connection stays open past RProxyIdleTimeout; and the pool is rebuilt in
the new child: requests after the restarts reuse one backend connection.

Plain restart kills the children: requests in flight may be cut (no answer,
or a body that ends before its framing says), at most one per client (an
upgrade request too: closed with no answer at all), but
never so that they pass for complete, and the proxy answers no error of its
own (no 502 from an interrupted exchange); the same leak checks hold."""

import os
import random
import signal
import socket
import threading
import time

import pytest

import backends
import client

CLIENTS = 64
TUNNELS = 8
STORM = 30.0  # seconds of graceful restarts
EVERY = 2.0
IDLE = 3  # RProxyIdleTimeout
HANG = 15.0  # longest a tunnel read may wait (GracefulShutdownTimeout is 5)
DL = backends.payload(65536, seed=65)
DL_SHA = backends.sha256(DL)


# --------------------------------------------------------------------------
# Backend: JSON echo (with the backend connection id), a 64 KiB download,
# and a WebSocket-style upgrade that echoes upper-cased bytes.


def _ws_echo(req, conn):
    conn.send(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
              b"Connection: Upgrade\r\n\r\n")
    sock = conn.sock
    sock.settimeout(60)
    while True:
        try:
            data = sock.recv(65536)
        except OSError:
            break
        if not data:
            try:
                sock.sendall(b"BYE")
            except OSError:
                pass
            break
        try:
            sock.sendall(data.upper())
        except OSError:
            break
    conn._close()


def _backend(backend_factory):
    return backend_factory(backends.route([
        ("/ws", _ws_echo),
        ("/dl", backends.make_download_handler(DL)),
    ], default=backends.echo_handler), name="ops")


# --------------------------------------------------------------------------
# Observation of the httpd processes


def _links(pid):
    d = "/proc/%d/fd" % pid
    out = []
    try:
        names = os.listdir(d)
    except OSError:
        return out
    for name in names:
        try:
            out.append(os.readlink(os.path.join(d, name)))
        except OSError:
            pass
    return out


def _sockets(pid):
    return sum(1 for l in _links(pid) if l.startswith("socket:"))


def _shared_maps(pid):
    """The parent's shared memory mappings (anonymous shared, SysV,
    /dev/shm): one more per restart would be a leak."""
    out = []
    try:
        with open("/proc/%d/maps" % pid) as f:
            for line in f:
                if "/dev/zero" in line or "SYSV" in line or "/dev/shm/" in line:
                    out.append(line.split(None, 5)[-1].strip())
    except OSError:
        pass
    return sorted(out)


def _sysv_segments(pids):
    """SysV shared memory segments created by any of `pids`."""
    out = set()
    try:
        with open("/proc/sysvipc/shm") as f:
            rows = f.read().splitlines()[1:]
    except OSError:
        return out
    for row in rows:
        cols = row.split()
        # key shmid perms size cpid lpid ...
        if len(cols) > 5 and int(cols[4]) in pids:
            out.add(int(cols[1]))
    return out


def _dev_shm():
    try:
        return set(os.listdir("/dev/shm"))
    except OSError:
        return set()


class Snapshot:
    def __init__(self, h, pids_seen):
        self.parent = h.pid
        self.kids = h.child_pids()
        self.parent_sockets = _sockets(h.pid)
        self.kid_sockets = sorted(_sockets(k) for k in self.kids)
        self.shared = _shared_maps(h.pid)
        self.sysv = _sysv_segments(pids_seen | {h.pid})
        self.dev_shm = _dev_shm()
        print("baseline: parent %d sockets, child %r sockets, parent shared "
              "mappings %r, SysV segments %r" % (
                  self.parent_sockets, self.kid_sockets, self.shared,
                  sorted(self.sysv)))


def _settle(h, b, want_sockets, timeout):
    """Wait until one child is left, the backend sees no connection and the
    child holds `want_sockets` sockets; return the child list."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = h.child_pids()
        if len(kids) == 1 and b.open_connections == 0 and \
                (want_sockets is None or _sockets(kids[0]) == want_sockets):
            return kids
        time.sleep(0.2)
    return h.child_pids()


# --------------------------------------------------------------------------
# Load


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.ok = 0
        self.resent = 0  # sent again after a keep-alive close
        self.cut = []  # plain restart: cut so that the client can tell
        self.failures = []
        self.tunnels = 0
        self.echoes = 0
        self.tunnel_closed = 0  # ended by the server side, cleanly
        self.tunnel_failures = []
        self.upgrades_cut = 0  # upgrade requests closed with no answer

    def add(self, **kw):
        with self.lock:
            for k, v in kw.items():
                cur = getattr(self, k)
                if isinstance(cur, list):
                    cur.append(v)
                else:
                    setattr(self, k, cur + v)


def _one(port, sess, target):
    """Send one request; return (response or None, error text or None,
    fresh): None/None means nothing was received on a reused connection."""
    fresh = sess[0] is None
    if fresh:
        sess[0] = client.Session(port, timeout=20)
    s = sess[0]
    try:
        s.sock.sendall(client.build_request("GET", target, (), None, s.host))
        r = client.read_response(s.sock, "GET", reader=s.reader,
                                 hash_body=True)
    except (client.NoResponse, BrokenPipeError, ConnectionResetError) as e:
        s.close()
        sess[0] = None
        return None, (str(e) if fresh else None), fresh
    except (OSError, client.ProtocolError) as e:
        s.close()
        sess[0] = None
        return None, "failed: %r" % e, fresh
    if not r.complete or "close" in (r.header("connection") or "").lower():
        s.close()
        sess[0] = None
    return r, None, fresh


def _check(r, target):
    if not (200 <= r.status < 300):
        return "status %d" % r.status
    if not r.complete:
        return "truncated: %r" % r
    if target.startswith("/app/dl"):
        if r.sha256 != DL_SHA:
            return "body differs (%d bytes)" % r.body_len
    else:
        want = target[len("/app"):]
        if r.json()["target"] != want:
            return "answer for another request (%s)" % r.json()["target"]
    return None


def _load_worker(port, stop, stats, seed, restart):
    rnd = random.Random(seed)
    sess = [None]
    n = 0
    try:
        while not stop.is_set():
            n += 1
            target = "/app/dl" if rnd.random() < 0.2 else \
                "/app/echo/%d/%d" % (seed, n)
            for attempt in range(2):
                r, err, fresh = _one(port, sess, target)
                if r is None and err is None and attempt == 0:
                    stats.add(resent=1)
                    continue
                break
            if r is None:
                # a killed child closes what it accepted: the client sees
                # that nothing came back
                stats.add(**{"cut" if restart else "failures":
                             (target, err or "no answer twice")})
                continue
            err = _check(r, target)
            if err is None:
                stats.add(ok=1)
            elif restart and not r.complete and 200 <= r.status < 300:
                stats.add(cut=(target, err))  # a killed child cut it
            else:
                stats.add(failures=(target, err))
    finally:
        if sess[0] is not None:
            sess[0].close()


def _recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _upgrade(port):
    s = client.connect(port, timeout=HANG)
    s.sendall(b"GET /app/ws HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              b"Connection: Upgrade\r\nUpgrade: websocket\r\n"
              b"Sec-WebSocket-Version: 13\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        c = s.recv(1)
        if not c:
            break
        head += c
    return s, head.decode("latin-1")


def _tunnel_session(port, stats, rnd, stop):
    """One tunnel for 1-6 s of messages; record how it went."""
    try:
        s, head = _upgrade(port)
    except OSError as e:
        stats.add(tunnel_failures="upgrade: %r" % e)
        return
    try:
        if head == "":
            # closed before any byte of an answer: a request in flight at a
            # plain restart (the graceful test requires none)
            stats.add(upgrades_cut=1)
            return
        if not head.startswith("HTTP/1.1 101"):
            stats.add(tunnel_failures="upgrade answered %r" % head[:40])
            return
        stats.add(tunnels=1)
        end = time.monotonic() + rnd.uniform(1, 6)
        while time.monotonic() < end and not stop.is_set():
            msg = bytes(rnd.choice(b"abcdefghij") for _ in range(
                rnd.randrange(1, 2048)))
            try:
                s.sendall(msg)
                got = _recv_exact(s, len(msg))
            except socket.timeout:
                stats.add(tunnel_failures="no echo within %ss" % HANG)
                return
            except OSError:
                got = b""
            if got == msg.upper():
                stats.add(echoes=1)
            elif not got:
                stats.add(tunnel_closed=1)  # the server side ended it
                return
            else:
                stats.add(tunnel_failures="echo cut or wrong (%d of %d)"
                          % (len(got), len(msg)))
                return
            time.sleep(0.05)
        s.shutdown(socket.SHUT_WR)
        try:
            bye = _recv_exact(s, 3)
        except socket.timeout:
            stats.add(tunnel_failures="no end within %ss of our close" % HANG)
            return
        except OSError:
            bye = b""
        if bye not in (b"BYE", b""):
            stats.add(tunnel_failures="tunnel end %r" % bye)
    finally:
        s.close()


def _tunnel_worker(port, stop, stats, seed):
    rnd = random.Random(seed)
    while not stop.is_set():
        _tunnel_session(port, stats, rnd, stop)


def _start(fn, *args):
    t = threading.Thread(target=fn, args=args, daemon=True)
    t.start()
    return t


def _pool_reused(h, b):
    """Eight requests on one client connection: the first opens a backend
    connection in the new child, the others reuse it."""
    ids = []
    with client.Session(h.port) as s:
        for i in range(8):
            r = s.request("GET", "/app/after/%d" % i)
            assert r.status == 200, "request %d after the restarts answers 200 (%r)" % (i, r)
            ids.append(r.json()["conn_id"])
    return ids


def _conf(b):
    return ("RProxyIdleTimeout %d\n"
            "RProxyPass /app %s/\n" % (IDLE, b.url))


# Room for the old generations while they finish their connections: one
# active child (MaxRequestWorkers = ThreadsPerChild), gracefully stopping
# ones in the other slots.
EXTRA = "ServerLimit 16\n"
# A thread for every client and tunnel: with fewer, the event MPM closes
# keep-alive connections whenever all threads are busy, and the closes the
# restarts cause could not be told from those.
THREADS = CLIENTS + TUNNELS


def _baseline(h, b):
    for i in range(3):
        ids = _pool_reused(h, b)
    kids = _settle(h, b, None, IDLE + 10)
    assert len(kids) == 1 and b.open_connections == 0, \
        "before the load: one child, pooled connections reaped (%r, %d open)" % (
            kids, b.open_connections)
    return ids


def _check_after(h, b, before, pids_seen, label):
    kids = _settle(h, b, before.kid_sockets[0], 60)
    assert len(kids) == 1, \
        "%s: the old generations exited, one child is left (%r)" % (label, kids)
    assert b.open_connections == 0, \
        "%s: after RProxyIdleTimeout no backend connection is open (%d)" % (
            label, b.open_connections)
    assert _sockets(kids[0]) == before.kid_sockets[0], \
        "%s: the new child holds as many sockets as the first one did (%d, now %d: %r)" % (
            label, before.kid_sockets[0], _sockets(kids[0]),
            [l for l in _links(kids[0]) if l.startswith("socket:")])
    assert _sockets(h.pid) == before.parent_sockets, \
        "%s: the parent holds as many sockets as before (%d, now %d)" % (
            label, before.parent_sockets, _sockets(h.pid))
    assert _shared_maps(h.pid) == before.shared, \
        "%s: the parent's shared memory mappings are the same as before:\nbefore %r\nafter  %r" % (
            label, before.shared, _shared_maps(h.pid))
    pids_seen |= set(kids) | {h.pid}
    left = _sysv_segments(pids_seen) - before.sysv
    assert not left, "%s: no SysV shared memory segment created by httpd is left (%r)" % (
        label, left)
    new = {n for n in _dev_shm() - before.dev_shm
           if str(h.pid) in n or "apache" in n or "httpd" in n or "rproxy" in n}
    assert not new, "%s: no new /dev/shm entry from httpd (%r)" % (label, new)
    ids = _pool_reused(h, b)
    assert len(set(ids)) == 1, \
        "%s: the pool is rebuilt: requests after the restarts reuse one backend connection (%r)" % (
            label, ids)


@pytest.mark.slow
@pytest.mark.timeout_s(180)
def test_graceful_restart_every_2s_under_load_with_tunnels(httpd_factory,
                                                            backend_factory):
    b = _backend(backend_factory)
    h = httpd_factory(_conf(b), extra_global=EXTRA, threads=THREADS)
    _baseline(h, b)
    pids_seen = set(h.child_pids())
    before = Snapshot(h, pids_seen)

    stats, stop = Stats(), threading.Event()
    workers = [_start(_load_worker, h.port, stop, stats, i, False)
               for i in range(CLIENTS)]
    workers += [_start(_tunnel_worker, h.port, stop, stats, 1000 + i)
                for i in range(TUNNELS)]
    restarts = 0
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < STORM:
            time.sleep(EVERY)
            os.kill(h.pid, signal.SIGUSR1)
            restarts += 1
            pids_seen |= set(h.child_pids())
        time.sleep(EVERY)
    finally:
        stop.set()
    for t in workers:
        t.join(HANG + 25)
    print("graceful x%d: %d ok, %d sent again after a keep-alive close, "
          "%d failed; tunnels: %d opened, %d echoes, %d closed by the server"
          % (restarts, stats.ok, stats.resent, len(stats.failures),
             stats.tunnels, stats.echoes, stats.tunnel_closed))
    assert not any(t.is_alive() for t in workers), \
        "every client and tunnel finished (no hang)"
    assert "AH00493" in h.error_log or "SIGUSR1" in h.error_log, \
        "test setup: httpd logged the graceful restarts"
    assert stats.ok > CLIENTS, "test setup: the load ran (%d ok)" % stats.ok
    assert not stats.failures, \
        "no request failed across %d graceful restarts (%d of %d); first ones:\n%s" % (
            restarts, len(stats.failures), stats.ok + len(stats.failures),
            "\n".join("%s: %s" % f for f in stats.failures[:15]))
    assert stats.resent <= (restarts + 1) * CLIENTS, \
        "keep-alive connections were closed only by the restarts: at most " \
        "one per client and restart (%d requests sent again)" % stats.resent
    assert stats.tunnels > TUNNELS and stats.echoes > 0, \
        "test setup: tunnels were opened and echoed (%d, %d)" % (stats.tunnels, stats.echoes)
    assert not stats.tunnel_failures, \
        "every tunnel kept echoing or closed cleanly; first problems:\n%s" % \
        "\n".join(stats.tunnel_failures[:15])
    assert stats.upgrades_cut == 0, \
        "every upgrade request was answered (%d closed unanswered)" % \
        stats.upgrades_cut
    _check_after(h, b, before, pids_seen, "after %d graceful restarts" % restarts)


@pytest.mark.slow
@pytest.mark.timeout_s(120)
def test_plain_restart_under_load_cuts_nothing_silently(httpd_factory,
                                                        backend_factory):
    b = _backend(backend_factory)
    h = httpd_factory(_conf(b), extra_global=EXTRA, threads=THREADS)
    _baseline(h, b)
    pids_seen = set(h.child_pids())
    before = Snapshot(h, pids_seen)

    stats, stop = Stats(), threading.Event()
    workers = [_start(_load_worker, h.port, stop, stats, i, True)
               for i in range(CLIENTS)]
    workers += [_start(_tunnel_worker, h.port, stop, stats, 1000 + i)
                for i in range(TUNNELS)]
    try:
        time.sleep(3)
        pids_seen |= set(h.child_pids())
        os.kill(h.pid, signal.SIGHUP)
        time.sleep(5)
    finally:
        stop.set()
    for t in workers:
        t.join(HANG + 25)
    pids_seen |= set(h.child_pids())
    print("restart: %d ok, %d sent again, %d cut (seen as cut), %d failed; "
          "tunnels: %d opened, %d echoes, %d closed by the server" % (
              stats.ok, stats.resent, len(stats.cut), len(stats.failures),
              stats.tunnels, stats.echoes, stats.tunnel_closed))
    assert not any(t.is_alive() for t in workers), \
        "every client and tunnel finished (no hang)"
    assert "SIGHUP" in h.error_log, "test setup: httpd logged the restart"
    assert "AH00045" not in h.error_log and "AH00046" not in h.error_log, \
        "the old child exited when told to, httpd did not have to insist " \
        "(open tunnels end when the child stops):\n%s" % "\n".join(
            l for l in h.error_log.splitlines() if "AH0004" in l)
    assert stats.ok > CLIENTS, "test setup: the load ran (%d ok)" % stats.ok
    assert len(stats.cut) <= CLIENTS, \
        "only the requests in flight at the restart were cut (%d): %r" % (
            len(stats.cut), stats.cut[:5])
    assert stats.upgrades_cut <= TUNNELS, \
        "only the upgrade requests in flight at the restart were cut (%d)" % \
        stats.upgrades_cut
    assert not stats.failures, \
        "across a plain restart no answer is an error or passes for complete " \
        "when it is not (%d); first ones:\n%s" % (
            len(stats.failures),
            "\n".join("%s: %s" % f for f in stats.failures[:15]))
    assert not stats.tunnel_failures, \
        "every tunnel kept echoing or closed cleanly; first problems:\n%s" % \
        "\n".join(stats.tunnel_failures[:15])
    _check_after(h, b, before, pids_seen, "after a plain restart")
