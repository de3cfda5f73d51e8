"""
Slow consumers: every connection's unsent data is bounded, a client that falls
behind is dealt with by the server's policy, and the others carry on at full
speed. Components see isWritable and can register producers.

The first test is the one the issue asks for: the chat served by twistd relays
100 MB while one client reads nothing; the server's memory stays bounded.
"""

from __future__ import annotations

import io
import os
import re
import socket
import ssl
import struct
import threading
import time
from contextlib import ExitStack
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import threads
from twisted.internet.interfaces import IPushProducer
from twisted.protocols.basic import FileSender
from twisted.python import usage
from websockets.sync.client import connect
from zope.interface import implementer

from examples.chat import Chat
from ratchetpy import HttpServer, IoServer, MessageComponent, WsServer
from ratchetpy.tap import Options, buildServer
from tests.helpers import Recorder, Twistd, inThread, makeCertificate, openWebSocket, serveWebSocket, waitUntil

# The chat test
MESSAGE_SIZE = 64 * 1024
MESSAGES = 1600  # 100 MiB through the chat
WINDOW = 8  # messages the sender may be ahead of the slowest fast client
LIMIT = 2**20  # the default --max-send-buffer


def rss(pid: int) -> int:
    """
    The resident set size of process C{pid}, in bytes.
    """
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


def handshakeOnly(port: int, receiveBuffer: int = 4096, context: ssl.SSLContext | None = None) -> socket.socket:
    """
    A raw WebSocket client with a small receive buffer that completes the
    opening handshake (over TLS with C{context}) and then reads nothing more.
    """
    return openWebSocket(port, receiveBuffer=receiveBuffer, context=context)


def drainUntilClosed(sock: socket.socket, timeout: float = 10.0) -> tuple[int, str]:
    """
    Read what C{sock} still gets until the server's end is gone; return the
    byte count and how it ended: C{"closed"} cleanly, or C{"reset"} (over TLS:
    also ended without a close_notify).
    """
    sock.settimeout(timeout)
    received = 0
    try:
        while chunk := sock.recv(65536):
            received += len(chunk)
    except (ConnectionResetError, ssl.SSLEOFError):
        return received, "reset"
    return received, "closed"


class Progress:
    """
    How many messages each fast client has received, for the sender to wait on.
    """

    def __init__(self, clients: int) -> None:
        self.counts = [0] * clients
        self.condition = threading.Condition()
        self.failed: BaseException | None = None

    def received(self, index: int, count: int) -> None:
        with self.condition:
            self.counts[index] = count
            self.condition.notify_all()

    def fail(self, exc: BaseException) -> None:
        with self.condition:
            self.failed = exc
            self.condition.notify_all()

    def waitForAll(self, count: int, timeout: float = 30.0) -> None:
        with self.condition:
            if not self.condition.wait_for(lambda: self.failed or min(self.counts) >= count, timeout):
                raise AssertionError(f"fast clients stuck at {self.counts} messages, expected {count}")
            if self.failed:
                raise AssertionError("a fast client failed") from self.failed


def message(index: int, block: bytes) -> bytes:
    return index.to_bytes(4, "big") + block[4:]


class Relay:
    """
    What L{relayPastSlowClient} measured.
    """

    elapsed: float
    before: int
    peak: int
    after: int
    results: list[object]
    slow: socket.socket


def relayPastSlowClient(process: Twistd) -> Relay:
    """
    Through the chat served by C{process}, send L{MESSAGES} binary messages
    from one client to three that read everything and one that stopped reading
    after its handshake, sampling the server's RSS meanwhile.
    """
    port = process.waitForPort()
    pid = process.process.pid
    url = f"ws://127.0.0.1:{port}/"
    block = os.urandom(MESSAGE_SIZE)
    relay = Relay()

    with ExitStack() as clients:
        relay.slow = handshakeOnly(port)
        fast = [clients.enter_context(connect(url, max_size=None, compression=None)) for _ in range(3)]
        sender = clients.enter_context(connect(url, compression=None))
        process.readUntil(r"New connection! \(5\)")

        # Warm up: one message through, so that every code path has run and
        # the allocator holds what it keeps; measure from there.
        sender.send(b"warm-up")
        assert [ws.recv(timeout=10) for ws in fast] == [b"warm-up"] * 3
        time.sleep(0.5)
        relay.before = rss(pid)
        samples = [relay.before]
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.wait(0.02):
                samples.append(rss(pid))

        progress = Progress(len(fast))
        relay.results = [None] * len(fast)

        def receive(index: int) -> None:
            ws = fast[index]
            try:
                for i in range(MESSAGES):
                    got = ws.recv(timeout=20)
                    if got != message(i, block):
                        raise AssertionError(f"fast client {index}: message {i} differs ({len(got)} bytes)")
                    if i % 4 == 3 or i == MESSAGES - 1:
                        progress.received(index, i + 1)
                relay.results[index] = MESSAGES
            except BaseException as exc:
                relay.results[index] = exc
                progress.fail(exc)

        sampler = threading.Thread(target=sample, daemon=True)
        receivers = [threading.Thread(target=receive, args=(i,), daemon=True) for i in range(len(fast))]
        started = time.monotonic()
        sampler.start()
        for thread in receivers:
            thread.start()
        try:
            for i in range(MESSAGES):
                if i >= WINDOW:
                    progress.waitForAll(i - WINDOW)
                sender.send(message(i, block))
            for thread in receivers:
                thread.join(timeout=60)
            relay.elapsed = time.monotonic() - started
        finally:
            sampling.set()
            sampler.join()
        relay.peak = max(samples)
        relay.after = rss(pid)
    return relay


