"""
One-time tickets: minted by the application, consumed once at the handshake,
in this process or in a real Redis shared by two servers.
"""

from __future__ import annotations

import time

import pytest
import pytest_twisted
import redis

from ratchetpy.auth import TicketAuth, Tickets, User, mintTicket
from tests.auth.support import WhoAmI, refusal, serveAuthenticated, whoAmI
from tests.credentials import remember
from tests.helpers import inThread, waitUntil


def test_localTicketOnce(listen, logged):
    """
    A ticket opens one connection as its user; used again it gets 401 with the Ticket challenge; it is never logged.
    """
    tickets = Tickets()
    _, url = serveAuthenticated(listen, WhoAmI(), TicketAuth(tickets))
    ticket = remember(pytest_twisted.blockon(tickets.mint(User("7", {"name": "Ann"}, expiresAt=2_000_000_000))))
    user, _ = inThread(whoAmI, f"{url}?ticket={ticket}")
    assert user == {"id": "7", "info": {"name": "Ann"}, "exp": 2_000_000_000.0}
    status, headers, body = inThread(refusal, f"{url}?ticket={ticket}")
    assert (status, headers["www-authenticate"]) == (401, 'Ticket realm="ratchetpy"')
    assert "unknown, used or expired ticket" in body
    assert ticket not in "\n".join(logged())


def test_localTicketExpires(listen):
    """
    A ticket not used within its ttl is refused; malformed and absent tickets are refused too.
    """
    tickets = Tickets(ttl=0.2)
    _, url = serveAuthenticated(listen, WhoAmI(), TicketAuth(tickets))
    ticket = remember(pytest_twisted.blockon(tickets.mint(User("7"))))
    time.sleep(0.4)
    assert inThread(refusal, f"{url}?ticket={ticket}")[0] == 401
    assert inThread(refusal, f"{url}?ticket=short")[0] == 401
    assert inThread(refusal, f"{url}?ticket={'x' * 500}")[0] == 401
    assert inThread(refusal, url)[0] == 401


def test_localTicketsBounded():
    """
    A process keeps at most maxTickets unused tickets: the next mint fails, saying what to do.
    """
    tickets = Tickets(maxTickets=2)
    for _ in range(2):
        pytest_twisted.blockon(tickets.mint(User("1")))
    with pytest.raises(OverflowError, match="raise maxTickets"):
        pytest_twisted.blockon(tickets.mint(User("1")))
    with pytest.raises(ValueError, match="positive"):
        Tickets(ttl=0)


def test_redisTicketTakenOnceAcrossServers(listen, brokers, redisServer):
    """
    A ticket minted by a web application with redis-py is accepted by one of two servers on the same Redis, once;
    Redis holds only its hash.
    """
    urls = []
    for _ in range(2):
        tickets = Tickets(brokers())
        assert tickets.inRedis
        urls.append(serveAuthenticated(listen, WhoAmI(), TicketAuth(tickets))[1])
    app = redis.Redis.from_url(redisServer.url)
    ticket = remember(mintTicket(app, "9", {"name": "Bo"}, ttl=10))
    keys = app.keys("ratchetpy:ticket:*")
    assert len(keys) == 1 and ticket.encode() not in keys[0] and ticket.encode() not in app.get(keys[0])
    assert inThread(whoAmI, f"{urls[0]}?ticket={ticket}")[0] == {"id": "9", "info": {"name": "Bo"}, "exp": None}
    assert inThread(refusal, f"{urls[1]}?ticket={ticket}")[0] == 401
    assert app.keys("ratchetpy:ticket:*") == []


def test_redisTicketMintedByServer(listen, brokers, redisServer):
    """
    Tickets.mint keeps the ticket in Redis with the ttl, for any server on it.
    """
    first, second = Tickets(brokers(), ttl=5), Tickets(brokers())
    _, url = serveAuthenticated(listen, WhoAmI(), TicketAuth(second))
    ticket = remember(pytest_twisted.blockon(first.mint(User("3", {"name": "Cy"}))))
    ttl = redis.Redis.from_url(redisServer.url).pttl(redis.Redis.from_url(redisServer.url).keys("ratchetpy:*")[0])
    assert 0 < ttl <= 5000
    assert inThread(whoAmI, f"{url}?ticket={ticket}")[0]["id"] == "3"


def test_redisDown(listen, brokers, redisServer, logged):
    """
    While Redis is down a ticket cannot be checked: the client gets 503 at once, not a hang; one line is logged.
    """
    broker = brokers(initialDelay=5)
    _, url = serveAuthenticated(listen, WhoAmI(), TicketAuth(Tickets(broker)))
    redisServer.kill()
    waitUntil(lambda: not broker.connected, what="the broker to see Redis gone")
    started = time.monotonic()
    status, _, body = inThread(refusal, f"{url}?ticket={'a' * 43}")
    assert (status, "try again" in body) == (503, True)
    assert time.monotonic() - started < 5
    assert sum("could not check credentials" in line for line in logged()) == 1
