"""
Ratchet's WAMP tutorial (BasicPubSub) on WAMP v2: clients publish and subscribe
to any topic, calls are answered with an error.

    twistd -n ratchetpy --component examples.wamp_pubsub:BasicPubSub
    then open http://127.0.0.1:8080/ in two browser tabs (autobahn-js), or point
    any WAMP v2 client at ws://127.0.0.1:8080/, realm "realm1"

Run it from Python, as in Ratchet: python -m examples.wamp_pubsub
"""

from pathlib import Path
from typing import Any

from ratchetpy import StaticFiles
from ratchetpy.interfaces import IWampConnection
from ratchetpy.wamp import Topic, WampComponent

#: The pages of the WAMP examples, with autobahn-js's browser build (autobahn-browser 22.11.1 from npm).
PAGES = Path(__file__).parent / "wamp_pages"


class BasicPubSub(WampComponent):
    # A browser opening the server's address gets the demo page.
    httpComponent = StaticFiles(PAGES, index="pubsub.html")

    def onPublish(
        self, conn: IWampConnection, topic: Topic, event: Any, exclude: list[int], eligible: list[int] | None,
        **kwargs: Any,
    ) -> None:
        # Ratchet's tutorial ends with $topic->broadcast($event): ratchetpy's router has already
        # delivered the event to the topic's subscribers (the publisher excluded, as WAMP v2 wants).
        pass

    def onCall(self, conn: IWampConnection, id: int, topic: str, params: list[Any], **kwargs: Any) -> None:
        # No one registered the procedure: the tutorial turns every call down.
        conn.callError(id, topic, "RPC not supported on this demo")


if __name__ == "__main__":
    from ratchetpy import App
    from ratchetpy.wamp import WampServer

    app = App("localhost", 8080)
    app.route("/", WampServer(BasicPubSub()))
    app.run()
