"""
The HTTP layer fuzzed with hypothesis: random bytes, valid request heads
(plain and WebSocket upgrades), truncated and mutated ones (flipped bits,
inserted CR, LF, NUL and folds, duplicated and oversized headers, huge request
lines), heads sized right at the limits, each fed whole, in random pieces and
one byte at a time, to an L{HttpServer} in memory (an L{IoConnection} on a
L{StringTransport}, a L{Clock} for the head timeout).

Checked after every piece: nothing raises out of C{onMessage}, and the
connection is in exactly one of three states:

    - opened: the component has the request, which says exactly what the raw
      head says (request line, every header), within every limit; the bytes
      after the head reach C{onMessage} unchanged; nothing was written back;
    - refused: a well-formed C{HTTP/1.1 4xx} response (501 for a transfer
      coding other than chunked) with C{Connection: close}, the transport
      closing, the component never told;
    - waiting: nothing written, everything received so far buffered and no
      more than C{maxHeadSize}, the head timer running (it answers 408).

The same bytes end in the same state, with the same request or status,
however they are cut into pieces. Finally the WebSocket stack behind the
layer is fuzzed through C{IoServer.dataReceived}: no hook failure is logged
and C{onClose} follows C{onOpen} exactly once.

Each property runs C{RATCHETPY_FUZZ_EXAMPLES} examples (default 800; the file
then takes about ten seconds); set it higher for a longer run, e.g.
C{RATCHETPY_FUZZ_EXAMPLES=50000 pytest tests/http/test_fuzz.py}. The
coverage-guided counterpart is C{tests/fuzz/fuzz_http.py} (atheris).
"""

from __future__ import annotations

import os
import re
import zlib
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, assume, currently_in_test_context, event, example, given, settings
from hypothesis import strategies as st
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import globalLogPublisher
from zope.interface import implementer

from ratchetpy import HttpServer, IHttpServerComponent, IoServer, WsServer
from ratchetpy.http.server import HEAD_TIMEOUT, MAX_HEAD_SIZE, MAX_HEADERS, MAX_REQUEST_LINE
from ratchetpy.server.connection import IoConnection
from tests.helpers import Recorder, frame

EXAMPLES = int(os.environ.get("RATCHETPY_FUZZ_EXAMPLES", "800"))


