"""
The pytest plugin, L{ratchetpy.testing.plugin}: the C{ratchetpyServer}
fixture, and loading the plugin both ways (entry point, C{pytest_plugins}).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap

import pytest
import pytest_twisted
from websockets.sync.client import connect

from examples.chat import Chat
from examples.echo import Echo
from ratchetpy.client import HandshakeRefused
from tests.helpers import ROOT, closeCodeAfter, inThread


def test_servesThroughTheRealStack(ratchetpyServer):
    """
    The fixture serves a component on loopback, to a real client, with the
    layers' options applied.
    """
    url = ratchetpyServer(Echo(), maxMessageSize=16)
    assert url.startswith("ws://127.0.0.1:")

    def talk():
        with connect(url) as ws:
            ws.send("hello")
            return ws.recv(timeout=10)

    assert inThread(talk) == "hello"
    assert inThread(closeCodeAfter, url, "x" * 17) == 1009


def test_originsAndRaw(ratchetpyServer):
    """
    C{allowedOrigins} puts an origin check in front; C{raw} serves plain TCP.
    """
    url = ratchetpyServer(Chat(), allowedOrigins=["example.com"])
    with pytest.raises(Exception, match="403"):
        inThread(lambda: connect(url, origin="https://evil.example").close())
    raw = ratchetpyServer(Echo(), raw=True)
    port = int(raw.rsplit(":", 1)[1])

    def echo():
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"ping")
            return sock.recv(4)

    assert inThread(echo) == b"ping"


def test_serversStopAfterTheTest(ratchetpyServer):
    """
    Every server the fixture started is shut down with it.
    """
    url = ratchetpyServer(Echo())
    port = int(url.rsplit(":", 1)[1].strip("/"))
    ratchetpyServer.shutdown()
    assert ratchetpyServer.servers == []
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=10).close()


def test_clientConnectsAndIsClosedAfter(ratchetpyServer, ratchetpyClient):
    """
    The client fixture connects with ratchetpy.client; what is still open
    after the test is closed with 1000.
    """
    url = ratchetpyServer(Echo())
    conn = pytest_twisted.blockon(ratchetpyClient(url))
    conn.send("hi")
    assert pytest_twisted.blockon(conn.receive()) == "hi"
    assert ratchetpyClient.connections == [conn]
    ratchetpyClient.closeAll()
    assert (conn.closeCode, ratchetpyClient.connections) == (1000, [])


def test_clientReportsRefusals(ratchetpyServer, ratchetpyClient):
    """
    A refused handshake fails the client fixture's Deferred with its status.
    """
    url = ratchetpyServer(Echo(), allowedOrigins=["example.com"])
    with pytest.raises(HandshakeRefused) as refused:
        pytest_twisted.blockon(ratchetpyClient(url, headers={"Origin": "https://evil.example"}))
    assert refused.value.status == 403
    assert ratchetpyClient.connections == []


def test_loadingInstallsNoReactor():
    """
    Installed, the plugin is imported by every pytest run, before
    pytest-twisted installs the reactor it is asked for (C{--reactor=asyncio}):
    importing it must not install one.
    """
    check = "import sys, ratchetpy.testing.plugin; assert 'twisted.internet.reactor' not in sys.modules"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", check], env=env, check=True, timeout=60)


def test_loadedOnceWhenInstalledToo(tmp_path):
    """
    With the entry point installed and C{pytest_plugins} naming the module
    too (this repository's conftest, in CI), the plugin is loaded once and
    its fixture works, called from the reactor's greenlet as pytest-twisted
    runs tests by default.
    """
    dist = tmp_path / "site" / "ratchetpy_fake-0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ratchetpy-fake\nVersion: 0\n")
    (dist / "entry_points.txt").write_text("[pytest11]\nratchetpy.testing.plugin = ratchetpy.testing.plugin\n")
    project = tmp_path / "project"
    project.mkdir()
    (project / "conftest.py").write_text('pytest_plugins = ["ratchetpy.testing.plugin"]\n')
    (project / "test_it.py").write_text(
        textwrap.dedent(
            """
            from examples.echo import Echo

            def test_served(ratchetpyServer, request):
                manager = request.config.pluginmanager
                assert manager.get_plugin("ratchetpy.testing.plugin") is not None
                assert ratchetpyServer(Echo()).startswith("ws://127.0.0.1:")
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path / "site")])}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--reactor=default", "test_it.py"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
