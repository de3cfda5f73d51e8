# -*- test-case-name: tests.metrics.test_endpoint -*-
"""
The metrics endpoint: C{/metrics} (Prometheus's text format, by
C{prometheus_client}), C{/healthz} and C{/readyz}, served by ratchetpy's own
stack on a listening endpoint of its own, so that metrics are never on the
public port by accident.

From Python::

    from ratchetpy.metrics import serveMetrics

    server = IoServer(HttpServer(WsServer(Chat())), "tcp:8080")
    serveMetrics(server, "tcp:9100:interface=127.0.0.1")
    server.run()

(an L{ratchetpy.App} too: C{serveMetrics(app, ...)} before C{app.run()}).

From twistd: C{--metrics tcp:9100:interface=127.0.0.1}.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from twisted.internet import defer
from twisted.internet.interfaces import IListeningPort
from twisted.logger import Logger

from ..http.handler import HttpHandler
from ..http.response import Response
from ..http.server import HttpServer
from ..interfaces import IHttpRequest
from ..server.addresses import describeAddress
from ..server.io import IoServer
from .collector import ServerCollector
from .health import Health
from .recorder import enable

log = Logger(namespace="ratchetpy")

#: The paths the endpoint answers.
METRICS_PATH = "/metrics"
HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"


def processRegistry() -> CollectorRegistry:
    """
    A registry with C{prometheus_client}'s collectors of the process: CPU,
    memory, open files, start time (C{process_*}), the Python version
    (C{python_info}) and the garbage collector (C{python_gc_*}).
    """
    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


class MetricsHandler(HttpHandler):
    """
    Answers C{GET /metrics}, C{/healthz} and C{/readyz} (and C{HEAD}); 404
    for other paths, 405 for other methods.

    @param registry: what C{/metrics} exposes.
    @param ready: C{ready()} is why the server is not ready, or C{None}
        (see L{Health.notReady}).
    @param refresh: called before C{/metrics} and C{/readyz} are answered;
        the answer waits for the L{Deferred<twisted.internet.defer.Deferred>} it returns (the supervisor of
        C{--workers} reads its workers' metrics then).
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        ready: Callable[[], str | None],
        refresh: Callable[[], defer.Deferred[None]] | None = None,
    ) -> None:
        super().__init__(maxBodySize=0)
        self.registry = registry
        self.ready = ready
        self.refresh = refresh

    def onRequest(self, request: IHttpRequest) -> Response | defer.Deferred[Response]:
        if self.refresh is not None and request.path in (METRICS_PATH, READY_PATH):
            return self.refresh().addCallback(lambda _: self._answer(request))
        return self._answer(request)

    def _answer(self, request: IHttpRequest) -> Response:
        path = request.path
        if path not in (METRICS_PATH, HEALTH_PATH, READY_PATH):
            paths = f"{METRICS_PATH}, {HEALTH_PATH}, {READY_PATH}"
            return Response(404, f"not found: the metrics endpoint serves {paths}\n")
        if request.method not in ("GET", "HEAD"):
            return Response(405, "only GET and HEAD\n", headers=[("Allow", "GET, HEAD")])
        if path == METRICS_PATH:
            return Response(200, generate_latest(self.registry), contentType=CONTENT_TYPE_LATEST)
        if path == HEALTH_PATH:
            return Response(200, "ok\n")
        why = self.ready()
        if why is not None:
            return Response(503, f"not ready: {why}\n")
        return Response(200, "ready\n")


