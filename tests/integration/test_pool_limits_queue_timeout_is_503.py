"""Per-backend connection limits: with RProxyMaxConnections reached, a
request waits at most RProxyQueueTimeout for a free connection, then gets
503 with an error-log line naming the backend and the limit; connections are
reused within the limit. Bad limit values are refused at startup."""

import threading
import time

import pytest

import backends
import client


def _slow_handler(req, conn):
    time.sleep(1.5)
    backends.echo_handler(req, conn)


def test_max_connections_queue_timeout_is_503(httpd_factory):
    b = backends.Backend(_slow_handler, name="slow").start()
    try:
        h = httpd_factory("RProxyMaxConnections 1\nRProxyQueueTimeout 300ms\n"
                          "RProxyPass /app %s/\n" % b.url)
        first = {}
        t = threading.Thread(target=lambda: first.setdefault(
            "r", client.get(h.port, "/app/slow", timeout=10)), daemon=True)
        t.start()
        time.sleep(0.3)  # the first request holds the only connection
        t0 = time.monotonic()
        r = client.get(h.port, "/app/queued", timeout=10)
        waited = time.monotonic() - t0
        assert r.status == 503, "a request finding every connection busy gets 503 (%r)" % r
        assert 0.25 <= waited < 1.2, \
            "it waited about the queue timeout (300 ms) first, not the backend (%.2fs)" % waited
        t.join(10)
        assert first["r"].status == 200, "the request holding the connection completes"
        lines = [l for l in h.error_level_lines() if "RProxyMaxConnections" in l]
        assert lines and b.hostport in lines[0], \
            "the 503 is logged with the backend and the limit (%r)" % h.error_level_lines()
        r = client.get(h.port, "/app/after", timeout=10)
        assert r.status == 200, "once the connection is free, requests succeed"
        assert b.total_connections == 1, \
            "the backend never saw more than the one allowed connection (%d)" % b.total_connections
    finally:
        b.stop()


@pytest.fixture
def tester(httpd_factory):
    return httpd_factory(start=False)


@pytest.mark.parametrize("line,reason", [
    ("RProxyMaxConnections -1", "is not a count"),
    ("RProxyMaxConnections lots", "is not a count"),
    ("RProxyQueueTimeout 0", "is not a positive time"),
    ("RProxyMaxConnectionAge soon", "is not a time"),
])
def test_bad_limits_refused_at_startup(tester, line, reason):
    res = tester.configtest(line + "\n")
    assert res.rc != 0, "httpd -t refuses %r" % line
    assert reason in res.output and line.split()[0] in res.output, \
        "the error names the directive and the reason (%s)" % res.output
    assert "line" in res.output, "the error gives the line number"
