"""
DjangoSessionAuth and DjangoSessionStore with the real parts: the example
Django project (examples/django_chat) on sqlite in a temporary directory,
served over HTTP by wsgiref in a thread; users log in through Django's login
page, and their session cookies go to real WebSocket clients of a ratchetpy
server on loopback (in this process, or twistd --auth-django-settings). The
tutorial of docs/identity.md runs as written: manage.py migrate and
createsuperuser, runserver, and examples/django_chat/server.py.

Django's settings are per process: this module configures them once (the
example's settings, with the database in a temporary directory and a fast
password hasher), and the tests that need Django unconfigured run in
subprocesses.
"""

from __future__ import annotations

import http.cookiejar
import inspect
import os
import re
import shlex
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.parse
import urllib.request
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from twisted.internet import threads
from websockets.sync.client import connect

pytest.importorskip("django")

import pytest_twisted  # noqa: E402

from examples.chat import Chat  # noqa: E402
from ratchetpy import App, HttpServer, MessageComponent, OriginCheck, WsServer  # noqa: E402
from ratchetpy.auth import (  # noqa: E402
    Authenticate,
    DjangoSession,
    DjangoSessionAuth,
    DjangoSessionStore,
    ReadOnlySessionError,
    Session,
    SessionProvider,
)
from ratchetpy.stack import StackError, buildStack  # noqa: E402
from tests.auth.support import WhoAmI, refusal, whoAmI  # noqa: E402
from tests.credentials import remember  # noqa: E402
from tests.helpers import ROOT, Recorder, freePort, inThread, waitUntil  # noqa: E402

PASSWORD = "correct horse battery staple"


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class Site:
    """
    The example Django project, served over HTTP on loopback.
    """

    def __init__(self, port: int, database: str = "") -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.database = database

    def makeUser(self, username: str, **fields: Any) -> Any:
        from django.contrib.auth import get_user_model

        model = get_user_model()
        model.objects.filter(username=username).delete()
        return model.objects.create_user(username, password=PASSWORD, **fields)


