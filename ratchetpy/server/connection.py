# -*- test-case-name: tests.server.test_io -*-
"""
The connection object of the transport layer, and the connection I/O that
every layer above shares.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import count
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from twisted.internet.interfaces import ITransport
from zope.interface import implementer

from ..interfaces import IConnection, IConnectionIO
from . import batch
from .addresses import hostOf
from .direct import passesBytesTo
from .flow import DEFAULT_SEND_LIMIT, FlowControl, SendLimit
from .limits import ConnectionCounter

if TYPE_CHECKING:
    from ..broadcast import SharedMessage
    from ..interfaces import IHttpRequest

_resourceIds = count(1)


def numberConnectionsAs(worker: int, workers: int) -> None:
    """
    Give this process's connections the C{resourceId}s of worker C{worker}
    of C{workers} (from 1): C{worker}, C{worker + workers}, ... so that the
    workers on one port never give two connections one id, and ids stay
    small.
    """
    global _resourceIds
    if not 1 <= worker <= workers:
        raise ValueError(f"worker {worker} of {workers}: workers are numbered from 1 to {workers}")
    _resourceIds = count(worker, workers)


@implementer(IConnection, IConnectionIO)
class IoConnection(FlowControl):
    """
    A connection on a Twisted transport, as L{ratchetpy.IoServer} hands it to
    its component, and the L{IConnectionIO} of every layer above it
    (C{conn.io} is this object, from every view of the connection).

    It is also an L{IConsumer<twisted.internet.interfaces.IConsumer>} (C{write}, C{registerProducer},
    C{unregisterProducer}) whose writes are bounded like L{send}'s: see
    L{ratchetpy.server.flow}.

    When a protocol layer takes over the byte stream (the WebSocket layer after
    its handshake), it calls L{upgradeTo}; from then on L{send} and L{close} go
    through that layer's connection, so that anything holding this connection
    (a decorator, the server's shutdown) closes it properly, with a WebSocket
    close frame rather than a cut.
    """

    __slots__ = (
        "resourceId",
        "remoteAddress",
        "peerAddress",
        "user",
        "session",
        "transport",
        "reactor",
        "openConnections",
        "httpRequest",
        "_state",
        "_upgraded",
        "_readPauses",
        "_component",
        "_receiver",
    )

    def __init__(
        self,
        transport: ITransport,
        sendLimit: SendLimit = DEFAULT_SEND_LIMIT,
        *,
        reactor: Any = None,
        openConnections: ConnectionCounter | None = None,
        component: Any = None,
    ) -> None:
        FlowControl.__init__(self, sendLimit)
        self.resourceId: int = next(_resourceIds)
        self.peerAddress: str = hostOf(transport.getPeer())
        self.remoteAddress: str = self.peerAddress
        self.user: Any = None
        self.session: Any = None
        self.transport = transport
        self.reactor = reactor
        self.openConnections = openConnections if openConnections is not None else ConnectionCounter()
        self.httpRequest: IHttpRequest | None = None
        self._state: SimpleNamespace | None = None
        self._upgraded: IConnection | None = None
        self._readPauses = 0
        # The component the server hands this connection's bytes to.
        self._component = component
        # What takes this connection's bytes in place of the component's
        # layers (receiveDirectly); None: the layers do.
        self._receiver: Callable[[bytes], object] | None = None

    def setRemoteAddress(self, address: str) -> None:
        """
        The client is C{address}, as a trusted proxy said: from now on
        C{remoteAddress} is C{address} (C{peerAddress} stays the proxy's),
        and the server counts the connection toward C{address}.
        """
        self.openConnections.moved(self.remoteAddress, address)
        self.remoteAddress = address

    @property
    def io(self) -> IoConnection:
        return self

    @property
    def state(self) -> SimpleNamespace:
        # Created on first use: most connections of a broadcast server never
        # need one.
        if self._state is None:
            self._state = SimpleNamespace()
        return self._state

    def forgetRequest(self) -> None:
        """
        Forget what belonged to the request just answered (C{user},
        C{session}, C{state}), before the next one on this connection.
        """
        self.user = None
        self.session = None
        self._state = None

    def receiveDirectly(self, layer: Any, view: IConnection, receiver: Callable[[bytes], object]) -> bool:
        """
        From now on, hand this connection's bytes to C{receiver} in place of
        the server's component, if each layer from that component down to
        C{layer} would pass them on unchanged, to C{layer} as C{view}
        (L{ratchetpy.server.direct}).

        @return: whether it does.
        """
        if self._component is None or not passesBytesTo(self._component, self, layer, view):
            return False
        self._receiver = receiver
        return True

    def stopReceivingDirectly(self) -> None:
        """
        Hand this connection's bytes to the server's component again (a layer
        in between now treats them differently).
        """
        self._receiver = None

    def upgradeTo(self, connection: IConnection) -> None:
        """
        Route L{send}, L{sendShared} and L{close} through C{connection} from
        now on.
        """
        self._upgraded = connection

    def send(self, data: str | bytes) -> None:
        if self._upgraded is not None:
            self._upgraded.send(data)
        elif getattr(self.transport, "disconnecting", False):
            return
        else:
            self.writeMessage(data.encode("utf-8") if isinstance(data, str) else data)

    def writeMessage(self, data: bytes) -> None:
        if self._unsent is None:
            if not batch.hold(self, data):
                self.transport.write(data)
        elif not self.shouldDrop(len(data)):
            self._writeBehind(data)

    def sendShared(self, message: SharedMessage) -> None:
        if self._upgraded is not None:
            self._upgraded.sendShared(message)
        else:
            self.send(message.data)

    def close(self, code: int = 1000, reason: str = "") -> None:
        if self._upgraded is not None:
            self._upgraded.close(code, reason)
        else:
            self.loseConnection()

    def loseConnection(self) -> None:
        # What it was sent during this read goes out before it closes.
        batch.flush(self)
        self.transport.loseConnection()

    def abort(self) -> None:
        abort = getattr(self.transport, "abortConnection", None)
        if abort is not None:
            # An aborted transport drops what it holds; so does the batch.
            batch.discard(self)
            abort()
        else:
            self.loseConnection()

    def pauseReading(self) -> None:
        self._readPauses += 1
        if self._readPauses == 1:
            pause = getattr(self.transport, "pauseProducing", None)
            if pause is not None:
                pause()

    def resumeReading(self) -> None:
        if self._readPauses == 0:
            raise RuntimeError(f"resumeReading on {self!r}, whose reading is not paused")
        self._readPauses -= 1
        if self._readPauses == 0:
            resume = getattr(self.transport, "resumeProducing", None)
            if resume is not None:
                resume()

    @property
    def readingPaused(self) -> bool:
        """
        Whether some layer has paused reading (see L{pauseReading}).
        """
        return self._readPauses > 0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.resourceId} from {self.remoteAddress or 'local'}>"
