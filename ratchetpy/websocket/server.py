# -*- test-case-name: tests.websocket.test_server -*-
"""
L{WsServer}: the RFC 6455 / RFC 7692 layer, through Autobahn's protocol engine
(PHP Ratchet's C{WsServer}).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from autobahn.websocket.compress import PerMessageDeflateOffer, PerMessageDeflateOfferAccept
from autobahn.websocket.types import ConnectionDeny
from twisted.logger import Logger
from zope.interface import implementer

from ..hooknames import checkHookNames
from ..http.redact import isCredentialSubprotocol
from ..http.response import closeWithResponse
from ..interfaces import IConnection, IHttpRequest, IHttpServerComponent, IMessageComponent
from ..options import (
    CLOSE_HANDSHAKE_TIMEOUT,
    KEEPALIVE_INTERVAL,
    MAX_MESSAGE_SIZE,
    OPEN_HANDSHAKE_TIMEOUT,
    WS_SERVER,
    checkOptions,
)
from ._autobahn import EngineFactory
from .protocol import WsProtocol

log = Logger(namespace="ratchetpy")



def acceptPerMessageDeflate(offers: Sequence[Any]) -> PerMessageDeflateOfferAccept | None:
    """
    Accept the client's first permessage-deflate offer (RFC 7692) as offered.
    """
    for offer in offers:
        if isinstance(offer, PerMessageDeflateOffer):
            return PerMessageDeflateOfferAccept(offer)
    return None


def checkKeepAlive(interval: float, timeout: float | None) -> None:
    """
    @raise ValueError: C{interval} is neither 0 (off) nor at least a second,
        or C{timeout} is given and under a second. Autobahn's timers have
        whole-second granularity: shorter times drop peers that do answer.
    """
    checkOptions(WS_SERVER, keepAlive=interval, keepAliveTimeout=timeout)


class _Factory(EngineFactory):
    """
    The engine's factory, holding the options every connection of one
    L{WsServer} shares, and its subprotocol choice.
    """

    protocol = WsProtocol

    def __init__(self, subProtocols: Sequence[str], strict: bool, reactor: Any = None) -> None:
        super().__init__(reactor)
        self._subProtocols = tuple(subProtocols)
        self.strictSubProtocols = strict

    def selectSubProtocol(self, offered: Sequence[str]) -> str | None:
        # A bearer-token subprotocol is a credential, not a protocol: never
        # agreed, never echoed back, never logged.
        offered = [name for name in offered if not isCredentialSubprotocol(name)]
        for name in offered:
            if name in self._subProtocols:
                return name
        if offered and self.strictSubProtocols:
            # WsServer.onOpen refuses these before the engine sees them; a
            # backstop, should a request reach the engine another way.
            raise ConnectionDeny(ConnectionDeny.BAD_REQUEST, self.refusal(offered))
        return None

    def refusal(self, offered: Sequence[str]) -> str:
        """
        Why a handshake that offers only the subprotocols C{offered}, none of
        them supported, is refused in strict mode.
        """
        supported = ", ".join(self._subProtocols) or "none"
        return f"offered only subprotocols {', '.join(offered)}; none is supported (supported: {supported})"

    def refused(self, request: IHttpRequest) -> list[str] | None:
        """
        The subprotocols C{request} offers (but credentials) if strict mode
        refuses it, none of them being supported; else C{None}.
        """
        if not self.strictSubProtocols:
            return None
        offered = [
            name.strip()
            for header in request.headers.getAll("sec-websocket-protocol")
            for name in header.split(",")
            if name.strip() and not isCredentialSubprotocol(name.strip())
        ]
        if offered and not any(name in self._subProtocols for name in offered):
            return offered
        return None


@implementer(IHttpServerComponent)
class WsServer:
    """
    Upgrades HTTP requests to WebSocket connections and hands their messages to
    C{component} as C{str} (text) and C{bytes} (binary).

    @param component: the L{IMessageComponent} to serve. If it has
        C{getSubProtocols()} (L{IWsServerComponent}), the first subprotocol the
        client offers from that list is agreed.
    @param maxMessageSize: the largest message accepted, in bytes, after
        decompression; a larger one closes the connection with 1009.
    @param maxFrameSize: the largest frame accepted; defaults to
        C{maxMessageSize}.
    @param keepAlive: seconds between pings to an idle peer; a peer that does
        not answer within C{keepAliveTimeout} (default: C{keepAlive}) seconds is
        dropped. C{0} turns keepalive off.
    @param compression: accept permessage-deflate when a client offers it.
    @param openHandshakeTimeout: seconds a client gets to complete the opening
        handshake once its request head has arrived.
    @param closeHandshakeTimeout: seconds the peer gets to answer a close frame
        before the connection is dropped.
    @param strictSubProtocols: refuse (400) a client that offers
        subprotocols, none of which the component supports. By default such
        a client is accepted without a subprotocol.
    @param http: the L{IHttpServerComponent} that answers requests not asking
        for a WebSocket (a browser opening the page), e.g.
        L{ratchetpy.StaticFiles}. By default, the component's C{httpComponent}
        attribute if it has one; without either they get 426 Upgrade Required.
    @param reactor: the reactor of the handshake, keepalive and closing
        timers; by default that of the server the connections come from
        (C{conn.io.reactor}).
    """

    def __init__(
        self,
        component: IMessageComponent,
        *,
        maxMessageSize: int = MAX_MESSAGE_SIZE,
        maxFrameSize: int | None = None,
        keepAlive: float = KEEPALIVE_INTERVAL,
        keepAliveTimeout: float | None = None,
        compression: bool = True,
        openHandshakeTimeout: float = OPEN_HANDSHAKE_TIMEOUT,
        closeHandshakeTimeout: float = CLOSE_HANDSHAKE_TIMEOUT,
        strictSubProtocols: bool = False,
        http: IHttpServerComponent | None = None,
        reactor: Any = None,
    ) -> None:
        checkOptions(
            WS_SERVER,
            maxMessageSize=maxMessageSize,
            maxFrameSize=maxFrameSize,
            keepAlive=keepAlive,
            keepAliveTimeout=keepAliveTimeout,
            openHandshakeTimeout=openHandshakeTimeout,
            closeHandshakeTimeout=closeHandshakeTimeout,
        )
        checkHookNames(component)
        getSubProtocols = getattr(component, "getSubProtocols", None)
        self.component = component
        self.maxMessageSize = maxMessageSize
        self.keepAlive = keepAlive
        self.http = http if http is not None else getattr(component, "httpComponent", None)
        self._factory = _Factory(
            list(getSubProtocols()) if getSubProtocols is not None else [], strictSubProtocols, reactor
        )
        self._factory.setProtocolOptions(
            maxMessagePayloadSize=maxMessageSize,
            maxFramePayloadSize=maxFrameSize or maxMessageSize,
            autoPingInterval=keepAlive,
            autoPingTimeout=keepAliveTimeout if keepAliveTimeout is not None else keepAlive,
            perMessageCompressionAccept=acceptPerMessageDeflate if compression else (lambda offers: None),
            openHandshakeTimeout=openHandshakeTimeout,
            closeHandshakeTimeout=closeHandshakeTimeout,
            # Answer protocol errors and oversized messages with a close frame
            # (1002, 1007, 1009) rather than a bare TCP drop.
            failByDrop=False,
            # Answer a peer's close frame with its own code and reason, as RFC
            # 6455 section 5.5.1 suggests, rather than always 1000.
            echoCloseCodeReason=True,
            # Non-upgrade requests are answered in onOpen, never with
            # Autobahn's status page.
            webStatus=False,
            # Origin policy belongs to a decorator layer (OriginCheck); every
            # setProtocolOptions call resets allowNullOrigin, so pass it.
            allowedOrigins=["*"],
            allowNullOrigin=True,
        )
        self._protocols: dict[IConnection, WsProtocol] = {}
        self._httpConnections: set[IConnection] = set()

    def setStrictSubProtocolCheck(self, enable: bool) -> None:
        """
        Turn C{strictSubProtocols} on or off (PHP Ratchet's name for it).
        """
        self._factory.strictSubProtocols = enable

    def enableKeepAlive(self, interval: float = KEEPALIVE_INTERVAL, timeout: float | None = None) -> None:
        """
        Ping idle peers every C{interval} seconds and drop those that do not
        answer within C{timeout} (default: C{interval}) seconds; C{0} turns
        keepalive off. Applies to connections opened afterwards (PHP
        Ratchet's C{enableKeepAlive}; here keepalive is on by default).
        """
        checkKeepAlive(interval, timeout)
        self.keepAlive = interval
        self._factory.setProtocolOptions(
            autoPingInterval=interval,
            autoPingTimeout=timeout if timeout is not None else interval,
            allowNullOrigin=True,
        )

    @property
    def reactor(self) -> Any:
        """
        The reactor of this layer's timers: the one given to the constructor,
        else that of the server of its first connection; C{None} before then.
        """
        return self._factory.timer.reactor

    @property
    def connectionCount(self) -> int:
        """
        The number of connections in or past the WebSocket handshake.
        """
        return len(self._protocols)

    def onOpen(self, conn: IConnection, request: IHttpRequest) -> object:
        if not request.isWebSocketUpgrade:
            if self.http is not None:
                self._httpConnections.add(conn)
                return self.http.onOpen(conn, request)
            closeWithResponse(
                conn,
                426,
                "this is a WebSocket endpoint; connect with a WebSocket client",
                [("Upgrade", "websocket")],
            )
            return None
        factory = self._factory
        offered = factory.refused(request)
        if offered is not None:
            # One refusal, one (rate-limited) line, as every other refusal.
            closeWithResponse(conn, 400, factory.refusal(offered))
            return None
        io = conn.io
        factory.timer.bindReactor(io.reactor)
        protocol = factory.buildProtocol(None)
        protocol._ioConnection = conn
        protocol._io = io
        protocol._component = self.component
        self._protocols[conn] = protocol
        # The engine gets the real transport (for TLS details); what it writes
        # goes through io.
        protocol.start(io.transport, request.rawHead, request)
        if type(self).onMessage is WsServer.onMessage:
            # Later reads go to the engine without the walk down the layers,
            # where every layer above only passes them on.
            io.receiveDirectly(self, conn, protocol.dataReceived)
        return None

    def onMessage(self, conn: IConnection, data: bytes) -> object:
        protocol = self._protocols.get(conn)
        if protocol is not None:
            protocol.dataReceived(data)
        elif conn in self._httpConnections:
            return self.http.onMessage(conn, data)  # type: ignore[union-attr]
        return None

    def onClose(self, conn: IConnection) -> object:
        protocol = self._protocols.pop(conn, None)
        if protocol is not None:
            protocol.lose()
        elif conn in self._httpConnections:
            self._httpConnections.discard(conn)
            return self.http.onClose(conn)  # type: ignore[union-attr]
        return None

    def onError(self, conn: IConnection, exc: BaseException) -> object:
        protocol = self._protocols.get(conn)
        if protocol is not None and protocol._connection is not None:
            protocol.callHook("onError", exc)
        elif conn in self._httpConnections:
            return self.http.onError(conn, exc)  # type: ignore[union-attr]
        return None
