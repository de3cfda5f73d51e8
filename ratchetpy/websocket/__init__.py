"""
The WebSocket layer: L{WsServer} and its connections, on Autobahn's protocol
engine; L{codes}, the close codes, which the layers below use too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .connection import WsConnection
    from .server import WsServer

__all__ = ["WsServer", "WsConnection"]


def __getattr__(name: str) -> Any:
    # Imported when first asked for, so that the layers below can use
    # ratchetpy.websocket.codes without importing the WebSocket engine.
    if name == "WsServer":
        from .server import WsServer

        return WsServer
    if name == "WsConnection":
        from .connection import WsConnection

        return WsConnection
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
