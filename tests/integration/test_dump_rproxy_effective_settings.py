"""`apache2 -t -D DUMP_RPROXY` prints every route with the settings that
really apply to it: defaults, server values and <Location> overrides, so an
admin never has to guess which value won."""

import pytest


@pytest.fixture
def tester(httpd_factory):
    return httpd_factory(start=False)


def test_dump_shows_defaults_overrides_and_locations(tester):
    snippet = (
        "RProxyConnectTimeout 3\n"
        "RProxyPass /static !\n"
        "RProxyPass /api http://127.0.0.1:9/v1?k=1\n"
        "<Location /feed>\n"
        "  RProxyPass http://127.0.0.1:9/feed\n"
        "  RProxyFlushInterval -1\n"
        "  RProxySplice Off\n"
        "  RProxyResponseHeaderTimeout 500ms\n"
        "  RProxyMaxResponseHeaderSize 262144\n"
        "</Location>\n")
    res = tester.configtest(snippet, defines=["DUMP_RPROXY"])
    out = res.output
    assert res.rc == 0, "the configuration is valid (%s)" % out
    assert "RProxyPass /static -> !" in out, "exclusions are listed"
    assert "RProxyPass /api -> http://127.0.0.1:9/v1?k=1" in out, \
        "a server route is listed with its full target"
    api = out.split("RProxyPass /api")[1].split("<Location>")[0]
    assert "connect timeout 3s" in api, "the server's RProxyConnectTimeout applies"
    assert "response header timeout 60s" in api, "unset values show their default"
    assert "flush interval 0 (httpd buffers)" in api, "the default flush policy is named"
    assert "splice on," in api, "RProxySplice defaults to on"
    assert "max response header size 65536" in api, \
        "the default response head limit is shown"
    feed = out.split("<Location> /feed -> http://127.0.0.1:9/feed")[1]
    assert "connect timeout 3s" in feed, "a location inherits the server's value"
    assert "response header timeout 500ms" in feed, "a location's own value wins"
    assert "flush interval every write" in feed, "-1 reads as flushing every write"
    assert "splice off," in feed, "a location's RProxySplice Off is shown"
    assert "max response header size 262144" in feed, \
        "a location's RProxyMaxResponseHeaderSize is shown"


def test_no_dump_without_the_define(tester):
    res = tester.configtest("RProxyPass /api http://127.0.0.1:9/\n")
    assert res.rc == 0, "the configuration is valid"
    assert "effective settings" not in res.output, \
        "nothing is printed unless DUMP_RPROXY is defined"


def test_dump_shows_status_header_setting(tester):
    res = tester.configtest(
        "RProxyPass /api http://127.0.0.1:9/\n"
        "<Location /quiet>\n"
        "  RProxyPass http://127.0.0.1:9/q\n"
        "  RProxyStatusHeader Off\n"
        "</Location>\n", defines=["DUMP_RPROXY"])
    out = res.output
    assert res.rc == 0, "the configuration is valid (%s)" % out
    api = out.split("RProxyPass /api")[1].split("<Location>")[0]
    assert "proxy-status header on" in api, "RProxyStatusHeader defaults to on"
    quiet = out.split("<Location> /quiet")[1]
    assert "proxy-status header off" in quiet, "a location's Off is shown"
