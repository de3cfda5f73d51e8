"""
Lifecycle guarantees over real WebSocket connections on loopback: C{onClose}
runs exactly once for every opened connection, however it ended (the client
closing, the server closing, a TCP reset, a FIN without a close frame, a
keepalive timeout, a protocol error, an oversized message, a failing hook, a
server shutdown, with peers that answer the close frame and peers that
ignore it); a connection that never got through its head gets no hook at all;
a failing hook (raising, a failed Deferred, a coroutine that raises) is
logged with the connection's resourceId and the connection closed with 1011,
while a bystander connection keeps exchanging messages throughout. And under
twistd: SIGTERM with a client that ignores the close frame still exits 0,
with every WebSocket's onClose logged.

Already covered elsewhere, and not repeated here: the in-memory hook ordering
and failure handling on raw TCP (tests/test_dispatch.py); a client's close
code echoed, a component's close code, 1009, 1011 with a bystander, the
keepalive dropping a dead peer, shutdown with clients that answer
(tests/websocket/test_server.py); the head timeout in memory (tests/http/test_server.py);
SIGTERM with answering clients (tests/test_tap.py); resets on raw TCP
(tests/server/test_io.py).
"""

from __future__ import annotations

import re
import signal
import socket
import struct
import threading
import time
from collections import defaultdict

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, task, threads
from twisted.logger import LogLevel
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from ratchetpy import MessageComponent
from tests.helpers import closeCodeAfter, exchange, frame, inThread, openWebSocket, serveWebSocket, sleep, waitUntil
from tests.paths import clientOffers, pytest_generate_tests  # noqa: F401  (both engine paths)

# Short enough to be seen within a test, long enough for a loaded machine.
KEEPALIVE = 1.0  # the shortest WsServer accepts: Autobahn's timers tick in whole seconds
MAX_MESSAGE = 1000
QUIET = 0.3  # seconds without a second onClose before counting is trusted

HOOKS = ("onOpen", "onMessage", "onClose", "onError")


class Lifecycle(MessageComponent):
    """
    Records every hook of every connection, by resourceId, and echoes
    messages; the message C{"close"} makes the server close with 4000.

    A connection opened with the path C{/fail/HOOK/HOW} has HOOK fail, HOW
    being C{raise}, C{deferred} (a failed Deferred) or C{coroutine} (an
    C{async def} that raises after awaiting); for C{onError}, its
    C{onMessage} fails first to set it off.
    """

    def __init__(self) -> None:
        self.hooks: dict[int, list[str]] = defaultdict(list)
        self.opened: list[int] = []

    def _failure(self, conn, hook: str) -> str | None:
        request = conn.httpRequest
        parts = request.path.split("/") if request is not None else []
        if len(parts) != 4 or parts[1] != "fail":
            return None
        if parts[2] == hook:
            return parts[3]
        if parts[2] == "onError" and hook == "onMessage":
            return "raise"
        return None

    def _run(self, conn, hook: str):
        self.hooks[conn.resourceId].append(hook)
        how = self._failure(conn, hook)
        if how is None:
            return None
        error = RuntimeError(f"{hook} fails on purpose ({how})")
        if how == "raise":
            raise error
        if how == "deferred":
            return task.deferLater(reactor, 0.01, lambda: None).addCallback(lambda _: defer.fail(error))

        async def failing():
            await task.deferLater(reactor, 0.01, lambda: None)
            raise error

        return failing()

    def onOpen(self, conn):
        self.opened.append(conn.resourceId)
        return self._run(conn, "onOpen")

    def onMessage(self, conn, msg):
        result = self._run(conn, "onMessage")
        if msg == "close":
            conn.close(4000, "closed by the server")
        else:
            conn.send(msg)
        return result

    def onClose(self, conn):
        return self._run(conn, "onClose")

    def onError(self, conn, exc):
        return self._run(conn, "onError")

    def lastOpened(self) -> int:
        return self.opened[-1]


