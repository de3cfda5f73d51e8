"""
Fixtures of the WAMP tests: a router on loopback.
"""

from __future__ import annotations

from typing import Any

import pytest

from ratchetpy import HttpServer, WsServer
from ratchetpy.wamp import WampServer


@pytest.fixture
def router(listen):
    """
    C{router(component=None, **wampServerOptions)} serves a L{WampServer}
    on loopback; returns the L{WampServer} with its C{port}.
    """

    def make(component: Any = None, **options: Any) -> WampServer:
        server = WampServer(component, **options)
        io = listen(HttpServer(WsServer(server)))
        server.port = io.portNumber  # type: ignore[attr-defined]
        return server

    return make
