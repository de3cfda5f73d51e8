"""
An upgraded connection's bytes go straight to the WebSocket engine when every
layer in between only passes them on (L{ratchetpy.server.direct},
L{IConnectionIO.receiveDirectly}); a layer that looks at them still gets
every read.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from websockets.sync.client import connect

from ratchetpy import App, ComponentDecorator, HttpServer, IoServer, OriginCheck, WsServer
from ratchetpy.auth import Authenticate, CallableAuth, User
from ratchetpy.metrics import recorder
from ratchetpy.server import IpBlackList
from ratchetpy.server.direct import MAX_LAYERS, passesBytesTo
from tests.helpers import Recorder, frame, inThread, upgradeRequest


class CountingDecorator(ComponentDecorator):
    """
    Looks at every message: the bytes it was handed, read by read.
    """

    def __init__(self, component: Any) -> None:
        super().__init__(component)
        self.reads: list[bytes] = []

    def onMessage(self, conn: Any, msg: Any) -> object:
        self.reads.append(msg)
        return super().onMessage(conn, msg)


class Quiet(ComponentDecorator):
    """
    A decorator of the application's that leaves messages alone.
    """


def opened(top: Any, clock: Clock | None = None) -> tuple[Any, StringTransport]:
    """
    A WebSocket connection to C{IoServer(top)} in memory, past its handshake.
    """
    clock = clock or Clock()
    protocol = IoServer(top, reactor=clock).buildProtocol(None)
    transport = StringTransport(peerAddress=IPv4Address("TCP", "192.0.2.1", 5555))
    protocol.makeConnection(transport)
    protocol.dataReceived(upgradeRequest(host="x"))
    assert transport.value().startswith(b"HTTP/1.1 101 "), transport.value()
    transport.clear()
    return protocol, transport


def echoed(protocol: Any, transport: StringTransport, text: str) -> bytes:
    transport.clear()
    protocol.dataReceived(frame(0x1, text.encode()))
    return transport.value()


def serverFrame(text: str) -> bytes:
    return bytes((0x81, len(text))) + text.encode()


def test_theDefaultStackHandsFramesToTheEngine():
    """
    Behind twistd's stack (HttpServer, OriginCheck, WsServer), an upgraded
    connection's reads skip the layers, and the component hears every
    message as before.
    """
    component = Recorder(echo=True)
    protocol, transport = opened(HttpServer(OriginCheck(WsServer(component, keepAlive=0), ["x"])))
    assert protocol._connection._receiver is not None
    assert echoed(protocol, transport, "one") == serverFrame("one")
    protocol.dataReceived(frame(0x1, b"two") + frame(0x1, b"three"))
    assert component.messages() == ["one", "two", "three"]


def test_everyLayerOfOursPassesBytesOn():
    """
    IpBlackList, Authenticate, an App's router and the application's own
    decorators that leave onMessage alone all pass the bytes on.
    """
    component = Recorder(echo=True)
    app = App()
    app.route("/", Quiet(WsServer(component, keepAlive=0)))
    anyone = CallableAuth(lambda request: User("alice"))
    stacks = [
        IpBlackList(HttpServer(Authenticate(WsServer(component, keepAlive=0), anyone))),
        HttpServer(app.router),
    ]
    for top in stacks:
        protocol, transport = opened(top)
        assert protocol._connection._receiver is not None, top
        assert echoed(protocol, transport, "hi") == serverFrame("hi")


def test_aDecoratorThatReadsMessagesGetsEveryRead():
    """
    A decorator overriding onMessage, above the HTTP layer (bytes) or
    between it and the WebSocket layer, keeps getting every read: the
    connection's bytes take the layers' path.
    """
    for build in (
        lambda c: CountingDecorator(HttpServer(WsServer(c, keepAlive=0))),
        lambda c: HttpServer(CountingDecorator(WsServer(c, keepAlive=0))),
    ):
        component = Recorder(echo=True)
        top = build(component)
        counting = top if isinstance(top, CountingDecorator) else top.component
        protocol, transport = opened(top)
        before = len(counting.reads)
        assert protocol._connection._receiver is None
        assert echoed(protocol, transport, "seen") == serverFrame("seen")
        assert counting.reads[before:] == [frame(0x1, b"seen")]
        assert component.messages() == ["seen"]


def test_aWsServerSubclassWithItsOwnOnMessageIsNotSkipped():
    """
    A WsServer subclass that overrides onMessage gets its reads.
    """
    reads = []

    class Watching(WsServer):
        def onMessage(self, conn: Any, data: bytes) -> object:
            reads.append(data)
            return super().onMessage(conn, data)

    protocol, transport = opened(HttpServer(Watching(Recorder(echo=True), keepAlive=0)))
    assert protocol._connection._receiver is None
    assert echoed(protocol, transport, "x") == serverFrame("x")
    assert reads == [frame(0x1, b"x")]


def test_aConnectionRefusedLaterHearsNoMore():
    """
    A decorator that refuses a connection after the upgrade (from a timer)
    drops its later messages, as its onMessage always did.
    """
    clock = Clock()
    component = Recorder(echo=True)

    class RefuseLater(ComponentDecorator):
        def onOpen(self, conn: Any, *args: Any) -> object:
            clock.callLater(1, self.refuse, conn)
            return super().onOpen(conn, *args)

    protocol, transport = opened(HttpServer(RefuseLater(WsServer(component, keepAlive=0))), clock)
    assert protocol._connection._receiver is not None
    assert echoed(protocol, transport, "before") == serverFrame("before")
    clock.advance(1)
    assert protocol._connection._receiver is None
    assert echoed(protocol, transport, "after") == b""
    assert component.messages() == ["before"]


def test_hookMetricsKeepTheApplicationsDecoratorsInThePath():
    """
    With metrics on, an application's decorator stays in the path (its
    onMessage is timed); ratchetpy's own layers are still skipped.
    """
    recorder.enable()
    try:
        component = Recorder(echo=True)
        ours, _ = opened(HttpServer(OriginCheck(WsServer(component, keepAlive=0), ["x"])))
        theirs, transport = opened(HttpServer(Quiet(WsServer(component, keepAlive=0))))
        assert ours._connection._receiver is not None
        assert theirs._connection._receiver is None
        assert echoed(theirs, transport, "m") == serverFrame("m")
    finally:
        recorder.disable()


def test_aReceiverThatRaisesFailsTheConnectionAsAHookWould(logged):
    """
    What the direct path raises is what a failing onMessage of the server's
    component raises: logged, and the connection closed with 1011.
    """
    protocol, transport = opened(HttpServer(WsServer(Recorder(), keepAlive=0)))

    def broken(data: bytes) -> None:
        raise RuntimeError("receiver broke")

    protocol._connection._receiver = broken
    transport.clear()
    protocol.dataReceived(frame(0x1, b"x"))
    failures = [event["log_failure"].value for event in logged.events if "log_failure" in event]
    assert [str(value) for value in failures] == ["receiver broke"]
    assert any("HttpServer.onMessage failed on connection" in line for line in logged())
    assert transport.value() == b"\x88\x10\x03\xf3internal error"


def test_passesBytesToStopsAtAnUnknownLayer():
    """
    The walk stops, saying no, at a layer that does not say it passes bytes
    on, at a layer that has no component for the connection, and after
    L{MAX_LAYERS} layers.
    """
    target = object()
    conn = object()
    assert passesBytesTo(target, conn, target, conn)
    assert not passesBytesTo(target, conn, target, object())
    assert not passesBytesTo(Recorder(), conn, target, conn)
    switch = HttpServer(target)
    switch._serving[conn] = object()
    assert not passesBytesTo(switch, conn, target, conn)
    deep: Any = target
    for _ in range(MAX_LAYERS):
        deep = Quiet(deep)
    assert not passesBytesTo(deep, conn, target, conn)
    assert passesBytesTo(Quiet(Quiet(target)), conn, target, conn)


def test_overLoopbackThroughEveryLayer(listen):
    """
    Over a real socket with the websockets library, through IpBlackList,
    HttpServer, OriginCheck and WsServer, with and without
    permessage-deflate: a thousand messages come back in order, and ping
    and close still reach Autobahn's engine.
    """
    component = Recorder(echo=True)
    server = listen(IpBlackList(HttpServer(OriginCheck(WsServer(component), ["127.0.0.1"]))))
    url = f"ws://127.0.0.1:{server.portNumber}/"

    def client(compression: str | None) -> list[str]:
        with connect(url, compression=compression) as ws:
            for i in range(1000):
                ws.send(f"m{i}")
            got = [ws.recv(timeout=10) for _ in range(1000)]
            ws.ping(b"p").wait(5)
            ws.close(4000, "done")
            return got

    expected = [f"m{i}" for i in range(1000)]
    assert inThread(client, None) == expected
    assert inThread(client, "deflate") == expected
    assert component.messages() == expected + expected