def fuzzSettings(share: float = 1.0):
    """
    Settings for one property: C{share} of L{EXAMPLES} examples, no deadline
    (the machine is shared), no example database left in the checkout.
    """
    return settings(
        max_examples=max(10, int(EXAMPLES * share)),
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


# Statuses the layer may refuse a head with, before and after its timeout: 501
# is h11's answer to a Transfer-Encoding other than chunked (RFC 9112 section
# 6.1); 505 the answer to an HTTP version other than 1.x, see
# test_otherHttpVersionsAreRefused.
REFUSALS = {400, 414, 431, 501, 505}
TIMED_OUT = 408


# The layer in memory


@implementer(IHttpServerComponent)
class Inner:
    """
    The component behind the layer: records what it is told.
    """

    def __init__(self) -> None:
        self.requests: list[object] = []
        self.received = bytearray()
        self.closed = 0
        self.errors: list[BaseException] = []

    def onOpen(self, conn, request):
        self.requests.append(request)

    def onMessage(self, conn, msg):
        assert self.requests, "onMessage before onOpen"
        self.received += msg

    def onClose(self, conn):
        self.closed += 1

    def onError(self, conn, exc):
        self.errors.append(exc)


@dataclass(frozen=True)
class Limits:
    maxRequestLine: int = MAX_REQUEST_LINE
    maxHeadSize: int = MAX_HEAD_SIZE
    maxHeaders: int = MAX_HEADERS

    def options(self) -> dict[str, int]:
        return {
            "maxRequestLine": self.maxRequestLine,
            "maxHeadSize": self.maxHeadSize,
            "maxHeaders": self.maxHeaders,
        }


@dataclass(frozen=True)
class Outcome:
    """
    Where a connection ended up: C{"opened"} (with the raw head and the bytes
    forwarded after it), C{"refused"} (with the status) or C{"waiting"}.
    """

    state: str
    status: int | None = None
    rawHead: bytes | None = None
    forwarded: bytes = b""


class Fed:
    """
    One connection to an L{HttpServer}, fed piece by piece, its invariants
    checked after every piece.
    """

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.clock = Clock()
        self.inner = Inner()
        self.http = HttpServer(self.inner, reactor=self.clock, headTimeout=HEAD_TIMEOUT, **limits.options())
        self.transport = StringTransport(peerAddress=IPv4Address("TCP", "192.0.2.9", 4000))
        self.conn = IoConnection(self.transport)
        self.http.onOpen(self.conn)
        self.sent = bytearray()
        self.outcome = Outcome("waiting")

    def feed(self, piece: bytes) -> Outcome:
        before = self.outcome
        written = self.transport.value()
        self.sent += piece
        result = self.http.onMessage(self.conn, piece)
        assert result is None, "the recording component returns nothing, so neither may the layer"
        self.outcome = self.check()
        if before.state == "refused":
            # Whatever arrives after a refusal is dropped.
            assert self.outcome == before
            assert self.transport.value() == written
        return self.outcome

    def check(self) -> Outcome:
        inner, transport, limits = self.inner, self.transport, self.limits
        written = transport.value()
        if inner.requests:
            assert len(inner.requests) == 1
            request = inner.requests[0]
            assert written == b"", "an opened connection is not written to by the HTTP layer"
            assert not transport.disconnecting
            assert not self.clock.getDelayedCalls(), "the head timer must be cancelled once the head is in"
            exchange = self.http._serving.get(self.conn)
            if request.isWebSocketUpgrade:
                assert exchange is None, "no state may be left for an upgraded connection"
                held = b""
            else:
                # What follows the body is the next request: it waits.
                held = bytes(exchange.buffer)
            assert self.conn.httpRequest is request
            checkRequest(request, bytes(self.sent), limits)
            assert bytes(inner.received) + held == bytes(self.sent[len(request.rawHead) :])
            return Outcome("opened", rawHead=request.rawHead, forwarded=bytes(inner.received) + held)
        assert not inner.received and not inner.closed and not inner.errors
        if written:
            status = checkResponse(written)
            assert status in REFUSALS | {TIMED_OUT}, written
            assert transport.disconnecting
            assert not self.clock.getDelayedCalls()
            assert not self.http._serving[self.conn].buffer, "a refused connection keeps no buffer"
            return Outcome("refused", status=status)
        assert not transport.disconnecting
        reader = self.http._serving[self.conn]
        assert bytes(reader.buffer) == bytes(self.sent), "a waiting connection has consumed nothing"
        assert len(reader.buffer) <= limits.maxHeadSize, "buffered beyond maxHeadSize"
        assert b"\r\n\r\n" not in reader.buffer, "a complete head left waiting"
        assert len(self.clock.getDelayedCalls()) == 1, "the head timer must be running"
        return Outcome("waiting")

    def timeOut(self) -> Outcome:
        """
        Let the head timeout pass.
        """
        self.clock.advance(HEAD_TIMEOUT)
        outcome = self.check()
        if self.outcome.state == "waiting":
            assert outcome.status == TIMED_OUT
        else:
            assert outcome == self.outcome
        return outcome

    def lose(self) -> None:
        """
        The connection is lost: the component hears it only if it was opened,
        and the layer forgets the connection.
        """
        opened = bool(self.inner.requests)
        self.http.onClose(self.conn)
        assert self.inner.closed == (1 if opened else 0)
        assert self.conn not in self.http._serving
        assert not self.clock.getDelayedCalls()


TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
VISIBLE = re.compile(rb"[\x21-\x7e]+")


def checkRequest(request, sent: bytes, limits: Limits) -> None:
    """
    The request the component got is what the raw head says, no more and no
    less, and the head is within the limits.
    """
    raw = request.rawHead
    assert sent.startswith(raw), "the raw head is what was received, from its first byte"
    assert raw.endswith(b"\r\n\r\n") and raw.find(b"\r\n\r\n") == len(raw) - 4
    assert len(raw) <= limits.maxHeadSize
    lines = raw[:-4].split(b"\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b""), "only CRLF line ends"
    assert b"\r" not in raw.replace(b"\r\n", b""), "no lone CR"
    assert len(lines[0]) <= limits.maxRequestLine
    assert len(lines) - 1 <= limits.maxHeaders
    method, target, version = lines[0].split(b" ")
    assert TOKEN.fullmatch(method) and VISIBLE.fullmatch(target)
    # h11 accepts any digit.digit (HTTP/0.0, HTTP/9.9): see
    # test_otherHttpVersionsAreRefused.
    assert re.fullmatch(rb"HTTP/[0-9]\.[0-9]", version)
    assert (request.method, request.target, request.version) == (
        method.decode(),
        target.decode(),
        version[5:].decode(),
    )
    assert request.path + ("?" + request.query if "?" in request.target else "") == request.target
    # Every header line, split naively (as a second parser such as the
    # WebSocket engine's does), gives exactly the headers the component sees.
    naive = []
    for line in lines[1:]:
        assert line[:1] not in (b" ", b"\t"), "obsolete line folding must not be accepted"
        name, colon, value = line.partition(b":")
        assert colon and TOKEN.fullmatch(name)
        naive.append((name.decode("latin-1").lower(), value.strip(b" \t").decode("latin-1")))
    # h11 normalizes two fields, as RFC 9110 sections 8.6 and 9112 6.1 allow:
    # identical Content-Length values become one, Transfer-Encoding is
    # lowercased.
    lengths = {length.strip() for name, value in naive if name == "content-length" for length in value.split(",")}
    if lengths:
        assert len(lengths) == 1, "differing Content-Length values must be refused"
        naive = [pair for pair in naive if pair[0] != "content-length"] + [("content-length", lengths.pop())]
    naive = [(name, value.lower() if name == "transfer-encoding" else value) for name, value in naive]
    seen = [(name, value) for name in request.headers for value in request.headers.getAll(name)]
    assert sorted(seen) == sorted(naive)


def checkResponse(written: bytes) -> int:
    """
    C{written} is one complete HTTP/1.1 response that closes the connection;
    return its status.
    """
    head, separator, body = written.partition(b"\r\n\r\n")
    assert separator, written
    lines = head.split(b"\r\n")
    match = re.fullmatch(rb"HTTP/1\.1 ([1-5][0-9][0-9]) [A-Za-z' -]+", lines[0])
    assert match, lines[0]
    fields = dict(line.split(b": ", 1) for line in lines[1:])
    assert fields[b"Connection"] == b"close"
    assert int(fields[b"Content-Length"]) == len(body)
    return int(match.group(1))


def run(data: bytes, cuts: list[int], limits: Limits, *, timeOut: bool = True) -> Outcome:
    """
    Feed C{data} cut after each of C{cuts} bytes (the rest in one piece),
    checking every step; let the head timeout pass; lose the connection.
    """
    fed = Fed(limits)
    start = 0
    for size in cuts:
        if start >= len(data):
            break
        fed.feed(data[start : start + size])
        start += size
    if start < len(data) or not cuts:
        fed.feed(data[start:])
    outcome = fed.outcome
    if currently_in_test_context():
        event(f"{outcome.state} {outcome.status or ''}")
    if timeOut:
        fed.timeOut()
    fed.lose()
    return outcome


def bytewise(data: bytes) -> list[int]:
    return [1] * len(data)


#: Byte-by-byte feeding is quadratic in the checks above; longer inputs are
#: instead cut right before and after every byte where a limit is crossed.
BYTEWISE_MAX = 1500


def oneByteAtATime(data: bytes, limits: Limits) -> list[int]:
    """
    Cuts that reproduce one-byte-at-a-time feeding where it matters: every
    byte for short inputs; for long ones, single bytes around each limit.
    """
    if len(data) <= BYTEWISE_MAX:
        return bytewise(data)
    marks = set()
    for limit in (limits.maxRequestLine, limits.maxHeadSize):
        marks.update(range(max(0, limit - 3), limit + 4))
    cuts, at = [], 0
    for mark in sorted(marks):
        if mark > at:
            cuts.append(mark - at)
            at = mark
    return cuts


# Strategies

TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
PATH_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-._~%/=&+:@!$'()*,;"
VALUE_CHARS = "".join(map(chr, range(0x21, 0x7F))) + " \t"

tokens = st.text(TOKEN_CHARS, min_size=1, max_size=10)
methods = st.sampled_from(["GET", "HEAD", "POST", "OPTIONS", "PUT"]) | tokens
targets = st.builds(
    lambda path, query: "/" + path + ("?" + query if query else ""),
    st.text(PATH_CHARS, max_size=40),
    st.text(PATH_CHARS, max_size=20),
)
values = st.text(VALUE_CHARS, max_size=40).map(lambda value: value.strip(" \t"))
UPGRADE = [
    ("Upgrade", "websocket"),
    ("Connection", "Upgrade"),
    ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ("Sec-WebSocket-Version", "13"),
]


@st.composite
def requests(draw, extra: int = 8) -> bytes:
    """
    A valid request head, plain or a WebSocket upgrade, sometimes HTTP/1.0,
    with random extra headers.
    """
    version = draw(st.sampled_from(["1.1", "1.1", "1.0"]))
    headers = [("Host", draw(st.sampled_from(["example.com", "127.0.0.1:8080", "[::1]"])))]
    if draw(st.booleans()):
        headers += UPGRADE
    headers += draw(st.lists(st.tuples(tokens, values), max_size=extra))
    headers = draw(st.permutations(headers))
    lines = [f"{draw(methods)} {draw(targets)} HTTP/{version}"] + [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


# Inserted by mutation: line ends, NUL, folds, separators, high bytes, a whole
# head end.
INSERTS = [
    b"\r",
    b"\n",
    b"\r\n",
    b"\n\n",
    b"\x00",
    b" ",
    b"\t",
    b"\r\n ",
    b"\r\n\t",
    b":",
    b"\x7f",
    b"\xff",
    b"\r\n\r\n",
]
# Request-line versions swapped in by mutation.
VERSIONS = [b"HTTP/1.0", b"HTTP/2.0", b"HTTP/0.9", b"HTTP/1.2", b"HTTP/3.0", b"HTTP/11", b"http/1.1", b"HTTP/1.1 "]
# Replacements for one CRLF.
LINE_ENDS = [b"\n", b"\r", b"\n\r", b"\r\r\n", b"\r\n ", b"\r\n\t", b"\r\n\r\n", b""]


@st.composite
def mutated(draw, base=None) -> bytes:
    """
    A valid request head (and sometimes bytes after it) with a few mutations,
    some anywhere, some aimed at the structure: line ends, line starts (folds),
    the version.
    """
    data = bytearray(draw(base if base is not None else requests()))
    if draw(st.booleans()):
        data += draw(st.binary(max_size=30))
    for _ in range(draw(st.integers(1, 3))):
        lineEnds = [match.start() for match in re.finditer(rb"\r\n", data)]
        if lineEnds and draw(st.booleans()):
            # Aim at a line end: the start of a line is just after it.
            at = draw(st.sampled_from(lineEnds)) + draw(st.sampled_from([0, 2]))
        else:
            at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["flip", "insert", "delete", "duplicate", "repeat", "cut", "lineEnd", "version"]))
        if kind == "lineEnd" and lineEnds:
            end = draw(st.sampled_from(lineEnds))
            data[end : end + 2] = draw(st.sampled_from(LINE_ENDS))
        elif kind == "version":
            found = re.search(rb"HTTP/1\.[01]", data)
            if found:
                data[found.start() : found.end()] = draw(st.sampled_from(VERSIONS))
        elif kind == "flip" and at < len(data):
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "insert":
            data[at:at] = draw(st.sampled_from(INSERTS) | st.binary(min_size=1, max_size=4))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 4))]
        elif kind == "duplicate":
            # Repeat the line that contains position `at` (a duplicated header).
            start = data.rfind(b"\r\n", 0, at) + 2 if data.rfind(b"\r\n", 0, at) >= 0 else 0
            end = data.find(b"\r\n", at)
            if end >= 0:
                data[end + 2 : end + 2] = data[start : end + 2] * draw(st.integers(1, 3))
        elif kind == "repeat":
            # Oversize a stretch of the head (a huge value, target or line).
            piece = data[at : at + draw(st.integers(1, 8))]
            data[at:at] = piece * draw(st.integers(1, 200))
        elif kind == "cut":
            del data[at:]
    return bytes(data)


