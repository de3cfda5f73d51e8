"""
Sends every message back to its sender, unchanged: text as text, binary as
binary.

    twistd -n ratchetpy --component examples.echo:Echo --port tcp:8080
"""

from ratchetpy import IConnection, MessageComponent


class Echo(MessageComponent):
    def onMessage(self, conn: IConnection, msg: str | bytes) -> None:
        conn.send(msg)


if __name__ == "__main__":
    from ratchetpy import HttpServer, IoServer, WsServer

    IoServer.factory(HttpServer(WsServer(Echo())), 8080).run()
