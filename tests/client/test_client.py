"""
ratchetpy.client against ratchetpy's own server, on loopback: messages both
ways, the component's hooks and their order, subprotocols, headers, limits,
compression, UNIX sockets, refused handshakes, and the connectOnce helpers.
"""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, task
from zope.interface.verify import verifyObject

from ratchetpy import HttpServer, MessageComponent, WsServer
from ratchetpy.auth import Authenticate
from ratchetpy.client import (
    ClientConnection,
    ConnectFailed,
    ConnectionClosed,
    HandshakeRefused,
    Reconnect,
    connect,
    connectOnce,
)
from ratchetpy.interfaces import IClientConnection
from tests.client.conftest import Echo, checkToken
from tests.helpers import Recorder, freePort, serveWebSocket, sleep, waitUntil

block = pytest_twisted.blockon


class Protocols(Echo):
    def getSubProtocols(self):
        return ["chat.v1"]


def test_messagesBothWays(listen):
    """
    connectOnce gives an open connection: text arrives as str, binary as
    bytes, in order; closing fires whenClosed with the code the server sent
    back.
    """
    _, url = serveWebSocket(listen, Echo())
    conn = block(connectOnce(url))
    assert isinstance(conn, ClientConnection)
    verifyObject(IClientConnection, conn)
    assert conn.isOpen and conn.closeCode is None
    conn.send("héllo")
    conn.send(b"\x00\xff")
    assert block(conn.receive()) == "héllo"
    assert block(conn.receive()) == b"\x00\xff"
    conn.close(1000, "done")
    assert block(conn.whenClosed()) == (1000, "done")
    assert not conn.isOpen
    with pytest.raises(ConnectionClosed) as closed:
        block(conn.receive())
    assert closed.value.code == 1000


def test_serverCloseCodeAndReason(listen):
    """
    The close code and reason the server sends are the connection's, and a
    receive() waiting when it closes fails with them.
    """
    _, url = serveWebSocket(listen, Echo())
    conn = block(connectOnce(url))
    waiting = conn.receive()
    conn.send("close me")
    with pytest.raises(ConnectionClosed) as closed:
        block(waiting)
    assert (closed.value.code, closed.value.reason) == (4001, "as you asked")
    assert (conn.closeCode, conn.closeReason) == (4001, "as you asked")
    assert block(conn.whenClosed()) == (4001, "as you asked")


def test_awaitInCoroutine(listen):
    """
    The Deferreds are awaitable in async def code.
    """
    _, url = serveWebSocket(listen, Echo())

    async def script():
        conn = await connectOnce(url)
        conn.send("one")
        got = await conn.receive()
        conn.close()
        code, _ = await conn.whenClosed()
        return got, code

    assert block(defer.ensureDeferred(script())) == ("one", 1000)


def test_compressionAndSubProtocol(listen):
    """
    permessage-deflate is offered and agreed; the first offered subprotocol
    the server speaks is agreed.
    """
    _, url = serveWebSocket(listen, Protocols())
    conn = block(connectOnce(url, subProtocols=["chat.v3", "chat.v1"]))
    assert conn.subProtocol == "chat.v1"
    assert conn._protocol._perMessageCompress is not None
    conn.send("x" * 10_000)
    assert block(conn.receive()) == "x" * 10_000
    conn.close()
    block(conn.whenClosed())
    plain = block(connectOnce(url, compression=False))
    assert plain.subProtocol is None and plain._protocol._perMessageCompress is None
    plain.close()
    block(plain.whenClosed())


def test_headersReachTheServer(listen):
    """
    Extra headers are sent with the handshake, the User-Agent replaced if given.
    """
    server = Recorder()
    _, url = serveWebSocket(listen, server)
    conn = block(connectOnce(url, headers={"X-Token": "abc", "User-Agent": "bot/1"}))
    waitUntil(lambda: server.hooks() == ["onOpen"])
    headers = server.events[0][1].httpRequest.headers
    assert headers["X-Token"] == "abc"
    assert headers["User-Agent"] == "bot/1"
    assert "Origin" not in headers
    conn.close()
    block(conn.whenClosed())


