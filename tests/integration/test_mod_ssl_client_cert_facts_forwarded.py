"""mod_ssl client-certificate facts reach the backend as request headers,
the documented way (docs/directives.md, "Client certificates and other TLS
facts"): mod_headers' `RequestHeader set X-Client-DN "%{SSL_CLIENT_S_DN}s"`
runs before mod_rproxy builds the request, so the backend gets the DN of
the certificate the client really presented, and a client's own X-Client-DN
is replaced (or, with no certificate, removed). The front is httpd with
mod_ssl and `SSLVerifyClient optional`; the client certificate comes from
the test CA (pki.py)."""

import http.client
import json
import ssl

import pytest

from pki import CLIENT_CN, make_pki

MODDIR = "/usr/lib/apache2/modules"


@pytest.fixture(scope="module")
def pki(request):
    return make_pki(request.config._rptest_base)


def https_front(pki, backend_url):
    cert, key = pki.pair("good")
    return (
        "LoadModule ssl_module %s/mod_ssl.so\n"
        "LoadModule headers_module %s/mod_headers.so\n"
        "SSLEngine on\n"
        "SSLCertificateFile %s\n"
        "SSLCertificateKeyFile %s\n"
        "SSLCACertificateFile %s\n"
        "SSLVerifyClient optional\n"
        "SSLVerifyDepth 2\n"
        "RequestHeader unset X-Client-DN\n"
        "RequestHeader set X-Client-DN \"%%{SSL_CLIENT_S_DN}s\" "
        "\"expr=%%{SSL_CLIENT_VERIFY} == 'SUCCESS'\"\n"
        "RProxyPass /app %s/\n"
        % (MODDIR, MODDIR, cert, key, pki.ca, backend_url))


def https_get(port, pki, with_cert, headers):
    ctx = ssl.create_default_context(cafile=pki.ca)
    if with_cert:
        ctx.load_cert_chain(*pki.pair("client"))
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx,
                                       timeout=10)
    try:
        conn.request("GET", "/app/x", headers=dict(headers))
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status == 200, \
            "proxied GET over TLS answers 200 (%d %r)" % (resp.status, body)
        sent = {}
        for n, v in json.loads(body)["headers"]:
            sent.setdefault(n.lower(), []).append(v)
        return sent
    finally:
        conn.close()


def test_client_dn_from_mod_ssl_reaches_backend(httpd_factory, echo_backend,
                                                pki):
    h = httpd_factory(https_front(pki, echo_backend.url))
    sent = https_get(h.port, pki, True, [("X-Client-DN", "CN=admin")])
    assert sent.get("x-client-dn") == ["CN=%s" % CLIENT_CN], \
        "the backend gets the presented certificate's subject DN, not the " \
        "client's own X-Client-DN (got %r)" % sent.get("x-client-dn")
    assert sent.get("x-forwarded-proto") == ["https"], \
        "X-Forwarded-Proto is https on a mod_ssl connection (got %r)" % \
        sent.get("x-forwarded-proto")


def test_spoofed_client_dn_removed_without_certificate(httpd_factory,
                                                       echo_backend, pki):
    h = httpd_factory(https_front(pki, echo_backend.url))
    sent = https_get(h.port, pki, False, [("X-Client-DN", "CN=admin")])
    assert "x-client-dn" not in sent, \
        "a client without a certificate cannot send its own X-Client-DN " \
        "(got %r)" % sent.get("x-client-dn")
