# -*- test-case-name: tests.test_workers -*-
"""
C{--workers N}: N server processes on one TCP port.

One Twisted process uses one core. With C{--workers N} the twistd process
becomes a supervisor: it spawns N twistd processes with the same options,
each listening on the same address with C{SO_REUSEPORT}, so that the kernel
spreads new connections over them, and it restarts a worker that dies
(Twisted's L{ProcessMonitor}). A worker says that it listens with a datagram
to the supervisor's notify socket, as systemd's C{sd_notify} does. The
workers share channels through the broker (C{--broker redis://...}); without
one, a chat message would stay in the process it was sent to.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
from typing import Any

from twisted.internet import defer, protocol
from twisted.internet.interfaces import IListeningPort, IProtocolFactory, IStreamServerEndpoint
from twisted.logger import FileLogObserver, Logger, LogLevel, eventAsText
from twisted.python.failure import Failure
from twisted.runner.procmon import ProcessMonitor
from zope.interface import implementer

from .server.logs import JSON_ENVIRONMENT, eventAsJSONLine, jsonLogObserver
from .server.proxy import PREFIX as PROXY_PREFIX
from .server.proxy import ProxyHeaderFactory

log = Logger(namespace="ratchetpy")

#: Set in a worker's environment, its number (from 1); a worker dies with its
#: supervisor.
WORKER_ENVIRONMENT = "RATCHETPY_WORKER"
#: Set in a worker's environment: how many workers there are.
WORKERS_ENVIRONMENT = "RATCHETPY_WORKERS"
#: Set in a worker's environment: the supervisor's socket for L{notifyReady}.
NOTIFY_ENVIRONMENT = "RATCHETPY_NOTIFY_SOCKET"
#: Set in a worker's environment with C{--metrics}: the endpoint (a UNIX
#: socket of the supervisor's directory) the worker serves its metrics on,
#: for the supervisor to add them up.
METRICS_ENVIRONMENT = "RATCHETPY_METRICS_ENDPOINT"

#: A worker that dies is started again after this long, doubling up to the
#: most while it keeps dying within HEALTHY_RUN of starting.
RESTART_DELAY = 0.5
MAX_RESTART_DELAY = 10.0
#: A worker that ran this long before it died is started again at once, and
#: its delay starts again from RESTART_DELAY.
HEALTHY_RUN = 30.0
#: This many workers in a row that end before they are ready stop the
#: supervisor: something is wrong that restarting will not fix (the log
#: says what).
MAX_FAILED_STARTS = 5
#: A worker still running this long after the shutdown timeout, once sent
#: SIGTERM, is killed.
STOP_MARGIN = 5.0


class WorkersError(ValueError):
    """
    Options that cannot run as workers; the message says what to do.
    """


def tcpAddress(description: str) -> tuple[socket.AddressFamily, str, int, int]:
    """
    The address family, interface, port and backlog of a C{tcp:} or
    C{tcp6:} endpoint description.

    @raise WorkersError: C{description} is not a TCP endpoint (behind a
        PROXY protocol C{haproxy:} prefix or not).
    """
    given = description
    if description.startswith(PROXY_PREFIX):
        description = description[len(PROXY_PREFIX) :]
    parts = [part.replace("\\:", ":") for part in re.split(r"(?<!\\):", description)]
    kind, args = parts[0], parts[1:]
    if kind not in ("tcp", "tcp6"):
        raise WorkersError(
            f"--workers needs a TCP endpoint (--port tcp:8080 or haproxy:tcp:8080), not {given!r}: put TLS in front "
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
        # A haproxy:tcp: description: every connection starts with a PROXY header.
        self._proxied = description.startswith(PROXY_PREFIX)

    def listen(self, factory: IProtocolFactory) -> defer.Deferred[IListeningPort]:
        if self._proxied:
            factory = ProxyHeaderFactory(factory, self._reactor)
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
    prefix = PROXY_PREFIX if options["port"].startswith(PROXY_PREFIX) else ""
    endpoint = f"{prefix}{kind}:{port}:backlog={backlog}"
    if interface and interface != "::":
        endpoint += ":interface=" + interface.replace(":", "\\:")
    args = ["--port", endpoint, "--reuse-port"]
    for name, _, default, *_ in options.optParameters:
        value = options[name]
        # --metrics is the supervisor's: each worker gets a socket of its own.
        if name in ("port", "workers", "metrics") or value is None or value == default:
            continue
        if isinstance(value, tuple):
            # A list of addresses (--trusted-proxies), as it was typed.
            if not value:
                continue
            value = ",".join(value)
        args.append(f"--{name}={value}")
    for name, *_ in options.optFlags:
        if options[name] and name != "reuse-port":
            args.append(f"--{name}")
    return args


def logsJSON(options: Any) -> bool:
    """
    Whether twistd logs JSON lines (C{--logger} L{jsonLogObserver}).
    """
    parent = getattr(options, "parent", None)
    logger = parent.get("logger") if parent is not None else None
    # twistd has imported it by now: the function itself, or its name.
    return logger is jsonLogObserver or (isinstance(logger, str) and logger.endswith(".jsonLogObserver"))


def parseNotification(datagram: bytes) -> dict[str, str]:
    """
    The assignments of an C{sd_notify} message: lines of C{NAME=VALUE}, such
    as C{READY=1} and C{MAINPID=4242}. Lines that are not assignments are
    ignored.
    """
    fields: dict[str, str] = {}
    for line in datagram.decode("utf-8", "replace").split("\n"):
        name, sep, value = line.partition("=")
        if sep and name:
            fields[name] = value
    return fields


def notifyReady() -> None:
    """
    Say that this process is ready, as systemd's C{sd_notify} does: one
    datagram, C{READY=1} and C{MAINPID=} this process's id, to the UNIX
    socket named by each of the environment variables
    L{NOTIFY_ENVIRONMENT} (set by the supervisor of C{--workers}) and
    C{NOTIFY_SOCKET} (set by systemd for a unit of C{Type=notify}). Where
    neither is set, nothing is sent.
    """
    message = f"READY=1\nMAINPID={os.getpid()}".encode()
    for variable in (NOTIFY_ENVIRONMENT, "NOTIFY_SOCKET"):
        address = os.environ.get(variable, "")
        if not address:
            continue
        if address.startswith("@"):
            # systemd's name for a socket in the abstract namespace.
            address = "\0" + address[1:]
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                # Whoever listens reads at once; never hang the reactor on one that does not.
                sock.settimeout(1.0)
                sock.sendto(message, address)
        except OSError as exc:
            log.warn(
                "cannot say that the server is ready to {variable}={address}: {error}",
                variable=variable,
                address=os.environ[variable],
                error=exc,
            )


#: The longest line, in bytes, a worker writes. ProcessMonitor reads its
#: processes' output with a LineReceiver (MAX_LENGTH 16 KiB) whose transport
#: cannot lose its connection: a longer line raises, the reactor closes the
#: worker's output pipe, and nothing the worker logs arrives any more.
MAX_LINE = 16000


def _cut(line: str) -> str:
    data = line.encode("utf-8", "replace")
    if len(data) <= MAX_LINE:
        return line
    return data[:MAX_LINE].decode("utf-8", "ignore") + f" [... {len(data) - MAX_LINE} bytes cut]"


def _jsonLine(event: dict[str, Any]) -> str | None:
    """
    C{event} as a JSON line (L{eventAsJSONLine}) of at most L{MAX_LINE}
    bytes: a longer one has its message, traceback and fields cut.
    """
    text = eventAsJSONLine(event)
    if text is None or len(text.encode("utf-8")) <= MAX_LINE:
        return text
    record = json.loads(text)
    record.pop("fields", None)
    for name in ("message", "traceback"):
        if name in record:
            record[name] = _cut(record[name][: MAX_LINE // 4])
    return json.dumps(record, ensure_ascii=False)


def workerLogObserver() -> FileLogObserver:
    """
    The log observer of a worker (twistd's C{--logger}): twistd's text on
    standard output, without the timestamp (the supervisor's log adds its
    own) and with lines cut at L{MAX_LINE} bytes; or, when the supervisor
    logs JSON (L{JSON_ENVIRONMENT}), one JSON object per line, which the
    supervisor passes on with the worker's name.
    """
    if os.environ.get(JSON_ENVIRONMENT):
        return FileLogObserver(sys.stdout, lambda event: (line := _jsonLine(event)) and line + "\n")

    def formatEvent(event: dict[str, Any]) -> str | None:
        text = eventAsText(event, includeTimestamp=False)
        if not text:
            return None
        # As twistd's own log does, continuation lines (tracebacks) start with a tab.
        return "\n\t".join(_cut(line) for line in text.split("\n")) + "\n"

    return FileLogObserver(sys.stdout, formatEvent)


class _WorkerOutput(Logger):
    """
    The logger ProcessMonitor relays its processes' output to, one event a
    line, as C{"[{tag}] {line}"} (the tag is the process's name): here
    C{"worker N: LINE"}.
    """

    def emit(self, level: LogLevel, format: str | None = None, **kwargs: Any) -> None:
        if "tag" in kwargs and "line" in kwargs:
            if not kwargs["line"]:
                # When a process ends, ProcessMonitor ends each of its
                # streams with a newline (it means to only when the last
                # line is unfinished, but compares an int to bytes), which
                # gives an empty line.
                return
            format = "{tag}: {line}"
            line = kwargs["line"]
            if isinstance(line, str) and line.startswith('{"time"'):
                level, format = self._fromJSON(level, kwargs)
        super().emit(level, format, **kwargs)

    @staticmethod
    def _fromJSON(level: LogLevel, fields: dict[str, Any]) -> tuple[LogLevel, str]:
        # A worker's JSON line (workerLogObserver): its message, level and
        # connection fields, for the supervisor's own JSON log.
        try:
            record = json.loads(fields["line"])
        except ValueError:
            return level, "{tag}: {line}"
        fields["line"] = record.get("message", "")
        for name in ("resourceId", "remoteAddress", "route", "traceback"):
            if name in record:
                fields[name] = record[name]
        fields["worker"] = fields["tag"]
        return LogLevel.levelWithName(record.get("level", "info")), "{tag}: {line}"


class _Notifications(protocol.DatagramProtocol):
    """
    The supervisor's notify socket: workers say here that they are ready.
    """

    noisy = False

    def __init__(self, supervisor: WorkerSupervisor) -> None:
        self.supervisor = supervisor

    def datagramReceived(self, datagram: bytes, address: Any) -> None:
        fields = parseNotification(datagram)
        if fields.get("READY") != "1":
            return
        try:
            pid = int(fields.get("MAINPID", ""))
        except ValueError:
            log.warn("ready notification without a MAINPID: {datagram!r}", datagram=datagram)
            return
        self.supervisor.workerReady(pid)


class WorkerSupervisor(ProcessMonitor):
    """
    Runs C{options["workers"]} twistd processes with the arguments of
    L{workerArguments}, restarts those that die, and stops them all with
    SIGTERM when stopped: Twisted's L{ProcessMonitor}, with the port held
    here, readiness that workers notify (L{notifyReady}), and a stop when
    workers keep failing to start.

    @ivar port: the TCP port the workers listen on.
    """

    threshold = HEALTHY_RUN  # type: ignore[assignment]  # seconds: Twisted's int defaults are floats too
    minRestartDelay = RESTART_DELAY  # type: ignore[assignment]  # seconds: Twisted's int defaults are floats too
    maxRestartDelay = MAX_RESTART_DELAY  # type: ignore[assignment]  # seconds: Twisted's int defaults are floats too

    def __init__(self, options: Any, reactor: Any = None) -> None:
        if reactor is None:
            from twisted.internet import reactor as _reactor

            reactor = _reactor
        super().__init__(reactor)
        self.reactor = reactor
        # An instance attribute: as a class attribute, a Logger takes its
        # class's name as namespace, and the lines are ratchetpy's.
        self.log = _WorkerOutput(namespace="ratchetpy")
        self.options = options
        self.workers = int(options["workers"])
        self.killTime = float(options["shutdown-timeout"]) + STOP_MARGIN  # type: ignore[assignment]  # seconds: Twisted's int defaults are floats too
        self._family, self._interface, self.port, _ = tcpAddress(options["port"])
        self._reservation: socket.socket | None = None
        self._notifyDirectory: str | None = None
        self._notifyPort: Any = None
        self._ready: set[str] = set()
        self._allReady = False
        self._failedStarts = 0
        self._ended: defer.Deferred[None] | None = None

    def privilegedStartService(self) -> None:
        """
        Check that the address can be listened on, and hold the port (bound,
        not listening) so that C{tcp:0} gives every worker the same one.

        @raise OSError: it cannot.
        """
        super().privilegedStartService()  # type: ignore[no-untyped-call]  # Twisted's, unannotated: super() escapes untyped_calls_exclude
        self._reservation = reusePortSocket(self._family, self._interface, self.port)
        self.port = self._reservation.getsockname()[1]

    def startService(self) -> None:
        if self._reservation is None:
            self.privilegedStartService()
        # Here, not in privilegedStartService: the workers run as the user
        # twistd switches to, and must be able to send to the socket.
        self._notifyDirectory = tempfile.mkdtemp(prefix="ratchetpy-")
        notifySocket = os.path.join(self._notifyDirectory, "notify")
        self._notifyPort = self.reactor.listenUNIXDatagram(notifySocket, _Notifications(self))
        log.info(
            "ratchetpy supervisor: {workers} workers on port {port} (SO_REUSEPORT), pid {pid}",
            workers=self.workers,
            port=self.port,
            pid=os.getpid(),
        )
        argv = [
            sys.executable,
            "-c",
            "from twisted.scripts.twistd import run; run()",
            "-n",
            "--pidfile=",
            f"--logger={__name__}.workerLogObserver",
            "ratchetpy",
            *workerArguments(self.options, self.port),
        ]
        # systemd's socket is the supervisor's (the unit's main process), not the workers'.
        environment = {name: value for name, value in os.environ.items() if name != "NOTIFY_SOCKET"}
        environment[NOTIFY_ENVIRONMENT] = notifySocket
        environment[WORKERS_ENVIRONMENT] = str(self.workers)
        if logsJSON(self.options):
            environment[JSON_ENVIRONMENT] = "1"
        for number in range(1, self.workers + 1):
            environment[WORKER_ENVIRONMENT] = str(number)
            if self.options.get("metrics"):
                environment[METRICS_ENVIRONMENT] = f"unix:{self.metricsSocket(number)}"
            self.addProcess(f"worker {number}", argv, env=dict(environment), cwd=os.getcwd())
        super().startService()

    def metricsSocket(self, number: int) -> str:
        """
        The path of the UNIX socket worker C{number} serves its metrics on.
        """
        assert self._notifyDirectory is not None
        return os.path.join(self._notifyDirectory, f"metrics-{number}")

    def runningWorkers(self) -> dict[str, tuple[int, str]]:
        """
        The workers running now, by name: their process id and metrics
        socket.
        """
        running = {}
        for name, worker in self.protocols.items():
            pid = getattr(worker.transport, "pid", None)
            if pid is not None and self._notifyDirectory is not None:
                running[name] = (pid, self.metricsSocket(int(name.rsplit(" ", 1)[-1])))
        return running

    def readyWorkers(self) -> set[str]:
        """
        The names of the workers that said they are ready.
        """
        return set(self._ready)

    def workerReady(self, pid: int) -> None:
        """
        The worker with process id C{pid} says that it listens.
        """
        names = [name for name, worker in self.protocols.items() if getattr(worker.transport, "pid", None) == pid]
        if not names:
            log.warn("ready notification from process {pid}, which is not a worker", pid=pid)
            return
        name = names[0]
        if name in self._ready:
            return
        self._ready.add(name)
        log.info("{name} is ready (pid {pid})", name=name, pid=pid)
        if len(self._ready) == self.workers and not self._allReady:
            # Once: systemd's READY=1 means started up, not back to full strength.
            self._allReady = True
            notifyReady()

    def _monitoredProcessExited(self, name: str, reason: Failure | None = None) -> None:
        # The method ProcessMonitor's process protocol calls when a process
        # ends. Its public counterpart, connectionLost, is deprecated since
        # Twisted 25.5 and no longer called.
        now = self.reactor.seconds()
        ran = now - self.timeStarted[name]
        killed = name in self.murder and not self.murder[name].active()
        ready = name in self._ready
        self._ready.discard(name)
        super()._monitoredProcessExited(name, reason)
        why = reason.value if reason is not None else "unknown"
        if not self.running:
            if killed:
                log.warn("{name} was still running {time:g} s after SIGTERM; killed it", name=name, time=self.killTime)
            else:
                log.info("{name} stopped ({reason})", name=name, reason=why)
            if not self.protocols and self._ended is not None:
                self._ended.callback(None)
            return
        self._failedStarts = 0 if ready else self._failedStarts + 1
        restart = self.restart[name]
        if self._failedStarts >= MAX_FAILED_STARTS:
            # Now: a restart due at once (after a long run) would come
            # before stopService cancels it.
            restart.cancel()
            log.error(
                "ratchetpy supervisor: {count} workers in a row ended before they were ready (see their lines "
                "above); stopping",
                count=self._failedStarts,
            )
            # twistd would exit with 0 after a plain reactor.stop().
            self.reactor.addSystemEventTrigger("after", "shutdown", os._exit, 1)
            self.reactor.stop()
            return
        log.warn(
            "{name} ended ({reason}) after {ran:.1f} s; starting it again in {delay:g} s",
            name=name,
            reason=why,
            ran=ran,
            delay=round(restart.getTime() - now, 3),
        )

    def stopService(self) -> defer.Deferred[None]:  # type: ignore[override]  # IService's may return a Deferred
        """
        SIGTERM every worker (each closes its connections gracefully) and
        wait for them to end; ProcessMonitor SIGKILLs those still running
        after C{killTime}, the shutdown timeout and L{STOP_MARGIN}.
        """
        super().stopService()
        if self._reservation is not None:
            self._reservation.close()
            self._reservation = None
        if self._notifyPort is not None:
            self._notifyPort.stopListening()
            self._notifyPort = None
        if self._notifyDirectory is not None:
            shutil.rmtree(self._notifyDirectory, ignore_errors=True)
            self._notifyDirectory = None
        if not self.protocols:
            return defer.succeed(None)
        self._ended = defer.Deferred()
        return self._ended
