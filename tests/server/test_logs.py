"""
Scripts that serve from Python (IoServer.run, App.run): they log where they listen when nothing set logging up,
through the standard library's logging when the application configured it, and a busy port is one line.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.helpers import ROOT, freePort

SCRIPT = """
import sys
{setup}
from examples.echo import Echo
from ratchetpy import HttpServer, IoServer, WsServer

IoServer.factory(HttpServer(WsServer(Echo())), {port}, "127.0.0.1").run()
"""


def runScript(tmp_path, setup: str, port: int, *, stopAfter: str | None) -> tuple[int, str]:
    script = tmp_path / "serve.py"
    script.write_text(SCRIPT.format(setup=setup, port=port))
    process = subprocess.Popen(
        [sys.executable, str(script)], cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    output = []
    try:
        if stopAfter is not None:
            deadline = time.monotonic() + 20
            for line in process.stdout:
                output.append(line)
                if stopAfter in line or time.monotonic() > deadline:
                    break
            # At once: a Ctrl-C before the reactor runs must stop the server too.
            process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=20)
    finally:
        # Never leave a server behind for later tests.
        process.kill()
        process.wait()
    return process.returncode, "".join(output) + rest


def test_logsWhereItListensOnce(tmp_path):
    """
    With nothing set up, the script logs one listening line to standard error, none of Twisted's own chatter,
    and Ctrl-C stops it with status 0.
    """
    port = freePort()
    status, output = runScript(tmp_path, "", port, stopAfter="ratchetpy listening on")
    assert output.count("listening on") == 1, output
    assert f"ratchetpy listening on tcp:127.0.0.1:{port}" in output
    assert "starting on" not in output and "Main loop terminated" not in output
    assert status == 0, output


def test_standardLibraryLogging(tmp_path):
    """
    An application that configured the standard library's logging gets ratchetpy's lines there, in its format.
    """
    port = freePort()
    setup = "import logging; logging.basicConfig(level=logging.INFO, format='APP %(name)s %(levelname)s %(message)s')"
    status, output = runScript(tmp_path, setup, port, stopAfter="ratchetpy listening on")
    assert f"APP ratchetpy INFO ratchetpy listening on tcp:127.0.0.1:{port}" in output, output
    assert status == 0, output


def test_busyPortIsOneLine(tmp_path):
    """
    A port that is taken ends the script with one line saying so and what to do, status 1, no traceback.
    """
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        status, output = runScript(tmp_path, "", port, stopAfter=None)
    lines = [line for line in output.splitlines() if line.strip()]
    assert status == 1
    assert lines == [
        f"ratchetpy: cannot listen on 127.0.0.1:{port}: Address already in use. "
        "Is another server using it? Choose another port."
    ], output


@pytest.mark.parametrize("argv", [["examples/app.py"], ["-m", "examples.app"]])
def test_appExampleRunsFromTheRoot(argv):
    """
    python examples/app.py and python -m examples.app both serve, from the repository root.
    """
    process = subprocess.Popen(
        [sys.executable, *argv], cwd=ROOT, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        line = process.stdout.readline()
        while line and "listening on" not in line and "cannot listen" not in line:
            line = process.stdout.readline()
        # Port 8080 may be taken on a busy machine: then it must say so, in one line.
        assert "ratchetpy listening on tcp:127.0.0.1:8080" in line or "ratchetpy: cannot listen on" in line, line
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.communicate(timeout=20)
        finally:
            # Never leave a server on 8080 behind for the docs' tests.
            process.kill()
            process.wait()
    if "listening on" in line:
        # Ctrl-C right after the listening line (before the reactor runs) still stops it cleanly.
        assert process.returncode == 0
