"""
App, end to end over loopback with real clients: several routes on one port,
404/405/Host refusals, route parameters, the stack route() builds, WebSocket
options per route (keepalive, strict subprotocols), the default origin
policy, listen() inside a running reactor and run() in a process of its own.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import pytest_twisted
from twisted.internet import defer
from twisted.internet.interfaces import IListeningPort
from twisted.internet.task import Clock
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect
from zope.interface import implementer

from examples.chat import Chat
from examples.echo import Echo
from ratchetpy import (
    App,
    HttpHandler,
    HttpServer,
    IHttpServerComponent,
    IWsServerComponent,
    MessageComponent,
    OriginCheck,
    Response,
    StaticFiles,
    WsServer,
)
from ratchetpy.http.router import Router
from ratchetpy.stack import ComponentKind, componentKind
from tests.helpers import (
    ROOT,
    Recorder,
    exchange,
    freePort,
    inThread,
    readHead,
    statusOf,
    upgradeRequest,
    waitUntil,
)


@pytest.fixture
def serve():
    """
    C{serve(app)} listens with C{app.listen()} (inside the running reactor)
    and returns the port number; every app is shut down after the test.
    """
    apps: list[App] = []

    def _serve(app: App) -> int:
        port = pytest_twisted.blockon(app.listen())
        apps.append(app)
        return port.getHost().port

    yield _serve
    for app in apps:
        app.server.shutdownTimeout = 1.0
        pytest_twisted.blockon(app.shutdown())


def newApp(**kwargs) -> App:
    return App("localhost", 0, **kwargs)


def openRaw(port: int, path: str, host: str = "127.0.0.1") -> tuple[bytes, socket.socket]:
    """
    (Blocking client.) Send a WebSocket handshake from a raw socket; return
    the response head and the socket, left open.
    """
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(upgradeRequest(path, host))
    return readHead(sock), sock


def headersOf(response: bytes) -> dict[str, str]:
    head = response.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")[1:]
    return {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in head)}


def refusedStatus(url: str, **options) -> int:
    """
    (Blocking client.) The HTTP status a WebSocket client is refused with.
    """
    with pytest.raises(InvalidStatus) as info:
        connect(url, **options)
    return info.value.response.status_code


class RoomName(MessageComponent):
    def onOpen(self, conn):
        conn.send(f"room={conn.httpRequest.routeParams['room']}")


@implementer(IWsServerComponent)
class SubProtocols(Recorder):
    def getSubProtocols(self):
        return ["chat"]


class Hello(HttpHandler):
    def onRequest(self, request):
        return Response(200, f"{request.method} {request.routeParams['name']}")


# Routing


def test_twoRoutesOnOnePort(serve, logged):
    """
    /chat (the chat) and /echo (an echo) share one port: chat clients get
    each other's messages and never the echo's, the echo client gets its own
    back; the log lists both routes with the real port.
    """
    app = newApp()
    chat = Chat()
    app.route("/chat", chat)
    app.route("/echo", Echo())
    port = serve(app)
    assert f"routes: http://localhost:{port}/chat, http://localhost:{port}/echo" in logged()

    def clients():
        base = f"ws://127.0.0.1:{port}"
        with connect(f"{base}/chat") as a, connect(f"{base}/chat") as b, connect(f"{base}/echo") as e:
            e.send("echo me")
            echoed = e.recv(timeout=5)
            a.send("hello b")
            relayed = b.recv(timeout=5)
            with pytest.raises(TimeoutError):
                a.recv(timeout=0.2)
            return echoed, relayed

    assert inThread(clients) == ("echo me", "hello b")
    waitUntil(lambda: not chat.channels.subscribers("chat"), what="the chat clients to leave")


def test_unknownPathGets404(serve):
    """
    A path without a route gets 404 from a WebSocket client and from a
    plain GET, saying there is no route.
    """
    app = newApp()
    app.route("/chat", Chat())
    port = serve(app)
    assert inThread(refusedStatus, f"ws://127.0.0.1:{port}/nope") == 404
    response = inThread(exchange, port, b"GET /chat/extra HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    assert statusOf(response) == 404
    assert b"no route for /chat/extra" in response


def test_wrongMethodGets405(serve):
    """
    A method the route does not take gets 405 with Allow; a route may take
    other methods (an HTTP handler taking POST).
    """
    app = newApp()
    app.route("/chat", Chat())
    app.route("/hello/{name}", Hello(), methods=("GET", "POST"))
    port = serve(app)
    response = inThread(
        exchange, port, b"POST /chat HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    assert statusOf(response) == 405
    assert headersOf(response)["allow"] == "GET, HEAD"
    response = inThread(
        exchange, port, b"POST /hello/ann HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    assert statusOf(response) == 200
    assert response.endswith(b"POST ann")
    response = inThread(exchange, port, b"DELETE /hello/ann HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    assert headersOf(response)["allow"] == "GET, HEAD, POST"


def test_hostMismatchGets404WithReason(serve, logged):
    """
    A route with httpHost takes only requests naming that host (any port);
    another Host gets 404, and a log line says the routes there are for
    other hosts.
    """
    app = newApp()
    app.route("/admin", Echo(), httpHost="admin.localhost")
    port = serve(app)

    head, sock = inThread(openRaw, port, "/admin", f"admin.localhost:{port}")
    sock.close()
    assert statusOf(head) == 101

    response = inThread(exchange, port, upgradeRequest("/admin", f"127.0.0.1:{port}"))
    assert statusOf(response) == 404
    assert b"routes there are for other hosts" in response
    lines = [line for line in logged() if "answered 404" in line]
    assert len(lines) == 1, logged()
    assert "no route for /admin on host '127.0.0.1'" in lines[0]
    assert "other hosts" in lines[0]


def test_routeParams(serve):
    """
    Placeholder values of the route reach the component in
    conn.httpRequest.routeParams, percent-decoded.
    """
    app = newApp()
    app.route("/rooms/{room}", RoomName())
    port = serve(app)

    def client():
        with connect(f"ws://127.0.0.1:{port}/rooms/caf%C3%A9") as ws:
            return ws.recv(timeout=5)

    assert inThread(client) == "room=café"


def test_httpComponentRoutes(serve, tmp_path):
    """
    HTTP-layer components are routed as they are: static files under
    /static/{path:path} and a handler, beside a WebSocket route.
    """
    (tmp_path / "app.js").write_text("ok();")
    app = newApp()
    app.route("/static/{path:path}", StaticFiles(tmp_path))
    app.route("/hello/{name}", Hello())
    app.route("/echo", Echo())
    port = serve(app)
    response = inThread(exchange, port, b"GET /static/app.js HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    assert statusOf(response) == 200 and response.endswith(b"ok();")
    response = inThread(exchange, port, b"GET /hello/bob HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    assert response.endswith(b"GET bob")


# What route() builds


def test_routeReturnsTheDecoratedStack():
    """
    route() wraps a message component in WsServer behind an OriginCheck and
    returns that stack; with ["*"] there is no origin check; an HTTP-layer
    component is taken as it is (behind the origin check unless ["*"]).
    """
    app = newApp()
    chat = Chat()
    stack = app.route("/chat", chat)
    assert isinstance(stack, OriginCheck)
    assert isinstance(stack.component, WsServer)
    assert stack.component.component is chat
    assert stack.allowedOrigins == []

    open_ = app.route("/open", Echo(), allowedOrigins=["*"])
    assert isinstance(open_, WsServer)

    static = StaticFiles(ROOT / "examples" / "chat_page")
    assert app.route("/page", static, allowedOrigins=["*"]) is static
    checked = app.route("/page2", static, allowedOrigins=["example.com"])
    assert isinstance(checked, OriginCheck) and checked.component is static
    assert checked.allowedOrigins == ["example.com"]

    built = WsServer(Echo(), keepAlive=0)
    wrapped = app.route("/built", built)
    assert isinstance(wrapped, OriginCheck) and wrapped.component is built
    assert IHttpServerComponent.providedBy(wrapped)
    assert [route.component for route in app.router.routes] == [stack, open_, static, checked, wrapped]


def test_routeRefusesWhatItCannotServe():
    """
    WebSocket options with an HTTP-layer component, and something that is
    not a component at all, are refused saying what to do instead.
    """
    app = newApp()
    with pytest.raises(TypeError, match="go to the WsServer you built"):
        app.route("/x", WsServer(Echo()), keepAlive=5)
    with pytest.raises(TypeError, match="go to the WsServer you built"):
        app.route("/x", StaticFiles(ROOT), strictSubProtocols=True)
    with pytest.raises(TypeError, match="subclass ratchetpy.MessageComponent"):
        app.route("/x", object())
    with pytest.raises(ValueError, match="must start with '/'"):
        app.route("chat", Chat())
    assert app.router.routes == []


def test_unknownKeywordsNameTheValidOnes():
    """
    A keyword that is no option of the layers is a TypeError in one line
    naming it and the valid ones.
    """
    with pytest.raises(TypeError) as info:
        newApp(maxHeadSise=100)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("App() got unexpected keyword argument(s) maxHeadSise; valid: "), message
    assert all(name in message for name in ("shutdownTimeout", "maxSendBuffer", "maxHeadSize", "retryAfter"))
    with pytest.raises(TypeError) as info:
        newApp().route("/x", Echo(), keepalive=5)
    message = str(info.value)
    assert message.startswith("WsServer() got unexpected keyword argument(s) keepalive; valid: "), message
    assert all(name in message for name in ("keepAlive", "maxMessageSize", "compression", "strictSubProtocols"))


def test_badValuesSayWhatIsAllowed():
    """
    A value a layer does not allow is a ValueError naming the keyword and
    saying what is allowed.
    """
    with pytest.raises(ValueError, match=r"^maxHeaders must be a positive number, not 0$"):
        newApp(maxHeaders=0)
    with pytest.raises(ValueError, match=r"^slowConsumerPolicy must be one of 'close', 'drop', not 'kill'$"):
        newApp(slowConsumerPolicy="kill")
    app = newApp()
    with pytest.raises(ValueError, match=r"^keepAlive must be 0 \(off\) or at least 1 second, not 0\.5$"):
        app.route("/x", Echo(), keepAlive=0.5)
    assert app.router.routes == []


def test_optionsReachTheirLayers():
    """
    App's keywords reach IoServer and HttpServer, kept apart for the stack
    builder; route's reach the WsServer.
    """
    app = newApp(shutdownTimeout=2.0, maxSendBuffer=4096, maxHeadSize=2048, maxConnectionsPerIp=3)
    assert app.ioOptions == {"shutdownTimeout": 2.0, "maxSendBuffer": 4096}
    assert app.httpOptions == {"maxHeadSize": 2048, "maxConnectionsPerIp": 3}
    assert (app.server.shutdownTimeout, app.server.maxSendBuffer) == (2.0, 4096)
    assert app.server.component.maxHeadSize == 2048
    ws = app.route("/x", Echo(), allowedOrigins=["*"], maxMessageSize=100, compression=False)
    assert ws.maxMessageSize == 100


def test_reactorReachesEveryLayer():
    """
    App(reactor=...) is the reactor of the IoServer, the HttpServer and the
    WsServer of each route.
    """
    clock = Clock()
    app = App("localhost", 0, reactor=clock)
    assert app.reactor is clock
    assert app.server.reactor is clock
    assert app.server.component.reactor is clock
    ws = app.route("/x", Echo(), allowedOrigins=["*"])
    assert ws.reactor is clock


def test_componentKinds():
    """
    componentKind tells an App, an HTTP-layer component and a message
    component (an instance or a class) apart from what is none.
    """
    static = StaticFiles(ROOT / "examples" / "chat_page")
    assert componentKind(newApp()) is ComponentKind.APP
    assert componentKind(App) is ComponentKind.APP
    for http in (Router(), WsServer(Echo()), static, OriginCheck(static, [])):
        assert componentKind(http) is ComponentKind.HTTP, http
    assert componentKind(WsServer) is ComponentKind.HTTP
    for message in (Echo(), Echo, Recorder()):
        assert componentKind(message) is ComponentKind.MESSAGE, message
    for nothing in (object(), "x", 2, None):
        assert componentKind(nothing) is None


def test_appDefaults():
    """
    App(httpHost, port, address) listens on the address given (loopback by
    default), or on an endpoint string.
    """
    assert App().server.endpoint == "tcp:8080:interface=127.0.0.1"
    assert App("example.com", 9000, "0.0.0.0").server.endpoint == "tcp:9000:interface=0.0.0.0"
    assert App(endpoint="unix:/tmp/x.sock").server.endpoint == "unix:/tmp/x.sock"


def test_listenWithEndpoint(serve):
    """
    App(endpoint=...) listens there; listen() returns a Deferred that has
    fired with the listening port, without running or blocking the reactor.
    """
    app = App(endpoint="tcp:0:interface=127.0.0.1")
    app.route("/echo", Echo())
    d = app.listen()
    assert isinstance(d, defer.Deferred)
    fired = []
    d.addCallback(fired.append)
    assert fired and IListeningPort.providedBy(fired[0]), "a TCP listen fires at once"
    port = fired[0].getHost().port
    app.server.shutdownTimeout = 1.0
    try:

        def echo():
            with connect(f"ws://127.0.0.1:{port}/echo") as ws:
                ws.send("x")
                return ws.recv(timeout=5)

        assert inThread(echo) == "x"
    finally:
        pytest_twisted.blockon(app.shutdown())


# WebSocket options per route


def test_keepAlivePerRoute(serve):
    """
    keepAlive is per route: a silent client on a route with keepalive is
    pinged and then dropped, while a client there that answers pings stays;
    on a route with keepalive off, nothing is sent to a silent client.

    (Autobahn schedules pings on whole seconds, so 1 is the shortest
    interval that means what it says.)
    """
    app = newApp()
    component = Recorder(echo=True)
    lively = app.route("/lively", component, keepAlive=1)
    quiet = app.route("/quiet", Recorder(), keepAlive=0)
    assert (lively.component.keepAlive, quiet.component.keepAlive) == (1, 0)
    port = serve(app)

    def clients():
        livelyHead, livelySock = openRaw(port, "/lively")
        quietHead, quietSock = openRaw(port, "/quiet")
        assert statusOf(livelyHead) == statusOf(quietHead) == 101
        with livelySock, quietSock, connect(f"ws://127.0.0.1:{port}/lively", ping_interval=None) as healthy:
            frames = b""
            try:
                while chunk := livelySock.recv(1024):
                    frames += chunk
            except OSError:
                pass
            quietSock.settimeout(0.1)
            with pytest.raises(TimeoutError):
                quietSock.recv(1024)
            healthy.send("still here")
            return frames, healthy.recv(timeout=5)

    frames, echoed = inThread(clients)
    assert frames[:1] == b"\x89", "a ping first"
    assert echoed == "still here"
    waitUntil(lambda: component.hooks().count("onClose") == 2, what="both lively clients to be gone")
    closed = [event[1] for event in component.events if event[0] == "onClose"]
    talker = next(event[1] for event in component.events if event[0] == "onMessage")
    assert closed[0] is not talker, "the silent client went first"


class OfferOnly:
    """
    (Blocking client.) The subprotocol agreed for an offer, or the HTTP
    status the handshake was refused with.
    """

    @staticmethod
    def result(url, offered):
        try:
            with connect(url, subprotocols=offered) as ws:
                return ws.subprotocol
        except InvalidStatus as refused:
            return refused.response.status_code


def test_strictSubProtocolsPerRoute(serve):
    """
    A client offering only unknown subprotocols is accepted without one by
    default and refused with 400 on a strict route; a known one is agreed
    on both; setStrictSubProtocolCheck turns strictness off and on while
    serving.
    """
    app = newApp()
    strict = app.route("/strict", SubProtocols(), strictSubProtocols=True, allowedOrigins=["*"])
    app.route("/lenient", SubProtocols(), allowedOrigins=["*"])
    port = serve(app)
    base = f"ws://127.0.0.1:{port}"

    def offers():
        return [
            OfferOnly.result(f"{base}/strict", ["unknown"]),
            OfferOnly.result(f"{base}/lenient", ["unknown"]),
            OfferOnly.result(f"{base}/strict", ["unknown", "chat"]),
            OfferOnly.result(f"{base}/lenient", ["chat"]),
            OfferOnly.result(f"{base}/strict", None),
        ]

    assert inThread(offers) == [400, None, "chat", "chat", None]
    strict.setStrictSubProtocolCheck(False)
    assert inThread(OfferOnly.result, f"{base}/strict", ["unknown"]) is None
    strict.setStrictSubProtocolCheck(True)
    assert inThread(OfferOnly.result, f"{base}/strict", ["unknown"]) == 400


def test_strictWithoutAnySubProtocols(listen):
    """
    Strict, a component without subprotocols refuses every client that
    offers one, and accepts clients that offer none.
    """
    server = listen(HttpServer(WsServer(Recorder(), strictSubProtocols=True)))
    url = f"ws://127.0.0.1:{server.portNumber}/"
    assert inThread(OfferOnly.result, url, ["chat"]) == 400
    assert inThread(OfferOnly.result, url, None) is None


def test_enableKeepAlive(listen):
    """
    enableKeepAlive turns pings on for connections opened afterwards, on a
    WsServer built with keepalive off.
    """
    ws = WsServer(Recorder(), keepAlive=0)
    ws.enableKeepAlive(1, timeout=5)
    assert ws.keepAlive == 1
    server = listen(HttpServer(ws))

    def pinged():
        head, sock = openRaw(server.portNumber, "/")
        with sock:
            assert statusOf(head) == 101
            return sock.recv(2)[:1]

    assert inThread(pinged) == b"\x89"


# Origins


def test_defaultOriginPolicy(serve):
    """
    By default a route allows pages of its own host (any port: a site on 443
    with its WebSocket server on 8080) and clients sending no Origin, and
    refuses other sites with 403; allowedOrigins adds sites and ["*"] allows
    all.
    """
    app = newApp()
    app.route("/chat", Echo())
    app.route("/partner", Echo(), allowedOrigins=["partner.example"])
    app.route("/open", Echo(), allowedOrigins=["*"])
    port = serve(app)
    base = f"ws://127.0.0.1:{port}"

    def echo(path, origin):
        with connect(f"{base}{path}", origin=origin) as ws:
            ws.send("hi")
            return ws.recv(timeout=5)

    def cases():
        return {
            "same origin": echo("/chat", f"http://127.0.0.1:{port}"),
            "no origin": echo("/chat", None),
            "other site": refusedStatus(f"{base}/chat", origin="http://evil.example"),
            "same host, other port": echo("/chat", "https://127.0.0.1"),
            "listed": echo("/partner", "https://partner.example"),
            "unlisted": refusedStatus(f"{base}/partner", origin="https://evil.example"),
            "any": echo("/open", "http://evil.example"),
        }

    assert inThread(cases) == {
        "same origin": "hi",
        "no origin": "hi",
        "other site": 403,
        "same host, other port": "hi",
        "listed": "hi",
        "unlisted": 403,
        "any": "hi",
    }


# run()


RUN_SCRIPT = """
import sys
from examples.echo import Echo
from ratchetpy import App

app = App("localhost", int(sys.argv[1]))
app.route("/echo", Echo())
app.run()
print("run() returned", flush=True)
"""


def test_runServesUntilInterrupted(tmp_path):
    """
    app.run() listens and runs the reactor: a client is served; on SIGINT
    it is closed with 1001 Going Away and run() returns.
    """
    script = tmp_path / "runapp.py"
    script.write_text(RUN_SCRIPT)
    port = freePort()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, str(script), str(port)], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                ws = connect(f"ws://127.0.0.1:{port}/echo")
                break
            except OSError:
                assert process.poll() is None, process.stdout.read()
                assert time.monotonic() < deadline, "the app never listened"
                time.sleep(0.05)
        with ws:
            ws.send("ran")
            assert ws.recv(timeout=5) == "ran"
            process.send_signal(signal.SIGINT)
            with pytest.raises(ConnectionClosed) as info:
                ws.recv(timeout=5)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1001
        output, _ = process.communicate(timeout=10)
        assert process.returncode == 0, output
        assert b"run() returned" in output
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
