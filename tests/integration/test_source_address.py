"""RProxySourceAddress (mod_proxy's ProxySourceAddress, Go's
Dialer.LocalAddr): backend connections are made from the given local
address, one per family, health checks included. An address this host does
not have is a 502 naming the error; a bad value, two addresses of one
family, or the directive in a virtual host is refused at startup with the
file, the line and the reason."""

import pytest

import backends
import client
import hclib
import lbutil


def test_connections_come_from_the_source_address(httpd_factory,
                                                  backend_factory):
    b = backend_factory(backends.echo_handler, name="src")
    h = httpd_factory("RProxySourceAddress 127.0.0.2\n"
                      "RProxyMaxRequestsPerConnection 1\n"
                      "RProxyPass /app/ %s/\n" % b.url)
    for i in range(3):
        r = client.get(h.port, "/app/%d" % i)
        assert r.status == 200, "answered (%r)\n%s" % (r, h.error_log)
        assert r.json()["peer"].startswith("127.0.0.2:"), \
            "the backend saw the source address (%r)" % r.json()["peer"]
    assert b.total_connections == 3, "three new connections, each bound"


def test_each_family_uses_its_own_address(httpd_factory, backend_factory):
    try:
        b6 = backend_factory(backends.echo_handler, name="v6", host="::1")
    except OSError as e:
        pytest.skip("no IPv6 loopback here: %s" % e)
    b4 = backend_factory(backends.echo_handler, name="v4")
    h = httpd_factory("RProxySourceAddress ::1 127.0.0.3\n"
                      "RProxyPass /four/ %s/\nRProxyPass /six/ %s/\n"
                      % (b4.url, b6.url))
    r = client.get(h.port, "/four/x")
    assert r.status == 200 and r.json()["peer"].startswith("127.0.0.3:"), \
        "IPv4 backend: from the IPv4 source (%r)" % r
    r = client.get(h.port, "/six/x")
    assert r.status == 200 and r.json()["peer"].startswith("::1:"), \
        "IPv6 backend: from the IPv6 source (%r)\n%s" % (r, h.error_log)


def test_health_checks_come_from_it_too(httpd_factory, backend_factory):
    ha, hb = hclib.Health(), hclib.Health()
    a = hclib.member(backend_factory, "a", ha)
    b = hclib.member(backend_factory, "b", hb)
    httpd_factory("RProxySourceAddress 127.0.0.4\n" + lbutil.snippet(
        "app", [(a.url, ""), (b.url, "")],
        "RProxyHealthCheck GET /healthz interval=200ms timeout=150ms\n"))
    hclib.wait_for(lambda: ha.count() >= 2, 10, "member a is checked")
    peers = {q["peer"].rsplit(":", 1)[0] for q in a.requests
             if q["target"].startswith("/healthz")}
    assert peers == {"127.0.0.4"}, \
        "the checks came from the source address (%r)" % peers


def test_address_not_on_this_host_is_502_naming_the_error(httpd_factory,
                                                        backend_factory):
    b = backend_factory(backends.echo_handler, name="src")
    h = httpd_factory("RProxySourceAddress 192.0.2.1\n"
                      "RProxyPass /app/ %s/\n" % b.url)
    h.mark_logs()
    r = client.get(h.port, "/app/x", timeout=15)
    assert r.status == 502 and b.total_connections == 0, \
        "nothing can be sent from an address the host lacks (%r)" % r
    assert "Cannot assign requested address" in h.error_log_since_mark(), \
        "the log says why:\n%s" % h.error_log_since_mark()


BAD = {
    "name": ("RProxySourceAddress localhost", 2, "localhost"),
    "two-v4": ("RProxySourceAddress 127.0.0.2 127.0.0.3", 2, "127.0.0.3"),
    "in-vhost": ("<VirtualHost 127.0.0.1:1>\n"
                 "RProxySourceAddress 127.0.0.2\n</VirtualHost>", 3,
                 "VirtualHost"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_values_refused_with_file_and_line(httpd_factory, case):
    snippet, line, reason = BAD[case]
    tester = httpd_factory(start=False)
    tester.configtest("# first\n" + snippet + "\n").assert_refused(
        case, line, "RProxySourceAddress", reason)


def test_dump_shows_it(httpd_factory):
    tester = httpd_factory(start=False)
    rc, out = tester.configtest("RProxySourceAddress 127.0.0.2 ::1\n"
                                "RProxyPass /a/ http://127.0.0.1:9/\n",
                                defines=["DUMP_RPROXY"])
    assert rc == 0, out
    assert "source address 127.0.0.2 ::1" in out, out
