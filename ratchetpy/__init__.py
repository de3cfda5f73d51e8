"""
ratchetpy: PHP Ratchet's component model for WebSocket servers, on Twisted and
Autobahn.

Write a component, wrap it in layers, serve it::

    from ratchetpy import HttpServer, IoServer, MessageComponent, WsServer

    class Echo(MessageComponent):
        def onMessage(self, conn, msg):
            conn.send(msg)

    IoServer.factory(HttpServer(WsServer(Echo())), 8080).run()
"""

from .component import MessageComponent
from .http import HttpServer
from .interfaces import (
    IComponent,
    IConnection,
    IHttpRequest,
    IHttpServerComponent,
    IMessageComponent,
    IWsServerComponent,
)
from .server import IoServer
from .websocket import WsServer

__version__ = "0.1.0"

__all__ = [
    "MessageComponent",
    "IoServer",
    "HttpServer",
    "WsServer",
    "IConnection",
    "IComponent",
    "IMessageComponent",
    "IHttpServerComponent",
    "IWsServerComponent",
    "IHttpRequest",
]
