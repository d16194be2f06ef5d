"""A WebSocket client over HTTP/2 (RFC 8441): an h2c connection with prior
knowledge (Debian's python3-h2), one extended CONNECT stream, and the
stream's DATA as the byte stream a FrameReader reads (recv) and frames are
written to (sendall)."""

import socket

import h2.config
import h2.connection
import h2.events


class H2Error(Exception):
    pass


class H2WebSocket:
    def __init__(self, port, path, host="127.0.0.1", timeout=20):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=timeout)
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.buf = b""
        self.ended = False
        self.reset = None
        self.status = None
        self.headers = []
        self.settings = False
        self._flush()
        for _ in range(100):  # bounded: the server's SETTINGS come first
            if self.settings:
                break
            self._pump()
        self.connect_protocol = self.conn.remote_settings.enable_connect_protocol
        if not self.connect_protocol:
            return  # the server does not offer extended CONNECT
        self.sid = self.conn.get_next_available_stream_id()
        self.conn.send_headers(self.sid, [
            (":method", "CONNECT"), (":protocol", "websocket"),
            (":scheme", "http"), (":path", path), (":authority", host),
            ("sec-websocket-version", "13")])
        self._flush()
        for _ in range(1000):
            if self.status is not None or self.reset is not None or self.ended:
                break
            self._pump()

    def _flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def _pump(self):
        data = self.sock.recv(65536)
        if not data:
            self.ended = True
            return
        for ev in self.conn.receive_data(data):
            if isinstance(ev, h2.events.RemoteSettingsChanged):
                self.settings = True
            elif isinstance(ev, h2.events.ResponseReceived):
                self.headers = ev.headers
                self.status = int(dict(ev.headers)[":status"])
            elif isinstance(ev, h2.events.DataReceived):
                self.buf += ev.data
                self.conn.acknowledge_received_data(
                    ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                self.ended = True
            elif isinstance(ev, h2.events.StreamReset):
                self.reset = ev.error_code
                self.ended = True
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self.ended = True
        self._flush()

    def recv(self, n):
        """Stream bytes, b"" once the stream ended (socket timeouts
        raise)."""
        while not self.buf and not self.ended:
            self._pump()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def sendall(self, data):
        while data:
            window = min(self.conn.local_flow_control_window(self.sid),
                         self.conn.max_outbound_frame_size)
            if window <= 0:
                self._pump()  # wait for WINDOW_UPDATE
                if self.ended:
                    raise H2Error("stream ended while sending")
                continue
            self.conn.send_data(self.sid, data[:window])
            data = data[window:]
            self._flush()

    def end(self):
        """Half-close the stream (END_STREAM)."""
        self.conn.end_stream(self.sid)
        self._flush()

    def cancel(self):
        """Abort the stream (RST_STREAM, CANCEL); the connection stays."""
        self.conn.reset_stream(self.sid, error_code=0x8)
        self._flush()

    def close(self):
        self.sock.close()
