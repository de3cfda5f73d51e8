"""
A decorator that logs every message in and out of the component it wraps, as
in Ratchet's examples (its Monolog C{MessageLogger}).

    twistd -n ratchetpy --component examples.logger:LoggedChat
"""

from twisted.logger import Logger

from examples.chat import Chat
from ratchetpy import ComponentDecorator, ConnectionDecorator


class LoggedConnection(ConnectionDecorator):
    def __init__(self, connection, log):
        super().__init__(connection)
        self.log = log

    def send(self, data):
        self.log.info("{id} <- {data!r}", id=self.resourceId, data=data)
        super().send(data)


class MessageLogger(ComponentDecorator):
    log = Logger()

    def decorate(self, conn):
        return LoggedConnection(conn, self.log)

    def onOpen(self, conn, *args):
        self.log.info("{id} opened from {address}", id=conn.resourceId, address=conn.remoteAddress)
        return super().onOpen(conn, *args)

    def onMessage(self, conn, msg):
        self.log.info("{id} -> {msg!r}", id=conn.resourceId, msg=msg)
        return super().onMessage(conn, msg)

    def onClose(self, conn):
        self.log.info("{id} closed", id=conn.resourceId)
        return super().onClose(conn)


def LoggedChat():
    return MessageLogger(Chat())
