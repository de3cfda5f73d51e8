"""
The chat, with names: each message goes out as "NAME: MESSAGE", NAME being the
"name" of the sender's token (conn.user.info), or its user id.

    echo -n "$(python -c 'import secrets; print(secrets.token_urlsafe(32))')" > jwt.key
    twistd -n ratchetpy --component examples.named_chat:NamedChat \\
        --auth-jwt-key-file jwt.key --auth-jwt-algorithm HS256
    python examples/mint_token.py --key-file jwt.key --sub 42 --name Ann
"""

from twisted.logger import Logger

from ratchetpy import Channels, MessageComponent


class NamedChat(MessageComponent):
    log = Logger()

    def __init__(self):
        self.channels = Channels()

    def onOpen(self, conn):
        # Set by the authentication layer before onOpen; None only on a route that allows anonymous clients.
        name = self.nameOf(conn)
        self.channels.subscribe(conn, "chat")
        self.channels.publish("chat", f"* {name} joined", exclude=conn)
        self.log.info("{name} connected ({id})", name=name, id=conn.resourceId)

    def onMessage(self, conn, msg):
        self.channels.publish("chat", f"{self.nameOf(conn)}: {msg}", exclude=conn)

    def onClose(self, conn):
        self.channels.unsubscribeAll(conn)
        self.channels.publish("chat", f"* {self.nameOf(conn)} left")

    @staticmethod
    def nameOf(conn):
        user = conn.user
        if user is None:
            return f"guest {conn.resourceId}"
        return user.info.get("name") or user.id
