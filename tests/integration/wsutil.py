"""A minimal WebSocket (RFC 6455) for the tests, standard library only.

Framing (section 5.2): ``encode_frame(opcode, payload, mask)`` writes one
frame with the 7-bit, 16-bit (126) or 64-bit (127) length form that RFC 6455
requires for the size (the shortest one); client frames are masked with a
random 4-byte key (5.3), server frames are not. ``FrameReader`` reads frames
from a socket (client side) or a buffered file (server side) and reports
whether each was masked, so a server can refuse unmasked client frames and
a client unmasked-ness of server frames.

Handshake (section 4): ``client_handshake(sock, path)`` sends a GET with a
fresh Sec-WebSocket-Key and checks the 101's Sec-WebSocket-Accept;
``accept_for(key)`` is the server's computation.

``make_echo_handler(state)`` is a handler for ``backends.Backend``: it
checks the client's handshake, answers 101, then echoes text and binary
messages, answers pings with pongs carrying the same data, and on a close
frame answers with a close frame carrying the same status code and closes
the TCP connection first, as a server should (7.1.1). Everything it saw is
recorded in ``state`` (an ``EchoState``) for the test to check.
"""

import base64
import hashlib
import os
import socket
import ssl
import struct
import threading
import time

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA


class WsError(Exception):
    pass


