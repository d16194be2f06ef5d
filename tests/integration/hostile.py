"""Helpers of the hostile-input tests (test_rfc9112_hostile_backend_*.py,
test_hostile_client_requests.py): one httpd and one scripted backend per
test module, and the checks every hostile answer shares.

The module-scoped setup keeps these many small cases cheap (one httpd start
per file instead of one per case); each case marks the error log first and
reads only what it wrote.
"""

import os
import re
import tempfile
import time

import backends
import rphttpd

# RFC 8941 sf-item with parameters, as in RFC 9209 Proxy-Status
_TOKEN = r"[A-Za-z*][A-Za-z0-9!#$%&'*+\-.^_`|~:/]*"
_STRING = r'"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*"'
_ITEM_RE = re.compile(r"^(%s|%s)((?:;\s*[a-z*][a-z0-9_\-.*]*(?:=(?:%s|%s|-?\d+))?)*)$"
                      % (_TOKEN, _STRING, _TOKEN, _STRING))
_PARAM_RE = re.compile(r";\s*([a-z*][a-z0-9_\-.*]*)(?:=(%s|%s|-?\d+))?"
                       % (_STRING, _TOKEN))

# What a leaked backend message would carry: every scripted answer has it.
MARKER_NAME = "X-Hostile-Marker"
MARKER_BODY = b"HOSTILE-BODY"


class Setup:
    """A started httpd routing `RProxyPass /app/ <backend>/base/` (plus the
    extra config given) and its backend; stop() checks httpd's logs for a
    crash or sanitizer report."""

    def __init__(self, base_dir, handler, extra="", name="hostile"):
        self.backend = backends.Backend(handler, name=name).start()
        d = tempfile.mkdtemp(prefix=name + "-", dir=base_dir)
        os.chmod(d, 0o755)
        snippet = extra + "RProxyPass /app/ %s/base/\n" % self.backend.url
        self.httpd = rphttpd.Httpd(d, snippet, timeout=10)
        try:
            self.httpd.start()
        except Exception:
            self.backend.stop()
            raise

    def stop(self):
        try:
            self.httpd.stop(check=True)
        finally:
            self.backend.stop()
        assert not self.backend.errors, \
            "a scripted backend handler raised: %s" % self.backend.errors


def module_setup(request, handler, extra="", name="hostile"):
    """For a module-scoped fixture: a Setup stopped at the module's end."""
    s = Setup(request.config._rptest_base, handler, extra, name)
    request.addfinalizer(s.stop)
    return s


def parse_proxy_status(value):
    """(name, {param: value}) of a one-member Proxy-Status, strings
    unquoted; None when the value is not a valid sf-item."""
    m = _ITEM_RE.match(value or "")
    if not m:
        return None
    params = {}
    for k, v in _PARAM_RE.findall(m.group(2)):
        if v.startswith('"'):
            v = re.sub(r'\\(["\\])', r"\1", v[1:-1])
        params[k] = v
    return m.group(1), params


def check_proxy_status(r, error, what):
    """The response carries `Proxy-Status: "127.0.0.1"; error=<error>;
    details=...` (the tests' ServerName is 127.0.0.1)."""
    v = r.header("Proxy-Status")
    assert v, "%s: the %d carries Proxy-Status (headers %r)" % (
        what, r.status, r.headers)
    parsed = parse_proxy_status(v)
    assert parsed, "%s: Proxy-Status is a valid sf-item (%r)" % (what, v)
    name, params = parsed
    assert name == '"127.0.0.1"', "%s: named by ServerName (%r)" % (what, v)
    assert params.get("error") == error, "%s: error=%s (got %r)" % (
        what, error, v)
    assert params.get("details"), "%s: details say more (%r)" % (what, v)
    return params


def check_not_leaked(r, what):
    """Nothing of the backend's malformed message reached the client."""
    names = [n.lower() for (n, _) in r.headers]
    assert MARKER_NAME.lower() not in names, \
        "%s: no field of the malformed response is forwarded (%r)" % (
            what, r.headers)
    assert MARKER_BODY not in r.body, \
        "%s: no byte of the malformed body is forwarded (%r)" % (
            what, r.body[:200])


def wait_log(h, pattern, timeout=3.0):
    """The error-log text written since h.mark_logs() once a line matches
    `pattern` (a regex), or whatever was written when `timeout` passed."""
    rx = re.compile(pattern)
    deadline = time.monotonic() + timeout
    while True:
        text = h.error_log_since_mark()
        if any(rx.search(l) for l in text.splitlines()) or \
                time.monotonic() >= deadline:
            return text
        time.sleep(0.05)


def check_log_names(h, backend, fault_text, what):
    """An error-level line of mod_rproxy names the backend and the fault."""
    pat = r"\[rproxy:error\].*%s.*%s" % (re.escape(backend.hostport),
                                         re.escape(fault_text))
    text = wait_log(h, pat)
    assert re.search(pat, text), \
        "%s: an error-log line names backend %s and the fault %r; log " \
        "was:\n%s" % (what, backend.hostport, fault_text, text)