@st.composite
def limitSets(draw) -> Limits:
    """
    Limits small enough that random heads cross them, or the defaults.
    """
    if draw(st.integers(0, 4)) == 0:
        return Limits()
    return Limits(
        maxRequestLine=draw(st.integers(14, 120)),
        maxHeadSize=draw(st.integers(30, 600)),
        maxHeaders=draw(st.integers(1, 12)),
    )


@st.composite
def atTheLimits(draw) -> tuple[bytes, Limits]:
    """
    A valid head whose request line, total size or header count is one of
    just under, at, or just over its limit.
    """
    limits = draw(limitSets())
    head = draw(requests())
    lines = head[:-4].split(b"\r\n")
    which = draw(st.sampled_from(["line", "size", "count"]))
    delta = draw(st.integers(-2, 2))
    if which == "line":
        method, target, version = lines[0].split(b" ")
        want = limits.maxRequestLine + delta - len(method) - len(version) - 2
        assume(want >= 1)
        target = (target + b"x" * want)[:want] if want > len(target) else target[:want]
        target = b"/" + target[1:] if target[:1] != b"/" else target
        lines[0] = b" ".join([method, target, version])
    elif which == "size":
        want = limits.maxHeadSize + delta - len(head)
        assume(want >= -len(lines[-1]) + 2)
        lines.append(b"X-Pad: " + b"p" * max(0, want - 9))
    else:
        want = limits.maxHeaders + delta - (len(lines) - 1)
        lines += [b"X-Many: %d" % i for i in range(max(0, want))]
    return b"\r\n".join(lines) + b"\r\n\r\n", limits


