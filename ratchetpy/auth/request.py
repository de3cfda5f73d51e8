# -*- test-case-name: tests.auth.test_authenticate -*-
"""
L{AuthRequest}: what authenticators read credentials from.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from ..interfaces import IConnection, IHttpRequest

if TYPE_CHECKING:
    from ..http.request import Headers


class AuthRequest:
    """
    A request being authenticated, as L{ratchetpy.auth.Authenticate} hands
    it to each authenticator: the parsed request head, and where it comes
    from. Nothing of it is logged.

    @ivar httpRequest: the L{IHttpRequest}.
    @ivar connection: the L{IConnection} it arrived on.
    @ivar session: the session an authenticator read (an L{ISession}), which
        becomes C{conn.session} if that authenticator decides; C{None}.
    """

    def __init__(self, connection: IConnection, httpRequest: IHttpRequest) -> None:
        self.connection = connection
        self.httpRequest = httpRequest
        self.session: Any = None

    @property
    def method(self) -> str:
        """
        The request method, C{"GET"}.
        """
        return self.httpRequest.method

    @property
    def path(self) -> str:
        """
        The path of the request target, as sent.
        """
        return self.httpRequest.path

    @property
    def headers(self) -> Headers:
        """
        The headers, a read-only mapping with case-insensitive names (see
        L{ratchetpy.http.request.Headers}).
        """
        return self.httpRequest.headers

    @property
    def remoteAddress(self) -> str:
        """
        The client's IP address (C{conn.remoteAddress}).
        """
        return self.connection.remoteAddress

    @property
    def routeParams(self) -> Mapping[str, str]:
        """
        The values of the route's placeholders, when a L{ratchetpy.Router} is
        in front.
        """
        return self.httpRequest.routeParams

    @cached_property
    def cookies(self) -> dict[str, str]:
        """
        The cookies of the C{Cookie} header(s), by name (the first of a name
        sent twice).
        """
        cookies: dict[str, str] = {}
        for header in self.headers.getAll("cookie"):
            for pair in header.split(";"):
                name, equals, value = pair.strip().partition("=")
                if equals and name and name not in cookies:
                    value = value.strip()
                    if len(value) >= 2 and value[0] == value[-1] == '"':
                        value = value[1:-1]
                    cookies[name] = value
        return cookies

    @cached_property
    def queryParameters(self) -> dict[str, str]:
        """
        The query parameters, percent-decoded, by name (the first of a name
        sent twice).
        """
        parameters: dict[str, str] = {}
        for name, value in parse_qsl(self.httpRequest.query, keep_blank_values=True):
            parameters.setdefault(name, value)
        return parameters

    @cached_property
    def subProtocols(self) -> list[str]:
        """
        The WebSocket subprotocols the client offers, in its order
        (C{Sec-WebSocket-Protocol}), bearer-token ones included.
        """
        return [
            name.strip()
            for header in self.headers.getAll("sec-websocket-protocol")
            for name in header.split(",")
            if name.strip()
        ]

    def authorization(self, scheme: str) -> str | None:
        """
        The credentials of the C{Authorization} header if it uses C{scheme}
        (case-insensitive: C{"Bearer"}, C{"Basic"}), else C{None}.
        """
        header = self.headers.get("authorization")
        if header is None:
            return None
        given, _, credentials = header.strip().partition(" ")
        if given.lower() != scheme.lower():
            return None
        return credentials.strip()

    def __repr__(self) -> str:
        # No credentials: headers, cookies and the query are left out.
        return f"<AuthRequest {self.method} {self.path} from {self.remoteAddress or 'local peer'}>"
