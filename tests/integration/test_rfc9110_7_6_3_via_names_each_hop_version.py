"""RFC 9110 section 7.6.3: with RProxyVia On a proxy adds itself to Via on
the request it forwards and on the response it returns, appending to any
Via already there. Each entry names the protocol version of the message as
that hop received it: the client's version on the request, the backend's on
the response. This proxy's name is the ServerName of the (virtual) server,
with ":port" when the port is not the scheme's default. Off (the default)
adds nothing."""

import json

import client


def _via(info):
    return [v for n, v in info["headers"] if n.lower() == "via"]


def http10_backend(req, conn):
    """Echo as JSON, from an HTTP/1.0 server that closes the connection."""
    req.drain()
    body = json.dumps(req.summary()).encode()
    conn.send(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n"
              b"Via: 1.1 origin-cache\r\nContent-Length: %d\r\n\r\n"
              % len(body) + body)
    conn.close_after = True


def _get10(port, path, headers=()):
    """GET with an HTTP/1.0 request line."""
    s = client.connect(port)
    try:
        head = client.build_request("GET", path, headers,
                                    host="127.0.0.1:%d" % port)
        s.sendall(head.replace(b" HTTP/1.1\r\n", b" HTTP/1.0\r\n", 1))
        return client.read_response(s)
    finally:
        s.close()


def test_via_http11_both_hops_appended(httpd_factory, echo_backend):
    h = httpd_factory("RProxyVia On\nRProxyPass /app %s/\n"
                      % echo_backend.url)
    name = "127.0.0.1:%d" % h.port
    r = client.get(h.port, "/app/x", headers=[("Via", "1.1 client-proxy")])
    assert r.status == 200, "proxied GET answers 200 (%r)" % r
    assert _via(r.json()) == ["1.1 client-proxy, 1.1 %s" % name], \
        "the request's Via gets '1.1 ServerName:port' appended (got %r)" % \
        _via(r.json())
    assert r.header("Via") == "1.1 %s" % name, \
        "the response gets Via '1.1 ServerName:port' (got %r)" % \
        r.header("Via")


def test_via_http10_client_and_http10_backend(httpd_factory, backend_factory):
    be = backend_factory(http10_backend, name="http10")
    h = httpd_factory("RProxyVia On\nRProxyPass /app %s/\n" % be.url)
    name = "127.0.0.1:%d" % h.port
    r = _get10(h.port, "/app/x")
    assert r.status == 200, "proxied HTTP/1.0 GET answers 200 (%r)" % r
    assert _via(r.json()) == ["1.0 %s" % name], \
        "the request's Via names the client's version, 1.0 (got %r)" % \
        _via(r.json())
    assert r.header("Via") == "1.1 origin-cache, 1.0 %s" % name, \
        "the response's Via keeps the backend's entry and names the " \
        "backend's version, 1.0 (got %r)" % r.header("Via")
    r = client.get(h.port, "/app/x")
    assert _via(r.json()) == ["1.1 %s" % name], \
        "an HTTP/1.1 client's request is named 1.1 (got %r)" % _via(r.json())
    assert r.header("Via") == "1.1 origin-cache, 1.0 %s" % name, \
        "the backend's HTTP/1.0 answer is named 1.0 whatever the client " \
        "spoke (got %r)" % r.header("Via")


def test_via_pseudonym_is_the_virtual_hosts_server_name(httpd_factory,
                                                        echo_backend):
    h = httpd_factory(
        "RProxyVia On\n"
        "<VirtualHost 127.0.0.1:@PORT@>\n"
        "  ServerName gw.example\n"
        "  RProxyPass /app %s/\n"
        "</VirtualHost>\n"
        "<VirtualHost 127.0.0.1:@PORT@>\n"
        "  ServerName default-port.example:80\n"
        "  RProxyPass /app %s/\n"
        "</VirtualHost>\n" % (echo_backend.url, echo_backend.url))
    r = client.get(h.port, "/app/x", host="gw.example")
    assert _via(r.json()) == ["1.1 gw.example:%d" % h.port], \
        "the virtual host's ServerName with the port it listens on, not " \
        "the default (got %r)" % _via(r.json())
    r = client.get(h.port, "/app/x", host="default-port.example")
    assert _via(r.json()) == ["1.1 default-port.example"], \
        "no ':port' when the ServerName's port is the scheme's default " \
        "(got %r)" % _via(r.json())
    assert r.header("Via") == "1.1 default-port.example", \
        "the response names the same pseudonym (got %r)" % r.header("Via")


def test_via_off_by_default(httpd_factory, echo_backend):
    h = httpd_factory("RProxyPass /app %s/\n" % echo_backend.url)
    r = client.get(h.port, "/app/x", headers=[("Via", "1.1 client-proxy")])
    assert _via(r.json()) == ["1.1 client-proxy"], \
        "without RProxyVia the client's Via passes unchanged (got %r)" % \
        _via(r.json())
    assert r.header("Via") is None, \
        "without RProxyVia the response has no Via (got %r)" % r.header("Via")


def _interim_backend(req, conn):
    """A 103 before the final response, or a 101 for an upgrade (then
    closes)."""
    req.drain()
    if (req.header("upgrade") or "").lower() == "websocket":
        conn.send(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\nVia: 1.1 ws-gateway\r\n\r\n")
        conn._close()
        return
    conn.send(b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n")
    conn.send_response(200, [("Content-Type", "text/plain")], b"final\n")


def _raw(port, request):
    """Everything the client receives until the proxy closes."""
    return client.exchange_raw(port, request).decode("latin-1")


def test_via_on_forwarded_103_and_101(httpd_factory, backend_factory):
    """1xx responses are forwarded messages too: a 103 Early Hints and the
    101 of an upgrade get this proxy's entry (HTTP/1.1: 1xx exist only
    there), after any the backend sent."""
    b = backend_factory(_interim_backend)
    h = httpd_factory("RProxyVia On\nRProxyPass /app %s/\n" % b.url)
    name = "127.0.0.1:%d" % h.port
    text = _raw(h.port, b"GET /app/x HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Connection: close\r\n\r\n")
    hints = text.split("\r\n\r\n")[0]
    assert hints.startswith("HTTP/1.1 103"), "the 103 comes first (%r)" % text[:80]
    assert "\r\nVia: 1.1 %s" % name in hints, "the 103 names this proxy in Via:\n%s" % hints
    final = text.split("\r\n\r\n")[1]
    assert final.startswith("HTTP/1.1 200") and "\r\nVia: 1.1 %s" % name in final, \
        "and so does the final response:\n%s" % final
    text = _raw(h.port, b"GET /app/ws HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Connection: Upgrade\r\nUpgrade: websocket\r\n"
                b"Sec-WebSocket-Version: 13\r\n"
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
    head = text.split("\r\n\r\n")[0]
    assert head.startswith("HTTP/1.1 101"), "the 101 reaches the client (%r)" % text[:80]
    assert "\r\nVia: 1.1 ws-gateway, 1.1 %s" % name in head, \
        "the 101 keeps the backend's Via entry and adds this proxy's:\n%s" % head
