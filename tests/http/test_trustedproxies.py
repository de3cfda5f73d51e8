"""
HttpServer(trustedProxies=...): the client's address from X-Forwarded-For or
Forwarded, believed only from trusted proxies, feeding remoteAddress, the
per-IP limit, IpBlackList, OriginCheck and the log lines; with Debian's nginx
in front, and through twistd's --trusted-proxies.
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest
import pytest_twisted
from twisted.python import usage

from ratchetpy import App, HttpServer, IpBlackList, OriginCheck, WsServer
from ratchetpy.tap import Options
from tests.helpers import connectFrom, exchange, freePort, inThread, readHead, statusOf, upgradeRequest, waitUntil
from tests.server.test_proxy import Whoami, whoFrom
from tests.test_scaling import Proxy


def upgradeWith(*headers: str) -> bytes:
    """
    A WebSocket upgrade request with C{headers} ("Name: value") added.
    """
    request = upgradeRequest()
    return request[:-2] + "".join(f"{header}\r\n" for header in headers).encode() + b"\r\n"


def whoami(port: int, *headers: str) -> str:
    """
    (Blocking client.) What Whoami tells a client that sends C{headers}
    with its upgrade request: the second frame's text, after the 101.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(upgradeWith(*headers))
        head = readHead(sock)
        assert statusOf(head) == 101, head
        first = sock.recv(2)
        assert first[0] == 0x81, first  # one unmasked text frame
        return sock.recv(first[1]).decode()


def serve(listen, **options) -> int:
    return listen(HttpServer(WsServer(Whoami()), **options)).portNumber


def test_untrustedPeerIsNotBelieved(listen):
    """
    By default no proxy is trusted: a client's X-Forwarded-For is ignored.
    The same from a peer that is not in trustedProxies.
    """
    assert inThread(whoami, serve(listen), "X-Forwarded-For: 6.6.6.6") == "127.0.0.1 127.0.0.1"
    port = serve(listen, trustedProxies=["10.0.0.0/8"])
    assert inThread(whoami, port, "X-Forwarded-For: 6.6.6.6") == "127.0.0.1 127.0.0.1"


def test_trustedProxyNamesTheClient(listen):
    """
    From a trusted proxy, the client is the rightmost untrusted entry, across
    header lines; peerAddress stays the proxy's.
    """
    port = serve(listen, trustedProxies=["127.0.0.1", "10.0.0.0/8"])
    assert inThread(whoami, port, "X-Forwarded-For: 6.6.6.6, 203.0.113.5") == "203.0.113.5 127.0.0.1"
    assert inThread(whoami, port, "X-Forwarded-For: 6.6.6.6", "X-Forwarded-For: 2001:db8::5, 10.1.1.1") == (
        "2001:db8::5 127.0.0.1"
    )
    assert inThread(whoami, port) == "127.0.0.1 127.0.0.1"


def test_proxyOnAUnixSocket(listen, tmp_path):
    """
    "unix" trusts peers of a UNIX socket (a proxy on the same machine); they
    are not trusted otherwise.
    """
    path = tmp_path / "chat.sock"

    def whoamiOverUnix() -> str:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(10)
            sock.connect(str(path))
            sock.sendall(upgradeWith("X-Forwarded-For: 6.6.6.6, 203.0.113.8"))
            assert statusOf(readHead(sock)) == 101
            first = sock.recv(2)
            return sock.recv(first[1]).decode()

    server = listen(HttpServer(WsServer(Whoami()), trustedProxies=["unix"]), f"unix:{path}")
    assert inThread(whoamiOverUnix) == "203.0.113.8 "
    pytest_twisted.blockon(server.shutdown())
    listen(HttpServer(WsServer(Whoami()), trustedProxies=["127.0.0.1"]), f"unix:{path}")
    assert inThread(whoamiOverUnix) == " "


