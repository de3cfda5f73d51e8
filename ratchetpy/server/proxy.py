# -*- test-case-name: tests.server.test_proxy -*-
"""
The PROXY protocol (v1 and v2, as HAProxy's C{send-proxy} and
C{send-proxy-v2} send it) in front of an L{IoServer}: C{--port
haproxy:tcp:8080}, or C{haproxy:ssl:8443:privateKey=...} with the header
before TLS.

Twisted's C{haproxy:} wrapper parses the header; this module adds what a
server needs around it:

    - L{ratchetpy.IoServer} opens a connection only once its header has been
      read (L{whenHeaderReceived}), so that C{remoteAddress}, the connection
      limits, L{IpBlackList} and every log line see the client the header
      names, not the proxy (Twisted's wrapper still answers C{getPeer()}
      with the proxy's address in C{connectionMade}, twisted#12501);
    - a connection without a valid header within L{PROXY_HEADER_TIMEOUT}
      seconds is closed with one rate-limited log line saying why;
    - with C{haproxy:ssl:}, the header is read before the TLS handshake, as
      load balancers send it (Twisted's C{haproxy:ssl:} expects it inside
      TLS, twisted#9041).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from twisted.internet.endpoints import serverFromString
from twisted.internet.interfaces import (
    IListeningPort,
    IProtocol,
    IProtocolFactory,
    IStreamServerEndpoint,
    ITCPTransport,
)
from twisted.internet.protocol import connectionDone
from twisted.logger import Logger
from twisted.protocols.policies import WrappingFactory
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.failure import Failure
from zope.interface import implementer

from .._ratelimit import LogBudget
from .._twisted import HAProxyProtocolWrapper, HAProxyWrappingFactory
from .addresses import describePeer

log = Logger(namespace="ratchetpy")
_refusals = LogBudget(log)

#: The prefix of endpoint descriptions whose connections start with a PROXY
#: protocol header.
PREFIX = "haproxy:"

#: Seconds a connection has, from connecting, to send its PROXY header.
PROXY_HEADER_TIMEOUT = 10.0

#: What to tell the operator when a connection has no valid header.
_ADVICE = (
    "every connection to a haproxy: port must start with a PROXY protocol header "
    "(HAProxy: send-proxy or send-proxy-v2 on the server line, health checks included)"
)


class ProxyHeaderWrapper(HAProxyProtocolWrapper):
    """
    Twisted's PROXY protocol wrapper, which also says when the header has
    been read, and logs (rate-limited) why a connection without one is
    closed.
    """

    factory: ProxyHeaderFactory

    def __init__(self, factory: WrappingFactory[Any], wrappedProtocol: IProtocol) -> None:
        super().__init__(factory, wrappedProtocol)
        self._callbacks: list[Callable[[], object]] = []
        self._timer: Any = None

    @property
    def headerReceived(self) -> bool:
        """
        Whether the header has been read: C{getPeer()} now answers the
        client it names (or the socket's peer, for a LOCAL or UNKNOWN one).
        """
        return self._proxyInfo is not None

    def whenHeaderReceived(self, callback: Callable[[], object]) -> None:
        """
        Call C{callback} once the header has been read (at once if it has),
        after the bytes that came with it were passed on.
        """
        if self.headerReceived:
            callback()
        else:
            self._callbacks.append(callback)

    def connectionMade(self) -> None:
        self._timer = self.factory.reactor.callLater(self.factory.timeout, self._timedOut)
        super().connectionMade()  # type: ignore[no-untyped-call]  # Twisted's, unannotated: super() escapes untyped_calls_exclude

    def dataReceived(self, data: bytes) -> None:
        if self._proxyInfo is not None:
            self.wrappedProtocol.dataReceived(data)
            return
        super().dataReceived(data)
        if self._proxyInfo is not None:
            self._cancelTimer()
            callbacks, self._callbacks = self._callbacks, []
            for callback in callbacks:
                callback()
        elif self.disconnecting:
            self._cancelTimer()
            _refusals.info(
                "proxy-header",
                "closed connection from {peer}: no valid PROXY protocol header (it began {start!r}); {advice}",
                peer=describePeer(self.transport),
                start=data[:24],
                advice=_ADVICE,
            )

    def _timedOut(self) -> None:
        self._timer = None
        _refusals.info(
            "proxy-header",
            "closed connection from {peer}: no PROXY protocol header within {timeout:g} seconds; {advice}",
            peer=describePeer(self.transport),
            timeout=self.factory.timeout,
            advice=_ADVICE,
        )
        # A TCP (or TLS over TCP) transport: what a haproxy: endpoint listens on.
        cast(ITCPTransport, self.transport).abortConnection()

    def _cancelTimer(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._cancelTimer()
        self._callbacks = []
        super().connectionLost(reason)  # type: ignore[no-untyped-call]  # Twisted's, unannotated: super() escapes untyped_calls_exclude


class ProxyHeaderFactory(HAProxyWrappingFactory):
    """
    Wraps C{wrappedFactory}'s protocols in L{ProxyHeaderWrapper}s.

    @ivar reactor: the reactor of the header timeout.
    @ivar timeout: seconds a connection has to send its header;
        L{PROXY_HEADER_TIMEOUT} unless given.
    """

    protocol = ProxyHeaderWrapper
    # The listening line of the IoServer says it all.
    noisy = False

    def __init__(self, wrappedFactory: IProtocolFactory, reactor: Any, timeout: float | None = None) -> None:
        super().__init__(wrappedFactory)  # type: ignore[no-untyped-call]  # Twisted's, unannotated: super() escapes untyped_calls_exclude
        self.reactor = reactor
        self.timeout = PROXY_HEADER_TIMEOUT if timeout is None else timeout


@implementer(IStreamServerEndpoint)
class ProxyHeaderEndpoint:
    """
    An endpoint whose connections start with a PROXY protocol header, read
    before anything else.
    """

    def __init__(self, reactor: Any, endpoint: IStreamServerEndpoint) -> None:
        self._reactor = reactor
        self._endpoint = endpoint

    def listen(self, protocolFactory: IProtocolFactory) -> Any:
        return self._endpoint.listen(ProxyHeaderFactory(protocolFactory, self._reactor))


class _HeaderBeforeTls:
    """
    A reactor for Twisted's C{ssl:} endpoint whose C{listenSSL} reads a
    PROXY header before TLS: it listens on TCP with the header wrapper
    outermost and TLS inside it, as the reactor's own C{listenSSL} layers
    TLS over TCP. Everything else is the real reactor's.
    """

    def __init__(self, reactor: Any) -> None:
        self._reactor = reactor

    def listenSSL(
        self, port: int, factory: IProtocolFactory, contextFactory: Any, backlog: int = 50, interface: str = ""
    ) -> IListeningPort:
        tls = TLSMemoryBIOFactory(contextFactory, False, factory)
        tls.noisy = False
        wrapped = ProxyHeaderFactory(tls, self._reactor)
        listening: IListeningPort = self._reactor.listenTCP(port, wrapped, backlog, interface)
        return listening

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reactor, name)


def proxyHeaderEndpoint(reactor: Any, description: str) -> IStreamServerEndpoint:
    """
    The endpoint of C{haproxy:DESCRIPTION}: C{description} (without the
    prefix, e.g. C{tcp:8080} or C{ssl:8443:privateKey=key.pem}) with a PROXY
    header read first, before TLS for an C{ssl:} one.

    @raise ValueError: Twisted cannot parse C{description}.
    """
    if description.split(":", 1)[0] == "ssl":
        return serverFromString(_HeaderBeforeTls(reactor), description)  # type: ignore[no-any-return]
    return ProxyHeaderEndpoint(reactor, serverFromString(reactor, description))


def proxyHeaderTransport(transport: Any) -> HAProxyProtocolWrapper | None:
    """
    The PROXY protocol wrapper C{transport} is, or runs over (TLS over the
    header wrapper); C{None} if there is none.
    """
    # A few levels: TLS over the wrapper over TCP is the deepest stack built.
    for _ in range(4):
        if isinstance(transport, HAProxyProtocolWrapper):
            return transport
        transport = transport.__dict__.get("transport") if hasattr(transport, "__dict__") else None
        if transport is None:
            return None
    return None


__all__ = [
    "PREFIX",
    "PROXY_HEADER_TIMEOUT",
    "ProxyHeaderWrapper",
    "ProxyHeaderFactory",
    "ProxyHeaderEndpoint",
    "proxyHeaderEndpoint",
    "proxyHeaderTransport",
]
