"""Member state is shared by every httpd child process, not kept per
child: with 2 children, smooth round robin over 2 members alternates
strictly across requests served by either child (one shared sequence),
and a member ejected by the failure one child saw is skipped by the other
child too."""

import os
import time

import backends
import client
import lbutil


def start_two_children(httpd_factory, snippet):
    h = httpd_factory(start=False, extra_global=lbutil.two_children())
    log = os.path.join(h.workdir, "pids.log")
    h.snippet = snippet + 'CustomLog %s "%%P %%U"\n' % log
    h.start()
    return h, log


def served_by(log, n):
    # httpd logs a request after its response went out: wait for the last
    deadline = time.monotonic() + 5
    while True:
        with open(log) as f:
            lines = [l.split() for l in f.read().splitlines() if l.strip()]
        if len(lines) >= n or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(lines) >= n, "every request was logged (%d of %d)" % (len(lines), n)
    return {l[1]: int(l[0]) for l in lines}


def test_round_robin_sequence_shared_by_two_children(httpd_factory, backend_factory):
    m = lbutil.start_members(backend_factory, ["a", "b"])
    h, log = start_two_children(httpd_factory, lbutil.snippet(
        "app", [(m["a"].url, ""), (m["b"].url, "")]))
    assert len(h.child_pids()) == 2, "httpd runs 2 children (%r)" % h.child_pids()
    seq = []
    for i in range(200):
        # a fresh connection each time: the kernel spreads them over the
        # children's listeners
        seq.append(lbutil.member_of(client.get(h.port, "/app/q%d" % i)))
    pid_of = served_by(log, 200)
    pids = {}
    for i in range(200):
        p = pid_of["/app/q%d" % i]
        pids[p] = pids.get(p, 0) + 1
    assert len(pids) == 2 and min(pids.values()) >= 10, \
        "both children served requests (%r)" % pids
    repeats = sum(1 for i in range(1, 200) if seq[i] == seq[i - 1])
    assert repeats == 0, \
        "one shared round robin: members alternate whatever child serves (%d repeats)" % repeats


def test_ejection_by_one_child_honoured_by_the_other(httpd_factory, backend_factory):
    a = backend_factory(lbutil.member_handler("a"), name="a")
    dead_sock, dead_port = backends.bound_unlistened_port()
    try:
        h, log = start_two_children(httpd_factory, lbutil.snippet(
            "app", [(a.url, ""), ("http://127.0.0.1:%d" % dead_port, "")],
            "RProxyEject 1 5m"))
        for i in range(100):
            assert lbutil.member_of(client.get(h.port, "/app/e%d" % i)) == "a"
        pid_of = served_by(log, 100)
        assert len(set(pid_of.values())) == 2, "both children served requests"
        text = h.error_log
        moves = lbutil.log_ids(text, "00191")
        assert len(moves) == 1 and len(lbutil.log_ids(text, "00190")) == 1, \
            "one failure in one child ejected the member for both:\n%s" % text[-3000:]
        ejector = lbutil.pids_of(moves).pop()
        other = [p for p in set(pid_of.values()) if p != ejector]
        assert other, "the other child served requests without trying the member"
    finally:
        dead_sock.close()
