"""A small raw HTTP/1.1 client over a socket (stdlib only).

It reports framing precisely, which http.client hides: whether the body was
complete and well framed (all Content-Length bytes, or the terminating
0-chunk), or ended by EOF / reset / timeout.  Every read has a timeout.
"""

import hashlib
import socket
import struct
import time

from backends import HeaderLookup

LOOPBACK = "127.0.0.1"


class Response(HeaderLookup):
    def __init__(self):
        self.version = None
        self.status = None
        self.reason = None
        self.headers = []  # [(name, value)] as received
        self.trailers = []
        self.body = b""  # unless a sink was given
        self.body_len = 0
        self.sha256 = None
        self.framing = None  # "length" | "chunked" | "close" | "none"
        self.complete = False  # well framed and whole
        self.end = None  # how the body ended: "framed", "eof", "reset", "timeout", "error"
        self.error = None
        self.elapsed = None  # seconds from sending the request to the end
        self.head_elapsed = None  # seconds until the response head was read


    def json(self):
        import json
        return json.loads(self.body)

    def __repr__(self):
        return "<Response %s framing=%s complete=%s end=%s len=%d>" % (
            self.status, self.framing, self.complete, self.end, self.body_len)


class ProtocolError(Exception):
    pass


class NoResponse(AssertionError):
    """No response head arrived: timeout, or the connection was closed."""


