# -*- test-case-name: tests.server.test_io -*-
"""
L{IoServer}: the outermost layer, bytes from Twisted transports in, calls on an
L{IMessageComponent} out (PHP Ratchet's C{IoServer}).
"""

from __future__ import annotations

import errno
import re
import signal
import threading
from typing import Any

from twisted.internet import defer
from twisted.internet.endpoints import serverFromString
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IListeningPort, IStreamServerEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from .._dispatch import HookDispatcher
from ..hooknames import checkHookNames
from ..interfaces import IMessageComponent
from ..options import MAX_SEND_BUFFER, SHUTDOWN_TIMEOUT, SLOW_CONSUMER_POLICY, option
from ..websocket.codes import GOING_AWAY
from .addresses import describeAddress, hostOf
from .batch import dispatching
from .connection import IoConnection
from .flow import SendLimit
from .limits import ConnectionCounter
from .logs import startLoggingUnlessConfigured
from .proxy import PREFIX as PROXY_PREFIX
from .proxy import proxyHeaderEndpoint, proxyHeaderTransport

log = Logger(namespace="ratchetpy")

ENDPOINT_EXAMPLES = (
    "tcp:8080, tcp:8080:interface=127.0.0.1, ssl:8443:privateKey=key.pem:certKey=cert.pem, unix:/run/app.sock, "
    "haproxy:tcp:8080 (behind a proxy sending the PROXY protocol)"
)


class BadEndpoint(ValueError):
    """
    An endpoint description that Twisted cannot parse.
    """


class IoProtocol(Protocol, HookDispatcher):
    """
    One transport's connection, driving the server's component.
    """

    #: Whether the component has been handed the connection. A class
    #: attribute, so that only connections still waiting for a PROXY header
    #: carry one of their own.
    _isOpen = True

    def __init__(self, server: IoServer) -> None:
        self._server = server
        self._component = server.component

    def connectionMade(self) -> None:
        server = self._server
        assert self.transport is not None
        self._connection = IoConnection(
            self.transport,
            server._sendLimit,
            reactor=server.reactor,
            openConnections=server.openConnections,
            component=self._component,
        )
        self._connection._startFlowControl()
        server._accepted(self)
        proxy = proxyHeaderTransport(self.transport)
        if proxy is None:
            self._open()
            return
        # Who the client is arrives in the PROXY header, after this: until
        # then getPeer() is the proxy (twisted#12501). The connection is
        # counted, checked and opened once it is in; with a wrapper that
        # cannot say when (Twisted's own), by the first bytes it passes on.
        self._isOpen = False
        whenHeaderReceived = getattr(proxy, "whenHeaderReceived", None)
        if whenHeaderReceived is not None:
            whenHeaderReceived(self._headerReceived)

    def _headerReceived(self) -> None:
        if self._isOpen:
            return
        self._isOpen = True
        assert self.transport is not None
        self._connection.remoteAddress = hostOf(self.transport.getPeer())
        self._open()

    def _open(self) -> None:
        self._server._opened(self)
        self.callHook("onOpen")

    def dataReceived(self, data: bytes) -> None:
        if not self._isOpen:
            self._headerReceived()
        # What the read's messages send goes out once per connection, at the
        # end of it.
        receiver = self._connection._receiver
        if receiver is not None and self._waiting is None and not self._backlog and not self._hooksFailed:
            # The layers would only pass the bytes on (receiveDirectly).
            try:
                dispatching(receiver, data)
            except Exception:
                self._hookFailed("onMessage", Failure())
            return
        dispatching(self.callHook, "onMessage", data)

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        self._connection._connectionLost()
        self._server._closed(self)
        if self._isOpen:
            self.callHook("onClose")


#: Listen backlog used when an endpoint description does not set one. Twisted's
#: default of 50 makes a burst of connecting clients wait for SYN retries (a
#: second each); 511 is what Node.js and nginx use.
DEFAULT_BACKLOG = 511

_BACKLOG_TYPES = ("tcp", "tcp6", "ssl", "unix")


def withDefaultBacklog(description: str) -> str:
    """
    C{description} with C{backlog=DEFAULT_BACKLOG} added if it is a TCP, TLS or
    UNIX endpoint that does not set a backlog itself.
    """
    kind = description.split(":", 1)[0]
    if kind in _BACKLOG_TYPES and "backlog=" not in description and ":" in description:
        return f"{description}:backlog={DEFAULT_BACKLOG}"
    return description


