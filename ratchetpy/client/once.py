# -*- test-case-name: tests.client.test_client -*-
"""
L{connectOnce}: one connection, no component, its messages kept for
C{receive()}: for scripts and tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from ..component import MessageComponent
from .connection import MAX_QUEUE, ClientConnection
from .connector import Client


def connectOnce(
    url: str,
    *,
    subProtocols: Sequence[str] = (),
    headers: Mapping[str, str] | None = None,
    reactor: Any = None,
    maxQueue: int = MAX_QUEUE,
    **options: Any,
) -> Deferred[ClientConnection]:
    """
    Connect to C{url} once, for scripts and tests: the connection's messages
    are kept (up to C{maxQueue} unread; then the server is not read until
    one is taken) for C{conn.receive()}, and C{conn.whenClosed()} fires with
    the close code and reason. No reconnecting::

        conn = await connectOnce("ws://127.0.0.1:8080/")
        conn.send("hello")
        print(await conn.receive())
        conn.close()
        code, reason = await conn.whenClosed()

    Takes the options of L{connect}.

    @return: a L{Deferred} of the open L{ClientConnection}, failing with
        L{HandshakeRefused} (C{.status}) if the server refused the handshake,
        L{ConnectFailed} if there was no connection. Cancelling it gives up
        the attempt.
    """
    client = Client(
        url,
        _Messages(),
        subProtocols=subProtocols,
        headers=headers,
        reconnect=None,
        reactor=reactor,
        maxQueue=maxQueue,
        **options,
    )
    client.start()
    connected = client.whenConnected()

    def giveUp(_: object) -> None:
        client.stop()

    result: Deferred[ClientConnection] = Deferred(giveUp)

    def passOn(outcome: object) -> None:
        if result.called:
            return
        if isinstance(outcome, Failure):
            result.errback(outcome)
        else:
            result.callback(outcome)  # type: ignore[arg-type]

    connected.addBoth(passOn)
    return result


class _Messages(MessageComponent):
    """
    The component of a L{connectOnce} connection: its hooks go to the
    connection's own L{Inbox}.
    """

    def onOpen(self, conn: Any) -> None:
        pass

    def onMessage(self, conn: Any, msg: str | bytes) -> Deferred[None] | None:
        return conn._inbox.onMessage(conn, msg)  # type: ignore[no-any-return]

    def onClose(self, conn: Any) -> None:
        conn._inbox.onClose(conn)


__all__ = ["connectOnce"]
