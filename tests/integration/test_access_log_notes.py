"""Request notes for the access log: %{rproxy-backend}n is the backend's
ip:port, %{rproxy-backend-time}n the time spent on the backend in
microseconds; both also when the exchange failed on a connection."""

import time

import client

DELAY = 0.3


def test_access_log_notes(httpd_factory, backend_factory):
    def handler(req, conn):
        req.drain()
        time.sleep(DELAY)
        conn.send_response(200, [("Content-Type", "text/plain")], b"slow\n")
    b = backend_factory(handler)
    h = httpd_factory("RProxyPass /app %s/\n" % b.url)
    r = client.get(h.port, "/app/logged?x=1")
    assert r.status == 200, "proxied GET answers 200 (%r)" % r
    entries = h.wait_access_entries(1)
    assert entries, "the request was written to the access log:\n%s" % h.access_log
    e = [x for x in entries if x["uri"] == "/app/logged?x=1"][-1]
    assert e["backend"] == b.hostport, \
        "%%{rproxy-backend}n is the backend ip:port (got %r)" % e["backend"]
    assert e["backend_time"].isdigit(), \
        "%%{rproxy-backend-time}n is an integer (got %r)" % e["backend_time"]
    us = int(e["backend_time"])
    assert us >= DELAY * 1e6 * 0.9, \
        "backend time covers the backend's %.1fs delay, in microseconds (got %d)" % (DELAY, us)
    assert us <= int(e["duration_us"]) + 1000, \
        "backend time is not longer than the whole request (%d > %s)" % (us, e["duration_us"])


def test_no_notes_for_non_proxied_request(httpd_factory, echo_backend):
    h = httpd_factory("RProxyPass /app %s/\n" % echo_backend.url)
    r = client.get(h.port, "/elsewhere")
    assert r.status == 404, "a path outside the mapping is not proxied (%r)" % r
    entries = h.wait_access_entries(1)
    e = [x for x in entries if x["uri"] == "/elsewhere"]
    assert e and e[-1]["backend"] == "-", \
        "a request that was not proxied has no rproxy-backend note (%r)" % e


def test_notes_name_the_connection_an_exchange_failed_on(httpd_factory,
                                                         backend_factory):
    def handler(req, conn):  # reads the request, waits, closes: no answer
        req.drain()
        time.sleep(DELAY)
        conn.close_after = True
    b = backend_factory(handler)
    h = httpd_factory("RProxyPass /app %s/\n" % b.url)
    r = client.get(h.port, "/app/unanswered")
    assert r.status == 502, "no answer from the backend is a 502 (%r)" % r
    entries = h.wait_access_entries(1)
    e = [x for x in entries if x["uri"] == "/app/unanswered"]
    assert e and e[-1]["backend"] == b.hostport, \
        "%%{rproxy-backend}n names the connection that failed (%r)" % e
    us = int(e[-1]["backend_time"])
    assert DELAY * 1e6 * 0.9 <= us <= int(e[-1]["duration_us"]) + 1000, \
        "%%{rproxy-backend-time}n runs to the failure (%d us)" % us
