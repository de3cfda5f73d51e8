"""
C{--workers N}: a supervisor twistd and N worker twistd processes on one
port (SO_REUSEPORT), sharing the chat room through a real redis-server.
"""

from __future__ import annotations

import functools
import io
import os
import re
import shlex
import shutil
import signal
import socket
import sys
import textwrap
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
from twisted.logger import LogLevel
from websockets.sync.client import connect

from ratchetpy.workers import MAX_LINE, NOTIFY_ENVIRONMENT, notifyReady, parseNotification, workerLogObserver
from tests.helpers import readHead, statusOf, upgradeRequest
from tests.server.test_proxy import v2Header
from tests.test_docs import codeBlocks
from tests.test_tap import runToExit

LOOPBACK = "tcp:0:interface=127.0.0.1"

#: Components for the supervisor's tests, written to a module in the test's
#: directory, where twistd runs.
COMPONENTS = """
import os
import signal

from twisted.logger import Logger

from ratchetpy import MessageComponent

log = Logger(namespace="ratchetpy")


def NeverReady():
    # The supervisor loads the component too, to check the options.
    if os.environ.get("RATCHETPY_WORKER"):
        print("ratchetpy listening on tcp:127.0.0.1:1 (not really)", flush=True)
        raise SystemExit(3)
    return MessageComponent()


class Stubborn(MessageComponent):
    def onOpen(self, conn):
        log.info("long: {text}", text="x" * 20000)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        log.info("ignoring SIGTERM")
"""


def children(pid: int) -> list[int]:
    """
    The child processes of C{pid}.
    """
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def environment(pid: int) -> dict[str, str]:
    """
    The environment process C{pid} was started with.
    """
    entries = Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
    return dict(entry.partition("=")[::2] for entry in entries if entry)


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


def readEach(process, *patterns: str, timeout: float = 20.0) -> list[re.Match[str]]:
    """
    Read C{process}'s output until each of C{patterns} has matched a line, in
    any order; their matches, in the order of C{patterns}.
    """
    deadline = time.monotonic() + timeout
    matches: list[re.Match[str] | None] = [None] * len(patterns)
    while None in matches:
        try:
            line = process.readUntil("", timeout=max(deadline - time.monotonic(), 0.01)).string
        except AssertionError:
            missing = [pattern for pattern, match in zip(patterns, matches, strict=True) if match is None]
            raise AssertionError(f"twistd never printed {missing}; output:\n{process.output}") from None
        for index, pattern in enumerate(patterns):
            if matches[index] is None and (match := re.search(pattern, line)):
                matches[index] = match
                break
    return matches  # type: ignore[return-value]


def startWorkers(twistd, redisServer, *args: str, count: int = 2, component: str = "examples.chat:Chat", **kwargs):
    """
    A supervisor of C{count} workers; it, its port and its workers' pids by
    number, once every worker has said that it is ready and is connected to
    Redis.
    """
    process = twistd("--component", component, "--port", LOOPBACK, "--workers", str(count),
                     "--broker", redisServer.url, *args, **kwargs)
    port = int(process.readUntil(r"supervisor: \d+ workers on port (\d+)").group(1))
    numbers = range(1, count + 1)
    matches = readEach(process, *(rf"worker {n} is ready \(pid (\d+)\)" for n in numbers),
                       *(rf"worker {n}: \[ratchetpy#info\] connected to Redis at " for n in numbers))
    workers = {n: int(match.group(1)) for n, match in zip(numbers, matches[:count], strict=True)}
    # The ready lines name the supervisor's children, and each sent its own pid.
    assert sorted(children(process.process.pid)) == sorted(workers.values())
    return process, port, workers


def test_parseNotification():
    """
    An sd_notify datagram is lines of NAME=VALUE; anything else is ignored.
    """
    assert parseNotification(b"READY=1\nMAINPID=4242") == {"READY": "1", "MAINPID": "4242"}
    assert parseNotification(b"STATUS=a=b\ngarbage\n=nameless\n\n") == {"STATUS": "a=b"}


def test_notifyReady(tmp_path, monkeypatch, logged):
    """
    notifyReady sends READY=1 and the process id to the supervisor's socket
    and to systemd's (an abstract one, written with @); a socket that is
    gone is a warning, not an error.
    """
    message = f"READY=1\nMAINPID={os.getpid()}".encode()
    abstract = f"@ratchetpy-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as ours, \
            socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as systemd:
        ours.bind(str(tmp_path / "notify"))
        systemd.bind("\0" + abstract[1:])
        monkeypatch.setenv(NOTIFY_ENVIRONMENT, str(tmp_path / "notify"))
        monkeypatch.setenv("NOTIFY_SOCKET", abstract)
        notifyReady()
        ours.settimeout(5)
        systemd.settimeout(5)
        assert ours.recv(4096) == message
        assert systemd.recv(4096) == message
    monkeypatch.setenv(NOTIFY_ENVIRONMENT, str(tmp_path / "gone"))
    monkeypatch.delenv("NOTIFY_SOCKET")
    notifyReady()
    assert any(f"cannot say that the server is ready to {NOTIFY_ENVIRONMENT}=" in text for text in logged()), logged()


