# -*- test-case-name: tests.client.test_engine -*-
"""
Everything the client relies on in Autobahn's client engine beyond its
documented API, in one module (as L{ratchetpy.websocket._autobahn} is for
the server's).

Autobahn's client protocol does the handshake, masking, framing, UTF-8
validation, compression, pings and the closing handshake. Here it is driven
as the server's engine is: its writes and closes go through the
connection I/O of L{ratchetpy.server} (an L{IoConnection} on the socket:
flow control, counted pauses, the send limit); its timers run on
ratchetpy's L{BucketTimer}; its hooks are the component's, through
L{HookDispatcher}, in the same order and with the same failure handling as
on the server. The methods that need only what both engines have (the
writes, the exact inflated-message limit, the close with any sendable code)
are the server engine's own, borrowed rather than copied.

What differs from the stock engine: Autobahn's own log lines are demoted to
debug (the client logs each attempt and each failure once, in its own
words); the response head is bounded (L{MAX_HEAD_SIZE}); and a refused
handshake keeps its status, for L{HandshakeRefused}.

C{tests/client/test_engine.py} pins the shape of every internal used here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from autobahn.websocket.compress import (
    PerMessageDeflateOffer,
    PerMessageDeflateResponse,
    PerMessageDeflateResponseAccept,
)
from autobahn.websocket.protocol import WebSocketProtocol
from twisted.internet.error import ConnectionDone
from twisted.python.failure import Failure

from .._dispatch import HookDispatcher
from ..options import MAX_HEAD_SIZE
from ..server.connection import IoConnection
from ..server.flow import DEFAULT_SEND_LIMIT, SendLimit
from ..websocket._autobahn import EngineProtocol
from ..websocket.timers import BucketTimer
from .connection import ClientConnection
from .errors import ConnectFailed, HandshakeRefused

if TYPE_CHECKING:
    from .target import Target

STATE_CONNECTING = WebSocketProtocol.STATE_CONNECTING

_TLS_HINT = "; pass ca= (a PEM file) to trust a private CA, or verify=False for development"

#: The server's engine, whose methods that need only what both engines have
#: the client's borrows.
_server: Any = EngineProtocol


class _DebugOnly:
    """
    Autobahn's logger with every line at debug level: what it would warn
    about (a failed handshake, a dropped connection, a TLS error) reaches
    the user once, as the client's own line or exception.
    """

    def __init__(self, logger: Any) -> None:
        self._logger = logger
        self.debug = self.trace = self.info = self.warn = self.error = self.critical = logger.debug

    def __getattr__(self, name: str) -> Any:
        return getattr(self._logger, name)


def acceptPerMessageDeflateResponse(response: Any) -> PerMessageDeflateResponseAccept | None:
    """
    Accept the server's permessage-deflate response (RFC 7692) as it is.
    """
    if isinstance(response, PerMessageDeflateResponse):
        return PerMessageDeflateResponseAccept(response)
    return None


def refusal(url: str, statusLine: str, headers: dict[str, str]) -> HandshakeRefused | None:
    """
    The L{HandshakeRefused} of a handshake answered with C{statusLine}, or
    C{None} if it does not carry a status other than 101.
    """
    parts = statusLine.split(None, 2)
    if len(parts) < 2 or not parts[1].isdigit() or parts[1] == "101":
        return None
    return HandshakeRefused(url, int(parts[1]), parts[2].strip() if len(parts) > 2 else "", dict(headers))


class ClientEngine(WebSocketClientProtocol, HookDispatcher):  # type: ignore[misc]  # Autobahn's bases disagree on peer
    """
    One client WebSocket connection: Autobahn's client engine on the
    socket's L{IoConnection}, driving the component.

    Built by L{ClientFactory}; tells its C{client} (L{ratchetpy.client.Client})
    when it opened, failed before opening, or was lost after.
    """

    log = _DebugOnly(WebSocketClientProtocol.log)
    factory: ClientFactory

    _io: IoConnection
    _connection: ClientConnection | None = None
    _closeDelivered = False
    #: Why the handshake failed, when the engine knows better than the
    #: transport's reason.
    failure: ConnectFailed | None = None

    # The server engine's, which use only what both engines have.
    sendData = _server.sendData
    _closeConnection = _server._closeConnection
    registerProducer = _server.registerProducer
    unregisterProducer = _server.unregisterProducer
    _exactLimit = 0
    limitInflatedMessagesExactly = _server.limitInflatedMessagesExactly
    refusedAsTooBig = _server.refusedAsTooBig
    isOpen = _server.isOpen
    subProtocol = _server.subProtocol
    closeWith = _server.closeWith

    def connectionMade(self) -> None:
        factory = self.factory
        self._io = IoConnection(self.transport, factory.sendLimit, reactor=factory.reactor)  # type: ignore[arg-type]
        self._io._startFlowControl()
        self._component = factory.component
        super().connectionMade()

    def dataReceived(self, data: bytes) -> None:
        # The adapter's debug line per read is skipped; the response head,
        # which the engine buffers until its blank line, is bounded.
        if self.state == STATE_CONNECTING and self._headTooBig(data):
            self.failure = ConnectFailed(
                f"{self.factory.target.shown}: the server's handshake response is larger than "
                f"{self.factory.maxHeadSize} bytes (maxHeadSize)"
            )
            self.wasNotCleanReason = str(self.failure)
            self.dropConnection(abort=True)
            return
        self._dataReceived(data)

    def _headTooBig(self, data: bytes) -> bool:
        """
        Whether the response head, of which C{data} is the latest part, is
        over C{maxHeadSize} (frames that follow it in the same read do not
        count).
        """
        limit = self.factory.maxHeadSize
        if len(self.data) + len(data) <= limit:
            return False
        end = (self.data + data).find(b"\r\n\r\n")
        return end < 0 or end + 4 > limit

    def failHandshake(self, reason: str) -> None:
        # Autobahn's, with the refusal's status kept (and its line demoted).
        url = self.factory.target.shown
        statusLine = getattr(self, "http_status_line", None) or ""
        refused = refusal(url, statusLine, getattr(self, "http_headers", None) or {})
        self.failure = refused if refused is not None else ConnectFailed(f"{url}: {reason}")
        self.wasNotCleanReason = reason
        self.dropConnection(abort=True)

    def onOpen(self) -> None:
        self.limitInflatedMessagesExactly()
        connection = self._connection = ClientConnection(self._io, self, self.factory.inbox())
        self._io.upgradeTo(connection)
        self.callHook("onOpen")
        self.factory.client._opened(connection)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        if self.refusedAsTooBig(payload):
            return
        self.callHook("onMessage", payload if isBinary else payload.decode("utf-8"))

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        connection = self._connection
        if connection is not None and not self._closeDelivered:
            self._closeDelivered = True
            connection._closing(1005 if code is None else code, reason or "")
            self.callHook("onClose")

    def _runHook(self, name: str, args: tuple[object, ...]) -> None:
        super()._runHook(name, args)
        if name == "onClose":
            # whenClosed() fires once the component's onClose has finished.
            assert self._connection is not None
            done = self._connection._closed
            if self._waiting is None:
                done()
            else:
                self._waiting.addBoth(lambda result: (done(), result)[1])

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self._io._connectionLost()
        super().connectionLost(reason)
        client = self.factory.client
        if self._connection is None:
            client._failed(self.failure or ConnectFailed(f"{self.factory.target.shown}: {self._lostBefore(reason)}"))
        else:
            client._lost(self._connection)

    def _lostBefore(self, reason: Failure | None) -> str:
        """
        Why the connection ended before its handshake did, in words.
        """
        value = reason.value if reason is not None else None
        host = self.factory.target.host
        if value is not None and type(value).__name__ in ("VerificationError", "CertificateError"):
            return (
                f"the server's TLS certificate is not for {host}; connect with a name the certificate has, "
                "or verify=False for development"
            )
        why = self.wasNotCleanReason
        if why and "SSL error" in str(why):
            return f"TLS failed: {why}{_TLS_HINT if 'certificate' in str(why) else ''}"
        if why and self.droppedByMe:
            # The engine gave up, and said why (a timeout, say).
            return str(why)
        if value is not None and not isinstance(value, ConnectionDone):
            return f"the connection was lost during the handshake ({reason.getErrorMessage()})"  # type: ignore[union-attr]
        if why:
            return str(why)
        return "the connection was lost during the handshake"

    def sendPayload(self, data: str | bytes) -> None:
        """
        Send C{data} as one masked message (text for C{str}, binary
        otherwise); drop it whole if the connection is past its send limit.
        """
        if self.state != WebSocketProtocol.STATE_OPEN:
            return
        if isinstance(data, str):
            payload, isBinary = data.encode("utf-8"), False
        else:
            payload, isBinary = bytes(data), True
        if self._io.shouldDrop(len(payload)):
            return
        self.sendMessage(payload, isBinary)  # type: ignore[no-untyped-call]  # Autobahn's, unannotated

    def sendShared(self, message: Any) -> None:
        """
        Send a L{ratchetpy.broadcast.SharedMessage}: a client masks every
        frame with a mask of its own, so it is framed here, for this
        connection.
        """
        self.sendPayload(message.data)


class ClientFactory(WebSocketClientFactory):
    """
    Autobahn's client factory: the handshake's request and the options of
    every connection one L{ratchetpy.client.Client} makes.
    """

    protocol = ClientEngine  # type: ignore[assignment]  # Twisted's Factory types it as a callable

    def __init__(
        self,
        client: Any,
        target: Target,
        component: Any,
        *,
        subProtocols: tuple[str, ...],
        headers: dict[str, str],
        userAgent: str,
        reactor: Any,
        inbox: Any = None,
        maxMessageSize: int,
        maxFrameSize: int | None,
        maxHeadSize: int = MAX_HEAD_SIZE,
        keepAlive: float,
        keepAliveTimeout: float | None,
        compression: bool,
        openHandshakeTimeout: float,
        closeHandshakeTimeout: float,
        sendLimit: SendLimit = DEFAULT_SEND_LIMIT,
    ) -> None:
        super().__init__(  # type: ignore[no-untyped-call]  # Autobahn's, unannotated
            url=target.url, protocols=list(subProtocols), headers=dict(headers), useragent=userAgent, reactor=reactor
        )
        self.client = client
        self.target = target
        self.component = component
        self.inbox = inbox if inbox is not None else (lambda: None)
        self.maxHeadSize = maxHeadSize
        self.sendLimit = sendLimit
        # Autobahn schedules every handshake, keepalive and closing timeout
        # through this attribute.
        self._batched_timer = BucketTimer(reactor)
        self.setProtocolOptions(  # type: ignore[no-untyped-call]  # Autobahn's, unannotated
            maxMessagePayloadSize=maxMessageSize,
            maxFramePayloadSize=maxFrameSize or maxMessageSize,
            autoPingInterval=keepAlive,
            autoPingTimeout=keepAliveTimeout if keepAliveTimeout is not None else keepAlive,
            perMessageCompressionOffers=[PerMessageDeflateOffer()] if compression else [],
            perMessageCompressionAccept=acceptPerMessageDeflateResponse,
            openHandshakeTimeout=openHandshakeTimeout,
            closeHandshakeTimeout=closeHandshakeTimeout,
            # Answer protocol errors and oversized messages with a close
            # frame (1002, 1007, 1009) rather than a bare TCP drop.
            failByDrop=False,
            echoCloseCodeReason=True,
        )


__all__ = ["ClientEngine", "ClientFactory", "acceptPerMessageDeflateResponse", "refusal"]
