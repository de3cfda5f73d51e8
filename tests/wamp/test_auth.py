"""
Joining a realm with credentials: ticket (a plain check, or a JWT checked
by JWTAuth), WAMP-CRA, the WebSocket's own Authenticate layer carried
through, and anonymous access as a per-realm choice; failures are ABORTs
logged without the secret.
"""

from __future__ import annotations

import pytest
import pytest_twisted
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import PublishOptions
from twisted.internet.defer import succeed

from ratchetpy import HttpServer, WsServer
from ratchetpy.auth import Authenticate, JWTAuth
from ratchetpy.wamp import Realm, TicketAuth, WampComponent, WampCraAuth, WampServer
from tests.auth.support import KEY, mint
from tests.credentials import remember

from .clients import connect, leave

TICKET = remember("ticket-for-ann-0123456789")
CRA_SECRET = remember("cra-secret-of-bob-0123456789")


def tickets(authid, ticket):
    return succeed({"authid": authid, "authrole": "member"} if authid == "ann" and ticket == TICKET else None)


def realms():
    return [
        Realm(
            "secure", anonymous=False, authenticators=[TicketAuth(tickets), WampCraAuth({"bob": (CRA_SECRET, "admin")})]
        ),
        Realm("tokens", anonymous=False, authenticators=[TicketAuth(jwt=JWTAuth(KEY, algorithms=["HS256"]))]),
    ]


def test_ticket(router, logged):
    """
    The right ticket joins with the authid and authrole the check gave; a
    wrong one is ABORT authentication_failed, logged without the ticket.
    """
    server = router(realms=realms())
    client = connect(server.port, "secure", authmethods=["ticket"], authid="ann", secret=TICKET)
    assert (client.details.authid, client.details.authrole, client.details.authmethod) == ("ann", "member", "ticket")
    leave(client)
    wrong = remember("wrong-ticket-0123456789")
    refused = connect(server.port, "secure", authmethods=["ticket"], authid="ann", secret=wrong)
    assert refused.leaveDetails.reason == "wamp.error.authentication_failed"
    lines = [line for line in logged() if "WAMP authentication failed" in line]
    assert lines and all(wrong not in line and TICKET not in line for line in logged())


def test_staticTickets(router):
    """
    TicketAuth takes a table of authid to ticket (and authrole).
    """
    server = router(realms=[Realm("r1", anonymous=False, authenticators=[TicketAuth({"ann": (TICKET, "editor")})])])
    client = connect(server.port, "r1", authmethods=["ticket"], authid="ann", secret=TICKET)
    assert (client.details.authid, client.details.authrole) == ("ann", "editor")
    leave(client)
    for authid, ticket in (("ann", TICKET[:-1]), ("bob", TICKET)):
        refused = connect(server.port, "r1", authmethods=["ticket"], authid=authid, secret=ticket)
        assert refused.leaveDetails.reason == "wamp.error.authentication_failed"


def test_wampcra(router):
    """
    WAMP-CRA: the right secret joins (authrole from the table); a wrong
    secret or an unknown authid is refused.
    """
    server = router(realms=realms())
    client = connect(server.port, "secure", authmethods=["wampcra"], authid="bob", secret=CRA_SECRET)
    assert (client.details.authid, client.details.authrole, client.details.authmethod) == ("bob", "admin", "wampcra")
    leave(client)
    bad = connect(server.port, "secure", authmethods=["wampcra"], authid="bob", secret=remember("not-the-secret-0123"))
    assert bad.leaveDetails.reason == "wamp.error.authentication_failed"
    unknown = connect(server.port, "secure", authmethods=["wampcra"], authid="eve", secret=CRA_SECRET)
    assert unknown.leaveDetails.reason == "wamp.error.authentication_failed"


