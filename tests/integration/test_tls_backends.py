"""TLS to backends: `RProxyPass /app https://host:port/` talks TLS to the
backend and verifies its certificate (chain and name) unless
`RProxyTLSVerify Off` (a startup warning says so). A verification failure is
a 502 with an error-log line "certificate verify failed: <reason>" naming the
backend. RProxyTLSCACertificateFile/Path set the trust store (default: the
system store), RProxyTLSCertificateFile/KeyFile a client certificate,
RProxyTLSServerName the SNI and name to verify, RProxyTLSProtocolMin the
protocol floor (TLSv1.2 default) and RProxyTLSHandshakeTimeout bounds the
handshake. Pooled TLS connections are reused.

The PKI (a test CA; certificates for localhost, an expired one, one for
wrong.example only, a self-signed one, a client certificate) is made with
the `openssl` CLI once per module. The TLS backends are Debian's nginx;
responses carry nginx's view of the TLS connection in X-TLS-* headers."""

import re
import socket
import threading
import time

import pytest

import backends
import client
# the test PKI and the TLS nginx: pki.py (shared with
# test_upstream_forward_proxy.py)
from pki import CLIENT_CN, make_pki, tls_nginx

UNKNOWN_CA_REASON = re.compile(
    r"self[- ]signed certificate|unable to get local issuer certificate")


@pytest.fixture(scope="module")
def pki(request):
    return make_pki(request.config._rptest_base)


# --------------------------------------------------------------------------
# helpers


def https_pass(ng, host="localhost"):
    return "RProxyPass /app https://%s:%d/\n" % (host, ng.port)


def ca_file(pki):
    return "RProxyTLSCACertificateFile %s\n" % pki.ca


def assert_one_pooled_connection(conns, what):
    """conns: nginx's X-TLS-Conn of each response."""
    assert len(set(conns)) == 1, \
        "%s used one pooled TLS connection at the backend (nginx " \
        "connection numbers %r)" % (what, conns)


def verify_failed_lines(h):
    return [l for l in h.error_log.splitlines()
            if "certificate verify failed" in l]


def assert_verify_failure_logged(h, ng, reason_re, what):
    lines = verify_failed_lines(h)
    assert lines, "%s: the error log has a 'certificate verify failed' " \
        "line:\n%s" % (what, h.error_log)
    assert any(re.search(reason_re, l) for l in lines), \
        "%s: the line gives the reason (/%s/):\n%s" % (
            what, reason_re, "\n".join(lines))
    url = "https://localhost:%d" % ng.port
    assert any(url in l for l in lines), \
        "%s: the line names the backend %s:\n%s" % (what, url, "\n".join(lines))


# --------------------------------------------------------------------------
# 1. a trusted certificate


def test_trusted_backend_get_post_and_pooled_tls_reuse(httpd_factory, pki,
                                                      nginx_factory,
                                                      echo_backend):
    ng = tls_nginx(nginx_factory, pki, echo=echo_backend)
    h = httpd_factory(ca_file(pki) + https_pass(ng))

    r = client.get(h.port, "/app/echo/hello?x=1", timeout=15)
    assert r.status == 200, "GET through an https backend answers 200 (%r)\n%s" % (
        r, h.error_log)
    assert r.header("X-TLS-Protocol") in ("TLSv1.2", "TLSv1.3"), \
        "the backend saw a TLS connection (X-TLS-Protocol %r)" % r.header(
            "X-TLS-Protocol")
    info = r.json()
    assert info["method"] == "GET" and info["target"] == "/hello?x=1", \
        "the GET reached the backend with its target (%r)" % info["target"]

    body = backends.payload(100000, seed=21)
    r = client.request(h.port, "POST", "/app/echo/submit", body=body,
                       headers=[("Content-Type", "application/octet-stream")],
                       timeout=15)
    assert r.status == 200, "POST through an https backend answers 200 (%r)" % r
    info = r.json()
    assert info["body_sha256"] == backends.sha256(body), \
        "the POST body crossed TLS unchanged (sha256; got %d bytes)" % info[
            "body_len"]

    conns = []
    for i in range(5):
        # a fresh client connection each time: reuse must come from the pool
        r = client.get(h.port, "/app/seq%d" % i, timeout=15)
        assert r.status == 200, "sequential request %d answers 200 (%r)" % (i, r)
        conns.append(r.header("X-TLS-Conn"))
    assert_one_pooled_connection(conns, "5 sequential requests")


