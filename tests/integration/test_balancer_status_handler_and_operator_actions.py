"""`SetHandler rproxy-status`: per balancer and member state in HTML and
JSON; operators drain, disable and enable a member with a POST that carries
the member's token (CSRF): without a valid token, or from another origin,
the POST is refused with 403 and nothing changes. Changes live in shared
memory: every child sees them, and a graceful restart keeps them. mod_status
shows a short rproxy section."""

import os
import threading
import time
import urllib.parse

import client
import hclib
import lbutil


def config(a, b, extra="", after=""):
    return lbutil.snippet("app", [(a.url, ""), (b.url, "")],
                          "RProxyStickyCookie route\n" + extra) + \
        hclib.STATUS_LOCATION + after


def post(h, fields, headers=()):
    body = urllib.parse.urlencode(fields).encode()
    return client.request(h.port, "POST", "/rproxy-status", body=body,
                          headers=[("Content-Type",
                                    "application/x-www-form-urlencoded")] +
                          list(headers))


def action(h, m, what, token=None, headers=()):
    return post(h, {"balancer": "app", "member": m["url"], "action": what,
                    "token": m["token"] if token is None else token},
                headers)


def start(httpd_factory, backend_factory, extra="", after="", **kw):
    ha, hb = hclib.Health(), hclib.Health()
    a = hclib.member(backend_factory, "a", ha)
    b = hclib.member(backend_factory, "b", hb, **kw)
    h = httpd_factory(config(a, b, extra, after))
    return h, a, b


MEMBER_FIELDS = {"url", "id", "state", "weight", "effective_weight", "standby",
                 "draining", "disabled", "health_down", "in_flight", "requests",
                 "errors", "ewma_ms", "ejections", "pool", "health", "token"}


def test_status_json_fields(httpd_factory, backend_factory):
    h, a, b = start(httpd_factory, backend_factory,
                    "RProxyHealthCheck GET /healthz interval=200ms timeout=150ms")
    seen = lbutil.count(h.port, 20)
    assert seen == {"a": 10, "b": 10}
    hclib.wait_for(lambda: hclib.member_status(h, "app", a.url)["health"]["last"],
                   10, "a health check result shows")
    st = hclib.status(h)
    assert isinstance(st["pid"], int)
    [bal] = st["balancers"]
    assert bal["name"] == "app" and bal["method"] == "rr"
    assert bal["health_check"]["path"] == "/healthz"
    assert bal["health_check"]["checker_pid"] in h.child_pids()
    for m in bal["members"]:
        assert MEMBER_FIELDS <= set(m), "member fields (%r)" % sorted(m)
        assert m["state"] == "up" and m["weight"] == 1
        assert m["requests"] == 10 and m["errors"] == 0 and m["in_flight"] == 0
        assert m["ewma_ms"] > 0, "the EWMA latency shows (%r)" % m
        assert m["pool"]["scope"] == "process"
        assert m["pool"]["idle"] + m["pool"]["busy"] >= 0
        assert m["health"]["status"] == 200 and m["health"]["ok"] is True
        assert len(m["token"]) == 64
    r = client.get(h.port, "/rproxy-status",
                   headers=[("Accept", "application/json")])
    assert r.status == 200 and r.header("Content-Type") == "application/json"
    assert r.json()["balancers"][0]["name"] == "app"
    html = client.get(h.port, "/rproxy-status")
    assert html.status == 200 and "text/html" in html.header("Content-Type")
    text = html.body.decode()
    assert a.url in text and b.url in text
    assert 'name="token" value="%s"' % bal["members"][0]["token"] in text, \
        "the page's forms carry the member's token"


def test_drain_with_token_in_flight_finishes(httpd_factory, backend_factory):
    h, a, b = start(httpd_factory, backend_factory, delay=1.5)
    mb = hclib.member_status(h, "app", b.url)
    done = {}

    def slow():
        done["r"] = client.get(h.port, "/app/slow",
                               headers=[("Cookie", "route=%s" % mb["id"])])
    t = threading.Thread(target=slow)
    t.start()
    hclib.wait_for(lambda: hclib.member_status(h, "app", b.url)["in_flight"] == 1,
                   10, "a request is in flight on b")
    r = action(h, mb, "drain")
    assert r.status == 303, "a POST with the token is done (%r)" % r
    m = hclib.member_status(h, "app", b.url)
    assert m["state"] == "draining" and m["draining"] is True
    seen = lbutil.count(h.port, 30, session=False)
    assert seen == {"a": 30}, "a draining member gets no new request (%r)" % seen
    t.join(10)
    assert done["r"].status == 200 and done["r"].json()["member"] == "b", \
        "the request in flight on the draining member finished"
    assert action(h, mb, "undrain").status == 303
    seen = lbutil.count(h.port, 20, session=False)
    assert seen.get("b") == 10, "undrained, b serves again (%r)" % seen


