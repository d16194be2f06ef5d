"""Active health checks (RProxyHealthCheck): a member whose health endpoint
answers 503 is marked down after `fails` failed checks and gets no request;
when it answers 200 again it is marked up after `passes` passes and serves
again. Checks run once per server, not once per child."""

import os
import signal
import time

import client
import hclib
import lbutil


def config(a, b, extra=""):
    return lbutil.snippet(
        "app", [(a.url, ""), (b.url, "")],
        "RProxyHealthCheck GET /healthz status=200-299 interval=200ms "
        "timeout=150ms passes=2 fails=2\n" + extra) + hclib.STATUS_LOCATION


def test_failing_member_marked_down_then_up(httpd_factory, backend_factory):
    ha, hb = hclib.Health(), hclib.Health()
    a = hclib.member(backend_factory, "a", ha)
    b = hclib.member(backend_factory, "b", hb)
    h = httpd_factory(config(a, b))
    hclib.wait_for(lambda: hb.count() >= 2, 10, "the checker checks member b")
    assert hb.checks[0][1] == "mod_rproxy-health-check", \
        "the checks come from the checker (%r)" % hb.checks[0][1]
    hb.status = 503
    hclib.wait_for(lambda: hclib.member_status(h, "app", b.url)["state"] == "down",
                   10, "member b is marked down after its checks fail")
    m = hclib.member_status(h, "app", b.url)
    assert m["health"]["status"] == 503 and m["health"]["ok"] is False
    assert m["health"]["fails"] >= 2 and m["health_down"] is True
    seen = lbutil.count(h.port, 40)
    assert seen == {"a": 40}, "a member marked down gets no request (%r)" % seen
    assert "RP00401" in h.error_log, "the change to down is logged"
    hb.status = 200
    hclib.wait_for(lambda: hclib.member_status(h, "app", b.url)["state"] == "up",
                   10, "member b is marked up after its checks pass again")
    assert "RP00402" in h.error_log, "the change to up is logged"
    seen = lbutil.count(h.port, 40)
    assert seen.get("b", 0) > 0, "member b serves again (%r)" % seen


def test_down_member_comes_back_with_slow_start(httpd_factory, backend_factory):
    ha, hb = hclib.Health(), hclib.Health(503)
    a = hclib.member(backend_factory, "a", ha)
    b = hclib.member(backend_factory, "b", hb)
    h = httpd_factory(config(a, b, "RProxySlowStart 1h"))
    hclib.wait_for(lambda: hclib.member_status(h, "app", b.url)["state"] == "down",
                   10, "member b is marked down")
    hb.status = 200
    m = hclib.wait_for(
        lambda: (lambda m: m if m["state"] == "up" else None)(
            hclib.member_status(h, "app", b.url)), 10, "member b comes back")
    assert m["effective_weight"] < 0.5, \
        "a member back from a health outage ramps up (effective %r)" % m
    assert hclib.member_status(h, "app", a.url)["effective_weight"] == 1.0


def test_checks_run_once_per_server_not_per_child(httpd_factory, backend_factory):
    ha, hb = hclib.Health(), hclib.Health()
    a = hclib.member(backend_factory, "a", ha)
    b = hclib.member(backend_factory, "b", hb)
    snippet = lbutil.snippet(
        "app", [(a.url, ""), (b.url, "")],
        "RProxyHealthCheck GET /healthz interval=500ms timeout=400ms")
    h = httpd_factory(snippet, extra_global=lbutil.two_children())
    assert len(h.child_pids()) == 2, "httpd runs 2 children (%r)" % h.child_pids()
    hclib.wait_for(lambda: ha.count() >= 1, 10, "the first check comes")
    start, n0 = time.monotonic(), ha.count()
    time.sleep(3.0)
    elapsed, n = time.monotonic() - start, ha.count() - n0
    rounds = elapsed / 0.5
    # one checker: about one check per interval (a little slack for
    # scheduling); a checker per child would make it about twice that
    assert 1 <= n <= rounds * 1.4 + 1, \
        "%d checks in %.1fs at a 500ms interval: one checker, not one per child" % (
            n, elapsed)


def test_checks_stop_on_graceful_restart_and_resume(httpd_factory, backend_factory):
    ha, hb = hclib.Health(), hclib.Health()
    a = hclib.member(backend_factory, "a", ha)
    b = hclib.member(backend_factory, "b", hb)
    h = httpd_factory(config(a, b))
    hclib.wait_for(lambda: ha.count() >= 2, 10, "checks run")
    lbutil.graceful_restart(h)
    n = ha.count()
    hclib.wait_for(lambda: ha.count() >= n + 2, 10,
                   "the new generation's checker runs the checks")
    t0 = time.monotonic()
    h.stop()
    assert time.monotonic() - t0 < 8, "httpd stops without waiting for checks"


def test_one_checker_child_and_takeover_when_it_dies(httpd_factory,
                                                     backend_factory):
    ha, hb = hclib.Health(), hclib.Health()
    a = hclib.member(backend_factory, "a", ha)
    b = hclib.member(backend_factory, "b", hb)
    h = httpd_factory(config(a, b), extra_global=lbutil.two_children())
    kids = h.child_pids()
    assert len(kids) == 2, "httpd runs 2 children (%r)" % kids

    def checker():
        return hclib.status(h)["balancers"][0]["health_check"]["checker_pid"]
    first = hclib.wait_for(checker, 10, "a child holds the checker lease")
    assert first in kids
    for _ in range(5):
        time.sleep(0.2)
        assert checker() == first, "the lease stays with one child"
    os.kill(first, signal.SIGKILL)
    second = hclib.wait_for(lambda: (lambda p: p if p not in (0, first) else None)(
        checker()), 10, "another child takes the lease over")
    assert second in h.child_pids()
    n = ha.count()
    hclib.wait_for(lambda: ha.count() >= n + 3, 10,
                   "checks go on after the checker child died")
