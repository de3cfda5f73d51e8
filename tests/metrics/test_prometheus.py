"""
A real Prometheus (Debian's C{prometheus}) scrapes a twistd server and a
C{--workers 2} supervisor, both with C{--metrics}; what clients did is read
back through Prometheus's HTTP query API. A worker killed and restarted does
not make the supervisor's counters go backwards (Prometheus sees no reset).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

from tests.helpers import freePort

PROMETHEUS = "/usr/bin/prometheus"

CONFIG = """
global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: single
    static_configs:
      - targets: ["127.0.0.1:{single}"]
  - job_name: workers
    static_configs:
      - targets: ["127.0.0.1:{workers}"]
"""


class Prometheus:
    """
    A C{prometheus} on a free loopback port, scraping what C{config} says.
    """

    def __init__(self, directory: Path, config: str) -> None:
        self.port = freePort()
        (directory / "prometheus.yml").write_text(config)
        self.process = subprocess.Popen(
            [PROMETHEUS, f"--config.file={directory / 'prometheus.yml'}", f"--storage.tsdb.path={directory / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    def query(self, expression: str) -> list[dict[str, Any]]:
        """
        The result vector of an instant query (empty while Prometheus is starting).
        """
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                answer = json.load(response)
        except OSError:
            return []
        assert answer["status"] == "success", answer
        return answer["data"]["result"]  # type: ignore[no-any-return]

    def value(self, expression: str) -> float | None:
        """
        The one value of C{expression}, or C{None} if it has none (yet).
        """
        result = self.query(expression)
        return float(result[0]["value"][1]) if len(result) == 1 else None

    def waitFor(self, expression: str, expected: float, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while (found := self.value(expression)) != expected:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(f"Prometheus says {expression} = {found}, not {expected}")
            time.sleep(0.25)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def echo(port: int, connections: int, messages: int) -> None:
    """
    (Blocking.) C{connections} clients each send C{messages} messages and read their echoes.
    """
    for _ in range(connections):
        with connect(f"ws://127.0.0.1:{port}/") as ws:
            for n in range(messages):
                ws.send(f"message {n}")
                assert ws.recv(timeout=10) == f"message {n}"


@pytest.mark.timeout(90)
def test_prometheus(twistd: Any, redisServer: Any, tmp_path: Path) -> None:
    singleMetrics, workersMetrics = freePort(), freePort()
    single = twistd("--component", "examples.echo:Echo", "--port", "tcp:0:interface=127.0.0.1",
                    "--metrics", f"tcp:{singleMetrics}:interface=127.0.0.1")
    workers = twistd("--component", "examples.echo:Echo", "--port", "tcp:0:interface=127.0.0.1", "--workers", "2",
                     "--broker", redisServer.url, "--metrics", f"tcp:{workersMetrics}:interface=127.0.0.1")
    prometheus = Prometheus(tmp_path, CONFIG.format(single=singleMetrics, workers=workersMetrics))
    try:
        singlePort = single.waitForPort()
        workersPort = int(workers.readUntil(r"supervisor: \d+ workers on port (\d+)").group(1))
        pids = {}
        for _ in range(2):
            match = workers.readUntil(r"worker (\d) is ready \(pid (\d+)\)")
            pids[match.group(1)] = int(match.group(2))

        # The supervisor is ready once its workers are.
        for target in (singleMetrics, workersMetrics):
            with urllib.request.urlopen(f"http://127.0.0.1:{target}/readyz", timeout=10) as response:
                assert response.status == 200 and response.read() == b"ready\n"

        # Both targets up, with the process's own metrics.
        prometheus.waitFor('count(up{job=~"single|workers"} == 1)', 2)
        assert (prometheus.value('process_resident_memory_bytes{job="single"}') or 0) > 0

        echo(singlePort, 3, 5)
        echo(workersPort, 4, 5)
        prometheus.waitFor('ratchetpy_websocket_messages_received_total{job="single"}', 15)
        prometheus.waitFor('ratchetpy_hook_calls_total{job="single", hook="onOpen"}', 3)
        prometheus.waitFor('ratchetpy_websocket_messages_received_total{job="workers"}', 20)
        prometheus.waitFor('ratchetpy_connections_opened_total{job="workers", kind="http"}', 4)
        prometheus.waitFor('sum(ratchetpy_worker_up{job="workers"})', 2)
        prometheus.waitFor('ratchetpy_broker_connected{job="workers"}', 1)
        # Both sides of the closes: the clients closed with 1000, the server answered 1000.
        prometheus.waitFor('ratchetpy_websocket_closes_received_total{job="single", code="1000"}', 3)

        # Open connections show while they are open.
        with connect(f"ws://127.0.0.1:{singlePort}/"), connect(f"ws://127.0.0.1:{singlePort}/"):
            prometheus.waitFor('ratchetpy_connections_open{job="single", kind="websocket"}', 2)

        # A worker that dies is restarted; the sum carries its counts.
        os.kill(pids["1"], signal.SIGKILL)
        workers.readUntil(r"worker 1 is ready")
        echo(workersPort, 1, 2)
        prometheus.waitFor('ratchetpy_worker_restarts_total{job="workers"}', 1)
        prometheus.waitFor('ratchetpy_websocket_messages_received_total{job="workers"}', 22)
        assert prometheus.value('resets(ratchetpy_websocket_messages_received_total{job="workers"}[5m])') == 0
    finally:
        prometheus.stop()
    assert single.stop() == 0
    assert workers.stop() == 0