def serve(listen, component, **options):
    """
    The component behind WsServer and HttpServer on a loopback port; return
    the IoServer and the WebSocket URL (without the final C{/}).
    """
    http = options.pop("http", {})
    options = {
        "keepAlive": KEEPALIVE,
        "keepAliveTimeout": KEEPALIVE,
        "maxMessageSize": MAX_MESSAGE,
        **options,
    }
    server, url = serveWebSocket(listen, component, http=http, io={"shutdownTimeout": 10}, **options)
    return server, url.rstrip("/")


class Bystander:
    """
    A client that exchanges messages with the echoing server in a thread until
    told to stop, counting round trips.
    """

    def __init__(self, url: str) -> None:
        self.roundTrips = 0
        self._stop = threading.Event()
        self._done = threads.deferToThread(self._talk, url)
        waitUntil(lambda: self.roundTrips > 0 or self._done.called, timeout=30, what="the bystander's first echo")

    def _talk(self, url: str) -> int:
        with connect(url + "/bystander", open_timeout=30) as ws:
            while not self._stop.is_set():
                message = f"still here {self.roundTrips}"
                ws.send(message)
                assert ws.recv(timeout=30) == message
                self.roundTrips += 1
                time.sleep(0.005)
        return self.roundTrips

    def keepsTalking(self) -> None:
        """
        Let the reactor run until the bystander has made three more round
        trips (it fails if its connection was disturbed).
        """
        start = self.roundTrips
        waitUntil(
            lambda: self.roundTrips >= start + 3 or self._done.called, timeout=30, what="the bystander to keep talking"
        )
        assert not self._done.called, pytest_twisted.blockon(self._done)

    def finish(self) -> int:
        self._stop.set()
        return pytest_twisted.blockon(self._done)


def blockWithin(d: defer.Deferred, seconds: float):
    """
    Block on C{d}, failing with L{defer.TimeoutError} after C{seconds}. (The
    Deferred of C{IoServer.shutdown} is a L{defer.DeferredList}, whose
    C{cancel}, and so C{addTimeout}, does nothing once its ports have stopped.)
    """
    watched: defer.Deferred = defer.Deferred()
    d.chainDeferred(watched)
    return pytest_twisted.blockon(watched.addTimeout(seconds, reactor))


# Blocking clients (run in threads)


def rawHandshake(url: str, path: str = "/") -> socket.socket:
    """
    A WebSocket opened with a plain socket, which then answers nothing.
    """
    return openWebSocket(int(re.match(r"ws://127\.0\.0\.1:(\d+)", url).group(1)), path)


def readFrames(sock: socket.socket) -> list[tuple[int, bytes]]:
    """
    Every frame the server sends until it ends the connection, without ever
    answering; as (opcode, payload).
    """
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    frames = []
    while len(data) >= 2:
        length, at = data[1] & 0x7F, 2
        if length == 126:
            length, at = struct.unpack("!H", data[2:4])[0], 4
        elif length == 127:
            length, at = struct.unpack("!Q", data[2:10])[0], 10
        frames.append((data[0] & 0x0F, data[at : at + length]))
        data = data[at + length :]
    return frames


def closeCode(frames: list[tuple[int, bytes]]) -> int | None:
    for opcode, payload in frames:
        if opcode == 8:
            return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
    return None


def clientCloses(url: str) -> int:
    with connect(url, open_timeout=30) as ws:
        ws.send("hello")
        assert ws.recv(timeout=30) == "hello"
        ws.close(1000, "done")
        return ws.close_code


def resets(url: str) -> None:
    sock = rawHandshake(url)
    sock.sendall(frame(1, b"hello"))
    assert sock.recv(100)  # the echo
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def hangsUp(url: str) -> None:
    sock = rawHandshake(url)
    sock.close()  # a FIN, without a close frame


def sendsCloseAndLeaves(url: str) -> None:
    sock = rawHandshake(url)
    sock.sendall(frame(8, struct.pack("!H", 1000)))
    sock.close()


def goesSilent(url: str) -> list[tuple[int, bytes]]:
    sock = rawHandshake(url)
    return readFrames(sock)


