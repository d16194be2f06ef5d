"""A large Content-Length download is read from the backend in gathered
parts (up to 256 KiB at once, with the default RProxyFlushInterval 0), but
bytes the backend has sent are never held back for long when it pauses.

The backend sends 300 KiB, pauses, sends 100 KiB (less than a gathered
read waits for), then waits until the client has all 400 KiB (up to 5 s)
before it sends the rest. The client must get the 400 KiB while the backend
waits: a proxy that waited for a full 256 KiB would sit on the 100 KiB
until the backend timed out. The body must arrive byte-exact, twice on one
client connection, the second time over the pooled backend connection."""

import socket
import threading
import time

import backends
import client

PART1 = 300 * 1024
PART2 = 100 * 1024
TOTAL = 1024 * 1024
WAIT_S = 5.0


def _handler(gates, waited):
    data = backends.payload(TOTAL, seed=77)

    def handler(req, conn):
        req.drain()
        gate = gates.pop(0)
        conn.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream"
                  b"\r\nContent-Length: %d\r\n\r\n" % TOTAL)
        conn.send(data[:PART1])
        time.sleep(0.3)
        conn.send(data[PART1:PART1 + PART2])
        t0 = time.monotonic()
        waited.append((gate.wait(WAIT_S), time.monotonic() - t0))
        conn.send(data[PART1 + PART2:])

    return handler


def test_bytes_sent_before_a_pause_reach_the_client(httpd_factory,
                                                    backend_factory):
    gates = [threading.Event(), threading.Event()]
    mine = list(gates)
    waited = []
    b = backend_factory(_handler(gates, waited))
    h = httpd_factory("RProxyPass /dl %s/dl\n" % b.url)
    s = client.connect(h.port, timeout=WAIT_S + 5)
    try:
        for i, gate in enumerate(mine):
            got = [0]

            def sink(piece, gate=gate, got=got):
                got[0] += len(piece)
                if got[0] >= PART1 + PART2:
                    gate.set()

            s.sendall(b"GET /dl HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            r = client.read_response(s, sink=sink, hash_body=True)
            gate.set()  # never leave the backend waiting
            assert r.status == 200 and r.complete, \
                "request %d: a complete 200 (%r, end %s)" % (i, r.status, r.end)
            assert r.sha256 == backends.sha256(backends.payload(TOTAL, seed=77)), \
                "request %d: the body arrived byte-exact" % i
            assert waited[i][0], (
                "request %d: the client had the %d bytes sent before the "
                "backend's pause while the backend waited (it waited %.1f s "
                "in vain)" % (i, PART1 + PART2, waited[i][1]))
    finally:
        for g in mine:
            g.set()
        s.close()
    assert b.total_connections == 1, \
        "the second request went over the pooled backend connection " \
        "(backend connections: %d)" % b.total_connections
