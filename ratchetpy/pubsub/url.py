# -*- test-case-name: tests.pubsub.test_channels -*-
"""
Broker URLs: C{memory://} and C{redis://[:password@]host[:port][/db]}.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    from ..interfaces import IBroker

#: What the error messages list as accepted.
ACCEPTED = "memory:// or redis://[:password@]host[:port][/db]"
REDIS_PORT = 6379


@dataclass(frozen=True)
class RedisAddress:
    """
    Where a Redis server is, from a C{redis://} URL.
    """

    host: str
    port: int = REDIS_PORT
    db: int = 0
    password: str | None = None
    username: str | None = None

    def display(self) -> str:
        """
        The URL without the password, for logs.
        """
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"redis://{host}:{self.port}/{self.db}"


def _invalid(url: str, why: str) -> ValueError:
    return ValueError(f"invalid broker URL {url!r}: {why}; use {ACCEPTED}")


def parseRedisUrl(url: str) -> RedisAddress:
    """
    @raise ValueError: C{url} is not a valid C{redis://} URL; the message is
        one sentence naming it and the accepted forms.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise _invalid(url, str(exc)) from None
    if parts.scheme != "redis":
        raise _invalid(url, f"unknown scheme {parts.scheme + '://' if parts.scheme else 'missing'}")
    if not parts.hostname:
        raise _invalid(url, "no host")
    if parts.query or parts.fragment:
        raise _invalid(url, "options (?...) and fragments (#...) are not supported")
    db = parts.path.lstrip("/")
    if db and not (db.isascii() and db.isdigit()):
        raise _invalid(url, f"the database number {db!r} is not a number")
    if port == 0:
        raise _invalid(url, "port 0")
    return RedisAddress(
        host=parts.hostname,
        port=port or REDIS_PORT,
        db=int(db or 0),
        password=unquote(parts.password) if parts.password is not None else None,
        username=unquote(parts.username) if parts.username else None,
    )


def parseBrokerUrl(url: str) -> IBroker:
    """
    A new, unstarted broker for C{url}: a L{LocalBroker} for C{memory://}, a
    L{RedisBroker} for C{redis://[[user]:password@]host[:port][/db]}.

    @raise ValueError: C{url} is not one of those; the message is one
        sentence naming it and the accepted forms.
    """
    if not isinstance(url, str):
        raise TypeError(f"a broker URL is a str, not {type(url).__name__}")
    if url == "memory://":
        from .local import LocalBroker

        return LocalBroker()
    if url.startswith("memory:"):
        raise _invalid(url, "memory:// takes nothing after the //")
    address = parseRedisUrl(url)
    try:
        from .redis import RedisBroker
    except ImportError as exc:
        raise ValueError(
            f"broker URL {url!r} needs txredisapi, which is not installed ({exc}); "
            "install it with: pip install 'ratchetpy[redis]'"
        ) from None
    return RedisBroker(address)
