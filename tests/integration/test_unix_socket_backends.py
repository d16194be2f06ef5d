"""Backends on Unix domain sockets, written as mod_proxy writes them:
`RProxyPass /app/ unix:/run/app.sock|http://app.local/base/`. The connection
goes to the socket; the URL after '|' gives the scheme, the Host field and
the path. A relative socket path is under DefaultRuntimeDir. Pooled
connections are reused; a missing socket or one nobody listens on is a 502
naming the socket; balancer members may be sockets; TLS runs over a socket
too; an upstream proxy is never used for one. A rewrite rule's target may
not be a socket (its URL may carry the request's bytes), nor an
RProxyPassReverse URL. Bad socket targets are refused at startup with the
file, the line and the reason."""

import json
import os
import re
import shutil
import socket
import tempfile
import threading

import pytest

import backends
import client
import wsutil
from pki import NGINX_SERVER, make_pki


@pytest.fixture
def sockdir():
    """A short directory for sockets (a sockaddr_un holds 107 bytes; the
    test work directories are longer), removed afterwards."""
    d = tempfile.mkdtemp(prefix="rpu-", dir="/tmp")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def pki(request):
    return make_pki(request.config._rptest_base)


def unix_nginx(nginx_factory, path, extra=""):
    """nginx on 127.0.0.1 and on the socket at path; /who answers with the
    Host it got, the request target and nginx's connection number."""
    ng = nginx_factory()
    ng.listen_unix(path)
    ng.server_extra = extra + (
        'location = /who { return 200 "$http_host $request_uri $connection\\n"; }\n'
        'location = /base/who { return 200 "$http_host $request_uri '
        '$connection\\n"; }\n')
    return ng


def test_nginx_on_a_socket_serves_through_the_route(httpd_factory,
                                                    nginx_factory, sockdir):
    sock = os.path.join(sockdir, "ng.sock")
    ng = unix_nginx(nginx_factory, sock)
    data = backends.payload(300000, seed=7)
    ng.add_file("big.bin", data)
    ng.start()
    h = httpd_factory("RProxyPass /app/ unix:%s|http://app.internal/\n"
                      "RProxyPass /b/ unix:%s|http://app.internal:8080/base/\n"
                      % (sock, sock))
    r = client.get(h.port, "/app/big.bin", timeout=15)
    assert r.status == 200 and r.body == data, \
        "a 300,000-byte file comes whole through the socket (%r)" % r
    seen = []
    with client.Session(h.port) as c:
        for _ in range(5):
            r = c.request("GET", "/app/who")
            assert r.status == 200, "GET /app/who (%r)" % r
            seen.append(r.body.decode().split())
    assert all(s[:2] == ["app.internal", "/who"] for s in seen), \
        "nginx saw the URL's host in Host and the mapped path (%r)" % seen
    assert len({s[2] for s in seen}) == 1, \
        "the five requests shared one pooled connection to the socket " \
        "(nginx connection numbers %r)" % [s[2] for s in seen]
    r = client.get(h.port, "/b/who?x=1", timeout=15)
    assert r.status == 200 and \
        r.body.decode().split()[:2] == ["app.internal:8080", "/base/who?x=1"], \
        "a port in the URL goes into Host; the base path joins (%r)" % r


def test_scripted_backend_on_a_socket(httpd_factory, backend_factory,
                                      sockdir):
    b = backend_factory(backends.echo_handler, name="unix-echo",
                        unix_path=os.path.join(sockdir, "b.sock"))
    h = httpd_factory("RProxyPass /app/ %s/api/\n" % b.url)
    body = backends.payload(100000, seed=3)
    with client.Session(h.port) as c:
        r = c.request("POST", "/app/items?n=1", body=body,
                      headers=[("Content-Type", "application/octet-stream")])
        assert r.status == 200, "POST through the socket (%r)" % r
        info = json.loads(r.body)
        assert info["body_len"] == len(body) and \
            info["body_sha256"] == backends.sha256(body), \
            "the backend got the request body whole"
        assert info["target"] == "/api/items?n=1", \
            "path and query mapped (%r)" % info["target"]
        hdrs = {k.lower(): v for k, v in info["headers"]}
        assert hdrs.get("host") == "localhost", \
            "Host is the URL's host (%r)" % hdrs.get("host")
        assert hdrs.get("x-forwarded-for") == "127.0.0.1", \
            "X-Forwarded-For is the client's address, as for TCP backends"
        for _ in range(4):
            r = c.request("GET", "/app/again")
            assert r.status == 200, "GET (%r)" % r
    assert b.total_connections == 1, \
        "one backend connection carried all five requests (%d)" % \
        b.total_connections


