"""RProxyPass inside <Location /prefix> (RProxyPass URL / RProxyPass !) and
the server-level exclusion RProxyPass /prefix !."""

import backends
import client


def _conf(u):
    return ("RProxyPass /svc/private !\n"
            "RProxyPass /svc %s/sbase\n"
            # httpd merges <Location> sections in file order: the more
            # specific one comes last so that it wins.
            "<Location /loc>\n"
            "    RProxyPass %s/lbase\n"
            "</Location>\n"
            "<Location /loc/skip>\n"
            "    RProxyPass !\n"
            "</Location>\n" % (u, u))


def test_server_level_exclusion(httpd_factory, echo_backend):
    h = httpd_factory(_conf(echo_backend.url))
    r = client.get(h.port, "/svc/a")
    assert r.status == 200, "/svc/a is proxied (got %r)" % r
    assert r.json()["target"] == "/sbase/a", "/svc/a maps to /sbase/a"
    n = echo_backend.total_connections + len(echo_backend.requests)
    r = client.get(h.port, "/svc/private/a")
    assert r.status == 404, "/svc/private/a is excluded: httpd answers 404 (got %r)" % r
    r = client.get(h.port, "/svc/private")
    assert r.status == 404, "/svc/private itself is excluded (got %r)" % r
    assert echo_backend.total_connections + len(echo_backend.requests) == n, \
        "excluded paths never reach the backend"
    r = client.get(h.port, "/svc/privateer")
    assert r.status == 200 and r.json()["target"] == "/sbase/privateer", \
        "exclusion is on a segment boundary: /svc/privateer is proxied"


def test_location_context(httpd_factory, echo_backend):
    h = httpd_factory(_conf(echo_backend.url))
    r = client.get(h.port, "/loc/y?q=1")
    assert r.status == 200, "/loc/y is proxied by the <Location> mapping (got %r)" % r
    assert r.json()["target"] == "/lbase/y?q=1", \
        "<Location /loc> maps /loc/y to /lbase/y (got %r)" % r.json()["target"]
    r = client.get(h.port, "/loc")
    assert r.status == 200 and r.json()["target"] in ("/lbase", "/lbase/"), \
        "/loc itself maps to the base path"
    r = client.get(h.port, "/loc/skip/z")
    assert r.status == 404, "RProxyPass ! in <Location /loc/skip> excludes it (got %r)" % r


def test_virtual_host_mapping(httpd_factory, backend_factory, echo_backend):
    other = backend_factory(backends.echo_handler, name="other")
    h = httpd_factory(
        "RProxyPass /shared %s/main\n"
        "<VirtualHost 127.0.0.1:@PORT@>\n"
        "    ServerName default.example\n"
        "</VirtualHost>\n"
        "<VirtualHost 127.0.0.1:@PORT@>\n"
        "    ServerName vhost.example\n"
        "    RProxyPass /v %s/vbase\n"
        "</VirtualHost>\n" % (echo_backend.url, other.url))
    r = client.get(h.port, "/v/x", host="vhost.example")
    assert r.status == 200, "the <VirtualHost> mapping proxies /v/x (got %r)" % r
    assert r.json()["target"] == "/vbase/x", "/v/x maps to /vbase/x in the vhost"
    assert r.json()["conn_id"] and len(other.requests) == 1, \
        "the vhost's request reached the vhost's backend"
    r = client.get(h.port, "/v/x", host="default.example")
    assert r.status == 404, "another vhost does not have the /v mapping (got %r)" % r
    r = client.get(h.port, "/shared/y", host="vhost.example")
    assert r.status == 200 and r.json()["target"] == "/main/y", \
        "a server-level mapping also applies inside a virtual host"
