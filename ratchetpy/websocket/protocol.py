# -*- test-case-name: tests.test_wsserver -*-
"""
The bridge from Autobahn's WebSocket protocol engine to a ratchetpy component.

Autobahn does the handshake, framing, masking, UTF-8 validation, compression,
pings and the closing handshake; this class only maps its callbacks onto the
component's hooks.
"""

from __future__ import annotations

from typing import Any

from autobahn.twisted.websocket import WebSocketServerProtocol

from .._dispatch import HookDispatcher
from .._ratelimit import RateLimitedLog, RateLimitedLogger
from ..interfaces import IConnection
from .connection import _OPEN, WsConnection


class WsProtocol(WebSocketServerProtocol, HookDispatcher):
    """
    One WebSocket connection's Autobahn protocol, driving the component.

    Built by L{ratchetpy.WsServer}, which sets C{_ioConnection} and
    C{_component} before the handshake is replayed into it.
    """

    # Autobahn logs a warning for every WebSocket it fails or drops and every
    # unsolicited pong: a flood of bad clients must not fill the disk.
    log = RateLimitedLogger(WebSocketServerProtocol.log, RateLimitedLog(WebSocketServerProtocol.log))

    _ioConnection: IConnection
    _connection: WsConnection | None = None
    _closeDelivered = False

    def dataReceived(self, data: bytes) -> None:
        # Autobahn's Twisted adapter builds the arguments of a debug line for
        # every read before it gets here; skip that.
        self._dataReceived(data)

    def sendData(self, data: bytes, sync: bool = False, chopsize: int | None = None) -> None:
        # What Autobahn's sendData does for an open connection with nothing
        # queued, without building the arguments of its debug line for every
        # write (most of a broadcast's time went there).
        if self.state == _OPEN and not (sync or chopsize or self.send_queue or self.logOctets):
            self.transport.write(data)
            self.trafficStats.outgoingOctetsWireLevel += len(data)
        else:
            super().sendData(data, sync, chopsize)

    def onConnect(self, request: Any) -> str | None:
        return self.factory.selectSubProtocol(request.protocols)  # type: ignore[no-any-return]

    def onOpen(self) -> None:
        self._connection = WsConnection(self._ioConnection, self)
        self._ioConnection.upgradeTo(self._connection)  # type: ignore[attr-defined]
        self.callHook("onOpen")

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        self.callHook("onMessage", payload if isBinary else payload.decode("utf-8"))

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        # The IoConnection is its transport's producer; others chain to it.
        self._ioConnection.registerProducer(producer, streaming)  # type: ignore[attr-defined]

    def unregisterProducer(self) -> None:
        # Autobahn calls this from dropConnection, to keep a paused producer
        # from holding the transport's loseConnection back. The IoConnection,
        # which stays registered, sees to that itself; a producer registered
        # through it is stopped when the connection is lost.
        pass

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        if self._connection is not None and not self._closeDelivered:
            self._closeDelivered = True
            self.callHook("onClose")
