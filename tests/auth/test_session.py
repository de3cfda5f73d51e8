"""
conn.session: SessionProvider (the session without authentication) and
authenticators that read one, over real connections.
"""

from __future__ import annotations

import json

import pytest
import pytest_twisted
from twisted.internet import defer, reactor, task

from ratchetpy import HttpServer, OriginCheck, WsServer
from ratchetpy.auth import Authenticate, ReadOnlySessionError, Session, SessionProvider, User
from ratchetpy.stack import StackError, buildStack
from tests.auth.support import ORIGIN, refusal, whoAmI
from tests.helpers import Recorder, inThread


class DictStore:
    """
    A session store over a dict of session key -> data, keyed by the C{sid} cookie, slow like a database.
    """

    usesCookies = True

    def __init__(self, sessions: dict[str, dict]) -> None:
        self.sessions = sessions
        self.loads = 0

    def load(self, request):
        key = request.cookies.get("sid")
        self.loads += 1
        if key is None:
            return None
        if key == "broken":
            raise RuntimeError("the session database is on fire")

        def save(session):
            self.sessions[key] = dict(session)

        data = self.sessions.get(key)
        session = None if data is None else Session(data, key=key, saver=save)
        return task.deferLater(reactor, 0.05, lambda: session)


class SessionEcho(Recorder):
    """
    Sends its session on open; a message C{key=value} sets that key and saves the session, then says "saved".
    """

    def onOpen(self, conn):
        conn.send(json.dumps({"session": dict(conn.session), "user": conn.user and conn.user.id}))
        return super().onOpen(conn)

    async def onMessage(self, conn, msg):
        key, _, value = msg.partition("=")
        conn.session[key] = value
        await conn.session.save()
        conn.send("saved")


def exchange(url, message, **options):
    from websockets.sync.client import connect

    with connect(url, open_timeout=10, proxy=None, **options) as ws:
        first = json.loads(ws.recv(timeout=10))
        ws.send(message)
        return first, ws.recv(timeout=10)


def test_sessionProvider(listen):
    """
    SessionProvider reads the session without deciding who connects: a known session, none (an empty one), and a
    change saved from the WebSocket that the next connection sees.
    """
    store = DictStore({"s1": {"cart": "3 apples"}})
    server = listen(HttpServer(OriginCheck(SessionProvider(WsServer(SessionEcho()), store), [ORIGIN])))
    url = f"ws://127.0.0.1:{server.portNumber}/"
    first, answer = inThread(exchange, url, "theme=dark", additional_headers={"Cookie": "sid=s1"})
    assert first == {"session": {"cart": "3 apples"}, "user": None} and answer == "saved"
    assert store.sessions["s1"] == {"cart": "3 apples", "theme": "dark"}
    assert inThread(whoAmI, url, additional_headers={"Cookie": "sid=s1"})[0]["session"]["theme"] == "dark"
    assert inThread(whoAmI, url)[0] == {"session": {}, "user": None}


def test_storeFails(listen, logged):
    """
    A store that fails gets the client a 500 and one logged traceback; the server carries on.
    """
    store = DictStore({"s1": {}})
    server = listen(HttpServer(OriginCheck(SessionProvider(WsServer(SessionEcho()), store), [ORIGIN])))
    url = f"ws://127.0.0.1:{server.portNumber}/"
    assert inThread(refusal, url, additional_headers={"Cookie": "sid=broken"})[0] == 500
    failures = [event["log_failure"] for event in logged.events if "log_failure" in event]
    assert [str(failure.value) for failure in failures] == ["the session database is on fire"]
    assert inThread(whoAmI, url, additional_headers={"Cookie": "sid=s1"})[0] == {"session": {}, "user": None}


def test_authenticatorSetsTheSession(listen):
    """
    The session an authenticator puts on the request becomes conn.session when that authenticator decides.
    """
    store = DictStore({"s1": {"user_id": "42"}})

    async def sessionAuth(request):
        session = await defer.maybeDeferred(store.load, request)
        if session is None:
            return None
        request.session = session
        return User(session["user_id"])

    sessionAuth.usesCookies = True
    server = listen(HttpServer(OriginCheck(Authenticate(WsServer(SessionEcho()), sessionAuth), [ORIGIN])))
    url = f"ws://127.0.0.1:{server.portNumber}/"
    first, answer = inThread(exchange, url, "seen=yes", additional_headers={"Cookie": "sid=s1"})
    assert first == {"session": {"user_id": "42"}, "user": "42"} and answer == "saved"
    assert store.sessions["s1"]["seen"] == "yes"
    assert inThread(refusal, url)[0] == 401


def test_readOnlySession():
    """
    A read-only session refuses changes and saving, saying why; reading works; its repr shows no data.
    """
    session = Session({"user_id": "7"}, key="secret-key", readOnly=True, why="Flask sessions live in the cookie")
    assert session["user_id"] == "7" and session.get("x") is None and len(session) == 1
    with pytest.raises(ReadOnlySessionError, match="live in the cookie"):
        session["x"] = 1
    with pytest.raises(ReadOnlySessionError):
        del session["user_id"]
    with pytest.raises(ReadOnlySessionError):
        session.save()
    assert "secret-key" not in repr(session) and "7" not in repr(session)


def test_saveOnlyWhenModified():
    """
    save() writes only a modified session, and records the key the store gave it.
    """
    saved = []
    session = Session({}, saver=lambda s: saved.append(dict(s)) or "new-key")
    pytest_twisted.blockon(session.save())
    assert saved == []
    session["a"] = 1
    assert session.modified
    pytest_twisted.blockon(defer.maybeDeferred(session.save))
    assert (saved, session.key, session.modified) == ([{"a": 1}], "new-key", False)


def test_cookieSessionNeedsAnOriginCheck():
    """
    A SessionProvider whose store reads cookies refuses to start without an OriginCheck in front, naming the store.
    """
    store = DictStore({})
    with pytest.raises(StackError, match="DictStore.*cross-site WebSocket hijacking"):
        buildStack(SessionProvider(WsServer(SessionEcho()), store), "tcp:0")
    buildStack(OriginCheck(SessionProvider(WsServer(SessionEcho()), store), ["https://example.com"]), "tcp:0")
    with pytest.raises(TypeError, match="not a session store"):
        SessionProvider(WsServer(SessionEcho()), object())
