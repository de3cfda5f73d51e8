"""
The client's engine against servers that misbehave (a raw Twisted server
that answers what the test says), its backoff arithmetic, and the shape of
the Autobahn internals it relies on (L{ratchetpy.client._autobahn}).
"""

from __future__ import annotations

import base64
import hashlib

import pytest
import pytest_twisted
from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from autobahn.websocket.protocol import WebSocketProtocol
from twisted.internet import reactor
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.protocol import Factory, Protocol

from ratchetpy import MessageComponent
from ratchetpy.client import ConnectFailed, HandshakeRefused, Reconnect, connect, connectOnce
from ratchetpy.client._autobahn import refusal
from tests.helpers import waitUntil

block = pytest_twisted.blockon

MAGIC = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class RawServer(Protocol):
    """
    Reads the request head, then does what C{answer(key)} says: bytes to write
    (or None: write nothing, ever), never reading or answering anything more.
    """

    def __init__(self, answer):
        self.answer = answer
        self.buffer = b""

    def dataReceived(self, data):
        if self.buffer is None:
            return
        self.buffer += data
        if b"\r\n\r\n" not in self.buffer:
            return
        key = next(
            line.split(b":", 1)[1].strip()
            for line in self.buffer.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        self.buffer = None
        response = self.answer(key)
        if response is not None:
            self.transport.write(response)


def accepting(key):
    accept = base64.b64encode(hashlib.sha1(key + MAGIC).digest())
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "
        + accept
        + b"\r\n\r\n"
    )


@pytest.fixture
def rawServer():
    ports = []

    def serve(answer):
        port = block(
            TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(Factory.forProtocol(lambda: RawServer(answer)))
        )
        ports.append(port)
        return f"ws://127.0.0.1:{port.getHost().port}/"

    yield serve
    for port in ports:
        block(port.stopListening())


def test_responseHeadIsBounded(rawServer):
    """
    A response head larger than maxHeadSize fails the attempt, rather than
    being buffered until a blank line that never comes.
    """
    url = rawServer(lambda key: b"HTTP/1.1 101 Switching Protocols\r\n" + b"X-Pad: " + b"a" * 20_000)
    with pytest.raises(ConnectFailed, match="larger than 4096 bytes"):
        block(connectOnce(url, maxHeadSize=4096))


def test_silentServerTimesOut(rawServer):
    url = rawServer(lambda key: None)
    with pytest.raises(ConnectFailed, match="opening handshake timeout"):
        block(connectOnce(url, openHandshakeTimeout=0.3))


def test_badAcceptKeyFails(rawServer):
    url = rawServer(lambda key: accepting(b"another key"))
    with pytest.raises(ConnectFailed, match="Sec-WebSocket-Accept") as failed:
        block(connectOnce(url))
    assert not isinstance(failed.value, HandshakeRefused)


def test_refusalWithRetryAfter(rawServer):
    url = rawServer(lambda key: b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Length: 0\r\n\r\n")
    with pytest.raises(HandshakeRefused) as refused:
        block(connectOnce(url))
    assert (refused.value.status, refused.value.reason) == (429, "Too Many Requests")
    assert refused.value.headers["retry-after"] == "7"
    assert refused.value.retryable


def test_keepaliveDropsADeafServer(rawServer):
    """
    A server that never answers pings is dropped after keepAliveTimeout.
    """
    url = rawServer(accepting)
    conn = block(connectOnce(url, keepAlive=1, keepAliveTimeout=1))
    code, reason = block(conn.whenClosed())
    assert code == 1006
    assert "ping" in reason.lower() or "timeout" in reason.lower()


def test_refusalParsing():
    assert refusal("ws://x/", "HTTP/1.1 101 Switching Protocols", {}) is None
    assert refusal("ws://x/", "HTTP/1.1 nope", {}) is None
    refused = refusal("ws://x/", "HTTP/1.1 404", {})
    assert refused is not None and (refused.status, refused.reason) == (404, "")
    assert not refused.retryable


def test_backoff():
    policy = Reconnect(initialDelay=1, maxDelay=10, factor=2, jitter=0.5)
    assert [policy.delay(n, random=lambda: 0.0) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]
    assert [policy.delay(n, random=lambda: 1.0) for n in (1, 2, 5)] == [0.5, 1, 5]
    assert policy.delay(10_000, random=lambda: 0.0) == 10
    assert not policy.givesUpAfter(100)
    assert Reconnect(maxAttempts=3).givesUpAfter(3)


@pytest.mark.parametrize(
    "options",
    [{"initialDelay": -1}, {"initialDelay": 2, "maxDelay": 1}, {"factor": 0.5}, {"jitter": 2}, {"maxAttempts": 0}],
)
def test_badBackoff(options):
    with pytest.raises(ValueError, match="Reconnect"):
        Reconnect(**options)


def test_autobahnInternals():
    """
    What ratchetpy.client._autobahn uses of Autobahn beyond its documented
    API is there, with the shape it relies on.
    """
    factory = WebSocketClientFactory("ws://127.0.0.1:1/", reactor=reactor)
    assert hasattr(factory, "_batched_timer")
    protocol = WebSocketClientProtocol()
    protocol.factory = factory
    for name in ("_dataReceived", "failHandshake", "dropConnection", "sendMessage", "sendClose", "sendCloseFrame"):
        assert callable(getattr(protocol, name)), name
    for name in ("STATE_CONNECTING", "STATE_OPEN", "STATE_CLOSED"):
        assert isinstance(getattr(WebSocketProtocol, name), int)
    source = WebSocketClientProtocol.processHandshake.__code__.co_names
    assert "http_status_line" in source and "http_headers" in source and "failHandshake" in source


def test_stopDuringTheHandshake(rawServer):
    """
    stop() while the server has not answered the handshake yet: the attempt
    is dropped, and the client stops without a connection.
    """
    url = rawServer(lambda key: None)
    opened = []

    class Bot(MessageComponent):
        def onOpen(self, conn):
            opened.append(conn)

    client = connect(url, Bot())
    waitUntil(lambda: client._handshaking is not None, what="the handshake to start")
    assert block(client.stop()) is None
    assert not client.running and client.connection is None and not opened


def test_framesRightAfterTheHeadAreNotPartOfIt(rawServer):
    """
    A server that sends a large message in the same read as its 101 is not
    taken for one with a large head.
    """
    message = b"m" * 70_000
    frame = b"\x82\x7f" + len(message).to_bytes(8, "big") + message
    url = rawServer(lambda key: accepting(key) + frame)
    conn = block(connectOnce(url, maxHeadSize=1024))
    assert block(conn.receive()) == message