def test_large_bodies_cross_tls_byte_exact_on_one_pooled_connection(
        httpd_factory, pki, nginx_factory, backend_factory):
    """Bodies of many TLS records, read ahead several at a time: a 1 MiB +
    3 byte file (Content-Length) and a 300,001-byte chunked body, each
    three times, byte for byte, all on one pooled TLS connection."""
    big = backends.payload(1024 * 1024 + 3, seed=31)
    chunked = backends.payload(300001, seed=32)
    up = backend_factory(backends.make_download_handler(chunked, chunked=True,
                                                        piece=7001))
    ng = nginx_factory()
    c, k = pki.pair("good")
    ng.enable_tls(c, k, protocols="TLSv1.2 TLSv1.3")
    ng.add_file("big.bin", big)
    ng.server_extra = ("add_header X-TLS-Conn $connection always;\n"
                       "location /echo/ { proxy_pass http://127.0.0.1:%d/; "
                       "proxy_http_version 1.1; }\n" % up.port)
    ng.start()
    h = httpd_factory(ca_file(pki) + https_pass(ng))
    conns = []
    for i in range(3):
        for target, want in (("/app/big.bin", big), ("/app/echo/c", chunked)):
            r = client.get(h.port, target, timeout=30, hash_body=True)
            assert r.status == 200 and r.complete, \
                "%s through TLS answers 200, complete (%r)" % (target, r)
            assert r.body_len == len(want) and \
                r.sha256 == backends.sha256(want), \
                "%s arrived byte for byte (%d of %d bytes)" % (
                    target, r.body_len, len(want))
            conns.append(r.header("X-TLS-Conn"))
    assert_one_pooled_connection(conns, "six large responses")


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_slow_rest_after_abort_read_over_tls_and_connection_kept(
        httpd_factory, pki, nginx_factory, backend_factory, framing):
    """A client leaves 100 KiB into a 600 KiB download from an https
    backend whose rest comes late (nginx passing on, unbuffered, an
    upstream that pauses 0.5 s and 0.3 s): the request's thread does not
    wait for it, the child's background thread reads it through TLS and
    keeps the connection, and the next request goes over the same TLS
    connection (nginx's connection number): no second handshake."""
    data = backends.payload(600 * 1024, seed=33)
    up = backend_factory(backends.make_paced_rest_handler(
        data, (0, 200 * 1024, 300 * 1024, len(data)), (0, 0.5, 0.3),
        chunked=framing == "chunked"), name="paced")
    ng = tls_nginx(nginx_factory, pki, extra=(
        "location /slow/ { proxy_pass http://127.0.0.1:%d/; "
        "proxy_http_version 1.1; proxy_buffering off; }\n" % up.port))
    h = httpd_factory(ca_file(pki) + https_pass(ng))
    r = client.get(h.port, "/app/first", timeout=15)
    assert r.status == 200, "a first request answers 200 (%r)\n%s" % (
        r, h.error_log)
    first = r.header("X-TLS-Conn")
    h.mark_logs()
    got = client.read_then_close(h.port, "/app/slow/rest", 100 * 1024,
                                 rst=True)
    assert got >= 100 * 1024, "test setup: %d bytes before closing" % got
    # the upstream is done 0.8 s after its first piece (nginx then closes
    # its connection to it); the background thread polls every 20 ms
    deadline = time.monotonic() + 10
    while up.total_connections < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert up.wait_open_connections(0, 10) == 0, \
        "test setup: the paced upstream finished its answer"
    time.sleep(0.3)
    r = client.get(h.port, "/app/next", timeout=15)
    assert r.status == 200 and r.complete, "a request after the abort (%r)" % r
    assert r.header("X-TLS-Conn") == first, \
        "the rest was read in the background and the TLS connection kept: " \
        "the next request used nginx's connection %s, not a new one (%s)" % (
            first, r.header("X-TLS-Conn"))
    errs = h.error_level_lines(h.error_log_since_mark())
    assert not errs, "no error-level line:\n%s" % "\n".join(errs[:20])


