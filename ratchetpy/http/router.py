# -*- test-case-name: tests.http.test_router -*-
"""
L{Router}: several components on one port, chosen by request path, method and
host (PHP Ratchet's C{Router}).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

from twisted.logger import Logger
from zope.interface import implementer

from ..interfaces import IConnection, IHttpRequest, IHttpServerComponent
from .host import parseHost
from .response import HttpError, closeWithResponse, respondWithError

#: Refusals that say nothing against the client: a persistent connection
#: stays open for its next request (a page's missing favicon, say).
_KEEPS_CONNECTION = frozenset({404, 405})

log = Logger(namespace="ratchetpy")

_PLACEHOLDER = re.compile(r"\{(\w+)(?::(path))?\}")


def compilePattern(pattern: str) -> re.Pattern[str]:
    """
    Compile a route pattern: literal text, C{{name}} for one path segment,
    and a final C{{name:path}} for the rest of the path, slashes included.
    """
    if not pattern.startswith("/"):
        raise ValueError(f"route {pattern!r} must start with '/'")
    regex = []
    position = 0
    for match in _PLACEHOLDER.finditer(pattern):
        regex.append(re.escape(pattern[position : match.start()]))
        if match.group(2):
            if match.end() != len(pattern):
                raise ValueError(f"route {pattern!r}: {{{match.group(1)}:path}} must come last")
            regex.append(f"(?P<{match.group(1)}>.*)")
        else:
            regex.append(f"(?P<{match.group(1)}>[^/]+)")
        position = match.end()
    regex.append(re.escape(pattern[position:]))
    return re.compile("".join(regex) + r"\Z")


class Route:
    """
    One route of a L{Router}.
    """

    __slots__ = ("pattern", "component", "methods", "host", "opened", "_regex")

    def __init__(self, pattern: str, component: IHttpServerComponent, methods: Iterable[str], host: str | None) -> None:
        self.pattern = pattern
        self.component = component
        self.methods = frozenset(method.upper() for method in methods)
        if "GET" in self.methods:
            self.methods |= {"HEAD"}
        # As parseHost gives a Host header's host: IPv6 without brackets.
        self.host = host.strip().lower().removeprefix("[").removesuffix("]") if host else None
        #: Requests (WebSocket upgrades among them) handed to this route.
        self.opened = 0
        self._regex = compilePattern(pattern)

    def matchPath(self, path: str) -> dict[str, str] | None:
        match = self._regex.match(path)
        if match is None:
            return None
        return {name: unquote(value) for name, value in match.groupdict().items()}


@implementer(IHttpServerComponent)
class RequestSwitch:
    """
    The base of HTTP-layer components that hand each connection to one of
    several components, chosen by its request: L{choose} picks it in
    C{onOpen}, and the connection's later events go to the same component.

    A request that L{choose} refuses (raising L{HttpError}) gets that
    response, and no component hears of the request, neither its body nor
    its close; after a 404 or 405 a persistent connection stays open for the
    next request, which is chosen for anew (each request of a persistent
    connection is opened and closed on its own: see L{ratchetpy.HttpServer}).
    """

    def __init__(self) -> None:
        self._routed: dict[IConnection, IHttpServerComponent] = {}

    def choose(self, request: IHttpRequest) -> IHttpServerComponent:
        """
        The component for C{request}; it may also set attributes of
        C{request} (such as C{routeParams}) for that component to read.

        @raise HttpError: no component takes C{request}; the response says
            why.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement choose()")

    def onOpen(self, conn: IConnection, request: IHttpRequest) -> object:
        try:
            component = self.choose(request)
        except HttpError as error:
            if error.status in _KEEPS_CONNECTION:
                respondWithError(conn, error.status, error.message, error.headers)
            else:
                closeWithResponse(conn, error.status, error.message, error.headers)
            return None
        self._routed[conn] = component
        return component.onOpen(conn, request)

    def onMessage(self, conn: IConnection, data: Any) -> object:
        component = self._routed.get(conn)
        if component is None:
            return None
        return component.onMessage(conn, data)

    def passesBytes(self, conn: IConnection) -> tuple[Any, IConnection] | None:
        """
        Where L{onMessage} hands C{conn}'s bytes unchanged: the component
        chosen for it; C{None} if none is (see L{ratchetpy.server.direct}).
        """
        component = self._routed.get(conn)
        return None if component is None else (component, conn)

    #: The C{onMessage} that L{passesBytes} describes.
    passesBytesOnMessage = onMessage

    def onClose(self, conn: IConnection) -> object:
        component = self._routed.pop(conn, None)
        if component is None:
            return None
        return component.onClose(conn)

    def onError(self, conn: IConnection, exc: BaseException) -> object:
        component = self._routed.get(conn)
        if component is None:
            return None
        return component.onError(conn, exc)