def accept_for(key):
    """Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 4.2.2)."""
    digest = hashlib.sha1((key + GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def apply_mask(key, data):
    """XOR data with the 4-byte key repeated (RFC 6455 5.3); its own
    inverse. Done on big integers: fast enough for a megabyte."""
    n = len(data)
    if n == 0:
        return b""
    stream = (key * (n // 4 + 1))[:n]
    x = int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")
    return x.to_bytes(n, "big")


def encode_frame(opcode, payload=b"", mask=True, fin=True, key=None):
    """One frame. The length uses the shortest of the three forms."""
    n = len(payload)
    b0 = (0x80 if fin else 0) | opcode
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return head + payload
    key = key or os.urandom(4)
    return head + key + apply_mask(key, payload)


def close_payload(code, reason=""):
    return struct.pack("!H", code) + reason.encode("utf-8")


def parse_close(payload):
    """(code, reason) of a close frame's payload; (None, "") when empty."""
    if len(payload) < 2:
        return None, ""
    return struct.unpack("!H", payload[:2])[0], payload[2:].decode("utf-8")


class Frame:
    def __init__(self, fin, opcode, payload, masked, length_form):
        self.fin = fin
        self.opcode = opcode
        self.payload = payload
        self.masked = masked
        self.length_form = length_form  # 7, 16 or 64 (bits of the length)

    def __repr__(self):
        return "<Frame op=%x fin=%d len=%d masked=%d>" % (
            self.opcode, self.fin, len(self.payload), self.masked)


class FrameReader:
    """Frames from a socket (``recv``) or a buffered binary file
    (``read``). ``read_frame()`` returns None at a clean EOF before a
    frame and raises WsError on EOF inside one."""

    def __init__(self, src):
        self.src = src
        self.buf = b""

    def _more(self, want):
        if hasattr(self.src, "recv"):
            return self.src.recv(max(want, 65536))
        return self.src.read(want)

    def _exact(self, n, first=False):
        while len(self.buf) < n:
            data = self._more(n - len(self.buf))
            if not data:
                if first and not self.buf:
                    return None
                raise WsError("EOF inside a frame (%d of %d bytes)"
                              % (len(self.buf), n))
            self.buf += data
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_frame(self):
        head = self._exact(2, first=True)
        if head is None:
            return None
        b0, b1 = head
        n = b1 & 0x7F
        form = 7
        if n == 126:
            n = struct.unpack("!H", self._exact(2))[0]
            form = 16
        elif n == 127:
            n = struct.unpack("!Q", self._exact(8))[0]
            form = 64
        masked = bool(b1 & 0x80)
        key = self._exact(4) if masked else None
        payload = self._exact(n) if n else b""
        if masked:
            payload = apply_mask(key, payload)
        return Frame(bool(b0 & 0x80), b0 & 0x0F, payload, masked, form)

    def read_message(self, on_control=None):
        """A whole data message (fragments joined): (opcode, payload).
        Control frames in between go to on_control(frame) or, without it,
        are returned as they are, as (opcode, payload)."""
        op, parts = None, []
        while True:
            f = self.read_frame()
            if f is None:
                raise WsError("EOF before a message")
            if f.opcode >= 0x8:
                if on_control is None:
                    return f.opcode, f.payload
                on_control(f)
                continue
            if op is None:
                op = f.opcode
            parts.append(f.payload)
            if f.fin:
                return op, b"".join(parts)


def round_trip(sock, rd, opcode, data):
    """Send data as one frame of opcode on sock (anything with sendall)
    and return the next frame rd reads (None at EOF)."""
    sock.sendall(encode_frame(opcode, data))
    return rd.read_frame()


def close_handshake(sock, rd, reason="bye"):
    """Send a close frame (1000) and return the frame that answers it."""
    return round_trip(sock, rd, OP_CLOSE, close_payload(1000, reason))


# --------------------------------------------------------------------------
# Client


def read_head(sock, limit=16384):
    """Read a response head byte by byte (so no frame byte is consumed);
    return (status, {lowercased name: value}, raw text)."""
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        c = sock.recv(1)
        if not c:
            break
        head += c
        if len(head) > limit:
            raise WsError("response head too long")
    text = head.decode("latin-1")
    lines = text.split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    fields = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            fields[name.strip().lower()] = value.strip()
    return status, fields, text


def client_handshake(sock, path, host="127.0.0.1", extra=""):
    """Open a WebSocket on a connected socket. Returns (status, fields,
    raw head); raises WsError when a 101 carries a wrong accept value."""
    key = base64.b64encode(os.urandom(16)).decode("ascii")
    sock.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                  "Sec-WebSocket-Version: 13\r\n%s\r\n"
                  % (path, host, key, extra)).encode("latin-1"))
    status, fields, text = read_head(sock)
    if status == 101 and fields.get("sec-websocket-accept") != accept_for(key):
        raise WsError("Sec-WebSocket-Accept %r does not match key %r"
                      % (fields.get("sec-websocket-accept"), key))
    return status, fields, text


# --------------------------------------------------------------------------
# Scripted echo server (a backends.Backend handler)


class EchoState:
    """What the echo backend saw, shared with the test (thread-safe)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.opened = 0  # handshakes answered with 101
        self.messages = []  # (opcode, length) of each data message
        self.pings = []  # payloads of pings answered
        self.closes = []  # (code, reason) of close frames received
        self.eofs = 0  # connections that ended without a close frame
        self.errors = []  # protocol faults seen (unmasked frame, ...)
        self.eof_times = []  # monotonic time of each EOF without close
        self.ended = threading.Condition(self.lock)
        self.finished = 0  # connections whose handler returned

    def note(self, attr, value):
        with self.lock:
            getattr(self, attr).append(value)

    def wait_finished(self, n, timeout):
        deadline = time.monotonic() + timeout
        with self.ended:
            while self.finished < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.ended.wait(left)
            return self.finished


def _check_handshake(req):
    """The problem with a client's opening handshake, or None."""
    if (req.header("upgrade") or "").lower() != "websocket":
        return "Upgrade is %r" % req.header("upgrade")
    if "upgrade" not in (req.header("connection") or "").lower():
        return "Connection is %r" % req.header("connection")
    if req.header("sec-websocket-version") != "13":
        return "Sec-WebSocket-Version is %r" % req.header("sec-websocket-version")
    key = req.header("sec-websocket-key") or ""
    try:
        if len(base64.b64decode(key, validate=True)) != 16:
            return "Sec-WebSocket-Key %r is not 16 bytes" % key
    except ValueError:
        return "Sec-WebSocket-Key %r is not base64" % key
    return None


def _serve_frames(state, conn, rd):
    """The echo loop; returns when the connection is to be closed."""
    while True:
        try:
            f = rd.read_frame()
        except (WsError, OSError):
            f = None
        if f is None:
            with state.lock:
                state.eofs += 1
                state.eof_times.append(time.monotonic())
            return
        if not f.masked:
            state.note("errors", "unmasked client frame %r" % f)
            return
        if f.opcode == OP_PING:
            state.note("pings", f.payload)
            conn.sock.sendall(encode_frame(OP_PONG, f.payload, mask=False))
        elif f.opcode == OP_CLOSE:
            code, reason = parse_close(f.payload)
            state.note("closes", (code, reason))
            conn.sock.sendall(encode_frame(OP_CLOSE, f.payload[:2],
                                           mask=False))
            return  # the server closes the TCP connection first
        elif f.opcode in (OP_TEXT, OP_BINARY) and f.fin:
            state.note("messages", (f.opcode, len(f.payload)))
            conn.sock.sendall(encode_frame(f.opcode, f.payload, mask=False))
        else:
            state.note("errors", "unexpected frame %r" % f)
            return


def make_echo_handler(state, idle=30.0, on_open=None):
    """A backends.Backend handler speaking WebSocket (see module doc).
    Requests without a valid handshake get a JSON 400. on_open(conn),
    when given, runs after the 101 (before any frame is read)."""
    import json

    def handler(req, conn):
        bad = _check_handshake(req)
        if bad:
            body = json.dumps({"error": bad}).encode()
            conn.send_response(400, [("Content-Type", "application/json")],
                               body)
            return
        accept = accept_for(req.header("sec-websocket-key"))
        conn.send(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n"
                   % accept).encode("ascii"))
        with state.lock:
            state.opened += 1
        if on_open:
            on_open(conn)
        conn.sock.settimeout(idle)
        try:
            _serve_frames(state, conn, FrameReader(conn.rfile))
        finally:
            conn._close()
            with state.ended:
                state.finished += 1
                state.ended.notify_all()

    return handler


# --------------------------------------------------------------------------
# Fronts: plain, or https through mod_ssl


def tls_front_snippet(pki):
    """httpd config lines making the test server an https front with the
    test PKI's "good" certificate (localhost, 127.0.0.1)."""
    cert, key = pki.pair("good")
    return ("LoadModule ssl_module /usr/lib/apache2/modules/mod_ssl.so\n"
            "SSLEngine on\nSSLCertificateFile %s\n"
            "SSLCertificateKeyFile %s\n" % (cert, key))


def open_front(h, front, pki, timeout=20):
    """A connection to httpd `h`: plain TCP for front "plain", TLS
    checked against the test CA for "https". On TLS, a TCP end without
    close_notify raises (Python ignores it by default): a test reading to
    EOF thereby checks that the TLS close was clean."""
    raw = socket.create_connection(("127.0.0.1", h.port), timeout=timeout)
    if front == "plain":
        return raw
    ctx = ssl.create_default_context(cafile=pki.ca)
    ctx.options &= ~ssl.OP_IGNORE_UNEXPECTED_EOF
    return ctx.wrap_socket(raw, server_hostname="localhost",
                           suppress_ragged_eofs=False)


def front_get(h, front, pki, path):
    """An ordinary GET through the front; returns a client.Response."""
    import client

    s = open_front(h, front, pki)
    try:
        s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "Connection: close\r\n\r\n" % path).encode("latin-1"))
        return client.read_response(s)
    finally:
        s.close()


