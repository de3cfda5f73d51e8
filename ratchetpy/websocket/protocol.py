# -*- test-case-name: tests.websocket.test_server -*-
"""
The bridge from Autobahn's WebSocket protocol engine to a ratchetpy component.

Autobahn does the handshake, framing, masking, UTF-8 validation, compression,
pings and the closing handshake; this class only maps its callbacks onto the
component's hooks (and takes the messages of the lean path, which does the
engine's work for plain data frames, in L{deliver}). How the engine is driven is in L{ratchetpy.websocket._autobahn}.
"""

from __future__ import annotations

from typing import Any

from .._dispatch import HookDispatcher
from ..interfaces import IConnection
from ..metrics.recorder import recording
from ._autobahn import EngineProtocol
from .connection import WsConnection


class WsProtocol(EngineProtocol, HookDispatcher):  # type: ignore[misc]  # Autobahn's bases disagree on peer
    """
    One WebSocket connection's engine, driving the component.

    Built by L{ratchetpy.WsServer}, which sets C{_ioConnection}, C{_io} and
    C{_component} before it starts the engine.
    """

    _ioConnection: IConnection
    _connection: WsConnection | None = None
    _closeDelivered = False

    def onConnect(self, request: Any) -> str | None:
        return self.factory.selectSubProtocol(request.protocols)  # type: ignore[no-any-return]

    def onOpen(self) -> None:
        self.limitInflatedMessagesExactly()
        self._connection = WsConnection(self._ioConnection, self)
        self._io.upgradeTo(self._connection)
        if recording.on:
            recording.handshakeDone(self)
        self.callHook("onOpen")

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        # A message that came through the engine's own parser.
        if self.refusedAsTooBig(payload):
            return
        self.callHook("onMessage", payload if isBinary else payload.decode("utf-8"))

    def deliver(self, message: str | bytes) -> None:
        # A message from the lean path, decoded already.
        self.callHook("onMessage", message)

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        if self._connection is not None and not self._closeDelivered:
            self._closeDelivered = True
            self.callHook("onClose")
