"""Scripted HTTP/1.1 backends for the integration tests (stdlib only).

A Backend is a threaded socket server on 127.0.0.1 with a free port.  Each
test hands it a handler ``handler(req, conn)``:

* ``req`` is the parsed request: ``method``, ``target``, ``version``,
  ``headers`` (list of (name, value) as received), ``header(name)``,
  ``header_all(name)``, and a body reader (``read_body()``, ``iter_body()``,
  ``body_sha256()``) that understands Content-Length and chunked framing.
* ``conn`` is the connection: ``sock`` (the raw socket, to write arbitrary
  bytes), ``send(bytes)``, ``send_response(...)``, ``reset()`` (SO_LINGER 0
  close, i.e. a TCP RST), ``close_after`` (set True to close once the handler
  returns), ``wait_closed(timeout)`` (block until the peer closes),
  ``id`` and ``index`` (which request on this connection, from 0).

After the handler returns, an unread request body is drained and the
connection serves the next request (keep-alive) unless the handler or the
request asked for close.  The backend counts connections: ``open_connections``
(currently open), ``total_connections`` (accepted so far), and keeps a list
of the request heads it saw in ``requests``.

Every blocking call is bounded: sockets carry timeouts, threads are daemon
threads joined with a bound on stop().
"""

import fcntl
import hashlib
import json
import os
import random
import socket
import struct
import termios
import threading
import time


class HeaderLookup:
    """Case-insensitive lookups over self.headers, a list of (name, value)."""

    def header_all(self, name):
        name = name.lower()
        return [v for (n, v) in self.headers if n.lower() == name]

    def header(self, name):
        vals = self.header_all(name)
        return ", ".join(vals) if vals else None

    def has_header(self, name):
        return bool(self.header_all(name))

LOOPBACK = "127.0.0.1"
CRLF = b"\r\n"
MAX_HEAD = 64 * 1024


class BackendError(Exception):
    pass


class ClientGone(Exception):
    """The peer (the proxy) closed or reset the connection."""


# --------------------------------------------------------------------------
# Deterministic payloads


_PAYLOAD_CACHE = {}


def payload(size, seed=1234):
    """`size` deterministic pseudo-random bytes (cached per (size, seed))."""
    key = (size, seed)
    data = _PAYLOAD_CACHE.get(key)
    if data is None:
        data = random.Random(seed).randbytes(size)
        _PAYLOAD_CACHE[key] = data
    return data


def sha256(data):
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------
# Request parsing


