"""
FlaskSessionAuth and FlaskSessionStore with the real parts: real Flask
applications (the example's, and ones configured otherwise) served over HTTP
by werkzeug on loopback, users logging in with HTTP POSTs, and their session
cookies sent by real WebSocket clients (the C{websockets} library) to real
ratchetpy servers. The cookie format is decoded without Flask and compared
with Flask's own encoding.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from http.cookiejar import CookieJar
from typing import Any

import pytest
import pytest_twisted
from flask import Flask, request, session
from flask.json.tag import TaggedJSONSerializer
from flask.sessions import SecureCookieSessionInterface
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import Markup
from websockets.sync.client import connect
from werkzeug.serving import make_server

from examples.flask_chat.app import USERS, createApp
from examples.flask_chat.server import makeApp
from examples.named_chat import NamedChat
from ratchetpy import App, HttpServer, OriginCheck, WsServer
from ratchetpy.auth import FlaskSessionAuth, FlaskSessionStore, ReadOnlySessionError, SessionProvider
from ratchetpy.auth.flask import READ_ONLY_WHY, TaggedJSON
from ratchetpy.stack import StackError, checkCookieAuth
from tests.auth.support import WhoAmI, refusal, serveAuthenticated, whoAmI
from tests.credentials import remember
from tests.helpers import ROOT, inThread, sleep

KEY = "the-flask-applications-secret-key"
OTHER_KEY = "another-applications-secret-key"

#: What the "types" route stores: every type Flask's TaggedJSONSerializer tags.
TYPED = {
    "pair": (1, "two"),
    "raw": b"\x00\xffbytes",
    "when": datetime(2026, 12, 1, 12, 30, 5, tzinfo=UTC),
    "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "html": Markup("<b>bold</b>"),
    "tagLike": {" t": "a dict whose only key is a tag"},
    "nested": [(b"x", {"in": (1,)})],
}


# A browser, as far as Flask can tell: urllib with a cookie jar


class WebClient:
    """
    (Blocking client.) Requests to a Flask application, keeping its cookies.
    """

    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(self.jar)
        )

    def request(self, path: str, form: dict[str, str] | None = None) -> tuple[int, str]:
        data = None if form is None else urllib.parse.urlencode(form).encode()
        try:
            with self.opener.open(self.base + path, data=data, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def cookie(self, name: str = "session") -> str | None:
        return next((c.value for c in self.jar if c.name == name), None)


def cookieHeader(value: str, name: str = "session") -> dict[str, Any]:
    """
    The connect options that send the session cookie C{value}.
    """
    remember(value)
    return {"additional_headers": {"Cookie": f"theme=dark; {name}={value}"}}


@pytest.fixture
def serveFlask():
    """
    C{serveFlask(app)} serves the Flask application C{app} with werkzeug on a
    loopback port, in a thread; returns its base URL. Stopped after the test.
    """
    servers = []

    def _serve(app: Flask) -> str:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_port}"

    yield _serve
    for server, thread in servers:
        server.shutdown()
        thread.join(5)


def configuredApp(
    secretKey: str = KEY,
    *,
    fallbacks: tuple[str, ...] = (),
    cookieName: str | None = None,
    lifetime: timedelta | None = None,
    **interface: Any,
) -> Flask:
    """
    A Flask application with these settings (C{interface}: attributes of its
    C{SecureCookieSessionInterface}: C{salt}, C{digest_method},
    C{key_derivation}) whose routes log in, store other things, and say who
    Flask itself thinks is logged in.
    """
    app = Flask("configured")
    app.secret_key = secretKey
    app.config["SECRET_KEY_FALLBACKS"] = list(fallbacks)
    if cookieName is not None:
        app.config["SESSION_COOKIE_NAME"] = cookieName
    if lifetime is not None:
        app.config["PERMANENT_SESSION_LIFETIME"] = lifetime
    app.session_interface = type("Configured", (SecureCookieSessionInterface,), interface)()

    @app.post("/login/<userId>")
    def login(userId: str) -> str:
        session["_user_id"] = int(userId) if userId.isdigit() else userId
        session["name"] = request.form.get("name", "")
        session["secret"] = "not for other users"
        return "logged in"

    @app.post("/theme")
    def theme() -> str:
        session["theme"] = "dark"
        return "no user"

    @app.post("/types")
    def types() -> str:
        session["_user_id"] = "7"
        session.update(TYPED)
        return "stored"

    @app.get("/me")
    def me() -> str:
        return str(session.get("_user_id", "nobody"))

    return app


def loggedIn(serveFlask, app: Flask, path: str = "/login/42", name: str = "Ann", cookieName: str = "session") -> str:
    """
    Serve C{app}, POST to its C{path}; the session cookie Flask set.
    """
    client = WebClient(serveFlask(app))
    status, _ = client.request(path, {"name": name})
    assert status == 200
    cookie = client.cookie(cookieName)
    assert cookie
    return cookie


def flaskAuth(key: str = KEY, **options: Any) -> FlaskSessionAuth:
    return FlaskSessionAuth(key, userKey="_user_id", info=["name"], **options)


class SessionWriter(WhoAmI):
    """
    Tries to write every message into C{conn.session}, and answers what happened.
    """

    def onMessage(self, conn, msg):
        try:
            conn.session["name"] = msg
        except ReadOnlySessionError as error:
            conn.send(f"refused: {error}")
        else:
            conn.send("written")


# Logging in with the example's Flask application


def test_exampleLoginThenWebSocketByName(listen, serveFlask):
    """
    A user logs in to the example's Flask application with a POST of its login form; the session cookie Flask set
    opens a WebSocket: conn.user.id is the session's _user_id, its info the name, its expiry the cookie's signing
    time plus Flask's 31 days; conn.session is the whole session (read-only), and the info has no other session key.
    """
    client = WebClient(serveFlask(createApp(KEY)))
    status, page = client.request("/login", {"username": "ann", "password": USERS["ann"]["password"]})
    assert status == 200 and 'id="me">Ann<' in page  # redirected to the chat page, as Ann
    component = WhoAmI()
    _, url = serveAuthenticated(listen, component, flaskAuth())
    user, _ = inThread(whoAmI, url, **cookieHeader(client.cookie()))
    assert (user["id"], user["info"]) == ("1", {"name": "Ann"})
    assert abs(user["exp"] - (time.time() + 31 * 86400)) < 60
    conn = component.events[0][1]
    assert dict(conn.session) == {"_user_id": "1", "name": "Ann"}
    assert conn.session.readOnly and conn.session.key == client.cookie()
    assert conn.user.claims == {"_user_id": "1", "name": "Ann"}


def test_wrongPasswordSetsNoSession(serveFlask):
    """
    The example's login refuses a wrong password with 401 and logs nobody in.
    """
    client = WebClient(serveFlask(createApp(KEY)))
    status, page = client.request("/login", {"username": "ann", "password": "guess"})
    assert status == 401 and "wrong password" in page
    assert client.cookie() is None


def test_exampleServersChatByName(serveFlask):
    """
    The example's two halves together: Ann and Bob log in to app.py over HTTP, their cookies open WebSockets to
    server.py's App at /chat (NamedChat behind OriginCheck and FlaskSessionAuth); Ann hears Bob join and speak, by
    name. A page of another site is refused (403) even with Ann's cookie, and logging out deletes the cookie.
    """
    base = serveFlask(createApp(KEY))
    ann, bob = WebClient(base), WebClient(base)
    for client, login in ((ann, "ann"), (bob, "bob")):
        assert client.request("/login", {"username": login, "password": USERS[login]["password"]})[0] == 200
    app = makeApp(KEY, port=0)
    port = pytest_twisted.blockon(app.listen()).getHost().port
    try:
        url = f"ws://127.0.0.1:{port}/chat"
        # The Flask page's origin under another host name than the WebSocket's 127.0.0.1.
        otherHost = base.replace("127.0.0.1", "localhost")

        def chat() -> list[str]:
            with connect(url, proxy=None, origin=base, **cookieHeader(ann.cookie())) as annWs:
                with connect(url, proxy=None, origin=base, **cookieHeader(bob.cookie())) as bobWs:
                    bobWs.send("hello, Ann")
                    return [annWs.recv(timeout=10), annWs.recv(timeout=10)]

        assert inThread(chat) == ["* Bob joined", "Bob: hello, Ann"]
        for origin in ("https://evil.example", otherHost):
            status, _, body = inThread(refusal, url, origin=origin, **cookieHeader(ann.cookie()))
            assert (status, "origin" in body.lower()) == (403, True), body
        assert ann.request("/logout", {})[0] == 200
        assert ann.cookie() is None
    finally:
        pytest_twisted.blockon(app.shutdown())


# What refused clients get


def test_noCookieIsNotThisAuthenticators(listen):
    """
    Without a session cookie the authenticator recognises nothing: 401 "no credentials", without a challenge
    (no authentication scheme names cookies); other cookies do not count.
    """
    component = WhoAmI()
    _, url = serveAuthenticated(listen, component, flaskAuth())
    status, headers, body = inThread(refusal, url, additional_headers={"Cookie": "theme=dark"})
    assert (status, "no credentials" in body, "www-authenticate" in headers) == (401, True, False)
    status, _, body = inThread(refusal, url, **cookieHeader(""))
    assert (status, "no credentials" in body) == (401, True)
    assert component.events == []


def test_allowAnonymousWithoutCookie(listen):
    """
    With allowAnonymous, a client without the cookie connects with conn.user None.
    """
    _, url = serveAuthenticated(listen, WhoAmI(), flaskAuth(), allowAnonymous=True)
    assert inThread(whoAmI, url)[0] is None


def tampered(cookie: str) -> str:
    # One character of the payload changed: the signature no longer matches.
    return ("A" if cookie[0] != "A" else "B") + cookie[1:]


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda cookie: tampered(cookie), "bad session cookie signature"),
        (lambda cookie: cookie.rsplit(".", 1)[0] + ".AAAAAAAAAAAAAAAAAAAAAAAAAAA", "bad session cookie signature"),
        (lambda cookie: "not-a-session", "bad session cookie signature"),
    ],
    ids=["tampered", "forged-signature", "garbage"],
)
def test_badCookiesGet401(listen, serveFlask, logged, make, reason):
    """
    A changed or forged cookie gets 401 with a fixed reason; the component never hears of it, and neither the
    cookie nor the session's content reach the log.
    """
    cookie = make(loggedIn(serveFlask, configuredApp()))
    component = WhoAmI()
    _, url = serveAuthenticated(listen, component, flaskAuth())
    status, _, body = inThread(refusal, url, **cookieHeader(cookie))
    assert (status, reason in body) == (401, True), body
    assert component.events == []
    text = "\n".join(logged())
    assert reason in text and cookie not in text and "not for other users" not in text


def test_otherKeyGets401(listen, serveFlask):
    """
    A cookie signed by an application with another secret key gets 401 "bad session cookie signature".
    """
    cookie = loggedIn(serveFlask, configuredApp(OTHER_KEY))
    _, url = serveAuthenticated(listen, WhoAmI(), flaskAuth())
    status, _, body = inThread(refusal, url, **cookieHeader(cookie))
    assert (status, "bad session cookie signature" in body) == (401, True)


def test_notLoggedIn(listen, serveFlask):
    """
    A good session without the user key (a visitor who has a session but never logged in) gets 401 "not logged in".
    """
    cookie = loggedIn(serveFlask, configuredApp(), path="/theme")
    _, url = serveAuthenticated(listen, WhoAmI(), flaskAuth())
    status, _, body = inThread(refusal, url, **cookieHeader(cookie))
    assert (status, "not logged in" in body) == (401, True)


def test_integerUserIdBecomesAString(listen, serveFlask):
    """
    An int user id in the session (an application that stores its database id) is conn.user.id as a str.
    """
    cookie = loggedIn(serveFlask, configuredApp(), path="/login/42")
    _, url = serveAuthenticated(listen, WhoAmI(), FlaskSessionAuth(KEY, userKey="_user_id"))
    user, _ = inThread(whoAmI, url, **cookieHeader(cookie))
    assert (user["id"], user["info"]) == ("42", {})


def test_infoFunction(listen, serveFlask):
    """
    info may be a function of the session.
    """
    cookie = loggedIn(serveFlask, configuredApp(), name="Ann")
    auth = FlaskSessionAuth(KEY, userKey="_user_id", info=lambda s: {"name": s["name"].upper(), "n": len(s)})
    _, url = serveAuthenticated(listen, WhoAmI(), auth)
    assert inThread(whoAmI, url, **cookieHeader(cookie))[0]["info"] == {"name": "ANN", "n": 3}


# Key rotation, expiry, and the session interface's settings


def _cookie(name: str, value: str) -> Any:
    from http.cookiejar import Cookie

    return Cookie(0, name, value, None, False, "127.0.0.1", False, False, "/", True, False, None, True, None, None, {})


def test_fallbackKeyAfterRotation(listen, serveFlask):
    """
    A cookie signed with the old key, after a rotation: Flask with SECRET_KEY_FALLBACKS still reads it, and so does
    FlaskSessionAuth with fallbackKeys; without the fallback it gets 401.
    """
    cookie = loggedIn(serveFlask, configuredApp(OTHER_KEY))
    rotated = WebClient(serveFlask(configuredApp(KEY, fallbacks=(OTHER_KEY,))))
    rotated.jar.set_cookie(_cookie("session", cookie))
    assert rotated.request("/me") == (200, "42")

    _, url = serveAuthenticated(listen, WhoAmI(), flaskAuth(fallbackKeys=[OTHER_KEY]))
    assert inThread(whoAmI, url, **cookieHeader(cookie))[0]["id"] == "42"
    _, url = serveAuthenticated(listen, WhoAmI(), flaskAuth())
    assert inThread(refusal, url, **cookieHeader(cookie))[0] == 401


def test_maxAgeExpiry(listen, serveFlask):
    """
    A cookie older than maxAge gets 401 "session cookie expired" (itsdangerous' clock is in whole seconds), as
    Flask with the same PERMANENT_SESSION_LIFETIME no longer reads it either.
    """
    app = configuredApp(lifetime=timedelta(seconds=2))
    base = serveFlask(app)
    client = WebClient(base)
    client.request("/login/42", {"name": "Ann"})
    cookie = client.cookie()
    _, url = serveAuthenticated(listen, WhoAmI(), flaskAuth(maxAge=timedelta(seconds=2)))
    assert inThread(whoAmI, url, **cookieHeader(cookie))[0]["id"] == "42"
    sleep(3.2)
    status, _, body = inThread(refusal, url, **cookieHeader(cookie))
    assert (status, "session cookie expired" in body) == (401, True)
    assert client.request("/me") == (200, "nobody")


@pytest.mark.parametrize(
    "digest, keyDerivation, salt",
    [
        ("sha256", "hmac", "cookie-session"),
        ("sha512", "concat", "chat-salt"),
        ("sha1", "django-concat", "cookie-session"),
        ("sha256", "none", "another-salt"),
    ],
)
def test_sessionInterfaceSettingsInteroperate(listen, serveFlask, digest, keyDerivation, salt):
    """
    A Flask application whose session interface uses another digest, key derivation, salt and cookie name is read
    by a FlaskSessionAuth configured the same way; one with the defaults refuses its cookies.
    """
    app = configuredApp(
        cookieName="chat_session",
        salt=salt,
        digest_method=staticmethod(getattr(hashlib, digest)),
        key_derivation=keyDerivation,
    )
    cookie = loggedIn(serveFlask, app, cookieName="chat_session")
    same = flaskAuth(cookieName="chat_session", salt=salt, digest=digest, keyDerivation=keyDerivation)
    _, url = serveAuthenticated(listen, WhoAmI(), same)
    assert inThread(whoAmI, url, **cookieHeader(cookie, "chat_session"))[0]["id"] == "42"
    _, url = serveAuthenticated(listen, WhoAmI(), flaskAuth(cookieName="chat_session"))
    assert inThread(refusal, url, **cookieHeader(cookie, "chat_session"))[0] == 401


def test_digestAsAHashlibConstructor(serveFlask):
    """
    digest may be given as Flask's session interface has it, a hashlib constructor.
    """
    cookie = loggedIn(serveFlask, configuredApp(digest_method=staticmethod(hashlib.sha384)))
    data, signedAt = FlaskSessionStore(KEY, digest=hashlib.sha384).decode(cookie)
    assert data["_user_id"] == 42 and abs(signedAt - time.time()) < 60


def test_badSettingsAreRefused():
    """
    Unknown digests and key derivations, a negative maxAge, an empty key, a missing userKey and an info that is a
    single string are refused when built.
    """
    with pytest.raises(ValueError, match="unknown digest 'sha-1'"):
        FlaskSessionStore(KEY, digest="sha-1")
    with pytest.raises(ValueError, match="unknown keyDerivation 'pbkdf2'"):
        FlaskSessionStore(KEY, keyDerivation="pbkdf2")
    with pytest.raises(ValueError, match="maxAge"):
        FlaskSessionStore(KEY, maxAge=-1)
    with pytest.raises(ValueError, match="SECRET_KEY"):
        FlaskSessionStore("")
    with pytest.raises(TypeError, match="_user_id"):
        FlaskSessionAuth(KEY, userKey="")
    with pytest.raises(TypeError, match="list of session keys"):
        FlaskSessionAuth(KEY, userKey="_user_id", info="name")
    assert KEY not in repr(FlaskSessionStore(KEY)) and KEY not in repr(flaskAuth())


# The session: read-only, and decoded as Flask encodes it


def test_sessionIsReadOnly(listen, serveFlask):
    """
    conn.session is readable in the component; writing to it raises ReadOnlySessionError saying why (the cookie
    lives in the browser, which only an HTTP response can change), and so does save().
    """
    cookie = loggedIn(serveFlask, configuredApp(), name="Ann")
    component = SessionWriter()
    _, url = serveAuthenticated(listen, component, flaskAuth())

    def write() -> str:
        with connect(url, proxy=None, **cookieHeader(cookie)) as ws:
            ws.recv(timeout=10)
            ws.send("Mallory")
            return ws.recv(timeout=10)

    assert inThread(write) == f"refused: {READ_ONLY_WHY}"
    conn = component.events[0][1]
    assert conn.session["name"] == "Ann" and not conn.session.modified
    with pytest.raises(ReadOnlySessionError, match="cannot set a cookie after its handshake"):
        del conn.session["name"]
    with pytest.raises(ReadOnlySessionError):
        conn.session.save()


def test_taggedTypesReachConnSession(listen, serveFlask):
    """
    Tuples, bytes, datetimes, UUIDs, markup and a dict whose only key is a tag, stored in the session by Flask,
    are the same values, of the same types, in conn.session.
    """
    cookie = loggedIn(serveFlask, configuredApp(), path="/types")
    component = WhoAmI()
    _, url = serveAuthenticated(listen, component, flaskAuth())
    assert inThread(whoAmI, url, **cookieHeader(cookie))[0]["id"] == "7"
    got = dict(component.events[0][1].session)
    assert typed(got) == typed({"_user_id": "7", **TYPED})


def typed(value: Any) -> Any:
    """
    C{value} with the type of every part beside it, so that equal-but-different types (Markup and str, tuple and
    list) tell apart.
    """
    if isinstance(value, dict):
        return ("dict", {name: typed(member) for name, member in value.items()})
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [typed(item) for item in value])
    return (type(value).__name__, value)


TAG_KEYS = st.sampled_from([" t", " b", " m", " u", " d", " di", " x", "t", "name"])
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary()
    | st.uuids()
    | st.text().map(Markup)
    | st.datetimes(timezones=st.just(UTC)).map(lambda d: d.replace(microsecond=0))
)
VALUES = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=4)
    | st.lists(inner, max_size=4).map(tuple)
    | st.dictionaries(TAG_KEYS | st.text(), inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(VALUES)
def test_taggedJSONDecodesAsFlask(value):
    """
    Whatever Flask's TaggedJSONSerializer encodes, TaggedJSON decodes to what Flask decodes, types included.
    """
    serializer = TaggedJSONSerializer()
    encoded = serializer.dumps(value)
    assert typed(TaggedJSON.loads(encoded)) == typed(serializer.loads(encoded))


@pytest.mark.parametrize(
    "encoded",
    [
        '{" d":"not a date"}',
        '{" x":1}',
        '{" t":[1,{" b":"AAE="}],"k":{" di":{" t__":[1]}}}',
        '{" u":"12345678123456781234567812345678","a":{" m":"<i>"}}',
    ],
)
def test_taggedJSONEdgesAsFlask(encoded):
    """
    Edge cases decode as Flask decodes them: a date that does not parse is None, an unknown tag stays a dict.
    """
    assert typed(TaggedJSON.loads(encoded)) == typed(TaggedJSONSerializer().loads(encoded))


# SessionProvider over FlaskSessionStore, and the origin check


def test_sessionProviderWithTheStore(listen, serveFlask, logged):
    """
    SessionProvider over FlaskSessionStore, behind an OriginCheck: conn.session is the cookie's session,
    read-only; a request without the cookie, or with a bad one, has an empty read-only session (as Flask's
    open_session), and the bad one is logged with its reason, never the cookie.
    """
    cookie = loggedIn(serveFlask, configuredApp(), name="Ann")
    component = WhoAmI()
    stack = OriginCheck(SessionProvider(WsServer(component), FlaskSessionStore(KEY)), ["example.com"])
    checkCookieAuth(stack, "the test stack")  # guarded: no StackError
    url = f"ws://127.0.0.1:{listen(HttpServer(stack)).portNumber}/"
    for header in (cookieHeader(cookie), {}, cookieHeader(tampered(cookie))):
        assert inThread(whoAmI, url, **header)[0] is None  # no authentication: no user
    sessions = [event[1].session for event in component.events if event[0] == "onOpen"]
    assert [dict(s) for s in sessions] == [{"_user_id": 42, "name": "Ann", "secret": "not for other users"}, {}, {}]
    assert all(s.readOnly for s in sessions)
    with pytest.raises(ReadOnlySessionError):
        sessions[1]["cart"] = []
    text = "\n".join(logged())
    assert "ignored the Flask session cookie of 127.0.0.1: bad session cookie signature" in text
    assert tampered(cookie) not in text


def test_unguardedRoutesAreRefusedAtBuildTime():
    """
    A route reading Flask's cookie without an origin check (App with allowedOrigins=["*"], or a SessionProvider
    over the store with no OriginCheck in front) is refused when built, saying why.
    """
    app = App("localhost", 0)
    with pytest.raises(StackError, match="cross-site WebSocket hijacking"):
        app.route("/chat", NamedChat(), allowedOrigins=["*"], auth=flaskAuth())
    with pytest.raises(StackError, match="FlaskSessionStore"):
        checkCookieAuth(SessionProvider(WsServer(NamedChat()), FlaskSessionStore(KEY)), "the stack")
    app.route("/chat", NamedChat(), auth=flaskAuth())  # the App's own origin check: accepted


def test_importsWithoutItsdangerousAndNeverImportsFlask():
    """
    ratchetpy.auth imports without itsdangerous (the error comes when a store is built, saying what to install),
    and reading a Flask cookie never imports Flask.
    """
    code = """
import sys
sys.modules["itsdangerous"] = None
import ratchetpy.auth
try:
    ratchetpy.auth.FlaskSessionStore("key")
except ImportError as error:
    print(error)
del sys.modules["itsdangerous"]
store = ratchetpy.auth.FlaskSessionStore("key")
try:
    store.decode("x.y.z")
except ValueError as error:
    print(error)
print(sorted(name for name in sys.modules if name.split(".")[0] in ("flask", "werkzeug")))
"""
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "FlaskSessionStore needs itsdangerous: pip install 'ratchetpy[flask]'",
        "bad session cookie signature",
        "[]",
    ]


def test_decodedJSONIsWhatFlaskSigned(serveFlask):
    """
    The store's decode gives exactly the dict Flask's own session interface reads from the same cookie.
    """
    app = configuredApp()
    cookie = loggedIn(serveFlask, app, path="/types")
    flaskReads = app.session_interface.get_signing_serializer(app).loads(cookie)
    data, _ = FlaskSessionStore(KEY).decode(cookie)
    assert typed(data) == typed(flaskReads)
    assert json.dumps(sorted(data)) == json.dumps(sorted(flaskReads))