class Reader:
    """Buffered reader over a socket with a deadline-free per-read timeout."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.eof = False

    def _fill(self):
        data = self.sock.recv(262144)
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def readline(self, limit=65536):
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line = bytes(self.buf[:i + 1])
                del self.buf[:i + 1]
                return line
            if len(self.buf) > limit:
                raise ProtocolError("line too long")
            if self.eof or not self._fill():
                line = bytes(self.buf)
                self.buf.clear()
                return line

    def read_some(self, n):
        """Up to n bytes; b'' at EOF."""
        if not self.buf and not self.eof:
            self._fill()
        piece = bytes(self.buf[:n])
        del self.buf[:n]
        return piece


def _sink_update(resp, sink, hasher, data):
    resp.body_len += len(data)
    if hasher is not None:
        hasher.update(data)
    if sink is not None:
        sink(data)
    else:
        resp.body += data


def connect(port, timeout=10.0, host=LOOPBACK):
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_to_close(sock, timeout=5.0, stop_at_error=False):
    """Every byte until the peer closes. A reset or a timeout ends the
    read with what came when stop_at_error is set; otherwise it raises."""
    sock.settimeout(timeout)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except OSError:
            if not stop_at_error:
                raise
            return data
        if not chunk:
            return data
        data += chunk


def read_then_close(port, target, nbytes, rst=False, timeout=20.0):
    """GET target, read at least nbytes of the answer (or until the server
    closes), then close: with FIN, or with RST when rst. Returns the bytes
    read."""
    s = connect(port, timeout=timeout)
    try:
        s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                   % target).encode())
        got = 0
        while got < nbytes:
            piece = s.recv(65536)
            if not piece:
                break
            got += len(piece)
        if rst:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         struct.pack("ii", 1, 0))
        return got
    finally:
        s.close()


def exchange_raw(port, raw, timeout=5.0):
    """Send raw bytes on a fresh connection; everything received until the
    server closes (interim responses included)."""
    s = connect(port)
    try:
        s.sendall(raw)
        return read_to_close(s, timeout)
    finally:
        s.close()


def build_request(method, target, headers=(), body=None, host=None,
                  chunked_body=False):
    """Bytes of a request head (+ body when given as bytes)."""
    lines = ["%s %s HTTP/1.1" % (method, target)]
    names = {n.lower() for (n, _) in headers}
    if "host" not in names and host is not None:
        lines.append("Host: " + host)
    for n, v in headers:
        lines.append("%s: %s" % (n, v))
    if body is not None and "content-length" not in names \
            and "transfer-encoding" not in names:
        if chunked_body:
            lines.append("Transfer-Encoding: chunked")
        else:
            lines.append("Content-Length: %d" % len(body))
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if body is None:
        return head
    if chunked_body:
        return head + (b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
                       if body else b"0\r\n\r\n")
    return head + body


def read_response(sock, method="GET", sink=None, hash_body=False,
                  reader=None, t0=None, max_bytes=None):
    """Read one response from `sock`.  Never raises for body-level failures:
    they are reported in resp.end / resp.error.  Raises NoResponse (an
    AssertionError) when no response head arrived, ProtocolError when the
    head is malformed."""
    t0 = t0 if t0 is not None else time.monotonic()
    rd = reader or Reader(sock)
    resp = Response()
    try:
        _read_head(rd, resp)
    except socket.timeout:
        raise NoResponse("no response head within %.1fs (sock timeout)"
                         % (time.monotonic() - t0)) from None
    except ConnectionResetError:
        raise NoResponse("connection reset before a response head (did the "
                         "httpd child crash? see its error_log)") from None
    resp.head_elapsed = time.monotonic() - t0
    _read_body(rd, resp, method, sink, hash_body, max_bytes)
    resp.elapsed = time.monotonic() - t0
    return resp


def _read_head(rd, resp):
    while True:  # skip 1xx interim responses
        line = rd.readline()
        if not line:
            raise NoResponse("the server closed the connection without a "
                             "response (did the httpd child crash? see its "
                             "error_log)")
        parts = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise ProtocolError("bad status line %r" % line)
        resp.version = parts[0]
        resp.status = int(parts[1])
        resp.reason = parts[2] if len(parts) > 2 else ""
        resp.headers = []
        while True:
            h = rd.readline()
            if not h:
                raise ProtocolError("connection closed inside the head")
            if h in (b"\r\n", b"\n"):
                break
            n, _, v = h.decode("latin-1").partition(":")
            resp.headers.append((n.strip(), v.strip()))
        if not (100 <= resp.status < 200) or resp.status == 101:
            break


def _read_body(rd, resp, method, sink, hash_body, max_bytes):
    hasher = hashlib.sha256() if hash_body else None
    te = (resp.header("transfer-encoding") or "").lower()
    cl = resp.header("content-length")
    try:
        if method == "HEAD" or resp.status in (204, 304) or resp.status == 101:
            resp.framing = "none"
            resp.complete = True
            resp.end = "framed"
        elif "chunked" in te:
            resp.framing = "chunked"
            _read_chunked(rd, resp, sink, hasher, max_bytes)
        elif cl is not None:
            resp.framing = "length"
            left = int(cl.split(",")[0])
            while left > 0:
                if max_bytes is not None and resp.body_len >= max_bytes:
                    resp.end = "stopped"
                    break
                data = rd.read_some(min(left, 262144))
                if not data:
                    resp.end = "eof"
                    break
                left -= len(data)
                _sink_update(resp, sink, hasher, data)
            if left == 0:
                resp.complete = True
                resp.end = "framed"
        else:
            resp.framing = "close"
            while True:
                if max_bytes is not None and resp.body_len >= max_bytes:
                    resp.end = "stopped"
                    break
                data = rd.read_some(262144)
                if not data:
                    resp.end = "eof"
                    break
                _sink_update(resp, sink, hasher, data)
    except socket.timeout as e:
        resp.end, resp.error = "timeout", e
    except ConnectionResetError as e:
        resp.end, resp.error = "reset", e
    except (OSError, ProtocolError, ValueError) as e:
        resp.end, resp.error = "error", e
    if hasher is not None:
        resp.sha256 = hasher.hexdigest()


def _read_chunked(rd, resp, sink, hasher, max_bytes):
    while True:
        if max_bytes is not None and resp.body_len >= max_bytes:
            resp.end = "stopped"
            return
        line = rd.readline(4096)
        if not line:
            resp.end = "eof"
            return
        if not line.endswith(b"\n"):
            resp.end = "eof"
            return
        size_txt = line.split(b";")[0].strip()
        try:
            size = int(size_txt, 16)
        except ValueError:
            raise ProtocolError("bad chunk size line %r" % line)
        if size == 0:
            while True:
                t = rd.readline()
                if not t:
                    resp.end = "eof"  # 0-chunk seen but no final CRLF
                    return
                if t in (b"\r\n", b"\n"):
                    resp.complete = True
                    resp.end = "framed"
                    return
                n, _, v = t.decode("latin-1").partition(":")
                resp.trailers.append((n.strip(), v.strip()))
        left = size
        while left > 0:
            data = rd.read_some(min(left, 262144))
            if not data:
                resp.end = "eof"
                return
            left -= len(data)
            _sink_update(resp, sink, hasher, data)
        crlf = rd.readline(16)
        if crlf not in (b"\r\n", b"\n"):
            if not crlf:
                resp.end = "eof"
                return
            raise ProtocolError("bad chunk terminator %r" % crlf)


def request(port, method="GET", target="/", headers=(), body=None,
            timeout=10.0, host=None, sink=None, hash_body=False,
            chunked_body=False, max_bytes=None):
    """One request on a fresh connection ("Connection: close" is not added,
    so the server may keep it open; the socket is closed on return)."""
    host = host if host is not None else "%s:%d" % (LOOPBACK, port)
    s = connect(port, timeout)
    try:
        t0 = time.monotonic()
        s.sendall(build_request(method, target, headers, body, host,
                                chunked_body))
        return read_response(s, method, sink=sink, hash_body=hash_body,
                             t0=t0, max_bytes=max_bytes)
    finally:
        s.close()


def get(port, target="/", **kw):
    return request(port, "GET", target, **kw)


class Session:
    """A persistent client connection (keep-alive) for several requests."""

    def __init__(self, port, timeout=10.0):
        self.port = port
        self.sock = connect(port, timeout)
        self.reader = Reader(self.sock)
        self.host = "%s:%d" % (LOOPBACK, port)

    def request(self, method="GET", target="/", headers=(), body=None,
                **kw):
        t0 = time.monotonic()
        self.sock.sendall(build_request(method, target, headers, body,
                                        self.host))
        return read_response(self.sock, method, reader=self.reader, t0=t0,
                             **kw)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
