"""
HTTP pages beside WebSockets: StaticFiles (content types, directories,
traversal attempts, HEAD, If-Modified-Since, a large file streamed),
HttpHandler (plain, async and Deferred onRequest, failures), Response, and
WsServer's C{http} component for requests that do not ask for a WebSocket.

In memory over a StringTransport where the unit is pure; over loopback with
raw sockets where bytes on the wire matter.
"""

from __future__ import annotations

import hashlib
import os
from email.utils import formatdate

import pytest
from twisted.internet import defer, reactor, task
from twisted.logger import formatEvent
from websockets.sync.client import connect
from zope.interface.verify import verifyObject

from ratchetpy import (
    HttpHandler,
    HttpServer,
    IHttpServerComponent,
    Response,
    Router,
    StaticFiles,
    WsServer,
)
from ratchetpy.http.response import closeWithResponse
from tests.helpers import HttpRecorder, Recorder, exchange, inMemory, inThread, parseResponse

SECRET = b"TOP-SECRET-OUTSIDE-THE-SITE"
HIDDEN = b"HIDDEN-DOTFILE-CONTENT"
MTIME = 1_700_000_000  # a fixed modification time, for Last-Modified


@pytest.fixture
def site(tmp_path):
    """
    A directory of files to serve, with a secret file next to it, symbolic
    links pointing out of it, and hidden files in it.
    """
    root = tmp_path / "site"
    (root / "sub").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / ".git").mkdir()
    files = {
        "index.html": b"<h1>home</h1>",
        "app.js": b"console.log(1);",
        "style.css": b"body {}",
        "logo.png": b"\x89PNG\r\n\x1a\nfake",
        "blob.qqq9": b"\x00\x01\x02",
        "README": b"no extension",
        "sub/index.html": b"<h1>sub</h1>",
        "sub/page.html": b"<p>page</p>",
        "100%41.txt": b"percent in the name",
        ".env": HIDDEN,
        ".git/config": HIDDEN,
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
        os.utime(root / name, (MTIME, MTIME))
    (tmp_path / "secret.txt").write_bytes(SECRET)
    (root / "leak").symlink_to(tmp_path / "secret.txt")
    (root / "leakdir").symlink_to(tmp_path)
    (root / "inside.html").symlink_to(root / "index.html")
    return root


def rawRequest(method="GET", target="/", headers=(), close=True):
    # Connection: close, so that the server closes once it has answered
    # (tests/http/test_keepalive.py keeps connections open).
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1"] + (["Connection: close"] if close else [])
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def get(component, target="/", method="GET", headers=()):
    """
    The parsed response of C{component} (in memory) to one request.
    """
    _, transport = inMemory(component, rawRequest(method, target, headers))
    assert transport.disconnecting, "Connection: close: closed once answered"
    return parseResponse(transport.value())


# StaticFiles in memory


@pytest.mark.parametrize(
    "target, contentType, body",
    [
        ("/index.html", "text/html; charset=utf-8", b"<h1>home</h1>"),
        ("/app.js", ("text/javascript; charset=utf-8", "application/javascript; charset=utf-8"), b"console.log(1);"),
        ("/style.css", "text/css; charset=utf-8", b"body {}"),
        ("/logo.png", "image/png", b"\x89PNG\r\n\x1a\nfake"),
        ("/blob.qqq9", "application/octet-stream", b"\x00\x01\x02"),
        ("/README", "application/octet-stream", b"no extension"),
        ("/sub/page.html", "text/html; charset=utf-8", b"<p>page</p>"),
        ("/inside.html", "text/html; charset=utf-8", b"<h1>home</h1>"),
    ],
)
def test_contentTypes(site, target, contentType, body):
    """
    Files are served whole with a Content-Type by extension (text types say
    UTF-8; unknown ones are application/octet-stream), the right
    Content-Length, Last-Modified, and nosniff.
    """
    status, headers, received = get(StaticFiles(site), target)
    assert status == 200
    assert headers["content-type"] in (contentType if isinstance(contentType, tuple) else (contentType,))
    assert received == body
    assert headers["content-length"] == str(len(body))
    assert headers["last-modified"] == formatdate(MTIME, usegmt=True)
    assert headers["x-content-type-options"] == "nosniff"


def test_indexForDirectories(site):
    """
    "/" and "/sub/" serve their directory's index.html; a custom index name
    is honoured; a directory without one gets 404.
    """
    static = StaticFiles(site)
    assert get(static, "/")[2] == b"<h1>home</h1>"
    assert get(static, "/sub/")[2] == b"<h1>sub</h1>"
    assert get(static, "/empty/")[0] == 404
    assert get(StaticFiles(site, index="page.html"), "/sub/")[2] == b"<p>page</p>"


@pytest.mark.parametrize(
    "target, location",
    [("/sub", "/sub/"), ("/sub?x=1", "/sub/?x=1"), ("//sub", "/sub/"), ("///sub", "/sub/")],
)
def test_directoryWithoutSlashRedirects(site, target, location):
    """
    A directory named without its trailing slash gets 301 to the same path
    with one, query kept, and always a path on this server (never
    "//name/", which a browser reads as another host).
    """
    status, headers, body = get(StaticFiles(site), target)
    assert status == 301
    assert headers["location"] == location
    assert body == b""


def test_missingFileGets404(site):
    """
    A path with no file behind it gets 404.
    """
    assert get(StaticFiles(site), "/nope.html")[0] == 404
    assert get(StaticFiles(site), "/sub/nope/deeper")[0] == 404


def test_tooLongNameGets404NotAnError(site, logged):
    """
    A name longer than the file system allows is simply not found: 404, and
    no failure is logged.
    """
    assert get(StaticFiles(site), "/" + "a" * 300)[0] == 404
    assert get(StaticFiles(site), "/sub/" + "b" * 5000 + "/c")[0] == 404
    assert not [line for line in logged() if "failed" in line]


TRAVERSALS = [
    "/../secret.txt",
    "/sub/../../secret.txt",
    "/%2e%2e/secret.txt",
    "/%2E%2E/secret.txt",
    "/.%2e/secret.txt",
    "/..%2fsecret.txt",
    "/..%2Fsecret.txt",
    "/%2e%2e%2fsecret.txt",
    "/sub/%2e%2e/%2e%2e/secret.txt",
    "/sub%2f..%2f..%2fsecret.txt",
    "/%252e%252e/secret.txt",
    "/%252e%252e%252fsecret.txt",
    "/%c0%ae%c0%ae/secret.txt",
    "/..\\secret.txt",
    "/..%5csecret.txt",
    "/leak",
    "/leakdir/secret.txt",
    "/leakdir/../secret.txt",
    "/.env",
    "/%2eenv",
    "/sub/../.env",
    "/.git/config",
    "/%2egit/config",
    "/index.html%00",
    "/index.html%00.png",
    "/%00/../secret.txt",
]


def absoluteTargets(site):
    secret = site.parent / "secret.txt"
    return [f"/{secret}", f"/%2F{str(secret).lstrip('/')}", f"/{secret}".replace("/", "%2F"), "//etc/passwd"]


def assertNoLeak(status, body):
    assert status in (400, 404), status
    assert SECRET not in body
    assert HIDDEN not in body
    assert b"root:" not in body


@pytest.mark.parametrize("target", TRAVERSALS)
def test_traversalNeverLeaks(site, target):
    """
    Paths that leave the directory by any spelling (dot segments, encoded
    slashes and dots, double encoding, backslashes), symlinks pointing
    outside, hidden files and NUL bytes are all refused (404, or 400 where
    the request line is malformed); neither the secret next to the directory
    nor a hidden file's content is ever sent.
    """
    assertNoLeak(*get(StaticFiles(site), target)[::2])


def test_absolutePathsNeverLeak(site):
    """
    Paths that look absolute (the secret's own absolute path, /etc/passwd),
    however encoded, are looked up below the directory, and not found.
    """
    static = StaticFiles(site)
    for target in absoluteTargets(site):
        assertNoLeak(*get(static, target)[::2])


@pytest.mark.parametrize("target", [t.replace("/", "/static/", 1) for t in TRAVERSALS])
def test_traversalThroughRouterNeverLeaks(site, target):
    """
    Behind a Router route "/static/{path:path}" (whose parameter the router
    has already percent-decoded), the same attempts are refused.
    """
    router = Router()
    router.addRoute("/static/{path:path}", StaticFiles(site))
    assertNoLeak(*get(router, target)[::2])


def test_routerPathParameter(site):
    """
    Behind a "/static/{path:path}" route the parameter is what is served, and
    a name with a percent sign is decoded once, as by itself.
    """
    router = Router()
    static = StaticFiles(site)
    router.addRoute("/static/{path:path}", static)
    assert get(router, "/static/sub/page.html")[2] == b"<p>page</p>"
    assert get(router, "/static/")[2] == b"<h1>home</h1>"
    assert get(router, "/static/sub")[1]["location"] == "/static/sub/"
    assert get(router, "/static/100%2541.txt")[2] == b"percent in the name"
    assert get(static, "/100%2541.txt")[2] == b"percent in the name"


def test_otherMethodsGet405(site):
    """
    POST, PUT and DELETE get 405 with Allow: GET, HEAD, file or no file.
    """
    for method in ("POST", "PUT", "DELETE"):
        status, headers, _ = get(StaticFiles(site), "/index.html", method=method)
        assert (status, headers["allow"]) == (405, "GET, HEAD")


def test_headHasNoBodyButTheLength(site):
    """
    HEAD gets the headers GET would, Content-Length included, and no body.
    """
    status, headers, body = get(StaticFiles(site), "/index.html", method="HEAD")
    assert status == 200
    assert headers["content-length"] == str(len(b"<h1>home</h1>"))
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert body == b""


@pytest.mark.parametrize(
    "since, expected",
    [
        (formatdate(MTIME, usegmt=True), 304),
        (formatdate(MTIME + 3600, usegmt=True), 304),
        (formatdate(MTIME - 1, usegmt=True), 200),
        ("not a date", 200),
        ("", 200),
    ],
)
def test_ifModifiedSince(site, since, expected):
    """
    If-Modified-Since at or after the file's modification time gets 304
    with no body; an earlier or unparsable date gets the file.
    """
    status, headers, body = get(StaticFiles(site), "/index.html", headers=[("If-Modified-Since", since)])
    assert status == expected
    if expected == 304:
        assert body == b""
        assert "content-length" not in headers, "not 0: a cache must not take that for the file's length"
        assert headers["last-modified"] == formatdate(MTIME, usegmt=True)
    else:
        assert body == b"<h1>home</h1>"


def test_notADirectoryIsRefused(tmp_path):
    """
    StaticFiles on a path that is not a directory fails at once, naming it.
    """
    (tmp_path / "file").write_text("x")
    for path in (tmp_path / "missing", tmp_path / "file"):
        with pytest.raises(ValueError, match="is not a directory"):
            StaticFiles(path)


# StaticFiles over loopback


def test_largeFileStreamedIntact(site, listen):
    """
    A 5 MB file (above the read-at-once size, so streamed from disk) arrives
    intact with its length; HEAD on it sends the length and no body.
    """
    data = os.urandom(5 * 1024 * 1024)
    (site / "big.bin").write_bytes(data)
    static = StaticFiles(site)
    server = listen(HttpServer(static))

    status, headers, body = parseResponse(inThread(exchange, server.portNumber, rawRequest("GET", "/big.bin")))
    assert status == 200
    assert headers["content-length"] == str(len(data))
    assert len(body) == len(data)
    assert hashlib.sha256(body).digest() == hashlib.sha256(data).digest()

    status, headers, body = parseResponse(inThread(exchange, server.portNumber, rawRequest("HEAD", "/big.bin")))
    assert (status, headers["content-length"], body) == (200, str(len(data)), b"")


def test_traversalOverLoopback(site, listen):
    """
    Over a real socket (request bytes exactly as written, no client
    normalisation), traversal attempts get no secret.
    """
    server = listen(HttpServer(StaticFiles(site)))

    def attempts():
        return [exchange(server.portNumber, rawRequest("GET", target)) for target in TRAVERSALS[:6]]

    for answer in inThread(attempts):
        status, _, body = parseResponse(answer)
        assertNoLeak(status, body)


# HttpHandler


class Sync(HttpHandler):
    def onRequest(self, request):
        return Response(200, f"sync {request.path} ✓", headers=[("X-Kind", "sync")])


class Async(HttpHandler):
    async def onRequest(self, request):
        await task.deferLater(reactor, 0.05, lambda: None)
        return Response(201, "async", contentType="application/json")


class Deferring(HttpHandler):
    def onRequest(self, request):
        return task.deferLater(reactor, 0.05, lambda: Response(202, b"deferred"))


class Failing(HttpHandler):
    def onRequest(self, request):
        raise RuntimeError("handler bug")


class FailingLater(HttpHandler):
    async def onRequest(self, request):
        await task.deferLater(reactor, 0.01, lambda: None)
        raise RuntimeError("async handler bug")


class NotAResponse(HttpHandler):
    def onRequest(self, request):
        return "oops"


@pytest.mark.parametrize(
    "handler, expected",
    [
        (Sync(), (200, "text/plain; charset=utf-8", "sync /hello ✓".encode())),
        (Async(), (201, "application/json", b"async")),
        (Deferring(), (202, "text/plain; charset=utf-8", b"deferred")),
        (HttpHandler(), (404, "text/plain; charset=utf-8", b"404 Not Found\n")),
    ],
    ids=["sync", "async", "deferred", "default"],
)
def test_handlerAnswers(listen, handler, expected):
    """
    onRequest may return a Response, a coroutine or a Deferred resolving to
    one; the response is sent with its status, type and exact length, and
    the connection closed. The base class answers 404.
    """
    verifyObject(IHttpServerComponent, handler)
    server = listen(HttpServer(handler))
    status, headers, body = parseResponse(inThread(exchange, server.portNumber, rawRequest("GET", "/hello")))
    assert (status, headers["content-type"], body) == expected
    assert headers["content-length"] == str(len(body))
    assert headers["connection"] == "close"
    if isinstance(handler, Sync):
        assert headers["x-kind"] == "sync"


@pytest.mark.parametrize(
    "handler, logLine",
    [
        (Failing(), "Failing.onRequest failed for GET /boom"),
        (FailingLater(), "FailingLater.onRequest failed for GET /boom"),
        (NotAResponse(), "NotAResponse.onRequest failed for GET /boom"),
    ],
    ids=["raises", "asyncRaises", "notAResponse"],
)
def test_handlerFailureGets500AndIsLogged(listen, logged, handler, logLine):
    """
    An onRequest that raises, fails later, or returns something that is not
    a Response gets 500 for the client (without the details) and a logged
    failure with the traceback for the operator.
    """
    server = listen(HttpServer(handler))
    status, _, body = parseResponse(inThread(exchange, server.portNumber, rawRequest("GET", "/boom")))
    assert status == 500
    assert b"the server failed to answer this request" in body
    assert b"bug" not in body and b"oops" not in body
    failures = [event for event in logged.events if logLine in formatEvent(event)]
    assert len(failures) == 1, logged()
    failure = failures[0]["log_failure"]
    if isinstance(handler, NotAResponse):
        assert failure.check(TypeError)
        assert "returned 'oops', not a Response" in str(failure.value)
    else:
        assert failure.check(RuntimeError)
        assert "handler bug" in failure.getTraceback()


def test_handlerHeadRequest(listen):
    """
    A HEAD request to a handler gets its response's head, length included,
    without the body.
    """
    server = listen(HttpServer(Sync()))
    status, headers, body = parseResponse(inThread(exchange, server.portNumber, rawRequest("HEAD", "/hello")))
    assert (status, body) == (200, b"")
    assert headers["content-length"] == str(len("sync /hello ✓".encode()))


def test_asyncHttpComponentIsAwaited():
    """
    While an HTTP-layer component's onOpen is pending, the bytes that came
    with the head and those after it wait (and the socket is not read); they
    reach onMessage in order once onOpen has finished.
    """
    pending = defer.Deferred()
    component = HttpRecorder(onOpen=lambda conn, request: pending)
    protocol, transport = inMemory(
        component, rawRequest("POST", "/upload", [("Content-Length", "11")]) + b"first"
    )
    protocol.dataReceived(b"second")
    assert component.hooks() == ["onOpen"]
    assert transport.producerState == "paused"
    pending.callback(None)
    assert component.hooks() == ["onOpen", "onMessage", "onMessage"]
    assert [event[2] for event in component.events[1:]] == [b"first", b"second"]
    assert transport.producerState == "producing"


# Response


def test_responseHead():
    """
    A Response's head has the status line, Content-Type, the body's length
    in bytes (not characters), Connection: close and the extra headers; a
    None content type leaves the header out, and 204 and 304 have no
    Content-Length.
    """
    head = Response(201, "✓✓", headers=[("X-A", "1")]).head()
    assert head == (
        b"HTTP/1.1 201 Created\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Length: 6\r\nConnection: close\r\nX-A: 1\r\n\r\n"
    )
    assert b"Content-Type" not in Response(200, contentType=None).head()
    for status in (204, 304):
        assert b"Content-Length" not in Response(status).head(), "RFC 9110 section 8.6"


def test_fileBodyNeedsLength(tmp_path):
    """
    A file body without its length is refused (the head must say it).
    """
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    with path.open("rb") as body, pytest.raises(ValueError, match="length"):
        Response(200, body)


def test_closeWithResponse():
    """
    closeWithResponse writes a plain-text error naming the status and the
    reason, with the extra headers, and closes the connection.
    """
    protocol, transport = inMemory(HttpRecorder(), b"")
    closeWithResponse(protocol._connection, 429, "slow down", [("Retry-After", "5")])
    status, headers, body = parseResponse(transport.value())
    assert (status, headers["retry-after"], body) == (429, "5", b"429 Too Many Requests: slow down\n")
    assert transport.disconnecting
    protocol, transport = inMemory(HttpRecorder(), b"")
    closeWithResponse(protocol._connection, 404)
    assert parseResponse(transport.value())[2] == b"404 Not Found\n"


# WsServer's http component


class WithPage(Recorder):
    def __init__(self, page):
        super().__init__(echo=True)
        self.httpComponent = page


def test_pageAndWebSocketOnOnePort(site, listen):
    """
    WsServer(component, http=StaticFiles(...)): a plain GET gets the page,
    a WebSocket upgrade on the same port and path reaches the component,
    which never hears of the plain requests.
    """
    component = Recorder(echo=True)
    server = listen(HttpServer(WsServer(component, http=StaticFiles(site))))
    status, headers, body = parseResponse(inThread(exchange, server.portNumber, rawRequest("GET", "/")))
    assert (status, body) == (200, b"<h1>home</h1>")

    def echo():
        with connect(f"ws://127.0.0.1:{server.portNumber}/") as ws:
            ws.send("over the same port")
            return ws.recv(timeout=5)

    assert inThread(echo) == "over the same port"
    assert component.messages() == ["over the same port"]
    assert component.hooks().count("onOpen") == 1


def test_httpComponentAttributeIsTheDefault(site):
    """
    Without http=, the component's httpComponent attribute answers plain
    requests; http= overrides it; with neither, a plain request gets 426
    saying to use a WebSocket client.
    """
    page, other = StaticFiles(site), HttpRecorder()
    assert WsServer(WithPage(page)).http is page
    assert WsServer(WithPage(page), http=other).http is other
    assert get(WsServer(WithPage(page)), "/sub/")[2] == b"<h1>sub</h1>"

    assert WsServer(Recorder()).http is None
    status, headers, body = get(WsServer(Recorder()), "/")
    assert (status, headers["upgrade"]) == (426, "websocket")
    assert b"WebSocket client" in body


def test_httpComponentHearsItsConnection():
    """
    The http component is opened with the request and hears its body and
    the close of its connection; the message component hears nothing.
    """
    component, page = Recorder(), HttpRecorder()
    protocol, _ = inMemory(
        WsServer(component, http=page), rawRequest("POST", "/form", [("Content-Length", "3")]) + b"a=1"
    )
    protocol.connectionLost(None)
    assert page.hooks() == ["onOpen", "onMessage", "onClose"]
    assert page.request().method == "POST"
    assert page.events[1][2] == b"a=1"
    assert component.events == []
