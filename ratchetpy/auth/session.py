# -*- test-case-name: tests.auth.test_session -*-
"""
Sessions on connections: C{conn.session}, read from the web application's own
session store (Django's, Flask's signed cookie) by a L{ISessionStore}, through
L{SessionProvider} (the session, no authentication: PHP Ratchet's
C{SessionProvider}) or a session authenticator
(L{ratchetpy.auth.DjangoSessionAuth}, L{ratchetpy.auth.FlaskSessionAuth}).
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from inspect import iscoroutine
from typing import Any

from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure
from zope.interface import implementer

from ..decorator import ComponentDecorator
from ..http.response import closeWithResponse
from ..interfaces import IConnection, IHttpRequest, IHttpServerComponent, ISession
from .request import AuthRequest

log = Logger(namespace="ratchetpy")


class ReadOnlySessionError(TypeError):
    """
    A change to a session that cannot be written back (a Flask session: the
    client holds it, in a cookie a WebSocket cannot set).
    """


@implementer(ISession)
class Session(MutableMapping[str, Any]):
    """
    An L{ISession} over a C{dict}: what a session store read, and a
    C{saver} that writes it back. Stores wrap their own session objects in
    one of these, or subclass it.

    @ivar key: the session's key (the cookie's value), or C{None} for a
        session that is not stored yet.
    @ivar readOnly: whether changes are refused (L{ReadOnlySessionError}).
    @ivar modified: whether it was changed since it was read or saved.
    """

    def __init__(
        self,
        data: dict[str, Any] | None = None,
        *,
        key: str | None = None,
        saver: Any = None,
        readOnly: bool = False,
        why: str = "",
    ) -> None:
        self._data: dict[str, Any] = dict(data or {})
        self.key = key
        self._saver = saver
        self.readOnly = readOnly
        self._why = why
        self.modified = False

    def __getitem__(self, name: str) -> Any:
        return self._data[name]

    def __setitem__(self, name: str, value: Any) -> None:
        self._checkWritable()
        self._data[name] = value
        self.modified = True

    def __delitem__(self, name: str) -> None:
        self._checkWritable()
        del self._data[name]
        self.modified = True

    def get(self, name: str, default: Any = None, /) -> Any:
        # Mapping's, with ISession's one signature rather than its overloads.
        try:
            return self[name]
        except KeyError:
            return default

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def _checkWritable(self) -> None:
        if self.readOnly:
            raise ReadOnlySessionError(self._why or "this session is read-only")

    def save(self) -> Deferred[None]:
        """
        Write the session back to its store (in a thread where the store
        blocks), if it was modified.

        @return: a L{Deferred<twisted.internet.defer.Deferred>} firing once it is written.
        @raise ReadOnlySessionError: the session is read-only.
        """
        self._checkWritable()
        if not self.modified or self._saver is None:
            return succeed(None)

        def saved(key: object) -> None:
            if isinstance(key, str):
                self.key = key
            self.modified = False

        result = maybeDeferred(self._saver, self)
        return result.addCallback(saved)

    def __repr__(self) -> str:
        # Never the data, nor the key: either may be a secret.
        kind = "read-only " if self.readOnly else ""
        return f"<{kind}Session with {len(self._data)} keys>"


class SessionProvider(ComponentDecorator):
    """
    Sets C{conn.session} from C{store} (an L{ISessionStore}) before the
    wrapped component's C{onOpen}, without deciding who may connect: PHP
    Ratchet's C{SessionProvider}, but not blocking the reactor, and
    read-write where the store allows it::

        IoServer(HttpServer(OriginCheck(SessionProvider(WsServer(Chat()), DjangoSessionStore()), [...])))

    A request without a session gets an empty one. Stores that read a cookie
    need an L{ratchetpy.OriginCheck} in front, as cookie authenticators do.
    """

    def __init__(self, component: IHttpServerComponent, store: Any) -> None:
        if not callable(getattr(store, "load", None)):
            raise TypeError(f"{store!r} is not a session store: give a DjangoSessionStore or FlaskSessionStore")
        super().__init__(component)
        self.store = store

    @property
    def usesCookies(self) -> bool:
        return bool(getattr(self.store, "usesCookies", False))

    def onOpen(self, conn: IConnection, request: IHttpRequest) -> object:
        try:
            loaded = self.store.load(AuthRequest(conn, request))
        except Exception:
            self._failed(Failure(), conn)
            return None
        if iscoroutine(loaded):
            loaded = Deferred.fromCoroutine(loaded)
        if isinstance(loaded, Deferred):
            return loaded.addCallbacks(self._loaded, self._failed, callbackArgs=(conn, request), errbackArgs=(conn,))
        return self._loaded(loaded, conn, request)

    def _loaded(self, session: Any, conn: IConnection, request: IHttpRequest) -> object:
        conn.io.session = session if session is not None else Session()
        return self.component.onOpen(conn, request)

    def _failed(self, failure: Failure, conn: IConnection) -> None:
        self.refuse(conn)
        log.failure(
            "the session store failed on connection {resourceId}", failure, resourceId=conn.resourceId,
            level=LogLevel.error,
        )
        closeWithResponse(conn, 500, "the server failed to read this request's session")
        return None
