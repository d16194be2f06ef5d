"""103 Early Hints from the backend reach the client before the final
response (RFC 8297), with hop-by-hop fields stripped from them; other 1xx
(102 Processing) are dropped; a backend sending 1xx without end is cut off
with a 502 instead of holding the request forever."""

import time

import backends
import client


def _hints(req, conn):
    conn.send(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n"
              b"Connection: X-Hop\r\nX-Hop: secret\r\n\r\n")
    conn.send(b"HTTP/1.1 102 Processing\r\n\r\n")
    time.sleep(0.2)
    conn.send_response(200, [("Content-Type", "text/plain")], b"final\n")


def _endless_1xx(req, conn):
    for _ in range(100):
        conn.send(b"HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n")
    conn.send_response(200, [], b"too late\n")


def _get_raw(port):
    """Everything the client receives for one GET, interim responses too."""
    return client.exchange_raw(
        port, b"GET /app/x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")


def test_early_hints_reach_client_first(httpd_factory, backend_factory):
    b = backend_factory(_hints, name="hints")
    h = httpd_factory("RProxyPass /app %s/\n" % b.url)
    data = _get_raw(h.port)
    text = data.decode("latin-1")
    assert text.startswith("HTTP/1.1 103"), "the 103 comes first (%r)" % text[:60]
    hints = text.split("\r\n\r\n")[0]
    assert "Link: </style.css>; rel=preload" in hints, "the 103 carries the Link field"
    assert "X-Hop" not in hints, "hop-by-hop fields are stripped from the 103"
    assert "102 Processing" not in text, "a 102 is not forwarded"
    assert "HTTP/1.1 200" in text and text.rstrip().endswith("final"), \
        "the final 200 follows with its body"


def test_endless_interim_responses_are_502(httpd_factory, backend_factory):
    b = backend_factory(_endless_1xx, name="endless")
    h = httpd_factory("RProxyPass /app %s/\n" % b.url)
    data = _get_raw(h.port)
    heads = [blk for blk in data.split(b"\r\n\r\n") if blk.startswith(b"HTTP/1.1")]
    assert heads and heads[-1].startswith(b"HTTP/1.1 502"), \
        "after too many 1xx the client gets 502 (%r)" % heads[-1:][:1]
    assert len([x for x in heads if x.startswith(b"HTTP/1.1 103")]) <= 16, \
        "at most 16 interim responses are forwarded"
    assert "too many 1xx" in h.error_log, "the fault is logged"
