"""A refused connect sent nothing, so it is tried again (RProxyConnectRetries,
default 1, 50 ms later): a backend that comes back a moment later serves
the request; with retries off the client gets 502 at once."""

import threading
import time

import backends
import client


def _start_later(port, delay, out):
    time.sleep(delay)
    out.append(backends.Backend(backends.echo_handler, name="late",
                                port=port).start())


def test_backend_back_within_retry_serves_the_request(httpd_factory):
    port = backends.free_port()
    h = httpd_factory("RProxyPass /app http://127.0.0.1:%d/\n" % port)
    started = []
    t = threading.Thread(target=_start_later, args=(port, 0.03, started), daemon=True)
    try:
        t.start()
        time.sleep(0.005)  # the first connect is refused, the retry is not
        r = client.get(h.port, "/app/x")
        t.join(5)
        assert started, "the backend came up"
        assert r.status == 200, "the retried connect reached the backend (%r)" % r
    finally:
        for b in started:
            b.stop()


def test_no_retry_when_disabled(httpd_factory):
    port = backends.free_port()
    h = httpd_factory("RProxyConnectRetries 0\n"
                      "RProxyPass /app http://127.0.0.1:%d/\n" % port)
    t0 = time.monotonic()
    r = client.get(h.port, "/app/x")
    assert r.status == 502, "a refused connect without retries is a 502 (%r)" % r
    assert time.monotonic() - t0 < 1.0, "and it comes at once"


def test_refused_connect_logs_the_address_it_tried(httpd_factory):
    port = backends.free_port()
    h = httpd_factory("RProxyConnectRetries 0\n"
                      "RProxyPass /app http://127.0.0.1:%d/\n" % port)
    h.mark_logs()
    r = client.get(h.port, "/app/x")
    assert r.status == 502, "a refused connect is a 502 (%r)" % r
    log = h.error_log_since_mark()
    want = "http://127.0.0.1:%d (127.0.0.1:%d)" % (port, port)
    lines = [l for l in log.splitlines() if want in l]
    assert lines, "the line names the backend and the address, %r:\n%s" % (
        want, log)
    assert "connect to http://127.0.0.1:%d failed: Connection refused" % port \
        in lines[0], lines[0]
