"""
Persistent HTTP connections (keep-alive): several requests on one
connection, pipelined ones answered in order, C{Connection: close} and
HTTP/1.0, the request limit and the idle timeout, bodies, static files, the
publish endpoint, a WebSocket upgrade after plain requests, nothing of one
request seen by the next; over loopback with raw sockets and http.client,
and in memory where time matters.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import time

from playwright.sync_api import expect
from twisted.internet import task
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from ratchetpy import HttpHandler, HttpServer, IoServer, OriginCheck, Response, Router, StaticFiles, WsServer
from ratchetpy.auth import Authenticate, User
from ratchetpy.pubsub.endpoint import PublishEndpoint, PublishFront
from ratchetpy.pubsub.local import LocalBroker
from tests.helpers import HttpRecorder, Recorder, frame, inThread, parseResponse, readHead, upgradeRequest

SECRET = "a-secret-of-the-keepalive-tests-0123"


def get(target: str = "/", *headers: str, method: str = "GET", version: str = "1.1", body: bytes = b"") -> bytes:
    lines = [f"{method} {target} HTTP/{version}", "Host: 127.0.0.1", *headers]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def readResponse(sock: socket.socket, head: bool = False) -> tuple[int, dict[str, str], bytes]:
    """
    (Blocking client.) One response: read its head, then exactly its body
    (by Content-Length; none for HEAD); fails if the connection closes first.
    """
    raw = readHead(sock)
    assert raw.endswith(b"\r\n\r\n"), f"the connection closed in a response head: {raw!r}"
    status, headers, _ = parseResponse(raw)
    length = 0 if head else int(headers.get("content-length", "0"))
    body = b""
    while len(body) < length:
        chunk = sock.recv(min(65536, length - len(body)))
        assert chunk, "the connection closed in a response body"
        body += chunk
    return status, headers, body


def closedByServer(sock: socket.socket) -> bool:
    """
    (Blocking client.) Whether the server closes the connection with nothing more sent.
    """
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def connect(port: int, timeout: float = 10.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return sock


class Echo(HttpHandler):
    """
    Answers with the method, path and body; records the connection of each request.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.connections = []
        self.users = []

    def onOpen(self, conn, request):
        self.connections.append(conn.resourceId)
        self.users.append((conn.user, dict(vars(conn.state)), conn.remoteAddress))
        conn.state.seen = request.path
        return super().onOpen(conn, request)

    def onRequest(self, request):
        if request.path == "/slow":
            from twisted.internet import reactor

            return task.deferLater(reactor, 0.2, Response, 200, "slow")
        return Response(200, f"{request.method} {request.path} ".encode() + request.body)


# Several requests on one connection


def test_severalRequestsOnOneConnection(listen):
    """
    Requests sent one after another on one HTTP/1.1 connection are each
    answered, without Connection: close, on that one connection.
    """
    handler = Echo()
    port = listen(HttpServer(handler)).portNumber

    def client():
        with connect(port) as sock:
            answers = []
            for path in ("/a", "/b", "/c"):
                sock.sendall(get(path))
                answers.append(readResponse(sock))
            return answers

    answers = inThread(client)
    assert [body for _, _, body in answers] == [b"GET /a ", b"GET /b ", b"GET /c "]
    assert all(status == 200 and "connection" not in headers for status, headers, _ in answers)
    assert len(set(handler.connections)) == 1 and len(handler.connections) == 3


def test_eachRequestIsALifecycleOnTheSameConnection():
    """
    The component hears onOpen and onClose for each request, on the same
    connection object, the next onOpen after the previous onClose; the
    connection's request is the current one.
    """
    clock = Clock()
    seen = []

    class Page(HttpRecorder):
        def onOpen(self, conn, request):
            seen.append(conn.httpRequest is request)
            super().onOpen(conn, request)
            Response(200, "ok").writeTo(conn)

    page = Page()
    protocol = IoServer(HttpServer(page, reactor=clock), reactor=clock).buildProtocol(None)
    transport = StringTransport(peerAddress=IPv4Address("TCP", "192.0.2.1", 5555))
    protocol.makeConnection(transport)
    protocol.dataReceived(get("/1") + get("/2"))
    clock.advance(0)
    clock.advance(0)
    assert page.hooks() == ["onOpen", "onClose", "onOpen", "onClose"]
    assert len({id(event[1]) for event in page.events}) == 1
    assert [event[2].path for event in page.events if event[0] == "onOpen"] == ["/1", "/2"]
    assert seen == [True, True]
    assert protocol._connection.httpRequest is None, "between requests there is no request"
    assert not transport.disconnecting
    protocol.connectionLost(None)
    assert page.hooks() == ["onOpen", "onClose", "onOpen", "onClose"], "no second onClose"