def test_post_without_valid_token_is_403(httpd_factory, backend_factory):
    h, a, b = start(httpd_factory, backend_factory)
    ma = hclib.member_status(h, "app", a.url)
    mb = hclib.member_status(h, "app", b.url)
    bad = [
        post(h, {"balancer": "app", "member": b.url, "action": "drain"}),
        action(h, mb, "drain", token="0" * 64),
        action(h, mb, "drain", token=ma["token"]),  # another member's
        action(h, mb, "drain", headers=[("Origin", "http://evil.example")]),
        action(h, mb, "disable",
               headers=[("Referer", "http://evil.example/rproxy-status")]),
    ]
    assert [r.status for r in bad] == [403] * 5, \
        "no token, a bad token, another member's token, a foreign origin: 403"
    m = hclib.member_status(h, "app", b.url)
    assert m["state"] == "up" and not m["draining"] and not m["disabled"]
    assert "RP00406" in h.error_log
    ok = action(h, mb, "drain",
                headers=[("Origin", "http://127.0.0.1:%d" % h.port)])
    assert ok.status == 303, "the same origin with the token is accepted"


def test_disable_enable_shared_and_kept_across_graceful_restart(
        httpd_factory, backend_factory):
    ha, hb = hclib.Health(), hclib.Health()
    a = hclib.member(backend_factory, "a", ha)
    b = hclib.member(backend_factory, "b", hb)
    h = httpd_factory(config(a, b), extra_global=lbutil.two_children())
    mb = hclib.member_status(h, "app", b.url)
    assert action(h, mb, "disable").status == 303
    assert hclib.member_status(h, "app", b.url)["state"] == "disabled"
    seen = lbutil.count(h.port, 40, session=False)
    assert seen == {"a": 40}, \
        "no child sends a request to a disabled member (%r)" % seen
    # a sticky request does not reach a disabled member either
    r = client.get(h.port, "/app/s", headers=[("Cookie", "route=%s" % mb["id"])])
    assert lbutil.member_of(r) == "a"
    lbutil.graceful_restart(h)
    m = hclib.member_status(h, "app", b.url)
    assert m["state"] == "disabled", "a graceful restart keeps the change"
    assert m["token"] == mb["token"], "the token survives a graceful restart"
    assert action(h, m, "enable").status == 303
    seen = lbutil.count(h.port, 20, session=False)
    assert seen.get("b", 0) >= 5, "enabled, b serves again (%r)" % seen


def test_mod_status_has_rproxy_section(httpd_factory, backend_factory):
    h, a, b = start(httpd_factory, backend_factory, after="""
LoadModule status_module /usr/lib/apache2/modules/mod_status.so
<Location /server-status>
  SetHandler server-status
</Location>""")
    r = client.get(h.port, "/server-status?auto")
    assert r.status == 200
    lines = [l for l in r.body.decode().splitlines()
             if l.startswith("RProxyMember: ")]
    assert lines == ["RProxyMember: app %s up in_flight=0 requests=0 errors=0"
                     % u for u in (a.url, b.url)], r.body.decode()[-800:]
    html = client.get(h.port, "/server-status").body.decode()
    assert "mod_rproxy balancers" in html


def test_state_file_keeps_changes_across_full_restart(httpd_factory,
                                                      backend_factory):
    ha, hb = hclib.Health(), hclib.Health()
    a = hclib.member(backend_factory, "a", ha)
    b = hclib.member(backend_factory, "b", hb)
    h = httpd_factory(start=False)
    state_dir = os.path.join(h.workdir, "state")
    os.makedirs(state_dir)
    os.chmod(state_dir, 0o777)  # the children (User www-data) write it
    path = os.path.join(state_dir, "rproxy.state")
    h.snippet = "RProxyStatusStateFile %s\n" % path + config(a, b)
    h.start()
    assert action(h, hclib.member_status(h, "app", b.url), "drain").status == 303
    assert action(h, hclib.member_status(h, "app", a.url), "disable").status == 303
    with open(path) as f:
        saved = f.read()
    assert "drain app %s\n" % b.url in saved and \
        "disable app %s\n" % a.url in saved, saved
    h.stop()
    h.start()
    assert hclib.member_status(h, "app", b.url)["state"] == "draining", \
        "a full restart reads the drained member back from the state file"
    assert hclib.member_status(h, "app", a.url)["state"] == "disabled"
    assert action(h, hclib.member_status(h, "app", a.url), "enable").status == 303
    with open(path) as f:
        assert f.read().count("\n") == 2, "enabled: the file keeps the drain only"
