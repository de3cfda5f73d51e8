# -*- test-case-name: tests.wamp.test_protocol -*-
"""
L{WampSession}: one WAMP session on one WebSocket connection, what it
announced and what it holds in its realm.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from autobahn.wamp.message import Message

if TYPE_CHECKING:
    from ..interfaces import IConnection
    from .codec import Codec
    from .connection import WampConnection
    from .dealer import PendingCall
    from .realm import Realm
    from .topic import Topic

__all__ = ["WampSession", "newId", "ESTABLISHING", "CHALLENGING", "JOINED", "CLOSING", "CLOSED"]

#: Session states: waiting for HELLO, for AUTHENTICATE, joined, waiting for
#: the answer to the router's GOODBYE, over (input ignored).
ESTABLISHING, CHALLENGING, JOINED, CLOSING, CLOSED = range(5)

#: The largest WAMP id (2**53).
MAX_ID = 2**53


def newId() -> int:
    """
    A random id in [1, 2**53], as the spec asks of global-scope ids
    (sessions, publications).
    """
    return secrets.randbelow(MAX_ID) + 1


class WampSession:
    """
    The router's side of one session: its connection and codec, state,
    identity (realm, authid, authrole, authmethod), the features its roles
    announced, and what it holds (subscriptions, registrations, calls it is
    waiting for, invocations it is to answer).
    """

    def __init__(self, conn: IConnection, codec: Codec) -> None:
        self.conn = conn
        self.codec = codec
        self.state = ESTABLISHING
        self.id = 0
        self.realm: Realm | None = None
        self.authid: str | None = None
        self.authrole: str | None = None
        self.authmethod: str | None = None
        self.authprovider: str | None = None
        self.roles: dict[str, Any] = {}
        self.wampConnection: WampConnection | None = None
        self.lastRequest = 0
        self.subscriptions: dict[int, Topic] = {}
        self.registrations: dict[int, Any] = {}
        self.calls: dict[int, PendingCall] = {}
        self.invocations: dict[int, PendingCall] = {}
        self.nextInvocation = 0
        #: Calls handed to the component's onCall, not answered yet.
        self.ratchetCalls: set[int] = set()
        self.pendingAuth: Any = None
        self.goodbyeTimer: Any = None
        self.joinTimer: Any = None

    def feature(self, role: str, name: str) -> bool:
        """
        Whether the session announced C{name} among the features of its role
        C{role} (C{"callee"}, C{"call_canceling"}).
        """
        features = self.roles.get(role)
        return bool(getattr(features, name, False)) if features is not None else False

    def hasRole(self, role: str) -> bool:
        return role in self.roles

    def send(self, msg: Message) -> None:
        """
        Send C{msg} to the client.
        """
        self.conn.send(self.codec.encode(msg))

    def invocationId(self) -> int:
        """
        The next INVOCATION request id to this session (session scope: 1, 2, ...).
        """
        self.nextInvocation = self.nextInvocation % MAX_ID + 1
        return self.nextInvocation

    def details(self) -> dict[str, Any]:
        """
        The session's details as the session meta API gives them.
        """
        transport: dict[str, Any] = {"type": "websocket", "protocol": self.codec.subProtocol}
        if self.conn.remoteAddress:
            transport["peer"] = f"tcp4:{self.conn.remoteAddress}"
        return {
            "session": self.id,
            "authid": self.authid,
            "authrole": self.authrole,
            "authmethod": self.authmethod,
            "authprovider": self.authprovider,
            "transport": transport,
        }

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id} {self.authid!r} on {self.conn!r}>"