# --------------------------------------------------------------------------
# Observing the proxy's sockets


TCP_STATES = {"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV",
              "04": "FIN_WAIT1", "05": "FIN_WAIT2", "06": "TIME_WAIT",
              "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK",
              "0A": "LISTEN", "0B": "CLOSING"}


def _socket_inodes(pids):
    """Inodes of the sockets the processes `pids` hold open."""
    out = set()
    for pid in pids:
        try:
            names = os.listdir("/proc/%d/fd" % pid)
        except OSError:
            continue
        for n in names:
            try:
                link = os.readlink("/proc/%d/fd/%s" % (pid, n))
            except OSError:
                continue
            if link.startswith("socket:["):
                out.add(link[8:-1])
    return out


def tcp_states_towards(port, pids=None):
    """States of the local TCP sockets whose remote port is `port` (from
    /proc/net/tcp and tcp6), only those held by `pids` when given: with a
    backend's port and httpd's child PIDs, the proxy's side of its backend
    connections. A socket the proxy forgot to close after the backend
    closed stays in CLOSE_WAIT."""
    inodes = _socket_inodes(pids) if pids is not None else None
    out = []
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            remote, st, inode = parts[2], parts[3], parts[9]
            if int(remote.rsplit(":", 1)[1], 16) != port:
                continue
            if inodes is None or inode in inodes:
                out.append(TCP_STATES.get(st, st))
    return out


def wait_no_close_wait(port, timeout, pids=None, gone=("CLOSE_WAIT",)):
    """Poll until no socket towards `port` (held by `pids`, when given) is
    in any of the states `gone` (CLOSE_WAIT by default; add ESTABLISHED to
    wait for a connection the proxy should close on its own, before the
    backend does); return the last states seen."""
    deadline = time.monotonic() + timeout
    states = tcp_states_towards(port, pids)
    while (set(states) & set(gone)) and time.monotonic() < deadline:
        time.sleep(0.05)
        states = tcp_states_towards(port, pids)
    return states


def recv_eof(sock, timeout):
    """True when the peer's end of stream (b"" from recv) comes within
    timeout; data read before it is discarded and counted in the return
    tuple: (got_eof, bytes_skipped)."""
    sock.settimeout(timeout)
    skipped = 0
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            data = sock.recv(65536)
            if not data:
                return True, skipped
            skipped += len(data)
    except socket.timeout:
        return False, skipped
    return False, skipped
