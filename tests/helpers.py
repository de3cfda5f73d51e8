"""
Helpers the tests share; what component authors need too is in
L{ratchetpy.testing} (in-memory harness, recorders, the pytest plugin).

What is here: waiting on the reactor from a test (L{inThread}, L{sleep},
L{waitUntil}); components that record what they hear (L{Recorder},
L{HttpRecorder}, from L{ratchetpy.testing}); serving a component in memory (L{inMemory}) or on loopback
(L{serveWebSocket}, with the C{listen} fixture); blocking clients that speak
raw HTTP and WebSocket (L{exchange}, L{openWebSocket}, L{frame}, ...); and
what tests run against (L{makeCertificate}, L{Twistd}, L{RedisServer}). The
fixtures built on them are in C{tests/conftest.py}.

Tests are plain functions run by pytest-twisted in pytest's greenlet; they
block on Deferreds with L{pytest_twisted.blockon}, so the reactor keeps running
while a client in a thread (L{inThread}) talks to the server. Helpers marked
"(Blocking client.)" are meant to run in such a thread.
"""

from __future__ import annotations

import base64
import os
import queue
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest_twisted
from twisted.internet import reactor, task, threads
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from ratchetpy import HttpServer, IoServer, WsServer
from ratchetpy.testing.recorders import HttpRecorder, Recorder  # noqa: F401  (the tests import them from here)
from tests import credentials

#: The repository's root directory.
ROOT = Path(__file__).resolve().parent.parent

# The reactor, seen from a test


def inThread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """
    Run blocking C{fn} in a thread while the reactor serves; return its result (or raise its exception).
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


# Components that record what they hear: the testing kit's (ratchetpy.testing.recorders)

# Servers


def inMemory(component: Any, data: bytes = b"", clock: Clock | None = None) -> tuple[Any, StringTransport]:
    """
    Send C{data} to C{component} behind HttpServer and IoServer on a StringTransport; return protocol and transport.
    """
    clock = clock or Clock()
    protocol = IoServer(HttpServer(component, reactor=clock), reactor=clock).buildProtocol(None)
    transport = StringTransport(peerAddress=IPv4Address("TCP", "192.0.2.1", 5555))
    protocol.makeConnection(transport)
    protocol.dataReceived(data)
    return protocol, transport


def serveWebSocket(
    listen: Callable[..., IoServer],
    component: Any,
    *,
    http: dict[str, Any] | None = None,
    io: dict[str, Any] | None = None,
    **wsOptions: Any,
) -> tuple[IoServer, str]:
    """
    Serve C{listen(HttpServer(WsServer(component, **wsOptions), **http), **io)}; return it and its C{ws://.../} URL.
    """
    server = listen(HttpServer(WsServer(component, **wsOptions), **(http or {})), **(io or {}))
    return server, f"ws://127.0.0.1:{server.portNumber}/"


def freePort() -> int:
    """
    A TCP port on 127.0.0.1 that nothing listens on just now.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# Blocking clients over loopback


def exchange(port: int, *parts: bytes, pause: float = 0.0, timeout: float = 10.0, resets: bool = False) -> bytes:
    """
    (Blocking client.) Send C{parts}, then read until the server closes (or, with C{resets}, resets); return what came.
    """
    received = bytearray()
    with socket.socket() as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(("127.0.0.1", port))  # a peer cut at once may see the reset as early as this
            for part in parts:
                sock.sendall(part)
                if pause:
                    time.sleep(pause)
            while chunk := sock.recv(65536):
                received += chunk
        except (ConnectionResetError, BrokenPipeError):
            if not resets:
                raise
    return bytes(received)


def openWebSocket(
    port: int,
    path: str = "/",
    *,
    timeout: float | None = 30.0,
    receiveBuffer: int | None = None,
    context: ssl.SSLContext | None = None,
) -> socket.socket:
    """
    (Blocking client.) A raw socket that completes a WebSocket handshake (fails unless 101) and then reads nothing.
    """
    sock = socket.socket()
    if receiveBuffer is not None:
        # Set before connecting, so the window advertised to the server is small.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receiveBuffer)
    sock.settimeout(timeout)
    sock.connect(("127.0.0.1", port))
    if context is not None:
        sock = context.wrap_socket(sock, server_hostname="localhost", suppress_ragged_eofs=False)
    sock.sendall(upgradeRequest(path))
    head = readHead(sock)
    assert head.startswith(b"HTTP/1.1 101 "), head or "the server closed the connection during the handshake"
    return sock


def closeCodeAfter(
    url: str, send: str | bytes | None = None, *, timeout: float = 30.0, **connectOptions: Any
) -> int | None:
    """
    (Blocking client.) Connect with websockets, send C{send} if given; return the close code the server ends with.
    """
    with connect(url, **{"open_timeout": timeout, **connectOptions}) as ws:
        if send is not None:
            ws.send(send)
        try:
            while True:
                ws.recv(timeout=timeout)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None


def connectFrom(source: str, port: int, timeout: float = 10.0) -> socket.socket:
    """
    (Blocking client.) A TCP connection to loopback C{port} from the local
    address C{source} (say C{"127.0.0.2"}), as a client behind a proxy would be.
    """
    sock = socket.socket()
    sock.bind((source, 0))
    sock.settimeout(timeout)
    sock.connect(("127.0.0.1", port))
    return sock


def readHead(sock: socket.socket) -> bytes:
    """
    (Blocking client.) Read a response head byte by byte, leaving what follows unread; less if the peer closes.
    """
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        if not chunk:
            break
        head += chunk
    return head


# HTTP and WebSocket bytes


def upgradeRequest(path: str = "/", host: str = "127.0.0.1") -> bytes:
    """
    A WebSocket opening handshake request (version 13, a fresh key).
    """
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def statusOf(data: bytes) -> int | None:
    """
    The status of an HTTP response (or of its head alone); None for no bytes at all.
    """
    return int(data.split(b" ", 2)[1]) if data else None


def parseResponse(data: bytes) -> tuple[int, dict[str, str], bytes]:
    """
    An HTTP response's status, headers (names in lower case) and body.
    """
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split(" ", 2)[1]), headers, body


