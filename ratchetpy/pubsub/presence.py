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
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from twisted.internet import defer, task
from twisted.logger import Logger
from twisted.python.failure import Failure

from .._ratelimit import LogBudget
from .._reactor import installedReactor
from . import BrokerUnavailable
from .local import LocalBroker

if TYPE_CHECKING:
    from ..interfaces import IBroker, IConnection
    from .channels import Channels

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
#: Expired entries one step removes at most (a Lua script holds Redis while
#: it runs); the rest go at the next step.
SWEEP_LIMIT = 1000
#: Users one refresh command carries at most.
REFRESH_BATCH = 500
#: Seconds after the broker is back before this server's entries are
#: published again: a broker that fails again at once is not retried in a
#: tight loop.
RESYNC_DELAY = 0.5

#: Redis keys of presence start with this.
KEY_PREFIX = "ratchetpy:presence:"
#: Join and leave events are published on this followed by the channel name:
#: outside L{ratchetpy.pubsub.envelope.CHANNEL_PREFIX}, so no client gets them.
EVENT_PREFIX = "ratchetpy-presence:"

#: C{onJoin(channel, userId, info)}
JoinHook = Callable[[str, str, dict[str, Any]], object]
#: C{onLeave(channel, userId)}
LeaveHook = Callable[[str, str], object]


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


def eventChannel(channel: str) -> str:
    """
    The broker channel of the join and leave events of C{channel}.
    """
    return EVENT_PREFIX + channel


def redisKeys(channel: str) -> tuple[str, str, str]:
    """
    The Redis keys of C{channel}'s presence:

        - C{ratchetpy:presence:users:CHANNEL}, a hash: user id to the JSON
          of their C{info};
        - C{ratchetpy:presence:servers:CHANNEL}, a hash: user id to the
          number of servers with an entry of the user;
        - C{ratchetpy:presence:expiry:CHANNEL}, a sorted set: C{SERVER|USERID}
          (one member per entry) scored by its expiry time, in milliseconds
          of Redis's clock.

    All three expire (C{PEXPIREAT}) one TTL after the last entry would, so
    a channel whose servers all died leaves nothing behind.
    """
    return (KEY_PREFIX + "users:" + channel, KEY_PREFIX + "servers:" + channel, KEY_PREFIX + "expiry:" + channel)


@dataclass
class Changes:
    """
    What one step changed, in this order: users whose last entries had
    expired (C{swept}), users whose first entry it added (with their info),
    users whose last entry it removed. A user may be in C{swept} and
    C{joined}: their server's entry expired, and the server added it again.
    """

    joined: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    swept: list[str] = field(default_factory=list)


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


def _decodeInfo(text: str | bytes) -> dict[str, Any]:
    try:
        info = json.loads(text)
    except ValueError:
        return {}
    return info if isinstance(info, dict) else {}


def encodeEvent(origin: str, *, join: str | None = None, info: str = "{}", leave: str | None = None) -> bytes:
    """
    The bytes of a join event (C{join}: the user id, C{info}: their info's
    JSON) or a leave event (C{leave}), as the Redis scripts write them.
    """
    if join is not None:
        text = f'{{"origin":{json.dumps(origin)},"join":{json.dumps(join)},"info":{info}}}'
    else:
        text = json.dumps({"origin": origin, "leave": leave})
    return text.encode("utf-8")


def decodeEvent(data: bytes) -> tuple[str, str, str | None, dict[str, Any]]:
    """
    C{(origin, "join" or "leave", userId, info)} from the bytes of an event.

    @raise ValueError: C{data} is not a presence event.
    """
    event = json.loads(data)
    if not isinstance(event, dict) or not isinstance(event.get("origin"), str):
        raise ValueError("not a presence event")
    for kind in ("join", "leave"):
        userId = event.get(kind)
        if isinstance(userId, str) and userId:
            info = event.get("info")
            return event["origin"], kind, userId, info if isinstance(info, dict) else {}
    raise ValueError("not a presence event")


# Where entries are kept


class _Store(Protocol):
    #: Whether entries expire, so that servers must refresh theirs.
    refreshes: bool

    def change(
        self, channel: str, origin: str, add: Mapping[str, str], remove: list[str], ttl: float
    ) -> defer.Deferred[Changes]:
        """
        Add (or refresh) C{origin}'s entries of the users of C{add} (user id
        to info JSON), remove its entries of the users of C{remove}, and
        remove expired entries; announce the joins and leaves.
        """

    def read(self, channel: str, origin: str, limit: int | None, ttl: float) -> defer.Deferred[
        tuple[int, dict[str, dict[str, Any]] | None, Changes]
    ]:
        """
        Remove expired entries (announcing the leaves), then count the users
        present and, unless C{limit} is C{None} or the count is over it,
        read them.
        """

    def stopped(self) -> bool:
        """
        Whether the broker has been stopped for good.
        """

    def whenReady(self) -> defer.Deferred[None]:
        """
        Fires when the store can be written again after a failure.
        """


