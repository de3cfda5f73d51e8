"""
Authenticate over loopback: the order authenticators are asked in, sync and
asynchronous ones, what reaches the component and when, the 401/403/429/503
answers, the throttle, and the stack builders' cookie check.
"""

from __future__ import annotations

import json
import socket

import pytest
from twisted.internet import defer, reactor, task
from zope.interface.verify import verifyObject

from examples.chat import Chat
from ratchetpy import App, HttpServer, OriginCheck, Response, WsServer
from ratchetpy.auth import Authenticate, CallableAuth, FailureThrottle, Forbidden, JWTAuth, Unauthorized, User
from ratchetpy.interfaces import IAuthenticator, IUser
from ratchetpy.stack import StackError, buildStack
from tests.auth.support import KEY, WhoAmI, bearer, mint, refusal, serveAuthenticated, whoAmI
from tests.helpers import HttpRecorder, exchange, frame, inThread, parseResponse, readHead, upgradeRequest, waitUntil


def jwtAuth():
    return JWTAuth(KEY, algorithms=["HS256"])


def withHeaders(request: bytes, **headers: str) -> bytes:
    """
    C{request} (a request head) with C{headers} added.
    """
    extra = "".join(f"{name.replace('_', '-')}: {value}\r\n" for name, value in headers.items()).encode()
    return request[:-2] + extra + b"\r\n"


def test_firstThatRecognisesDecides(listen):
    """
    Authenticators are asked in order: None passes to the next, a user ends the search (later ones are not asked),
    and Unauthorized from one ends it too.
    """
    asked = []

    def notMine(request):
        asked.append("notMine")
        return None

    def ann(request):
        asked.append("ann")
        if request.headers.get("x-user") == "ann":
            return User("ann")
        if request.headers.get("x-user") == "mallory":
            raise Unauthorized("mallory is not welcome")
        return None

    def never(request):
        asked.append("never")
        return User("never")

    _, url = serveAuthenticated(listen, WhoAmI(), notMine, ann, never)
    assert inThread(whoAmI, url, additional_headers={"X-User": "ann"})[0]["id"] == "ann"
    assert asked == ["notMine", "ann"]
    del asked[:]
    status, _, body = inThread(refusal, url, additional_headers={"X-User": "mallory"})
    assert (status, "mallory is not welcome" in body, asked) == (401, True, ["notMine", "ann"])
    del asked[:]
    assert inThread(whoAmI, url)[0]["id"] == "never"
    assert asked == ["notMine", "ann", "never"]


def test_asyncAuthenticatorPausesPipelinedFrames(listen):
    """
    An async def authenticator that takes a while: frames the client pipelined right after its handshake request
    wait, and reach onMessage after onOpen, with conn.user already set.
    """
    async def slow(request):
        await task.deferLater(reactor, 0.2, lambda: None)
        return User(request.headers["x-user"])

    seen = []
    component = WhoAmI(onMessage=lambda conn, msg: seen.append((conn.user.id, msg)))
    _, url = serveAuthenticated(listen, component, slow)
    port = int(url.rsplit(":", 1)[1].strip("/"))

    def client():
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(withHeaders(upgradeRequest(), X_User="bea") + frame(0x1, b"one") + frame(0x1, b"two"))
            head = readHead(sock)
            assert head.startswith(b"HTTP/1.1 101 "), head
            waitFor = 0
            while waitFor < 100 and len(seen) < 2:
                sock.settimeout(0.05)
                try:
                    sock.recv(4096)
                except TimeoutError:
                    pass
                waitFor += 1

    inThread(client)
    waitUntil(lambda: len(seen) == 2, what="both pipelined messages")
    assert component.hooks()[:3] == ["onOpen", "onMessage", "onMessage"]
    assert seen == [("bea", "one"), ("bea", "two")]


def test_deferredAuthenticatorForbidden(listen):
    """
    An authenticator returning a Deferred that fails with Forbidden: 403, no challenge, component untouched.
    """
    def banned(request):
        return task.deferLater(reactor, 0.05, lambda: (_ for _ in ()).throw(Forbidden("this account is suspended")))

    component = WhoAmI()
    _, url = serveAuthenticated(listen, component, banned)
    status, headers, body = inThread(refusal, url)
    assert (status, "www-authenticate" in headers, "suspended" in body) == (403, False, True)
    assert component.events == []


