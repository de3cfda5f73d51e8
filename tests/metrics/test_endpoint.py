"""
The metrics endpoint of an in-process server: real clients (websockets) over
loopback, the endpoint read with a plain HTTP request and parsed with
prometheus_client's own parser.
"""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from typing import Any

import pytest_twisted
from prometheus_client.parser import text_string_to_metric_families
from websockets.sync.client import connect

from ratchetpy import ConnectionGroup, HttpServer, MessageComponent, WsServer
from ratchetpy.metrics.recorder import recording
from tests.helpers import exchange, frame, inThread, openWebSocket, serveWebSocket, waitUntil

LOOPBACK = "tcp:0:interface=127.0.0.1"


class Echoing(MessageComponent):
    """
    Echoes; "fail" raises; "all" is broadcast to every connection; "bye" closes with 4000.
    """

    def __init__(self) -> None:
        self.group = ConnectionGroup()

    def onOpen(self, conn: Any) -> None:
        self.group.add(conn)

    def onMessage(self, conn: Any, msg: str | bytes) -> None:
        if msg == "fail":
            raise RuntimeError("told to fail")
        if msg == "all":
            self.group.broadcast("everyone")
            return
        if msg == "bye":
            conn.close(4000, "bye")
            return
        conn.send(msg)

    def onClose(self, conn: Any) -> None:
        self.group.discard(conn)


def get(url: str) -> tuple[int, str, str]:
    """
    (Blocking.) The status, Content-Type and body of C{GET url}.
    """
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