class _LocalChannel:
    def __init__(self) -> None:
        self.entries: set[tuple[str, str]] = set()
        self.users: dict[str, str] = {}
        self.servers: dict[str, int] = {}


class _LocalStore:
    """
    Presence of the L{Channels} on one L{LocalBroker}: in memory, no expiry
    (they all live and die with the process).
    """

    refreshes = False

    def __init__(self, broker: LocalBroker) -> None:
        self.broker = broker
        self.channels: dict[str, _LocalChannel] = {}

    def change(
        self, channel: str, origin: str, add: Mapping[str, str], remove: list[str], ttl: float
    ) -> defer.Deferred[Changes]:
        state = self.channels.setdefault(channel, _LocalChannel())
        changes = Changes()
        events: list[bytes] = []
        for userId, info in add.items():
            state.users[userId] = info
            if (origin, userId) in state.entries:
                continue
            state.entries.add((origin, userId))
            state.servers[userId] = state.servers.get(userId, 0) + 1
            if state.servers[userId] == 1:
                changes.joined.append((userId, _decodeInfo(info)))
                events.append(encodeEvent(origin, join=userId, info=info))
        for userId in remove:
            if (origin, userId) not in state.entries:
                continue
            state.entries.discard((origin, userId))
            state.servers[userId] -= 1
            if not state.servers[userId]:
                del state.servers[userId], state.users[userId]
                changes.left.append(userId)
                events.append(encodeEvent(origin, leave=userId))
        if not state.entries:
            del self.channels[channel]
        for event in events:
            self.broker.publish(eventChannel(channel), event)
        return defer.succeed(changes)

    def read(self, channel: str, origin: str, limit: int | None, ttl: float) -> defer.Deferred[
        tuple[int, dict[str, dict[str, Any]] | None, Changes]
    ]:
        state = self.channels.get(channel)
        users = state.users if state is not None else {}
        if limit is None or len(users) > limit:
            return defer.succeed((len(users), None, Changes()))
        return defer.succeed((len(users), {userId: _decodeInfo(info) for userId, info in users.items()}, Changes()))

    def stopped(self) -> bool:
        return False

    def whenReady(self) -> defer.Deferred[None]:
        return defer.succeed(None)


# The scripts' common part: Redis's clock (the servers' clocks may
# disagree), and removing expired entries, announcing the users who had no
# other entry. KEYS: users, servers, expiry. ARGV[1]: the event channel,
# ARGV[2]: this server's origin, ARGV[3]: its ttl (ms), ARGV[4]: the sweep
# limit.
_COMMON = r"""
local usersKey, serversKey, expiryKey = KEYS[1], KEYS[2], KEYS[3]
local events, origin, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local left = {}
local function removeEntry(entry, userId)
  if redis.call('ZREM', expiryKey, entry) == 0 then
    return
  end
  if redis.call('HINCRBY', serversKey, userId, -1) <= 0 then
    redis.call('HDEL', serversKey, userId)
    redis.call('HDEL', usersKey, userId)
    left[#left + 1] = userId
    redis.call('PUBLISH', events, cjson.encode({origin = origin, leave = userId}))
  end
end
for _, entry in ipairs(redis.call('ZRANGEBYSCORE', expiryKey, '-inf', now, 'LIMIT', 0, tonumber(ARGV[4]))) do
  local bar = string.find(entry, '|', 1, true)
  removeEntry(entry, string.sub(entry, bar + 1))
end
local swept = left
left = {}
local function keepKeys()
  local last = redis.call('ZRANGE', expiryKey, -1, -1, 'WITHSCORES')
  if last[2] == nil then
    redis.call('DEL', usersKey, serversKey, expiryKey)
  else
    -- One TTL past the last expiry, so that whoever looks at the channel
    -- then still finds the expired entries and announces their leaves.
    local at = tonumber(last[2]) + ttl
    for _, key in ipairs(KEYS) do
      redis.call('PEXPIREAT', key, at)
    end
  end
end
"""

# ARGV[5]: how many users to add; then user id, info JSON pairs; then the
# user ids to remove. Returns {joined user id, info pairs, left user ids,
# swept user ids}.
_CHANGE = _COMMON + r"""
local joined = {}
local adding = tonumber(ARGV[5])
local expiry = now + ttl
for i = 6, 5 + 2 * adding, 2 do
  local userId, info = ARGV[i], ARGV[i + 1]
  redis.call('HSET', usersKey, userId, info)
  if redis.call('ZADD', expiryKey, expiry, origin .. '|' .. userId) == 1 then
    if redis.call('HINCRBY', serversKey, userId, 1) == 1 then
      joined[#joined + 1] = userId
      joined[#joined + 1] = info
      redis.call('PUBLISH', events,
        '{"origin":' .. cjson.encode(origin) .. ',"join":' .. cjson.encode(userId) .. ',"info":' .. info .. '}')
    end
  end
end
for i = 6 + 2 * adding, #ARGV do
  removeEntry(origin .. '|' .. ARGV[i], ARGV[i])
end
keepKeys()
return {joined, left, swept}
"""

