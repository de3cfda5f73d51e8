"""
Presence (L{ratchetpy.Channels}C{(presence=True)}): who is subscribed to a
channel across servers. "Two servers" are two L{Channels} on one
L{LocalBroker}, or on two L{RedisBroker} connections to one real
redis-server (as two processes would be), or two real twistd processes on
one Redis, one of them killed with SIGKILL.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from typing import Any

import pytest
import pytest_twisted
import redis
from websockets.sync.client import connect

from ratchetpy import Channels, MessageComponent, Users, pubsub
from ratchetpy.pubsub import BrokerUnavailable
from ratchetpy.pubsub.local import LocalBroker
from ratchetpy.pubsub.presence import (
    MAX_INFO_SIZE,
    MAX_PRESENCE,
    PRESENCE_TTL,
    REFRESH_BATCH,
    SWEEP_LIMIT,
    PresenceTooLarge,
    eventChannel,
    redisKeys,
)
from ratchetpy.pubsub.users import userChannel
from tests.helpers import inThread, serveWebSocket, sleep, waitUntil
from tests.test_docs import DOCS, codeBlocks, page, pythonBlock, signatureText, tableRows

from .test_channels import assertQuiet
from .test_users import User, UserFromQuery, waitForSubscribers


class Tab:
    """
    Enough of a connection for Channels: a user (or none), something to send to.
    """

    resourceId = 0
    remoteAddress = "192.0.2.1"

    def __init__(self, userId: str | None = "ann", info: dict[str, Any] | None = None) -> None:
        if userId is None:
            self.user = None
        else:
            self.user = User(userId, {"name": userId.title()} if info is None else info)
        self.sent: list[object] = []

    def send(self, msg) -> None:
        self.sent.append(msg)

    def close(self, code: int = 1000, reason: str = "") -> None:
        pass


@pytest.fixture(params=["local", "redis"])
def servers(request):
    """
    C{servers()} makes the broker of one more server: the one LocalBroker
    (two Channels on it are two servers), or a fresh RedisBroker connection
    to the test's real Redis.
    """
    if request.param == "local":
        broker = LocalBroker()
        return lambda **options: broker
    return request.getfixturevalue("brokers")


class Heard:
    """
    The join and leave hooks of one server, recorded.
    """

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        #: The info each leave came with, by user.
        self.leftWith: dict[str, dict[str, Any]] = {}

    def onJoin(self, channel, userId, info):
        self.events.append(("join", channel, userId, info))

    def onLeave(self, channel, userId, info):
        self.events.append(("leave", channel, userId))
        self.leftWith[userId] = info


def presenceServer(broker, heard: Heard | None = None, **options: Any) -> Channels:
    heard = heard or Heard()
    return Channels(broker, presence=True, onJoin=heard.onJoin, onLeave=heard.onLeave, **options)


def get(d) -> Any:
    return pytest_twisted.blockon(d)


def settled(channels: list[Channels], expected: dict[str, Any], channel: str = "room") -> None:
    """
    Wait until every one of C{channels} says C{expected} is present (events
    on Redis arrive a moment later).
    """
    for one in channels:
        waitUntil(lambda one=one: get(one.presence(channel)) == expected, what=f"presence {expected}")


def listening(channels: Channels, count: int, channel: str = "room") -> None:
    """
    Wait until C{count} servers hear C{channel}'s presence events: on Redis,
    a server subscribes a moment after its first subscriber there (and
    misses what is published before, as pub/sub does).
    """
    if isinstance(channels.broker, LocalBroker):
        return

    def heard() -> bool:
        reply = get(channels.broker.execute("PUBSUB", "NUMSUB", eventChannel(channel)))
        return int(reply[1]) == count

    waitUntil(heard, what=f"{count} servers on {eventChannel(channel)}")


# One user, many tabs, many servers


def test_threeTabsAreOneUser(servers):
    """
    ann has three tabs on one server, bob one on the other; an anonymous
    tab watches: both servers say two users are present, with their info;
    ann's join is heard once on each server, on her first tab; closing two
    tabs changes nothing, the third is her leave, heard once on each.
    """
    heardOne, heardTwo = Heard(), Heard()
    one, two = presenceServer(servers(), heardOne), presenceServer(servers(), heardTwo)
    watcher = Tab(None)
    two.subscribe(watcher, "room")
    listening(two, 1)
    tabs = [Tab("ann") for _ in range(3)]
    for tab in tabs:
        one.subscribe(tab, "room")
    listening(one, 2)
    bob = Tab("bob", {"name": "Bob ✓", "avatar": 7})
    two.subscribe(bob, "room")
    expected = {"ann": {"name": "Ann"}, "bob": {"name": "Bob ✓", "avatar": 7}}
    settled([one, two], expected)
    assert get(one.presenceCount("room")) == get(two.presenceCount("room")) == 2
    annJoined = ("join", "room", "ann", {"name": "Ann"})
    bobJoined = ("join", "room", "bob", {"name": "Bob ✓", "avatar": 7})
    # A server hears its own changes from Redis's answer and the others'
    # from pub/sub: the two joins may come in either order.
    for heard in (heardOne, heardTwo):
        waitUntil(lambda heard=heard: len(heard.events) == 2, what="both joins")
        assert sorted(heard.events) == [annJoined, bobJoined]
    one.unsubscribe(tabs[0], "room")
    one.unsubscribeAll(tabs[1])
    settled([one, two], expected)
    one.unsubscribeAll(tabs[2])
    settled([one, two], {"bob": {"name": "Bob ✓", "avatar": 7}})
    waitUntil(lambda: heardTwo.events[2:] == [("leave", "room", "ann")], what="ann's leave on two")
    # Where the change happened, the hook runs though nobody is left there.
    waitUntil(lambda: heardOne.events[2:] == [("leave", "room", "ann")], what="ann's leave on one")
    two.unsubscribeAll(bob)
    two.unsubscribeAll(watcher)
    assert get(one.presence("room")) == {} and get(one.presenceCount("room")) == 0


def test_aUserOnTwoServersJoinsOnceAndLeavesOnce(servers):
    """
    ann opens a tab on one server, then one on the other: one join; she
    closes the first: still present, no leave; she closes the second: one
    leave.
    """
    heardOne, heardTwo = Heard(), Heard()
    one, two = presenceServer(servers(), heardOne), presenceServer(servers(), heardTwo)
    watchers = [Tab(None), Tab(None)]
    one.subscribe(watchers[0], "room")
    two.subscribe(watchers[1], "room")
    listening(one, 2)
    first, second = Tab("ann"), Tab("ann")
    one.subscribe(first, "room")
    settled([one, two], {"ann": {"name": "Ann"}})
    two.subscribe(second, "room")
    one.unsubscribeAll(first)
    settled([one, two], {"ann": {"name": "Ann"}})
    for heard in (heardOne, heardTwo):
        waitUntil(lambda heard=heard: len(heard.events) == 1, what="ann's join")
        assert heard.events == [("join", "room", "ann", {"name": "Ann"})]
    two.unsubscribeAll(second)
    settled([one, two], {})
    for heard in (heardOne, heardTwo):
        waitUntil(lambda heard=heard: len(heard.events) == 2, what="ann's leave")
        assert heard.events[1] == ("leave", "room", "ann")
        # The leave says who left as the join did: a chat can say "Ann left".
        assert heard.leftWith["ann"] == {"name": "Ann"}
    for watcher, channels in zip(watchers, (one, two), strict=True):
        channels.unsubscribeAll(watcher)


def test_whoCounts(servers):
    """
    Anonymous connections are not present; subscribing twice is once; a
    channel without subscribers has nobody; channels are apart.
    """
    channels = presenceServer(servers())
    guest, ann = Tab(None), Tab("ann")
    channels.subscribe(guest, "room")
    channels.subscribe(ann, "room")
    channels.subscribe(ann, "room")
    channels.subscribe(ann, "other")
    assert get(channels.presence("room")) == {"ann": {"name": "Ann"}}
    assert get(channels.presence("nobody here")) == {}
    channels.unsubscribe(ann, "room")
    assert get(channels.presence("room")) == {}
    assert get(channels.presence("other")) == {"ann": {"name": "Ann"}}
    channels.unsubscribeAll(ann)
    channels.unsubscribeAll(guest)


class NumberedTab(Tab):
    """
    A connection whose user's id is not a str (a bug in an authenticator).
    """

    def __init__(self) -> None:
        super().__init__("x")
        self.user = User(42)  # type: ignore[arg-type]


def test_presenceIsOptIn():
    """
    Without presence=..., presence and presenceCount raise; a callable
    chooses the channels, and the others keep no presence.
    """
    broker = LocalBroker()
    plain = Channels(broker)
    with pytest.raises(ValueError, match="presence is not kept for channel 'room': make the Channels with presence="):
        plain.presence("room")
    with pytest.raises(ValueError, match="presence is not kept"):
        plain.presenceCount("room")
    heard = Heard()
    some = Channels(broker, presence=lambda channel: channel.startswith("room:"), onJoin=heard.onJoin)
    ann = Tab("ann")
    some.subscribe(ann, "room:1")
    some.subscribe(ann, "user:ann")
    assert get(some.presence("room:1")) == {"ann": {"name": "Ann"}}
    with pytest.raises(ValueError, match="presence is not kept for channel 'user:ann'"):
        some.presence("user:ann")
    assert heard.events == [("join", "room:1", "ann", {"name": "Ann"})]
    with pytest.raises(ValueError, match="must not be empty"):
        some.presence("")
    for bad, match in (({"presenceTtl": 0}, "presenceTtl must be"), ({"maxPresence": 0}, "maxPresence must be")):
        with pytest.raises(ValueError, match=match):
            Channels(broker, presence=True, **bad)

    class OtherBroker:
        origin = "other"

    with pytest.raises(TypeError, match="presence needs a LocalBroker or a RedisBroker, not <"):
        Channels(OtherBroker(), presence=True)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="a user id is a str, not int"):
        some.subscribe(NumberedTab(), "room:2")
    some.unsubscribeAll(ann)


# Bounds


def test_countsOnlyForLargeChannels(servers):
    """
    Over maxPresence users, presence fails with PresenceTooLarge (saying how
    many there are) and presenceCount still answers; at the limit presence
    answers.
    """
    one = presenceServer(servers(), maxPresence=3)
    two = presenceServer(servers(), maxPresence=3)
    tabs = [Tab(f"user{number}") for number in range(5)]
    for number, tab in enumerate(tabs):
        (one if number % 2 else two).subscribe(tab, "room")
    waitUntil(lambda: get(one.presenceCount("room")) == 5, what="five users")
    with pytest.raises(PresenceTooLarge) as tooLarge:
        get(two.presence("room"))
    assert (tooLarge.value.count, tooLarge.value.limit, tooLarge.value.channel) == (5, 3, "room")
    assert "ask for presenceCount instead" in str(tooLarge.value)
    for tab in tabs[:2]:
        (one if tabs.index(tab) % 2 else two).unsubscribeAll(tab)
    settled([one, two], {f"user{number}": {"name": f"User{number}"} for number in range(2, 5)})
    for number, tab in enumerate(tabs[2:], 2):
        (one if number % 2 else two).unsubscribeAll(tab)
    assert MAX_PRESENCE == 1000 and PRESENCE_TTL == 30.0


def test_largeInfoIsKeptEmpty(servers, logged):
    """
    A user whose info is over 4 KiB of JSON (or not JSON) is present with
    {}; logged once each.
    """
    channels = presenceServer(servers())
    big = Tab("big", {"bio": "x" * MAX_INFO_SIZE})
    odd = Tab("odd", {"when": object()})
    fine = Tab("fine", {"bio": "é" * 1000})
    for tab in (big, odd, fine):
        channels.subscribe(tab, "room")
    users = get(channels.presence("room"))
    assert users["big"] == {} and users["fine"] == {"bio": "é" * 1000}
    assert users["odd"]["when"].startswith("<object object")  # str() of what JSON cannot say
    assert sum("their info is 4" in line and "more than 4096" in line for line in logged()) == 1
    for tab in (big, odd, fine):
        channels.unsubscribeAll(tab)


# Hooks


def test_hooksMayFailOrBeAsync(servers, logged):
    """
    A hook that raises is logged and changes nothing; an async one runs;
    hooks may be set after the Channels is made.
    """
    done: list[str] = []

    async def joined(channel, userId, info):
        done.append(userId)

    def left(channel, userId, info):
        raise RuntimeError("a bug in the hook")

    channels = presenceServer(servers())
    channels.onJoin = joined
    channels.onLeave = left
    ann = Tab("ann")
    channels.subscribe(ann, "room")
    waitUntil(lambda: done == ["ann"], what="the async hook")
    channels.unsubscribeAll(ann)
    waitUntil(lambda: any("the onLeave hook failed on 'room'" in line for line in logged()), what="the log")
    assert get(channels.presence("room")) == {}


def test_badEventsAreDropped(logged):
    broker = LocalBroker()
    channels = presenceServer(broker)
    watcher = Tab(None)
    channels.subscribe(watcher, "room")
    for bad in (b"not json", b"[]", b'{"origin": "x"}', b'{"origin": "x", "join": ""}'):
        broker.publish(eventChannel("room"), bad)
    assert channels._presence.dropped == 4
    assert sum("dropped a presence event" in line for line in logged()) == 4
    channels.unsubscribeAll(watcher)


# On Redis


def test_redisKeys(brokers, redisServer):
    """
    The layout docs/channels.md describes: a hash of infos, a hash of server
    counts, a sorted set of entries by expiry time; the keys expire; nothing
    is left once everybody has gone.
    """
    one, two = presenceServer(brokers(), presenceTtl=10), presenceServer(brokers(), presenceTtl=10)
    annA, annB, bob = Tab("ann"), Tab("ann"), Tab("bob")
    one.subscribe(annA, "room ✓")
    two.subscribe(annB, "room ✓")
    one.subscribe(bob, "room ✓")
    settled([one], {"ann": {"name": "Ann"}, "bob": {"name": "Bob"}}, "room ✓")
    client = redis.Redis(port=redisServer.port)
    users, serversKey, expiry = redisKeys("room ✓")
    assert users == "ratchetpy:presence:users:room ✓"
    assert client.hgetall(users) == {b"ann": b'{"name":"Ann"}', b"bob": b'{"name":"Bob"}'}
    assert client.hgetall(serversKey) == {b"ann": b"2", b"bob": b"1"}
    entries = dict(client.zrange(expiry, 0, -1, withscores=True))
    assert set(entries) == {f"{one.origin}|ann".encode(), f"{two.origin}|ann".encode(), f"{one.origin}|bob".encode()}
    redisNow = client.time()[0] * 1000
    assert all(redisNow + 8000 < score <= redisNow + 11000 for score in entries.values())
    assert all(18000 < client.pttl(key) <= 21000 for key in (users, serversKey, expiry))
    for channels, tab in ((one, annA), (two, annB), (one, bob)):
        channels.unsubscribeAll(tab)
    settled([one], {}, "room ✓")
    assert client.exists(users, serversKey, expiry) == 0
    client.close()


def test_aServerThatStopsRefreshingExpires(brokers, redisServer):
    """
    Server one dies without a goodbye (it stops refreshing and its Redis
    connections go, its users still subscribed): within ttl + ttl / 3 the
    other server no longer counts its users and hears their leave once;
    users also on the surviving server stay.
    """
    ttl = 0.9
    heardTwo = Heard()
    one = presenceServer(brokers(), presenceTtl=ttl)
    two = presenceServer(brokers(), heardTwo, presenceTtl=ttl)
    ann, bob, bobToo, cid = Tab("ann"), Tab("bob"), Tab("bob"), Tab("cid")
    for channels, tab in ((one, ann), (one, bob), (two, bobToo), (two, cid)):
        channels.subscribe(tab, "room")
    settled([one, two], {name: {"name": name.title()} for name in ("ann", "bob", "cid")})
    # Refreshing keeps the entries well past the ttl.
    sleep(ttl * 2)
    assert set(get(two.presence("room"))) == {"ann", "bob", "cid"}
    one._presence.stop()
    pytest_twisted.blockon(one.broker.stop())
    died = time.monotonic()
    waitUntil(lambda: ("leave", "room", "ann") in heardTwo.events, timeout=ttl * 4 / 3 + 2, what="ann's leave")
    assert time.monotonic() - died <= ttl * 4 / 3 + 1
    assert get(two.presence("room")) == {"bob": {"name": "Bob"}, "cid": {"name": "Cid"}}
    assert [event for event in heardTwo.events if event[0] == "leave"] == [("leave", "room", "ann")]
    assert heardTwo.leftWith["ann"] == {"name": "Ann"}
    for tab in (bobToo, cid):
        two.unsubscribeAll(tab)


def test_aServerTooSlowToRefreshIsAddedBack(brokers, redisServer):
    """
    A server whose entry expired (it missed its refreshes) and which then
    refreshes: ann's leave, then her join, heard in that order by both.
    """
    ttl = 0.6
    heardOne, heardTwo = Heard(), Heard()
    one = presenceServer(brokers(), heardOne, presenceTtl=ttl)
    two = presenceServer(brokers(), heardTwo, presenceTtl=ttl)
    watcher, ann = Tab(None), Tab("ann")
    two.subscribe(watcher, "room")
    listening(two, 1)
    one.subscribe(ann, "room")
    joined = ("join", "room", "ann", {"name": "Ann"})
    waitUntil(lambda: heardOne.events == [joined] == heardTwo.events, what="ann's join")
    one._presence.stop()  # as if its reactor were stuck
    waitUntil(lambda: ("leave", "room", "ann") in heardTwo.events, what="ann's expiry")
    one._presence.refresh()
    expected = [joined, ("leave", "room", "ann"), joined]
    waitUntil(lambda: heardTwo.events == expected, what="ann back on two")
    waitUntil(lambda: heardOne.events == expected, what="ann back on one")
    assert get(two.presence("room")) == {"ann": {"name": "Ann"}}
    one.unsubscribeAll(ann)
    two.unsubscribeAll(watcher)


def test_redisDown(brokers, redisServer, logged):
    """
    With Redis gone, presence fails with BrokerUnavailable at once, and
    subscribing and unsubscribing go on; once Redis is back (empty, as after
    a restart), this server's users are published again (and their join
    heard) and the user who left meanwhile is not.
    """
    heard = Heard()
    broker = brokers()
    channels = presenceServer(broker, heard, presenceTtl=30)
    ann, bob = Tab("ann"), Tab("bob")
    channels.subscribe(ann, "room")
    settled([channels], {"ann": {"name": "Ann"}})
    redisServer.kill()
    waitUntil(lambda: not broker.connected, what="the broker to notice")
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable):
        get(channels.presence("room"))
    with pytest.raises(BrokerUnavailable):
        get(channels.presenceCount("room"))
    assert time.monotonic() - started < 1
    channels.subscribe(bob, "room")
    channels.unsubscribeAll(ann)
    assert sum("presence on 'room' could not be updated" in line for line in logged()) == 1
    shown = [block for block in codeBlocks("channels.md", "text") if "presence on 'lobby'" in block]
    assert len(shown) == 1
    documented = shown[0].replace("'lobby'", "'room'").replace("redis://127.0.0.1:6379/0", redisServer.url)
    lines = [re.sub(r"^\[ratchetpy#\w+\] ", "", line) for line in documented.splitlines()]
    redisServer.start()
    waitUntil(lambda: broker.connected, timeout=15, what="the broker to reconnect")
    settled([channels], {"bob": {"name": "Bob"}})
    waitUntil(lambda: ("join", "room", "bob", {"name": "Bob"}) in heard.events, what="bob's join")
    assert sum("presence is kept in the broker again" in line for line in logged()) == 1
    assert [line for line in logged() if "presence" in line] == lines
    channels.unsubscribeAll(bob)
    settled([channels], {})


# Two real servers


class PresenceRoom(MessageComponent):
    """
    One room with presence. Everyone in it hears C{joined ID NAME} and
    C{left ID} (told by each server to its own subscribers); C{/who} answers
    C{who} and the JSON of the users present, C{/count} answers C{count N}.
    """

    def __init__(self, channels: Channels) -> None:
        self.channels = channels
        channels.onJoin = self.joined
        channels.onLeave = self.left

    def joined(self, channel, userId, info):
        self.channels.subscribers(channel).broadcast(f"joined {userId} {info.get('name')}")

    def left(self, channel, userId, info):
        self.channels.subscribers(channel).broadcast(f"left {userId}")

    def onOpen(self, conn):
        self.channels.subscribe(conn, "room")
        conn.send("open")

    async def onMessage(self, conn, msg):
        if msg == "/who":
            conn.send("who " + json.dumps(await self.channels.presence("room"), sort_keys=True))
        elif msg == "/count":
            conn.send(f"count {await self.channels.presenceCount('room')}")

    def onClose(self, conn):
        self.channels.unsubscribeAll(conn)


def presenceRoom() -> UserFromQuery:
    """
    What the twistd servers serve: C{--component
    tests.pubsub.test_presence:presenceRoom}, with the TTL from
    C{PRESENCE_TEST_TTL}.
    """
    ttl = float(os.environ.get("PRESENCE_TEST_TTL", PRESENCE_TTL))
    return UserFromQuery(PresenceRoom(Channels(presence=True, presenceTtl=ttl)))


def startServers(twistd, redisServer, ttls: list[float]) -> list[tuple[Any, int]]:
    started = []
    for ttl in ttls:
        env = {**os.environ, "PRESENCE_TEST_TTL": str(ttl)}
        process = twistd("--component", "tests.pubsub.test_presence:presenceRoom", "--port",
                         "tcp:0:interface=127.0.0.1", "--broker", redisServer.url, env=env)
        started.append((process, process.waitForPort()))
    for process, _ in started:
        process.readUntil("connected to Redis at ")
    return started


def who(ws) -> dict[str, Any]:
    """
    (Blocking client.) The users C{/who} says are present (skipping joins and
    leaves heard meanwhile).
    """
    ws.send("/who")
    while not (answer := ws.recv(timeout=10)).startswith("who "):
        assert answer.startswith(("joined ", "left ")), answer
    return json.loads(answer.removeprefix("who "))


def recvUntil(ws, expected: str, timeout: float) -> list[str]:
    """
    (Blocking client.) Messages until C{expected}, which must come within C{timeout}.
    """
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        msg = ws.recv(timeout=max(0.01, deadline - time.monotonic()))
        seen.append(msg)
        if msg == expected:
            return seen


def test_twoProcessesOneKilled(twistd, redisServer):
    """
    Two twistd servers on one Redis: a user on each is present on both,
    and each server's room hears the other's join; the server of ann (with
    two tabs) is killed with SIGKILL: within ttl + ttl / 3 bob's server
    says ann left and no longer lists her.
    """
    ttl = 1.5
    (doomed, portA), (survivor, portB) = startServers(twistd, redisServer, [ttl, ttl])
    with connect(f"ws://127.0.0.1:{portB}/?user=bob") as bob:
        assert bob.recv(timeout=10) == "open"
        assert recvUntil(bob, "joined bob Bob", 10) == ["joined bob Bob"]
        with (
            connect(f"ws://127.0.0.1:{portA}/?user=ann") as annA,
            connect(f"ws://127.0.0.1:{portA}/?user=ann") as annB,
        ):
            for tab in (annA, annB):
                assert tab.recv(timeout=10) == "open"
            assert recvUntil(bob, "joined ann Ann", 10) == ["joined ann Ann"]
            assert who(bob) == who(annA) == {"ann": {"name": "Ann"}, "bob": {"name": "Bob"}}
            annB.send("/count")
            assert recvUntil(annB, "count 2", 10)[-1] == "count 2"
            # Refreshing keeps ann present well past the ttl.
            time.sleep(ttl * 2)
            assert who(bob) == {"ann": {"name": "Ann"}, "bob": {"name": "Bob"}}
            doomed.process.send_signal(signal.SIGKILL)
            died = time.monotonic()
            assert recvUntil(bob, "left ann", ttl * 4 / 3 + 3) == ["left ann"]
            assert time.monotonic() - died < ttl * 4 / 3 + 1.5
            assert who(bob) == {"bob": {"name": "Bob"}}
    assert survivor.stop(signal.SIGTERM) == 0, survivor.output
    doomed.stop()


def test_aCleanStopSaysGoodbyeAtOnce(twistd, redisServer):
    """
    A server stopped with SIGTERM removes its users' entries as it closes
    their connections: the other server hears the leave at once, long
    before the (60 s) TTL.
    """
    (leaving, portA), (staying, portB) = startServers(twistd, redisServer, [60, 60])
    with connect(f"ws://127.0.0.1:{portB}/?user=bob") as bob:
        assert bob.recv(timeout=10) == "open"
        with connect(f"ws://127.0.0.1:{portA}/?user=ann") as ann:
            assert ann.recv(timeout=10) == "open"
            recvUntil(bob, "joined ann Ann", 10)
            stopping = time.monotonic()
            assert leaving.stop(signal.SIGTERM) == 0, leaving.output
        assert recvUntil(bob, "left ann", 10) == ["left ann"]
        assert time.monotonic() - stopping < 10
        assert who(bob) == {"bob": {"name": "Bob"}}
    assert staying.stop(signal.SIGTERM) == 0, staying.output


# docs/channels.md


def test_docsLobbyOnTwoServers(listen, brokers, redisServer, monkeypatch):
    """
    channels.md's lobby on two servers sharing Redis: bob (on the second)
    hears ann (on the first, two tabs) join once and leave once, a guest
    hears them too and is not counted, /who lists both by name.
    """
    namespace: dict[str, Any] = {"__name__": "docs_channels_lobby"}
    exec(compile(pythonBlock("channels.md", "class Lobby("), str(DOCS / "channels.md"), "exec"), namespace)
    urls = []
    for _ in range(2):
        monkeypatch.setattr(pubsub, "_default", brokers())
        urls.append(serveWebSocket(listen, UserFromQuery(namespace["Lobby"]()))[1])

    def scenario():
        with connect(urls[1] + "?user=bob") as bob:
            assert bob.recv(timeout=10) == "Bob joined"
            with connect(urls[1]) as guest:
                waitForSubscribers(redisServer, eventChannel("lobby"), 1)
                with connect(urls[0] + "?user=ann") as annA:
                    for ws in (annA, bob, guest):
                        assert ws.recv(timeout=10) == "Ann joined"
                    with connect(urls[0] + "?user=ann") as annB:
                        annB.send("/who")
                        assert annB.recv(timeout=10) == "online: Ann, Bob"
                        guest.send("/who")
                        assert guest.recv(timeout=10) == "online: Ann, Bob"
                    assertQuiet(bob, guest)
                for ws in (bob, guest):
                    assert ws.recv(timeout=10) == "Ann left"
                bob.send("/who")
                assert bob.recv(timeout=10) == "online: Bob"
                assertQuiet(bob, guest)

    inThread(scenario)


def test_docsOnlineAnywhere(servers):
    """
    channels.md's last word: a Channels(presence=True) shared with Users
    says whether a user is connected to any server.
    """
    one, two = Channels(servers(), presence=True), Channels(servers(), presence=True)
    usersOne, usersTwo = Users(one), Users(two)
    ann = Tab("ann")
    usersTwo.add(ann)
    waitUntil(lambda: get(one.presenceCount(userChannel("ann"))) == 1, what="ann online")
    assert not usersOne.online("ann")
    usersTwo.discard(ann)
    waitUntil(lambda: get(one.presenceCount(userChannel("ann"))) == 0, what="ann offline")


def test_docsBounds():
    """
    The bounds table of channels.md's Presence section is the code's.
    """
    section = page("channels.md").split("## Presence", 1)[1].split("\n## ", 1)[0]
    rows = {row[0]: row[1] for row in tableRows("channels.md") if len(row) == 2 and row[0] and row[0] in section}
    assert "presenceTtl=30.0" in signatureText("Channels", Channels.__init__)
    assert f"`presenceTtl={PRESENCE_TTL}`" in rows and f"`maxPresence={MAX_PRESENCE}`" in rows
    assert MAX_INFO_SIZE == 4096 and "4 KiB" in rows
    assert f"{SWEEP_LIMIT:,}" in rows and str(REFRESH_BATCH) in rows
    assert "presenceTtl * 4 / 3" in section and "40 by default" in section and PRESENCE_TTL * 4 / 3 == 40
