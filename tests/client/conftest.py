"""
The servers the client is tried against: ratchetpy's own, and the websockets
library's (an independent implementation, in a thread), each able to stop
and start again on the same port, with TLS or without.
"""

from __future__ import annotations

import http
import ssl
import threading
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import threads
from websockets.sync.server import serve

from ratchetpy import HttpServer, IoServer, MessageComponent, Router, WsServer
from ratchetpy.auth import Authenticate, Forbidden, Unauthorized, User

#: The token that the servers' handshakes accept, in an X-Token header.
GOOD_TOKEN = "good"


class Echo(MessageComponent):
    """
    Echoes; "close me" is answered with close code 4001.
    """

    def getSubProtocols(self):
        return ["chat.v2", "chat.v1"]

    def onMessage(self, conn, msg):
        if msg == "close me":
            conn.close(4001, "as you asked")
        else:
            conn.send(msg)


def checkToken(request):
    token = request.headers.get("x-token")
    if token is None:
        raise Unauthorized("no token")
    if token != GOOD_TOKEN:
        raise Forbidden("not you")
    return User("ann")


class RatchetpyServer:
    """
    The echo behind ratchetpy's stack; on /auth behind Authenticate (401
    without a token, 403 with a bad one).
    """

    name = "ratchetpy"

    def __init__(self, certificate: tuple[Path, Path] | None) -> None:
        self.certificate = certificate
        self.server: IoServer | None = None
        self.port = 0

    def start(self) -> int:
        router = Router()
        router.addRoute("/", WsServer(Echo()))
        router.addRoute("/auth", Authenticate(WsServer(Echo()), checkToken))
        endpoint = f"tcp:{self.port}:interface=127.0.0.1"
        if self.certificate is not None:
            key, cert = self.certificate
            endpoint = f"ssl:{self.port}:interface=127.0.0.1:privateKey={key}:certKey={cert}"
        self.server = IoServer(HttpServer(router), endpoint)
        listening = pytest_twisted.blockon(self.server.listen())
        self.port = listening.getHost().port
        return self.port

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdownTimeout = 1.0
            pytest_twisted.blockon(self.server.shutdown())
            self.server = None


class WebsocketsServer:
    """
    The same echo on the websockets library's threaded server; /auth refuses
    in process_request as RatchetpyServer's does.
    """

    name = "websockets"

    def __init__(self, certificate: tuple[Path, Path] | None) -> None:
        self.certificate = certificate
        self.server: Any = None
        self.thread: threading.Thread | None = None
        self.port = 0

    @staticmethod
    def handler(websocket: Any) -> None:
        for message in websocket:
            if message == "close me":
                websocket.close(4001, "as you asked")
            else:
                websocket.send(message)

    @staticmethod
    def processRequest(connection: Any, request: Any) -> Any:
        if request.path != "/auth":
            return None
        token = request.headers.get("X-Token")
        if token is None:
            return connection.respond(http.HTTPStatus.UNAUTHORIZED, "no token\n")
        if token != GOOD_TOKEN:
            return connection.respond(http.HTTPStatus.FORBIDDEN, "not you\n")
        return None

    def start(self) -> int:
        context = None
        if self.certificate is not None:
            key, cert = self.certificate
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
        self.server = serve(
            self.handler,
            "127.0.0.1",
            self.port,
            ssl=context,
            process_request=self.processRequest,
            # Like ratchetpy's: a client offering none is accepted without one.
            select_subprotocol=lambda connection, offered: next(
                (name for name in offered if name in ("chat.v2", "chat.v1")), None
            ),
        )
        self.port = self.server.socket.getsockname()[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self.port

    def stop(self) -> None:
        if self.server is not None:
            server, self.server = self.server, None
            # Blocking: closes the connections (1001) and waits for its thread.
            pytest_twisted.blockon(threads.deferToThread(server.shutdown))
            assert self.thread is not None
            self.thread.join(5)


@pytest.fixture(params=["ratchetpy", "websockets"])
def peer(request):
    """
    A factory of servers of one kind, C{peer(certificate=None)}: started,
    and stopped after the test.
    """
    made: list[Any] = []

    def make(certificate: tuple[Path, Path] | None = None) -> Any:
        kind = RatchetpyServer if request.param == "ratchetpy" else WebsocketsServer
        server = kind(certificate)
        server.start()
        made.append(server)
        return server

    yield make
    for server in made:
        server.stop()


@pytest.fixture
def echoServer():
    """
    A started L{RatchetpyServer} without TLS, stopped after the test.
    """
    server = RatchetpyServer(None)
    server.start()
    yield server
    server.stop()
