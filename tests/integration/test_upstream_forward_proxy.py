"""Upstream forward proxy: `RProxyUpstreamProxy http://[user:password@]host:port`
(server config or virtual host) sends the requests for that server's routes
through an HTTP forward proxy; `RProxyUpstreamProxy none` turns it off again
(e.g. in a virtual host when the main server sets one).

* http:// backends: absolute-form requests to the proxy
  (`GET http://backend:port/path HTTP/1.1`); the backend itself sees the
  usual origin-form target.
* https:// backends: `CONNECT backend:port` through the proxy, then TLS
  (verified as usual) inside the tunnel; pooled tunnels are reused.
* user:password: `Proxy-Authorization: Basic ...` goes to the proxy (on each
  absolute-form request and on CONNECT), never to the backend.
* A proxy that refuses (407 without credentials, 403 to CONNECT) gives the
  client 502, and the error log names the proxy and its status.
* Only http:// proxy URLs without a path are accepted (a missing port means
  80); a bad one is refused by httpd -t naming the directive.

The proxy is Debian's tinyproxy (1.11), run in the foreground by the tests
with a generated config on 127.0.0.1 (LogLevel Info: its log names every
request line it received, "CONNECT host:port" included). It adds
"Via: 1.1 <host> (tinyproxy/...)" to the requests it forwards in plain HTTP,
which is how a scripted backend knows a request came through it. Note that
tinyproxy serves one request per client connection and closes it afterwards
without a "Connection: close" header, so through it plain-HTTP requests
cannot share a connection; CONNECT tunnels stay open. The https backends are
Debian's nginx with the test PKI of pki.py."""

import base64
import grp
import os
import pwd
import re
import signal
import subprocess
import time

import pytest

import backends
import client
import rphttpd
from pki import make_pki, tls_nginx

TINYPROXY = "/usr/bin/tinyproxy"
USER, PASSWORD = "rpuser", "s3cret-Pw9"

# nginx tells what it saw of Proxy-Authorization inside the TLS tunnel
NGINX_SEEN_AUTH = ('add_header X-Seen-Proxy-Authorization '
                   '"$http_proxy_authorization" always;\n')

REQUEST_LINE_RE = re.compile(
    r"Request \(file descriptor \d+\): (\S+) (\S+) (HTTP/\d\.\d)")


# --------------------------------------------------------------------------
# tinyproxy


