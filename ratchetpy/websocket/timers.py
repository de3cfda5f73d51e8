# -*- test-case-name: tests.test_timers -*-
"""
L{BucketTimer}: the timeouts of every WebSocket of one server (handshake,
keepalive, closing handshake) on a few shared reactor timers.
"""

from __future__ import annotations

import math
from typing import Any

from twisted.logger import Logger

log = Logger(namespace="ratchetpy")

#: Seconds of lateness allowed, to share one reactor timer among connections.
RESOLUTION = 0.2


class _Call:
    """
    One scheduled call; L{cancel} it to keep it from running.
    """

    __slots__ = ("_calls", "_function", "_args", "_kwargs")

    def __init__(self, calls: dict[_Call, None], function: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._calls: dict[_Call, None] | None = calls
        self._function = function
        self._args = args
        self._kwargs = kwargs

    def cancel(self) -> None:
        if self._calls is not None:
            self._calls.pop(self, None)
            self._calls = None


class BucketTimer:
    """
    What Autobahn's factories call C{_batched_timer}: C{call_later(delay, f,
    *args, **kwargs)} returning an object with C{cancel()}. Calls due within
    the same C{resolution} seconds share one reactor timer, so that a
    hundred thousand idle connections, each with a keepalive timeout pending,
    need a handful of timers; a call never runs early and at most
    C{resolution} seconds late.

    It replaces txaio's batched timer, which rounds each deadline down to a
    whole second: a 1-second closing-handshake timeout could fire at once,
    cutting a peer that was about to answer.
    """

    def __init__(self, reactor: Any = None, resolution: float = RESOLUTION) -> None:
        self._reactor = reactor
        self.resolution = resolution
        self._buckets: dict[int, dict[_Call, None]] = {}

    def call_later(self, delay: float, function: Any, *args: Any, **kwargs: Any) -> _Call:
        reactor = self._reactor
        if reactor is None:
            from twisted.internet import reactor as globalReactor

            reactor = self._reactor = globalReactor
        now = reactor.seconds()
        slot = math.ceil((now + delay) / self.resolution)
        calls = self._buckets.get(slot)
        if calls is None:
            calls = self._buckets[slot] = {}
            reactor.callLater(max(0.0, slot * self.resolution - now), self._runBucket, slot)
        call = _Call(calls, function, args, kwargs)
        calls[call] = None
        return call

    def _runBucket(self, slot: int) -> None:
        calls = self._buckets.pop(slot, {})
        for call in list(calls):
            call._calls = None
            try:
                call._function(*call._args, **call._kwargs)
            except Exception:
                log.failure("a WebSocket timeout handler failed")
