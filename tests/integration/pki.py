"""The test PKI and a TLS nginx that uses it, shared by the tests of TLS
to backends (test_tls_backends.py) and of the upstream forward proxy
(test_upstream_forward_proxy.py).

build_pki(d) makes, with the `openssl` CLI, a test CA and certificates signed
by it: "good" (localhost, IP:127.0.0.1), "expired", "wrong_host"
(wrong.example only), "client" (CN=CLIENT_CN, clientAuth), plus a
"self_signed" one and a hashed CA directory. make_pki(base) checks for the
CLI and builds one in a fresh directory under `base`; a test module wraps it
in a module-scoped fixture:

    @pytest.fixture(scope="module")
    def pki(request):
        return make_pki(request.config._rptest_base)

tls_nginx(nginx_factory, pki, ...) starts Debian's nginx over HTTPS with
X-TLS-* response headers (nginx's view of the connection) and, given an
`echo` backend, /echo/ proxied to it."""

import os
import shutil
import subprocess
import tempfile

import pytest

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
CLIENT_CN = "rproxy-test-client"

# X-TLS-* headers show nginx's side of the TLS connection; /echo/ goes on to
# a scripted echo backend (body checksums), everything else answers 200.
NGINX_SERVER = """\
add_header X-TLS-Conn $connection always;
add_header X-TLS-Reused $ssl_session_reused always;
add_header X-TLS-Protocol $ssl_protocol always;
add_header X-TLS-Client-DN "$ssl_client_s_dn" always;
client_max_body_size 10m;
client_body_buffer_size 1m;
location / { return 200 "tls-ok\\n"; }
"""
NGINX_ECHO = """\
location /echo/ { proxy_pass http://127.0.0.1:%d/; }
"""


# --------------------------------------------------------------------------
# PKI


def _openssl(cwd, *args):
    p = subprocess.run([OPENSSL] + list(args), cwd=cwd,
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=30)
    if p.returncode != 0:
        pytest.fail("test setup: openssl %s failed (rc=%d):\n%s" % (
            " ".join(args), p.returncode,
            p.stdout.decode("utf-8", "replace")), pytrace=False)
    return p.stdout.decode("utf-8", "replace")


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)


CA_CNF = """\
[ ca ]
default_ca = test_ca
[ test_ca ]
dir = {dir}
database = $dir/index.txt
new_certs_dir = $dir/newcerts
serial = $dir/serial
certificate = $dir/ca.pem
private_key = $dir/ca.key
default_md = sha256
default_days = 825
policy = policy_any
unique_subject = no
copy_extensions = none
[ policy_any ]
commonName = supplied
[ server_localhost ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
[ server_wrong ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:wrong.example
[ client_cert ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
"""


class Pki:
    """Paths of the test PKI: ca, and (cert, key) pairs good, expired,
    wrong_host, self_signed, client; ca_dir is a hashed CA directory."""

    def __init__(self, d):
        self.dir = d
        self.ca = os.path.join(d, "ca.pem")
        self.ca_dir = os.path.join(d, "cadir")

    def pair(self, name):
        return (os.path.join(self.dir, name + ".pem"),
                os.path.join(self.dir, name + ".key"))


def _newkey_args(keyout):
    return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", keyout]


def _issue(d, name, cn, ext, dates=None):
    """Key + CSR + certificate signed by the test CA with `openssl ca`."""
    _openssl(d, "req", "-new", *_newkey_args(name + ".key"),
             "-subj", "/CN=" + cn, "-out", name + ".csr")
    args = ["ca", "-batch", "-notext", "-config", "ca.cnf",
            "-extensions", ext, "-in", name + ".csr", "-out", name + ".pem"]
    if dates:
        args += ["-startdate", dates[0], "-enddate", dates[1]]
    _openssl(d, *args)


def build_pki(d):
    os.makedirs(os.path.join(d, "newcerts"))
    os.makedirs(os.path.join(d, "cadir"))
    _write(os.path.join(d, "ca.cnf"), CA_CNF.format(dir=d))
    _write(os.path.join(d, "index.txt"), "")
    _write(os.path.join(d, "serial"), "1000\n")
    _openssl(d, "req", "-x509", *_newkey_args("ca.key"), "-days", "3650",
             "-subj", "/CN=rproxy test CA", "-out", "ca.pem",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    _issue(d, "good", "localhost", "server_localhost")
    _issue(d, "expired", "localhost", "server_localhost",
           dates=("20200101000000Z", "20200201000000Z"))
    _issue(d, "wrong_host", "wrong.example", "server_wrong")
    _issue(d, "client", CLIENT_CN, "client_cert")
    _openssl(d, "req", "-x509", *_newkey_args("self_signed.key"),
             "-days", "825", "-subj", "/CN=localhost",
             "-out", "self_signed.pem",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
             "-addext", "basicConstraints=critical,CA:FALSE")
    shutil.copy(os.path.join(d, "ca.pem"), os.path.join(d, "cadir", "ca.pem"))
    _openssl(d, "rehash", os.path.join(d, "cadir"))
    # httpd's child and nginx's workers may run as www-data: test keys are
    # no secret, make everything readable
    for root, dirs, files in os.walk(d):
        for n in dirs:
            os.chmod(os.path.join(root, n), 0o755)
        for n in files:
            p = os.path.join(root, n)
            if not os.path.islink(p):
                os.chmod(p, 0o644)
    os.chmod(d, 0o755)


def make_pki(base):
    """Build the test PKI in a new directory under `base`; fail the test
    (no skip) when the openssl CLI is missing."""
    if not os.path.exists(OPENSSL):
        pytest.fail("the openssl CLI is missing: install Debian's openssl "
                    "(apt-get install -y openssl); these tests build their "
                    "PKI with it", pytrace=False)
    d = tempfile.mkdtemp(prefix="pki-", dir=base)
    build_pki(d)
    return Pki(d)


# --------------------------------------------------------------------------
# A TLS nginx


def tls_nginx(nginx_factory, pki, cert="good", echo=None,
              protocols="TLSv1.2 TLSv1.3", extra="", **tls):
    """Started nginx serving HTTPS with the `cert` pair (see NGINX_SERVER);
    `echo`: a Backend that /echo/ is proxied to; `extra`: more directives
    for the server block (before the locations). TLSv1.3 is named
    explicitly: nginx 1.22's default ssl_protocols stops at TLSv1.2."""
    ng = nginx_factory()
    c, k = pki.pair(cert)
    ng.enable_tls(c, k, protocols=protocols, **tls)
    ng.server_extra = extra + NGINX_SERVER + (NGINX_ECHO % echo.port
                                              if echo else "")
    return ng.start()
