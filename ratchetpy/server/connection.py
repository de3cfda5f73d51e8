# -*- test-case-name: tests.test_ioserver -*-
"""
The connection object of the transport layer.
"""

from __future__ import annotations

from itertools import count
from types import SimpleNamespace
from typing import TYPE_CHECKING

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import IAddress, ITransport
from zope.interface import implementer

from ..interfaces import IConnection
from .flow import DEFAULT_SEND_LIMIT, FlowControl, SendLimit

if TYPE_CHECKING:
    from ..interfaces import IHttpRequest

_resourceIds = count(1)


def hostOf(address: IAddress) -> str:
    """
    The IP address of C{address} as text, IPv6 without brackets; C{""} for
    addresses that have none (UNIX sockets).
    """
    if isinstance(address, (IPv4Address, IPv6Address)):
        return address.host
    return ""


@implementer(IConnection)
class IoConnection(FlowControl):
    """
    A connection on a Twisted transport, as L{ratchetpy.IoServer} hands it to
    its component.

    It is also an L{IConsumer} (C{write}, C{registerProducer},
    C{unregisterProducer}) whose writes are bounded like L{send}'s: see
    L{ratchetpy.server.flow}.

    When a protocol layer takes over the byte stream (the WebSocket layer after
    its handshake), it calls L{upgradeTo}; from then on L{send} and L{close} go
    through that layer's connection, so that anything holding this connection
    (a decorator, the server's shutdown) closes it properly, with a WebSocket
    close frame rather than a cut.
    """

    __slots__ = ("resourceId", "remoteAddress", "transport", "httpRequest", "_state", "_upgraded")

    def __init__(self, transport: ITransport, sendLimit: SendLimit = DEFAULT_SEND_LIMIT) -> None:
        FlowControl.__init__(self, sendLimit)
        self.resourceId: int = next(_resourceIds)
        self.remoteAddress: str = hostOf(transport.getPeer())
        self.transport = transport
        self.httpRequest: IHttpRequest | None = None
        self._state: SimpleNamespace | None = None
        self._upgraded: IConnection | None = None

    @property
    def state(self) -> SimpleNamespace:
        # Created on first use: most connections of a broadcast server never
        # need one.
        if self._state is None:
            self._state = SimpleNamespace()
        return self._state

    def upgradeTo(self, connection: IConnection) -> None:
        """
        Route L{send} and L{close} through C{connection} from now on.
        """
        self._upgraded = connection

    def send(self, data: str | bytes) -> None:
        if self._upgraded is not None:
            self._upgraded.send(data)
        elif getattr(self.transport, "disconnecting", False):
            return
        else:
            if isinstance(data, str):
                data = data.encode("utf-8")
            if self._unsent is None:
                self.transport.write(data)
            else:
                self._writeBehind(data)

    def close(self, code: int = 1000, reason: str = "") -> None:
        if self._upgraded is not None:
            self._upgraded.close(code, reason)
        else:
            self.transport.loseConnection()

    def _closeBehind(self, code: int, reason: str) -> str:
        # The slow-consumer policy. A peer this far behind would read a close
        # frame only after megabytes, if ever, so the connection is aborted at
        # once, freeing them; the close frame still moves the WebSocket layer
        # to closing, so nothing more is sent.
        self.transport.abortConnection()
        if self._upgraded is None:
            return "closed"
        self._upgraded.close(code, reason)
        return f"closed ({code})"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.resourceId} from {self.remoteAddress or 'local'}>"
