# -*- test-case-name: tests.client.test_client -*-
"""
L{connect}: a WebSocket client that drives a component, as a server does;
L{Client}, which (re)connects it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from .. import __version__
from .._reactor import installedReactor
from ..hooknames import checkHookNames
from ..interfaces import IMessageComponent
from ..options import (
    CLOSE_HANDSHAKE_TIMEOUT,
    KEEPALIVE_INTERVAL,
    MAX_HEAD_SIZE,
    MAX_MESSAGE_SIZE,
    MAX_SEND_BUFFER,
    OPEN_HANDSHAKE_TIMEOUT,
    WS_SERVER,
    checkOptions,
)
from ..server.flow import SendLimit
from ._autobahn import ClientFactory
from .connection import ClientConnection, Inbox
from .errors import ConnectFailed, HandshakeRefused
from .reconnect import Reconnect
from .target import CONNECT_TIMEOUT, clientEndpoint, parseTarget

log = Logger(namespace="ratchetpy")

#: How L{connect} reconnects by default.
RECONNECT = Reconnect()

#: The C{User-Agent} the client sends unless C{headers} has one.
USER_AGENT = f"ratchetpy/{__version__}"


def checkHeaders(headers: Mapping[str, str] | None) -> dict[str, str]:
    """
    C{headers} as a C{dict}, checked.

    @raise ValueError: a name or value is not text, or would break the
        request (a line break, a colon in a name), or is one the handshake
        sets itself.
    """
    checked: dict[str, str] = {}
    for name, value in (headers or {}).items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise ValueError(f"header {name!r}: names and values must be str, not {type(value).__name__}")
        if not name or any(c in name for c in ":\r\n \t") or "\r" in value or "\n" in value:
            raise ValueError(f"header {name!r}: a name must be a token and a value must be one line")
        if name.lower() in _HANDSHAKE_HEADERS:
            raise ValueError(f"header {name!r} is set by the WebSocket handshake itself; use the argument for it")
        checked[name] = value
    return checked


_HANDSHAKE_HEADERS = frozenset(
    (
        "host",
        "upgrade",
        "connection",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-protocol",
        "sec-websocket-extensions",
    )
)


class Client:
    """
    A WebSocket client: connects to one URL, hands each connection to its
    component (C{onOpen}, C{onMessage}, C{onClose}, C{onError}, as on a
    server), and, with a L{Reconnect}, connects again whenever a connection
    fails or ends, until L{stop} is called or it gives up.

    Each attempt is logged once (C{connecting to URL (attempt N)}) and so is
    each failure, with its reason and what happens next.

    Made by L{connect}; L{start} has been called.
    """

    def __init__(
        self,
        url: str,
        component: IMessageComponent,
        *,
        subProtocols: Sequence[str] = (),
        headers: Mapping[str, str] | None = None,
        reconnect: Reconnect | None = None,
        reactor: Any = None,
        unix: str | None = None,
        ca: str | Path | None = None,
        verify: bool = True,
        connectTimeout: float = CONNECT_TIMEOUT,
        maxMessageSize: int = MAX_MESSAGE_SIZE,
        maxFrameSize: int | None = None,
        maxHeadSize: int = MAX_HEAD_SIZE,
        keepAlive: float = KEEPALIVE_INTERVAL,
        keepAliveTimeout: float | None = None,
        compression: bool = True,
        openHandshakeTimeout: float = OPEN_HANDSHAKE_TIMEOUT,
        closeHandshakeTimeout: float = CLOSE_HANDSHAKE_TIMEOUT,
        maxQueue: int | None = None,
        maxSendBuffer: int = MAX_SEND_BUFFER,
    ) -> None:
        checkOptions(
            WS_SERVER,
            maxMessageSize=maxMessageSize,
            maxFrameSize=maxFrameSize,
            keepAlive=keepAlive,
            keepAliveTimeout=keepAliveTimeout,
            openHandshakeTimeout=openHandshakeTimeout,
            closeHandshakeTimeout=closeHandshakeTimeout,
        )
        if not isinstance(connectTimeout, int | float) or connectTimeout <= 0:
            raise ValueError(f"connectTimeout must be a positive number of seconds, not {connectTimeout!r}")
        if type(maxHeadSize) is not int or maxHeadSize < 1:
            raise ValueError(f"maxHeadSize must be a positive int (bytes), not {maxHeadSize!r}")
        if isinstance(subProtocols, str):
            raise ValueError(f"subProtocols must be a list of names, not the str {subProtocols!r}")
        checkHookNames(component)
        headers = checkHeaders(headers)
        self.target = parseTarget(url, unix)
        self.component = component
        self.reconnect = reconnect
        self.reactor = reactor if reactor is not None else installedReactor()
        self.connection: ClientConnection | None = None
        self._endpoint = clientEndpoint(self.reactor, self.target, ca=ca, verify=verify, timeout=connectTimeout)
        inbox = (lambda: Inbox(maxQueue)) if maxQueue is not None else None
        userAgent = next((value for name, value in headers.items() if name.lower() == "user-agent"), USER_AGENT)
        headers = {name: value for name, value in headers.items() if name.lower() != "user-agent"}
        self._factory = ClientFactory(
            self,
            self.target,
            component,
            subProtocols=tuple(subProtocols),
            headers=headers,
            userAgent=userAgent,
            reactor=self.reactor,
            inbox=inbox,
            maxMessageSize=maxMessageSize,
            maxFrameSize=maxFrameSize,
            maxHeadSize=maxHeadSize,
            keepAlive=keepAlive,
            keepAliveTimeout=keepAliveTimeout,
            compression=compression,
            openHandshakeTimeout=openHandshakeTimeout,
            closeHandshakeTimeout=closeHandshakeTimeout,
            sendLimit=SendLimit(maxSendBuffer),
        )
        self._attempts = 0
        self._failures = 0
        self._running = False
        self._connecting: Deferred[Any] | None = None
        self._handshaking: Any = None
        self._retry: Any = None
        self._outcome: Failure | None = None
        self._connectedWaiters: list[Deferred[ClientConnection]] = []
        self._stoppedWaiters: list[Deferred[None]] = []

    @property
    def url(self) -> str:
        """
        The URL as log lines show it, without credentials.
        """
        return self.target.shown

    @property
    def running(self) -> bool:
        """
        Whether the client is connected, connecting, or waiting to.
        """
        return self._running

    def start(self) -> None:
        """
        Start connecting; calling it again while running does nothing.
        """
        if self._running:
            return
        self._running = True
        self._outcome = None
        self._attempt()

    def whenConnected(self) -> Deferred[ClientConnection]:
        """
        A L{Deferred} of the open connection: now if there is one, else the
        next one. It fails with the reason (a L{ConnectFailed}, a
        L{HandshakeRefused}) if the client gives up first, or with
        L{ConnectFailed} if it is stopped first.
        """
        if self.connection is not None:
            return succeed(self.connection)
        if not self._running:
            return fail(self._outcome or ConnectFailed(f"{self.url}: the client is stopped"))
        waiter: Deferred[ClientConnection] = Deferred(self._connectedWaiters.remove)
        self._connectedWaiters.append(waiter)
        return waiter

    def whenStopped(self) -> Deferred[None]:
        """
        A L{Deferred} that fires when the client stops: with C{None} when
        L{stop} stopped it or (without L{Reconnect}) its connection ended;
        failing with the reason when it gave up.
        """
        if not self._running:
            return fail(self._outcome) if self._outcome is not None else succeed(None)
        waiter: Deferred[None] = Deferred(self._stoppedWaiters.remove)
        self._stoppedWaiters.append(waiter)
        return waiter

    def stop(self, code: int = 1000, reason: str = "") -> Deferred[None]:
        """
        Stop reconnecting, cancel an attempt under way, and close the
        connection (with C{code} and C{reason}).

        @return: a L{Deferred} that fires once the connection is gone.
        """
        if not self._running:
            return succeed(None)
        stopped = self.whenStopped()
        self._running = False
        if self._retry is not None and self._retry.active():
            self._retry.cancel()
        self._retry = None
        if self.connection is not None:
            self.connection.close(code, reason)
            return stopped
        if self._handshaking is not None:
            # Its end (_failed) finishes the stop.
            self._handshaking.dropConnection(abort=True)
            return stopped
        if self._connecting is not None:
            self._connecting.cancel()
        self._finish(None)
        return stopped

    # The attempts

    def _attempt(self) -> None:
        self._retry = None
        self._attempts += 1
        log.info("connecting to {url} (attempt {attempt})", url=self.url, attempt=self._attempts)
        connecting = self._connecting = self._endpoint.connect(self._factory)
        connecting.addCallbacks(self._transportUp, self._transportFailed)

    def _transportUp(self, engine: Any) -> None:
        self._connecting = None
        self._handshaking = engine

    def _transportFailed(self, failure: Failure) -> None:
        self._connecting = None
        if not self._running:
            return
        self._failed(ConnectFailed(f"cannot connect to {self.url}: {failure.getErrorMessage()}"))

    def _opened(self, connection: ClientConnection) -> None:
        self._handshaking = None
        self.connection = connection
        log.info("connected to {url}", url=self.url)
        waiters, self._connectedWaiters = self._connectedWaiters, []
        for waiter in waiters:
            waiter.callback(connection)

    def _failed(self, reason: ConnectFailed) -> None:
        self._handshaking = None
        if not self._running:
            self._finish(None)
            return
        self._failures += 1
        policy = self.reconnect
        if policy is None:
            log.warn("{why}", why=str(reason))
            self._finish(Failure(reason))
            return
        refused = isinstance(reason, HandshakeRefused) and not reason.retryable
        if refused or policy.givesUpAfter(self._failures):
            log.warn(
                "{why}; giving up after {attempts} attempts",
                why=str(reason),
                attempts=self._failures,
            )
            self._finish(Failure(reason))
            return
        delay = policy.delay(self._failures)
        log.warn("{why}; retrying in {delay:.1f} s", why=str(reason), delay=delay)
        self._retry = self.reactor.callLater(delay, self._attempt)

    def _lost(self, connection: ClientConnection) -> None:
        self.connection = None
        if not self._running or self.reconnect is None:
            self._running = False
            self._finish(None)
            return
        if connection._hookFailed:
            # The component failed on this connection: that is a failed
            # attempt, backed off (and counted toward maxAttempts) as one, so
            # that a hook that always fails does not reconnect at full speed.
            self._failed(
                ConnectFailed(
                    f"{self.url}: the connection was closed because a hook of {type(self.component).__name__} failed"
                )
            )
            return
        # A connection that worked starts the count of failures afresh.
        self._failures = 0
        delay = self.reconnect.delay(1)
        log.info(
            "the connection to {url} closed ({code} {reason}); reconnecting in {delay:.1f} s",
            url=self.url,
            code=connection.closeCode,
            reason=connection.closeReason,
            delay=delay,
        )
        self._retry = self.reactor.callLater(delay, self._attempt)

    def _finish(self, outcome: Failure | None) -> None:
        self._running = False
        self._outcome = outcome
        connected, self._connectedWaiters = self._connectedWaiters, []
        stopped, self._stoppedWaiters = self._stoppedWaiters, []
        reason = outcome if outcome is not None else Failure(ConnectFailed(f"{self.url}: the client was stopped"))
        for waiter in connected:
            waiter.errback(reason)
        for done in stopped:
            if outcome is None:
                done.callback(None)
            else:
                done.errback(outcome)


def connect(
    url: str,
    component: IMessageComponent,
    *,
    subProtocols: Sequence[str] = (),
    headers: Mapping[str, str] | None = None,
    reconnect: Reconnect | None = RECONNECT,
    reactor: Any = None,
    **options: Any,
) -> Client:
    """
    Connect to C{url} (C{ws://} or C{wss://}) and hand the connection to
    C{component}, whose hooks are those of a server's component: C{onOpen(conn)},
    C{onMessage(conn, msg)} (C{str} for text, C{bytes} for binary),
    C{onClose(conn)}, C{onError(conn, exc)}; plain, C{async def} or
    returning a L{Deferred}, never overlapping for one connection. A hook
    that fails is logged and reported to C{onError}, and the connection is
    closed with 1011.

    By default the client reconnects, with exponential backoff and jitter
    (L{Reconnect}), whenever a connection fails or ends, and C{onOpen} runs
    again on each new connection; C{reconnect=None} makes one attempt.

    @param subProtocols: the subprotocols to offer, in order of preference;
        C{conn.subProtocol} is the one the server agreed to.
    @param headers: more request headers (C{Authorization}, C{Origin},
        C{Cookie}, C{User-Agent}...).
    @param options: C{unix} (a UNIX socket path to connect to: the URL then
        gives the C{Host} header and the path), C{ca} (a PEM file of the CAs
        to trust for C{wss://}, instead of the system's), C{verify=False}
        (accept any certificate: development only), C{connectTimeout},
        C{maxMessageSize} (larger messages from the server close the
        connection with 1009), C{maxFrameSize}, C{maxHeadSize} (of the
        handshake response), C{keepAlive} and C{keepAliveTimeout} (pings),
        C{compression} (offer permessage-deflate), C{openHandshakeTimeout},
        C{closeHandshakeTimeout}, C{maxSendBuffer} (bytes the server may
        fall behind in reading before the connection is closed with 1008);
        see L{Client}.
    @return: the running L{Client}: C{whenConnected()}, C{stop()},
        C{whenStopped()}.
    @raise ValueError: a bad URL, header or option.
    """
    client = Client(
        url, component, subProtocols=subProtocols, headers=headers, reconnect=reconnect, reactor=reactor, **options
    )
    client.start()
    return client


__all__ = ["Client", "connect", "checkHeaders", "USER_AGENT", "RECONNECT"]