@pytest.mark.parametrize(
    "headers",
    [{"X-Bad": "a\r\nInjected: 1"}, {"Bad Name": "x"}, {"Sec-WebSocket-Key": "x"}, {"X-Num": 1}],
)
def test_badHeadersAreRefusedAtOnce(headers):
    with pytest.raises(ValueError):
        connectOnce("ws://127.0.0.1:1/", headers=headers)


def test_badURL():
    with pytest.raises(ValueError, match="bad WebSocket URL 'http://x/'.*ws://HOST"):
        connect("http://x/", Echo())


def test_componentHooksInOrder(listen):
    """
    connect() drives a component as a server does: onOpen first (an async
    one finishes before the first onMessage), then messages in order, then
    onClose; the hooks get the ClientConnection.
    """
    _, url = serveWebSocket(listen, Echo())
    events = []

    class Bot(MessageComponent):
        async def onOpen(self, conn):
            events.append("open")
            await task.deferLater(reactor, 0.05, lambda: None)
            events.append("opened")
            for n in range(3):
                conn.send(f"m{n}")
            conn.send("close me")

        def onMessage(self, conn, msg):
            events.append(msg)
            return task.deferLater(reactor, 0.01, lambda: None)

        def onClose(self, conn):
            events.append(("close", conn.closeCode, conn.closeReason))

    client = connect(url, Bot(), reconnect=None)
    block(client.whenStopped())
    assert events == ["open", "opened", "m0", "m1", "m2", ("close", 4001, "as you asked")]


def test_failingHookClosesWith1011(listen):
    """
    A client hook that fails is reported to onError, and the connection is
    closed with 1011; the client carries on (and the server sees the code).
    """
    server = Recorder()
    _, url = serveWebSocket(listen, server)
    seen = []

    class Bot(MessageComponent):
        def onOpen(self, conn):
            raise RuntimeError("boom")

        def onError(self, conn, exc):
            seen.append(repr(exc))

        def onClose(self, conn):
            seen.append("close")

    client = connect(url, Bot(), reconnect=None)
    block(client.whenStopped())
    assert seen == ["RuntimeError('boom')", "close"]
    waitUntil(lambda: "onClose" in server.hooks())


def test_incomingMessageLimit(listen):
    """
    A message from the server over maxMessageSize closes the connection with
    1009, as the server does with a client's.
    """

    class Big(MessageComponent):
        def onOpen(self, conn):
            conn.send("y" * 5000)

    _, url = serveWebSocket(listen, Big())
    conn = block(connectOnce(url, maxMessageSize=1000))
    with pytest.raises(ConnectionClosed) as closed:
        block(conn.receive())
    assert closed.value.code == 1009


def test_unreadMessagesAreBounded(listen):
    """
    With maxQueue messages unread the client stops reading; every message
    still arrives, in order, once taken.
    """

    class Flood(MessageComponent):
        def onOpen(self, conn):
            for n in range(200):
                conn.send(str(n))

    _, url = serveWebSocket(listen, Flood())
    conn = block(connectOnce(url, maxQueue=4))
    waitUntil(lambda: conn._inbox.unread == 4)
    sleep(0.1)
    assert conn._inbox.unread == 4
    got = [block(conn.receive()) for _ in range(200)]
    assert got == [str(n) for n in range(200)]
    conn.close()
    block(conn.whenClosed())


def test_unixSocket(listen, tmp_path):
    """
    unix= connects to a UNIX socket; the URL gives the Host header and path.
    """
    path = str(tmp_path / "ws.sock")
    server = Recorder(echo=True)
    listen(HttpServer(WsServer(server)), f"unix:{path}")
    conn = block(connectOnce("ws://chat.example/room?x=1", unix=path))
    conn.send("over unix")
    assert block(conn.receive()) == "over unix"
    request = server.events[0][1].httpRequest
    assert request.target == "/room?x=1"
    assert request.headers["Host"].startswith("chat.example")
    conn.close()
    block(conn.whenClosed())