def test_forwardedHeader(listen):
    """
    With forwardedHeader="Forwarded" the RFC 7239 header is read, and
    X-Forwarded-For is not (a client could otherwise choose).
    """
    port = serve(listen, trustedProxies=["127.0.0.1"], forwardedHeader="Forwarded")
    assert inThread(whoami, port, 'Forwarded: for=6.6.6.6, for="[2001:db8::9]:4711";proto=https') == (
        "2001:db8::9 127.0.0.1"
    )
    assert inThread(whoami, port, "X-Forwarded-For: 6.6.6.6") == "127.0.0.1 127.0.0.1"


def test_perIpLimitAppliesToTheClient(listen, logged):
    """
    The connection is counted toward its client: a second from the same
    client behind the proxy gets 503, one from another client is served, and
    the refusal's line names the client and the proxy.
    """
    server = listen(HttpServer(WsServer(Whoami()), trustedProxies=["127.0.0.1"], maxConnectionsPerIp=1))

    def attempts() -> tuple[list[int | None], int, int]:
        socks, statuses = [], []
        try:
            for client in ("203.0.113.1", "203.0.113.1", "203.0.113.2"):
                sock = socket.create_connection(("127.0.0.1", server.portNumber), timeout=10)
                socks.append(sock)
                sock.sendall(upgradeWith(f"X-Forwarded-For: {client}"))
                statuses.append(statusOf(readHead(sock)))
            counts = server.openConnections.connectionsFrom("203.0.113.1"), server.openConnections.connectionsFrom(
                "127.0.0.1"
            )
        finally:
            for sock in socks:
                sock.close()
        return statuses, *counts

    statuses, fromClient, fromProxy = inThread(attempts)
    assert statuses == [101, 503, 101]
    assert (fromClient, fromProxy) == (1, 0)
    assert any(
        "answered 503 to 203.0.113.1 via 127.0.0.1" in line and "more than 1 connections from 203.0.113.1" in line
        for line in logged()
    )
    waitUntil(lambda: server.openConnections.count == 0, what="every connection closed")
    assert server.openConnections.connectionsFrom("203.0.113.2") == 0


def test_blacklistInsideTheHttpLayer(listen):
    """
    An IpBlackList behind HttpServer sees the client a trusted proxy names.
    """
    blacklist = IpBlackList(WsServer(Whoami())).blockAddress("203.0.113.0/24")
    port = listen(HttpServer(blacklist, trustedProxies=["127.0.0.1"])).portNumber
    refused = inThread(exchange, port, upgradeWith("X-Forwarded-For: 203.0.113.9"), resets=True)
    assert refused == b""
    assert inThread(whoami, port, "X-Forwarded-For: 198.51.100.1") == "198.51.100.1 127.0.0.1"


def test_originRefusalNamesTheClient(listen, logged):
    """
    OriginCheck's 403 line names the client behind the proxy.
    """
    port = listen(HttpServer(OriginCheck(WsServer(Whoami())), trustedProxies=["127.0.0.1"])).portNumber
    response = inThread(exchange, port, upgradeWith("X-Forwarded-For: 198.51.100.3", "Origin: https://evil.example"))
    assert statusOf(response) == 403
    assert any("answered 403 to 198.51.100.3 via 127.0.0.1" in line for line in logged())


def test_garbageEntryIsLoggedAndBounded(listen, logged):
    """
    Garbage where an address should be stops at the proxy, with one line
    that quotes at most 100 characters of it.
    """
    port = serve(listen, trustedProxies=["127.0.0.1"])
    assert inThread(whoami, port, "X-Forwarded-For: 6.6.6.6, " + "x" * 500) == "127.0.0.1 127.0.0.1"
    (line,) = [line for line in logged() if "names no address" in line]
    assert "X-Forwarded-For entry 'xxxx" in line and "x" * 101 not in line
    assert "the client is taken to be 127.0.0.1" in line


def test_appTakesTrustedProxies():
    app = App(trustedProxies=["10.0.0.0/8"], forwardedHeader="Forwarded")
    http = app.server.component
    assert "10.2.3.4" in http.trustedProxies and http.forwardedHeader == "Forwarded"


