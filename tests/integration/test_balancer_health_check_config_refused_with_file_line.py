"""RProxyHealthCheck: a bad method, path, status range, time, count or
option is refused at startup (`apache2 -t` fails) with the file, the line
and the bad value; a correct one passes and DUMP_RPROXY shows the
effective check (defaults filled in)."""

import re

import pytest


def section(line):
    return ("<RProxyBalancer b>\n  RProxyMember http://127.0.0.1:9\n"
            "  %s\n</RProxyBalancer>\n" % line)


BAD = {
    "method": ("RProxyHealthCheck POST /healthz", "POST"),
    "path": ("RProxyHealthCheck GET healthz", "healthz"),
    "path-with-hash": ("RProxyHealthCheck GET /a#b", "/a#b"),
    "no-path": ("RProxyHealthCheck GET", "\"\""),
    "status-range": ("RProxyHealthCheck GET / status=399-200", "status=399-200"),
    "status-word": ("RProxyHealthCheck GET / status=ok", "status=ok"),
    "status-too-big": ("RProxyHealthCheck GET / status=200-600", "status=200-600"),
    "interval": ("RProxyHealthCheck GET / interval=often", "often"),
    "interval-zero": ("RProxyHealthCheck GET / interval=0s", "0s"),
    "timeout": ("RProxyHealthCheck GET / timeout=-1s", "-1s"),
    "timeout-over-interval": ("RProxyHealthCheck GET / interval=1s timeout=2s",
                              "timeout is longer than the interval"),
    "passes": ("RProxyHealthCheck GET / passes=0", "passes=0"),
    "fails": ("RProxyHealthCheck GET / fails=1000", "fails=1000"),
    "unknown-option": ("RProxyHealthCheck GET / every=5s", "every=5s"),
}


@pytest.fixture
def tester(httpd_factory):
    return httpd_factory(start=False)


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_health_check_refused_with_file_and_line(tester, case):
    line, value = BAD[case]
    res = tester.configtest(section(line))
    rc, out = res
    assert rc != 0, "%s: httpd -t refuses it:\n%s" % (case, out)
    assert res.conf_path in out and re.search(
        r"\bline %d\b" % res.snippet_line(3), out), \
        "%s: the output names the file and line:\n%s" % (case, out)
    assert "RProxyHealthCheck" in out and value in out, \
        "%s: the reason names the directive and %r:\n%s" % (case, value, out)


def test_outside_balancer_refused(tester):
    res = tester.configtest("# first\nRProxyHealthCheck GET /\n")
    assert res.rc != 0 and "<RProxyBalancer>" in res.output


def test_health_check_dumped_with_defaults(tester):
    out = tester.configtest(section("RProxyHealthCheck HEAD /hz status=204 "
                                    "interval=1500ms fails=5"),
                            defines=["DUMP_RPROXY"]).output
    assert "health check HEAD /hz status=204-204 interval=1500ms timeout=1500ms " \
           "passes=2 fails=5" in out, out
    out = tester.configtest(section("RProxyHealthCheck GET /"),
                            defines=["DUMP_RPROXY"]).output
    assert "health check GET / status=200-399 interval=5s timeout=2s " \
           "passes=2 fails=3" in out, out
    out = tester.configtest(section("# none"), defines=["DUMP_RPROXY"]).output
    assert "health check off" in out, out


def test_status_state_file_global_only_and_dumped(tester):
    res = tester.configtest("<VirtualHost 127.0.0.1:9>\n"
                            "  RProxyStatusStateFile /tmp/x.state\n"
                            "</VirtualHost>\n")
    assert res.rc != 0 and "RProxyStatusStateFile" in res.output and \
        re.search(r"\bline %d\b" % res.snippet_line(2), res.output), res.output
    out = tester.configtest("RProxyStatusStateFile run/rp.state\n" +
                            section("# none"), defines=["DUMP_RPROXY"]).output
    assert re.search(r"status state file: /\S+/run/rp\.state\n", out), \
        "a relative path is below the ServerRoot:\n%s" % out
    out = tester.configtest(section("# none"), defines=["DUMP_RPROXY"]).output
    assert "status state file: none" in out, out
