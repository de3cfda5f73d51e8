# -*- test-case-name: tests.test_broadcast -*-
"""
L{ConnectionGroup}: sending one message to many connections, framed once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from autobahn.websocket.protocol import PreparedMessage

from .interfaces import IConnection
from .websocket.connection import WsConnection


class ConnectionGroup:
    """
    A set of connections (the clients of a chat, the subscribers of a topic)
    with L{broadcast}, which frames a WebSocket message once for all of them
    rather than once per connection.

    Connections that negotiated permessage-deflate get the message compressed
    for them (by Autobahn), connections that are behind in reading go through
    the server's slow-consumer policy as with C{send}, and any other
    connection (raw TCP, or one wrapped by a L{ratchetpy.ConnectionDecorator})
    gets C{conn.send(msg)}. Connections that are closing are skipped.
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
        elif hasattr(exclude, "send"):
            excluded = (exclude,)
        else:
            excluded = set(exclude)  # type: ignore[arg-type]
        prepared = None
        # A copy: a send may end up changing the group (a decorator's send,
        # or a component reacting to a close).
        for conn in tuple(self._members):
            if conn in excluded:
                continue
            if type(conn) is WsConnection:
                if prepared is None:
                    payload = msg.encode("utf-8") if isinstance(msg, str) else bytes(msg)
                    prepared = PreparedMessage(payload, not isinstance(msg, str), False, False)
                conn.sendPrepared(prepared, msg)
            else:
                conn.send(msg)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {len(self._members)}>"
