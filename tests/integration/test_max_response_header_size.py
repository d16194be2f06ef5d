"""RProxyMaxResponseHeaderSize: the largest response head a backend may
send, per route. A head over it is a 502 naming the fault (RFC 9209
Proxy-Status, an error-log line naming the backend); a head within it is
forwarded whole, whatever its number of fields."""

import pytest

import backends
import client
import hostile
from hostile import MARKER_BODY, MARKER_NAME

SIZE = "http_response_header_section_size"


def head_of(total, field_len=4000):
    """A 200 with the marker and body whose head is exactly `total` bytes,
    padded with X-Pad fields of at most field_len bytes (CRLF included)."""
    start = b"HTTP/1.1 200 OK\r\n%s: 1\r\nContent-Length: %d\r\n" % (
        MARKER_NAME.encode(), len(MARKER_BODY))
    left = total - len(start) - 2  # the empty line
    fields = []
    while left > 0:
        name = b"X-Pad%05d: " % len(fields)
        n = min(field_len, left)
        if left - n and left - n < len(name) + 3:
            n = left - (len(name) + 3)  # leave room for one more field
        fields.append(name + b"a" * (n - len(name) - 2) + b"\r\n")
        left -= n
    out = start + b"".join(fields) + b"\r\n"
    assert len(out) == total, (len(out), total)
    return out + MARKER_BODY


CASES = {
    "head-4096": head_of(4096),
    "head-4097": head_of(4097),
    "head-64k": head_of(65536),
    "head-200k": head_of(200 * 1024),
    "head-200k-short-fields": head_of(200 * 1024, field_len=40),
}


@pytest.fixture(scope="module")
def backend():
    b = backends.Backend(backends.make_raw_by_name_handler(CASES),
                         name="maxhead").start()
    yield b
    b.stop()
    assert not b.errors, "the scripted backend raised: %s" % b.errors


@pytest.fixture
def proxy(httpd_factory, backend):
    return httpd_factory(
        "RProxyPass /default/ %s/base/\n"
        "<Location /small/>\n"
        "  RProxyPass %s/base/\n"
        "  RProxyMaxResponseHeaderSize 4096\n"
        "</Location>\n"
        "<Location /large/>\n"
        "  RProxyPass %s/base/\n"
        "  RProxyMaxResponseHeaderSize 262144\n"
        "</Location>\n" % (backend.url, backend.url, backend.url))


# (route, case) -> forwarded?
EXPECT = {
    ("small", "head-4096"): True,
    ("small", "head-4097"): False,
    ("default", "head-64k"): True,
    ("default", "head-200k"): False,
    ("large", "head-200k"): True,
    ("large", "head-200k-short-fields"): True,
}


@pytest.mark.parametrize("route,case", sorted(EXPECT))
def test_head_limit_per_route(proxy, backend, route, case):
    h = proxy
    h.mark_logs()
    r = client.get(h.port, "/%s/%s" % (route, case), timeout=10)
    what = "%s on /%s/" % (case, route)
    if EXPECT[(route, case)]:
        assert r.status == 200 and r.complete and r.body == MARKER_BODY, \
            "%s is forwarded whole (%r)" % (what, r)
        assert r.header(MARKER_NAME) == "1", \
            "%s: the backend's fields are forwarded" % what
        pads = [n for (n, _) in r.headers if n.lower().startswith("x-pad")]
        assert len(pads) == CASES[case].count(b"X-Pad"), \
            "%s: every one of its %d fields arrives (%d)" % (
                what, CASES[case].count(b"X-Pad"), len(pads))
        return
    assert r.status == 502 and r.complete, \
        "%s is over the route's limit: 502 (%r)" % (what, r)
    hostile.check_not_leaked(r, what)
    p = hostile.check_proxy_status(r, SIZE, what)
    assert "response head too large" in p["details"], \
        "%s: Proxy-Status names the fault (%r)" % (what, p["details"])
    hostile.check_log_names(h, backend, "response head too large", what)
