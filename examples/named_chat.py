"""
The chat, with names: each message goes out as "NAME: MESSAGE", NAME being the
"name" of the sender's token (conn.user.info), or its user id. Who joins and
leaves is announced once per user however many tabs they have, on every server
sharing the broker (presence); "/who" lists who is online, and "/msg NAME TEXT"
goes to NAME's tabs only, on whichever server they are (Users).

    echo -n "$(python -c 'import secrets; print(secrets.token_urlsafe(32))')" > jwt.key
    twistd -n ratchetpy --component examples.named_chat:NamedChat \\
        --auth-jwt-key-file jwt.key --auth-jwt-algorithm HS256
    python examples/mint_token.py --key-file jwt.key --sub 42 --name Ann
"""

from collections.abc import Coroutine
from typing import Any

from twisted.internet.defer import Deferred, ensureDeferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from ratchetpy import Channels, IConnection, MessageComponent, Users

ROOM = "chat"


class NamedChat(MessageComponent):
    log = Logger()

    def __init__(self) -> None:
        # Presence in the room: who is online across servers, joins and leaves once per user.
        self.channels = Channels(presence=True, onJoin=self.joined, onLeave=self.left)
        self.users = Users(self.channels)

    def onOpen(self, conn: IConnection) -> None:
        # conn.user is set by the authentication layer before onOpen; None only where anonymous clients are allowed,
        # and those are in the room without being announced or listed.
        self.users.add(conn)
        self.channels.subscribe(conn, ROOM)
        self.log.info("{name} connected ({id})", name=self.nameOf(conn), id=conn.resourceId)

    def onMessage(self, conn: IConnection, msg: str | bytes) -> object:
        if msg == "/who":
            return self._command(conn, "/who", self.who(conn))
        if isinstance(msg, str) and msg.startswith("/msg "):
            return self._command(conn, "/msg", self.private(conn, msg.removeprefix("/msg ")))
        text = msg if isinstance(msg, str) else msg.decode("utf-8", "replace")
        self.channels.publish(ROOM, f"{self.nameOf(conn)}: {text}", exclude=conn)
        return None

    def onClose(self, conn: IConnection) -> None:
        self.users.discard(conn)
        self.channels.unsubscribeAll(conn)

    async def who(self, conn: IConnection) -> None:
        online = await self.channels.presence(ROOM)
        names = sorted(info.get("name") or userId for userId, info in online.items())
        conn.send("* online: " + (", ".join(names) if names else "nobody with a name"))

    async def private(self, conn: IConnection, text: str) -> None:
        if conn.user is None:
            conn.send("* log in to send private messages")
            return
        name, _, text = text.partition(" ")
        online = await self.channels.presence(ROOM)
        to = [userId for userId, info in online.items() if name.lower() in ((info.get("name") or "").lower(), userId)]
        if not to or not text:
            conn.send(f"* nobody called {name} is online" if not to else "* /msg NAME TEXT")
            return
        for userId in to:
            self.users.send(userId, f"{self.nameOf(conn)} (private): {text}")

    # Presence: every server with people in the room runs these, and tells its own connections.

    def joined(self, channel: str, userId: str, info: dict[str, Any]) -> None:
        name = info.get("name") or userId
        self.channels.subscribers(channel).broadcast(f"* {name} joined", exclude=self.users.connections(userId))

    def left(self, channel: str, userId: str, info: dict[str, Any]) -> None:
        self.channels.subscribers(channel).broadcast(f"* {info.get('name') or userId} left")

    def _command(self, conn: IConnection, command: str, coroutine: Coroutine[Any, Any, None]) -> Deferred[None]:
        def failed(failure: Failure) -> None:
            # Redis down, say: the sender is told, the chat goes on.
            self.log.warn("{command} failed: {why}", command=command, why=failure.getErrorMessage())
            conn.send("* that did not work just now; try again in a moment")

        return ensureDeferred(coroutine).addErrback(failed)

    @staticmethod
    def nameOf(conn: IConnection) -> str:
        user = conn.user
        if user is None:
            return f"guest {conn.resourceId}"
        return user.info.get("name") or user.id
