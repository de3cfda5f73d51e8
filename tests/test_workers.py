"""
C{--workers N}: a supervisor twistd and N worker twistd processes on one
port (SO_REUSEPORT), sharing the chat room through a real redis-server.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
from websockets.sync.client import connect

from .test_docs import codeBlocks
from .test_tap import runToExit

LOOPBACK = "tcp:0:interface=127.0.0.1"


def children(pid: int) -> list[int]:
    """
    The child processes of C{pid}.
    """
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def waitGone(pids: list[int], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while any(alive(pid) for pid in pids):
        assert time.monotonic() < deadline, f"processes {[p for p in pids if alive(p)]} still running"
        time.sleep(0.05)


def startWorkers(twistd, redisServer, count: int = 2):
    """
    A chat supervisor with C{count} workers; it, its port and its workers'
    pids, once every worker listens and is connected to Redis.
    """
    process = twistd("--component", "examples.chat:Chat", "--port", LOOPBACK, "--workers", str(count),
                     "--broker", redisServer.url)
    port = int(process.readUntil(r"supervisor: \d+ workers on port (\d+)").group(1))
    for _ in range(count):
        process.readUntil(r"worker \d+: .*connected to Redis at ")
    workers = children(process.process.pid)
    assert len(workers) == count
    return process, port, workers


def test_workersShareOnePortAndOneRoom(twistd, redisServer):
    """
    Connections spread over both workers; a message from one client reaches
    every other client, on either worker. SIGTERM stops the supervisor with
    status 0 and no worker is left.
    """
    process, port, workers = startWorkers(twistd, redisServer)
    with ExitStack() as stack:
        clients = [stack.enter_context(connect(f"ws://127.0.0.1:{port}/")) for _ in range(24)]
        served = set()
        deadline = time.monotonic() + 10
        while served != {"1", "2"} and time.monotonic() < deadline:
            served.add(process.readUntil(r"worker (\d+): .*New connection!").group(1))
        assert served == {"1", "2"}, "the kernel put every connection on one worker"
        time.sleep(0.3)  # the last subscriptions reach Redis
        clients[0].send("hello, every worker")
        for client in clients[1:]:
            assert client.recv(timeout=10) == "hello, every worker"
    assert process.stop(signal.SIGTERM) == 0, process.output
    waitGone(workers)


def test_deadWorkerIsRestarted(twistd, redisServer):
    """
    A worker killed with SIGKILL is logged and started again; the port keeps
    serving meanwhile and afterwards.
    """
    process, port, workers = startWorkers(twistd, redisServer)
    os.kill(workers[0], signal.SIGKILL)
    process.readUntil(r"worker \d+ ended .* starting it again in [\d.]+ s")
    process.readUntil(r"worker \d+: .*connected to Redis at ")
    replaced = children(process.process.pid)
    assert len(replaced) == 2 and workers[0] not in replaced
    with connect(f"ws://127.0.0.1:{port}/") as alice, connect(f"ws://127.0.0.1:{port}/") as bob:
        time.sleep(0.3)
        alice.send("still here")
        assert bob.recv(timeout=10) == "still here"
    assert process.stop(signal.SIGTERM) == 0
    waitGone(replaced)


def test_workersDieWithTheSupervisor(twistd, redisServer):
    """
    Workers do not outlive a supervisor that is killed outright.
    """
    process, _, workers = startWorkers(twistd, redisServer)
    process.stop(signal.SIGKILL)
    waitGone(workers)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--workers", "2"], r"--workers 2 needs a broker the processes share, e.g. --broker redis://"),
        (["--workers", "0"], r"--workers must be 1 or more, not 0"),
        (["--workers", "2", "--broker", "redis://127.0.0.1:1/0", "--port", "unix:/tmp/x.sock"],
         r"--workers needs a TCP endpoint \(--port tcp:8080\), not 'unix:/tmp/x.sock'"),
    ],
    ids=["no broker", "zero", "unix socket"],
)
def test_workersOptionErrors(twistd, args, message):
    """
    Options that cannot work with workers end twistd with one clear line.
    """
    status, output = runToExit(twistd, "--component", "examples.chat:Chat", *args)
    assert status != 0
    assert re.search(message, output), output


def test_portInUse(twistd):
    """
    A port another program listens on (without SO_REUSEPORT) is one line
    and exit status 1, before any worker starts.
    """
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        status, output = runToExit(twistd, "--component", "examples.chat:Chat", "--workers", "2", "--broker",
                                   "redis://127.0.0.1:1/0", "--port", f"tcp:{port}:interface=127.0.0.1")
    assert status == 1
    assert f"cannot listen on tcp:{port}:interface=127.0.0.1: Address already in use" in output, output
    assert "worker 1" not in output


@pytest.mark.parametrize("name", ["running.md", "scaling.md"])
def test_docsWorkersCommand(twistd, redisServer, name):
    """
    The --workers command the page shows (on a free port and the test's
    Redis) runs two workers that serve the chat.
    """
    lines = [line for block in codeBlocks(name, "sh") for line in block.splitlines() if "--workers" in line]
    assert len(lines) == 1
    argv = shlex.split(lines[0])
    assert argv[:3] == ["twistd", "-n", "ratchetpy"]
    args = argv[3:]
    assert args[args.index("--broker") + 1] == "redis://127.0.0.1:6379/0"
    args[args.index("--broker") + 1] = redisServer.url
    args[args.index("--port") + 1] = LOOPBACK
    process = twistd(*args)
    port = int(process.readUntil(r"supervisor: 2 workers on port (\d+)").group(1))
    for _ in range(2):
        process.readUntil(r"worker \d+: .*connected to Redis at ")
    with connect(f"ws://127.0.0.1:{port}/") as alice, connect(f"ws://127.0.0.1:{port}/") as bob:
        time.sleep(0.3)
        alice.send("hi")
        assert bob.recv(timeout=10) == "hi"
    assert process.stop(signal.SIGTERM) == 0
