# -*- test-case-name: tests.wamp.test_router -*-
"""
L{WampServer}: a WAMP v2 router (broker and dealer) as a ratchetpy message
component, so that it sits under L{ratchetpy.WsServer} like any other:
C{IoServer(HttpServer(WsServer(WampServer(MyApp()))))}.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from twisted.logger import Logger
from zope.interface import implementer

from ..interfaces import IConnection, IMessageComponent, IWsServerComponent
from .api import WampApi
from .codec import SUBPROTOCOLS, codecFor
from .component import procedures
from .fanout import FanOut
from .limits import (
    CALL_TIMEOUT,
    GOODBYE_TIMEOUT,
    JOIN_TIMEOUT,
    MAX_PENDING_CALLS,
    MAX_PENDING_INVOCATIONS,
    MAX_REGISTRATIONS,
    MAX_SUBSCRIPTIONS,
)
from .protocol import Router
from .realm import Realm
from .session import JOINED, WampSession

__all__ = ["WampServer"]

log = Logger(namespace="ratchetpy.wamp")


def _channels(channels: Any) -> Any:
    if channels is False:
        return None
    if channels is not None:
        return channels
    from ..pubsub import defaultBroker
    from ..pubsub.channels import Channels
    from ..pubsub.local import LocalBroker

    broker = defaultBroker()
    return None if isinstance(broker, LocalBroker) else Channels(broker)


@implementer(IMessageComponent, IWsServerComponent)
class WampServer:
    """
    A WAMP v2 router for the WebSocket connections of a L{ratchetpy.WsServer}:
    subprotocols C{wamp.2.json}, C{wamp.2.msgpack} and C{wamp.2.cbor}; the
    Basic Profile and the Advanced Profile features it announces in WELCOME
    (publisher exclusion and identification, black- and whitelisting,
    pattern-based subscriptions and registrations, shared registrations,
    call timeout and canceling, progressive results, the session meta API,
    ticket and WAMP-CRA authentication). The WebSocket layer's limits, flow
    control and slow-consumer policy apply to every session, and an event
    goes out as the same bytes to all its subscribers.

    A connection that negotiated no WAMP subprotocol is closed (1002).

    @param component: the L{WampComponent} whose hooks observe the sessions
        (PHP Ratchet's C{WampServerInterface}), or C{None} for a plain router.
        Its C{wamp} attribute is set to the default realm's L{WampApi}, and
        its L{procedure} methods are registered there.
    @param realms: the realms: names (anonymous realms), L{Realm} objects,
        or a mapping of names to L{Realm}s; the first is the default.
        Default: C{realm1}, anonymous.
    @param maxSubscriptions: subscriptions a session may hold.
    @param maxRegistrations: registrations a session may hold.
    @param maxPendingCalls: calls a session may have waiting for results.
    @param maxPendingInvocations: invocations a callee may have pending.
    @param callTimeout: seconds a call may take unless the caller set a
        shorter C{timeout}; C{0}: no limit. Then C{wamp.error.timeout}.
    @param strictUris: apply the spec's strict URI rule (lower-case letters,
        digits, C{_}) rather than the loose one.
    @param joinTimeout: seconds a connection gets to join a realm (HELLO and
        authentication) after it opened or left one; then ABORT
        C{wamp.error.timeout} and the connection is closed. C{0}: no limit.
    @param strictRequestIds: a request id that does not follow the last by
        one is a protocol violation (the spec's rule); C{False} accepts any.
    @param channels: the L{ratchetpy.Channels} that carries publications to
        the same realms in other processes (see L{ratchetpy.wamp.fanout});
        by default one on the process default broker if that is not this
        process's own (twistd's C{--broker redis://...} sets it);
        C{False}: this process only. RPC stays per process.
    @param reactor: the reactor of call timeouts.
    """

    def __init__(
        self,
        component: Any = None,
        *,
        realms: Iterable[str | Realm] | Mapping[str, Realm] | None = None,
        maxSubscriptions: int = MAX_SUBSCRIPTIONS,
        maxRegistrations: int = MAX_REGISTRATIONS,
        maxPendingCalls: int = MAX_PENDING_CALLS,
        maxPendingInvocations: int = MAX_PENDING_INVOCATIONS,
        callTimeout: float = CALL_TIMEOUT,
        strictUris: bool = False,
        strictRequestIds: bool = True,
        joinTimeout: float = JOIN_TIMEOUT,
        channels: Any = None,
        reactor: Any = None,
    ) -> None:
        for name, value in (
            ("maxSubscriptions", maxSubscriptions),
            ("maxRegistrations", maxRegistrations),
            ("maxPendingCalls", maxPendingCalls),
            ("maxPendingInvocations", maxPendingInvocations),
        ):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} is a positive int, not {value!r}")
        for name, seconds in (("callTimeout", callTimeout), ("joinTimeout", joinTimeout)):
            if not isinstance(seconds, (int, float)) or seconds < 0:
                raise ValueError(f"{name} is seconds (0: none), not {seconds!r}")
        self.realms: dict[str, Realm] = {}
        entries: Iterable[Any]
        if realms is None:
            entries = ["realm1"]
        elif isinstance(realms, Mapping):
            entries = list(realms.values())
        else:
            entries = list(realms)
        for entry in entries:
            realm = (
                entry
                if isinstance(entry, Realm)
                else Realm(entry, reactor=reactor, callTimeout=callTimeout, maxPendingInvocations=maxPendingInvocations)
            )
            if isinstance(entry, Realm) and reactor is not None:
                realm.dealer.reactor = reactor
            self.realms[realm.name] = realm
        if not self.realms:
            raise ValueError("a WampServer needs at least one realm")
        self.defaultRealm = next(iter(self.realms.values()))
        self.component = component
        #: What answers plain HTTP requests to the WebSocket's URL (a page
        #: for browsers): the component's own C{httpComponent}, which
        #: L{ratchetpy.WsServer} looks for here.
        self.httpComponent = getattr(component, "httpComponent", None)
        self.router = Router(
            self.realms,
            component,
            maxSubscriptions=maxSubscriptions,
            maxRegistrations=maxRegistrations,
            maxPendingCalls=maxPendingCalls,
            strictUris=strictUris,
            strictRequestIds=strictRequestIds,
            joinTimeout=joinTimeout,
        )
        for realm in self.realms.values():
            realm.router = self.router
        self._sessions: dict[IConnection, WampSession] = {}
        self.fanOuts = [
            FanOut(realm, c) for c in [_channels(channels)] if c is not None for realm in self.realms.values()
        ]
        if component is not None:
            component.wamp = self.wamp
            for uri, match, invoke, method in procedures(component):
                self.wamp.register(uri, method, match=match, invoke=invoke)

    @property
    def wamp(self) -> WampApi:
        """
        The server-side API of the default realm.
        """
        return WampApi(self.defaultRealm)

    def api(self, realm: str) -> WampApi:
        """
        The server-side API of realm C{realm}.
        """
        return WampApi(self.realms[realm])

    def getSubProtocols(self) -> list[str]:
        return list(SUBPROTOCOLS)

    @property
    def sessionCount(self) -> int:
        """
        The number of sessions joined to a realm.
        """
        return sum(len(realm.sessions) for realm in self.realms.values())

    def onOpen(self, conn: IConnection) -> object:
        codec = codecFor(getattr(conn, "subProtocol", None))
        if codec is None:
            conn.close(1002, "speak WAMP: offer wamp.2.json, wamp.2.msgpack or wamp.2.cbor")
            return None
        self._sessions[conn] = self.router.open(conn, codec)
        return None

    def onMessage(self, conn: IConnection, msg: str | bytes) -> object:
        session = self._sessions.get(conn)
        if session is None:
            return None
        return self.router.receive(session, msg)

    def onClose(self, conn: IConnection) -> object:
        session = self._sessions.pop(conn, None)
        if session is None:
            return None
        return self.router.lost(session)

    def onError(self, conn: IConnection, exc: BaseException) -> object:
        session = self._sessions.get(conn)
        if session is None or self.component is None:
            return None
        wconn = session.wampConnection
        if wconn is None:
            return None
        return self.component.onError(wconn, exc)

    def shutdown(self, reason: str = "wamp.close.system_shutdown") -> None:
        """
        Say GOODBYE to every joined session (their connections close when
        they answer).
        """
        for session in list(self._sessions.values()):
            if session.state == JOINED:
                self.router.goodbye(session, reason, None, GOODBYE_TIMEOUT)

    def __repr__(self) -> str:
        return f"<WampServer realms {list(self.realms)} of {self.sessionCount} sessions>"
