"""
Router in memory: route patterns, 404, 405 with Allow, routes restricted to a
Host, route parameters, and which component hears a connection's events.
"""

from __future__ import annotations

import pytest
from zope.interface.verify import verifyObject

from ratchetpy import IHttpServerComponent, Router, WsServer
from ratchetpy.http.router import compilePattern
from tests.helpers import HttpRecorder, Recorder, inMemory, statusOf


def request(method="GET", target="/", host="example.com", extra=b""):
    return f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n".encode() + extra + b"\r\n"


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
        Router().addRoute(pattern, HttpRecorder())


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
    router, chat, echo = Router(), HttpRecorder(), HttpRecorder()
    router.addRoute("/chat", chat)
    router.addRoute("/echo", echo)
    _, transport = inMemory(router, request(target="/echo?x=1"))
    assert echo.hooks() == ["onOpen"]
    assert echo.request().path == "/echo"
    assert chat.events == []
    assert transport.value() == b""
    inMemory(router, request(target="/chat"))
    assert chat.hooks() == ["onOpen"]


def test_unknownPathGets404(logged):
    """
    A path no route matches gets 404 saying so, is logged, and nothing behind
    the router hears of it, not even the body or the close; a persistent
    connection stays open for the next request.
    """
    router, chat = Router(), HttpRecorder()
    router.addRoute("/chat", chat)
    protocol, transport = inMemory(router, request("POST", "/nope", extra=b"Content-Length: 10\r\n"))
    assert statusOf(transport.value()) == 404
    assert b"no route for /nope" in transport.value()
    assert b"Connection: close" in transport.value(), "the body has not arrived: closed"
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
    router, chat, upload = Router(), HttpRecorder(), HttpRecorder()
    router.addRoute("/chat", chat)
    router.addRoute("/upload", upload, methods=("post", "PUT"))
    _, transport = inMemory(router, request("POST", "/chat"))
    assert statusOf(transport.value()) == 405
    assert headerOf(transport, "Allow") == "GET, HEAD"
    assert b"POST is not allowed on /chat" in transport.value()

    _, transport = inMemory(router, request("GET", "/upload"))
    assert statusOf(transport.value()) == 405
    assert headerOf(transport, "Allow") == "POST, PUT"
    assert chat.events == [] and upload.events == []

    inMemory(router, request("HEAD", "/chat"))
    inMemory(router, request("PUT", "/upload"))
    assert chat.hooks() == ["onOpen"] and upload.hooks() == ["onOpen"]


def test_sameRouteForTwoMethodsByPath():
    """
    Two routes for one path with different methods: each method reaches its own
    component, and a third method gets 405 listing both routes' methods.
    """
    router, reader, writer = Router(), HttpRecorder(), HttpRecorder()
    router.addRoute("/items", reader)
    router.addRoute("/items", writer, methods=("POST",))
    inMemory(router, request("POST", "/items"))
    inMemory(router, request("GET", "/items"))
    assert reader.hooks() == ["onOpen"] and reader.request().method == "GET"
    assert writer.hooks() == ["onOpen"] and writer.request().method == "POST"
    _, transport = inMemory(router, request("DELETE", "/items"))
    assert headerOf(transport, "Allow") == "GET, HEAD, POST"


def test_hostRestrictedRoutes(logged):
    """
    A route with a host only takes requests whose Host names it (any port,
    any case); for another Host the path gets 404 with a log line saying the
    routes there are for other hosts.
    """
    router, admin, public = Router(), HttpRecorder(), HttpRecorder()
    router.addRoute("/", admin, httpHost="Admin.Example")
    router.addRoute("/", public, httpHost="www.example")
    inMemory(router, request(host="admin.example:8080"))
    inMemory(router, request(host="WWW.EXAMPLE"))
    assert admin.hooks() == ["onOpen"]
    assert public.hooks() == ["onOpen"]

    _, transport = inMemory(router, request(host="evil.example:8080"))
    assert statusOf(transport.value()) == 404
    assert b"routes there are for other hosts" in transport.value()
    assert (len(admin.events), len(public.events)) == (1, 1)
    lines = [line for line in logged() if "answered 404" in line]
    assert len(lines) == 1
    assert "'evil.example'" in lines[0]
    assert "routes there are for other hosts" in lines[0]


@pytest.mark.parametrize("httpHost", ["::1", "[::1]", "[::1] "])
def test_ipv6HostRoute(httpHost):
    """
    A route for an IPv6 host, written with or without brackets, takes
    requests whose Host names that address, with or without a port.
    """
    router, local = Router(), HttpRecorder()
    router.addRoute("/", local, httpHost=httpHost)
    inMemory(router, request(host="[::1]:8080"))
    inMemory(router, request(host="[::1]"))
    assert local.hooks() == ["onOpen", "onOpen"]
    _, transport = inMemory(router, request(host="[::2]"))
    assert statusOf(transport.value()) == 404


@pytest.mark.parametrize("host", ["admin.example:abc", "admin.example:99999", "admin@admin.example", "[::1"])
def test_malformedHostMatchesOnlyRoutesForAnyHost(host):
    """
    A Host header that names no host (a port that is not a number, userinfo,
    an unclosed IPv6 bracket) matches no host-restricted route, even one
    whose name it contains; a route for any host still takes it.
    """
    router, admin, anyHost = Router(), HttpRecorder(), HttpRecorder()
    router.addRoute("/admin", admin, httpHost="admin.example")
    router.addRoute("/", anyHost)
    _, transport = inMemory(router, request(target="/admin", host=host))
    assert statusOf(transport.value()) == 404
    inMemory(router, request(target="/", host=host))
    assert admin.events == []
    assert anyHost.hooks() == ["onOpen"]


def test_anyHostRouteAfterHostRoute():
    """
    A route without a host catches what the host-restricted routes before it
    do not; the first matching route wins.
    """
    router, special, fallback = Router(), HttpRecorder(), HttpRecorder()
    router.addRoute("/chat", special, httpHost="special.example")
    router.addRoute("/chat", fallback)
    inMemory(router, request(target="/chat", host="special.example"))
    inMemory(router, request(target="/chat", host="other.example"))
    assert special.hooks() == ["onOpen"]
    assert fallback.hooks() == ["onOpen"]
    assert fallback.request().headers["host"] == "other.example"


def test_routeParamsArePercentDecoded():
    """
    Placeholder values reach the component in request.routeParams,
    percent-decoded; a request routed without placeholders has none.
    """
    router, room, plain = Router(), HttpRecorder(), HttpRecorder()
    router.addRoute("/rooms/{room}/{rest:path}", room)
    router.addRoute("/plain", plain)
    inMemory(router, request(target="/rooms/caf%C3%A9%20one/a/b%2Fc?q=1"))
    assert dict(room.request().routeParams) == {"room": "café one", "rest": "a/b/c"}
    inMemory(router, request(target="/plain"))
    assert dict(plain.request().routeParams) == {}


def test_eventsGoToTheRoutedComponentOnly():
    """
    The bytes of the body, errors and the close of a connection reach the
    component it was routed to, and the router forgets the connection on
    close.
    """
    router, chat, echo = Router(), HttpRecorder(), HttpRecorder()
    router.addRoute("/chat", chat, methods=["POST"])
    router.addRoute("/echo", echo)
    protocol, _ = inMemory(router, request("POST", "/chat", extra=b"Content-Length: 14\r\n") + b"pipelined")
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
