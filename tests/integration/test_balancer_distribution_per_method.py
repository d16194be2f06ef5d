"""Each balancing method spreads 1,000 requests as it promises: smooth
weighted round robin follows the weights exactly, least outstanding
requests spreads sequential requests evenly (random ties), power of two
choices keeps a slow member well under its share, and consistent hashing
follows the weights over many keys while a key always goes to the same
member. The member's Host and the route's path reach the member."""

import backends
import client
import lbutil

N = 1000


def test_rr_follows_weights_exactly(httpd_factory, backend_factory):
    m = lbutil.start_members(backend_factory, ["a", "b", "c"])
    h = httpd_factory(lbutil.snippet("app", [
        (m["a"].url, "weight=3"), (m["b"].url, ""), (m["c"].url, "")]))
    seen = lbutil.count(h.port, N)
    assert abs(seen.get("a", 0) - 600) <= 2, "rr: weight 3 of 5 gets 3/5 of 1,000 (%r)" % seen
    assert abs(seen.get("b", 0) - 200) <= 2, "rr: weight 1 of 5 gets 1/5 (%r)" % seen
    assert abs(seen.get("c", 0) - 200) <= 2, "rr: weight 1 of 5 gets 1/5 (%r)" % seen
    r = client.get(h.port, "/app/p?q=1")
    j = r.json()
    assert j["target"] == "/base/p?q=1", \
        "the route's balancer:// path is joined with the request's (%r)" % j
    assert j["host"] == m[j["member"]].hostport, \
        "Host names the member that serves the request (%r)" % j


def test_least_spreads_sequential_requests_evenly(httpd_factory, backend_factory):
    m = lbutil.start_members(backend_factory, ["a", "b", "c"])
    h = httpd_factory(lbutil.snippet("app", [(m[n].url, "") for n in "abc"],
                                     "RProxyBalancerMethod least"))
    seen = lbutil.count(h.port, N)
    for n in "abc":
        assert 250 <= seen.get(n, 0) <= 420, \
            "least: with nothing in flight, ties are broken at random (%r)" % seen


def test_p2c_keeps_slow_member_under_its_share(httpd_factory, backend_factory):
    m = lbutil.start_members(backend_factory, ["a", "b", "c"])
    m["slow"] = backend_factory(lbutil.member_handler("slow", delay=0.03), name="slow")
    h = httpd_factory(lbutil.snippet(
        "app", [(m[n].url, "") for n in ("a", "b", "c", "slow")],
        "RProxyBalancerMethod p2c"))
    seen = lbutil.count(h.port, N)
    assert seen.get("slow", 0) < 100, \
        "p2c: a member 30 ms slower gets far less than its 1/4 (%r)" % seen
    for n in "abc":
        assert seen.get(n, 0) >= 150, "p2c: every fast member takes a share (%r)" % seen


def test_hash_follows_weights_and_keeps_keys(httpd_factory, backend_factory):
    m = lbutil.start_members(backend_factory, ["a", "b", "c"])
    h = httpd_factory(lbutil.snippet(
        "app", [(m["a"].url, "weight=2"), (m["b"].url, ""), (m["c"].url, "")],
        "RProxyBalancerMethod hash\nRProxyBalancerHashKey header X-User"))
    seen, first = {}, {}
    for i in range(N):
        if i % 50 == 0:
            s = client.Session(h.port)
        who = lbutil.member_of(s.request("GET", "/app/x", headers=[("X-User", "u%d" % i)]))
        seen[who] = seen.get(who, 0) + 1
        first["u%d" % i] = who
        if i % 50 == 49:
            s.close()
    with client.Session(h.port) as s:
        for i in range(0, N, 20):
            who = lbutil.member_of(s.request("GET", "/app/y", headers=[("X-User", "u%d" % i)]))
            assert who == first["u%d" % i], "hash: a key keeps its member"
    assert 420 <= seen.get("a", 0) <= 580, "hash: weight 2 of 4 gets ~1/2 of the keys (%r)" % seen
    for n in "bc":
        assert 170 <= seen.get(n, 0) <= 330, "hash: weight 1 of 4 gets ~1/4 (%r)" % seen
