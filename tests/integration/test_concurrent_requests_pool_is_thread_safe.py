"""Concurrent requests through one child's threads share the per-process
backend pool safely: every request gets its own answer, bodies arrive
intact, and the pool holds no more connections than there were requests in
flight."""

import threading

import backends
import client

THREADS = 16
PER_THREAD = 12


def test_concurrent_requests(httpd_factory, echo_backend):
    h = httpd_factory("RProxyPass /app %s/base\n" % echo_backend.url)
    failures = []

    def worker(t):
        try:
            with client.Session(h.port, timeout=20) as s:
                for i in range(PER_THREAD):
                    body = backends.payload(1000 + 97 * i + t, seed=t * 100 + i)
                    r = s.request("POST", "/app/t%d/r%d" % (t, i), body=body)
                    info = r.json() if r.status == 200 else {}
                    if r.status != 200 or info.get("target") != "/base/t%d/r%d" % (t, i) \
                            or info.get("body_sha256") != backends.sha256(body):
                        failures.append((t, i, r.status, info.get("target")))
        except Exception as e:  # noqa: BLE001 - reported below
            failures.append((t, repr(e)))

    threads = [threading.Thread(target=worker, args=(t,), daemon=True)
               for t in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "all client threads finished in time"
    assert not failures, \
        "every concurrent request got its own answer with its body intact: %r" % failures[:5]
    assert echo_backend.total_connections <= THREADS, \
        "no more backend connections than concurrent requests (%d)" % echo_backend.total_connections
    assert echo_backend.open_connections <= THREADS, "pooled connections are bounded"
