"""Member state lives in shared memory kept across graceful restarts
(SIGUSR1): a member ejected before the restart stays ejected after it,
and consistent hashing moves only the keys of a member removed by the
restart (~1/5 when one of 5 goes)."""

import client
import backends
import lbutil


def test_ejection_survives_graceful_restart(httpd_factory, backend_factory):
    a = backend_factory(lbutil.member_handler("a"), name="a")
    dead_sock, dead_port = backends.bound_unlistened_port()
    try:
        h = httpd_factory(lbutil.snippet(
            "app", [(a.url, ""), ("http://127.0.0.1:%d" % dead_port, "")],
            "RProxyEject 1 5m"))
        assert lbutil.member_of(client.get(h.port, "/app/1")) == "a"
        assert lbutil.member_of(client.get(h.port, "/app/2")) == "a"
        assert len(lbutil.log_ids(h.error_log, "00190")) == 1, "the dead member was ejected"
        tried = len(lbutil.log_ids(h.error_log, "00191"))
        assert tried == 1, "one request tried it before the ejection"
        lbutil.graceful_restart(h)
        for i in range(20):
            assert lbutil.member_of(client.get(h.port, "/app/after%d" % i)) == "a"
        log = h.error_log
        assert len(lbutil.log_ids(log, "00191")) == tried, \
            "after the restart no request tries the ejected member:\n%s" % log[-3000:]
        assert len(lbutil.log_ids(log, "00190")) == 1, "and it is not ejected anew"
    finally:
        dead_sock.close()


def test_hash_remaps_one_fifth_when_restart_removes_one_of_five(httpd_factory, backend_factory):
    names = ["a", "b", "c", "d", "e"]
    m = lbutil.start_members(backend_factory, names)
    opts = "RProxyBalancerMethod hash\nRProxyBalancerHashKey header X-User"
    h = httpd_factory(lbutil.snippet("app", [(m[n].url, "") for n in names], opts))
    keys = ["user-%d" % i for i in range(500)]

    def where():
        out = {}
        for i, k in enumerate(keys):
            if i % 50 == 0:
                s = client.Session(h.port)
            out[k] = lbutil.member_of(s.request("GET", "/app/k", headers=[("X-User", k)]))
            if i % 50 == 49:
                s.close()
        return out

    before = where()
    assert 60 <= sum(1 for v in before.values() if v == "c") <= 140, \
        "member c holds about 1/5 of the keys"
    lbutil.graceful_restart(h, lbutil.snippet(
        "app", [(m[n].url, "") for n in names if n != "c"], opts))
    after = where()
    moved = [k for k in keys if before[k] != after[k]]
    assert all(before[k] == "c" for k in moved), \
        "only keys of the removed member move (%r)" % [(k, before[k], after[k]) for k in moved if before[k] != "c"][:5]
    share = len(moved) / len(keys)
    assert 0.1 <= share <= 0.3, "removing 1 of 5 members moves ~1/5 of the keys (%.2f)" % share
    assert "c" not in after.values(), "the removed member gets nothing"


def test_state_copied_when_restart_outgrows_shared_memory(httpd_factory, backend_factory):
    a = backend_factory(lbutil.member_handler("a"), name="a")
    dead_sock, dead_port = backends.bound_unlistened_port()
    try:
        first = lbutil.snippet("app", [(a.url, ""), ("http://127.0.0.1:%d" % dead_port, "")],
                               "RProxyEject 1 5m")
        h = httpd_factory(first)
        for i in range(2):  # round robin tries the dead member once
            assert lbutil.member_of(client.get(h.port, "/app/%d" % i)) == "a"
        assert len(lbutil.log_ids(h.error_log, "00190")) == 1, "the dead member was ejected"
        # 3 x 64 more members: more than the 128 slots made at start
        big = first + "".join(
            lbutil.snippet("big%d" % k, [("http://127.0.0.%d:%d" % (k + 2, 1000 + i), "")
                                         for i in range(64)], route="")
            for k in range(3))
        lbutil.graceful_restart(h, big)
        assert lbutil.log_ids(h.error_log, "00292"), \
            "a notice says the state outgrew its shared memory"
        for i in range(10):
            assert lbutil.member_of(client.get(h.port, "/app/after%d" % i)) == "a"
        assert len(lbutil.log_ids(h.error_log, "00191")) == 1, \
            "the ejection was copied into the larger segment: no request tries the member"
    finally:
        dead_sock.close()
