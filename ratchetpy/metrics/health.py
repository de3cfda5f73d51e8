# -*- test-case-name: tests.metrics.test_endpoint -*-
"""
L{Health}: whether a server is alive and ready, for C{/healthz} and
C{/readyz}.

Alive is "the process answers". Ready is: listening, not shutting down,
and, when the broker is one that can be down (Redis), connected to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..server.io import IoServer


class Health:
    """
    The readiness of C{servers}.

    @ivar draining: set once the server has started shutting down (see
        L{drain}): it is not ready any more, whatever else holds.
    @param broker: the broker whose connection readiness needs (default:
        the process default broker, looked up at each check). A broker
        without a C{connected} attribute (the in-process one) is always
        ready.
    """

    def __init__(self, servers: Iterable[IoServer], broker: Any = None) -> None:
        self.servers = list(servers)
        self.broker = broker
        self.draining = False

    def drain(self) -> None:
        """
        The server is shutting down: say so to whoever checks readiness,
        so that a load balancer stops sending clients before they are
        closed with 1001.
        """
        self.draining = True

    def notReady(self) -> str | None:
        """
        Why the server is not ready, in a few words; C{None} if it is.
        """
        if self.draining:
            return "shutting down"
        for server in self.servers:
            if not server._ports:
                return "not listening yet"
        broker = self.broker
        if broker is None:
            from ..pubsub import defaultBroker

            broker = defaultBroker()
        if not getattr(broker, "connected", True):
            display = getattr(getattr(broker, "address", None), "display", None)
            where = f" at {display()}" if display is not None else ""
            return f"broker{where} not connected"
        return None


__all__ = ["Health"]
