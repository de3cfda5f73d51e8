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

from twisted.logger import Logger
from zope.interface import implementer

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
from .exchange import _Exchange
from .forwarded import parseHeader, resolveClient
from .request import parsePlainUpgrade, parseRequest
from .response import HttpError

# A line feed without its carriage return, or a line starting with a space or
# tab (obsolete line folding): h11 accepts both, but a second parser (the
# WebSocket engine is replayed the raw head) reads such a head differently.
_BAD_LINE = re.compile(rb"(?<!\r)\n|\n[ \t]")

log = Logger(namespace="ratchetpy")
_forwardingProblems = LogBudget(log)


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
            conn.remoteAddress,
            parseHeader(self.forwardedHeader, request.headers.getAll(self.forwardedHeader)),
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
