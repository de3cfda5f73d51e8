"""
The opening handshake read once: the engine (Autobahn) takes the request
head as the HTTP layer parsed it (L{ratchetpy.websocket._autobahn.engineHead})
instead of parsing the replayed bytes again, and stays the authority on the
rest: its checks of the WebSocket headers, subprotocol and extension
negotiation, permessage-deflate, the response.

The differential property: a handshake (well-formed, with subprotocols,
permessage-deflate offers with parameters, bad and missing keys, wrong
versions, duplicated headers, an Origin, bytes beyond ASCII, ...), fed whole,
byte by byte or with its first frame, makes the same bytes on the wire, the
same component calls and the same request as the engine saw it, whether the
engine reads the parsed head or parses the raw bytes itself, as before.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import os
import socket
import ssl
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

import autobahn
import pytest
from autobahn.twisted.websocket import WebSocketServerProtocol
from autobahn.websocket.types import ConnectionDeny
from twisted.internet.address import IPv4Address
from twisted.internet.defer import succeed
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from websockets.sync.client import connect

from ratchetpy import HttpServer, IoServer, Response, WsServer
from ratchetpy.websocket import _autobahn
from ratchetpy.websocket.protocol import WsProtocol
from tests.helpers import Recorder, frame, inThread, makeCertificate, parseResponse, statusOf

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = base64.b64encode(hashlib.sha1((KEY + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())


def head(*lines: str, target: str = "/chat", method: str = "GET", version: str = "1.1", raw: bytes = b"") -> bytes:
    """
    A request head: the request line, C{lines}, then C{raw} (bytes as they are) and the blank line.
    """
    text = f"{method} {target} HTTP/{version}\r\n" + "".join(line + "\r\n" for line in lines)
    return text.encode("latin-1") + raw + b"\r\n"


BASE = ("Host: example.com:8080", "Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {KEY}")
PLAIN = head(*BASE, "Sec-WebSocket-Version: 13")

HEADS = {
    "plain": PLAIN,
    "query": head(*BASE, "Sec-WebSocket-Version: 13", target="/chat?room=1&room=2&x="),
    "subprotocols": head(*BASE, "Sec-WebSocket-Version: 13", "Sec-WebSocket-Protocol: superchat, chat"),
    "subprotocols-two-lines": head(
        *BASE, "Sec-WebSocket-Version: 13", "Sec-WebSocket-Protocol: other", "Sec-WebSocket-Protocol: chat"
    ),
    "subprotocols-none-supported": head(*BASE, "Sec-WebSocket-Version: 13", "Sec-WebSocket-Protocol: other"),
    "subprotocol-duplicated": head(*BASE, "Sec-WebSocket-Version: 13", "Sec-WebSocket-Protocol: chat, chat"),
    "deflate": head(*BASE, "Sec-WebSocket-Version: 13", "Sec-WebSocket-Extensions: permessage-deflate"),
    "deflate-parameters": head(
        *BASE,
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits; server_max_window_bits=10;"
        " server_no_context_takeover, permessage-deflate",
    ),
    "deflate-quoted": head(
        *BASE, "Sec-WebSocket-Version: 13", 'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits="12"'
    ),
    "deflate-bad-parameter": head(
        *BASE, "Sec-WebSocket-Version: 13", "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=99"
    ),
    "deflate-and-unknown": head(
        *BASE, "Sec-WebSocket-Version: 13", "Sec-WebSocket-Extensions: x-webkit-deflate-frame, permessage-deflate"
    ),
    "extensions-two-lines": head(
        *BASE,
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Extensions: permessage-deflate",
        "Sec-WebSocket-Extensions: permessage-deflate",
    ),
    "origin": head(*BASE, "Sec-WebSocket-Version: 13", "Origin: https://example.com"),
    "origin-null": head(*BASE, "Sec-WebSocket-Version: 13", "Origin: null"),
    "origin-bad": head(*BASE, "Sec-WebSocket-Version: 13", "Origin: ::nonsense"),
    "no-key": head("Host: x", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13"),
    "short-key": head(
        "Host: x", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: c2hvcnQ=",
        "Sec-WebSocket-Version: 13",
    ),
    "bad-key-character": head(
        "Host: x", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ*=",
        "Sec-WebSocket-Version: 13",
    ),
    "two-keys": head(*BASE, f"Sec-WebSocket-Key: {KEY}", "Sec-WebSocket-Version: 13"),
    "no-version": head(*BASE),
    "version-12": head(*BASE, "Sec-WebSocket-Version: 12"),
    "version-not-a-number": head(*BASE, "Sec-WebSocket-Version: thirteen"),
    "version-twice": head(*BASE, "Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 13"),
    "no-connection-upgrade": head(
        "Host: x", "Upgrade: websocket", "Connection: keep-alive", f"Sec-WebSocket-Key: {KEY}",
        "Sec-WebSocket-Version: 13",
    ),
    "connection-list": head(
        "Host: x", "Upgrade: WebSocket", "Connection: keep-alive, Upgrade", f"Sec-WebSocket-Key: {KEY}",
        "Sec-WebSocket-Version: 13",
    ),
    "upgrade-list": head(
        "Host: x", "Upgrade: h2c, websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {KEY}",
        "Sec-WebSocket-Version: 13",
    ),
    "post": head(*BASE, "Sec-WebSocket-Version: 13", method="POST"),
    "http-1.0": head(*BASE, "Sec-WebSocket-Version: 13", version="1.0"),
    "bad-port": head(
        "Host: x:port", "Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {KEY}",
        "Sec-WebSocket-Version: 13",
    ),
    "ipv6-host": head(
        "Host: [::1]", "Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {KEY}",
        "Sec-WebSocket-Version: 13",
    ),
    "fragment": head(*BASE, "Sec-WebSocket-Version: 13", target="/chat#part"),
    "spaces-and-tabs": head(
        "Host:x", "Upgrade:\twebsocket ", "Connection:  Upgrade\t", f"sec-websocket-key:{KEY}  ",
        "SEC-WEBSOCKET-VERSION: 13", "X-Empty:", "X-Words: a  b\tc",
    ),
    "latin-1-value": head(*BASE, "Sec-WebSocket-Version: 13", raw=b"X-Name: caf\xe9\r\n"),
    # U+0085 and U+00A0: the engine's own parser splits a line at the first and strips the second.
    "nel-in-a-value": head(*BASE, "Sec-WebSocket-Version: 13", raw=b"X-Note: a\x85Sec-WebSocket-Version: 8\r\n"),
    "nbsp-around-the-key": head(
        "Host: x", "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13",
        raw=b"Sec-WebSocket-Key: " + KEY.encode() + b"\xa0\r\n",
    ),
    "control-character-in-a-value": head(*BASE, "Sec-WebSocket-Version: 13", raw=b"X-Note: a\x1cb: c\r\n"),
    "x-forwarded-for": head(*BASE, "Sec-WebSocket-Version: 13", "X-Forwarded-For: 203.0.113.7, 198.51.100.1"),
}


class Chat(Recorder):
    """
    Echoes; supports the subprotocol C{chat}.
    """

    def __init__(self) -> None:
        super().__init__(echo=True)

    def getSubProtocols(self) -> list[str]:
        return ["chat"]


class Reparsing(WsProtocol):
    """
    The WebSocket layer's protocol as it was: the engine parses the replayed head itself.
    """

    processHandshake = WebSocketServerProtocol.processHandshake

    def start(self, transport: Any, head: bytes, request: Any = None) -> None:
        super().start(transport, head)


class Reading(WsProtocol):
    """
    The WebSocket layer's protocol, recording the request the engine read.
    """

    def onConnect(self, request: Any) -> str | None:
        seen.append({name: getattr(request, name) for name in REQUEST_ATTRIBUTES})
        return super().onConnect(request)


class ReparsingReading(Reparsing, Reading):
    pass


seen: list[dict[str, Any]] = []
#: What Autobahn's ConnectionRequest (onConnect's argument) holds.
REQUEST_ATTRIBUTES = ("peer", "headers", "host", "path", "params", "version", "origin", "protocols", "extensions")


@dataclass
class Trace:
    pieces: list[tuple[bytes, list[Any]]] = field(default_factory=list)
    request: list[dict[str, Any]] = field(default_factory=list)
    engine: dict[str, Any] = field(default_factory=dict)


def calls(component: Recorder) -> list[Any]:
    return [(call[0], *(arg for arg in call[1:] if not isinstance(arg, BaseException))) for call in component.calls]


def feed(protocolClass: type, data: bytes, cuts: list[int], *, deflate: bool = True, strict: bool = False) -> Trace:
    """
    Feed C{data} in pieces of the sizes in C{cuts} (the rest at once) to a
    chat behind a L{WsServer} whose protocol is C{protocolClass}, in memory.
    """
    seen.clear()
    clock = Clock()
    component = Chat()
    ws = WsServer(component, keepAlive=0, compression=deflate, strictSubProtocols=strict, openHandshakeTimeout=0)
    ws._factory.protocol = protocolClass
    protocol = IoServer(HttpServer(ws, maxConnectionsPerIp=0), reactor=clock).buildProtocol(None)
    transport = StringTransport(peerAddress=IPv4Address("TCP", "192.0.2.9", 4000))
    protocol.makeConnection(transport)
    trace = Trace()
    start, done = 0, 0
    for size in [*cuts, len(data)]:
        if start >= len(data):
            break
        protocol.dataReceived(data[start : start + size])
        start += size
        now = calls(component)
        trace.pieces.append((transport.value(), now[done:]))
        done = len(now)
        transport.clear()
    trace.request = list(seen)
    engines = list(ws._protocols.values())
    if engines:
        engine = engines[0]
        trace.engine = {
            name: getattr(engine, name, None)
            for name in ("state", "peer", "websocket_version", "websocket_protocol_in_use", "wasNotCleanReason", "data")
        }
        compress = engine._perMessageCompress
        trace.engine["deflate"] = None if compress is None else compress.__json__()
    protocol.connectionLost(None)
    clock.advance(5)
    return trace


def assertSameAsReparsed(data: bytes, cuts: list[int] = (), **options: Any) -> Trace:
    """
    C{data} does the same whether the engine reads the parsed head or parses it again; return the trace.
    """
    once = feed(Reading, data, list(cuts), **options)
    again = feed(ReparsingReading, data, list(cuts), **options)
    assert once == again
    return once


@pytest.fixture
def engineParses(monkeypatch):
    """
    How many times the engine parsed a head itself, as C{engineParses()}.
    """
    count = [0]
    parse = _autobahn._parseHttpHeader

    def counted(data):
        count[0] += 1
        return parse(data)

    monkeypatch.setattr(_autobahn, "_parseHttpHeader", counted)
    return lambda: count[0]


@pytest.mark.parametrize("name", sorted(HEADS))
def test_sameAsTheEngineParsingTheHead(name, engineParses):
    """
    Every head makes the same response, calls and engine state (and the
    engine saw the same request) whether it reads the parsed head or parses
    it itself; only the heads beyond printable ASCII are parsed by the
    engine.
    """
    data = HEADS[name]
    trace = assertSameAsReparsed(data)
    parsedBefore = engineParses()
    feed(Reading, data, [])
    plain = all(byte in b"\t\r\n" or 0x20 <= byte <= 0x7E for byte in data)
    reachedTheEngine = bool(trace.engine)
    assert engineParses() - parsedBefore == (1 if reachedTheEngine and not plain else 0)


def test_whatTheHandshakesDo():
    """
    The differential test compares outcomes that differ: accepted with a
    subprotocol and compression, refused by the engine with its reasons.
    """
    written = {name: assertSameAsReparsed(data).pieces[0][0] for name, data in HEADS.items()}
    assert statusOf(written["plain"]) == 101
    assert b"Sec-WebSocket-Accept: " + ACCEPT + b"\r\n" in written["plain"]
    assert b"Sec-WebSocket-Protocol: chat\r\n" in written["subprotocols"]
    assert b"Sec-WebSocket-Protocol: chat\r\n" in written["subprotocols-two-lines"]
    assert b"Sec-WebSocket-Protocol" not in written["subprotocols-none-supported"]
    assert b"Sec-WebSocket-Extensions: permessage-deflate\r\n" in written["deflate"]
    assert b"server_max_window_bits=10" in written["deflate-parameters"]
    assert b"Sec-WebSocket-Extensions: permessage-deflate\r\n" in written["deflate-quoted"]
    for refused, status in [
        ("no-key", 400), ("short-key", 400), ("bad-key-character", 400), ("two-keys", 400), ("no-version", 400),
        ("version-12", 400), ("version-twice", 400), ("subprotocol-duplicated", 400), ("post", 405), ("http-1.0", 505),
        ("bad-port", 400), ("fragment", 400), ("extensions-two-lines", 400), ("deflate-bad-parameter", 400),
        ("no-connection-upgrade", 400),
    ]:
        assert statusOf(written[refused]) == status, (refused, written[refused])
    # Autobahn 26.11 parses the head strictly (its #2034): obs-text such as
    # U+0085 is a value's byte like any other, a control character refuses
    # the head; 26.10 split lines at U+0085 and let control characters by.
    # Either way the parsed head must get what the engine's own parse gets.
    strict = tuple(int(part) for part in autobahn.__version__.split(".")[:2]) >= (26, 11)
    assert statusOf(written["nel-in-a-value"]) == (101 if strict else 400)
    assert statusOf(written["control-character-in-a-value"]) == (400 if strict else 101)
    assert b"Sec-WebSocket-Version: 13" in written["version-12"]
    for accepted in ("spaces-and-tabs", "connection-list", "upgrade-list", "origin", "origin-null", "ipv6-host",
                     "latin-1-value", "nbsp-around-the-key", "query"):
        assert statusOf(written[accepted]) == 101, (accepted, written[accepted])


def test_theEngineSawTheRequestAsSent():
    """
    The request the engine hands to onConnect, from the parsed head.
    """
    [request] = assertSameAsReparsed(HEADS["query"]).request
    assert request["path"] == "/chat"
    assert request["params"] == {"room": ["1", "2"]}
    assert request["host"] == "example.com"
    assert request["headers"]["sec-websocket-key"] == KEY
    [request] = assertSameAsReparsed(HEADS["subprotocols-two-lines"]).request
    assert request["protocols"] == ["other", "chat"]
    assert request["headers"]["sec-websocket-protocol"] == "other, chat"
    [request] = assertSameAsReparsed(HEADS["deflate-parameters"]).request
    assert [name for name, _ in request["extensions"]] == ["permessage-deflate", "permessage-deflate"]


@pytest.mark.parametrize("name", ["plain", "deflate-parameters", "subprotocols", "no-key", "latin-1-value"])
def test_headSplitAcrossReads(name):
    """
    A head arriving a byte at a time, or cut in two, is handshaken as one arriving whole.
    """
    data = HEADS[name]
    whole = feed(Reading, data, []).pieces[-1][0]
    for cuts in ([1] * len(data), [len(data) // 2]):
        trace = assertSameAsReparsed(data, cuts)
        assert b"".join(written for written, _ in trace.pieces) == whole


def test_headWithItsFirstFrames():
    """
    Frames sent with the head are read after the handshake, on both paths,
    with and without compression.
    """
    frames = frame(0x1, b"hello") + frame(0x2, b"\x00\x01")
    trace = assertSameAsReparsed(HEADS["subprotocols"] + frames)
    assert trace.pieces[0][1] == [("onOpen",), ("onMessage", "hello"), ("onMessage", b"\x00\x01")]
    compressor = zlib.compressobj(wbits=-15)
    deflated = compressor.compress(b"squeezed") + compressor.flush(zlib.Z_SYNC_FLUSH)
    trace = assertSameAsReparsed(HEADS["deflate"] + frame(0x1, deflated[:-4], rsv=0x40))
    assert trace.pieces[0][1] == [("onOpen",), ("onMessage", "squeezed")]


class Raising(Reading):
    def onConnect(self, request):
        super().onConnect(request)
        raise ValueError("no such room")


class Denying(Reading):
    def onConnect(self, request):
        super().onConnect(request)
        raise ConnectionDeny(403, "not today")


class Deferring(Reading):
    def onConnect(self, request):
        return succeed(super().onConnect(request))


class Awaiting(Reading):
    async def onConnect(self, request):
        return Reading.onConnect(self, request)


class Answering(Reading):
    def onConnect(self, request):
        super().onConnect(request)
        return "chat", {"X-Room": ["1", "2"]}


class Wrong(Reading):
    def onConnect(self, request):
        super().onConnect(request)
        return "not-offered"


@pytest.mark.parametrize("answer", [Raising, Denying, Deferring, Awaiting, Answering, Wrong])
def test_onConnectAnsweredAsBefore(answer, logged):
    """
    onConnect's answer (a failure, a refusal, a Deferred, a coroutine, a
    subprotocol with headers, a subprotocol not offered) is handled as the
    engine's Deferred did: the same bytes on the wire, on both paths.
    """
    class Reparsed(Reparsing, answer):
        pass

    data = HEADS["subprotocols"]
    once, again = feed(answer, data, []), feed(Reparsed, data, [])
    # The engine's Deferred with its unhandled error (Wrong) is logged now, not in a later test.
    gc.collect()
    assert once == again
    written = once.pieces[0][0]
    expected = {Raising: 500, Denying: 403, Deferring: 101, Awaiting: 101, Answering: 101, Wrong: None}[answer]
    assert statusOf(written) == expected
    if answer is Answering:
        assert b"X-Room: 1\r\nX-Room: 2\r\nSec-WebSocket-Protocol: chat\r\n" in written
    if answer is Wrong:
        # succeedHandshake raises: nothing is answered, and that is logged as the Deferred's unhandled error was.
        failures = [event["log_failure"].value for event in logged.events if "log_failure" in event]
        assert any("protocol accepted must be from the list client sent" in str(value) for value in failures)


def test_strictSubprotocolsSameAsBefore():
    """
    In strict mode the layer refuses an offer of unsupported subprotocols before the engine reads the head.
    """
    trace = assertSameAsReparsed(HEADS["subprotocols-none-supported"], strict=True)
    assert statusOf(trace.pieces[0][0]) == 400
    assert trace.engine == {}
    assert statusOf(assertSameAsReparsed(HEADS["subprotocols"], strict=True).pieces[0][0]) == 101


def test_noHandoverWithoutTheCopy(monkeypatch, engineParses):
    """
    Without the engine's handshake as expected (another Autobahn), the
    engine is replayed the head and parses it, as before.
    """
    monkeypatch.setattr(_autobahn, "_processHandshake", None)
    trace = feed(Reading, PLAIN, [])
    assert statusOf(trace.pieces[0][0]) == 101
    assert engineParses() == 1


def test_aHandoverIsNotLeftBehind():
    """
    Whatever happened in the handshake, no parsed head is left for the next one.
    """
    for data in HEADS.values():
        feed(Reading, data, [1, 5])
        assert _autobahn._handover.head is None


# Over sockets


def talk(port: int, *parts: bytes, until: bytes, pause: float = 0.2) -> bytes:
    """
    (Blocking client.) Send C{parts} (a pause between them), then read until C{until} has come; return what came.
    """
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for index, part in enumerate(parts):
            if index:
                time.sleep(pause)
            sock.sendall(part)
        while until not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    return received


class Page:
    """
    Answers every plain request with C{page}, keeping the connection.
    """

    def onOpen(self, conn, request):
        Response(200, b"page").writeTo(conn)

    def onMessage(self, conn, data):
        pass

    def onClose(self, conn):
        pass

    def onError(self, conn, exc):
        pass


def test_keepAliveThenUpgrade(listen, engineParses):
    """
    A plain request answered on a persistent connection, then an upgrade on
    it with its first frame: the upgrade is read once and works.
    """
    server = listen(HttpServer(WsServer(Chat(), keepAlive=0, http=Page())))
    data = inThread(
        talk, server.portNumber, b"GET /page HTTP/1.1\r\nHost: x\r\n\r\n", HEADS["subprotocols"] + frame(0x1, b"hi"),
        until=b"\x81\x02hi",
    )
    first, _, rest = data.partition(b"page")
    assert statusOf(first) == 200
    status, headers, after = parseResponse(rest)
    assert status == 101
    assert headers["sec-websocket-protocol"] == "chat"
    assert after == b"\x81\x02hi"
    assert engineParses() == 0


def test_proxyHeaderThenUpgrade(listen, engineParses):
    """
    Behind a PROXY protocol header, in one segment with the head and a
    frame: upgraded from the parsed head, for the client the header names.
    """
    chat = Chat()
    server = listen(HttpServer(WsServer(chat, keepAlive=0)), "haproxy:tcp:0:interface=127.0.0.1")
    data = inThread(
        talk, server.portNumber, b"PROXY TCP4 198.51.100.9 127.0.0.1 40000 80\r\n" + HEADS["plain"] + frame(0x1, b"x"),
        until=b"\x81\x01x",
    )
    status, headers, after = parseResponse(data)
    assert status == 101
    assert headers["sec-websocket-accept"] == ACCEPT.decode()
    assert after == b"\x81\x01x"
    assert chat.events[0][1].remoteAddress == "198.51.100.9"
    assert engineParses() == 0


@pytest.mark.parametrize("compression", [False, True])
def test_tls(listen, tmp_path, engineParses, compression):
    """
    Over TLS the engine still gets the real transport (its channel details)
    and the parsed head: a subprotocol and permessage-deflate are agreed.
    """
    keyPath, certPath = makeCertificate(tmp_path)
    chat = Chat()
    server = listen(
        HttpServer(WsServer(chat, keepAlive=0, compression=compression)),
        f"ssl:0:interface=127.0.0.1:privateKey={keyPath}:certKey={certPath}",
    )
    context = ssl.create_default_context(cafile=str(certPath))
    context.check_hostname = False

    def converse():
        extensions = None if compression else []
        with connect(
            f"wss://127.0.0.1:{server.portNumber}/", ssl=context, subprotocols=["chat"], extensions=extensions
        ) as ws:
            ws.send("secure")
            return ws.subprotocol, ws.recv(timeout=5), ws.response.headers.get("Sec-WebSocket-Extensions")

    subprotocol, echoed, extensions = inThread(converse)
    assert (subprotocol, echoed) == ("chat", "secure")
    assert (extensions is not None and "permessage-deflate" in extensions) == compression
    assert chat.hooks()[:2] == ["onOpen", "onMessage"]
    assert engineParses() == 0


def test_keyRandomised():
    """
    Random keys: the accept the client expects, on both paths.
    """
    for _ in range(20):
        key = base64.b64encode(os.urandom(16)).decode()
        data = head("Host: x", "Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
                    "Sec-WebSocket-Version: 13")
        written = assertSameAsReparsed(data).pieces[0][0]
        accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
        assert b"Sec-WebSocket-Accept: " + accept in written
