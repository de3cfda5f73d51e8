# -*- test-case-name: tests.http.test_server -*-
"""
L{HttpServer}: reads and checks the HTTP request head, then opens the component
behind it with the parsed request (PHP Ratchet's C{HttpServer}).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from twisted.logger import Logger
from zope.interface import implementer

from .._dispatch import andThen
from .._ratelimit import LogBudget
from ..interfaces import IConnection, IHttpServerComponent, IMessageComponent
from ..options import (
    FORWARDED_HEADER,
    HEAD_TIMEOUT,
    HTTP_SERVER,
    MAX_CONNECTIONS_PER_IP,
    MAX_HEAD_SIZE,
    MAX_HEADERS,
    MAX_REQUEST_LINE,
    RETRY_AFTER,
    TRUSTED_PROXIES,
    checkOptions,
)
from ..server.addresses import AddressSet, describeClient
from ..server.limits import ConnectionLimits, defaultMaxConnections
from .forwarded import parseHeader, resolveClient
from .request import parseHead
from .response import HttpError, closeWithResponse

# A line feed without its carriage return, or a line starting with a space or
# tab (obsolete line folding): h11 accepts both, but a second parser (the
# WebSocket engine is replayed the raw head) reads such a head differently.
_BAD_LINE = re.compile(rb"(?<!\r)\n|\n[ \t]")

log = Logger(namespace="ratchetpy")
_forwardingProblems = LogBudget(log)


class _HeadReader:
    """
    A connection whose request head is still arriving.
    """

    __slots__ = ("buffer", "timer")

    def __init__(self, timer: Any) -> None:
        self.buffer = bytearray()
        self.timer = timer


# Marks a connection this layer has answered with an error: what else arrives
# on it is dropped, and the component behind never hears of it.
_REFUSED = None


@implementer(IMessageComponent)
class HttpServer:
    """
    Buffers each connection's bytes until its HTTP request head is complete,
    parses it (with h11) and calls C{component.onOpen(conn, request)}; later
    bytes go to C{component.onMessage}. The component only ever sees a
    complete, well-formed request head.

    Refused, with a plain-text response and the connection closed:
        - a malformed head: 400, bare LF line ends and obsolete line
          folding included;
        - an HTTP version other than 1.x: 505 (RFC 9110 section 15.6.6);
        - a request line longer than C{maxRequestLine} bytes: 414;
        - a head longer than C{maxHeadSize} bytes or with more than
          C{maxHeaders} header lines: 431;
        - a head not complete within C{headTimeout} seconds of connecting
          (slowloris): 408;
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
        # Checks the connection limits' values.
        self.limits = ConnectionLimits(
            defaultMaxConnections() if maxConnections is None else maxConnections, maxConnectionsPerIp, retryAfter
        )
        self._reactor = reactor
        # Connections whose head is still arriving or that were refused; the
        # connections in neither state have been handed to the component.
        self._reading: dict[IConnection, _HeadReader | None] = {}

    @property
    def reactor(self) -> Any:
        """
        The reactor of the head timeout: the one given to the constructor,
        else C{None} (each connection's timer then runs on the reactor of the
        server that accepted it, C{conn.io.reactor}).
        """
        return self._reactor

    def onOpen(self, conn: IConnection) -> None:
        reactor = self._reactor if self._reactor is not None else conn.io.reactor
        timer = reactor.callLater(self.headTimeout, self._headTimedOut, conn)
        self._reading[conn] = _HeadReader(timer)

    def onMessage(self, conn: IConnection, data: bytes) -> object:
        if conn not in self._reading:
            return self.component.onMessage(conn, data)
        reader = self._reading[conn]
        if reader is _REFUSED:
            return None
        buffer = reader.buffer
        searchFrom = max(0, len(buffer) - 3)
        buffer += data
        end = buffer.find(b"\r\n\r\n", searchFrom)
        try:
            self._checkHead(buffer, searchFrom, len(buffer) if end < 0 else end + 4)
            if end < 0:
                return None
            headEnd = end + 4
            request = self._parse(bytes(buffer[:headEnd]))
            if self.trustedProxies:
                self._resolveClient(conn, request)
            self._checkLimits(conn)
        except HttpError as error:
            self._refuse(conn, error)
            return None
        rest = bytes(buffer[headEnd:])
        reader.timer.cancel()
        del self._reading[conn]
        conn.httpRequest = request
        # The component's result goes back to the dispatcher, so an HTTP
        # handler that answers asynchronously is awaited like any hook.
        opened = self.component.onOpen(conn, request)
        if rest:
            return andThen(opened, self.component.onMessage, conn, rest)
        return opened

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

    def _parse(self, head: bytes) -> Any:
        lineEnd = head.find(b"\r\n")
        if lineEnd > self.maxRequestLine:
            raise HttpError(414, f"request line longer than {self.maxRequestLine} bytes")
        if len(head) > self.maxHeadSize:
            raise HttpError(431, f"request head longer than {self.maxHeadSize} bytes")
        if head.count(b"\n") - 2 > self.maxHeaders:
            raise HttpError(431, f"more than {self.maxHeaders} header lines")
        request = parseHead(head)
        if not request.version.startswith("1."):
            raise HttpError(505, f"HTTP/{request.version} is not supported; use HTTP/1.1")
        return request

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

    def _refuse(self, conn: IConnection, error: HttpError) -> None:
        reader = self._reading.get(conn)
        if reader is not None:
            if reader.timer.active():
                reader.timer.cancel()
            self._reading[conn] = _REFUSED
        closeWithResponse(conn, error.status, error.message, error.headers)

    def _headTimedOut(self, conn: IConnection) -> None:
        self._refuse(conn, HttpError(408, f"request head not received within {self.headTimeout:g} seconds"))

    def onClose(self, conn: IConnection) -> object:
        if conn in self._reading:
            reader = self._reading.pop(conn)
            if reader is not None and reader.timer.active():
                reader.timer.cancel()
            return None
        return self.component.onClose(conn)

    def onError(self, conn: IConnection, exc: BaseException) -> object:
        if conn not in self._reading:
            return self.component.onError(conn, exc)
        return None
