"""
The WebSocket layer driven in memory: no socket, no real reactor, a clock
that the test advances. The reactor given to L{IoServer} reaches every layer
below it (the HTTP layer's head timeout, the WebSocket engine's timers).
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure

from examples.echo import Echo
from ratchetpy import HttpServer, IoServer, WsServer
from tests.helpers import Recorder, frame

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def openConnection(component, clock, **wsOptions):
    """
    Serve C{component} on C{clock}, connect one client transport, send the
    handshake; return (protocol, transport, expected accept key).
    """
    server = IoServer(HttpServer(WsServer(component, **wsOptions)), reactor=clock)
    peer = IPv4Address("TCP", "192.0.2.7", 50000)
    protocol = server.buildProtocol(peer)
    transport = StringTransport(peerAddress=peer)
    protocol.makeConnection(transport)
    key = base64.b64encode(os.urandom(16))
    protocol.dataReceived(
        b"GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
    return server, protocol, transport, accept


def test_echoAndKeepaliveOnAClock():
    """
    The handshake is answered 101 with the right accept key, a text frame is
    echoed, and keepalive pings follow the clock: a ping after the interval,
    and the connection is dropped when it goes unanswered.
    """
    clock = MemoryReactorClock()
    server, protocol, transport, accept = openConnection(Echo(), clock, keepAlive=5, compression=False)
    response = transport.value()
    assert response.startswith(b"HTTP/1.1 101 ")
    assert b"Sec-WebSocket-Accept: " + accept + b"\r\n" in response
    transport.clear()

    protocol.dataReceived(frame(0x1, b"hello"))
    assert transport.value() == b"\x81\x05hello"
    transport.clear()

    clock.advance(5.5)
    assert transport.value()[:1] == b"\x89", transport.value()
    assert not transport.disconnecting
    clock.advance(5.5)
    assert transport.disconnecting, "an unanswered ping drops the connection"
    protocol.connectionLost(Failure(ConnectionDone()))
    assert server.connectionCount == 0


def test_headTimeoutRunsOnTheServersReactor():
    """
    A head that never completes is answered 408 when the given clock reaches
    the head timeout, not before.
    """
    clock = MemoryReactorClock()
    server = IoServer(HttpServer(WsServer(Echo()), headTimeout=3), reactor=clock)
    peer = IPv4Address("TCP", "192.0.2.7", 50001)
    protocol = server.buildProtocol(peer)
    transport = StringTransport(peerAddress=peer)
    protocol.makeConnection(transport)
    protocol.dataReceived(b"GET / HTTP/1.1\r\n")
    clock.advance(2.9)
    assert transport.value() == b""
    clock.advance(0.2)
    assert transport.value().startswith(b"HTTP/1.1 408 ")


def test_closeHandshakeOnAClock():
    """
    The component's close starts the closing handshake; a peer that does not
    answer is dropped after closeHandshakeTimeout of the clock, and onClose
    follows.
    """
    clock = MemoryReactorClock()
    recorder = Recorder()
    _, protocol, transport, _ = openConnection(recorder, clock, keepAlive=0, closeHandshakeTimeout=2)
    conn = recorder.events[0][1]
    transport.clear()
    conn.close(4000, "bye")
    assert transport.value() == b"\x88\x05" + struct.pack("!H", 4000) + b"bye"
    clock.advance(1.5)
    assert not transport.disconnecting
    clock.advance(1.0)
    assert transport.disconnecting
    protocol.connectionLost(Failure(ConnectionDone()))
    assert [event[0] for event in recorder.events] == ["onOpen", "onClose"]
