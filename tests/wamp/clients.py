"""
Real WAMP clients for the router's tests: Autobahn-Python's
C{ApplicationSession} over a real WebSocket on loopback, and a raw client
(the websockets library) for what a well-behaved client never sends.
"""

from __future__ import annotations

import json
from typing import Any

import pytest_twisted
from autobahn.twisted.wamp import ApplicationSession
from autobahn.twisted.websocket import WampWebSocketClientFactory
from autobahn.wamp.serializer import CBORSerializer, JsonSerializer, MsgPackSerializer
from autobahn.wamp.types import ComponentConfig
from twisted.internet import reactor
from twisted.internet.defer import Deferred

SERIALIZERS = {"json": JsonSerializer, "msgpack": MsgPackSerializer, "cbor": CBORSerializer}


class Client(ApplicationSession):
    """
    A session that fires C{self.ready} when it joined (with itself) or was
    refused (C{self.leaveDetails} then says why), and records C{left}.
    """

    ready: Deferred[Any]
    authmethods: list[str] | None = None
    authid: str | None = None
    secret: str | None = None

    def onConnect(self) -> None:
        self.leaveDetails = None
        self.closed: Deferred[Any] = Deferred()
        self.join(self.config.realm, authmethods=self.authmethods, authid=self.authid)

    def onChallenge(self, challenge: Any) -> str:
        if challenge.method == "ticket":
            return self.secret or ""
        from autobahn.wamp.auth import compute_wcs, derive_key

        key = self.secret.encode()
        if "salt" in challenge.extra:
            key = derive_key(key, challenge.extra["salt"], challenge.extra["iterations"], challenge.extra["keylen"])
        return compute_wcs(key, challenge.extra["challenge"].encode()).decode()

    def onJoin(self, details: Any) -> None:
        self.details = details
        if not self.ready.called:
            self.ready.callback(self)

    def onLeave(self, details: Any) -> None:
        self.leaveDetails = details
        if not self.ready.called:
            self.ready.callback(self)
        self.disconnect()

    def onDisconnect(self) -> None:
        if not self.ready.called:
            self.ready.callback(self)
        if not self.closed.called:
            self.closed.callback(None)


def connect(
    port: int,
    realm: str = "realm1",
    serializer: str = "json",
    path: str = "/",
    *,
    authmethods: list[str] | None = None,
    authid: str | None = None,
    secret: str | None = None,
    sessionClass: type[Client] = Client,
    headers: dict[str, str] | None = None,
) -> Client:
    """
    A L{Client} connected to the router on loopback C{port}, joined (or
    refused: see C{leaveDetails}). Blocks the test, not the reactor.
    """
    ready: Deferred[Any] = Deferred()

    def make() -> Client:
        session = sessionClass(ComponentConfig(realm))
        session.ready = ready
        session.authmethods = authmethods
        session.authid = authid
        session.secret = secret
        return session

    factory = WampWebSocketClientFactory(
        make, url=f"ws://127.0.0.1:{port}{path}", serializers=[SERIALIZERS[serializer]()], headers=headers
    )
    reactor.connectTCP("127.0.0.1", port, factory)
    return pytest_twisted.blockon(ready)


def leave(client: Client) -> None:
    """
    GOODBYE, and wait for the connection to close.
    """
    if client.is_attached():
        client.leave()
    pytest_twisted.blockon(client.closed)


def hello(realm: str = "realm1", **details: Any) -> str:
    """
    A raw JSON HELLO.
    """
    return json.dumps([1, realm, {"roles": {"subscriber": {}, "publisher": {}, "caller": {}, "callee": {}}, **details}])
