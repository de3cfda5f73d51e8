"""
Shared fixtures: real servers on loopback, real clients in threads, twistd as a
subprocess.

Tests are plain functions run by pytest-twisted in the main greenlet; they
block on Deferreds with L{pytest_twisted.blockon}, so the reactor keeps running
while a client in a thread talks to the server.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import reactor, task, threads

from ratchetpy import IoServer, MessageComponent

ROOT = Path(__file__).resolve().parent.parent


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool:
    """
    Run test functions in pytest's own greenlet, not the reactor's, so that
    they may block on Deferreds with L{pytest_twisted.blockon} while the
    reactor serves.
    """
    arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    pyfuncitem.obj(**arguments)
    return True


def inThread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """
    Run blocking client code in a thread while the reactor serves; return its
    result (or raise its exception).
    """
    return pytest_twisted.blockon(threads.deferToThread(fn, *args, **kwargs))


def sleep(seconds: float) -> None:
    """
    Let the reactor run for C{seconds}.
    """
    pytest_twisted.blockon(task.deferLater(reactor, seconds, lambda: None))


def waitUntil(predicate: Callable[[], object], timeout: float = 5.0, what: str = "condition") -> None:
    """
    Let the reactor run until C{predicate()} is true; fail after C{timeout}.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        sleep(0.01)


def makeCertificate(directory: Path) -> tuple[Path, Path]:
    """
    Write a self-signed key.pem and cert.pem for localhost and 127.0.0.1 into
    C{directory}; return their paths.
    """
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    keyPath, certPath = directory / "key.pem", directory / "cert.pem"
    keyPath.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    certPath.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return keyPath, certPath


class Recorder(MessageComponent):
    """
    A component that records every hook call as C{(hook, conn, *args)} and
    optionally echoes messages back.
    """

    def __init__(self, echo: bool = False) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.echo = echo

    def onOpen(self, conn):
        self.events.append(("onOpen", conn))

    def onMessage(self, conn, msg):
        self.events.append(("onMessage", conn, msg))
        if self.echo:
            conn.send(msg)

    def onClose(self, conn):
        self.events.append(("onClose", conn))

    def onError(self, conn, exc):
        self.events.append(("onError", conn, exc))

    def hooks(self) -> list[str]:
        return [event[0] for event in self.events]

    def messages(self) -> list[object]:
        return [event[2] for event in self.events if event[0] == "onMessage"]


@pytest.fixture
def logged(monkeypatch):
    """
    The text of every log event during the test, as C{logged()}; the events
    themselves are C{logged.events}. The rate limits of ratchetpy's refusal
    lines start afresh, so that earlier tests cannot have used them up.
    """
    from twisted.logger import formatEvent, globalLogPublisher

    from ratchetpy._ratelimit import RateLimitedLog
    from ratchetpy.http import response
    from ratchetpy.server import blacklist, flow

    for module, name in ((response, "_refusals"), (blacklist, "_refusals"), (flow, "_slowConsumers")):
        monkeypatch.setattr(module, name, RateLimitedLog(module.log))
    events: list[dict[str, Any]] = []
    globalLogPublisher.addObserver(events.append)

    def texts() -> list[str]:
        return [formatEvent(event) for event in events]

    texts.events = events  # type: ignore[attr-defined]
    yield texts
    globalLogPublisher.removeObserver(events.append)


@pytest.fixture
def listen():
    """
    C{listen(component, **ioServerOptions)} serves C{component} with an
    L{IoServer} on an ephemeral loopback port and returns the L{IoServer};
    its port number is C{server.portNumber}. Every server is shut down after
    the test.
    """
    servers: list[IoServer] = []

    def _listen(component: Any, endpoint: str = "tcp:0:interface=127.0.0.1", **options: Any) -> IoServer:
        server = IoServer(component, endpoint, **options)
        port = pytest_twisted.blockon(server.listen())
        server.portNumber = getattr(port.getHost(), "port", None)  # type: ignore[attr-defined]
        servers.append(server)
        return server

    yield _listen
    for server in servers:
        server.shutdownTimeout = 1.0
        pytest_twisted.blockon(server.shutdown())


class Twistd:
    """
    A C{twistd -n ratchetpy ...} subprocess, started from the repository root.
    """

    def __init__(self, *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> None:
        twistd = Path(sys.executable).with_name("twistd")
        self.argv = [str(twistd), "-n", "--pidfile=", "ratchetpy", *args]
        self.process = subprocess.Popen(
            self.argv,
            cwd=cwd,
            env=env or os.environ.copy(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def readUntil(self, pattern: str, timeout: float = 15.0) -> re.Match[str]:
        """
        Read output lines until one matches C{pattern}.
        """
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
            match = regex.search(line)
            if match:
                return match
        raise AssertionError(f"twistd never printed {pattern!r}; output:\n{''.join(self.lines)}")

    def waitForPort(self) -> int:
        return int(self.readUntil(r"ratchetpy listening on tcp:[^ ]*:(\d+)").group(1))

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(timeout=5)
        while not self._queue.empty():
            line = self._queue.get()
            if line is not None:
                self.lines.append(line)
        return self.process.returncode

    @property
    def output(self) -> str:
        return "".join(self.lines)


@pytest.fixture
def twistd():
    """
    C{twistd(*args)} starts a twistd subprocess; all are stopped after the test.
    """
    started: list[Twistd] = []

    def _start(*args: str, **kwargs: Any) -> Twistd:
        process = Twistd(*args, **kwargs)
        started.append(process)
        return process

    yield _start
    for process in started:
        process.stop(signal.SIGKILL, timeout=5)


class RedisServer:
    """
    A real C{redis-server} (Debian's package) on a free loopback port, with no
    persistence; L{stop}, L{kill} and L{start} let tests take it away and bring
    it back on the same port.
    """

    def __init__(self, directory: Path) -> None:
        import socket

        self.directory = directory
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        import socket

        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)

    def kill(self) -> None:
        """
        End the server at once (SIGKILL), as a crash would.
        """
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def redisServer(tmp_path):
    """
    A running L{RedisServer}, stopped after the test.
    """
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.kill()
