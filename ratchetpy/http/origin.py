# -*- test-case-name: tests.test_origin -*-
"""
L{OriginCheck}: refuses requests from web pages of other sites (PHP Ratchet's
C{OriginCheck}).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from ..decorator import ComponentDecorator
from ..interfaces import IConnection, IHttpRequest, IHttpServerComponent
from .response import closeWithResponse

_DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}


def _hostAndPort(netloc: str, scheme: str) -> tuple[str, int | None]:
    try:
        parts = urlsplit(f"//{netloc}")
        port = parts.port if parts.port is not None else _DEFAULT_PORTS.get(scheme)
    except ValueError:
        # A malformed port or IPv6 literal (the client's own headers): it
        # matches nothing.
        return "", None
    return (parts.hostname or ""), port


class OriginCheck(ComponentDecorator):
    """
    Answers 403 to a request whose C{Origin} header names a site that is not
    allowed, so that a page on another site cannot open a WebSocket to this
    server with its visitor's cookies (cross-site WebSocket hijacking).

    Allowed:
        - requests without an C{Origin} header (clients that are not browsers;
          they can send any header they like, so refusing them protects
          nothing), unless C{allowMissing} is false;
        - pages of this server's own host: the C{Origin}'s host name equal to
          the one in the request's C{Host} header, whatever the scheme and
          port (a site on port 443 whose WebSocket server listens on 8080),
          unless C{allowSameOrigin} is false;
        - every entry of C{allowedOrigins}: a host name (C{"example.com"},
          any scheme and port, as in Ratchet), a host and port
          (C{"example.com:8443"}), or a full origin
          (C{"https://example.com"}); C{"*"} allows every origin, C{"null"}
          the origin browsers send from sandboxed frames and local files.

    @ivar allowedOrigins: the list above; it may be changed while serving.
    """

    def __init__(
        self,
        component: IHttpServerComponent,
        allowedOrigins: Iterable[str] = (),
        *,
        allowMissing: bool = True,
        allowSameOrigin: bool = True,
    ) -> None:
        super().__init__(component)
        self.allowedOrigins = list(allowedOrigins)
        self.allowMissing = allowMissing
        self.allowSameOrigin = allowSameOrigin
        self._refused: set[IConnection] = set()

    def isAllowed(self, request: IHttpRequest) -> bool:
        """
        Whether C{request}'s C{Origin} is allowed.
        """
        origin = request.headers.get("origin")
        if origin is None:
            return self.allowMissing
        origin = origin.strip().lower()
        allowed = self.allowedOrigins
        if "*" in allowed or origin in allowed:
            return True
        try:
            parts = urlsplit(origin)
        except ValueError:
            return False
        if not parts.scheme or not parts.hostname:
            return False
        host, port = _hostAndPort(parts.netloc, parts.scheme)
        if not host:
            return False
        if self.allowSameOrigin:
            requestHost = request.headers.get("host", "").strip().lower()
            if requestHost and host == _hostAndPort(requestHost, parts.scheme)[0]:
                return True
        for entry in allowed:
            entry = entry.lower()
            if "://" in entry:
                entryParts = urlsplit(entry)
                if entryParts.scheme == parts.scheme and _hostAndPort(entryParts.netloc, entryParts.scheme) == (
                    host,
                    port,
                ):
                    return True
            elif ":" in entry:
                if (host, port) == _hostAndPort(entry, parts.scheme):
                    return True
            elif entry == host:
                return True
        return False

    def onOpen(self, conn: IConnection, request: IHttpRequest) -> object:  # type: ignore[override]
        if self.isAllowed(request):
            return super().onOpen(conn, request)
        self._refused.add(conn)
        closeWithResponse(
            conn,
            403,
            f"origin {request.headers.get('origin')!r} is not allowed; "
            "add it to the allowed origins (OriginCheck / App.route allowedOrigins)",
        )
        return None

    def onMessage(self, conn: IConnection, msg: object) -> object:
        if conn in self._refused:
            return None
        return super().onMessage(conn, msg)

    def onClose(self, conn: IConnection) -> object:
        if conn in self._refused:
            self._refused.discard(conn)
            return None
        return super().onClose(conn)

    def onError(self, conn: IConnection, exc: BaseException) -> object:
        if conn in self._refused:
            return None
        return super().onError(conn, exc)
