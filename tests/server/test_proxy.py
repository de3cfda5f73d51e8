"""
The PROXY protocol (haproxy: endpoints): the component, the limits and the
blacklist see the client the header names, only once it has been read;
connections without a valid header are closed with a rate-limited line; and
Debian's HAProxy in front, with send-proxy, send-proxy-v2 and the header
before TLS, shows the client's address to the component.
"""

from __future__ import annotations

import socket
import struct
import subprocess
import time
from typing import Any

import pytest
import pytest_twisted
from websockets.sync.client import connect

from ratchetpy import HttpServer, IpBlackList, MessageComponent, WsServer
from ratchetpy.server import proxy
from tests.helpers import (
    Recorder,
    connectFrom,
    exchange,
    freePort,
    inThread,
    makeCertificate,
    readHead,
    statusOf,
    upgradeRequest,
    waitUntil,
)
from tests.test_scaling import Proxy

HAPROXY = "haproxy:tcp:0:interface=127.0.0.1"

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def v1Header(source: str, sourcePort: int = 5555) -> bytes:
    family = "TCP6" if ":" in source else "TCP4"
    destination = "::1" if family == "TCP6" else "127.0.0.1"
    return f"PROXY {family} {source} {destination} {sourcePort} 80\r\n".encode()


def v2Header(source: str, sourcePort: int = 5555) -> bytes:
    addresses = socket.inet_aton(source) + socket.inet_aton("127.0.0.1") + struct.pack("!HH", sourcePort, 80)
    # Version 2, PROXY command; TCP over IPv4.
    return V2_SIGNATURE + bytes([0x21, 0x11]) + struct.pack("!H", len(addresses)) + addresses


class Whoami(MessageComponent):
    """
    Tells each WebSocket client who it is, as the server sees it.
    """

    def onOpen(self, conn):
        conn.send(f"{conn.remoteAddress} {conn.peerAddress}")

    def onMessage(self, conn, msg):
        conn.send(msg)


class Greeter(Recorder):
    """
    A raw component that speaks first: the greeting names the client.
    """

    def onOpen(self, conn):
        conn.send(f"hello {conn.remoteAddress}\n")
        return super().onOpen(conn)


def opened(recorder: Recorder) -> list[Any]:
    return [event[1] for event in recorder.events if event[0] == "onOpen"]


# The header, over loopback


@pytest.mark.parametrize("header", [v1Header, v2Header], ids=["v1", "v2"])
def test_headerNamesTheClient(listen, header):
    """
    The component is opened once the header is in, with the client it names
    as remoteAddress and the socket's peer as peerAddress; the bytes after
    the header are its first message.
    """
    recorder = Recorder()
    server = listen(recorder, HAPROXY)
    with socket.create_connection(("127.0.0.1", server.portNumber)) as sock:
        sock.sendall(header("198.51.100.7") + b"hello")
        waitUntil(lambda: recorder.messages(), what="the first message")
        (conn,) = opened(recorder)
        assert (conn.remoteAddress, conn.peerAddress) == ("198.51.100.7", "127.0.0.1")
        assert recorder.hooks()[:2] == ["onOpen", "onMessage"]
        assert recorder.messages() == [b"hello"]
        assert server.openConnections.connectionsFrom("198.51.100.7") == 1
        assert server.openConnections.connectionsFrom("127.0.0.1") == 0
    waitUntil(lambda: "onClose" in recorder.hooks(), what="onClose")
    assert server.openConnections.count == 0


def test_ipv6Header(listen):
    """
    A TCP6 header names an IPv6 client, in canonical form.
    """
    recorder = Recorder()
    server = listen(recorder, HAPROXY)
    with socket.create_connection(("127.0.0.1", server.portNumber)) as sock:
        sock.sendall(v1Header("2001:DB8::0007") + b"hi")
        waitUntil(lambda: recorder.messages(), what="the first message")
        (conn,) = opened(recorder)
        assert (conn.remoteAddress, conn.peerAddress) == ("2001:db8::7", "127.0.0.1")


