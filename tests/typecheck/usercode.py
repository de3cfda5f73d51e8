"""
A chat written as a user of ratchetpy writes it, annotated with the names
ratchetpy exports: C{mypy --strict} with the mypy-zope plugin (the
repository's configuration) must find nothing wrong with it
(L{tests.test_typing}). It is type-checked, never run.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from ratchetpy import (
    App,
    Channels,
    ComponentDecorator,
    ConnectionDecorator,
    ConnectionGroup,
    HttpHandler,
    HttpServer,
    IConnection,
    IHttpRequest,
    IoServer,
    MessageComponent,
    Response,
    Router,
    Users,
    WsServer,
)
from ratchetpy.client import Client, HandshakeRefused, Reconnect, connect, connectOnce
from ratchetpy.interfaces import IClientConnection, ISession, IUser

MAX_LENGTH = 1000


class Chat(MessageComponent):
    log = Logger()

    def __init__(self) -> None:
        self.channels = Channels(presence=True, onJoin=self.joined, onLeave=self.left)
        self.users = Users(self.channels)
        self.everyone = ConnectionGroup()

    def onOpen(self, conn: IConnection) -> None:
        conn.state.nick = f"guest {conn.resourceId}"
        conn.state.sent = 0
        self.everyone.add(conn)
        self.users.add(conn)
        self.channels.subscribe(conn, "lobby")
        request = conn.httpRequest
        if request is not None:
            room = request.routeParams.get("room", "lobby")
            agent: str = request.headers.get("user-agent", "")
            self.log.info("{id} from {address} ({agent}) joins {room}", id=conn.resourceId,
                          address=conn.remoteAddress, agent=agent, room=room)

    def onMessage(self, conn: IConnection, msg: str | bytes) -> Deferred[None] | None:
        if len(msg) > MAX_LENGTH:
            conn.close(1009, "too long")
            return None
        if not isinstance(msg, str):
            conn.send(b"binary: " + msg)
            return None
        if msg.startswith("/nick "):
            conn.state.nick = msg.removeprefix("/nick ")
            conn.send("hi")
            return None
        if msg == "/who":
            return Deferred.fromCoroutine(self.who(conn))
        nick: str = conn.state.nick
        conn.state.sent += 1
        return self.channels.publish("lobby", f"{nick}: {msg}", exclude=conn)

    def onClose(self, conn: IConnection) -> None:
        self.everyone.discard(conn)
        self.users.discard(conn)
        self.channels.unsubscribeAll(conn)

    def onError(self, conn: IConnection, exc: BaseException) -> None:
        self.log.failure("{id} failed", id=conn.resourceId)

    async def who(self, conn: IConnection) -> None:
        online = await self.channels.presence("lobby")
        count: int = await self.channels.presenceCount("lobby")
        names = sorted(str(info.get("name") or userId) for userId, info in online.items())
        conn.send(f"{count} online: {', '.join(names)}")

    def joined(self, channel: str, userId: str, info: dict[str, Any]) -> None:
        self.channels.subscribers(channel).broadcast(f"* {info.get('name') or userId} joined")

    def left(self, channel: str, userId: str, info: dict[str, Any]) -> None:
        self.everyone.broadcast(f"* {userId} left", exclude=self.users.connections(userId))

    def tell(self, userId: str, text: str) -> int:
        return self.users.send(userId, text)


def nameOf(conn: IConnection) -> str:
    user: IUser | None = conn.user
    if user is None:
        return f"guest {conn.resourceId}"
    name = user.info.get("name")
    if isinstance(name, str):
        return name
    if user.expiresAt is not None and user.expiresAt < 0:
        conn.close(4001, "expired")
    return user.id


async def countVisit(conn: IConnection) -> int:
    session: ISession | None = conn.session
    if session is None:
        return 0
    visits: int = session.get("visits", 0) + 1
    session["visits"] = visits
    await session.save()
    return visits


class Shouting(ConnectionDecorator):
    def send(self, data: str | bytes) -> None:
        super().send(data.upper())


class Shout(ComponentDecorator):
    def decorate(self, conn: IConnection) -> IConnection:
        return Shouting(conn)

    def onMessage(self, conn: IConnection, msg: str | bytes) -> object:
        if conn.isWritable:
            return super().onMessage(conn, msg)
        conn.abort()
        return None


class Status(HttpHandler):
    def onRequest(self, request: IHttpRequest) -> Response:
        if request.method != "GET":
            return Response(405, "GET only\n", headers=[("Allow", "GET")])
        return Response(200, f"{request.path}: ok\n", contentType="text/plain; charset=utf-8")


class Echo(HttpHandler):
    async def onRequest(self, request: IHttpRequest) -> Response:
        body: bytes = request.body
        return Response(body=body, contentType="application/octet-stream")


def app(origins: Iterable[str] = ()) -> App:
    served = App("localhost", 8080)
    served.route("/chat", Chat(), allowedOrigins=list(origins))
    served.route("/rooms/{room}", Shout(Chat()))
    served.route("/status", Status())
    served.route("/echo", Echo(), methods=["POST"])
    return served


def byHand() -> IoServer:
    router = Router()
    router.addRoute("/", WsServer(Chat()))
    return IoServer.factory(HttpServer(router), 8080)


class Bot(MessageComponent):
    """
    A client's component (L{ratchetpy.client}): the same hooks.
    """

    async def onOpen(self, conn: IConnection) -> None:
        conn.send("hello")

    def onMessage(self, conn: IConnection, msg: str | bytes) -> None:
        if msg == "bye":
            conn.close(1000, "bye")


def bot(url: str) -> Client:
    return connect(url, Bot(), headers={"Authorization": "Bearer t0k"}, reconnect=Reconnect(maxDelay=10.0))


async def once(url: str) -> tuple[str | bytes, int]:
    conn: IClientConnection = await connectOnce(url, subProtocols=["chat.v1"])
    conn.send(b"\x00")
    try:
        reply = await conn.receive()
    except HandshakeRefused as refused:
        return "", refused.status
    conn.close()
    code, _reason = await conn.whenClosed()
    return reply, code
