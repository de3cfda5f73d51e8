"""
Per-user delivery (L{ratchetpy.Users}): two servers in this process, each on
its own connection to one real redis-server (as two processes would be), and
real WebSocket clients. No authentication layer is used: L{UserFromQuery}, a
test-only decorator, makes C{?user=ann} ann's connection.
"""

from __future__ import annotations

import contextlib
import json
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote

import pytest
import redis
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from zope.interface import implementer
from zope.interface.verify import verifyObject

from ratchetpy import ComponentDecorator, HttpServer, MessageComponent, Users, WsServer, pubsub
from ratchetpy.interfaces import IUser
from ratchetpy.pubsub import envelope
from ratchetpy.pubsub.endpoint import PublishEndpoint, PublishFront
from ratchetpy.pubsub.local import LocalBroker
from ratchetpy.pubsub.users import (
    DISCONNECTED,
    MAX_CONNECTIONS_PER_USER,
    TOO_MANY_CONNECTIONS,
    encodeDisconnect,
    userChannel,
)
from ratchetpy.push import PushError, disconnectUser, main, sendToUser
from tests.credentials import remember
from tests.helpers import ROOT, inThread, serveWebSocket, waitUntil
from tests.test_docs import DOCS, codeBlocks, page, signatureText

from .test_channels import assertQuiet, countPrepared  # noqa: F401 (a fixture)

SECRET = remember("s3cret-for-the-tests-0123456789")


@implementer(IUser)
@dataclass(frozen=True)
class User:
    """
    Who a connection belongs to, as an authenticator would say.
    """

    id: str
    info: dict[str, Any] = field(default_factory=dict)
    expiresAt: float | None = None


class Tab:
    """
    Enough of a connection for Users: a user, something to send to and close.
    """

    resourceId = 0
    remoteAddress = "192.0.2.1"

    def __init__(self, userId: str | None = "ann") -> None:
        self.user = None if userId is None else User(userId)
        self.sent: list[object] = []
        self.closed: tuple[int, str] | None = None

    def send(self, msg) -> None:
        self.sent.append(msg)

    def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = (code, reason)


class UserFromQuery(ComponentDecorator):
    """
    Test-only stand-in for an authentication layer: C{?user=ID} makes the
    connection ID's before the component's C{onOpen}; no C{user} parameter,
    an anonymous connection.
    """

    def onOpen(self, conn, *args):
        names = parse_qs(conn.httpRequest.query).get("user")
        if names:
            conn.io.user = User(names[0], {"name": names[0].title()})
        return super().onOpen(conn, *args)


class UserHub(MessageComponent):
    """
    Says C{open True} (or C{open False}) once L{Users.add} has answered.
    Commands: C{/msg ID TEXT} sends C{FROM: TEXT} to user ID and answers
    C{sent N}; C{/kick ID CODE REASON} disconnects ID and answers
    C{closed N}.
    """

    def __init__(self, users: Users) -> None:
        self.users = users

    def onOpen(self, conn):
        conn.send(f"open {self.users.add(conn)}")

    def onMessage(self, conn, msg):
        command, _, rest = msg.partition(" ")
        if command == "/msg":
            to, _, text = rest.partition(" ")
            conn.send(f"sent {self.users.send(to, f'{conn.user.id}: {text}')}")
        elif command == "/kick":
            to, code, reason = rest.split(" ", 2)
            conn.send(f"closed {self.users.disconnect(to, int(code), reason)}")

    def onClose(self, conn):
        self.users.discard(conn)


def serveUsers(listen, users: Users, endpoint: PublishEndpoint | None = None) -> str:
    """
    A L{UserHub} on C{users} behind L{UserFromQuery}, served over WebSocket
    (with C{endpoint} at C{/publish}); its C{ws://} URL.
    """
    component = WsServer(UserFromQuery(UserHub(users)))
    if endpoint is not None:
        component = PublishFront(endpoint, "/publish", component)
    server = listen(HttpServer(component))
    return f"ws://127.0.0.1:{server.portNumber}/"


