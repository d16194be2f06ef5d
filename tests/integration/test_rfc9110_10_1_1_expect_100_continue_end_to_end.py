"""Expect: 100-continue passes end to end (RFC 9110 section 10.1.1): the
client gets its 100 only when the backend said 100 (httpd sends the client's
100 when mod_rproxy first reads the body, which it does on the backend's
100), a backend that answers finally instead never receives the body, and a
backend that says nothing gets the body after RProxyExpectContinueTimeout."""

import socket
import time

import backends
import client


def _continue_after(delay):
    def handler(req, conn):
        time.sleep(delay)
        conn.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        backends.echo_handler(req, conn)
    return handler


def _refuse(req, conn):
    # a final answer without reading the body; close, as the body may follow
    conn.send_response(401, [("Content-Type", "text/plain"), ("Connection", "close")],
                       b"no\n")
    conn._close()


def _send_expect(port, body):
    s = client.connect(port, timeout=10)
    s.sendall(b"POST /app/e HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              b"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" % len(body))
    return s


def _recv_until(s, marker, timeout):
    s.settimeout(timeout)
    data = b""
    deadline = time.monotonic() + timeout
    while marker not in data and time.monotonic() < deadline:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
    return data


def test_client_100_waits_for_backend_100(httpd_factory):
    b = backends.Backend(_continue_after(0.6), name="expect").start()
    try:
        h = httpd_factory("RProxyExpectContinueTimeout 5\n"
                          "RProxyPass /app %s/\n" % b.url)
        body = b"0123456789" * 100
        t0 = time.monotonic()
        s = _send_expect(h.port, body)
        first = _recv_until(s, b"\r\n\r\n", 5)
        waited = time.monotonic() - t0
        assert first.startswith(b"HTTP/1.1 100"), \
            "the client gets 100 Continue (%r)" % first[:40]
        assert waited >= 0.5, \
            "the client's 100 comes only after the backend's (%.2fs)" % waited
        s.sendall(body)
        rest = _recv_until(s, b"}", 5)
        s.close()
        assert b" 200 " in rest.split(b"\r\n")[0], "the final answer is 200 (%r)" % rest[:40]
        assert backends.sha256(body).encode() in rest, "the body reached the backend intact"
        assert b.requests[0]["headers"] and any(
            n.lower() == "expect" and v.lower() == "100-continue"
            for n, v in b.requests[0]["headers"]), "the backend saw Expect: 100-continue"
    finally:
        b.stop()


def test_backend_final_answer_means_no_body_no_100(httpd_factory):
    b = backends.Backend(_refuse, name="refuse").start()
    try:
        h = httpd_factory("RProxyExpectContinueTimeout 5\n"
                          "RProxyPass /app %s/\n" % b.url)
        s = _send_expect(h.port, b"x" * 1000)
        got = _recv_until(s, b"no\n", 5)
        s.close()
        assert got.startswith(b"HTTP/1.1 401"), \
            "the backend's final answer reaches the client first, no 100 (%r)" % got[:40]
    finally:
        b.stop()


def test_silent_backend_gets_body_after_expect_timeout(httpd_factory, echo_backend):
    # the echo backend never sends 100: the body goes after the timeout
    h = httpd_factory("RProxyExpectContinueTimeout 300ms\n"
                      "RProxyPass /app %s/\n" % echo_backend.url)
    body = b"y" * 5000
    t0 = time.monotonic()
    s = _send_expect(h.port, body)
    first = _recv_until(s, b"\r\n\r\n", 5)
    waited = time.monotonic() - t0
    assert first.startswith(b"HTTP/1.1 100"), "the client gets its 100 (%r)" % first[:40]
    assert waited >= 0.25, "after the expect-continue timeout (%.2fs)" % waited
    s.sendall(body)
    rest = _recv_until(s, b"}", 5)
    s.close()
    assert backends.sha256(body).encode() in rest, "the body reached the backend intact"