inputs = st.one_of(
    st.binary(max_size=400),
    requests(),
    st.builds(lambda head, cut: head[:cut], requests(), st.integers(0, 400)),
    mutated(),
    mutated(requests(extra=30)),
    st.builds(lambda head, junk: head + junk, requests(), st.binary(max_size=100)),
    st.builds(
        lambda n, tail: b"GET /" + b"a" * n + tail, st.integers(0, 9000), st.sampled_from([b"", b" HTTP/1.1\r\n"])
    ),
)
cutLists = st.lists(st.integers(1, 400), max_size=40)


# Properties


@fuzzSettings(1.0)
@given(inputs, cutLists, limitSets())
@example(b"GET / HTTP/1.1\nHost: x\n\nGET /evil HTTP/1.1\r\nHost: y\r\n\r\n", [], Limits())
@example(b"GET / HTTP/1.1\r\nHost: x\r\n Upgrade: websocket\r\n\r\n", [], Limits())
def test_anyBytesOpenRefuseOrWait(data, cuts, limits):
    """
    Whatever arrives, in whatever pieces: no exception; after every piece the
    connection is opened with a request that is exactly its raw head, refused
    with a complete 4xx (or 501) response, or waiting with at most
    maxHeadSize buffered and the timer running; then 408 once it expires.
    """
    run(data, cuts, limits)