@pytest.mark.parametrize(
    "options, error",
    [
        ({"trustedProxies": ["nonsense"]}, (ValueError, "trustedProxies must be IP addresses and networks")),
        ({"trustedProxies": "10.0.0.1"}, (TypeError, r"a list of addresses and networks, such as \['10.0.0.1'\]")),
        ({"forwardedHeader": "X-Real-IP"}, (ValueError, "forwardedHeader must be one of 'X-Forwarded-For'")),
    ],
)
def test_badOptions(options, error):
    kind, message = error
    with pytest.raises(kind, match=message):
        HttpServer(WsServer(Whoami()), **options)


def test_twistdOptions():
    """
    --trusted-proxies takes comma-separated addresses and networks; a bad one
    is a usage error naming the flag.
    """
    options = Options()
    options.parseOptions(["--component", "examples.chat:Chat", "--trusted-proxies", "10.0.0.0/8, 127.0.0.1"])
    assert options["trusted-proxies"] == ("10.0.0.0/8", "127.0.0.1")
    with pytest.raises(usage.UsageError, match=r"--trusted-proxies must be IP addresses and networks \(or unix, "
                       r"for UNIX socket peers\), e.g. 10.0.0.0/8,127.0.0.1, not 10.0.0.0/8,nonsense"):
        Options().parseOptions(["--component", "examples.chat:Chat", "--trusted-proxies", "10.0.0.0/8,nonsense"])


def test_twistdPerIpLimitBehindProxy(twistd):
    """
    twistd --trusted-proxies 127.0.0.1 --max-connections-per-ip 1: the limit
    and its log line are the client's.
    """
    process = twistd(
        "--component", "examples.echo:Echo", "--port", "tcp:0:interface=127.0.0.1",
        "--trusted-proxies", "127.0.0.1", "--max-connections-per-ip", "1",
    )
    port = process.waitForPort()

    def attempts() -> list[int | None]:
        socks, statuses = [], []
        try:
            for client in ("203.0.113.1", "203.0.113.2", "203.0.113.1"):
                sock = socket.create_connection(("127.0.0.1", port), timeout=10)
                socks.append(sock)
                sock.sendall(upgradeWith(f"X-Forwarded-For: {client}"))
                statuses.append(statusOf(readHead(sock)))
        finally:
            for sock in socks:
                sock.close()
        return statuses

    assert inThread(attempts) == [101, 101, 503]
    process.readUntil(r"answered 503 to 203\.0\.113\.1 via 127\.0\.0\.1 .*more than 1 connections from 203\.0\.113\.1 "
                      r"\(raise --max-connections-per-ip\)")


# nginx in front


