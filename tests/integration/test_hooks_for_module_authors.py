"""Other modules shape the exchange through the optional hooks installed
with mod_rproxy (mod_rproxy_hooks.h), like Go's Rewrite, ModifyResponse and
ErrorHandler. A test module (mod_rproxy_testhooks.c, built here with apxs)
registers all three: rewrite adds a header, replaces the target or refuses
with 403; modify_response changes the status and headers or refuses with
451; error turns a 502 into a 503."""

import os
import shutil
import subprocess
import tempfile

import pytest

import backends
import client

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


@pytest.fixture(scope="module")
def hooks_module(request):
    apxs = shutil.which("apxs") or shutil.which("apxs2")
    assert apxs, "apxs (apache2-dev) is needed to build the test hooks module"
    d = os.path.join(request.config._rptest_base, "testhooks")
    os.makedirs(d, exist_ok=True)
    shutil.copy(os.path.join(HERE, "mod_rproxy_testhooks.c"), d)
    r = subprocess.run([apxs, "-c", "-I", os.path.join(REPO, "mod_rproxy"),
                        "-Wc,-Wall", "-Wc,-Werror", "mod_rproxy_testhooks.c"],
                       cwd=d, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert r.returncode == 0, "the test module builds against the installed-style " \
        "header:\n%s" % r.stdout.decode("utf-8", "replace")
    so = os.path.join(d, ".libs", "mod_rproxy_testhooks.so")
    for p in (d, os.path.dirname(so)):
        os.chmod(p, 0o755)
    return so


def _hooked(httpd_factory, hooks_module, conf):
    """httpd with the test hooks module loaded and conf."""
    return httpd_factory("LoadModule rproxy_testhooks_module %s\n%s"
                         % (hooks_module, conf))


def _route_and_chosen(backend_factory, route_name):
    """Two echo backends: the route's, and one for the hook to choose."""
    return (backend_factory(backends.echo_handler, name=route_name),
            backend_factory(backends.echo_handler, name="chosen-b"))


def _headers(r):
    return {n.lower(): v for n, v in r.json()["headers"]}


def _modify_handler(req, conn):
    extra = [("X-Test-Modify", "1")] if "modify" in req.target else []
    if "refuse" in req.target:
        extra = [("X-Test-Refuse", "1")]
    conn.send_json(req.summary(), headers=extra)


def test_rewrite_hook_edits_the_outgoing_request(httpd_factory, echo_backend, hooks_module):
    h = httpd_factory("LoadModule rproxy_testhooks_module %s\n"
                      "RProxyPass /app %s/\n" % (hooks_module, echo_backend.url))
    r = client.get(h.port, "/app/x")
    assert r.status == 200, "the request goes through"
    hdrs = _headers(r)
    assert hdrs.get("x-hooked") == "rewrite", "a header added by the rewrite hook reaches the backend"
    assert hdrs.get("x-hooked-backend") == echo_backend.url, "the hook sees the backend"
    r = client.get(h.port, "/app/x", headers=[("X-Test-Target", "/elsewhere?q=1")])
    assert r.json()["target"] == "/elsewhere?q=1", "the hook can replace the target"
    r = client.get(h.port, "/app/x", headers=[("X-Test-Deny", "1")])
    assert r.status == 403, "a refusal from the rewrite hook is the client's status (%r)" % r
    assert "error=http_request_denied" in (r.header("Proxy-Status") or ""), \
        "a hook's 4xx refusal is http_request_denied (%r)" % r.headers
    assert len([q for q in echo_backend.requests if q["target"] == "/x"]) == 1, \
        "a refused request never reaches the backend"


def test_modify_response_hook(httpd_factory, backend_factory, hooks_module):
    b = backend_factory(_modify_handler, name="modify")
    h = httpd_factory("LoadModule rproxy_testhooks_module %s\n"
                      "RProxyPass /app %s/\n" % (hooks_module, b.url))
    r = client.get(h.port, "/app/modify")
    assert r.status == 203, "the hook changed the status (%r)" % r
    assert r.header("X-Hooked") == "response", "and added a response header"
    r = client.get(h.port, "/app/refuse")
    assert r.status == 451, "a refusal from modify_response is the client's status (%r)" % r
    assert "error=http_request_denied" in (r.header("Proxy-Status") or ""), \
        "a hook's 4xx refusal is http_request_denied (%r)" % r.headers


def test_error_hook_decides_the_status(httpd_factory, hooks_module):
    port = backends.free_port()
    h = httpd_factory("LoadModule rproxy_testhooks_module %s\n"
                      "RProxyConnectRetries 0\n"
                      "RProxyPass /app http://127.0.0.1:%d/\n" % (hooks_module, port))
    r = client.get(h.port, "/app/hard")
    assert r.status == 502, "the default for an unreachable backend is 502"
    r = client.get(h.port, "/app/soft")
    assert r.status == 503, "the error hook turned it into 503 (%r)" % r
    assert "connect" in (r.header("X-Hooked-Fault") or ""), \
        "the hook was told what failed (%r)" % r.header("X-Hooked-Fault")
    assert r.header("X-Hooked-Fault-Type") == "connection_refused", \
        "the hook finds the RFC 9209 type in the note rproxy-fault (%r)" % (
            r.header("X-Hooked-Fault-Type"),)
    assert "error=connection_refused" in (r.header("Proxy-Status") or ""), \
        "the hook's 503 still carries Proxy-Status (%r)" % r.headers


def test_rewrite_hook_sends_the_request_to_another_backend(
        httpd_factory, backend_factory, hooks_module):
    """out->backend is writable (Go's SetURL): the request goes there, Host
    follows it, the route's backend sees nothing; with RProxyPreserveHost
    the client's Host stays."""
    a, b = _route_and_chosen(backend_factory, "route-a")
    h = _hooked(httpd_factory, hooks_module,
                "RProxyPass /app %s/base\n"
                "<Location /kept>\n"
                "  RProxyPass %s/base\n"
                "  RProxyPreserveHost On\n"
                "</Location>\n" % (a.url, a.url))
    r = client.get(h.port, "/app/x?q=1", headers=[("X-Test-Backend", b.url)])
    assert r.status == 200, "the request is answered (%r)" % r
    assert r.json()["target"] == "/base/x?q=1", \
        "the route's path mapping still applies (%r)" % r.json()["target"]
    assert len(b.requests) == 1 and not a.requests, \
        "the request reached the hook's backend only (%d, %d)" % (
            len(b.requests), len(a.requests))
    assert _headers(r)["host"] == b.hostport, \
        "Host names the new backend (%r)" % _headers(r)["host"]
    r = client.get(h.port, "/kept/y", headers=[("X-Test-Backend", b.url),
                                               ("Host", "front.example")])
    assert r.status == 200 and _headers(r)["host"] == "front.example", \
        "with RProxyPreserveHost the client's Host stays (%r)" % r
    assert len(b.requests) == 2 and not a.requests


@pytest.mark.parametrize("bad", ["ftp://127.0.0.1:21", "http://127.0.0.1:1/x",
                                 "http://127.0.0.1:1?q", "not a url"],
                         ids=["scheme", "path", "query", "text"])
def test_rewrite_hook_bad_backend_is_500_and_logged(
        httpd_factory, echo_backend, hooks_module, bad):
    h = _hooked(httpd_factory, hooks_module,
                "RProxyPass /app %s/\n" % echo_backend.url)
    h.mark_logs()
    r = client.get(h.port, "/app/x", headers=[("X-Test-Backend", bad)])
    assert r.status == 500, "a malformed backend from a hook is 500 (%r)" % r
    assert "error=proxy_internal_error" in (r.header("Proxy-Status") or ""), \
        "Proxy-Status says the proxy failed (%r)" % r.headers
    log = h.error_log_since_mark()
    assert "rewrite hook set the backend \"%s\"" % bad in log, \
        "the log names the hook's value:\n%s" % log
    assert not echo_backend.requests, "nothing reached any backend"


def test_rewrite_hook_may_choose_an_https_backend(
        request, httpd_factory, echo_backend, nginx_factory, hooks_module):
    """An https backend chosen by a hook uses the server's RProxyTLS*
    settings (here the test CA), as a mod_rewrite rule's target does."""
    from pki import make_pki, tls_nginx
    pki = make_pki(request.config._rptest_base)
    ng = tls_nginx(nginx_factory, pki, echo=echo_backend)
    h = _hooked(httpd_factory, hooks_module,
                "RProxyTLSCACertificateFile %s\n"
                "RProxyPass /app %s/\n" % (pki.ca, echo_backend.url))
    r = client.get(h.port, "/app/echo/z", timeout=15,
                   headers=[("X-Test-Backend", "https://localhost:%d"
                             % ng.port)])
    assert r.status == 200, "answered through TLS (%r)\n%s" % (r, h.error_log)
    assert r.header("X-TLS-Protocol") in ("TLSv1.2", "TLSv1.3"), \
        "the backend saw TLS (%r)" % r.headers
    assert r.json()["target"] == "/z", "nginx passed /echo/z on as /z (%r)" % (
        r.json()["target"])


def test_rewrite_hook_sees_and_may_choose_socket_backends(
        httpd_factory, backend_factory, hooks_module):
    """A route on a Unix domain socket shows its backend to the hook as
    "unix:/path|http://host"; a hook may send a request to a socket
    backend, and from it to a TCP one."""
    d = tempfile.mkdtemp(prefix="rpu-", dir="/tmp")
    try:
        os.chmod(d, 0o755)
        a = backend_factory(backends.echo_handler, name="tcp-a")
        u = backend_factory(backends.echo_handler, name="unix-u",
                            unix_path=os.path.join(d, "u.sock"))
        h = _hooked(httpd_factory, hooks_module,
                    "RProxyPass /app %s/\nRProxyPass /sock %s/\n"
                    % (a.url, u.url))
        r = client.get(h.port, "/sock/x")
        assert r.status == 200 and \
            _headers(r)["x-hooked-backend"] == u.url, \
            "the hook saw the socket route's backend as written (%r)" % r
        r = client.get(h.port, "/app/y", headers=[("X-Test-Backend", u.url)])
        assert r.status == 200 and len(u.requests) == 2 and \
            not a.requests and _headers(r)["host"] == "localhost", \
            "the hook sent the request to the socket, Host followed (%r)" % r
        r = client.get(h.port, "/sock/z", headers=[("X-Test-Backend", a.url)])
        assert r.status == 200 and len(a.requests) == 1 and \
            _headers(r)["host"] == a.hostport, \
            "and from the socket's route to a TCP backend (%r)" % r
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_rewrite_hook_takes_a_request_out_of_its_balancer(
        httpd_factory, backend_factory, hooks_module):
    """On a balancer route, a hook's backend wins: the member chosen gets
    nothing and the response carries no sticky cookie naming it."""
    a, b = _route_and_chosen(backend_factory, "member-a")
    h = _hooked(httpd_factory, hooks_module,
                "<RProxyBalancer pool>\n"
                "  RProxyMember %s\n"
                "  RProxyStickyCookie RPSTICKY\n"
                "</RProxyBalancer>\n"
                "RProxyPass /app balancer://pool/\n" % a.url)
    r = client.get(h.port, "/app/x")
    assert r.status == 200 and "RPSTICKY=" in (r.header("Set-Cookie") or ""), \
        "test setup: the balancer's member answers with its cookie (%r)" % r
    r = client.get(h.port, "/app/y", headers=[("X-Test-Backend", b.url)])
    assert r.status == 200 and len(b.requests) == 1 and len(a.requests) == 1, \
        "the hook's backend answered, the member got nothing more (%r)" % r
    assert not r.header("Set-Cookie"), \
        "no sticky cookie names a member that did not answer (%r)" % (
            r.header("Set-Cookie"),)
