"""
WampServer as a ratchetpy component: on an App route beside other
components, its interfaces, and the server's slow-consumer policy applying
to a subscriber that does not read.
"""

from __future__ import annotations

import base64
import json
import os
import socket

import pytest_twisted
from autobahn.wamp.types import PublishOptions
from twisted.internet import threads
from zope.interface.verify import verifyObject

from ratchetpy import App, HttpServer, IMessageComponent, IWsServerComponent, WsServer
from ratchetpy.hooknames import checkHookNames
from ratchetpy.interfaces import IWampComponent, IWampConnection
from ratchetpy.wamp import WampComponent, WampServer
from tests.helpers import MASK, frame, readHead, sleep, waitUntil
from tests.test_app import Echo, serve  # noqa: F401 - the fixture

from .clients import connect, hello, leave


def test_appRoute(serve):  # noqa: F811
    """
    App.route("/ws", WampServer(...)) serves WAMP on its path, beside an
    echo on another.
    """
    app = App("localhost", 0)
    app.route("/ws", WampServer())
    app.route("/echo", Echo())
    port = serve(app)
    a, b = connect(port, path="/ws"), connect(port, path="/ws")
    got: list = []
    pytest_twisted.blockon(b.subscribe(got.append, "com.t"))
    pytest_twisted.blockon(a.publish("com.t", "over App", options=PublishOptions(acknowledge=True)))
    waitUntil(lambda: got)
    assert got == ["over App"]
    leave(a)
    leave(b)


def test_httpComponentPassesThrough(listen, tmp_path):
    """
    A WampComponent's httpComponent answers the plain HTTP requests of the
    WebSocket's URL (a page for the browser), as for message components.
    """
    from ratchetpy import StaticFiles
    from tests.helpers import exchange, inThread, statusOf

    (tmp_path / "index.html").write_text("<p>wamp page</p>")

    class WithPage(WampComponent):
        httpComponent = StaticFiles(str(tmp_path))

    io = listen(HttpServer(WsServer(WampServer(WithPage()))))
    response = inThread(exchange, io.portNumber, b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    assert statusOf(response) == 200 and b"wamp page" in response
    client = connect(io.portNumber)
    assert client.details.realm == "realm1"
    leave(client)


def test_interfaces(router):
    """
    WampServer, WampComponent and the hooks' connection provide their
    interfaces; getSubProtocols names the serializers.
    """
    seen: list = []

    class Spy(WampComponent):
        def onOpen(self, conn):
            seen.append(conn)

    server = router(Spy())
    assert verifyObject(IMessageComponent, server)
    assert verifyObject(IWsServerComponent, server)
    assert server.getSubProtocols() == ["wamp.2.json", "wamp.2.msgpack", "wamp.2.cbor"]
    assert verifyObject(IWampComponent, WampComponent())
    assert checkHookNames(server) == []  # onCall, onPublish, ... are no typos of onClose
    client = connect(server.port)
    waitUntil(lambda: seen)
    assert verifyObject(IWampConnection, seen[0])
    assert seen[0].subProtocol == "wamp.2.json"
    leave(client)


def rawSubscriber(port: int) -> socket.socket:
    """
    (Blocking.) A WAMP session on a raw socket with a small receive buffer,
    subscribed to com.flood; it then reads nothing more.
    """
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: wamp.2.json\r\n\r\n"
        ).encode()
    )
    assert readHead(sock).startswith(b"HTTP/1.1 101 ")
    sock.sendall(frame(1, hello().encode(), mask=MASK))
    sock.sendall(frame(1, json.dumps([32, 1, {}, "com.flood"]).encode(), mask=MASK))
    return sock


def test_slowSubscriber(listen):
    """
    A subscriber that stops reading is closed by the server's slow-consumer
    policy (maxSendBuffer) while the others go on.
    """
    wamp = WampServer()
    io = listen(HttpServer(WsServer(wamp)), maxSendBuffer=64 * 1024)
    port = io.portNumber
    reader = connect(port)
    got: list = []
    pytest_twisted.blockon(reader.subscribe(lambda x: got.append(len(x)), "com.flood"))
    sock = pytest_twisted.blockon(threads.deferToThread(rawSubscriber, port))
    waitUntil(lambda: len(wamp.defaultRealm.broker.exact["com.flood"]) == 2)
    big = "x" * 16 * 1024
    topic = wamp.defaultRealm.broker.exact["com.flood"]
    sent = 0
    while len(topic) == 2 and sent < 2000:
        wamp.wamp.publish("com.flood", big)
        sent += 1
        sleep(0.002)  # the reader keeps up; the raw subscriber does not read
    assert len(topic) == 1, "the slow subscriber is still there"
    waitUntil(lambda: len(got) == sent, timeout=20)
    assert wamp.sessionCount == 1
    sock.close()
    leave(reader)
