# -*- test-case-name: tests.pubsub.test_presence -*-
"""
Where presence entries are kept, for L{ratchetpy.pubsub.presence}: in memory
for a L{LocalBroker}, in Redis (Lua scripts through
L{ratchetpy.pubsub.redis.RedisBroker.execute}) for a Redis broker; and the
bytes of the join and leave events both publish.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, cast

from twisted.internet import defer

from .local import LocalBroker

if TYPE_CHECKING:
    from ..interfaces import IBroker
    from .redis import RedisBroker

#: Expired entries one step removes at most (a Lua script holds Redis while
#: it runs); the rest go at the next step.
SWEEP_LIMIT = 1000
#: Redis keys of presence start with this.
KEY_PREFIX = "ratchetpy:presence:"
#: Join and leave events are published on this followed by the channel name:
#: outside L{ratchetpy.pubsub.envelope.CHANNEL_PREFIX}, so no client gets them.
EVENT_PREFIX = "ratchetpy-presence:"


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
    users whose last entry it removed (each with their info). A user may be
    in C{swept} and C{joined}: their server's entry expired, and the server
    added it again.
    """

    joined: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    left: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    swept: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def _decodeInfo(text: str | bytes) -> dict[str, Any]:
    try:
        info = json.loads(text)
    except ValueError:
        return {}
    return info if isinstance(info, dict) else {}


def encodeEvent(origin: str, *, join: str | None = None, info: str = "{}", leave: str | None = None) -> bytes:
    """
    The bytes of a join event (C{join}: the user id) or a leave event
    (C{leave}), with C{info}, the user's info as JSON, as the Redis scripts
    write them.
    """
    kind, userId = ("join", join) if join is not None else ("leave", leave)
    text = f'{{"origin":{json.dumps(origin)},"{kind}":{json.dumps(userId)},"info":{info}}}'
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
                info = state.users.pop(userId)
                del state.servers[userId]
                changes.left.append((userId, _decodeInfo(info)))
                events.append(encodeEvent(origin, leave=userId, info=info))
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
    local info = redis.call('HGET', usersKey, userId) or '{}'
    redis.call('HDEL', serversKey, userId)
    redis.call('HDEL', usersKey, userId)
    left[#left + 1] = userId
    left[#left + 1] = info
    redis.call('PUBLISH', events,
      '{"origin":' .. cjson.encode(origin) .. ',"leave":' .. cjson.encode(userId) .. ',"info":' .. info .. '}')
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
# user ids to remove. Returns {joined user id, info pairs, left user id, info
# pairs, swept user id, info pairs}.
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
# id and info pairs}.
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

    def __init__(self, broker: RedisBroker) -> None:
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
                [(userId, _decodeInfo(info)) for userId, info in _pairs(left)],
                [(userId, _decodeInfo(info)) for userId, info in _pairs(swept)],
            )

        return d.addCallback(parsed)

    def read(self, channel: str, origin: str, limit: int | None, ttl: float) -> defer.Deferred[
        tuple[int, dict[str, dict[str, Any]] | None, Changes]
    ]:
        d = self.broker.execute("EVAL", _READ, 3, *self._args(channel, origin, ttl), -1 if limit is None else limit)

        def parsed(reply: list[Any]) -> tuple[int, dict[str, dict[str, Any]] | None, Changes]:
            count, users, swept = reply
            count = int(count)
            changes = Changes(swept=[(userId, _decodeInfo(info)) for userId, info in _pairs(swept)])
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
        # A RedisBroker, or a broker that does as it does.
        return _RedisStore(cast("RedisBroker", broker))
    raise TypeError(f"presence needs a LocalBroker or a RedisBroker, not {broker!r}")
