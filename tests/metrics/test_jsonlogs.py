"""
JSON logs: one object per line, with the connection's fields on a line
about one; through twistd's C{--logger}, for a server and for C{--workers}.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any

from twisted.logger import globalLogPublisher
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from ratchetpy.server.logs import jsonLogObserver
from tests.helpers import inThread, serveWebSocket, waitUntil
from tests.metrics.test_endpoint import Echoing

LOOPBACK = "tcp:0:interface=127.0.0.1"


def failOnce(url: str) -> int | None:
    """
    (Blocking.) Make the component's onMessage fail; the close code.
    """
    with connect(url) as ws:
        ws.send("fail")
        try:
            ws.recv(timeout=10)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None
    return None


def test_hookFailure(listen: Any) -> None:
    """
    A hook that fails is logged as one JSON line with the connection's
    resourceId, address and route, and the traceback.
    """
    stream = io.StringIO()
    observer = jsonLogObserver(stream)
    globalLogPublisher.addObserver(observer)
    try:
        server, url = serveWebSocket(listen, Echoing())
        assert inThread(failOnce, url + "room?token=secret") == 1011
        waitUntil(lambda: "told to fail" in stream.getvalue(), what="the failure's line")
    finally:
        globalLogPublisher.removeObserver(observer)
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    (failure,) = [r for r in records if "onMessage failed" in r["message"]]
    assert failure["level"] == "error" and failure["namespace"] == "ratchetpy"
    assert failure["remoteAddress"] == "127.0.0.1" and isinstance(failure["resourceId"], int)
    # The path, not the query and its token.
    assert failure["route"] == "/room"
    assert "RuntimeError: told to fail" in failure["traceback"]
    assert "secret" not in stream.getvalue()


def test_twistdLogsJSON(twistd: Any, redisServer: Any) -> None:
    """
    Under C{twistd --logger ratchetpy.server.logs.jsonLogObserver}, every
    line is a JSON object, for a server and for the supervisor of
    C{--workers 2}, which passes its workers' lines on with their names.
    """
    logger = ("--logger=ratchetpy.server.logs.jsonLogObserver",)
    single = twistd("--component", "examples.echo:Echo", "--port", LOOPBACK, twistdOptions=logger)
    single.readUntil(r'"message": "ratchetpy listening on tcp:127.0.0.1:\d+"')
    workers = twistd("--component", "examples.echo:Echo", "--port", LOOPBACK, "--workers", "2",
                     "--broker", redisServer.url, twistdOptions=logger)
    workers.readUntil(r'"message": "worker \d: ratchetpy listening on tcp:127.0.0.1:\d+"')
    workers.readUntil(r'"message": "worker \d is ready')
    for process in (single, workers):
        assert process.stop() == 0
        records = [json.loads(line) for line in process.lines]
        assert records and all({"time", "level", "namespace", "message"} <= set(r) for r in records)
    # Whichever worker logged first: the supervisor names it.
    assert any(re.match(r"worker \d: ", r["message"]) and r["level"] == "info" for r in records)
