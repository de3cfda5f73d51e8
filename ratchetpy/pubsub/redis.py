# -*- test-case-name: tests.pubsub.test_redis -*-
"""
L{RedisBroker}: channels between processes and machines through Redis
pub/sub, with txredisapi.

Two connections: one subscribed (Redis allows nothing else on it), one for
publishing. Both reconnect with backoff; the subscribed one subscribes again
to every channel each time it connects. While Redis is unreachable, this
process keeps serving its own clients: publishes reach local subscribers and
fail for the rest at once (logged once, counted), and messages from other
processes are lost (Redis pub/sub keeps nothing for absent subscribers).
The outage is logged once when it starts and once when it ends.
"""

from __future__ import annotations

import time
from typing import Any

import txredisapi
from twisted.internet import defer, task
from twisted.internet.endpoints import HostnameEndpoint
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from .._ratelimit import LogBudget
from .._reactor import installedReactor
from ..interfaces import IBroker
from . import BrokerUnavailable
from .envelope import newOrigin
from .local import BrokerStats, Callback, _Subscriptions
from .url import RedisAddress, parseRedisUrl

log = Logger(namespace="ratchetpy")
_problems = LogBudget(log)

#: Seconds a publish may wait for Redis's answer before it fails (and the
#: connection, deemed dead, is dropped and made again).
PUBLISH_TIMEOUT = 5.0
#: Seconds to wait before the first reconnection attempt...
INITIAL_DELAY = 0.5
#: ...growing (times e, with jitter) up to this many seconds between attempts.
MAX_DELAY = 5.0
#: Seconds a connection attempt may take.
CONNECT_TIMEOUT = 5.0
#: Seconds between PINGs on the subscribed connection, which otherwise never
#: hears from a Redis that vanished without closing the connection (a
#: network partition); no answer within PUBLISH_TIMEOUT drops it.
PING_INTERVAL = 10.0

_SUBSCRIBER, _PUBLISHER = "subscriber", "publisher"


class _Watched:
    """
    A client endpoint that keeps trying, with backoff, until it connects, and
    tells the broker when an attempt fails (so that a Redis that is down at
    start-up is reported like one that went away).

    Retrying here rather than in txredisapi's C{ClientService} keeps the log
    quiet: the service logs a line for every failed attempt, which during a
    long outage is one every few seconds per connection; this way it sees no
    failed attempts, only the one lost connection per outage.
    """

    def __init__(self, endpoint: Any, broker: RedisBroker, role: str) -> None:
        self._endpoint = endpoint
        self._broker = broker
        self._role = role

    def connect(self, factory: Any) -> defer.Deferred[Any]:
        reactor = self._broker.reactor
        pending: Any = None
        attempts = 0
        cancelled = False

        def cancel(_: object) -> None:
            nonlocal cancelled
            cancelled = True
            if isinstance(pending, defer.Deferred):
                pending.cancel()
            elif pending is not None and pending.active():
                pending.cancel()

        result: defer.Deferred[Any] = defer.Deferred(cancel)

        def attempt() -> None:
            nonlocal pending
            pending = self._endpoint.connect(factory)
            pending.addCallbacks(connected, failed)

        def connected(protocol: Any) -> None:
            if not cancelled:
                result.callback(protocol)

        def failed(failure: Failure) -> None:
            nonlocal pending, attempts
            if cancelled:
                return
            attempts += 1
            self._broker._down(self._role, failure.getErrorMessage())
            pending = reactor.callLater(factory.retryDelay(attempts), attempt)

        attempt()
        return result

    def __repr__(self) -> str:
        return f"<Redis {self._role} connection to {self._broker.address.display()}>"


class _Subscriber(txredisapi.SubscriberProtocol):  # type: ignore[misc]  # txredisapi is not typed
    broker: RedisBroker
    _pinging: task.LoopingCall | None = None

    def connectionMade(self) -> defer.Deferred[None]:
        # The base class authenticates; the connection is usable once that
        # has succeeded (self._ready).
        d: defer.Deferred[None] = super().connectionMade()
        d.addCallback(self._authenticated)
        return d

    def _authenticated(self, result: object) -> None:
        if self._ready:
            self.broker._up(_SUBSCRIBER, self)

    def messageReceived(self, pattern: Any, channel: bytes, message: bytes) -> None:
        self.broker._message(channel, message)

    def startPinging(self, interval: float, timeout: float) -> None:
        def ping() -> None:
            d = self.execute_command("PING", apply_timeout=False)
            d.addTimeout(timeout, self.broker.reactor)
            d.addErrback(lambda _: self.transport.abortConnection())

        self._pinging = task.LoopingCall(ping)
        self._pinging.clock = self.broker.reactor
        self._pinging.start(interval, now=False)

    def connectionLost(self, why: Failure) -> None:
        if self._pinging is not None and self._pinging.running:
            self._pinging.stop()
        super().connectionLost(why)
        self.broker._lost(_SUBSCRIBER, self, why)


