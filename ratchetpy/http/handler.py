# -*- test-case-name: tests.test_static -*-
"""
L{HttpHandler}: the base for plain HTTP endpoints served beside WebSockets.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from ..interfaces import IConnection, IHttpRequest, IHttpServerComponent
from .response import Response, closeWithResponse

log = Logger(namespace="ratchetpy")


@implementer(IHttpServerComponent)
class HttpHandler:
    """
    Answers one HTTP request per connection with the L{Response} that
    L{onRequest} returns.

    Subclass it and override L{onRequest}; it may be a plain method, an
    C{async def}, or return a L{Deferred}. A failing C{onRequest} is logged
    and answered with 500. Put it where a component goes behind
    L{ratchetpy.HttpServer}: as a route of L{ratchetpy.App} or
    L{ratchetpy.Router}, or as the C{http} component of a
    L{ratchetpy.WsServer} (for requests that do not ask for a WebSocket).

    A request body, if any, is not read.
    """

    def onRequest(self, request: IHttpRequest) -> Any:
        """
        Return the L{Response} to C{request} (or a Deferred or coroutine
        resolving to one).
        """
        return Response(404, "404 Not Found\n")

    def onOpen(self, conn: IConnection, request: IHttpRequest) -> defer.Deferred[None]:
        d = defer.maybeDeferred(self.onRequest, request)

        def respond(response: Response) -> None:
            if not isinstance(response, Response):
                raise TypeError(f"{type(self).__name__}.onRequest returned {response!r}, not a Response")
            response.writeTo(conn, headOnly=request.method == "HEAD")

        def failed(failure: Failure) -> None:
            log.failure(
                "{handler}.onRequest failed for {method} {target} on connection {resourceId}",
                failure,
                handler=type(self).__name__,
                method=request.method,
                target=request.target,
                resourceId=conn.resourceId,
            )
            closeWithResponse(conn, 500, "the server failed to answer this request")

        return d.addCallback(respond).addErrback(failed)

    def onMessage(self, conn: IConnection, data: bytes) -> None:
        """
        Bytes after the request head (a body) are ignored.
        """

    def onClose(self, conn: IConnection) -> None:
        pass

    def onError(self, conn: IConnection, exc: BaseException) -> None:
        pass
