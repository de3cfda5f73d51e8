# -*- test-case-name: tests.wamp.test_ratchet -*-
"""
L{Topic}: one subscription of a realm's broker, which is also PHP Ratchet's
C{Topic} (its C{TopicManager}'s semantics: it exists while it has
subscribers, and a later subscription to the same URI is a new one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .broker import Broker
    from .connection import WampConnection
    from .session import WampSession

__all__ = ["Topic"]


def _sessionIds(items: Iterable[Any]) -> set[int]:
    ids = set()
    for item in items:
        if isinstance(item, int):
            ids.add(item)
        else:
            ids.add(item.sessionId)
    return ids


class Topic:
    """
    A topic URI (or pattern, with its C{match} policy) that sessions are
    subscribed to: the subscription the broker keeps for it, shared by all of
    its subscribers (so an event to it is encoded once).

    As Ratchet's C{Topic}: C{len(topic)} is the number of subscribed
    sessions, iterating gives their connections, C{str(topic)} and
    C{getId()} give the URI.

    @ivar uri: the topic URI (or pattern).
    @ivar match: C{"exact"}, C{"prefix"} or C{"wildcard"}.
    @ivar subscriptionId: the WAMP subscription id.
    """

    def __init__(self, broker: Broker, uri: str, match: str, subscriptionId: int) -> None:
        self.broker = broker
        self.uri = uri
        self.match = match
        self.subscriptionId = subscriptionId
        self.pattern = tuple(uri.split(".")) if match == "wildcard" else ()
        self.sessions: dict[WampSession, None] = {}
        self.handlers: list[Callable[..., object]] = []

    def getId(self) -> str:
        """
        The topic's URI (Ratchet's C{getId}).
        """
        return self.uri

    def __str__(self) -> str:
        return self.uri

    def __len__(self) -> int:
        return len(self.sessions)

    def __iter__(self) -> Iterator[WampConnection]:
        return iter([s.wampConnection for s in tuple(self.sessions) if s.wampConnection is not None])

    def has(self, conn: WampConnection) -> bool:
        """
        Whether C{conn}'s session is subscribed.
        """
        return conn._session in self.sessions

    def add(self, conn: WampConnection) -> None:
        """
        Subscribe C{conn}'s session, as if it had subscribed (events then
        reach it with this topic's subscription id, which its client learns
        only from a SUBSCRIBED: meant for sessions that had subscribed).
        """
        self.broker.attach(conn._session, self)

    def remove(self, conn: WampConnection) -> None:
        """
        Unsubscribe C{conn}'s session (its client is told with UNSUBSCRIBED if
        it announced C{subscription_revocation}; otherwise events just stop).
        """
        self.broker.revoke(conn._session, self)

    def broadcast(self, msg: Any, exclude: Iterable[Any] = (), eligible: Iterable[Any] | None = None) -> None:
        """
        Send C{msg} as an event (its only positional argument) to this
        topic's subscribers, but those in C{exclude}, and only those in
        C{eligible} unless it is C{None}. Both hold connections or session
        ids. The subscribers of this process only (Ratchet's semantics; for
        every process sharing the broker, publish with C{self.wamp.publish}).
        As in Ratchet, the sender is not excluded unless listed; unlike
        Ratchet's C{array()}, an empty C{eligible} means nobody (WAMP v2's
        meaning), and C{None} means everybody.
        """
        excluded = _sessionIds(exclude)
        allowed = _sessionIds(eligible) if eligible is not None else None
        receivers = [s for s in self.sessions if s.id not in excluded and (allowed is None or s.id in allowed)]
        self.broker.deliver(self, receivers, [msg], None, {}, handlers=allowed is None and not excluded)

    def __repr__(self) -> str:
        return f"<Topic {self.uri!r} ({self.match}) of {len(self.sessions)}>"