def test_pipelinedRequestsAreAnsweredInOrder(listen):
    """
    Requests sent at once (pipelined) are answered in the order they came,
    one at a time, a slow one holding back those behind it.
    """
    handler = Echo()
    port = listen(HttpServer(handler)).portNumber

    def client():
        with connect(port) as sock:
            sock.sendall(get("/slow") + get("/p", method="POST", body=b"body") + get("/last", "Connection: close"))
            answers = [readResponse(sock) for _ in range(3)]
            return answers, closedByServer(sock)

    answers, closed = inThread(client)
    assert [body for _, _, body in answers] == [b"slow", b"POST /p body", b"GET /last "]
    assert answers[2][1]["connection"] == "close"
    assert closed
    assert len(set(handler.connections)) == 1


# When the connection is closed


def test_connectionCloseIsHonoured(listen):
    """
    A request saying Connection: close gets a response saying it too, and
    the connection is closed.
    """
    port = listen(HttpServer(Echo())).portNumber

    def client():
        with connect(port) as sock:
            sock.sendall(get("/", "Connection: close"))
            return readResponse(sock), closedByServer(sock)

    (status, headers, _), closed = inThread(client)
    assert (status, headers["connection"], closed) == (200, "close", True)


def test_http10(listen):
    """
    An HTTP/1.0 request is answered and closed, unless it says Connection:
    keep-alive: then the response says it too, and the connection persists.
    """
    port = listen(HttpServer(Echo())).portNumber

    def client():
        with connect(port) as sock:
            sock.sendall(get("/", version="1.0"))
            plain = readResponse(sock), closedByServer(sock)
        with connect(port) as sock:
            sock.sendall(get("/a", "Connection: keep-alive", version="1.0"))
            first = readResponse(sock)
            sock.sendall(get("/b", version="1.0"))
            return plain, first, readResponse(sock), closedByServer(sock)

    (plainAnswer, plainClosed), first, second, closed = inThread(client)
    assert plainAnswer[1]["connection"] == "close" and plainClosed
    assert first[1]["connection"] == "keep-alive" and first[2] == b"GET /a "
    assert second[1]["connection"] == "close" and second[2] == b"GET /b " and closed


def test_requestLimit(listen):
    """
    The maxRequestsPerConnection-th response says Connection: close, and
    the connection is closed after it.
    """
    handler = Echo()
    port = listen(HttpServer(handler, maxRequestsPerConnection=3)).portNumber

    def client():
        with connect(port) as sock:
            answers = []
            for path in ("/1", "/2", "/3"):
                sock.sendall(get(path))
                answers.append(readResponse(sock))
            return answers, closedByServer(sock)

    answers, closed = inThread(client)
    assert [headers.get("connection") for _, headers, _ in answers] == [None, None, "close"]
    assert closed
    assert len(set(handler.connections)) == 1


def test_oneRequestPerConnection(listen):
    """
    With maxRequestsPerConnection=1 every response closes its connection.
    """
    port = listen(HttpServer(Echo(), maxRequestsPerConnection=1)).portNumber

    def client():
        with connect(port) as sock:
            sock.sendall(get("/"))
            return readResponse(sock)[1]["connection"], closedByServer(sock)

    assert inThread(client) == ("close", True)