class Browser:
    """
    (Blocking client.) A browser of the Django site: it keeps cookies, follows redirects, and logs in through the
    login form, CSRF token included.
    """

    def __init__(self, site: Site) -> None:
        self.site = site
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def get(self, path: str) -> str:
        with self.opener.open(self.site.url + path, timeout=10) as response:
            return response.read().decode("utf-8")

    def post(self, path: str, csrfFrom: str, **fields: str) -> str:
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', csrfFrom)
        assert token, csrfFrom
        data = urllib.parse.urlencode({"csrfmiddlewaretoken": token.group(1), **fields}).encode()
        with self.opener.open(self.site.url + path, data=data, timeout=10) as response:
            return response.read().decode("utf-8")

    def logIn(self, username: str, password: str = PASSWORD) -> str:
        """
        Log in through the login page; return the chat page it leads to.
        """
        page = self.post("/accounts/login/", self.get("/accounts/login/"), username=username, password=password)
        assert f"Chat, as {username}" in page, page
        return page

    def logOut(self) -> None:
        self.post("/accounts/logout/", self.get("/"))

    def cookie(self, name: str = "sessionid") -> str | None:
        value = next((cookie.value for cookie in self.jar if cookie.name == name), None)
        return value if value is None else remember(value)

    def sessionHeaders(self) -> dict[str, Any]:
        """
        The connect options of a WebSocket client sending this browser's cookies from the site's page (which the
        run's end checks are in no log line).
        """
        cookies = "; ".join(f"{cookie.name}={remember(cookie.value)}" for cookie in self.jar)
        return {"additional_headers": {"Cookie": cookies}, "origin": self.site.url}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """
    The example project, its database migrated, served by wsgiref in a thread (Django's WSGI application).
    """
    import django
    from django.conf import settings

    if settings.configured:
        pytest.skip("Django was configured by another module of this process")
    import examples.django_chat.settings as example

    overrides = {name: getattr(example, name) for name in dir(example) if name.isupper()}
    database = str(tmp_path_factory.mktemp("django") / "db.sqlite3")
    overrides["DATABASES"] = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": database}}
    overrides["DEBUG"] = False
    # Hashing is not what is tested; the default hasher takes a second per login on a busy machine.
    overrides["PASSWORD_HASHERS"] = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.configure(**overrides)
    django.setup()
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    server = make_server("127.0.0.1", 0, WSGIHandler(), _ThreadingWSGIServer, _QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Site(server.server_address[1], database)
    server.shutdown()
    server.server_close()
    connection.close()


def serveDjango(listen, component, *, auth: DjangoSessionAuth | None = None) -> tuple[str, DjangoSessionAuth]:
    """
    Serve C{component} behind OriginCheck and Authenticate with a DjangoSessionAuth; return the URL and it.
    """
    auth = auth if auth is not None else DjangoSessionAuth()
    server = listen(HttpServer(OriginCheck(Authenticate(WsServer(component), auth), [])))
    return f"ws://127.0.0.1:{server.portNumber}/", auth


class SessionWhoAmI(WhoAmI):
    """
    WhoAmI, and a record of each connection's session on open.
    """

    def __init__(self) -> None:
        super().__init__()
        self.sessions: list[Any] = []

    def onOpen(self, conn):
        self.sessions.append(conn.session)
        return super().onOpen(conn)


def test_loggedInUser(site, listen, logged):
    """
    A user logged in over HTTP: their session cookie makes conn.user theirs (id str(pk), info with the username and
    the full name, no expiry), and conn.session their Django session; the key is in no log line.
    """
    ann = site.makeUser("ann", first_name="Ann", last_name="Lee")
    browser = Browser(site)
    inThread(browser.logIn, "ann")
    component = SessionWhoAmI()
    url, _ = serveDjango(listen, component)
    user, _ = inThread(whoAmI, url, **browser.sessionHeaders())
    assert user == {"id": str(ann.pk), "info": {"username": "ann", "name": "Ann Lee"}, "exp": None}
    (session,) = component.sessions
    assert isinstance(session, DjangoSession) and not session.readOnly
    assert session.key == browser.cookie()
    assert session["_auth_user_id"] == str(ann.pk)
    assert browser.cookie() not in "\n".join(logged()) and browser.cookie() not in repr(session)


def test_usernameWithoutFullName(site, listen):
    """
    A user without a full name is named by their username; a custom info callable replaces the default.
    """
    bo = site.makeUser("bo")
    browser = Browser(site)
    inThread(browser.logIn, "bo")
    url, _ = serveDjango(listen, WhoAmI())
    assert inThread(whoAmI, url, **browser.sessionHeaders())[0]["info"] == {"username": "bo", "name": "bo"}
    url, _ = serveDjango(listen, WhoAmI(), auth=DjangoSessionAuth(info=lambda user: {"staff": user.is_staff}))
    user, _ = inThread(whoAmI, url, **browser.sessionHeaders())
    assert user == {"id": str(bo.pk), "info": {"staff": False}, "exp": None}


def test_refusals(site, listen, logged):
    """
    No session cookie: 401 (no authenticator recognised anything); a bogus cookie: 401 without the cookie in the
    answer or the log; a cookie from another site's page: 403 (OriginCheck); the component never sees any of them.
    """
    site.makeUser("cy")
    browser = Browser(site)
    inThread(browser.logIn, "cy")
    component = WhoAmI()
    url, _ = serveDjango(listen, component)
    status, _, body = inThread(refusal, url, origin=site.url)
    assert (status, "no credentials" in body) == (401, True)
    bogus = "x" * 32
    status, _, body = inThread(refusal, url, additional_headers={"Cookie": f"sessionid={bogus}"})
    assert (status, "no user is logged in with this session" in body, bogus in body) == (401, True, False)
    options = browser.sessionHeaders()
    options["origin"] = "https://evil.example"
    assert inThread(refusal, url, **options)[0] == 403
    assert component.events == []
    lines = "\n".join(logged())
    assert "no user is logged in with this session" in lines
    assert bogus not in lines and browser.cookie() not in lines


def test_afterLogout(site, listen):
    """
    After the user logs out over HTTP, their old session cookie gets 401.
    """
    site.makeUser("di")
    browser = Browser(site)
    inThread(browser.logIn, "di")
    url, _ = serveDjango(listen, WhoAmI())
    assert inThread(whoAmI, url, **browser.sessionHeaders())[0]["info"]["username"] == "di"
    before = browser.sessionHeaders()
    inThread(browser.logOut)
    status, _, body = inThread(refusal, url, **before)
    assert (status, "no user is logged in with this session" in body) == (401, True)


def test_afterPasswordChange(site, listen):
    """
    After the user's password changes, sessions from before it get 401 (the session hash no longer verifies), and
    the refusal writes nothing: the session is still stored.
    """
    from django.contrib.sessions.models import Session as StoredSession

    user = site.makeUser("ed")
    browser = Browser(site)
    inThread(browser.logIn, "ed")
    url, _ = serveDjango(listen, WhoAmI())
    assert inThread(whoAmI, url, **browser.sessionHeaders())[0]["id"] == str(user.pk)
    user.set_password("a new password")
    user.save()
    assert inThread(refusal, url, **browser.sessionHeaders())[0] == 401
    assert StoredSession.objects.filter(session_key=browser.cookie()).exists()


def test_secretKeyFallback(site, listen):
    """
    After SECRET_KEY is rotated, a session whose hash was made with the old key, now in SECRET_KEY_FALLBACKS, is
    accepted without cycling its key (Django's get_user would: the browser's cookie would die), so the cookie
    still works afterwards; once the old key is dropped, the session no longer reads (Django signs its data): 401.
    """
    from django.conf import settings
    from django.contrib.sessions.models import Session as StoredSession

    user = site.makeUser("fay")
    browser = Browser(site)
    inThread(browser.logIn, "fay")
    key = browser.cookie()
    url, _ = serveDjango(listen, WhoAmI())
    old = settings.SECRET_KEY
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "a-new-secret-key-" + "n" * 40, [old]
    try:
        assert inThread(whoAmI, url, **browser.sessionHeaders())[0]["id"] == str(user.pk)
        settings.SECRET_KEY_FALLBACKS = []
        assert inThread(refusal, url, **browser.sessionHeaders())[0] == 401
    finally:
        settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = old, []
    assert StoredSession.objects.filter(session_key=key).exists()
    assert inThread(whoAmI, url, **browser.sessionHeaders())[0]["id"] == str(user.pk)


def test_inactiveUser(site, listen):
    """
    A logged-in user who is then made inactive gets 403.
    """
    user = site.makeUser("gus")
    browser = Browser(site)
    inThread(browser.logIn, "gus")
    user.is_active = False
    user.save()
    url, _ = serveDjango(listen, WhoAmI())
    status, _, body = inThread(refusal, url, **browser.sessionHeaders())
    assert (status, "inactive" in body) == (403, True)


def test_webSocketChangesTheSession(site, listen):
    """
    The example's SessionChat counts each message in the sender's Django session and saves it from the WebSocket
    (await conn.session.save()); Django's chat page, requested afterwards, shows the count. The other user hears
    the messages by name.
    """
    from examples.django_chat.chat import SessionChat

    site.makeUser("hal", first_name="Hal")
    site.makeUser("ida")
    hal, ida = Browser(site), Browser(site)
    assert 'id="sent">0<' in inThread(hal.logIn, "hal")
    inThread(ida.logIn, "ida")
    url, _ = serveDjango(listen, SessionChat())

    def chat() -> list[str]:
        with connect(url, open_timeout=10, proxy=None, **ida.sessionHeaders()) as listener:
            with connect(url, open_timeout=10, proxy=None, **hal.sessionHeaders()) as speaker:
                heard = [listener.recv(timeout=10)]
                speaker.send("hello")
                speaker.send("again")
                heard += [listener.recv(timeout=10), listener.recv(timeout=10)]
            return heard

    assert inThread(chat) == ["* Hal joined", "Hal: hello", "Hal: again"]
    waitUntil(lambda: 'id="sent">2<' in inThread(hal.get, "/"), what="the count in Django's page")
    assert 'id="sent">0<' in inThread(ida.get, "/")


def test_saveReturnsAfterWriting(site, listen):
    """
    A component sets a key, awaits save(), then answers: by then Django reads the new value; the session is no
    longer modified.
    """
    from django.contrib.sessions.backends.db import SessionStore

    site.makeUser("jo")
    browser = Browser(site)
    inThread(browser.logIn, "jo")
    seen = []

    async def setTheme(conn, msg):
        conn.session["theme"] = msg
        assert conn.session.modified
        await conn.session.save()
        seen.append(conn.session.modified)
        conn.send("saved")

    url, _ = serveDjango(listen, Recorder(onMessage=setTheme))

    def client() -> str:
        with connect(url, open_timeout=10, proxy=None, **browser.sessionHeaders()) as ws:
            ws.send("dark")
            return ws.recv(timeout=10)

    assert inThread(client) == "saved"
    assert seen == [False]
    assert inThread(lambda: SessionStore(browser.cookie())["theme"]) == "dark"


def test_reactorNotBlocked(site, listen):
    """
    Django's work runs in the store's thread pool: while one handshake waits for a slow info(user), another server
    on the same reactor answers at once.
    """
    site.makeUser("kit")
    browser = Browser(site)
    inThread(browser.logIn, "kit")
    entered, release = threading.Event(), threading.Event()
    threadNames = []

    def slowInfo(user):
        threadNames.append(threading.current_thread().name)
        entered.set()
        assert release.wait(10)
        return {"name": user.get_username()}

    url, _ = serveDjango(listen, WhoAmI(), auth=DjangoSessionAuth(info=slowInfo))
    echo = listen(HttpServer(WsServer(Recorder(echo=True))))
    slow = threads.deferToThread(whoAmI, url, **browser.sessionHeaders())
    waitUntil(entered.is_set, what="info(user) to be called")

    def echoRoundTrip() -> str:
        with connect(f"ws://127.0.0.1:{echo.portNumber}/", open_timeout=10, proxy=None) as ws:
            ws.send("ping")
            return ws.recv(timeout=10)

    assert inThread(echoRoundTrip) == "ping"
    assert not slow.called
    release.set()
    user, _ = pytest_twisted.blockon(slow)
    assert user["info"] == {"name": "kit"}
    assert threadNames and "ratchetpy-django" in threadNames[0]


def test_cookieAuthNeedsAnOriginCheck(site):
    """
    DjangoSessionAuth reads cookies: a stack without an OriginCheck in front refuses to start, in buildStack and in
    App.route with allowedOrigins=["*"].
    """
    with pytest.raises(StackError, match="cross-site WebSocket hijacking"):
        buildStack(Authenticate(WsServer(Chat()), DjangoSessionAuth()), "tcp:0")
    with pytest.raises(StackError, match="cross-site WebSocket hijacking"):
        App("127.0.0.1", 0).route("/chat", Chat(), allowedOrigins=["*"], auth=DjangoSessionAuth())
    App("127.0.0.1", 0).route("/chat", Chat(), auth=DjangoSessionAuth())
    buildStack(OriginCheck(Authenticate(WsServer(Chat()), DjangoSessionAuth())), "tcp:0")


def test_sessionProvider(site, listen):
    """
    SessionProvider with a DjangoSessionStore, no authentication: a logged-in browser's session; no cookie, an
    empty Session; a cookie naming no stored session, an empty read-only one (a WebSocket cannot give the browser
    the new cookie saving it would need).
    """
    site.makeUser("lu")
    browser = Browser(site)
    inThread(browser.logIn, "lu")
    sessions = []

    def tryWriting(conn):
        sessions.append(conn.session)
        try:
            conn.session["visited"] = True
        except ReadOnlySessionError as refused:
            conn.send(f"read-only: {refused}")
        else:
            conn.send("written")

    component = Recorder(onOpen=tryWriting)
    server = listen(HttpServer(OriginCheck(SessionProvider(WsServer(component), DjangoSessionStore()), [])))
    url = f"ws://127.0.0.1:{server.portNumber}/"

    def first(**options: Any) -> str:
        with connect(url, open_timeout=10, proxy=None, **options) as ws:
            return ws.recv(timeout=10)

    assert inThread(first, **browser.sessionHeaders()) == "written"
    assert inThread(first) == "written"
    answer = inThread(first, additional_headers={"Cookie": "sessionid=" + "y" * 32})
    assert answer.startswith("read-only: ") and "log in" in answer
    logged, anonymous, bogus = sessions
    assert isinstance(logged, DjangoSession) and logged["_auth_user_id"]
    assert type(anonymous) is Session and dict(anonymous) == {"visited": True}
    assert isinstance(bogus, DjangoSession) and bogus.readOnly and len(bogus) == 0 and bogus.key is None


def runPython(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    environment["PYTHONPATH"] = str(ROOT)
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )


def test_withoutSettings():
    """
    Building a DjangoSessionAuth without Django's settings fails with one line that says what to do.
    """
    result = runPython("from ratchetpy.auth import DjangoSessionAuth\nDjangoSessionAuth()")
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "ImproperlyConfigured: DjangoSessionAuth needs Django's settings: set DJANGO_SETTINGS_MODULE" in last


def test_withoutDjango():
    """
    ratchetpy and ratchetpy.auth import without Django; building a DjangoSessionAuth says how to install it.
    """
    result = runPython(
        "import sys\nsys.modules['django'] = None\nimport ratchetpy, ratchetpy.auth\n"
        "from ratchetpy.auth import DjangoSessionAuth\nDjangoSessionAuth()"
    )
    assert "ImportError: DjangoSessionAuth needs Django: pip install 'ratchetpy[django]'" in result.stderr


def test_settingsModuleFromTheEnvironment():
    """
    With DJANGO_SETTINGS_MODULE set and Django not set up yet, building a DjangoSessionAuth sets it up (its apps
    are ready) and reads the session cookie's name from the settings.
    """
    result = runPython(
        "from ratchetpy.auth import DjangoSessionAuth\nfrom django.apps import apps\n"
        "auth = DjangoSessionAuth()\nprint(apps.ready, auth.store.cookieName)",
        DJANGO_SETTINGS_MODULE="examples.django_chat.settings",
    )
    assert result.stdout.split() == ["True", "sessionid"], result.stderr



def test_signedCookieSessions(site, listen):
    """
    With the signed_cookies engine the session is the cookie: a logged-in one is recognised, and conn.session is
    read-only (saving it would need a new cookie), saying why.
    """
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.signed_cookies import SessionStore as InCookie

    user = site.makeUser("ned")
    signed = InCookie()
    signed.update(
        {
            SESSION_KEY: str(user.pk),
            BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
            HASH_SESSION_KEY: user.get_session_auth_hash(),
            "theme": "dark",
        }
    )
    signed.save()
    answers = []

    def tryWriting(conn):
        answers.append((conn.session["theme"], conn.session.readOnly))
        try:
            conn.session["theme"] = "light"
        except ReadOnlySessionError as refused:
            conn.send(str(refused))

    old = settings.SESSION_ENGINE
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
    try:
        url, _ = serveDjango(listen, Recorder(onOpen=tryWriting))

        def first() -> str:
            cookie = {"additional_headers": {"Cookie": f"sessionid={signed.session_key}"}}
            with connect(url, open_timeout=10, proxy=None, **cookie) as ws:
                return ws.recv(timeout=10)

        assert "signed_cookies session engine keeps the session in the cookie" in inThread(first)
    finally:
        settings.SESSION_ENGINE = old
    assert answers == [("dark", True)]


# The tutorial of docs/identity.md, as written

PAGE = (ROOT / "docs" / "identity.md").read_text(encoding="utf-8")
TUTORIAL = PAGE[PAGE.index("## A tutorial: the chat with names, on Django's sessions"):]
TUTORIAL = TUTORIAL[: TUTORIAL.index("\n## ", 1)]
# Fenced blocks, also those indented in list items.
FENCE = re.compile(r"^( *)```(\w+)\n(.*?)^\1```[ \t]*$", re.MULTILINE | re.DOTALL)


def tutorialBlocks(language: str) -> list[str]:
    return [textwrap.dedent(code) for _, lang, code in FENCE.findall(TUTORIAL) if lang == language]


def test_tutorialCodeIsTheExamples():
    """
    The tutorial shows examples/django_chat/server.py as it is (but its docstring), and chat.py's SessionChat.
    """
    from examples.django_chat import chat

    shown = {code.partition("\n")[0]: code.partition("\n")[2] for code in tutorialBlocks("python")}
    # Read, not imported: importing it would set DJANGO_SETTINGS_MODULE in this process.
    serverSource = (ROOT / "examples" / "django_chat" / "server.py").read_text(encoding="utf-8")
    assert shown["# examples/django_chat/server.py"] == serverSource[serverSource.index('"""\n\n') + 5 :]
    assert shown["# examples/django_chat/chat.py"] == inspect.getsource(chat.SessionChat)


def waitForPort(port: int, process: subprocess.Popen[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            assert process.poll() is None, process.communicate()[0]
            assert time.monotonic() < deadline, f"nothing listens on port {port}"
            time.sleep(0.1)


def test_tutorial(tmp_path):
    """
    The tutorial's commands, run as written (on free ports, the database in a temporary directory): migrate,
    two users, Django's runserver and the WebSocket server. Ann and Bob log in through Django's login page; Bob
    hears Ann join and speak by name over the WebSocket, and Ann's chat page then shows her count of messages.
    """
    djangoPort, wsPort = freePort(), freePort()
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(PYTHONPATH=str(ROOT), DJANGO_CHAT_DB=str(tmp_path / "db.sqlite3"), DJANGO_CHAT_WS_PORT=str(wsPort))
    commands = [
        line
        for code in tutorialBlocks("sh")
        for line in code.splitlines()
        if "django_chat" in line and not line.startswith("twistd ")
    ]
    assert len(commands) == 5, commands
    processes: list[subprocess.Popen[str]] = []
    try:
        for command in commands:
            argv, commandEnv = shlex.split(command), dict(env)
            while "=" in argv[0]:
                name, _, value = argv.pop(0).partition("=")
                commandEnv[name] = value
            assert argv[0] == "python", command
            argv[0] = sys.executable
            if "runserver" in argv:
                assert argv[-1] == "127.0.0.1:8000"
                # No autoreloader: it would leave a child process behind when this one is stopped.
                argv[-1:] = [f"127.0.0.1:{djangoPort}", "--noreload"]
            if "runserver" in argv or "examples.django_chat.server" in argv:
                process = subprocess.Popen(
                    argv, cwd=ROOT, env=commandEnv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
                )
                processes.append(process)
                waitForPort(djangoPort if "runserver" in argv else wsPort, process)
            else:
                subprocess.run(argv, cwd=ROOT, env=commandEnv, check=True, capture_output=True, timeout=120)

        site = Site(djangoPort)
        ann, bob = Browser(site), Browser(site)
        ann.logIn("ann", "ann-secret")
        bob.logIn("bob", "bob-secret")
        url = f"ws://127.0.0.1:{wsPort}/chat"
        with connect(url, open_timeout=10, proxy=None, **bob.sessionHeaders()) as listener:
            with connect(url, open_timeout=10, proxy=None, **ann.sessionHeaders()) as speaker:
                heard = [listener.recv(timeout=10)]
                speaker.send("hello")
                heard.append(listener.recv(timeout=10))
        assert heard == ["* ann joined", "ann: hello"]
        deadline = time.monotonic() + 10
        while 'id="sent">1<' not in ann.get("/"):
            assert time.monotonic() < deadline, "the chat page never showed the count"
            time.sleep(0.1)
        status, _, _ = refusal(url, origin=site.url)
        assert status == 401
    finally:
        outputs = []
        for process in processes:
            process.terminate()
            outputs.append(process.communicate(timeout=30)[0])
    # The WebSocket server's log (and Django's) has the chat, but no session key.
    assert "ann connected" in outputs[1], outputs[1]
    for browser in (ann, bob):
        assert not any(browser.cookie() in output for output in outputs)


def test_threadsRunYourOwnOrmCalls(site, listen):
    """
    auth.store.threads.run, as the Channels table shows, runs a component's own ORM call in the store's pool and
    gives its result to an async hook.
    """
    from django.contrib.auth import get_user_model

    site.makeUser("ola", email="ola@example.com")
    browser = Browser(site)
    inThread(browser.logIn, "ola")
    auth = DjangoSessionAuth()

    def email(pk: str) -> tuple[str, str]:
        return get_user_model().objects.get(pk=pk).email, threading.current_thread().name

    async def tell(conn, msg):
        address, thread = await auth.store.threads.run(email, conn.user.id)
        conn.send(f"{address} {thread}")

    url, _ = serveDjango(listen, Recorder(onMessage=tell), auth=auth)

    def client() -> str:
        with connect(url, open_timeout=10, proxy=None, **browser.sessionHeaders()) as ws:
            ws.send("who")
            return ws.recv(timeout=10)

    address, thread = inThread(client).split()
    assert address == "ola@example.com" and "ratchetpy-django" in thread


def test_sessionsSectionBlocks(site, listen):
    """
    The "Sessions" section of docs/identity.md, run as written: its stack is a SessionProvider over a
    DjangoSessionStore behind an OriginCheck, and its Preferences component saves the theme a logged-in browser
    sends into the Django session, where Django reads it.
    """
    from django.contrib.sessions.backends.db import SessionStore

    section = PAGE[PAGE.index("## Sessions: `conn.session`") :]
    section = section[: section.index("\n## ", 1)]
    stackCode, preferencesCode = [code for _, lang, code in FENCE.findall(section) if lang == "python"]
    namespace: dict[str, Any] = {"Chat": Chat}
    exec(compile(stackCode, "identity.md", "exec"), namespace)
    origin = namespace["stack"].component
    assert isinstance(origin, OriginCheck) and isinstance(origin.component, SessionProvider)
    assert isinstance(origin.component.store, DjangoSessionStore)

    namespace = {"MessageComponent": MessageComponent}
    exec(compile(preferencesCode, "identity.md", "exec"), namespace)
    site.makeUser("pia")
    browser = Browser(site)
    inThread(browser.logIn, "pia")
    stack = HttpServer(OriginCheck(SessionProvider(WsServer(namespace["Preferences"]()), DjangoSessionStore()), []))
    url = f"ws://127.0.0.1:{listen(stack).portNumber}/"

    def client() -> None:
        with connect(url, open_timeout=10, proxy=None, **browser.sessionHeaders()) as ws:
            ws.send("solarized")

    inThread(client)
    key = browser.cookie()
    waitUntil(lambda: inThread(lambda: SessionStore(key).get("theme")) == "solarized", what="the saved theme")


# twistd --auth-django-settings


def parsedTwistd(*args: str) -> Any:
    from ratchetpy.tap import Options

    options = Options()
    options.parseOptions(["--component", "examples.django_chat.chat:SessionChat", *args])
    return options


def test_twistdOptionsBuildTheStack(site, monkeypatch):
    """
    --auth-django-settings builds HttpServer(OriginCheck(Authenticate(WsServer(...), DjangoSessionAuth))): the
    OriginCheck allows the server's own host name only, or --allowed-origins too; "*" refuses to start; the
    settings module becomes DJANGO_SETTINGS_MODULE.
    """
    from examples.django_chat.chat import SessionChat
    from ratchetpy.tap import buildServer

    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "unused.settings")  # restored after the test
    options = parsedTwistd("--auth-django-settings", "examples.django_chat.settings")
    assert os.environ["DJANGO_SETTINGS_MODULE"] == "examples.django_chat.settings"
    origin = buildServer(SessionChat(), options).component.component
    assert isinstance(origin, OriginCheck) and origin.allowedOrigins == []
    assert isinstance(origin.component, Authenticate)
    assert origin.component.authenticators == [options.djangoAuth]
    assert isinstance(options.djangoAuth, DjangoSessionAuth)

    options = parsedTwistd(
        "--auth-django-settings", "examples.django_chat.settings",
        "--allowed-origins", "www.example.com, https://chat.example.com",
    )
    origin = buildServer(SessionChat(), options).component.component
    assert origin.allowedOrigins == ["www.example.com", "https://chat.example.com"]
    options = parsedTwistd("--auth-django-settings", "examples.django_chat.settings", "--allowed-origins", "*")
    with pytest.raises(StackError, match="cross-site WebSocket hijacking"):
        buildServer(SessionChat(), options)
    # Without a cookie authenticator, --allowed-origins alone puts the check in front.
    origin = buildServer(SessionChat(), parsedTwistd("--allowed-origins", "example.com")).component.component
    assert isinstance(origin, OriginCheck) and isinstance(origin.component, WsServer)
    # Without any, the default check: the server's own host name.
    origin = buildServer(SessionChat(), parsedTwistd()).component.component
    assert isinstance(origin, OriginCheck) and origin.allowedOrigins == []


@pytest.mark.parametrize(
    "args, message",
    [
        (["--auth-django-settings", "examples.django_chat.settings", "--raw"], "cannot be combined with --raw"),
        (["--allowed-origins", "example.com", "--raw"], "cannot be combined with --raw"),
    ],
)
def test_twistdUsageErrors(site, monkeypatch, args, message):
    """
    Options that do not go together: one line saying why.
    """
    from twisted.python import usage

    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "unused.settings")
    with pytest.raises(usage.UsageError, match=message):
        parsedTwistd(*args)


def test_twistdWithoutTheSettingsModule():
    """
    A settings module that cannot be imported stops twistd's option parsing with one line naming it.
    """
    result = runPython(
        "from ratchetpy.tap import Options\n"
        "Options().parseOptions(['--component', 'examples.chat:Chat', '--auth-django-settings', 'nowhere.settings'])"
    )
    last = result.stderr.strip().splitlines()[-1]
    assert "UsageError: --auth-django-settings nowhere.settings: " in last and "nowhere" in last.rpartition(":")[2]


def test_tutorialTwistdCommand(site, twistd):
    """
    The tutorial's twistd command, run as written (on a free loopback port, the site's database): logged-in users
    of the Django site chat by name, the count is saved into their sessions, a page of another site gets 403 and a
    client without the cookie 401; no session key reaches twistd's output.
    """
    from tests.test_tap import LOOPBACK

    (command,) = [line for code in tutorialBlocks("sh") for line in code.splitlines() if line.startswith("twistd ")]
    argv = shlex.split(command)
    assert argv[:3] == ["twistd", "-n", "ratchetpy"]
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["DJANGO_CHAT_DB"] = site.database
    process = twistd(*argv[3:], "--port", LOOPBACK, env=env)
    url = f"ws://127.0.0.1:{process.waitForPort()}/chat"
    site.makeUser("quinn")
    site.makeUser("rae")
    quinn, rae = Browser(site), Browser(site)
    inThread(quinn.logIn, "quinn")
    inThread(rae.logIn, "rae")

    def chat() -> list[str]:
        with connect(url, open_timeout=10, proxy=None, **rae.sessionHeaders()) as listener:
            with connect(url, open_timeout=10, proxy=None, **quinn.sessionHeaders()) as speaker:
                heard = [listener.recv(timeout=10)]
                speaker.send("hi")
                heard.append(listener.recv(timeout=10))
            return heard

    assert inThread(chat) == ["* quinn joined", "quinn: hi"]
    waitUntil(lambda: 'id="sent">1<' in inThread(quinn.get, "/"), what="the count in Django's page")
    evil = {**quinn.sessionHeaders(), "origin": "https://evil.example"}
    assert inThread(refusal, url, **evil)[0] == 403
    assert inThread(refusal, url, origin=site.url)[0] == 401
    process.stop()
    assert "quinn connected" in process.output
    assert quinn.cookie() not in process.output and rae.cookie() not in process.output


def test_providesTheInterfaces(site, listen):
    """
    DjangoSessionAuth is an IAuthenticator, DjangoSessionStore an ISessionStore (both reading cookies), and the
    session it gives an ISession.
    """
    from zope.interface.verify import verifyObject

    from ratchetpy.interfaces import IAuthenticator, ISession, ISessionStore

    auth = DjangoSessionAuth()
    assert verifyObject(IAuthenticator, auth) and auth.usesCookies
    assert verifyObject(ISessionStore, auth.store) and auth.store.usesCookies
    site.makeUser("sam")
    browser = Browser(site)
    inThread(browser.logIn, "sam")
    component = SessionWhoAmI()
    url, _ = serveDjango(listen, component, auth=auth)
    inThread(whoAmI, url, **browser.sessionHeaders())
    assert verifyObject(ISession, component.sessions[0])
