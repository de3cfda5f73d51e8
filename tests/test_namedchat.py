"""
examples/named_chat.py on two twistd servers sharing a real Redis, behind JWT authentication: joins and leaves by
name once per user, "/who" across servers, "/msg NAME TEXT" to that user's tabs only, on whichever server.
"""

from __future__ import annotations

import time
from contextlib import ExitStack

import pytest
from websockets.sync.client import connect

from tests.auth.support import bearer, mint
from tests.helpers import inThread
from tests.test_tap import LOOPBACK


@pytest.fixture
def chatServers(twistd, redisServer, tmp_path):
    key = tmp_path / "jwt.key"
    key.write_text("k" * 16 + "e" * 16)
    ports = []
    for _ in range(2):
        process = twistd(
            "--component", "examples.named_chat:NamedChat", "--port", LOOPBACK, "--broker", redisServer.url,
            "--auth-jwt-key-file", str(key), "--auth-jwt-algorithm", "HS256",
        )
        ports.append(process.waitForPort())
        process.readUntil("connected to Redis")
    return [f"ws://127.0.0.1:{port}/" for port in ports]


def token(sub: str, name: str) -> dict:
    return bearer(mint(sub, info={"name": name}))


def recvUntil(ws, expected: str) -> list[str]:
    seen = []
    while not seen or seen[-1] != expected:
        seen.append(ws.recv(timeout=10))
    return seen


def test_namesWhoAndPrivateMessagesAcrossServers(chatServers):
    one, two = chatServers

    def scenario() -> None:
        with ExitStack() as stack:
            ann = stack.enter_context(connect(one, proxy=None, **token("1", "Ann")))
            ann.send("/who")
            assert ann.recv(timeout=10) == "* online: Ann"
            # Ann's server hears the room's joins a moment after her subscription (a Redis round trip).
            time.sleep(0.3)
            bob = stack.enter_context(connect(two, proxy=None, **token("2", "Bob")))
            assert recvUntil(ann, "* Bob joined") == ["* Bob joined"]
            # A second tab of Bob's, on the other server: no second join.
            with connect(one, proxy=None, **token("2", "Bob")) as bobToo:
                bob.send("/who")
                assert bob.recv(timeout=10) == "* online: Ann, Bob"
                ann.send("/msg bob see you at 5")
                assert bob.recv(timeout=10) == "Ann (private): see you at 5"
                assert bobToo.recv(timeout=10) == "Ann (private): see you at 5"
                ann.send("/msg Cyd hello?")
                assert ann.recv(timeout=10) == "* nobody called Cyd is online"
                ann.send("hello, room")
                assert bob.recv(timeout=10) == "Ann: hello, room"
                assert bobToo.recv(timeout=10) == "Ann: hello, room"
            # One of Bob's tabs closed: he is still online, nobody is told he left.
            bob.send("/who")
            assert bob.recv(timeout=10) == "* online: Ann, Bob"
            ann.send("/who")
            assert ann.recv(timeout=10) == "* online: Ann, Bob"
            bob.close()
            assert recvUntil(ann, "* Bob left") == ["* Bob left"]

    inThread(scenario)
