# -*- test-case-name: tests.test_dispatch -*-
"""
L{MessageComponent}: the base class applications subclass.
"""

from __future__ import annotations

from zope.interface import implementer

from .interfaces import IConnection, IMessageComponent


@implementer(IMessageComponent)
class MessageComponent:
    """
    A component with do-nothing hooks: override the ones you need.

    Each hook may be a plain method, an C{async def} coroutine, or return a
    L{Deferred<twisted.internet.defer.Deferred>}; see L{ratchetpy.interfaces} for the lifecycle and ordering
    guarantees. A failing hook is logged with its traceback and reported to
    L{onError}; the connection is then closed (close code 1011).
    """

    def onOpen(self, conn: IConnection) -> object:
        """
        A connection was opened.
        """

    def onMessage(self, conn: IConnection, msg: str | bytes) -> object:
        """
        A message arrived: C{str} for WebSocket text, C{bytes} otherwise.
        """

    def onClose(self, conn: IConnection) -> object:
        """
        The connection is gone; called exactly once per opened connection.
        """

    def onError(self, conn: IConnection, exc: BaseException) -> object:
        """
        One of this component's hooks failed with C{exc}; it is already logged,
        and the connection is closed after this returns.
        """