def test_websocket_to_an_https_backend_with_a_greeting_after_the_101(
        httpd_factory, pki, nginx_factory, backend_factory):
    """An upgrade to an https backend: the frame the server sends right
    behind its 101 (read ahead with the head, or held by OpenSSL) reaches
    the client without waiting for anything else; then echoes up to 1 MiB
    both ways."""
    import wsutil
    state = wsutil.EchoState()
    hello = wsutil.encode_frame(wsutil.OP_TEXT, b"welcome", mask=False)
    ws = backend_factory(backends.route(
        [("/chat", wsutil.make_echo_handler(
            state, on_open=lambda conn: conn.send(hello)))]), name="ws-echo")
    ng = nginx_factory()
    c, k = pki.pair("good")
    ng.enable_tls(c, k, protocols="TLSv1.2 TLSv1.3")
    ng.server_extra = (
        "location /ws/ { proxy_pass http://127.0.0.1:%d/; "
        "proxy_http_version 1.1; proxy_set_header Upgrade $http_upgrade; "
        'proxy_set_header Connection "upgrade"; proxy_read_timeout 60s; }\n'
        % ws.port)
    ng.start()
    h = httpd_factory(ca_file(pki) + "RProxyPass /ws https://localhost:%d/ws\n"
                      % ng.port)
    s = client.connect(h.port, timeout=20)
    status, _, head = wsutil.client_handshake(s, "/ws/chat")
    assert status == 101, "the 101 crosses TLS to the client (%r)" % head
    rd = wsutil.FrameReader(s)
    f = rd.read_frame()
    assert f is not None and f.payload == b"welcome", \
        "the greeting sent right behind the 101 arrives first (%r)" % f
    for n in (5, 70000, 1024 * 1024):
        data = backends.payload(n, seed=n % 97)
        f = wsutil.round_trip(s, rd, wsutil.OP_BINARY, data)
        assert f is not None and f.payload == data, \
            "a %d-byte message is echoed byte for byte" % n
    f = wsutil.close_handshake(s, rd)
    assert f is not None and f.opcode == wsutil.OP_CLOSE, \
        "the close handshake completes (%r)" % f
    s.close()
    assert state.wait_finished(1, 10) == 1, "the server's side ended"


def test_routes_with_same_settings_share_context_and_each_resumes(
        httpd_factory, pki, nginx_factory):
    """Three https routes with the same RProxyTLS* settings share one TLS
    context (one parsed trust store, not three), and the context keeps a
    session per backend: with a new backend connection for every request,
    requests that alternate between two backends each resume their own
    backend's session. Two routes to the same backend share it too."""
    ng1 = tls_nginx(nginx_factory, pki)
    ng2 = tls_nginx(nginx_factory, pki)
    h = httpd_factory(
        ca_file(pki) + "RProxyMaxRequestsPerConnection 1\n"
        "RProxyPass /one https://localhost:%d/\n"
        "RProxyPass /two https://localhost:%d/\n"
        "RProxyPass /also-one https://localhost:%d/\n" % (ng1.port, ng2.port, ng1.port))
    seen = []
    for path in ["/one", "/two", "/one", "/two", "/also-one", "/two"]:
        r = client.get(h.port, path + "/x", timeout=15)
        assert r.status == 200, "%s answers 200 (%r)\n%s" % (path, r, h.error_log)
        seen.append((path, r.header("X-TLS-Reused"), r.header("X-TLS-Conn")))
    assert [s[1] for s in seen] == [".", ".", "r", "r", "r", "r"], \
        "the first connection to each backend is a full handshake, every " \
        "later one resumes that backend's session (path, nginx's " \
        "$ssl_session_reused, connection): %r" % seen


