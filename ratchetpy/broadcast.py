# -*- test-case-name: tests.test_broadcast -*-
"""
L{ConnectionGroup}: sending one message to many connections, framed once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from .interfaces import IConnection
from .metrics.recorder import recording


class SharedMessage:
    """
    One message on its way to many connections (C{conn.sendShared}): a layer
    may keep what it made of the message for one receiver to reuse it for
    the others, as the WebSocket layer keeps the message framed once.

    @ivar data: the message: C{str} (text) or C{bytes} (binary).
    @ivar prepared: the WebSocket layer's frame of it; C{None} until the first
        WebSocket receiver framed it.
    """

    __slots__ = ("data", "prepared")

    def __init__(self, data: str | bytes) -> None:
        self.data = data
        self.prepared: Any = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.data[:40]!r}>"


class ConnectionGroup:
    """
    A set of connections (the clients of a chat, the subscribers of a topic)
    with L{broadcast}, which frames a WebSocket message once for all of them
    rather than once per connection.

    Each connection is sent a L{SharedMessage} (C{conn.sendShared}):
    WebSocket connections, decorated ones included, share one frame;
    connections that negotiated permessage-deflate get the message compressed
    for them (by Autobahn); connections that are behind in reading go through
    the server's slow-consumer policy as with C{send}; raw TCP connections,
    and those of a L{ratchetpy.ConnectionDecorator} that overrides C{send},
    get C{send(msg)}. Connections that are closing are skipped.
    """

    __slots__ = ("_members",)

    def __init__(self, connections: Iterable[IConnection] = ()) -> None:
        # A dict keeps insertion order: messages go out in the order clients
        # joined, which makes logs and tests predictable.
        self._members: dict[IConnection, None] = dict.fromkeys(connections)

    def add(self, conn: IConnection) -> None:
        self._members[conn] = None

    def discard(self, conn: IConnection) -> None:
        self._members.pop(conn, None)

    def __contains__(self, conn: object) -> bool:
        return conn in self._members

    def __iter__(self) -> Iterator[IConnection]:
        return iter(self._members)

    def __len__(self) -> int:
        return len(self._members)

    def broadcast(self, msg: str | bytes, exclude: IConnection | Iterable[IConnection] | None = None) -> None:
        """
        Send C{msg} (C{str}: a text message, C{bytes}: binary) to every
        connection of the group but C{exclude} (one connection, or several).
        """
        if exclude is None:
            excluded: Any = ()
        elif hasattr(exclude, "send") and not isinstance(exclude, Iterable):
            # One connection (a generator of connections has a send method too).
            excluded = (exclude,)
        else:
            excluded = set(exclude)
        shared = SharedMessage(msg)
        # A copy: a send may end up changing the group (a decorator's send,
        # or a component reacting to a close).
        members = tuple(self._members)
        if recording.on:
            recording.broadcast(len(members) - sum(1 for conn in excluded if conn in self._members))
        for conn in members:
            if conn in excluded:
                continue
            sendShared = getattr(conn, "sendShared", None)
            if sendShared is not None:
                sendShared(shared)
            else:
                # A connection of the application's own with only send().
                conn.send(msg)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {len(self._members)}>"