@fuzzSettings(1.0)
@given(st.one_of(inputs, atTheLimits().map(lambda pair: pair[0])), st.data())
def test_sameBytesSameOutcomeHoweverCut(data, draws):
    """
    The same bytes give the same outcome (the same request and forwarded
    bytes, the same status, or still waiting) fed whole, in random pieces,
    and one byte at a time.
    """
    limits = draws.draw(limitSets())
    whole = run(data, [], limits)
    pieces = run(data, draws.draw(cutLists), limits)
    assert pieces == whole
    assert run(data, oneByteAtATime(data, limits), limits) == whole


@fuzzSettings(0.6)
@given(atTheLimits(), st.data())
def test_limitsHoldAtTheirBoundaries(pair, draws):
    """
    A head one or two bytes (or header lines) either side of a limit is opened
    when within it and refused with that limit's status when over, whole, in
    pieces, or byte by byte.
    """
    data, limits = pair
    lines = data[:-4].split(b"\r\n")
    over = []
    if len(lines[0]) > limits.maxRequestLine:
        over.append(414)
    if len(data) > limits.maxHeadSize or len(lines) - 1 > limits.maxHeaders:
        over.append(431)
    outcomes = {
        run(data, [], limits),
        run(data, draws.draw(cutLists), limits),
        run(data, oneByteAtATime(data, limits), limits),
    }
    assert len(outcomes) == 1
    (outcome,) = outcomes
    if over:
        assert outcome.status in over, (outcome, over)
    else:
        assert outcome.state == "opened", outcome
        assert outcome.rawHead == data