def test_settings_that_state_the_defaults_share_the_context(
        httpd_factory, pki, nginx_factory):
    """A virtual host that writes out the defaults (RProxyTLSVerify On,
    RProxyTLSProtocolMin TLSv1.2) has the same settings as one that leaves
    them out: one TLS context for both, so a connection made for one
    resumes the session the other's connection left."""
    ng = tls_nginx(nginx_factory, pki)
    h = httpd_factory(
        ca_file(pki) + "RProxyMaxRequestsPerConnection 1\n"
        "<VirtualHost 127.0.0.1:@PORT@>\n"
        "    ServerName plain.example\n"
        "    RProxyPass /one https://localhost:%d/\n"
        "</VirtualHost>\n"
        "<VirtualHost 127.0.0.1:@PORT@>\n"
        "    ServerName explicit.example\n"
        "    RProxyTLSVerify On\n"
        "    RProxyTLSProtocolMin TLSv1.2\n"
        "    RProxyPass /one https://localhost:%d/\n"
        "</VirtualHost>\n" % (ng.port, ng.port))
    seen = []
    for host in ["plain.example", "explicit.example", "explicit.example",
                 "plain.example"]:
        r = client.get(h.port, "/one/x", host=host, timeout=15)
        assert r.status == 200, "%s answers 200 (%r)\n%s" % (host, r,
                                                           h.error_log)
        seen.append((host, r.header("X-TLS-Reused")))
    assert [s[1] for s in seen] == [".", "r", "r", "r"], \
        "after the first full handshake every connection, from either " \
        "virtual host, resumes the one context's session: %r" % seen


def test_ca_certificate_path_is_a_trust_store(httpd_factory, pki,
                                              nginx_factory):
    ng = tls_nginx(nginx_factory, pki)
    h = httpd_factory("RProxyTLSCACertificatePath %s\n" % pki.ca_dir
                      + https_pass(ng))
    r = client.get(h.port, "/app/x", timeout=15)
    assert r.status == 200, "a CA found in RProxyTLSCACertificatePath is " \
        "trusted (%r)\n%s" % (r, h.error_log)


def test_ip_literal_url_verified_against_ip_san(httpd_factory, pki,
                                                nginx_factory):
    ng = tls_nginx(nginx_factory, pki)
    h = httpd_factory(ca_file(pki) + https_pass(ng, host="127.0.0.1"))
    r = client.get(h.port, "/app/x", timeout=15)
    assert r.status == 200, "https://127.0.0.1 matches the certificate's " \
        "IP:127.0.0.1 SAN (%r)\n%s" % (r, h.error_log)


# --------------------------------------------------------------------------
# 2. the name


def test_hostname_mismatch_is_502_and_server_name_overrides(httpd_factory,
                                                            pki,
                                                            nginx_factory):
    ng = tls_nginx(nginx_factory, pki, cert="wrong_host")
    h = httpd_factory(ca_file(pki) + https_pass(ng))
    r = client.get(h.port, "/app/x", timeout=15)
    assert r.status == 502, "a certificate for wrong.example at " \
        "https://localhost gives 502 (%r)" % r
    assert_verify_failure_logged(h, ng, r"hostname mismatch",
                                 "hostname mismatch")

    h2 = httpd_factory(ca_file(pki) + "RProxyTLSServerName wrong.example\n"
                       + https_pass(ng))
    r = client.get(h2.port, "/app/x", timeout=15)
    assert r.status == 200, "RProxyTLSServerName wrong.example makes that " \
        "certificate acceptable (%r)\n%s" % (r, h2.error_log)


# --------------------------------------------------------------------------
# 3. validity


def test_expired_certificate_is_502(httpd_factory, pki, nginx_factory):
    ng = tls_nginx(nginx_factory, pki, cert="expired")
    h = httpd_factory(ca_file(pki) + https_pass(ng))
    r = client.get(h.port, "/app/x", timeout=15)
    assert r.status == 502, "an expired backend certificate gives 502 (%r)" % r
    assert_verify_failure_logged(h, ng, r"certificate has expired", "expired")


# --------------------------------------------------------------------------
# 4. trust


