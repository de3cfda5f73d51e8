# -*- test-case-name: tests.wamp.test_auth -*-
"""
Who joins a realm: anonymous sessions (opt-in per realm), the user an
L{ratchetpy.auth.Authenticate} layer already recognised on the WebSocket
(authid = C{conn.user.id}), and WAMP's own challenge-response methods:
L{TicketAuth} (a ticket, which may be a JWT checked by
L{ratchetpy.auth.JWTAuth}) and L{WampCraAuth} (WAMP-CRA).

A failure is answered with ABORT C{wamp.error.authentication_failed} (or
C{wamp.error.no_auth_method}); the log line is rate-limited and never
quotes the secret.
"""

from __future__ import annotations

import hmac
import json
import secrets
import time
from collections.abc import Callable, Mapping
from inspect import iscoroutine
from typing import TYPE_CHECKING, Any

from autobahn.wamp import message as m
from autobahn.wamp.auth import compute_wcs
from autobahn.wamp.exception import ApplicationError
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from .._ratelimit import LogBudget
from .session import CHALLENGING, ESTABLISHING

if TYPE_CHECKING:
    from .protocol import Router
    from .realm import Realm
    from .session import WampSession

__all__ = ["TicketAuth", "WampCraAuth", "startAuthentication", "finishAuthentication"]

log = Logger(namespace="ratchetpy.wamp")
_failures = LogBudget(log)


def _identity(found: Any, authid: str | None, authmethod: str) -> dict[str, Any] | None:
    """
    An identity (authid, authrole, ...) from what a check returned: an
    L{IUser}, a C{dict}, a role name, C{True}; C{None}/C{False}: refused.
    """
    if found is None or found is False:
        return None
    if isinstance(found, dict):
        return {
            "authid": found.get("authid", authid),
            "authrole": found.get("authrole", "user"),
            "authmethod": authmethod,
            "authextra": found.get("authextra"),
        }
    if isinstance(found, str):
        return {"authid": authid, "authrole": found, "authmethod": authmethod}
    if found is True:
        return {"authid": authid, "authrole": "user", "authmethod": authmethod}
    userId = getattr(found, "id", None)
    if userId is not None:
        info = getattr(found, "info", None) or {}
        return {"authid": str(userId), "authrole": info.get("authrole", "user"), "authmethod": authmethod}
    return None


class TicketAuth:
    """
    WAMP's C{ticket} method: the client sends a ticket (a password, an API
    key, a JWT) when challenged.

    @param check: a mapping of authid to ticket (or to C{(ticket,
        authrole)}), compared in constant time; or a function:
        C{check(authid, ticket)} returns who it is (an L{IUser},
        a C{dict} with C{authid}/C{authrole}, an authrole C{str}, or
        C{True}) or C{None}/C{False} to refuse; or a L{Deferred} or
        coroutine of it. It may raise L{ratchetpy.auth.Unauthorized}.
    @param jwt: instead of C{check}, a L{ratchetpy.auth.JWTAuth}: the ticket
        is a JWT, its C{sub} the authid.
    """

    authmethod = "ticket"

    def __init__(
        self, check: Mapping[str, Any] | Callable[[str | None, str], Any] | None = None, *, jwt: Any = None
    ) -> None:
        if (check is None) == (jwt is None):
            raise TypeError("TicketAuth takes either check or jwt")
        if isinstance(check, Mapping):
            check = _staticTickets(dict(check))
        self._check = check
        self._jwt = jwt

    def challenge(self, session: WampSession, hello: m.Hello) -> dict[str, Any]:
        return {}

    def verify(self, session: WampSession, hello: m.Hello, state: Any, signature: str) -> Any:
        if self._jwt is not None:
            return self._jwt.userOf(signature)
        assert self._check is not None
        return self._check(hello.authid, signature)


def _staticTickets(tickets: dict[str, Any]) -> Callable[[str | None, str], Any]:
    def check(authid: str | None, ticket: str) -> Any:
        entry = tickets.get(authid) if authid is not None else None
        if entry is None:
            return None
        expected, role = entry if isinstance(entry, tuple) else (entry, "user")
        if hmac.compare_digest(str(expected).encode("utf-8"), str(ticket).encode("utf-8")):
            return role
        return None

    return check