def breaksProtocol(url: str) -> int | None:
    sock = rawHandshake(url)
    sock.sendall(b"\x81\x02hi")  # unmasked: a protocol error
    return closeCode(readFrames(sock))


WAYS = {
    # name: (client, what it returns, hooks the server ran)
    "clientClose": (clientCloses, 1000, ["onOpen", "onMessage", "onClose"]),
    "serverClose": (lambda url: closeCodeAfter(url, "close"), 4000, ["onOpen", "onMessage", "onClose"]),
    "reset": (resets, None, ["onOpen", "onMessage", "onClose"]),
    "finWithoutCloseFrame": (hangsUp, None, ["onOpen", "onClose"]),
    "closeFrameThenGone": (sendsCloseAndLeaves, None, ["onOpen", "onClose"]),
    "keepAliveTimeout": (lambda url: [opcode for opcode, _ in goesSilent(url)][:1], [9], ["onOpen", "onClose"]),
    "protocolError": (breaksProtocol, 1002, ["onOpen", "onClose"]),
    "messageTooBig": (lambda url: closeCodeAfter(url, "x" * (MAX_MESSAGE + 1)), 1009, ["onOpen", "onClose"]),
}


@pytest.mark.parametrize("way", list(WAYS))
def test_onCloseOnceHoweverItEnds(listen, way):
    """
    Whichever way a WebSocket ends, the component ran onOpen first and
    onClose exactly once, last; the client saw the expected close code (or
    keepalive ping); a bystander kept talking.
    """
    component = Lifecycle()
    _, url = serve(listen, component)
    bystander = Bystander(url)
    client, returned, hooks = WAYS[way]
    assert inThread(client, url + "/") == returned
    connection = component.lastOpened()
    waitUntil(lambda: "onClose" in component.hooks[connection], timeout=30, what="onClose")
    sleep(QUIET)
    bystander.keepsTalking()
    assert component.hooks[connection] == hooks
    talked = bystander.finish()
    assert talked >= 4
    (byId,) = [resourceId for resourceId in component.opened if resourceId != connection]
    waitUntil(lambda: "onClose" in component.hooks[byId], what="the bystander's onClose")
    assert set(component.hooks[byId]) == {"onOpen", "onMessage", "onClose"}
    assert component.hooks[byId].count("onClose") == 1


FAILURES = [(hook, how) for hook in HOOKS for how in ("raise", "deferred", "coroutine")]


def triggers(url: str, hook: str, how: str) -> int | None:
    """
    Open a connection whose C{hook} fails C{how}, send a message, and return
    the close code the server ends with; for onClose, close it.
    """
    with connect(f"{url}/fail/{hook}/{how}", open_timeout=30) as ws:
        try:
            ws.send("trigger")
            if hook == "onClose":
                assert ws.recv(timeout=30) == "trigger"
                ws.close(1000)
                return ws.close_code
            while True:
                ws.recv(timeout=30)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None


@pytest.mark.parametrize("hook, how", FAILURES, ids=[f"{hook}-{how}" for hook, how in FAILURES])
def test_failingHookIsLoggedAndIsolated(listen, logged, hook, how):
    """
    A hook that raises, returns a failed Deferred or is a coroutine that
    raises: the failure is logged with the hook's name and the connection's
    resourceId, onError is called, the connection is closed with 1011
    (except after onClose: it is already gone), onClose runs exactly once,
    and a bystander connection keeps exchanging messages.
    """
    component = Lifecycle()
    _, url = serve(listen, component)
    bystander = Bystander(url)

    code = inThread(triggers, url, hook, how)
    connection = component.lastOpened()
    waitUntil(lambda: "onClose" in component.hooks[connection], timeout=30, what="onClose")
    expected = {
        "onOpen": ["onOpen", "onError", "onClose"],
        "onMessage": ["onOpen", "onMessage", "onError", "onClose"],
        "onError": ["onOpen", "onMessage", "onError", "onClose"],
        "onClose": ["onOpen", "onMessage", "onClose", "onError"],
    }[hook]
    waitUntil(lambda: len(component.hooks[connection]) >= len(expected), what="every hook")
    sleep(QUIET)
    bystander.keepsTalking()
    assert component.hooks[connection] == expected
    if hook != "onClose":
        assert code == 1011
    failures = [event for event in logged.events if event.get("log_failure") is not None]
    assert failures, "the failure must be logged"
    assert {event.get("resourceId") for event in failures} == {connection}
    failedHooks = [event.get("hook") for event in failures]
    assert failedHooks == (["onMessage", "onError"] if hook == "onError" else [hook])
    assert all(isinstance(event["log_failure"].value, RuntimeError) for event in failures)
    # A bug in a component is an error of the application, not a critical state of the server.
    assert {event["log_level"] for event in failures} == {LogLevel.error}
    assert bystander.finish() >= 4