def test_workerLogObserver(monkeypatch):
    """
    A worker logs without timestamps (the supervisor's log has its own) and
    cuts lines that ProcessMonitor could not relay.
    """
    output = io.StringIO()
    monkeypatch.setattr(sys, "stdout", output)
    observe = workerLogObserver()
    event = {"log_format": "{a}\n{b}", "a": "short", "b": "y" * 20000, "log_namespace": "ratchetpy",
             "log_level": LogLevel.info, "log_time": time.time()}
    observe(event)
    first, second, end = output.getvalue().split("\n")
    assert first == "[ratchetpy#info] short"
    assert second.startswith("\tyyy") and second.endswith(f"yyy [... {20000 - MAX_LINE} bytes cut]")
    assert len(second) < 16384
    assert end == ""


def test_singleProcessNotifiesSystemd(twistd, tmp_path):
    """
    Without --workers, twistd says READY=1 to systemd's NOTIFY_SOCKET once
    it listens.
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as systemd:
        systemd.bind(str(tmp_path / "systemd"))
        systemd.settimeout(15)
        process = twistd("--component", "examples.chat:Chat", "--port", LOOPBACK,
                         env=dict(os.environ, NOTIFY_SOCKET=str(tmp_path / "systemd")))
        ready = parseNotification(systemd.recv(4096))
    assert ready == {"READY": "1", "MAINPID": str(process.process.pid)}
    socket.create_connection(("127.0.0.1", process.waitForPort()), timeout=5).close()
    assert process.stop(signal.SIGTERM) == 0


def test_workersShareOnePortAndOneRoom(twistd, redisServer, tmp_path):
    """
    Connections spread over both workers; a message from one client reaches
    every other client, on either worker. Under systemd (NOTIFY_SOCKET) the
    supervisor says READY=1 once every worker is ready, and the workers
    notify the supervisor's socket instead. SIGTERM stops the supervisor
    with status 0, no worker is left, and the supervisor's socket is gone.
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as systemd:
        systemd.bind(str(tmp_path / "systemd"))
        systemd.settimeout(10)
        process, port, workers = startWorkers(twistd, redisServer,
                                              env=dict(os.environ, NOTIFY_SOCKET=str(tmp_path / "systemd")))
        ready = parseNotification(systemd.recv(4096))
        assert ready == {"READY": "1", "MAINPID": str(process.process.pid)}
        systemd.setblocking(False)
        with pytest.raises(BlockingIOError):
            systemd.recv(4096)
    seen = environment(workers[1])
    assert "NOTIFY_SOCKET" not in seen
    assert (seen["RATCHETPY_WORKER"], seen["RATCHETPY_WORKERS"]) == ("1", "2")
    notifySocket = Path(seen[NOTIFY_ENVIRONMENT])
    assert notifySocket.is_socket() and environment(workers[2])[NOTIFY_ENVIRONMENT] == str(notifySocket)
    with ExitStack() as stack:
        clients = [stack.enter_context(connect(f"ws://127.0.0.1:{port}/")) for _ in range(24)]
        opened = [process.readUntil(r"worker (\d+): .*New connection! \((\d+)\)").groups() for _ in clients]
        served = {worker for worker, _ in opened}
        assert served == {"1", "2"}, "the kernel put every connection on one worker"
        # resourceId is unique across the workers, and small: worker k of 2 numbers k, k + 2, ...
        ids = [int(resourceId) for _, resourceId in opened]
        assert len(set(ids)) == len(ids) and max(ids) < 100, opened
        assert all(int(resourceId) % 2 == int(worker) % 2 for worker, resourceId in opened), opened
        time.sleep(0.3)  # the last subscriptions reach Redis
        clients[0].send("hello, every worker")
        for client in clients[1:]:
            assert client.recv(timeout=10) == "hello, every worker"
    assert process.stop(signal.SIGTERM) == 0, process.output
    waitGone(list(workers.values()))
    assert re.search(r"worker 1 stopped \(.*exit code 0", process.output), process.output
    assert not notifySocket.parent.exists()


def test_workersBehindProxyProtocol(twistd, redisServer):
    """
    --workers on a haproxy:tcp: port: every worker reads the PROXY header
    (a connection with one is served; one without is closed and logged).
    The workers get the supervisor's --trusted-proxies.
    """
    process, port, _ = startWorkers(twistd, redisServer, "--port", "haproxy:" + LOOPBACK,
                                    "--trusted-proxies", "10.0.0.0/8,192.0.2.0/24")
    for _ in range(4):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(v2Header("192.0.2.7") + upgradeRequest())
            assert statusOf(readHead(sock)) == 101
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(upgradeRequest())
        assert sock.recv(100) == b""
    process.readUntil(r"worker \d: .*no valid PROXY protocol header")


