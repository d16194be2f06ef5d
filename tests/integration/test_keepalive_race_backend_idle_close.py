"""The keep-alive race: a backend that closes idle connections after
IDLE s (0.3) while the proxy sends it a request about as often, on both
sides of that moment. A pooled connection
the backend closed is noticed before reuse, and a GET that still meets a
closing connection before any response byte is retried once on a fresh one:
no GET fails. A POST (not idempotent, no Idempotency-Key) is never sent
twice, whatever happens to it. A backend announcing "Keep-Alive: timeout=N"
has its connections retired before that deadline."""

import collections
import random
import time

import pytest

import backends
import client

ROUNDS = 60
# The backend's idle timeout; requests come 0.9 to 1.1 times it apart. The
# race's window (a close on its way while the pooled connection is checked
# and reused) does not depend on the period, so a period of 0.3 s tries it
# at least as often as one of 1 s, in 30 % of the time.
IDLE = 0.3


@pytest.mark.timeout_s(60)
def test_get_every_period_against_idle_close_never_fails(httpd_factory):
    b = backends.Backend(backends.echo_handler, name="race",
                         idle_timeout=IDLE).start()
    try:
        h = httpd_factory("RProxyPass /app %s/\n" % b.url)
        rnd = random.Random(7)
        statuses = collections.Counter()
        for i in range(ROUNDS):
            r = client.get(h.port, "/app/get%d" % i)
            statuses[r.status] += 1
            # around the backend's idle timeout, on both sides of it
            time.sleep(IDLE * (0.9 + rnd.random() * 0.2))
        assert statuses == {200: ROUNDS}, \
            "every GET sent around the backend's idle close answers 200 (%r)" % dict(statuses)
        assert not h.error_level_lines(), \
            "no error-level log line for a recovered race (%r)" % h.error_level_lines()[:3]
    finally:
        b.stop()


@pytest.mark.timeout_s(60)
def test_post_without_idempotency_key_never_sent_twice(httpd_factory):
    b = backends.Backend(backends.echo_handler, name="race-post",
                         idle_timeout=IDLE).start()
    try:
        h = httpd_factory("RProxyPass /app %s/\n" % b.url)
        rnd = random.Random(11)
        statuses = collections.Counter()
        for i in range(ROUNDS // 2):
            r = client.request(h.port, "POST", "/app/post%d" % i, body=b"x" * 100)
            statuses[r.status] += 1
            time.sleep(IDLE * (0.9 + rnd.random() * 0.2))
        seen = collections.Counter(req["target"] for req in b.requests)
        dups = {t: n for t, n in seen.items() if n > 1}
        assert not dups, "no POST reached the backend twice (%r)" % dups
        assert set(statuses) <= {200, 502}, \
            "a POST either succeeds or fails as 502 (%r)" % dict(statuses)
    finally:
        b.stop()


def _ka_handler(req, conn):
    n, digest = req.body_sha256()
    conn.send_json({"conn_id": conn.id}, headers=[("Keep-Alive", "timeout=1, max=100")])


def test_keep_alive_timeout_header_retires_connection_early(httpd_factory):
    # The backend says timeout=1 but keeps the connection for 30 s: only the
    # header can make the proxy open a new connection after 0.8 s.
    b = backends.Backend(_ka_handler, name="ka", idle_timeout=30.0).start()
    try:
        h = httpd_factory("RProxyPass /app %s/\n" % b.url)
        first = client.get(h.port, "/app/1").json()["conn_id"]
        again = client.get(h.port, "/app/2").json()["conn_id"]
        assert again == first, "a request right after reuses the pooled connection"
        time.sleep(0.8)
        later = client.get(h.port, "/app/3").json()["conn_id"]
        assert later != first, \
            "after 0.8 s of a 1 s Keep-Alive timeout the pooled connection is retired"
    finally:
        b.stop()


def _close_on_second_request(req, conn):
    """Answers the first request of a connection; on the second one it reads
    the request and closes without a byte of response: the moment a pooled
    connection dies under a request that is already on its way."""
    if conn.index >= 1:  # 0-based: the connection's second request
        req.drain()
        conn._close()
        return
    backends.echo_handler(req, conn)


def test_request_on_dying_pooled_connection_retried_only_when_safe(httpd_factory):
    b = backends.Backend(_close_on_second_request, name="dying").start()
    try:
        h = httpd_factory("RProxyPass /app %s/\n" % b.url)
        r = client.get(h.port, "/app/warm")
        assert r.status == 200, "the first request on a connection is answered"

        r = client.get(h.port, "/app/get")
        assert r.status == 200, "a GET that meets a dying pooled connection is retried (%r)" % r
        body = backends.payload(1000, seed=3)
        r = client.request(h.port, "PUT", "/app/put", body=body)
        assert r.status == 200 and r.json()["body_sha256"] == backends.sha256(body), \
            "a PUT with a small body is retried with its body sent again intact"
        r = client.request(h.port, "POST", "/app/post-key", body=body,
                           headers=[("Idempotency-Key", "k-1")])
        assert r.status == 200 and r.json()["body_sha256"] == backends.sha256(body), \
            "a POST with an Idempotency-Key is retried with its body"
        r = client.request(h.port, "POST", "/app/post-nokey", body=body)
        assert r.status == 502, "a POST without a key is not retried: 502 (%r)" % r
        r = client.get(h.port, "/app/warm2")
        assert r.status == 200, "a fresh connection is answered (and pooled)"
        big = backends.payload(100 * 1024, seed=4)
        r = client.request(h.port, "PUT", "/app/put-big", body=big)
        assert r.status == 502, \
            "a PUT whose body was too large to keep (100 KiB) is not retried: 502 (%r)" % r

        seen = collections.Counter(req["target"] for req in b.requests)
        assert seen["/get"] == 2 and seen["/put"] == 2 and seen["/post-key"] == 2, \
            "the retried requests reached the backend twice, once per attempt (%r)" % seen
        assert seen["/post-nokey"] == 1, "the POST without a key was sent once (%r)" % seen
        assert seen["/put-big"] == 1, "the large PUT was sent once (%r)" % seen
    finally:
        b.stop()
