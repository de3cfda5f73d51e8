"""
WsServer end to end: real servers on loopback, real clients (the websockets
library in threads, Autobahn's Twisted client in the reactor), plus the
handshake in memory.
"""

from __future__ import annotations

import socket

import pytest
import pytest_twisted
from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet import defer, reactor, task, threads
from twisted.internet.address import IPv4Address
from twisted.internet.endpoints import clientFromString
from twisted.internet.testing import StringTransport
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from zope.interface.verify import verifyObject

from examples.chat import Chat
from ratchetpy import HttpServer, IConnection, IHttpServerComponent, IoServer, MessageComponent, WsServer
from ratchetpy.testing import Harness
from tests.helpers import Recorder, closeCodeAfter, frame, inThread, openWebSocket, serveWebSocket, sleep, waitUntil
from tests.paths import clientOffers, pytest_generate_tests  # noqa: F401  (both engine paths)

#: About compression itself: run only with clients offering it (tests/paths.py).
DEFLATE_ONLY = {"test_compressionNegotiated", "test_compressedBombIsRefused", "test_autobahnClient"}

# In memory


def handshake(server, request):
    protocol = IoServer(HttpServer(server)).buildProtocol(None)
    transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 5000))
    protocol.makeConnection(transport)
    protocol.dataReceived(request)
    return transport


def test_implementsInterface():
    """
    WsServer is an IHttpServerComponent, so it fits behind HttpServer and any
    HTTP-level decorator.
    """
    verifyObject(IHttpServerComponent, WsServer(Recorder()))


def test_handshakeInMemory():
    """
    The RFC 6455 section 1.3 sample handshake is answered with 101 and the
    sample accept key; the component is opened.
    """
    component = Recorder()
    transport = handshake(
        WsServer(component, keepAlive=0),
        b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n",
    )
    response = transport.value()
    assert response.startswith(b"HTTP/1.1 101 ")
    assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in response
    assert component.hooks() == ["onOpen"]
    conn = component.events[0][1]
    verifyObject(IConnection, conn)
    assert conn.httpRequest.path == "/chat"


