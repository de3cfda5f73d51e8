"""
OriginCheck: which Origin headers are allowed (a table of cases, in memory),
what a refused request gets (403, and nothing behind the check hears of it),
and the check in front of a real WebSocket server with real clients.
"""

from __future__ import annotations

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect
from zope.interface.verify import verifyObject

from ratchetpy import HttpServer, IHttpServerComponent, OriginCheck, WsServer
from ratchetpy.http.request import parseHead
from tests.helpers import HttpRecorder, Recorder, inMemory, inThread, waitUntil


def requestWith(origin, host="chat.example:8080"):
    lines = ["GET /chat HTTP/1.1", f"Host: {host}"]
    if origin is not None:
        lines.append(f"Origin: {origin}")
    return parseHead(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))


@pytest.mark.parametrize(
    "allowed, origin, host, expected",
    [
        # No Origin: not a browser; allowed.
        ([], None, "chat.example:8080", True),
        # Pages of the server's own host: Origin host name equal to the Host header's, any port.
        ([], "http://chat.example:8080", "chat.example:8080", True),
        ([], "HTTP://Chat.Example:8080", "CHAT.example:8080", True),
        ([], "http://chat.example", "chat.example", True),
        ([], "http://chat.example:80", "chat.example", True),
        ([], "https://chat.example", "chat.example:443", True),
        ([], "http://[::1]:8080", "[::1]:8080", True),
        ([], "http://chat.example:9090", "chat.example:8080", True),
        ([], "http://chat.example", "chat.example:8080", True),
        ([], "http://other.example:8080", "chat.example:8080", False),
        ([], "http://evil.example", "chat.example:8080", False),
        # "*" allows everything.
        (["*"], "http://evil.example", "chat.example:8080", True),
        (["*"], "null", "chat.example:8080", True),
        (["example.com", "*"], "not even a url", "chat.example:8080", True),
        # A host name: any scheme and port, that host only.
        (["example.com"], "http://example.com", "chat.example:8080", True),
        (["example.com"], "https://example.com:8443", "chat.example:8080", True),
        (["Example.COM"], "http://EXAMPLE.com", "chat.example:8080", True),
        (["example.com"], "http://sub.example.com", "chat.example:8080", False),
        (["example.com"], "http://example.com.evil.example", "chat.example:8080", False),
        (["example.com"], "http://evilexample.com", "chat.example:8080", False),
        (["example.com"], "http://user@evil.example", "chat.example:8080", False),
        # A host and port.
        (["example.com:8443"], "https://example.com:8443", "chat.example:8080", True),
        (["example.com:8443"], "https://example.com", "chat.example:8080", False),
        (["example.com:80"], "http://example.com", "chat.example:8080", True),
        # A full origin: scheme, host and port.
        (["https://example.com"], "https://example.com", "chat.example:8080", True),
        (["https://example.com"], "https://example.com:443", "chat.example:8080", True),
        (["https://example.com"], "http://example.com", "chat.example:8080", False),
        (["https://example.com"], "https://example.com:8443", "chat.example:8080", False),
        (["http://localhost:3000"], "http://localhost:3000", "chat.example:8080", True),
        (["http://localhost:3000"], "http://localhost:3001", "chat.example:8080", False),
        # "null": sandboxed frames and local files.
        (["null"], "null", "chat.example:8080", True),
        ([], "null", "chat.example:8080", False),
        (["example.com"], "null", "chat.example:8080", False),
        # IPv6: in brackets, as in URLs and Host headers; [addr] alone is any port.
        (["[::1]"], "http://[::1]:3000", "chat.example:8080", True),
        (["[2001:DB8::1]:8443"], "https://[2001:db8::1]:8443", "chat.example:8080", True),
        (["[2001:db8::1]:8443"], "https://[2001:db8::1]", "chat.example:8080", False),
        (["http://[::1]:3000"], "http://[::1]:3000", "chat.example:8080", True),
        ([], "http://[::1]", "[::1]:8080", True),
        ([], "http://[::2]", "[::1]:8080", False),
        # The same Host parser as Router's: case, ports and malformed values alike.
        ([], "http://chat.example", "CHAT.EXAMPLE:443", True),
        ([], "http://chat.example", "chat.example:99999", False),
        ([], "http://chat.example", "user@chat.example", False),
        (["https://[bad", "example.com"], "https://example.com", "chat.example:8080", True),
        (["example.com:abc"], "https://example.com", "chat.example:8080", False),
        # Malformed origins and hosts match nothing (and raise nothing).
        (["example.com"], "http://example.com:99999", "chat.example:8080", False),
        (["example.com"], "http://[::1", "chat.example:8080", False),
        ([], "http://chat.example:abc", "chat.example:abc", False),
        ([], "http://chat.example", "[::1", False),
        ([""], "http://:8080", "chat.example:8080", False),
        ([], "chat.example:8080", "chat.example:8080", False),
        ([], "", "chat.example:8080", False),
    ],
)
def test_isAllowed(allowed, origin, host, expected):
    """
    Requests without Origin, from the page's own origin, and from the
    allowed host names, host:port pairs and full origins are allowed;
    everything else, including malformed values, is not.
    """
    check = OriginCheck(HttpRecorder(), allowed)
    assert check.isAllowed(requestWith(origin, host)) is expected


