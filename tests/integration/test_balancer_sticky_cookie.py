"""Sticky sessions: the proxy names the member that served a response in
a cookie it sets (an opaque id, not the member's address); requests that
carry the cookie go to that member while it is usable; when it is not,
the request goes elsewhere and the cookie is set to the new member."""

import re

import client
import lbutil


def test_sticky_cookie_set_honoured_and_moved(httpd_factory, backend_factory):
    m = lbutil.start_members(backend_factory, ["a", "b", "c"])
    h = httpd_factory(lbutil.snippet("app", [(m[n].url, "") for n in "abc"],
                                     "RProxyStickyCookie RPROUTE"))
    r = client.get(h.port, "/app/first")
    first = lbutil.member_of(r)
    cookie = r.header("Set-Cookie")
    mt = re.match(r"^RPROUTE=([0-9a-f]{16}); Path=/app/; HttpOnly$", cookie or "")
    assert mt, "the response sets the sticky cookie on the route's path (%r)" % cookie
    sid = mt.group(1)
    assert str(m[first].port) not in sid and "127.0.0.1" not in sid, \
        "the id does not show the member's address (%r)" % sid
    with client.Session(h.port) as s:
        for i in range(20):
            r = s.request("GET", "/app/s%d" % i, headers=[("Cookie", "x=1; RPROUTE=%s" % sid)])
            assert lbutil.member_of(r) == first, "request %d with the cookie stays on %s" % (i, first)
            assert r.header("Set-Cookie") is None, "no new cookie while the member is the same"
    r = client.get(h.port, "/app/none")
    assert r.header("Set-Cookie"), "a request without the cookie gets one"
    m[first].stop()  # connect refused from now on
    r = client.get(h.port, "/app/moved", headers=[("Cookie", "RPROUTE=%s" % sid)])
    now = lbutil.member_of(r)
    assert now != first, "a member that refuses connections does not keep its sessions"
    cookie = r.header("Set-Cookie") or ""
    assert cookie.startswith("RPROUTE=") and sid not in cookie, \
        "the cookie is set to the member that served (%r)" % cookie
    sid2 = cookie.split(";")[0].split("=", 1)[1]
    for i in range(5):
        r = client.get(h.port, "/app/after%d" % i, headers=[("Cookie", "RPROUTE=%s" % sid2)])
        assert lbutil.member_of(r) == now, "the new cookie sticks to %s" % now
