# -*- test-case-name: tests.client.test_client -*-
"""
L{ClientConnection}: a client's WebSocket connection, as its component's
hooks get it; and L{Inbox}, the component of L{ratchetpy.client.connectOnce}
that keeps messages until they are asked for with C{receive()}.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from zope.interface import implementer

from ..component import MessageComponent
from ..interfaces import IClientConnection, IConnection
from ..websocket.connection import WsConnection
from .errors import ConnectionClosed

#: Default unread messages a connection of L{ratchetpy.client.connectOnce}
#: keeps; with that many unread, it stops reading from the server until
#: C{receive()} takes one.
MAX_QUEUE = 32


class Inbox(MessageComponent):
    """
    Keeps the messages of one connection, at most C{maxQueue} unread: with
    that many, its C{onMessage} returns a L{Deferred} that fires when
    C{receive()} takes one, and until then the connection is not read (the
    hooks' ordering rule), so the server, not this process, holds the rest.
    """

    def __init__(self, maxQueue: int = MAX_QUEUE) -> None:
        if type(maxQueue) is not int or maxQueue < 1:
            raise ValueError(f"maxQueue must be a positive int (messages), not {maxQueue!r}")
        self.maxQueue = maxQueue
        self._messages: deque[str | bytes] = deque()
        self._waiters: deque[Deferred[str | bytes]] = deque()
        self._room: Deferred[None] | None = None
        self._closed: ConnectionClosed | None = None

    def onMessage(self, conn: IConnection, msg: str | bytes) -> Deferred[None] | None:
        if self._waiters:
            self._waiters.popleft().callback(msg)
            return None
        self._messages.append(msg)
        if len(self._messages) >= self.maxQueue:
            room = self._room = Deferred()
            return room
        return None

    def onClose(self, conn: IConnection) -> None:
        code, reason = conn.closeCode, conn.closeReason  # type: ignore[attr-defined]
        self._closed = ConnectionClosed(code if code is not None else 1006, reason or "")
        waiters, self._waiters = self._waiters, deque()
        for waiter in waiters:
            waiter.errback(self._closed)

    def receive(self) -> Deferred[str | bytes]:
        """
        The next message: at once if one is unread, else when it arrives.

        @return: a L{Deferred} of the message (C{str} for text, C{bytes} for
            binary); it fails with L{ConnectionClosed} once every message
            received before the connection closed has been taken.
        """
        if self._messages:
            message = self._messages.popleft()
            room = self._room
            if room is not None and len(self._messages) < self.maxQueue:
                self._room = None
                room.callback(None)
            return succeed(message)
        if self._closed is not None:
            return fail(self._closed)
        waiter: Deferred[str | bytes] = Deferred(self._waiters.remove)
        self._waiters.append(waiter)
        return waiter

    @property
    def unread(self) -> int:
        """
        How many messages are waiting to be taken.
        """
        return len(self._messages)


@implementer(IClientConnection)
class ClientConnection(WsConnection):
    """
    A client's WebSocket connection: what its component's hooks get, and
    what L{ratchetpy.client.connectOnce} gives.

    As on the server: C{send(str)} sends a text message, C{send(bytes)} a
    binary one; C{close(code, reason)} starts the closing handshake;
    C{subProtocol} is the one the server agreed to (or C{None}); C{state}
    is the application's. C{remoteAddress} is the server's address (C{""}
    over a UNIX socket).

    @ivar closeCode: the close code the server sent (C{1000}, C{1001}, an
        application's C{4000}-C{4999}...), C{1005} if its close frame had
        none, C{1006} if the connection ended without a closing handshake;
        C{None} while it is open.
    @ivar closeReason: the close reason the server sent (C{""} if none), or
        a description of how the connection ended without one; C{None}
        while it is open.
    """

    __slots__ = ("closeCode", "closeReason", "_inbox", "_closeWaiters")

    def __init__(self, inner: IConnection, protocol: Any, inbox: Inbox | None = None) -> None:
        super().__init__(inner, protocol)
        self.closeCode: int | None = None
        self.closeReason: str | None = None
        self._inbox = inbox
        self._closeWaiters: list[Deferred[tuple[int, str]]] | None = []

    def receive(self) -> Deferred[str | bytes]:
        """
        The next message from the server (C{str} for text, C{bytes} for
        binary), for connections made by L{ratchetpy.client.connectOnce};
        see L{Inbox.receive}. C{await conn.receive()} in a coroutine.

        @raise RuntimeError: the connection has a component of its own,
            which gets the messages.
        """
        if self._inbox is None:
            raise RuntimeError(
                "receive() is for connections made by connectOnce(); this connection's messages go to its "
                "component's onMessage"
            )
        return self._inbox.receive()

    def whenClosed(self) -> Deferred[tuple[int, str]]:
        """
        A L{Deferred} that fires with C{(closeCode, closeReason)} once the
        connection is closed and the component's C{onClose} has run (at once
        if that is so already).
        """
        waiters = self._closeWaiters
        if waiters is None:
            return succeed((self.closeCode or 1006, self.closeReason or ""))
        waiter: Deferred[tuple[int, str]] = Deferred(waiters.remove)
        waiters.append(waiter)
        return waiter

    @property
    def _hookFailed(self) -> bool:
        """
        Whether a hook of the component failed on this connection.
        """
        engine: Any = self._protocol
        return bool(engine._hooksFailed)

    def _closing(self, code: int, reason: str) -> None:
        """
        The engine says the connection ended, with what the server sent.
        """
        self.closeCode = code
        self.closeReason = reason

    def _closed(self) -> None:
        """
        The component's C{onClose} has run: fire L{whenClosed}.
        """
        waiters, self._closeWaiters = self._closeWaiters, None
        for waiter in waiters or ():
            waiter.callback((self.closeCode or 1006, self.closeReason or ""))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.resourceId} to {self._protocol.factory.target.shown}>"


__all__ = ["ClientConnection", "Inbox", "MAX_QUEUE"]
