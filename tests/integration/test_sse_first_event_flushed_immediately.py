"""text/event-stream and responses of unknown length (chunked, or read until
close) are flushed at once, whatever RProxyFlushInterval says: the backend
sends event 1, waits (up to ~3 s, or until the client has event 1), then
event 2; the client must get event 1 within 1 s.  A behaviour check with a
generous bound, not a benchmark."""

import threading
import time

import pytest

import backends
import client

EV1 = b"id: 1\ndata: first event\n\n"
EV2 = b"id: 2\ndata: second event\n\n"
FIRST_EVENT_BOUND = 1.0

CASES = {
    # (content type, backend framing)
    "sse-chunked": ("text/event-stream", "chunked"),
    "sse-content-length": ("text/event-stream", "length"),
    "sse-read-until-close": ("text/event-stream", "close"),
    "octet-chunked": ("application/octet-stream", "chunked"),
    "octet-read-until-close": ("application/octet-stream", "close"),
}


def _stream_first_event(port, gate, timeout=10):
    """Send the GET; return (seconds until EV1 seen, all bytes read)."""
    s = client.connect(port, timeout=timeout)
    try:
        t0 = time.monotonic()
        s.sendall(b"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  b"Accept: text/event-stream\r\n\r\n")
        data = b""
        first = None
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            piece = s.recv(65536)
            if not piece:
                break
            data += piece
            if first is None and b"data: first event" in data:
                first = time.monotonic() - t0
                gate.set()  # let the backend send event 2 now
            if b"data: second event" in data:
                break
        return first, data
    finally:
        gate.set()
        s.close()


@pytest.mark.parametrize("case", list(CASES))
def test_first_event_flushed_immediately(httpd_factory, backend_factory, case):
    ctype, framing = CASES[case]
    gate = threading.Event()
    b = backend_factory(backends.make_event_stream_handler(
        [EV1, EV2], gate=gate, max_wait=3.0, framing=framing,
        content_type=ctype))
    # RProxyFlushInterval 0 (the default, "let httpd buffer") is spelled
    # out: these responses must flush at once anyway.
    h = httpd_factory("RProxyFlushInterval 0\nRProxyPass /events %s/events\n"
                      % b.url)
    first, data = _stream_first_event(h.port, gate)
    assert first is not None, "%s: event 1 reached the client at all (got %r)" % (case, data[:300])
    assert first < FIRST_EVENT_BOUND, \
        "%s: event 1 reached the client within %.1fs (took %.2fs)" % (
            case, FIRST_EVENT_BOUND, first)
    assert b"data: second event" in data, "%s: event 2 follows" % case
    assert data.startswith(b"HTTP/1.1 200"), "%s: the stream is a 200" % case


@pytest.mark.parametrize("interval", ["-1", "200"])
def test_flush_interval_bounds_latency(httpd_factory, backend_factory, interval):
    """A Content-Length octet stream (known length, not SSE) is flushed
    after every write with -1, and within N ms with N > 0."""
    gate = threading.Event()
    b = backend_factory(backends.make_event_stream_handler(
        [EV1, EV2], gate=gate, max_wait=3.0, framing="length",
        content_type="application/octet-stream"))
    h = httpd_factory("RProxyFlushInterval %s\nRProxyPass /events %s/events\n"
                      % (interval, b.url))
    first, data = _stream_first_event(h.port, gate)
    assert first is not None, "first write reached the client at all (got %r)" % data[:300]
    assert first < FIRST_EVENT_BOUND, \
        "RProxyFlushInterval %s: first write reached the client within %.1fs (took %.2fs)" % (
            interval, FIRST_EVENT_BOUND, first)
