"""Helpers for the balancer tests: members that say who they are, the
<RProxyBalancer> snippet, a graceful restart, and per-child counting.

Each member backend answers 200 with JSON {"member": name, "target": ...,
"host": Host field}, so a test sees which member served each request."""

import os
import re
import signal
import time

import backends
import client


def member_handler(name, delay=0.0, status=200):
    def handler(req, conn):
        req.read_body()
        if delay:
            time.sleep(delay)
        conn.send_json({"member": name, "target": req.target,
                        "host": req.header("Host"),
                        "cookie": req.header("Cookie")}, status=status)
    return handler


def start_members(backend_factory, names, **kw):
    """{name: Backend} for each name."""
    return {n: backend_factory(member_handler(n, **kw), name=n) for n in names}


def snippet(name, members, options="", route="RProxyPass /app/ "
            "balancer://%(name)s/base/\n"):
    """members: [(url, "weight=3 standby"...)]."""
    lines = ["<RProxyBalancer %s>" % name]
    for url, opts in members:
        lines.append("  RProxyMember %s %s" % (url, opts))
    for o in options.strip().splitlines():
        lines.append("  " + o.strip())
    lines.append("</RProxyBalancer>")
    return "\n".join(lines) + "\n" + route % {"name": name}


def member_of(resp):
    assert resp.status == 200, "the proxied request answers 200 (%r %r)" % (
        resp, resp.body[:200])
    return resp.json()["member"]


def count(port, n, path="/app/x", headers=(), session=True):
    """How many of n GETs each member served (keep-alive sessions of 50
    requests: httpd's MaxKeepAliveRequests is 100)."""
    seen = {}
    if session:
        for i in range(n):
            if i % 50 == 0:
                s = client.Session(port)
            m = member_of(s.request("GET", "%s%d" % (path, i),
                                    headers=headers))
            seen[m] = seen.get(m, 0) + 1
            if i % 50 == 49 or i == n - 1:
                s.close()
    else:
        for i in range(n):
            m = member_of(client.get(port, "%s%d" % (path, i),
                                     headers=headers))
            seen[m] = seen.get(m, 0) + 1
    return seen


def graceful_restart(h, new_snippet=None, timeout=15):
    """Write the config (optionally a new snippet), send SIGUSR1 to the
    parent and wait until every child is of the new generation."""
    old = set(h.child_pids())
    if new_snippet is not None:
        h.snippet = new_snippet
    h.write_conf()
    os.kill(h.pid, signal.SIGUSR1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = set(h.child_pids())
        if kids and not (kids & old):
            break
        time.sleep(0.05)
    kids = set(h.child_pids())
    assert kids and not (kids & old), \
        "a new generation of children replaced %r after SIGUSR1 (now %r)" % (
            old, kids)
    # the new children accept once the listener is theirs
    backends_ready = time.monotonic() + timeout
    while time.monotonic() < backends_ready:
        try:
            client.get(h.port, "/", timeout=2)
            return
        except OSError:
            time.sleep(0.05)


def log_ids(text, rpid):
    """Error log lines carrying RP<rpid> (e.g. "00190")."""
    return [l for l in text.splitlines() if "RP%s" % rpid in l]


PID_RE = re.compile(r"\[pid (\d+)")


def pids_of(lines):
    return {int(m.group(1)) for l in lines for m in [PID_RE.search(l)] if m}


def two_children():
    """extra_global for an httpd with 2 child processes (the harness
    default is one)."""
    return ("StartServers 2\nServerLimit 2\nMaxRequestWorkers 50\n"
            "MinSpareThreads 50\nMaxSpareThreads 100\n")