def test_unknown_ca_is_502_unless_verify_off(httpd_factory, pki,
                                             nginx_factory):
    ng = tls_nginx(nginx_factory, pki, cert="self_signed")
    h = httpd_factory(ca_file(pki) + https_pass(ng))
    r = client.get(h.port, "/app/x", timeout=15)
    assert r.status == 502, "a self-signed backend certificate (not from " \
        "the configured CA) gives 502 (%r)" % r
    assert_verify_failure_logged(h, ng, UNKNOWN_CA_REASON.pattern,
                                 "unknown CA")
    assert "RProxyTLSVerify Off" not in h.error_log, \
        "no 'RProxyTLSVerify Off' warning when verification is on"

    h2 = httpd_factory(ca_file(pki) + "RProxyTLSVerify Off\n"
                       + https_pass(ng))
    r = client.get(h2.port, "/app/x", timeout=15)
    assert r.status == 200, "RProxyTLSVerify Off accepts the self-signed " \
        "certificate (%r)\n%s" % (r, h2.error_log)
    warn = [l for l in h2.error_log.splitlines()
            if "RProxyTLSVerify Off" in l and re.search(r":warn\]", l)]
    assert warn, "startup logs a warning (level warn) about RProxyTLSVerify " \
        "Off:\n%s" % h2.error_log


def test_default_trust_is_system_store(httpd_factory, pki, nginx_factory):
    # the test CA is in no system store: without RProxyTLSCACertificateFile
    # the good certificate is not trusted
    ng = tls_nginx(nginx_factory, pki)
    h = httpd_factory(https_pass(ng))
    r = client.get(h.port, "/app/x", timeout=15)
    assert r.status == 502, "without a CA file, a certificate from the test " \
        "CA is not trusted: 502 (%r)" % r
    assert_verify_failure_logged(h, ng, UNKNOWN_CA_REASON.pattern,
                                 "system store")


# --------------------------------------------------------------------------
# 5. client certificates


def test_client_certificate_for_mutual_tls(httpd_factory, pki, nginx_factory):
    ng = tls_nginx(nginx_factory, pki, client_ca=pki.ca)
    h = httpd_factory(ca_file(pki) + https_pass(ng))
    r = client.get(h.port, "/app/x", timeout=15)
    assert not 200 <= r.status < 300, "without RProxyTLSCertificateFile a " \
        "backend that requires a client certificate refuses the request " \
        "(nginx 400 or handshake failure 502; got %r)" % r

    cert, key = pki.pair("client")
    h2 = httpd_factory(ca_file(pki)
                       + "RProxyTLSCertificateFile %s\n" % cert
                       + "RProxyTLSCertificateKeyFile %s\n" % key
                       + https_pass(ng))
    r = client.get(h2.port, "/app/x", timeout=15)
    assert r.status == 200, "with the client certificate and key the " \
        "backend accepts the request (%r)\n%s" % (r, h2.error_log)
    dn = r.header("X-TLS-Client-DN") or ""
    assert "CN=" + CLIENT_CN in dn, \
        "the backend saw the client certificate's subject (%r)" % dn


# --------------------------------------------------------------------------
# 6. protocol floor


def test_protocol_min_tls13_refuses_tls12_backend(httpd_factory, pki,
                                                  nginx_factory):
    ng = tls_nginx(nginx_factory, pki, protocols="TLSv1.2")
    h = httpd_factory(ca_file(pki) + https_pass(ng))
    r = client.get(h.port, "/app/x", timeout=15)
    assert r.status == 200, "by default (TLSv1.2 floor) a TLSv1.2-only " \
        "backend is accepted (%r)\n%s" % (r, h.error_log)
    assert r.header("X-TLS-Protocol") == "TLSv1.2", \
        "that connection is TLSv1.2 (%r)" % r.header("X-TLS-Protocol")

    h2 = httpd_factory(ca_file(pki) + "RProxyTLSProtocolMin TLSv1.3\n"
                       + https_pass(ng))
    r = client.get(h2.port, "/app/x", timeout=15)
    assert r.status == 502, "RProxyTLSProtocolMin TLSv1.3 against a " \
        "TLSv1.2-only backend gives 502 (%r)" % r

    ng13 = tls_nginx(nginx_factory, pki)  # TLSv1.2 and TLSv1.3
    h3 = httpd_factory(ca_file(pki) + "RProxyTLSProtocolMin TLSv1.3\n"
                       + https_pass(ng13))
    r = client.get(h3.port, "/app/x", timeout=15)
    assert r.status == 200 and r.header("X-TLS-Protocol") == "TLSv1.3", \
        "with the TLSv1.3 floor a backend offering TLSv1.3 is used over " \
        "TLSv1.3 (%r, %r)\n%s" % (r, r.header("X-TLS-Protocol"), h3.error_log)


