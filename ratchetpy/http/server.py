# -*- test-case-name: tests.http.test_server,tests.http.test_keepalive -*-
"""
L{HttpServer}: reads and checks the HTTP request head, then opens the component
behind it with the parsed request (PHP Ratchet's C{HttpServer}); on a
persistent connection, request after request.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import h11
from twisted.logger import Logger
from zope.interface import implementer

from .._dispatch import HookDispatcher, andThen
from .._ratelimit import LogBudget
from ..interfaces import IConnection, IHttpServerComponent, IMessageComponent
from ..options import (
    FORWARDED_HEADER,
    HEAD_TIMEOUT,
    HTTP_SERVER,
    IDLE_TIMEOUT,
    MAX_CONNECTIONS_PER_IP,
    MAX_HEAD_SIZE,
    MAX_HEADERS,
    MAX_REQUEST_LINE,
    MAX_REQUESTS_PER_CONNECTION,
    RETRY_AFTER,
    TRUSTED_PROXIES,
    checkOptions,
)
from ..server.addresses import AddressSet, describeClient
from ..server.limits import ConnectionLimits, defaultMaxConnections
from .forwarded import parseHeader, resolveClient
from .request import parsePlainUpgrade, parseRequest
from .response import HttpError, _exchanges, closeWithResponse

# A line feed without its carriage return, or a line starting with a space or
# tab (obsolete line folding): h11 accepts both, but a second parser (the
# WebSocket engine is replayed the raw head) reads such a head differently.
_BAD_LINE = re.compile(rb"(?<!\r)\n|\n[ \t]")

log = Logger(namespace="ratchetpy")
_forwardingProblems = LogBudget(log)


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


@implementer(IMessageComponent)
class HttpServer:
    """
    Buffers each connection's bytes until its HTTP request head is complete,
    parses it (with h11) and calls C{component.onOpen(conn, request)}; the
    bytes of the request's body go to C{component.onMessage}. The component
    only ever sees a complete, well-formed request head.

    Connections persist (HTTP/1.1 keep-alive). Each request on a connection
    is, to the component, a lifecycle of its own on the same connection
    object: C{onOpen(conn, request)}, C{onMessage(conn, bytes)} for the
    bytes of its body (exactly those: where the body ends is read from its
    C{Content-Length} or chunked framing), and C{onClose(conn)} once its
    response (a L{ratchetpy.Response} written with C{writeTo}) is complete;
    the next request's C{onOpen} comes after that C{onClose} has returned
    (or its Deferred fired). Between requests C{conn.httpRequest},
    C{conn.user}, C{conn.session} and C{conn.state} are reset, and behind a
    trusted proxy C{conn.remoteAddress} is read from each request anew, so
    nothing of one request is seen by the next. Pipelined requests are
    answered in order, one at a time: the next head is read once the
    response before it is complete, and the socket is not read meanwhile.
    A WebSocket upgrade ends the HTTP exchange: from then on every byte is
    the component's, as on a connection that asked for it first.

    The connection is closed once a response is written, which then says
    C{Connection: close}, if: the request said C{Connection: close}, or is
    HTTP/1.0 without C{Connection: keep-alive}; the response said
    C{Connection: close} (every refusal written with
    L{ratchetpy.http.response.closeWithResponse} does); the request's body
    had not been received to its end (a refusal before the body was read);
    or the request is the connection's C{maxRequestsPerConnection}th. A
    connection waiting more than C{idleTimeout} seconds for its next
    request is closed without an answer. Connection limits count
    connections, not requests.

    Refused, with a plain-text response and the connection closed:
        - a malformed head: 400, bare LF line ends and obsolete line
          folding included;
        - an HTTP version other than 1.x: 505 (RFC 9110 section 15.6.6);
        - a request line longer than C{maxRequestLine} bytes: 414;
        - a head longer than C{maxHeadSize} bytes or with more than
          C{maxHeaders} header lines: 431;
        - a head not complete within C{headTimeout} seconds of connecting,
          or of its first byte on a persistent connection (slowloris): 408;
        - a request arriving while more than C{maxConnections} connections
          are open, or more than C{maxConnectionsPerIp} from the same IP
          address: 503 with C{Retry-After: retryAfter}. C{maxConnections}
          defaults to 90% of the process's open-file limit (C{ulimit -n});
          C{0} turns either limit off.

    Behind HTTP proxies, C{trustedProxies} (IP addresses and networks) says
    whose C{forwardedHeader} (C{"X-Forwarded-For"}, or C{"Forwarded"} of
    RFC 7239) to believe: a request from one of them has its client's
    address read from that header (the rightmost entry that is not a
    trusted proxy; see L{ratchetpy.http.forwarded}) and set as
    C{conn.remoteAddress} before the limits are checked and the component
    is opened; C{conn.peerAddress} stays the proxy's. The connection then
    counts toward its client's C{maxConnectionsPerIp}, and refusals, logs
    and the layers behind (an L{IpBlackList} or L{OriginCheck} here) see
    the client. The header of any other peer is ignored, as anyone can
    write one.

    @ivar component: the L{IHttpServerComponent} behind this layer.
    @ivar trustedProxies: the L{AddressSet} of C{trustedProxies}.
    """

    def __init__(
        self,
        component: IHttpServerComponent,
        *,
        maxHeadSize: int = MAX_HEAD_SIZE,
        maxHeaders: int = MAX_HEADERS,
        maxRequestLine: int = MAX_REQUEST_LINE,
        headTimeout: float = HEAD_TIMEOUT,
        maxRequestsPerConnection: int = MAX_REQUESTS_PER_CONNECTION,
        idleTimeout: float = IDLE_TIMEOUT,
        maxConnections: int | None = None,
        maxConnectionsPerIp: int = MAX_CONNECTIONS_PER_IP,
        trustedProxies: Iterable[str] = TRUSTED_PROXIES,
        forwardedHeader: str = FORWARDED_HEADER,
        retryAfter: int = RETRY_AFTER,
        reactor: Any = None,
    ) -> None:
        if isinstance(trustedProxies, str):
            raise TypeError(f"trustedProxies must be a list of addresses and networks, such as [{trustedProxies!r}]")
        trustedProxies = tuple(trustedProxies)
        checkOptions(
            HTTP_SERVER,
            maxHeadSize=maxHeadSize,
            maxHeaders=maxHeaders,
            maxRequestLine=maxRequestLine,
            headTimeout=headTimeout,
            maxRequestsPerConnection=maxRequestsPerConnection,
            idleTimeout=idleTimeout,
            trustedProxies=trustedProxies,
            forwardedHeader=forwardedHeader,
        )
        from ..stack import checkCookieAuth

        # Cookies without an origin check: refused however the stack is built.
        checkCookieAuth(component, "HttpServer")
        self.trustedProxies = AddressSet(trustedProxies)
        self.forwardedHeader = forwardedHeader
        self.component = component
        self.maxHeadSize = maxHeadSize
        self.maxHeaders = maxHeaders
        self.maxRequestLine = maxRequestLine
        self.headTimeout = headTimeout
        self.maxRequestsPerConnection = maxRequestsPerConnection
        self.idleTimeout = idleTimeout
        # Checks the connection limits' values.
        self.limits = ConnectionLimits(
            defaultMaxConnections() if maxConnections is None else maxConnections, maxConnectionsPerIp, retryAfter
        )
        self._reactor = reactor
        # The HTTP state of each connection; those not here (upgraded on
        # their first request) are the component's, byte for byte.
        self._serving: dict[IConnection, _Exchange] = {}

    @property
    def reactor(self) -> Any:
        """
        The reactor of the head timeout: the one given to the constructor,
        else C{None} (each connection's timer then runs on the reactor of the
        server that accepted it, C{conn.io.reactor}).
        """
        return self._reactor

    def onOpen(self, conn: IConnection) -> None:
        exchange = self._serving[conn] = _Exchange(self, conn)
        exchange.startTimer(idle=False)

    def onMessage(self, conn: IConnection, data: bytes) -> object:  # type: ignore[override]  # behind IoServer: bytes
        exchange = self._serving.get(conn)
        if exchange is None:
            return self.component.onMessage(conn, data)
        return exchange.received(data, True)

    def passesBytes(self, conn: IConnection) -> tuple[Any, IConnection] | None:
        """
        Where L{onMessage} hands C{conn}'s bytes unchanged: to the component,
        once the connection is the component's (upgraded, with no request of
        this layer's pending); C{None} before (see
        L{ratchetpy.server.direct}).
        """
        return None if conn in self._serving else (self.component, conn)

    #: The C{onMessage} that L{passesBytes} describes.
    passesBytesOnMessage = onMessage

    def _checkHead(self, buffer: bytearray, searchFrom: int, size: int) -> None:
        # The first C{size} bytes of the buffer are head. Each way to refuse a
        # head before it is complete becomes certain at one byte of it; the
        # earliest decides, so the outcome does not depend on how the bytes
        # were cut into reads. Only the bytes that just arrived (and the three
        # before them) are searched, so a head sent one byte at a time costs
        # linear time.
        errors = []
        lineLimit = self.maxRequestLine
        if size > lineLimit + 1 and searchFrom < lineLimit + 2 and buffer.find(b"\n", 0, lineLimit + 2) < 0:
            errors.append((lineLimit + 2, 414, f"request line longer than {lineLimit} bytes"))
        if size > self.maxHeadSize:
            errors.append((self.maxHeadSize + 1, 431, f"request head longer than {self.maxHeadSize} bytes"))
        bad = _BAD_LINE.search(buffer, searchFrom, size)
        if bad is not None:
            errors.append((bad.end(), 400, "request head lines must end with CRLF and must not be folded"))
        if errors:
            _, status, message = min(errors)
            raise HttpError(status, message)

    def _parse(self, head: bytes) -> tuple[Any, Any]:
        lineEnd = head.find(b"\r\n")
        if lineEnd > self.maxRequestLine:
            raise HttpError(414, f"request line longer than {self.maxRequestLine} bytes")
        if len(head) > self.maxHeadSize:
            raise HttpError(431, f"request head longer than {self.maxHeadSize} bytes")
        if head.count(b"\n") - 2 > self.maxHeaders:
            raise HttpError(431, f"more than {self.maxHeaders} header lines")
        # A plain upgrade needs no parser for a body: parsed without h11,
        # exactly as h11 would.
        upgrade = parsePlainUpgrade(head)
        if upgrade is not None:
            return upgrade, None
        request, parser = parseRequest(head)
        if not request.version.startswith("1."):
            raise HttpError(505, f"HTTP/{request.version} is not supported; use HTTP/1.1")
        return request, parser

    def _resolveClient(self, conn: IConnection, request: Any) -> None:
        # The address so far: the socket's peer, or the client a PROXY
        # protocol header named (then the hop that spoke HTTP to us).
        resolved = resolveClient(
            conn.remoteAddress, parseHeader(self.forwardedHeader, request.headers.getAll(self.forwardedHeader)),
            self.trustedProxies,
        )
        if resolved.malformed is not None:
            _forwardingProblems.info(
                "forwarded-malformed",
                "connection {resourceId} from {peer}: {header} entry {entry!r} names no address; "
                "the client is taken to be {client}",
                resourceId=conn.resourceId,
                peer=describeClient(conn),
                header=self.forwardedHeader,
                # Bounded: it is the client's text.
                entry=resolved.malformed[:100],
                client=resolved.address,
            )
        if resolved.address != conn.remoteAddress:
            conn.io.setRemoteAddress(resolved.address)

    def _checkLimits(self, conn: IConnection) -> None:
        # Counted by the server that accepted the connection, by its one
        # resolved address; refused here because the refusal is an HTTP 503.
        refusal = self.limits.refusal(conn.io.openConnections, conn.remoteAddress)
        if refusal is not None:
            raise HttpError(503, refusal, [("Retry-After", str(self.limits.retryAfter))])

    def onClose(self, conn: IConnection) -> object:
        exchange = self._serving.pop(conn, None)
        if exchange is None:
            return self.component.onClose(conn)
        exchange.lost()
        return None

    def onError(self, conn: IConnection, exc: BaseException) -> object:
        # This layer's own hook failed; the component's hooks of a
        # connection still here are reported by its exchange.
        if conn not in self._serving:
            return self.component.onError(conn, exc)
        return None