def scrape(served: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """
    The samples of C{served}'s /metrics, by name and labels.
    """
    status, contentType, body = inThread(get, served.url + "/metrics")
    assert status == 200 and contentType.startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def roundTrip(url: str, text: str, **options: Any) -> str | bytes:
    """
    (Blocking.) Send C{text} on a new connection; what comes back.
    """
    with connect(url, **options) as ws:
        ws.send(text)
        return ws.recv(timeout=10)


def talk(url: str) -> None:
    """
    (Blocking.) Three echoes and a broadcast on one connection, a failing hook on another, a 4000 close on a third.
    """
    with connect(url) as ws:
        for text in ("a", "bb", "ccc"):
            ws.send(text)
            assert ws.recv(timeout=10) == text
        ws.send("all")
        assert ws.recv(timeout=10) == "everyone"
    with connect(url) as ws:
        ws.send("fail")
        try:
            ws.recv(timeout=10)
        except Exception:
            pass
    with connect(url) as ws:
        ws.send("bye")
        try:
            ws.recv(timeout=10)
        except Exception:
            pass


def test_counts(listen: Any, metrics: Any) -> None:
    """
    What clients do shows in /metrics: connections, messages and bytes both
    ways, broadcasts, hooks with their failures and durations, close codes
    sent and received; and an open connection counts as open, by kind.
    """
    server, url = serveWebSocket(listen, Echoing())
    served = metrics(server)
    inThread(talk, url)
    inThread(lambda: roundTrip(url, "all", compression=None))
    waitUntil(lambda: server.connectionCount == 0, what="every connection closed")
    samples = scrape(served)
    assert value(samples, "ratchetpy_connections_opened_total", kind="http") == 4
    assert value(samples, "ratchetpy_websocket_messages_received_total") == 7
    assert value(samples, "ratchetpy_websocket_received_bytes_total") == len("a" "bb" "ccc" "all" "fail" "bye" "all")
    # The broadcast too: the client negotiated permessage-deflate, so it was compressed for it alone.
    assert value(samples, "ratchetpy_websocket_messages_sent_total") == 4
    assert value(samples, "ratchetpy_websocket_sent_bytes_total") == len("a" "bb" "ccc" "everyone")
    # The last client's, framed once (without compression it is no send of its own).
    assert value(samples, "ratchetpy_broadcast_deliveries_total") == 2
    assert value(samples, "ratchetpy_hook_calls_total", hook="onOpen") == 4
    assert value(samples, "ratchetpy_hook_calls_total", hook="onMessage") == 7
    assert value(samples, "ratchetpy_hook_failures_total", hook="onMessage") == 1
    # One onMessage in 8 is timed: the first of the 7.
    assert value(samples, "ratchetpy_hook_duration_seconds_count", hook="onMessage") == 1
    assert value(samples, "ratchetpy_hook_duration_seconds_bucket", hook="onMessage", le="+Inf") == 1
    assert value(samples, "ratchetpy_hook_duration_seconds_count", hook="onOpen") == 4
    assert value(samples, "ratchetpy_websocket_handshake_duration_seconds_count") == 4
    assert value(samples, "ratchetpy_websocket_handshakes_started_total") == 4
    # Two clients closed, with 1000, and the server answered so; the others answered the server's close.
    for code, count in (("1000", 2), ("1011", 1), ("4000-4999", 1)):
        assert value(samples, "ratchetpy_websocket_closes_sent_total", code=code) == count
        assert value(samples, "ratchetpy_websocket_closes_received_total", code=code) == count
    assert value(samples, "ratchetpy_connections_open", kind="websocket") == 0
    assert value(samples, "process_resident_memory_bytes") > 0

    ws = inThread(openWebSocket, server.portNumber)
    inThread(ws.sendall, frame(0x1, b"x"))
    waitUntil(lambda: recording.hookTimings["onMessage"].calls == 8, what="the message")
    samples = scrape(served)
    assert value(samples, "ratchetpy_connections_open", kind="websocket") == 1
    # The open connection's traffic counts before it closes, and does not count twice after.
    assert value(samples, "ratchetpy_websocket_messages_received_total") == 8
    ws.close()
    waitUntil(lambda: server.connectionCount == 0, what="the connection closed")
    assert value(scrape(served), "ratchetpy_websocket_messages_received_total") == 8


def test_refusals(listen: Any, metrics: Any) -> None:
    """
    Requests the HTTP layer refuses are counted by reason and status.
    """
    server = listen(HttpServer(WsServer(Echoing()), maxConnectionsPerIp=1))
    served = metrics(server)
    before = scrape(served)
    with socket.create_connection(("127.0.0.1", server.portNumber)):
        waitUntil(lambda: server.connectionCount == 1)
        # A second connection from this address is over the limit: 503.
        inThread(exchange, server.portNumber, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    inThread(exchange, server.portNumber, b"NOT HTTP\r\n\r\n")
    samples = scrape(served)
    assert value(samples, "ratchetpy_connection_limit_refusals_total", limit="per_ip") == 1
    assert value(samples, "ratchetpy_connection_limit_refusals_total", limit="total") == 0
    for reason, status in (("over_limit", "503"), ("bad_request", "400")):
        labels = {"reason": reason, "status": status}
        assert value(samples, "ratchetpy_connections_refused_total", **labels) == (
            value(before, "ratchetpy_connections_refused_total", **labels) + 1
        )


def test_health(listen: Any, metrics: Any) -> None:
    """
    /healthz answers while the process does; /readyz is 503 with a reason
    before the server listens and while it shuts down, 200 otherwise; other
    paths are 404 and other methods 405.
    """
    from ratchetpy import IoServer

    server = IoServer(HttpServer(WsServer(Echoing())), LOOPBACK)
    served = metrics(server)
    assert inThread(get, served.url + "/healthz")[::2] == (200, "ok\n")
    assert inThread(get, served.url + "/readyz")[::2] == (503, "not ready: not listening yet\n")
    pytest_twisted.blockon(server.listen())
    assert inThread(get, served.url + "/readyz")[::2] == (200, "ready\n")
    served.drain()
    assert inThread(get, served.url + "/readyz")[::2] == (503, "not ready: shutting down\n")
    pytest_twisted.blockon(server.shutdown())
    assert inThread(get, served.url + "/nothing")[0] == 404
    request = urllib.request.Request(served.url + "/metrics", method="POST", data=b"")
    assert inThread(get, request)[0] == 405


def test_brokerDown(listen: Any, metrics: Any, redisServer: Any) -> None:
    """
    With a Redis broker, /readyz is 503 while Redis is down and ready again
    once it is back; ratchetpy_broker_connected says the same.
    """
    from ratchetpy.pubsub.redis import RedisBroker

    broker = RedisBroker(redisServer.url, initialDelay=0.1, maxDelay=0.2, pingInterval=1.0)
    broker.start()
    try:
        server, _ = serveWebSocket(listen, Echoing())
        served = metrics(server, broker=broker)
        waitUntil(lambda: broker.connected, what="connected to Redis")
        assert inThread(get, served.url + "/readyz")[0] == 200
        assert value(scrape(served), "ratchetpy_broker_connected") == 1
        redisServer.kill()
        waitUntil(lambda: not broker.connected, what="Redis seen down")
        status, _, body = inThread(get, served.url + "/readyz")
        assert status == 503 and "broker at " in body and "not connected" in body
        samples = scrape(served)
        assert value(samples, "ratchetpy_broker_connected") == 0
        assert value(samples, "ratchetpy_broker_outages_total") == 1
        redisServer.start()
        waitUntil(lambda: broker.connected, timeout=10, what="reconnected to Redis")
        assert inThread(get, served.url + "/readyz")[0] == 200
    finally:
        pytest_twisted.blockon(broker.stop())


def test_app(metrics: Any) -> None:
    """
    An App's metrics: MetricsServer takes the App itself, and counts its
    routes' connections by route pattern (not by path) and its origin
    refusals by that reason.
    """
    from ratchetpy import App

    app = App("127.0.0.1", endpoint=LOOPBACK)
    app.route("/echo", Echoing())
    app.route("/rooms/{room}", Echoing())
    port = pytest_twisted.blockon(app.listen())
    try:
        served = metrics(app)
        assert served.servers == [app.server]
        before = scrape(served)
        base = f"ws://127.0.0.1:{port.getHost().port}"
        assert inThread(roundTrip, base + "/echo", "hello") == "hello"
        for room in ("a", "b"):
            assert inThread(roundTrip, f"{base}/rooms/{room}", room) == room
        waitUntil(lambda: app.server.connectionCount == 0, what="the connection closed")
        samples = scrape(served)
        assert value(samples, "ratchetpy_websocket_messages_received_total") == 3
        assert value(samples, "ratchetpy_hook_calls_total", hook="onMessage") == 3
        assert value(samples, "ratchetpy_route_requests_opened_total", route="/echo") == 1
        assert value(samples, "ratchetpy_route_requests_opened_total", route="/rooms/{room}") == 2
        assert value(samples, "ratchetpy_route_requests_open", route="/echo") == 0

        ws = inThread(openWebSocket, port.getHost().port, "/echo")
        waitUntil(lambda: app.server.connectionCount == 1, what="the connection")
        assert value(scrape(served), "ratchetpy_route_requests_open", route="/echo") == 1
        ws.close()
        waitUntil(lambda: app.server.connectionCount == 0, what="the connection closed")
        assert value(scrape(served), "ratchetpy_route_requests_open", route="/echo") == 0
        foreign = b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://evil.example\r\n\r\n"
        assert inThread(exchange, port.getHost().port, foreign).startswith(b"HTTP/1.1 403")
        labels = {"reason": "origin", "status": "403"}
        assert value(scrape(served), "ratchetpy_connections_refused_total", **labels) == (
            value(before, "ratchetpy_connections_refused_total", **labels) + 1
        )
    finally:
        pytest_twisted.blockon(app.shutdown())
