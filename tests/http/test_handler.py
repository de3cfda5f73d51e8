"""
HttpHandler request bodies, over loopback with real clients (raw sockets,
http.client): by Content-Length and chunked, split across reads, 100-continue,
and the limits (413, 408, 400), with the server carrying on afterwards.
"""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
import time

import pytest
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from ratchetpy import HttpHandler, HttpServer, Response, Router, WsServer
from ratchetpy.http.handler import BODY_TIMEOUT, MAX_BODY_SIZE
from ratchetpy.http.request import parseHead
from ratchetpy.server.connection import IoConnection
from tests.helpers import ROOT, Recorder, exchange, inMemory, inThread

#: The host, and Connection: close, so that the server closes once it has
#: answered (tests/http/test_keepalive.py keeps connections open).
CLOSE = b"Host: a\r\nConnection: close\r\n"


class Echo(HttpHandler):
    """
    Answers with the method and the body it got.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.bodies = []

    def onRequest(self, request):
        self.bodies.append(request.body)
        return Response(200, request.method.encode() + b" " + request.body, contentType="application/octet-stream")


def test_defaults():
    assert (HttpHandler.maxBodySize, HttpHandler.bodyTimeout) == (MAX_BODY_SIZE, BODY_TIMEOUT) == (65536, 10.0)
    handler = HttpHandler(maxBodySize=10, bodyTimeout=2)
    assert (handler.maxBodySize, handler.bodyTimeout) == (10, 2)
    with pytest.raises(ValueError, match="maxBodySize"):
        HttpHandler(maxBodySize=-1)
    with pytest.raises(ValueError, match="bodyTimeout"):
        HttpHandler(bodyTimeout=0)


def test_noBody(listen):
    handler = Echo()
    port = listen(HttpServer(handler)).portNumber
    answer = inThread(exchange, port, b"GET /x HTTP/1.1\r\n" + CLOSE + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"\r\n\r\nGET ")
    assert handler.bodies == [b""]


def test_contentLengthWithHttpClient(listen):
    handler = Echo()
    port = listen(HttpServer(handler)).portNumber

    def post():
        client = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        client.request("POST", "/p", body=b"\x00binary\xff" * 1000)
        response = client.getresponse()
        return response.status, response.read()

    status, body = inThread(post)
    assert status == 200
    assert body == b"POST " + b"\x00binary\xff" * 1000


def test_bodySplitAcrossReads(listen):
    """
    Bytes of the body in the head's read, then a byte at a time.
    """
    handler = Echo()
    port = listen(HttpServer(handler)).portNumber
    head = b"POST / HTTP/1.1\r\n" + CLOSE + b"Content-Length: 5\r\n\r\nh"
    answer = inThread(exchange, port, head, b"e", b"l", b"lo", pause=0.05)
    assert answer.endswith(b"POST hello")
    assert handler.bodies == [b"hello"]


def test_extraBytesIgnored(listen):
    handler = Echo()
    port = listen(HttpServer(handler)).portNumber
    answer = inThread(
        exchange, port, b"POST / HTTP/1.1\r\n" + CLOSE + b"Content-Length: 2\r\n\r\nokGET / HTTP/1.1\r\n\r\n"
    )
    assert answer.endswith(b"POST ok")
    assert handler.bodies == [b"ok"]


def test_chunked(listen):
    handler = Echo()
    port = listen(HttpServer(handler)).portNumber
    head = b"POST / HTTP/1.1\r\n" + CLOSE + b"Transfer-Encoding: chunked\r\n\r\n"
    answer = inThread(exchange, port, head, b"3\r\nabc\r\n", b"2\r\nde\r\n0\r\n\r\n", pause=0.05)
    assert answer.endswith(b"POST abcde")


def test_expect100Continue(listen):
    handler = Echo()
    port = listen(HttpServer(handler)).portNumber

    def post():
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"POST / HTTP/1.1\r\n" + CLOSE + b"Content-Length: 3\r\nExpect: 100-continue\r\n\r\n")
            first = s.recv(100)
            s.sendall(b"abc")
            rest = b""
            while chunk := s.recv(65536):
                rest += chunk
            return first, rest

    first, rest = inThread(post)
    assert first == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert rest.startswith(b"HTTP/1.1 200 ") and rest.endswith(b"POST abc")


def test_tooLargeByContentLength(listen, logged):
    handler = Echo(maxBodySize=10)
    port = listen(HttpServer(handler)).portNumber
    answer = inThread(exchange, port, b"POST / HTTP/1.1\r\n" + CLOSE + b"Content-Length: 11\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"larger than 10 bytes" in answer
    assert handler.bodies == []
    assert any("answered 413" in line for line in logged())
    # Exactly the limit is fine, and the server carries on.
    assert inThread(exchange, port, b"POST / HTTP/1.1\r\n" + CLOSE + b"Content-Length: 10\r\n\r\n0123456789").endswith(
        b"POST 0123456789"
    )


def test_tooLargeChunked(listen):
    handler = Echo(maxBodySize=10)
    port = listen(HttpServer(handler)).portNumber
    head = b"POST / HTTP/1.1\r\n" + CLOSE + b"Transfer-Encoding: chunked\r\n\r\n"
    answer = inThread(exchange, port, head + b"6\r\nabcdef\r\n6\r\nghijkl\r\n0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert handler.bodies == []


def test_bodyTimeout(listen, logged):
    handler = Echo(bodyTimeout=0.5)
    port = listen(HttpServer(handler)).portNumber
    started = time.monotonic()
    answer = inThread(exchange, port, b"POST / HTTP/1.1\r\n" + CLOSE + b"Content-Length: 10\r\n\r\nabc")
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"not received within 0.5 seconds" in answer
    assert 0.4 < time.monotonic() - started < 5
    assert handler.bodies == []


PARTIAL_BODY = b"POST / HTTP/1.1\r\n" + CLOSE + b"Content-Length: 10\r\n\r\nabc"


def test_bodyTimeoutOnTheServersReactor():
    """
    Without a reactor of its own, a handler times bodies out on the reactor
    of the server that accepted the connection (conn.io.reactor).
    """
    clock = Clock()
    handler = Echo(bodyTimeout=2)
    _, transport = inMemory(handler, PARTIAL_BODY, clock)
    clock.advance(1.9)
    assert transport.value() == b""
    clock.advance(0.1)
    assert transport.value().startswith(b"HTTP/1.1 408 ")
    assert handler.bodies == []


def test_bodyTimeoutOnTheGivenReactor():
    """
    HttpHandler(reactor=...) times bodies out on that reactor, whatever the
    server's is; a subclass may set the class attribute instead.
    """
    serverClock, handlerClock = Clock(), Clock()
    handler = Echo(bodyTimeout=2, reactor=handlerClock)
    _, transport = inMemory(handler, PARTIAL_BODY, serverClock)
    serverClock.advance(5)
    assert transport.value() == b""
    handlerClock.advance(2)
    assert transport.value().startswith(b"HTTP/1.1 408 ")

    class OwnClock(Echo):
        reactor = Clock()

    handler = OwnClock(bodyTimeout=2)
    _, transport = inMemory(handler, PARTIAL_BODY, serverClock)
    OwnClock.reactor.advance(2)
    assert transport.value().startswith(b"HTTP/1.1 408 ")


def test_noReactorAtAllIsAnError():
    """
    On a connection that no server accepted (no conn.io.reactor), a handler
    without a reactor of its own says what to do when a body must be timed,
    rather than using the global reactor.
    """
    conn = IoConnection(StringTransport())
    request = parseHead(PARTIAL_BODY.partition(b"\r\n\r\n")[0] + b"\r\n\r\n")
    with pytest.raises(RuntimeError, match=r"no reactor for its body timeout: pass it reactor="):
        Echo().onOpen(conn, request)
    Echo(reactor=Clock()).onOpen(conn, request)


def test_noGlobalReactorAtImportOrConstruction():
    """
    Importing the HTTP layer and making handlers installs no reactor (so a
    program may still install the one it wants).
    """
    code = (
        "import sys\n"
        "from ratchetpy.http.handler import HttpHandler\n"
        "from ratchetpy.http.static import StaticFiles\n"
        "HttpHandler(); StaticFiles('.')\n"
        "assert 'twisted.internet.reactor' not in sys.modules, 'a reactor was installed'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


def test_badChunks(listen):
    handler = Echo()
    port = listen(HttpServer(handler)).portNumber
    head = b"POST / HTTP/1.1\r\n" + CLOSE + b"Transfer-Encoding: chunked\r\n\r\n"
    answer = inThread(exchange, port, head + b"zz\r\nabc\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert handler.bodies == []


def test_clientGoesAwayMidBody(listen):
    """
    A client that leaves before its body is complete leaves nothing behind.
    """
    handler = Echo()
    port = listen(HttpServer(handler)).portNumber

    def leave():
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"POST / HTTP/1.1\r\n" + CLOSE + b"Content-Length: 10\r\n\r\nabc")
            time.sleep(0.2)

    inThread(leave)
    inThread(time.sleep, 0.3)
    assert handler._bodies == {}
    assert handler.bodies == []


def test_behindRouterAndWsServer(listen):
    """
    Bodies reach handlers as Router routes and as a WsServer's http component.
    """
    routed = Echo()
    router = Router()
    router.addRoute("/r/{x}", routed, methods=("POST",))
    port = listen(HttpServer(router)).portNumber
    answer = inThread(exchange, port, b"POST /r/1 HTTP/1.1\r\n" + CLOSE + b"Content-Length: 2\r\n\r\nhi")
    assert answer.endswith(b"POST hi")

    beside = Echo()
    port = listen(HttpServer(WsServer(Recorder(), http=beside))).portNumber
    answer = inThread(exchange, port, b"PUT / HTTP/1.1\r\n" + CLOSE + b"Content-Length: 3\r\n\r\n", b"abc", pause=0.05)
    assert answer.endswith(b"PUT abc")
