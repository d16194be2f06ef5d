"""Clients that disconnect mid-download are a normal event: 50 clients start
a large download and close after reading a part.  Afterwards normal requests
still succeed, the error log has no error-level line, the child did not
crash, and once RProxyIdleTimeout (2s here) has passed the backend sees no
connection from the proxy left open."""

import re
import socket
import struct
import threading
import time

import pytest

import backends
import client

CLIENTS = 50
SIZE = 50 * 1024 * 1024
READ_BEFORE_CLOSE = 256 * 1024
IDLE = 2.0


def _abort_one(port, target, results, i, rst):
    try:
        s = client.connect(port, timeout=20)
        try:
            s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                       % target).encode())
            got = 0
            while got < READ_BEFORE_CLOSE:
                piece = s.recv(65536)
                if not piece:
                    break
                got += len(piece)
            if rst:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             struct.pack("ii", 1, 0))
            results[i] = got
        finally:
            s.close()
    except OSError as e:
        results[i] = e


@pytest.mark.timeout_s(120)
def test_client_aborts_no_leak(httpd_factory, backend_factory):
    data = backends.payload(SIZE)
    b = backend_factory(backends.route([
        ("/cl", backends.make_download_handler(data)),
        ("/chunked", backends.make_download_handler(data, chunked=True)),
    ], default=backends.echo_handler), name="abort")
    h = httpd_factory("RProxyIdleTimeout 2\nRProxyIOTimeout 10\n"
                      "RProxyPass /app %s/\n" % b.url)
    r = client.get(h.port, "/app/warmup")
    assert r.status == 200, "warm-up request answers 200 (%r)" % r
    kids = h.child_pids()
    h.mark_logs()

    results = [None] * CLIENTS
    threads = []
    for i in range(CLIENTS):
        target = "/app/cl" if i % 2 == 0 else "/app/chunked"
        t = threading.Thread(target=_abort_one,
                             args=(h.port, target, results, i, i % 4 == 3),
                             daemon=True)
        threads.append(t)
        t.start()
    deadline = time.monotonic() + 60
    for t in threads:
        t.join(max(0.1, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "all 50 aborting clients finished in time"
    started = [x for x in results if isinstance(x, int) and x > 0]
    assert len(started) == CLIENTS, \
        "all 50 clients received part of their download before closing (%r)" % [
            x for x in results if not (isinstance(x, int) and x > 0)][:5]

    for i in range(10):
        r = client.get(h.port, "/app/after%d" % i)
        assert r.status == 200 and r.complete, \
            "normal request %d after the aborts succeeds (%r)" % (i, r)
    body = backends.payload(300000, seed=9)
    r = client.request(h.port, "POST", "/app/post-after", body=body)
    assert r.status == 200 and r.json()["body_sha256"] == backends.sha256(body), \
        "a POST after the aborts delivers its body intact"
    assert h.child_pids() == kids, \
        "the httpd child survived the aborts (before %r, after %r)" % (kids, h.child_pids())

    # Pooled connections are reaped after RProxyIdleTimeout; aborted
    # exchanges must have closed theirs already.
    n = b.wait_open_connections(0, timeout=IDLE + 6)
    assert n == 0, \
        "after RProxyIdleTimeout %ss + margin the backend sees no open connection from the proxy (%d open)" % (
            IDLE, n)
    log = h.error_log_since_mark()
    errs = h.error_level_lines(log)
    assert not errs, "client aborts leave no error-level line in the error log:\n%s" % "\n".join(errs[:20])
    loud = [l for l in log.splitlines()
            if re.search(r"\[rproxy:(info|notice|warn)\]", l)]
    assert not loud, "client aborts are logged at debug level only:\n%s" % "\n".join(loud[:20])
