# -*- test-case-name: tests.test_wsserver -*-
"""
The connection object of the WebSocket layer.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from autobahn.util import encode_truncate
from autobahn.websocket.protocol import WebSocketProtocol
from zope.interface import implementer

from ..interfaces import IConnection

if TYPE_CHECKING:
    from ..interfaces import IHttpRequest

_OPEN = WebSocketProtocol.STATE_OPEN


def isSendableCloseCode(code: int) -> bool:
    """
    Whether an endpoint may send close code C{code} (RFC 6455 section 7.4,
    and the IANA registry): 1000-1003, 1007-1014, 3000-4999.
    """
    return code in (1000, 1001, 1002, 1003) or 1007 <= code <= 1014 or 3000 <= code <= 4999


@implementer(IConnection)
class WsConnection:
    """
    A WebSocket connection, as L{ratchetpy.WsServer} hands it to its component:
    C{send} writes a message, C{close} starts the closing handshake. Identity
    and C{state} are those of the connection underneath, and so is flow
    control (C{isWritable}, C{registerProducer}).
    """

    __slots__ = ("resourceId", "remoteAddress", "_inner", "_protocol", "_flow")

    def __init__(self, inner: IConnection, protocol: Any) -> None:
        self.resourceId: int = inner.resourceId
        self.remoteAddress: str = inner.remoteAddress
        self._inner = inner
        self._protocol = protocol
        # The IoConnection underneath, through any connection decorators.
        self._flow: Any = getattr(inner, "_flowControl", None)

    @property
    def state(self) -> SimpleNamespace:
        return self._inner.state  # type: ignore[no-any-return]

    @property
    def httpRequest(self) -> IHttpRequest | None:
        return self._inner.httpRequest  # type: ignore[no-any-return]

    @property
    def transport(self) -> Any:
        return self._inner.transport

    @property
    def subProtocol(self) -> str | None:
        """
        The subprotocol agreed in the handshake, or C{None}.
        """
        return self._protocol.websocket_protocol_in_use  # type: ignore[no-any-return]

    @property
    def isOpen(self) -> bool:
        """
        Whether messages sent now can still reach the peer.
        """
        return self._protocol.state == _OPEN  # type: ignore[no-any-return]

    @property
    def isWritable(self) -> bool:
        """
        Whether the peer is keeping up with what is sent to it.
        """
        flow = self._flow
        return self._protocol.state == _OPEN and (flow is None or flow.isWritable)

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        if self._flow is None:
            raise RuntimeError(f"{self._inner!r} has no flow control to register a producer with")
        self._flow.registerProducer(producer, streaming)

    def unregisterProducer(self) -> None:
        if self._flow is not None:
            self._flow.unregisterProducer()

    def send(self, data: str | bytes) -> None:
        protocol = self._protocol
        if protocol.state != _OPEN:
            return
        flow = self._flow
        if flow is not None and flow._unsent is not None:
            self._sendBehind(flow, data)
            return
        if isinstance(data, str):
            protocol.sendMessage(data.encode("utf-8"), False)
        else:
            protocol.sendMessage(bytes(data) if not isinstance(data, bytes) else data, True)

    def sendPrepared(self, prepared: Any, data: str | bytes) -> None:
        """
        Send C{data}, already framed once for many connections as Autobahn's
        C{PreparedMessage} C{prepared} (see L{ratchetpy.ConnectionGroup}).
        Autobahn compresses C{data} itself for a connection that negotiated
        permessage-deflate; a connection that is behind takes the same path
        as L{send}, so the slow-consumer policy applies.
        """
        flow = self._flow
        protocol = self._protocol
        if protocol.state == _OPEN and (flow is None or flow._unsent is None):
            if protocol._perMessageCompress is None:
                # The frame as prepared, straight to the transport.
                protocol.sendData(prepared.payloadHybi)
            else:
                protocol.sendPreparedMessage(prepared)
        else:
            # Closing (send does nothing) or behind (the slow-consumer path).
            self.send(data)

    def _sendBehind(self, flow: Any, data: str | bytes) -> None:
        # The transport's buffer is full: count what goes on the wire (after
        # compression), or drop the message if the connection is past its
        # limit under the "drop" policy.
        isBinary = not isinstance(data, str)
        payload = bytes(data) if isBinary else data.encode("utf-8")  # type: ignore[union-attr]
        if flow._discard(len(payload)):
            return
        protocol = self._protocol
        stats = protocol.trafficStats
        before = stats.outgoingOctetsWireLevel
        protocol.sendMessage(payload, isBinary)
        flow._wrote(stats.outgoingOctetsWireLevel - before)

    def close(self, code: int = 1000, reason: str = "") -> None:
        if not isSendableCloseCode(code):
            raise ValueError(f"close code {code} cannot be sent; use 1000, 1001-1003, 1007-1014 or 3000-4999")
        protocol = self._protocol
        if protocol.state != _OPEN:
            return
        protocol.sendCloseFrame(code=code, reasonUtf8=encode_truncate(reason, 123) if reason else None)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.resourceId} from {self.remoteAddress or 'local'}>"