#: The port number of a TCP or TLS endpoint description (behind a proxy too).
_PORT = re.compile(r"(?:haproxy:)?(?:tcp6?|ssl):(?:port=)?(\d+)(?::|\Z)")


def describeEndpointKind(description: str) -> str:
    """
    What the listening line adds to the address of C{description}:
    C{" (TLS)"} for C{ssl:}, C{" (PROXY protocol)"} behind C{haproxy:},
    both for C{haproxy:ssl:}; C{""} otherwise.
    """
    kinds = []
    if description.startswith(PROXY_PREFIX):
        kinds.append("PROXY protocol")
        description = description[len(PROXY_PREFIX) :]
    if description.startswith("ssl:"):
        kinds.insert(0, "TLS")
    return f" ({', '.join(kinds)})" if kinds else ""


def plainPort(description: str) -> str:
    """
    C{description}, with a bare port number (C{"9001"}, as Daphne's C{-p}
    takes) meaning TCP on that port: C{"tcp:9001"}.
    """
    return f"tcp:{description}" if description.strip().isdigit() else description


def parseEndpoint(reactor: Any, description: str) -> IStreamServerEndpoint:
    """
    Parse a Twisted server endpoint description, with an error that says what to
    write instead. A bare port number is TCP (L{plainPort}). TCP, TLS and UNIX endpoints get a backlog of
    L{DEFAULT_BACKLOG} unless the description sets one. C{haproxy:}
    endpoints read the PROXY header with L{ratchetpy.server.proxy} (before
    TLS, for C{haproxy:ssl:}).
    """
    description = plainPort(description)
    port = _PORT.match(description)
    if port is not None and not 0 <= int(port.group(1)) <= 65535:
        raise BadEndpoint(f"bad endpoint {description!r}: the port must be 0-65535, not {port.group(1)}")
    try:
        if description.startswith(PROXY_PREFIX):
            return proxyHeaderEndpoint(reactor, withDefaultBacklog(description[len(PROXY_PREFIX) :]))
        endpoint: IStreamServerEndpoint = serverFromString(reactor, withDefaultBacklog(description))
    except Exception as exc:
        raise BadEndpoint(
            f"bad endpoint {description!r}: {exc}. Examples: {ENDPOINT_EXAMPLES}"
        ) from exc
    return endpoint


