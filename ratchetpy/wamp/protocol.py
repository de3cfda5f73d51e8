# -*- test-case-name: tests.wamp.test_protocol -*-
"""
L{Router}: the WAMP session state machine, message by message: HELLO to
WELCOME or ABORT, the broker's and dealer's requests, GOODBYE; and every
protocol violation (a message in the wrong direction or state, a request id
out of sequence, a malformed message) answered with ABORT
C{wamp.error.protocol_violation}, after which the connection is closed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from autobahn.wamp import message as m
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.role import RoleBrokerFeatures, RoleDealerFeatures
from twisted.logger import Logger

from .._ratelimit import LogBudget
from .codec import BadUri, Codec, MalformedMessage
from .connection import WampConnection
from .requests import HANDLERS, REQUEST_TYPES, REQUESTS, RequestHandlers, Violation
from .requests import error as _error
from .session import CHALLENGING, CLOSED, CLOSING, ESTABLISHING, JOINED, MAX_ID, WampSession, newId

if TYPE_CHECKING:
    from ..interfaces import IConnection
    from .realm import Realm

__all__ = ["Router", "ROUTER_ROLES", "PROTOCOL_VIOLATION"]

log = Logger(namespace="ratchetpy.wamp")
_problems = LogBudget(log)

PROTOCOL_VIOLATION = "wamp.error.protocol_violation"

#: What the router announces in WELCOME: what it implements, nothing more.
ROUTER_ROLES = {
    "broker": RoleBrokerFeatures(
        publisher_identification=True,
        pattern_based_subscription=True,
        session_meta_api=True,
        subscriber_blackwhite_listing=True,
        publisher_exclusion=True,
        subscription_revocation=True,
    ),
    "dealer": RoleDealerFeatures(
        caller_identification=True,
        pattern_based_registration=True,
        session_meta_api=True,
        shared_registration=True,
        call_timeout=True,
        call_canceling=True,
        progressive_call_results=True,
    ),
}


class Router(RequestHandlers):
    """
    Routes the messages of the sessions of its realms. One per
    L{ratchetpy.wamp.WampServer}.

    @param realms: the realms, by name.
    @param component: the L{ratchetpy.wamp.WampComponent} whose hooks observe
        the sessions, or C{None}.
    """

    def __init__(
        self,
        realms: Mapping[str, Realm],
        component: Any,
        *,
        maxSubscriptions: int,
        maxRegistrations: int,
        maxPendingCalls: int,
        strictUris: bool,
        strictRequestIds: bool,
        joinTimeout: float,
    ) -> None:
        self.realms = dict(realms)
        self.component = component
        self.maxSubscriptions = maxSubscriptions
        self.maxRegistrations = maxRegistrations
        self.maxPendingCalls = maxPendingCalls
        self.strictUris = strictUris
        self.strictRequestIds = strictRequestIds
        self.joinTimeout = joinTimeout
        from .component import WampComponent

        self._answersCalls = component is not None and (
            getattr(type(component), "onCall", None) is not getattr(WampComponent, "onCall", None)
        )

    def _hook(self, name: str, *args: Any, **kwargs: Any) -> object:
        hook = getattr(self.component, name, None) if self.component is not None else None
        if hook is None:
            return None
        return hook(*args, **kwargs)

    # Input

    def receive(self, session: WampSession, payload: str | bytes) -> object:
        """
        Handle one WebSocket message of C{session}; return what the
        component's hook returned (a L{Deferred<twisted.internet.defer.Deferred>} or coroutine the WebSocket
        layer waits for before the connection's next message), if one ran.
        """
        if session.state == CLOSED:
            return None
        try:
            try:
                decoded = session.codec.decode(payload)
            except BadUri as bad:
                return self._badUri(session, bad)
            result = None
            for msg, raw in decoded:
                if session.state == CLOSED:
                    break
                result = self._dispatch(session, msg, raw)
            return result
        except (Violation, MalformedMessage) as violation:
            self.abort(session, PROTOCOL_VIOLATION, str(violation), 1002)
            return None

    def _badUri(self, session: WampSession, bad: BadUri) -> object:
        if session.state != JOINED or bad.messageType not in REQUEST_TYPES or bad.request is None:
            raise Violation(f"invalid URI: {bad}")
        self._checkRequest(session, bad.request)
        if bad.messageType == m.Publish.MESSAGE_TYPE and not bad.options.get("acknowledge"):
            return None  # an unacknowledged PUBLISH is never answered
        session.send(_error(bad.request, bad.messageType, ApplicationError.INVALID_URI, str(bad)))
        return None

    def _checkRequest(self, session: WampSession, request: int) -> None:
        expected = session.lastRequest % MAX_ID + 1
        if request != expected and self.strictRequestIds:
            raise Violation(f"request id {request} out of sequence (expected {expected})")
        session.lastRequest = request

    def _dispatch(self, session: WampSession, msg: Any, raw: list[Any]) -> object:
        state = session.state
        if state == ESTABLISHING:
            if isinstance(msg, m.Hello):
                return self._hello(session, msg)
            raise Violation(f"{type(msg).__name__} before HELLO")
        if state == CHALLENGING:
            if isinstance(msg, m.Authenticate):
                return self._authenticate(session, msg)
            if isinstance(msg, m.Abort):
                session.state = CLOSED
                session.conn.close()
                return None
            raise Violation(f"{type(msg).__name__} while authenticating")
        # JOINED or CLOSING
        if isinstance(msg, m.Goodbye):
            return self._goodbye(session)
        if isinstance(msg, m.Abort):
            result = self.leave(session)
            session.state = CLOSED
            session.conn.close()
            return result
        if state == CLOSING:
            return None  # what crosses the router's GOODBYE is dropped
        if isinstance(msg, REQUESTS):
            self._checkRequest(session, msg.request)
            handler: Any = HANDLERS[type(msg)]
            return handler(self, session, msg, raw)
        if isinstance(msg, m.Yield):
            return self._yield(session, msg)
        if isinstance(msg, m.Error):
            return self._calleeError(session, msg)
        if isinstance(msg, m.Cancel):
            return self._cancel(session, msg)
        raise Violation(f"{type(msg).__name__} is not a message a client sends (or not in a session)")

    # Sessions

    def _hello(self, session: WampSession, msg: m.Hello) -> object:
        realm = self.realms.get(msg.realm)
        if realm is None:
            self.abort(session, ApplicationError.NO_SUCH_REALM, f"no realm {msg.realm!r} on this router", 1000)
            return None
        from .auth import startAuthentication

        session.roles = dict(msg.roles)
        return startAuthentication(self, realm, session, msg)

    def _authenticate(self, session: WampSession, msg: m.Authenticate) -> object:
        from .auth import finishAuthentication

        return finishAuthentication(self, session, msg)

    def welcome(self, realm: Realm, session: WampSession, identity: dict[str, Any]) -> object:
        """
        Let C{session} join C{realm} as C{identity} (authid, authrole,
        authmethod, authprovider): WELCOME, the meta event, C{onOpen}.
        """
        session.id = newId()
        while session.id in realm.sessions:
            session.id = newId()
        session.realm = realm
        session.authid = identity.get("authid") or str(session.id)
        session.authrole = identity.get("authrole") or "anonymous"
        session.authmethod = identity.get("authmethod") or "anonymous"
        session.authprovider = identity.get("authprovider") or "static"
        session.state = JOINED
        self._cancelJoinTimer(session)
        realm.sessions[session.id] = session
        session.send(
            m.Welcome(
                session.id,
                ROUTER_ROLES,
                realm=realm.name,
                authid=session.authid,
                authrole=session.authrole,
                authmethod=session.authmethod,
                authprovider=session.authprovider,
                authextra=identity.get("authextra"),
            )
        )
        realm.meta.joined(session)
        session.wampConnection = WampConnection(session)
        return self._hook("onOpen", session.wampConnection)

    def _goodbye(self, session: WampSession) -> object:
        if session.state == CLOSING:
            session.state = CLOSED
            if session.goodbyeTimer is not None and session.goodbyeTimer.active():
                session.goodbyeTimer.cancel()
            session.conn.close()
            return None
        session.send(m.Goodbye(reason="wamp.close.goodbye_and_out"))
        result = self.leave(session)
        session.state = ESTABLISHING
        session.lastRequest = 0
        self.armJoinTimer(session)
        return result

    def goodbye(self, session: WampSession, reason: str, message: str | None, timeout: float) -> object:
        """
        End C{session} from the router's side: GOODBYE, and the connection
        closed when it answers (or after C{timeout} seconds).
        """
        if session.state != JOINED:
            return None
        session.send(m.Goodbye(reason=reason, message=message))
        result = self.leave(session)
        session.state = CLOSING
        session.goodbyeTimer = session.conn.io.reactor.callLater(timeout, session.conn.close)
        return result

    def abort(self, session: WampSession, reason: str, message: str, closeCode: int) -> object:
        """
        ABORT C{session} with C{reason} and close its connection.
        """
        if session.state == CLOSED:
            return None
        if reason == PROTOCOL_VIOLATION:
            _problems.info(
                "wamp-violation",
                "WAMP protocol violation from {address}: {why}; session aborted",
                address=session.conn.remoteAddress,
                why=message,
            )
        session.send(m.Abort(reason, message=message))
        result = self.leave(session)
        session.state = CLOSED
        session.conn.close(closeCode, "")
        return result

    def leave(self, session: WampSession) -> object:
        """
        C{session} leaves its realm (GOODBYE, ABORT, or its connection is
        gone): subscriptions, registrations and calls go; C{onClose}.
        """
        realm = session.realm
        if session.state not in (JOINED, CLOSING) or realm is None:
            return None
        session.state = CLOSED
        for topic in list(session.subscriptions.values()):
            if realm.broker.detach(session, topic):
                pass
        realm.dealer.detach(session)
        session.ratchetCalls.clear()
        realm.sessions.pop(session.id, None)
        session.realm = None
        realm.meta.left(session)
        conn, session.wampConnection = session.wampConnection, None
        if conn is not None:
            return self._hook("onClose", conn)
        return None

    # The connection

    def open(self, conn: IConnection, codec: Codec) -> WampSession:
        session = WampSession(conn, codec)
        self.armJoinTimer(session)
        return session

    def armJoinTimer(self, session: WampSession) -> None:
        """
        Give C{session} L{joinTimeout} seconds to join a realm.
        """
        if self.joinTimeout:
            session.joinTimer = session.conn.io.reactor.callLater(self.joinTimeout, self._joinTimedOut, session)

    def _cancelJoinTimer(self, session: WampSession) -> None:
        timer, session.joinTimer = session.joinTimer, None
        if timer is not None and timer.active():
            timer.cancel()

    def _joinTimedOut(self, session: WampSession) -> None:
        session.joinTimer = None
        if session.state in (ESTABLISHING, CHALLENGING):
            _problems.info(
                "wamp-join-timeout",
                "WAMP connection from {address} did not join a realm within {timeout} seconds; closed",
                address=session.conn.remoteAddress,
                timeout=self.joinTimeout,
            )
            self.abort(
                session, ApplicationError.TIMEOUT, f"join a realm within {self.joinTimeout} seconds (joinTimeout)", 1000
            )

    def lost(self, session: WampSession) -> object:
        """
        The connection of C{session} is gone.
        """
        if session.goodbyeTimer is not None and session.goodbyeTimer.active():
            session.goodbyeTimer.cancel()
        self._cancelJoinTimer(session)
        result = self.leave(session)
        session.state = CLOSED
        return result
