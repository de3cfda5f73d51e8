"""
New blog posts, pushed to every open page as they are published: Ratchet's
push-integration tutorial (a web application tells the WebSocket server about
a new post; every browser shows it) with ratchetpy's channels instead of ZeroMQ.

    twistd -n ratchetpy --component examples.blog:Blog --broker redis://127.0.0.1:6379/0
    then open http://127.0.0.1:8080/ and, from a script or a web application:
    python examples/post_blog.py "Hello, world" --url redis://127.0.0.1:6379/0

A page at /CHANNEL (http://127.0.0.1:8080/news) follows that channel instead of "blog".
"""

from pathlib import Path
from urllib.parse import unquote

from ratchetpy import Channels, IConnection, MessageComponent, StaticFiles

#: The channel a page at / follows.
CHANNEL = "blog"


class Blog(MessageComponent):
    # A browser opening the server's address (any path) gets the page.
    httpComponent = StaticFiles(Path(__file__).parent / "blog_page")

    def __init__(self) -> None:
        # Channels reach every server on the same broker (--broker), and the push helper.
        self.channels = Channels()

    def onOpen(self, conn: IConnection) -> None:
        # Behind WsServer, the request that opened the WebSocket.
        assert conn.httpRequest is not None
        channel = unquote(conn.httpRequest.path.strip("/")) or CHANNEL
        self.channels.subscribe(conn, channel)

    def onMessage(self, conn: IConnection, msg: str | bytes) -> None:
        # Readers only read: posts come from the publisher, not from browsers.
        pass

    def onClose(self, conn: IConnection) -> None:
        self.channels.unsubscribeAll(conn)
