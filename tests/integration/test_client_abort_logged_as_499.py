"""A client that goes away before its response is complete is logged with
`%{rproxy-status}n` = 499 (and nothing at error level), while complete
responses log the status sent: the backend's (200) or the proxy's own
error (502)."""

import os
import time

import pytest

import backends
import client

SIZE = 32 * 1024 * 1024
READ_BEFORE_CLOSE = 256 * 1024
LOGFORMAT = 'LogFormat "%U\\t%>s\\t%{rproxy-status}n" notes\n' \
            "CustomLog notes.log notes\n"


def log_fields(h, uri, timeout=10):
    """The fields of notes.log's line for uri, once written."""
    path = os.path.join(h.workdir, "notes.log")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            for line in open(path).read().splitlines():
                f = line.split("\t")
                if f[0] == uri:
                    return f
        time.sleep(0.05)
    return None


@pytest.mark.timeout_s(90)
@pytest.mark.parametrize("rst", [False, True], ids=["fin", "rst"])
def test_client_abort_logged_as_499(httpd_factory, backend_factory, rst):
    data = backends.payload(SIZE)
    b = backend_factory(backends.route([
        ("/big", backends.make_download_handler(data)),
    ], default=backends.echo_handler), name="big")
    dead, port = backends.bound_unlistened_port()
    try:
        h = httpd_factory(LOGFORMAT +
                          "RProxyConnectRetries 0\n"
                          "RProxyPass /app %s/\n"
                          "RProxyPass /dead http://127.0.0.1:%d/\n"
                          % (b.url, port))
        r = client.get(h.port, "/app/small")
        assert r.status == 200, "a complete request answers 200 (%r)" % r
        r = client.get(h.port, "/dead/x")
        assert r.status == 502, "a refused backend answers 502 (%r)" % r
        h.mark_logs()
        got = client.read_then_close(h.port, "/app/big", READ_BEFORE_CLOSE,
                                     rst)
        assert got >= READ_BEFORE_CLOSE, \
            "test setup: the client got part of the body before closing (%d)" % got

        f = log_fields(h, "/app/big")
        assert f, "the aborted request is in the access log:\n%s" % (
            open(os.path.join(h.workdir, "notes.log")).read())
        assert f[2] == "499", \
            "%%{rproxy-status}n is 499 for a client that left (%r)" % (f,)
        assert log_fields(h, "/app/small")[2] == "200", \
            "a complete response logs the status sent, 200"
        assert log_fields(h, "/dead/x")[2] == "502", \
            "the proxy's own error logs its status, 502"
        errors = h.error_level_lines(h.error_log_since_mark())
        assert not errors, \
            "the client's abort is not logged at error level:\n%s" % "\n".join(
                errors)
        r = client.get(h.port, "/app/after")
        assert r.status == 200, "the proxy keeps serving after the abort (%r)" % r
    finally:
        dead.close()