#: The mask L{frame} uses unless told otherwise.
MASK = b"\x0f\xf0\x55\xaa"


def frame(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0, mask: bytes | None = MASK) -> bytes:
    """
    One WebSocket frame as a client sends it (masked unless C{mask} is None).
    """
    header = bytes([(0x80 if fin else 0) | rsv | opcode])
    bit = 0x80 if mask is not None else 0
    if len(payload) < 126:
        header += bytes([bit | len(payload)])
    elif len(payload) < 2**16:
        header += bytes([bit | 126]) + len(payload).to_bytes(2, "big")
    else:
        header += bytes([bit | 127]) + len(payload).to_bytes(8, "big")
    if mask is None:
        return header + payload
    return header + mask + bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))


# TLS


def makeCertificate(directory: Path, name: str = "localhost") -> tuple[Path, Path]:
    """
    Write a self-signed key.pem and cert.pem for C{name} (and 127.0.0.1) into C{directory}; return their paths.
    """
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
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


# Processes


class Twistd:
    """
    A C{twistd -n ratchetpy ...} subprocess, started from the repository root.
    """

    def __init__(
        self, *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None, twistdOptions: tuple[str, ...] = ()
    ) -> None:
        # twistdOptions: twistd's own (--logger=...), before the plugin's name.
        twistd = Path(sys.executable).with_name("twistd")
        self.argv = [str(twistd), "-n", "--pidfile=", *twistdOptions, "ratchetpy", *args]
        self.process = subprocess.Popen(
            self.argv,
            cwd=cwd,
            env=env or os.environ.copy(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        credentials.SERVERS.append(self)
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
        """
        The port number of the server's "listening on tcp:..." line.
        """
        return int(self.readUntil(r"ratchetpy listening on tcp:[^ ]*:(\d+)").group(1))

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """
        Send C{sig} (SIGKILL after C{timeout}) and read the rest of the output; return the exit status.
        """
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
        """
        The output read so far.
        """
        return "".join(self.lines)


class RedisServer:
    """
    A C{redis-server} on a free loopback port, no persistence; L{stop}, L{kill}, L{start} again on the same port.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = freePort()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        """
        Start the server and wait until it answers PING.
        """
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
        """
        End the server with SIGTERM (SIGKILL if it takes over 10 seconds).
        """
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
