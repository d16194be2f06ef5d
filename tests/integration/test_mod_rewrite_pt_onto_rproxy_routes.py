"""RewriteRule ... [PT] onto an RProxyPass route: routes are matched in
pre_translate_name on the raw path, before mod_rewrite runs; when a rule
rewrote r->uri, the route (a <Location> with RProxyPass, or a server-level
RProxyPass) maps the rewritten path, and its decoded remainder is encoded
once for the backend (a %2F that AllowEncodedSlashes NoDecode kept stays
%2F). A per-directory rule (internal redirect) lands on the route too."""

import os

import client

REWRITE = "LoadModule rewrite_module /usr/lib/apache2/modules/mod_rewrite.so\n"


def _conf(u, extra=""):
    return (REWRITE + extra +
            "RewriteEngine On\n"
            'RewriteRule "^/old/(.*)$" "/loc/$1" [PT]\n'
            'RewriteRule "^/legacy/(.*)$" "/srv/$1" [PT]\n'
            "RProxyPass /srv %s/sbase\n"
            "<Location /loc>\n"
            "    RProxyPass %s/lbase\n"
            "</Location>\n" % (u, u))


def test_pt_onto_location_route_maps_rewritten_path(httpd_factory, echo_backend):
    h = httpd_factory(_conf(echo_backend.url))
    r = client.get(h.port, "/old/3?q=1")
    assert r.status == 200, "the rewritten request is proxied (%r)\n%s" % (r, h.error_log)
    assert r.json()["target"] == "/lbase/3?q=1", \
        "the remainder comes from the rewritten path, not the client's"
    r = client.get(h.port, "/loc/4")
    assert r.json()["target"] == "/lbase/4", "the location still maps its own paths"


def test_pt_onto_server_route_maps_rewritten_path(httpd_factory, echo_backend):
    h = httpd_factory(_conf(echo_backend.url))
    r = client.get(h.port, "/legacy/5?z")
    assert r.status == 200, "the rewritten request is proxied (%r)\n%s" % (r, h.error_log)
    assert r.json()["target"] == "/sbase/5?z", "the server route maps the rewritten path"


def test_pt_rewritten_path_encoded_once(httpd_factory, echo_backend):
    h = httpd_factory(_conf(echo_backend.url, "AllowEncodedSlashes NoDecode\n"))
    r = client.get(h.port, "/old/a%20b%2Fc%25d")
    assert r.status == 200, "proxied (%r)" % r
    assert r.json()["target"] == "/lbase/a%20b%2Fc%25d", \
        "decoded bytes are encoded once; the kept %2F is not encoded again"
    r = client.get(h.port, "/legacy/a%20b%2Fc")
    assert r.json()["target"] == "/sbase/a%20b%2Fc", "the same for a server route"


def test_pt_dot_segments_cannot_escape(httpd_factory, echo_backend):
    h = httpd_factory(_conf(echo_backend.url))
    r = client.get(h.port, "/old/%252e%252e/x")
    assert r.status == 200 and r.json()["target"] == "/lbase/%252e%252e/x", \
        "a decoded %2e%2e is data, sent encoded again: no dot segment (%r)" % r


def test_per_directory_rule_onto_location_route(httpd_factory, echo_backend):
    h = httpd_factory(start=False, snippet="")
    dd = os.path.join(h.docroot, "dd")
    os.makedirs(dd)
    h.snippet = _conf(echo_backend.url) + (
        "<Directory %s>\n"
        "    RewriteEngine On\n"
        '    RewriteRule "^z/(.*)$" "/loc/$1"\n'
        "</Directory>\n" % dd)
    h.start()
    try:
        r = client.get(h.port, "/dd/z/7?k")
        assert r.status == 200 and r.json()["target"] == "/lbase/7?k", \
            "a <Directory> rule's internal redirect lands on the route (%r)\n%s" % (
                r, h.error_log)
    finally:
        h.stop()


def test_pt_onto_excluded_location_is_not_proxied(httpd_factory, echo_backend):
    h = httpd_factory(_conf(echo_backend.url) +
                      "<Location /srv/private>\n    RProxyPass !\n</Location>\n"
                      'RewriteRule "^/hidden/(.*)$" "/srv/private/$1" [PT]\n')
    r = client.get(h.port, "/hidden/x")
    assert r.status == 404, "a <Location> RProxyPass ! still excludes a rewritten path (%r)" % r
    assert not echo_backend.requests, "nothing reached the backend"
    assert "RP00240" not in h.error_log, "no complaint about a missing rproxy-target"
