"""
WAMP v2 in the same process: a router (broker and dealer) as a ratchetpy
component, with PHP Ratchet's C{WampServer} API on top::

    from ratchetpy import App
    from ratchetpy.wamp import WampComponent, WampServer, procedure

    class Hello(WampComponent):
        @procedure("com.example.add")
        def add(self, a, b):
            return a + b

        def onPublish(self, conn, topic, event, exclude, eligible, **kwargs):
            print(conn.authid, "published", event, "to", topic)

    app = App("localhost", 8080)
    app.route("/ws", WampServer(Hello()))
    app.run()

Where to read on:
 - L{server.WampServer}: the router, its subprotocols, limits and options;
   L{protocol.ROUTER_ROLES}: the features announced (what is implemented);
 - L{component}: the hooks, and how Ratchet's WAMP v1 maps to v2;
 - L{api.WampApi} (C{self.wamp}): procedures, publications, calls and
   subscriptions from Python; L{topic.Topic}: Ratchet's C{Topic};
 - L{realm.Realm}: realms, anonymous access, authenticators, C{authorize};
   L{auth}: ticket (and JWT tickets), WAMP-CRA, the Authenticate layer's user;
 - L{fanout}: publications across processes (C{--broker}), and why RPC stays
   per process;
 - L{meta}: the session meta API; L{limits}: the defaults.
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