def test_deadWorkerIsRestarted(twistd, redisServer):
    """
    A worker killed with SIGKILL is logged and started again after 0.5 s,
    and after 1 s when killed again soon after; the port keeps serving
    meanwhile and afterwards.
    """
    process, port, workers = startWorkers(twistd, redisServer)
    for delay in ("0.5", "1"):
        os.kill(workers[1], signal.SIGKILL)
        ended = process.readUntil(r"worker 1 ended \((.*)\) after [\d.]+ s; starting it again in ([\d.]+) s")
        assert "signal 9" in ended.group(1)
        assert ended.group(2) == delay
        with connect(f"ws://127.0.0.1:{port}/") as client:
            client.send("worker 2 serves meanwhile")
        ready, _ = readEach(process, r"worker 1 is ready \(pid (\d+)\)", r"worker 1: .*connected to Redis at ")
        workers[1] = int(ready.group(1))
    assert sorted(children(process.process.pid)) == sorted(workers.values())
    with connect(f"ws://127.0.0.1:{port}/") as alice, connect(f"ws://127.0.0.1:{port}/") as bob:
        time.sleep(0.3)
        alice.send("still here")
        assert bob.recv(timeout=10) == "still here"
    assert process.stop(signal.SIGTERM) == 0
    waitGone(list(workers.values()))


def test_workersDieWithTheSupervisor(twistd, redisServer):
    """
    Workers do not outlive a supervisor that is killed outright.
    """
    process, _, workers = startWorkers(twistd, redisServer)
    notifyDirectory = Path(environment(workers[1])[NOTIFY_ENVIRONMENT]).parent
    process.stop(signal.SIGKILL)
    waitGone(list(workers.values()))
    # Nothing could remove it.
    shutil.rmtree(notifyDirectory)


def test_readinessIsNotifiedNotPrinted(twistd, tmp_path):
    """
    Workers that print what a listening worker prints, but end without
    saying that they are ready, are failed starts: each is started again
    after a delay that doubles, and the fifth in a row stops the supervisor
    with status 1.
    """
    (tmp_path / "components.py").write_text(textwrap.dedent(COMPONENTS))
    status, output = runToExit(functools.partial(twistd, cwd=tmp_path), "--component", "components:NeverReady",
                               "--port", LOOPBACK, "--workers", "2", "--broker", "redis://127.0.0.1:1/0",
                               timeout=30)
    assert status == 1, output
    assert "worker 1: ratchetpy listening on" in output
    assert "is ready" not in output
    assert "5 workers in a row ended before they were ready (see their lines above); stopping" in output
    delays = {n: re.findall(rf"worker {n} ended \(.*exit code 3.*\) .* starting it again in ([\d.]+) s", output)
              for n in (1, 2)}
    assert sum(map(len, delays.values())) == 4, output
    for found in delays.values():
        assert found == ["0.5", "1", "2"][:len(found)], output


def test_stubbornWorkerIsKilled(twistd, redisServer, tmp_path):
    """
    A worker that ignores SIGTERM is killed the shutdown timeout and 5 s
    after it; the supervisor still exits with status 0. On the way, a log
    line too long for ProcessMonitor's relay arrives cut, and the worker's
    next lines still arrive.
    """
    (tmp_path / "components.py").write_text(textwrap.dedent(COMPONENTS))
    process, port, workers = startWorkers(twistd, redisServer, "--shutdown-timeout", "0.5",
                                          component="components:Stubborn", cwd=tmp_path)
    with connect(f"ws://127.0.0.1:{port}/"):
        number = process.readUntil(r"worker (\d+): \[ratchetpy#info\] ignoring SIGTERM").group(1)
        assert re.search(rf"worker {number}: \[ratchetpy#info\] long: x+ \[\.\.\. \d+ bytes cut\]\n",
                         process.output)
        started = time.monotonic()
        assert process.stop(signal.SIGTERM) == 0, process.output
        took = time.monotonic() - started
    assert 5.5 <= took < 8, process.output
    assert f"worker {number} was still running 5.5 s after SIGTERM; killed it" in process.output
    other = 3 - int(number)
    assert re.search(rf"worker {other} stopped \(.*exit code 0", process.output), process.output
    waitGone(list(workers.values()))


@pytest.mark.parametrize(
    "args, message",
    [
        (["--workers", "2"], r"--workers 2 needs a broker the processes share, e.g. --broker redis://"),
        (["--workers", "0"], r"--workers must be 1 or more, not 0"),
        (["--workers", "2", "--broker", "redis://127.0.0.1:1/0", "--port", "unix:/tmp/x.sock"],
         r"--workers needs a TCP endpoint \(--port tcp:8080 or haproxy:tcp:8080\), not 'unix:/tmp/x.sock'"),
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
