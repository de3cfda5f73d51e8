"""
Reading is paused by reference count: a layer that waits on an asynchronous
hook pauses the connection, and reading resumes only when every layer that
paused it has resumed.
"""

from __future__ import annotations

import struct
import time

import pytest
from twisted.internet import reactor, task
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport

from ratchetpy import ComponentDecorator, HttpServer, MessageComponent, WsServer
from ratchetpy.server.connection import IoConnection
from tests.helpers import inThread, openWebSocket, waitUntil


def test_pausesAreCounted():
    """
    Two pauses need two resumes; a resume without a pause is an error.
    """
    transport = StringTransport(peerAddress=IPv4Address("TCP", "192.0.2.1", 1))
    io = IoConnection(transport)
    io.pauseReading()
    io.pauseReading()
    assert transport.producerState == "paused" and io.readingPaused
    io.resumeReading()
    assert transport.producerState == "paused", "one layer must not resume another's pause"
    io.resumeReading()
    assert transport.producerState == "producing" and not io.readingPaused
    with pytest.raises(RuntimeError):
        io.resumeReading()


class SlowGate(ComponentDecorator):
    """
    An HTTP-layer decorator whose onOpen is asynchronous, as an authenticator
    or a session store is.
    """

    async def onOpen(self, conn, request):
        await task.deferLater(reactor, 0.3, lambda: None)
        return super().onOpen(conn, request)


class SlowOpen(MessageComponent):
    """
    A component whose async onOpen takes C{seconds}; it records the order of
    its hooks and the index each message carries.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.events: list[object] = []

    async def onOpen(self, conn):
        self.events.append("open-start")
        await task.deferLater(reactor, self.seconds, lambda: None)
        self.events.append("open-end")

    def onMessage(self, conn, msg):
        self.events.append(struct.unpack("!I", msg[:4])[0])


PAYLOAD = 64_000
MASK = b"\x11\x22\x33\x44"
# A payload of an index and zeros, masked: the zeros become the mask repeated.
MASKED_ZEROS = (MASK * (PAYLOAD // 4))[4:]


def indexedFrame(index: int) -> bytes:
    """
    A masked binary frame of PAYLOAD bytes starting with C{index}, masked
    mostly in advance so that the client can flood faster than the server
    could read.
    """
    head = struct.pack("!BBH", 0x82, 0x80 | 126, PAYLOAD) + MASK
    first = bytes(a ^ b for a, b in zip(struct.pack("!I", index), MASK, strict=True))
    return head + first + MASKED_ZEROS


def floodDuringOpen(port: int, seconds: float) -> int:
    """
    (Blocking client.) Open a WebSocket, then send frames for C{seconds};
    return how many were accepted by the socket.
    """
    sock = openWebSocket(port)
    sock.settimeout(0.2)
    sent = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            sock.sendall(indexedFrame(sent))
        except TimeoutError:
            break  # the server stopped reading: the kernel buffers are full
        sent += 1
    sock.settimeout(None)
    sock.close()
    return sent


def test_asyncHooksInTwoLayersKeepTheBacklogBounded(listen):
    """
    With an async onOpen in an HTTP-layer decorator and another in the
    component, a client flooding the connection while the component's onOpen
    is pending is not read (beyond the kernel's buffers), and the messages
    that were read arrive after onOpen, in order.
    """
    component = SlowOpen(seconds=2.0)
    server = listen(HttpServer(SlowGate(WsServer(component))))
    sent = inThread(floodDuringOpen, server.portNumber, 1.5)
    # Unbounded, a client gets hundreds of 64 KB messages accepted a second;
    # bounded, only what the kernel's socket buffers hold.
    assert sent * PAYLOAD < 32 * 2**20, f"{sent} messages of {PAYLOAD} bytes were accepted during onOpen"
    waitUntil(lambda: "open-end" in component.events, timeout=10, what="onOpen to finish")
    assert component.events[:2] == ["open-start", "open-end"]
    indices = component.events[2:]
    assert indices == sorted(indices) and (not indices or indices[0] == 0)
