"""A bad directive value is refused at startup: `apache2 -t` fails and its
output names the file, the line number and the reason (which names the bad
value)."""

import re

import pytest

# (snippet line with the bad value, text the reason must contain)
BAD = {
    "connect-timeout-not-a-time": ("RProxyConnectTimeout abc", "abc"),
    "header-timeout-negative": ("RProxyResponseHeaderTimeout -5", "-5"),
    "io-timeout-garbage-unit": ("RProxyIOTimeout 5parsecs", "5parsecs"),
    "idle-timeout-bad-unit": ("RProxyIdleTimeout 10x", "10x"),
    "flush-interval-not-a-number": ("RProxyFlushInterval soon", "soon"),
    "pass-ftp-scheme": ("RProxyPass /x ftp://h/", "ftp://h/"),
    "pass-no-host": ("RProxyPass /x http:///base", "http:///base"),
    "preserve-host-not-flag": ("RProxyPreserveHost Maybe", None),
    "add-forwarded-not-flag": ("RProxyAddForwarded Sometimes", None),
    "max-head-size-too-small": ("RProxyMaxResponseHeaderSize 1023", "1023"),
    "max-head-size-too-large": ("RProxyMaxResponseHeaderSize 16777217",
                                "16777217"),
    "max-head-size-with-unit": ("RProxyMaxResponseHeaderSize 64k", "64k"),
}

GOOD = ("RProxyConnectTimeout 5\n"
        "RProxyResponseHeaderTimeout 500ms\n"
        "RProxyIOTimeout 2s\n"
        "RProxyIdleTimeout 60\n"
        "RProxyFlushInterval -1\n"
        "RProxyPreserveHost On\n"
        "RProxyAddForwarded Off\n"
        "RProxyMaxResponseHeaderSize 1024\n"
        "RProxyPass /x !\n"
        "RProxyPass /app http://127.0.0.1:9/base?k=v\n"
        "<Location /loc>\n"
        "  RProxyFlushInterval 100\n"
        "  RProxyMaxResponseHeaderSize 16777216\n"
        "  RProxyPass http://127.0.0.1:9/\n"
        "</Location>\n"
        "<Location /loc/no>\n"
        "  RProxyPass !\n"
        "</Location>\n")


@pytest.fixture
def tester(httpd_factory):
    return httpd_factory(start=False)


def test_good_config_accepted(tester):
    rc, out = tester.configtest(GOOD)
    assert rc == 0, "a config using every directive correctly passes httpd -t:\n%s" % out
    assert "Syntax OK" in out, "httpd -t reports Syntax OK"


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_value_refused_with_file_and_line(tester, case):
    line, value = BAD[case]
    snippet = "# a comment line first\n" + line + "\n"
    res = tester.configtest(snippet)
    rc, out = res
    want_line = res.snippet_line(2)
    assert rc != 0, "%s: httpd -t refuses %r (rc=%s):\n%s" % (case, line, rc, out)
    assert res.conf_path in out, "%s: the output names the config file:\n%s" % (case, out)
    assert re.search(r"\bline %d\b" % want_line, out), \
        "%s: the output names line %d:\n%s" % (case, want_line, out)
    directive = line.split()[0]
    reason = out.split(res.conf_path, 1)[-1]
    assert directive.lower() in reason.lower(), \
        "%s: the reason names the directive %s:\n%s" % (case, directive, out)
    if value is not None:
        assert value in reason, "%s: the reason names the bad value %r:\n%s" % (case, value, out)


def test_location_form_refused_outside_location(tester):
    res = tester.configtest("RProxyPass http://127.0.0.1:1/\n")
    rc, out = res
    assert rc != 0, "the one-argument (Location) form is refused at server level:\n%s" % out
    assert re.search(r"\bline %d\b" % res.snippet_line(1), out), \
        "the output names the line:\n%s" % out
