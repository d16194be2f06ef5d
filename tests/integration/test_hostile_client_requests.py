"""Hostile client requests, in front of httpd's own parser: what reaches
mod_rproxy must never become a request the backend reads differently.

- RFC 9112 6.1/6.3: a request body re-framed for the backend is framed
  exactly once (Content-Length or chunked, never both), checked on the raw
  request head the backend received.
- An upgrade request with a body goes on as an ordinary request (no
  Upgrade); a 101 to it is a 502.
- RFC 9112 3.2.2: absolute-form targets reach the backend in origin form.
- RFC 3986 5.2.4: no path, with dot segments or encoded dots and slashes,
  reaches the backend outside the route's base path /base/.
- RFC 9110 5.5, RFC 9112 5.2: no header value injects a line into the
  backend request (obs-fold, CR/LF set by mod_headers from an env var or an
  expression, control characters let through by HttpProtocolOptions
  Unsafe).
Where httpd refuses the input itself (400 before mod_rproxy runs) the
backend must have seen nothing.  The answer for every input is tabled in
docs/internals/hostile-input.md.
"""

import posixpath
import re
import socket
import time
import urllib.parse

import pytest

import backends
import client
import hostile

MODDIR = "/usr/lib/apache2/modules"
EXTRA = """LoadModule headers_module %(m)s/mod_headers.so
LoadModule setenvif_module %(m)s/mod_setenvif.so
SetEnvIfExpr "unescape(%%{QUERY_STRING}) =~ /^env=([\\s\\S]*)$/" INJ=$1
RequestHeader set X-From-Env "%%{INJ}e" env=INJ
<If "%%{QUERY_STRING} =~ /^expr=/">
  RequestHeader set X-From-Expr "expr=%%{unescape:%%{QUERY_STRING}}"
</If>
""" % {"m": MODDIR}


def _answer_101(req, conn):
    req.drain()
    conn.send(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
              b"Connection: Upgrade\r\n%s: 1\r\n\r\n%s"
              % (hostile.MARKER_NAME.encode(), hostile.MARKER_BODY))
    conn.close_after = True


ECHOED = []  # targets whose request body the backend read whole


def _echo(req, conn):
    backends.echo_handler(req, conn)  # reads the whole body first
    ECHOED.append(req.target)


HANDLER = backends.route([("/base/answer101", _answer_101)], default=_echo)


@pytest.fixture(scope="module")
def strict(request):
    return hostile.module_setup(request, HANDLER, EXTRA, name="strict")


@pytest.fixture(scope="module")
def unsafe(request):
    return hostile.module_setup(request, HANDLER,
                                EXTRA + "HttpProtocolOptions Unsafe\n",
                                name="unsafe")


def exchange(setup, data, timeout=5.0):
    """Send raw bytes, read one response; return (response or None, the raw
    request heads the backend received meanwhile)."""
    b = setup.backend
    n0 = len(b.raw_heads)
    s = client.connect(setup.httpd.port, timeout)
    try:
        s.sendall(data)
        try:
            r = client.read_response(s)
        except (AssertionError, client.ProtocolError, OSError):
            r = None
    finally:
        s.close()
    time.sleep(0.05)  # a backend head still on its way
    return r, b.raw_heads[n0:]


HOST = b"Host: 127.0.0.1\r\n"
CLOSE = b"Connection: close\r\n"

# RFC 9110 5.1/5.5 field line and RFC 9112 3 request line, strictly
_FIELD_RE = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+: [^\x00-\x08\x0a-\x1f\x7f]*$")
_REQLINE_RE = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+ /[\x21-\x7e]* HTTP/1\.1$")


def check_safe_head(raw, what):
    """The head is well formed: CRLF line ends only, a strict request line,
    strict field lines, and no injected line."""
    assert raw.endswith(b"\r\n\r\n"), "%s: head ends with CRLF CRLF" % what
    lines = raw[:-4].split(b"\r\n")
    for l in lines:
        assert b"\r" not in l and b"\n" not in l, \
            "%s: no bare CR or LF in the backend's head (%r)" % (what, raw)
    assert _REQLINE_RE.match(lines[0]), \
        "%s: a strict request line in origin form (%r)" % (what, lines[0])
    for l in lines[1:]:
        assert _FIELD_RE.match(l), \
            "%s: a strict field line (%r in %r)" % (what, l, raw)
        assert not l.lower().startswith(b"x-injected"), \
            "%s: no injected field reached the backend (%r)" % (what, raw)


