"""
The lean path of the WebSocket engine (L{ratchetpy.websocket._autobahn},
L{ratchetpy.websocket._frames}) against Autobahn's own parser and framer.

The differential property: a handshake (with or without permessage-deflate)
and a stream of client frames, random and mutated (well-formed text and
binary, fragmented messages, pings, pongs, closes, compressed frames, and
broken ones: bad UTF-8 whole and split, reserved opcodes and bits, unmasked
frames, non-minimal lengths, frames over the limits, random bytes; then bytes
flipped, dropped and cut off), is fed to two servers in memory, whole, one
byte at a time or in random pieces: one with the lean path, one with every
frame through the engine (C{leanPath = False}). After every piece the two
wrote the same bytes to the wire, and the component heard the same calls;
at the end (after the closing timeouts and the connection's loss) the same
again, with the same close codes, the same statistics
(C{trafficStats}) and the same engine state.

C{RATCHETPY_FUZZ_EXAMPLES} sets the examples of the property (default 800),
as for C{tests/http/test_fuzz.py}; C{tests/fuzz/fuzz_lean.py} is the
coverage-guided counterpart (atheris).
"""

from __future__ import annotations

import os
import random
import zlib
from dataclasses import dataclass, field
from typing import Any

import pytest
from autobahn.websocket.protocol import PreparedMessage, WebSocketProtocol
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport

from ratchetpy import HttpServer, IoServer, WsServer
from ratchetpy.websocket import _frames
from ratchetpy.websocket._autobahn import leanOptions
from ratchetpy.websocket.protocol import WsProtocol
from tests.helpers import Recorder, frame

EXAMPLES = int(os.environ.get("RATCHETPY_FUZZ_EXAMPLES", "800"))

