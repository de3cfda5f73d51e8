# -*- test-case-name: tests.auth.test_django -*-
"""
Django's sessions and users on WebSocket connections: L{DjangoSessionAuth}
(who is connecting, from the Django session cookie) and
L{DjangoSessionStore} (C{conn.session}, read-write, for
L{ratchetpy.auth.SessionProvider} or L{DjangoSessionAuth}).

Everything goes through Django's own machinery: the session engine of
C{settings.SESSION_ENGINE}, the authentication backends of
C{settings.AUTHENTICATION_BACKENDS}, the session hash of
C{user.get_session_auth_hash()} (and C{SECRET_KEY_FALLBACKS}). The ORM
blocks, so every call into Django runs in a thread pool of its own, with
C{django.db.close_old_connections()} before and after each job, as Channels'
C{database_sync_to_async} does.

Django is imported when one of these is built, not when ratchetpy is: a
server without Django never needs it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool
from zope.interface import implementer

from ..interfaces import IAuthenticator, ISessionStore
from .failures import Forbidden, Unauthorized
from .session import Session
from .user import User

#: The most threads a store (and the authenticator using it) calls Django in.
DJANGO_THREADS = 10

NOT_CONFIGURED = (
    "DjangoSessionAuth needs Django's settings: set DJANGO_SETTINGS_MODULE (say "
    "DJANGO_SETTINGS_MODULE=mysite.settings) or call django.conf.settings.configure(...) before building it"
)

#: Why a session of the signed_cookies engine refuses changes.
IN_COOKIE = (
    "Django's signed_cookies session engine keeps the session in the cookie, and a WebSocket cannot give the "
    "browser a new cookie: change it over HTTP, or use another SESSION_ENGINE"
)

#: Why a session whose cookie names no stored session refuses changes.
NOT_STORED = (
    "this connection's session cookie names no stored Django session, and a WebSocket cannot give the browser "
    "a new cookie: log in (or touch the session) over HTTP first"
)


def setUpDjango() -> None:
    """
    Make sure Django can be used: installed, its settings known, its apps
    loaded (C{django.setup()}, once per process, if nobody did it yet).

    @raise ImportError: Django is not installed.
    @raise django.core.exceptions.ImproperlyConfigured: Django's settings
        are not known (L{NOT_CONFIGURED}), or are wrong.
    """
    try:
        import django
        from django.apps import apps
        from django.conf import settings
        from django.core.exceptions import ImproperlyConfigured
    except ImportError:
        raise ImportError("DjangoSessionAuth needs Django: pip install 'ratchetpy[django]'") from None
    # settings.configured is false until something reads a setting, even
    # with DJANGO_SETTINGS_MODULE set: both count.
    if not settings.configured and not os.environ.get("DJANGO_SETTINGS_MODULE"):
        raise ImproperlyConfigured(NOT_CONFIGURED)
    if not apps.ready:
        django.setup()


class DjangoThreads:
    """
    The bounded thread pool the calls into Django run in, started on first
    use and stopped when the reactor shuts down.

    A pool of its own rather than the reactor's: a slow database then does
    not hold up the reactor's other users of threads (name resolution).
    """

    def __init__(self, maxThreads: int = DJANGO_THREADS, reactor: Any = None) -> None:
        if maxThreads < 1:
            raise ValueError(f"maxThreads must be at least 1, not {maxThreads!r}")
        self.maxThreads = maxThreads
        self._reactor = reactor
        self._pool: ThreadPool | None = None

    def _start(self) -> tuple[Any, ThreadPool]:
        reactor = self._reactor
        if reactor is None:
            from twisted.internet import reactor
        if self._pool is None:
            pool = ThreadPool(minthreads=0, maxthreads=self.maxThreads, name="ratchetpy-django")
            pool.start()
            reactor.addSystemEventTrigger("during", "shutdown", self.stop)
            self._pool = pool
        return reactor, self._pool

    def stop(self) -> None:
        """
        Stop the pool (after the jobs it is running); a later job starts a
        new one.
        """
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.stop()

    def run(self, fn: Callable[..., Any], *args: Any) -> Deferred[Any]:
        """
        Call C{fn(*args)} in the pool, between two
        C{close_old_connections()} (a database connection left broken or
        past C{CONN_MAX_AGE} by an earlier job is not reused).

        @return: a L{Deferred} of C{fn}'s result.
        """
        reactor, pool = self._start()
        return deferToThreadPool(reactor, pool, _closingOldConnections, fn, *args)


def _closingOldConnections(fn: Callable[..., Any], *args: Any) -> Any:
    from django.db import close_old_connections

    close_old_connections()
    try:
        return fn(*args)
    finally:
        close_old_connections()


class DjangoSession(Session):
    """
    C{conn.session} on a Django session: reads and writes go to the Django
    session object (C{django.contrib.sessions.backends.*.SessionStore}),
    loaded before the connection opened, so they do not block; L{save}
    writes it through Django in the thread pool (C{session.save()}, which
    also renews its expiry, as a request that changes it does).

    It is read-only (L{ratchetpy.auth.ReadOnlySessionError}) where saving
    it would need a new cookie, which a WebSocket cannot set: with the
    C{signed_cookies} engine (the session is the cookie), and where the
    cookie names no stored session.

    The session is what it was when the connection opened: changes that
    HTTP requests make later are not seen, and L{save} writes the whole
    session back over them, as two overlapping Django requests would.

    @ivar djangoSession: the Django session object. Use it only through
        this object, or in a thread: its unloaded parts touch the database.
    """

    def __init__(self, djangoSession: Any, threads: DjangoThreads) -> None:
        from django.contrib.sessions.backends.signed_cookies import SessionStore as InCookie

        why = ""
        if isinstance(djangoSession, InCookie):
            why = IN_COOKIE
        elif djangoSession.session_key is None:
            why = NOT_STORED
        super().__init__(key=djangoSession.session_key, saver=self._saveDjango, readOnly=bool(why), why=why)
        self.djangoSession = djangoSession
        self._threads = threads

    def __getitem__(self, name: str) -> Any:
        return self.djangoSession[name]

    def __setitem__(self, name: str, value: Any) -> None:
        self._checkWritable()
        self.djangoSession[name] = value
        self.modified = True

    def __delitem__(self, name: str) -> None:
        self._checkWritable()
        del self.djangoSession[name]
        self.modified = True

    def __iter__(self) -> Iterator[str]:
        return iter(list(self.djangoSession.keys()))

    def __len__(self) -> int:
        return len(self.djangoSession.keys())

    def _saveDjango(self, session: Session) -> Deferred[Any]:
        def save() -> Any:
            self.djangoSession.save()
            return self.djangoSession.session_key

        return self._threads.run(save)


@implementer(ISessionStore)
class DjangoSessionStore:
    """
    Reads the session of the cookie C{settings.SESSION_COOKIE_NAME} with
    Django's session engine (C{settings.SESSION_ENGINE}: database, cache,
    signed cookies, files), in a thread pool, as a L{DjangoSession}; a
    request without the cookie has no session (C{None}). A cookie naming no
    stored session (forged, expired, flushed by a logout) gives an empty,
    read-only session. Use an engine both processes read: the database,
    a shared cache (not the local-memory one), or signed cookies (read-only
    here).

    For L{ratchetpy.auth.SessionProvider} (the session, whoever is
    connecting) or L{DjangoSessionAuth} (which uses one of these)::

        OriginCheck(SessionProvider(WsServer(Chat()), DjangoSessionStore()), ["www.example.com"])

    @param maxThreads: the size of its thread pool (a L{DjangoThreads}).
    @param reactor: the reactor that pool reports to; the global one by
        default.
    @raise ImportError: Django is not installed.
    @raise django.core.exceptions.ImproperlyConfigured: Django's settings
        are not known (see L{setUpDjango}).
    """

    usesCookies = True

    def __init__(self, *, maxThreads: int = DJANGO_THREADS, reactor: Any = None) -> None:
        setUpDjango()
        from django.conf import settings

        self.cookieName: str = settings.SESSION_COOKIE_NAME
        self.threads = DjangoThreads(maxThreads, reactor)

    def sessionKey(self, request: Any) -> str | None:
        """
        The session key C{request} (an L{ratchetpy.auth.AuthRequest})
        carries in its cookie, or C{None}.
        """
        key = request.cookies.get(self.cookieName)
        return key or None

    def loadBlocking(self, key: str) -> DjangoSession:
        """
        (In the thread pool.) The session of C{key}, loaded.
        """
        from importlib import import_module

        from django.conf import settings

        djangoSession = import_module(settings.SESSION_ENGINE).SessionStore(key)
        # Load it now, in this thread: reading it later from the reactor
        # thread must not touch the database. An unknown key leaves it
        # empty, with session_key None.
        djangoSession.keys()
        return DjangoSession(djangoSession, self.threads)

    def load(self, request: Any) -> Deferred[DjangoSession | None] | None:
        """
        The session of C{request}'s cookie; C{None} without the cookie.
        """
        key = self.sessionKey(request)
        if key is None:
            return None
        return self.threads.run(self.loadBlocking, key)

    def __repr__(self) -> str:
        return f"DjangoSessionStore(cookie {self.cookieName!r})"


def defaultInfo(user: Any) -> dict[str, Any]:
    """
    The C{conn.user.info} of a Django user: C{username}
    (C{user.get_username()}) and C{name}, the full name if the user model has
    one (C{get_full_name()}), else the username.
    """
    username = user.get_username()
    fullName = getattr(user, "get_full_name", None)
    return {"username": username, "name": (fullName() if callable(fullName) else "") or username}


@implementer(IAuthenticator)
class DjangoSessionAuth:
    """
    Recognises the users logged in to a Django site, from its session
    cookie: the session is read with Django's session engine, the user with
    Django's authentication backends, and the session hash checked as
    Django's C{get_user} does (a session from before a password change, or
    signed with a retired C{SECRET_KEY}, is refused), all in a thread pool.

        - no session cookie: not this authenticator's (C{None}: the next one
          is asked, or 401);
        - a cookie of no logged-in user (forged, expired, logged out,
          anonymous, from before a password change): 401;
        - a user whose C{is_active} is false: 403;
        - else C{conn.user} is C{User(id=str(user.pk), info=info(user))},
          with C{expiresAt} C{None} (a Django session slides: it is renewed
          by every request that saves it), and C{conn.session} is the
          session (a L{DjangoSession}: read-write, C{await
          conn.session.save()}).

    It reads cookies: a route that uses it needs an
    L{ratchetpy.OriginCheck} in front (L{ratchetpy.App.route} puts one).

    Unlike Django's C{get_user}, a session that matches only a
    C{SECRET_KEY_FALLBACKS} hash is accepted without cycling its key (the
    browser would be left with a dead cookie: a WebSocket cannot set a new
    one), and a session that matches no hash is refused but not flushed
    (reading a handshake writes nothing); Django does both at the user's
    next HTTP request.

    @param store: the L{DjangoSessionStore} (its thread pool is used for the
        user too); a new one by default.
    @param info: C{info(user)} gives C{conn.user.info} from the Django
        user (in the thread pool: it may use the ORM); L{defaultInfo} by
        default. Never put credentials in it: other users may see it.
    @raise ImportError: Django is not installed.
    @raise django.core.exceptions.ImproperlyConfigured: Django's settings
        are not known (see L{setUpDjango}).
    """

    usesCookies = True
    challenge = None

    def __init__(
        self,
        *,
        store: DjangoSessionStore | None = None,
        info: Callable[[Any], dict[str, Any]] | None = None,
    ) -> None:
        self.store = store if store is not None else DjangoSessionStore()
        self.info = info if info is not None else defaultInfo

    def authenticate(self, request: Any) -> Deferred[User] | None:
        key = self.store.sessionKey(request)
        if key is None:
            return None

        def decided(outcome: tuple[User, DjangoSession]) -> User:
            user, session = outcome
            request.session = session
            return user

        return self.store.threads.run(self.authenticateBlocking, key).addCallback(decided)

    def authenticateBlocking(self, key: str) -> tuple[User, DjangoSession]:
        """
        (In the thread pool.) The user and session of session key C{key}.

        @raise Unauthorized: no user is logged in with it.
        @raise Forbidden: the user is not active.
        """
        session = self.store.loadBlocking(key)
        djangoUser = _userOf(session.djangoSession)
        if djangoUser is None:
            # A fixed reason: never the key, nor which check failed.
            raise Unauthorized("no user is logged in with this session")
        if getattr(djangoUser, "is_active", True) is False:
            raise Forbidden("this account is inactive")
        return User(str(djangoUser.pk), info=dict(self.info(djangoUser))), session

    def __repr__(self) -> str:
        return f"DjangoSessionAuth({self.store!r})"


def _userOf(djangoSession: Any) -> Any:
    """
    (In the thread pool.) The user logged in with C{djangoSession}, whose
    session hash verifies, active or not; or C{None}. Django's
    C{django.contrib.auth.get_user}, without its writes (see
    L{DjangoSessionAuth}).
    """
    from django.conf import settings
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
        load_backend,
    )
    from django.core.exceptions import ValidationError
    from django.utils.crypto import constant_time_compare

    try:
        backendPath = djangoSession[BACKEND_SESSION_KEY]
        userModel = get_user_model()
        primaryKey = userModel._meta.pk
        if primaryKey is None:
            # Only an abstract model has none.
            return None
        userId = primaryKey.to_python(djangoSession[SESSION_KEY])
    except (KeyError, ValueError, TypeError, ValidationError):
        # Nobody logged in, or an id the user model cannot read.
        return None
    if backendPath not in settings.AUTHENTICATION_BACKENDS:
        return None
    user = load_backend(backendPath).get_user(userId)
    inactive = False
    if user is None:
        # ModelBackend hides inactive users; find them, to answer 403 rather than 401.
        user = userModel._default_manager.filter(pk=userId).first()
        if user is None or getattr(user, "is_active", True) is not False:
            return None
        inactive = True
    if hasattr(user, "get_session_auth_hash"):
        sessionHash = djangoSession.get(HASH_SESSION_KEY)
        if not sessionHash:
            return None
        hashes = [user.get_session_auth_hash()]
        fallbacks = getattr(user, "get_session_auth_fallback_hash", None)
        if callable(fallbacks):
            hashes += list(fallbacks())
        if not any(constant_time_compare(sessionHash, candidate) for candidate in hashes):
            return None
    elif inactive:
        return None
    return user
