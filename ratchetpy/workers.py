# -*- test-case-name: tests.test_workers -*-
"""
C{--workers N}: N server processes on one TCP port.

One Twisted process uses one core. With C{--workers N} the twistd process
becomes a supervisor: it spawns N twistd processes with the same options,
each listening on the same address with C{SO_REUSEPORT}, so that the kernel
spreads new connections over them, and it restarts a worker that dies. The
workers share channels through the broker (C{--broker redis://...}); without
one, a chat message would stay in the process it was sent to.
"""

from __future__ import annotations

import ctypes
import os
import re
import signal
import socket
import sys
import time
from typing import Any

from twisted.application.service import Service
from twisted.internet import defer, protocol
from twisted.internet.interfaces import IListeningPort, IStreamServerEndpoint
from twisted.logger import Logger
from zope.interface import implementer

log = Logger(namespace="ratchetpy")

#: Set in a worker's environment; a worker dies with its supervisor.
WORKER_ENVIRONMENT = "RATCHETPY_WORKER"

#: A worker restarted after a crash waits this long, doubling up to the most.
RESTART_DELAY = 0.5
MAX_RESTART_DELAY = 10.0
#: A worker that ran this long before it died starts again from RESTART_DELAY.
HEALTHY_RUN = 30.0
#: This many workers in a row that die within HEALTHY_RUN of starting
#: without ever listening stop the supervisor: something is wrong that
#: restarting will not fix (the log says what).
MAX_FAILED_STARTS = 5


class WorkersError(ValueError):
    """
    Options that cannot run as workers; the message says what to do.
    """


def tcpAddress(description: str) -> tuple[int, str, int, str]:
    """
    The address family, interface, port and backlog of a C{tcp:} or
    C{tcp6:} endpoint description.

    @raise WorkersError: C{description} is not a TCP endpoint.
    """
    parts = [part.replace("\\:", ":") for part in re.split(r"(?<!\\):", description)]
    kind, args = parts[0], parts[1:]
    if kind not in ("tcp", "tcp6"):
        raise WorkersError(
            f"--workers needs a TCP endpoint (--port tcp:8080), not {description!r}: put TLS in front "
            "(a load balancer, see docs/scaling.md) and run the workers on a TCP port"
        )
    family = socket.AF_INET6 if kind == "tcp6" else socket.AF_INET
    options = {"interface": "::" if kind == "tcp6" else "", "backlog": "511"}
    positional = []
    for arg in args:
        name, sep, value = arg.partition("=")
        if sep:
            options[name] = value
        else:
            positional.append(arg)
    port = options.get("port") or (positional[0] if positional else "")
    try:
        return family, options["interface"], int(port), int(options["backlog"])
    except ValueError:
        raise WorkersError(f"bad endpoint {description!r}: write it as tcp:PORT[:interface=ADDRESS]") from None


def reusePortSocket(family: int, interface: str, port: int) -> socket.socket:
    """
    A socket bound to C{interface:port} with C{SO_REUSEPORT}, not listening.

    @raise OSError: the address cannot be bound (another program listens on
        it without C{SO_REUSEPORT}, or the address is not local).
    """
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((interface, port))
    except OSError:
        sock.close()
        raise
    return sock


@implementer(IStreamServerEndpoint)
class ReusePortEndpoint:
    """
    A TCP server endpoint that listens with C{SO_REUSEPORT}, so that several
    processes can listen on one address (Twisted's own TCP endpoints cannot).
    """

    def __init__(self, reactor: Any, description: str) -> None:
        self._reactor = reactor
        self.description = description
        self._family, self._interface, self._port, self._backlog = tcpAddress(description)

    def listen(self, factory: protocol.Factory) -> defer.Deferred[IListeningPort]:
        try:
            sock = reusePortSocket(self._family, self._interface, self._port)
            sock.listen(self._backlog)
            sock.setblocking(False)
        except OSError as exc:
            from twisted.internet.error import CannotListenError

            return defer.fail(CannotListenError(self._interface, self._port, exc))
        try:
            return defer.succeed(self._reactor.adoptStreamPort(sock.fileno(), self._family, factory))
        finally:
            # The reactor has its own copy of the descriptor now.
            sock.close()

    def __str__(self) -> str:
        return self.description


def dieWithParent() -> None:
    """
    Have the kernel send this process SIGTERM when its parent (the
    supervisor) dies, even of SIGKILL, so that no worker outlives it.
    """
    if not sys.platform.startswith("linux"):
        return
    PR_SET_PDEATHSIG = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() == 1:
        # The supervisor died before prctl took effect.
        os.kill(os.getpid(), signal.SIGTERM)


def workerArguments(options: Any, port: int) -> list[str]:
    """
    The twistd arguments of a worker: the supervisor's own options, but
    C{--workers}, with the port the supervisor resolved (so that C{tcp:0}
    means the same port for every worker) and C{--reuse-port}.
    """
    family, interface, _, backlog = tcpAddress(options["port"])
    kind = "tcp6" if family == socket.AF_INET6 else "tcp"
    endpoint = f"{kind}:{port}:backlog={backlog}"
    if interface and interface != "::":
        endpoint += ":interface=" + interface.replace(":", "\\:")
    args = ["--port", endpoint, "--reuse-port"]
    for name, _, default, *_ in options.optParameters:
        value = options[name]
        if name in ("port", "workers") or value is None or value == default:
            continue
        args.append(f"--{name}={value}")
    for name, *_ in options.optFlags:
        if options[name] and name != "reuse-port":
            args.append(f"--{name}")
    return args


