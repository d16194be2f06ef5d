"""A client that goes away in the middle of its request body (Content-Length
or chunked, closed with FIN or RST) is a client abort like any other: logged
at debug level without an ID, `%{rproxy-status}n` = 499, never "refusing to
forward" (the answer to a malformed body), and the backend connection that
was receiving the body is closed, not pooled."""

import socket
import struct
import time

import pytest

import backends
import client
from test_client_abort_logged_as_499 import LOGFORMAT, log_fields


def _abort_upload(port, target, chunked, rst):
    """Send the head and half of a 64 KiB body, then close."""
    body = backends.payload(65536, seed=5)
    req = client.build_request("PUT", target, body=body, host="127.0.0.1",
                               chunked_body=chunked)
    s = client.connect(port, timeout=10)
    try:
        s.sendall(req[:len(req) - 32768])
        time.sleep(0.3)  # the proxy has started forwarding the body
        if rst:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         struct.pack("ii", 1, 0))
    finally:
        s.close()


@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
@pytest.mark.parametrize("rst", [False, True], ids=["fin", "rst"])
def test_client_abort_in_request_body_is_499(httpd_factory, backend_factory,
                                             chunked, rst):
    b = backend_factory(backends.echo_handler, name="upload")
    h = httpd_factory(LOGFORMAT + "RProxyPass /app %s/\n" % b.url)
    h.mark_logs()
    _abort_upload(h.port, "/app/up", chunked, rst)
    f = log_fields(h, "/app/up")
    assert f, "the aborted upload is in the access log"
    assert f[2] == "499", \
        "a client gone in mid-body is logged as 499 (%r)" % f
    log = h.error_log_since_mark()
    assert "refusing to forward" not in log, \
        "an aborted upload is not reported as a malformed request:\n%s" % log
    assert "client went away during PUT /up" in log, \
        "the abort is logged at debug level:\n%s" % log
    n = b.wait_open_connections(0, 5)
    assert n == 0, \
        "the backend connection that got half a body is closed (%d open)" % n
    r = client.get(h.port, "/app/after")
    assert r.status == 200, "the next request is served (%r)" % r