class WampCraAuth:
    """
    WAMP-CRA: the router sends a challenge, the client answers with its
    HMAC-SHA256 under the user's secret (Autobahn's C{compute_wcs}); compared
    in constant time.

    @param users: authid → secret, or authid → C{(secret, authrole)}, or
        authid → C{{"secret": ..., "authrole": ..., "salt": ...,
        "iterations": ..., "keylen": ...}} for salted WAMP-CRA (then
        C{secret} is the key derived from the password,
        C{autobahn.wamp.auth.derive_key(password, salt, iterations,
        keylen)}, so the password itself is never stored); or a callable
        C{users(authid)} giving that (or C{None}), possibly as a
        L{Deferred}.
    """

    authmethod = "wampcra"

    def __init__(self, users: Mapping[str, Any] | Callable[[str], Any]) -> None:
        self._users = users

    def _lookup(self, authid: str | None) -> Any:
        if authid is None:
            return None
        if callable(self._users):
            return self._users(authid)
        return self._users.get(authid)

    def challenge(self, session: WampSession, hello: m.Hello) -> Any:
        def withUser(entry: Any) -> Any:
            if entry is None:
                return None
            salting: dict[str, Any] = {}
            if isinstance(entry, dict):
                secret, role = entry["secret"], entry.get("authrole", "user")
                if entry.get("salt") is not None:
                    salting = {
                        "salt": entry["salt"],
                        "iterations": entry.get("iterations", 1000),
                        "keylen": entry.get("keylen", 32),
                    }
            else:
                secret, role = entry if isinstance(entry, tuple) else (entry, "user")
            challenge = json.dumps(
                {
                    "authid": hello.authid,
                    "authrole": role,
                    "authmethod": "wampcra",
                    "authprovider": "static",
                    "nonce": secrets.token_urlsafe(24),
                    "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "session": session.id or 0,
                }
            )
            session.pendingAuth = (self, hello, (secret, role, challenge))
            return {"challenge": challenge, **salting}

        return maybeDeferred(self._lookup, hello.authid).addCallback(withUser)

    def verify(self, session: WampSession, hello: m.Hello, state: Any, signature: str) -> Any:
        secret, role, challenge = state
        expected = compute_wcs(secret.encode("utf-8") if isinstance(secret, str) else secret, challenge.encode())
        if isinstance(expected, bytes):
            expected = expected.decode("ascii")
        if hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8", "replace")):
            return role
        return None


def _fail(router: Router, session: WampSession, why: str, authid: str | None = None) -> None:
    _failures.info(
        "wamp-auth",
        "WAMP authentication failed from {address} (authid {authid!r}): {why}",
        address=session.conn.remoteAddress,
        authid=authid,
        why=why,
    )
    router.abort(session, ApplicationError.AUTHENTICATION_FAILED, why, 1000)


def startAuthentication(router: Router, realm: Realm, session: WampSession, hello: m.Hello) -> object:
    """
    The start of joining C{realm} on C{hello}: WELCOME at once (a user the
    WebSocket layer knows, or an anonymous session), a CHALLENGE, or ABORT.
    """
    user = getattr(session.conn, "user", None)
    if user is not None:
        info = getattr(user, "info", None) or {}
        return router.welcome(
            realm,
            session,
            {"authid": str(user.id), "authrole": info.get("authrole", "user"), "authmethod": "websocket"},
        )
    methods = hello.authmethods or ["anonymous"]
    for method in methods:
        authenticator = realm.authenticators.get(method)
        if authenticator is not None:
            session.state = CHALLENGING
            session.pendingAuth = (authenticator, hello, None)

            def challenged(extra: Any, authenticator: Any = authenticator) -> None:
                if session.state != CHALLENGING:
                    return
                if extra is None:
                    _fail(router, session, "unknown authid", hello.authid)
                    return
                session.send(m.Challenge(authenticator.authmethod, extra))

            outcome = maybeDeferred(authenticator.challenge, session, hello)
            outcome.addCallback(challenged).addErrback(
                lambda f: _fail(router, session, f"challenge failed: {type(f.value).__name__}", hello.authid)
            )
            return None
        if method == "anonymous" and realm.anonymous:
            return router.welcome(realm, session, {"authmethod": "anonymous", "authrole": "anonymous"})
    router.abort(
        session,
        ApplicationError.NO_AUTH_METHOD,
        f"realm {realm.name!r} accepts none of the authmethods {methods}",
        1000,
    )
    return None


def finishAuthentication(router: Router, session: WampSession, msg: m.Authenticate) -> object:
    """
    The client's AUTHENTICATE: WELCOME or ABORT.
    """
    authenticator, hello, state = session.pendingAuth
    session.pendingAuth = None
    realm = router.realms[hello.realm]

    def call() -> Any:
        result = authenticator.verify(session, hello, state, msg.signature)
        return Deferred.fromCoroutine(result) if iscoroutine(result) else result

    def decided(found: Any) -> object:
        if session.state != CHALLENGING:
            return None
        identity = _identity(found, hello.authid, authenticator.authmethod)
        if identity is None:
            _fail(router, session, "invalid credentials", hello.authid)
            return None
        session.state = ESTABLISHING
        joined = router.welcome(realm, session, identity)
        # onOpen's result: the session's next message waits for it, and its
        # failure is the component's (logged, onError, closed).
        return Deferred.fromCoroutine(joined) if iscoroutine(joined) else joined

    def failed(failure: Failure) -> None:
        if session.state == CHALLENGING:
            _fail(router, session, "invalid credentials", hello.authid)

    outcome = maybeDeferred(call)
    outcome.addCallbacks(decided, failed)
    return outcome