class Request(HeaderLookup):
    def __init__(self, conn, method, target, version, headers):
        self.conn = conn
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self._remaining = None  # bytes left for Content-Length bodies
        self._chunked = False
        self._chunk_left = 0
        self._done = False
        self.trailers = []
        te = ",".join(self.header_all("transfer-encoding")).lower()
        if te.strip():
            if te.replace(" ", "").split(",")[-1] != "chunked":
                raise BackendError("unsupported transfer-encoding %r" % te)
            self._chunked = True
        else:
            cl = self.header("content-length")
            self._remaining = int(cl) if cl is not None else 0
            self._done = self._remaining == 0


    @property
    def wants_close(self):
        conn = ",".join(self.header_all("connection")).lower()
        tokens = [t.strip() for t in conn.split(",")]
        if "close" in tokens:
            return True
        return self.version == "HTTP/1.0" and "keep-alive" not in tokens

    # body ----------------------------------------------------------------
    def iter_body(self, bufsize=65536):
        """Yield the request body in pieces; understands CL and chunked."""
        rf = self.conn.rfile
        while not self._done:
            if self._chunked:
                if self._chunk_left == 0:
                    line = rf.readline(1024)
                    if not line:
                        raise ClientGone("eof in chunk size")
                    size = int(line.split(b";")[0].strip() or b"x", 16)
                    if size == 0:
                        while True:  # trailers
                            t = rf.readline(MAX_HEAD)
                            if not t:
                                raise ClientGone("eof in trailers")
                            if t in (b"\r\n", b"\n"):
                                break
                            n, _, v = t.decode("latin-1").partition(":")
                            self.trailers.append((n.strip(), v.strip()))
                        self._done = True
                        break
                    self._chunk_left = size
                piece = rf.read(min(bufsize, self._chunk_left))
                if not piece:
                    raise ClientGone("eof in chunk data")
                self._chunk_left -= len(piece)
                if self._chunk_left == 0:
                    if rf.readline(16) not in (b"\r\n", b"\n"):
                        raise BackendError("bad chunk terminator")
                yield piece
            else:
                piece = rf.read(min(bufsize, self._remaining))
                if not piece:
                    raise ClientGone("eof in body")
                self._remaining -= len(piece)
                if self._remaining == 0:
                    self._done = True
                yield piece

    def read_body(self):
        return b"".join(self.iter_body())

    def body_sha256(self):
        """Consume the body; return (length, sha256 hex)."""
        h = hashlib.sha256()
        n = 0
        for piece in self.iter_body():
            h.update(piece)
            n += len(piece)
        return n, h.hexdigest()

    def drain(self):
        for _ in self.iter_body():
            pass

    @property
    def body_done(self):
        return self._done

    def summary(self):
        return {
            "method": self.method,
            "target": self.target,
            "version": self.version,
            "headers": [list(h) for h in self.headers],
            "conn_id": self.conn.id,
            "conn_index": self.conn.index,
            "peer": "%s:%d" % self.conn.peer[:2],
        }


def _read_head(rf):
    """Read a request head; return (request line, [(name, value)]) or None at EOF."""
    line = rf.readline(MAX_HEAD)
    while line in (b"\r\n", b"\n"):  # tolerate stray CRLF between requests
        line = rf.readline(MAX_HEAD)
    if not line:
        return None
    if not line.endswith(b"\n"):
        raise BackendError("request line too long or truncated")
    headers = []
    total = len(line)
    while True:
        h = rf.readline(MAX_HEAD)
        if not h:
            raise ClientGone("eof in request head")
        total += len(h)
        if total > MAX_HEAD:
            raise BackendError("request head too large")
        if h in (b"\r\n", b"\n"):
            break
        if h[:1] in (b" ", b"\t") and headers:  # obs-fold, keep it visible
            n, v = headers[-1]
            headers[-1] = (n, v + " " + h.decode("latin-1").strip())
            continue
        name, sep, value = h.decode("latin-1").partition(":")
        if not sep:
            raise BackendError("bad header line %r" % h)
        headers.append((name.strip(), value.strip()))
    return line.decode("latin-1").rstrip("\r\n"), headers


# --------------------------------------------------------------------------
# Connections and the server


