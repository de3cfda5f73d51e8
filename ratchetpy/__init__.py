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

from .app import App
from .broadcast import ConnectionGroup
from .component import MessageComponent
from .decorator import ComponentDecorator, ConnectionDecorator
from .http import HttpHandler, HttpServer, OriginCheck, Response, Router, StaticFiles
from .interfaces import (
    IComponent,
    IConnection,
    IHttpRequest,
    IHttpServerComponent,
    IMessageComponent,
    IWsServerComponent,
)
from .pubsub.channels import Channels
from .pubsub.endpoint import PublishEndpoint
from .pubsub.users import Users
from .server.blacklist import IpBlackList
from .server.io import IoServer
from .websocket import WsServer

__version__ = "0.1.0"

__all__ = [
    "MessageComponent",
    "IoServer",
    "HttpServer",
    "WsServer",
    "App",
    "ConnectionGroup",
    "Channels",
    "PublishEndpoint",
    "Users",
    "Router",
    "OriginCheck",
    "IpBlackList",
    "ComponentDecorator",
    "ConnectionDecorator",
    "StaticFiles",
    "HttpHandler",
    "Response",
    "IConnection",
    "IComponent",
    "IMessageComponent",
    "IHttpServerComponent",
    "IWsServerComponent",
    "IHttpRequest",
]
