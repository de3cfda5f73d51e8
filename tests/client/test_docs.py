"""
docs/client.md, run as written: its scripts as subprocesses and its console
commands through a shell (against an echo server on a free port instead of
8080), its other snippets in-process; its tables against the code.
"""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys

import pytest
import pytest_twisted

from ratchetpy.client import connect, connectOnce
from ratchetpy.client.cli import EXIT_ABNORMAL, EXIT_CLOSED, EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_USAGE
from ratchetpy.client.connector import Client
from tests.helpers import ROOT, inThread
from tests.test_docs import codeBlocks, consoleCommands, page, pythonBlock, pythonFile

PAGE = "client.md"
PORT = "8080"


def onPort(code: str, port: int) -> str:
    assert f"127.0.0.1:{PORT}" in code
    return code.replace(f"127.0.0.1:{PORT}", f"127.0.0.1:{port}")


def shell(command: str, cwd) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"}
    return inThread(subprocess.run, command, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("script", ["bot.py", "once.py"])
def test_scripts(echoServer, tmp_path, script):
    (tmp_path / script).write_text(onPort(pythonFile(PAGE, script), echoServer.port))
    done = shell(f"python {script}", tmp_path)
    shown = dict(consoleCommands(PAGE))[f"python {script}"]
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == shown


def test_commandLine(echoServer, tmp_path):
    [(command, shown)] = [(c, o) for c, o in consoleCommands(PAGE) if "ratchetpy.client" in c]
    done = shell(onPort(command, echoServer.port), tmp_path)
    assert done.returncode == EXIT_CLOSED
    assert (done.stderr + done.stdout).splitlines() == shown


def test_reconnectSnippet(echoServer):
    namespace: dict[str, object] = {}
    exec(onPort(pythonBlock(PAGE, "policy = Reconnect("), echoServer.port), namespace)
    client = namespace["client"]
    conn = pytest_twisted.blockon(client.whenConnected())
    assert conn.isOpen
    pytest_twisted.blockon(client.stop())
    # The policy shown is connect()'s default.
    assert namespace["policy"] == inspect.signature(connect).parameters["reconnect"].default


def test_inlineCallbacksSnippet(echoServer):
    namespace: dict[str, object] = {}
    exec(pythonBlock(PAGE, "@inlineCallbacks"), namespace)
    url = f"ws://127.0.0.1:{echoServer.port}/"
    assert pytest_twisted.blockon(namespace["talk"](url)) == (b"\x00\x01", 1000)


def test_optionsTable():
    """
    Every option in the table is a keyword of Client (or connectOnce), with
    the default shown.
    """
    parameters = {**inspect.signature(Client.__init__).parameters, **inspect.signature(connectOnce).parameters}
    rows = re.findall(r"^\| `(\w+)` \| ([^|]+) \|", page(PAGE), re.MULTILINE)
    shownDefaults = {name: default.strip() for name, default in rows}
    assert len(shownDefaults) == 10
    for name, shown in shownDefaults.items():
        assert name in parameters, name
        default = parameters[name].default
        if isinstance(default, bool | int | float) and "`" not in shown:
            number = float(shown.split()[0]) * {"MiB": 2**20, "KiB": 1024}.get(shown.split()[-1], 1)
            assert number == default, (name, shown, default)
        elif shown == "`True`":
            assert default is True


def test_exitStatuses():
    statuses = dict(re.findall(r"^\| (\d) \| (.+) \|$", page(PAGE), re.MULTILINE))
    assert sorted(int(s) for s in statuses) == sorted(
        [EXIT_CLOSED, EXIT_ABNORMAL, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_REFUSED]
    )
    assert "refused" in statuses[str(EXIT_REFUSED)]
    assert "no connection" in statuses[str(EXIT_UNREACHABLE)]


def test_everyBlockIsRun():
    python = codeBlocks(PAGE, "python")
    assert len(python) == 4
    assert len(consoleCommands(PAGE)) == 3
