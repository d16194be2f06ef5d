"""A mod_rewrite rule may name a balancer as its target
([E=rproxy-target:balancer://name/path,H=rproxy]): the request goes to a
member with the path and query as written; a rule naming a balancer that
does not exist is a 500 with a log line."""

import client
import lbutil

REWRITE = "LoadModule rewrite_module /usr/lib/apache2/modules/mod_rewrite.so\n"


def test_rule_target_balancer(httpd_factory, backend_factory):
    m = lbutil.start_members(backend_factory, ["a", "b"])
    h = httpd_factory(REWRITE + lbutil.snippet(
        "app", [(m["a"].url, ""), (m["b"].url, "")], route="") +
        "RewriteEngine On\n"
        'RewriteRule "^/u/(.+)$" - [E=rproxy-target:balancer://app/users/$1,H=rproxy]\n'
        'RewriteRule "^/nope/(.+)$" - [E=rproxy-target:balancer://nope/$1,H=rproxy]\n')
    seen = set()
    for i in range(4):
        r = client.get(h.port, "/u/%d?x=1" % i)
        seen.add(lbutil.member_of(r))
        j = r.json()
        assert j["target"] == "/users/%d?x=1" % i, "the rule's path and the query reach the member (%r)" % j
        assert j["host"] == m[j["member"]].hostport, "Host names the member"
    assert seen == {"a", "b"}, "the rule's requests are balanced (%r)" % seen
    r = client.get(h.port, "/nope/1")
    assert r.status == 500, "an unknown balancer in a rule is a 500"
    assert lbutil.log_ids(h.error_log, "00295"), "and the log says which balancer"
