"""Hot standby members take no request while a regular member is usable;
when every regular member refuses connections, requests move to the
standby (failover on connect failure: nothing was sent) and succeed."""

import client
import lbutil


def test_standby_only_when_regular_members_are_out(httpd_factory, backend_factory):
    m = lbutil.start_members(backend_factory, ["a", "b", "s"])
    h = httpd_factory(lbutil.snippet(
        "app", [(m["a"].url, ""), (m["b"].url, ""), (m["s"].url, "standby")]))
    seen = lbutil.count(h.port, 60)
    assert seen.get("s", 0) == 0, "the standby is idle while regular members work (%r)" % seen
    assert seen.get("a") == 30 and seen.get("b") == 30, "the regular members share the load (%r)" % seen
    m["a"].stop()
    seen = lbutil.count(h.port, 30, session=False)
    assert seen == {"b": 30}, "with one regular member out, the other takes all (%r)" % seen
    m["b"].stop()
    statuses = [client.get(h.port, "/app/s%d" % i) for i in range(20)]
    assert all(lbutil.member_of(r) == "s" for r in statuses), \
        "with every regular member refusing, the standby serves every request"
    assert m["s"].total_connections >= 1
