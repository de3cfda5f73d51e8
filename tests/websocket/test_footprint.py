"""
What a connection costs, checked without timing anything: the per-connection
work and state that the fast path leaves out stays out.
"""

from __future__ import annotations

import contextlib
import threading
import time

import autobahn.twisted.websocket
import autobahn.websocket.protocol
import pytest_twisted
from autobahn.twisted.websocket import WebSocketServerProtocol
from twisted.internet import threads
from websockets.sync.client import connect

from tests.helpers import inThread, serveWebSocket, waitUntil
from tests.test_broadcast import GroupChat


def serveChat(listen):
    """
    A group chat served with a 4 KiB message limit; return it, its WsServer and its URL.
    """
    chat = GroupChat()
    server, url = serveWebSocket(listen, chat, maxMessageSize=4096)
    return chat, server.component.component, url  # IoServer -> HttpServer -> WsServer


@contextlib.contextmanager
def heldConnection(url: str, chat: GroupChat):
    """
    A client connected to the chat in a thread while the block runs.
    """
    opened, release = threading.Event(), threading.Event()

    def hold():
        with connect(url):
            opened.set()
            release.wait(10)

    done = threads.deferToThread(hold)
    try:
        waitUntil(lambda: opened.is_set() and len(chat.clients) == 1, what="the client")
        yield
    finally:
        release.set()
        pytest_twisted.blockon(done)


def test_protocolOptionsAreNotCopiedPerConnection(listen):
    """
    A connection's Autobahn protocol holds none of the ~40 options in its own
    attributes (Autobahn copies them per connection unless the class has
    them), yet they apply: a message over maxMessageSize gets 1009; and
    options changed later (enableKeepAlive) apply to later connections.
    """
    chat, ws, url = serveChat(listen)

    def oversized():
        with connect(url, max_size=None) as client:
            client.send("x" * 5000)
            with contextlib.suppress(Exception):
                client.recv(timeout=5)
            return client.close_code

    with heldConnection(url, chat):
        protocol = next(iter(ws._protocols.values()))
        copied = set(vars(protocol)) & set(WebSocketServerProtocol.CONFIG_ATTRS)
        # But one: a compressed connection's limit gets a byte of room, for the exact check after inflating
        # (EngineProtocol.limitInflatedMessagesExactly).
        assert copied <= {"maxMessagePayloadSize"}
        assert (protocol._exactLimit or protocol.maxMessagePayloadSize) == 4096
    assert inThread(oversized) == 1009

    ws.enableKeepAlive(7, 3)
    waitUntil(lambda: len(chat.clients) == 0, what="the clients to go")
    with heldConnection(url, chat):
        protocol = next(iter(ws._protocols.values()))
        assert (protocol.autoPingInterval, protocol.autoPingTimeout) == (7, 3)


def test_messagesBuildNoDebugArguments(listen, monkeypatch):
    """
    Once connections are open, echoing and broadcasting messages, plain and
    compressed, never builds the arguments of Autobahn's debug lines (its
    hltype/hlval calls cost a large share of each read and write).
    """
    chat, _, url = serveChat(listen)
    calls = []

    def counting(*args, **kwargs):
        calls.append(args)
        return ""

    def exchange():
        with (
            connect(url, compression=None) as alice,
            connect(url, compression=None) as bob,
            connect(url) as carol,  # permessage-deflate
        ):
            deadline = time.monotonic() + 10
            while len(chat.clients) < 3 and time.monotonic() < deadline:
                time.sleep(0.01)
            for module in (autobahn.websocket.protocol, autobahn.twisted.websocket):
                monkeypatch.setattr(module, "hltype", counting)
                monkeypatch.setattr(module, "hlval", counting)
            for number in range(20):
                alice.send(f"message {number}")
            for client in (bob, carol):
                assert [client.recv(timeout=10) for _ in range(20)] == [f"message {n}" for n in range(20)]
            monkeypatch.undo()

    inThread(exchange)
    assert calls == []