def test_idleTimeout():
    """
    A connection waiting idleTimeout seconds for its next request is closed
    without an answer; once the next request has begun, it has headTimeout
    to arrive (then 408).
    """
    clock = Clock()
    http = HttpServer(Echo(reactor=clock), reactor=clock, idleTimeout=15, headTimeout=10)
    protocol = IoServer(http, reactor=clock).buildProtocol(None)
    transport = StringTransport(peerAddress=IPv4Address("TCP", "192.0.2.1", 5555))
    protocol.makeConnection(transport)
    protocol.dataReceived(get("/"))
    clock.advance(0)
    answered = transport.value()
    assert answered.startswith(b"HTTP/1.1 200 ")
    clock.advance(14.9)
    assert not transport.disconnecting
    clock.advance(0.2)
    assert transport.disconnecting and transport.value() == answered, "closed, with nothing written"

    transport = StringTransport(peerAddress=IPv4Address("TCP", "192.0.2.1", 5555))
    protocol = IoServer(http, reactor=clock).buildProtocol(None)
    protocol.makeConnection(transport)
    protocol.dataReceived(get("/"))
    clock.advance(14)
    protocol.dataReceived(b"GET / HT")
    clock.advance(9.9)
    assert not transport.disconnecting
    clock.advance(0.2)
    assert transport.disconnecting
    assert b"HTTP/1.1 408 " in transport.value()


def test_idleTimeoutOverLoopback(listen):
    """
    The server closes an idle persistent connection by itself.
    """
    port = listen(HttpServer(Echo(), idleTimeout=0.3)).portNumber

    def client():
        with connect(port) as sock:
            sock.sendall(get("/"))
            readResponse(sock)
            started = time.monotonic()
            return closedByServer(sock), time.monotonic() - started

    closed, waited = inThread(client)
    assert closed and waited < 5


# Bodies


def test_postThenGet(listen):
    """
    An HttpHandler reads a POST's body, then answers a GET on the same
    connection; a chunked body too.
    """
    handler = Echo()
    port = listen(HttpServer(handler)).portNumber

    def client():
        with connect(port) as sock:
            sock.sendall(get("/form", method="POST", body=b"a=1"))
            first = readResponse(sock)
            sock.sendall(
                b"PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" + get("/next")
            )
            return first, readResponse(sock), readResponse(sock)

    answers = inThread(client)
    assert [body for _, _, body in answers] == [b"POST /form a=1", b"PUT /c abc", b"GET /next "]
    assert len(set(handler.connections)) == 1


