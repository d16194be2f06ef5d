"""Helpers for the health-check and status-handler tests: members whose
health endpoint can be switched between 200 and 503 and that count the
checks they receive, and a JSON view of `SetHandler rproxy-status`."""

import threading
import time

import client


class Health:
    """A member's /healthz answer (switchable) and the checks it saw."""

    def __init__(self, status=200):
        self.status = status
        self.checks = []  # (monotonic time, User-Agent)
        self.lock = threading.Lock()

    def count(self):
        with self.lock:
            return len(self.checks)


def member(backend_factory, name, health, delay=0.0):
    """A backend named name: /healthz answers health.status, anything else
    200 with JSON {"member": name} after delay seconds."""
    def handler(req, conn):
        req.read_body()
        if req.target.startswith("/healthz"):
            with health.lock:
                health.checks.append((time.monotonic(), req.header("User-Agent")))
            conn.send_response(health.status, body=b"health\n")
            return
        if delay:
            time.sleep(delay)
        conn.send_json({"member": name, "target": req.target})
    return backend_factory(handler, name=name)


STATUS_LOCATION = """
<IfModule !authz_host_module>
  LoadModule authz_host_module /usr/lib/apache2/modules/mod_authz_host.so
</IfModule>
<Location /rproxy-status>
  SetHandler rproxy-status
  Require ip 127.0.0.1 ::1
</Location>
"""


def status(h):
    """The status JSON."""
    r = client.get(h.port, "/rproxy-status?json")
    assert r.status == 200, "the status handler answers 200 (%r)" % r
    return r.json()


def member_status(h, balancer, url):
    for b in status(h)["balancers"]:
        if b["name"] == balancer:
            for m in b["members"]:
                if m["url"] == url:
                    return m
    raise AssertionError("%s %s is in the status JSON" % (balancer, url))


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("within %ss: %s" % (timeout, what))
