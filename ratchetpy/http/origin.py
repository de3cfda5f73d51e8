# -*- test-case-name: tests.http.test_origin -*-
"""
L{OriginCheck}: refuses requests from web pages of other sites (PHP Ratchet's
C{OriginCheck}).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from ..decorator import ComponentDecorator
from ..interfaces import IConnection, IHttpRequest, IHttpServerComponent
from .host import DEFAULT_PORTS, HostAndPort, parseHost
from .response import closeWithResponse


def _origin(url: str) -> tuple[str, HostAndPort] | None:
    """
    The scheme and the host and port (the scheme's default if none) of
    C{url}, lower case already; C{None} if it is malformed (the client's own
    header, or a typo in the configuration): it matches nothing.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if not parts.scheme:
        return None
    hostAndPort = parseHost(parts.netloc, DEFAULT_PORTS.get(parts.scheme))
    if hostAndPort is None:
        return None
    return parts.scheme, hostAndPort


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
          IPv6 addresses are written in brackets, as in URLs and C{Host}
          headers (C{"[2001:db8::1]"}, C{"[2001:db8::1]:8443"}).

    Host names are compared as L{ratchetpy.http.host.parseHost} reads them
    (the same parser as L{ratchetpy.Router}'s C{httpHost}); a malformed
    C{Origin} or C{Host} matches nothing.

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
        parsed = _origin(origin)
        if parsed is None:
            return False
        host, port = parsed[1]
        if self.allowSameOrigin:
            requestHost = parseHost(request.headers.get("host", ""))
            if requestHost is not None and requestHost.host == host:
                return True
        for entry in allowed:
            entry = entry.lower()
            if "://" in entry:
                if _origin(entry) == parsed:
                    return True
                continue
            # A host name (any port) or host:port, as a Host header is written.
            entryHost = parseHost(entry)
            if entryHost is not None and entryHost.host == host and entryHost.port in (None, port):
                return True
        return False

    def onOpen(self, conn: IConnection, request: IHttpRequest) -> object:
        if self.isAllowed(request):
            return super().onOpen(conn, request)
        self.refuse(conn)
        closeWithResponse(
            conn,
            403,
            f"origin {request.headers.get('origin')!r} is not allowed; "
            "add it to the allowed origins (OriginCheck / App.route allowedOrigins)",
            reason="origin",
        )
        return None
