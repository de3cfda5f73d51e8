"""
A broadcast chat: every message is relayed, unchanged, to every other client.

Over WebSocket:      twistd -n ratchetpy --component examples.chat:Chat
                     then open http://127.0.0.1:8080/ in two browser tabs
Over raw TCP/telnet: twistd -n ratchetpy --component examples.chat:Chat --raw
Two servers, one room: add --broker redis://127.0.0.1:6379/0 (and its own --port) to each
"""

from pathlib import Path

from twisted.logger import Logger

from ratchetpy import Channels, IConnection, MessageComponent, StaticFiles


class Chat(MessageComponent):
    log = Logger()
    # A browser opening the server's address gets the chat page.
    httpComponent = StaticFiles(Path(__file__).parent / "chat_page")

    def __init__(self) -> None:
        # The "chat" channel: every server on the same broker (--broker) shares it.
        self.channels = Channels()

    def onOpen(self, conn: IConnection) -> None:
        self.channels.subscribe(conn, "chat")
        self.log.info("New connection! ({id})", id=conn.resourceId)

    def onMessage(self, conn: IConnection, msg: str | bytes) -> None:
        self.channels.publish("chat", msg, exclude=conn)

    def onClose(self, conn: IConnection) -> None:
        self.channels.unsubscribeAll(conn)
        self.log.info("Connection {id} has disconnected", id=conn.resourceId)


if __name__ == "__main__":
    from ratchetpy import HttpServer, IoServer, WsServer

    IoServer.factory(HttpServer(WsServer(Chat())), 8080).run()
