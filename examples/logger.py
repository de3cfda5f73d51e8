"""
A decorator that logs every message in and out of the component it wraps, as
in Ratchet's examples (its Monolog C{MessageLogger}).

    twistd -n ratchetpy --component examples.logger:LoggedChat
"""

from typing import Any

from twisted.logger import Logger

from examples.chat import Chat
from ratchetpy import ComponentDecorator, ConnectionDecorator, IConnection


class LoggedConnection(ConnectionDecorator):
    def __init__(self, connection: IConnection, log: Logger) -> None:
        super().__init__(connection)
        self.log = log

    def send(self, data: str | bytes) -> None:
        self.log.info("{id} <- {data!r}", id=self.resourceId, data=data)
        super().send(data)


class MessageLogger(ComponentDecorator):
    log = Logger()

    def decorate(self, conn: IConnection) -> IConnection:
        return LoggedConnection(conn, self.log)

    def onOpen(self, conn: IConnection, *args: Any) -> object:
        self.log.info("{id} opened from {address}", id=conn.resourceId, address=conn.remoteAddress)
        return super().onOpen(conn, *args)

    def onMessage(self, conn: IConnection, msg: str | bytes) -> object:
        self.log.info("{id} -> {msg!r}", id=conn.resourceId, msg=msg)
        return super().onMessage(conn, msg)

    def onClose(self, conn: IConnection) -> object:
        self.log.info("{id} closed", id=conn.resourceId)
        return super().onClose(conn)


def LoggedChat() -> MessageLogger:
    return MessageLogger(Chat())