@pytest.mark.parametrize(("token", "status"), [(None, 401), ("bad", 403)])
def test_refusedHandshake(listen, logged, token, status):
    """
    A refused handshake fails connectOnce with HandshakeRefused and its
    status; with reconnecting on, the client gives up after that one
    attempt, and says so once.
    """
    server = listen(HttpServer(Authenticate(WsServer(Echo()), checkToken)))
    url = f"ws://127.0.0.1:{server.portNumber}/"
    headers = {} if token is None else {"X-Token": token}
    with pytest.raises(HandshakeRefused) as refused:
        block(connectOnce(url, headers=headers))
    assert refused.value.status == status
    assert str(status) in str(refused.value)
    assert refused.value.reason == ("Unauthorized" if status == 401 else "Forbidden")
    before = len(logged.events)
    client = connect(url, Echo(), headers=headers, reconnect=Reconnect(initialDelay=0.01))
    with pytest.raises(HandshakeRefused):
        block(client.whenStopped())
    lines = [line for line in logged()[before:] if url in line]
    assert len([line for line in lines if "attempt" in line and "connecting" in line]) == 1
    assert len([line for line in lines if "giving up" in line]) == 1
    good = block(connectOnce(url, headers={"X-Token": "good"}))
    good.close()
    block(good.whenClosed())


def test_nothingListening(logged):
    """
    connectOnce fails with ConnectFailed, whose message names the URL.
    """
    url = f"ws://127.0.0.1:{freePort()}/"
    with pytest.raises(ConnectFailed, match="cannot connect to " + url):
        block(connectOnce(url))


def test_giveUpAfterMaxAttempts(logged):
    """
    maxAttempts failed attempts in a row and the client gives up; each
    attempt and each failure is logged once.
    """
    url = f"ws://127.0.0.1:{freePort()}/"
    client = connect(url, Echo(), reconnect=Reconnect(initialDelay=0.01, maxDelay=0.02, maxAttempts=3))
    with pytest.raises(ConnectFailed):
        block(client.whenStopped())
    lines = [line for line in logged() if url in line]
    assert [n for n in (1, 2, 3) if any(f"(attempt {n})" in line for line in lines)] == [1, 2, 3]
    assert len([line for line in lines if "retrying in" in line]) == 2
    assert len([line for line in lines if "giving up after 3 attempts" in line]) == 1


def test_stopCancelsConnecting():
    """
    stop() while the client waits to retry: it stops, and whenConnected fails.
    """
    url = f"ws://127.0.0.1:{freePort()}/"
    client = connect(url, Echo(), reconnect=Reconnect(initialDelay=5))
    connected = client.whenConnected()
    block(task.deferLater(reactor, 0.1, lambda: None))
    block(client.stop())
    assert not client.running
    with pytest.raises(ConnectFailed, match="stopped"):
        block(connected)


def test_credentialsInTheURLAreNeverShown(logged):
    """
    A password or token in the URL is in neither the log lines nor the
    errors.
    """
    url = f"ws://ann:s3cret@127.0.0.1:{freePort()}/chat?room=1&token=s3cret"
    with pytest.raises(ConnectFailed) as failed:
        block(connectOnce(url))
    assert "s3cret" not in str(failed.value)
    port = url.split(":")[3].split("/")[0]
    assert f"ws://[redacted]@127.0.0.1:{port}/chat?room=1&token=[redacted]" in str(failed.value)
    assert logged() and not any("s3cret" in line for line in logged())
    for bad in ("wss://ann:s3cret@/?token=s3cret", "ws://host/#s3cret"):
        with pytest.raises(ValueError) as refused:
            connectOnce(bad)
        assert "s3cret" not in str(refused.value)


def test_unixURLIsExplained():
    with pytest.raises(ValueError, match="pass unix=PATH"):
        connectOnce("ws://unix:/run/chat.sock")


def test_aHookThatAlwaysFailsIsBackedOff(listen, logged):
    """
    A connection closed because a hook failed counts as a failed attempt:
    backed off, and given up after maxAttempts.
    """
    _, url = serveWebSocket(listen, Echo())
    opened = []

    class Broken(MessageComponent):
        def onOpen(self, conn):
            opened.append(conn)
            raise RuntimeError("always")

    client = connect(url, Broken(), reconnect=Reconnect(initialDelay=0.01, maxDelay=0.02, maxAttempts=3))
    with pytest.raises(ConnectFailed, match="a hook of Broken failed"):
        block(client.whenStopped())
    assert len(opened) == 3
    assert len([line for line in logged() if "giving up after 3 attempts" in line]) == 1
