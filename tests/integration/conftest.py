"""Fixtures for the mod_rproxy integration tests.

Run:  cd <repo> && python3 -m pytest -q tests/integration
Env:  RPROXY_MODULE  absolute path of mod_rproxy.so (default <repo>/mod_rproxy.so)
      RPROXY_IMPL    "mod_proxy" to run the same tests against mod_proxy_http
                     (harness development; mod_rproxy-only checks may fail)
      RPTEST_KEEP=1  keep the work directories (kept anyway when a test fails)
"""

import os
import signal
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import backends  # noqa: E402
import rphttpd  # noqa: E402

DEFAULT_TEST_TIMEOUT = 60


# --------------------------------------------------------------------------
# Session


def pytest_configure(config):
    # httpd children that crash leave a core (CoreDumpDirectory, rphttpd)
    # for check_no_crash() to read; they inherit this limit
    rphttpd.allow_core_dumps()
    base = tempfile.mkdtemp(prefix="rptest-")
    os.chmod(base, 0o755)
    config._rptest_base = base
    # as root the servers' children run as www-data: a directory on the way
    # to their libraries that others cannot search makes every child abort
    # at its first thread exit ("libgcc_s.so.1 must be installed"), which
    # looks like a crash of the module in every test; say so once instead
    closed = rphttpd.dirs_closed_to_others()
    if closed:
        pytest.exit("rptest: www-data cannot search %s (mode %o); the "
                    "servers' children could not load their libraries"
                    % closed[0], returncode=3)


def pytest_report_header(config):
    if rphttpd.impl() == "mod_proxy":
        what = "mod_proxy_http (RPROXY_IMPL=mod_proxy)"
    else:
        path = rphttpd.module_path()
        what = "mod_rproxy %s%s" % (path, "" if os.path.exists(path)
                                    else " (MISSING)")
    return ["proxy under test: " + what,
            "work dirs: " + config._rptest_base]


def pytest_sessionfinish(session, exitstatus):
    cfg = session.config
    if not session.testsfailed and not os.environ.get("RPTEST_KEEP"):
        rphttpd.remove_tree(cfg._rptest_base)
    else:
        tr = cfg.pluginmanager.get_plugin("terminalreporter")
        if tr is not None:
            tr.write_line("rptest: work dirs kept in " + cfg._rptest_base)


# --------------------------------------------------------------------------
# A bound on every test (SIGALRM in the main thread, where tests run)


class TestTimeout(Exception):
    pass


@pytest.fixture(autouse=True)
def _bounded_test(request):
    m = request.node.get_closest_marker("timeout_s")
    limit = int(m.args[0]) if m else DEFAULT_TEST_TIMEOUT

    def on_alarm(signum, frame):
        raise TestTimeout("test exceeded its %ds bound" % limit)

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(limit)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# --------------------------------------------------------------------------
# Factories


@pytest.fixture
def workdir(request):
    base = request.config._rptest_base
    name = request.node.name.replace("/", "_").replace("[", "-") \
        .replace("]", "")[:80]
    d = tempfile.mkdtemp(prefix=name + "-", dir=base)
    os.chmod(d, 0o755)
    yield d
    # Everything the test started is stopped by now (the factories' own
    # teardowns ran first): a process still running from this directory
    # is a leak. It is killed by its PID, and the test fails.
    leaked = ["%d (%s)" % (pid, rphttpd.cmdline_of(pid))
              for pid in rphttpd.processes_mentioning(d + os.sep)]
    for what in leaked:
        rphttpd.kill_pid(int(what.split()[0]), signal.SIGKILL)
    if leaked:
        pytest.fail("processes left running: " + ", ".join(leaked),
                    pytrace=False)


def _require_module():
    if rphttpd.impl() == "mod_proxy":
        return
    path = rphttpd.module_path()
    if not os.path.exists(path):
        pytest.fail("mod_rproxy module not found at %s: build it (make) or "
                    "set RPROXY_MODULE=/abs/path/mod_rproxy.so "
                    "(RPROXY_IMPL=mod_proxy runs the harness against "
                    "mod_proxy_http)" % path, pytrace=False)


@pytest.fixture
def httpd_factory(workdir):
    """httpd_factory(snippet, **kw) -> started Httpd; stopped (and checked
    for crash/sanitizer lines) at teardown."""
    started = []
    n = [0]

    def make(snippet="", start=True, **kw):
        _require_module()
        n[0] += 1
        d = os.path.join(workdir, "httpd%d" % n[0])
        h = rphttpd.Httpd(d, snippet, **kw)
        # stopped at teardown also when the test starts it itself
        started.append(h)
        if start:
            h.start()
        return h

    yield make
    errors = []
    for h in started:
        try:
            h.stop(check=True)
        except AssertionError as e:
            errors.append(str(e))
    if errors:
        pytest.fail("\n".join(errors), pytrace=False)


@pytest.fixture
def backend_factory():
    """backend_factory(handler, **kw) -> started backends.Backend."""
    started = []

    def make(handler, **kw):
        b = backends.Backend(handler, **kw).start()
        started.append(b)
        return b

    yield make
    errors = []
    for b in started:
        b.stop()
        errors += b.errors
    assert not errors, "a scripted backend handler raised: %s" % errors


@pytest.fixture
def echo_backend(backend_factory):
    return backend_factory(backends.echo_handler, name="echo")


@pytest.fixture
def nginx_factory(workdir):
    started = []

    def make():
        d = os.path.join(workdir, "nginx%d" % (len(started) + 1))
        ng = rphttpd.Nginx(d)
        started.append(ng)
        return ng

    yield make
    for ng in started:
        ng.stop()
        # the served files are regenerated each run: never keep 50 MB around
        rphttpd.remove_tree(ng.root)
