# -*- test-case-name: tests.server.test_flow -*-
"""
Flow control: what a connection has not sent yet is bounded.

Every L{IoConnection} registers itself with the transport that owns its socket
as a streaming producer (L{IPushProducer}). Twisted's TCP transport pauses it
when more than 64 KiB wait in the transport's buffer and resumes it once the
buffer is empty. While it is paused the connection is not writable, and what
is sent on it is counted; once that is more than C{maxSendBuffer} bytes, the
server's slow-consumer policy applies:

    - C{"close"} (the default): one line is logged, a WebSocket is sent close
      code 1008 (Policy Violation), and the TCP connection is aborted at once:
      a peer that does not read would never read the close frame, and aborting
      frees the megabytes waiting for it;
    - C{"drop"}: what is sent to the connection is discarded, whole messages
      at a time, until the transport's buffer has drained; then one line says
      how much was dropped.

Components see C{conn.isWritable}, and may register a producer of their own
with C{conn.registerProducer}: it is paused and resumed along with the
connection (a transport takes only one producer), and stopped when the
connection is lost.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from twisted.internet.interfaces import IConsumer, IPushProducer
from twisted.logger import Logger
from twisted.protocols.policies import ProtocolWrapper
from zope.interface import implementer

from .._ratelimit import LogBudget
from .._twisted import PullToPush as _PullToPush
from .._twisted import writeNow
from ..options import MAX_SEND_BUFFER, SLOW_CONSUMER_POLICIES, SLOW_CONSUMER_POLICY, option
from ..websocket.codes import POLICY_VIOLATION
from . import batch
from .addresses import describeClient, describePeer
from .logs import connectionFields

if TYPE_CHECKING:
    from twisted.internet.interfaces import IProducer

log = Logger(namespace="ratchetpy")
_slowConsumers = LogBudget(log)

# FlowControl._unsent: None while writable, the bytes sent since the transport
# paused it while paused, or one of these: past the limit under "drop"
# (discard what is sent), closed by the "close" policy (discard), or lost (let
# writes through: the transport discards them).
_DROPPING = -1
_CUT = -2
_LOST = -3


def describeConnection(conn: FlowControl) -> str:
    """
    The peer of C{conn} for log lines: C{host:port} of the socket, or the
    client and the proxy it came through.
    """
    if conn.remoteAddress != conn.peerAddress:  # type: ignore[attr-defined]
        return describeClient(conn)
    return describePeer(conn.transport)


def checkSendLimit(maxSendBuffer: object, policy: object) -> None:
    """
    @raise ValueError: C{maxSendBuffer} is not a positive C{int} or C{policy}
        is not one of L{SLOW_CONSUMER_POLICIES}.
    """
    option("maxSendBuffer").check(maxSendBuffer)
    option("slowConsumerPolicy").check(policy)


class SendLimit:
    """
    How far behind each connection of one server may fall, and what happens
    to one that falls further. Shared by all of the server's connections.

    @ivar maxSendBuffer: bytes a connection may be sent while its transport's
        own buffer is full before C{policy} applies.
    @ivar policy: C{"close"} or C{"drop"}.
    @ivar slowClosed: connections closed for falling behind (C{"close"}).
    @ivar slowDropping: times a connection fell behind and had what is sent
        to it dropped (C{"drop"}).
    @ivar droppedMessages: messages dropped so, and C{droppedBytes} their
        bytes.
    """

    __slots__ = (
        "maxSendBuffer", "policy", "_dropping", "slowClosed", "slowDropping", "droppedMessages", "droppedBytes"
    )

    def __init__(self, maxSendBuffer: int = MAX_SEND_BUFFER, policy: str = SLOW_CONSUMER_POLICY) -> None:
        checkSendLimit(maxSendBuffer, policy)
        self.maxSendBuffer = maxSendBuffer
        self.policy = policy
        # Only connections dropping messages now: [messages, bytes, since].
        self._dropping: dict[FlowControl, list[float]] = {}
        self.slowClosed = self.slowDropping = self.droppedMessages = self.droppedBytes = 0

    def _fellBehind(self, conn: FlowControl) -> None:
        if self.policy == "drop":
            conn._unsent = _DROPPING
            self._dropping[conn] = [0, 0, time.monotonic()]
            self.slowDropping += 1
            return
        conn._unsent = _CUT
        self.slowClosed += 1
        _slowConsumers.info(
            "slow-consumer",
            "connection {resourceId} from {peer} is more than {limit} bytes behind: {how}",
            peer=describeConnection(conn),
            **connectionFields(conn),
            limit=self.maxSendBuffer,
            # Only a protocol layer's connection (a WebSocket) has close codes.
            how="closed" if conn._upgraded is None else f"closed ({POLICY_VIOLATION})",
        )
        # A peer this far behind would read a close frame only after
        # megabytes, if ever: the close moves a WebSocket layer to closing
        # (nothing more is framed for it; the frame itself is discarded like
        # every write from now on), and the abort frees what waits for it.
        conn.close(POLICY_VIOLATION, f"too slow: more than {self.maxSendBuffer} bytes unsent")
        conn.abort()

    def _dropped(self, conn: FlowControl, size: int) -> None:
        counts = self._dropping.get(conn)
        if counts is not None:
            counts[0] += 1
            counts[1] += size
            self.droppedMessages += 1
            self.droppedBytes += size

    def _stopDropping(self, conn: FlowControl, outcome: str) -> None:
        counts = self._dropping.pop(conn, None)
        if counts is None:
            return
        messages, size, since = counts
        _slowConsumers.info(
            "slow-consumer",
            "connection {resourceId} from {peer} fell more than {limit} bytes behind: {messages} messages "
            "({size} bytes) to it were dropped in {seconds:.1f} s, until it {outcome}",
            peer=describeConnection(conn),
            **connectionFields(conn),
            limit=self.maxSendBuffer,
            messages=int(messages),
            size=int(size),
            seconds=time.monotonic() - since,
            outcome=outcome,
        )


#: The limit of connections built without one.
DEFAULT_SEND_LIMIT = SendLimit()


def socketTransport(transport: Any) -> Any:
    """
    The transport under every L{ProtocolWrapper} around C{transport}: the one
    whose buffer fills when the peer does not read. Under TLS the producer is
    registered there rather than with the TLS layer, which holds
    C{loseConnection} back for as long as a producer is registered with it.
    """
    while isinstance(transport, ProtocolWrapper) and transport.transport is not None:
        transport = transport.transport
    return transport


@implementer(IPushProducer, IConsumer)
class FlowControl:
    """
    The flow control of one connection; a base of L{IoConnection}, which sets
    C{transport} and C{resourceId} and provides C{close} and C{abort}.

    To its transport, an L{IPushProducer}: L{pauseProducing},
    L{resumeProducing} and L{stopProducing} are called by the transport, not
    by components. To components, an L{IConsumer}: L{write},
    L{registerProducer}, L{unregisterProducer}; and L{isWritable}.
    """

    __slots__ = ("_unsent", "_producer", "_sendLimit")

    transport: Any
    resourceId: int
    _upgraded: Any

    def __init__(self, sendLimit: SendLimit) -> None:
        self._unsent: int | None = None
        self._producer: Any = None
        self._sendLimit = sendLimit

    def _startFlowControl(self) -> None:
        """
        Register with the transport, as a streaming producer.
        """
        register = getattr(socketTransport(self.transport), "registerProducer", None)
        if register is not None:
            register(self, True)

    @property
    def isWritable(self) -> bool:
        """
        Whether the peer is keeping up: C{False} while the transport's buffer
        is full, and once the connection is closed.
        """
        return self._unsent is None

    # IPushProducer, for the transport

    def pauseProducing(self) -> None:
        # Twisted calls this on every write while its buffer is full.
        if self._unsent is None:
            self._unsent = 0
            if self._producer is not None:
                self._producer.pauseProducing()

    def resumeProducing(self) -> None:
        unsent = self._unsent
        if unsent is None or unsent < _DROPPING:
            return
        self._unsent = None
        if unsent == _DROPPING:
            self._sendLimit._stopDropping(self, "caught up")
        transport = socketTransport(self.transport)
        if getattr(transport, "disconnecting", False):
            # A TCP transport told to loseConnection waits for a producer it
            # has paused to be unregistered before it closes.
            transport.unregisterProducer()
        elif self._producer is not None:
            self._producer.resumeProducing()

    def stopProducing(self) -> None:
        self._connectionLost()

    def _connectionLost(self) -> None:
        """
        The connection is gone: stop what a component streams into it.
        """
        if self._unsent == _DROPPING:
            self._sendLimit._stopDropping(self, "was closed")
        self._unsent = _LOST
        batch.discard(self)
        producer, self._producer = self._producer, None
        if producer is not None:
            producer.stopProducing()

    # IConsumer, for components

    def registerProducer(self, producer: IProducer, streaming: bool) -> None:
        """
        Register C{producer} to write to this connection: a push producer
        (C{streaming=True}) is paused while the connection is not writable and
        resumed once it is; a pull producer is asked for data as long as the
        connection is writable. Either is told C{stopProducing} when the
        connection is lost.

        @raise RuntimeError: a producer is already registered.
        """
        if self._producer is not None:
            raise RuntimeError(
                f"Cannot register producer {producer!r}, because producer {self._producer!r} was never unregistered."
            )
        if self._unsent is not None and self._unsent < _DROPPING:
            producer.stopProducing()
            return
        if streaming:
            self._producer = producer
        else:
            pusher = self._producer = _PullToPush(producer, self)
            pusher.startStreaming()
        if self._unsent is not None:
            self._producer.pauseProducing()

    def unregisterProducer(self) -> None:
        """
        Forget the registered producer, if any.
        """
        producer, self._producer = self._producer, None
        if isinstance(producer, _PullToPush):
            producer.stopStreaming()

    def write(self, data: bytes) -> None:
        """
        Write C{data} to the transport as it is, counted against the send
        limit while the transport's buffer is full.
        """
        if self._unsent is None:
            if not batch.hold(self, data):
                self.transport.write(data)
        else:
            self._writeBehind(data)

    def _flush(self, chunks: list[Any]) -> None:
        """
        Write C{chunks[1:]}, what was held for this connection during a read
        (L{ratchetpy.server.batch}), in one piece.
        """
        data = chunks[1] if len(chunks) == 2 else b"".join(chunks[1:])
        if self._unsent is None:
            writeNow(self.transport, data)
        else:
            self._writeBehind(data)

    def shouldDrop(self, size: int) -> bool:
        """
        Whether a message of C{size} bytes about to be written is to be
        dropped whole: the connection is past its limit under the "drop"
        policy (the message is counted as dropped) or has been cut.
        """
        unsent = self._unsent
        if unsent is None:
            return False
        if unsent == _DROPPING:
            self._sendLimit._dropped(self, size)
            return True
        return unsent == _CUT

    def _writeBehind(self, data: bytes) -> None:
        if self._unsent == _CUT:
            return
        # Under "drop", what still arrives here was not a droppable message
        # (a layer that frames messages asks shouldDrop first): control
        # frames, a close frame, an HTTP response. It goes out, counted.
        self.transport.write(data)
        self._wrote(len(data))

    def _wrote(self, size: int) -> None:
        """
        C{size} more bytes were written while the transport is paused.
        """
        unsent = self._unsent
        if unsent is None or unsent < 0:
            return
        unsent += size
        if unsent > self._sendLimit.maxSendBuffer:
            self._sendLimit._fellBehind(self)
        else:
            self._unsent = unsent

    def close(self, code: int = 1000, reason: str = "") -> None:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError


__all__ = ["FlowControl", "SendLimit", "MAX_SEND_BUFFER", "SLOW_CONSUMER_POLICIES", "POLICY_VIOLATION"]
