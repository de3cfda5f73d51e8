"""
WAMP v2 in the same process: a router (broker and dealer) as a ratchetpy
component, with PHP Ratchet's C{WampServer} API on top.

    from ratchetpy import App
    from ratchetpy.wamp import WampComponent, WampServer, procedure

    class Hello(WampComponent):
        @procedure("com.example.add")
        def add(self, a, b):
            return a + b

    app = App("localhost", 8080)
    app.route("/ws", WampServer(Hello()))
    app.run()
"""

from autobahn.wamp.exception import ApplicationError

from .api import Subscription, WampApi
from .auth import TicketAuth, WampCraAuth
from .component import WampComponent, procedure
from .connection import WampConnection
from .realm import Realm
from .server import WampServer
from .topic import Topic

__all__ = [
    "WampServer",
    "WampComponent",
    "WampConnection",
    "WampApi",
    "Subscription",
    "Topic",
    "Realm",
    "TicketAuth",
    "WampCraAuth",
    "procedure",
    "ApplicationError",
]
