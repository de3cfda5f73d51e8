"""
twistd's C{--metrics}: mistakes are one line and exit status 1; SIGTERM
makes C{/readyz} answer 503 while the connections close.
"""

from __future__ import annotations

import signal
import socket
import time
import urllib.error
import urllib.request
from typing import Any

from tests.helpers import freePort, openWebSocket
from tests.test_tap import runToExit

LOOPBACK = "tcp:0:interface=127.0.0.1"


def test_badEndpoint(twistd: Any) -> None:
    status, output = runToExit(twistd, "--component", "examples.echo:Echo", "--port", LOOPBACK, "--metrics", "nope:1")
    assert status == 1
    assert "ratchetpy: --metrics: bad endpoint 'nope:1'" in output


def test_portInUse(twistd: Any) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        status, output = runToExit(twistd, "--component", "examples.echo:Echo", "--port", LOOPBACK,
                                   "--metrics", f"tcp:{port}:interface=127.0.0.1")
    assert status == 1
    assert f"ratchetpy: cannot listen on tcp:{port}:interface=127.0.0.1: Address already in use. " in output
    assert "choose another with --metrics" in output.lower()


def readyz(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except urllib.error.URLError:
        # Stopped listening: the server is gone.
        return 0


def test_drain(twistd: Any) -> None:
    """
    From SIGTERM until the last client has closed, /readyz is 503; ready before.
    """
    metricsPort = freePort()
    process = twistd("--component", "examples.echo:Echo", "--port", LOOPBACK, "--shutdown-timeout", "3",
                     "--metrics", f"tcp:{metricsPort}:interface=127.0.0.1")
    port = process.waitForPort()
    process.readUntil("metrics on")
    assert readyz(metricsPort) == 200
    client = openWebSocket(port)
    try:
        # The client reads nothing, so it does not answer the 1001: the server waits for it (up to its close
        # handshake timeout, 1 s), and the metrics endpoint says it is not ready meanwhile.
        process.process.send_signal(signal.SIGTERM)
        process.readUntil("received SIGTERM")
        deadline = time.monotonic() + 0.5
        statuses = set()
        while time.monotonic() < deadline:
            statuses.add(readyz(metricsPort))
            time.sleep(0.05)
        assert 503 in statuses and statuses <= {503, 0}
    finally:
        client.close()
    assert process.stop() == 0
