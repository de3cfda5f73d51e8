"""
The WebSocket layer: L{WsServer} and its connections, on Autobahn's protocol
engine.
"""

from .connection import WsConnection
from .server import WsServer

__all__ = ["WsServer", "WsConnection"]
