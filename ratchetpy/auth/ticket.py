# -*- test-case-name: tests.auth.test_ticket -*-
"""
One-time tickets, for browsers, which cannot set headers on a WebSocket
handshake: the web application (which knows who is logged in) mints a
ticket over HTTP, the page connects with C{?ticket=...} within seconds, and
L{TicketAuth} consumes it, once.

Tickets live in Redis (C{SET ... EX}, then C{GETDEL}: two servers cannot
both accept one) when the broker is a L{ratchetpy.pubsub.redis.RedisBroker},
else in this process. Redis holds only the SHA-256 of each ticket, so a
dump of Redis lets no one connect.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from typing import Any, Protocol, cast

from twisted.internet.defer import Deferred, fail, succeed
from zope.interface import implementer

from ..http.redact import SENSITIVE_QUERY_PARAMETERS
from ..interfaces import IAuthenticator, IBroker, IUser
from .failures import Unauthorized
from .user import User

#: Seconds a ticket may wait to be used, by default: enough for a page to
#: connect, too short to be worth stealing.
TICKET_TTL = 30.0
#: How many unused tickets one process keeps, at most, without Redis.
MAX_LOCAL_TICKETS = 100_000
#: What every ticket's Redis key starts with.
TICKET_KEY_PREFIX = "ratchetpy:ticket:"
#: What a ticket looks like (L{secrets.token_urlsafe}'s alphabet, bounded).
_TICKET = re.compile(r"[A-Za-z0-9_-]{16,128}\Z")


def _key(ticket: str, prefix: str) -> str:
    return prefix + hashlib.sha256(ticket.encode("ascii")).hexdigest()


def _record(userId: str, info: dict[str, Any] | None, expiresAt: float | None) -> str:
    User(userId, dict(info or {}), expiresAt)  # the same checks as the user made of it
    return json.dumps({"id": userId, "info": info or {}, "exp": expiresAt}, separators=(",", ":"))


def _user(record: bytes | str) -> User:
    fields = json.loads(record)
    return User(fields["id"], fields.get("info") or {}, fields.get("exp"))


def mintTicket(
    redis: Any,
    userId: str,
    info: dict[str, Any] | None = None,
    *,
    ttl: float = TICKET_TTL,
    expiresAt: float | None = None,
    prefix: str = TICKET_KEY_PREFIX,
) -> str:
    """
    Mint a ticket from a web application that uses redis-py (a Flask or
    Django view, after its own login check)::

        redis = Redis.from_url("redis://127.0.0.1:6379/0")

        @app.post("/ws-ticket")
        @login_required
        def wsTicket():
            return {"ticket": mintTicket(redis, str(current_user.id), {"name": current_user.name})}

    @param redis: a C{redis.Redis} client on the server of the broker.
    @param userId: who the ticket is for: C{conn.user.id}.
    @param info: C{conn.user.info}: what other users may see.
    @param ttl: seconds the ticket may wait to be used.
    @param expiresAt: C{conn.user.expiresAt}, if the login it comes from
        ends at a known time.
    @return: the ticket, for the page to send as C{?ticket=...}.
    """
    ticket = secrets.token_urlsafe(32)
    redis.set(_key(ticket, prefix), _record(userId, info, expiresAt), px=max(1, int(ttl * 1000)), nx=True)
    return ticket


class _RedisCommands(Protocol):
    """
    A broker that runs Redis commands (L{ratchetpy.pubsub.redis.RedisBroker}).
    """

    def execute(self, *command: Any) -> Deferred[Any]: ...


class Tickets:
    """
    Where tickets are minted and consumed: Redis, through the broker's
    connection, or this process.

    @param broker: a L{ratchetpy.pubsub.redis.RedisBroker} (tickets in
        Redis: any server on it accepts them), any other broker or C{None}
        (tickets in this process only).
    @param ttl: seconds a ticket may wait to be used.
    @param maxTickets: the most unused tickets kept in this process (without
        Redis); minting more fails until some are used or expire.
    """

    def __init__(
        self,
        broker: IBroker | None = None,
        *,
        ttl: float = TICKET_TTL,
        maxTickets: int = MAX_LOCAL_TICKETS,
        prefix: str = TICKET_KEY_PREFIX,
    ) -> None:
        if not ttl > 0:
            raise ValueError(f"a ticket's ttl must be a positive number of seconds, not {ttl!r}")
        self.ttl = ttl
        self.maxTickets = maxTickets
        self.prefix = prefix
        self._redis = cast(_RedisCommands, broker) if callable(getattr(broker, "execute", None)) else None
        # Without Redis: key -> (record, monotonic deadline), oldest first.
        self._local: dict[str, tuple[str, float]] = {}

    @property
    def inRedis(self) -> bool:
        """
        Whether tickets are kept in Redis (shared by every server on it).
        """
        return self._redis is not None

    def mint(self, user: IUser) -> Deferred[str]:
        """
        A new ticket for C{user} (its C{id}, C{info} and C{expiresAt}).

        @return: a L{Deferred<twisted.internet.defer.Deferred>} of the ticket; it fails with
            L{ratchetpy.pubsub.BrokerUnavailable} while Redis is down, or
            L{OverflowError} when this process holds C{maxTickets}.
        """
        ticket = secrets.token_urlsafe(32)
        key = _key(ticket, self.prefix)
        record = _record(user.id, user.info, user.expiresAt)
        if self._redis is not None:
            d = self._redis.execute("SET", key, record, "PX", max(1, int(self.ttl * 1000)), "NX")
            return d.addCallback(lambda _: ticket)
        self._purge()
        if len(self._local) >= self.maxTickets:
            why = f"{self.maxTickets} tickets are waiting to be used: mint fewer, or raise maxTickets"
            return fail(OverflowError(why))
        self._local[key] = (record, time.monotonic() + self.ttl)
        return succeed(ticket)

    def take(self, ticket: str) -> Deferred[User | None]:
        """
        Consume C{ticket}: its user, or C{None} if it is unknown, used or
        expired. A ticket is taken at most once, across every server on the
        same Redis.
        """
        if not _TICKET.match(ticket):
            return succeed(None)
        key = _key(ticket, self.prefix)
        if self._redis is not None:
            taken = self._redis.execute("GETDEL", key)
            return taken.addCallback(lambda record: None if record is None else _user(record))
        self._purge()
        found = self._local.pop(key, None)
        return succeed(None if found is None else _user(found[0]))

    def _purge(self) -> None:
        now = time.monotonic()
        local = self._local
        # Insertion order is deadline order (one ttl for all).
        while local:
            key = next(iter(local))
            if local[key][1] > now:
                break
            del local[key]

    def __repr__(self) -> str:
        where = "in Redis" if self._redis is not None else f"in this process ({len(self._local)} waiting)"
        return f"<Tickets {where}, ttl {self.ttl:g}s>"


@implementer(IAuthenticator)
class TicketAuth:
    """
    Recognises a one-time ticket in the query parameter C{queryParameter}
    (redacted from every log line), minted by L{Tickets.mint} or
    L{mintTicket}::

        tickets = Tickets(defaultBroker())
        Authenticate(WsServer(Chat()), TicketAuth(tickets))

    A request without the parameter is not this authenticator's (C{None});
    an unknown, used or expired ticket gets 401.
    """

    usesCookies = False

    def __init__(self, tickets: Tickets, *, queryParameter: str = "ticket", realm: str = "ratchetpy") -> None:
        self.tickets = tickets
        self.queryParameter = queryParameter
        self.challenge = f'Ticket realm="{realm}"'
        SENSITIVE_QUERY_PARAMETERS.add(queryParameter)

    def authenticate(self, request: Any) -> Deferred[User] | None:
        ticket = request.queryParameters.get(self.queryParameter)
        if ticket is None:
            return None

        def taken(user: User | None) -> User:
            if user is None:
                raise Unauthorized("unknown, used or expired ticket")
            return user

        return self.tickets.take(ticket).addCallback(taken)

    def __repr__(self) -> str:
        return f"TicketAuth({self.tickets!r}, queryParameter={self.queryParameter!r})"
