# -*- test-case-name: tests.pubsub.test_presence -*-
"""
Presence: the users subscribed to a channel, on every server attached to
the same broker, for L{ratchetpy.Channels}C{(presence=True)}.

Each server (each L{ratchetpy.Channels}) keeps one I{entry} per channel and
user it has connections of: a user with three tabs on one server is one
entry, on two servers two, and present once. Where entries are kept:

    - L{ratchetpy.pubsub.local.LocalBroker}: in memory, shared by the
      L{Channels} of the process; entries go when their connections leave.
    - L{ratchetpy.pubsub.redis.RedisBroker}: in Redis, three keys per
      channel (see L{redisKeys}), changed by Lua scripts so that "first
      entry of this user" and "last entry of this user" are decided
      atomically. Each entry has an expiry time that its server pushes back
      every C{ttl / 3} seconds; a server that dies stops doing so, and the
      first server that looks at the channel after the expiry (each server
      with subscribers looks every C{ttl / 3} seconds) removes the entry.

A user's first entry and last entry are announced on the broker channel
L{eventChannel}C{(channel)}, published by the same atomic step (by the
script, on Redis), so every server hears the joins and leaves of one user
in the order they happened.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from twisted.internet import defer, task
from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure

from .._ratelimit import LogBudget
from .._reactor import installedReactor
from . import BrokerUnavailable
from ._presencestore import (
    EVENT_PREFIX,
    KEY_PREFIX,
    SWEEP_LIMIT,
    Changes,
    decodeEvent,
    eventChannel,
    redisKeys,
    storeFor,
)

if TYPE_CHECKING:
    from ..interfaces import IConnection
    from .channels import Channels

__all__ = [
    "EVENT_PREFIX",
    "KEY_PREFIX",
    "MAX_INFO_SIZE",
    "MAX_PRESENCE",
    "PRESENCE_TTL",
    "REFRESH_BATCH",
    "SWEEP_LIMIT",
    "PresenceTooLarge",
    "PresenceTracker",
    "eventChannel",
    "redisKeys",
]

log = Logger(namespace="ratchetpy")
_problems = LogBudget(log)

#: Seconds a server's entry lives in Redis unless the server refreshes it
#: (every third of this); so a server that dies stops counting within
#: C{ttl + ttl / 3} seconds.
PRESENCE_TTL = 30.0
#: The most users L{ratchetpy.Channels.presence} returns; a channel with more
#: fails with L{PresenceTooLarge} (ask L{ratchetpy.Channels.presenceCount}).
MAX_PRESENCE = 1000
#: The largest C{conn.user.info}, in bytes of JSON, that presence keeps; a
#: larger one is kept as C{{}} (and logged), so that one user cannot make
#: every presence answer large.
MAX_INFO_SIZE = 4096
#: Users one refresh command carries at most.
REFRESH_BATCH = 500
#: Seconds after the broker is back before this server's entries are
#: published again: a broker that fails again at once is not retried in a
#: tight loop.
RESYNC_DELAY = 0.5

#: C{onJoin(channel, userId, info)}
JoinHook = Callable[[str, str, dict[str, Any]], object]
#: C{onLeave(channel, userId, info)}
LeaveHook = Callable[[str, str, dict[str, Any]], object]


class PresenceTooLarge(Exception):
    """
    L{ratchetpy.Channels.presence} was asked for a channel with more users
    than its C{maxPresence}: ask for L{ratchetpy.Channels.presenceCount}.

    @ivar channel: the channel.
    @ivar count: how many users it has.
    @ivar limit: the C{maxPresence} that was exceeded.
    """

    def __init__(self, channel: str, count: int, limit: int) -> None:
        super().__init__(
            f"channel {channel!r} has {count} users present, more than maxPresence ({limit}): "
            "ask for presenceCount instead, or raise maxPresence"
        )
        self.channel = channel
        self.count = count
        self.limit = limit


def encodeInfo(user: Any) -> str:
    """
    The JSON of C{user.info} that presence keeps: C{{}} for none, for one
    that is not a dict, or for one larger than L{MAX_INFO_SIZE} (logged).
    """
    info = getattr(user, "info", None)
    if not isinstance(info, Mapping):
        return "{}"
    try:
        text = json.dumps(dict(info), ensure_ascii=False, separators=(",", ":"), default=str)
    except (TypeError, ValueError) as exc:
        _problems.warn("presence-info", "presence keeps {{}} for user {user!r}: their info is not JSON ({why})",
                       user=user.id, why=exc)
        return "{}"
    if len(text) * 4 > MAX_INFO_SIZE and len(text.encode("utf-8")) > MAX_INFO_SIZE:
        _problems.warn(
            "presence-info",
            "presence keeps {{}} for user {user!r}: their info is {size} bytes of JSON, more than {max}",
            user=user.id,
            size=len(text.encode("utf-8")),
            max=MAX_INFO_SIZE,
        )
        return "{}"
    return text


# One Channels' side


class PresenceTracker:
    """
    The presence side of one L{Channels}: its entries (one per channel and
    user it has connections of), their refreshing, and the hooks.

    Channels calls L{subscribed} and L{unsubscribed}; nothing else does.
    """

    def __init__(
        self,
        channels: Channels,
        select: Callable[[str], bool],
        *,
        ttl: float,
        maxPresence: int,
        reactor: Any = None,
    ) -> None:
        self.channels = channels
        self.select = select
        self.ttl = ttl
        self.maxPresence = maxPresence
        self.store = storeFor(channels.broker)
        self._reactor = reactor
        #: channel -> user id -> this Channels' connections of the user there
        self.members: dict[str, dict[str, set[IConnection]]] = {}
        #: channel -> user id -> the info JSON of the user's entry
        self.infos: dict[str, dict[str, str]] = {}
        #: connection -> channel -> the user id it counts for there
        self.counted: dict[IConnection, dict[str, str]] = {}
        #: channel -> user ids whose entries could not be removed (Redis
        #: was down): removed at the next refresh.
        self.pendingRemovals: dict[str, set[str]] = {}
        #: presence channels with subscribers here (their events are heard)
        self.watched: set[str] = set()
        self.dropped = 0
        self._loop: task.LoopingCall | None = None
        self._outage = False
        self._resyncing = False

    @property
    def origin(self) -> str:
        return self.channels.origin

    @property
    def reactor(self) -> Any:
        if self._reactor is None:
            self._reactor = getattr(self.channels.broker, "reactor", None) or installedReactor()
        return self._reactor

    # From Channels

    def subscribed(self, conn: IConnection, channel: str) -> None:
        """
        C{conn} is now subscribed to C{channel} (it was not).
        """
        if not self.select(channel):
            return
        if channel not in self.watched:
            self.watched.add(channel)
            self.channels.broker.subscribe(eventChannel(channel), self._event)
            self._startRefreshing()
        user = conn.user
        if user is None:
            return
        userId = user.id
        if not isinstance(userId, str):
            raise TypeError(f"a user id is a str, not {type(userId).__name__}: {userId!r}")
        if not userId:
            raise ValueError("a user id must not be empty")
        users = self.members.setdefault(channel, {})
        connections = users.setdefault(userId, set())
        connections.add(conn)
        self.counted.setdefault(conn, {})[channel] = userId
        if len(connections) == 1:
            info = encodeInfo(user)
            self.infos.setdefault(channel, {})[userId] = info
            pending = self.pendingRemovals.get(channel)
            if pending is not None:
                pending.discard(userId)
            self._change(channel, {userId: info}, [])

    def unsubscribed(self, conn: IConnection, channel: str, emptied: bool) -> None:
        """
        C{conn} is no longer subscribed to C{channel}; C{emptied}: it was
        the last subscriber here.
        """
        counted = self.counted.get(conn)
        userId = counted.pop(channel, None) if counted is not None else None
        if counted is not None and not counted:
            del self.counted[conn]
        if userId is not None:
            users = self.members[channel]
            connections = users[userId]
            connections.discard(conn)
            if not connections:
                del users[userId], self.infos[channel][userId]
                if not users:
                    del self.members[channel], self.infos[channel]
                self._change(channel, {}, [userId])
        if emptied and channel in self.watched:
            self.watched.discard(channel)
            self.channels.broker.unsubscribe(eventChannel(channel), self._event)

    # Asking

    def presence(self, channel: str) -> defer.Deferred[dict[str, dict[str, Any]]]:
        d = self.store.read(channel, self.origin, self.maxPresence, self.ttl)

        def done(result: tuple[int, dict[str, dict[str, Any]] | None, Changes]) -> dict[str, dict[str, Any]]:
            count, users, changes = result
            self._changed(changes, channel)
            if users is None:
                raise PresenceTooLarge(channel, count, self.maxPresence)
            return users

        return d.addCallback(done)

    def count(self, channel: str) -> defer.Deferred[int]:
        d = self.store.read(channel, self.origin, None, self.ttl)

        def done(result: tuple[int, dict[str, dict[str, Any]] | None, Changes]) -> int:
            count, _, changes = result
            self._changed(changes, channel)
            return count

        return d.addCallback(done)

    # Writing entries

    def _change(self, channel: str, add: Mapping[str, str], remove: list[str]) -> None:
        try:
            d = self.store.change(channel, self.origin, add, remove, self.ttl)
        except Exception:
            d = defer.fail()
        d.addCallbacks(self._changed, self._failed, callbackArgs=(channel,), errbackArgs=(channel, remove))

    def _changed(self, changes: Changes, channel: str) -> None:
        if self._outage:
            self._outage = False
            log.info("presence is kept in the broker again: this server's entries are published again")
        # Where a change happened, its hooks run whether or not this server
        # still has subscribers there: every join and leave is heard once
        # at least.
        for userId, info in changes.swept:
            self._fire("onLeave", channel, userId, info)
        for userId, info in changes.joined:
            self._fire("onJoin", channel, userId, info)
        for userId, info in changes.left:
            self._fire("onLeave", channel, userId, info)

    def _failed(self, failure: Failure, channel: str, remove: list[str]) -> None:
        members = self.members.get(channel, {})
        stillGone = {userId for userId in remove if userId not in members}
        if stillGone:
            self.pendingRemovals.setdefault(channel, set()).update(stillGone)
        if not failure.check(BrokerUnavailable):
            _problems.warn("presence", "updating presence on {channel!r} failed: {why}", channel=channel,
                           why=failure.getErrorMessage())
            return
        if not self._outage:
            self._outage = True
            log.warn(
                "presence on {channel!r} could not be updated ({why}): this server's users are counted here "
                "only until the broker is back; its entries are published again then",
                channel=channel,
                why=failure.getErrorMessage(),
            )
        if not self._resyncing and not self.store.stopped():
            # Publish again as soon as the broker is back, not at the next
            # refresh only.
            self._resyncing = True

            def back(_: object) -> None:
                def resync() -> None:
                    self._resyncing = False
                    self.refresh()

                self.reactor.callLater(RESYNC_DELAY, resync)

            def gaveUp(_: Failure) -> None:
                self._resyncing = False

            self.store.whenReady().addCallbacks(back, gaveUp)

    def refresh(self) -> None:
        """
        Push back the expiry of every entry of this L{Channels}, add those
        missing (the broker was down), remove those that could not be, and
        let the store remove expired ones, in every presence channel with
        subscribers here.
        """
        if self.store.stopped():
            self._stopRefreshing()
            return
        for channel in self.watched | set(self.pendingRemovals):
            infos = list(self.infos.get(channel, {}).items())
            remove = list(self.pendingRemovals.pop(channel, ()))
            first = True
            while first or infos:
                batch, infos = dict(infos[:REFRESH_BATCH]), infos[REFRESH_BATCH:]
                self._change(channel, batch, remove if first else [])
                first = False
        if not self.watched and not self.pendingRemovals:
            self._stopRefreshing()

    def _startRefreshing(self) -> None:
        if self._loop is not None or not self.store.refreshes:
            return
        self._loop = task.LoopingCall(self.refresh)
        self._loop.clock = self.reactor
        self._loop.start(self.ttl / 3, now=False).addErrback(
            lambda failure: log.failure("refreshing presence failed", failure, level=LogLevel.error)
        )

    def _stopRefreshing(self) -> None:
        loop, self._loop = self._loop, None
        if loop is not None and loop.running:
            loop.stop()

    # From the broker

    def _event(self, brokerChannel: str, data: bytes) -> None:
        try:
            origin, kind, userId, info = decodeEvent(data)
        except ValueError as exc:
            self.dropped += 1
            _problems.warn("bad-presence", "dropped a presence event from the broker on {channel!r}: {exc}",
                           channel=brokerChannel, exc=exc)
            return
        if origin == self.origin:
            # Our own change: its hooks ran (or will) from its result.
            return
        channel = brokerChannel[len(EVENT_PREFIX) :]
        if channel not in self.watched:
            return
        self._fire("onJoin" if kind == "join" else "onLeave", channel, userId, info)

    def _fire(self, name: str, *args: Any) -> None:
        hook = getattr(self.channels, name)
        if hook is None:
            return

        def failed(failure: Failure) -> None:
            # A hook that fails for every join of a busy channel must not
            # flood the log: rate-limited, and it changes nothing else.
            if _problems.allow(f"hook-{name}"):
                log.failure(
                    "the {hook} hook failed on {channel!r}", failure, hook=name, channel=args[0], level=LogLevel.error
                )

        try:
            result = hook(*args)
        except Exception:
            failed(Failure())
            return
        if inspect.iscoroutine(result):
            result = defer.ensureDeferred(result)
        if isinstance(result, defer.Deferred):
            result.addErrback(failed)

    def stop(self) -> None:
        """
        Stop refreshing (the entries expire after the TTL).
        """
        self._stopRefreshing()