@contextlib.contextmanager
def opened(url: str, user: str | None = None, expect: str = "open True") -> Iterator[Any]:
    """
    (Blocking client.) A WebSocket of C{user} (anonymous if C{None}), once
    the server has added it; without compression, so that what the server
    sends is framed once for all receivers.
    """
    with connect(url + (f"?user={quote(user)}" if user else ""), compression=None) as ws:
        assert ws.recv(timeout=10) == expect
        yield ws


def closedWith(ws) -> tuple[int | None, str | None]:
    """
    (Blocking client.) Read until the server closes C{ws}; its close code and reason.
    """
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            ws.recv(timeout=10)
    frame = closed.value.rcvd
    return (frame.code, frame.reason) if frame else (None, None)


def waitForSubscribers(redisServer, brokerChannel: str, count: int) -> None:
    """
    (Blocking.) Wait until Redis has C{count} subscriptions to C{brokerChannel}:
    a server subscribes a moment after its user's first connection opens.
    """
    client = redis.Redis(port=redisServer.port)
    deadline = time.monotonic() + 10
    try:
        while client.pubsub_numsub(brokerChannel)[0][1] != count:
            assert time.monotonic() < deadline, f"{brokerChannel} never had {count} subscribers"
            time.sleep(0.02)
    finally:
        client.close()


def userBrokerChannel(userId: str) -> str:
    return envelope.brokerChannel(userChannel(userId))


def twoServers(listen, brokers, **options: Any) -> tuple[Users, str, Users, str]:
    one, two = Users(brokers(), **options), Users(brokers(), **options)
    return one, serveUsers(listen, one), two, serveUsers(listen, two)


# Across servers


def test_sendReachesEveryTabOnEveryServerFramedOncePerServer(listen, brokers, redisServer, countPrepared):  # noqa: F811
    """
    ann has two tabs on one server and one on the other; bob, on the second,
    sends ann a message: all three tabs get it (text as text), nobody else
    does, each server frames it once, and send reports the connections of
    its own server.
    """
    one, urlOne, two, urlTwo = twoServers(listen, brokers)

    def scenario():
        with (
            opened(urlOne, "ann") as annA,
            opened(urlOne, "ann") as annB,
            opened(urlTwo, "ann") as annC,
            opened(urlTwo, "bob") as bob,
            opened(urlOne, "cid") as cid,
        ):
            waitForSubscribers(redisServer, userBrokerChannel("ann"), 2)
            before = len(countPrepared)
            bob.send("/msg ann hello ✓")
            assert bob.recv(timeout=10) == "sent 1"
            for tab in (annA, annB, annC):
                assert tab.recv(timeout=10) == "bob: hello ✓"
            assertQuiet(annA, annB, annC, bob, cid)
            assert len(countPrepared) - before == 2
            annA.send("/msg bob hi")
            assert annA.recv(timeout=10) == "sent 0"
            assert bob.recv(timeout=10) == "ann: hi"
            assertQuiet(annA, annB, annC, cid)

    inThread(scenario)
    assert one.connections("ann") == frozenset() and not two.online("ann")


def test_disconnectClosesTheUsersConnectionsEverywhere(listen, brokers, redisServer):
    """
    disconnect closes every connection of the user on both servers with the
    code and reason given, and no one else's; it reports its own server's.
    """
    one, urlOne, two, urlTwo = twoServers(listen, brokers)

    def scenario():
        with (
            opened(urlOne, "ann") as annA,
            opened(urlTwo, "ann") as annB,
            opened(urlTwo, "ann") as annC,
            opened(urlOne, "bob") as bob,
            opened(urlTwo, None, "open False") as anonymous,
        ):
            waitForSubscribers(redisServer, envelope.USERS_CONTROL, 2)
            assert len(two.connections("ann")) == 2 and one.online("ann")
            bob.send("/kick ann 4001 logged out ✓")
            assert bob.recv(timeout=10) == "closed 1"
            for tab in (annA, annB, annC):
                assert closedWith(tab) == (4001, "logged out ✓")
            assertQuiet(bob, anonymous)
            bob.send("/msg bob still here")
            assert bob.recv(timeout=10) == "bob: still here"

    inThread(scenario)
    waitUntil(lambda: not one.online("ann") and not two.online("ann"), what="ann gone everywhere")