def test_websocket_tunnel_over_a_socket(httpd_factory, backend_factory,
                                        sockdir):
    state = wsutil.EchoState()
    b = backend_factory(backends.route(
        [("/chat", wsutil.make_echo_handler(state))],
        default=backends.echo_handler), name="ws-unix",
        unix_path=os.path.join(sockdir, "ws.sock"))
    h = httpd_factory("RProxyPass /ws/ %s/\n" % b.url)
    s = client.connect(h.port, timeout=10)
    try:
        status, _, text = wsutil.client_handshake(s, "/ws/chat")
        assert status == 101, "the socket backend's 101 (%r)" % text
        rd = wsutil.FrameReader(s)
        for n in (5, 70000):
            data = backends.payload(n, seed=n)
            f = wsutil.round_trip(s, rd, wsutil.OP_BINARY, data)
            assert f is not None and f.payload == data, \
                "a %d-byte frame is echoed through the socket" % n
        f = wsutil.close_handshake(s, rd)
        assert f is not None and f.opcode == wsutil.OP_CLOSE, \
            "the close handshake completes (%r)" % f
    finally:
        s.close()
    assert state.wait_finished(1, 10) == 1, "the backend's side ended"
    assert b.wait_open_connections(0, timeout=10) == 0, \
        "the tunnel's connection to the socket was closed, not pooled"


def test_preserve_host_over_a_socket(httpd_factory, backend_factory, sockdir):
    b = backend_factory(backends.echo_handler, name="unix-echo",
                        unix_path=os.path.join(sockdir, "b.sock"))
    h = httpd_factory("RProxyPreserveHost On\nRProxyPass /app/ %s/\n" % b.url)
    r = client.get(h.port, "/app/x", host="www.example.org")
    hdrs = {k.lower(): v for k, v in json.loads(r.body)["headers"]}
    assert hdrs.get("host") == "www.example.org", \
        "RProxyPreserveHost sends the client's Host (%r)" % hdrs.get("host")


def test_relative_socket_path_is_under_default_runtime_dir(
        httpd_factory, backend_factory):
    h = httpd_factory("RProxyPass /app/ unix:app.sock|http://localhost/\n",
                      start=False)
    run = os.path.join(h.workdir, "run")
    os.makedirs(run, exist_ok=True)
    path = os.path.join(run, "app.sock")
    assert len(path) <= 107, "test setup: the work directory is short enough"
    b = backend_factory(backends.echo_handler, name="unix-rel",
                        unix_path=path)
    h.start()
    r = client.get(h.port, "/app/rel")
    assert r.status == 200 and json.loads(r.body)["target"] == "/rel", \
        "unix:app.sock is DefaultRuntimeDir/app.sock (%r)" % r
    assert b.total_connections == 1


