"""
One parse of a request head, two readers agreeing on it:
L{ratchetpy.http.request.parsePlainUpgrade} (the plain WebSocket upgrades,
without h11) against h11's L{parseRequest}, and
L{ratchetpy.websocket._autobahn.engineHead} (the parsed head as the
WebSocket engine reads it) against the engine's own C{parseHttpHeader}, on
generated and mutated heads.
"""

from __future__ import annotations

import pytest
from autobahn.websocket.protocol import parseHttpHeader
from hypothesis import event, example, given
from hypothesis import strategies as st

from ratchetpy.http.request import HttpRequest, parsePlainUpgrade, parseRequest
from ratchetpy.http.response import HttpError
from ratchetpy.http.server import _BAD_LINE
from ratchetpy.websocket._autobahn import engineHead
from tests.http.test_fuzz import fuzzSettings

PLAIN = (
    b"GET /chat?a=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
# What Chromium sends.
BROWSER = (
    b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nConnection: Upgrade\r\nPragma: no-cache\r\n"
    b"Cache-Control: no-cache\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"
    b" Chrome/120.0.0.0 Safari/537.36\r\nUpgrade: websocket\r\nOrigin: http://127.0.0.1:8080\r\n"
    b"Sec-WebSocket-Version: 13\r\nAccept-Encoding: gzip, deflate, br\r\nAccept-Language: en-US,en;q=0.9\r\n"
    b"Cookie: session=abc; theme=dark\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\nSec-WebSocket-Protocol: chat\r\n\r\n"
)


def h11Reading(head: bytes) -> HttpRequest | None:
    """
    The request h11 (through L{parseRequest}) reads in C{head}, or C{None} if it refuses it.
    """
    try:
        return parseRequest(head)[0]
    except HttpError:
        return None


def fields(request: HttpRequest) -> tuple[object, ...]:
    """
    Everything a request holds from its head, every header value in order.
    """
    headers = request.headers
    return (
        request.method,
        request.target,
        request.path,
        request.query,
        request.version,
        request.rawHead,
        [(name, headers.getAll(name)) for name in headers],
        request.isWebSocketUpgrade,
    )


def test_plainUpgradesTakeTheShortPath():
    """
    The upgrades clients send are parsed without h11, to the same request.
    """
    for head in (PLAIN, BROWSER, PLAIN.replace(b"Host:", b"host:")):
        fast = parsePlainUpgrade(head)
        assert fast is not None
        assert fields(fast) == fields(parseRequest(head)[0])


@pytest.mark.parametrize(
    "head",
    [
        PLAIN.replace(b"HTTP/1.1", b"HTTP/1.0"),
        PLAIN.replace(b"Upgrade: websocket\r\n", b""),
        PLAIN.replace(b"Host: example.com\r\n", b""),
        PLAIN.replace(b"Host: example.com\r\n", b"Host: a\r\nHost: b\r\n"),
        PLAIN.replace(b"\r\n\r\n", b"\r\nContent-Length: 0\r\n\r\n"),
        PLAIN.replace(b"\r\n\r\n", b"\r\nTransfer-Encoding: chunked\r\n\r\n"),
        PLAIN.replace(b"example.com", b"caf\xe9"),
        PLAIN.replace(b"example.com", b"a\x01b"),
        PLAIN.replace(b"Host: ", b"Host : "),
        PLAIN.replace(b"\r\nUpgrade", b"\r\n Upgrade"),
        PLAIN.replace(b"\r\nConnection", b"\nConnection"),
        PLAIN.replace(b"GET /chat?a=1", b"GET  /chat"),
        PLAIN.replace(b"\r\n\r\n", b"\r\nNo colon here\r\n\r\n"),
        PLAIN[:-2],
    ],
)
def test_everyOtherHeadIsH11s(head):
    """
    A head outside the plain subset (another version, not an upgrade, no or
    two Hosts, a body's framing, bytes beyond printable ASCII, anything h11
    might read differently or refuse) is left to h11.
    """
    assert parsePlainUpgrade(head) is None


LINES = st.sampled_from(
    [
        b"Host: example.com",
        b"Host: x:80",
        b"host:x",
        b"Upgrade: websocket",
        b"upgrade: WebSocket, h2c",
        b"Connection: Upgrade",
        b"Connection: keep-alive, Upgrade",
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        b"Sec-WebSocket-Version: 13",
        b"Sec-WebSocket-Protocol: chat, superchat",
        b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
        b"Origin: http://example.com",
        b"Content-Length: 0",
        b"Content-Length: 0, 0",
        b"Transfer-Encoding: chunked",
        b"Transfer-Encoding: gzip",
        b"X-Empty:",
        b"X-Spaces:   a  b \t ",
        b"X-Tab:\tv",
        b"Cookie: a=1; b=\"two\"",
        b"X-Latin: caf\xe9",
        b"X-Nel: a\x85b",
        b"X-Nbsp: \xa0v\xa0",
        b"X-Control: a\x1cB: c",
        b"X-Del: a\x7fb",
        b"X-Vt: a\x0bb",
        b"Name : value",
        b" folded",
        b"\tfolded",
        b"no colon",
        b":empty name",
        b"Bad\"Name: v",
        b"",
    ]
)
BASE_LINES = PLAIN.split(b"\r\n")[1:-2]
REQUEST_LINES = st.builds(
    lambda method, target, version: method + b" " + target + b" " + version,
    st.sampled_from([b"GET", b"get", b"POST", b"M-SEARCH", b"G\xe9T", b"GET "]),
    st.sampled_from([b"/", b"/chat?room=1&x", b"*", b"http://example.com/a", b"/%20x", b"/caf\xe9", b"/a b", b""]),
    st.sampled_from([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.1 ", b"http/1.1", b"HTTP/11"]),
)


@st.composite
def heads(draw) -> bytes:
    """
    A request head, mostly the lines of a plain upgrade (each may be left
    out) and others from above, in any order, then mutated: a byte
    replaced, inserted or dropped, line ends made bare.
    """
    requestLine = draw(st.one_of(st.just(b"GET /chat HTTP/1.1"), REQUEST_LINES))
    usual = [line for line in BASE_LINES if draw(st.integers(0, 9))]
    lines = [requestLine, *draw(st.permutations(usual + draw(st.lists(LINES, max_size=4))))]
    head = bytearray(b"\r\n".join(lines) + b"\r\n\r\n")
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(head) - 1))
        action = draw(st.sampled_from(["replace", "insert", "drop", "bare"]))
        byte = draw(st.sampled_from([0x00, 0x09, 0x0A, 0x0D, 0x20, 0x3A, 0x2C, 0x41, 0x7F, 0x85, 0xA0, 0xFF]))
        if action == "replace":
            head[at] = byte
        elif action == "insert":
            head.insert(at, byte)
        elif action == "drop":
            del head[at]
        else:
            head[at : at + 2] = b"\n" if head[at : at + 2] == b"\r\n" else head[at : at + 2]
    data = bytes(head)
    # The heads the HTTP layer parses: complete, the first blank line their end.
    end = data.find(b"\r\n\r\n")
    return data[: end + 4] if end >= 0 else data + b"\r\n\r\n"


@fuzzSettings()
@given(heads())
@example(PLAIN)
@example(BROWSER)
@example(PLAIN.replace(b"example.com", b"a\x85Host: b"))
def test_theShortPathReadsAsH11Does(head):
    """
    Whenever the short path parses a head, h11 accepts it and reads the
    same request; and the engine's view of the parsed head is what its own
    parser reads in the head, whenever the engine is given that view.
    """
    event(shortPathAgrees(head))


def shortPathAgrees(head: bytes) -> str:
    """
    Check, for the complete head C{head}, that the short path reads it as
    h11 does and the engine's view of it is the engine's own parse
    (L{test_theShortPathReadsAsH11Does}; also the atheris target's, in
    C{tests/fuzz/fuzz_http.py}); return which way it was read.

    @raise AssertionError: they differ.
    """
    fast = parsePlainUpgrade(head)
    reference = h11Reading(head)
    if fast is not None:
        assert reference is not None, "the short path parsed a head that h11 refuses"
        assert fields(fast) == fields(reference)
    if reference is not None and _BAD_LINE.search(head) is None:
        # What the HTTP layer hands on (it refuses bare LFs and folded lines before h11 reads them).
        view = engineHead(reference)
        if view is not None:
            assert view == parseHttpHeader(head)
            assert engineHead(fast or reference) == view
    return "short path" if fast is not None else "h11 accepts" if reference is not None else "h11 refuses"
