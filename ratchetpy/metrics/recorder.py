# -*- test-case-name: tests.metrics.test_recorder -*-
"""
The few events of the hot path that no counter of the server holds already:
hook calls and their durations, WebSocket handshakes, the close codes and
traffic of WebSocket connections that have gone, broadcast deliveries.

Every site holds one line, C{if recording.on: recording.EVENT(...)} (or a
call on a path that is not hot), so that a server without metrics pays one
attribute test per event. L{enable} turns it on; the collector of
L{ratchetpy.metrics.collector} reads what it counted at scrape time.

This module imports nothing but the standard library and Twisted, so that
the layers can import it whether C{prometheus_client} is installed or not.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable
from inspect import iscoroutine
from typing import Any

from twisted.internet.defer import Deferred

#: Upper bounds, in seconds, of the buckets of hook durations.
HOOK_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: One call of a hook in this many is timed, by hook (every call of the
#: others): a power of two. The calls are all counted.
HOOK_SAMPLING = {"onMessage": 8}
#: Upper bounds, in seconds, of the buckets of WebSocket handshake durations.
HANDSHAKE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)

#: The close codes counted by their own value; others are counted as their
#: range (C{"3000-3999"}, C{"4000-4999"}, C{"other"}), so that what peers
#: send cannot grow the number of series.
KNOWN_CLOSE_CODES = frozenset({1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})


def closeCodeLabel(code: int | None) -> str:
    """
    The label of close code C{code}: C{"none"} when no close frame was
    sent or received (the connection was dropped).
    """
    if code is None:
        return "none"
    if code in KNOWN_CLOSE_CODES:
        return str(code)
    if 3000 <= code <= 3999:
        return "3000-3999"
    if 4000 <= code <= 4999:
        return "4000-4999"
    return "other"


class Timings:
    """
    A histogram without labels: how many observations fell into each
    bucket (not cumulative), and their sum; and C{calls}, how many were
    started (for hooks: some may not have settled yet).
    """

    __slots__ = ("bounds", "counts", "sum", "calls", "mask")

    def __init__(self, bounds: tuple[float, ...], every: int = 1) -> None:
        self.bounds = bounds
        self.calls = 0
        #: Calls whose number (from 0) has none of these bits set are timed.
        self.mask = every - 1
        # One more for +Inf.
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(self.bounds, seconds)] += 1
        self.sum += seconds

    def cumulative(self) -> list[tuple[str, float]]:
        """
        The buckets as Prometheus has them: C{(upper bound, count at or
        below it)}, ending with C{"+Inf"}.
        """
        total = 0
        buckets: list[tuple[str, float]] = []
        for bound, count in zip((*map(repr, self.bounds), "+Inf"), self.counts, strict=True):
            total += count
            buckets.append((bound, total))
        return buckets


#: The traffic counters of Autobahn's per-connection C{trafficStats} that
#: the metrics report.
TRAFFIC = (
    "incomingWebSocketMessages",
    "incomingOctetsAppLevel",
    "outgoingWebSocketMessages",
    "outgoingOctetsAppLevel",
)


#: Not looked up yet (L{Recording._hooksOf}).
_UNKNOWN: Any = object()


class Recording:
    """
    The counts of the hot path's events; L{recording} is the process's one.

    @ivar on: whether the sites record at all (L{enable}).
    """

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.on = False
        self.clock = clock
        self.reset()

    def reset(self) -> None:
        """
        Forget every count (for tests).
        """
        #: Each hook's calls and durations, by name.
        self.hookTimings: dict[str, Timings] = {}
        self.hookFailures: dict[str, int] = {}
        self.handshakes = Timings(HANDSHAKE_BUCKETS)
        self.handshakesStarted = 0
        self.closesSent: dict[str, int] = {}
        self.closesReceived: dict[str, int] = {}
        #: The L{TRAFFIC} counts of WebSocket connections that have gone.
        self.closedTraffic = dict.fromkeys(TRAFFIC, 0)
        self.broadcasts = 0
        self.deliveries = 0
        self._userTypes: dict[type, dict[str, Timings] | None] = {}
        #: The classes of ratchetpy's own layers met so far: the sites call
        #: their hooks without timing them, and without a call here.
        self.layers: set[type] = set()

    # Hooks

    def isUserComponent(self, component: object) -> bool:
        """
        Whether C{component}'s hooks are the application's rather than a
        ratchetpy layer's (whose hooks call the application's: timing both
        would count every message twice).
        """
        return self._hooksOf(type(component)) is not None

    def _hooksOf(self, kind: type) -> dict[str, Timings] | None:
        # The timings of the hooks of components of class kind, or None if
        # they are ratchetpy's own layers.
        try:
            return self._userTypes[kind]
        except KeyError:
            module = kind.__module__ or ""
            isOurs = module == "ratchetpy" or module.startswith("ratchetpy.")
            hooks = self._userTypes[kind] = None if isOurs else self.hookTimings
            if isOurs:
                self.layers.add(kind)
            return hooks

    def callHook(self, component: Any, name: str, connection: Any, args: tuple[object, ...]) -> Any:
        """
        Call C{component}'s hook C{name}, counting and timing it: a hook
        that returns a L{Deferred} or a coroutine is timed until it settles
        (a coroutine is returned as a L{Deferred}).
        """
        kind = type(component)
        hooks = self._userTypes.get(kind, _UNKNOWN)
        if hooks is _UNKNOWN:
            hooks = self._hooksOf(kind)
        if hooks is None:
            return getattr(component, name)(connection, *args)
        timings = hooks.get(name)
        if timings is None:
            timings = hooks[name] = Timings(HOOK_BUCKETS, HOOK_SAMPLING.get(name, 1))
        calls = timings.calls
        timings.calls = calls + 1
        if calls & timings.mask:
            # Not one of the calls timed.
            return getattr(component, name)(connection, *args)
        clock = self.clock
        start = clock()
        try:
            result = getattr(component, name)(connection, *args)
        except BaseException:
            timings.observe(clock() - start)
            raise
        if result is None:
            # Timings.observe, inline: this is every message's path.
            elapsed = clock() - start
            timings.counts[bisect_left(timings.bounds, elapsed)] += 1
            timings.sum += elapsed
            return None
        if iscoroutine(result):
            result = Deferred.fromCoroutine(result)
        if isinstance(result, Deferred):
            result.addBoth(self._settled, timings, start)
        else:
            timings.observe(clock() - start)
        return result

    def _settled(self, result: object, timings: Timings, start: float) -> object:
        timings.observe(self.clock() - start)
        return result

    def hookFailed(self, component: object, name: str) -> None:
        """
        C{component}'s hook C{name} failed (raised, or its result failed).
        """
        if self.on and self.isUserComponent(component):
            self.hookFailures[name] = self.hookFailures.get(name, 0) + 1

    # WebSocket

    def handshakeStarted(self, protocol: Any) -> None:
        """
        The WebSocket engine C{protocol} was handed a request head.
        """
        self.handshakesStarted += 1
        protocol._metricsStarted = self.clock()

    def handshakeDone(self, protocol: Any) -> None:
        """
        C{protocol}'s opening handshake succeeded.
        """
        started = getattr(protocol, "_metricsStarted", None)
        if started is not None:
            self.handshakes.observe(self.clock() - started)

    def webSocketClosed(self, protocol: Any) -> None:
        """
        C{protocol}'s connection is gone: its traffic moves from the live
        connections the collector reads to the totals here, and its close
        codes are counted.
        """
        if getattr(protocol, "_metricsCounted", False):
            return
        protocol._metricsCounted = True
        stats = protocol.trafficStats
        if stats is not None:
            closed = self.closedTraffic
            for name in TRAFFIC:
                closed[name] += getattr(stats, name)
        if getattr(protocol, "_connection", None) is None:
            # Never opened (the handshake failed): no close codes to speak of.
            return
        sent = closeCodeLabel(protocol.localCloseCode)
        received = closeCodeLabel(protocol.remoteCloseCode)
        self.closesSent[sent] = self.closesSent.get(sent, 0) + 1
        self.closesReceived[received] = self.closesReceived.get(received, 0) + 1

    # Broadcasts

    def broadcast(self, deliveries: int) -> None:
        """
        One L{ratchetpy.ConnectionGroup} broadcast went to C{deliveries}
        connections.
        """
        self.broadcasts += 1
        self.deliveries += deliveries


#: The process's recording, off until L{enable}.
recording = Recording()


def enable() -> Recording:
    """
    Start recording the hot path's events (idempotent).
    """
    recording.on = True
    return recording


def disable() -> None:
    """
    Stop recording (the counts stay).
    """
    recording.on = False


__all__ = ["Recording", "recording", "enable", "disable", "Timings", "closeCodeLabel"]
