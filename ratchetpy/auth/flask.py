# -*- test-case-name: tests.auth.test_flask -*-
"""
Flask's sessions on WebSocket connections: L{FlaskSessionStore} reads
Flask's signed session cookie, L{FlaskSessionAuth} recognises the user it
says is logged in.

Flask keeps the whole session in a cookie, signed (not encrypted) with the
application's C{SECRET_KEY} by itsdangerous. It is read here exactly as
Flask's C{SecureCookieSessionInterface} reads it (the same key list, salt,
key derivation, digest and maximum age) and decoded as Flask's
C{TaggedJSONSerializer} decodes it, without importing Flask: the WebSocket
server needs only itsdangerous (C{pip install 'ratchetpy[flask]'}).

These sessions are read-only: Flask writes a session by sending a new
cookie in an HTTP response, and after the handshake a WebSocket has no
response to send one in.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import partial
from typing import Any
from uuid import UUID

from twisted.logger import Logger
from zope.interface import implementer

from .._ratelimit import LogBudget
from ..interfaces import IAuthenticator, ISessionStore
from .failures import Unauthorized
from .session import Session
from .user import User

log = Logger(namespace="ratchetpy")
_ignored = LogBudget(log)

#: Flask's C{PERMANENT_SESSION_LIFETIME} by default, which its
#: C{open_session} uses as the maximum age of every session cookie.
FLASK_SESSION_LIFETIME = timedelta(days=31)

#: Why a Flask session cannot be changed from a WebSocket connection (the
#: message of L{ratchetpy.auth.ReadOnlySessionError}).
READ_ONLY_WHY = (
    "a Flask session is read-only here: Flask keeps the session in the client's cookie, and a WebSocket cannot set a "
    "cookie after its handshake; change the session over HTTP, in the Flask application"
)

#: The key derivations itsdangerous' C{Signer} knows.
KEY_DERIVATIONS = ("concat", "django-concat", "hmac", "none")


def _itsdangerous() -> Any:
    try:
        import itsdangerous
    except ImportError:  # pragma: no cover - itsdangerous is in the flask and auth extras
        raise ImportError("FlaskSessionStore needs itsdangerous: pip install 'ratchetpy[flask]'") from None
    return itsdangerous


class InvalidSessionCookie(ValueError):
    """
    A session cookie that does not verify. Its message is one of a few fixed
    reasons, never the cookie.

    @ivar reason: C{"session cookie expired"}, C{"bad session cookie
        signature"} or C{"malformed session cookie"}.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# Flask's TaggedJSONSerializer, the decoding half


def _markup(text: str) -> Any:
    # Flask gives markupsafe.Markup; a server without markupsafe (Flask
    # depends on it, ratchetpy does not) gets the same text as a str.
    try:
        from markupsafe import Markup
    except ImportError:  # pragma: no cover - markupsafe is in the flask extra
        return text
    return Markup(text)


def _datetime(text: str) -> datetime | None:
    # werkzeug.http.parse_date: None for a date it cannot read, UTC if it has no zone.
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _dictKey(value: dict[str, Any]) -> dict[str, Any]:
    # A one-key dict whose key is a tag was written as {" di": {"KEY__": value}}.
    key = next(iter(value))
    return {key[:-2]: value[key]}


_TAGS: dict[str, Callable[[Any], Any]] = {
    " di": _dictKey,
    " t": tuple,
    " b": base64.b64decode,
    " m": _markup,
    " u": UUID,
    " d": _datetime,
}


class TaggedJSON:
    """
    Reads Flask's C{flask.json.tag.TaggedJSONSerializer} format: compact JSON
    in which a one-key object whose key is a tag stands for a Python value
    that JSON lacks (C{" t"} a tuple, C{" b"} bytes in base64, C{" m"}
    markup, C{" u"} a UUID, C{" d"} a datetime as an HTTP date, C{" di"} a
    one-key dict whose key is itself a tag). Tags an application registered
    itself are left as they are.
    """

    @staticmethod
    def loads(text: str | bytes) -> Any:
        """
        The value C{text} encodes, untagged as Flask's C{loads} does: the
        members of an object first, then the object itself.
        """
        return TaggedJSON.untag(json.loads(text))

    @staticmethod
    def untag(value: Any) -> Any:
        """
        C{value} (parsed JSON) with its tagged objects replaced by their values.
        """
        if isinstance(value, dict):
            value = {name: TaggedJSON.untag(member) for name, member in value.items()}
            if len(value) == 1:
                tag = next(iter(value))
                if tag in _TAGS:
                    return _TAGS[tag](value[tag])
            return value
        if isinstance(value, list):
            return [TaggedJSON.untag(item) for item in value]
        return value

    @staticmethod
    def dumps(value: Any) -> str:
        """
        Compact JSON of plain JSON values, without Flask's tags. Only for
        itsdangerous, which calls it once to tell a text serializer from a
        binary one: this module never writes sessions.
        """
        return json.dumps(value, separators=(",", ":"))


# The store


def _digestMethod(digest: str | Callable[..., Any]) -> Callable[..., Any]:
    if callable(digest):
        return digest
    if digest.lower() not in hashlib.algorithms_available:
        raise ValueError(f"unknown digest {digest!r}; hashlib knows {', '.join(sorted(hashlib.algorithms_guaranteed))}")
    # itsdangerous calls it with data (key derivation "concat") and hands it
    # to hmac.new as digestmod, which calls it with none.
    return partial(hashlib.new, digest.lower())


def _seconds(maxAge: float | timedelta) -> int:
    # As Flask: int(app.permanent_session_lifetime.total_seconds()).
    seconds = int(maxAge.total_seconds() if isinstance(maxAge, timedelta) else maxAge)
    if seconds < 0:
        raise ValueError(f"maxAge must not be negative, not {maxAge!r}")
    return seconds


@implementer(ISessionStore)
class FlaskSessionStore:
    """
    Reads a Flask application's session from its signed session cookie, as
    Flask's C{SecureCookieSessionInterface.open_session} does, into a
    read-only L{ratchetpy.auth.Session}. The arguments are the Flask
    application's settings:

    @param secretKey: its C{SECRET_KEY} (C{str} or C{bytes}).
    @param fallbackKeys: its C{SECRET_KEY_FALLBACKS}, older keys that cookies
        signed before a key rotation still verify with.
    @param cookieName: its C{SESSION_COOKIE_NAME}.
    @param salt: its session interface's C{salt}.
    @param digest: its session interface's C{digest_method}: a name
        C{hashlib} knows (C{"sha1"}, C{"sha256"}) or a C{hashlib} constructor.
    @param keyDerivation: its session interface's C{key_derivation}, one of
        L{KEY_DERIVATIONS}.
    @param maxAge: its C{PERMANENT_SESSION_LIFETIME}, in seconds or as a
        L{timedelta<datetime.timedelta>}: older cookies are expired (Flask checks it on every
        session, permanent or not).
    @raise ValueError: an unknown C{digest} or C{keyDerivation}, a negative
        C{maxAge}, or no C{secretKey}.

    @ivar cookieName: the cookie read.
    @ivar maxAge: the maximum age of a cookie, in whole seconds.
    """

    usesCookies = True

    def __init__(
        self,
        secretKey: str | bytes,
        *,
        fallbackKeys: Iterable[str | bytes] = (),
        cookieName: str = "session",
        salt: str | bytes = "cookie-session",
        digest: str | Callable[..., Any] = "sha1",
        keyDerivation: str = "hmac",
        maxAge: float | timedelta = FLASK_SESSION_LIFETIME,
    ) -> None:
        itsdangerous = _itsdangerous()
        if not secretKey:
            raise ValueError("FlaskSessionStore needs the Flask application's SECRET_KEY")
        if keyDerivation not in KEY_DERIVATIONS:
            known = ", ".join(KEY_DERIVATIONS)
            raise ValueError(f"unknown keyDerivation {keyDerivation!r}; itsdangerous knows {known}")
        self.cookieName = cookieName
        self.maxAge = _seconds(maxAge)
        self.salt = salt
        self.keyDerivation = keyDerivation
        # As Flask: the fallbacks first, the current key last (itsdangerous
        # signs with the last and verifies with each, newest first).
        keys = [*fallbackKeys, secretKey]
        self._serializer = itsdangerous.URLSafeTimedSerializer(
            keys,
            salt=salt,
            serializer=TaggedJSON,
            signer_kwargs={"key_derivation": keyDerivation, "digest_method": _digestMethod(digest)},
        )
        self._itsdangerous = itsdangerous

    def cookieOf(self, request: Any) -> str | None:
        """
        The session cookie of C{request} (an L{ratchetpy.auth.AuthRequest}),
        or C{None}; an empty one counts as none, as in Flask.
        """
        return request.cookies.get(self.cookieName) or None

    def decode(self, cookie: str) -> tuple[dict[str, Any], float]:
        """
        The session in C{cookie}, verified, and when it was signed.

        @return: the session's data and the signing time, in seconds since
            the epoch.
        @raise InvalidSessionCookie: it is expired, signed with another key
            (or changed), or not a session.
        """
        errors = self._itsdangerous
        try:
            data, signedAt = self._serializer.loads(cookie, max_age=self.maxAge, return_timestamp=True)
        except errors.SignatureExpired:
            raise InvalidSessionCookie("session cookie expired") from None
        except errors.BadPayload:
            # Signed with the key, yet not Flask's JSON: another serializer.
            raise InvalidSessionCookie("malformed session cookie") from None
        except errors.BadSignature:
            raise InvalidSessionCookie("bad session cookie signature") from None
        if not isinstance(data, dict):
            raise InvalidSessionCookie("malformed session cookie")
        return data, signedAt.timestamp()

    def sessionOf(self, cookie: str | None, data: Mapping[str, Any] | None = None) -> Session:
        """
        A read-only L{Session} of C{data}, whose key is C{cookie}.
        """
        return Session(dict(data or {}), key=cookie, readOnly=True, why=READ_ONLY_WHY)

    def load(self, request: Any) -> Session:
        """
        The session of C{request}, read-only. Like Flask, a request without
        a session cookie, or with one that does not verify, has an empty
        session (which is logged, rate-limited, with the reason and never
        the cookie: a wrong secret key shows up as every session being
        empty).
        """
        cookie = self.cookieOf(request)
        if cookie is None:
            return self.sessionOf(None)
        try:
            data, _ = self.decode(cookie)
        except InvalidSessionCookie as invalid:
            _ignored.info(
                "flask-session",
                "ignored the Flask session cookie of {address}: {reason}",
                address=request.remoteAddress or "a local peer",
                reason=invalid.reason,
            )
            return self.sessionOf(None)
        return self.sessionOf(cookie, data)

    def __repr__(self) -> str:
        # Never the keys.
        return f"FlaskSessionStore(cookieName={self.cookieName!r}, maxAge={self.maxAge})"


# The authenticator


def _infoFrom(info: Callable[[Mapping[str, Any]], dict[str, Any]] | Iterable[str] | None) -> Callable[..., Any]:
    if info is None:
        return lambda session: {}
    if callable(info):
        return info
    if isinstance(info, str):
        raise TypeError(f"info must be a callable or a list of session keys, not the string {info!r}")
    names = list(info)
    return lambda session: {name: session[name] for name in names if name in session}


@implementer(IAuthenticator)
class FlaskSessionAuth:
    """
    Recognises the user a Flask session cookie says is logged in: the one
    whose id the application stored under C{userKey} (Flask-Login's is
    C{"_user_id"}). C{conn.user.id} is that id, as a C{str};
    C{conn.session} is the whole session, read-only (see L{READ_ONLY_WHY}).

        - no session cookie: not this authenticator's (the next one is
          asked; with none left, 401 "no credentials");
        - a cookie that is expired, signed with another key, or changed: 401
          (C{session cookie expired}, C{bad session cookie signature});
        - a good session without C{userKey}: 401 C{not logged in}.

    The cookie is checked in the reactor thread: it is an HMAC, nothing
    blocks. It is never logged.

    @param secretKey: the Flask application's C{SECRET_KEY}.
    @param userKey: the session key of the logged-in user's id: required.
    @param info: what becomes C{conn.user.info}, which other users may see:
        a function of the session that returns a C{dict}, or the names of
        session keys to copy (C{["name"]}); nothing by default, for a
        session may hold what others must not see.
    @param options: the other settings of the application, as
        L{FlaskSessionStore} takes them (C{fallbackKeys}, C{cookieName},
        C{salt}, C{digest}, C{keyDerivation}, C{maxAge}).

    @ivar store: the L{FlaskSessionStore}.
    """

    usesCookies = True
    #: No HTTP authentication scheme names cookies: a 401 has no challenge.
    challenge = None

    def __init__(
        self,
        secretKey: str | bytes,
        *,
        userKey: str,
        info: Callable[[Mapping[str, Any]], dict[str, Any]] | Iterable[str] | None = None,
        **options: Any,
    ) -> None:
        if not userKey:
            raise TypeError(
                "FlaskSessionAuth needs userKey, the session key of the user's id (Flask-Login's is '_user_id')"
            )
        self.store = FlaskSessionStore(secretKey, **options)
        self.userKey = userKey
        self._info = _infoFrom(info)

    def authenticate(self, request: Any) -> User | None:
        store = self.store
        cookie = store.cookieOf(request)
        if cookie is None:
            return None
        try:
            data, signedAt = store.decode(cookie)
        except InvalidSessionCookie as invalid:
            raise Unauthorized(invalid.reason) from None
        userId = data.get(self.userKey)
        if userId is None:
            raise Unauthorized("not logged in")
        if isinstance(userId, bool) or not isinstance(userId, (str, int)) or userId == "":
            raise Unauthorized(f"the session's {self.userKey!r} is not a user id")
        session = store.sessionOf(cookie, data)
        info = self._info(session)
        if not isinstance(info, dict):
            raise TypeError(f"FlaskSessionAuth's info returned {type(info).__name__}, not a dict")
        request.session = session
        expiresAt = signedAt + store.maxAge
        return User(str(userId), info, expiresAt, claims=dict(data))

    def __repr__(self) -> str:
        return f"FlaskSessionAuth(userKey={self.userKey!r})"