def startNginx(tmp_path: Path, backend: int) -> tuple[list[str], int]:
    """
    The argv of a foreground nginx on a free loopback port that proxies
    WebSockets to C{backend} the way docs/scaling.md does, and that port.
    """
    front = freePort()
    prefix = tmp_path / "nginx"
    for directory in ("logs", "temp"):
        (prefix / directory).mkdir(parents=True)
    path = prefix / "nginx.conf"
    path.write_text(
        f"daemon off;\nmaster_process off;\npid {prefix}/nginx.pid;\nerror_log {prefix}/logs/error.log;\n"
        "events {}\nhttp {\n    access_log off;\n"
        f"    client_body_temp_path {prefix}/temp/body;\n    proxy_temp_path {prefix}/temp/proxy;\n"
        f"    fastcgi_temp_path {prefix}/temp/fastcgi;\n    uwsgi_temp_path {prefix}/temp/uwsgi;\n"
        f"    scgi_temp_path {prefix}/temp/scgi;\n"
        f"    server {{\n        listen 127.0.0.1:{front};\n        location / {{\n"
        f"            proxy_pass http://127.0.0.1:{backend};\n            proxy_http_version 1.1;\n"
        "            proxy_set_header Upgrade $http_upgrade;\n            proxy_set_header Connection upgrade;\n"
        "            proxy_set_header Host $host;\n"
        "            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
        "        }\n    }\n}\n"
    )
    argv = ["nginx", "-p", str(prefix), "-c", str(path)]
    check = subprocess.run([*argv, "-t"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    return argv, front


@pytest.fixture
def nginx(tmp_path):
    started: list[Proxy] = []

    def _start(backend: int) -> int:
        argv, front = startNginx(tmp_path, backend)
        started.append(Proxy(argv, front))
        return front

    yield _start
    for running in started:
        running.stop()


def test_nginxXForwardedFor(listen, nginx):
    """
    Behind nginx appending to X-Forwarded-For, with 127.0.0.1 trusted: the
    component sees the client (bound to 127.0.0.2) and nginx as the peer;
    what the client wrote into the header itself is not believed.
    """
    front = nginx(serve(listen, trustedProxies=["127.0.0.1"]))
    assert inThread(whoFrom, "127.0.0.2", front) == "127.0.0.2 127.0.0.1"

    def spoofing() -> str:
        sock = connectFrom("127.0.0.3", front)
        with sock:
            sock.sendall(upgradeWith("X-Forwarded-For: 6.6.6.6"))
            assert statusOf(readHead(sock)) == 101
            first = sock.recv(2)
            return sock.recv(first[1]).decode()

    assert inThread(spoofing) == "127.0.0.3 127.0.0.1"


def test_nginxUntrusted(listen, nginx):
    """
    Behind nginx without trustedProxies, every client is nginx.
    """
    front = nginx(serve(listen))
    assert inThread(whoFrom, "127.0.0.2", front) == "127.0.0.1 127.0.0.1"


def test_autobahnNamesTheClientToo(listen):
    """
    The WebSocket engine's own peer (what Autobahn's log lines print) is the
    client and the proxy, not the proxy alone.
    """
    peers = []

    class EnginePeer(Whoami):
        def onOpen(self, conn):
            peers.append(conn._protocol.peer)
            return super().onOpen(conn)

    port = listen(HttpServer(WsServer(EnginePeer()), trustedProxies=["127.0.0.1"])).portNumber
    assert inThread(whoami, port, "X-Forwarded-For: 203.0.113.5") == "203.0.113.5 127.0.0.1"
    assert inThread(whoami, port) == "127.0.0.1 127.0.0.1"
    assert peers[0] == "203.0.113.5 via 127.0.0.1"
    assert peers[1].startswith("tcp4:127.0.0.1:")


WHOAMI_APP = '''
from ratchetpy import MessageComponent


class Whoami(MessageComponent):
    def onOpen(self, conn):
        conn.send(f"{conn.remoteAddress} {conn.peerAddress}")

    def onMessage(self, conn, msg):
        conn.send(msg)
'''


def test_twistdBehindNginx(twistd, nginx, tmp_path):
    """
    twistd --trusted-proxies 127.0.0.1 --max-connections-per-ip 1 behind
    nginx: the component sees the client (127.0.0.2), not what it wrote in
    X-Forwarded-For; a second connection of that client gets 503 while
    another client (127.0.0.3) is served.
    """
    app = tmp_path / "app"
    app.mkdir()
    (app / "whoami_app.py").write_text(WHOAMI_APP)
    process = twistd(
        "--component", "whoami_app:Whoami", "--port", "tcp:0:interface=127.0.0.1",
        "--trusted-proxies", "127.0.0.1", "--max-connections-per-ip", "1", cwd=app,
    )
    front = nginx(process.waitForPort())

    def clients() -> tuple[str, int | None, str]:
        sock = connectFrom("127.0.0.2", front)
        with sock:
            sock.sendall(upgradeWith("X-Forwarded-For: 6.6.6.6"))
            assert statusOf(readHead(sock)) == 101
            first = sock.recv(2)
            seen = sock.recv(first[1]).decode()
            second = connectFrom("127.0.0.2", front)
            with second:
                second.sendall(upgradeRequest())
                status = statusOf(readHead(second))
            return seen, status, whoFrom("127.0.0.3", front)

    assert inThread(clients) == ("127.0.0.2 127.0.0.1", 503, "127.0.0.3 127.0.0.1")
    process.readUntil(r"answered 503 to 127\.0\.0\.2 via 127\.0\.0\.1 .*\(raise --max-connections-per-ip\)")
