# -*- test-case-name: tests.http.test_keepalive,tests.http.test_server -*-
"""
One connection's HTTP state behind L{ratchetpy.HttpServer}: the request head
being read, the request being served and where its body ends, the requests
pipelined behind it, persistence (keep-alive) and the connection's timers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import h11

from .._dispatch import HookDispatcher, andThen
from ..interfaces import IConnection
from .response import HttpError, _exchanges, closeWithResponse

if TYPE_CHECKING:
    from .server import HttpServer


#: The internal step an exchange queues behind a finished request's
#: C{onClose}: read the connection's next request.
_NEXT_REQUEST = "_nextRequest"

# What an exchange is doing.
#: Reading a request head (the first, or the next on a persistent connection).
_READING = "reading"
#: A request has been handed to the component; its response is not complete.
_SERVING = "serving"
#: A WebSocket upgrade was handed to the component: every byte is its.
_UPGRADED = "upgraded"
#: Refused, timed out, or the last response written: what arrives is dropped.
_CLOSING = "closing"
#: The connection is gone.
_CLOSED = "closed"


def wantsKeepAlive(request: Any) -> bool:
    """
    Whether C{request} lets its connection persist after the response: an
    HTTP/1.1 request without C{Connection: close}, or an HTTP/1.0 one with
    C{Connection: keep-alive} (RFC 9112 section 9.3).
    """
    tokens = {token.strip().lower() for token in request.headers.get("connection", "").split(",")}
    if request.version == "1.0":
        return "keep-alive" in tokens
    return "close" not in tokens


class _Exchange(HookDispatcher):
    """
    The HTTP state of one connection: the request head being read, the
    request being served and where its body ends, the requests pipelined
    behind it, and the connection's timers.

    The component's hooks for the connection's plain HTTP requests are
    called through this dispatcher (so that they are ordered and awaited,
    and a failing one is reported to C{onError}, as the server's dispatcher
    does), because the end of a response, which starts the next request, can
    come at any time: when a file has been streamed, say.
    """

    def __init__(self, server: HttpServer, conn: IConnection) -> None:
        self._server = server
        self._component = server.component
        self._connection = conn
        self.state = _READING
        self.buffer = bytearray()
        self.timer: Any = None
        #: Whether C{timer} is the idle timer between requests (expiry closes
        #: the connection quietly) rather than the head timer (408).
        self.idle = False
        self.requests = 0
        #: The h11 parser reading the current request's body; C{None} once
        #: it has ended (or its framing was malformed: see C{framed}).
        self.parser: Any = None
        self.framed = True
        #: Whether the current request may be followed by another one.
        self.persist = False
        self.responding = False
        #: Whether the component has had C{onOpen} for the current request
        #: and not yet its C{onClose}.
        self.open = False
        self.readingHeld = False
        self.nextCall: Any = None
        #: The client's address before any forwarding header was believed:
        #: the socket's peer, or what a PROXY protocol header said. Each
        #: request behind a trusted proxy is resolved from it anew (a proxy
        #: may send the requests of several clients on one connection).
        self.hop = conn.remoteAddress
        self.client: str | None = None
        #: The C{Connection} header of a response that keeps the connection.
        self.keepAliveHeader: str | None = None

    @property
    def reactor(self) -> Any:
        server = self._server
        return server._reactor if server._reactor is not None else self._connection.io.reactor

    # Timers

    def startTimer(self, idle: bool) -> None:
        self.cancelTimer()
        server = self._server
        self.idle = idle
        if idle:
            self.timer = self.reactor.callLater(server.idleTimeout, self._idleTimedOut)
        else:
            self.timer = self.reactor.callLater(server.headTimeout, self._headTimedOut)

    def cancelTimer(self) -> None:
        if self.timer is not None and self.timer.active():
            self.timer.cancel()
        self.timer = None

    def _headTimedOut(self) -> None:
        self.timer = None
        self.refuse(HttpError(408, f"request head not received within {self._server.headTimeout:g} seconds"))

    def _idleTimedOut(self) -> None:
        # Between requests: nothing was asked, so nothing is answered (RFC
        # 9112 section 9.8); the client opens another connection.
        self.timer = None
        self.state = _CLOSING
        _exchanges.pop(self._connection.io, None)
        self._connection.io.loseConnection()

    def refuse(self, error: HttpError) -> None:
        """
        Answer C{error} and close: the head was refused (or did not come).
        """
        self.cancelTimer()
        self.state = _CLOSING
        self.buffer = bytearray()
        _exchanges.pop(self._connection.io, None)
        closeWithResponse(self._connection, error.status, error.message, error.headers)

    # Reading

    def received(self, data: bytes, direct: bool) -> object:
        """
        Bytes from the client; C{direct}: called by the server's dispatcher,
        which awaits what is returned.
        """
        state = self.state
        if state is _SERVING:
            if self.parser is not None or not self.framed:
                body = self._frame(data)
                if body:
                    self.callHook("onMessage", body)
            else:
                # The request is complete and its response is not: a
                # pipelined request waits, and so does the socket.
                self.buffer += data
                self._holdReading()
            return None
        if state is _READING:
            return self._readHead(data, direct)
        if state is _UPGRADED:
            self.callHook("onMessage", data)
        return None

    def _readHead(self, data: bytes, direct: bool) -> object:
        server = self._server
        if self.idle:
            # The next request has begun: it has headTimeout to arrive.
            self.startTimer(idle=False)
        buffer = self.buffer
        searchFrom = max(0, len(buffer) - 3)
        buffer += data
        end = buffer.find(b"\r\n\r\n", searchFrom)
        conn = self._connection
        try:
            server._checkHead(buffer, searchFrom, len(buffer) if end < 0 else end + 4)
            if end < 0:
                return None
            headEnd = end + 4
            request, parser = server._parse(bytes(buffer[:headEnd]))
            if server.trustedProxies:
                if conn.remoteAddress != self.hop:
                    conn.io.setRemoteAddress(self.hop)
                server._resolveClient(conn, request)
            # Limits count connections: checked for the connection's first
            # request, and again only if it now counts toward another client.
            if self.client != conn.remoteAddress:
                server._checkLimits(conn)
                self.client = conn.remoteAddress
        except HttpError as error:
            self.refuse(error)
            return None
        rest = bytes(buffer[headEnd:])
        self.buffer = bytearray()
        self.cancelTimer()
        self.requests += 1
        conn.httpRequest = request
        if request.isWebSocketUpgrade:
            return self._upgrade(request, rest, direct)
        limit = server.maxRequestsPerConnection
        self.state = _SERVING
        self.persist = wantsKeepAlive(request) and (limit == 0 or self.requests < limit)
        self.keepAliveHeader = "keep-alive" if request.version == "1.0" else None
        self.responding = False
        self.parser = parser
        self.framed = True
        self.open = True
        _exchanges[conn.io] = self
        # Framed first, so that a response written in onOpen knows whether
        # the body has ended.
        body = self._frame(rest)
        self.callHook("onOpen", request)
        if body:
            self.callHook("onMessage", body)
        return None

    def _upgrade(self, request: Any, rest: bytes, direct: bool) -> object:
        # The connection is the component's from now on; a refusal closes it.
        self.state = _UPGRADED
        conn = self._connection
        _exchanges.pop(conn.io, None)
        if direct and self._waiting is None and not self._backlog:
            # Nothing of this dispatcher's is pending: the connection's later
            # events go to the component straight from the server's
            # dispatcher, as on a connection that never kept alive.
            self._server._serving.pop(conn, None)
            component = self._component
            opened = component.onOpen(conn, request)
            if rest:
                return andThen(opened, component.onMessage, conn, rest)
            return opened
        self.open = True
        self.callHook("onOpen", request)
        if rest:
            self.callHook("onMessage", rest)
        return None

    def _frame(self, data: bytes) -> bytes:
        """
        The bytes of the current request's body in C{data} (chunked framing
        included, as they came), for the component; what follows the body is
        kept for the next request.
        """
        leftover = b""
        parser = self.parser
        if parser is not None:
            try:
                if data:
                    # (h11 takes b"" as the end of the connection.)
                    parser.receive_data(data)
                while True:
                    event = parser.next_event()
                    if event is h11.NEED_DATA:
                        break
                    if isinstance(event, h11.EndOfMessage):
                        leftover = parser.trailing_data[0]
                        self.parser = None
                        break
            except h11.RemoteProtocolError:
                # The component reads the body and refuses it; where it ends
                # is unknown, so the connection ends with the response.
                self.parser = None
                self.framed = False
        if leftover:
            self.buffer += leftover
            self._holdReading()
            return data[: len(data) - len(leftover)]
        return data

    def _holdReading(self) -> None:
        if not self.readingHeld:
            self.readingHeld = True
            self._connection.io.pauseReading()

    def _releaseReading(self) -> None:
        if self.readingHeld:
            self.readingHeld = False
            self._connection.io.resumeReading()

    # Responding (called by Response.writeTo)

    def responseStarting(self, response: Any) -> bool | None:
        """
        A response to the current request is about to be written.

        @return: whether the connection persists after it; C{None} if no
            response is awaited (the request has its response already).
        """
        if self.state is not _SERVING or self.responding:
            return None
        self.responding = True
        # A body not read to its end would be read as the next request.
        persist = self.persist and self.parser is None and self.framed and not response.closes()
        if not persist:
            self.state = _CLOSING
            _exchanges.pop(self._connection.io, None)
        return persist

    def responseComplete(self) -> None:
        """
        The response of a persisting connection has been written: on the
        next reactor turn (not inside the hook that wrote it), the request
        is closed and the next one read.
        """
        if self.state is _SERVING and self.nextCall is None:
            self.nextCall = self.reactor.callLater(0, self._requestDone)

    def _requestDone(self) -> None:
        self.nextCall = None
        if self.state is not _SERVING:
            return
        self.open = False
        self.callHook("onClose")
        # After that onClose (and anything else pending) has settled.
        self.callHook(_NEXT_REQUEST)

    def _runHook(self, name: str, args: tuple[object, ...]) -> None:
        if name == _NEXT_REQUEST:
            self._nextRequest()
            return
        super()._runHook(name, args)

    def _nextRequest(self) -> None:
        if self.state is not _SERVING or self._hooksFailed:
            return
        conn = self._connection
        io = conn.io
        # Nothing of one request is seen by the next: a proxy may send the
        # requests of several clients on one connection.
        conn.httpRequest = None
        io.forgetRequest()
        self.state = _READING
        pipelined = bytes(self.buffer)
        self.buffer = bytearray()
        self._releaseReading()
        self.startTimer(idle=not pipelined)
        if pipelined:
            self._readHead(pipelined, direct=False)

    def lost(self) -> None:
        """
        The connection is gone.
        """
        self.cancelTimer()
        if self.nextCall is not None and self.nextCall.active():
            self.nextCall.cancel()
        self.nextCall = None
        self.state = _CLOSED
        self.buffer = bytearray()
        _exchanges.pop(self._connection.io, None)
        if self.open:
            self.open = False
            self.callHook("onClose")
