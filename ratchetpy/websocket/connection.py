# -*- test-case-name: tests.websocket.test_server -*-
"""
The connection object of the WebSocket layer.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from zope.interface import implementer

from ..interfaces import IConnection
from .codes import isSendableCloseCode

if TYPE_CHECKING:
    from ..broadcast import SharedMessage
    from ..interfaces import IConnectionIO, IHttpRequest
    from ._autobahn import EngineProtocol

__all__ = ["WsConnection", "isSendableCloseCode"]


@implementer(IConnection)
class WsConnection:
    """
    A WebSocket connection, as L{ratchetpy.WsServer} hands it to its component:
    C{send} writes a message, C{close} starts the closing handshake. Identity,
    C{state} and the connection I/O (C{io}: flow control, C{isWritable},
    C{registerProducer}) are those of the connection underneath.
    """

    __slots__ = ("resourceId", "remoteAddress", "io", "_inner", "_protocol")

    def __init__(self, inner: IConnection, protocol: EngineProtocol) -> None:
        self.resourceId: int = inner.resourceId
        self.remoteAddress: str = inner.remoteAddress
        self.io: IConnectionIO = inner.io
        self._inner = inner
        self._protocol = protocol

    @property
    def state(self) -> SimpleNamespace:
        return self._inner.state

    @property
    def peerAddress(self) -> str:
        return self._inner.peerAddress

    @property
    def user(self) -> Any:
        return self._inner.user

    @property
    def session(self) -> Any:
        return self._inner.session

    @property
    def httpRequest(self) -> IHttpRequest | None:
        return self._inner.httpRequest

    @property
    def transport(self) -> Any:
        return self.io.transport

    @property
    def subProtocol(self) -> str | None:
        """
        The subprotocol agreed in the handshake, or C{None}.
        """
        return self._protocol.subProtocol

    @property
    def isOpen(self) -> bool:
        """
        Whether messages sent now can still reach the peer.
        """
        return self._protocol.isOpen

    @property
    def isWritable(self) -> bool:
        """
        Whether the peer is keeping up with what is sent to it.
        """
        return self._protocol.isOpen and self.io.isWritable

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        self.io.registerProducer(producer, streaming)

    def unregisterProducer(self) -> None:
        self.io.unregisterProducer()

    def send(self, data: str | bytes) -> None:
        self._protocol.sendPayload(data)

    def sendShared(self, message: SharedMessage) -> None:
        self._protocol.sendShared(message)

    def close(self, code: int = 1000, reason: str = "") -> None:
        if not isSendableCloseCode(code):
            raise ValueError(f"close code {code} cannot be sent; use 1000, 1001-1003, 1007-1014 or 3000-4999")
        self._protocol.closeWith(code, reason)

    def abort(self) -> None:
        self.io.abort()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.resourceId} from {self.remoteAddress or 'local'}>"