def fields_of(raw):
    return [tuple(l.split(b": ", 1)) for l in raw[:-4].split(b"\r\n")[1:]]


def values(raw, name):
    name = name.encode().lower()
    return [v for (n, v) in fields_of(raw) if n.lower() == name]


# --------------------------------------------------------------------------
# Framing exactly once

# name -> (request bytes, framing the backend must see: "length N",
# "chunked" or "none"); the body is always b"hello" when there is one
FRAMED = {
    "content-length": (b"POST /app/f HTTP/1.1\r\n" + HOST + CLOSE
                       + b"Content-Length: 5\r\n\r\nhello", "length 5"),
    "chunked": (b"POST /app/f HTTP/1.1\r\n" + HOST + CLOSE
                + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
                "chunked"),
    "chunked-pieces-ext-trailer": (
        b"POST /app/f HTTP/1.1\r\n" + HOST + CLOSE
        + b"Transfer-Encoding: chunked\r\n\r\n2;x=y\r\nhe\r\n3\r\nllo\r\n"
        b"0\r\nX-T: 1\r\n\r\n", "chunked"),
    "chunked-uppercase": (
        b"POST /app/f HTTP/1.1\r\n" + HOST + CLOSE
        + b"Transfer-Encoding: CHUNKED\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "chunked"),
    # RFC 9112 6.3 rule 3: httpd drops Content-Length, reads chunked
    "cl-then-te": (b"POST /app/f HTTP/1.1\r\n" + HOST
                   + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"5\r\nhello\r\n0\r\n\r\n", "chunked"),
    "te-then-cl": (b"POST /app/f HTTP/1.1\r\n" + HOST
                   + b"Transfer-Encoding: chunked\r\nContent-Length: 99\r\n\r\n"
                   b"5\r\nhello\r\n0\r\n\r\n", "chunked"),
    "cl-zero": (b"POST /app/f HTTP/1.1\r\n" + HOST + CLOSE
                + b"Content-Length: 0\r\n\r\n", "length 0"),
    "no-body": (b"GET /app/f HTTP/1.1\r\n" + HOST + CLOSE + b"\r\n", "none"),
    "http10-content-length": (b"POST /app/f HTTP/1.0\r\n" + HOST
                              + b"Content-Length: 5\r\n\r\nhello",
                              "length 5"),
    "expect-100-content-length": (
        b"POST /app/f HTTP/1.1\r\n" + HOST + CLOSE
        + b"Expect: 100-continue\r\nContent-Length: 5\r\n\r\nhello",
        "length 5"),
}

# Requests refused before any complete request reaches the backend:
# name -> (request bytes, who refuses: "httpd" or "rproxy")
REFUSED = {
    "te-gzip-then-chunked": (b"POST /app/f HTTP/1.1\r\n" + HOST + CLOSE
                             + b"Transfer-Encoding: gzip, chunked\r\n\r\n"
                             b"5\r\nhello\r\n0\r\n\r\n", "rproxy"),
    "te-chunked-twice": (b"POST /app/f HTTP/1.1\r\n" + HOST + CLOSE
                         + b"Transfer-Encoding: chunked, chunked\r\n\r\n"
                         b"5\r\nhello\r\n0\r\n\r\n", "rproxy"),
    "te-chunked-then-gzip": (b"POST /app/f HTTP/1.1\r\n" + HOST + CLOSE
                             + b"Transfer-Encoding: chunked, gzip\r\n\r\n"
                             b"5\r\nhello\r\n0\r\n\r\n", "httpd"),
    "te-identity": (b"POST /app/f HTTP/1.1\r\n" + HOST + CLOSE
                    + b"Transfer-Encoding: identity\r\nContent-Length: 5\r\n"
                    b"\r\nhello", "httpd"),
    "cl-plus": (b"POST /app/f HTTP/1.1\r\n" + HOST + CLOSE
                + b"Content-Length: +5\r\n\r\nhello", "httpd"),
    "cl-hex": (b"POST /app/f HTTP/1.1\r\n" + HOST + CLOSE
               + b"Content-Length: 0x5\r\n\r\nhello", "httpd"),
    "cl-two-values": (b"POST /app/f HTTP/1.1\r\n" + HOST + CLOSE
                      + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
                      "httpd"),
    "cl-list": (b"POST /app/f HTTP/1.1\r\n" + HOST + CLOSE
                + b"Content-Length: 5, 5\r\n\r\nhello", "httpd"),
    "cl-overflow": (b"POST /app/f HTTP/1.1\r\n" + HOST + CLOSE
                    + b"Content-Length: 99999999999999999999\r\n\r\nhello",
                    "httpd"),
}

# Bodies that break while mod_rproxy streams them: the head may have gone
# to the backend, the body never completes there.
BROKEN_BODY = {
    "chunk-size-junk": b"POST /app/f HTTP/1.1\r\n" + HOST + CLOSE
    + b"Transfer-Encoding: chunked\r\n\r\n5x\r\nhello\r\n0\r\n\r\n",
    "chunk-size-overflow": b"POST /app/f HTTP/1.1\r\n" + HOST + CLOSE
    + b"Transfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\nhello\r\n"
    b"0\r\n\r\n",
    "chunk-data-too-long": b"POST /app/f HTTP/1.1\r\n" + HOST + CLOSE
    + b"Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n",
}


def _framing_at_backend(raw):
    cl, te = values(raw, "Content-Length"), values(raw, "Transfer-Encoding")
    assert not (cl and te), \
        "never both Content-Length and Transfer-Encoding (%r)" % raw
    assert len(cl) <= 1 and len(te) <= 1, \
        "framed exactly once: one framing field (%r)" % raw
    if te:
        return "chunked" if te == [b"chunked"] else "te " + te[0].decode()
    return "length " + cl[0].decode() if cl else "none"


@pytest.mark.parametrize("case", sorted(FRAMED))
def test_rfc9112_6_body_framed_exactly_once(strict, case):
    data, want = FRAMED[case]
    r, heads = exchange(strict, data)
    assert r is not None and r.status == 200, \
        "%s is forwarded (%r)" % (case, r)
    assert len(heads) == 1, "%s: one request reaches the backend (%r)" % (
        case, heads)
    check_safe_head(heads[0], case)
    assert _framing_at_backend(heads[0]) == want, \
        "%s: the backend sees %s (%r)" % (case, want, heads[0])
    info = r.json()
    body = b"" if want in ("none", "length 0") else b"hello"
    assert info["body_len"] == len(body) and \
        info["body_sha256"] == backends.sha256(body), \
        "%s: the backend reads the body exactly (%r)" % (case, info)


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_rfc9112_6_bad_request_framing_never_reaches_backend(strict, case):
    data, who = REFUSED[case]
    r, heads = exchange(strict, data)
    assert r is not None and r.status in (400, 501), \
        "%s is refused (%r)" % (case, r)
    assert heads == [], "%s: the backend saw nothing (%r)" % (case, heads)
    if who == "rproxy":
        hostile.check_proxy_status(r, "http_request_error", case)


@pytest.mark.parametrize("case", sorted(BROKEN_BODY))
def test_broken_request_body_never_completes_at_backend(strict, case):
    n0 = len(ECHOED)
    strict.httpd.mark_logs()
    r, heads = exchange(strict, BROKEN_BODY[case])
    assert r is not None and r.status in (400, 413), \
        "%s: the client gets 400 or 413 (%r)" % (case, r)
    refused = [l for l in strict.httpd.error_log_since_mark().splitlines()
               if "RP00101" in l]
    if r.status == 400:
        assert refused, "%s: the refusal is logged" % case
    for line in refused:
        why = line.split("refusing to forward", 1)[-1].split(": ", 1)
        assert len(why) == 2 and why[1].strip(), \
            "%s: the log line says what was wrong (%r)" % (case, line)
    for raw in heads:
        check_safe_head(raw, case)
        assert _framing_at_backend(raw) == "chunked", raw
    time.sleep(0.2)
    assert ECHOED[n0:] == [], \
        "%s: no request body completes at the backend: the head may have " \
        "gone on, its chunked body never ends (%r)" % (case, ECHOED[n0:])


# --------------------------------------------------------------------------
# Upgrade with a body


UPGRADE = b"Connection: Upgrade\r\nUpgrade: websocket\r\n"


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_upgrade_request_with_body_goes_on_without_upgrade(strict, framing):
    body = b"Content-Length: 5\r\n\r\nhello" if framing == "content-length" \
        else b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    r, heads = exchange(strict, b"POST /app/ws HTTP/1.1\r\n" + HOST + UPGRADE
                        + body)
    assert r is not None and r.status == 200, \
        "an upgrade with a body is an ordinary request (%r)" % r
    assert len(heads) == 1, heads
    check_safe_head(heads[0], "upgrade with body")
    assert not values(heads[0], "Upgrade"), \
        "no Upgrade reaches the backend (%r)" % heads[0]
    assert b"upgrade" not in b",".join(values(heads[0], "Connection")).lower(), \
        "no Connection: upgrade reaches the backend (%r)" % heads[0]
    assert r.json()["body_len"] == 5, "the body arrives (%r)" % r.json()


def test_upgrade_without_body_is_forwarded_with_upgrade(strict):
    """The control case: the same request without a body keeps its
    upgrade (so the test above can fail)."""
    r, heads = exchange(strict, b"GET /app/ws HTTP/1.1\r\n" + HOST + UPGRADE
                        + b"\r\n")
    assert r is not None and r.status == 200, r
    assert values(heads[0], "Upgrade") == [b"websocket"], heads[0]


def test_101_to_upgrade_request_with_body_is_502(strict):
    r, heads = exchange(strict, b"POST /app/answer101 HTTP/1.1\r\n" + HOST
                        + UPGRADE + b"Content-Length: 5\r\n\r\nhello")
    assert r is not None and r.status == 502, \
        "a 101 nobody could ask for is a 502 (%r)" % r
    assert r.complete, "the 502 is well framed (%r)" % r
    hostile.check_not_leaked(r, "101 to a request with a body")
    hostile.check_proxy_status(r, "http_upgrade_failed", "unasked 101")
    assert len(heads) == 1 and not values(heads[0], "Upgrade"), heads


# --------------------------------------------------------------------------
# Absolute-form targets (RFC 9112 3.2.2)


def _abs(target, extra=b""):
    return b"GET " + target + b" HTTP/1.1\r\n" + HOST + CLOSE + extra + b"\r\n"


ABSOLUTE = {
    "same-host": (b"http://127.0.0.1/app/x?q=1", b"/base/x?q=1", b"127.0.0.1"),
    "other-host": (b"http://evil.example/app/x", b"/base/x", b"evil.example"),
    "https-scheme": (b"https://127.0.0.1/app/x", b"/base/x", b"127.0.0.1"),
    "with-port": (b"http://127.0.0.1:1/app/x", b"/base/x", b"127.0.0.1:1"),
    "uppercase-scheme": (b"HTTP://127.0.0.1/app/x", b"/base/x", b"127.0.0.1"),
}

ABSOLUTE_REFUSED = {
    "dot-segments": b"http://127.0.0.1/app/../x",
    "encoded-dot-slash": b"http://127.0.0.1/app/%2e%2e%2fx",
    "userinfo": b"http://u:p@127.0.0.1/app/x",
    "no-path": b"http://127.0.0.1",
    "ftp-scheme": b"ftp://127.0.0.1/app/x",
}


@pytest.mark.parametrize("case", sorted(ABSOLUTE))
def test_rfc9112_3_2_2_absolute_form_reaches_backend_in_origin_form(
        strict, case):
    target, want, xfh = ABSOLUTE[case]
    r, heads = exchange(strict, _abs(target))
    assert r is not None and r.status == 200, "%s answered (%r)" % (case, r)
    assert len(heads) == 1, heads
    check_safe_head(heads[0], case)
    line = heads[0].split(b"\r\n", 1)[0]
    assert line == b"GET " + want + b" HTTP/1.1", \
        "%s: origin form under /base/ (%r)" % (case, line)
    assert values(heads[0], "Host") == \
        [strict.backend.hostport.encode()], \
        "%s: Host is the backend's (%r)" % (case, heads[0])
    assert values(heads[0], "X-Forwarded-Host") == [xfh], \
        "%s: the target's authority, which wins over Host, is the " \
        "forwarded host (%r)" % (case, heads[0])


@pytest.mark.parametrize("case", sorted(ABSOLUTE_REFUSED))
def test_absolute_form_escaping_or_odd_never_reaches_backend(strict, case):
    r, heads = exchange(strict, _abs(ABSOLUTE_REFUSED[case]))
    assert r is not None and r.status in (400, 404), \
        "%s is refused or not routed (%r)" % (case, r)
    assert heads == [], "%s: the backend saw nothing (%r)" % (case, heads)


# --------------------------------------------------------------------------
# Dot segments against the base path (RFC 3986 5.2.4)


def _climbs_out(target):
    """Would a backend that decodes %XX once, splits on '/' and '\\' and
    drops ';' parameters before resolving dot segments leave /base/?"""
    path = target.split(b"?", 1)[0].decode("latin-1")
    path = urllib.parse.unquote(path, encoding="latin-1")
    path = path.replace("\\", "/")
    segs = [s.split(";", 1)[0] for s in path.split("/")]
    norm = posixpath.normpath("/".join(segs))
    return not (norm == "/base" or norm.startswith("/base/"))


DOT_PATHS = [
    "/app/../x", "/app/./../x", "/app/x/../../y", "/app/..", "/app/x/../..",
    "/app/%2e%2e/x", "/app/%2E%2E/x", "/app/%2e./x", "/app/%2E./x",
    "/app/.%2e/x", "/app/.%2E/x", "/app/%2e%2e", "/app/a/%2e%2e/%2e%2e/x",
    "/app//../x", "/app/..%2fx", "/app/..%2Fsecret", "/app/%2e%2e%2fsecret",
    "/app/%2e%2e%2Fsecret", "/app/a/..%2f..%2fsecret", "/app/.%2e%2fsecret",
    "/app/..%5csecret", "/app/%2e%2e%5Csecret", "/app/..\\secret",
    "/app/..;/secret", "/app/%2e%2e;x/secret", "/app/.;x/..;y/secret",
    "/app/%252e%252e/x", "/app/%252e%252e%252fx", "/app/%c0%ae%c0%ae/x",
    "/app/.%00./x", "/app/x?/../../y", "/app/%2e", "/app/.",
]


@pytest.mark.parametrize("path", DOT_PATHS)
def test_rfc3986_dot_segments_never_leave_base_path(strict, path):
    r, heads = exchange(strict, b"GET " + path.encode() + b" HTTP/1.1\r\n"
                        + HOST + CLOSE + b"\r\n")
    assert r is not None, "%s: an answer comes" % path
    if r.status in (400, 404):
        assert heads == [], "%s: refused, the backend saw nothing (%r)" % (
            path, heads)
        return
    assert r.status == 200, "%s: 400, 404 or forwarded (%r)" % (path, r)
    assert len(heads) == 1, heads
    check_safe_head(heads[0], path)
    target = heads[0].split(b" ", 2)[1]
    assert not _climbs_out(target), \
        "%s: the backend's path %r stays inside /base/ even decoded and " \
        "resolved" % (path, target)


# --------------------------------------------------------------------------
# Injection into the backend request


# name -> request bytes.  mod_headers turns CR and LF in a value taken
# from an env var into spaces; an "expr=" value keeps them, and other
# control characters pass either way: those reach mod_rproxy.
INJECT_STRICT = {
    # RFC 9112 5.2: httpd folds obs-fold into one line (or refuses it)
    "obs-fold": b"GET /app/i HTTP/1.1\r\n" + HOST + CLOSE
    + b"X-A: a\r\n X-Injected: 1\r\n\r\n",
    "obs-fold-tab": b"GET /app/i HTTP/1.1\r\n" + HOST + CLOSE
    + b"X-A: a\r\n\tX-Injected: 1\r\n\r\n",
    "env-crlf": b"GET /app/i?env=a%0d%0aX-Injected:%201 HTTP/1.1\r\n" + HOST
    + CLOSE + b"\r\n",
    "env-lf": b"GET /app/i?env=a%0aX-Injected:%201 HTTP/1.1\r\n" + HOST
    + CLOSE + b"\r\n",
    "env-cr": b"GET /app/i?env=a%0dX-Injected:%201 HTTP/1.1\r\n" + HOST
    + CLOSE + b"\r\n",
    "env-crlfcrlf-request": b"GET /app/i?env=a%0d%0a%0d%0aGET%20/x%20HTTP/1.1"
    b"%0d%0aX-Injected:%201 HTTP/1.1\r\n" + HOST + CLOSE + b"\r\n",
    "env-nul": b"GET /app/i?env=a%00X-Injected:%201 HTTP/1.1\r\n" + HOST
    + CLOSE + b"\r\n",
    "env-ctl": b"GET /app/i?env=a%01b HTTP/1.1\r\n" + HOST + CLOSE + b"\r\n",
    "env-vt": b"GET /app/i?env=a%0bX-Injected:%201 HTTP/1.1\r\n" + HOST
    + CLOSE + b"\r\n",
    "env-del": b"GET /app/i?env=a%7fb HTTP/1.1\r\n" + HOST + CLOSE + b"\r\n",
    "expr-crlf": b"GET /app/i?expr=%0d%0aX-Injected:%201 HTTP/1.1\r\n" + HOST
    + CLOSE + b"\r\n",
    "expr-lf": b"GET /app/i?expr=%0aX-Injected:%201 HTTP/1.1\r\n" + HOST
    + CLOSE + b"\r\n",
    "expr-cr": b"GET /app/i?expr=%0dX-Injected:%201 HTTP/1.1\r\n" + HOST
    + CLOSE + b"\r\n",
    "expr-ctl": b"GET /app/i?expr=%1b HTTP/1.1\r\n" + HOST + CLOSE + b"\r\n",
    "target-encoded-crlf": b"GET /app/a%0d%0aX-Injected:%201 HTTP/1.1\r\n"
    + HOST + CLOSE + b"\r\n",
    "target-encoded-space": b"GET /app/a%20HTTP/1.1%0d%0aX-Injected:%201 "
    b"HTTP/1.1\r\n" + HOST + CLOSE + b"\r\n",
}
# ... of which mod_rproxy itself must refuse these (httpd passes them on)
REFUSED_BY_RPROXY = {"env-ctl", "env-vt", "env-del", "expr-crlf", "expr-lf",
                     "expr-cr", "expr-ctl"}

# Raw bytes that httpd lets through only with HttpProtocolOptions Unsafe
INJECT_UNSAFE = {
    "value-bare-cr": b"GET /app/i HTTP/1.1\r\n" + HOST + CLOSE
    + b"X-A: a\rX-Injected: 1\r\n\r\n",
    "value-nul": b"GET /app/i HTTP/1.1\r\n" + HOST + CLOSE
    + b"X-A: a\x00X-Injected: 1\r\n\r\n",
    "value-ctl": b"GET /app/i HTTP/1.1\r\n" + HOST + CLOSE
    + b"X-A: a\x01b\r\n\r\n",
    "value-del": b"GET /app/i HTTP/1.1\r\n" + HOST + CLOSE
    + b"X-A: a\x7fb\r\n\r\n",
    "name-space": b"GET /app/i HTTP/1.1\r\n" + HOST + CLOSE
    + b"X A: b\r\n\r\n",
    "name-space-before-colon": b"GET /app/i HTTP/1.1\r\n" + HOST + CLOSE
    + b"X-A : b\r\n\r\n",
    "name-ctl": b"GET /app/i HTTP/1.1\r\n" + HOST + CLOSE
    + b"X\x01A: b\r\n\r\n",
    "name-empty": b"GET /app/i HTTP/1.1\r\n" + HOST + CLOSE
    + b": b\r\n\r\n",
    "lf-line-ends": b"GET /app/i HTTP/1.1\n" + HOST.replace(b"\r", b"")
    + b"X-A: 1\nConnection: close\n\n",
    "obs-fold": b"GET /app/i HTTP/1.1\r\n" + HOST + CLOSE
    + b"X-A: a\r\n X-Injected: 1\r\n\r\n",
    "target-bare-cr": b"GET /app/i?a\rX-Injected:1 HTTP/1.1\r\n" + HOST
    + CLOSE + b"\r\n",
    "target-space": b"GET /app/i?a b HTTP/1.1\r\n" + HOST + CLOSE + b"\r\n",
    "target-ctl": b"GET /app/i?a\x01b HTTP/1.1\r\n" + HOST + CLOSE + b"\r\n",
    "target-del": b"GET /app/i\x7f HTTP/1.1\r\n" + HOST + CLOSE + b"\r\n",
    "target-non-ascii": b"GET /app/i\x80 HTTP/1.1\r\n" + HOST + CLOSE
    + b"\r\n",
    "query-non-ascii": b"GET /app/i?\xff HTTP/1.1\r\n" + HOST + CLOSE
    + b"\r\n",
    "method-ctl": b"G\x01T /app/i HTTP/1.1\r\n" + HOST + CLOSE + b"\r\n",
    "method-bare-cr": b"G\rT /app/i HTTP/1.1\r\n" + HOST + CLOSE + b"\r\n",
    "method-colon": b"GET: /app/i HTTP/1.1\r\n" + HOST + CLOSE + b"\r\n",
    "method-quote": b'GE"T /app/i HTTP/1.1\r\n' + HOST + CLOSE + b"\r\n",
    "method-non-ascii": b"G\x80T /app/i HTTP/1.1\r\n" + HOST + CLOSE
    + b"\r\n",
    "env-crlf": INJECT_STRICT["env-crlf"],
}


def _check_injection(setup, case, data):
    r, heads = exchange(setup, data)
    assert r is not None, "%s: an answer comes" % case
    if r.status == 400:
        assert heads == [], "%s: refused, the backend saw nothing (%r)" % (
            case, heads)
        return r
    assert r.status == 200, "%s: 400 or a safe request (%r)" % (case, r)
    assert len(heads) == 1, heads
    check_safe_head(heads[0], case)
    return r


@pytest.mark.parametrize("case", sorted(INJECT_STRICT))
def test_rfc9110_5_5_no_line_injected_strict(strict, case):
    r = _check_injection(strict, case, INJECT_STRICT[case])
    if case in REFUSED_BY_RPROXY:
        assert r.status == 400, "%s: mod_rproxy refuses (%r)" % (case, r)
        hostile.check_proxy_status(r, "http_request_error", case)


# what httpd lets through with Unsafe and mod_rproxy refuses itself
UNSAFE_REFUSED_BY_RPROXY = {"target-non-ascii", "query-non-ascii",
                            "method-colon", "method-quote",
                            "method-non-ascii", "name-ctl", "value-ctl",
                            "value-del"}


@pytest.mark.parametrize("case", sorted(INJECT_UNSAFE))
def test_rfc9110_5_5_no_line_injected_http_protocol_options_unsafe(
        unsafe, case):
    r = _check_injection(unsafe, case, INJECT_UNSAFE[case])
    if case in UNSAFE_REFUSED_BY_RPROXY:
        assert r.status == 400, "%s: mod_rproxy refuses (%r)" % (case, r)
        hostile.check_proxy_status(r, "http_request_error", case)


def test_env_value_without_control_chars_is_forwarded(strict):
    """The control case: the same route forwards a clean mod_headers value,
    so the refusals above come from the control characters."""
    r, heads = exchange(strict, b"GET /app/i?env=clean%20value HTTP/1.1\r\n"
                        + HOST + CLOSE + b"\r\n")
    assert r is not None and r.status == 200, r
    assert values(heads[0], "X-From-Env") == [b"clean value"], heads[0]
