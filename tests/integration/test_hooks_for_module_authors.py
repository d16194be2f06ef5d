"""Other modules shape the exchange through the optional hooks installed
with mod_rproxy (mod_rproxy_hooks.h), like Go's Rewrite, ModifyResponse and
ErrorHandler. A test module (mod_rproxy_testhooks.c, built here with apxs)
registers all three: rewrite adds a header, replaces the target or refuses
with 403; modify_response changes the status and headers or refuses with
451; error turns a 502 into a 503."""

import os
import shutil
import subprocess

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