HANDSHAKE = (
    b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
DEFLATE_HANDSHAKE = HANDSHAKE[:-2] + b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"


class LeanProtocol(WsProtocol):
    """
    The WebSocket layer's protocol, counting the frames the lean path took.
    """

    leanFrames = 0

    def _leanReceived(self, size: int) -> None:
        LeanProtocol.leanFrames += 1
        super()._leanReceived(size)


class EngineOnlyProtocol(WsProtocol):
    """
    The WebSocket layer's protocol with every frame through the engine.
    """

    leanPath = False


@dataclass
class Trace:
    """
    What one server did with one input: per piece fed, the bytes it wrote
    and the component's calls; then the end state.
    """

    pieces: list[tuple[bytes, list[Any]]] = field(default_factory=list)
    end: dict[str, Any] = field(default_factory=dict)


class Echo(Recorder):
    """
    Echoes every message; closes on C{"bye"} (1000) and C{b"abort"} (an
    abort), so that the component changes the connection's state in the
    middle of a read.
    """

    def __init__(self) -> None:
        super().__init__(echo=True)

    def onMessage(self, conn, msg):
        result = super().onMessage(conn, msg)
        if msg == "bye":
            conn.close(1000, "bye")
        elif msg == b"abort":
            conn.abort()
        return result


def calls(component: Recorder) -> list[Any]:
    return [(call[0], *(arg for arg in call[1:] if not isinstance(arg, BaseException))) for call in component.calls]


def feed(
    protocolClass: type,
    data: bytes,
    cuts: list[int],
    *,
    deflate: bool = False,
    maxMessageSize: int = 1000,
    maxFrameSize: int | None = None,
    keepAlive: float = 0,
) -> Trace:
    """
    Open a WebSocket connection in memory to an echoing component behind a
    L{WsServer} whose protocol is C{protocolClass}, feed it C{data} in
    pieces of the sizes in C{cuts} (the rest at once), and trace it.
    """
    clock = Clock()
    component = Echo()
    ws = WsServer(
        component,
        keepAlive=keepAlive,
        maxMessageSize=maxMessageSize,
        maxFrameSize=maxFrameSize,
        openHandshakeTimeout=0,
        compression=deflate,
    )
    ws._factory.protocol = protocolClass
    server = IoServer(HttpServer(ws), reactor=clock)
    protocol = server.buildProtocol(None)
    transport = StringTransport(peerAddress=IPv4Address("TCP", "192.0.2.9", 4000))
    protocol.makeConnection(transport)
    protocol.dataReceived(DEFLATE_HANDSHAKE if deflate else HANDSHAKE)
    assert transport.value().startswith(b"HTTP/1.1 101 "), transport.value()
    assert (b"permessage-deflate" in transport.value()) == deflate
    transport.clear()
    [engine] = ws._protocols.values()
    trace = Trace()
    start = 0
    seen = len(component.calls)
    for size in [*cuts, len(data)]:
        if start >= len(data):
            break
        protocol.dataReceived(data[start : start + size])
        start += size
        now = calls(component)
        trace.pieces.append((transport.value(), now[seen:]))
        seen = len(now)
        transport.clear()
    clock.advance(5)
    protocol.connectionLost(None)
    clock.advance(5)
    stats = engine.trafficStats
    trace.end = {
        "written": transport.value(),
        "calls": calls(component)[seen:],
        "disconnecting": transport.disconnecting,
        "aborted": getattr(transport, "disconnected", None),
        "stats": {name: getattr(stats, name) for name in vars(stats)},
        "engine": {
            name: getattr(engine, name, None)
            for name in (
                "state",
                "data",
                "inside_message",
                "failedByMe",
                "wasClean",
                "wasNotCleanReason",
                "localCloseCode",
                "localCloseReason",
                "remoteCloseCode",
                "remoteCloseReason",
                "closedByMe",
                "droppedByMe",
                "wasMaxFramePayloadSizeExceeded",
                "wasMaxMessagePayloadSizeExceeded",
                "wasServingFlashSocketPolicyFile",
            )
        },
        "frame": None
        if engine.current_frame is None
        else (engine.current_frame.opcode, engine.current_frame.fin, engine.current_frame.length),
    }
    return trace


def assertSameOnBothPaths(data: bytes, cuts: list[int], **options: Any) -> Trace:
    """
    C{data}, cut by C{cuts}, does the same through the lean path as through
    the engine alone; return the lean path's trace.
    """
    lean = feed(LeanProtocol, data, cuts, **options)
    engine = feed(EngineOnlyProtocol, data, cuts, **options)
    assert lean.pieces == engine.pieces
    assert lean.end == engine.end
    return lean


# Inputs


def deflated(payload: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-15)
    return (compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]


def nonMinimal(opcode: int, payload: bytes, wide: bool) -> bytes:
    """
    A masked final frame whose length is encoded in more bytes than needed.
    """
    mask = b"\x01\x02\x03\x04"
    if wide:
        length = bytes([0xFF]) + len(payload).to_bytes(8, "big")
    else:
        length = bytes([0xFE]) + len(payload).to_bytes(2, "big")
    return bytes([0x80 | opcode]) + length + mask + _frames.unmask(mask, payload)


texts = st.text(max_size=150).map(lambda text: text.encode("utf-8"))
BAD_UTF8 = [b"\xff", b"\xc3", b"\xed\xa0\x80", b"a\xf8b", b"\xf4\x90\x80\x80", b"\xe0\x80\xaf", b"ok\xc3"]


@st.composite
def frames(draw) -> bytes:
    """
    One client frame (or a few, for a fragmented message): mostly plain
    data frames, the lean path's case, and everything else it must leave to
    the engine.
    """
    kind = draw(
        st.sampled_from(
            ["text"] * 4
            + ["binary"] * 3
            + [
                "empty",
                "long",
                "bye",
                "abort",
                "fragmented",
                "ping",
                "pong",
                "close",
                "badUtf8",
                "badUtf8Fragmented",
                "continuation",
                "opcode",
                "rsv",
                "compressed",
                "unmasked",
                "nonMinimal",
                "oversized",
                "random",
            ]
        )
    )
    mask = draw(st.binary(min_size=4, max_size=4))
    if kind == "text":
        return frame(1, draw(texts), mask=mask)
    if kind == "binary":
        return frame(2, draw(st.binary(max_size=150)), mask=mask)
    if kind == "empty":
        return frame(draw(st.sampled_from([1, 2])), b"", mask=mask)
    if kind == "long":
        # 16-bit lengths, near the limits the servers are given.
        return frame(draw(st.sampled_from([1, 2])), b"y" * draw(st.integers(126, 1100)), mask=mask)
    if kind == "bye":
        return frame(1, b"bye", mask=mask)
    if kind == "abort":
        return frame(2, b"abort", mask=mask)
    if kind == "fragmented":
        payload = draw(texts)
        split = draw(st.integers(0, len(payload)))
        opcode = draw(st.sampled_from([1, 2]))
        return frame(opcode, payload[:split], fin=False, mask=mask) + frame(0, payload[split:], mask=mask)
    if kind == "ping":
        return frame(9, draw(st.binary(max_size=125)), mask=mask)
    if kind == "pong":
        return frame(10, draw(st.binary(max_size=125)), mask=mask)
    if kind == "close":
        code = draw(st.sampled_from([1000, 1001, 1002, 1003, 1007, 1011, 3000, 4999, 999, 1005, 5000]))
        return frame(8, code.to_bytes(2, "big") + draw(texts)[:100], mask=mask)
    if kind == "badUtf8":
        return frame(1, draw(texts)[:20] + draw(st.sampled_from(BAD_UTF8)) + draw(texts)[:20], mask=mask)
    if kind == "badUtf8Fragmented":
        bad = draw(st.sampled_from(BAD_UTF8))
        return frame(1, bad[:1], fin=False, mask=mask) + frame(0, bad[1:], mask=mask)
    if kind == "continuation":
        return frame(0, draw(st.binary(max_size=20)), fin=draw(st.booleans()), mask=mask)
    if kind == "opcode":
        return frame(draw(st.sampled_from([3, 4, 7, 11, 15])), draw(st.binary(max_size=20)), mask=mask)
    if kind == "rsv":
        return frame(
            draw(st.sampled_from([1, 2])), b"x", rsv=draw(st.sampled_from([0x10, 0x20, 0x30, 0x70])), mask=mask
        )
    if kind == "compressed":
        payload = draw(texts)
        data = deflated(payload) if draw(st.booleans()) else draw(st.binary(max_size=30))
        return frame(1, data, rsv=0x40, mask=mask)
    if kind == "unmasked":
        return frame(draw(st.sampled_from([1, 2])), draw(st.binary(max_size=20)), mask=None)
    if kind == "nonMinimal":
        return nonMinimal(draw(st.sampled_from([1, 2])), draw(st.binary(max_size=300)), draw(st.booleans()))
    if kind == "oversized":
        # Over the frame and message limit the servers are given (1000).
        return frame(2, b"z" * draw(st.integers(1001, 1200)), mask=mask)
    return draw(st.binary(min_size=1, max_size=40))


@st.composite
def streams(draw) -> bytes:
    """
    A few frames, sometimes mutated: bytes flipped, a piece dropped, the end
    cut off.
    """
    data = bytearray(b"".join(draw(st.lists(frames(), min_size=1, max_size=8))))
    if draw(st.booleans()):
        # Plain frames first, then whatever follows.
        data[:0] = b"".join(frame(1, payload) for payload in draw(st.lists(texts, min_size=1, max_size=3)))
    for _ in range(draw(st.integers(0, 2)) if draw(st.booleans()) else 0):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        how = draw(st.sampled_from(["flip", "drop", "cut"]))
        if how == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif how == "drop":
            del data[at : at + draw(st.integers(1, 8))]
        else:
            del data[at:]
    return bytes(data)


@st.composite
def cutsFor(draw, data: bytes) -> list[int]:
    """
    How C{data} arrives: whole, one byte at a time, or in random pieces.
    """
    how = draw(st.sampled_from(["whole", "bytewise", "pieces"]))
    if how == "whole":
        return []
    if how == "bytewise":
        return [1] * len(data)
    return draw(st.lists(st.integers(1, 64), max_size=40))


def fuzzSettings():
    return settings(
        max_examples=max(10, EXAMPLES),
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# The differential property


@fuzzSettings()
@given(streams(), st.data(), st.booleans(), st.sampled_from([(1000, None), (1000, 200), (2**20, None)]))
@example(frame(1, b"hello") * 3, [], False, (1000, None))
@example(frame(1, b"hello") + frame(9, b"p") + frame(2, b"bin"), [1] * 30, False, (1000, None))
@example(frame(1, b"bye") + frame(1, b"after"), [], False, (1000, None))
@example(frame(2, b"abort") + frame(1, b"after"), [], False, (1000, None))
@example(frame(1, b"\xed\xa0\x80") + frame(1, b"after"), [1] * 20, False, (1000, None))
@example(frame(1, b"hello") * 3, [], True, (1000, None))
def test_theLeanPathDoesWhatTheEngineDoes(data, cuts, deflate, limits):
    """
    Random and mutated frame streams, whole, byte by byte and in random
    pieces, with and without permessage-deflate: the same bytes on the
    wire after every piece, the same component calls, the same close codes,
    statistics and engine state at the end, through the lean path as
    through Autobahn's engine alone.
    """
    if not isinstance(cuts, list):
        cuts = cuts.draw(cutsFor(data))
    maxMessageSize, maxFrameSize = limits
    before = LeanProtocol.leanFrames
    assertSameOnBothPaths(data, cuts, deflate=deflate, maxMessageSize=maxMessageSize, maxFrameSize=maxFrameSize)
    took = LeanProtocol.leanFrames - before
    event("some frames took the lean path" if took else "no frame took the lean path")


# Examples, each on both paths


def test_plainFramesTakeTheLeanPath():
    """
    Complete plain text and binary frames in one read are delivered by the
    lean path, echoed as the engine would, and counted in the engine's
    statistics.
    """
    before = LeanProtocol.leanFrames
    data = frame(1, "héllo".encode()) + frame(2, b"\x00\xff") + frame(1, b"x" * 300)
    trace = assertSameOnBothPaths(data, [])
    assert LeanProtocol.leanFrames - before == 3
    [(written, heard)] = trace.pieces
    assert heard == [("onMessage", "héllo"), ("onMessage", b"\x00\xff"), ("onMessage", "x" * 300)]
    assert written == b"\x81\x06h\xc3\xa9llo" + b"\x82\x02\x00\xff" + b"\x81\x7e\x01\x2c" + b"x" * 300
    assert trace.end["stats"]["incomingWebSocketMessages"] == 3
    assert trace.end["stats"]["incomingWebSocketFrames"] == 3
    assert trace.end["stats"]["outgoingWebSocketMessages"] == 3


def test_compressedConnectionsUseTheEngine():
    """
    On a connection that agreed permessage-deflate, no frame takes the lean
    path; messages still arrive and are echoed compressed.
    """
    before = LeanProtocol.leanFrames
    trace = assertSameOnBothPaths(frame(1, b"hello") + frame(1, deflated(b"zipped"), rsv=0x40), [], deflate=True)
    assert LeanProtocol.leanFrames == before
    assert [heard for _, heard in trace.pieces] == [[("onMessage", "hello"), ("onMessage", "zipped")]]


def test_aPartialFrameIsFinishedByTheEngineThenTheLeanPathResumes():
    """
    A frame split across reads is parsed by the engine; the complete frames
    after it in the next read take the lean path again.
    """
    first, second = frame(2, b"a" * 50), frame(2, b"b" * 10)
    data = first + second + second
    before = LeanProtocol.leanFrames
    trace = assertSameOnBothPaths(data, [30])
    assert LeanProtocol.leanFrames - before == 2
    assert [heard for _, heard in trace.pieces] == [
        [],
        [("onMessage", b"a" * 50), ("onMessage", b"b" * 10), ("onMessage", b"b" * 10)],
    ]


@pytest.mark.parametrize(
    "bad",
    [
        frame(1, b"ok\xff"),
        frame(1, b"x", mask=None),
        frame(1, b"x", rsv=0x40),
        frame(3, b"x"),
        frame(0, b"x"),
        nonMinimal(2, b"x" * 5, False),
        nonMinimal(2, b"x" * 300, True),
        frame(2, b"z" * 1001),
    ],
    ids=["badUtf8", "unmasked", "rsv", "opcode", "continuation", "nonMinimal16", "nonMinimal64", "oversized"],
)
def test_badFramesAreFailedByTheEngine(bad):
    """
    A frame the lean path does not take because it is broken is failed by
    the engine as before (a close frame with the engine's code), after the
    plain frames before it were delivered, whole or byte by byte.
    """
    data = frame(1, b"before") + bad + frame(1, b"after")
    for cuts in ([], [1] * len(data)):
        trace = assertSameOnBothPaths(data, cuts)
        heard = [call for _, calls_ in trace.pieces for call in calls_]
        assert heard[0] == ("onMessage", "before")
        assert ("onMessage", "after") not in heard
        assert trace.end["engine"]["localCloseCode"] in (1002, 1007, 1009)


def test_theLeanPathKeepsTheKeepaliveBookkeeping():
    """
    A data frame that arrives while a keepalive ping is unanswered stands
    in for its pong on the lean path as in the engine: the ping's timeout is
    cancelled and the next ping scheduled.
    """

    def run(protocolClass):
        clock = Clock()
        component = Echo()
        ws = WsServer(component, keepAlive=1, keepAliveTimeout=1, openHandshakeTimeout=0, compression=False)
        ws._factory.protocol = protocolClass
        protocol = IoServer(HttpServer(ws), reactor=clock).buildProtocol(None)
        transport = StringTransport(peerAddress=IPv4Address("TCP", "192.0.2.9", 4000))
        protocol.makeConnection(transport)
        protocol.dataReceived(HANDSHAKE)
        [engine] = ws._protocols.values()
        clock.advance(1.5)
        assert engine.autoPingPending is not None and engine.autoPingTimeoutCall is not None
        transport.clear()
        protocol.dataReceived(frame(1, b"alive"))
        state = (engine.autoPingPending, engine.autoPingTimeoutCall, engine.autoPingPendingCall is not None)
        clock.advance(0.8)
        stillOpen = engine.state == WebSocketProtocol.STATE_OPEN
        return state, stillOpen, transport.value()

    assert run(LeanProtocol) == run(EngineOnlyProtocol) == ((None, None, True), True, b"\x81\x05alive")


# The framing arithmetic


@given(st.binary(max_size=70000), st.booleans())
@settings(max_examples=200, deadline=None, database=None)
def test_serverFramesAreAutobahnsPreparedFrames(payload, isBinary):
    """
    L{_frames.serverFrame} builds the bytes Autobahn's PreparedMessage does
    (unmasked), for every length encoding.
    """
    first = _frames.BINARY if isBinary else _frames.TEXT
    assert _frames.serverFrame(first, payload) == PreparedMessage(payload, isBinary, False, False).payloadHybi


@given(st.binary(min_size=4, max_size=4), st.binary(max_size=3000))
@settings(max_examples=300, deadline=None, database=None)
def test_unmaskIsTheXorWithTheRepeatedMask(mask, payload):
    """
    L{_frames.unmask} XORs every byte with the mask byte at its offset
    modulo 4 (RFC 6455 section 5.3), and is its own inverse.
    """
    expected = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    assert _frames.unmask(mask, payload) == expected
    assert _frames.unmask(mask, expected) == payload


def test_plainFrameNeedsAllOfTheFrame():
    """
    L{_frames.plainFrame} recognises a frame only when all of it is there,
    and only a plain one.
    """
    whole = frame(2, b"x" * 200)
    assert _frames.plainFrame(whole, 0, len(whole), 1000) == (0x82, 4, len(whole))
    for end in range(2, len(whole)):
        assert _frames.plainFrame(whole, 0, end, 1000) is None
    assert _frames.plainFrame(whole, 0, len(whole), 199) is None
    assert _frames.plainFrame(frame(1, b"x", fin=False), 0, 7, 1000) is None
    assert _frames.plainFrame(frame(9, b"x"), 0, 7, 1000) is None


def test_optionsTheLeanPathCannotHonourTurnItOff():
    """
    Options asking for what only the engine does turn the lean path off:
    logging or timing frames, no unmasking or UTF-8 validation, accepting
    unmasked frames; fragmenting or masking what is sent turns off lean
    sending. A protocol class that watches frames keeps them all in the
    engine.
    """
    ws = WsServer(Recorder())
    factory = ws._factory
    options = {name: getattr(factory, name) for name in WsProtocol.CONFIG_ATTRS}
    assert leanOptions(WsProtocol, options)["_lean"] is True
    assert leanOptions(WsProtocol, options)["_leanSend"] is True
    for name, value in [
        ("logFrames", True),
        ("logOctets", True),
        ("trackTimings", True),
        ("applyMask", False),
        ("requireMaskedClientFrames", False),
        ("utf8validateIncoming", False),
    ]:
        assert leanOptions(WsProtocol, {**options, name: value})["_lean"] is False, name
    for name, value in [("autoFragmentSize", 100), ("maskServerFrames", True), ("logFrames", True)]:
        assert leanOptions(WsProtocol, {**options, name: value})["_leanSend"] is False, name
    assert leanOptions(EngineOnlyProtocol, options)["_lean"] is False

    class Watching(WsProtocol):
        def onMessageFrameData(self, payload):
            super().onMessageFrameData(payload)

    assert leanOptions(Watching, options)["_lean"] is False


def test_randomStreamsSmoke():
    """
    A few hundred seeded random byte streams after a good frame, whole and
    byte by byte: the same on both paths (a cheap check independent of
    hypothesis' generator).
    """
    rng = random.Random(13)
    for _ in range(200):
        data = frame(1, b"hi") + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 30)))
        for cuts in ([], [1] * len(data)):
            assertSameOnBothPaths(data, cuts)