class TinyProxy:
    """Debian's tinyproxy on 127.0.0.1:<free port>, in the foreground
    (`tinyproxy -d -c <conf>`), its config, log and PID file in `workdir`.
    basic_auth=(user, password) makes it require those credentials;
    connect_ports (list of ints) restricts CONNECT to those ports (none:
    every port, as tinyproxy.conf(5) says)."""

    def __init__(self, workdir, basic_auth=None, connect_ports=None):
        self.workdir = workdir
        self.basic_auth = basic_auth
        self.connect_ports = connect_ports
        self.port = backends.free_port()
        self.hostport = "127.0.0.1:%d" % self.port
        self.url = "http://" + self.hostport
        self.conf_path = os.path.join(workdir, "tinyproxy.conf")
        self.log_path = os.path.join(workdir, "tinyproxy.log")
        self.pid_path = os.path.join(workdir, "tinyproxy.pid")
        self.stdout_path = os.path.join(workdir, "tinyproxy-stdout.log")
        self.proc = None
        self._mark = 0
        os.makedirs(workdir, exist_ok=True)
        os.chmod(workdir, 0o755)

    def render(self):
        lines = ["Port %d" % self.port,
                 "Listen 127.0.0.1",
                 "Allow 127.0.0.1",
                 "Timeout 30",
                 "MaxClients 50",
                 'LogFile "%s"' % self.log_path,
                 'PidFile "%s"' % self.pid_path,
                 "LogLevel Info"]
        if rphttpd.is_root():
            # tinyproxy refuses to run as root: it drops to these after
            # binding (and only then opens its log file)
            lines += ["User nobody", "Group nogroup"]
        for p in self.connect_ports or ():
            lines.append("ConnectPort %d" % p)
        if self.basic_auth:
            lines.append("BasicAuth %s %s" % self.basic_auth)
        return "\n".join(lines) + "\n"

    def start(self, timeout=10):
        if not os.path.exists(TINYPROXY):
            pytest.fail("%s is missing: install Debian's tinyproxy "
                        "(apt-get install -y tinyproxy); these tests need a "
                        "real forward proxy" % TINYPROXY, pytrace=False)
        with open(self.conf_path, "w") as f:
            f.write(self.render())
        os.chmod(self.conf_path, 0o644)
        # the log is opened after the switch to nobody: make it theirs
        open(self.log_path, "w").close()
        os.chmod(self.log_path, 0o666)
        if rphttpd.is_root():
            try:
                os.chown(self.log_path, pwd.getpwnam("nobody").pw_uid,
                         grp.getgrnam("nogroup").gr_gid)
            except (KeyError, OSError):
                pass
        self._out = open(self.stdout_path, "wb")
        self.proc = subprocess.Popen(
            [TINYPROXY, "-d", "-c", self.conf_path],
            stdin=subprocess.DEVNULL, stdout=self._out,
            stderr=subprocess.STDOUT, env=rphttpd.clean_env(),
            cwd=self.workdir, start_new_session=True)
        ok = rphttpd.wait_port(self.port, timeout, self.proc)
        deadline = time.monotonic() + timeout
        while ok and "Starting main loop" not in self.log:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                ok = False
                break
            time.sleep(0.05)
        if not ok:
            rc = self.proc.poll()
            self.stop()
            pytest.fail("tinyproxy did not start (rc=%s) or wrote no log "
                        "within %ss.\n--- %s\n%s--- stdout/stderr\n%s\n"
                        "--- log\n%s" % (
                            rc, timeout, self.conf_path, self.render(),
                            rphttpd.Httpd._read(self.stdout_path), self.log),
                        pytrace=False)
        return self

    def stop(self, timeout=3):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            rphttpd.kill_pid(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                rphttpd.kill_pid(self.proc.pid, signal.SIGKILL)
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    pass
        self._out.close()
        self.proc = None

    # observation -------------------------------------------------------------
    @property
    def log(self):
        return rphttpd.Httpd._read(self.log_path)

    def mark(self):
        """requests(since_mark=True) then counts only what comes after."""
        self._mark = len(self.log)

    def requests(self, since_mark=False):
        """[(method, target)] of the request lines tinyproxy received."""
        text = self.log[self._mark:] if since_mark else self.log
        return [(m.group(1), m.group(2))
                for m in REQUEST_LINE_RE.finditer(text)]

    def connects(self, authority, since_mark=False):
        """How many `CONNECT authority` request lines tinyproxy received."""
        return sum(1 for (m, t) in self.requests(since_mark)
                   if m == "CONNECT" and t == authority)


@pytest.fixture
def tinyproxy_factory(workdir):
    """tinyproxy_factory(basic_auth=None, connect_ports=None) -> started
    TinyProxy; stopped by its PID at teardown."""
    started = []

    def make(**kw):
        tp = TinyProxy(os.path.join(workdir, "tinyproxy%d"
                                    % (len(started) + 1)), **kw)
        started.append(tp)
        return tp.start()

    yield make
    for tp in started:
        tp.stop()


@pytest.fixture(scope="module")
def pki(request):
    return make_pki(request.config._rptest_base)


# --------------------------------------------------------------------------
# helpers


def upstream(tp, creds=None):
    if creds:
        return "RProxyUpstreamProxy http://%s:%s@%s\n" % (creds[0], creds[1],
                                                          tp.hostport)
    return "RProxyUpstreamProxy %s\n" % tp.url


def ca_file(pki):
    return "RProxyTLSCACertificateFile %s\n" % pki.ca


def header_of(info, name):
    """A header's values (joined) from the echo backend's JSON, or None."""
    vals = [v for (n, v) in info["headers"] if n.lower() == name.lower()]
    return ", ".join(vals) if vals else None


def came_through_tinyproxy(info):
    return "tinyproxy" in (header_of(info, "Via") or "")


def proxy_auth_seen(b):
    """Targets of the backend's requests that carried Proxy-Authorization."""
    return [r["target"] for r in b.requests
            if any(n.lower() == "proxy-authorization" for (n, _) in r["headers"])]


def log_lines_naming(text, *needles):
    return [l for l in text.splitlines() if all(n in l for n in needles)]


def https_authority(ng):
    return "localhost:%d" % ng.port


# --------------------------------------------------------------------------
# 1. http backends: absolute-form requests to the proxy


def test_http_backend_absolute_form_through_proxy(httpd_factory,
                                                  tinyproxy_factory,
                                                  echo_backend):
    tp = tinyproxy_factory()
    h = httpd_factory(upstream(tp)
                      + "RProxyPass /app %s/base\n" % echo_backend.url)

    r = client.get(h.port, "/app/hello?x=1", timeout=15)
    assert r.status == 200, "GET to an http backend through the upstream " \
        "proxy answers 200 (%r)\n%s" % (r, h.error_log)
    info = r.json()
    assert info["target"] == "/base/hello?x=1", \
        "the backend gets the origin-form target (%r)" % info["target"]
    assert came_through_tinyproxy(info), \
        "the backend's request came through tinyproxy (Via %r)" % \
        header_of(info, "Via")
    want = ("GET", "http://%s/base/hello?x=1" % echo_backend.hostport)
    assert want in tp.requests(), \
        "tinyproxy received the absolute-form request %s %s (its request " \
        "lines: %r)" % (want + (tp.requests(),))

    time.sleep(0.2)  # tinyproxy has closed its side of the last exchange
    body = backends.payload(100000, seed=31)
    r = client.request(h.port, "POST", "/app/submit", body=body,
                       headers=[("Content-Type", "application/octet-stream")],
                       timeout=15)
    assert r.status == 200, "POST to an http backend through the upstream " \
        "proxy answers 200 (%r)\n%s" % (r, h.error_log)
    info = r.json()
    assert info["method"] == "POST" and \
        info["body_sha256"] == backends.sha256(body), \
        "the POST body reached the backend unchanged (sha256; %d bytes)" % \
        info["body_len"]
    assert came_through_tinyproxy(info), \
        "the POST came through tinyproxy (Via %r)" % header_of(info, "Via")
    want = ("POST", "http://%s/base/submit" % echo_backend.hostport)
    assert want in tp.requests(), \
        "tinyproxy received the absolute-form POST (%r)" % tp.requests()

    # tinyproxy closes after every response without "Connection: close":
    # back-to-back requests must not fail on a connection it closed
    statuses = [client.get(h.port, "/app/seq%d" % i, timeout=15).status
                for i in range(5)]
    assert statuses == [200] * 5, "5 back-to-back GETs through a proxy " \
        "that closes after each response all answer 200 (%r)\n%s" % (
            statuses, h.error_log)

    assert not proxy_auth_seen(echo_backend), \
        "no Proxy-Authorization reached the backend (%r)" % \
        proxy_auth_seen(echo_backend)


# --------------------------------------------------------------------------
# 2. https backends: CONNECT, then verified TLS inside the tunnel


def test_https_backend_connect_tunnel_through_proxy(httpd_factory,
                                                    tinyproxy_factory,
                                                    nginx_factory, pki,
                                                    echo_backend):
    tp = tinyproxy_factory()
    ng = tls_nginx(nginx_factory, pki, echo=echo_backend,
                   extra=NGINX_SEEN_AUTH)
    h = httpd_factory(upstream(tp) + ca_file(pki)
                      + "RProxyPass /app https://localhost:%d/\n" % ng.port)

    r = client.get(h.port, "/app/echo/hello?x=1", timeout=15)
    assert r.status == 200, "GET to an https backend through the upstream " \
        "proxy answers 200 (%r)\n%s" % (r, h.error_log)
    assert r.header("X-TLS-Protocol") in ("TLSv1.2", "TLSv1.3"), \
        "the backend saw a TLS connection (X-TLS-Protocol %r)" % \
        r.header("X-TLS-Protocol")
    assert r.json()["target"] == "/hello?x=1", \
        "the request reached the backend with its target (%r)" % \
        r.json()["target"]
    assert tp.connects(https_authority(ng)) == 1, \
        "tinyproxy received CONNECT %s (its request lines: %r)" % (
            https_authority(ng), tp.requests())
    plain = [t for (m, t) in tp.requests()
             if m != "CONNECT" and str(ng.port) in t]
    assert not plain, "no plain-text request for the https backend was " \
        "sent to the proxy (%r)" % plain

    body = backends.payload(50000, seed=32)
    r = client.request(h.port, "POST", "/app/echo/submit", body=body,
                       headers=[("Content-Type", "application/octet-stream")],
                       timeout=15)
    assert r.status == 200 and \
        r.json()["body_sha256"] == backends.sha256(body), \
        "a POST body crosses the tunnel unchanged (%r)\n%s" % (r, h.error_log)


# --------------------------------------------------------------------------
# 3. credentials for the proxy


def auth_setup(tinyproxy_factory, nginx_factory, pki, echo_backend):
    """A tinyproxy requiring USER:PASSWORD, an https nginx (with /echo/ to
    the echo backend), and routes /plain (http) and /tls (https)."""
    tp = tinyproxy_factory(basic_auth=(USER, PASSWORD))
    ng = tls_nginx(nginx_factory, pki, echo=echo_backend,
                   extra=NGINX_SEEN_AUTH)
    routes = ca_file(pki) + \
        "RProxyPass /plain %s/\n" % echo_backend.url + \
        "RProxyPass /tls https://localhost:%d/\n" % ng.port
    return tp, ng, routes


def test_proxy_auth_missing_http_backend_407_is_502(httpd_factory,
                                                    tinyproxy_factory,
                                                    nginx_factory, pki,
                                                    echo_backend):
    tp, ng, routes = auth_setup(tinyproxy_factory, nginx_factory, pki,
                                echo_backend)
    h = httpd_factory(upstream(tp) + routes)
    r = client.get(h.port, "/plain/x", timeout=15)
    assert r.status == 502, "without credentials, the proxy's 407 to an " \
        "absolute-form request gives the client 502 (%r, Proxy-Authenticate " \
        "%r)" % (r, r.header("Proxy-Authenticate"))
    lines = log_lines_naming(h.error_log, tp.hostport, "407")
    assert lines, "the error log names the proxy %s and its status 407 " \
        "(http backend):\n%s" % (tp.hostport, h.error_log)
    assert not echo_backend.requests, "nothing reached the backend " \
        "without credentials (%r)" % echo_backend.requests


def test_proxy_auth_missing_connect_407_is_502(httpd_factory,
                                               tinyproxy_factory,
                                               nginx_factory, pki,
                                               echo_backend):
    tp, ng, routes = auth_setup(tinyproxy_factory, nginx_factory, pki,
                                echo_backend)
    h = httpd_factory(upstream(tp) + routes)
    r = client.get(h.port, "/tls/x", timeout=15)
    assert r.status == 502, "without credentials a CONNECT refused with " \
        "407 gives 502 for an https backend (%r)" % r
    lines = log_lines_naming(h.error_log, tp.hostport, "407")
    assert lines, "the error log names the proxy %s and its status 407 " \
        "(CONNECT):\n%s" % (tp.hostport, h.error_log)
    assert tp.connects(https_authority(ng)) >= 1, \
        "the CONNECT did reach tinyproxy (%r)" % tp.requests()


def test_proxy_auth_credentials_sent_to_proxy_never_to_backend(
        httpd_factory, tinyproxy_factory, nginx_factory, pki, echo_backend):
    tp, ng, routes = auth_setup(tinyproxy_factory, nginx_factory, pki,
                                echo_backend)
    h = httpd_factory(upstream(tp, (USER, PASSWORD)) + routes)
    r = client.get(h.port, "/plain/x", timeout=15)
    assert r.status == 200, "with user:password the http backend answers " \
        "200 through the proxy (%r)\n%s" % (r, h.error_log)
    assert came_through_tinyproxy(r.json()), \
        "that request came through tinyproxy (Via %r)" % \
        header_of(r.json(), "Via")
    r = client.get(h.port, "/tls/echo/y", timeout=15)
    assert r.status == 200, "with user:password the https backend answers " \
        "200 through the proxy (%r)\n%s" % (r, h.error_log)
    assert tp.connects(https_authority(ng)) == 1, \
        "that request went through an authenticated CONNECT (%r)" % \
        tp.requests()
    assert not r.header("X-Seen-Proxy-Authorization"), \
        "inside the tunnel the https backend saw no Proxy-Authorization " \
        "(%r)" % r.header("X-Seen-Proxy-Authorization")
    # tinyproxy removes the credentials it checked: for the http backend
    # this shows the end-to-end result, the tunnel above is the sharp check
    assert not proxy_auth_seen(echo_backend), \
        "no request reaching the backend carried Proxy-Authorization (%r)" \
        % proxy_auth_seen(echo_backend)
    b64 = base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()
    leaked = [l for l in h.error_log.splitlines()
              if PASSWORD in l or b64 in l]
    assert not leaked, "the proxy password is not written to the error " \
        "log:\n%s" % "\n".join(leaked)


def test_proxy_refusing_connect_is_502_naming_proxy_and_status(
        httpd_factory, tinyproxy_factory, nginx_factory, pki):
    # tinyproxy answers "403 Access violation" to CONNECT to other ports
    tp = tinyproxy_factory(connect_ports=[1])
    ng = tls_nginx(nginx_factory, pki)
    h = httpd_factory(upstream(tp) + ca_file(pki)
                      + "RProxyPass /app https://localhost:%d/\n" % ng.port)
    r = client.get(h.port, "/app/x", timeout=15)
    assert r.status == 502, "a CONNECT the proxy refuses (403) gives 502 " \
        "(%r)" % r
    lines = log_lines_naming(h.error_log, tp.hostport, "403")
    assert lines, "the error log names the proxy %s and its status 403:\n%s" \
        % (tp.hostport, h.error_log)


# --------------------------------------------------------------------------
# 4. pooled tunnels are reused


def test_pooled_tunnel_reused_one_connect(httpd_factory, tinyproxy_factory,
                                          nginx_factory, pki):
    tp = tinyproxy_factory()
    ng = tls_nginx(nginx_factory, pki)
    h = httpd_factory(upstream(tp) + ca_file(pki)
                      + "RProxyPass /app https://localhost:%d/\n" % ng.port)
    conns = []
    for i in range(5):
        # a fresh client connection each time: reuse must come from the pool
        r = client.get(h.port, "/app/seq%d" % i, timeout=15)
        assert r.status == 200, "sequential request %d through the proxy " \
            "answers 200 (%r)\n%s" % (i, r, h.error_log)
        conns.append(r.header("X-TLS-Conn"))
    assert len(set(conns)) == 1, "5 sequential requests used one pooled " \
        "connection at the backend (nginx connection numbers %r)" % conns
    assert tp.connects(https_authority(ng)) == 1, \
        "tinyproxy received one CONNECT for the 5 requests (request " \
        "lines: %r)" % tp.requests()


# --------------------------------------------------------------------------
# 5. "none" in a virtual host


def test_none_in_virtual_host_overrides_main_server(httpd_factory,
                                                    tinyproxy_factory,
                                                    echo_backend):
    tp = tinyproxy_factory()
    h = httpd_factory(
        upstream(tp)
        + "<VirtualHost 127.0.0.1:@PORT@>\n"
          "    ServerName default.example\n"
          "    RProxyPass /app %s/default\n"
          "</VirtualHost>\n"
          "<VirtualHost 127.0.0.1:@PORT@>\n"
          "    ServerName vh\n"
          "    RProxyUpstreamProxy none\n"
          "    RProxyPass /app %s/vh\n"
          "</VirtualHost>\n" % (echo_backend.url, echo_backend.url))

    tp.mark()
    r = client.get(h.port, "/app/x", host="vh", timeout=15)
    assert r.status == 200, "a request to the vhost with " \
        "'RProxyUpstreamProxy none' answers 200 (%r)\n%s" % (r, h.error_log)
    info = r.json()
    assert info["target"] == "/vh/x", \
        "it reached the vhost's route (%r)" % info["target"]
    assert not came_through_tinyproxy(info), \
        "it went to the backend directly, not through tinyproxy (Via %r)" \
        % header_of(info, "Via")
    assert not tp.requests(since_mark=True), \
        "tinyproxy's log shows nothing for it (%r)" % tp.requests(True)

    tp.mark()
    r = client.get(h.port, "/app/x", host="default.example", timeout=15)
    assert r.status == 200, "a request to a vhost without a setting of its " \
        "own answers 200 (%r)\n%s" % (r, h.error_log)
    info = r.json()
    assert info["target"] == "/default/x", \
        "it reached that vhost's route (%r)" % info["target"]
    assert came_through_tinyproxy(info) and tp.requests(since_mark=True), \
        "a vhost without a setting of its own inherits the main server's " \
        "proxy (Via %r, tinyproxy request lines %r)" % (
            header_of(info, "Via"), tp.requests(True))


# --------------------------------------------------------------------------
# 6. configuration


@pytest.fixture
def tester(httpd_factory):
    return httpd_factory(start=False)


BAD_PROXY_URLS = {
    "https-proxy": "https://127.0.0.1:3128",
    "path": "http://h:3128/path",
    "ftp-scheme": "ftp://x",
}


@pytest.mark.parametrize("case", sorted(BAD_PROXY_URLS))
def test_bad_proxy_url_refused_naming_directive(tester, case):
    value = BAD_PROXY_URLS[case]
    res = tester.configtest("RProxyUpstreamProxy %s\n"
                            "RProxyPass /app http://127.0.0.1:9/\n" % value)
    assert res.rc != 0, "%s: httpd -t refuses RProxyUpstreamProxy %s:\n%s" % (
        case, value, res.output)
    reason = res.output.split(res.conf_path, 1)[-1]
    assert "RProxyUpstreamProxy" in reason, \
        "%s: the error names the directive:\n%s" % (case, res.output)
    assert value in reason, \
        "%s: the error names the bad value %r:\n%s" % (case, value, res.output)


def test_good_proxy_urls_accepted(tester):
    res = tester.configtest(
        "RProxyUpstreamProxy http://%s:%s@127.0.0.1:3128\n"
        "RProxyPass /app http://127.0.0.1:9/\n"
        "<VirtualHost 127.0.0.1:@PORT@>\n"
        "    ServerName noport.example\n"
        "    RProxyUpstreamProxy http://proxy.example\n"
        "</VirtualHost>\n"
        "<VirtualHost 127.0.0.1:@PORT@>\n"
        "    ServerName direct.example\n"
        "    RProxyUpstreamProxy none\n"
        "</VirtualHost>\n" % (USER, PASSWORD))
    assert res.rc == 0, "credentials, a URL without a port (80) and none in " \
        "a virtual host pass httpd -t:\n%s" % res.output


def test_location_opts_out_of_upstream_proxy(httpd_factory, tinyproxy_factory, echo_backend):
    tp = tinyproxy_factory()
    h = httpd_factory("RProxyUpstreamProxy %s\n"
                      "RProxyPass /via %s/\n"
                      "<Location /direct>\n"
                      "  RProxyUpstreamProxy none\n"
                      "  RProxyPass %s/\n"
                      "</Location>\n" % (tp.url, echo_backend.url, echo_backend.url))
    r = client.get(h.port, "/via/a")
    assert r.status == 200 and any(n.lower() == "via" for n, v in r.json()["headers"]), \
        "a route in the server goes through the upstream proxy"
    r = client.get(h.port, "/direct/b")
    assert r.status == 200 and not any(n.lower() == "via" for n, v in r.json()["headers"]), \
        "a <Location> with RProxyUpstreamProxy none reaches its backend directly"