def test_chatRelays100MBPastAClientThatStopsReading(twistd):
    """
    The chat, served by twistd with its defaults, relays 100 MiB (1,600 binary
    messages of 64 KiB) from one client to three fast clients and to one that
    completed its handshake and then stopped reading. The slow client is cut
    (one log line; it sees its connection reset) once it is more than 1 MiB
    behind, the three fast clients each receive every message, in order, and
    the server's memory grows by no more than the limit plus a small constant.
    """
    process = twistd("--component", "examples.chat:Chat", "--port", "tcp:0:interface=127.0.0.1")
    relay = relayPastSlowClient(process)
    with relay.slow:
        slowReceived, ending = drainUntilClosed(relay.slow)
    logged = process.readUntil(r"connection 1 from 127\.0\.0\.1:\d+ is more than 1048576 bytes behind: closed \(1008\)")
    growth = relay.peak - relay.before
    print(
        f"\n100 MiB relayed in {relay.elapsed:.1f} s; server RSS before {relay.before / 2**20:.1f} MiB, "
        f"peak {relay.peak / 2**20:.1f} MiB (+{growth / 2**20:.1f} MiB), after {relay.after / 2**20:.1f} MiB; "
        f"the slow client got {slowReceived} bytes, then its connection was {ending}; logged {logged.group(0)!r}"
    )
    assert relay.results == [MESSAGES] * 3, relay.results
    assert ending == "reset"
    assert slowReceived < LIMIT
    # The limit, the transport's own 64 KiB, what may be in flight to the fast
    # clients (WINDOW messages each), and slack for the allocator and Python
    # (measured: growth of 1-3 MiB; without the bound the server grows by
    # about the whole 100 MiB).
    assert growth <= LIMIT + 3 * WINDOW * MESSAGE_SIZE + 16 * 2**20, f"server RSS grew by {growth / 2**20:.1f} MiB"
    assert len(re.findall(r"bytes behind", process.output)) == 1


# In process, with the listen fixture

SMALL_LIMIT = 256 * 1024
CHUNK = b"x" * MESSAGE_SIZE


def behindLines(lines: list[str]) -> list[str]:
    return [line for line in lines if "bytes behind" in line]


def rawClient(port: int, receiveBuffer: int = 4096) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receiveBuffer)
    sock.connect(("127.0.0.1", port))
    return sock


