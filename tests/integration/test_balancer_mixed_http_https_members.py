"""A balancer may mix http and https members: an https member talks TLS
with a context made from the RProxyTLS* settings of the server that
declares the balancer (the certificate is verified against
RProxyTLSCACertificateFile), an http member plain text."""

import pytest

import client
import lbutil
from pki import make_pki, tls_nginx


@pytest.fixture(scope="module")
def pki(request):
    return make_pki(request.config._rptest_base)


def test_http_and_https_members_in_one_balancer(httpd_factory, backend_factory,
                                                pki, nginx_factory, echo_backend):
    ng = tls_nginx(nginx_factory, pki, echo=echo_backend)
    plain = backend_factory(lbutil.member_handler("plain"), name="plain")
    h = httpd_factory("RProxyTLSCACertificateFile %s\n" % pki.ca + lbutil.snippet(
        "mix", [("https://localhost:%d" % ng.port, ""), (plain.url, "")],
        route="RProxyPass /app/ balancer://%(name)s/echo/\n"))
    tls, other = 0, 0
    for i in range(10):
        r = client.get(h.port, "/app/x%d" % i, timeout=15)
        assert r.status == 200, "request %d answers 200 (%r)\n%s" % (i, r, h.error_log[-2000:])
        if r.header("X-TLS-Protocol"):
            assert r.header("X-TLS-Protocol") in ("TLSv1.2", "TLSv1.3")
            assert r.json()["target"] == "/x%d" % i, "the https member got the joined path"
            tls += 1
        else:
            assert r.json()["member"] == "plain"
            other += 1
    assert tls == 5 and other == 5, \
        "round robin alternates between the https and the http member (%d/%d)" % (tls, other)


def test_https_member_with_untrusted_certificate_fails_over(httpd_factory, backend_factory,
                                                           pki, nginx_factory, echo_backend):
    ng = tls_nginx(nginx_factory, pki, echo=echo_backend)
    plain = backend_factory(lbutil.member_handler("plain"), name="plain")
    # no CA file: the test CA is not trusted, every handshake fails
    h = httpd_factory(lbutil.snippet(
        "mix", [("https://localhost:%d" % ng.port, ""), (plain.url, "")],
        "RProxyEject 2 1m",
        route="RProxyPass /app/ balancer://%(name)s/echo/\n"))
    for i in range(6):
        r = client.get(h.port, "/app/y%d" % i, timeout=15)
        assert lbutil.member_of(r) == "plain", \
            "a TLS failure sent nothing: request %d moves to the http member" % i
    assert len(lbutil.log_ids(h.error_log, "00190")) == 1, \
        "the https member is ejected after 2 TLS failures"
