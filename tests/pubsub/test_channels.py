"""
Channels in one process, on the in-process broker: real servers, real
WebSocket clients. Two Channels on one LocalBroker stand for two server
processes on one Redis (tests/pubsub/test_redis.py does it with real processes).
"""

from __future__ import annotations

import contextlib
import gc
import time
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import defer
from websockets.sync.client import connect
from zope.interface import implementer
from zope.interface.verify import verifyObject

from ratchetpy import App, Channels, MessageComponent, pubsub
from ratchetpy.interfaces import IBroker
from ratchetpy.pubsub import BrokerUnavailable, envelope
from ratchetpy.pubsub.channels import MAX_CHANNEL_NAME
from ratchetpy.pubsub.local import BrokerStats, LocalBroker
from ratchetpy.pubsub.url import parseBrokerUrl, parseRedisUrl
from ratchetpy.websocket import _autobahn as engine
from tests.helpers import inThread, serveWebSocket, waitUntil
from tests.test_docs import DOCS, codeBlocks, page, signatureText

QUIET = 0.3


class Hub(MessageComponent):
    """
    Text commands: C{sub NAME}, C{unsub NAME}, C{pub NAME TEXT} (to everyone
    but the sender), C{all NAME TEXT} (the sender too); a binary message
    C{NAME \\0 PAYLOAD} publishes PAYLOAD as binary to everyone but the sender.
    Replies C{ok} to sub and unsub.
    """

    def __init__(self, channels: Channels) -> None:
        self.channels = channels

    def onMessage(self, conn, msg):
        if isinstance(msg, bytes):
            name, _, payload = msg.partition(b"\0")
            self.channels.publish(name.decode(), payload, exclude=conn)
            return
        command, _, rest = msg.partition(" ")
        if command == "sub":
            self.channels.subscribe(conn, rest)
            conn.send("ok")
        elif command == "unsub":
            self.channels.unsubscribe(conn, rest)
            conn.send("ok")
        else:
            name, _, text = rest.partition(" ")
            self.channels.publish(name, text, exclude=conn if command == "pub" else None)

    def onClose(self, conn):
        self.channels.unsubscribeAll(conn)


def serveHub(listen, channels: Channels) -> str:
    """
    A L{Hub} on C{channels}, served over WebSocket; return its URL.
    """
    return serveWebSocket(listen, Hub(channels))[1]


def subscribed(ws, *names: str):
    for name in names:
        ws.send(f"sub {name}")
        assert ws.recv(timeout=10) == "ok"
    return ws


def assertQuiet(*clients) -> None:
    for ws in clients:
        with pytest.raises(TimeoutError):
            ws.recv(timeout=QUIET)


@pytest.fixture
def countPrepared(monkeypatch):
    """
    The prepared (framed) messages built by ConnectionGroup broadcasts, as a
    list of their arguments.
    """
    prepared: list[tuple[Any, ...]] = []
    frame = engine.prepare

    def countingPrepare(data):
        prepared.append((data,))
        return frame(data)

    monkeypatch.setattr(engine, "prepare", countingPrepare)
    return prepared


def test_publishReachesTheChannelsSubscribers(listen):
    """
    A publish reaches every subscriber of its channel but the excluded one,
    text as text and binary as binary, and nobody else.
    """
    url = serveHub(listen, Channels(LocalBroker()))

    def talk():
        with (
            connect(url) as ann,
            connect(url) as bob,
            connect(url) as cid,
            connect(url) as dan,
        ):
            subscribed(ann, "news", "sport")
            subscribed(bob, "news")
            subscribed(cid, "sport")
            ann.send("pub news hello ✓")
            assert bob.recv(timeout=10) == "hello ✓"
            bob.send(b"news\0\x00\xffbinary")
            received = ann.recv(timeout=10)
            assert isinstance(received, bytes) and received == b"\x00\xffbinary"
            dan.send("all news to everyone")
            assert ann.recv(timeout=10) == "to everyone"
            assert bob.recv(timeout=10) == "to everyone"
            cid.send("all sport go")
            assert ann.recv(timeout=10) == "go"
            assert cid.recv(timeout=10) == "go"
            assertQuiet(ann, bob, cid, dan)

    inThread(talk)


