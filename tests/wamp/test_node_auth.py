"""
autobahn-js (under Node) authenticating to ratchetpy's router served by
twistd: WAMP's ticket and WAMP-CRA methods on a realm closed to anonymous
sessions, refusals with ABORT, and no secret in the server's log.
"""

from __future__ import annotations

import pytest

from ratchetpy.wamp import Realm, TicketAuth, WampCraAuth, WampServer
from tests.credentials import remember
from tests.helpers import Twistd
from tests.wamp.test_node_router import node  # noqa: F401  (the fixture)

TICKET = remember("ticket-for-the-wamp-tests-0123456789")
CRA_SECRET = remember("cra-secret-for-the-wamp-tests-9876543210")


def checkTicket(authid: str | None, ticket: str) -> dict[str, str] | None:
    return {"authid": authid or "", "authrole": "reader"} if ticket == TICKET else None


class AuthServer(WampServer):
    """realm1 closed to anonymous sessions: ticket (any authid, one ticket) and WAMP-CRA (alice)."""

    def __init__(self) -> None:
        realm = Realm(
            "realm1",
            anonymous=False,
            authenticators=[TicketAuth(checkTicket), WampCraAuth({"alice": (CRA_SECRET, "editor")})],
        )
        super().__init__(realms=[realm])


@pytest.fixture(scope="module")
def authRouter():
    process = Twistd("--component", "tests.wamp.test_node_auth:AuthServer", "--port", "tcp:0:interface=127.0.0.1")
    try:
        yield process, f"ws://127.0.0.1:{process.waitForPort()}/"
    finally:
        process.stop()
        assert TICKET not in process.output and CRA_SECRET not in process.output


def auth(method: str, authid: str, secret: str) -> list[str]:
    return ["--authmethod", method, "--authid", authid, "--secret", secret]


def test_ticket(node, authRouter):  # noqa: F811
    """The right ticket joins with the authid and role the check gave; the session can then call."""
    _process, url = authRouter
    client = node(url, ["call", "wamp.session.count"], extra=auth("ticket", "bob", TICKET))
    joined = client.expect("joined")
    assert (joined["authid"], joined["authrole"]) == ("bob", "reader")
    assert client.expect("result")["args"][0] >= 1
    assert client.leave() == 0


def test_wampCra(node, authRouter):  # noqa: F811
    """alice answers the WAMP-CRA challenge with her secret and joins as an editor."""
    _process, url = authRouter
    client = node(url, extra=auth("wampcra", "alice", CRA_SECRET))
    joined = client.expect("joined")
    assert (joined["authid"], joined["authrole"]) == ("alice", "editor")
    assert client.leave() == 0


@pytest.mark.parametrize(
    "credentials",
    [auth("ticket", "bob", "not-the-ticket"), auth("wampcra", "alice", "not-the-secret"), auth("wampcra", "eve", "x")],
    ids=["wrong ticket", "wrong secret", "unknown user"],
)
def test_refused(node, authRouter, credentials):  # noqa: F811
    """A wrong ticket or secret, or an unknown user, gets ABORT wamp.error.authentication_failed, not a session."""
    _process, url = authRouter
    client = node(url, extra=credentials)
    closed = client.expect("closed")
    assert closed["wampReason"] == "wamp.error.authentication_failed"
    assert [line for line in client.lines if line["type"] == "joined"] == []
    assert client.process.wait(timeout=10) == 1


def test_anonymousRefused(node, authRouter):  # noqa: F811
    """A session that offers no authentication method is refused on a realm closed to anonymous sessions."""
    _process, url = authRouter
    client = node(url)
    closed = client.expect("closed")
    assert closed["wampReason"] is not None and closed["wampReason"].startswith("wamp.error.")
    assert [line for line in client.lines if line["type"] == "joined"] == []
