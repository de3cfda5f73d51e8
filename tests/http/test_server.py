"""
HttpServer in memory: request heads fed whole and byte by byte, limits,
timeouts, and what the component behind it sees.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from zope.interface.verify import verifyObject

from ratchetpy import HttpServer, IHttpServerComponent, IMessageComponent, IoServer
from ratchetpy.http.request import Headers, parseHead
from ratchetpy.http.response import HttpError
from tests.helpers import HttpRecorder, statusOf

GET = b"GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\nX-Twice: a\r\nx-twice: b\r\n\r\n"


def connect(**options):
    """
    An HttpServer behind an IoServer on a StringTransport, driven by a Clock.
    """
    clock = Clock()
    inner = HttpRecorder()
    http = HttpServer(inner, reactor=clock, **options)
    protocol = IoServer(http, reactor=clock).buildProtocol(None)
    transport = StringTransport(peerAddress=IPv4Address("TCP", "192.0.2.7", 4321))
    protocol.makeConnection(transport)
    return protocol, transport, inner, clock, http


def test_implementsInterfaces():
    """
    HttpServer provides IMessageComponent; the recording stand-in provides
    IHttpServerComponent, so both sides of the layer are checked.
    """
    verifyObject(IMessageComponent, HttpServer(HttpRecorder()))
    verifyObject(IHttpServerComponent, HttpRecorder())


@pytest.mark.parametrize("chunk", [None, 1, 7])
def test_completeHeadOpensComponent(chunk):
    """
    Fed whole or in pieces down to one byte at a time, a request head opens the
    component once, with the parsed request; nothing is written back.
    """
    protocol, transport, inner, clock, _ = connect()
    pieces = [GET] if chunk is None else [GET[i : i + chunk] for i in range(0, len(GET), chunk)]
    for piece in pieces:
        protocol.dataReceived(piece)
    assert [event[0] for event in inner.events] == ["onOpen"]
    _, conn, request = inner.events[0]
    assert (request.method, request.path, request.query, request.version) == ("GET", "/chat", "room=1", "1.1")
    assert request.headers["host"] == "example.com"
    assert request.headers["X-TWICE"] == "a, b"
    assert request.headers.getAll("x-twice") == ["a", "b"]
    assert request.rawHead == GET
    assert conn.httpRequest is request
    assert conn.remoteAddress == "192.0.2.7"
    assert transport.value() == b""
    assert not clock.getDelayedCalls(), "the head timeout must be cancelled"


POST = b"POST /p HTTP/1.1\r\nHost: example.com\r\nContent-Length: 11\r\n\r\n"


def test_bodyIsForwarded():
    """
    The bytes of the body that arrive with the head and later reach the
    component's onMessage, in order; what follows the body waits for the
    response (it is the next request).
    """
    protocol, _, inner, _, http = connect()
    protocol.dataReceived(POST + b"first")
    protocol.dataReceived(b"secondGET / HTTP/1.1\r\n")
    assert [event[0] for event in inner.events] == ["onOpen", "onMessage", "onMessage"]
    assert [event[2] for event in inner.events[1:]] == [b"first", b"second"]
    assert bytes(http._serving[protocol._connection].buffer) == b"GET / HTTP/1.1\r\n"


def test_upgradeBytesAreForwarded():
    """
    After the head of a WebSocket upgrade, every byte is the component's.
    """
    protocol, _, inner, _, _ = connect()
    head = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    protocol.dataReceived(head + b"first")
    protocol.dataReceived(b"second")
    assert [event[0] for event in inner.events] == ["onOpen", "onMessage", "onMessage"]
    assert [event[2] for event in inner.events[1:]] == [b"first", b"second"]


def test_closeIsForwardedOnlyAfterOpen():
    """
    The component hears onClose for a connection it was opened with, and
    nothing for one whose head never completed.
    """
    protocol, _, inner, clock, _ = connect()
    protocol.dataReceived(b"GET / HTTP/1.1\r\n")
    protocol.connectionLost(None)
    assert inner.events == []
    assert not clock.getDelayedCalls()

    protocol, _, inner, _, _ = connect()
    protocol.dataReceived(GET)
    protocol.connectionLost(None)
    assert [event[0] for event in inner.events] == ["onOpen", "onClose"]


@pytest.mark.parametrize(
    "data, expected",
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n\r\n", 400),  # HTTP/1.1 without Host
        (b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", 400),
        (b"GET / HTTP/1.1\nHost: x\n\n", 400),  # bare LF line ends
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET /" + b"a" * 9000, 414),  # request line still incomplete
        (b"GET / HTTP/1.1\r\nHost: x\r\nCookie: " + b"c" * 17000 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\nHost: x\r\nCookie: " + b"c" * 17000, 431),  # head still incomplete
        (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 101 + b"\r\n", 431),
    ],
)
def test_badHeadsAreRefused(data, expected):
    """
    A malformed or oversized head gets the right 4xx status and a closed
    connection; the component never hears of it, and later bytes are dropped.
    """
    protocol, transport, inner, _, _ = connect()
    protocol.dataReceived(data)
    assert statusOf(transport.value()) == expected
    assert b"Connection: close" in transport.value()
    assert transport.disconnecting
    protocol.dataReceived(GET)
    protocol.connectionLost(None)
    assert inner.events == []


def test_limitsAreOptions():
    """
    The head size and header count limits can be raised and lowered.
    """
    protocol, transport, inner, _, _ = connect(maxHeadSize=64)
    protocol.dataReceived(GET + b"x" * 10)
    assert statusOf(transport.value()) == 431

    protocol, transport, inner, _, _ = connect(maxHeaders=2)
    protocol.dataReceived(GET)
    assert statusOf(transport.value()) == 431

    protocol, transport, inner, _, _ = connect(maxHeaders=3, maxHeadSize=len(GET))
    protocol.dataReceived(GET)
    assert [event[0] for event in inner.events] == ["onOpen"]


def test_slowHeadTimesOut():
    """
    A client that sends part of a head and stalls gets 408 after headTimeout
    seconds and is disconnected (slowloris).
    """
    protocol, transport, inner, clock, _ = connect(headTimeout=3)
    protocol.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\n")
    clock.advance(2.9)
    assert transport.value() == b""
    clock.advance(0.2)
    assert statusOf(transport.value()) == 408
    assert transport.disconnecting
    assert inner.events == []


def test_parseHeadRejectsIncompleteHead():
    """
    parseHead only accepts a complete head and says what was wrong.
    """
    with pytest.raises(HttpError) as info:
        parseHead(b"GET / HTTP/1.1\r\nHost")
    assert info.value.status == 400


def test_headersMapping():
    """
    Headers is a read-only mapping with case-insensitive names.
    """
    headers = Headers([("Origin", "http://a"), ("X-A", "1"), ("x-a", "2")])
    assert headers["ORIGIN"] == "http://a"
    assert "origin" in headers and "nope" not in headers
    assert headers.get("nope") is None
    assert sorted(headers) == ["origin", "x-a"]
    assert len(headers) == 2
    assert headers.getAll("X-A") == ["1", "2"]


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=600),
        st.builds(lambda cut, junk: GET[:cut] + junk, st.integers(0, len(GET)), st.binary(max_size=200)),
        st.builds(
            lambda at, byte: GET[:at] + bytes([byte]) + GET[at + 1 :], st.integers(0, len(GET) - 1), st.integers(0, 255)
        ),
    ),
    st.integers(1, 64),
)
def test_anyInputIsOpenedRefusedOrBuffered(data, chunk):
    """
    Whatever bytes arrive, in whatever pieces, the layer never raises: it opens
    the component, answers a 4xx and closes, or is still waiting with no more
    than its limit buffered.
    """
    protocol, transport, inner, _, http = connect(maxHeadSize=256)
    for i in range(0, len(data), chunk):
        protocol.dataReceived(data[i : i + chunk])
    opened = [event for event in inner.events if event[0] == "onOpen"]
    if opened:
        assert transport.value() == b""
    elif transport.value():
        # 4xx, 501 for a Transfer-Encoding other than chunked, 505 for an HTTP version other than 1.x.
        assert 400 <= statusOf(transport.value()) < 500 or statusOf(transport.value()) in (501, 505)
        assert transport.disconnecting
    else:
        reader = http._serving[protocol._connection]
        assert len(reader.buffer) <= 256