def test_twoChannelsOnOneBrokerAreOneRoomFramedOnceEach(listen, countPrepared):
    """
    Two servers with their own Channels on one broker (two processes on one
    Redis, in miniature): a publish reaches the subscribers of both, each
    exactly once, and is framed once per Channels (per process), not once
    per subscriber.
    """
    broker = LocalBroker()
    one, two = Channels(broker), Channels(broker)
    assert one.origin != two.origin
    urlOne, urlTwo = serveHub(listen, one), serveHub(listen, two)

    def talk():
        with contextlib.ExitStack() as stack:
            here = [subscribed(stack.enter_context(connect(urlOne, compression=None)), "room") for _ in range(3)]
            there = [subscribed(stack.enter_context(connect(urlTwo, compression=None)), "room") for _ in range(3)]
            countPrepared.clear()
            here[0].send("pub room across")
            received = [ws.recv(timeout=10) for ws in here[1:] + there]
            frames = len(countPrepared)
            assertQuiet(*here, *there)
            return received, frames

    received, frames = inThread(talk)
    assert received == ["across"] * 5
    assert frames == 2
    assert broker.stats.published >= 1


def test_unsubscribeAndClose(listen):
    """
    An unsubscribed connection gets nothing more; a closed one is taken out
    of every channel (unsubscribeAll in onClose), and a channel nobody here
    subscribes to any more is unsubscribed from the broker.
    """
    broker = LocalBroker()
    channels = Channels(broker)
    url = serveHub(listen, channels)

    def talk():
        with connect(url) as ann, connect(url) as bob:
            subscribed(ann, "a", "b", "c")
            subscribed(bob, "a")
            waitFor(lambda: len(channels.subscribers("a")) == 2)
            ann.send("unsub a")
            assert ann.recv(timeout=10) == "ok"
            bob.send("pub a only bob's")
            assertQuiet(ann)
            bob.send("all a to bob")
            assert bob.recv(timeout=10) == "to bob"
            assert sorted(channels.channels) == ["a", "b", "c"]

    inThread(talk)
    waitUntil(lambda: not channels.channels, what="every channel left")
    assert channels._channelsOf == {}
    assert len(channels.subscribers("a")) == 0
    assert broker._subscriptions.callbacks == {}


