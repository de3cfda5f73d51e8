"""
ConnectionGroup.broadcast: one message to many connections, framed once,
compressed per connection where negotiated, through the slow-consumer policy
for a connection that is behind, and through a decorator's own send.
"""

from __future__ import annotations

import contextlib
import time

import pytest
from websockets.sync.client import connect

from ratchetpy import ComponentDecorator, ConnectionDecorator, ConnectionGroup, MessageComponent
from ratchetpy.testing import Harness
from ratchetpy.websocket import _autobahn as engine
from tests.helpers import inThread, openWebSocket, serveWebSocket, waitUntil
from tests.paths import clientOffers, pytest_generate_tests  # noqa: F401  (both engine paths)

#: Mixing clients with and without compression already (tests/paths.py).
DEFLATE_ONLY = {"test_broadcastReachesEveryoneButTheExcluded"}

BLOCK = 64 * 1024


class GroupChat(MessageComponent):
    """
    Relays every message to everyone else; "flood N" sends N blocks of 64 KiB
    to everyone, the sender included.
    """

    def __init__(self):
        self.clients = ConnectionGroup()

    def onOpen(self, conn):
        self.clients.add(conn)

    def onMessage(self, conn, msg):
        if isinstance(msg, str) and msg.startswith("flood "):
            for number in range(int(msg.split()[1])):
                self.clients.broadcast(number.to_bytes(4, "big") + bytes(BLOCK - 4))
            return
        self.clients.broadcast(msg, exclude=conn)

    def onClose(self, conn):
        self.clients.discard(conn)


def test_broadcastReachesEveryoneButTheExcluded(listen):
    """
    Text arrives as text and binary as binary at every other member, with and
    without permessage-deflate; the sender gets nothing back.
    """
    chat = GroupChat()
    server, url = serveWebSocket(listen, chat)

    def talk():
        with (
            connect(url) as deflating,
            connect(url, compression=None) as plain,
            connect(url, compression=None) as other,
        ):
            assert deflating.protocol.extensions, "the websockets client should have negotiated permessage-deflate"
            waitForMembers(chat, 3)
            deflating.send("hello ✓")
            received = [plain.recv(timeout=10), other.recv(timeout=10)]
            plain.send(b"\x00\x01binary")
            received += [deflating.recv(timeout=10), other.recv(timeout=10)]
            for ws in (deflating, plain, other):
                try:
                    ws.recv(timeout=0.3)
                except TimeoutError:
                    continue
                raise AssertionError("a sender got its own message back")
            return received

    assert inThread(talk) == ["hello ✓", "hello ✓", b"\x00\x01binary", b"\x00\x01binary"]


def waitForMembers(chat, count):
    """
    (Blocking client side.) Wait until the server has opened C{count} members.
    """
    deadline = time.monotonic() + 10
    while len(chat.clients) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(chat.clients) == count


class PassThrough(ConnectionDecorator):
    """
    A connection decorator that does not override send.
    """


class Decorating(ComponentDecorator):
    """
    Hands the component L{PassThrough} connections.
    """

    def decorate(self, conn):
        return PassThrough(conn)


@pytest.mark.parametrize("decorated", [False, True], ids=["plain", "decorated"])
def test_framedOncePerMessage(listen, monkeypatch, decorated):
    """
    A broadcast to five connections builds one prepared (framed) message,
    also when the connections are wrapped by a decorator that leaves send
    alone.
    """
    prepared = []

    frame = engine.prepare

    def countingPrepare(data):
        prepared.append(data)
        return frame(data)

    monkeypatch.setattr(engine, "prepare", countingPrepare)
    chat = GroupChat()
    server, url = serveWebSocket(listen, Decorating(chat) if decorated else chat)

    def talk():
        with contextlib.ExitStack() as stack:
            clients = [stack.enter_context(connect(url, compression=None)) for _ in range(5)]
            waitForMembers(chat, 5)
            clients[0].send("once")
            return [ws.recv(timeout=10) for ws in clients[1:]]

    assert inThread(talk) == ["once"] * 4
    assert len(prepared) == 1


def test_aSlowMemberIsClosedAndTheOthersGetEverything(listen, logged):
    """
    Broadcasting 6 MiB to a group with a member that does not read: that
    member is closed by the slow-consumer policy (1008, one log line) and the
    reading member receives every block.
    """
    chat = GroupChat()
    server, url = serveWebSocket(listen, chat, io={"maxSendBuffer": 256 * 1024})
    slow = inThread(openWebSocket, server.portNumber, receiveBuffer=4096)
    blocks = 96

    def fast():
        with connect(url, compression=None, max_size=None) as ws:
            waitForMembers(chat, 2)
            received = []
            for _ in range(blocks):
                # Paced by the reader, so that only the silent member falls behind.
                ws.send("flood 1")
                received.append(len(ws.recv(timeout=30)))
            return received

    try:
        assert inThread(fast) == [BLOCK] * blocks
        waitUntil(lambda: len(chat.clients) == 0, timeout=10, what="both members to be gone")
    finally:
        slow.close()
    assert any("more than 262144 bytes behind: closed (1008)" in line for line in logged())


class RecordingConnection(ConnectionDecorator):
    sent: list = []

    def send(self, data):
        self.sent.append(data)
        super().send(data)


def test_decoratedConnectionsUseTheirOwnSend():
    """
    A member wrapped in a ConnectionDecorator gets the message through the
    decorator's send (a logger sees it), not around it.
    """
    chat = GroupChat()

    class Decorating(GroupChat):
        def onOpen(self, conn):
            chat.clients.add(RecordingConnection(conn))

        def onMessage(self, conn, msg):
            chat.clients.broadcast(msg)

        def onClose(self, conn):
            for member in list(chat.clients):
                if member.connection is conn:
                    chat.clients.discard(member)

    RecordingConnection.sent = []
    client = Harness(Decorating()).connect()
    client.send("through the decorator")
    assert client.receive() == "through the decorator"
    assert RecordingConnection.sent == ["through the decorator"]


def test_groupIsASetOfConnections():
    """
    add, discard, membership, length and iteration in joining order;
    discarding a non-member is harmless.
    """

    class Conn:
        def send(self, data):
            self.got = data

    one, two = Conn(), Conn()
    group = ConnectionGroup([one])
    group.add(two)
    group.add(one)
    assert list(group) == [one, two] and len(group) == 2 and two in group
    group.broadcast("x", exclude=[one])
    assert two.got == "x" and not hasattr(one, "got")
    group.broadcast("y", exclude=(conn for conn in [one]))
    assert two.got == "y" and not hasattr(one, "got"), "a generator of connections to exclude"
    group.discard(one)
    group.discard(one)
    assert list(group) == [two]


def test_componentsPageExample():
    """
    components.md's Broadcaster, run as written, relays to everyone else.
    """
    from tests.test_docs import codeBlocks

    blocks = [code for code in codeBlocks("components.md", "python") if "class Broadcaster(" in code]
    assert len(blocks) == 1
    namespace: dict[str, object] = {"__name__": "docs_broadcaster"}
    exec(compile(blocks[0], "components.md", "exec"), namespace)
    harness = Harness(namespace["Broadcaster"]())  # type: ignore[operator]
    one, two, three = harness.connect(), harness.connect(), harness.connect()
    one.send("to the others")
    assert (two.receive(), three.receive()) == ("to the others", "to the others")
    one.receiveNothing()