def test_policySwitches():
    """
    allowMissing=False refuses requests without Origin; allowSameOrigin=False
    refuses the page's own origin unless it is listed.
    """
    strict = OriginCheck(HttpRecorder(), ["example.com"], allowMissing=False, allowSameOrigin=False)
    assert not strict.isAllowed(requestWith(None))
    assert not strict.isAllowed(requestWith("http://chat.example:8080", "chat.example:8080"))
    assert strict.isAllowed(requestWith("http://example.com"))


def test_allowedOriginsCanChangeWhileServing():
    """
    allowedOrigins is a list the check reads on every request.
    """
    check = OriginCheck(HttpRecorder())
    request = requestWith("http://late.example")
    assert not check.isAllowed(request)
    check.allowedOrigins.append("late.example")
    assert check.isAllowed(request)


def connect403(check, origin):
    head = f"POST /chat HTTP/1.1\r\nHost: chat.example\r\nOrigin: {origin}\r\nContent-Length: 4\r\n\r\n"
    return inMemory(check, head.encode() + b"body")


@pytest.mark.parametrize("origin", ["http://evil.example", "http://chat.example:99999", "http://[bad"])
def test_refusedRequestGets403AndIsNotForwarded(origin):
    """
    A disallowed (or malformed) Origin gets 403 naming the origin and saying
    how to allow it; the component behind never hears of the request, its
    body or its close.
    """
    inner = HttpRecorder()
    check = OriginCheck(inner, ["example.com"])
    protocol, transport = connect403(check, origin)
    response = transport.value()
    assert response.startswith(b"HTTP/1.1 403 Forbidden\r\n")
    assert f"origin '{origin}' is not allowed".encode() in response
    assert b"allowed origins" in response
    assert transport.disconnecting
    protocol.dataReceived(b"more")
    check.onError(protocol._connection, RuntimeError())
    protocol.connectionLost(None)
    assert inner.events == []
    assert check._refused is None, "a refused connection is forgotten on close"


def test_allowedRequestIsForwarded():
    """
    An allowed request reaches the component with the same connection in
    every hook, the request and its body.
    """
    inner = HttpRecorder()
    protocol, transport = connect403(OriginCheck(inner, ["evil.example"]), "http://evil.example")
    protocol.connectionLost(None)
    assert transport.value() == b""
    assert inner.hooks() == ["onOpen", "onMessage", "onClose"]
    assert inner.request().headers["origin"] == "http://evil.example"
    assert inner.events[1][2] == b"body"
    assert len({id(event[1]) for event in inner.events}) == 1


def test_originCheckIsTheComponentsKind():
    """
    Around a WsServer, OriginCheck is an IHttpServerComponent, and attributes
    of what it wraps stay visible.
    """
    ws = WsServer(Recorder())
    check = OriginCheck(ws)
    verifyObject(IHttpServerComponent, check)
    assert check.component is ws
    assert check.connectionCount == 0


# Over loopback


def test_webSocketOriginsEndToEnd(listen):
    """
    In front of a WebSocket server: a client from an allowed origin, from
    the page's own origin, and one sending no Origin connect and are echoed;
    one from another site gets 403 and the component never hears of it.
    """
    component = Recorder(echo=True)
    server = listen(HttpServer(OriginCheck(WsServer(component), ["example.com"])))
    url = f"ws://127.0.0.1:{server.portNumber}/chat"

    def echo(origin):
        with connect(url, origin=origin) as ws:
            ws.send(f"from {origin}")
            return ws.recv(timeout=5)

    def refused(origin):
        with pytest.raises(InvalidStatus) as info:
            connect(url, origin=origin)
        return info.value.response.status_code, info.value.response.body

    for origin in ["https://example.com", f"http://127.0.0.1:{server.portNumber}", None]:
        assert inThread(echo, origin) == f"from {origin}"
    status, body = inThread(refused, "http://evil.example")
    assert status == 403
    assert b"'http://evil.example' is not allowed" in body
    waitUntil(lambda: component.hooks().count("onClose") == 3, what="three closes")
    assert component.hooks().count("onOpen") == 3