def test_bodyNotReadClosesTheConnection(listen):
    """
    A response written before its request's body has arrived (a refusal by
    Content-Length, a route that takes no body) closes the connection: the
    rest of the body would be read as the next request.
    """
    router = Router()
    router.addRoute("/small", Echo(maxBodySize=10), methods=("POST",))
    port = listen(HttpServer(router)).portNumber

    def client():
        with connect(port) as sock:
            sock.sendall(b"POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
            refused = readResponse(sock), closedByServer(sock)
        with connect(port) as sock:
            sock.sendall(b"POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nGET / HTTP/1.1\r\n")
            return refused, readResponse(sock), closedByServer(sock)

    (refused, refusedClosed), missing, missingClosed = inThread(client)
    assert refused[0] == 413 and refused[1]["connection"] == "close" and refusedClosed
    assert missing[0] == 404 and missing[1]["connection"] == "close" and missingClosed


def test_notFoundKeepsTheConnection(listen):
    """
    A 404 (or 405) of a Router keeps a persistent connection open; a 403 of
    an OriginCheck closes it.
    """
    router = Router()
    router.addRoute("/", Echo())
    port = listen(HttpServer(OriginCheck(router, ["good.example"], allowSameOrigin=False))).portNumber

    def client():
        with connect(port) as sock:
            sock.sendall(get("/missing"))
            missing = readResponse(sock)
            sock.sendall(get("/", method="DELETE"))
            notAllowed = readResponse(sock)
            sock.sendall(get("/", "Origin: http://good.example"))
            served = readResponse(sock)
            sock.sendall(get("/", "Origin: http://evil.example"))
            return missing, notAllowed, served, readResponse(sock), closedByServer(sock)

    missing, notAllowed, served, forbidden, closed = inThread(client)
    assert (missing[0], notAllowed[0], served[0], forbidden[0]) == (404, 405, 200, 403)
    assert "connection" not in missing[1] and "connection" not in notAllowed[1]
    assert forbidden[1]["connection"] == "close" and closed


# Files and the publish endpoint


def test_bigFileThenAnotherRequest(listen, tmp_path):
    """
    A file larger than what is read at once is streamed to its end, and the
    connection then answers its next request.
    """
    data = bytes(range(256)) * 4096  # 1 MiB
    (tmp_path / "big.bin").write_bytes(data)
    (tmp_path / "small.txt").write_bytes(b"small")
    port = listen(HttpServer(StaticFiles(tmp_path))).portNumber

    def client():
        with connect(port) as sock:
            sock.sendall(get("/big.bin"))
            big = readResponse(sock)
            sock.sendall(get("/small.txt", method="HEAD"))
            head = readResponse(sock, head=True)
            sock.sendall(get("/small.txt"))
            return big, head, readResponse(sock)

    big, head, small = inThread(client)
    assert big[0] == 200 and big[2] == data
    assert head[0] == 200 and head[1]["content-length"] == "5"
    assert small[2] == b"small"


def test_publishTwiceOnOneConnection(listen):
    """
    The publish endpoint, behind a PublishFront as twistd's --publish-path
    puts it, answers two publishes on one http.client connection.
    """
    endpoint = PublishEndpoint(SECRET, LocalBroker())
    port = listen(HttpServer(PublishFront(endpoint, "/publish", WsServer(Recorder())))).portNumber

    def client():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        answers = []
        for text in ("one", "two"):
            connection.request("POST", "/publish/news", body=text, headers={"Authorization": f"Bearer {SECRET}"})
            response = connection.getresponse()
            answers.append((response.status, response.read(), id(connection.sock)))
        connection.close()
        return answers

    answers = inThread(client)
    assert [(status, json.loads(body)["channel"]) for status, body, _ in answers] == [(202, "news")] * 2
    assert answers[0][2] == answers[1][2], "one connection"


# WebSockets


def test_upgradeAfterPlainRequests(listen):
    """
    A WebSocket upgrade on a connection that served plain requests upgrades,
    and its messages reach the component.
    """
    chat = Recorder(echo=True)
    page = Echo()
    port = listen(HttpServer(WsServer(chat, http=page))).portNumber

    def client():
        with connect(port) as sock:
            sock.sendall(get("/page"))
            first = readResponse(sock)
            sock.sendall(get("/again"))
            second = readResponse(sock)
            sock.sendall(upgradeRequest("/"))
            upgraded = readHead(sock)
            sock.sendall(frame(0x1, b"hello"))
            echoed = sock.recv(2)
            echoed += sock.recv(echoed[1])
            return first, second, upgraded, echoed

    first, second, upgraded, echoed = inThread(client)
    assert first[2] == b"GET /page " and second[2] == b"GET /again "
    assert upgraded.startswith(b"HTTP/1.1 101 ")
    assert echoed == b"\x81\x05hello"
    assert chat.hooks()[:2] == ["onOpen", "onMessage"]
    assert len(set(page.connections)) == 1


def test_upgradePipelinedAfterAPlainRequest(listen):
    """
    An upgrade sent right behind a plain request, in one write, upgrades once
    the plain request is answered.
    """
    chat = Recorder(echo=True)
    port = listen(HttpServer(WsServer(chat, http=Echo()))).portNumber

    def client():
        with connect(port) as sock:
            sock.sendall(get("/page") + upgradeRequest("/") + frame(0x1, b"hi"))
            first = readResponse(sock)
            upgraded = readHead(sock)
            echoed = sock.recv(2)
            echoed += sock.recv(echoed[1])
            return first, upgraded, echoed

    first, upgraded, echoed = inThread(client)
    assert first[2] == b"GET /page "
    assert upgraded.startswith(b"HTTP/1.1 101 ")
    assert echoed == b"\x81\x02hi"


# Nothing of one request is seen by the next


def test_userAndStateAreResetBetweenRequests(listen):
    """
    The user an Authenticate recognised for one request, and what a
    component kept in conn.state, are gone for the next request on the
    connection.
    """
    def byToken(request):
        token = request.headers.get("authorization", "")
        return User(token.removeprefix("Bearer ")) if token else None

    handler = Echo()
    port = listen(HttpServer(Authenticate(handler, byToken, allowAnonymous=True))).portNumber

    def client():
        with connect(port) as sock:
            sock.sendall(get("/1", "Authorization: Bearer ann"))
            readResponse(sock)
            sock.sendall(get("/2"))
            readResponse(sock)
            sock.sendall(get("/3", "Authorization: Bearer bob"))
            readResponse(sock)

    inThread(client)
    assert [getattr(user, "id", None) for user, _, _ in handler.users] == ["ann", None, "bob"]
    assert [state for _, state, _ in handler.users] == [{}, {}, {}]


def test_clientOfEachRequestBehindATrustedProxy():
    """
    Behind a trusted proxy each request's client is read from its own
    X-Forwarded-For: a proxy may send several clients' requests on one
    connection.
    """
    clock = Clock()
    handler = Echo(reactor=clock)
    http = HttpServer(handler, reactor=clock, trustedProxies=["192.0.2.1"])
    protocol = IoServer(http, reactor=clock).buildProtocol(None)
    protocol.makeConnection(StringTransport(peerAddress=IPv4Address("TCP", "192.0.2.1", 5555)))
    for client in ("203.0.113.5", "198.51.100.7", None):
        protocol.dataReceived(get("/", *([f"X-Forwarded-For: {client}"] if client else [])))
        clock.advance(0)
    assert [address for _, _, address in handler.users] == ["203.0.113.5", "198.51.100.7", "192.0.2.1"]
    counter = protocol._server.openConnections
    assert counter.count == 1 and counter.connectionsFrom("192.0.2.1") == 1, "counted once, toward the hop now"


# A real browser


def requestsSeen(process, count: int) -> list[tuple[str, str]]:
    """
    The (path, connection) of the first C{count} plain HTTP requests a
    L{tests.http.countingpages} server logged.
    """
    return [process.readUntil(r"http request (\S+) on connection (\d+)").groups() for _ in range(count)]


def test_chromiumUsesOneConnection(twistd, browser):  # noqa: F811 (the fixture)
    """
    Chromium loading the chat page, then reloading it twice, sends the three
    requests on one TCP connection (with --max-requests-per-connection 1 it
    takes three).
    """
    process = twistd("--component", "tests.http.countingpages:CountingChat", "--port", "tcp:0:interface=127.0.0.1")
    port = process.waitForPort()
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{port}/")
        expect(page.locator("#status")).to_have_attribute("data-state", "connected")
        for _ in range(2):
            page.reload()
            expect(page.locator("#status")).to_have_attribute("data-state", "connected")
    finally:
        context.close()
    seen = requestsSeen(process, 3)
    assert [path for path, _ in seen] == ["/"] * 3
    assert len({connection for _, connection in seen}) == 1, seen


def test_chromiumLoadsAPageAndItsFilesOnOneConnection(twistd, browser, tmp_path):  # noqa: F811 (the fixture)
    """
    A page whose script, once run, fetches a file: Chromium asks for the
    page, the script and the file on one TCP connection.
    """
    (tmp_path / "index.html").write_text(
        '<!doctype html><html><head><link rel="icon" href="data:,"></head>'
        '<body><p id="out">loading</p><script src="app.js"></script></body></html>'
    )
    (tmp_path / "app.js").write_text(
        'fetch("data.txt").then(r => r.text()).then(t => { document.getElementById("out").textContent = t; });'
    )
    (tmp_path / "data.txt").write_text("loaded over one connection")
    env = {**os.environ, "COUNTED_PAGES": str(tmp_path)}
    process = twistd(
        "--component", "tests.http.countingpages:CountingSite", "--port", "tcp:0:interface=127.0.0.1", env=env
    )
    port = process.waitForPort()
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{port}/")
        expect(page.locator("#out")).to_have_text("loaded over one connection")
    finally:
        context.close()
    seen = requestsSeen(process, 3)
    assert [path for path, _ in seen] == ["/", "/app.js", "/data.txt"]
    assert len({connection for _, connection in seen}) == 1, seen


def test_limitsCountConnectionsNotRequests():
    """
    A connection admitted under maxConnections is not refused its next
    requests because other connections have opened since: the limit counts
    connections.
    """
    clock = Clock()
    handler = Echo(reactor=clock)
    server = IoServer(HttpServer(handler, reactor=clock, maxConnections=1), reactor=clock)

    def connection():
        protocol = server.buildProtocol(None)
        transport = StringTransport(peerAddress=IPv4Address("TCP", "192.0.2.1", 5555))
        protocol.makeConnection(transport)
        return protocol, transport

    first, firstTransport = connection()
    first.dataReceived(get("/1"))
    clock.advance(0)
    second, secondTransport = connection()
    second.dataReceived(get("/other"))
    assert secondTransport.value().startswith(b"HTTP/1.1 503 ")
    first.dataReceived(get("/2"))
    clock.advance(0)
    assert firstTransport.value().count(b"HTTP/1.1 200 ") == 2
    assert not firstTransport.disconnecting
