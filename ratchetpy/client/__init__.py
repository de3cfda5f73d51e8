"""
A WebSocket client with the component API (PHP Ratchet's Pawl): the same
kind of component as a server's drives a connection to a server::

    from ratchetpy import MessageComponent
    from ratchetpy.client import connect

    class Bot(MessageComponent):
        def onOpen(self, conn):
            conn.send("hello")

        def onMessage(self, conn, msg):
            print("server says", msg)

    client = connect("ws://127.0.0.1:8080/", Bot())

L{connect} reconnects (with backoff) and runs C{onOpen} on every new
connection; L{connectOnce} makes one connection whose messages are read with
C{await conn.receive()}, for scripts and tests. C{python -m ratchetpy.client
URL} is a command-line client. See C{docs/client.md}.
"""

from __future__ import annotations

from .connection import ClientConnection
from .connector import Client, connect
from .errors import ConnectFailed, ConnectionClosed, HandshakeRefused
from .once import connectOnce
from .reconnect import Reconnect

__all__ = [
    "connect",
    "connectOnce",
    "Client",
    "ClientConnection",
    "Reconnect",
    "ConnectFailed",
    "HandshakeRefused",
    "ConnectionClosed",
]
