"""
Router in memory: route patterns, 404, 405 with Allow, routes restricted to a
Host, route parameters, and which component hears a connection's events.
"""

from __future__ import annotations

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from zope.interface import implementer
from zope.interface.verify import verifyObject

from ratchetpy import HttpServer, IHttpServerComponent, IoServer, Router, WsServer
from ratchetpy.http.router import compilePattern, hostName

from .conftest import Recorder


@implementer(IHttpServerComponent)
class Endpoint:
    """
    An HTTP-layer component that records what it hears.
    """

    def __init__(self, name="endpoint"):
        self.name = name
        self.events = []

    def onOpen(self, conn, request):
        self.events.append(("onOpen", conn, request))

    def onMessage(self, conn, msg):
        self.events.append(("onMessage", conn, msg))

    def onClose(self, conn):
        self.events.append(("onClose", conn))

    def onError(self, conn, exc):
        self.events.append(("onError", conn, exc))

    def hooks(self):
        return [event[0] for event in self.events]

    def request(self):
        return self.events[0][2]


def request(method="GET", target="/", host="example.com", extra=b""):
    return f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n".encode() + extra + b"\r\n"


def connect(router, data):
    """
    Send C{data} to C{router} behind HttpServer and IoServer on a
    StringTransport; return the protocol and transport.
    """
    clock = Clock()
    protocol = IoServer(HttpServer(router, reactor=clock), reactor=clock).buildProtocol(None)
    transport = StringTransport(peerAddress=IPv4Address("TCP", "192.0.2.1", 5555))
    protocol.makeConnection(transport)
    protocol.dataReceived(data)
    return protocol, transport


def status(transport):
    value = transport.value()
    return int(value.split(b" ", 2)[1]) if value else None


def headerOf(transport, name):
    head = transport.value().split(b"\r\n\r\n", 1)[0].decode("latin-1")
    for line in head.split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return None


# Patterns


@pytest.mark.parametrize(
    "pattern, path, params",
    [
        ("/chat", "/chat", {}),
        ("/chat", "/chat/", None),
        ("/chat", "/chatroom", None),
        ("/chat", "/", None),
        ("/", "/", {}),
        ("/rooms/{room}", "/rooms/lobby", {"room": "lobby"}),
        ("/rooms/{room}", "/rooms/", None),
        ("/rooms/{room}", "/rooms/a/b", None),
        ("/rooms/{room}/users/{user}", "/rooms/r1/users/ann", {"room": "r1", "user": "ann"}),
        ("/files/{rest:path}", "/files/a/b/c.txt", {"rest": "a/b/c.txt"}),
        ("/files/{rest:path}", "/files/", {"rest": ""}),
        ("/v1.0/x", "/v1a0/x", None),  # literal text is not a regex
    ],
)
def test_patternMatching(pattern, path, params):
    """
    Literal text matches exactly (dots included), C{{name}} one non-empty
    segment, C{{name:path}} the rest of the path, slashes included.
    """
    regex = compilePattern(pattern)
    match = regex.match(path)
    assert (match.groupdict() if match else None) == params


@pytest.mark.parametrize(
    "pattern, message",
    [("chat", "must start with '/'"), ("/files/{rest:path}/more", "must come last")],
)
def test_badPatternsAreRefused(pattern, message):
    """
    A pattern without a leading slash, or with C{{name:path}} before its end,
    is refused when the route is added, saying why.
    """
    with pytest.raises(ValueError, match=message):
        Router().addRoute(pattern, Endpoint())


@pytest.mark.parametrize(
    "header, name",
    [
        ("Example.COM", "example.com"),
        ("example.com:8080", "example.com"),
        (" example.com ", "example.com"),
        ("[::1]:8080", "::1"),
        ("[::1]", "::1"),
        ("127.0.0.1:80", "127.0.0.1"),
    ],
)
def test_hostName(header, name):
    """
    The host name of a Host header is lower case, without port or IPv6 brackets.
    """
    assert hostName(header) == name


# Routing


def test_routerIsAnHttpComponent():
    """
    Router provides IHttpServerComponent, so it fits behind HttpServer.
    """
    verifyObject(IHttpServerComponent, Router())


def test_eachPathGoesToItsComponent():
    """
    Two routes: each request opens only the component of its path, with the
    parsed request; the query string does not take part in routing.
    """
    router, chat, echo = Router(), Endpoint("chat"), Endpoint("echo")
    router.addRoute("/chat", chat)
    router.addRoute("/echo", echo)
    _, transport = connect(router, request(target="/echo?x=1"))
    assert echo.hooks() == ["onOpen"]
    assert echo.request().path == "/echo"
    assert chat.events == []
    assert transport.value() == b""
    connect(router, request(target="/chat"))
    assert chat.hooks() == ["onOpen"]


def test_unknownPathGets404(logged):
    """
    A path no route matches gets 404 saying so, is logged, and nothing behind
    the router hears of it, not even the bytes that follow or the close.
    """
    router, chat = Router(), Endpoint()
    router.addRoute("/chat", chat)
    protocol, transport = connect(router, request(target="/nope"))
    assert status(transport) == 404
    assert b"no route for /nope" in transport.value()
    assert transport.disconnecting
    protocol.dataReceived(b"more bytes")
    protocol.connectionLost(None)
    assert chat.events == []
    assert router._routed == {}
    assert any("answered 404" in line and "no route for /nope" in line for line in logged())


