# -*- test-case-name: tests.websocket.test_timers -*-
"""
L{BucketTimer}: the timeouts of every WebSocket of one server (handshake,
keepalive, closing handshake) on a few shared reactor timers.
"""

from __future__ import annotations

import math
from typing import Any

from twisted.logger import Logger, LogLevel

log = Logger(namespace="ratchetpy")

#: Seconds of lateness allowed, to share one reactor timer among connections.
RESOLUTION = 0.2


class _Bucket:
    """
    The calls due in one slot of C{resolution} seconds, and their reactor timer.
    """

    __slots__ = ("timer", "slot", "calls", "delayedCall")

    def __init__(self, timer: BucketTimer, slot: int) -> None:
        self.timer = timer
        self.slot = slot
        self.calls: dict[_Call, None] = {}
        self.delayedCall: Any = None

    def remove(self, call: _Call) -> None:
        self.calls.pop(call, None)
        # A bucket whose calls were all cancelled (keepalive timeouts answered
        # in time, mostly) gives its reactor timer back.
        if not self.calls and self.delayedCall is not None and self.delayedCall.active():
            self.delayedCall.cancel()
            self.timer._buckets.pop(self.slot, None)


class _Call:
    """
    One scheduled call; L{cancel} it to keep it from running.
    """

    __slots__ = ("_bucket", "_function", "_args", "_kwargs")

    def __init__(self, bucket: _Bucket, function: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._bucket: _Bucket | None = bucket
        self._function = function
        self._args = args
        self._kwargs = kwargs

    def cancel(self) -> None:
        if self._bucket is not None:
            self._bucket.remove(self)
            self._bucket = None


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
        self._buckets: dict[int, _Bucket] = {}

    @property
    def reactor(self) -> Any:
        """
        The reactor the timers run on; C{None} until one is given or bound.
        """
        return self._reactor

    def bindReactor(self, reactor: Any) -> None:
        """
        Run the timers on C{reactor} if this timer was made without one (a
        WebSocket layer built without a reactor takes that of its first
        connection's server).
        """
        if self._reactor is None:
            self._reactor = reactor

    def call_later(self, delay: float, function: Any, *args: Any, **kwargs: Any) -> _Call:
        reactor = self._reactor
        if reactor is None:
            raise RuntimeError("BucketTimer has no reactor: pass one, or bindReactor() before scheduling")
        now = reactor.seconds()
        slot = math.ceil((now + delay) / self.resolution)
        bucket = self._buckets.get(slot)
        if bucket is None:
            bucket = self._buckets[slot] = _Bucket(self, slot)
            bucket.delayedCall = reactor.callLater(max(0.0, slot * self.resolution - now), self._runBucket, slot)
        call = _Call(bucket, function, args, kwargs)
        bucket.calls[call] = None
        return call

    def _runBucket(self, slot: int) -> None:
        bucket = self._buckets.pop(slot, None)
        if bucket is None:
            return
        for call in list(bucket.calls):
            call._bucket = None
            try:
                call._function(*call._args, **call._kwargs)
            except Exception:
                log.failure("a WebSocket timeout handler failed", level=LogLevel.error)