def test_failuresOnManyConnectionsAtOnce(listen, logged):
    """
    Connections failing every hook every way at the same time, and others
    ending every other way, while a bystander talks: each is logged under its
    own resourceId and each opened connection gets onClose exactly once.
    """
    component = Lifecycle()
    server, url = serve(listen, component)
    bystander = Bystander(url)

    clients = [threads.deferToThread(triggers, url, hook, how) for hook, how in FAILURES]
    clients += [threads.deferToThread(client, url + "/") for client, _, _ in WAYS.values()]
    pytest_twisted.blockon(defer.DeferredList(clients, consumeErrors=False))
    bystander.keepsTalking()
    talked = bystander.finish()
    assert talked >= 4
    waitUntil(lambda: server.connectionCount == 0, timeout=30, what="every connection to close")
    waitUntil(
        lambda: all("onClose" in component.hooks[resourceId] for resourceId in component.opened),
        timeout=30,
        what="every onClose",
    )
    sleep(QUIET)
    assert len(component.opened) == 1 + len(clients)
    for resourceId in component.opened:
        assert component.hooks[resourceId].count("onOpen") == 1
        assert component.hooks[resourceId].count("onClose") == 1
    failures = [event for event in logged.events if event.get("log_failure") is not None]
    # Each failing connection logged under its own id: onError failures twice.
    perConnection = defaultdict(list)
    for event in failures:
        perConnection[event["resourceId"]].append(event["hook"])
    assert sorted(map(tuple, perConnection.values())) == sorted(
        (("onMessage", "onError") if hook == "onError" else (hook,)) for hook, _ in FAILURES
    )


def test_headTimeoutNeverOpens(listen):
    """
    A client that sends half a request head and stalls, and one that sends
    nothing, get 408 after the head timeout and are disconnected; the
    component never hears of them (no onOpen, no onClose), while a bystander
    keeps talking.
    """
    component = Lifecycle()
    server, url = serve(listen, component, http={"headTimeout": 0.5})
    bystander = Bystander(url)

    half = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
    for first in (half, b""):
        response = inThread(exchange, server.portNumber, first, timeout=30)
        assert response.startswith(b"HTTP/1.1 408 "), response
        bystander.keepsTalking()
    bystander.finish()
    waitUntil(lambda: server.connectionCount == 0, what="the connections to close")
    assert len(component.opened) == 1  # the bystander alone