class _WorkerProcess(protocol.ProcessProtocol):
    """
    One worker: its output, line by line, goes to the supervisor's log.
    """

    def __init__(self, supervisor: WorkerSupervisor, number: int) -> None:
        self.supervisor = supervisor
        self.number = number
        self.started = time.monotonic()
        self.listening = False
        self.ended: defer.Deferred[None] = defer.Deferred()
        self._partial = {1: b"", 2: b""}

    def childDataReceived(self, fd: int, data: bytes) -> None:
        lines = (self._partial[fd] + data).split(b"\n")
        self._partial[fd] = lines.pop()
        for line in lines:
            text = line.decode("utf-8", "replace").rstrip()
            if "ratchetpy listening on" in text:
                self.listening = True
            # Twisted's own timestamp prefix, which the supervisor's log repeats.
            text = re.sub(r"^\S+T\S+ ", "", text, count=1)
            log.info("worker {number}: {line}", number=self.number, line=text)

    def processEnded(self, reason: Any) -> None:
        self.supervisor._workerEnded(self, reason.value)
        self.ended.callback(None)


class WorkerSupervisor(Service):
    """
    Runs C{workers} twistd processes with C{arguments} (see
    L{workerArguments}), restarts those that die (after a delay that
    doubles, up to L{MAX_RESTART_DELAY}), and stops them all with SIGTERM
    when stopped.

    @ivar port: the TCP port the workers listen on.
    """

    def __init__(self, options: Any, reactor: Any = None) -> None:
        if reactor is None:
            from twisted.internet import reactor as _reactor

            reactor = _reactor
        self.reactor = reactor
        self.options = options
        self.workers = int(options["workers"])
        self.shutdownTimeout = float(options["shutdown-timeout"])
        self._family, self._interface, self.port, _ = tcpAddress(options["port"])
        self._reservation: socket.socket | None = None
        self._running: dict[int, _WorkerProcess] = {}
        self._delays: dict[int, float] = {}
        self._failedStarts = 0
        self._stopping = False

    def privilegedStartService(self) -> None:
        """
        Check that the address can be listened on, and hold the port (bound,
        not listening) so that C{tcp:0} gives every worker the same one.

        @raise OSError: it cannot.
        """
        super().privilegedStartService()
        self._reservation = reusePortSocket(self._family, self._interface, self.port)
        self.port = self._reservation.getsockname()[1]

    def startService(self) -> None:
        if self._reservation is None:
            self.privilegedStartService()
        super().startService()
        log.info(
            "ratchetpy supervisor: {workers} workers on port {port} (SO_REUSEPORT), pid {pid}",
            workers=self.workers,
            port=self.port,
            pid=os.getpid(),
        )
        for number in range(1, self.workers + 1):
            self._spawn(number)

    def _spawn(self, number: int) -> None:
        if self._stopping:
            return
        argv = [
            sys.executable,
            "-c",
            "from twisted.scripts.twistd import run; run()",
            "-n",
            "--pidfile=",
            "ratchetpy",
            *workerArguments(self.options, self.port),
        ]
        environment = dict(os.environ, **{WORKER_ENVIRONMENT: str(number)})
        worker = _WorkerProcess(self, number)
        self._running[number] = worker
        self.reactor.spawnProcess(worker, sys.executable, argv, env=environment, path=os.getcwd())

    def _workerEnded(self, worker: _WorkerProcess, reason: BaseException) -> None:
        self._running.pop(worker.number, None)
        if self._stopping:
            return
        ran = time.monotonic() - worker.started
        if ran >= HEALTHY_RUN:
            self._delays.pop(worker.number, None)
        if worker.listening:
            self._failedStarts = 0
        else:
            self._failedStarts += 1
            if self._failedStarts >= MAX_FAILED_STARTS:
                log.error(
                    "ratchetpy supervisor: {count} workers in a row ended before listening (see their lines "
                    "above); stopping",
                    count=self._failedStarts,
                )
                self._stopping = True
                # twistd would exit with 0 after a plain reactor.stop().
                self.reactor.addSystemEventTrigger("after", "shutdown", os._exit, 1)
                self.reactor.stop()
                return
        delay = self._delays.get(worker.number, RESTART_DELAY / 2) * 2
        delay = min(delay, MAX_RESTART_DELAY)
        self._delays[worker.number] = delay
        log.warn(
            "worker {number} ended ({reason}) after {ran:.1f} s; starting it again in {delay:g} s",
            number=worker.number,
            reason=reason,
            ran=ran,
            delay=delay,
        )
        self.reactor.callLater(delay, self._spawn, worker.number)

    def stopService(self) -> defer.Deferred[None]:
        """
        SIGTERM every worker (each closes its connections gracefully), wait
        for them, at most C{shutdownTimeout} seconds and a margin, then
        SIGKILL what is left.
        """
        super().stopService()
        self._stopping = True
        if self._reservation is not None:
            self._reservation.close()
            self._reservation = None
        running = list(self._running.values())
        for worker in running:
            self._signal(worker, "TERM")
        ended = defer.DeferredList([worker.ended for worker in running])
        kill = self.reactor.callLater(self.shutdownTimeout + 5, self._killAll)
        return ended.addCallback(lambda _: kill.cancel() if kill.active() else None)

    def _killAll(self) -> None:
        for worker in list(self._running.values()):
            log.warn("worker {number} did not stop in time; killing it", number=worker.number)
            self._signal(worker, "KILL")

    @staticmethod
    def _signal(worker: _WorkerProcess, name: str) -> None:
        try:
            worker.transport.signalProcess(name)
        except Exception:
            pass  # It has just ended.