def waitFor(predicate, timeout: float = 10.0) -> None:
    """
    (Client thread.) Wait until C{predicate()}.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


class FakeConnection:
    """
    Enough of a connection for Channels: something that can be sent to.
    """

    def __init__(self) -> None:
        self.sent: list[object] = []

    def send(self, msg) -> None:
        self.sent.append(msg)


def test_channelNames():
    """
    Channel names are non-empty str of at most MAX_CHANNEL_NAME bytes of
    UTF-8; anything else is refused with an error that says why.
    """
    channels = Channels(LocalBroker())
    conn = FakeConnection()
    with pytest.raises(ValueError, match="must not be empty"):
        channels.subscribe(conn, "")
    with pytest.raises(ValueError, match="must not be empty"):
        channels.publish("", "x")
    longest = "é" * (MAX_CHANNEL_NAME // 2)
    channels.subscribe(conn, longest)
    with pytest.raises(ValueError, match=f"is {MAX_CHANNEL_NAME + 2} bytes of UTF-8; the longest allowed is 256"):
        channels.subscribe(conn, longest + "é")
    with pytest.raises(ValueError, match="the longest allowed"):
        channels.publish("x" * (MAX_CHANNEL_NAME + 1), "x")
    with pytest.raises(TypeError, match="a channel name is a str, not bytes"):
        channels.subscribe(conn, b"bytes")
    assert channels.channels == [longest]
    assert channels.channelsOf(conn) == {longest}


def test_messageSizeLimit(logged):
    """
    A publish larger than maxMessageSize (UTF-8 bytes for text) is refused
    before anything is sent; one that arrives from the broker larger than
    that is dropped, counted and logged.
    """
    broker = LocalBroker()
    small = Channels(broker, maxMessageSize=10)
    conn = FakeConnection()
    small.subscribe(conn, "c")
    small.publish("c", "é" * 5)
    with pytest.raises(ValueError, match=r"a message of 12 bytes is larger than this Channels' maxMessageSize \(10\)"):
        small.publish("c", "é" * 6)
    with pytest.raises(TypeError):
        small.publish("c", 42)
    assert conn.sent == ["é" * 5]

    big = Channels(broker)
    big.publish("c", b"x" * 11)
    assert conn.sent == ["é" * 5]
    assert small.dropped == 1
    assert any("dropped a message of 11 bytes from the broker" in line for line in logged())
    with pytest.raises(ValueError, match="maxMessageSize must be a positive"):
        Channels(broker, maxMessageSize=0)


def test_foreignMessagesAreDropped(logged):
    """
    Bytes on a ratchetpy channel that are not a ratchetpy message (another
    application publishing there) are dropped and counted, and the
    subscribers get nothing.
    """
    broker = LocalBroker()
    channels = Channels(broker)
    conn = FakeConnection()
    channels.subscribe(conn, "c")
    pytest_twisted.blockon(broker.publish(envelope.brokerChannel("c"), b"hello"))
    pytest_twisted.blockon(broker.publish(envelope.brokerChannel("c"), envelope.encode("other", "fine")))
    assert conn.sent == ["fine"]
    assert channels.dropped == 1
    assert any("dropped a message from the broker on 'ratchetpy:c': not a ratchetpy message" in line
               for line in logged())


@implementer(IBroker)
class DownBroker(LocalBroker):
    """
    A broker whose publishes fail, as a RedisBroker's do in an outage.
    """

    def publish(self, channel, data):
        self.stats.publishFailed += 1
        return defer.fail(BrokerUnavailable("the broker is down"))


def test_aFailedPublishStillReachesLocalSubscribersAndIsNotLoggedAsUnhandled(logged):
    """
    When the broker refuses a publish, this process's subscribers still get
    the message, the Deferred fails with BrokerUnavailable for whoever waits
    for it, and one that nobody waits for (a chat ignores it) is not logged
    again as an unhandled error when it is collected.
    """
    broker = DownBroker()
    channels = Channels(broker)
    conn = FakeConnection()
    channels.subscribe(conn, "c")
    for _ in range(3):
        channels.publish("c", "ignored")
    gc.collect()
    assert conn.sent == ["ignored"] * 3
    assert not [line for line in logged() if "Unhandled error" in line]

    failures = []
    channels.publish("c", "waited for").addErrback(failures.append)
    assert failures[0].check(BrokerUnavailable)
    assert broker.stats.publishFailed == 4

    # An ordinary failing Deferred nobody handles is still reported: the
    # check above can fail.
    defer.fail(BrokerUnavailable("control"))
    gc.collect()
    assert [line for line in logged() if "Unhandled error" in line]


@implementer(IBroker)
class SlowBroker(LocalBroker):
    """
    A broker that answers each publish later, when the test says so.
    """

    def __init__(self):
        super().__init__()
        self.pending = []

    def publish(self, channel, data):
        d = defer.Deferred()
        self.pending.append(d)
        return d


def test_aPublishThatFailsLaterIsNotLoggedAsUnhandled(logged):
    """
    A publish whose broker fails it after publish has returned (Redis did
    not answer in time) is not logged as unhandled if nobody waits for it,
    and reaches an errback added before it failed, or after.
    """
    broker = SlowBroker()
    channels = Channels(broker)
    channels.publish("c", "ignored")
    early = []
    channels.publish("c", "waited for").addErrback(early.append)
    late = channels.publish("c", "waited for later")
    for pending in broker.pending:
        pending.errback(BrokerUnavailable("no answer in time"))
    gc.collect()
    assert not [line for line in logged() if "Unhandled error" in line]
    assert early[0].check(BrokerUnavailable)
    lateFailures = []
    late.addErrback(lateFailures.append)
    assert lateFailures[0].check(BrokerUnavailable)


def test_noGlobalReactorAtImportOrConstruction():
    """
    The in-process broker, the default broker, Channels on it and publishing
    need no reactor: none is installed by importing, making or using them
    (so a program, or a test with a Clock, may still install the one it
    wants).
    """
    import subprocess
    import sys

    from tests.helpers import ROOT

    code = (
        "import sys\n"
        "from ratchetpy import Channels\n"
        "from ratchetpy.pubsub import brokerFor, defaultBroker\n"
        "from ratchetpy.pubsub.local import LocalBroker\n"
        "from ratchetpy.pubsub.endpoint import PublishEndpoint\n"
        "LocalBroker(); brokerFor('memory://'); defaultBroker()\n"
        "Channels().publish('c', 'hello'); Channels(LocalBroker()).publish('c', b'x')\n"
        "PublishEndpoint('0123456789abcdef')\n"
        "assert 'twisted.internet.reactor' not in sys.modules, 'a reactor was installed'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


def test_localBrokerIsABroker():
    """
    LocalBroker provides IBroker, delivers synchronously to every callback of
    a channel (one failing callback does not stop the others), and counts.
    """
    broker = LocalBroker()
    verifyObject(IBroker, broker)
    got: list[tuple[str, bytes]] = []

    def failing(channel, data):
        raise RuntimeError("a bad callback")

    broker.subscribe("c", failing)
    broker.subscribe("c", lambda channel, data: got.append((channel, data)))
    assert pytest_twisted.blockon(broker.publish("c", b"one")) == 2
    assert got == [("c", b"one")]
    broker.unsubscribe("c", failing)
    broker.unsubscribe("c", failing)
    assert pytest_twisted.blockon(broker.publish("nobody", b"x")) == 0
    assert broker.stats == BrokerStats(published=2, received=1)
    assert pytest_twisted.blockon(broker.stop()) is None


# Broker URLs and the default broker


@pytest.mark.parametrize(
    "url, address",
    [
        ("redis://localhost", ("localhost", 6379, 0, None, None)),
        ("redis://127.0.0.1:7000/3", ("127.0.0.1", 7000, 3, None, None)),
        ("redis://:s%40cret@redis.example:6380/1", ("redis.example", 6380, 1, "s@cret", None)),
        ("redis://app:pw@[::1]:6379", ("::1", 6379, 0, "pw", "app")),
    ],
)
def test_redisUrls(url, address):
    parsed = parseRedisUrl(url)
    assert (parsed.host, parsed.port, parsed.db, parsed.password, parsed.username) == address
    assert "cret" not in parsed.display() and "pw" not in parsed.display()


@pytest.mark.parametrize(
    "url, why",
    [
        ("redis://localhost:port", "Port could not be cast to integer value as 'port'"),
        ("redis://localhost:99999", "Port out of range 0-65535"),
        ("redis://localhost/zero", "the database number 'zero' is not a number"),
        ("redis:///0", "no host"),
        ("http://localhost:6379", "unknown scheme http://"),
        ("localhost:6379", "unknown scheme localhost://"),
        ("redis://localhost?db=1", "options (?...) and fragments (#...) are not supported"),
        ("memory://here", "memory:// takes nothing after the //"),
        ("", "unknown scheme missing"),
    ],
)
def test_invalidBrokerUrls(url, why):
    """
    An invalid broker URL gets one sentence naming it, what is wrong and the
    accepted forms.
    """
    with pytest.raises(ValueError) as raised:
        parseBrokerUrl(url)
    message = str(raised.value)
    assert message == f"invalid broker URL {url!r}: {why}; use memory:// or redis://[:password@]host[:port][/db]"
    assert "\n" not in message


def test_defaultBroker(monkeypatch):
    """
    Channels() uses the process default broker, a LocalBroker unless
    setDefaultBroker changed it; a URL gives one broker per URL.
    """
    monkeypatch.setattr(pubsub, "_default", None)
    monkeypatch.setattr(pubsub, "_byUrl", {})
    local = pubsub.defaultBroker()
    assert isinstance(local, LocalBroker)
    assert Channels().broker is local
    assert Channels("memory://").broker is local
    mine = LocalBroker()
    assert pubsub.setDefaultBroker(mine) is mine
    assert Channels().broker is mine
    redis = pubsub.setDefaultBroker("redis://127.0.0.1:1/0")
    assert pubsub.brokerFor("redis://127.0.0.1:1/0") is redis
    assert type(redis).__name__ == "RedisBroker"
    with pytest.raises(ValueError, match="invalid broker URL 'nope'"):
        pubsub.setDefaultBroker("nope")
    assert pubsub.defaultBroker() is redis


def test_appsRoutesShareChannels(monkeypatch):
    """
    Two routes of one App, each with its own Chat, are one room: both
    Channels use the process default broker.
    """
    from examples.chat import Chat

    monkeypatch.setattr(pubsub, "_default", LocalBroker())
    app = App("localhost", 0)
    app.route("/a", Chat())
    app.route("/b", Chat())
    port = pytest_twisted.blockon(app.listen()).getHost().port

    def talk():
        with connect(f"ws://127.0.0.1:{port}/a") as ann, connect(f"ws://127.0.0.1:{port}/b") as bob:
            ann.send("from a")
            assert bob.recv(timeout=10) == "from a"
            bob.send(b"\x01from b")
            assert ann.recv(timeout=10) == b"\x01from b"
            assertQuiet(ann, bob)

    try:
        inThread(talk)
    finally:
        app.server.shutdownTimeout = 1.0
        pytest_twisted.blockon(app.shutdown())


# docs/channels.md


def test_docsRoomsExample(listen, monkeypatch):
    """
    channels.md's rooms example, served as the page says: a room per path,
    announcements to every room, and the room list a client can ask for.
    """
    blocks = [code for code in codeBlocks("channels.md", "python") if "class Rooms(" in code]
    assert len(blocks) == 1
    monkeypatch.setattr(pubsub, "_default", LocalBroker())
    namespace: dict[str, Any] = {"__name__": "docs_channels_rooms"}
    exec(compile(blocks[0], str(DOCS / "channels.md"), "exec"), namespace)
    app = App("localhost", 0)
    rooms = namespace["Rooms"]()
    app.route("/rooms/{room}", rooms)
    port = pytest_twisted.blockon(app.listen()).getHost().port
    base = f"ws://127.0.0.1:{port}/rooms"

    def talk():
        with (
            connect(f"{base}/kitchen") as ann,
            connect(f"{base}/kitchen") as bob,
            connect(f"{base}/garden") as cid,
        ):
            waitFor(lambda: len(rooms.channels.subscribers("announcements")) == 3)
            ann.send("dinner?")
            assert bob.recv(timeout=10) == "dinner?"
            cid.send(b"\x00binary")
            assertQuiet(ann, bob)
            ann.send("/announce the house is on fire")
            for ws in (ann, bob, cid):
                assert ws.recv(timeout=10) == "announcement: the house is on fire"
            assertQuiet(ann, bob, cid)

    try:
        inThread(talk)
        waitUntil(lambda: not rooms.channels.channels, what="every room left")
    finally:
        app.server.shutdownTimeout = 1.0
        pytest_twisted.blockon(app.shutdown())


def test_docsSignature():
    """
    channels.md's table gives Channels' real signature.
    """
    assert signatureText("Channels", Channels.__init__) in page("channels.md")
