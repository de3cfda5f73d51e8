# -*- test-case-name: tests.http.test_server -*-
"""
The parsed request head that the HTTP layer hands to its component.
"""

from __future__ import annotations

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
        upgrade = self.headers.get("upgrade", "")
        return "websocket" in (token.strip().lower() for token in upgrade.split(","))

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
