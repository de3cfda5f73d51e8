"""
One write per connection per read (L{ratchetpy.server.batch}): what a read's
messages send is written once per connection at the end of the read,
straight to the socket when nothing is queued for it.
"""

from __future__ import annotations

import socket

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from ratchetpy import ConnectionGroup, HttpServer, IoServer, MessageComponent, WsServer
from ratchetpy.server import batch
from tests.helpers import Recorder, frame, inThread, openWebSocket, serveWebSocket, waitUntil

HANDSHAKE = (
    b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


class CountingTransport(StringTransport):
    """
    A transport that keeps every write apart.
    """

    def __init__(self) -> None:
        super().__init__(peerAddress=IPv4Address("TCP", "192.0.2.1", 5555))
        self.writes: list[bytes] = []
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        super().write(data)

    def abortConnection(self) -> None:
        self.aborted = True
        self.disconnecting = True


def connected(component, *, websocket: bool = True):
    clock = Clock()
    inner = WsServer(component, keepAlive=0, compression=False) if websocket else component
    server = IoServer(HttpServer(inner, reactor=clock) if websocket else inner, reactor=clock)
    protocol = server.buildProtocol(None)
    transport = CountingTransport()
    protocol.makeConnection(transport)
    if websocket:
        protocol.dataReceived(HANDSHAKE)
        assert transport.value().startswith(b"HTTP/1.1 101 ")
    transport.writes.clear()
    transport.clear()
    return protocol, transport


def test_theRepliesToOneReadAreOneWrite():
    """
    Three messages in one read, each echoed: the three reply frames reach the
    transport in one write, after the dispatch.
    """
    protocol, transport = connected(Recorder(echo=True))
    protocol.dataReceived(frame(1, b"one") + frame(1, b"two") + frame(2, b"three"))
    assert transport.writes == [b"\x81\x03one\x81\x03two\x82\x05three"]
    assert batch.pending is None


def test_aBroadcastIsOneWritePerReceiverPerRead():
    """
    Two messages in one read, each broadcast to three connections: each
    connection is written to once, with both frames.
    """

    class Hub(MessageComponent):
        group = ConnectionGroup()

        def onOpen(self, conn):
            self.group.add(conn)

        def onMessage(self, conn, msg):
            self.group.broadcast(msg)

    hub = Hub()
    pairs = [connected(hub) for _ in range(3)]
    pairs[0][0].dataReceived(frame(1, b"a") + frame(1, b"b"))
    for _, transport in pairs:
        assert transport.writes == [b"\x81\x01a\x81\x01b"]


def test_writesOutsideAReadAreNotHeld():
    """
    A send outside any read (a timer, a Deferred firing later) is written at
    once.
    """
    component = Recorder()
    protocol, transport = connected(component)
    conn = component.events[0][1]
    conn.send("later")
    assert transport.writes == [b"\x81\x05later"]


def test_muchDuringOneReadIsWrittenAtOnce():
    """
    A connection sent FLUSH_AT bytes or more during one read has them written
    then (so that its transport's buffer fills and flow control applies), not
    held to the end of the read.
    """
    sizes = []

    class Big(MessageComponent):
        def onMessage(self, conn, msg):
            conn.send(b"x" * (batch.FLUSH_AT // 2))
            conn.send(b"y" * (batch.FLUSH_AT // 2))
            sizes.append(len(transport.writes))
            conn.send(b"z")

    protocol, transport = connected(Big())
    protocol.dataReceived(frame(1, b"go"))
    assert sizes == [1]
    assert len(transport.writes) == 2
    assert transport.writes[1] == b"\x82\x01z"


def test_whatWasSentGoesOutBeforeTheClose():
    """
    A raw connection sent data and closed in the same read: the data is
    written before the transport is told to close.
    """
    order = []

    class SendThenClose(MessageComponent):
        def onMessage(self, conn, data):
            conn.send(b"bye")
            conn.close()

    protocol, transport = connected(SendThenClose(), websocket=False)
    original = transport.loseConnection

    def loseConnection():
        order.append(("lose", transport.value()))
        original()

    transport.loseConnection = loseConnection
    protocol.dataReceived(b"hello")
    assert order == [("lose", b"bye")]


def test_anAbortDropsWhatWasHeld():
    """
    A connection aborted in the read that sent it something has nothing
    written: an aborted transport drops its buffer too.
    """

    class SendThenAbort(MessageComponent):
        def onMessage(self, conn, data):
            conn.send(b"lost")
            conn.abort()

    protocol, transport = connected(SendThenAbort(), websocket=False)
    protocol.dataReceived(b"hello")
    assert transport.aborted
    assert transport.writes == []


def test_overLoopbackARepliesGoStraightToTheSocket(listen):
    """
    Over a real TCP connection, the echoes of one read are one send, made
    during the read: the socket is never registered for writing.
    """
    component = Recorder(echo=True)
    server, _ = serveWebSocket(listen, component, compression=False)
    counts = {"startWriting": 0, "writeSomeData": 0}

    def client():
        sock = openWebSocket(server.portNumber, timeout=10)
        waitUntil(lambda: component.hooks() == ["onOpen"], what="the connection to open")
        transport = component.events[0][1].io.transport
        startWriting, writeSomeData = transport.startWriting, transport.writeSomeData

        def countStart():
            counts["startWriting"] += 1
            startWriting()

        def countSend(data):
            counts["writeSomeData"] += 1
            return writeSomeData(data)

        transport.startWriting, transport.writeSomeData = countStart, countSend
        sock.sendall(frame(1, b"one") + frame(1, b"two") + frame(1, b"three"))
        expected = b"\x81\x03one\x81\x03two\x81\x05three"
        got = b""
        while len(got) < len(expected):
            chunk = sock.recv(1024)
            if not chunk:
                break
            got += chunk
        sock.shutdown(socket.SHUT_RDWR)
        sock.close()
        return got

    assert inThread(client) == b"\x81\x03one\x81\x03two\x81\x05three"
    assert counts == {"startWriting": 0, "writeSomeData": 1}


def test_aFailingWriteDoesNotCostTheOthersTheirs(logged):
    """
    If writing what was held for one connection raises, the others are
    still written, and the error is logged.
    """
    class Hub(MessageComponent):
        group = ConnectionGroup()

        def onOpen(self, conn):
            self.group.add(conn)

        def onMessage(self, conn, msg):
            self.group.broadcast(msg)

    hub = Hub()
    pairs = [connected(hub) for _ in range(3)]

    def broken(data):
        raise RuntimeError("the transport failed")

    pairs[1][1].write = broken
    pairs[0][0].dataReceived(frame(1, b"a"))
    assert any("writing to connection" in line for line in logged()), logged()
    assert pairs[0][1].writes == [b"\x81\x01a"]
    assert pairs[2][1].writes == [b"\x81\x01a"]
    assert batch.pending is None
