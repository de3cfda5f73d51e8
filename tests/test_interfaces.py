"""
The public surface: what the package root exports and which objects provide
which interface.
"""

from __future__ import annotations

from twisted.internet.testing import StringTransport
from zope.interface.verify import verifyClass, verifyObject

import ratchetpy
from ratchetpy import (
    ConnectionDecorator,
    HttpServer,
    IComponent,
    IConnection,
    IHttpRequest,
    IHttpServerComponent,
    IMessageComponent,
    IoServer,
    MessageComponent,
    WsServer,
)
from ratchetpy.http.request import parseHead
from ratchetpy.interfaces import IConnectionIO
from ratchetpy.server.connection import IoConnection
from ratchetpy.websocket.connection import WsConnection


def test_packageRootExports():
    """
    The layers, the base class and the interfaces import from the package
    root, and __all__ lists exactly what is there.
    """
    for name in ratchetpy.__all__:
        assert hasattr(ratchetpy, name), name
    assert {"MessageComponent", "IoServer", "HttpServer", "WsServer", "IConnection"} <= set(ratchetpy.__all__)


def test_messageComponentProvidesInterfaces():
    """
    MessageComponent is an IMessageComponent (and so an IComponent).
    """
    verifyObject(IMessageComponent, MessageComponent())
    verifyObject(IComponent, MessageComponent())


def test_layersProvideTheInterfaceAbove():
    """
    Each layer provides the interface its outer layer calls: HttpServer is an
    IMessageComponent for IoServer, WsServer an IHttpServerComponent for
    HttpServer.
    """
    verifyObject(IMessageComponent, HttpServer(MessageComponent()))
    verifyObject(IHttpServerComponent, WsServer(MessageComponent()))


def test_connectionsProvideIConnection():
    """
    Both connection classes and the connection decorator provide
    IConnection; the transport-level connection is also the IConnectionIO
    of every view of it.
    """
    verifyClass(IConnection, IoConnection)
    verifyClass(IConnection, WsConnection)
    verifyObject(IConnection, ConnectionDecorator(IoConnection(StringTransport())))
    io = IoConnection(StringTransport())
    verifyObject(IConnection, io)
    verifyObject(IConnectionIO, io)
    assert io.io is io and ConnectionDecorator(io).io is io


def test_requestProvidesIHttpRequest():
    """
    Parsed requests provide IHttpRequest.
    """
    verifyObject(IHttpRequest, parseHead(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"))


def test_ioServerIsATwistedFactory():
    """
    IoServer is a Twisted protocol factory, usable with any endpoint's listen.
    """
    from twisted.internet.interfaces import IProtocolFactory

    verifyObject(IProtocolFactory, IoServer(MessageComponent()))
