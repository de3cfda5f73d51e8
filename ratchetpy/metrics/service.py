# -*- test-case-name: tests.metrics.test_tapmetrics -*-
"""
twistd's C{--metrics}: the metrics endpoint of a server, of a worker of
C{--workers} (a UNIX socket its supervisor reads), and of the supervisor
(the sum of its workers'). C{prometheus_client} is imported only when
C{--metrics} is given.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from twisted.internet.error import CannotListenError

from ..server.io import BadEndpoint, IoServer, cannotListen, parseEndpoint, raiseIfFailedNow
from ..workers import METRICS_ENVIRONMENT, WORKER_ENVIRONMENT

#: What to do when C{prometheus_client} is missing.
INSTALL = "pip install 'ratchetpy[metrics]'"


def _needPrometheusClient() -> None:
    try:
        import prometheus_client  # noqa: F401
    except ImportError as exc:
        raise SystemExit(f"ratchetpy: --metrics needs prometheus_client ({exc}): {INSTALL}") from None


def metricsServer(servers: list[IoServer], endpoint: str | None, **kwargs: Any) -> Any:
    """
    The L{ratchetpy.metrics.MetricsServer} of C{servers} on C{endpoint}, or
    C{None} without one.

    @raise SystemExit: C{prometheus_client} is not installed, or the
        endpoint is not one.
    """
    if endpoint is None:
        return None
    _needPrometheusClient()
    from twisted.internet import reactor

    from .endpoint import MetricsServer

    try:
        parseEndpoint(reactor, endpoint)
    except BadEndpoint as exc:
        raise SystemExit(f"ratchetpy: --metrics: {exc}") from None
    return MetricsServer(servers, endpoint, **kwargs)


def workerEndpoint() -> str | None:
    """
    In a worker of C{--workers}, the socket its supervisor reads its metrics
    from (a stale one, of the worker this one replaces, removed); C{None}
    elsewhere, or when the supervisor serves no metrics.
    """
    endpoint = os.environ.get(METRICS_ENVIRONMENT) or None
    if endpoint is not None and endpoint.startswith("unix:"):
        try:
            os.remove(endpoint[len("unix:") :])
        except OSError:
            pass
    return endpoint


def serverMetrics(server: IoServer, options: Any, broker: Any) -> Any:
    """
    The metrics endpoint of a twistd server: C{--metrics}, or in a worker,
    L{workerEndpoint}; C{None} without either.
    """
    endpoint = workerEndpoint() if os.environ.get(WORKER_ENVIRONMENT) else options["metrics"]
    return metricsServer([server], endpoint, broker=broker)


def supervisorMetrics(supervisor: Any, endpoint: str | None) -> Any:
    """
    The metrics endpoint of the supervisor of C{--workers}, on C{endpoint}:
    the sum of its workers' (L{ratchetpy.metrics.aggregate.WorkerMetrics}),
    ready while one of them is. C{None} without C{endpoint}.
    """
    if endpoint is None:
        return None
    _needPrometheusClient()
    from prometheus_client import CollectorRegistry

    from .aggregate import WorkerMetrics

    workers = WorkerMetrics(supervisor.runningWorkers, supervisor.readyWorkers, supervisor.reactor)
    return metricsServer(
        [],
        endpoint,
        registry=CollectorRegistry(auto_describe=False),
        collector=workers,
        ready=workers.notReady,
        refresh=workers.refresh,
        reactor=supervisor.reactor,
    )


def listenForMetrics(metrics: Any, options: Any, removePidfile: Callable[[Any], None]) -> None:
    """
    Start C{metrics} (a L{ratchetpy.metrics.MetricsServer}, or C{None}); if
    its endpoint cannot be listened on, C{removePidfile(options)} and exit
    with one line and status 1.
    """
    if metrics is None:
        return
    try:
        raiseIfFailedNow(metrics.listen())
    except CannotListenError as exc:
        removePidfile(options)
        raise cannotListen(metrics.endpoint, exc.socketError, "choose another with --metrics") from None


__all__ = ["serverMetrics", "supervisorMetrics", "listenForMetrics", "metricsServer", "workerEndpoint"]
