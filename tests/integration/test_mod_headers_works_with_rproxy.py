"""httpd's own mod_headers works around mod_rproxy: RequestHeader edits
reach the backend (they run before the request is built), Header edits
apply to the proxied response on its way to the client."""


import client


def test_request_header_and_header(httpd_factory, echo_backend):
    h = httpd_factory("LoadModule headers_module /usr/lib/apache2/modules/mod_headers.so\n"
                      "RequestHeader set X-From-Headers one\n"
                      "RequestHeader unset X-Secret\n"
                      "Header set X-Resp-Header two\n"
                      "RProxyPass /app %s/\n" % echo_backend.url)
    r = client.get(h.port, "/app/x", headers=[("X-Secret", "s")])
    assert r.status == 200, "the request goes through"
    sent = {n.lower(): v for n, v in r.json()["headers"]}
    assert sent.get("x-from-headers") == "one", "RequestHeader set reaches the backend"
    assert "x-secret" not in sent, "RequestHeader unset removes a field before it is forwarded"
    assert r.header("X-Resp-Header") == "two", "Header set applies to the proxied response"