# The WebSocket stack behind it, through IoServer


HANDSHAKE = (
    b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


DEFLATE_HANDSHAKE = HANDSHAKE[:-2] + b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"


def deflated(payload: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-15)
    return (compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]


texts = st.text(max_size=200).map(lambda text: text.encode("utf-8"))


@st.composite
def frames(draw) -> bytes:
    """
    Client frames: mostly well-formed (text, binary, fragmented, compressed,
    ping, pong, close), sometimes broken (bad UTF-8, bad opcode, reserved
    bits, unmasked, oversized control frame, a length claiming terabytes,
    corrupt deflate data, bad close codes), or random bytes.
    """
    kind = draw(
        st.sampled_from(
            ["text", "binary", "fragments", "deflated", "ping", "pong", "close"] * 3
            + ["badUtf8", "opcode", "rsv", "unmasked", "bigControl", "huge", "badDeflate", "badClose", "random"]
        )
    )
    if kind == "text":
        return frame(1, draw(texts))
    if kind == "binary":
        return frame(2, draw(st.binary(max_size=300)))
    if kind == "fragments":
        payload = draw(texts)
        cut = draw(st.integers(0, len(payload)))
        return frame(1, payload[:cut], fin=False) + frame(0, payload[cut:])
    if kind == "deflated":
        return frame(1, deflated(draw(texts)), rsv=0x40)
    if kind == "ping":
        return frame(9, draw(st.binary(max_size=125)))
    if kind == "pong":
        return frame(10, draw(st.binary(max_size=125)))
    if kind == "close":
        code = draw(st.sampled_from([1000, 1001, 1002, 1003, 1007, 1008, 1009, 1011, 3000, 4999]))
        return frame(8, code.to_bytes(2, "big") + draw(texts)[:100])
    if kind == "badUtf8":
        return frame(1, draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"a\xf8b"])))
    if kind == "opcode":
        return frame(draw(st.sampled_from([3, 4, 7, 11, 15])), draw(st.binary(max_size=20)))
    if kind == "rsv":
        return frame(1, b"x", rsv=draw(st.sampled_from([0x10, 0x20, 0x30, 0x70])))
    if kind == "unmasked":
        return frame(1, b"hi", mask=None)
    if kind == "bigControl":
        fin = draw(st.booleans())
        return frame(9, b"p" * draw(st.integers(126, 300)), fin=fin)
    if kind == "huge":
        return bytes([0x82, 0xFF]) + draw(st.integers(2**20, 2**63 - 1)).to_bytes(8, "big") + b"mask" + b"x" * 10
    if kind == "badDeflate":
        return frame(1, draw(st.binary(min_size=1, max_size=40)), rsv=0x40)
    if kind == "badClose":
        code = draw(st.sampled_from([0, 999, 1004, 1005, 1006, 1015, 2000, 5000, 65535]))
        return frame(8, code.to_bytes(2, "big")) if draw(st.booleans()) else frame(8, b"\x03")
    return draw(st.binary(max_size=60))