def test_shutdownAbortsPeersThatIgnoreTheCloseFrame(listen, logged):
    """
    IoServer.shutdown sends 1001 to every WebSocket; a peer that answers is
    closed at once, one that ignores the close frame is cut after
    shutdownTimeout (before Autobahn's own, longer, close handshake timeout),
    a connection still sending its head is closed; onClose runs once for each
    opened connection, none for the other, and shutdown's Deferred fires.
    """
    component = Lifecycle()
    # Neither keepalive nor Autobahn's close handshake timeout may cut the
    # ignoring peer first.
    server, url = serve(listen, component, closeHandshakeTimeout=60, keepAlive=0)
    server.shutdownTimeout = 1.0
    port = server.portNumber

    def answers():
        with connect(url + "/answers", open_timeout=30) as ws:
            try:
                ws.recv(timeout=60)
            except ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd else None

    ignoring = inThread(rawHandshake, url, "/ignores")
    halfHead = inThread(socket.create_connection, ("127.0.0.1", port), 30)
    halfHead.sendall(b"GET / HTTP/1.1\r\n")
    answering = threads.deferToThread(answers)
    waitUntil(lambda: len(component.opened) == 2, timeout=30, what="both WebSockets to open")
    readIgnoring = threads.deferToThread(readFrames, ignoring)
    readHalfHead = threads.deferToThread(lambda: halfHead.recv(100))
    started = time.monotonic()
    blockWithin(server.shutdown(), 30)
    elapsed = time.monotonic() - started
    assert server.connectionCount == 0
    assert pytest_twisted.blockon(answering) == 1001
    frames = pytest_twisted.blockon(readIgnoring)
    assert closeCode(frames) == 1001, frames
    assert pytest_twisted.blockon(readHalfHead) == b""
    assert elapsed >= server.shutdownTimeout * 0.9, "the ignoring peer was cut by the shutdown timeout"
    waitUntil(lambda: all(len(component.hooks[i]) >= 2 for i in component.opened), what="every onClose")
    sleep(QUIET)
    assert [component.hooks[resourceId] for resourceId in component.opened] == [["onOpen", "onClose"]] * 2
    assert any("cutting" in str(event.get("log_format", "")) and event.get("count") == 1 for event in logged.events)
    ignoring.close()
    halfHead.close()


def test_shutdownWithoutConnectionsFiresAtOnce(listen):
    """
    With nothing connected, shutdown's Deferred fires without waiting for the
    timeout, and the port stops accepting.
    """
    server, url = serve(listen, Lifecycle())
    server.shutdownTimeout = 60
    port = server.portNumber
    done = server.shutdown()
    waitUntil(lambda: done.called, timeout=10, what="shutdown to fire")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=5)


# twistd


def test_sigtermWithAPeerThatIgnoresTheCloseFrame(twistd):
    """
    Under twistd, SIGTERM with one client that answers the close frame and
    one that ignores it: both get 1001, the ignoring one is cut once
    --shutdown-timeout has passed, the chat logs "has disconnected" for both,
    and the process exits 0.
    """
    process = twistd(
        "--component", "examples.chat:Chat", "--port", "tcp:0:interface=127.0.0.1", "--shutdown-timeout", "0.5"
    )
    port = process.waitForPort()
    url = f"ws://127.0.0.1:{port}"
    ignoring = rawHandshake(url)
    with connect(url + "/", open_timeout=30) as answering:
        opened = {process.readUntil(r"New connection! \((\d+)\)").group(1) for _ in range(2)}
        reader = threading.Thread(target=lambda: frames.extend(readFrames(ignoring)))
        frames: list[tuple[int, bytes]] = []
        reader.start()
        process.process.send_signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as info:
            answering.recv(timeout=30)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1001
        status = process.process.wait(timeout=30)
    reader.join(timeout=30)
    ignoring.close()
    process.stop()
    output = process.output
    assert status == 0, output
    assert closeCode(frames) == 1001, frames
    closed = set(re.findall(r"Connection (\d+) has disconnected", output))
    assert closed == opened, output
    assert "cutting 1 connections" in output
    assert "Traceback" not in output and "Unhandled" not in output


def test_shutdownCanBeGivenATimeout(listen):
    """
    IoServer.shutdown() returns a Deferred a caller can time out (or cancel),
    even after the ports have stopped listening: here a client ignores the
    close frame, so the connections outlast the caller's patience.
    """
    server, url = serveWebSocket(listen, MessageComponent())
    sock = inThread(rawHandshake, url)
    try:
        server.shutdownTimeout = 60.0
        d = server.shutdown().addTimeout(0.2, reactor)
        with pytest.raises(defer.TimeoutError):
            pytest_twisted.blockon(d)
    finally:
        sock.close()
    waitUntil(lambda: server.connectionCount == 0, what="the connection to go")
