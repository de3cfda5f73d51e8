# -*- test-case-name: tests.metrics.test_collector -*-
"""
L{ServerCollector}: a C{prometheus_client} collector that reads, at scrape
time, the counters an L{IoServer} and its layers keep anyway (open
connections, the send limit's slow consumers, the broker's
L{BrokerStats}, the log budgets' counts of refusals) and the few that
L{ratchetpy.metrics.recorder} records on the hot path.

Nothing here runs between scrapes. Labels are bounded: by connection kind,
hook name, close code (ranges beyond the standard ones), HTTP status, never
by connection, address or channel.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from .._ratelimit import allBudgets
from ..server.io import IoServer
from .recorder import TRAFFIC, Recording, recording

#: Why a request was refused, by the HTTP status it was answered with.
REFUSAL_REASONS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "head_timeout",
    413: "body_too_large",
    414: "request_line_too_long",
    429: "too_many_failures",
    431: "head_too_large",
    503: "over_limit",
}

#: The prefix of every metric of ratchetpy's.
PREFIX = "ratchetpy_"


def _isHttpStack(server: IoServer) -> bool:
    from ..http.server import HttpServer

    return isinstance(server.component, HttpServer)


def _routersOf(server: IoServer) -> Iterator[Any]:
    """
    The L{Router}s in C{server}'s stack of layers (an L{App}'s, or one
    built by hand), found through each layer's C{component}.
    """
    from ..http.router import Router

    layer: Any = server.component
    for _ in range(32):
        if layer is None:
            return
        if isinstance(layer, Router):
            yield layer
        layer = getattr(layer, "component", None)


def _engineOf(protocol: Any) -> Any:
    """
    The WebSocket engine of the L{IoProtocol} C{protocol}, if its connection
    was upgraded to one and is not counted among the closed ones yet.
    """
    upgraded = getattr(getattr(protocol, "_connection", None), "_upgraded", None)
    engine = getattr(upgraded, "_protocol", None)
    if engine is None or getattr(engine, "trafficStats", None) is None or getattr(engine, "_metricsCounted", False):
        return None
    return engine


class ServerCollector(Collector):
    """
    The metrics of the servers C{servers} and of the process (the hot
    path's L{Recording}, the log budgets, the broker).

    @param servers: the L{IoServer}s whose connections are reported (one
        for a twistd server; an L{ratchetpy.App} has one).
    @param broker: the broker whose state and counts are reported
        (default: the process default broker, L{ratchetpy.pubsub.defaultBroker},
        looked up at each scrape).
    """

    def __init__(self, servers: Iterable[IoServer], broker: Any = None, recorded: Recording = recording) -> None:
        self.servers = list(servers)
        self.broker = broker
        self.recorded = recorded

    def describe(self) -> list[Metric]:
        # No description ahead of a scrape: the registry must not collect
        # (and walk every connection) when the collector is registered.
        return []

    def collect(self) -> Iterator[Metric]:
        yield from self._connections()
        yield from self._routes()
        yield from self._webSocket()
        yield from self._hooks()
        yield from self._slowConsumers()
        yield from self._refusals()
        yield from self._broker()

    def _connections(self) -> Iterator[Metric]:
        opened = CounterMetricFamily(
            PREFIX + "connections_opened", "Connections accepted and handed to the server's layers.", labels=["kind"]
        )
        open_ = GaugeMetricFamily(
            PREFIX + "connections_open", "Connections open now, by what they are now.", labels=["kind"]
        )
        limit = GaugeMetricFamily(
            PREFIX + "connections_limit", "The most connections the server serves at once (0: no limit)."
        )
        overLimit = CounterMetricFamily(
            PREFIX + "connection_limit_refusals",
            "Connections refused with 503 for a limit: total (--max-connections) or per_ip (--max-connections-per-ip).",
            labels=["limit"],
        )
        full = perIp = 0
        counts = {"websocket": 0, "http": 0, "raw": 0}
        openedBy = {"http": 0, "raw": 0}
        maxConnections = 0
        for server in self.servers:
            kind = "http" if _isHttpStack(server) else "raw"
            openedBy[kind] += server.openConnections.everOpened
            for protocol in list(server._protocols):
                upgraded = getattr(getattr(protocol, "_connection", None), "_upgraded", None)
                counts["websocket" if upgraded is not None else kind] += 1
            limits = getattr(server.component, "limits", None)
            maxConnections += getattr(limits, "maxConnections", 0) or 0
            full += getattr(limits, "refusedFull", 0)
            perIp += getattr(limits, "refusedPerIp", 0)
        for kind, value in openedBy.items():
            opened.add_metric([kind], value)
        for kind, value in counts.items():
            open_.add_metric([kind], value)
        limit.add_metric([], maxConnections)
        overLimit.add_metric(["total"], full)
        overLimit.add_metric(["per_ip"], perIp)
        yield opened
        yield open_
        yield limit
        yield overLimit

    def _routes(self) -> Iterator[Metric]:
        # Labelled by route pattern: as many series as the application has
        # routes, however many paths clients ask for.
        opened = CounterMetricFamily(
            PREFIX + "route_requests_opened",
            "Requests (WebSocket connections among them) handed to a route of an App or Router.",
            labels=["route"],
        )
        open_ = GaugeMetricFamily(
            PREFIX + "route_requests_open",
            "Requests (WebSocket connections among them) open now on a route of an App or Router.",
            labels=["route"],
        )
        openedBy: dict[str, int] = {}
        openBy: dict[str, int] = {}
        for server in self.servers:
            for router in _routersOf(server):
                patterns: dict[int, str] = {}
                for route in router.routes:
                    openedBy[route.pattern] = openedBy.get(route.pattern, 0) + route.opened
                    openBy.setdefault(route.pattern, 0)
                    patterns.setdefault(id(route.component), route.pattern)
                for component in list(router._routed.values()):
                    pattern = patterns.get(id(component))
                    if pattern is not None:
                        openBy[pattern] += 1
        for pattern in sorted(openedBy):
            opened.add_metric([pattern], openedBy[pattern])
            open_.add_metric([pattern], openBy[pattern])
        yield opened
        yield open_

    def _webSocket(self) -> Iterator[Metric]:
        recorded = self.recorded
        traffic = dict(recorded.closedTraffic)
        for server in self.servers:
            for protocol in list(server._protocols):
                engine = _engineOf(protocol)
                if engine is not None:
                    stats = engine.trafficStats
                    for name in TRAFFIC:
                        traffic[name] += getattr(stats, name)
        handshakes = HistogramMetricFamily(
            PREFIX + "websocket_handshake_duration_seconds",
            "Seconds from a WebSocket request head to the open connection (the server's side of the handshake).",
        )
        handshakes.add_metric([], recorded.handshakes.cumulative(), sum_value=recorded.handshakes.sum)
        yield handshakes
        yield CounterMetricFamily(
            PREFIX + "websocket_handshakes_started",
            "WebSocket requests handed to the engine (those that did not open failed or were cut).",
            value=recorded.handshakesStarted,
        )
        for name, help, field in (
            ("websocket_messages_received", "WebSocket messages received.", "incomingWebSocketMessages"),
            ("websocket_received_bytes", "Payload bytes of the WebSocket messages received.", "incomingOctetsAppLevel"),
            (
                "websocket_messages_sent",
                "WebSocket messages sent with send() (broadcasts: ratchetpy_broadcast_deliveries_total).",
                "outgoingWebSocketMessages",
            ),
            (
                "websocket_sent_bytes",
                "Payload bytes of the WebSocket messages sent with send().",
                "outgoingOctetsAppLevel",
            ),
        ):
            yield CounterMetricFamily(PREFIX + name, help, value=traffic[field])
        for name, help, counts in (
            (
                "websocket_closes_sent",
                "WebSocket close codes sent (none: the connection was dropped).",
                recorded.closesSent,
            ),
            ("websocket_closes_received", "WebSocket close codes received (none: no close frame came).",
             recorded.closesReceived),
        ):
            family = CounterMetricFamily(PREFIX + name, help, labels=["code"])
            for code, value in sorted(counts.items()):
                family.add_metric([code], value)
            yield family
        yield CounterMetricFamily(PREFIX + "broadcasts", "ConnectionGroup broadcasts (Channels publishes among them).",
                                  value=recorded.broadcasts)
        yield CounterMetricFamily(PREFIX + "broadcast_deliveries", "Connections broadcast messages were sent to.",
                                  value=recorded.deliveries)

    def _hooks(self) -> Iterator[Metric]:
        recorded = self.recorded
        calls = CounterMetricFamily(PREFIX + "hook_calls", "Calls of the component's hooks.", labels=["hook"])
        failures = CounterMetricFamily(
            PREFIX + "hook_failures", "Hooks that raised or whose result failed (the connection is closed).",
            labels=["hook"],
        )
        durations = HistogramMetricFamily(
            PREFIX + "hook_duration_seconds",
            "Seconds a hook took (an async one: until it settled); onMessage: one call in 8.",
            labels=["hook"],
        )
        for name, timings in sorted(recorded.hookTimings.items()):
            calls.add_metric([name], timings.calls)
        for name, value in sorted(recorded.hookFailures.items()):
            failures.add_metric([name], value)
        for name, timings in sorted(recorded.hookTimings.items()):
            durations.add_metric([name], timings.cumulative(), sum_value=timings.sum)
        yield calls
        yield failures
        yield durations

    def _slowConsumers(self) -> Iterator[Metric]:
        closed = dropping = messages = size = queued = 0
        limits = {id(server._sendLimit): server._sendLimit for server in self.servers}
        for limit in limits.values():
            closed += limit.slowClosed
            dropping += limit.slowDropping
            messages += limit.droppedMessages
            size += limit.droppedBytes
        behind = 0
        for server in self.servers:
            for protocol in list(server._protocols):
                unsent = protocol._connection._unsent
                if unsent is not None:
                    behind += 1
                    if unsent > 0:
                        queued += unsent
        yield CounterMetricFamily(PREFIX + "slow_consumer_closes", "Connections closed for falling behind.",
                                  value=closed)
        yield CounterMetricFamily(PREFIX + "slow_consumer_drops",
                                  "Times a connection fell behind and what was sent to it was dropped.", value=dropping)
        yield CounterMetricFamily(PREFIX + "slow_consumer_dropped_messages", "Messages dropped for slow consumers.",
                                  value=messages)
        yield CounterMetricFamily(PREFIX + "slow_consumer_dropped_bytes", "Bytes dropped for slow consumers.",
                                  value=size)
        yield GaugeMetricFamily(PREFIX + "slow_connections", "Connections whose transport buffer is full now.",
                                value=behind)
        yield GaugeMetricFamily(PREFIX + "slow_connections_queued_bytes",
                                "Bytes sent to connections while their transport buffer was full.", value=queued)

    def _refusals(self) -> Iterator[Metric]:
        from ..http import response
        from ..pubsub import channels
        from ..server import blacklist

        refused = CounterMetricFamily(
            PREFIX + "connections_refused",
            "Connections and requests refused, by reason and HTTP status (blocked: cut, no status).",
            labels=["reason", "status"],
        )
        for kind, value in sorted(response._refusals.totals.items()):
            status, _, named = kind.removeprefix("http-").partition("-")
            if not status.isdigit():
                status, named = "", "other"
            refused.add_metric([named or REFUSAL_REASONS.get(int(status), "other"), status], value)
        refused.add_metric(["blocked", ""], blacklist._refusals.totals.get("blocked", 0))
        yield refused
        dropped = CounterMetricFamily(
            PREFIX + "channel_messages_dropped", "Messages from the broker that Channels dropped.", labels=["reason"]
        )
        for kind, reason in (("bad-envelope", "bad_envelope"), ("oversized", "too_large")):
            dropped.add_metric([reason], channels._problems.totals.get(kind, 0))
        yield dropped
        yield CounterMetricFamily(
            PREFIX + "log_lines_suppressed", "Log lines not written because their kind was over its rate limit.",
            value=sum(budget.suppressedTotal for budget in allBudgets()),
        )

    def _broker(self) -> Iterator[Metric]:
        broker = self.broker
        if broker is None:
            from ..pubsub import defaultBroker

            broker = defaultBroker()
        stats = getattr(broker, "stats", None)
        if stats is None:
            return
        yield GaugeMetricFamily(
            PREFIX + "broker_connected", "Whether the broker is reachable (1), or not (0).",
            value=1 if getattr(broker, "connected", True) else 0,
        )
        for name, help, value in (
            ("broker_published", "Messages the broker accepted.", stats.published),
            ("broker_publish_failures", "Publishes that failed (the broker was unreachable or slow).",
             stats.publishFailed),
            ("broker_received", "Messages that arrived from the broker.", stats.received),
            ("broker_outages", "Times the broker became unreachable (each ends with a reconnect).", stats.outages),
        ):
            yield CounterMetricFamily(PREFIX + name, help, value=value)


__all__ = ["ServerCollector", "REFUSAL_REASONS"]