def test_twistedsOwnWrapper(listen):
    """
    With Twisted's own PROXY endpoint (an endpoint object, not a string), which
    cannot say when the header is in, the connection opens with the first
    bytes after it, with the client's address.
    """
    from twisted.internet import reactor
    from twisted.internet.endpoints import TCP4ServerEndpoint
    from twisted.protocols.haproxy import proxyEndpoint

    recorder = Recorder()
    server = listen(recorder, proxyEndpoint(TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1")))
    with socket.create_connection(("127.0.0.1", server.portNumber)) as sock:
        sock.sendall(v2Header("198.51.100.8"))
        sock.sendall(b"hello")
        waitUntil(lambda: recorder.messages(), what="the first message")
        (conn,) = opened(recorder)
        assert (conn.remoteAddress, conn.peerAddress) == ("198.51.100.8", "127.0.0.1")
        assert server.openConnections.connectionsFrom("198.51.100.8") == 1


def test_nothingBeforeTheHeader(listen):
    """
    Until the header has arrived the component knows nothing of the
    connection and it is not counted; a header alone opens it (a server that
    speaks first greets the client it names).
    """
    greeter = Greeter()
    server = listen(greeter, HAPROXY)

    def greeted() -> tuple[list[str], bytes]:
        with socket.create_connection(("127.0.0.1", server.portNumber), timeout=10) as sock:
            sock.sendall(b"PROXY TCP4 198.51.100.9 127.0.0.1 ")
            time.sleep(0.2)
            hooksBefore = list(greeter.hooks())
            sock.sendall(b"40000 80\r\n")
            return hooksBefore, sock.recv(100)

    hooksBefore, greeting = inThread(greeted)
    assert hooksBefore == []
    assert greeting == b"hello 198.51.100.9\n"


@pytest.mark.parametrize(
    "data",
    [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"PROXY TCP4 nonsense\r\n", V2_SIGNATURE + b"\x99\x11\x00\x00"],
    ids=["no header", "bad v1", "bad v2"],
)
def test_invalidHeaderIsClosedAndLogged(listen, logged, data):
    """
    A connection that does not start with a valid header is closed without
    an answer, the component never hears of it, and one line says why and
    what to set on the proxy.
    """
    recorder = Recorder()
    server = listen(HttpServer(WsServer(recorder)), HAPROXY)
    assert inThread(exchange, server.portNumber, data, resets=True) == b""
    waitUntil(lambda: any("PROXY protocol header" in line for line in logged()), what="the log line")
    (line,) = [line for line in logged() if "PROXY protocol header" in line]
    assert "no valid PROXY protocol header" in line and "send-proxy" in line
    assert recorder.events == []
    assert server.openConnections.count == 0


def test_invalidHeaderLinesAreRateLimited(listen, logged):
    """
    A flood of connections without a header logs at most the budget's lines.
    """
    server = listen(Recorder(), HAPROXY)
    for _ in range(30):
        inThread(exchange, server.portNumber, b"GET / HTTP/1.1\r\n\r\n", resets=True)
    waitUntil(lambda: server.connectionCount == 0, what="every connection closed")
    assert len([line for line in logged() if "no valid PROXY protocol header" in line]) == 20


def test_headerTimeout(listen, logged, monkeypatch):
    """
    A connection that sends no header is cut after the header timeout, with
    one line.
    """
    monkeypatch.setattr(proxy, "PROXY_HEADER_TIMEOUT", 0.3)
    recorder = Recorder()
    server = listen(recorder, HAPROXY)
    assert inThread(exchange, server.portNumber, resets=True, timeout=5) == b""
    assert any("no PROXY protocol header within 0.3 seconds" in line for line in logged())
    assert recorder.events == []


def test_blacklistSeesTheClient(listen):
    """
    IpBlackList in front of everything matches the client the header names.
    """
    blacklist = IpBlackList(HttpServer(WsServer(Whoami()))).blockAddress("198.51.100.0/24")
    server = listen(blacklist, HAPROXY)

    def handshake(client: str) -> bytes:
        with socket.create_connection(("127.0.0.1", server.portNumber), timeout=10) as sock:
            sock.sendall(v1Header(client) + upgradeRequest())
            try:
                return readHead(sock)
            except ConnectionResetError:
                return b""

    assert inThread(handshake, "198.51.100.7") == b""
    assert statusOf(inThread(handshake, "203.0.113.7")) == 101


def test_perIpLimitCountsTheClient(listen):
    """
    maxConnectionsPerIp counts the clients the headers name, not the proxy.
    """
    server = listen(HttpServer(WsServer(Whoami()), maxConnectionsPerIp=1), HAPROXY)

    def handshakes() -> list[int | None]:
        socks, statuses = [], []
        try:
            for client in ("203.0.113.1", "203.0.113.2", "203.0.113.1"):
                sock = socket.create_connection(("127.0.0.1", server.portNumber), timeout=10)
                socks.append(sock)
                sock.sendall(v1Header(client) + upgradeRequest())
                statuses.append(statusOf(readHead(sock)))
        finally:
            for sock in socks:
                sock.close()
        return statuses

    assert inThread(handshakes) == [101, 101, 503]


# HAProxy in front


@pytest.fixture
def proxies():
    started: list[Proxy] = []

    def _start(argv: list[str], port: int) -> Proxy:
        started.append(Proxy(argv, port))
        return started[-1]

    yield _start
    for running in started:
        running.stop()


def startHaproxy(proxies, tmp_path, backend: int, serverOptions: str) -> int:
    """
    HAProxy on a free loopback port, in front of C{backend} with
    C{serverOptions} on its server line; return its port.
    """
    front = freePort()
    config = tmp_path / "haproxy.cfg"
    config.write_text(
        "global\n    maxconn 100\n\n"
        "defaults\n    mode http\n    timeout connect 5s\n    timeout client 30s\n    timeout server 30s\n"
        "    timeout tunnel 30s\n\n"
        f"frontend websockets\n    bind 127.0.0.1:{front}\n    default_backend ratchetpy\n\n"
        f"backend ratchetpy\n    server chat1 127.0.0.1:{backend} {serverOptions}\n"
    )
    check = subprocess.run(["haproxy", "-c", "-f", str(config)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    proxies(["haproxy", "-db", "-f", str(config)], front)
    return front


def whoFrom(source: str, port: int, path: str = "/") -> str:
    """
    (Blocking client.) What Whoami tells a WebSocket client connecting from
    C{source}.
    """
    sock = connectFrom(source, port)
    with connect(f"ws://127.0.0.1:{port}{path}", sock=sock, open_timeout=10) as ws:
        return str(ws.recv(timeout=10))


@pytest.mark.parametrize("sendProxy", ["send-proxy", "send-proxy-v2"])
def test_haproxySendProxy(listen, proxies, tmp_path, sendProxy):
    """
    Behind HAProxy with send-proxy (v1) or send-proxy-v2, the component sees
    the client's address (the client binds 127.0.0.2) as remoteAddress and
    HAProxy's as peerAddress.
    """
    server = listen(HttpServer(WsServer(Whoami())), HAPROXY)
    front = startHaproxy(proxies, tmp_path, server.portNumber, f"{sendProxy} check")
    assert inThread(whoFrom, "127.0.0.2", front) == "127.0.0.2 127.0.0.1"
    assert inThread(whoFrom, "127.0.0.3", front) == "127.0.0.3 127.0.0.1"


def test_haproxyPerIpLimit(listen, proxies, tmp_path):
    """
    With maxConnectionsPerIp=1 behind HAProxy, a second connection from the
    same client gets 503 while another client is served.
    """
    server = listen(HttpServer(WsServer(Whoami()), maxConnectionsPerIp=1), HAPROXY)
    front = startHaproxy(proxies, tmp_path, server.portNumber, "send-proxy-v2")

    def attempt() -> tuple[int | None, str]:
        sock = connectFrom("127.0.0.2", front)
        with connect(f"ws://127.0.0.1:{front}/", sock=sock, open_timeout=10) as first:
            first.recv(timeout=10)
            second = connectFrom("127.0.0.2", front)
            with second:
                second.sendall(upgradeRequest())
                status = statusOf(readHead(second))
            return status, whoFrom("127.0.0.3", front)

    assert inThread(attempt) == (503, "127.0.0.3 127.0.0.1")


def test_haproxyHeaderBeforeTls(listen, proxies, tmp_path):
    """
    haproxy:ssl: reads the header before the TLS handshake, as HAProxy sends
    it with send-proxy to an ssl server.
    """
    key, cert = makeCertificate(tmp_path)
    server = listen(
        HttpServer(WsServer(Whoami())), f"haproxy:ssl:0:interface=127.0.0.1:privateKey={key}:certKey={cert}"
    )
    front = startHaproxy(proxies, tmp_path, server.portNumber, "send-proxy ssl verify none")
    assert inThread(whoFrom, "127.0.0.2", front) == "127.0.0.2 127.0.0.1"


def test_twistdHaproxyPort(twistd):
    """
    twistd --port haproxy:tcp:...: a header names the client; a connection
    without one is closed with a line saying what to set on the proxy.
    """
    process = twistd("--component", "examples.chat:Chat", "--port", HAPROXY)
    port = process.waitForPort()

    def clients() -> tuple[bytes, bytes]:
        refused = exchange(port, upgradeRequest(), resets=True)
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        with sock:
            sock.sendall(v2Header("192.0.2.44") + upgradeRequest())
            return refused, readHead(sock)

    refused, head = inThread(clients)
    assert refused == b""
    assert statusOf(head) == 101
    process.readUntil(r"closed connection from 127\.0\.0\.1:\d+: no valid PROXY protocol header .*send-proxy")
    process.readUntil(r"New connection! \(")


def test_shutdownClosesConnectionsWaitingForTheirHeader(listen):
    """
    Shutdown closes a connection that has not sent its header yet, and
    waits for it, without opening it.
    """
    recorder = Recorder()
    server = listen(recorder, HAPROXY)
    with socket.create_connection(("127.0.0.1", server.portNumber), timeout=10) as sock:
        waitUntil(lambda: server.connectionCount == 1, what="the connection accepted")
        pytest_twisted.blockon(server.shutdown())
        assert server.connectionCount == 0
        assert inThread(sock.recv, 10) == b""
    assert recorder.events == []
