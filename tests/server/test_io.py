"""
IoServer: endpoints (TCP, IPv6, TLS, UNIX), raw TCP components, listening
errors, connection bookkeeping.
"""

from __future__ import annotations

import socket
import ssl

import pytest
import pytest_twisted
from twisted.internet.error import CannotListenError
from websockets.sync.client import connect, unix_connect
from zope.interface.verify import verifyObject

from examples.chat import Chat
from ratchetpy import HttpServer, IConnection, IoServer, WsServer
from ratchetpy.server import BadEndpoint
from tests.helpers import Recorder, inThread, makeCertificate, waitUntil


def rawClient(port):
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    return sock


def test_rawTcpChat(listen):
    """
    IoServer around the chat alone is a raw TCP chat: bytes typed in one
    session reach the others unchanged and are not echoed.
    """
    server = listen(Chat())

    def sessions():
        with rawClient(server.portNumber) as a, rawClient(server.portNumber) as b:
            waitForCount(2)
            a.sendall(b"hello from a\r\n")
            got = b.recv(1024)
            a.settimeout(0.3)
            with pytest.raises(TimeoutError):
                a.recv(1024)
            return got

    def waitForCount(n):
        import time

        deadline = time.monotonic() + 5
        while server.connectionCount < n and time.monotonic() < deadline:
            time.sleep(0.01)

    assert inThread(sessions) == b"hello from a\r\n"


def test_rawConnectionSendEncodesText(listen):
    """
    On raw TCP, send(str) writes UTF-8 and the connection has a resourceId and
    the peer's address but no HTTP request.
    """
    component = Recorder()
    component.onOpen = lambda conn: (component.events.append(("onOpen", conn)), conn.send("héllo\n"))
    server = listen(component)

    def client():
        with rawClient(server.portNumber) as sock:
            return sock.recv(1024)

    assert inThread(client) == "héllo\n".encode()
    conn = component.events[0][1]
    verifyObject(IConnection, conn)
    assert conn.remoteAddress == "127.0.0.1"
    assert conn.httpRequest is None
    assert isinstance(conn.resourceId, int)


def test_ipv6(listen):
    """
    Over IPv6 the remote address has no brackets.
    """
    try:
        probe = socket.socket(socket.AF_INET6)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        pytest.fail("this machine has no IPv6 loopback; the test suite needs one")
    component = Recorder(echo=True)
    server = listen(HttpServer(WsServer(component)), "tcp6:0:interface=\\:\\:1")

    def client():
        with connect(f"ws://[::1]:{server.portNumber}/") as ws:
            ws.send("six")
            return ws.recv(timeout=5)

    assert inThread(client) == "six"
    assert component.events[0][1].remoteAddress == "::1"


def test_tlsEndpoint(listen, tmp_path, logged):
    """
    Over an ssl: endpoint (wss://) the WebSocket layer works end to end:
    Autobahn gets the real TLS transport. The listening line says it is TLS.
    """
    keyPath, certPath = makeCertificate(tmp_path)
    component = Recorder(echo=True)
    server = listen(
        HttpServer(WsServer(component)), f"ssl:0:interface=127.0.0.1:privateKey={keyPath}:certKey={certPath}"
    )
    context = ssl.create_default_context(cafile=str(certPath))

    def client():
        with connect(f"wss://127.0.0.1:{server.portNumber}/", ssl=context) as ws:
            ws.send("secure")
            return ws.recv(timeout=5)

    assert inThread(client) == "secure"
    assert f"ratchetpy listening on tcp:127.0.0.1:{server.portNumber} (TLS)" in logged()
    waitUntil(lambda: "onClose" in component.hooks(), what="onClose")
    assert component.hooks() == ["onOpen", "onMessage", "onClose"]