# ARGV[5]: the most users to return, or -1 to count only. Returns {count,
# user id and info pairs (empty when counting or over the limit), swept user
# ids}.
_READ = _COMMON + r"""
if #swept > 0 then
  keepKeys()
end
local count = redis.call('HLEN', usersKey)
local limit = tonumber(ARGV[5])
local users = {}
if limit >= 0 and count <= limit then
  users = redis.call('HGETALL', usersKey)
end
return {count, users, swept}
"""


def _text(value: bytes | str) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _pairs(flat: list[Any]) -> list[tuple[str, str]]:
    return [(_text(flat[i]), _text(flat[i + 1])) for i in range(0, len(flat), 2)]


class _RedisStore:
    """
    Presence in Redis, through L{ratchetpy.pubsub.redis.RedisBroker.execute}.
    """

    refreshes = True

    def __init__(self, broker: Any) -> None:
        self.broker = broker

    def _args(self, channel: str, origin: str, ttl: float) -> list[Any]:
        return [*redisKeys(channel), eventChannel(channel), origin, int(ttl * 1000), SWEEP_LIMIT]

    def change(
        self, channel: str, origin: str, add: Mapping[str, str], remove: list[str], ttl: float
    ) -> defer.Deferred[Changes]:
        flat = [part for pair in add.items() for part in pair]
        d = self.broker.execute("EVAL", _CHANGE, 3, *self._args(channel, origin, ttl), len(add), *flat, *remove)

        def parsed(reply: list[Any]) -> Changes:
            joined, left, swept = reply
            return Changes(
                [(userId, _decodeInfo(info)) for userId, info in _pairs(joined)],
                [_text(userId) for userId in left],
                [_text(userId) for userId in swept],
            )

        return d.addCallback(parsed)

    def read(self, channel: str, origin: str, limit: int | None, ttl: float) -> defer.Deferred[
        tuple[int, dict[str, dict[str, Any]] | None, Changes]
    ]:
        d = self.broker.execute("EVAL", _READ, 3, *self._args(channel, origin, ttl), -1 if limit is None else limit)

        def parsed(reply: list[Any]) -> tuple[int, dict[str, dict[str, Any]] | None, Changes]:
            count, users, swept = reply
            count = int(count)
            changes = Changes(swept=[_text(userId) for userId in swept])
            if limit is None or count > limit:
                return count, None, changes
            return count, {userId: _decodeInfo(info) for userId, info in _pairs(users)}, changes

        return d.addCallback(parsed)

    def stopped(self) -> bool:
        return bool(getattr(self.broker, "stopping", False))

    def whenReady(self) -> defer.Deferred[None]:
        return self.broker.whenConnected()


#: The store of each LocalBroker, shared by its Channels as Redis is shared
#: by servers.
_localStores: weakref.WeakKeyDictionary[LocalBroker, _LocalStore] = weakref.WeakKeyDictionary()


def storeFor(broker: IBroker) -> _Store:
    """
    Where presence is kept for C{broker}.

    @raise TypeError: C{broker} is neither a L{LocalBroker} nor a broker
        with Redis's C{execute}.
    """
    if isinstance(broker, LocalBroker):
        store = _localStores.get(broker)
        if store is None:
            store = _localStores[broker] = _LocalStore(broker)
        return store
    if callable(getattr(broker, "execute", None)) and callable(getattr(broker, "whenConnected", None)):
        return _RedisStore(broker)
    raise TypeError(f"presence needs a LocalBroker or a RedisBroker, not {broker!r}")


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
        if not isinstance(userId, str) or not userId:
            raise TypeError(f"a user id is a non-empty str, not {userId!r}")
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
        for userId in changes.swept:
            self._fire("onLeave", channel, userId)
        for userId, info in changes.joined:
            self._fire("onJoin", channel, userId, info)
        for userId in changes.left:
            self._fire("onLeave", channel, userId)

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
            lambda failure: log.failure("refreshing presence failed", failure)
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
        if kind == "join":
            self._fire("onJoin", channel, userId, info)
        else:
            self._fire("onLeave", channel, userId)

    def _fire(self, name: str, *args: Any) -> None:
        hook = getattr(self.channels, name)
        if hook is None:
            return

        def failed(failure: Failure) -> None:
            # A hook that fails for every join of a busy channel must not
            # flood the log: rate-limited, and it changes nothing else.
            if _problems.allow(f"hook-{name}"):
                log.failure("the {hook} hook failed on {channel!r}", failure, hook=name, channel=args[0])

        try:
            result = hook(*args)
        except Exception:
            failed(Failure())
            return
        if inspect.isawaitable(result):
            result = defer.ensureDeferred(result)
        if isinstance(result, defer.Deferred):
            result.addErrback(failed)

    def stop(self) -> None:
        """
        Stop refreshing (the entries expire after the TTL).
        """
        self._stopRefreshing()
