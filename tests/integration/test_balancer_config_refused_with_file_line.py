"""A wrong <RProxyBalancer> or balancer:// target is refused at startup
(`apache2 -t` fails) with the file, the line and a reason naming the bad
value; a correct one passes and DUMP_RPROXY shows its effective settings."""

import re

import pytest

GOOD = ("<RProxyBalancer app>\n"
        "  RProxyMember http://127.0.0.1:9 weight=3\n"
        "  RProxyMember https://127.0.0.1:10/\n"
        "  RProxyMember http://127.0.0.1:11 standby\n"
        "  RProxyBalancerMethod hash\n"
        "  RProxyBalancerHashKey cookie SESSION\n"
        "  RProxyStickyCookie RPROUTE\n"
        "  RProxyEject 3 2s 1m 25%\n"
        "  RProxySlowStart 30s\n"
        "  RProxyEjectOn5xx Off\n"
        "</RProxyBalancer>\n"
        "RProxyPass /app/ balancer://app/base/\n"
        "<Location /loc>\n"
        "  RProxyPass balancer://app/\n"
        "</Location>\n")

# (snippet, 1-based line of the snippet named, text the reason contains)
BAD = {
    "unknown-balancer": ("# first\nRProxyPass /x balancer://nope/\n", 2, "nope"),
    "unknown-balancer-in-location": (
        "<Location /l>\n  RProxyPass balancer://nope/\n</Location>\n", 2, "nope"),
    "member-with-path": (
        "<RProxyBalancer b>\n  RProxyMember http://127.0.0.1:9/base\n</RProxyBalancer>\n",
        2, "http://127.0.0.1:9/base"),
    "member-bad-weight": (
        "<RProxyBalancer b>\n  RProxyMember http://127.0.0.1:9 weight=0\n</RProxyBalancer>\n",
        2, "weight=0"),
    "member-weight-too-big": (
        "<RProxyBalancer b>\n  RProxyMember http://127.0.0.1:9 weight=5000\n</RProxyBalancer>\n",
        2, "weight=5000"),
    "member-duplicate": (
        "<RProxyBalancer b>\n  RProxyMember http://127.0.0.1:9\n"
        "  RProxyMember http://127.0.0.1:9/\n</RProxyBalancer>\n", 3, "127.0.0.1:9"),
    "member-ftp": (
        "<RProxyBalancer b>\n  RProxyMember ftp://127.0.0.1:9\n</RProxyBalancer>\n",
        2, "ftp://127.0.0.1:9"),
    "no-members": ("# first\n<RProxyBalancer empty>\n</RProxyBalancer>\n", 2, "empty"),
    "bad-method": (
        "<RProxyBalancer b>\n  RProxyMember http://127.0.0.1:9\n"
        "  RProxyBalancerMethod random\n</RProxyBalancer>\n", 3, "random"),
    "bad-hash-key": (
        "<RProxyBalancer b>\n  RProxyMember http://127.0.0.1:9\n"
        "  RProxyBalancerHashKey body\n</RProxyBalancer>\n", 3, "body"),
    "bad-eject-share": (
        "<RProxyBalancer b>\n  RProxyMember http://127.0.0.1:9\n"
        "  RProxyEject 5 10s 5m 150%\n</RProxyBalancer>\n", 3, "150%"),
    "bad-slow-start": (
        "<RProxyBalancer b>\n  RProxyMember http://127.0.0.1:9\n"
        "  RProxySlowStart soon\n</RProxyBalancer>\n", 3, "soon"),
    "member-outside-section": ("# first\nRProxyMember http://127.0.0.1:9\n", 2,
                               "<RProxyBalancer>"),
    "duplicate-balancer": (
        "<RProxyBalancer b>\n  RProxyMember http://127.0.0.1:9\n</RProxyBalancer>\n"
        "<RProxyBalancer b>\n  RProxyMember http://127.0.0.1:10\n</RProxyBalancer>\n",
        4, "twice"),
    "balancer-target-with-port": (
        "<RProxyBalancer b>\n  RProxyMember http://127.0.0.1:9\n</RProxyBalancer>\n"
        "RProxyPass /x balancer://b:80/\n", 4, "balancer://b:80/"),
}


@pytest.fixture
def tester(httpd_factory):
    return httpd_factory(start=False)


def test_good_balancer_config_accepted_and_dumped(tester):
    res = tester.configtest(GOOD, defines=["DUMP_RPROXY"])
    rc, out = res
    assert rc == 0 and "Syntax OK" in out, "a correct balancer passes httpd -t:\n%s" % out
    assert "RProxyPass /app/ -> balancer://app/base/" in out, "the route shows its balancer target:\n%s" % out
    assert re.search(r"balancer app \(.*:%d\): method hash, hash key cookie SESSION, "
                     r"sticky cookie RPROUTE" % res.snippet_line(1), out), \
        "DUMP_RPROXY shows method, key and sticky cookie with the file and line:\n%s" % out
    assert "eject after 3 failures for 2s doubling to 60s, at most 25% of members, " \
           "5xx does not count" in out, "the ejection settings are shown:\n%s" % out
    assert "slow start 30s" in out, "slow start is shown:\n%s" % out
    assert re.search(r"member http://127\.0\.0\.1:9 weight 3 id [0-9a-f]{16}\n", out), \
        "members show weight and sticky id:\n%s" % out
    assert re.search(r"member https://127\.0\.0\.1:10 weight 1 id", out), \
        "an https member's trailing / is dropped:\n%s" % out
    assert re.search(r"member http://127\.0\.0\.1:11 weight 1 standby id", out), \
        "a standby member is marked:\n%s" % out


def test_defaults_shown(tester):
    out = tester.configtest("<RProxyBalancer d>\n  RProxyMember http://127.0.0.1:9\n"
                            "</RProxyBalancer>\n", defines=["DUMP_RPROXY"]).output
    assert "method rr, sticky cookie none" in out, "rr and no sticky cookie by default:\n%s" % out
    assert "eject after 5 failures for 10s doubling to 300s, at most 50% of members, " \
           "5xx counts" in out, "ejection defaults:\n%s" % out
    assert "slow start off" in out, "no slow start by default:\n%s" % out


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_balancer_refused_with_file_and_line(tester, case):
    snippet, line, value = BAD[case]
    res = tester.configtest(snippet)
    rc, out = res
    assert rc != 0, "%s: httpd -t refuses it (rc=%s):\n%s" % (case, rc, out)
    assert res.conf_path in out, "%s: the output names the config file:\n%s" % (case, out)
    assert re.search(r"\bline %d\b" % res.snippet_line(line), out), \
        "%s: the output names line %d:\n%s" % (case, res.snippet_line(line), out)
    assert value in out.split(res.conf_path, 1)[-1] or value in out, \
        "%s: the reason names %r:\n%s" % (case, value, out)
