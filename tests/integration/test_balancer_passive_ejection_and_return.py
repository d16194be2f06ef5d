"""Passive health: a member that refuses connections is ejected after N
consecutive failures (the requests themselves move to another member and
succeed); once its ejection ends it gets requests again. A member answering
503 is ejected too (RProxyEjectOn5xx On by default), and a refused POST
moves as well: nothing of it was sent."""

import socket
import time

import backends
import client
import lbutil


def test_refusing_member_ejected_then_returns(httpd_factory, backend_factory):
    a = backend_factory(lbutil.member_handler("a"), name="a")
    dead_sock, dead_port = backends.bound_unlistened_port()
    h = httpd_factory(lbutil.snippet("app", [(a.url, ""), ("http://127.0.0.1:%d" % dead_port, "")],
                                     "RProxyEject 2 1s 4s 50%"))
    try:
        for i in range(10):
            r = client.get(h.port, "/app/r%d" % i)
            assert lbutil.member_of(r) == "a", "request %d moves to the live member" % i
        r = client.request(h.port, "POST", "/app/post", body=b"x" * 1000)
        assert lbutil.member_of(r) == "a", "a POST whose connect was refused moves too"
        log = h.error_log
        assert len(lbutil.log_ids(log, "00190")) == 1, \
            "the member is ejected once, after 2 failures:\n%s" % log[-3000:]
        assert len(lbutil.log_ids(log, "00191")) == 2, \
            "only the 2 requests before the ejection tried the dead member:\n%s" % log[-3000:]
    finally:
        dead_sock.close()
    b = backend_factory(lbutil.member_handler("b"), name="b", port=dead_port)
    deadline = time.monotonic() + 10
    seen = {}
    while time.monotonic() < deadline and seen.get("b", 0) < 3:
        who = lbutil.member_of(client.get(h.port, "/app/back"))
        seen[who] = seen.get(who, 0) + 1
        time.sleep(0.05)
    assert seen.get("b", 0) >= 3, "the member gets requests again once its ejection ends (%r)" % seen
    assert b.total_connections >= 1


def test_member_answering_503_ejected(httpd_factory, backend_factory):
    a = backend_factory(lbutil.member_handler("a"), name="a")
    bad = backend_factory(lbutil.member_handler("bad", status=503), name="bad")
    h = httpd_factory(lbutil.snippet("app", [(a.url, ""), (bad.url, "")],
                                     "RProxyEject 3 1m"))
    statuses = [client.get(h.port, "/app/%d" % i).status for i in range(30)]
    assert statuses.count(503) == 3, \
        "the 503 member answers until it has failed 3 times in a row (%r)" % statuses
    assert len(lbutil.log_ids(h.error_log, "00190")) == 1, "then it is ejected"
    assert statuses[-20:] == [200] * 20, "and the other member takes every request"
