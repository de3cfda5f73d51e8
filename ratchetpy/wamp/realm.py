# -*- test-case-name: tests.wamp.test_router -*-
"""
L{Realm}: one WAMP routing realm: its sessions, broker, dealer, the
router's own peer in it, and who may join it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .broker import Broker
from .dealer import Dealer
from .limits import CALL_TIMEOUT, MAX_PENDING_INVOCATIONS
from .local import LocalPeer

if TYPE_CHECKING:
    from .session import WampSession

__all__ = ["Realm"]


class Realm:
    """
    A WAMP realm: sessions that join it can publish to and call each other.

    @param name: the realm's name (C{"realm1"}).
    @param anonymous: whether sessions may join without credentials (as
        authid C{anonymous-<n>}... their session id, authrole
        C{anonymous}); a connection that a L{ratchetpy.auth.Authenticate}
        layer recognised joins as its user whatever this says.
    @param authenticators: the L{ratchetpy.wamp.auth} authenticators a
        session may use (C{ticket}, C{wampcra}), tried by the HELLO's
        C{authmethods}.
    @param authorize: C{authorize(conn, action, uri)}, called before each
        C{"subscribe"}, C{"publish"}, C{"register"} and C{"call"} of a
        session (C{conn} an L{IWampConnection}: C{conn.authid},
        C{conn.authrole}, C{conn.user}); a false result refuses it with
        C{wamp.error.not_authorized} (as does an exception, logged). Must not
        block. C{None}: everything is allowed.
    """

    def __init__(
        self,
        name: str = "realm1",
        *,
        anonymous: bool = True,
        authenticators: Sequence[Any] = (),
        authorize: Callable[[Any, str, str], object] | None = None,
        reactor: Any = None,
        callTimeout: float = CALL_TIMEOUT,
        maxPendingInvocations: int = MAX_PENDING_INVOCATIONS,
    ) -> None:
        if reactor is None:
            from twisted.internet import reactor as default

            reactor = default
        self.name = name
        self.anonymous = anonymous
        self.authenticators = {a.authmethod: a for a in authenticators}
        self.authorize = authorize
        self.broker = Broker()
        self.dealer = Dealer(reactor, callTimeout, maxPendingInvocations)
        self.local = LocalPeer(self.dealer)
        self.sessions: dict[int, WampSession] = {}
        #: The L{ratchetpy.wamp.protocol.Router} serving this realm (set by
        #: its L{WampServer}).
        self.router: Any = None
        from .meta import installMeta

        self.meta = installMeta(self)

    def __repr__(self) -> str:
        return f"<Realm {self.name!r} of {len(self.sessions)} sessions>"
