"""Start Debian's apache2 (and nginx) with generated configs for the tests.

Httpd(workdir, snippet) writes <workdir>/httpd.conf: Listen 127.0.0.1:<free
port>, the event MPM with one child of 25 threads (so RSS is measured on one
process), logs in <workdir>, LoadModule rproxy_module $RPROXY_MODULE, and the
caller's snippet.  It starts ``/usr/sbin/apache2 -f <conf> -DFOREGROUND``
with an environment free of APACHE_* variables (Debian's binary reads no
envvars file when run this way: only apache2ctl sources it) and stops it by
signalling that PID.

RPROXY_IMPL=mod_proxy: the snippet (written in RProxy* directives) is
translated to the equivalent mod_proxy_http configuration.  That is how the
harness is shaken out without the module; tests of mod_rproxy-only
behaviour may fail there.
"""

import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from backends import free_port

APACHE = "/usr/sbin/apache2"
NGINX = "/usr/sbin/nginx"
MODDIR = "/usr/lib/apache2/modules"
LOOPBACK = "127.0.0.1"
REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# Lines in an error log that mean a crash or a sanitizer report.
CRASH_RE = re.compile(
    r"AddressSanitizer|UndefinedBehaviorSanitizer|LeakSanitizer|"
    r"runtime error:|child pid \d+ exit signal|Segmentation fault|"
    r"segfault|double free|heap-use-after-free|stack smashing|"
    r"Abort(ed)? \(core dumped\)",
    re.I)
# A crash of httpd's own, not of the module under test: the event MPM's
# ungraceful stop (SIGTERM, plain restart) closes the client sockets of busy
# workers from the main thread (close_worker_sockets) while those workers
# may be ending their connections and freeing the sockets' pools. It
# happens without any proxy module loaded too (docs/internals/testing.md).
# Recognised from the crashing thread's backtrace in the core: a socket
# call of APR's, called from mod_mpm_event, with no mod_rproxy frame.
KNOWN_MPM_RACE_RE = re.compile(
    r"#[0-3] .*\b(apr_os_sock_get|apr_socket_close|apr_socket_opt_set|"
    r"apr_socket_timeout_set|close_worker_sockets|abort_socket_nonblocking)"
    r"\b(.|\n)*mod_mpm_event\.so")
SEGV_LINE_RE = re.compile(r"child pid (\d+) exit signal Segmentation fault")


