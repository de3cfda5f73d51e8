"""
docs/scaling.md's load balancer setups, run for real: Debian's HAProxy and
nginx, with the configurations the page shows (addresses and ports swapped
for loopback ones), in front of two twistd chat servers started with the
page's commands and sharing a real redis-server.
"""

from __future__ import annotations

import shlex
import socket
import ssl
import subprocess
import time
from typing import Any

import pytest
from websockets.sync.client import connect

from tests.helpers import freePort, makeCertificate
from tests.test_docs import assertChatRelays, codeBlocks

SERVERS = ("10.0.0.11:8080", "10.0.0.12:8080")
CONNECTED = r"connected to Redis at "


def serverCommand(marker: str) -> list[str]:
    """
    The arguments of the one twistd command of the page's sh blocks that
    contains C{marker}.
    """
    lines = [line for block in codeBlocks("scaling.md", "sh") for line in block.splitlines() if marker in line]
    assert len(lines) == 1, f"docs/scaling.md should show one twistd command with {marker!r}"
    argv = shlex.split(lines[0])
    assert argv[:3] == ["twistd", "-n", "ratchetpy"]
    return argv[3:]


def startServers(twistd, args: list[str], redisUrl: str, port: str, *extra: str) -> list[Any]:
    """
    Two twistd processes with C{args}, the test's Redis as broker and
    C{port} as endpoint, once both are connected to Redis.
    """
    args = list(args)
    assert args[args.index("--broker") + 1] == "redis://10.0.0.10:6379/0"
    args[args.index("--broker") + 1] = redisUrl
    args[args.index("--port") + 1] = port
    processes = [twistd(*args, *extra) for _ in SERVERS]
    ports = [process.waitForPort() for process in processes]
    for process, listening in zip(processes, ports, strict=True):
        process.readUntil(CONNECTED)
        process.port = listening
    return processes


def assertBothServed(servers: list[Any]) -> None:
    """
    Each server got a client: the proxy spread them, so the chat crossed
    servers through Redis. Then a moment for each server's subscription to
    the room to reach Redis (a server hears a channel from a round trip
    after its first subscriber there).
    """
    for process in servers:
        process.readUntil(r"New connection! \(")
    time.sleep(0.3)


class Proxy:
    """
    A proxy process in the foreground, stopped by L{stop}.
    """

    def __init__(self, argv: list[str], port: int) -> None:
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise AssertionError(f"{argv[0]} did not start: {self.output}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.output = self.process.stdout.read().decode(errors="replace") if self.process.stdout else ""
        if self.process.stdout:
            self.process.stdout.close()


@pytest.fixture
def proxies():
    started: list[Proxy] = []

    def _start(argv: list[str], port: int) -> Proxy:
        proxy = Proxy(argv, port)
        started.append(proxy)
        return proxy

    yield _start
    for proxy in started:
        proxy.stop()


def test_haproxy(twistd, redisServer, proxies, tmp_path):
    """
    The HAProxy configuration (valid for `haproxy -c`) balances clients over
    the two servers, which are one chat room, sending them the PROXY header
    their haproxy: ports require (a connection without one would be closed).
    """
    blocks = codeBlocks("scaling.md", "haproxy")
    assert len(blocks) == 1
    servers = startServers(twistd, serverCommand("--port haproxy:tcp:"), redisServer.url,
                           "haproxy:tcp:0:interface=127.0.0.1")
    ports = [process.port for process in servers]
    front = freePort()
    config = blocks[0].replace("bind :80\n", f"bind 127.0.0.1:{front}\n")
    assert config.count("send-proxy-v2") == 2
    for written, port in zip(SERVERS, ports, strict=True):
        assert written in config
        config = config.replace(written, f"127.0.0.1:{port}")
    path = tmp_path / "haproxy.cfg"
    path.write_text("global\n    maxconn 1000\n\n" + config)
    check = subprocess.run(["haproxy", "-c", "-f", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    proxies(["haproxy", "-db", "-f", str(path)], front)

    # Round robin: alice on one server, bob on the other, carol on alice's.
    with connect(f"ws://127.0.0.1:{front}/") as alice, connect(f"ws://127.0.0.1:{front}/") as bob:
        assertBothServed(servers)
        assertChatRelays(alice, bob)
        with connect(f"ws://127.0.0.1:{front}/") as carol:
            bob.send("to everyone")
            assert alice.recv(timeout=10) == "to everyone"
            assert carol.recv(timeout=10) == "to everyone"


def test_nginx(twistd, redisServer, proxies, tmp_path):
    """
    The nginx configurations (valid for `nginx -t`) proxy WebSockets, plain
    and over TLS, to the two servers, which are one chat room.
    """
    blocks = codeBlocks("scaling.md", "nginx")
    assert len(blocks) == 2
    args = serverCommand("--trusted-proxies")
    assert args[args.index("--trusted-proxies") + 1] == "10.0.0.2"
    args[args.index("--trusted-proxies") + 1] = "127.0.0.1"
    servers = startServers(twistd, args, redisServer.url, "tcp:0:interface=127.0.0.1")
    ports = [process.port for process in servers]
    plain, tls = freePort(), freePort()
    key, cert = makeCertificate(tmp_path)
    config = "\n".join(blocks)
    assert config.count("listen 80;") == 1 and config.count("listen 443 ssl;") == 1
    config = config.replace("listen 80;", f"listen 127.0.0.1:{plain};")
    config = config.replace("listen 443 ssl;", f"listen 127.0.0.1:{tls} ssl;")
    config = config.replace("/etc/ssl/chat.example.com/cert.pem", str(cert))
    config = config.replace("/etc/ssl/chat.example.com/key.pem", str(key))
    for written, port in zip(SERVERS, ports, strict=True):
        assert written in config
        config = config.replace(written, f"127.0.0.1:{port}")
    prefix = tmp_path / "nginx"
    for directory in ("logs", "temp"):
        (prefix / directory).mkdir(parents=True)
    path = prefix / "nginx.conf"
    path.write_text(
        # Everything but the page's http-block contents: a minimal, foreground,
        # single-process nginx writing only under the test's directory.
        f"daemon off;\nmaster_process off;\npid {prefix}/nginx.pid;\nerror_log {prefix}/logs/error.log;\n"
        "events {}\nhttp {\n    access_log off;\n"
        f"    client_body_temp_path {prefix}/temp/body;\n    proxy_temp_path {prefix}/temp/proxy;\n"
        f"    fastcgi_temp_path {prefix}/temp/fastcgi;\n    uwsgi_temp_path {prefix}/temp/uwsgi;\n"
        f"    scgi_temp_path {prefix}/temp/scgi;\n{config}\n}}\n"
    )
    argv = ["nginx", "-p", str(prefix), "-c", str(path)]
    check = subprocess.run([*argv, "-t"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    proxies(argv, plain)

    with connect(f"ws://127.0.0.1:{plain}/") as alice, connect(f"ws://127.0.0.1:{plain}/") as bob:
        assertBothServed(servers)
        assertChatRelays(alice, bob)
    context = ssl.create_default_context(cafile=str(cert))
    with (
        connect(f"wss://localhost:{tls}/", ssl=context) as alice,
        connect(f"wss://localhost:{tls}/", ssl=context) as bob,
    ):
        assertBothServed(servers)
        assertChatRelays(alice, bob)

