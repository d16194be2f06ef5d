"""RProxyTrustedProxies, RProxyForwarded and RProxyVia refuse a bad value at
startup: `apache2 -t` fails naming the file, the line, the directive and
the value (a host name, a range with bits set past its prefix, a prefix
too long for the address, a non-flag). Good values, IPv4 and IPv6 ranges
and `none`, pass and show in DUMP_RPROXY."""

import re

import pytest

BAD = {
    "trusted-hostname": ("RProxyTrustedProxies proxy.example",
                         "proxy.example"),
    "trusted-host-bits-set": ("RProxyTrustedProxies 10.0.0.1/8",
                              "10.0.0.1/8"),
    "trusted-ipv4-prefix-too-long": ("RProxyTrustedProxies 10.0.0.0/33",
                                     "10.0.0.0/33"),
    "trusted-ipv6-prefix-too-long": ("RProxyTrustedProxies ::1/129",
                                     "::1/129"),
    "trusted-second-value-bad": ("RProxyTrustedProxies ::1 2001:db8::/x",
                                 "2001:db8::/x"),
    "trusted-missing-value": ("RProxyTrustedProxies", None),
    "forwarded-not-flag": ("RProxyForwarded Yes", None),
    "via-not-flag": ("RProxyVia Full", None),
}

GOOD = ("RProxyTrustedProxies 10.0.0.0/8 192.0.2.7 ::1\n"
        "RProxyTrustedProxies 2001:db8::/32 ::ffff:172.16.0.0/108\n"
        "RProxyForwarded On\n"
        "RProxyVia On\n"
        "RProxyPass /app http://127.0.0.1:9/\n"
        "<Location /loc>\n"
        "  RProxyPass http://127.0.0.1:9/\n"
        "  RProxyTrustedProxies none\n"
        "  RProxyVia Off\n"
        "</Location>\n")


@pytest.fixture
def tester(httpd_factory):
    return httpd_factory(start=False)


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_value_refused_with_file_and_line(tester, case):
    line, value = BAD[case]
    res = tester.configtest("# a comment line first\n" + line + "\n")
    rc, out = res
    assert rc != 0, "%s: httpd -t refuses %r:\n%s" % (case, line, out)
    assert res.conf_path in out, "%s: the output names the file:\n%s" % (
        case, out)
    assert re.search(r"\bline %d\b" % res.snippet_line(2), out), \
        "%s: the output names the line:\n%s" % (case, out)
    reason = out.split(res.conf_path, 1)[-1]
    assert line.split()[0].lower() in reason.lower(), \
        "%s: the reason names the directive:\n%s" % (case, out)
    if value is not None:
        assert value in reason, "%s: the reason names %r:\n%s" % (
            case, value, out)


def test_good_values_accepted_and_dumped(tester):
    res = tester.configtest(GOOD, defines=["DUMP_RPROXY"])
    assert res.rc == 0, "IPv4/IPv6 addresses, ranges and none pass:\n%s" % \
        res.output
    app = res.output.split("RProxyPass /app")[1].split("<Location>")[0]
    assert ("forwarded (RFC 7239) on, via on, trusted proxies 10.0.0.0/8 "
            "192.0.2.7 ::1 2001:db8::/32 172.16.0.0/12") in app, \
        "DUMP_RPROXY shows the settings, lines added up and a mapped " \
        "range as IPv4:\n%s" % res.output
    loc = res.output.split("<Location> /loc")[1]
    assert "forwarded (RFC 7239) on, via off, trusted proxies none" in loc, \
        "a <Location> inherits RProxyForwarded and overrides the rest:\n%s" \
        % res.output


def test_defaults_dumped(tester):
    res = tester.configtest("RProxyPass /app http://127.0.0.1:9/\n",
                            defines=["DUMP_RPROXY"])
    assert res.rc == 0, "valid:\n%s" % res.output
    assert "forwarded (RFC 7239) off, via off, trusted proxies none" in \
        res.output, "the defaults: off, off, nobody trusted:\n%s" % res.output