def test_plainGetGets426():
    """
    A GET without an upgrade gets a 426 that says to use a WebSocket client,
    never Autobahn's status page; the component never hears of it.
    """
    component = Recorder()
    transport = handshake(WsServer(component), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    response = transport.value()
    assert response.startswith(b"HTTP/1.1 426 Upgrade Required\r\n")
    assert b"Upgrade: websocket" in response
    assert b"WebSocket client" in response
    assert b"<html" not in response.lower()
    assert component.events == []


def test_badHandshakeGets400():
    """
    An upgrade request Autobahn cannot accept (no key) gets a 400.
    """
    component = Recorder()
    transport = handshake(
        WsServer(component, keepAlive=0),
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n",
    )
    assert transport.value().startswith(b"HTTP/1.1 400 ")
    assert component.events == []


# Over loopback with the websockets library


def test_textAndBinaryEcho(listen):
    """
    Text arrives as str and binary as bytes, and each goes back the same way.
    """
    component = Recorder(echo=True)
    _, url = serveWebSocket(listen, component)

    def client():
        with connect(url) as ws:
            ws.send("héllo")
            text = ws.recv(timeout=5)
            ws.send(b"\x00\xffbin")
            binary = ws.recv(timeout=5)
            return text, binary

    assert inThread(client) == ("héllo", b"\x00\xffbin")
    assert component.messages() == ["héllo", b"\x00\xffbin"]


def test_fragmentedMessageArrivesWhole(listen):
    """
    A message sent in fragments reaches the component as one message.
    """
    component = Recorder(echo=True)
    _, url = serveWebSocket(listen, component)

    def client():
        with connect(url) as ws:
            ws.send(iter(["frag", "men", "ted"]))
            return ws.recv(timeout=5)

    assert inThread(client) == "fragmented"
    assert component.messages() == ["fragmented"]


def test_pingIsAnswered(listen):
    """
    A client's ping gets a pong.
    """
    _, url = serveWebSocket(listen, Recorder())

    def client():
        with connect(url) as ws:
            return ws.ping(b"are you there").wait(timeout=5)

    assert inThread(client)


def test_clientCloseCodeAndOnClose(listen):
    """
    A client's close with code 4000 is answered with the same code and the
    component's onClose runs once.
    """
    component = Recorder()
    _, url = serveWebSocket(listen, component)

    def client():
        with connect(url) as ws:
            ws.close(4000, "bye")
            return ws.close_code, ws.close_reason

    assert inThread(client) == (4000, "bye")
    waitUntil(lambda: "onClose" in component.hooks(), what="onClose")
    assert component.hooks() == ["onOpen", "onClose"]


def test_serverCloseWithCodeAndReason(listen):
    """
    conn.close(code, reason) reaches the client as that close code and reason.
    """

    class Closer(MessageComponent):
        def onMessage(self, conn, msg):
            conn.close(4001, "go away")

    _, url = serveWebSocket(listen, Closer())

    def client():
        with connect(url) as ws:
            ws.send("x")
            with pytest.raises(ConnectionClosed) as info:
                ws.recv(timeout=5)
            return info.value.rcvd.code, info.value.rcvd.reason

    assert inThread(client) == (4001, "go away")


def test_closeRejectsReservedCodes(listen):
    """
    conn.close with a code an endpoint must not send (1005, 1006) raises
    ValueError instead of sending it.
    """
    component = Recorder()
    _, url = serveWebSocket(listen, component)

    def client():
        with connect(url):
            pass

    conns = []
    component.onOpen = conns.append
    inThread(client)
    with pytest.raises(ValueError):
        conns[0].close(1006)


def test_compressionNegotiated(listen):
    """
    permessage-deflate is accepted when the client offers it and messages go
    through it; with compression=False it is not agreed.
    """
    _, url = serveWebSocket(listen, Recorder(echo=True))

    def client(target):
        with connect(target) as ws:
            ws.send("z" * 10000)
            assert ws.recv(timeout=5) == "z" * 10000
            return ws.response.headers.get("Sec-WebSocket-Extensions")

    assert "permessage-deflate" in inThread(client, url)
    _, plainUrl = serveWebSocket(listen, Recorder(echo=True), compression=False)
    assert inThread(client, plainUrl) is None


def test_compressedBombIsRefused(listen):
    """
    A small compressed message that inflates past the limit gets 1009.
    """
    _, url = serveWebSocket(listen, Recorder(echo=True), maxMessageSize=64 * 1024)
    assert inThread(closeCodeAfter, url, "a" * (1024 * 1024)) == 1009


class SubProtocols(Recorder):
    def getSubProtocols(self):
        return ["chat", "v2.chat"]


@pytest.mark.parametrize(
    "offered, agreed",
    [(["v2.chat", "chat"], "v2.chat"), (["chat"], "chat"), (["other"], None), (None, None)],
)
def test_subProtocolNegotiation(listen, offered, agreed):
    """
    The first subprotocol the client offers that the component supports is
    agreed; a client offering only unknown ones is accepted without one.
    """
    component = SubProtocols()
    _, url = serveWebSocket(listen, component)

    def client():
        with connect(url, subprotocols=offered) as ws:
            return ws.subprotocol

    assert inThread(client) == agreed
    waitUntil(lambda: component.events, what="onOpen")
    assert component.events[0][1].subProtocol == agreed


def test_oversizedMessageGets1009(listen):
    """
    A message over maxMessageSize closes that connection with 1009; another
    connection carries on.
    """
    component = Recorder(echo=True)
    _, url = serveWebSocket(listen, component, maxMessageSize=1000, compression=False)

    def bystander():
        with connect(url) as ws:
            ws.send("before")
            first = ws.recv(timeout=5)
            code = closeCodeAfter(url, b"x" * 2000)
            ws.send("after")
            return first, code, ws.recv(timeout=5)

    assert inThread(bystander) == ("before", 1009, "after")


def test_componentExceptionGets1011(listen):
    """
    A component whose onMessage raises closes that connection with 1011 after
    onError; other connections and the server carry on.
    """

    class Fragile(Recorder):
        def onMessage(self, conn, msg):
            if msg == "crash":
                raise RuntimeError("component bug")
            conn.send(msg)

    component = Fragile()
    _, url = serveWebSocket(listen, component)
    assert inThread(closeCodeAfter, url, "crash") == 1011
    assert "onError" in component.hooks()

    def client():
        with connect(url) as ws:
            ws.send("still here")
            return ws.recv(timeout=5)

    assert inThread(client) == "still here"


@pytest.mark.parametrize("compression", [False, True])
def test_asyncHooksOverWebSocket(compression):
    """
    An async onOpen that takes a while finishes before the first onMessage,
    even when the client sends at once; async onMessage replies arrive in order.
    """

    class Slow(MessageComponent):
        async def onOpen(self, conn):
            await task.deferLater(conn.io.reactor, 0.2, lambda: None)
            conn.state.greeting = "ready"

        async def onMessage(self, conn, msg):
            await task.deferLater(conn.io.reactor, 0.01, lambda: None)
            conn.send(f"{conn.state.greeting}:{msg}")

    harness = Harness(Slow())
    client = harness.connect(compression=compression)
    for i in range(5):
        client.send(str(i))
    client.receiveNothing()
    harness.advance(0.2 + 5 * 0.01)
    assert client.receiveAll() == [f"ready:{i}" for i in range(5)]


def test_connectionAttributes(listen):
    """
    A WebSocket connection has a process-unique resourceId, the peer's IP,
    the request that opened it, and state shared with the layer underneath.
    """
    component = Recorder()
    _, url = serveWebSocket(listen, component)

    def client():
        with connect(url + "room?id=7", additional_headers={"X-Token": "abc"}):
            pass
        with connect(url):
            pass

    inThread(client)
    waitUntil(lambda: component.hooks().count("onClose") == 2, what="two closes")
    first, second = [event[1] for event in component.events if event[0] == "onOpen"]
    assert first.resourceId != second.resourceId
    assert first.remoteAddress == "127.0.0.1"
    request = first.httpRequest
    assert (request.method, request.path, request.query) == ("GET", "/room", "id=7")
    assert request.headers["x-token"] == "abc"
    first.state.name = "ann"
    assert first._inner.state.name == "ann"
    first.send("ignored after close")  # sending on a closed connection is a no-op


@pytest.mark.parametrize("compression", [False, True])
def test_chatAmongThreeClients(compression):
    """
    The chat example relays each message verbatim to the two other clients and
    never back to the sender.
    """
    harness = Harness(Chat())
    a, b, c = (harness.connect(compression=compression) for _ in range(3))
    a.send("from a")
    got = [b.receive(), c.receive()]
    c.send(b"\x01binary")
    got += [a.receive(), b.receive()]
    a.receiveNothing()
    c.receiveNothing()
    assert got == ["from a", "from a", b"\x01binary", b"\x01binary"]


def test_keepAlivePingsAndDropsDeadPeer(listen):
    """
    An idle peer is pinged every keepAlive seconds; one that never answers is
    dropped and the component hears onClose.
    """
    component = Recorder()
    server, _ = serveWebSocket(listen, component, keepAlive=1)

    def silentPeer():
        sock = openWebSocket(server.portNumber)
        sock.settimeout(5)
        first = sock.recv(2)
        rest = b""
        try:
            while sock.recv(1024):
                pass
        except OSError:
            pass
        sock.close()
        return first, rest

    first, _ = inThread(silentPeer)
    assert first[0] == 0x89, "expected a ping frame"
    waitUntil(lambda: "onClose" in component.hooks(), what="the dead peer to be dropped")


def test_handshakeAndFirstFrameInOneSegment(listen):
    """
    A client that sends its handshake and first frame in one segment has the
    frame processed.
    """
    component = Recorder(echo=True)
    server, _ = serveWebSocket(listen, component)

    def client():
        sock = socket.create_connection(("127.0.0.1", server.portNumber))
        sock.sendall(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n" + frame(1, b"hi")
        )
        data = b""
        while not data.endswith(b"\x81\x02hi"):
            chunk = sock.recv(1024)
            if not chunk:
                break
            data += chunk
        sock.close()
        return data

    assert inThread(client).endswith(b"\x81\x02hi")
    assert component.messages()[0] == "hi"


def test_shutdownSendsGoingAway(listen):
    """
    IoServer.shutdown closes every WebSocket with 1001 and fires once they are
    gone; onClose runs for each.
    """
    component = Recorder()
    server, url = serveWebSocket(listen, component)
    results = []

    def client():
        with connect(url) as ws:
            results.append("connected")
            try:
                ws.recv(timeout=10)
            except ConnectionClosed as closed:
                return closed.rcvd.code

    clients = [threads.deferToThread(client) for _ in range(2)]
    waitUntil(lambda: component.hooks().count("onOpen") == 2, what="two clients")
    pytest_twisted.blockon(server.shutdown())
    assert server.connectionCount == 0
    codes = pytest_twisted.blockon(defer.gatherResults(clients))
    assert codes == [1001, 1001]
    assert component.hooks().count("onClose") == 2


# With Autobahn's own client, in the reactor


class AutobahnClient(WebSocketClientProtocol):
    def onOpen(self):
        self.factory.opened.callback(self)

    def onMessage(self, payload, isBinary):
        self.factory.received.append((payload, isBinary))
        if len(self.factory.received) == self.factory.expect:
            self.factory.done.callback(self.factory.received)


def test_autobahnClient(listen):
    """
    Autobahn's client: text, binary, and a message sent frame by frame all
    echo back intact, compression offered and accepted.
    """
    from autobahn.websocket.compress import PerMessageDeflateOffer, PerMessageDeflateResponse

    server, url = serveWebSocket(listen, Recorder(echo=True))
    factory = WebSocketClientFactory(url)
    factory.protocol = AutobahnClient
    factory.setProtocolOptions(
        perMessageCompressionOffers=[PerMessageDeflateOffer()],
        perMessageCompressionAccept=lambda response: (
            __import__("autobahn.websocket.compress", fromlist=["x"]).PerMessageDeflateResponseAccept(response)
            if isinstance(response, PerMessageDeflateResponse)
            else None
        ),
    )
    factory.opened, factory.done, factory.received, factory.expect = defer.Deferred(), defer.Deferred(), [], 3
    endpoint = clientFromString(reactor, f"tcp:127.0.0.1:{server.portNumber}")
    pytest_twisted.blockon(endpoint.connect(factory))
    client = pytest_twisted.blockon(factory.opened)
    assert client._perMessageCompress is not None
    client.sendMessage("text ✓".encode(), isBinary=False)
    client.sendMessage(b"\x00\x01", isBinary=True)
    client.beginMessage(isBinary=False)
    for part in (b"one ", b"two ", b"three"):
        client.sendMessageFrame(part)
    client.endMessage()
    received = pytest_twisted.blockon(factory.done)
    assert received == [("text ✓".encode(), False), (b"\x00\x01", True), (b"one two three", False)]
    client.sendClose(1000)
    sleep(0.1)


def test_strictRefusalIsOneLine(listen, logged):
    """
    A strict WsServer refuses a handshake offering only unsupported subprotocols with 400 and one log line naming
    them (not the engine's two more), before the engine sees it; the reason is in the response too.
    """
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    from ratchetpy import MessageComponent

    class Strict(MessageComponent):
        def getSubProtocols(self):
            return ["chat.v1"]

    server = listen(HttpServer(WsServer(Strict(), strictSubProtocols=True)))

    def offer():
        try:
            with connect(f"ws://127.0.0.1:{server.portNumber}/", subprotocols=["other.v2"], proxy=None):
                return None
        except InvalidStatus as refused:
            return refused.response.status_code, refused.response.body.decode()

    status, body = inThread(offer)
    assert status == 400 and "offered only subprotocols other.v2; none is supported (supported: chat.v1)" in body
    lines = [line for line in logged() if "subprotocol" in line or "handshake" in line]
    assert len(lines) == 1, lines
    assert "other.v2" in lines[0] and "400" in lines[0]


@pytest.mark.parametrize("compression", ["deflate", None])
def test_maxMessageSizeIsExactAfterDecompression(listen, compression):
    """
    A message of exactly maxMessageSize is delivered; one byte more gets 1009, compressed (however well it
    compresses: Autobahn alone would deliver it cut to the limit) or not.
    """
    from websockets.sync.client import connect

    limit = 65536
    server = listen(HttpServer(WsServer(Recorder(echo=True), maxMessageSize=limit)))
    url = f"ws://127.0.0.1:{server.portNumber}/"

    def send(text: str) -> int | str:
        with connect(url, compression=compression, max_size=None, proxy=None) as ws:
            ws.send(text)
            try:
                return len(ws.recv(timeout=10))
            except ConnectionClosed as closed:
                return f"closed {closed.rcvd.code if closed.rcvd else None}"

    varied = "".join(chr(97 + (i * 7919) % 26) for i in range(limit + 1))
    results = inThread(lambda: [send("a" * limit), send("a" * (limit + 1)), send("a" * (limit + 14)),
                                send(varied[:limit]), send(varied)])
    assert results == [limit, "closed 1009", "closed 1009", limit, "closed 1009"]
