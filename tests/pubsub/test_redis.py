"""
Channels through a real redis-server (the C{redisServer} fixture): chat
servers as twistd processes sharing one room, ordering, Redis killed and
restarted under them, bad broker URLs; and RedisBroker in-process.
"""

from __future__ import annotations

import re
import shlex
import signal
from typing import Any

import pytest
import pytest_twisted
from websockets.sync.client import connect

from ratchetpy import Channels
from ratchetpy.pubsub import BrokerUnavailable
from tests.helpers import sleep, waitUntil
from tests.test_docs import DOCS, assertChatRelays, assertNothingArrives, codeBlocks

from .test_channels import FakeConnection

CONNECTED = r"connected to Redis at "
UNREACHABLE = r"Redis at \S+ is unreachable \("
BACK = r"Redis at \S+ is reachable again after [\d.]+ seconds: resubscribed to (\d+) channels; (\d+) publishes failed"


def chatServer(twistd, url: str, *extra: str):
    """
    A twistd chat server on a free loopback port with C{--broker url}; its
    process and port, once it listens.
    """
    process = twistd("--component", "examples.chat:Chat", "--port", "tcp:0:interface=127.0.0.1", "--broker", url,
                     *extra)
    return process, process.waitForPort()


def docsCommands() -> list[list[str]]:
    """
    The twistd commands channels.md shows, as argument lists.
    """
    blocks = codeBlocks("channels.md", "sh")
    assert len(blocks) == 1
    return [shlex.split(line) for line in blocks[0].splitlines() if line.strip()]


def test_twoChatServersAreOneRoom(twistd, redisServer):
    """
    channels.md's two twistd commands (on free ports and the test's Redis):
    clients of the two servers chat as one room, text as text and binary as
    binary, and each server's own clients get the messages too, once.
    """
    commands = docsCommands()
    assert len(commands) == 2
    servers = []
    for argv in commands:
        assert argv[:3] == ["twistd", "-n", "ratchetpy"]
        args = argv[3:]
        assert args[args.index("--broker") + 1] == "redis://127.0.0.1:6379/0"
        args[args.index("--broker") + 1] = redisServer.url
        args[args.index("--port") + 1] = "tcp:0:interface=127.0.0.1"
        process = twistd(*args)
        servers.append((process, process.waitForPort()))
    for process, _ in servers:
        process.readUntil(CONNECTED + re.escape(redisServer.url))
    (one, portOne), (two, portTwo) = servers

    with (
        connect(f"ws://127.0.0.1:{portOne}/") as alice,
        connect(f"ws://127.0.0.1:{portOne}/") as carol,
        connect(f"ws://127.0.0.1:{portTwo}/") as bob,
    ):
        assertChatRelays(alice, bob)  # also: nothing else arrives at either
        assert carol.recv(timeout=10) == "hello from alice ✓"
        assert carol.recv(timeout=10) == b"\x00\xffbinary"
        assertNothingArrives(carol)
    for process, _ in servers:
        assert process.stop(signal.SIGTERM) == 0, process.output


def test_orderPerPublisher(twistd, redisServer):
    """
    500 numbered messages from a client of one server arrive in order, all of
    them, at a client of the other.
    """
    one, portOne = chatServer(twistd, redisServer.url)
    two, portTwo = chatServer(twistd, redisServer.url)
    one.readUntil(CONNECTED)
    two.readUntil(CONNECTED)
    with connect(f"ws://127.0.0.1:{portOne}/") as sender, connect(f"ws://127.0.0.1:{portTwo}/") as receiver:
        for number in range(500):
            sender.send(f"message {number}")
        received = [receiver.recv(timeout=10) for _ in range(500)]
    assert received == [f"message {number}" for number in range(500)]


def test_redisKilledAndRestarted(twistd, redisServer):
    """
    With Redis killed under two chat servers: each logs the outage once and
    keeps serving its own clients; publishes fail, the first is logged and
    all are counted; once Redis is back, both resubscribe, log the end of
    the outage once with the count, and the room spans both servers again.
    The log lines are the ones channels.md shows.
    """
    one, portOne = chatServer(twistd, redisServer.url)
    two, portTwo = chatServer(twistd, redisServer.url)
    one.readUntil(CONNECTED)
    two.readUntil(CONNECTED)
    with (
        connect(f"ws://127.0.0.1:{portOne}/") as alice,
        connect(f"ws://127.0.0.1:{portOne}/") as carol,
        connect(f"ws://127.0.0.1:{portTwo}/") as bob,
    ):
        alice.send("before")
        assert bob.recv(timeout=10) == "before"
        assert carol.recv(timeout=10) == "before"

        redisServer.kill()
        one.readUntil(UNREACHABLE)
        two.readUntil(UNREACHABLE)
        for number in range(5):
            alice.send(f"during {number}")
            assert carol.recv(timeout=10) == f"during {number}"  # local delivery goes on
        one.readUntil(r"publishing on 'ratchetpy:chat' failed: Redis at \S+ is unreachable")
        assertNothingArrives(bob)

        redisServer.start()
        back = one.readUntil(BACK)
        assert back.groups() == ("1", "5")
        assert two.readUntil(BACK).groups() == ("1", "0")
        alice.send("after")
        assert bob.recv(timeout=10) == "after"
        assert carol.recv(timeout=10) == "after"
        bob.send(b"\x01back")
        assert alice.recv(timeout=10) == b"\x01back"
        assert carol.recv(timeout=10) == b"\x01back"

    assert one.stop(signal.SIGTERM) == 0
    assert two.stop(signal.SIGTERM) == 0
    for process in (one, two):
        assert len(re.findall(UNREACHABLE, process.output)) == 1, process.output
        assert len(re.findall(BACK, process.output)) == 1, process.output
        assert process.output.count("publishing on") <= 1
    assertLogLinesAsDocumented(one.output, redisServer.url)