def test_unixEndpoint(listen, tmp_path):
    """
    A unix: endpoint serves WebSockets; the remote address is empty.
    """
    path = tmp_path / "ratchetpy.sock"
    component = Recorder(echo=True)
    listen(HttpServer(WsServer(component)), f"unix:{path}")

    def client():
        with unix_connect(str(path), "ws://localhost/") as ws:
            ws.send("local")
            return ws.recv(timeout=5)

    assert inThread(client) == "local"
    assert component.events[0][1].remoteAddress == ""


def test_badEndpointSaysWhatToWrite():
    """
    An endpoint description Twisted cannot parse raises BadEndpoint with
    examples of good ones.
    """
    with pytest.raises(BadEndpoint) as info:
        IoServer(Recorder(), "bogus:1234").listen()
    assert "bogus:1234" in str(info.value)
    assert "tcp:8080" in str(info.value)


def test_portInUse(listen):
    """
    Listening on a port in use fails with CannotListenError.
    """
    taken = listen(Recorder())
    with pytest.raises(CannotListenError):
        pytest_twisted.blockon(IoServer(Recorder(), f"tcp:{taken.portNumber}:interface=127.0.0.1").listen())


def test_factoryEndpoint():
    """
    IoServer.factory builds the TCP endpoint description from port and
    address, IPv6 addresses included.
    """
    assert IoServer.factory(Recorder(), 8081).endpoint == "tcp:8081:interface=0.0.0.0"
    assert IoServer.factory(Recorder(), 9000, "::1").endpoint == "tcp:9000:interface=\\:\\:1"


def test_connectionCountReturnsToZero(listen):
    """
    Connections are counted while open and forgotten when closed, abrupt
    closes (RST) included.
    """
    component = Recorder()
    server = listen(component)

    def churn():
        import struct

        for _ in range(20):
            sock = rawClient(server.portNumber)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()

    inThread(churn)
    waitUntil(lambda: component.hooks().count("onClose") == 20, what="20 closes")
    assert server.connectionCount == 0
    assert component.hooks().count("onOpen") == 20


def test_defaultBacklog():
    """
    TCP, TLS and UNIX endpoints listen with a backlog of 511 unless the
    description sets one, so bursts of handshakes do not wait for SYN retries.
    """
    from ratchetpy.server.io import withDefaultBacklog

    assert withDefaultBacklog("tcp:8080") == "tcp:8080:backlog=511"
    assert withDefaultBacklog("unix:/run/a.sock") == "unix:/run/a.sock:backlog=511"
    assert withDefaultBacklog("tcp:8080:backlog=10") == "tcp:8080:backlog=10"
    assert withDefaultBacklog("systemd:domain=INET:index=0") == "systemd:domain=INET:index=0"


def test_listeningBacklogIsApplied(listen):
    """
    The listening socket really gets the default backlog.
    """
    server = listen(Recorder())
    port = server._ports[0]
    assert port.backlog == 511


def test_serviceListensWhenStartedAlone():
    """
    IoServerService listens when started on its own (not only through
    twistd's privilegedStartService), once, and stops with a graceful shutdown.
    """
    from ratchetpy.service import IoServerService

    service = IoServerService(IoServer(Recorder()), "tcp:0:interface=127.0.0.1")
    service.startService()
    port = pytest_twisted.blockon(service.whenListening)
    number = port.getHost().port
    assert service.ioServer._ports == [port]

    def client():
        with rawClient(number):
            pass

    inThread(client)
    pytest_twisted.blockon(service.stopService())
    assert service.ioServer._ports == []
    with pytest.raises(OSError):
        rawClient(number)


@pytest.mark.parametrize(
    "description, notes",
    [("tcp:8080", ""), ("ssl:8443:privateKey=k.pem", " (TLS)"), ("haproxy:tcp:8080", " (PROXY protocol)"),
     ("haproxy:ssl:8443:privateKey=k.pem", " (TLS, PROXY protocol)"), ("unix:/run/a.sock", "")],
)
def test_listeningLineNamesTheKind(description, notes):
    """
    The listening line names TLS and the PROXY protocol, which the address alone does not show.
    """
    from ratchetpy.server.io import describeEndpointKind

    assert describeEndpointKind(description) == notes
