"""Backend names are resolved again once the answer is older than
RProxyDNSTTL: when the name moves to another address, new requests go
there and pooled connections to the old address are retired; when
resolution fails, the last good answer is kept with a warning; httpd starts
even when a backend name does not resolve (requests then get 502).

httpd runs in a mount namespace of its own where /etc/hosts is a file the
test rewrites and /etc/nsswitch.conf says "hosts: files", so no real DNS is
involved. Needs root (unshare -m); skipped with the reason otherwise."""

import os
import shutil
import subprocess
import time

import pytest

import backends
import client

NAME = "backend.rproxy.test"


def _namespace_ok():
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    r = subprocess.run(["unshare", "-m", "true"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    return r.returncode == 0


pytestmark = pytest.mark.skipif(
    not _namespace_ok(),
    reason="needs root and unshare -m to give httpd its own /etc/hosts")


def _write_in_place(path, text):
    # same inode: the bind mount inside httpd's namespace sees the change
    with open(path, "r+") as f:
        f.seek(0)
        f.write(text)
        f.truncate()


def _named_handler(name):
    def handler(req, conn):
        conn.send_json({"backend": name, "conn_id": conn.id})
    return handler


@pytest.fixture
def etc(workdir):
    hosts = os.path.join(workdir, "hosts")
    nss = os.path.join(workdir, "nsswitch.conf")
    with open(hosts, "w") as f:
        f.write("127.0.0.1 localhost\n")
    with open(nss, "w") as f:
        f.write("hosts: files\n")
    os.chmod(hosts, 0o644)
    os.chmod(nss, 0o644)

    def wrap(argv):
        script = ("mount --bind %s /etc/hosts && mount --bind %s "
                  "/etc/nsswitch.conf && exec \"$@\"" % (hosts, nss))
        return ["unshare", "-m", "sh", "-c", script, "sh"] + argv
    return hosts, wrap


def test_name_moves_to_new_address_after_ttl(httpd_factory, etc):
    hosts, wrap = etc
    a = backends.Backend(_named_handler("a"), name="dns-a", host="127.0.0.2").start()
    b = backends.Backend(_named_handler("b"), name="dns-b", host="127.0.0.3",
                         port=a.port).start()
    try:
        _write_in_place(hosts, "127.0.0.1 localhost\n127.0.0.2 %s\n" % NAME)
        h = httpd_factory("RProxyDNSTTL 1\nRProxyPass /app http://%s:%d/\n"
                          % (NAME, a.port), wrap=wrap)
        r = client.get(h.port, "/app/1")
        assert r.status == 200 and r.json()["backend"] == "a", \
            "the name resolves to 127.0.0.2 first (%r)" % r
        assert a.open_connections == 1, "the connection to a is pooled"

        _write_in_place(hosts, "127.0.0.1 localhost\n127.0.0.3 %s\n" % NAME)
        r = client.get(h.port, "/app/2")
        assert r.json()["backend"] == "a", \
            "within the TTL the old answer (and pooled connection) is used"
        time.sleep(1.3)
        r = client.get(h.port, "/app/3")
        assert r.status == 200, "a request after the TTL answers 200 (%r)" % r
        # the idle connection to a is retired when the new answer arrives,
        # at the latest on the next request that looks at the pool
        r = client.get(h.port, "/app/4")
        assert r.json()["backend"] == "b", \
            "after the TTL, requests go to the name's new address (%r)" % r.json()
        assert a.wait_open_connections(0, timeout=3) == 0, \
            "the pooled connection to the old address was retired"

        _write_in_place(hosts, "127.0.0.1 localhost\n")
        time.sleep(1.3)
        b.close_idle_connections()
        b.wait_open_connections(0, timeout=3)
        r = client.get(h.port, "/app/5")
        assert r.status == 200 and r.json()["backend"] == "b", \
            "when the name stops resolving, the last good answer is kept (%r)" % r
        warn = [l for l in h.error_log.splitlines() if "RP00301" in l]
        assert warn and NAME in warn[0] and ":warn]" in warn[0], \
            "the failed refresh is logged as a warning naming the host"
    finally:
        a.stop()
        b.stop()


def test_unresolvable_name_starts_and_answers_502(httpd_factory, etc):
    hosts, wrap = etc
    h = httpd_factory("RProxyPass /app http://no-such-name.rproxy.test:9/\n",
                      wrap=wrap)
    r = client.get(h.port, "/app/x")
    assert r.status == 502, "a backend name that does not resolve gives 502 (%r)" % r
    lines = [l for l in h.error_level_lines() if "no-such-name.rproxy.test" in l]
    assert lines, "the error log names the backend that could not be resolved"


def _two_addresses(hosts):
    """NAME resolves to 127.0.0.2, then 127.0.0.3."""
    _write_in_place(hosts, "127.0.0.1 localhost\n127.0.0.2 %s\n127.0.0.3 %s\n"
                    % (NAME, NAME))


def _line_naming_backend(h, port):
    """The first error-log line since the mark naming http://NAME:port."""
    log = h.error_log_since_mark()
    lines = [l for l in log.splitlines() if "http://%s:%d" % (NAME, port) in l]
    assert lines, "an error-log line names the backend:\n%s" % log
    return lines[0]


def test_dial_failure_names_each_address_tried(httpd_factory, etc):
    hosts, wrap = etc
    port = backends.free_port()
    _two_addresses(hosts)
    h = httpd_factory("RProxyConnectRetries 0\nRProxyPass /app http://%s:%d/\n"
                      % (NAME, port), wrap=wrap)
    h.mark_logs()
    r = client.get(h.port, "/app/x")
    assert r.status == 502, "nothing listens at either address: 502 (%r)" % r
    line = _line_naming_backend(h, port)
    assert "failed at each of the 2 addresses tried" in line, line
    for ip in ("127.0.0.2", "127.0.0.3"):
        assert "%s:%d: Connection refused" % (ip, port) in line, \
            "the line gives %s and its error: %s" % (ip, line)
    assert "(127.0.0.2:%d)" % port in line or "(127.0.0.3:%d)" % port in line, \
        "the line names the last address tried, not (-): %s" % line


def test_connect_timeout_bounds_every_address_together(httpd_factory, etc):
    """RProxyConnectTimeout is for the whole connect: a name with two
    addresses that both drop SYNs gets its 502 after about the timeout,
    both attempts having run side by side, not the timeout each."""
    hosts, wrap = etc
    with backends.Blackhole(host="127.0.0.2") as a, \
            backends.Blackhole(host="127.0.0.3", port=a.port) as b:
        assert a.hangs() and b.hangs(), "test setup: both addresses hang"
        _two_addresses(hosts)
        h = httpd_factory("RProxyConnectTimeout 2\n"
                          "RProxyPass /app http://%s:%d/\n" % (NAME, a.port),
                          wrap=wrap)
        h.mark_logs()
        r = client.get(h.port, "/app/x", timeout=20)
        assert r.status in (502, 504), "no address connects: %r" % r
        assert 1.8 <= r.elapsed < 3.5, \
            "the error comes after about RProxyConnectTimeout 2s for both " \
            "addresses together, not 2s each (%.2fs)" % r.elapsed
        line = _line_naming_backend(h, a.port)
        for ip in ("127.0.0.2", "127.0.0.3"):
            assert "%s:%d" % (ip, a.port) in line, \
                "each address was tried and is named: %s" % line


def _dead_then_live(hosts):
    """A Blackhole at 127.0.0.2 and a live backend at 127.0.0.3, on one
    port, with NAME resolving to both in that order."""
    dead = backends.Blackhole(host="127.0.0.2")
    live = backends.Backend(_named_handler("live"), name="dns-live",
                            host="127.0.0.3", port=dead.port).start()
    assert dead.hangs(), "test setup: the first address hangs"
    _two_addresses(hosts)
    return dead, live


def _connecting_to(ip, port):
    """Sockets on this host still sending SYNs to ip:port (/proc/net/tcp,
    state 02)."""
    want = "%s:%04X" % ("".join("%02X" % int(b) for b in
                                reversed(ip.split("."))), port)
    with open("/proc/net/tcp") as f:
        return sum(1 for line in f.readlines()[1:]
                   if line.split()[2] == want and line.split()[3] == "02")


def test_dead_first_address_costs_one_attempt_delay(httpd_factory, etc):
    """A name whose first address drops SYNs and whose second serves (a
    dual-stack name with a broken IPv6 route is the usual case): the second
    attempt starts 250 ms after the first (RFC 8305), not after the first
    has had half of RProxyConnectTimeout (5 s by default)."""
    hosts, wrap = etc
    dead, live = _dead_then_live(hosts)
    try:
        h = httpd_factory("RProxyPass /app http://%s:%d/\n"
                          % (NAME, dead.port), wrap=wrap)
        before = _connecting_to("127.0.0.2", dead.port)  # the Blackhole's
        r = client.get(h.port, "/app/x", timeout=20)
        assert r.status == 200 and r.json()["backend"] == "live", \
            "the request reaches the live address (%r)" % r
        assert 0.2 <= r.elapsed < 1.5, \
            "the live address answers about 250 ms after the dead one was " \
            "tried first (%.2fs)" % r.elapsed
        assert _connecting_to("127.0.0.2", dead.port) == before, \
            "the attempt that lost the race was closed, not left sending SYNs"
    finally:
        live.stop()
        dead.close()


def test_address_that_connected_is_tried_first(httpd_factory, etc):
    """After the race above, new connections go first to the address that
    connected, and wait for nothing."""
    hosts, wrap = etc
    dead, live = _dead_then_live(hosts)
    try:
        h = httpd_factory("RProxyMaxRequestsPerConnection 1\n"
                          "RProxyPass /app http://%s:%d/\n"
                          % (NAME, dead.port), wrap=wrap)
        times = []
        for i in range(4):
            r = client.get(h.port, "/app/%d" % i, timeout=20)
            assert r.status == 200 and r.json()["backend"] == "live", \
                "request %d reaches the live address (%r)" % (i, r)
            times.append(r.elapsed)
        assert times[0] >= 0.2, \
            "test setup: the dead address is tried first at first " \
            "(250 ms before the next): %r" % times
        assert sum(times[1:]) < 0.4, \
            "every new connection after the first goes straight to the " \
            "address that connected, not 250 ms late (seconds: %r)" % times
        assert live.total_connections >= 4, \
            "one connection per request (RProxyMaxRequestsPerConnection 1)"
    finally:
        live.stop()
        dead.close()
