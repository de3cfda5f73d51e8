"""
The twistd plugin with pages and routes: C{--static DIR} beside the WebSocket
on one port, C{--component} naming an App or a Router, and the mistakes
around them, each ending twistd with one clear line.

A real C{twistd -n ratchetpy ...} subprocess, real clients; these tests never
need the reactor, so they block directly.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.helpers import exchange, parseResponse

LOOPBACK = "tcp:0:interface=127.0.0.1"

MODULE = """
from pathlib import Path

from ratchetpy import App, HttpHandler, MessageComponent, Response, Router, StaticFiles, WsServer


class Echo(MessageComponent):
    def onMessage(self, conn, msg):
        conn.send(msg)


class Hello(HttpHandler):
    def onRequest(self, request):
        return Response(200, "hello " + request.routeParams["name"])


# Its own port is not used: twistd listens on --port.
app = App("localhost", 1)
app.route("/echo", Echo())
app.route("/hello/{name}", Hello())

router = Router()
router.addRoute("/ws", WsServer(Echo()))
router.addRoute("/files/{path:path}", StaticFiles(Path(__file__).parent / "files"))
"""


@pytest.fixture
def project(tmp_path):
    """
    A directory with a module defining an App and a Router, a directory of
    pages, and a secret next to the pages.
    """
    (tmp_path / "routes.py").write_text(MODULE)
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "note.txt").write_text("a note")
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "index.html").write_text("<title>page</title>")
    (pages / "app.js").write_text("start();")
    (tmp_path / "secret.txt").write_text("SECRET")
    return tmp_path


def get(port: int, target: str) -> tuple[int, dict[str, str], bytes]:
    """
    A plain HTTP GET over a raw socket: status, headers, body.
    """
    return parseResponse(exchange(port, f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()))


def echo(url: str, message: str = "ping ✓") -> str:
    with connect(url) as ws:
        ws.send(message)
        return ws.recv(timeout=5)


def runToExit(twistd, *args: str, cwd=None, timeout: float = 15.0) -> tuple[int, str]:
    """
    Start twistd with C{args}, let it exit on its own; return its status and output.
    """
    process = twistd(*args, **({"cwd": cwd} if cwd else {}))
    try:
        process.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.stop()
        pytest.fail(f"twistd {' '.join(args)} kept running; output:\n{process.output}")
    return process.stop(), process.output


def test_staticBesideWebSocket(twistd, project):
    """
    With --static DIR, plain GETs get the directory's files with their
    content types (index.html for /), missing files and paths out of the
    directory get 404, and ws:// on the same port and path still upgrades.
    """
    process = twistd("--component", "examples.echo:Echo", "--static", str(project / "pages"), "--port", LOOPBACK)
    port = process.waitForPort()

    status, headers, body = get(port, "/")
    assert (status, headers["content-type"], body) == (200, "text/html; charset=utf-8", b"<title>page</title>")
    status, headers, body = get(port, "/app.js")
    assert status == 200 and body == b"start();"
    assert headers["content-type"].endswith("javascript; charset=utf-8")
    assert get(port, "/missing.html")[0] == 404
    status, _, body = get(port, "/%2e%2e/secret.txt")
    assert status == 404 and b"SECRET" not in body

    assert echo(f"ws://127.0.0.1:{port}/") == "ping ✓"
    process.stop()
    assert "Traceback" not in process.output


def test_componentNamingAnApp(twistd, project):
    """
    --component MODULE:app naming an App serves its routes on --port: the
    WebSocket route echoes, the HTTP route answers with its parameter,
    unknown paths get 404.
    """
    process = twistd("--component", "routes:app", "--port", LOOPBACK, cwd=project)
    process.readUntil(r"serving the App on tcp:0:interface=127\.0\.0\.1 \(--port\), "
                      r"not on tcp:1:interface=127\.0\.0\.1 as its App\(\.\.\.\) says")
    port = process.waitForPort()
    process.readUntil(rf"routes: http://localhost:{port}/echo, http://localhost:{port}/hello/\{{name\}}")
    assert echo(f"ws://127.0.0.1:{port}/echo") == "ping ✓"
    assert get(port, "/hello/ann")[::2] == (200, b"hello ann")
    assert get(port, "/nope")[0] == 404
    with pytest.raises(InvalidStatus) as info:
        connect(f"ws://127.0.0.1:{port}/nope")
    assert info.value.response.status_code == 404
    process.stop()
    assert "Traceback" not in process.output


def test_appListensWhereItSays(twistd, tmp_path):
    """
    Without --port, an App is served where App(...) says (its port, on loopback), and the log says so and why; the
    publish endpoint is logged with its URLs.
    """
    from tests.helpers import freePort

    port = freePort()
    (tmp_path / "where.py").write_text(
        "from ratchetpy import App, MessageComponent\n\n\nclass Echo(MessageComponent):\n"
        "    def onMessage(self, conn, msg):\n        conn.send(msg)\n\n\n"
        f"app = App('localhost', {port})\napp.route('/echo', Echo())\n"
    )
    (tmp_path / "publish.secret").write_text("a-secret-of-sixteen-bytes-or-more")
    process = twistd("--component", "where:app", "--publish-path", "/publish", "--publish-secret-file",
                     str(tmp_path / "publish.secret"), cwd=tmp_path)
    process.readUntil(rf"serving the App on tcp:{port}:interface=127\.0\.0\.1, as its App\(\.\.\.\) says "
                      r"\(--port to listen elsewhere\)")
    assert process.waitForPort() == port
    process.readUntil(rf"routes: http://localhost:{port}/echo")
    process.readUntil(rf"publish endpoint: POST http://localhost:{port}/publish/CHANNEL, /publish/user/USERID, ")
    assert echo(f"ws://127.0.0.1:{port}/echo") == "ping ✓"
    process.stop()
    # One line per port: ratchetpy's, not also Twisted's "starting on" and "Port Closed".
    assert process.output.count("listening on") == 1
    assert "starting on" not in process.output and "Port" not in process.output


def test_componentNamingARouter(twistd, project):
    """
    --component MODULE:router naming a Router serves it behind the HTTP
    layer: its WebSocket route echoes and its static route serves files.
    """
    process = twistd("--component", "routes:router", "--port", LOOPBACK, cwd=project)
    port = process.waitForPort()
    assert echo(f"ws://127.0.0.1:{port}/ws") == "ping ✓"
    assert get(port, "/files/note.txt")[::2] == (200, b"a note")
    assert get(port, "/other")[0] == 404


@pytest.mark.parametrize(
    "directory, extra, message",
    [
        ("pages", ["--raw"], "--static needs HTTP: it cannot be combined with --raw"),
        ("no-such-dir", [], r"--static \S+/no-such-dir: no such directory"),
    ],
    ids=["withRaw", "missingDirectory"],
)
def test_staticMistakesAreUsageErrors(twistd, project, directory, extra, message):
    """
    --static with --raw, or naming a directory that does not exist, ends
    twistd before it listens, with the usage and a last line saying what is
    wrong, and a non-zero status.
    """
    static = str(project / directory)
    status, output = runToExit(
        twistd, "--component", "examples.echo:Echo", "--static", static, *extra, "--port", LOOPBACK
    )
    assert status != 0
    assert re.search(message, output.strip().splitlines()[-1]), output
    assert "listening on" not in output
    assert "Traceback" not in output


@pytest.mark.parametrize("name, option", [("routes:app", "--static"), ("routes:router", "--raw")])
def test_staticOrRawWithRoutesIsOneClearLine(twistd, project, name, option):
    """
    --static or --raw with an App or a Router (which bring their own HTTP
    layer) ends twistd with one "ratchetpy: ..." line saying the option
    cannot apply to it, and a non-zero status.
    """
    args = ["--static", str(project / "pages")] if option == "--static" else ["--raw"]
    status, output = runToExit(twistd, "--component", name, *args, "--port", LOOPBACK, cwd=project)
    assert status != 0
    lines = [line for line in output.splitlines() if line.startswith("ratchetpy:")]
    assert len(lines) == 1, output
    assert lines[0].startswith(f"ratchetpy: {option} cannot apply to {name}, an ")
    assert "Traceback" not in output


def test_loaderFindsAppsAndRouters(project, monkeypatch):
    """
    In process: loadComponent returns the App and Router instances a module
    names as they are, and a misspelt name suggests them.
    """
    from ratchetpy import App, Router
    from ratchetpy.loader import ComponentError, loadComponent

    monkeypatch.syspath_prepend(str(project))
    try:
        assert isinstance(loadComponent("routes:app"), App)
        assert isinstance(loadComponent("routes:router"), Router)
        with pytest.raises(ComponentError) as info:
            loadComponent("routes:ap")
    finally:
        sys.modules.pop("routes", None)
    assert "did you mean" in str(info.value)
    assert "routes:app" in str(info.value)
    assert "routes:router" in str(info.value)
