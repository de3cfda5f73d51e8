"""
Testing components: L{Harness} serves a component in memory, through the
layers a server would put in front of it, to clients a test opens, on a
clock the test advances::

    from ratchetpy.testing import Harness

    def test_echo():
        harness = Harness(Echo())
        client = harness.connect("/")
        client.send("hello")
        assert client.receive() == "hello"

The pytest plugin (L{ratchetpy.testing.plugin}, loaded when ratchetpy is
installed) adds fixtures that serve a component on a loopback port, for
end-to-end tests. This package never imports pytest; only the plugin does.
"""

from .clients import HandshakeRefused, HttpResponse, NothingReceived, RawClient, WebSocketClient
from .harness import Harness
from .pump import Pump
from .recorders import HttpRecorder, Recorder

__all__ = [
    "Harness",
    "WebSocketClient",
    "RawClient",
    "HttpResponse",
    "HandshakeRefused",
    "NothingReceived",
    "Pump",
    "Recorder",
    "HttpRecorder",
]
