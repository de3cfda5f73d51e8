# -*- test-case-name: tests.http.test_server -*-
"""
The parsed request head that the HTTP layer hands to its component.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType

import h11
from zope.interface import implementer

from ..interfaces import IHttpRequest
from .redact import redactTarget
from .response import HttpError


class Headers(Mapping[str, str]):
    """
    Request headers: a read-only mapping with case-insensitive names.

    A header sent several times reads as its values joined by C{", "} (RFC 9110
    section 5.3); L{getAll} returns them one by one.
    """

    __slots__ = ("_values",)

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        values: dict[str, list[str]] = {}
        for name, value in pairs:
            values.setdefault(name.lower(), []).append(value)
        self._values = values

    def __getitem__(self, name: str) -> str:
        return ", ".join(self._values[name.lower()])

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def getAll(self, name: str) -> list[str]:
        """
        Every value of header C{name}, in the order received; C{[]} if absent.
        """
        return list(self._values.get(name.lower(), ()))

    def __repr__(self) -> str:
        return f"Headers({dict(self)!r})"


_NO_PARAMS: Mapping[str, str] = MappingProxyType({})


@implementer(IHttpRequest)
class HttpRequest:
    """
    A parsed HTTP/1.x request head; see L{IHttpRequest}.
    """

    __slots__ = ("method", "target", "path", "query", "version", "headers", "rawHead", "routeParams", "body")

    def __init__(self, method: str, target: str, version: str, headers: Headers, rawHead: bytes = b"") -> None:
        self.method = method
        self.target = target
        path, _, query = target.partition("?")
        self.path = path
        self.query = query
        self.version = version
        self.headers = headers
        self.rawHead = rawHead
        self.routeParams = _NO_PARAMS
        # Read by HttpHandler, when it answers the request.
        self.body = b""

    @property
    def isWebSocketUpgrade(self) -> bool:
        """
        Whether the client asks to switch this connection to WebSocket.
        """
        upgrade = self.headers.get("upgrade", "").lower()
        if upgrade == "websocket":
            return True
        return "websocket" in upgrade and "websocket" in (token.strip() for token in upgrade.split(","))

    def __repr__(self) -> str:
        # Query parameters that carry tokens are not shown: a request in a
        # log line must not leak them.
        return f"<HttpRequest {self.method} {redactTarget(self.target)} HTTP/{self.version}>"


#: The longest line of a request body's chunked framing (a chunk-size line,
#: a trailer) that the HTTP layer waits for: h11's own default.
_MAX_FRAMING_LINE = 16 * 1024


def parseHead(head: bytes) -> HttpRequest:
    """
    Parse a complete request head (request line to blank line included).

    @raise HttpError: the head is not a valid HTTP/1.x request head.
    """
    return parseRequest(head)[0]


def parseRequest(head: bytes) -> tuple[HttpRequest, h11.Connection]:
    """
    Parse a complete request head, as L{parseHead} does, and return the
    request with the h11 parser that read it, which then reads where the
    request's body ends (by its C{Content-Length} or chunked framing).

    @raise HttpError: the head is not a valid HTTP/1.x request head.
    """
    parser = h11.Connection(h11.SERVER, max_incomplete_event_size=max(len(head) + 1, _MAX_FRAMING_LINE))
    try:
        parser.receive_data(head)
        event = parser.next_event()
    except h11.RemoteProtocolError as exc:
        # h11 hints 505 for versions other than 1.x; a client error to us.
        status = exc.error_status_hint if 400 <= exc.error_status_hint < 500 else 400
        raise HttpError(status, f"malformed request head: {exc}") from None
    if not isinstance(event, h11.Request):
        raise HttpError(400, "malformed request head")
    headers = Headers((name.decode("latin-1"), value.decode("latin-1")) for name, value in event.headers)
    request = HttpRequest(
        event.method.decode("ascii"),
        event.target.decode("ascii"),
        event.http_version.decode("ascii"),
        headers,
        head,
    )
    return request, parser


# h11's grammar (h11/_abnf.py) for a request line of HTTP/1.1 and a header
# line, narrowed to printable ASCII (and tabs between the words of a value).
_TOKEN = rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+"
_PLAIN_REQUEST_LINE = re.compile(rb"(" + _TOKEN + rb") ([\x21-\x7e]+) HTTP/1\.1")
_PLAIN_HEADER_LINE = re.compile(rb"(" + _TOKEN + rb"):[ \t]*((?:[\x21-\x7e]+(?:[ \t]+[\x21-\x7e]+)*)?)[ \t]*")
#: Headers whose values h11 checks (or whose framing it reads): a head with
#: one is h11's to parse.
_FRAMING_HEADERS = frozenset((b"content-length", b"transfer-encoding"))


def parsePlainUpgrade(head: bytes) -> HttpRequest | None:
    """
    A complete request head (request line to blank line) parsed, if it is a
    plain WebSocket upgrade: an HTTP/1.1 request of printable ASCII with
    exactly one C{Host} and no C{Content-Length} or C{Transfer-Encoding},
    asking to switch to WebSocket. The request is the one L{parseRequest}
    makes of such a head (h11 accepts it, and reads it the same:
    C{tests/http/test_request.py} checks both on generated heads), at a
    fraction of the cost; C{None} for any other head, which h11 then parses.
    """
    if not head.isascii() or not head.endswith(b"\r\n\r\n"):
        return None
    lines = head[:-4].split(b"\r\n")
    requestLine = _PLAIN_REQUEST_LINE.fullmatch(lines[0])
    if requestLine is None:
        return None
    pairs = []
    hosts = 0
    match = _PLAIN_HEADER_LINE.fullmatch
    for line in lines[1:]:
        field = match(line)
        if field is None:
            return None
        name = field[1].lower()
        if name == b"host":
            hosts += 1
        elif name in _FRAMING_HEADERS:
            return None
        pairs.append((name.decode("ascii"), field[2].decode("ascii")))
    if hosts != 1:
        return None
    request = HttpRequest(requestLine[1].decode("ascii"), requestLine[2].decode("ascii"), "1.1", Headers(pairs), head)
    return request if request.isWebSocketUpgrade else None