@fuzzSettings(0.5)
@given(
    st.one_of(st.just(HANDSHAKE), st.just(DEFLATE_HANDSHAKE), mutated(st.just(HANDSHAKE))),
    st.lists(frames(), max_size=8),
    cutLists,
)
def test_webSocketStackNeverFailsAHook(head, frameList, cuts):
    """
    A handshake (valid or mutated) followed by random frames, fed in random
    pieces through IoServer.dataReceived to HttpServer(WsServer(component)):
    no hook failure is logged, the component is opened at most once, its
    messages come only after onOpen, and once the connection is lost onClose
    has run exactly once if it was opened, never otherwise.
    """
    clock = Clock()
    failures = []

    def observe(event):
        if event.get("log_failure") is not None:
            failures.append(event)

    component = Recorder()
    data = head + b"".join(frameList)
    globalLogPublisher.addObserver(observe)
    try:
        # The clock reaches every layer from the IoServer: no global reactor.
        server = IoServer(HttpServer(WsServer(component, keepAlive=0, openHandshakeTimeout=0)), reactor=clock)
        protocol = server.buildProtocol(None)
        transport = StringTransport(peerAddress=IPv4Address("TCP", "192.0.2.9", 4000))
        protocol.makeConnection(transport)
        start = 0
        for size in [*cuts, len(data)]:
            if start >= len(data):
                break
            protocol.dataReceived(data[start : start + size])
            start += size
            clock.advance(0.01)
        clock.advance(5)
        protocol.connectionLost(None)
        clock.advance(5)
    finally:
        globalLogPublisher.removeObserver(observe)
    assert failures == [], [failure.get("log_format") for failure in failures]
    hooks = component.hooks()
    event(f"opened, {len(component.messages())} messages" if "onOpen" in hooks else "not opened")
    assert hooks.count("onOpen") <= 1
    if "onOpen" in hooks:
        assert hooks[0] == "onOpen"
        assert hooks.count("onClose") == 1 and hooks[-1] == "onClose"
    else:
        assert hooks == []
    assert "onError" not in hooks
    assert server.connectionCount == 0


@pytest.mark.parametrize(
    "data, status",
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n", 400),
        (b"GET / HTTP/1.1\nHost: x\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\n\nGET /evil HTTP/1.1\r\nHost: y\r\n\r\n", 400),
    ],
    ids=["obsFold", "bareLfInRequestLine", "bareLfBlankLine"],
)
def test_headsTwoParsersReadDifferentlyAreRefused(data, status):
    """
    Heads that h11 accepts but that a second parser reads differently (the
    WebSocket engine replays the raw head) are refused with 400 however they
    arrive: obsolete line folding and bare LF line ends.
    """
    for cuts in ([], [1], bytewise(data)):
        assert run(data, cuts, Limits()) == Outcome("refused", status=status)


@pytest.mark.parametrize("version", [b"2.0", b"0.9", b"0.0", b"9.9"])
def test_otherHttpVersionsAreRefused(version):
    """
    A request line with an HTTP major version other than 1 is refused with
    505 HTTP Version Not Supported, rather than opening the component.
    """
    data = b"GET / HTTP/" + version + b"\r\nHost: x\r\n\r\n"
    assert run(data, [], Limits()) == Outcome("refused", status=505)
