# -*- test-case-name: tests.testing.test_harness -*-
"""
L{Pump}: two protocols joined by in-memory transports, as
C{twisted/test/iosim.py} joins them: what one side writes is handed to the
other's C{dataReceived} when the pump is flushed, and a side that closes its
transport ends the connection for both.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.internet.interfaces import IAddress
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure

#: The most rounds of deliveries one L{Pump.flush} makes before it decides
#: the two sides will never stop talking (a ping-pong loop).
MAX_ROUNDS = 10_000


class MemoryTransport(StringTransport):
    """
    A L{StringTransport<twisted.internet.testing.StringTransport>} that, like Twisted's socket transports, lets a
    protocol unregister a producer it never registered (Autobahn does, when
    it drops a connection).
    """

    def __init__(self, hostAddress: IAddress, peerAddress: IAddress) -> None:
        StringTransport.__init__(self, hostAddress, peerAddress)

    def value(self) -> bytes:
        data: bytes = StringTransport.value(self)
        return data

    def clear(self) -> None:
        StringTransport.clear(self)

    def unregisterProducer(self) -> None:
        self.producer = None
        self.streaming = None


class Pump:
    """
    A connection between C{server} and C{client}, each a Twisted protocol
    on a L{StringTransport<twisted.internet.testing.StringTransport>} of its own.

    @ivar serverTransport: the server's transport: its peer is
        C{clientAddress}.
    @ivar clientTransport: the client's transport.
    @ivar lost: whether the connection has ended, for both sides.
    """

    def __init__(self, server: Any, client: Any, serverAddress: IAddress, clientAddress: IAddress) -> None:
        self.server = server
        self.client = client
        self.serverTransport = MemoryTransport(hostAddress=serverAddress, peerAddress=clientAddress)
        self.clientTransport = MemoryTransport(hostAddress=clientAddress, peerAddress=serverAddress)
        self.lost = False
        self._flushing = False

    def start(self) -> None:
        """
        Connect both sides (server first, as a listening port accepts before
        the client hears it is connected) and deliver what they write.
        """
        self.server.makeConnection(self.serverTransport)
        self.client.makeConnection(self.clientTransport)
        self.flush()

    def flush(self) -> bool:
        """
        Deliver what each side has written to the other until neither has
        anything left to say; then, if either has closed or aborted its
        transport, end the connection for both (C{connectionLost}).

        Reentrant: a flush called while one runs (by a protocol's callback)
        leaves the work to the running one.

        @return: whether anything was delivered or the connection ended.

        @raise RuntimeError: the sides are still talking after L{MAX_ROUNDS}
            rounds.
        """
        if self._flushing or self.lost:
            return False
        self._flushing = True
        moved = False
        try:
            for _ in range(MAX_ROUNDS):
                if self.lost:
                    return True
                delivered = self._deliver(self.serverTransport, self.client)
                delivered = self._deliver(self.clientTransport, self.server) or delivered
                if not delivered:
                    if self._closing():
                        self._lose()
                        return True
                    return moved
                moved = True
            raise RuntimeError(f"the two sides were still talking after {MAX_ROUNDS} rounds of deliveries")
        finally:
            self._flushing = False

    def drop(self) -> None:
        """
        End the connection at once for both sides, as a cut network would,
        without delivering what either has written since the last flush.
        """
        if not self.lost:
            self.serverTransport.clear()
            self.clientTransport.clear()
            self._lose(ConnectionLost("the in-memory connection was dropped"))

    def _deliver(self, transport: MemoryTransport, protocol: Any) -> bool:
        data = transport.value()
        if not data:
            return False
        transport.clear()
        if not transport.disconnected:
            # An aborted transport's unsent bytes are lost, as on a socket.
            protocol.dataReceived(data)
        return True

    def _closing(self) -> bool:
        return any(t.disconnecting or t.disconnected for t in (self.serverTransport, self.clientTransport))

    def _lose(self, why: Exception | None = None) -> None:
        self.lost = True
        aborted = self.serverTransport.disconnected or self.clientTransport.disconnected
        reason = why or (ConnectionLost("aborted") if aborted else ConnectionDone())
        self.server.connectionLost(Failure(reason))
        self.client.connectionLost(Failure(reason))
