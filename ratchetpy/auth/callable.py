# -*- test-case-name: tests.auth.test_callable -*-
"""
L{CallableAuth}: a function as an authenticator, for an API key header or an
internal service.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from zope.interface import implementer

from ..interfaces import IAuthenticator


@implementer(IAuthenticator)
class CallableAuth:
    """
    An authenticator that calls C{fn(request)} (C{request}: an
    L{ratchetpy.auth.AuthRequest}); C{fn} returns a L{ratchetpy.auth.User},
    C{None} (not its credentials: ask the next authenticator), or raises
    L{ratchetpy.auth.Unauthorized} or L{ratchetpy.auth.Forbidden}. It may be
    C{async def} or return a L{Deferred<twisted.internet.defer.Deferred>}. An API key, compared in constant
    time::

        import hmac

        def apiKey(request):
            given = request.headers.get("x-api-key")
            if given is None:
                return None
            if not hmac.compare_digest(given.encode(), API_KEY):
                raise Unauthorized("wrong API key")
            return User("service")

    C{fn} runs in the reactor thread: it must not block. Work that blocks (a
    database without an asynchronous driver) goes to a thread::

        from twisted.internet.threads import deferToThread

        def fromDatabase(request):
            return deferToThread(lookUpSessionBlocking, request.cookies.get("sid"))

    @param usesCookies: C{fn} reads cookies; a route using it must have an
        L{ratchetpy.OriginCheck} in front (see L{IAuthenticator.usesCookies}).
    @param challenge: the C{WWW-Authenticate} value of the 401 when C{fn}
        raises L{ratchetpy.auth.Unauthorized} (e.g. C{'ApiKey
        realm="internal"'}); none by default.
    """

    def __init__(
        self, fn: Callable[[Any], object], *, usesCookies: bool = False, challenge: str | None = None
    ) -> None:
        if not callable(fn):
            raise TypeError(f"CallableAuth needs a callable, not {fn!r}")
        self.fn = fn
        self.usesCookies = usesCookies
        self.challenge = challenge

    def authenticate(self, request: Any) -> object:
        return self.fn(request)

    def __repr__(self) -> str:
        return f"CallableAuth({getattr(self.fn, '__qualname__', repr(self.fn))})"


def asAuthenticator(candidate: Any) -> Any:
    """
    C{candidate} as an L{IAuthenticator}: an object with an C{authenticate}
    method as it is, a plain callable in a L{CallableAuth} (keeping its
    C{usesCookies} and C{challenge} attributes, if it has them).

    @raise TypeError: C{candidate} is neither.
    """
    if IAuthenticator.providedBy(candidate) or callable(getattr(candidate, "authenticate", None)):
        return candidate
    if callable(candidate):
        return CallableAuth(
            candidate,
            usesCookies=bool(getattr(candidate, "usesCookies", False)),
            challenge=getattr(candidate, "challenge", None),
        )
    raise TypeError(
        f"{candidate!r} is not an authenticator: give a JWTAuth, a CallableAuth or a function of the request"
    )
