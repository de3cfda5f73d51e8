# -*- test-case-name: tests.test_tap -*-
"""
L{IoServerService}: an L{IoServer} as a Twisted L{IService<twisted.application.service.IService>}, for twistd and
Twisted applications.
"""

from __future__ import annotations

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.interfaces import IListeningPort, IStreamServerEndpoint
from twisted.logger import Logger

from .server.io import IoServer, raiseIfFailedNow

log = Logger(namespace="ratchetpy")


class IoServerService(Service):
    """
    Listens when started (in C{privilegedStartService}, so privileged ports can
    be bound before twistd drops privileges) and shuts the server down
    gracefully when stopped: listening stops, every connection is closed
    (WebSockets with 1001 Going Away), and stopping waits for them, at most
    C{ioServer.shutdownTimeout} seconds.

    @ivar port: the L{IListeningPort} once listening, else C{None}.
    """

    def __init__(self, ioServer: IoServer, endpoint: str | IStreamServerEndpoint | None = None) -> None:
        self.ioServer = ioServer
        self.endpoint = endpoint
        self.port: IListeningPort | None = None
        self.whenListening: defer.Deferred[IListeningPort] | None = None

    def privilegedStartService(self) -> None:
        """
        Start listening.

        @raise CannotListenError: the endpoint cannot be listened on (when the
            endpoint fails at once, as TCP, TLS and UNIX endpoints do).
        """
        super().privilegedStartService()  # type: ignore[no-untyped-call]  # Twisted's, unannotated: super() escapes untyped_calls_exclude
        listening = raiseIfFailedNow(self.ioServer.listen(self.endpoint))
        self.whenListening = listening.addCallback(self._listening)

    def startService(self) -> None:
        # A service started on its own (not by twistd, which calls
        # privilegedStartService first) must still listen.
        if self.whenListening is None:
            self.privilegedStartService()
        super().startService()  # type: ignore[no-untyped-call]  # Twisted's, unannotated: super() escapes untyped_calls_exclude

    def _listening(self, port: IListeningPort) -> IListeningPort:
        self.port = port
        return port

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()  # type: ignore[no-untyped-call]  # Twisted's, unannotated: super() escapes untyped_calls_exclude
        self.whenListening = None
        return self.ioServer.shutdown()