def test_disconnectChecksItsArguments():
    users = Users(LocalBroker())
    for code in (1005, 1006, 1015, 999, 5000, 2000):
        with pytest.raises(ValueError, match=f"close code {code} is not one an endpoint may send"):
            users.disconnect("ann", code)
    with pytest.raises(ValueError, match="at most 123 bytes"):
        users.disconnect("ann", 4000, "é" * 62)
    with pytest.raises(ValueError, match="a user id must not be empty"):
        users.disconnect("", 4000)
    assert users.disconnect("ann") == 0
    assert DISCONNECTED == 4000


def test_sendToAUserConnectedNowhere(listen):
    """
    A user without connections: send reports 0 and nobody gets anything.
    """
    users = Users(LocalBroker())
    url = serveUsers(listen, users)

    def scenario():
        with opened(url, "bob") as bob, opened(url, None, "open False") as anonymous:
            bob.send("/msg nobody hello")
            assert bob.recv(timeout=10) == "sent 0"
            assertQuiet(bob, anonymous)

    inThread(scenario)
    assert users.send("nobody", b"\x00binary") == 0
    assert users.users == []


def test_exclude():
    """
    send skips what is excluded (one connection or several) and counts the rest.
    """
    users = Users(LocalBroker())
    tabs = [Tab() for _ in range(3)]
    for tab in tabs:
        assert users.add(tab) is True
    assert users.add(tabs[0]) is True  # twice is once
    assert users.send("ann", "to all") == 3
    assert users.send("ann", "not to the first", exclude=tabs[0]) == 2
    assert users.send("ann", "to the last", exclude=(tab for tab in tabs[:2])) == 1
    assert [tab.sent for tab in tabs] == [
        ["to all"],
        ["to all", "not to the first"],
        ["to all", "not to the first", "to the last"],
    ]
    users.discard(tabs[1])
    users.discard(tabs[1])
    assert users.connections("ann") == {tabs[0], tabs[2]}
    assert users.channels.channelsOf(tabs[1]) == frozenset()


def test_twoUsersOnOneChannels():
    """
    Two Users sharing one Channels (two routes of an App): a send from
    either reaches the connections of both, framed by the one Channels, and
    a disconnect from either closes the connections of both.
    """
    first = Users(LocalBroker())
    second = Users(first.channels)
    here, there, other = Tab(), Tab(), Tab("bob")
    first.add(here)
    second.add(there)
    second.add(other)
    assert first.send("ann", "hello") == 2
    assert here.sent == there.sent == ["hello"] and other.sent == []
    assert first.disconnect("ann", 4004, "gone") == 1
    assert here.closed == there.closed == (4004, "gone")
    assert other.closed is None


def test_joinedAndLeftOnFirstAndLastConnection():
    """
    userJoined and userLeft, the seam for presence, run for a user's first
    and last connection here only.
    """
    events: list[tuple[str, str]] = []

    class Presence(Users):
        def userJoined(self, userId):
            events.append(("joined", userId))

        def userLeft(self, userId):
            events.append(("left", userId))

    users = Presence(LocalBroker())
    first, second = Tab(), Tab()
    users.add(first)
    users.add(second)
    users.discard(first)
    assert events == [("joined", "ann")]
    users.discard(second)
    assert events == [("joined", "ann"), ("left", "ann")]


def test_anonymousConnectionsAreNotAdded(listen):
    users = Users(LocalBroker())
    url = serveUsers(listen, users)

    def scenario():
        with opened(url, None, expect="open False"):
            pass

    inThread(scenario)
    assert users.users == []