class Router(RequestSwitch):
    """
    Hands each request to the component of the first route that matches its
    path, method and host.

    Patterns are literal paths (C{"/chat"}) with C{{name}} placeholders for
    one segment (C{"/rooms/{room}"}) and a final C{{name:path}} for the rest
    of the path (C{"/static/{path:path}"}); the values are in the request's
    C{routeParams}. Routes allowing C{GET} also allow C{HEAD}.

    Refused, with a log line saying why:
        - no route for the path: 404;
        - a route for the path, but not for this method: 405 with C{Allow};
        - routes for the path, but each for another C{Host}: 404.

    A route's C{httpHost} is compared with the host of the request's
    C{Host} header as L{ratchetpy.http.host.parseHost} reads it (lower case,
    without port or IPv6 brackets); a malformed C{Host} matches only routes
    for any host.
    """

    def __init__(self) -> None:
        super().__init__()
        self.routes: list[Route] = []

    def addRoute(
        self,
        pattern: str,
        component: IHttpServerComponent,
        *,
        methods: Iterable[str] = ("GET",),
        httpHost: str | None = None,
    ) -> Route:
        """
        Route requests for C{pattern} to C{component}; if C{httpHost} is
        given, only requests whose C{Host} header names it (any port).
        """
        if not IHttpServerComponent.providedBy(component):
            raise TypeError(
                f"{component!r} is not an HTTP-layer component; wrap a message component in "
                "WsServer(...) first (App.route does it for you)"
            )
        route = Route(pattern, component, methods, httpHost)
        self.routes.append(route)
        return route

    def match(self, request: IHttpRequest) -> tuple[Route, dict[str, str]]:
        """
        The route for C{request} and its placeholder values.

        @raise HttpError: 404 or 405, saying why.
        """
        parsedHost = parseHost(request.headers.get("host", ""))
        host = parsedHost.host if parsedHost is not None else None
        pathMatched = False
        allowed: set[str] = set()
        for route in self.routes:
            params = route.matchPath(request.path)
            if params is None:
                continue
            pathMatched = True
            if route.host is not None and route.host != host:
                continue
            if request.method not in route.methods:
                allowed |= route.methods
                continue
            return route, params
        if allowed:
            raise HttpError(
                405,
                f"{request.method} is not allowed on {request.path}",
                [("Allow", ", ".join(sorted(allowed)))],
            )
        if pathMatched:
            named = host if host is not None else request.headers.get("host", "")
            raise HttpError(404, f"no route for {request.path} on host {named!r} (routes there are for other hosts)")
        raise HttpError(404, f"no route for {request.path}")

    def choose(self, request: IHttpRequest) -> IHttpServerComponent:
        """
        The component of the route that L{match}es C{request}, which then
        has the route's placeholder values as C{routeParams}.

        @raise HttpError: 404 or 405, saying why.
        """
        route, params = self.match(request)
        route.opened += 1
        if params:
            request.routeParams = params
        return route.component
