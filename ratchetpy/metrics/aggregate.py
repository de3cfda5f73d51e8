# -*- test-case-name: tests.metrics.test_workers -*-
"""
L{WorkerMetrics}: the metrics of C{--workers N} as one scrape of the
supervisor's endpoint: the sum over the workers, each of which serves its
own metrics on a UNIX socket that only the supervisor reads.

A worker that is restarted starts its counters from zero. Its last values
are carried into the sum, so that the supervisor's counters never go
backwards (which Prometheus would read as a reset, and count the whole new
value again as an increase); only what the worker counted after the last
scrape before it died is lost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from twisted.internet import defer, protocol
from twisted.internet.endpoints import UNIXClientEndpoint
from twisted.internet.protocol import connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure

log = Logger(namespace="ratchetpy")

#: Seconds the supervisor waits for a worker's metrics.
SCRAPE_TIMEOUT = 3.0

#: Gauges whose sum over processes means nothing: the least or the most.
_LEAST = {"process_start_time_seconds", "ratchetpy_broker_connected"}
_MOST = {"process_max_fds", "python_info"}
#: The kinds of metrics whose samples only grow.
_GROWING = {"counter", "histogram", "summary"}

SampleKey = tuple[str, tuple[tuple[str, str], ...]]


#: The most bytes of metrics read from one worker.
MAX_METRICS_SIZE = 16 * 2**20


class _Get(protocol.Protocol):
    """
    C{GET /metrics} on a worker's socket, with C{Connection: close}: the
    body is what follows the head, once the worker has closed.
    """

    def __init__(self) -> None:
        self.received = bytearray()
        self.done: defer.Deferred[bytes] = defer.Deferred()

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.transport.write(b"GET /metrics HTTP/1.1\r\nHost: worker\r\nConnection: close\r\n\r\n")

    def dataReceived(self, data: bytes) -> None:
        self.received += data
        if len(self.received) > MAX_METRICS_SIZE:
            transport: Any = self.transport
            transport.abortConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        head, _, body = bytes(self.received).partition(b"\r\n\r\n")
        if head.startswith(b"HTTP/1.1 200 ") and len(self.received) <= MAX_METRICS_SIZE:
            self.done.callback(body)
        else:
            self.done.errback(ValueError(f"bad answer: {head[:80]!r}"))


class _Quiet(protocol.Factory):
    # No "Starting factory" line per scrape.
    noisy = False


class _Scrape:
    """
    What one worker process said, last time.
    """

    def __init__(self, pid: int, body: str) -> None:
        self.pid = pid
        #: Each family's type and help, by name, in order.
        self.families: dict[str, tuple[str, str]] = {}
        #: Each sample's value, and the family it is of.
        self.samples: dict[SampleKey, tuple[str, float]] = {}
        for family in text_string_to_metric_families(body):
            self.families[family.name] = (family.type, family.documentation)
            for sample in family.samples:
                self.samples[(sample.name, tuple(sorted(sample.labels.items())))] = (family.name, sample.value)


class WorkerMetrics(Collector):
    """
    The sum of the workers' metrics, as a C{prometheus_client} collector;
    L{refresh} reads them (the supervisor's endpoint calls it before each
    scrape), L{collect} adds them up.

    @param workers: C{workers()} is the running workers, as C{{name: (pid,
        metrics socket path)}}.
    @param ready: C{ready()} is the names of the workers that said they
        are ready.
    """

    def __init__(
        self,
        workers: Callable[[], dict[str, tuple[int, str]]],
        ready: Callable[[], set[str]],
        reactor: Any,
    ) -> None:
        self.workers = workers
        self.ready = ready
        self.reactor = reactor
        self._last: dict[str, _Scrape] = {}
        #: The samples of growing metrics of workers that have gone.
        self._carried: dict[SampleKey, tuple[str, float]] = {}
        self._carriedFamilies: dict[str, tuple[str, str]] = {}
        self.restarts = 0

    def refresh(self) -> defer.Deferred[None]:
        """
        Read every running worker's metrics (at most L{SCRAPE_TIMEOUT}
        seconds each; a worker that does not answer keeps its last ones).
        """
        running = self.workers()
        for name in list(self._last):
            if running.get(name, (None,))[0] != self._last[name].pid:
                self._retire(name)
        reads = [self._read(name, pid, path) for name, (pid, path) in running.items()]
        return defer.gatherResults(reads).addCallback(lambda _: None)

    def _read(self, name: str, pid: int, path: str) -> defer.Deferred[None]:
        endpoint = UNIXClientEndpoint(self.reactor, path, timeout=SCRAPE_TIMEOUT)
        d = endpoint.connect(_Quiet.forProtocol(_Get)).addCallback(lambda get: get.done)
        d.addTimeout(SCRAPE_TIMEOUT, self.reactor)

        def read(body: bytes) -> None:
            self._last[name] = _Scrape(pid, body.decode("utf-8", "replace"))

        def failed(failure: Failure) -> None:
            # A worker starting up (not listening yet) or on its way out.
            log.debug("no metrics from {name}: {why}", name=name, why=failure.getErrorMessage())

        result: defer.Deferred[None] = d.addCallbacks(read, failed)
        return result

    def _retire(self, name: str) -> None:
        scrape = self._last.pop(name)
        self.restarts += 1
        for key, (family, value) in scrape.samples.items():
            kind, help = scrape.families[family]
            if kind in _GROWING:
                self._carriedFamilies[family] = (kind, help)
                previous = self._carried.get(key, (family, 0.0))[1]
                self._carried[key] = (family, previous + value)

    def notReady(self) -> str | None:
        """
        Why the workers are not ready: none has said it is, or none of those
        that have is connected to the broker.
        """
        ready = self.ready()
        if not ready:
            return "no worker is ready"
        connected = [
            scrape.samples.get(("ratchetpy_broker_connected", ()), ("", 1.0))[1]
            for name, scrape in self._last.items()
            if name in ready
        ]
        if connected and not any(connected):
            return "broker not connected"
        return None

    def collect(self) -> Iterator[Metric]:
        families: dict[str, tuple[str, str]] = dict(self._carriedFamilies)
        totals: dict[SampleKey, tuple[str, float]] = dict(self._carried)
        for scrape in self._last.values():
            families.update(scrape.families)
            for key, (family, value) in scrape.samples.items():
                if key not in totals:
                    totals[key] = (family, value)
                    continue
                total = totals[key][1]
                if family in _LEAST:
                    total = min(total, value)
                elif family in _MOST:
                    total = max(total, value)
                else:
                    total += value
                totals[key] = (family, total)
        metrics = {name: Metric(name, help, kind) for name, (kind, help) in families.items()}
        for (sample, labels), (family, value) in totals.items():
            metrics[family].add_sample(sample, dict(labels), value)
        yield from metrics.values()
        yield from self._perWorker()

    def _perWorker(self) -> Iterator[Metric]:
        up = Metric("ratchetpy_worker_up", "Whether each worker answered its last scrape (1) or not (0).", "gauge")
        open_ = Metric("ratchetpy_worker_connections_open", "Connections open in each worker.", "gauge")
        running = self.workers()
        for name in sorted(running):
            number = name.rsplit(" ", 1)[-1]
            scrape = self._last.get(name)
            up.add_sample("ratchetpy_worker_up", {"worker": number}, 1 if scrape is not None else 0)
            if scrape is not None:
                samples = scrape.samples.items()
                count = sum(value for (sample, _), (_, value) in samples if sample == "ratchetpy_connections_open")
                open_.add_sample("ratchetpy_worker_connections_open", {"worker": number}, count)
        restarts = Metric("ratchetpy_worker_restarts", "Workers that ended and were started again.", "counter")
        restarts.add_sample("ratchetpy_worker_restarts_total", {}, self.restarts)
        yield up
        yield open_
        yield restarts


__all__ = ["WorkerMetrics", "SCRAPE_TIMEOUT"]