class IoServer(Factory):
    """
    Serves C{component} on Twisted stream endpoints: TCP, TLS, UNIX sockets,
    anything C{serverFromString} understands.

    C{IoServer} is a Twisted L{Factory}, so a Twisted program can also hand it
    to any endpoint's C{listen} itself.

    @ivar component: the L{IMessageComponent} every connection is handed to.
    @ivar shutdownTimeout: seconds L{shutdown} waits for connections to close
        before it cuts the rest.

    @param maxSendBuffer: how far behind, in bytes, a connection may fall (what
        is sent to it while its transport's own 64 KiB buffer is full) before
        C{slowConsumerPolicy} applies to it.
    @param slowConsumerPolicy: C{"close"} to close such a connection (1008 on
        a WebSocket) and abort its TCP connection, C{"drop"} to discard what is
        sent to it until it has caught up. See L{ratchetpy.server.flow}.
    @raise ValueError: C{maxSendBuffer} is not a positive C{int}, or
        C{slowConsumerPolicy} is not C{"close"} or C{"drop"}.
    """

    # Twisted's "Starting factory" lines say nothing the listening line doesn't.
    noisy = False

    def __init__(
        self,
        component: IMessageComponent,
        endpoint: str | IStreamServerEndpoint = "tcp:8080",
        *,
        reactor: Any = None,
        shutdownTimeout: float = SHUTDOWN_TIMEOUT,
        maxSendBuffer: int = MAX_SEND_BUFFER,
        slowConsumerPolicy: str = SLOW_CONSUMER_POLICY,
    ) -> None:
        option("shutdownTimeout").check(shutdownTimeout)
        self._sendLimit = SendLimit(maxSendBuffer, slowConsumerPolicy)
        # A raw TCP component's hooks; a WsServer checks its component's.
        checkHookNames(component)
        self.component = component
        self.endpoint = endpoint
        self.shutdownTimeout = shutdownTimeout
        self._reactor = reactor
        self._protocols: set[IoProtocol] = set()
        #: The connections open now, in total and per address.
        self.openConnections = ConnectionCounter()
        self._ports: list[IListeningPort] = []
        self._allClosed: list[defer.Deferred[None]] = []

    @classmethod
    def factory(
        cls, component: IMessageComponent, port: int = 8080, address: str = "0.0.0.0", **kwargs: Any
    ) -> IoServer:
        """
        An C{IoServer} for C{component} on TCP C{port} of C{address}, as in PHP
        Ratchet: C{IoServer.factory(HttpServer(WsServer(Chat())), 8080).run()}.
        """
        interface = address.replace(":", "\\:")
        return cls(component, f"tcp:{int(port)}:interface={interface}", **kwargs)

    @property
    def reactor(self) -> Any:
        """
        The reactor given to the constructor, else the installed one: the top
        of the stack, which every layer below finds on its connections
        (C{conn.io.reactor}).
        """
        if self._reactor is None:
            from .._reactor import installedReactor

            self._reactor = installedReactor()
        return self._reactor

    @property
    def maxSendBuffer(self) -> int:
        return self._sendLimit.maxSendBuffer

    @property
    def slowConsumerPolicy(self) -> str:
        return self._sendLimit.policy

    @property
    def connectionCount(self) -> int:
        """
        The number of connections open now.
        """
        return len(self._protocols)

    def buildProtocol(self, addr: object) -> IoProtocol:
        return IoProtocol(self)

    def _accepted(self, protocol: IoProtocol) -> None:
        # Shutdown closes, and waits for, connections still waiting for
        # their PROXY header too.
        self._protocols.add(protocol)

    def _opened(self, protocol: IoProtocol) -> None:
        self.openConnections.opened(protocol._connection.remoteAddress)

    def _closed(self, protocol: IoProtocol) -> None:
        self._protocols.discard(protocol)
        if protocol._isOpen:
            self.openConnections.closed(protocol._connection.remoteAddress)
        if not self._protocols and self._allClosed:
            waiting, self._allClosed = self._allClosed, []
            for d in waiting:
                d.callback(None)

    # Lifecycle

    def listen(self, endpoint: str | IStreamServerEndpoint | None = None) -> defer.Deferred[IListeningPort]:
        """
        Start listening on C{endpoint} (default: the one given to the
        constructor), without running the reactor.

        @return: a L{Deferred<twisted.internet.defer.Deferred>} firing with the L{IListeningPort}, or failing
            with L{CannotListenError} (e.g. the port is in use).
        @raise BadEndpoint: C{endpoint} is a description Twisted cannot parse.
        """
        endpoint = self.endpoint if endpoint is None else endpoint
        notes = ""
        if isinstance(endpoint, str):
            notes = describeEndpointKind(endpoint)
            endpoint = parseEndpoint(self.reactor, endpoint)
        d = endpoint.listen(self)

        def listening(port: IListeningPort) -> IListeningPort:
            self._ports.append(port)
            log.info("ratchetpy listening on {address}{notes}", address=describeAddress(port.getHost()), notes=notes)
            return port

        return d.addCallback(listening)

    def run(self) -> None:
        """
        Listen, then run the reactor until the process is stopped (SIGINT or
        SIGTERM), closing every connection with 1001 on the way out.

        @raise SystemExit: the endpoint cannot be listened on (one line
            saying why, status 1).
        """
        serveUntilStopped(self.reactor, self.listen, self.shutdown)

    def shutdown(self, code: int = GOING_AWAY, reason: str = "server shutting down") -> defer.Deferred[None]:
        """
        Stop listening, close every connection (WebSockets with close code
        C{code}), and wait up to C{shutdownTimeout} seconds for them to go;
        whatever is left then is cut.

        @return: a L{Deferred<twisted.internet.defer.Deferred>} that fires when every connection is gone.
        """
        ports, self._ports = self._ports, []
        stopped = [defer.maybeDeferred(port.stopListening) for port in ports]
        for protocol in list(self._protocols):
            protocol._connection.close(code, reason)
        waited = defer.DeferredList(stopped).addCallback(lambda _: self._waitForConnections())
        # A plain Deferred, so that a caller's cancel() or addTimeout() works
        # (a DeferredList's cancel does nothing once the ports have stopped).
        result: defer.Deferred[None] = defer.Deferred()
        waited.chainDeferred(result)
        return result

    def _waitForConnections(self) -> defer.Deferred[None]:
        if not self._protocols:
            return defer.succeed(None)
        d: defer.Deferred[None] = defer.Deferred()
        self._allClosed.append(d)
        timer = self.reactor.callLater(self.shutdownTimeout, self._abortAll)

        def done(result: None) -> None:
            if timer.active():
                timer.cancel()
            return result

        return d.addBoth(done)

    def _abortAll(self) -> None:
        if self._protocols:
            log.warn(
                "shutdown: cutting {count} connections that did not close in time",
                count=len(self._protocols),
            )
        for protocol in list(self._protocols):
            protocol._connection.abort()


