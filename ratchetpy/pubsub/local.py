# -*- test-case-name: tests.pubsub.test_channels -*-
"""
L{LocalBroker}: the in-process broker, the default. It connects the
L{ratchetpy.Channels} of one process (several components, several routes of
an L{ratchetpy.App}) and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from twisted.internet import defer
from twisted.logger import Logger, LogLevel
from zope.interface import implementer

from ..interfaces import IBroker
from .envelope import newOrigin

log = Logger(namespace="ratchetpy")

#: What a broker calls with each message: C{callback(channel, data)}.
Callback = Callable[[str, bytes], object]


@dataclass
class BrokerStats:
    """
    A broker's counters, since it was made.

    @ivar published: messages the broker accepted.
    @ivar publishFailed: publishes that failed (the broker was unreachable,
        or did not answer in time); the messages were delivered to the
        publishing process's own subscribers only.
    @ivar received: messages that arrived from the broker (one per message
        and subscribed channel, however many callbacks it went to).
    @ivar outages: times the broker became unreachable (a broker that is
        down at start-up counts one).
    """

    published: int = 0
    publishFailed: int = 0
    received: int = 0
    outages: int = 0


class _Subscriptions:
    """
    The callbacks of each channel, shared by the brokers.
    """

    def __init__(self) -> None:
        self.callbacks: dict[str, dict[Callback, None]] = {}

    def add(self, channel: str, callback: Callback) -> bool:
        """
        Add C{callback}; whether C{channel} is new (so the broker should
        subscribe to it).
        """
        callbacks = self.callbacks.get(channel)
        if callbacks is None:
            self.callbacks[channel] = {callback: None}
            return True
        callbacks[callback] = None
        return False

    def remove(self, channel: str, callback: Callback) -> bool:
        """
        Remove C{callback}; whether C{channel} has no callback left (so the
        broker should unsubscribe from it).
        """
        callbacks = self.callbacks.get(channel)
        if callbacks is None or callback not in callbacks:
            return False
        del callbacks[callback]
        if callbacks:
            return False
        del self.callbacks[channel]
        return True

    def deliver(self, channel: str, data: bytes) -> int:
        """
        Call every callback of C{channel} with C{data}; how many there were.
        One failing callback is logged and does not keep the message from
        the others.
        """
        callbacks = self.callbacks.get(channel)
        if not callbacks:
            return 0
        # A copy: a callback may unsubscribe (its last connection left).
        for callback in tuple(callbacks):
            try:
                callback(channel, data)
            except Exception:
                log.failure("delivering a message on {channel!r} failed", channel=channel, level=LogLevel.error)
        return len(callbacks)


@implementer(IBroker)
class LocalBroker:
    """
    Delivers each message, synchronously, to every callback subscribed to
    its channel in this process. Publishing never fails.

    Two L{ratchetpy.Channels} on one C{LocalBroker} behave as two server
    processes on one Redis do, which makes it the broker to test with.
    """

    def __init__(self) -> None:
        self.origin = newOrigin("local")
        self.stats = BrokerStats()
        self._subscriptions = _Subscriptions()

    def publish(self, channel: str, data: bytes) -> defer.Deferred[int]:
        self.stats.published += 1
        received = self._subscriptions.deliver(channel, bytes(data))
        if received:
            self.stats.received += 1
        return defer.succeed(received)

    def subscribe(self, channel: str, callback: Callback) -> None:
        self._subscriptions.add(channel, callback)

    def unsubscribe(self, channel: str, callback: Callback) -> None:
        self._subscriptions.remove(channel, callback)

    def start(self) -> None:
        pass

    def stop(self) -> defer.Deferred[None]:
        return defer.succeed(None)

    def __repr__(self) -> str:
        return f"<LocalBroker {self.origin}>"