def test_badUserIds():
    users = Users(LocalBroker())
    with pytest.raises(TypeError, match="a user id is a str, not int"):
        users.send(42, "x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="a user id must not be empty"):
        users.send("", "x")
    conn = Tab("x" * 300)
    with pytest.raises(ValueError, match="the longest allowed is 256"):
        users.add(conn)
    with pytest.raises(ValueError, match="maxConnectionsPerUser must be a positive number"):
        Users(LocalBroker(), maxConnectionsPerUser=0)


# The per-user limit


def test_perUserLimit(listen, logged):
    """
    Past maxConnectionsPerUser, the next connection of that user is closed
    with 1008 and logged, one line each; other users are not affected, and
    once one of the user's connections closes there is room again.
    """
    users = Users(LocalBroker(), maxConnectionsPerUser=2)
    url = serveUsers(listen, users)

    def scenario():
        with opened(url, "ann") as first, opened(url, "ann"), opened(url, "bob"), opened(url, "bob"):
            for _ in range(2):
                with connect(url + "?user=ann") as over:
                    assert closedWith(over) == (TOO_MANY_CONNECTIONS, "too many connections for this user")
            first.close()
            deadline = time.monotonic() + 10
            while len(users.connections("ann")) != 1:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            with opened(url, "ann"):
                pass

    inThread(scenario)
    assert users.refused == 2
    lines = [line for line in logged() if "maxConnectionsPerUser" in line]
    assert len(lines) == 2
    shown = [block for block in codeBlocks("users.md", "text") if "maxConnectionsPerUser" in block]
    assert len(shown) == 1
    expected = shown[0].strip().removeprefix("[ratchetpy#info] ")
    expected = expected.replace("203.0.113.5", "127.0.0.1").replace("32 connections", "2 connections")
    assert re.sub(r"connection \d+ ", "connection 41 ", lines[0]) == expected
    assert TOO_MANY_CONNECTIONS == 1008
    assert Users(LocalBroker()).maxConnectionsPerUser == MAX_CONNECTIONS_PER_USER == 32


def test_noLimit():
    users = Users(LocalBroker(), maxConnectionsPerUser=None)
    for _ in range(100):
        assert users.add(Tab())
    assert len(users.connections("ann")) == 100


# From outside


def test_pushToAUserThroughRedisAndTheEndpoint(listen, brokers, redisServer, capsys):
    """
    sendToUser through Redis reaches the user's tabs on both servers and
    counts the two servers; through one server's publish endpoint, the same;
    and so does python -m ratchetpy.push --user.
    """
    one, two = Users(brokers()), Users(brokers())
    urlOne = serveUsers(listen, one, PublishEndpoint(SECRET, one.channels))
    urlTwo = serveUsers(listen, two)
    endpoint = urlOne.replace("ws://", "http://") + "publish"

    def scenario():
        with opened(urlOne, "ann ✓") as annA, opened(urlTwo, "ann ✓") as annB, opened(urlTwo, "bob") as bob:
            waitForSubscribers(redisServer, userBrokerChannel("ann ✓"), 2)
            assert sendToUser(redisServer.url, "ann ✓", "through Redis") == 2
            assert sendToUser(endpoint, "ann ✓", b"\x00binary", secret=SECRET) == 2
            assert main(["--user", "ann ✓", redisServer.url, "from the shell"]) == 0
            for tab in (annA, annB):
                assert [tab.recv(timeout=10) for _ in range(3)] == ["through Redis", b"\x00binary", "from the shell"]
            assertQuiet(annA, annB, bob)
            assert sendToUser(redisServer.url, "nobody", "x") == 0
            with pytest.raises(PushError, match="403"):
                sendToUser(endpoint, "ann ✓", "x", secret=SECRET[::-1])
            with pytest.raises(PushError, match="bad user id: a user id must not be empty"):
                sendToUser(endpoint, "", "x", secret=SECRET)

    inThread(scenario)
    assert capsys.readouterr().out == "2\n"


def test_endpointUserRoute(listen):
    """
    POST PATH/user/USERID answers with the user and the receivers; the
    channel API is unchanged, /publish/user is the channel "user", and
    more segments are 404.
    """
    import http.client

    broker = LocalBroker()
    users = Users(broker)
    url = serveUsers(listen, users, PublishEndpoint(SECRET, broker))
    port = int(url.rsplit(":", 1)[1].strip("/"))

    def post(path: str, body: bytes = b"x") -> tuple[int, Any]:
        client = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        client.request("POST", path, body=body, headers={"Authorization": f"Bearer {SECRET}"})
        response = client.getresponse()
        answer = response.read()
        return response.status, json.loads(answer) if response.status != 404 else answer

    def scenario():
        with opened(url, "a/b") as ann:
            assert post("/publish/user/a%2Fb", "héllo ✓".encode()) == (202, {"user": "a/b", "receivers": 1})
            assert ann.recv(timeout=10) == "héllo ✓"
            assert post("/publish/user") == (202, {"channel": "user", "receivers": 0})
            assert post("/publish/user:a%2Fb", b"as a channel") == (202, {"channel": "user:a/b", "receivers": 1})
            assert ann.recv(timeout=10) == "as a channel"
            assert post("/publish/user/%FF")[0] == 400
            for bad in (b'{"code": 1006}', b"[4000]", b'{"reason": 5}', b"not json"):
                status, answer = post("/publish/user/a%2Fb/disconnect", bad)
                assert status == 400 and answer["error"].startswith("bad disconnect: "), answer
            assert post("/publish/user/a%2Fb/nope")[0] == 404
            assert post("/publish/user/a%2Fb/disconnect/more")[0] == 404
            assertQuiet(ann)
            assert post("/publish/user/a%2Fb/disconnect", b'{"code": 4005, "reason": "bye"}') == (
                202,
                {"user": "a/b", "disconnect": True, "receivers": 1},
            )
            assert closedWith(ann) == (4005, "bye")

    inThread(scenario)


def test_disconnectFromOutside(listen, brokers, redisServer, capsys):
    """
    disconnectUser through Redis, through one server's publish endpoint,
    and python -m ratchetpy.push --disconnect close the user's connections
    on both servers with the code and reason given, and count both servers;
    nobody else is closed.
    """
    one, two = Users(brokers()), Users(brokers())
    urlOne = serveUsers(listen, one, PublishEndpoint(SECRET, one.channels))
    urlTwo = serveUsers(listen, two)
    endpoint = urlOne.replace("ws://", "http://") + "publish"

    def fromTheShell() -> int:
        assert main(["--user", "ann", "--disconnect", redisServer.url, "--code", "4002"]) == 0
        return int(capsys.readouterr().out)

    ways = [
        (lambda: disconnectUser(redisServer.url, "ann", code=4001, reason="logged out ✓"), (4001, "logged out ✓")),
        (lambda: disconnectUser(endpoint, "ann", reason="over HTTP", secret=SECRET), (4000, "over HTTP")),
        (fromTheShell, (4002, "")),
    ]

    def scenario():
        with opened(urlTwo, "bob") as bob:
            waitForSubscribers(redisServer, envelope.USERS_CONTROL, 2)
            for disconnect, closed in ways:
                with opened(urlOne, "ann") as annA, opened(urlTwo, "ann") as annB:
                    assert disconnect() == 2
                    assert closedWith(annA) == closed == closedWith(annB)
            assertQuiet(bob)
            with pytest.raises(PushError, match="bad disconnect: close code 1005"):
                disconnectUser(redisServer.url, "ann", code=1005)

    inThread(scenario)


def test_commandLineArguments(capsys):
    with pytest.raises(SystemExit):
        main(["--user", "ann", "redis://127.0.0.1:1/0", "channel", "message"])
    assert "URL MESSAGE with --user, URL CHANNEL MESSAGE without" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--disconnect", "redis://127.0.0.1:1/0"])
    assert "--disconnect needs --user USERID" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--user", "ann", "--disconnect", "redis://127.0.0.1:1/0", "message"])
    assert "give URL alone with --disconnect" in capsys.readouterr().err
    assert main(["--user", "ann", "redis://127.0.0.1:1/0", "hi", "--timeout", "1"]) == 1
    assert "cannot reach Redis" in capsys.readouterr().err


# When Redis goes away


def test_redisDown(listen, brokers, redisServer, logged):
    """
    With Redis gone, a user's connections on this server still get what is
    sent to them and are still closed by disconnect; the broker counts the
    failed publishes and logs the first once.
    """
    broker = brokers()
    users = Users(broker)
    url = serveUsers(listen, users)

    def scenario():
        with opened(url, "ann") as annA, opened(url, "ann") as annB, opened(url, "bob") as bob:
            redisServer.kill()
            deadline = time.monotonic() + 10
            while broker.connected:
                assert time.monotonic() < deadline
                time.sleep(0.02)
            for number in range(3):
                bob.send(f"/msg ann during {number}")
                assert bob.recv(timeout=10) == "sent 2"
                for tab in (annA, annB):
                    assert tab.recv(timeout=10) == f"bob: during {number}"
            bob.send("/kick ann 4002 bye")
            assert bob.recv(timeout=10) == "closed 2"
            assert closedWith(annA) == (4002, "bye") == closedWith(annB)

    inThread(scenario)
    assert broker.stats.publishFailed == 4
    assert sum("is unreachable (" in line for line in logged()) == 1
    assert sum("publishing on" in line for line in logged()) == 1


# Control messages from elsewhere


def test_badControlMessagesAreDropped(logged):
    broker = LocalBroker()
    users = Users(broker)
    conn = Tab()
    users.add(conn)
    bad = [
        b"not an envelope",
        envelope.encode("x", b"binary"),
        envelope.encode("x", "not json"),
        envelope.encode("x", json.dumps({"disconnect": "ann", "code": 1005})),
        envelope.encode("x", json.dumps({"disconnect": 42})),
        envelope.encode("x", json.dumps(["disconnect"])),
    ]
    for data in bad:
        broker.publish(envelope.USERS_CONTROL, data)
    assert users.dropped == len(bad)
    assert conn.closed is None
    assert sum("dropped a control message" in line for line in logged()) == len(bad)
    broker.publish(envelope.USERS_CONTROL, encodeDisconnect("x", "ann", 4003, "from outside"))
    assert conn.closed == (4003, "from outside")


def test_interfaces():
    verifyObject(IUser, User("ann"))


# docs/users.md


def docsBlock(marker: str) -> str:
    blocks = [code for code in codeBlocks("users.md", "python") if marker in code]
    assert len(blocks) == 1
    return blocks[0]


def docsPrivateChat() -> UserFromQuery:
    """
    users.md's PrivateChat behind L{UserFromQuery}: what the twistd test
    serves (C{--component tests.pubsub.test_users:docsPrivateChat}).
    """
    namespace: dict[str, Any] = {"__name__": "docs_users_private_chat"}
    exec(compile(docsBlock("class PrivateChat("), str(DOCS / "users.md"), "exec"), namespace)
    return UserFromQuery(namespace["PrivateChat"]())


def test_docsCommandsOnTwoTwistdServers(twistd, redisServer, tmp_path):
    """
    Two twistd servers on one Redis serve users.md's PrivateChat, one with
    a publish endpoint; ann has a tab on each. users.md's two shell
    commands (python -m ratchetpy.push --user, curl to PATH/user/ann) reach
    both tabs and count both servers; bob's /msg ann does too.
    """
    secretFile = tmp_path / "publish.secret"
    secretFile.write_text(SECRET + "\n")
    servers, ports = [], []
    for extra in (["--publish-path", "/publish", "--publish-secret-file", str(secretFile)], []):
        process = twistd("--component", "tests.pubsub.test_users:docsPrivateChat", "--port",
                         "tcp:0:interface=127.0.0.1", "--broker", redisServer.url, *extra)
        servers.append(process)
        ports.append(process.waitForPort())
    for process in servers:
        process.readUntil("connected to Redis at ")
    blocks = codeBlocks("users.md", "sh")
    assert len(blocks) == 1
    lines = blocks[0].splitlines()
    assert len(lines) == 2
    with (
        connect(f"ws://127.0.0.1:{ports[0]}/?user=ann") as annA,
        connect(f"ws://127.0.0.1:{ports[1]}/?user=ann") as annB,
        connect(f"ws://127.0.0.1:{ports[1]}/?user=bob") as bob,
    ):
        waitForSubscribers(redisServer, userBrokerChannel("ann"), 2)
        outputs = []
        for line in lines:
            line = line.replace("redis://127.0.0.1:6379/0", redisServer.url).replace("publish.secret", str(secretFile))
            line = line.replace("127.0.0.1:8080", f"127.0.0.1:{ports[0]}")
            line = re.sub(r"^python ", shlex.quote(sys.executable) + " ", line)
            ran = subprocess.run(line, shell=True, capture_output=True, text=True, cwd=ROOT, timeout=30)
            assert ran.returncode == 0, (line, ran.stderr)
            outputs.append(ran.stdout)
        assert outputs[0] == "2\n"
        assert json.loads(outputs[1]) == {"user": "ann", "receivers": 2}
        bob.send("/msg ann hello")
        for tab in (annA, annB):
            assert [tab.recv(timeout=10) for _ in range(3)] == ["Your export is ready"] * 2 + ["bob (private): hello"]
        assertQuiet(annA, annB, bob)
    for process in servers:
        assert process.stop(signal.SIGTERM) == 0, process.output


def test_docsNotifyUser(redisServer, monkeypatch):
    """
    users.md's notifyPayment: through the test's Redis it reaches a
    subscriber of the user's channel and counts it; with Redis gone it
    says why and returns 0.
    """
    namespace: dict[str, Any] = {}
    code = docsBlock("def notifyPayment(").replace("redis://127.0.0.1:6379/0", redisServer.url)
    exec(compile(code, str(DOCS / "users.md"), "exec"), namespace)
    client = redis.Redis(port=redisServer.port)
    listener = client.pubsub()
    listener.subscribe(userBrokerChannel("ann"))
    assert listener.get_message(timeout=5)["type"] == "subscribe"
    assert namespace["notifyPayment"]("ann", "12 EUR") == 1
    message = listener.get_message(timeout=5)
    assert envelope.decode(message["data"])[1] == "payment received: 12 EUR"
    listener.close()
    client.close()
    redisServer.kill()
    assert namespace["notifyPayment"]("ann", "12 EUR") == 0


def test_docsPrivateChat(listen, brokers, redisServer, monkeypatch):
    """
    users.md's private chat, on two servers sharing Redis: the room as
    before, and /msg ann reaches both of ann's tabs and nobody else.
    """
    urls = []
    for _ in range(2):
        monkeypatch.setattr(pubsub, "_default", brokers())
        urls.append(serveWebSocket(listen, docsPrivateChat())[1])

    def scenario():
        with (
            connect(urls[0] + "?user=ann") as annA,
            connect(urls[1] + "?user=ann") as annB,
            connect(urls[1] + "?user=bob") as bob,
            connect(urls[0]) as guest,
        ):
            waitForSubscribers(redisServer, userBrokerChannel("ann"), 2)
            waitForSubscribers(redisServer, envelope.brokerChannel("chat"), 2)
            bob.send("hello all")
            for ws in (annA, annB, guest):
                assert ws.recv(timeout=10) == "hello all"
            bob.send("/msg ann hello")
            for tab in (annA, annB):
                assert tab.recv(timeout=10) == "bob (private): hello"
            guest.send("/msg ann hi")
            assert guest.recv(timeout=10) == "log in to send private messages"
            assertQuiet(annA, annB, bob, guest)

    inThread(scenario)


def test_docsSignature():
    assert signatureText("Users", Users.__init__) in page("users.md")