# --------------------------------------------------------------------------
# 7. configuration errors


@pytest.fixture
def tester(httpd_factory):
    return httpd_factory(start=False)


def test_missing_ca_file_refused_by_configtest(tester):
    res = tester.configtest("RProxyTLSCACertificateFile /nonexistent.pem\n"
                            "RProxyPass /app https://localhost:9/\n")
    assert res.rc != 0, "httpd -t refuses a missing CA file:\n%s" % res.output
    assert "RProxyTLSCACertificateFile" in res.output, \
        "the error names the directive:\n%s" % res.output
    assert "/nonexistent.pem" in res.output, \
        "the error names the file:\n%s" % res.output


def test_protocol_min_sslv3_refused(tester):
    res = tester.configtest("RProxyTLSProtocolMin SSLv3\n"
                            "RProxyPass /app https://localhost:9/\n")
    assert res.rc != 0, "httpd -t refuses RProxyTLSProtocolMin SSLv3:\n%s" % (
        res.output)
    assert "RProxyTLSProtocolMin" in res.output and "SSLv3" in res.output, \
        "the error names the directive and the value:\n%s" % res.output


def test_https_target_and_tls_directives_accepted(tester, pki):
    cert, key = pki.pair("client")
    res = tester.configtest(
        "RProxyTLSVerify On\n"
        "RProxyTLSCACertificateFile %s\n"
        "RProxyTLSCACertificatePath %s\n"
        "RProxyTLSCertificateFile %s\n"
        "RProxyTLSCertificateKeyFile %s\n"
        "RProxyTLSServerName backend.example\n"
        "RProxyTLSProtocolMin TLSv1.3\n"
        "RProxyTLSHandshakeTimeout 3s\n"
        "RProxyPass /app https://localhost:9/\n" % (pki.ca, pki.ca_dir,
                                                    cert, key))
    assert res.rc == 0, "a config using every TLS directive correctly " \
        "passes httpd -t:\n%s" % res.output


# --------------------------------------------------------------------------
# 8. handshake timeout


class SilentTlsPeer:
    """127.0.0.1:<port> accepts TCP connections and never says a word: a
    TLS handshake there never completes. Connections are held until
    close()."""

    def __init__(self):
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.lsock.settimeout(0.2)
        self.port = self.lsock.getsockname()[1]
        self.accepted = []
        self.stopping = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.stopping:
            try:
                s, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            self.accepted.append(s)

    def close(self):
        self.stopping = True
        self.t.join(2)
        for s in self.accepted:
            s.close()
        self.lsock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def test_handshake_timeout_bounded(httpd_factory):
    with SilentTlsPeer() as peer:
        h = httpd_factory("RProxyTLSHandshakeTimeout 1\n"
                          "RProxyConnectTimeout 10\n"
                          "RProxyPass /app https://localhost:%d/\n"
                          % peer.port)
        t0 = time.monotonic()
        r = client.get(h.port, "/app/x", timeout=15)
        took = time.monotonic() - t0
        assert r.status == 502, "a handshake that never completes gives " \
            "502 (%r)" % r
        assert 0.9 <= took < 3.5, "the 502 comes after about " \
            "RProxyTLSHandshakeTimeout 1s (%.2fs)" % took
        assert peer.accepted, "the proxy did connect to the silent peer"