class Conn:
    def __init__(self, backend, sock, peer, cid):
        self.backend = backend
        self.sock = sock
        self.peer = peer
        self.id = cid
        self.index = -1
        self.rfile = sock.makefile("rb", buffering=65536)
        self.close_after = False
        self.was_reset = False
        self.idle = False  # between requests, waiting for the next head
        # close_idle_connections() checks `idle` and closes under this lock,
        # so that a connection whose next head has been read is never shut
        # down under its response (the race a real server does not have)
        self.idle_lock = threading.Lock()
        self.closed = False

    def send(self, data):
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError) as e:
            raise ClientGone(str(e))
        except socket.timeout:
            raise ClientGone("send timed out")

    def send_response(self, status=200, headers=(), body=b"", reason=None,
                      content_length=True):
        """Send a whole response.  `headers` is a list of (name, value)."""
        reason = reason or _REASONS.get(status, "Status")
        head = ["HTTP/1.1 %d %s" % (status, reason)]
        names = {n.lower() for (n, _) in headers}
        for n, v in headers:
            head.append("%s: %s" % (n, v))
        if content_length and "content-length" not in names \
                and "transfer-encoding" not in names:
            head.append("Content-Length: %d" % len(body))
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        self.send(data)

    def send_json(self, obj, status=200, headers=()):
        body = json.dumps(obj).encode()
        self.send_response(status, [("Content-Type", "application/json")]
                           + list(headers), body)

    def reset(self):
        """Close with SO_LINGER 0: the peer gets a TCP RST."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.was_reset = True
        self._close()

    def wait_closed(self, timeout):
        """Block until the peer closes (EOF or error) or `timeout`/stop."""
        deadline = time.monotonic() + timeout
        self.sock.settimeout(0.2)
        try:
            while time.monotonic() < deadline and not self.backend.stopping:
                try:
                    data = self.sock.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    return True
                if not data:
                    return True
            return False
        finally:
            try:
                self.sock.settimeout(self.backend.io_timeout)
            except OSError:
                pass

    def _close(self):
        if self.closed:
            return
        self.closed = True
        try:
            self.rfile.close()
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass


_REASONS = {200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request",
            404: "Not Found", 500: "Internal Server Error",
            502: "Bad Gateway"}


class Backend:
    """A threaded scripted HTTP/1.1 server on 127.0.0.1:<free port>.

    idle_timeout: how long the backend keeps an idle keep-alive connection
    (long by default so that the proxy's own reaper is what closes them).
    io_timeout: socket timeout for reads/writes inside one exchange.
    """

    def __init__(self, handler, name="backend", idle_timeout=120.0,
                 io_timeout=30.0, host=LOOPBACK, port=0, unix_path=None):
        self.handler = handler
        self.name = name
        self.idle_timeout = idle_timeout
        self.io_timeout = io_timeout
        self.unix_path = unix_path
        if unix_path:
            # a Unix domain socket anyone may connect to (httpd's children
            # run as another user when the tests run as root); url is the
            # target as RProxyPass takes it, Host "localhost"
            self.lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.lsock.bind(unix_path)
            os.chmod(unix_path, 0o666)
            self.port = 0
            self.url = "unix:%s|http://localhost" % unix_path
            self.hostport = "localhost"
        else:
            v6 = ":" in host  # "::1": an IPv6 literal
            self.lsock = socket.socket(
                socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_STREAM)
            self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.lsock.bind((host, port))
            self.port = self.lsock.getsockname()[1]
            hp = "[%s]" % host if v6 else host
            self.url = "http://%s:%d" % (hp, self.port)
            self.hostport = "%s:%d" % (hp, self.port)
        self.lsock.listen(256)
        self.lsock.settimeout(0.2)
        self.stopping = False
        self.lock = threading.Lock()
        self.conns = {}  # id -> Conn (open ones)
        self.total_connections = 0
        self.requests = []  # Request.summary() of every request head seen
        self.raw_heads = []  # bytes of every request head as received
        self.errors = []  # handler exceptions other than ClientGone
        self.threads = []
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name=name + "-accept", daemon=True)

    # lifecycle -------------------------------------------------------------
    def start(self):
        self._accept_thread.start()
        return self

    def stop(self, timeout=5.0):
        self.stopping = True
        try:
            self.lsock.close()
        except OSError:
            pass
        if self.unix_path:
            try:
                os.unlink(self.unix_path)
            except OSError:
                pass
        with self.lock:
            conns = list(self.conns.values())
        for c in conns:
            try:
                c.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        self._accept_thread.join(max(0.0, deadline - time.monotonic()))
        for t in list(self.threads):
            t.join(max(0.0, deadline - time.monotonic()))
        for c in conns:
            c._close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # counters ----------------------------------------------------------------
    @property
    def open_connections(self):
        with self.lock:
            return len(self.conns)

    @property
    def idle_connections(self):
        with self.lock:
            return sum(1 for c in self.conns.values() if c.idle)

    def wait_open_connections(self, want, timeout):
        """Poll until open_connections == want; return the last count seen."""
        deadline = time.monotonic() + timeout
        n = self.open_connections
        while n != want and time.monotonic() < deadline:
            time.sleep(0.05)
            n = self.open_connections
        return n

    def close_idle_connections(self, rst=False):
        """Close (FIN, or RST when rst=True) every connection waiting for its
        next request; return how many were closed."""
        with self.lock:
            idle = [c for c in self.conns.values() if c.idle]
        closed = 0
        for c in idle:
            deadline = time.monotonic() + 1.0
            while rst and _unsent_bytes(c.sock) and time.monotonic() < deadline:
                time.sleep(0.01)
            with c.idle_lock:
                # a RST would also discard response bytes still queued for
                # the peer: such a connection is not idle yet
                if not c.idle or (rst and _unsent_bytes(c.sock)):
                    continue
                closed += 1
                self._close_idle(c, rst)
        return closed

    @staticmethod
    def _close_idle(c, rst):
        if rst:
            try:
                c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                  struct.pack("ii", 1, 0))
            except OSError:
                pass
        try:
            c.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # internals -------------------------------------------------------------
    def _accept_loop(self):
        while not self.stopping:
            try:
                s, peer = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            if self.unix_path:
                peer = ("unix", 0)
            s.settimeout(self.io_timeout)
            with self.lock:
                self.total_connections += 1
                cid = self.total_connections
                conn = Conn(self, s, peer, cid)
                self.conns[cid] = conn
            t = threading.Thread(target=self._serve, args=(conn,),
                                 name="%s-conn%d" % (self.name, cid),
                                 daemon=True)
            self.threads.append(t)
            t.start()

    def _serve(self, conn):
        try:
            while not self.stopping and not conn.closed:
                # idle: waiting for a next head.  A new connection is not
                # idle before its first one (no server drops those as idle
                # keep-alive connections; the client could not retry).
                conn.idle = conn.index >= 0
                conn.sock.settimeout(self.idle_timeout)
                raw = []
                try:
                    head = _read_head(_RawRecorder(conn.rfile, raw))
                except (socket.timeout, OSError, ClientGone):
                    break
                finally:
                    with conn.idle_lock:
                        conn.idle = False
                    _note_raw_head(self, raw)
                if head is None:
                    break
                conn.sock.settimeout(self.io_timeout)
                reqline, headers = head
                parts = reqline.split(" ")
                if len(parts) != 3:
                    conn.send_response(400, [("Connection", "close")], b"bad")
                    break
                conn.index += 1
                req = Request(conn, parts[0], parts[1], parts[2], headers)
                with self.lock:
                    self.requests.append(req.summary())
                self.handler(req, conn)
                if conn.closed or conn.close_after or req.wants_close:
                    break
                req.drain()
        except (ClientGone, socket.timeout, ConnectionError, OSError):
            pass
        except Exception as e:  # a bug in a handler: keep it for the test
            self.errors.append(repr(e))
        finally:
            conn._close()
            with self.lock:
                self.conns.pop(conn.id, None)


# --------------------------------------------------------------------------
# Handlers


def echo_handler(req, conn):
    """200 with JSON: method, target, headers, body length and sha256."""
    n, digest = req.body_sha256()
    info = req.summary()
    info["body_len"] = n
    info["body_sha256"] = digest
    info["trailers"] = [list(t) for t in req.trailers]
    conn.send_json(info)


def make_download_handler(data, chunked=False, piece=65536,
                          content_type="application/octet-stream",
                          extra_headers=()):
    """Serve `data` (bytes) with Content-Length or chunked, in `piece`s."""
    view = memoryview(data)

    def handler(req, conn):
        req.drain()
        head = ["HTTP/1.1 200 OK", "Content-Type: " + content_type]
        head += ["%s: %s" % h for h in extra_headers]
        if chunked:
            head.append("Transfer-Encoding: chunked")
        else:
            head.append("Content-Length: %d" % len(data))
        conn.send(("\r\n".join(head) + "\r\n\r\n").encode())
        if req.method == "HEAD":
            return
        for off in range(0, len(data), piece):
            part = view[off:off + piece]
            if chunked:
                conn.send(b"%x\r\n" % len(part))
                conn.send(part)
                conn.send(CRLF)
            else:
                conn.send(part)
        if chunked:
            conn.send(b"0\r\n\r\n")

    return handler


def make_paced_rest_handler(data, cuts, pauses, chunked=False,
                            trailer=b"X-Sum: 1"):
    """Serve `data` with Content-Length or chunked in the pieces between
    `cuts` (offsets: 0, ..., len(data)), sleeping pauses[i] seconds before
    piece i: a rest that comes late. Chunked, each piece is one chunk and
    the last chunk carries `trailer`."""

    def handler(req, conn):
        req.drain()
        if chunked:
            conn.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        else:
            conn.send(("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n"
                       % len(data)).encode())
        for i in range(len(cuts) - 1):
            time.sleep(pauses[i])
            part = data[cuts[i]:cuts[i + 1]]
            if chunked:
                part = b"%x\r\n%s\r\n" % (len(part), part)
                if i == len(cuts) - 2:
                    part += b"0\r\n%s\r\n\r\n" % trailer
            conn.send(part)

    return handler


def make_event_stream_handler(events, gate=None, max_wait=3.0,
                              framing="chunked",
                              content_type="text/event-stream"):
    """Send events[0], then wait until `gate` (a threading.Event) is set or
    `max_wait` seconds pass, then send the rest.

    framing: "chunked", "length" (Content-Length of all events) or "close"
    (no length; the body ends when the backend closes).
    """
    blobs = [e if isinstance(e, bytes) else e.encode() for e in events]

    def handler(req, conn):
        req.drain()
        head = ["HTTP/1.1 200 OK", "Content-Type: " + content_type,
                "Cache-Control: no-cache"]
        if framing == "chunked":
            head.append("Transfer-Encoding: chunked")
        elif framing == "length":
            head.append("Content-Length: %d" % sum(len(b) for b in blobs))
        else:
            head.append("Connection: close")
            conn.close_after = True
        conn.send(("\r\n".join(head) + "\r\n\r\n").encode())
        for i, blob in enumerate(blobs):
            if i > 0:
                if gate is not None:
                    gate.wait(max_wait)
                else:
                    time.sleep(max_wait)
            if framing == "chunked":
                conn.send(b"%x\r\n%s\r\n" % (len(blob), blob))
            else:
                conn.send(blob)
        if framing == "chunked":
            conn.send(b"0\r\n\r\n")

    return handler


def make_raw_handler(raw, close=True):
    """Answer every request with the exact bytes `raw`, then close."""
    def handler(req, conn):
        req.drain()
        conn.send(raw)
        if close:
            conn.close_after = True
    return handler


def make_silent_handler(max_wait=30.0):
    """Read the request, never answer; return when the proxy closes."""
    def handler(req, conn):
        req.drain()
        conn.wait_closed(max_wait)
        conn.close_after = True
    return handler


def make_reset_mid_body_handler(total, send_bytes, chunked=False,
                                piece=16384, pause=0.05):
    """Announce `total` body bytes (Content-Length or chunked), send only
    `send_bytes`, pause a little so the proxy has forwarded them, then RST."""
    data = payload(total, seed=77)

    def handler(req, conn):
        req.drain()
        head = ["HTTP/1.1 200 OK", "Content-Type: application/octet-stream"]
        if chunked:
            head.append("Transfer-Encoding: chunked")
        else:
            head.append("Content-Length: %d" % total)
        conn.send(("\r\n".join(head) + "\r\n\r\n").encode())
        for off in range(0, send_bytes, piece):
            part = data[off:min(off + piece, send_bytes)]
            if chunked:
                conn.send(b"%x\r\n%s\r\n" % (len(part), part))
            else:
                conn.send(part)
        time.sleep(pause)
        conn.reset()

    return handler


def make_stall_mid_body_handler(total, send_bytes, stall=30.0, chunked=False):
    """Announce `total` bytes, send `send_bytes`, then go silent until the
    proxy closes the connection (or `stall` seconds)."""
    data = payload(total, seed=78)

    def handler(req, conn):
        req.drain()
        head = ["HTTP/1.1 200 OK", "Content-Type: application/octet-stream"]
        if chunked:
            head.append("Transfer-Encoding: chunked")
            body = b"%x\r\n%s\r\n" % (send_bytes, data[:send_bytes])
        else:
            head.append("Content-Length: %d" % total)
            body = data[:send_bytes]
        conn.send(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        conn.wait_closed(stall)
        conn.close_after = True

    return handler


def route(table, default=None):
    """Dispatch on the request path prefix: table is [(prefix, handler)]."""
    def handler(req, conn):
        path = req.target.split("?", 1)[0]
        for prefix, h in table:
            if path.startswith(prefix):
                return h(req, conn)
        if default is not None:
            return default(req, conn)
        req.drain()
        conn.send_response(404, [("Content-Type", "text/plain")], b"no route\n")
    return handler


def _unsent_bytes(sock):
    """Bytes in the socket's send queue not yet acknowledged by the peer."""
    try:
        buf = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
        return struct.unpack("i", buf)[0]
    except (OSError, ValueError):  # closed meanwhile (fileno() is -1)
        return 0


def free_port():
    """A port that was free a moment ago on 127.0.0.1."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def bound_unlistened_port():
    """(socket, port): a port bound but not listening, so connecting to it
    is refused; keep the socket open as long as the port must stay dead."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((LOOPBACK, 0))
    return s, s.getsockname()[1]


class Blackhole:
    """A port on 127.0.0.1 (or host) where connect() hangs: a listener with backlog 0
    whose accept queue is already full, so Linux drops further SYNs.
    Close it (or use it as a context manager) to release the port."""

    def __init__(self, host=LOOPBACK, port=0):
        self.host = host
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.bind((host, port))
        self.lsock.listen(0)
        self.port = self.lsock.getsockname()[1]
        self.fillers = []
        for _ in range(8):  # bounded: stop at the first connect that hangs
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(0.3)
            self.fillers.append(s)
            try:
                s.connect((host, self.port))
            except (socket.timeout, OSError):
                break

    def hangs(self, timeout=0.5):
        """True when a fresh connect() does not complete within timeout."""
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect((self.host, self.port))
            return False
        except (socket.timeout, OSError):
            return True
        finally:
            s.close()

    def close(self):
        for s in self.fillers:
            s.close()
        self.lsock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --------------------------------------------------------------------------
# Raw request heads (hostile-input tests): Backend.raw_heads holds the bytes
# of every request head exactly as received, also of heads that failed to
# parse, so a test can tell how a request was framed and whether a line was
# injected, which the parsed `headers` would hide.


class _RawRecorder:
    """An rfile whose readline() also appends each line to `raw`."""

    def __init__(self, rfile, raw):
        self.rfile = rfile
        self.raw = raw

    def readline(self, limit=-1):
        line = self.rfile.readline(limit)
        self.raw.append(line)
        return line


def _note_raw_head(backend, raw):
    data = b"".join(raw)
    if data:
        with backend.lock:
            backend.raw_heads.append(data)


def make_raw_by_name_handler(cases, close=True):
    """Answer with the bytes cases[name], name being the last segment of the
    request path (query left out); then close unless close=False. A value
    may be a callable(req, conn) that writes the answer itself and sets
    conn.close_after when the connection must end."""
    def handler(req, conn):
        name = req.target.split("?", 1)[0].rsplit("/", 1)[-1]
        req.drain()
        answer = cases.get(name)
        if callable(answer):
            answer(req, conn)
            return
        if answer is None:
            conn.send_response(404, [("Content-Type", "text/plain")],
                               b"no case\n")
        else:
            conn.send(answer)
        if close:
            conn.close_after = True
    return handler
