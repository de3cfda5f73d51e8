"""
Fixtures of the metrics tests.
"""

from __future__ import annotations

from typing import Any

import pytest
import pytest_twisted

from ratchetpy.metrics.endpoint import MetricsServer
from ratchetpy.metrics.recorder import disable, recording

LOOPBACK = "tcp:0:interface=127.0.0.1"


@pytest.fixture
def metrics():
    """
    C{metrics(server)}: a listening L{MetricsServer} of C{server}; its URL is C{.url}. Recording stops after.
    """
    started: list[MetricsServer] = []
    recording.reset()

    def _serve(server: Any, **kwargs: Any) -> MetricsServer:
        served = MetricsServer(server, LOOPBACK, **kwargs)
        port = pytest_twisted.blockon(served.listen())
        served.url = f"http://127.0.0.1:{port.getHost().port}"  # type: ignore[attr-defined]
        started.append(served)
        return served

    yield _serve
    for served in started:
        pytest_twisted.blockon(served.shutdown())
    disable()
    recording.reset()
