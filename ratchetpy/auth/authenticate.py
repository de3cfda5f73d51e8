# -*- test-case-name: tests.auth.test_authenticate -*-
"""
L{Authenticate}: the one authentication layer, between L{HttpServer} and
L{WsServer} (PHP Ratchet's C{SessionProvider} slot)::

    IoServer(HttpServer(Authenticate(WsServer(Chat()), JWTAuth(key, algorithms=["HS256"]))))
"""

from __future__ import annotations

import time
from inspect import iscoroutine
from typing import Any

from twisted.internet.defer import Deferred, TimeoutError
from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure

from .._ratelimit import LogBudget
from ..decorator import ComponentDecorator
from ..http.response import closeWithResponse
from ..interfaces import IConnection, IHttpRequest, IHttpServerComponent, IUser
from ..options import (
    AUTH_FAILURE_WINDOW,
    AUTH_TIMEOUT,
    AUTHENTICATE,
    EXPIRY_GRACE,
    MAX_AUTH_FAILURES,
    MAX_TRACKED_ADDRESSES,
    checkOptions,
)
from ..pubsub import BrokerUnavailable
from .callable import asAuthenticator
from .failures import AuthenticationFailed, FailureThrottle, Unauthorized
from .request import AuthRequest

log = Logger(namespace="ratchetpy")
_outages = LogBudget(log)

#: The sentence of every refusal to build a stack with cookies and no origin check.
CSWSH = (
    "browsers send cookies on cross-site WebSocket handshakes too, so any web page could connect as its visitor "
    "(cross-site WebSocket hijacking)"
)


class _Anonymous:
    """
    The outcome "no authenticator recognised anything" (C{None} is a user of
    no one only when anonymous access is allowed).
    """


_NOBODY = _Anonymous()