def assertLogLinesAsDocumented(output: str, url: str) -> None:
    """
    Every log line channels.md shows for an outage is in C{output}, but for
    the URL, times, counts and the reason the connection ended.
    """
    blocks = [block for block in codeBlocks("channels.md", "text") if block.startswith("[ratchetpy#warn] Redis at")]
    assert len(blocks) == 1
    for line in blocks[0].splitlines():
        pattern = re.escape(line.replace("redis://127.0.0.1:6379/0", url))
        pattern = re.sub(r"\\\(Connection\\ was\\ closed\\ cleanly\\.\\\)", r"\\(.*?\\)", pattern)
        pattern = re.sub(r"\d+(\\\.\d+)?", r"[\\d.]+", pattern)
        assert re.search(pattern, output), f"no line like {line!r} in:\n{output}"


def test_redisDownAtStartUp(twistd, redisServer):
    """
    A server whose Redis is down at start-up starts anyway, says so once,
    serves its clients, and connects when Redis comes.
    """
    redisServer.kill()
    process, port = chatServer(twistd, redisServer.url)
    process.readUntil(UNREACHABLE)
    with connect(f"ws://127.0.0.1:{port}/") as alice, connect(f"ws://127.0.0.1:{port}/") as bob:
        assertChatRelays(alice, bob)
        redisServer.start()
        process.readUntil(BACK)
    assert process.stop(signal.SIGTERM) == 0
    assert len(re.findall(UNREACHABLE, process.output)) == 1, process.output


def test_invalidBrokerUrl(twistd):
    """
    An invalid --broker URL ends twistd at start-up with the one line
    channels.md shows and a non-zero status.
    """
    shown = [block for block in codeBlocks("channels.md", "text") if block.startswith("ratchetpy: --broker")]
    assert len(shown) == 1
    url = re.search(r"invalid broker URL '([^']*)'", shown[0]).group(1)
    process = twistd("--component", "examples.chat:Chat", "--port", "tcp:0:interface=127.0.0.1", "--broker", url)
    process.process.wait(30)
    status = process.stop()
    assert status != 0
    lines = [line for line in process.output.splitlines() if line.strip()]
    assert lines == shown[0].splitlines()


# In-process


def test_roundTrip(brokers):
    """
    Text (any Unicode) and binary (any bytes, not UTF-8 either) go through
    Redis unchanged, to another process's subscribers only once, and the
    brokers count what they published and received.
    """
    here, there = Channels(brokers()), Channels(brokers())
    local, remote = FakeConnection(), FakeConnection()
    here.subscribe(local, "round trip")
    there.subscribe(remote, "round trip")
    sleep(0.2)  # the SUBSCRIBE reaches Redis
    messages = ["text ✓ \U0001f600", b"\x00\xff\xfe binary", "", b"", "123"]
    for msg in messages:
        pytest_twisted.blockon(here.publish("round trip", msg))
    waitUntil(lambda: len(remote.sent) == len(messages), what="the messages through Redis")
    assert remote.sent == messages
    assert [type(msg) for msg in remote.sent] == [type(msg) for msg in messages]
    assert local.sent == messages
    assert here.broker.stats.published == len(messages)
    assert there.broker.stats.received == len(messages)


def test_publishWhileRedisIsDown(brokers, redisServer, logged):
    """
    channels.md's announce(), with Redis up and down: a publish during an
    outage fails at once with BrokerUnavailable, is counted, and the local
    subscribers still get the message; a channel subscribed during the outage
    is subscribed on Redis once it is back.
    """
    namespace: dict[str, Any] = {}
    blocks = [code for code in codeBlocks("channels.md", "python") if "async def announce(" in code]
    assert len(blocks) == 1
    exec(compile(blocks[0], str(DOCS / "channels.md"), "exec"), namespace)
    announce = namespace["announce"]
    broker = brokers(initialDelay=0.2, maxDelay=0.5)
    here, there = Channels(broker), Channels(brokers())
    local, remote = FakeConnection(), FakeConnection()
    here.subscribe(local, "announcements")
    there.subscribe(remote, "announcements")
    sleep(0.2)

    def run(text: str) -> str:
        from twisted.internet import defer

        return pytest_twisted.blockon(defer.ensureDeferred(announce(here, text)))

    assert run("one") == "every server got it"
    # Before Redis goes: a message it has accepted can still be lost if it
    # dies before writing it to the subscriber (at most once).
    waitUntil(lambda: remote.sent == ["one"], what="the first message through Redis")
    redisServer.kill()
    waitUntil(lambda: not broker.connected, what="the broker to see Redis gone")
    assert run("two") == "only this server's clients got it"
    with pytest.raises(BrokerUnavailable, match=r"Redis at redis://127\.0\.0\.1:\d+/0 is unreachable"):
        pytest_twisted.blockon(here.publish("announcements", "three"))
    assert broker.stats.publishFailed == 2
    assert broker.stats.outages == 1
    late = FakeConnection()
    here.subscribe(late, "late")

    redisServer.start()
    pytest_twisted.blockon(broker.whenConnected())
    pytest_twisted.blockon(there.broker.whenConnected())
    sleep(0.2)
    assert run("four") == "every server got it"
    there.publish("late", "to the late one")
    waitUntil(lambda: remote.sent == ["one", "four"] and late.sent == ["to the late one"], what="delivery again")
    assert local.sent == ["one", "two", "three", "four"]
    assert sum("is unreachable (" in line for line in logged()) == 2  # one per broker