def allow_core_dumps():
    """Raise this process's core size limit (children inherit it)."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
        resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
    except (ValueError, OSError):
        pass


def core_backtrace(core, timeout=90):
    """The frames of the crashing thread in core (gdb's "#N ..." lines), or
    None."""
    try:
        p = subprocess.run(["gdb", "-batch", "-nx", "-ex", "bt 12", APACHE,
                            core], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    frames = [l for l in p.stdout.decode("utf-8", "replace").splitlines()
              if l.startswith("#")]
    return "\n".join(frames) or None


# An error-log line at level error or above, e.g. "[proxy_http:error]".
ERROR_LEVEL_RE = re.compile(r"\[[\w.-]*:(error|crit|alert|emerg)\]")

ACCESS_FIELDS = ("client", "method", "uri", "status", "bytes", "backend",
                 "backend_time", "duration_us")
# Tab-separated so tests can split it.
ACCESS_FORMAT = (r'"%h\t%m\t%U%q\t%>s\t%B\t%{rproxy-backend}n\t'
                 r'%{rproxy-backend-time}n\t%D"')


def impl():
    """"rproxy" (default) or "mod_proxy" (RPROXY_IMPL=mod_proxy)."""
    v = os.environ.get("RPROXY_IMPL", "rproxy").strip().lower()
    return "mod_proxy" if v in ("mod_proxy", "mod_proxy_http", "proxy") \
        else "rproxy"


def module_path():
    return os.path.abspath(os.environ.get("RPROXY_MODULE")
                           or os.path.join(REPO, "mod_rproxy.so"))


def is_root():
    return os.geteuid() == 0


def clean_env(preload=None, asan_log=None):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("APACHE") and k not in ("LD_PRELOAD",)}
    env["LANG"] = "C"
    env["LC_ALL"] = "C"
    # RPTEST_HTTPD_PRELOAD=/usr/lib/x86_64-linux-gnu/libasan.so.8 runs httpd
    # with a sanitizer runtime, for a module built with --enable-debug.
    # An Httpd passes its own `preload` and `asan_log` (a prefix in its work
    # dir, so that check_no_crash() finds the reports ASan writes there).
    preload = preload or os.environ.get("RPTEST_HTTPD_PRELOAD")
    if preload:
        env["LD_PRELOAD"] = preload
        env.setdefault("ASAN_OPTIONS",
                       "detect_leaks=0:abort_on_error=0:log_path=%s"
                       % (os.environ.get("RPTEST_ASAN_LOG") or asan_log
                          or "/tmp/rptest-asan"))
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    return env


def wait_port(port, timeout, proc=None):
    """Poll until 127.0.0.1:port accepts; False on timeout or if `proc`
    exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            socket.create_connection((LOOPBACK, port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def _stat_after_comm(pid):
    """The fields of /proc/<pid>/stat after "(comm)" (state, ppid, ...);
    None when the process is gone. comm may contain spaces and parens."""
    try:
        with open("/proc/%s/stat" % pid, "rb") as f:
            stat = f.read().decode("latin-1")
    except OSError:
        return None
    return stat[stat.rfind(")") + 2:].split()


def children_of(pid):
    """PIDs whose parent is `pid` (scan of /proc/*/stat)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        rest = _stat_after_comm(name)
        if rest and len(rest) > 1 and rest[0] != "Z" and int(rest[1]) == pid:
            out.append(int(name))
    return sorted(out)


def rss_kb_of(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def processes_mentioning(path):
    """PIDs of the processes whose command line names something under
    path (a test's work directory): what a test started and must have
    stopped by the time it ends."""
    out = []
    me = os.getpid()
    needle = path.encode()
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open("/proc/%s/cmdline" % name, "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if needle in cmd:
            out.append(int(name))
    return out


def cmdline_of(pid):
    """pid's command line as text, or "" when it is gone."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode("latin-1").strip()
    except OSError:
        return ""


def kill_pid(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _make_readable(path):
    os.chmod(path, 0o755)


# --------------------------------------------------------------------------
# RProxy* -> mod_proxy translation (development aid only)


_TIME_RE = re.compile(r"^(\d+)(ms|s|m|h)?$", re.I)


def _seconds(value):
    """httpd time syntax -> seconds (float); None when unparseable."""
    m = _TIME_RE.match(value.strip())
    if not m:
        return None
    n = int(m.group(1))
    unit = (m.group(2) or "s").lower()
    return n * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


def _mp_time(value):
    """A time for mod_proxy worker params (seconds, or Nms)."""
    s = _seconds(value)
    if s is None:
        return value  # let mod_proxy refuse it
    if s < 1 or s != int(s):
        return "%dms" % round(s * 1000)
    return "%d" % s


def translate_to_mod_proxy(snippet):
    settings = {}
    for line in snippet.splitlines():
        words = line.split()
        if len(words) == 2 and words[0].lower().startswith("rproxy") and \
                words[0].lower() != "rproxypass":
            settings[words[0].lower()] = words[1]
    params = []
    fi = settings.get("rproxyflushinterval")
    if fi is not None:
        if fi.strip() == "-1":
            params.append("flushpackets=on")
        elif fi.strip() not in ("0",):
            params += ["flushpackets=auto", "flushwait=%s" % fi.strip()]
    if "rproxyconnecttimeout" in settings:
        params.append("connectiontimeout=" +
                      _mp_time(settings["rproxyconnecttimeout"]))
    t = settings.get("rproxyresponseheadertimeout") or \
        settings.get("rproxyiotimeout")
    if t is not None:
        params.append("timeout=" + _mp_time(t))
    if "rproxyidletimeout" in settings:
        s = _seconds(settings["rproxyidletimeout"])
        params.append("ttl=%d" % max(1, round(s)) if s is not None
                      else "ttl=" + settings["rproxyidletimeout"])
    ptxt = (" " + " ".join(params)) if params else ""
    out = []
    for line in snippet.splitlines():
        words = line.split()
        indent = line[:len(line) - len(line.lstrip())]
        key = words[0].lower() if words else ""
        if key == "rproxypass":
            args = words[1:]
            if len(args) == 2:
                if args[1] == "!":
                    out.append(indent + "ProxyPass %s !" % args[0])
                else:
                    out.append(indent + "ProxyPass %s %s%s" % (args[0], args[1], ptxt))
                    out.append(indent + "ProxyPassReverse %s %s" % (args[0], args[1]))
            elif len(args) == 1:
                if args[0] == "!":
                    out.append(indent + "ProxyPass !")
                else:
                    out.append(indent + "ProxyPass %s%s" % (args[0], ptxt))
                    out.append(indent + "ProxyPassReverse %s" % args[0])
            else:
                out.append(indent + "ProxyPass " + " ".join(args))
        elif key == "rproxypreservehost":
            out.append(indent + "ProxyPreserveHost " + words[1])
        elif key == "rproxyaddforwarded":
            out.append(indent + "ProxyAddHeaders " + words[1])
        elif key.startswith("rproxy"):
            out.append(indent + "# (mod_proxy: folded into ProxyPass) " + line.strip())
        else:
            out.append(line)
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------


class ConfigTestResult(tuple):
    """(rc, output), plus conf_path and snippet_line(n) -> line number in
    the generated file of the snippet's n-th line (1-based)."""

    def __new__(cls, rc, output, conf_path, first_line):
        self = tuple.__new__(cls, (rc, output))
        self.conf_path = conf_path
        self.first_line = first_line
        return self

    @property
    def rc(self):
        return self[0]

    @property
    def output(self):
        return self[1]

    def snippet_line(self, n):
        return self.first_line + n - 1

    def assert_refused(self, what, line, *reasons):
        """httpd -t refused the snippet: the output names the file, the
        snippet's line `line` and, after them, every text in reasons."""
        rc, out = self
        assert rc != 0, "%s: httpd -t refuses it:\n%s" % (what, out)
        assert self.conf_path in out and \
            re.search(r"\bline %d\b" % self.snippet_line(line), out), \
            "%s: the output names the file and line %d:\n%s" % (
                what, self.snippet_line(line), out)
        reason = out.split(self.conf_path, 1)[-1]
        for text in reasons:
            assert text in reason, "%s: the reason says %r:\n%s" % (
                what, text, out)


class HttpdError(Exception):
    pass


class Httpd:
    def __init__(self, workdir, snippet="", threads=25, log_level=None,
                 extra_global="", timeout=30, keepalive_timeout=5,
                 impl_name=None, wrap=None, module=None, preload=None):
        self.workdir = workdir
        # module: this httpd's mod_rproxy.so (default $RPROXY_MODULE);
        # preload: LD_PRELOAD for it, e.g. libasan for an --enable-debug
        # module (default $RPTEST_HTTPD_PRELOAD). ASan writes its reports
        # to asan_dir (writable by the child's user), which
        # check_no_crash() reads.
        self.module = module
        self.preload = preload
        self.asan_dir = os.path.join(workdir, "asan")
        self.wrap = wrap  # wrap(argv) -> argv, e.g. to run in a namespace
        self.snippet = snippet
        self.threads = threads
        self.impl = impl_name or impl()
        self.log_level = log_level
        self.extra_global = extra_global
        self.timeout = timeout
        self.keepalive_timeout = keepalive_timeout
        self.port = free_port()
        self.url = "http://%s:%d" % (LOOPBACK, self.port)
        self.hostport = "%s:%d" % (LOOPBACK, self.port)
        self.conf_path = os.path.join(workdir, "httpd.conf")
        self.error_log_path = os.path.join(workdir, "error.log")
        self.access_log_path = os.path.join(workdir, "access.log")
        self.stdout_path = os.path.join(workdir, "stdout.log")
        self.pid_path = os.path.join(workdir, "httpd.pid")
        self.docroot = os.path.join(workdir, "htdocs")
        self.proc = None
        self.snippet_first_line = None
        self._log_mark = 0
        for d in (workdir, self.docroot, os.path.join(workdir, "run")):
            os.makedirs(d, exist_ok=True)
            _make_readable(d)
        os.makedirs(self.asan_dir, exist_ok=True)
        os.chmod(self.asan_dir, 0o777)
        # where a crashed child leaves its core (writable by its user)
        self.cores_dir = os.path.join(workdir, "cores")
        os.makedirs(self.cores_dir, exist_ok=True)
        os.chmod(self.cores_dir, 0o777)

    # config ----------------------------------------------------------------
    def module_lines(self):
        lines = ["LoadModule mpm_event_module %s/mod_mpm_event.so" % MODDIR,
                 "LoadModule authz_core_module %s/mod_authz_core.so" % MODDIR,
                 "LoadModule mime_module %s/mod_mime.so" % MODDIR]
        # mod_log_config and mod_unixd are compiled into Debian's apache2
        # (apache2 -l); load them only if a build has them shared.
        for name, so in (("log_config_module", "mod_log_config.so"),
                         ("unixd_module", "mod_unixd.so")):
            if os.path.exists(os.path.join(MODDIR, so)):
                lines.append("<IfModule !%s>\n  LoadModule %s %s/%s\n</IfModule>"
                             % (so.replace(".so", ".c"), name, MODDIR, so))
        if self.impl == "mod_proxy":
            lines += ["LoadModule proxy_module %s/mod_proxy.so" % MODDIR,
                      "LoadModule proxy_http_module %s/mod_proxy_http.so" % MODDIR]
        else:
            lines.append("LoadModule rproxy_module %s"
                         % (self.module or module_path()))
        return lines

    def render(self, snippet):
        # "@PORT@" in a snippet stands for the port httpd listens on
        snippet = snippet.replace("@PORT@", str(self.port))
        if self.impl == "mod_proxy":
            body = translate_to_mod_proxy(snippet)
            level = self.log_level or "warn"
        else:
            body = snippet
            level = self.log_level or "warn rproxy:debug"
        w = self.workdir
        t = self.threads
        head = [
            "# generated by tests/integration/rphttpd.py (%s)" % self.impl,
            "ServerRoot %s" % w,
            "ServerName %s" % LOOPBACK,
            "Listen %s:%d" % (LOOPBACK, self.port),
            "PidFile %s" % self.pid_path,
            "DefaultRuntimeDir %s/run" % w,
            "Mutex file:%s/run default" % w,
            "ErrorLog %s" % self.error_log_path,
            "CoreDumpDirectory %s" % self.cores_dir,
            "LogLevel %s" % level,
            "LogFormat %s rptest" % ACCESS_FORMAT,
            "CustomLog %s rptest" % self.access_log_path,
        ] + self.module_lines() + [
            "StartServers 1",
            "ServerLimit 1",
            "ThreadsPerChild %d" % t,
            "ThreadLimit %d" % max(t, 64),
            "MaxRequestWorkers %d" % t,
            "MinSpareThreads 1",
            "MaxSpareThreads %d" % (2 * t),
            "MaxConnectionsPerChild 0",
            "Timeout %d" % self.timeout,
            "KeepAlive On",
            "KeepAliveTimeout %d" % self.keepalive_timeout,
            "GracefulShutdownTimeout 5",
            "TypesConfig /etc/mime.types",
            "DocumentRoot %s" % self.docroot,
            "<Directory />",
            "  Require all granted",
            "</Directory>",
        ]
        if is_root():
            head += ["User www-data", "Group www-data"]
        if self.extra_global:
            head.append(self.extra_global)
        head.append("# ---- test snippet ----")
        # head entries may hold several lines: count real lines
        text = "\n".join(head) + "\n"
        first = text.count("\n") + 1
        return text + body, first

    def write_conf(self, snippet=None):
        text, first = self.render(self.snippet if snippet is None else snippet)
        with open(self.conf_path, "w") as f:
            f.write(text)
        os.chmod(self.conf_path, 0o644)
        self.snippet_first_line = first
        return self.conf_path

    def configtest(self, snippet=None, timeout=20, defines=()):
        """Run `apache2 -t [-D d ...] -f <conf>` on a config with `snippet`;
        return ConfigTestResult (rc, output)."""
        conf = os.path.join(self.workdir, "configtest.conf")
        text, first = self.render(self.snippet if snippet is None else snippet)
        with open(conf, "w") as f:
            f.write(text)
        try:
            argv = [APACHE, "-t"]
            for d in defines:
                argv += ["-D", d]
            p = subprocess.run(argv + ["-f", conf], env=self._env(),
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=timeout)
            rc, out = p.returncode, p.stdout.decode("utf-8", "replace")
        except subprocess.TimeoutExpired as e:
            rc = -999
            out = "configtest timed out after %ss\n%s" % (
                timeout, (e.stdout or b"").decode("utf-8", "replace"))
        return ConfigTestResult(rc, out, conf, first)

    # lifecycle -------------------------------------------------------------
    def start(self, timeout=15):
        self.write_conf()
        self._stdout = open(self.stdout_path, "wb")
        argv = [APACHE, "-f", self.conf_path, "-DFOREGROUND"]
        if self.wrap:
            argv = self.wrap(argv)
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL, stdout=self._stdout,
            stderr=subprocess.STDOUT, env=self._env(), cwd=self.workdir,
            start_new_session=True)
        ok = wait_port(self.port, timeout, self.proc)
        deadline = time.monotonic() + timeout
        while ok and not self.child_pids() and time.monotonic() < deadline:
            if self.proc.poll() is not None:
                ok = False
                break
            time.sleep(0.05)
        if not ok or not self.child_pids():
            rc = self.proc.poll()
            self.stop(check=False)
            raise HttpdError(
                "httpd did not start (rc=%s) within %ss.\n--- config %s\n%s\n"
                "--- stdout/stderr\n%s\n--- error_log\n%s" % (
                    rc, timeout, self.conf_path, self._read(self.conf_path),
                    self._read(self.stdout_path), self.error_log))
        return self

    def stop(self, check=True, timeout=10):
        """Graceful-stop (SIGWINCH) the parent, then SIGTERM and SIGKILL
        (parent and children) after `timeout`. With check=True, raise if
        the logs show a crash or sanitizer report."""
        if self.proc is None:
            return
        kids = self.child_pids()
        # graceful-stop (SIGWINCH): what admins use, and it avoids a crash
        # of the event MPM's ungraceful stop path seen with 2.4.71 (see
        # docs/internals/testing.md); terminate() remains the fallback
        self._graceful_stop(kids, timeout)
        terminate(self.proc, timeout, first=signal.SIGWINCH)
        # children whose parent is gone: kill them by the PIDs seen above
        deadline = time.monotonic() + 3
        for pid in kids:
            while os.path.exists("/proc/%d" % pid) and _is_apache(pid) and \
                    time.monotonic() < deadline:
                time.sleep(0.05)
            if os.path.exists("/proc/%d" % pid) and _is_apache(pid):
                kill_pid(pid, signal.SIGKILL)
        self._stdout.close()
        self.proc_rc = self.proc.returncode
        self.proc = None
        if check:
            self.check_no_crash()

    def _graceful_stop(self, kids, timeout):
        """SIGWINCH, and cut the pause that follows: in a graceful stop
        httpd's parent looks for its exited children once a second, after a
        pause of a whole second: 1 s per stop, most of a short test's time.
        Once the children have exited, another SIGWINCH ends that pause
        (the parent then reaps them and exits); repeated in case one
        arrived before the parent began to wait."""
        if self.proc.poll() is not None:
            return
        kill_pid(self.proc.pid, signal.SIGWINCH)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and \
                not all(_exited(pid) for pid in kids):
            time.sleep(0.01)
        for _ in range(10):
            if self.proc.poll() is not None:
                return
            kill_pid(self.proc.pid, signal.SIGWINCH)
            try:
                self.proc.wait(0.1)
                return
            except subprocess.TimeoutExpired:
                pass

    def _env(self):
        return clean_env(self.preload, os.path.join(self.asan_dir, "asan"))

    def sanitizer_reports(self):
        """Text of the report files ASan wrote to asan_dir (path: text)."""
        out = {}
        for name in sorted(os.listdir(self.asan_dir)):
            path = os.path.join(self.asan_dir, name)
            out[path] = self._read(path)
        return out

    def known_mpm_races(self, bad):
        """The backtraces that explain bad (crash lines) as the event MPM's
        own race (KNOWN_MPM_RACE_RE), one core per crashed child; None when
        any crash is something else, or has no core to show it."""
        segv = [l for l in bad if SEGV_LINE_RE.search(l)]
        if not segv or len(segv) != len(bad):
            return None
        cores = sorted(os.path.join(self.cores_dir, n)
                       for n in os.listdir(self.cores_dir)
                       if n.startswith("core"))
        if len(cores) < len(segv):
            return None
        traces = [core_backtrace(c) for c in cores]
        if not all(t and KNOWN_MPM_RACE_RE.search(t) and "mod_rproxy" not in t
                   for t in traces):
            self.core_traces = traces
            return None
        return traces

    def check_no_crash(self):
        reports = "\n".join(self.sanitizer_reports().values())
        bad = [l for l in (self.error_log + "\n" + self._read(self.stdout_path)
                           + "\n" + reports)
               .splitlines() if CRASH_RE.search(l)]
        if not bad:
            return
        known = self.known_mpm_races(bad)
        if known:
            # reported, not failed: httpd's bug, not the module's
            print("rptest: httpd's event MPM crashed in its ungraceful stop "
                  "(close_worker_sockets race, not mod_rproxy; %s):\n%s\n%s"
                  % (self.workdir, "\n".join(bad), "\n".join(known)))
            return
        raise AssertionError(
            "httpd log shows a crash or sanitizer report (%s):\n%s%s" % (
                self.workdir, "\n".join(bad[:20]),
                "".join("\n--- core backtrace\n" + (t or "(none)")
                        for t in getattr(self, "core_traces", []))))

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop(check=exc[0] is None)

    # observation -------------------------------------------------------------
    @staticmethod
    def _read(path):
        try:
            with open(path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    @property
    def error_log(self):
        return self._read(self.error_log_path)

    @property
    def access_log(self):
        return self._read(self.access_log_path)

    def mark_logs(self):
        """Remember the error log's size; error_log_since_mark() gives what
        was written after."""
        try:
            self._log_mark = os.path.getsize(self.error_log_path)
        except OSError:
            self._log_mark = 0

    def error_log_since_mark(self):
        return self.error_log.encode("utf-8", "replace")[self._log_mark:] \
            .decode("utf-8", "replace")

    def error_level_lines(self, text=None):
        text = self.error_log if text is None else text
        return [l for l in text.splitlines() if ERROR_LEVEL_RE.search(l)]

    def access_entries(self):
        out = []
        for line in self.access_log.splitlines():
            parts = line.split("\t")
            if len(parts) == len(ACCESS_FIELDS):
                out.append(dict(zip(ACCESS_FIELDS, parts)))
        return out

    def wait_access_entries(self, n, timeout=5):
        deadline = time.monotonic() + timeout
        entries = self.access_entries()
        while len(entries) < n and time.monotonic() < deadline:
            time.sleep(0.05)
            entries = self.access_entries()
        return entries

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def child_pids(self):
        if self.proc is None:
            return []
        return [p for p in children_of(self.proc.pid) if _is_apache(p)]

    def rss_kb(self):
        """Summed VmRSS (kB) of the child processes."""
        return sum(rss_kb_of(p) for p in self.child_pids())


def _comm(pid):
    """The process name of pid, or None when it is gone."""
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return None


def _is_apache(pid):
    return _comm(pid) in ("apache2", "httpd")


def dirs_closed_to_others():
    """As root, (directory, mode) for each directory that other users
    cannot search on the way to what the servers' children load or write:
    the module, the system libraries (/usr/lib: Debian 12 has /lib there),
    the temporary directory. Empty when not root."""
    if not is_root():
        return []
    closed = []
    for d in (os.path.dirname(module_path()), "/usr/lib",
              tempfile.gettempdir()):
        d = os.path.abspath(d)
        while True:
            try:
                mode = os.stat(d).st_mode & 0o777
            except OSError:  # not there: nothing to load from it
                mode = 0o755
            if not mode & 0o001 and (d, mode) not in closed:
                closed.append((d, mode))
            if d == "/":
                break
            d = os.path.dirname(d)
    return closed


def _exited(pid):
    """True when pid has exited: gone, or a zombie not yet reaped."""
    rest = _stat_after_comm(pid)
    return not rest or rest[0] in ("Z", "X")


def terminate(proc, timeout, first=signal.SIGTERM):
    """Stop a server we started with `first` (SIGTERM), then SIGTERM and
    SIGKILL if it outlives timeout."""
    if proc.poll() is not None:
        return
    kill_pid(proc.pid, first)
    try:
        proc.wait(timeout)
        return
    except subprocess.TimeoutExpired:
        pass
    if first != signal.SIGTERM:
        kill_pid(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        kill_pid(proc.pid, signal.SIGKILL)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            pass


# --------------------------------------------------------------------------


class Nginx:
    """Debian's nginx serving files from <workdir>/www on 127.0.0.1:<port>."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.root = os.path.join(workdir, "www")
        self.port = free_port()
        self.url = "http://%s:%d" % (LOOPBACK, self.port)
        self.hostport = "%s:%d" % (LOOPBACK, self.port)
        self.conf_path = os.path.join(workdir, "nginx.conf")
        self.error_log_path = os.path.join(workdir, "nginx-error.log")
        self.proc = None
        self.tls = None  # see enable_tls()
        self.server_extra = ""  # more directives for the server block
        self.unix_path = None  # see listen_unix()
        for d in (workdir, self.root, os.path.join(workdir, "tmp")):
            os.makedirs(d, exist_ok=True)
            _make_readable(d)

    def enable_tls(self, cert, key, client_ca=None, protocols=None):
        """Serve HTTPS instead of HTTP (call before start()): `cert`/`key`
        are PEM files; `client_ca` (a PEM file) makes nginx require a client
        certificate signed by it (ssl_verify_client on); `protocols` is
        nginx's ssl_protocols value, e.g. "TLSv1.2"."""
        self.tls = {"cert": cert, "key": key, "client_ca": client_ca,
                    "protocols": protocols}
        self.url = "https://%s:%d" % (LOOPBACK, self.port)
        return self

    def listen_unix(self, path):
        """Also listen on a Unix domain socket at `path` (call before
        start()); the socket is made writable for everyone once nginx runs,
        so that httpd's children may connect whatever their user."""
        self.unix_path = path
        return self

    def _server_lines(self):
        lines = []
        if self.unix_path:
            lines.append("listen unix:%s%s;" % (
                self.unix_path, " ssl" if self.tls else ""))
        if self.tls:
            t = self.tls
            lines += ["ssl_certificate %s;" % t["cert"],
                      "ssl_certificate_key %s;" % t["key"]]
            if t["protocols"]:
                lines.append("ssl_protocols %s;" % t["protocols"])
            if t["client_ca"]:
                lines += ["ssl_verify_client on;",
                          "ssl_client_certificate %s;" % t["client_ca"]]
        if self.server_extra:
            lines += self.server_extra.strip("\n").splitlines()
        return "".join("        %s\n" % l for l in lines)

    def add_file(self, name, data):
        path = os.path.join(self.root, name)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, 0o644)
        return "/" + name

    def render(self):
        w = self.workdir
        tmp = os.path.join(w, "tmp")
        user = "user www-data;\n" if is_root() else ""
        return """# generated by tests/integration/rphttpd.py
%sdaemon off;
master_process on;
worker_processes 1;
pid %s/nginx.pid;
error_log %s warn;
events { worker_connections 256; }
http {
    default_type application/octet-stream;
    access_log %s/nginx-access.log;
    client_body_temp_path %s/body;
    proxy_temp_path %s/proxy;
    fastcgi_temp_path %s/fastcgi;
    uwsgi_temp_path %s/uwsgi;
    scgi_temp_path %s/scgi;
    sendfile on;
    keepalive_timeout 30;
    server {
        listen %s:%d%s;
        server_name localhost;
        root %s;
%s    }
}
""" % (user, w, self.error_log_path, w, tmp, tmp, tmp, tmp, tmp,
       LOOPBACK, self.port, " ssl" if self.tls else "", self.root,
       self._server_lines())

    def start(self, timeout=10):
        if not os.path.exists(NGINX):
            raise AssertionError(
                "%s is missing: install Debian's nginx-light "
                "(apt-get install -y nginx-light); this test needs a real "
                "server" % NGINX)
        with open(self.conf_path, "w") as f:
            f.write(self.render())
        self._out = open(os.path.join(self.workdir, "nginx-stdout.log"), "wb")
        self.proc = subprocess.Popen(
            [NGINX, "-p", self.workdir, "-e", self.error_log_path,
             "-c", self.conf_path],
            stdin=subprocess.DEVNULL, stdout=self._out,
            stderr=subprocess.STDOUT, env=clean_env(), cwd=self.workdir,
            start_new_session=True)
        if not wait_port(self.port, timeout, self.proc):
            rc = self.proc.poll()
            self.stop()
            raise AssertionError("nginx did not start (rc=%s):\n%s" % (
                rc, Httpd._read(self.error_log_path)))
        if self.unix_path:
            os.chmod(self.unix_path, 0o666)
        return self

    def stop(self, timeout=10):
        if self.proc is None:
            return
        kids = children_of(self.proc.pid)
        terminate(self.proc, timeout)
        for pid in kids:
            if _comm(pid) == "nginx":
                kill_pid(pid, signal.SIGKILL)
        self._out.close()
        self.proc = None


def remove_tree(path):
    shutil.rmtree(path, ignore_errors=True)