def recvExactly(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(min(size - len(data), 65536))
        if not chunk:
            raise AssertionError(f"connection closed after {len(data)} of {size} bytes")
        data += chunk
    return bytes(data)


def readFrame(sock: socket.socket) -> tuple[int, bytes]:
    """
    Read one (unmasked, server-to-client) WebSocket frame: its opcode and
    payload.
    """
    first, second = recvExactly(sock, 2)
    length = second & 0x7F
    if length == 126:
        length = struct.unpack("!H", recvExactly(sock, 2))[0]
    elif length == 127:
        length = struct.unpack("!Q", recvExactly(sock, 8))[0]
    return first & 0x0F, recvExactly(sock, length)


def openedConnection(component: Recorder, count: int = 1) -> Any:
    waitUntil(lambda: component.hooks().count("onOpen") >= count, what="onOpen")
    return [event[1] for event in component.events if event[0] == "onOpen"][count - 1]


def serveWs(listen, component, **ioOptions):
    """
    C{component} behind WsServer (no keepalive pings) and HttpServer; return the IoServer.
    """
    return serveWebSocket(listen, component, keepAlive=0, io=ioOptions)[0]


def test_isWritableFollowsTheTransportBuffer(listen):
    """
    A connection is writable until more than the transport's 64 KiB wait
    unsent, not writable until the peer has read them, and not writable once
    closed.
    """
    component = Recorder()
    server = listen(component, maxSendBuffer=2**26)
    client = rawClient(server.portNumber)
    conn = openedConnection(component)
    assert conn.isWritable
    conn.send(CHUNK)
    assert conn.isWritable
    conn.send(CHUNK)
    assert not conn.isWritable
    assert inThread(recvExactly, client, 2 * MESSAGE_SIZE) == 2 * CHUNK
    waitUntil(lambda: conn.isWritable, what="the connection to be writable again")
    client.close()
    waitUntil(lambda: "onClose" in component.hooks(), what="onClose")
    assert not conn.isWritable


def test_webSocketFallingBehindIsClosedWith1008(listen, logged):
    """
    A WebSocket that is sent more than maxSendBuffer bytes while its transport
    is full is closed with 1008 and aborted: one log line, onClose once, the
    peer sees a reset, and the other connections carry on.
    """
    component = Recorder(echo=True)
    server = serveWs(listen, component, maxSendBuffer=SMALL_LIMIT)
    slow = inThread(handshakeOnly, server.portNumber)
    conn = openedConnection(component)
    for _ in range(20):
        conn.send(CHUNK)
    assert not conn.isOpen
    assert not conn.isWritable
    waitUntil(lambda: "onClose" in component.hooks(), what="onClose")
    [line] = behindLines(logged())
    assert re.fullmatch(
        rf"connection {conn.resourceId} from 127\.0\.0\.1:\d+ is more than {SMALL_LIMIT} bytes behind: closed \(1008\)",
        line,
    ), line
    with slow:
        received, ending = inThread(drainUntilClosed, slow)
    assert ending == "reset"
    assert received < SMALL_LIMIT

    def bystander() -> str:
        with connect(f"ws://127.0.0.1:{server.portNumber}/") as ws:
            ws.send("still here")
            return ws.recv(timeout=5)

    assert inThread(bystander) == "still here"
    assert component.hooks().count("onClose") == 2
    assert "onError" not in component.hooks()


def test_tlsWebSocketFallingBehindIsClosed(listen, logged, tmp_path):
    """
    Over TLS the bound is the same: the TCP transport under the TLS layer is
    the one whose buffer fills.
    """
    keyPath, certPath = makeCertificate(tmp_path)
    component = Recorder()
    server = listen(
        HttpServer(WsServer(component, keepAlive=0)),
        f"ssl:0:interface=127.0.0.1:privateKey={keyPath}:certKey={certPath}",
        maxSendBuffer=SMALL_LIMIT,
    )
    context = ssl.create_default_context(cafile=str(certPath))
    slow = inThread(handshakeOnly, server.portNumber, context=context)
    conn = openedConnection(component)
    for _ in range(20):
        conn.send(CHUNK)
    assert not conn.isOpen
    waitUntil(lambda: "onClose" in component.hooks(), what="onClose")
    [line] = behindLines(logged())
    assert line.endswith(f"is more than {SMALL_LIMIT} bytes behind: closed (1008)"), line
    with slow:
        received, ending = inThread(drainUntilClosed, slow)
    assert ending == "reset"
    assert received < SMALL_LIMIT


def test_rawTcpFallingBehindIsAborted(listen, logged):
    """
    Raw TCP connections are bounded too: one that falls behind is aborted,
    with one log line.
    """
    component = Recorder()
    server = listen(component, maxSendBuffer=SMALL_LIMIT)
    slow = rawClient(server.portNumber)
    conn = openedConnection(component)
    for _ in range(20):
        conn.send(CHUNK)
    waitUntil(lambda: "onClose" in component.hooks(), what="onClose")
    [line] = behindLines(logged())
    assert re.fullmatch(
        rf"connection {conn.resourceId} from 127\.0\.0\.1:\d+ is more than {SMALL_LIMIT} bytes behind: closed", line
    ), line
    with slow:
        assert inThread(drainUntilClosed, slow)[1] == "reset"


def test_dropPolicyDiscardsUntilCaughtUp(listen, logged):
    """
    With slowConsumerPolicy="drop", messages to a connection past its limit
    are discarded, whole, until it has caught up; then one line says how many,
    and the connection carries on.
    """
    component = Recorder()
    server = serveWs(listen, component, maxSendBuffer=SMALL_LIMIT, slowConsumerPolicy="drop")
    slow = inThread(handshakeOnly, server.portNumber)
    conn = openedConnection(component)
    sent = 40
    for i in range(sent):
        conn.send(message(i, CHUNK))
    assert conn.isOpen
    assert not conn.isWritable
    assert behindLines(logged()) == []

    def readUntilAfter() -> list[bytes]:
        payloads = []
        while not payloads or payloads[-1] != b"after":
            opcode, payload = readFrame(slow)
            assert opcode == 2
            payloads.append(payload)
        return payloads

    with slow:
        reading = threads.deferToThread(readUntilAfter)
        waitUntil(lambda: conn.isWritable, what="the connection to catch up")
        conn.send(b"after")
        payloads = pytest_twisted.blockon(reading)
    kept = len(payloads) - 1
    assert [int.from_bytes(payload[:4], "big") for payload in payloads[:-1]] == list(range(kept))
    assert SMALL_LIMIT // MESSAGE_SIZE <= kept < sent
    [line] = behindLines(logged())
    assert re.fullmatch(
        rf"connection {conn.resourceId} from 127\.0\.0\.1:\d+ fell more than {SMALL_LIMIT} bytes behind: "
        rf"{sent - kept} messages \({(sent - kept) * MESSAGE_SIZE} bytes\) to it were dropped in [\d.]+ s, "
        r"until it caught up",
        line,
    ), line


@implementer(IPushProducer)
class Streamer:
    """
    A push producer sending C{total} binary messages on C{conn}, as fast as it
    is let.
    """

    def __init__(self, conn: Any, total: int) -> None:
        self.conn = conn
        self.total = total
        self.sent = 0
        self.paused = False
        self.events: list[str] = []

    def produce(self) -> None:
        while not self.paused and self.sent < self.total:
            self.conn.send(message(self.sent, CHUNK))
            self.sent += 1
        if self.sent == self.total and not self.paused:
            self.conn.unregisterProducer()
            self.events.append("done")

    def pauseProducing(self) -> None:
        self.events.append("pause")
        self.paused = True

    def resumeProducing(self) -> None:
        self.events.append("resume")
        self.paused = False
        self.produce()

    def stopProducing(self) -> None:
        self.events.append("stop")


def test_pushProducerIsPausedAndResumed(listen, logged):
    """
    A push producer registered with a WebSocket connection is paused when the
    transport is full and resumed when it drains, so it streams 10 MiB through
    a 256 KiB limit without ever being closed.
    """
    component = Recorder()
    server = serveWs(listen, component, maxSendBuffer=SMALL_LIMIT)
    total = 160
    client = rawClient(server.portNumber, receiveBuffer=65536)

    def receive() -> list[int]:
        with connect(f"ws://127.0.0.1:{server.portNumber}/", sock=client, max_size=None, compression=None) as ws:
            got = []
            for _ in range(total):
                payload = ws.recv(timeout=10)
                assert payload[4:] == CHUNK[4:]
                got.append(int.from_bytes(payload[:4], "big"))
            return got

    receiving = threads.deferToThread(receive)
    conn = openedConnection(component)
    streamer = Streamer(conn, total)
    conn.registerProducer(streamer, True)
    with pytest.raises(RuntimeError):
        conn.registerProducer(Streamer(conn, 1), True)
    streamer.produce()
    assert streamer.events[0] == "pause"
    assert pytest_twisted.blockon(receiving) == list(range(total))
    assert streamer.events[-1] == "done"
    assert streamer.events.count("resume") >= 1
    assert "stop" not in streamer.events
    assert behindLines(logged()) == []


def test_pullProducerStreamsAFileThroughARawConnection(listen, logged):
    """
    A raw connection is an IConsumer: Twisted's FileSender (a pull producer)
    streams 8 MiB through it, past a 64 KiB limit, at the pace the peer reads.
    """
    component = Recorder()
    server = listen(component, maxSendBuffer=64 * 1024)
    client = rawClient(server.portNumber, receiveBuffer=65536)
    conn = openedConnection(component)
    data = os.urandom(8 * 2**20)
    sending = FileSender().beginFileTransfer(io.BytesIO(data), conn)
    received = inThread(recvExactly, client, len(data))
    pytest_twisted.blockon(sending)
    assert received == data
    assert behindLines(logged()) == []
    waitUntil(lambda: conn.isWritable, what="the connection to drain")
    # The producer unregistered itself when done: another may register.
    conn.registerProducer(Streamer(conn, 0), True)
    conn.unregisterProducer()
    client.close()


def test_producerIsStoppedWhenTheConnectionIsLost(listen):
    """
    A producer still registered when its connection is lost is told
    stopProducing, and one registered after that is stopped at once.
    """
    component = Recorder()
    server = serveWs(listen, component)
    client = inThread(handshakeOnly, server.portNumber)
    conn = openedConnection(component)
    streamer = Streamer(conn, 10**6)
    conn.registerProducer(streamer, True)
    streamer.produce()
    assert streamer.events == ["pause"]
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()  # a reset
    waitUntil(lambda: "onClose" in component.hooks(), what="onClose")
    assert streamer.events == ["pause", "stop"]
    late = Streamer(conn, 1)
    conn.registerProducer(late, True)
    assert late.events == ["stop"]


def test_closeWhileFullStillCloses(listen):
    """
    A connection closed while its transport is full and its producer paused
    still closes once the peer has read everything (Twisted holds a TCP
    loseConnection back while its producer is paused).
    """
    component = Recorder()
    server = listen(component, maxSendBuffer=2**26)
    client = rawClient(server.portNumber)
    conn = openedConnection(component)
    for _ in range(16):
        conn.send(CHUNK)
    assert not conn.isWritable
    conn.close()
    with client:
        assert inThread(drainUntilClosed, client) == (16 * MESSAGE_SIZE, "closed")
    waitUntil(lambda: "onClose" in component.hooks(), what="onClose")


@pytest.mark.parametrize("chunks", [0, 16])
def test_closeOverTlsStillCloses(listen, tmp_path, chunks):
    """
    Over TLS, where the TLS layer holds loseConnection back for as long as a
    producer is registered with it, a raw connection that sends a few bytes, or
    a megabyte that fills its transport, and closes, still closes.
    """
    keyPath, certPath = makeCertificate(tmp_path)

    class SendAndClose(MessageComponent):
        def onMessage(self, conn, msg):
            conn.send(b"hello")
            for _ in range(chunks):
                conn.send(CHUNK)
            conn.close()

    server = listen(SendAndClose(), f"ssl:0:interface=127.0.0.1:privateKey={keyPath}:certKey={certPath}")
    context = ssl.create_default_context(cafile=str(certPath))

    def client() -> tuple[int, str]:
        with socket.create_connection(("127.0.0.1", server.portNumber)) as raw:
            with context.wrap_socket(raw, server_hostname="localhost") as sock:
                sock.sendall(b"go")
                return drainUntilClosed(sock)

    assert inThread(client) == (5 + chunks * MESSAGE_SIZE, "closed")


# Options


@pytest.mark.parametrize("value", [0, -1, 1.5, "1048576", True, None])
def test_badMaxSendBuffer(value):
    with pytest.raises(ValueError, match="maxSendBuffer must be a positive number of bytes"):
        IoServer(Recorder(), maxSendBuffer=value)


@pytest.mark.parametrize("value", ["kill", "", None, "CLOSE"])
def test_badSlowConsumerPolicy(value):
    with pytest.raises(ValueError, match="slowConsumerPolicy must be one of 'close', 'drop'"):
        IoServer(Recorder(), slowConsumerPolicy=value)


@pytest.mark.parametrize(
    "args, error",
    [
        (["--max-send-buffer", "0"], "--max-send-buffer must be a positive number"),
        (["--max-send-buffer", "lots"], "--max-send-buffer: a size is bytes, or a number with k/KiB"),
        (["--slow-consumer-policy", "kill"], "--slow-consumer-policy must be one of: close, drop"),
    ],
)
def test_badTwistdOptions(args, error):
    with pytest.raises(usage.UsageError, match=error):
        Options().parseOptions(["--component", "examples.chat:Chat", *args])


@pytest.mark.parametrize("raw", [[], ["--raw"]])
def test_twistdOptionsReachTheServer(raw):
    """
    --max-send-buffer and --slow-consumer-policy configure the IoServer, so
    they apply with --raw too; the defaults are 1 MiB and close.
    """
    options = Options()
    options.parseOptions(["--component", "examples.chat:Chat", *raw])
    server = buildServer(Chat(), options)
    assert (server.maxSendBuffer, server.slowConsumerPolicy) == (2**20, "close")
    options = Options()
    options.parseOptions(
        ["--component", "examples.chat:Chat", "--max-send-buffer", "65536", "--slow-consumer-policy", "drop", *raw]
    )
    server = buildServer(Chat(), options)
    assert (server.maxSendBuffer, server.slowConsumerPolicy) == (65536, "drop")
