"""
Connection limits: more than maxConnections in total, or maxConnectionsPerIp
from one address, get 503 with Retry-After before the upgrade; the counts go
back down as connections close; the defaults follow the open-file limit; the
twistd options reach the layer.
"""

from __future__ import annotations

import resource
import socket
import time

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from examples.echo import Echo
from ratchetpy import HttpServer, WsServer
from ratchetpy.server.limits import ConnectionCounter, ConnectionLimits, defaultMaxConnections
from tests.helpers import inThread, serveWebSocket, waitUntil


def serve(listen, **limits):
    """
    The echo example with C{limits} (HttpServer options); return its IoServer
    (which counts the connections) and URL.
    """
    return serveWebSocket(listen, Echo(), http=limits)


def refusal(url: str) -> tuple[int, object, bytes]:
    """
    (Blocking client.) The status, headers and body of a refused handshake.
    """
    with pytest.raises(InvalidStatus) as refused:
        connect(url, open_timeout=10)
    response = refused.value.response
    return response.status_code, response.headers, response.body  # headers: case-insensitive


@pytest.mark.parametrize("limits", [{"maxConnectionsPerIp": 2}, {"maxConnections": 2}])
def test_overTheLimitGets503WithRetryAfter(listen, limits):
    """
    With two connections open, a third gets 503 with Retry-After and a body
    saying which limit and which option raises it; the two keep working, and
    once one closes a new client is served.
    """
    server, url = serve(listen, retryAfter=7, **limits)

    def clients():
        with connect(url) as first, connect(url) as second:
            status, headers, body = refusal(url)
            second.send("still here")
            echoed = second.recv(timeout=10)
            first.close()
            deadline = time.monotonic() + 10
            while server.openConnections.count != 1 and time.monotonic() < deadline:
                time.sleep(0.01)  # the reactor uncounts the closed connections
            with connect(url) as third:
                third.send("after")
                after = third.recv(timeout=10)
        return status, headers, body, echoed, after

    status, headers, body, echoed, after = inThread(clients)
    assert status == 503
    assert headers["Retry-After"] == "7"
    # Built from Python, the server names the keyword (twistd: the flag, see test_tap).
    option = "maxConnectionsPerIp" if "maxConnectionsPerIp" in limits else "maxConnections"
    assert f"raise {option}".encode() in body
    assert (echoed, after) == ("still here", "after")
    waitUntil(lambda: server.openConnections.count == 0, what="every connection to be uncounted")
    assert server.openConnections.connectionsFrom("127.0.0.1") == 0


def test_halfOpenConnectionsCountToo(listen):
    """
    Connections still sending their head count toward the per-IP limit, so a
    client cannot hold more sockets than the limit by never finishing its
    requests; they are refused once their head arrives.
    """
    server, url = serve(listen, maxConnectionsPerIp=3)
    port = int(url.rsplit(":", 1)[1].strip("/"))

    def clients():
        stalled = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        for sock in stalled:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        status, _, _ = refusal(url)
        for sock in stalled:
            sock.close()
        return status

    assert inThread(clients) == 503
    waitUntil(lambda: server.openConnections.count == 0, what="every connection to be uncounted")


def test_zeroTurnsTheLimitsOff():
    """
    0 means no limit; negative limits are refused.
    """
    limits, counter = ConnectionLimits(0, 0), ConnectionCounter()
    for _ in range(10_000):
        counter.opened("10.0.0.1")
    assert counter.connectionsFrom("10.0.0.1") == 10_000
    assert limits.refusal(counter, "10.0.0.1") is None
    assert ConnectionLimits(9_999, 0).refusal(counter, "10.0.0.1").startswith("server full")
    assert "from 10.0.0.1" in ConnectionLimits(0, 9_999).refusal(counter, "10.0.0.1")
    with pytest.raises(ValueError):
        ConnectionLimits(-1, 0)


def test_defaultFollowsTheOpenFileLimit(monkeypatch):
    """
    The default maxConnections is 90% of the soft open-file limit, so the
    server answers 503 before accept() fails for want of descriptors.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert defaultMaxConnections() == max(1, soft * 9 // 10)
    monkeypatch.setattr(resource, "getrlimit", lambda which: (100_000, hard))
    assert defaultMaxConnections() == 90_000
    assert HttpServer(WsServer(Echo())).limits.maxConnections == defaultMaxConnections()


def test_twistdOptionsReachTheLayer(twistd):
    """
    --max-connections-per-ip 1 under twistd: a second simultaneous client
    gets 503, and the refusal is logged once with the option to raise.
    """
    process = twistd(
        "--component", "examples.echo:Echo", "--port", "tcp:0:interface=127.0.0.1", "--max-connections-per-ip", "1"
    )
    url = f"ws://127.0.0.1:{process.waitForPort()}/"
    with connect(url) as first:
        status, headers, _ = refusal(url)
        first.send("ok")
        assert first.recv(timeout=10) == "ok"
    assert status == 503
    assert "Retry-After" in headers
    process.readUntil(r"answered 503 to 127\.0\.0\.1 .*more than 1 connections from 127\.0\.0\.1")