def test_missing_or_dead_socket_is_502_naming_it(httpd_factory, sockdir):
    missing = os.path.join(sockdir, "none.sock")
    dead = os.path.join(sockdir, "dead.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(dead)  # bound, never listening: connect() is refused
    os.chmod(dead, 0o666)
    try:
        h = httpd_factory("RProxyConnectRetries 0\n"
                          "RProxyPass /m/ unix:%s|http://localhost/\n"
                          "RProxyPass /d/ unix:%s|http://localhost/\n"
                          % (missing, dead))
        h.mark_logs()
        r = client.get(h.port, "/m/x", timeout=15)
        assert r.status == 502 and r.complete, "no socket file: 502 (%r)" % r
        r2 = client.get(h.port, "/d/x", timeout=15)
        assert r2.status == 502 and r2.complete, \
            "nobody listening: 502 (%r)" % r2
        log = h.error_log_since_mark()
        assert re.search(r"unix:%s.*No such file or directory" %
                         re.escape(missing), log), \
            "the log names the missing socket and the error:\n%s" % log
        assert re.search(r"unix:%s.*Connection refused" % re.escape(dead),
                         log), \
            "the log names the dead socket and the error:\n%s" % log
    finally:
        s.close()


def test_socket_that_appears_is_found_by_the_retries(httpd_factory,
                                                     backend_factory,
                                                     sockdir):
    """A server restarting removes its socket and makes it again: a missing
    socket is tried again like a refused connection (RProxyConnectRetries
    3: after 50, 100 and 150 ms), so a request in that moment does not
    fail."""
    path = os.path.join(sockdir, "late.sock")
    h = httpd_factory("RProxyConnectRetries 3\n"
                      "RProxyPass /app/ unix:%s|http://localhost/\n" % path)
    made = []
    timer = threading.Timer(0.08, lambda: made.append(backend_factory(
        backends.echo_handler, name="late", unix_path=path)))
    timer.start()
    try:
        r = client.get(h.port, "/app/x", timeout=15)
    finally:
        timer.join()
    assert made, "test setup: the backend started"
    assert r.status == 200 and made[0].total_connections == 1, \
        "the request waited for the socket through the retries (%r)\n%s" \
        % (r, h.error_log)


def test_balancer_with_socket_and_tcp_members(httpd_factory, backend_factory,
                                              sockdir):
    def tagged(tag):
        def handler(req, conn):
            conn.send_response(200, [("Content-Type", "text/plain")],
                               tag.encode())
        return handler
    u = backend_factory(tagged("unix"), name="m-unix",
                        unix_path=os.path.join(sockdir, "m.sock"))
    t = backend_factory(tagged("tcp"), name="m-tcp")
    h = httpd_factory("<RProxyBalancer app>\n"
                      "  RProxyMember %s\n"
                      "  RProxyMember %s\n"
                      "</RProxyBalancer>\n"
                      "RProxyPass /lb/ balancer://app/\n" % (u.url, t.url),
                      threads=4)
    got = [client.get(h.port, "/lb/%d" % i).body for i in range(8)]
    assert got.count(b"unix") == 4 and got.count(b"tcp") == 4, \
        "round robin alternates the socket and the TCP member (%r)" % got


def test_tls_over_a_socket(httpd_factory, nginx_factory, pki, sockdir):
    sock = os.path.join(sockdir, "tls.sock")
    ng = nginx_factory()
    c, k = pki.pair("good")
    ng.enable_tls(c, k, protocols="TLSv1.2 TLSv1.3")
    ng.listen_unix(sock)
    ng.server_extra = NGINX_SERVER
    ng.start()
    h = httpd_factory("RProxyTLSCACertificateFile %s\n"
                      "RProxyPass /s/ unix:%s|https://localhost/\n"
                      % (pki.ca, sock))
    conns = []
    with client.Session(h.port) as c:
        for _ in range(3):
            r = c.request("GET", "/s/t")
            assert r.status == 200 and r.body == b"tls-ok\n" and \
                (r.header("X-TLS-Protocol") or "").startswith("TLSv1."), \
                "https through the socket, the certificate checked for " \
                "localhost (%r)\n%s" % (r, h.error_log)
            conns.append(r.header("X-TLS-Conn"))
    assert len(set(conns)) == 1, \
        "the TLS connection over the socket is pooled (%r)" % conns


def test_upstream_proxy_is_not_used_for_a_socket(httpd_factory,
                                                 backend_factory, sockdir):
    dead, port = backends.bound_unlistened_port()
    try:
        b = backend_factory(backends.echo_handler, name="unix-echo",
                            unix_path=os.path.join(sockdir, "b.sock"))
        h = httpd_factory("RProxyUpstreamProxy http://127.0.0.1:%d\n"
                          "RProxyPass /app/ %s/\n" % (port, b.url))
        r = client.get(h.port, "/app/direct", timeout=15)
        assert r.status == 200 and \
            json.loads(r.body)["target"] == "/direct", \
            "the socket is reached directly, not through the (dead) " \
            "upstream proxy (%r)" % r
    finally:
        dead.close()


def test_rewrite_rule_may_not_target_a_socket(httpd_factory, backend_factory,
                                              sockdir):
    b = backend_factory(backends.echo_handler, name="unix-echo",
                        unix_path=os.path.join(sockdir, "b.sock"))
    h = httpd_factory("LoadModule rewrite_module "
                      "/usr/lib/apache2/modules/mod_rewrite.so\n"
                      "RewriteEngine On\n"
                      "RewriteRule ^/r/(.*) - [E=rproxy-target:%s/$1,"
                      "H=rproxy]\n" % b.url)
    h.mark_logs()
    r = client.get(h.port, "/r/x")
    assert r.status == 500, "a rule's unix: target is refused (%r)" % r
    assert b.total_connections == 0, "nothing reached the socket"
    log = h.error_log_since_mark()
    assert "rproxy-target" in log and "unix: socket target" in log, \
        "the log says why:\n%s" % log


# (snippet, the line with the bad value, what the reason must say)
BAD = {
    "no-bar": ("RProxyPass /x unix:/run/app.sock", 1, "unix:/path|http"),
    "not-http": ("RProxyPass /x unix:/run/app.sock|ftp://localhost/", 1,
                 "http:// or https://"),
    "too-long": ("RProxyPass /x unix:/%s|http://localhost/" % ("s" * 120), 1,
                 "too long"),
    "control-char": ("RProxyPass /x \"unix:/run/a\tb.sock|http://h/\"", 1,
                     "control character"),
    "member-no-bar": ("<RProxyBalancer b>\nRProxyMember unix:/run/a.sock\n"
                      "</RProxyBalancer>", 2, "unix:/path|http"),
    "member-path": ("<RProxyBalancer b>\n"
                    "RProxyMember unix:/run/a.sock|http://h/x\n"
                    "</RProxyBalancer>", 2, "the path comes from"),
    "pass-reverse": ("RProxyPass /x/ http://127.0.0.1:9/\n"
                     "RProxyPassReverse /x/ unix:/run/a.sock|http://h/", 2,
                     "unix:/run/a.sock"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_socket_targets_refused_with_file_and_line(httpd_factory, case):
    snippet, line, reason = BAD[case]
    tester = httpd_factory(start=False)
    tester.configtest(snippet + "\n").assert_refused(case, line, reason)


def test_dump_shows_socket_targets(httpd_factory):
    tester = httpd_factory(start=False)
    res = tester.configtest("RProxyPass /app/ unix:/run/a.sock|http://h/b/\n",
                            defines=["DUMP_RPROXY"])
    assert res[0] == 0, res[1]
    assert "unix:/run/a.sock|http://h/b/" in res[1], \
        "the dump shows the socket target as written:\n%s" % res[1]
