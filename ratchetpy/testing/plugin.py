# -*- test-case-name: tests.testing.test_plugin -*-
"""
ratchetpy's pytest plugin: fixtures that serve a component on a loopback
port through the real stack (C{ratchetpyServer}) and connect to it with
L{ratchetpy.client} (C{ratchetpyClient}), for end-to-end tests.

Installed with ratchetpy (the C{pytest11} entry point); a project that runs
its tests on a checkout of ratchetpy instead loads it from its
C{conftest.py} with C{pytest_plugins = ["ratchetpy.testing.plugin"]}. The
fixtures wait for the server on the reactor with C{pytest_twisted.blockon},
so they need pytest-twisted (C{pip install pytest-twisted}), as any test
that runs the reactor does.

This is the only module of L{ratchetpy.testing} that imports pytest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from twisted.internet.defer import Deferred, DeferredList
from twisted.python.failure import Failure


def _blockon() -> Callable[[Any], Any]:
    try:
        from pytest_twisted import blockon  # type: ignore[import-untyped]
    except ImportError:
        pytest.fail(
            "ratchetpy's server fixtures run the Twisted reactor: install pytest-twisted (pip install pytest-twisted)",
            pytrace=False,
        )
    return blockon  # type: ignore[no-any-return]


def _listened(d: Any) -> Any:
    """
    The port C{d} fires with: at once, as listening on TCP does, so that a
    test may call the fixture from the reactor's greenlet (pytest-twisted's
    default); else by waiting for it.
    """
    if not d.called:
        return _blockon()(d)
    results: list[Any] = []
    d.addBoth(results.append)
    if isinstance(results[0], Failure):
        results[0].raiseException()
    return results[0]


class Servers:
    """
    What the C{ratchetpyServer} fixture is: call it with a component to serve
    it; every server it started is shut down after the test.

    @ivar servers: the L{ratchetpy.IoServer}s started, oldest first.
    """

    def __init__(self) -> None:
        self.servers: list[Any] = []

    def __call__(
        self,
        component: Any,
        *,
        raw: bool = False,
        auth: Any = None,
        allowedOrigins: Any = None,
        **options: Any,
    ) -> str:
        """
        Serve C{component} on a free port of 127.0.0.1 through the stack
        C{twistd ratchetpy --component} builds (L{ratchetpy.stack.buildStack}),
        on the running reactor.

        @param raw: serve a message component over plain TCP.
        @param auth: authenticators for an L{ratchetpy.auth.Authenticate}.
        @param allowedOrigins: an L{ratchetpy.OriginCheck} with these origins.
        @param options: the layers' options (C{maxMessageSize=...}); see
            L{ratchetpy.options}.
        @return: the server's URL: C{ws://127.0.0.1:PORT/}, or
            C{tcp://127.0.0.1:PORT} when C{raw}.
        """
        from .harness import serverFor

        server = serverFor(
            component, raw=raw, auth=auth, allowedOrigins=allowedOrigins, what="ratchetpyServer()", **options
        )
        port = _listened(server.listen())
        self.servers.append(server)
        number = port.getHost().port
        return f"tcp://127.0.0.1:{number}" if raw else f"ws://127.0.0.1:{number}/"

    def shutdown(self) -> None:
        """
        Shut every server down (a second for their connections to close).
        """
        blockon = _blockon() if self.servers else None
        servers, self.servers = self.servers, []
        for server in servers:
            server.shutdownTimeout = 1.0
            assert blockon is not None
            blockon(server.shutdown())


class Clients:
    """
    What the C{ratchetpyClient} fixture is: call it with a URL to connect
    (L{ratchetpy.client.connectOnce}); every connection still open after the
    test is closed, and attempts still under way are given up.

    @ivar connections: the connections made, oldest first.
    @ivar closeTimeout: seconds the connections get to close after the test.
    """

    closeTimeout = 5.0

    def __init__(self) -> None:
        self.connections: list[Any] = []
        self._attempts: list[Deferred[Any]] = []

    def __call__(self, url: str, **options: Any) -> Deferred[Any]:
        """
        Connect to C{url} once: C{ratchetpy.client.connectOnce(url,
        **options)} (C{subProtocols}, C{headers}, ...).

        @return: a L{Deferred} of the open
            L{ClientConnection<ratchetpy.client.ClientConnection>}
            (C{await} it, or C{pytest_twisted.blockon} it), failing with
            L{ratchetpy.client.HandshakeRefused} if the server refused.
        """
        from ..client import connectOnce

        attempt = connectOnce(url, **options)
        self._attempts.append(attempt)

        def connected(conn: Any) -> Any:
            self._attempts.remove(attempt)
            self.connections.append(conn)
            return conn

        def failed(failure: Failure) -> Failure:
            if attempt in self._attempts:
                self._attempts.remove(attempt)
            return failure

        return attempt.addCallbacks(connected, failed)

    def closeAll(self) -> None:
        """
        Give up the attempts under way, close every open connection (1000)
        and wait up to L{closeTimeout} seconds for them to close.
        """
        for attempt in list(self._attempts):
            attempt.addErrback(lambda failure: None)
            attempt.cancel()
        connections, self.connections = self.connections, []
        waiting = []
        for conn in connections:
            if conn.closeCode is None:
                conn.close()
            waiting.append(conn.whenClosed())
        if waiting:
            from twisted.internet import reactor

            closed = DeferredList(waiting, consumeErrors=True)
            closed.addTimeout(self.closeTimeout, reactor)
            closed.addErrback(lambda failure: None)
            _blockon()(closed)


@pytest.fixture
def ratchetpyServer() -> Iterator[Servers]:
    """
    C{ratchetpyServer(component, **options)} serves C{component} on a free
    loopback port through the real stack and returns its URL
    (C{ws://127.0.0.1:PORT/}); every server is shut down after the test.
    """
    servers = Servers()
    yield servers
    servers.shutdown()


@pytest.fixture
def ratchetpyClient() -> Iterator[Clients]:
    """
    C{ratchetpyClient(url, **options)} connects to C{url} with
    L{ratchetpy.client.connectOnce} and returns the L{Deferred} of the
    connection (C{conn.send}, C{await conn.receive()}, C{conn.close()},
    C{await conn.whenClosed()}); every connection is closed after the test.
    """
    clients = Clients()
    yield clients
    clients.closeAll()
