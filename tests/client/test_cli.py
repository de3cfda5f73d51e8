"""
C{python -m ratchetpy.client URL} end to end: a subprocess against servers
served by the test's reactor; what it prints and its exit status.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest
from websockets.sync.server import serve

from ratchetpy import HttpServer, MessageComponent, WsServer
from ratchetpy.client.cli import EXIT_ABNORMAL, EXIT_CLOSED, EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_USAGE
from tests.client.conftest import WebsocketsServer
from tests.helpers import ROOT, Recorder, freePort, inThread, waitUntil


def runClient(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """
    Run the command-line client with C{args} and C{stdin}, while the reactor serves.
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return inThread(
        subprocess.run,
        [sys.executable, "-m", "ratchetpy.client", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_linesInMessagesOut(echoServer):
    """
    Each line of stdin is a text message; each message received a line of
    stdout; the end of stdin closes the connection normally (status 0).
    """
    done = runClient(f"ws://127.0.0.1:{echoServer.port}/", stdin="hello\nwörld\n\n")
    assert done.stdout == "hello\nwörld\n\n"
    assert done.returncode == EXIT_CLOSED, done.stderr
    assert done.stderr == "connected\n"


def test_headersAndSubprotocol(listen):
    class Speaks(Recorder):
        def getSubProtocols(self):
            return ["chat.v1"]

    recorder = Speaks()
    server = listen(HttpServer(WsServer(recorder)))
    done = runClient(
        f"ws://127.0.0.1:{server.portNumber}/",
        "--header",
        "X-Token: abc",
        "-H",
        "Authorization: Bearer t0k",
        "--subprotocol",
        "chat.v2",
        "-s",
        "chat.v1",
        stdin="hi\n",
    )
    assert done.returncode == EXIT_CLOSED, done.stderr
    assert done.stderr == "connected (subprotocol chat.v1)\n"
    request = recorder.events[0][1].httpRequest
    assert request.headers["X-Token"] == "abc"
    assert request.headers["Authorization"] == "Bearer t0k"
    assert recorder.messages() == ["hi"]


def test_binaryIsShownAsHex(listen):
    class Binary(MessageComponent):
        def onOpen(self, conn):
            conn.send(b"\x00\xff")
            conn.close()

    server = listen(HttpServer(WsServer(Binary())))
    # --keep-open: stdin is empty, and the client waits for the server to close.
    done = runClient(f"ws://127.0.0.1:{server.portNumber}/", "--keep-open", stdin="")
    assert done.stdout == "<binary 2 bytes: 00ff>\n"
    assert done.returncode == EXIT_CLOSED


def test_serverClosesWithACode(echoServer):
    """
    --keep-open waits for the server; a close code other than 1000/1001 is
    status 1, and the code and reason are on stderr.
    """
    done = runClient(f"ws://127.0.0.1:{echoServer.port}/", "--keep-open", stdin="close me\n")
    assert done.returncode == EXIT_ABNORMAL
    assert "closed: 4001 as you asked" in done.stderr


@pytest.mark.parametrize(("headers", "status"), [((), 401), (("-H", "X-Token: bad"), 403)])
def test_refused(echoServer, headers, status):
    done = runClient(f"ws://127.0.0.1:{echoServer.port}/auth", *headers, stdin="never sent\n")
    assert done.returncode == EXIT_REFUSED
    assert f"refused the WebSocket handshake with HTTP {status}" in done.stderr
    assert done.stdout == ""


def test_unreachable():
    url = f"ws://127.0.0.1:{freePort()}/"
    done = runClient(url)
    assert done.returncode == EXIT_UNREACHABLE
    assert done.stderr.startswith(f"cannot connect to {url}")
    assert len(done.stderr.splitlines()) == 1


def test_verboseLogsTheAttempt():
    url = f"ws://127.0.0.1:{freePort()}/"
    done = runClient(url, "-v")
    assert done.returncode == EXIT_UNREACHABLE
    assert f"connecting to {url} (attempt 1)" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [(("http://x/",), "bad WebSocket URL"), (("ws://x/", "-H", "nocolon"), "bad --header 'nocolon'")],
)
def test_badArguments(args, message):
    done = runClient(*args)
    assert done.returncode == EXIT_USAGE
    assert message in done.stderr


def test_interruptClosesProperly():
    """
    Ctrl-C (SIGINT) closes the connection with 1000 before the client exits
    with status 0: the server (websockets, which tells the code) sees it.
    """
    codes: list[int | None] = []

    def handler(websocket):
        for _ in websocket:
            pass
        codes.append(websocket.close_code)

    server = serve(handler, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"ws://127.0.0.1:{server.socket.getsockname()[1]}/"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        process = subprocess.Popen(
            [sys.executable, "-m", "ratchetpy.client", url, "--keep-open"],
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            assert inThread(process.stderr.readline) == "connected\n"
            process.send_signal(signal.SIGINT)
            assert inThread(process.wait, 30) == EXIT_CLOSED
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
            for stream in (process.stdin, process.stdout, process.stderr):
                stream.close()
        waitUntil(lambda: codes, what="the server to see the close")
        assert codes == [1000]
    finally:
        inThread(server.shutdown)
        thread.join(5)


def test_waitForAnswersFromWebsockets():
    """
    Against websockets' server, which stops answering once it has the close
    frame: --wait gives it time to answer the last lines first.
    """
    server = WebsocketsServer(None)
    server.start()
    try:
        done = runClient(f"ws://127.0.0.1:{server.port}/", "--wait", "3", stdin="one\ntwo\n")
    finally:
        server.stop()
    assert done.returncode == EXIT_CLOSED, done.stderr
    assert done.stdout == "one\ntwo\n"
