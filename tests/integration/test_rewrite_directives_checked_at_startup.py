"""RProxyRewriteLocation, RProxyPassReverse, RProxyCookieDomain and
RProxyCookiePath: a bad
value stops `apache2 -t` with the file, the line, the directive and the
value; good ones pass, and `-D DUMP_RPROXY` shows what applies to each
route (defaults, server rules, a <Location>'s own or "off")."""

import re

import pytest

BAD = {
    "rewrite-location-not-flag": ("RProxyRewriteLocation Sometimes", None),
    "cookie-domain-one-word": ("RProxyCookieDomain backend.internal",
                               "backend.internal"),
    "cookie-domain-with-semicolon": (
        "RProxyCookieDomain backend.internal front;evil", "front;evil"),
    "cookie-domain-with-slash": ("RProxyCookieDomain b/x front.example",
                                 "b/x"),
    "cookie-path-relative": ("RProxyCookiePath base /app", "base"),
    "cookie-path-with-semicolon": ("RProxyCookiePath /base /app;x", "/app;x"),
    "cookie-path-one-word": ("RProxyCookiePath /base", "/base"),
    "pass-reverse-no-path": ("RProxyPassReverse http://app.internal/",
                             "http://app.internal/"),
    "pass-reverse-relative-path": (
        "RProxyPassReverse app http://app.internal/", "app"),
    "pass-reverse-other-scheme": ("RProxyPassReverse /app/ ftp://h/",
                                  "ftp://h/"),
    "pass-reverse-query": ("RProxyPassReverse /app/ http://h/x?y=1",
                           "http://h/x?y=1"),
}


@pytest.fixture
def tester(httpd_factory):
    return httpd_factory(start=False)


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_rewrite_value_refused_with_file_and_line(tester, case):
    line, value = BAD[case]
    res = tester.configtest("# a comment line first\n" + line + "\n")
    rc, out = res
    assert rc != 0, "%s: httpd -t refuses %r:\n%s" % (case, line, out)
    assert res.conf_path in out, "%s: the output names the file:\n%s" % (case, out)
    assert re.search(r"\bline %d\b" % res.snippet_line(2), out), \
        "%s: the output names line %d:\n%s" % (case, res.snippet_line(2), out)
    reason = out.split(res.conf_path, 1)[-1]
    assert line.split()[0].lower() in reason.lower(), \
        "%s: the reason names the directive:\n%s" % (case, out)
    if value is not None:
        assert value in reason, "%s: the reason names %r:\n%s" % (case, value, out)


def test_rewrite_settings_dumped_per_route(tester):
    snippet = ("RProxyCookieDomain backend.internal front.example\n"
               "RProxyCookiePath /base/ /app/\n"
               "RProxyCookiePath / /app\n"
               "RProxyPass /app/ http://127.0.0.1:9/base/\n"
               "RProxyPassReverse /app/ https://App.Internal:8443/base/\n"
               "<Location /raw>\n"
               "  RProxyPass http://127.0.0.1:9/raw\n"
               "  RProxyRewriteLocation Off\n"
               "  RProxyCookieDomain off\n"
               "</Location>\n"
               "<Location /loc>\n"
               "  RProxyPass http://127.0.0.1:9/\n"
               "  RProxyPassReverse http://public.example/\n"
               "</Location>\n")
    res = tester.configtest(snippet, defines=["DUMP_RPROXY"])
    out = res.output
    assert res.rc == 0, "every rewrite directive used correctly passes:\n%s" % out
    app = out.split("RProxyPass /app/")[1].split("<Location>")[0]
    assert ("rewrite location on, cookie domain backend.internal -> "
            "front.example, cookie path /base/ -> /app/; / -> /app") in app, \
        "a server route shows the default On and its rules in order:\n%s" % out
    raw = out.split("<Location> /raw")[1]
    assert ("rewrite location off, cookie domain none, cookie path /base/ -> "
            "/app/; / -> /app") in raw, \
        "a <Location> shows its own Off, its 'off' and the inherited " \
        "path rules:\n%s" % out
    assert "pass reverse /app/ https://app.internal:8443/base/" in app, \
        "a server route shows its RProxyPassReverse:\n%s" % out
    loc = out.split("<Location> /loc")[1]
    assert "pass reverse http://public.example/" in loc, \
        "a <Location> shows its own RProxyPassReverse:\n%s" % out
    assert "pass reverse /app/" not in loc, \
        "its own list replaces the server's, as the cookie rules' do:\n%s" % out
