# -*- test-case-name: tests.http.test_handler,tests.http.test_static -*-
"""
L{HttpHandler}: the base for plain HTTP endpoints served beside WebSockets.
"""

from __future__ import annotations

from typing import Any

import h11
from twisted.internet import defer
from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure
from zope.interface import implementer

from ..interfaces import IConnection, IHttpRequest, IHttpServerComponent
from ..options import BODY_TIMEOUT, HTTP_HANDLER, MAX_BODY_SIZE, option
from .redact import redactTarget
from .response import Response, closeWithResponse

log = Logger(namespace="ratchetpy")


class _BodyReader:
    """
    A request whose body is still arriving.
    """

    __slots__ = ("request", "parser", "chunks", "size", "timer")

    def __init__(self, request: IHttpRequest, parser: h11.Connection, timer: Any) -> None:
        self.request = request
        self.parser = parser
        self.chunks: list[bytes] = []
        self.size = 0
        self.timer = timer


@implementer(IHttpServerComponent)
class HttpHandler:
    """
    Answers each HTTP request with the L{Response} that L{onRequest}
    returns. On a persistent connection each request is opened and closed
    on its own (see L{ratchetpy.HttpServer}), so the handler keeps nothing
    of one request for the next.

    Subclass it and override L{onRequest}; it may be a plain method, an
    C{async def}, or return a L{Deferred<twisted.internet.defer.Deferred>}. A failing C{onRequest} is logged
    and answered with 500. Put it where a component goes behind
    L{ratchetpy.HttpServer}: as a route of L{ratchetpy.App} or
    L{ratchetpy.Router}, or as the C{http} component of a
    L{ratchetpy.WsServer} (for requests that do not ask for a WebSocket).

    The request body (by C{Content-Length}, or C{Transfer-Encoding:
    chunked}) is read before L{onRequest} is called, and is
    C{request.body}, C{bytes} (C{b""} without one). Refused, with a
    plain-text response and the connection closed:
        - a body larger than C{maxBodySize} bytes: 413;
        - a body not complete within C{bodyTimeout} seconds of the request
          head: 408;
        - a malformed body (bad chunk framing): 400.

    @cvar maxBodySize: the default largest body, in bytes.
    @cvar bodyTimeout: the default seconds a body may take to arrive.
    """

    maxBodySize: int = MAX_BODY_SIZE
    bodyTimeout: float = BODY_TIMEOUT
    #: The reactor for the body timeout; C{None}: the reactor of the server
    #: that accepted each connection (C{conn.io.reactor}).
    reactor: Any = None

    def __init__(
        self, *, maxBodySize: int | None = None, bodyTimeout: float | None = None, reactor: Any = None
    ) -> None:
        """
        @param maxBodySize: the largest request body accepted, in bytes
            (larger: 413); default L{MAX_BODY_SIZE}, 64 KiB.
        @param bodyTimeout: seconds from the request head to a complete body
            (slower: 408); default L{BODY_TIMEOUT}.
        @param reactor: the reactor for the body timeout (a
            L{twisted.internet.task.Clock} in tests); default: the reactor
            of the server that accepted the connection.
        """
        if reactor is not None:
            self.reactor = reactor
        # None: the class attribute, which a subclass may override.
        if maxBodySize is not None:
            self.maxBodySize = option("maxBodySize", HTTP_HANDLER).check(maxBodySize)
        if bodyTimeout is not None:
            self.bodyTimeout = option("bodyTimeout", HTTP_HANDLER).check(bodyTimeout)

    def onRequest(self, request: IHttpRequest) -> Any:
        """
        Return the L{Response} to C{request} (or a Deferred or coroutine
        resolving to one). C{request.body} is its body, C{bytes}.
        """
        return Response(404, "404 Not Found\n")

    # Connections whose body is being read. A dict per handler, made on first
    # use: subclasses need not call this class's __init__.
    @property
    def _bodies(self) -> dict[IConnection, _BodyReader]:
        bodies = self.__dict__.get("_bodyReaders")
        if bodies is None:
            bodies = self.__dict__["_bodyReaders"] = {}
        return bodies

    def onOpen(self, conn: IConnection, request: IHttpRequest) -> Any:
        headers = request.headers
        if "content-length" not in headers and "transfer-encoding" not in headers:
            request.body = b""
            return self._respond(conn, request)
        length = headers.get("content-length", "").strip()
        if length.isdigit() and int(length) > self.maxBodySize:
            closeWithResponse(conn, 413, f"request body of {length} bytes is larger than {self.maxBodySize} bytes")
            return None
        # h11 reads the body, chunked or by length, from the head it checked
        # already (HttpServer parsed the same bytes).
        parser = h11.Connection(h11.SERVER)
        try:
            parser.receive_data(request.rawHead)
            event = parser.next_event()
        except h11.RemoteProtocolError as exc:
            closeWithResponse(conn, 400, f"malformed request: {exc}")
            return None
        if not isinstance(event, h11.Request):
            closeWithResponse(conn, 400, "malformed request head")
            return None
        if parser.client_is_waiting_for_100_continue:
            conn.io.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        reactor = self.reactor
        if reactor is None:
            reactor = conn.io.reactor
            if reactor is None:
                raise RuntimeError(
                    f"{type(self).__name__} has no reactor for its body timeout: pass it reactor=..., or serve it "
                    "from an IoServer (whose reactor is conn.io.reactor)"
                )
        timer = reactor.callLater(self.bodyTimeout, self._bodyTimedOut, conn)
        self._bodies[conn] = _BodyReader(request, parser, timer)
        # Nothing to wait for: the HTTP layer hands over the body's bytes
        # only once this hook has returned.
        return self._read(conn, b"")

    def onMessage(self, conn: IConnection, data: bytes) -> Any:
        """
        Bytes of the request body (the HTTP layer keeps what follows it for
        the next request).
        """
        if conn in self._bodies:
            return self._read(conn, data)
        return None

    def _read(self, conn: IConnection, data: bytes) -> Any:
        reader = self._bodies[conn]
        parser = reader.parser
        try:
            if data:
                # (h11 takes b"" as the end of the connection.)
                parser.receive_data(data)
            while True:
                event = parser.next_event()
                if isinstance(event, h11.Data):
                    reader.size += len(event.data)
                    if reader.size > self.maxBodySize:
                        self._refuse(conn, 413, f"request body larger than {self.maxBodySize} bytes")
                        return None
                    reader.chunks.append(bytes(event.data))
                elif isinstance(event, h11.EndOfMessage):
                    break
                else:
                    return None
        except h11.RemoteProtocolError as exc:
            self._refuse(conn, 400, f"malformed request body: {exc}")
            return None
        self._forget(conn)
        request = reader.request
        request.body = b"".join(reader.chunks)
        return self._respond(conn, request)

    def _refuse(self, conn: IConnection, status: int, message: str) -> None:
        self._forget(conn)
        closeWithResponse(conn, status, message)

    def _forget(self, conn: IConnection) -> None:
        reader = self._bodies.pop(conn, None)
        if reader is not None and reader.timer.active():
            reader.timer.cancel()

    def _bodyTimedOut(self, conn: IConnection) -> None:
        if conn in self._bodies:
            self._refuse(conn, 408, f"request body not received within {self.bodyTimeout:g} seconds")

    def _respond(self, conn: IConnection, request: IHttpRequest) -> defer.Deferred[None]:
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
                target=redactTarget(request.target),
                resourceId=conn.resourceId,
                level=LogLevel.error,
            )
            closeWithResponse(conn, 500, "the server failed to answer this request")

        return d.addCallback(respond).addErrback(failed)

    def onClose(self, conn: IConnection) -> None:
        self._forget(conn)

    def onError(self, conn: IConnection, exc: BaseException) -> None:
        pass