class Authenticate(ComponentDecorator):
    """
    Recognises who is connecting before the WebSocket upgrade, and sets
    C{conn.user} before the wrapped component's C{onOpen} (for WebSocket
    connections and plain HTTP requests alike).

    The C{authenticators} (L{IAuthenticator}s, or functions of the request:
    see L{ratchetpy.auth.CallableAuth}) are asked in order; the first that
    recognises the credentials decides:
        - a user: C{conn.user} is that user, and the request goes on;
        - L{ratchetpy.auth.Unauthorized}: 401 with C{WWW-Authenticate};
        - L{ratchetpy.auth.Forbidden}: 403.
    If none recognises anything: 401, or, with C{allowAnonymous},
    C{conn.user} is C{None} and the request goes on.

    Authenticators may be asynchronous: meanwhile the connection is not
    read, so bytes the client sent after its request (WebSocket frames
    pipelined after the handshake) wait. Those that take longer than
    C{authTimeout} seconds get the client a 503.

    Each refusal is logged as one line (rate-limited, without the
    credentials). An address with C{maxAuthFailures} failed authentications
    within C{authFailureWindow} seconds is refused with 429 and
    C{Retry-After} until its oldest failure is that old; at most
    C{maxTrackedAddresses} addresses are remembered.

    @param throttle: a L{FailureThrottle} to share with other
        L{Authenticate}s (L{ratchetpy.App} shares one between its routes); by
        default one of its own, from the limits above.
    @ivar authenticators: the authenticators, in order.
    @ivar throttle: the L{FailureThrottle}.
    """

    def __init__(
        self,
        component: IHttpServerComponent,
        *authenticators: Any,
        allowAnonymous: bool = False,
        maxAuthFailures: int = MAX_AUTH_FAILURES,
        authFailureWindow: float = AUTH_FAILURE_WINDOW,
        maxTrackedAddresses: int = MAX_TRACKED_ADDRESSES,
        authTimeout: float = AUTH_TIMEOUT,
        expiryGrace: float = EXPIRY_GRACE,
        throttle: FailureThrottle | None = None,
        reactor: Any = None,
    ) -> None:
        checkOptions(
            AUTHENTICATE,
            maxAuthFailures=maxAuthFailures,
            authFailureWindow=authFailureWindow,
            maxTrackedAddresses=maxTrackedAddresses,
            authTimeout=authTimeout,
            expiryGrace=expiryGrace,
        )
        if not authenticators and not allowAnonymous:
            raise TypeError("Authenticate needs at least one authenticator (or allowAnonymous=True)")
        super().__init__(component)
        self.authenticators = [asAuthenticator(a) for a in authenticators]
        self.allowAnonymous = allowAnonymous
        self.authTimeout = authTimeout
        self.expiryGrace = expiryGrace
        self._expiries: dict[IConnection, CredentialsExpiry] = {}
        self.throttle = throttle if throttle is not None else FailureThrottle(
            maxAuthFailures, authFailureWindow, maxTrackedAddresses
        )
        self._reactor = reactor

    @property
    def usesCookies(self) -> bool:
        """
        Whether one of the authenticators reads cookies.
        """
        return any(getattr(a, "usesCookies", False) for a in self.authenticators)

    def onOpen(self, conn: IConnection, request: IHttpRequest) -> object:
        retryAfter = self.throttle.retryAfter(conn.remoteAddress)
        if retryAfter is not None:
            self.refuse(conn)
            closeWithResponse(
                conn,
                429,
                f"too many failed authentications from this address; try again in {retryAfter} seconds",
                [("Retry-After", str(retryAfter))],
            )
            return None
        authRequest = AuthRequest(conn, request)
        try:
            outcome = self._ask(authRequest, 0)
        except Exception:
            self._fail(Failure(), conn)
            return None
        if isinstance(outcome, Deferred):
            if self.authTimeout:
                reactor = self._reactor if self._reactor is not None else conn.io.reactor
                if reactor is None:
                    from twisted.internet import reactor
                outcome.addTimeout(self.authTimeout, reactor)
            return outcome.addCallbacks(
                self._decided, self._fail, callbackArgs=(conn, request, authRequest), errbackArgs=(conn,)
            )
        return self._decided(outcome, conn, request, authRequest)

    def _ask(self, request: AuthRequest, start: int) -> object:
        """
        Ask the authenticators from index C{start} on.

        @return: a user, L{_NOBODY}, or a L{Deferred<twisted.internet.defer.Deferred>} of either.
        """
        authenticators = self.authenticators
        for index in range(start, len(authenticators)):
            authenticator = authenticators[index]
            try:
                result = authenticator.authenticate(request)
            except AuthenticationFailed as failed:
                failed.authenticator = authenticator  # type: ignore[attr-defined]
                raise
            if iscoroutine(result):
                result = Deferred.fromCoroutine(result)
            if isinstance(result, Deferred):
                return result.addCallbacks(
                    self._answered, self._answerFailed, callbackArgs=(request, index), errbackArgs=(authenticator,)
                )
            if result is not None:
                return result
        return _NOBODY

    def _answered(self, result: object, request: AuthRequest, index: int) -> object:
        if result is not None:
            return result
        return self._ask(request, index + 1)

    @staticmethod
    def _answerFailed(failure: Failure, authenticator: Any) -> Failure:
        if isinstance(failure.value, AuthenticationFailed):
            failure.value.authenticator = authenticator  # type: ignore[attr-defined]
        return failure

    def _decided(
        self, outcome: object, conn: IConnection, request: IHttpRequest, authRequest: AuthRequest
    ) -> object:
        if outcome is _NOBODY:
            if not self.allowAnonymous:
                self._fail(Failure(Unauthorized("no credentials")), conn)
                return None
            outcome = None
        elif not IUser.providedBy(outcome):
            self._fail(
                Failure(TypeError(f"an authenticator returned {type(outcome).__name__}, not a User or None")), conn
            )
            return None
        elif outcome.expiresAt is not None and outcome.expiresAt <= time.time():
            self._fail(Failure(Unauthorized("credentials expired")), conn)
            return None
        if _gone(conn):
            # The client left while it was being authenticated.
            self.refuse(conn)
            return None
        # On the connection I/O, so that every layer's view of it sees the user.
        conn.io.user = outcome
        if authRequest.session is not None:
            conn.io.session = authRequest.session
        if outcome is not None and outcome.expiresAt is not None and request.isWebSocketUpgrade:
            reactor = self._reactor if self._reactor is not None else conn.io.reactor
            if reactor is None:
                from twisted.internet import reactor
            self._expiries[conn] = CredentialsExpiry(conn, self.expiryGrace, reactor, self._expiries)
        return self.component.onOpen(conn, request)

    def onClose(self, conn: IConnection) -> object:
        expiry = self._expiries.get(conn)
        if expiry is not None:
            expiry.stop()
        return super().onClose(conn)

    def _fail(self, failure: Failure, conn: IConnection) -> None:
        self.refuse(conn)
        error = failure.value
        if isinstance(error, AuthenticationFailed):
            self.throttle.failed(conn.remoteAddress)
            headers: list[tuple[str, str]] = []
            if error.status == 401:
                authenticator = getattr(error, "authenticator", None)
                asked = [authenticator] if authenticator is not None else self.authenticators
                headers = [
                    ("WWW-Authenticate", challenge)
                    for challenge in dict.fromkeys(getattr(a, "challenge", None) for a in asked)
                    if challenge
                ]
            closeWithResponse(conn, error.status, f"{error.reason or 'not allowed'}", headers)
            return None
        if isinstance(error, BrokerUnavailable):
            # Redis, where tickets and sessions may live, is down: the
            # client may try again; the outage is logged by the broker too.
            _outages.warn("store", "could not check credentials on connection {resourceId}: {why}",
                          resourceId=conn.resourceId, why=error)
            closeWithResponse(
                conn, 503, "the server cannot check credentials right now; try again shortly", reason="auth_unavailable"
            )
            return None
        if isinstance(error, TimeoutError):
            closeWithResponse(
                conn, 503, f"authentication did not finish within {self.authTimeout:g} seconds", reason="auth_timeout"
            )
            return None
        # A bug in an authenticator: its traceback, but not its request.
        log.failure(
            "an authenticator failed on connection {resourceId}", failure, resourceId=conn.resourceId,
            level=LogLevel.error,
        )
        closeWithResponse(conn, 500, "the server failed to authenticate this request")
        return None


