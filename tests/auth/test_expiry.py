"""
Credentials that expire on long-lived connections: closed with 4001 after
the grace period, unless the application renewed them from a message.
"""

from __future__ import annotations

import json
import time

import jwt
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from ratchetpy import HttpServer, WsServer
from ratchetpy.auth import CREDENTIALS_EXPIRED, Authenticate, JWTAuth, User, renewUser
from tests.auth.support import KEY, WhoAmI, bearer, mint, refusal, serveAuthenticated
from tests.helpers import Recorder, inThread


def soonExpiring(seconds: float, userId: str = "5"):
    """
    An authenticator whose users' credentials expire C{seconds} from the handshake.
    """
    return lambda request: User(userId, {"name": "Eve"}, expiresAt=time.time() + seconds)


def closedAfter(url: str, timeout: float = 10.0, send: tuple[str, ...] = (), **options) -> tuple[int, str, float, list]:
    """
    (Blocking client.) Connect, send C{send}, read until closed; return the code, the reason, the seconds it took and
    the messages.
    """
    started = time.monotonic()
    messages = []
    with connect(url, open_timeout=10, proxy=None, **options) as ws:
        for text in send:
            ws.send(text)
        try:
            while True:
                messages.append(ws.recv(timeout=timeout))
        except ConnectionClosed as closed:
            assert closed.rcvd is not None, "the server cut the connection without a close frame"
            return closed.rcvd.code, closed.rcvd.reason, time.monotonic() - started, messages


def test_closedAfterTheGrace(listen, logged):
    """
    A connection whose credentials expire is closed with 4001 "credentials expired" once the grace period is over,
    not before; one line is logged, naming the user.
    """
    layer, url = serveAuthenticated(listen, WhoAmI(), soonExpiring(0.4), expiryGrace=0.4)
    code, reason, took, _ = inThread(closedAfter, url)
    assert (code, reason) == (CREDENTIALS_EXPIRED, "credentials expired") == (4001, "credentials expired")
    assert 0.7 < took < 3
    assert sum("of user 5: credentials expired" in line for line in logged()) == 1
    assert layer._expiries == {}


class Renewing(Recorder):
    """
    "renew TOKEN" renews the connection's credentials from a JWT, answering "renewed" or the error.
    """

    def __init__(self, auth: JWTAuth) -> None:
        super().__init__()
        self.auth = auth

    def onMessage(self, conn, msg):
        try:
            renewUser(conn, self.auth.userOf(msg.removeprefix("renew ")))
        except Exception as e:
            conn.send(f"error: {e}")
        else:
            conn.send(json.dumps({"renewed": conn.user.expiresAt}))


def test_renewedFromAMessage(listen):
    """
    Credentials renewed from a new token in a message keep the connection open past the first expiry; it closes
    at the new one.
    """
    auth = JWTAuth(KEY, algorithms=["HS256"])
    _, url = serveAuthenticated(listen, Renewing(auth), soonExpiring(0.3, userId="42"), expiryGrace=0.2)
    # The renewed token expires in 2 s (JWT's exp is whole seconds: 1 to 2 s from now).
    renewal = mint("42", ttl=2)
    code, _, took, messages = inThread(closedAfter, url, send=(f"renew {renewal}",))
    assert json.loads(messages[0])["renewed"] == jwt.decode(renewal, options={"verify_signature": False})["exp"]
    assert code == 4001
    assert took > 1.0


def test_renewalMustBeTheSameUser(listen):
    """
    A connection's user does not change: renewing with another user's token fails, saying so; so does a token
    that does not verify.
    """
    auth = JWTAuth(KEY, algorithms=["HS256"])
    _, url = serveAuthenticated(listen, Renewing(auth), soonExpiring(60, userId="42"))
    messages = inThread(_twoAnswers, url, f"renew {mint('43')}", "renew not-a-token")
    assert "belongs to user '42', not '43'" in messages[0]
    assert messages[1] == "error: malformed token"


def _twoAnswers(url: str, *texts: str) -> list[str]:
    with connect(url, open_timeout=10, proxy=None) as ws:
        answers = []
        for text in texts:
            ws.send(text)
            answers.append(ws.recv(timeout=10))
        return answers


def test_expiredAtTheHandshake(listen):
    """
    A user whose credentials have already expired is refused with 401, whatever the authenticator.
    """
    _, url = serveAuthenticated(listen, WhoAmI(), soonExpiring(-1))
    status, _, body = inThread(refusal, url)
    assert (status, "credentials expired" in body) == (401, True)


def test_noExpiryNoTimer(listen):
    """
    Users without expiresAt are not watched; a watched connection that closes first leaves no timer behind.
    """
    layer, url = serveAuthenticated(listen, WhoAmI(), soonExpiring(60))
    inThread(_twoAnswers, url)
    assert layer._expiries == {}
    plain, url = serveAuthenticated(listen, WhoAmI(), lambda request: User("1"))
    inThread(_twoAnswers, url)
    assert plain._expiries == {}


def test_tokenExpiryClosesTheConnection(listen):
    """
    A JWT's exp is the connection's expiry: with no grace, it is closed (4001) when the token expires.
    """
    _, url = serveAuthenticated(listen, WhoAmI(), JWTAuth(KEY, algorithms=["HS256"]), expiryGrace=0)
    code, _, took, _ = inThread(closedAfter, url, **bearer(mint("42", ttl=1)))
    assert code == 4001 and took < 3


def test_badGrace():
    """
    expiryGrace is checked like every option.
    """
    with pytest.raises(ValueError, match="expiryGrace"):
        HttpServer(Authenticate(WsServer(WhoAmI()), soonExpiring(1), expiryGrace=-1))