def test_saltedWampcra(router):
    """
    Salted WAMP-CRA: the router keeps the derived key only; a client that
    knows the password joins, one that does not is refused.
    """
    from autobahn.wamp.auth import derive_key

    password = remember("password-of-carl-0123456789")
    derived = derive_key(password, "pepper", 100, 32)
    entry = {"secret": derived, "authrole": "salted", "salt": "pepper", "iterations": 100, "keylen": 32}
    server = router(realms=[Realm("r1", anonymous=False, authenticators=[WampCraAuth({"carl": entry})])])
    client = connect(server.port, "r1", authmethods=["wampcra"], authid="carl", secret=password)
    assert (client.details.authid, client.details.authrole) == ("carl", "salted")
    leave(client)
    refused = connect(server.port, "r1", authmethods=["wampcra"], authid="carl", secret=remember("wrong-password-0123"))
    assert refused.leaveDetails.reason == "wamp.error.authentication_failed"


def test_jwtTicket(router):
    """
    A ticket that is a JWT, checked by JWTAuth: its sub is the authid; a
    token signed with another key is refused.
    """
    server = router(realms=realms())
    client = connect(server.port, "tokens", authmethods=["ticket"], secret=mint("42"))
    assert (client.details.authid, client.details.authrole) == ("42", "user")
    leave(client)
    forged = connect(server.port, "tokens", authmethods=["ticket"], secret=mint("42", key=b"x" * 32))
    assert forged.leaveDetails.reason == "wamp.error.authentication_failed"


def test_anonymousIsPerRealm(router):
    """
    A realm without anonymous access refuses a client without credentials
    (no_auth_method); the default realm takes it.
    """
    server = router(realms=["realm1", *realms()])
    refused = connect(server.port, "secure")
    assert refused.leaveDetails.reason == "wamp.error.no_auth_method"
    client = connect(server.port, "realm1")
    assert client.details.authrole == "anonymous"
    leave(client)


class WhoAmI(WampComponent):
    def onCall(self, conn, id, topic, params, **kwargs):
        conn.callResult(id, [conn.authid, conn.user.id if conn.user else None])


def test_websocketAuthenticateCarriesThrough(listen):
    """
    Behind an Authenticate layer, the WebSocket's user joins as authid
    conn.user.id, whatever the realm's own rules.
    """
    wamp = WampServer(WhoAmI(), realms=[Realm("realm1", anonymous=False)])
    io = listen(HttpServer(Authenticate(WsServer(wamp), JWTAuth(KEY, algorithms=["HS256"]))))
    token = mint("u-7")
    client = connect(io.portNumber, headers={"Authorization": f"Bearer {token}"})
    assert (client.details.authid, client.details.authmethod) == ("u-7", "websocket")
    assert pytest_twisted.blockon(client.call("com.whoami")) == ["u-7", "u-7"]
    leave(client)


def test_authorize(router):
    """
    A realm's authorize refuses actions with not_authorized: here only the
    role "member" may publish and call com.private.*; the meta API is off
    for everyone.
    """

    def authorize(conn, action, uri):
        if uri.startswith("wamp.session."):
            return False
        if uri.startswith("com.private.") and action in ("publish", "call"):
            return conn.authrole == "member"
        return True

    realm = Realm("realm1", authenticators=[TicketAuth(tickets)], authorize=authorize)
    server = router(realms=[realm])
    member = connect(server.port, authmethods=["ticket"], authid="ann", secret=TICKET)
    guest = connect(server.port)
    pytest_twisted.blockon(member.register(lambda: "secret", "com.private.data"))
    assert pytest_twisted.blockon(member.call("com.private.data")) == "secret"
    for client, uri in ((guest, "com.private.data"), (member, "wamp.session.count")):
        with pytest.raises(ApplicationError) as error:
            pytest_twisted.blockon(client.call(uri))
        assert error.value.error == "wamp.error.not_authorized"
    with pytest.raises(ApplicationError) as error:
        pytest_twisted.blockon(guest.publish("com.private.news", options=PublishOptions(acknowledge=True)))
    assert error.value.error == "wamp.error.not_authorized"
    leave(member)
    leave(guest)