class MetricsServer:
    """
    The metrics endpoint of C{servers}, on C{endpoint}: see the module
    docstring. L{listen} starts it; L{drain} makes C{/readyz} answer 503
    (shutting down) while the servers close their connections; L{shutdown}
    stops it.

    @ivar registry: the C{prometheus_client} registry C{/metrics} exposes:
        register your own collectors or metrics with it.
    @ivar health: the L{Health} of C{/readyz}.
    """

    def __init__(
        self,
        servers: IoServer | Iterable[IoServer],
        endpoint: str,
        *,
        broker: Any = None,
        registry: CollectorRegistry | None = None,
        collector: Collector | None = None,
        ready: Callable[[], str | None] | None = None,
        refresh: Callable[[], defer.Deferred[None]] | None = None,
        reactor: Any = None,
    ) -> None:
        """
        @param servers: the server (an L{IoServer}, or an L{ratchetpy.App})
            or servers to report.
        @param endpoint: a Twisted endpoint description, e.g.
            C{tcp:9100:interface=127.0.0.1}.
        @param broker: the broker to report and to need for readiness
            (default: the process default broker).
        @param registry: the registry to expose (default: a new one with
            the process collectors, L{processRegistry}); the servers'
            collector is added to it.
        @param collector: what reports the servers (default: a
            L{ServerCollector} of them); the supervisor of C{--workers}
            gives its aggregation of the workers.
        @param ready: why the servers are not ready, or C{None} (default:
            their L{Health}).
        @param refresh: see L{MetricsHandler}.
        """
        # An App: its IoServer.
        servers = getattr(servers, "server", servers)
        self.servers = [servers] if isinstance(servers, IoServer) else list(servers)
        self.endpoint = endpoint
        self.registry = processRegistry() if registry is None else registry
        self.registry.register(ServerCollector(self.servers, broker) if collector is None else collector)
        self.health = Health(self.servers, broker)
        self._ready = self.health.notReady if ready is None else ready
        handler = MetricsHandler(self.registry, self.notReady, refresh)
        self.ioServer = IoServer(HttpServer(handler), endpoint, reactor=reactor, shutdownTimeout=1.0)
        enable()

    def notReady(self) -> str | None:
        """
        Why C{/readyz} answers 503, or C{None}.
        """
        if self.health.draining:
            return "shutting down"
        return self._ready()

    def listen(self) -> defer.Deferred[IListeningPort]:
        """
        Start listening; the Deferred fires with the port (or fails, e.g.
        with L{twisted.internet.error.CannotListenError}).
        """
        d = self.ioServer.listen()

        def listening(port: IListeningPort) -> IListeningPort:
            log.info(
                "metrics on http://{address}{path} (health: {health}, {ready})",
                address=describeAddress(port.getHost()).removeprefix("tcp:"),
                path=METRICS_PATH,
                health=HEALTH_PATH,
                ready=READY_PATH,
            )
            return port

        return d.addCallback(listening)

    def drain(self) -> None:
        """
        See L{Health.drain}.
        """
        self.health.drain()

    def shutdown(self) -> defer.Deferred[None]:
        """
        Stop listening and close the endpoint's connections.
        """
        return self.ioServer.shutdown()


def serveMetrics(
    servers: IoServer | Iterable[IoServer], endpoint: str, *, broker: Any = None, reactor: Any = None
) -> MetricsServer:
    """
    Serve the metrics of C{servers} on C{endpoint} (see L{MetricsServer}):
    listening now, draining when the reactor starts shutting down (C{/readyz}
    answers 503 while the servers close their connections), stopped once
    they have.

    @raise twisted.internet.error.CannotListenError: C{endpoint} cannot be
        listened on (a port in use).
    """
    from ..server.io import raiseIfFailedNow

    metrics = MetricsServer(servers, endpoint, broker=broker, reactor=reactor)
    raiseIfFailedNow(metrics.listen())
    shutdownWith(metrics, metrics.ioServer.reactor)
    return metrics


def shutdownWith(metrics: MetricsServer, reactor: Any) -> None:
    """
    Drain C{metrics} when C{reactor} starts shutting down, and stop it in
    the phase after, once the servers' own shutdown (which the "before"
    phase waits for) is done.
    """
    reactor.addSystemEventTrigger("before", "shutdown", metrics.drain)
    reactor.addSystemEventTrigger("during", "shutdown", metrics.shutdown)


__all__ = ["MetricsServer", "MetricsHandler", "serveMetrics", "processRegistry"]