def serveUntilStopped(reactor: Any, listen: Any, shutdown: Any) -> None:
    """
    Call C{listen()}, then run C{reactor} until the process is stopped,
    with C{shutdown} before the reactor shuts down: the C{run()} of
    L{IoServer} and L{ratchetpy.App}, for scripts. Logs to standard error
    if nothing has set logging up (L{startLoggingUnlessConfigured}).

    @raise SystemExit: with one line saying why and what to do, if the
        endpoint cannot be listened on (status 1).
    """
    startLoggingUnlessConfigured()
    stopOnSignals(reactor)
    try:
        raiseIfFailedNow(listen())
    except CannotListenError as exc:
        raise cannotListen(f"{exc.interface or '*'}:{exc.port}", exc.socketError, "choose another port") from None
    reactor.addSystemEventTrigger("before", "shutdown", shutdown)
    reactor.run()


def stopOnSignals(reactor: Any) -> None:
    """
    Make SIGINT and SIGTERM stop C{reactor} cleanly from now on, even if one
    arrives before C{reactor.run()} has installed Twisted's handlers: the
    "listening" line is logged before the reactor runs, and a Ctrl-C (or a
    supervisor's SIGTERM) right after it must still close every client with
    1001 and exit with status 0, not raise a C{KeyboardInterrupt} that a
    Deferred swallows (leaving the server running) or kill the process.

    The SIGINT handler stays (Twisted takes SIGINT over only from Python's
    default handler); Twisted replaces the SIGTERM one when it runs.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    received: list[int] = []
    stopping: list[bool] = []

    def stopOnce() -> None:
        if not stopping:
            stopping.append(True)
            reactor.stop()

    def onSignal(number: int, frame: object) -> None:
        received.append(number)
        if reactor.running:
            reactor.callFromThread(stopOnce)

    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, onSignal)
    reactor.callWhenRunning(lambda: stopOnce() if received else None)


def cannotListen(endpoint: object, why: object, instead: str = "choose another with --port") -> SystemExit:
    """
    The one line (and exit status 1) for an endpoint that cannot be listened
    on, with what to do about the usual causes.

    @param why: the C{OSError} (or its text).
    @param instead: what to do about a port in use, capitalised or not.
    """
    number = getattr(why, "errno", None)
    text = getattr(why, "strerror", None) or str(why)
    if number == errno.EADDRINUSE:
        advice = f"Is another server using it? {instead[0].upper()}{instead[1:]}."
    elif number == errno.EADDRNOTAVAIL:
        advice = "This machine has no such address: check interface=..., or leave it out to listen on every address."
    elif number == errno.EACCES:
        advice = f"Ports below 1024 need privileges: {instead} above 1023, or run as root."
    else:
        advice = f"{instead[0].upper()}{instead[1:]}."
    return SystemExit(f"ratchetpy: cannot listen on {endpoint}: {text}. {advice}")


def raiseIfFailedNow(d: defer.Deferred[Any]) -> defer.Deferred[Any]:
    """
    Raise the exception of C{d} if it has already failed (as listening on a
    TCP, TLS or UNIX endpoint does at once), so that a script or twistd stops
    right there instead of logging an unhandled error later. Otherwise return
    C{d} unchanged.
    """
    results: list[object] = []

    def record(result: object) -> object:
        results.append(result)
        return result

    d.addBoth(record)
    if results and isinstance(results[0], Failure):
        d.addErrback(lambda failure: None)
        results[0].raiseException()
    return d


__all__ = [
    "IoServer",
    "IoProtocol",
    "BadEndpoint",
    "CannotListenError",
    "parseEndpoint",
    "raiseIfFailedNow",
    "GOING_AWAY",
]
