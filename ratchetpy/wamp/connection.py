# -*- test-case-name: tests.wamp.test_ratchet -*-
"""
L{WampConnection}: a WAMP session's connection as a L{WampComponent}'s
hooks see it, with PHP Ratchet's C{WampConnection} methods.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from autobahn.wamp.message import Call, Error, Event, Result
from zope.interface import implementer

from ..interfaces import IWampConnection

if TYPE_CHECKING:
    from .session import WampSession

__all__ = ["WampConnection"]


@implementer(IWampConnection)
class WampConnection:
    """
    One joined WAMP session, as handed to a L{WampComponent}'s hooks (the
    same object to every hook of the session).

    @ivar sessionId: the WAMP session id (Ratchet's C{$conn->WAMP->sessionId}).
    @ivar realm: the realm's name.
    @ivar authid: who the session authenticated as (C{conn.user.id} behind an
        L{ratchetpy.auth.Authenticate} layer).
    @ivar authrole: its role (C{"anonymous"}, C{"user"}, or what an
        authenticator said).
    """

    def __init__(self, session: WampSession) -> None:
        self._session = session
        self.sessionId = session.id
        self.realm = session.realm.name if session.realm is not None else ""
        self.authid = session.authid
        self.authrole = session.authrole
        self.authmethod = session.authmethod

    @property
    def connection(self) -> Any:
        """
        The WebSocket connection underneath.
        """
        return self._session.conn

    @property
    def resourceId(self) -> int:
        return self._session.conn.resourceId

    @property
    def remoteAddress(self) -> str:
        return self._session.conn.remoteAddress

    @property
    def user(self) -> Any:
        return self._session.conn.user

    @property
    def state(self) -> SimpleNamespace:
        return self._session.conn.state

    @property
    def httpRequest(self) -> Any:
        return self._session.conn.httpRequest

    @property
    def subProtocol(self) -> str:
        return str(self._session.codec.subProtocol)

    @property
    def subscriptions(self) -> list[Any]:
        """
        The L{Topic}s the session is subscribed to.
        """
        return list(self._session.subscriptions.values())

    def callResult(self, id: int, data: Any = None) -> WampConnection:
        """
        Answer the call C{id} (one the component's C{onCall} received) with
        C{data} (the RESULT's one positional argument; none if C{None}).
        An id that is not pending (answered, canceled, unknown) is ignored.
        """
        if id in self._session.ratchetCalls:
            self._session.ratchetCalls.discard(id)
            self._session.send(Result(id, args=None if data is None else [data]))
        return self

    def callError(self, id: int, errorUri: str, desc: str = "", details: Any = None) -> WampConnection:
        """
        Answer the call C{id} with the error C{errorUri} (a URI, such as
        C{"wamp.error.not_authorized"}; Ratchet's tutorials pass the topic),
        C{desc} as its positional argument, and C{details} as its second if
        given (WAMP v1's errorDetails).
        """
        if id in self._session.ratchetCalls:
            self._session.ratchetCalls.discard(id)
            args: list[Any] = [desc] if desc or details is not None else []
            if details is not None:
                args.append(details)
            self._session.send(Error(Call.MESSAGE_TYPE, id, str(errorUri), args=args or None))
        return self

    def event(self, topic: Any, msg: Any) -> WampConnection:
        """
        Send C{msg} as an event of C{topic} (a L{Topic} or its URI) to this
        session alone, if it is subscribed to it (exactly); otherwise
        nothing is sent (a WAMP v2 client needs a subscription to receive
        events).
        """
        uri = str(topic)
        for subscription in self._session.subscriptions.values():
            if subscription.match == "exact" and subscription.uri == uri:
                from .session import newId

                self._session.send(Event(subscription.subscriptionId, newId(), args=[msg]))
                break
        return self

    def close(self, code: int = 1000, reason: str = "") -> None:
        """
        Close the WebSocket connection (the session ends with it).
        """
        self._session.conn.close(code, reason)

    def __repr__(self) -> str:
        return f"<WampConnection session {self.sessionId} ({self.authid}) in {self.realm!r}>"