#: The close code of a WebSocket whose user's credentials expired (and were
#: not renewed within the grace period): reconnect with fresh credentials.
CREDENTIALS_EXPIRED = 4001

#: The expiry of each watched connection, by its connection I/O (which
#: every layer's view of the connection shares), for L{renewUser}.
_watched: dict[Any, CredentialsExpiry] = {}


class CredentialsExpiry:
    """
    Closes a WebSocket connection with L{CREDENTIALS_EXPIRED} once its
    user's C{expiresAt} is C{grace} seconds past, unless the user was
    renewed meanwhile (L{renewUser}).
    """

    def __init__(self, conn: IConnection, grace: float, reactor: Any, registry: dict[Any, Any]) -> None:
        self.conn = conn
        self.grace = grace
        self.reactor = reactor
        self._registry = registry
        self._call: Any = None
        _watched[conn.io] = self
        self.rearm()

    def rearm(self) -> None:
        """
        Set the timer from the connection's current user.
        """
        self.cancel()
        user = self.conn.user
        if user is None or user.expiresAt is None:
            return
        delay = max(0.0, user.expiresAt + self.grace - time.time())
        self._call = self.reactor.callLater(delay, self._due)

    def _due(self) -> None:
        self._call = None
        user = self.conn.user
        if user is not None and user.expiresAt is not None and user.expiresAt + self.grace > time.time():
            self.rearm()
            return
        self.stop()
        log.info(
            "closing connection {resourceId} of user {userId}: credentials expired",
            resourceId=self.conn.resourceId,
            userId=getattr(user, "id", None),
        )
        self.conn.close(CREDENTIALS_EXPIRED, "credentials expired")

    def cancel(self) -> None:
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None

    def stop(self) -> None:
        """
        Stop watching: the connection closed.
        """
        self.cancel()
        self._registry.pop(self.conn, None)
        _watched.pop(self.conn.io, None)


def renewUser(conn: IConnection, user: IUser) -> None:
    """
    Renew the credentials of C{conn} with C{user}, recognised from fresh
    credentials the client sent in a message (say, a new JWT: see
    L{ratchetpy.auth.JWTAuth.userOf}); the connection's expiry is then
    C{user.expiresAt}::

        def onMessage(self, conn, msg):
            if msg.startswith("renew "):
                renewUser(conn, self.auth.userOf(msg[6:]))

    @raise ValueError: C{user} is someone else (a connection's user does not
        change: close it, and connect as the other user), or its credentials
        have expired already.
    @raise TypeError: C{user} is not an L{IUser}.
    """
    if not IUser.providedBy(user):
        raise TypeError(f"renewUser needs a User, not {type(user).__name__}")
    current = conn.user
    if current is not None and current.id != user.id:
        raise ValueError(
            f"connection {conn.resourceId} belongs to user {current.id!r}, not {user.id!r}: a connection's user "
            "does not change; close it and connect as the other user"
        )
    if user.expiresAt is not None and user.expiresAt <= time.time():
        raise ValueError("the renewed credentials have expired already")
    conn.io.user = user
    expiry = _watched.get(conn.io)
    if expiry is not None:
        expiry.rearm()


def _gone(conn: IConnection) -> bool:
    transport = conn.io.transport
    return bool(getattr(transport, "disconnecting", False) or getattr(transport, "disconnected", False))


def findUnguardedCookieAuth(component: Any, guarded: bool = False, seen: set[int] | None = None) -> Any:
    """
    The first L{Authenticate} with a cookie authenticator among C{component}
    and the components it wraps (through decorators, L{ratchetpy.Router}
    routes, a L{WsServer}'s HTTP component) that has no
    L{ratchetpy.OriginCheck} in front of it (one allowing C{"*"} does not
    count); C{None} if there is none.
    """
    from ..http.origin import OriginCheck
    from .session import SessionProvider

    seen = set() if seen is None else seen
    if component is None or id(component) in seen:
        return None
    seen.add(id(component))
    if isinstance(component, OriginCheck) and "*" not in component.allowedOrigins:
        guarded = True
    if isinstance(component, (Authenticate, SessionProvider)) and component.usesCookies and not guarded:
        return component
    attributes = vars(component) if hasattr(component, "__dict__") else {}
    inner = [attributes.get("component"), attributes.get("http")]
    inner += [route.component for route in getattr(component, "routes", None) or ()]
    for candidate in inner:
        found = findUnguardedCookieAuth(candidate, guarded, seen)
        if found is not None:
            return found
    return None