def test_anonymousIsOptIn(listen):
    """
    With allowAnonymous, a client no authenticator recognises is served with conn.user None; a recognised one
    still gets its user, and bad credentials are still refused.
    """
    _, url = serveAuthenticated(listen, WhoAmI(), jwtAuth(), allowAnonymous=True)
    assert inThread(whoAmI, url)[0] is None
    assert inThread(whoAmI, url, **bearer(mint("3")))[0]["id"] == "3"
    assert inThread(refusal, url, **bearer(mint("3", ttl=-10)))[0] == 401


def test_plainHttpRequestsSeeTheUser(listen):
    """
    A plain HTTP request to the WsServer's page handler is authenticated too: conn.user is set before its onOpen,
    and without credentials it gets 401 instead of the page.
    """
    def page(conn, request):
        Response(200, f"hello {conn.user.id}").writeTo(conn)

    layer = Authenticate(WsServer(WhoAmI(), http=HttpRecorder(onOpen=page)), jwtAuth())
    port = listen(HttpServer(OriginCheck(layer, ["http://127.0.0.1"]))).portNumber
    request = f"GET / HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {mint('77')}\r\n\r\n".encode()
    status, _, body = parseResponse(inThread(exchange, port, request))
    assert (status, body) == (200, b"hello 77")
    status, headers, _ = parseResponse(inThread(exchange, port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
    assert (status, headers["www-authenticate"]) == (401, 'Bearer realm="ratchetpy"')


def test_repeatedFailuresGet429(listen):
    """
    After maxAuthFailures failures from one address, every request from it gets 429 with Retry-After, even a good
    one, until the window has passed.
    """
    _, url = serveAuthenticated(listen, WhoAmI(), jwtAuth(), maxAuthFailures=3, authFailureWindow=1.0)
    for _ in range(3):
        assert inThread(refusal, url, **bearer(mint("1", ttl=-10)))[0] == 401
    status, headers, body = inThread(refusal, url, **bearer(mint("1")))
    assert (status, headers["retry-after"], "too many failed authentications" in body) == (429, "1", True)
    waitUntil(lambda: inThread(_accepted, url), timeout=3, what="the window to pass")


def _accepted(url):
    try:
        return whoAmI(url, **bearer(mint("1")))[0]["id"] == "1"
    except Exception:
        return False


def test_throttleIsBounded():
    """
    The throttle forgets addresses beyond maxAddresses (the least recently failed first) and old failures.
    """
    now = [0.0]
    throttle = FailureThrottle(maxFailures=2, window=10, maxAddresses=3, clock=lambda: now[0])
    for address in ("a", "a", "b", "c", "d"):
        throttle.failed(address)
    assert len(throttle) == 3
    assert throttle.retryAfter("a") is None  # forgotten: the least recent
    throttle.failed("d")
    assert throttle.retryAfter("d") == 10
    now[0] = 9.5
    assert throttle.retryAfter("d") == 1
    now[0] = 10.0
    assert throttle.retryAfter("d") is None
    assert FailureThrottle(maxFailures=0).retryAfter("x") is None


def test_slowAuthenticatorTimesOut(listen):
    """
    An authenticator that never answers: 503 after authTimeout.
    """
    _, url = serveAuthenticated(listen, WhoAmI(), lambda request: defer.Deferred(), authTimeout=0.3)
    status, _, body = inThread(refusal, url)
    assert (status, "did not finish within 0.3 seconds" in body) == (503, True)


def test_brokenAuthenticatorGets500(listen, logged):
    """
    An authenticator with a bug: 500, its traceback logged, no failure counted against the client.
    """
    def broken(request):
        raise KeyError("oops")

    layer, url = serveAuthenticated(listen, WhoAmI(), broken)
    assert inThread(refusal, url)[0] == 500
    assert any("an authenticator failed" in line for line in logged())
    assert len(layer.throttle) == 0


def test_oneRateLimitedLinePerRefusal(listen, logged):
    """
    Each refused request is one log line (saying why, naming the address), and a flood of them is cut to the
    budget of lines per kind.
    """
    _, url = serveAuthenticated(listen, WhoAmI(), jwtAuth(), maxAuthFailures=0)
    token = mint("1", ttl=-10)
    inThread(refusal, url, **bearer(token))
    lines = [line for line in logged() if "401" in line]
    assert len(lines) == 1 and "token expired" in lines[0] and "127.0.0.1" in lines[0], lines

    def flood():
        for _ in range(30):
            refusal(url, **bearer(token))

    inThread(flood)
    assert len([line for line in logged() if "answered 401" in line]) == 20


def test_appRouteAuth(listen):
    """
    App.route(..., auth=...): the route's clients are authenticated behind its OriginCheck, and the App's routes
    share one throttle.
    """
    app = App("127.0.0.1", 0)
    app.route("/a", WhoAmI(), auth=jwtAuth())
    app.route("/b", WhoAmI(), auth=[jwtAuth()])
    first, second = (route.component.component for route in app.router.routes)
    assert isinstance(first, Authenticate) and first.throttle is second.throttle
    port = listen(app.server.component).portNumber
    assert inThread(whoAmI, f"ws://127.0.0.1:{port}/a", **bearer(mint("8")))[0]["id"] == "8"
    assert inThread(refusal, f"ws://127.0.0.1:{port}/b")[0] == 401
    status, _, _ = inThread(refusal, f"ws://127.0.0.1:{port}/a", origin="https://evil.example", **bearer(mint("8")))
    assert status == 403


def cookieAuth(request):
    sid = request.cookies.get("sid")
    return None if sid is None else User(sid)


cookieAuth.usesCookies = True


def test_cookieAuthNeedsAnOriginCheck():
    """
    A cookie authenticator without an OriginCheck in front refuses to start, in App.route and in buildStack, with a
    message naming cross-site WebSocket hijacking; with one in front it starts.
    """
    app = App("127.0.0.1", 0)
    with pytest.raises(StackError, match="cross-site WebSocket hijacking"):
        app.route("/open", Chat(), allowedOrigins=["*"], auth=cookieAuth)
    app.route("/guarded", Chat(), auth=cookieAuth)
    with pytest.raises(StackError, match="cross-site WebSocket hijacking"):
        buildStack(Authenticate(WsServer(Chat()), CallableAuth(cookieAuth, usesCookies=True)), "tcp:0")
    with pytest.raises(StackError, match="OriginCheck"):
        buildStack(Chat(), "tcp:0", auth=cookieAuth)
    buildStack(OriginCheck(Authenticate(WsServer(Chat()), cookieAuth)), "tcp:0")
    buildStack(Chat(), "tcp:0", auth=jwtAuth())
    # By hand too.
    with pytest.raises(StackError, match="^HttpServer: a cookie authenticator .*cross-site WebSocket hijacking"):
        HttpServer(Authenticate(WsServer(Chat()), cookieAuth))
    HttpServer(OriginCheck(Authenticate(WsServer(Chat()), cookieAuth), ["https://example.com"]))


def test_cookiesAreRead(listen):
    """
    A cookie authenticator reads request.cookies (quoted values unquoted).
    """
    _, url = serveAuthenticated(listen, WhoAmI(), cookieAuth)
    user, _ = inThread(whoAmI, url, additional_headers={"Cookie": 'theme=dark; sid="s-123"'})
    assert user["id"] == "s-123"


def test_needsAnAuthenticator():
    """
    Authenticate without authenticators (and without allowAnonymous) is a mistake, said at once; so are bad limits.
    """
    with pytest.raises(TypeError, match="at least one authenticator"):
        Authenticate(WsServer(Chat()))
    with pytest.raises(ValueError, match="authFailureWindow"):
        Authenticate(WsServer(Chat()), jwtAuth(), authFailureWindow=0)
    with pytest.raises(TypeError, match="not an authenticator"):
        Authenticate(WsServer(Chat()), "HS256")
    assert json.loads(json.dumps(User("1", {"name": "Ann"}).info)) == {"name": "Ann"}


def test_interfaces():
    """
    The authenticators provide IAuthenticator, User provides IUser, and User is frozen.
    """
    assert verifyObject(IAuthenticator, jwtAuth())
    assert verifyObject(IAuthenticator, CallableAuth(cookieAuth, usesCookies=True))
    user = User("1", {"name": "Ann"}, 1e9)
    assert verifyObject(IUser, user)
    with pytest.raises(AttributeError):
        user.id = "2"
    with pytest.raises(TypeError, match="str"):
        User(1)
