"""50 MB bodies stream through the proxy: uploads and downloads arrive
unchanged (SHA-256 compared at both ends) while the httpd child's RSS grows
by less than 10 MB (sampled during the transfer, against a baseline taken
after a warm-up request).  Downloads come from a real server (Debian's
nginx) and from a scripted chunked backend."""

import threading
import time

import pytest

import backends
import client

SIZE = 50 * 1024 * 1024
RSS_BOUND_KB = 10 * 1024


class RssSampler:
    def __init__(self, httpd, period=0.02):
        self.httpd = httpd
        self.period = period
        self.max_kb = 0
        self.samples = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            kb = self.httpd.rss_kb()
            self.max_kb = max(self.max_kb, kb)
            self.samples += 1
            self._stop.wait(self.period)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join(5)


def _warm_up(h, prefix):
    """A few smaller transfers so that buffers and pools exist before the
    baseline is taken."""
    small = backends.payload(2 * 1024 * 1024, seed=3)
    for _ in range(2):
        r = client.request(h.port, "POST", prefix + "/warm", body=small,
                           timeout=30)
        assert r.status == 200, "warm-up upload answers 200 (%r)" % r
    time.sleep(0.2)
    return h.rss_kb()


@pytest.mark.timeout_s(180)
def test_download_50mb_from_nginx(httpd_factory, nginx_factory, echo_backend):
    ng = nginx_factory()
    data = backends.payload(SIZE)
    path = ng.add_file("big.bin", data)
    ng.add_file("small.bin", data[:2 * 1024 * 1024])
    ng.start()
    want = backends.sha256(data)
    h = httpd_factory("RProxyPass /ng %s/\nRProxyPass /echo %s/\n"
                      % (ng.url, echo_backend.url))
    r = client.get(h.port, "/ng/small.bin", hash_body=True, sink=lambda d: None,
                   timeout=30)
    assert r.status == 200, "warm-up download from nginx answers 200 (%r)" % r
    base = _warm_up(h, "/echo")
    with RssSampler(h) as rss:
        r = client.get(h.port, "/ng" + path, hash_body=True,
                       sink=lambda d: None, timeout=30)
    assert r.status == 200, "50 MB download from nginx answers 200 (%r)" % r
    assert r.complete, "the download is complete and well framed (%r)" % r
    assert r.body_len == SIZE, "all 50 MB arrived (%d bytes)" % r.body_len
    assert r.sha256 == want, "the downloaded bytes have the file's SHA-256"
    assert rss.samples > 0 and base > 0, "RSS of the httpd child was sampled"
    assert rss.max_kb - base < RSS_BOUND_KB, \
        "child RSS grew by less than 10 MB during the download (baseline %d kB, max %d kB)" % (
            base, rss.max_kb)


@pytest.mark.timeout_s(180)
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_upload_50mb(httpd_factory, echo_backend, chunked):
    data = backends.payload(SIZE, seed=4)
    want = backends.sha256(data)
    h = httpd_factory("RProxyPass /echo %s/\n" % echo_backend.url)
    base = _warm_up(h, "/echo")
    with RssSampler(h) as rss:
        r = _upload(h.port, "/echo/upload", data, chunked)
    assert r.status == 200, "50 MB upload answers 200 (%r)" % r
    info = r.json()
    assert info["body_len"] == SIZE, "the backend received all 50 MB (%d)" % info["body_len"]
    assert info["body_sha256"] == want, "the backend received the bytes unchanged (SHA-256)"
    assert rss.max_kb - base < RSS_BOUND_KB, \
        "child RSS grew by less than 10 MB during the upload (baseline %d kB, max %d kB)" % (
            base, rss.max_kb)


@pytest.mark.timeout_s(180)
def test_download_50mb_chunked_scripted(httpd_factory, backend_factory, echo_backend):
    data = backends.payload(SIZE, seed=8)
    b = backend_factory(backends.make_download_handler(data, chunked=True))
    h = httpd_factory("RProxyPass /dl %s/\nRProxyPass /echo %s/\n"
                      % (b.url, echo_backend.url))
    base = _warm_up(h, "/echo")
    with RssSampler(h) as rss:
        r = client.get(h.port, "/dl/big", hash_body=True, sink=lambda d: None,
                       timeout=30)
    assert r.status == 200, "50 MB chunked download answers 200 (%r)" % r
    assert r.complete, "the download ends with a well-framed end (%r)" % r
    assert r.body_len == SIZE and r.sha256 == backends.sha256(data), \
        "the chunked 50 MB body arrived unchanged (SHA-256)"
    assert rss.max_kb - base < RSS_BOUND_KB, \
        "child RSS grew by less than 10 MB during the download (baseline %d kB, max %d kB)" % (
            base, rss.max_kb)


def _upload(port, target, data, chunked, piece=256 * 1024):
    """Stream `data` as the request body (Content-Length or chunked)."""
    s = client.connect(port, timeout=30)
    try:
        head = ["PUT %s HTTP/1.1" % target, "Host: 127.0.0.1:%d" % port,
                "Content-Type: application/octet-stream"]
        head.append("Transfer-Encoding: chunked" if chunked
                    else "Content-Length: %d" % len(data))
        t0 = time.monotonic()
        s.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        view = memoryview(data)
        for off in range(0, len(data), piece):
            part = view[off:off + piece]
            if chunked:
                s.sendall(b"%x\r\n" % len(part))
                s.sendall(part)
                s.sendall(b"\r\n")
            else:
                s.sendall(part)
        if chunked:
            s.sendall(b"0\r\n\r\n")
        return client.read_response(s, "PUT", t0=t0)
    finally:
        s.close()