class _Publisher(txredisapi.RedisProtocol):  # type: ignore[misc]  # txredisapi is not typed
    broker: RedisBroker

    def connectionMade(self) -> defer.Deferred[None]:
        d: defer.Deferred[None] = super().connectionMade()
        d.addCallback(self._authenticated)
        return d

    def _authenticated(self, result: object) -> None:
        if self._ready:
            self.broker._up(_PUBLISHER, self)

    def connectionLost(self, why: Failure) -> None:
        super().connectionLost(why)
        self.broker._lost(_PUBLISHER, self, why)


def _factory(broker: RedisBroker, role: str) -> txredisapi.RedisFactory:
    address = broker.address
    protocol = _Subscriber if role == _SUBSCRIBER else _Publisher
    factory = txredisapi.RedisFactory(
        f"{address.host}:{address.port}",
        # Pub/sub ignores the database; SELECT it anyway, so that a bad
        # number is reported the way Redis reports it.
        address.db,
        1,
        isLazy=True,
        # Binary-safe: messages (and replies) stay bytes both ways.
        charset=None,
        password=address.password,
        replyTimeout=broker.publishTimeout if role == _PUBLISHER else None,
        convertNumbers=False,
        username=address.username,
    )
    factory.protocol = type(protocol.__name__, (protocol,), {"broker": broker})
    factory.initialDelay = broker.initialDelay
    factory.maxDelay = broker.maxDelay
    # A refused AUTH or SELECT ends the reconnecting for good.
    factory.deferred.addErrback(broker._refused, role)
    return factory


