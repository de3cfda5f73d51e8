"""
Pushing from outside the server: L{ratchetpy.push.publish} through a real
Redis into a twistd server's WebSocket clients, the HTTP publish endpoint
(L{ratchetpy.pubsub.endpoint}, twistd's C{--publish-path}) with its secret,
the blog example (examples/blog.py, examples/post_blog.py) in a real
headless Chromium, and the code blocks of docs/push.md.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shlex
import subprocess
import sys
import time

import pytest
import pytest_twisted
from playwright.sync_api import expect
from twisted.internet.task import Clock
from twisted.python import usage
from websockets.sync.client import connect
from zope.interface.verify import verifyObject

from ratchetpy import HttpServer, IHttpServerComponent, MessageComponent, Router, WsServer
from ratchetpy.pubsub.channels import Channels
from ratchetpy.pubsub.endpoint import PublishEndpoint, PublishFront
from ratchetpy.pubsub.local import LocalBroker
from ratchetpy.push import PushError, main, publish
from ratchetpy.tap import Options
from tests.credentials import remember
from tests.helpers import ROOT, HttpRecorder, freePort, inMemory, inThread, parseResponse
from tests.test_docs import codeBlocks, pythonFile

SECRET = remember("s3cret-for-the-tests-0123456789")
POST_BLOG = ROOT / "examples" / "post_blog.py"


def blogServer(twistd, *args: str, env: dict[str, str] | None = None):
    """
    examples/blog.py under twistd on a free loopback port; the process and its port.
    """
    process = twistd("--component", "examples.blog:Blog", "--port", "tcp:0:interface=127.0.0.1", *args, env=env)
    return process, process.waitForPort()


def publishUntilReceived(url: str, channel: str, msg, **kwargs) -> int:
    """
    Publish until a subscriber got it: the server subscribes to Redis a moment after its client connects.
    """
    deadline = time.monotonic() + 10
    while (count := publish(url, channel, msg, **kwargs)) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    return count


def post(port: int, path: str, body: bytes = b"", headers: dict[str, str] | None = None, method: str = "POST"):
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    client.request(method, path, body=body, headers=headers or {})
    response = client.getresponse()
    return response.status, dict(response.getheaders()), response.read()


def bearer(secret: str = SECRET) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


# Through Redis


def test_pushThroughRedis(twistd, redisServer):
    """
    A post published into Redis reaches a browser-like client of a server on that broker; publish counts the
    subscribed server processes; binary messages stay binary.
    """
    process, port = blogServer(twistd, "--broker", redisServer.url)
    process.readUntil("connected to Redis")
    with connect(f"ws://127.0.0.1:{port}/") as reader, connect(f"ws://127.0.0.1:{port}/news") as news:
        first = json.dumps({"title": "Hello ✓", "url": "https://example.com/1", "at": 1})
        assert publishUntilReceived(redisServer.url, "blog", first) == 1
        assert reader.recv(timeout=5) == first
        assert publish(redisServer.url, "blog", b"\x00\xffbinary") == 1
        assert reader.recv(timeout=5) == b"\x00\xffbinary"
        assert publishUntilReceived(redisServer.url, "news", "on news") == 1
        assert news.recv(timeout=5) == "on news"
        with pytest.raises(TimeoutError):
            reader.recv(timeout=0.3)
    assert publish(redisServer.url, "nobody-listens", "x") == 0


def test_redisDownFailsQuickly(redisServer):
    redisServer.kill()
    started = time.monotonic()
    with pytest.raises(PushError, match=r"cannot reach Redis at redis://127\.0\.0\.1:\d+/0 .*is redis-server running"):
        publish(redisServer.url, "blog", "x", timeout=2)
    assert time.monotonic() - started < 2


def test_redisPassword(tmp_path):
    """
    A Redis with a password: the right one publishes; none, a wrong one or a bad database number say what to fix.
    """
    port = freePort()
    server = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
            "--requirepass",
            "long-enough-password",
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        url = f"redis://:long-enough-password@127.0.0.1:{port}/0"
        deadline = time.monotonic() + 10
        while True:
            try:
                assert publish(url, "blog", "x") == 0
                break
            except PushError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        with pytest.raises(PushError, match=r"requires a password .*put it in the URL, redis://:PASSWORD@"):
            publish(f"redis://127.0.0.1:{port}/0", "blog", "x")
        with pytest.raises(PushError, match="refused the password .*check the URL's password"):
            publish(f"redis://:wrong@127.0.0.1:{port}/0", "blog", "x")
        with pytest.raises(PushError, match=r"/99 refused the publish \(DB index is out of range\): check the URL"):
            publish(url.replace("/0", "/99"), "blog", "x")
    finally:
        server.kill()
        server.wait(10)


def test_redisThatNeverAnswersTimesOut():
    """
    A port that accepts but never answers: the push gives up after its timeout instead of hanging.
    """
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        started = time.monotonic()
        with pytest.raises(PushError, match="did not answer within 0.5 seconds"):
            publish(f"redis://127.0.0.1:{silent.getsockname()[1]}/0", "blog", "x", timeout=0.5)
        assert time.monotonic() - started < 3


@pytest.mark.parametrize(
    "url, channel, msg, error",
    [
        ("ftp://example.com", "blog", "x", "bad URL 'ftp://example.com': use redis://"),
        ("redis://host:port/0", "blog", "x", "bad URL: invalid broker URL"),
        ("redis://127.0.0.1/zero", "blog", "x", "is not a number"),
        ("http://127.0.0.1:1/publish?x=1", "blog", "x", "bad URL"),
        ("redis://127.0.0.1", "", "x", "bad channel: a channel name must not be empty"),
        ("redis://127.0.0.1", "x" * 300, "x", "bad channel: channel name"),
        ("redis://127.0.0.1", 5, "x", "bad channel: a channel name is a str"),
        ("redis://127.0.0.1", "blog", 5, "a message is str"),
    ],
)
def test_badArguments(url, channel, msg, error):
    with pytest.raises(PushError, match=error.replace("?", r"\?").replace("(", r"\(")):
        publish(url, channel, msg)


def test_commandLine(redisServer):
    ok = subprocess.run(
        [sys.executable, "-m", "ratchetpy.push", redisServer.url, "blog", "hi"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "0\n", "")
    redisServer.kill()
    failed = subprocess.run(
        [sys.executable, "-m", "ratchetpy.push", redisServer.url, "blog", "hi"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert failed.returncode == 1
    assert failed.stdout == ""
    assert failed.stderr.startswith("ratchetpy.push: cannot reach Redis at ")
    assert failed.stderr.count("\n") == 1


# Through the HTTP publish endpoint


@pytest.fixture
def secretFile(tmp_path):
    path = tmp_path / "publish.secret"
    path.write_text(SECRET + "\n")
    return path


def test_pushOverHttp(twistd, secretFile):
    """
    twistd --publish-path: an authorised POST reaches the clients (default memory broker); refusals say why.
    """
    process, port = blogServer(twistd, "--publish-path", "/publish", "--publish-secret-file", str(secretFile))
    url = f"http://127.0.0.1:{port}/publish"
    with connect(f"ws://127.0.0.1:{port}/") as reader, connect(f"ws://127.0.0.1:{port}/a%2Fb") as slashed:
        process_wait = time.monotonic() + 5
        while publish(url, "blog", "probe", secret=SECRET) == 0 and time.monotonic() < process_wait:
            time.sleep(0.05)
        assert reader.recv(timeout=5) == "probe"
        assert publish(url, "blog", "new post ✓", secret=SECRET) == 1
        assert reader.recv(timeout=5) == "new post ✓"
        assert publish(url, "blog", b"\x00\xff", secret=SECRET) == 1
        assert reader.recv(timeout=5) == b"\x00\xff"
        # The channel is percent-decoded: "a/b".
        assert publish(url, "a/b", "slashed", secret=SECRET) == 1
        assert slashed.recv(timeout=5) == "slashed"

        with pytest.raises(PushError, match="answered 403 .*wrong secret.*--publish-secret-file"):
            publish(url, "blog", "forged", secret="x" * 20)
        with pytest.raises(PushError, match="answered 401 .*pass the endpoint's secret"):
            publish(url, "blog", "anonymous")
        status, headers, body = post(port, "/publish/blog", b"anonymous")
        assert (status, headers["WWW-Authenticate"]) == (401, "Bearer")
        assert post(port, "/publish/blog", b"x", bearer(), method="PUT")[0] == 405
        assert post(port, "/publish/blog", method="GET")[1]["Allow"] == "POST"
        assert post(port, "/publish/%FF", b"x", bearer())[0] == 400
        assert post(port, "/publish/blog", b"\xff", bearer())[0] == 400
        assert post(port, "/publish/", b"x", bearer())[0] == 404
        assert post(port, "/publish/a/b", b"x", bearer())[0] == 404
        assert post(port, "/publish/blog", b"x" * (64 * 1024 + 1), bearer())[0] == 413
        with pytest.raises(TimeoutError):
            reader.recv(timeout=0.3)
        # Everything else still reaches the component: the page, the WebSocket.
        status, headers, page = post(port, "/", method="GET")
        assert status == 200 and b"ratchetpy blog" in page
    process.readUntil(r"publish endpoint answered 403 to POST /publish/blog: wrong secret")
    process.readUntil(r"publish endpoint answered 401")


def test_endpointOffByDefault(twistd):
    """
    Without --publish-path, /publish is the component's like any path: the page's file server answers, and a
    WebSocket there is a blog reader of channel "publish/blog".
    """
    _, port = blogServer(twistd)
    status, _, body = post(port, "/publish/blog", b"x", bearer())
    assert status == 405 and b"use GET or HEAD" in body
    assert post(port, "/publish/blog", method="GET")[0] == 404
    with connect(f"ws://127.0.0.1:{port}/publish/blog") as reader:
        reader.send("ignored")
        with pytest.raises(TimeoutError):
            reader.recv(timeout=0.3)


def test_secretFromEnvironment(twistd):
    env = dict(os.environ, RATCHETPY_PUBLISH_SECRET=SECRET)
    _, port = blogServer(twistd, "--publish-path", "/push/", env=env)
    assert post(port, "/push/blog", b"hi", bearer())[0] == 202
    assert post(port, "/push/blog", b"hi", bearer("y" * 16))[0] == 403


@pytest.mark.parametrize(
    "args, error",
    [
        (["--publish-path", "/publish"], "--publish-path needs a secret: --publish-secret-file FILE or"),
        (["--publish-secret-file", "x"], "--publish-secret-file needs --publish-path"),
        (["--publish-path", "publish", "--publish-secret-file", "x"], "--publish-path must start with /"),
        (["--publish-path", "/", "--publish-secret-file", "x"], "--publish-path must start with /"),
        (["--publish-path", "/p", "--publish-secret-file", "/nonexistent"], "cannot read /nonexistent"),
        (["--publish-path", "/p", "--publish-secret-file", "SHORT"], "shorter than 16 bytes"),
        (["--publish-path", "/p", "--publish-secret-file", "GOOD", "--raw"], "needs HTTP"),
    ],
)
def test_tapOptionErrors(args, error, tmp_path, monkeypatch):
    monkeypatch.delenv("RATCHETPY_PUBLISH_SECRET", raising=False)
    (tmp_path / "SHORT").write_text("too short\n")
    (tmp_path / "GOOD").write_text(SECRET)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(usage.UsageError, match=error.replace("(", r"\(")):
        Options().parseOptions(["--component", "examples.blog:Blog", *args])


def test_publishPathWithoutSecretStopsTwistd(twistd, monkeypatch):
    monkeypatch.delenv("RATCHETPY_PUBLISH_SECRET", raising=False)
    process = twistd("--component", "examples.blog:Blog", "--port", "tcp:0", "--publish-path", "/publish")
    assert process.process.wait(timeout=30) != 0
    process.stop()
    assert "--publish-path needs a secret" in process.output


# PublishEndpoint in Python


class Reader(MessageComponent):
    def __init__(self, channels):
        self.channels = channels

    def onOpen(self, conn):
        self.channels.subscribe(conn, "news")

    def onClose(self, conn):
        self.channels.unsubscribeAll(conn)


def publishFront():
    """
    A PublishFront on /publish in front of a recorder, its endpoint on a
    LocalBroker, and a subscriber of channel "news" there.
    """
    broker = LocalBroker()
    received = []
    broker.subscribe("ratchetpy:news", lambda channel, data: received.append(data))
    behind = HttpRecorder()
    return PublishFront(PublishEndpoint(SECRET, broker), "/publish/", behind), behind, received


def postRequest(path: str, body: bytes = b"x") -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {SECRET}\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


def test_publishFrontSendsThePathToTheEndpoint():
    """
    PublishFront is an HTTP-layer component: requests for PREFIX/CHANNEL
    reach the endpoint (which reads the body on the server's reactor and
    publishes it), every other request the component behind it, with all of
    its connection's events; both forget the connection on close.
    """
    front, behind, received = publishFront()
    verifyObject(IHttpServerComponent, front)
    protocol, transport = inMemory(front, postRequest("/publish/news", b"hello"))
    status, _, body = parseResponse(transport.value())
    assert (status, json.loads(body)) == (202, {"channel": "news", "receivers": 1})
    assert len(received) == 1 and received[0].endswith(b"hello")
    protocol.connectionLost(None)
    assert behind.events == []

    protocol, _ = inMemory(front, b"POST /publisher HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nmore")
    protocol.connectionLost(None)
    assert behind.hooks() == ["onOpen", "onMessage", "onClose"]
    assert behind.request().path == "/publisher"
    assert front._routed == {}


def test_publishEndpointTimesSlowBodiesOut():
    """
    A body that does not arrive within the endpoint's bodyTimeout gets 408,
    as from any HttpHandler, and nothing is published (the endpoint's own
    refusals once took the place of HttpHandler's, and the timeout failed).
    """
    clock = Clock()
    front, _, received = publishFront()
    front.endpoint.bodyTimeout = 2
    _, transport = inMemory(front, postRequest("/publish/news", b"hello")[:-2], clock)
    clock.advance(2)
    assert parseResponse(transport.value())[0] == 408
    assert received == []


@pytest.mark.parametrize("path", ["/publish", "/publish/", "/publish/a/b"])
def test_publishFrontRefusesPathsThatNameNoChannel(path, logged):
    """
    Under the prefix, a path that is not PREFIX/CHANNEL gets 404 saying how
    to publish; neither the endpoint nor the component behind hears of the
    connection again, its bytes or its close.
    """
    front, behind, received = publishFront()
    protocol, transport = inMemory(front, postRequest(path) + b"pipelined")
    assert parseResponse(transport.value())[0] == 404
    assert b"publish to /publish/CHANNEL" in transport.value()
    protocol.dataReceived(b"more")
    protocol.connectionLost(None)
    assert behind.events == [] and received == []
    assert front._routed == {}


@pytest.mark.parametrize("prefix", ["publish", "/", ""])
def test_publishFrontNeedsAPath(prefix):
    with pytest.raises(ValueError, match="the publish path must start with / and name something"):
        PublishFront(PublishEndpoint(SECRET, LocalBroker()), prefix, HttpRecorder())


def test_endpointAsRoute(listen, logged):
    """
    As a Router (App) route, the channel is the route's {channel}; receivers counts the Channels subscribed.
    """
    broker = LocalBroker()
    router = Router()
    router.addRoute("/publish/{channel}", PublishEndpoint(SECRET, broker), methods=("POST",))
    router.addRoute("/ws", WsServer(Reader(Channels(broker))))
    port = listen(HttpServer(router)).portNumber

    def scenario():
        with connect(f"ws://127.0.0.1:{port}/ws") as reader:
            deadline = time.monotonic() + 5
            while publish(f"http://127.0.0.1:{port}/publish", "news", "probe", secret=SECRET) == 0:
                assert time.monotonic() < deadline
            assert reader.recv(timeout=5) == "probe"
            status, headers, body = post(
                port, "/publish/news", "café".encode(), {**bearer(), "Content-Type": "text/plain"}
            )
            assert (status, headers["Content-Type"], json.loads(body)) == (
                202,
                "application/json",
                {"channel": "news", "receivers": 1},
            )
            assert reader.recv(timeout=5) == "café"
            status, _, _ = post(
                port, "/publish/news", b"\x01", {**bearer(), "Content-Type": "application/octet-stream"}
            )
            assert status == 202
            assert reader.recv(timeout=5) == b"\x01"
            assert post(port, "/publish/news", b"x", {"Authorization": "Basic abc"})[0] == 401

    inThread(scenario)
    assert any("publish endpoint answered 401 to POST /publish/news" in line for line in logged())


def test_brokerDownIs503(listen):
    endpoint = PublishEndpoint(SECRET, f"redis://127.0.0.1:{freePort()}/0")
    port = listen(HttpServer(endpoint)).portNumber
    try:
        status, _, body = inThread(post, port, "/blog", b"x", bearer())
        assert status == 503
        assert "the broker did not take the message" in json.loads(body)["error"]
        with pytest.raises(PushError, match="answered 503 .*check its Redis"):
            inThread(publish, f"http://127.0.0.1:{port}", "blog", "x", secret=SECRET)
    finally:
        pytest_twisted.blockon(endpoint.channels.broker.stop())


def test_secrets(listen):
    """
    A UTF-8 secret works end to end; a secret with a line break is refused before anything is sent.
    """
    secret = "clé-secrète-ünïcødé-✓"
    broker = LocalBroker()
    port = listen(HttpServer(PublishEndpoint(secret, broker))).portNumber
    url = f"http://127.0.0.1:{port}"
    assert inThread(publish, url, "blog", "x", secret=secret) == 0
    with pytest.raises(PushError, match="403"):
        inThread(publish, url, "blog", "x", secret=secret.replace("✓", "x"))
    with pytest.raises(PushError, match="bad secret: it is empty or has a line break"):
        publish(url, "blog", "x", secret=SECRET + "\n")
    assert broker.stats.published == 1


def test_shortSecret():
    with pytest.raises(ValueError, match="at least 16 random bytes"):
        PublishEndpoint("short", LocalBroker())
    PublishEndpoint(b"0123456789abcdef", LocalBroker())


def test_mainArguments(capsys, secretFile):
    assert main(["http://127.0.0.1:1/publish", "blog", "x", "--secret-file", str(secretFile), "--timeout", "1"]) == 1
    assert "cannot reach http://127.0.0.1:1/publish/blog" in capsys.readouterr().err
    assert main(["http://127.0.0.1:1/publish", "blog", "x", "--secret-file", "/nonexistent"]) == 1
    assert "cannot read --secret-file" in capsys.readouterr().err


# The blog example in a browser

XSS = '<img src=x onerror="window.__pwned=1"> <b>bold</b> ✓'


def test_blogInBrowser(twistd, redisServer, browser):  # noqa: F811
    """
    A page is open; examples/post_blog.py publishes a post through Redis; it appears on the page, as text.
    """
    process, port = blogServer(twistd, "--broker", redisServer.url)
    process.readUntil("connected to Redis")
    context = browser.new_context()
    errors: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"http://127.0.0.1:{port}/")
        expect(page.locator("#status")).to_have_attribute("data-state", "connected")
        expect(page.locator("#channel")).to_have_text("blog")
        deadline = time.monotonic() + 10
        while True:
            ran = subprocess.run(
                [sys.executable, str(POST_BLOG), XSS, "--url", redisServer.url, "--link", "https://example.com/p/1"],
                capture_output=True,
                text=True,
                cwd=ROOT,
            )
            assert ran.returncode == 0, ran.stderr
            if "1 subscribed" in ran.stdout or time.monotonic() > deadline:
                break
        assert ran.stdout == "published: 1 subscribed receiver(s) got it\n"
        expect(page.locator("#posts li a").first).to_have_text(XSS)
        assert page.locator("#posts li a").first.get_attribute("href") == "https://example.com/p/1"
        assert page.evaluate("window.__pwned") is None
        assert page.locator("#posts img, #posts b").count() == 0
        expect(page.locator("#empty")).to_be_hidden()

        # The page reconnects after the server restarts, and gets the next post.
        process.stop()
        expect(page.locator("#status")).to_have_attribute("data-state", "reconnecting")
        process, _ = blogServer(twistd, "--broker", redisServer.url, "--port", f"tcp:{port}:interface=127.0.0.1")
        expect(page.locator("#status")).to_have_attribute("data-state", "connected", timeout=20000)
        assert publishUntilReceived(redisServer.url, "blog", json.dumps({"title": "second", "at": 2})) == 1
        expect(page.locator("#posts li a").first).to_have_text("second")
        expect(page.locator("#posts li")).to_have_count(2)
    finally:
        context.close()
    assert errors == []


def test_postBlogFailure(redisServer):
    redisServer.kill()
    ran = subprocess.run(
        [sys.executable, str(POST_BLOG), "x", "--url", redisServer.url], capture_output=True, text=True
    )
    assert ran.returncode == 1
    assert ran.stderr.startswith("post_blog: cannot reach Redis")


# docs/push.md's code blocks

DOCS_REDIS = "redis://127.0.0.1:6379/0"


def docsCommands(twistd, block: str, *, redisUrl: str | None = None, secretFile=None, port: int | None = None):
    """
    Run the lines of one of push.md's C{sh} blocks as the docs show them, on this test's Redis, port and secret
    file; a twistd line is started (on a free port) and the rest run in a shell from the repository root. Return
    the twistd process, its port, and each other command's output.
    """
    process, outputs = None, []
    for line in block.splitlines():
        if redisUrl:
            line = line.replace(DOCS_REDIS, redisUrl)
        if secretFile is not None:
            line = line.replace("publish.secret", str(secretFile))
        if line.startswith("twistd -n ratchetpy "):
            args = shlex.split(line)[3:]
            assert args[:2] == ["--component", "examples.blog:Blog"], line
            process, port = blogServer(twistd, *args[2:])
            continue
        if port is not None:
            line = line.replace("127.0.0.1:8080", f"127.0.0.1:{port}")
        line = re.sub(r"^python ", shlex.quote(sys.executable) + " ", line)
        ran = subprocess.run(line, shell=True, capture_output=True, text=True, cwd=ROOT, timeout=30)
        assert ran.returncode == 0, (line, ran.stderr)
        outputs.append(ran.stdout)
    return process, port, outputs


def test_docsNotify(twistd, redisServer, capsys):
    code = pythonFile("push.md", "notify.py")
    assert f'BROKER = "{DOCS_REDIS}"' in code
    namespace = {"__name__": "docs_notify"}
    exec(compile(code.replace(DOCS_REDIS, redisServer.url), "notify.py", "exec"), namespace)
    process, port = blogServer(twistd, "--broker", redisServer.url)
    process.readUntil("connected to Redis")
    with connect(f"ws://127.0.0.1:{port}/") as reader:
        deadline = time.monotonic() + 10
        while True:
            namespace["notifyNewPost"]("Saved", "https://example.com/saved", 1700000000)
            try:
                got = reader.recv(timeout=0.2)
                break
            except TimeoutError:
                assert time.monotonic() < deadline
        assert json.loads(got) == {"title": "Saved", "url": "https://example.com/saved", "at": 1700000000}
    assert capsys.readouterr().out == ""
    redisServer.kill()
    namespace["notifyNewPost"]("Lost", "https://example.com/lost", 1)
    assert capsys.readouterr().out.startswith("could not notify readers: cannot reach Redis at ")


def test_docsEndpointCommands(twistd, tmp_path):
    """
    The endpoint's commands, as shown: make a secret, serve, curl, python -m ratchetpy.push; curl's answer is the JSON
    shown; a page's client gets both messages.
    """
    sections = open(ROOT / "docs" / "push.md", encoding="utf-8").read().split("\n## ")
    endpoint = next(s for s in sections if s.startswith("The HTTP publish endpoint"))
    block = codeBlocks("push.md", "sh", endpoint)[0]
    secretFile = tmp_path / "publish.secret"
    lines = block.splitlines()
    assert lines[0].startswith("python -c") and lines[1].startswith("twistd")
    # The secret first, then the server, then a reader before the pushes.
    docsCommands(twistd, lines[0], secretFile=secretFile)
    assert len(secretFile.read_text().strip()) >= 32
    process, port, _ = docsCommands(twistd, lines[1], secretFile=secretFile)
    with connect(f"ws://127.0.0.1:{port}/") as reader:
        time.sleep(0.2)
        _, _, outputs = docsCommands(twistd, "\n".join(lines[2:]), secretFile=secretFile, port=port)
        assert reader.recv(timeout=5) == "Hello from curl"
        assert reader.recv(timeout=5) == "Hello from Python"
    assert json.loads(outputs[0]) == json.loads(codeBlocks("push.md", "json")[0])
    assert outputs[1] == "1\n"


def test_docsPublishApp(listen, monkeypatch):
    code = pythonFile("push.md", "publish_app.py")
    monkeypatch.setenv("RATCHETPY_PUBLISH_SECRET", SECRET)
    namespace = {"__name__": "docs_publish_app"}
    exec(compile(code.replace("8080", "0"), "publish_app.py", "exec"), namespace)
    app = namespace["app"]
    port = pytest_twisted.blockon(app.listen()).getHost().port

    def scenario():
        with connect(f"ws://127.0.0.1:{port}/") as reader:
            url = f"http://127.0.0.1:{port}/publish"
            deadline = time.monotonic() + 5
            while publish(url, "blog", "probe", secret=SECRET) == 0:
                assert time.monotonic() < deadline
            assert reader.recv(timeout=5) == "probe"
            assert publish(url, "blog", "from the app", secret=SECRET) == 1
            assert reader.recv(timeout=5) == "from the app"
            with pytest.raises(PushError, match="403"):
                publish(url, "blog", "x", secret="z" * 16)
            assert post(port, "/", method="GET")[0] == 200

    try:
        inThread(scenario)
    finally:
        app.server.shutdownTimeout = 1.0
        pytest_twisted.blockon(app.shutdown())


def test_docsBlogCommands(twistd, redisServer, tmp_path):
    """
    The blog example's commands: through Redis, then through the endpoint.
    """
    sections = open(ROOT / "docs" / "push.md", encoding="utf-8").read().split("\n## ")
    blog = next(s for s in sections if s.startswith("The blog example"))
    viaRedis, viaEndpoint = codeBlocks("push.md", "sh", blog)
    serve, postLine = viaRedis.splitlines()
    process, port, _ = docsCommands(twistd, serve, redisUrl=redisServer.url)
    process.readUntil("connected to Redis")
    with connect(f"ws://127.0.0.1:{port}/") as reader:
        deadline = time.monotonic() + 10
        while True:
            _, _, outputs = docsCommands(twistd, postLine, redisUrl=redisServer.url)
            if outputs[0] != "published: 0 subscribed receiver(s) got it\n" or time.monotonic() > deadline:
                break
        assert outputs == ["published: 1 subscribed receiver(s) got it\n"]
        assert json.loads(reader.recv(timeout=5))["title"] == "Hello, world"
    process.stop()

    secretFile = tmp_path / "publish.secret"
    secretFile.write_text(SECRET)
    process, port = blogServer(twistd, "--publish-path", "/publish", "--publish-secret-file", str(secretFile))
    with connect(f"ws://127.0.0.1:{port}/") as reader:
        time.sleep(0.2)
        _, _, outputs = docsCommands(twistd, viaEndpoint, secretFile=secretFile, port=port)
        assert outputs == ["published: 1 subscribed receiver(s) got it\n"]
        post_ = json.loads(reader.recv(timeout=5))
        assert post_["title"] == "Hello, world" and post_["url"] == "https://example.com/blog/"