def test_wrongMethodGets405WithAllow():
    """
    A path that has routes, but none for the method, gets 405 with an Allow
    header listing the methods its routes take (GET implies HEAD).
    """
    router, chat, upload = Router(), Endpoint(), Endpoint()
    router.addRoute("/chat", chat)
    router.addRoute("/upload", upload, methods=("post", "PUT"))
    _, transport = connect(router, request("POST", "/chat"))
    assert status(transport) == 405
    assert headerOf(transport, "Allow") == "GET, HEAD"
    assert b"POST is not allowed on /chat" in transport.value()

    _, transport = connect(router, request("GET", "/upload"))
    assert status(transport) == 405
    assert headerOf(transport, "Allow") == "POST, PUT"
    assert chat.events == [] and upload.events == []

    connect(router, request("HEAD", "/chat"))
    connect(router, request("PUT", "/upload"))
    assert chat.hooks() == ["onOpen"] and upload.hooks() == ["onOpen"]


def test_sameRouteForTwoMethodsByPath():
    """
    Two routes for one path with different methods: each method reaches its own
    component, and a third method gets 405 listing both routes' methods.
    """
    router, reader, writer = Router(), Endpoint(), Endpoint()
    router.addRoute("/items", reader)
    router.addRoute("/items", writer, methods=("POST",))
    connect(router, request("POST", "/items"))
    connect(router, request("GET", "/items"))
    assert reader.hooks() == ["onOpen"] and reader.request().method == "GET"
    assert writer.hooks() == ["onOpen"] and writer.request().method == "POST"
    _, transport = connect(router, request("DELETE", "/items"))
    assert headerOf(transport, "Allow") == "GET, HEAD, POST"


def test_hostRestrictedRoutes(logged):
    """
    A route with a host only takes requests whose Host names it (any port,
    any case); for another Host the path gets 404 with a log line saying the
    routes there are for other hosts.
    """
    router, admin, public = Router(), Endpoint("admin"), Endpoint("public")
    router.addRoute("/", admin, httpHost="Admin.Example")
    router.addRoute("/", public, httpHost="www.example")
    connect(router, request(host="admin.example:8080"))
    connect(router, request(host="WWW.EXAMPLE"))
    assert admin.hooks() == ["onOpen"]
    assert public.hooks() == ["onOpen"]

    _, transport = connect(router, request(host="evil.example:8080"))
    assert status(transport) == 404
    assert b"routes there are for other hosts" in transport.value()
    assert (len(admin.events), len(public.events)) == (1, 1)
    lines = [line for line in logged() if "answered 404" in line]
    assert len(lines) == 1
    assert "'evil.example'" in lines[0]
    assert "routes there are for other hosts" in lines[0]


def test_anyHostRouteAfterHostRoute():
    """
    A route without a host catches what the host-restricted routes before it
    do not; the first matching route wins.
    """
    router, special, fallback = Router(), Endpoint(), Endpoint()
    router.addRoute("/chat", special, httpHost="special.example")
    router.addRoute("/chat", fallback)
    connect(router, request(target="/chat", host="special.example"))
    connect(router, request(target="/chat", host="other.example"))
    assert special.hooks() == ["onOpen"]
    assert fallback.hooks() == ["onOpen"]
    assert fallback.request().headers["host"] == "other.example"


def test_routeParamsArePercentDecoded():
    """
    Placeholder values reach the component in request.routeParams,
    percent-decoded; a request routed without placeholders has none.
    """
    router, room, plain = Router(), Endpoint(), Endpoint()
    router.addRoute("/rooms/{room}/{rest:path}", room)
    router.addRoute("/plain", plain)
    connect(router, request(target="/rooms/caf%C3%A9%20one/a/b%2Fc?q=1"))
    assert dict(room.request().routeParams) == {"room": "café one", "rest": "a/b/c"}
    connect(router, request(target="/plain"))
    assert dict(plain.request().routeParams) == {}


def test_eventsGoToTheRoutedComponentOnly():
    """
    Bytes after the head, errors and the close of a connection reach the
    component it was routed to, and the router forgets the connection on
    close.
    """
    router, chat, echo = Router(), Endpoint(), Endpoint()
    router.addRoute("/chat", chat)
    router.addRoute("/echo", echo)
    protocol, _ = connect(router, request(target="/chat") + b"pipelined")
    conn = protocol._connection
    protocol.dataReceived(b"later")
    error = RuntimeError("x")
    router.onError(conn, error)
    assert len(router._routed) == 1
    protocol.connectionLost(None)
    assert chat.hooks() == ["onOpen", "onMessage", "onMessage", "onError", "onClose"]
    assert [event[2] for event in chat.events[1:3]] == [b"pipelined", b"later"]
    assert chat.events[3][2] is error
    assert all(event[1] is conn for event in chat.events)
    assert echo.events == []
    assert router._routed == {}


def test_addRouteRefusesMessageComponents():
    """
    A message component must be wrapped (in WsServer) before it can be a
    route; the error says so. WsServer itself is accepted.
    """
    router = Router()
    with pytest.raises(TypeError, match="WsServer"):
        router.addRoute("/chat", Recorder())
    route = router.addRoute("/chat", WsServer(Recorder()))
    assert route.methods == {"GET", "HEAD"}
    assert router.routes == [route]