@implementer(IBroker)
class RedisBroker:
    """
    A broker on a Redis server (pub/sub), through two txredisapi connections.

    Use a URL with L{ratchetpy.Channels} or twistd's C{--broker}
    (C{redis://[[user]:password@]host[:port][/db]}), or make one::

        broker = RedisBroker("redis://127.0.0.1:6379/0")
        channels = Channels(broker)

    Redis pub/sub channels are global to a server, whatever the database
    number: servers that should not share channels need separate Redis
    servers (ratchetpy's channel names are prefixed with C{ratchetpy:}, so
    other applications are not disturbed).

    @ivar stats: the L{BrokerStats}.
    @ivar connected: whether both connections are up.
    """

    def __init__(
        self,
        address: RedisAddress | str,
        *,
        publishTimeout: float = PUBLISH_TIMEOUT,
        initialDelay: float = INITIAL_DELAY,
        maxDelay: float = MAX_DELAY,
        connectTimeout: float = CONNECT_TIMEOUT,
        pingInterval: float = PING_INTERVAL,
        reactor: Any = None,
    ) -> None:
        """
        @param address: a C{redis://} URL, or its parsed L{RedisAddress}.
        @param publishTimeout: seconds a publish may wait for Redis.
        @param initialDelay: seconds before the first reconnection attempt.
        @param maxDelay: the longest wait between reconnection attempts.
        @param connectTimeout: seconds a connection attempt may take.
        @param pingInterval: seconds between liveness PINGs on the
            subscribed connection.
        @param reactor: the reactor to connect, time out and retry on;
            default: the installed one, looked up when the broker starts.
        @raise ValueError: C{address} is not a valid C{redis://} URL.
        """
        self._reactor = reactor
        self.address = parseRedisUrl(address) if isinstance(address, str) else address
        self.publishTimeout = publishTimeout
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
        self.connectTimeout = connectTimeout
        self.pingInterval = pingInterval
        self.origin = newOrigin("server")
        self.stats = BrokerStats()
        self._subscriptions = _Subscriptions()
        self._connections: dict[str, Any] = {_SUBSCRIBER: None, _PUBLISHER: None}
        self._factories: list[txredisapi.RedisFactory] = []
        self._started = self._stopping = False
        self._everConnected = False
        # When the current outage began (time.monotonic()), else None; and
        # how many publishes failed in it.
        self._outageSince: float | None = None
        self._outageFailures = 0
        self._waiting: list[defer.Deferred[None]] = []

    @property
    def reactor(self) -> Any:
        """
        The reactor given to the constructor, else the installed one, looked
        up when first needed: making a broker (twistd's C{--broker},
        L{ratchetpy.pubsub.setDefaultBroker}) does not.
        """
        if self._reactor is None:
            self._reactor = installedReactor()
        return self._reactor

    @property
    def connected(self) -> bool:
        return all(self._connections.values())

    @property
    def stopping(self) -> bool:
        """
        Whether L{stop} was called: the broker will not connect again.
        """
        return self._stopping

    def whenConnected(self) -> defer.Deferred[None]:
        """
        A L{Deferred<twisted.internet.defer.Deferred>} that fires when both connections are up (at once if
        they are).
        """
        if self.connected:
            return defer.succeed(None)
        d: defer.Deferred[None] = defer.Deferred()
        self._waiting.append(d)
        return d

    # Lifecycle

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        for role in (_SUBSCRIBER, _PUBLISHER):
            factory = _factory(self, role)
            endpoint = HostnameEndpoint(self.reactor, self.address.host, self.address.port, self.connectTimeout)
            factory.startConnecting(_Watched(endpoint, self, role))
            self._factories.append(factory)

    def stop(self) -> defer.Deferred[None]:
        self._stopping = True
        factories, self._factories = self._factories, []
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            d.errback(BrokerUnavailable(f"the broker for {self.address.display()} was stopped"))
        return defer.gatherResults([f.disconnect() for f in factories], consumeErrors=True).addCallback(
            lambda _: None
        )

    # Publishing and subscribing

    def publish(self, channel: str, data: bytes) -> defer.Deferred[int]:
        connection = self._connections[_PUBLISHER]
        if connection is None:
            return defer.fail(self._failed(channel, self._unreachable()))
        try:
            d: defer.Deferred[int] = connection.publish(channel.encode("utf-8"), bytes(data))
        except txredisapi.ConnectionError as exc:
            return defer.fail(self._failed(channel, self._unreachable(str(exc))))

        def accepted(received: int) -> int:
            self.stats.published += 1
            return int(received)

        def failed(failure: Failure) -> Failure:
            if failure.check(txredisapi.TimeoutError):
                why = f"Redis at {self.address.display()} did not answer within {self.publishTimeout:g} seconds"
                return Failure(self._failed(channel, BrokerUnavailable(why)))
            if failure.check(txredisapi.ConnectionError):
                return Failure(self._failed(channel, self._unreachable(failure.getErrorMessage())))
            self.stats.publishFailed += 1
            _problems.warn("publish", "publishing on {channel!r} failed: {why}", channel=channel,
                           why=failure.getErrorMessage())
            return failure

        return d.addCallbacks(accepted, failed)

    def execute(self, *command: Any) -> defer.Deferred[Any]:
        """
        Run one Redis command on the publishing connection (what presence
        and one-time tickets keep in Redis): C{execute("GETDEL", key)}.

        @return: a L{Deferred<twisted.internet.defer.Deferred>} firing with Redis's answer (C{bytes} for
            strings), or failing within C{publishTimeout} seconds with
            L{BrokerUnavailable} while Redis is unreachable.
        """
        connection = self._connections[_PUBLISHER]
        if connection is None:
            return defer.fail(BrokerUnavailable(f"Redis at {self.address.display()} is unreachable"))
        try:
            d: defer.Deferred[Any] = connection.execute_command(*command)
        except txredisapi.ConnectionError as exc:
            return defer.fail(BrokerUnavailable(f"Redis at {self.address.display()} is unreachable ({exc})"))

        def failed(failure: Failure) -> Failure:
            if failure.check(txredisapi.TimeoutError, txredisapi.ConnectionError):
                return Failure(
                    BrokerUnavailable(
                        f"Redis at {self.address.display()} did not answer: {failure.getErrorMessage()}"
                    )
                )
            return failure

        return d.addErrback(failed)

    def _unreachable(self, why: str = "") -> BrokerUnavailable:
        detail = f" ({why})" if why else ""
        return BrokerUnavailable(
            f"Redis at {self.address.display()} is unreachable{detail}: the message reached this process's "
            "subscribers only"
        )

    def _failed(self, channel: str, exc: BrokerUnavailable) -> BrokerUnavailable:
        """
        Count a failed publish; log it if it is the first of an outage (the
        others are counted, and the count logged when the outage ends).
        """
        self.stats.publishFailed += 1
        if self._outageSince is None:
            _problems.warn("publish", "publishing on {channel!r} failed: {why}", channel=channel, why=exc)
        else:
            self._outageFailures += 1
            if self._outageFailures == 1:
                log.warn(
                    "publishing on {channel!r} failed: {why}; further publishes are counted, not logged, "
                    "until Redis is back",
                    channel=channel,
                    why=exc,
                )
        return exc

    def subscribe(self, channel: str, callback: Callback) -> None:
        if self._subscriptions.add(channel, callback):
            connection = self._connections[_SUBSCRIBER]
            if connection is not None:
                connection.subscribe([channel.encode("utf-8")]).addErrback(self._subscribeFailed, channel)

    def unsubscribe(self, channel: str, callback: Callback) -> None:
        if self._subscriptions.remove(channel, callback):
            connection = self._connections[_SUBSCRIBER]
            if connection is not None:
                connection.unsubscribe([channel.encode("utf-8")]).addErrback(self._subscribeFailed, channel)

    def _subscribeFailed(self, failure: Failure, channel: str) -> None:
        # The connection is gone (it will subscribe again when it is back).
        if not failure.check(txredisapi.ConnectionError):
            _problems.warn("subscribe", "(un)subscribing to {channel!r} failed: {why}", channel=channel,
                           why=failure.getErrorMessage())

    def _message(self, channel: bytes, data: bytes) -> None:
        self.stats.received += 1
        try:
            name = channel.decode("utf-8")
        except UnicodeDecodeError:
            return
        self._subscriptions.deliver(name, data)

    # Connections coming and going

    def _up(self, role: str, connection: Any) -> None:
        if self._stopping:
            connection.transport.loseConnection()
            return
        self._connections[role] = connection
        if role == _SUBSCRIBER:
            channels = [name.encode("utf-8") for name in self._subscriptions.callbacks]
            if channels:
                connection.subscribe(channels).addErrback(self._subscribeFailed, "(all)")
            if self.pingInterval:
                connection.startPinging(self.pingInterval, self.publishTimeout)
        if not self.connected:
            return
        if self._outageSince is not None:
            log.info(
                "Redis at {address} is reachable again after {seconds:.1f} seconds: resubscribed to {channels} "
                "channels; {failures} publishes failed meanwhile",
                address=self.address.display(),
                seconds=time.monotonic() - self._outageSince,
                channels=len(self._subscriptions.callbacks),
                failures=self._outageFailures,
            )
            self._outageSince = None
        elif not self._everConnected:
            log.info("connected to Redis at {address} (broker for channels)", address=self.address.display())
        self._everConnected = True
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            d.callback(None)

    def _lost(self, role: str, connection: Any, why: Failure) -> None:
        if self._connections[role] is connection:
            self._connections[role] = None
            self._down(role, why.getErrorMessage() if isinstance(why, Failure) else str(why))

    def _down(self, role: str, why: str) -> None:
        if self._stopping or self._outageSince is not None:
            return
        self._outageSince = time.monotonic()
        self._outageFailures = 0
        self.stats.outages += 1
        log.warn(
            "Redis at {address} is unreachable ({why}): serving this process's clients only; messages to and "
            "from other processes are lost until it is back. Reconnecting (every {maxDelay:g} seconds at most).",
            address=self.address.display(),
            why=why,
            maxDelay=self.maxDelay,
        )

    def _refused(self, failure: Failure, role: str) -> None:
        if not self._stopping:
            log.error(
                "Redis at {address} refused the {role} connection: {why}. Channels stay local to this process; "
                "check the password and database number in the broker URL.",
                address=self.address.display(),
                role=role,
                why=failure.getErrorMessage(),
            )

    def __repr__(self) -> str:
        state = "connected" if self.connected else "not connected"
        return f"<RedisBroker {self.address.display()} {state}>"
