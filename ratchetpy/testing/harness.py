# -*- test-case-name: tests.testing.test_harness -*-
"""
L{Harness}: a component served in memory, through the same layers as on the
wire, to clients a test opens and a clock it advances.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Mapping
from typing import Any

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.testing import MemoryReactorClock

from ..options import HTTP_SERVER, IO_SERVER, WS_SERVER, optionsOf
from ..server.io import IoServer
from ..stack import WS_SERVER_KEYWORDS, buildStack
from .clients import HttpResponse, RawClient, WebSocketClient, clientProtocol, parseResponse
from .pump import Pump

#: The address the clients connect to.
SERVER_ADDRESS = IPv4Address("TCP", "127.0.0.1", 8080)

#: The address clients connect from unless a test says otherwise (from
#: TEST-NET-1, RFC 5737).
CLIENT_ADDRESS = "192.0.2.1"


def _address(host: str, port: int) -> IPv4Address | IPv6Address:
    return IPv6Address("TCP", host, port) if ":" in host else IPv4Address("TCP", host, port)


def _checkPath(path: str) -> None:
    if not path.startswith("/"):
        raise ValueError(f"a request path starts with '/', as in {'/' + path!r}; got {path!r}")


def _splitOptions(options: dict[str, Any], what: str) -> tuple[dict[str, Any], ...]:
    io, http, ws = ({o.name for o in optionsOf(layer)} for layer in (IO_SERVER, HTTP_SERVER, WS_SERVER))
    ws |= set(WS_SERVER_KEYWORDS)
    unknown = sorted(set(options) - io - http - ws)
    if unknown:
        valid = ", ".join(sorted(io | http | ws))
        raise TypeError(f"{what} got unexpected keyword argument(s) {', '.join(unknown)}; valid: {valid}")
    return tuple({k: v for k, v in options.items() if k in names} for names in (io, http, ws))


def serverFor(
    component: Any,
    *,
    raw: bool = False,
    auth: Any = None,
    allowedOrigins: Iterable[str] | None = None,
    reactor: Any = None,
    what: str = "Harness()",
    **options: Any,
) -> IoServer:
    """
    The L{ratchetpy.IoServer} that serves C{component} on loopback, as
    C{twistd ratchetpy --component} builds it (L{ratchetpy.stack.buildStack}),
    not listening yet: what L{Harness} and the C{ratchetpyServer} fixture
    serve.

    @param options: the keyword arguments of the layers, all together (those
        of L{ratchetpy.IoServer}, L{ratchetpy.HttpServer} and
        L{ratchetpy.WsServer}).
    @param what: the callable they were given to, for messages.
    @raise TypeError: a keyword is no option of those layers; the message
        names the valid ones.
    """
    ioOptions, httpOptions, wsOptions = _splitOptions(options, what)
    return buildStack(
        component,
        "tcp:0:interface=127.0.0.1",
        raw=raw,
        ioOptions=ioOptions,
        httpOptions=httpOptions,
        wsOptions=wsOptions,
        auth=auth,
        allowedOrigins=allowedOrigins,
        reactor=reactor,
    )


class Harness:
    """
    Serves C{component} in memory: no socket, no running reactor. Clients
    opened with L{connect} talk to it through the stack a server would
    build for it (as C{twistd ratchetpy --component} does,
    L{ratchetpy.stack.buildStack}): a message component behind
    L{ratchetpy.WsServer} and L{ratchetpy.HttpServer}, an HTTP-layer
    component (a L{ratchetpy.Router}, an L{ratchetpy.OriginCheck}, a
    decorator of a L{ratchetpy.WsServer}...) behind L{ratchetpy.HttpServer},
    an L{ratchetpy.App} with its routes; with C{raw}, a message component
    behind L{ratchetpy.IoServer} alone.

    Every layer runs on L{clock}, a L{MemoryReactorClock}: the handshake,
    keepalive and closing timeouts, and the component's own
    C{conn.io.reactor.callLater} calls, run when the test advances it
    (L{advance}). Hooks may be plain, C{async def} or return Deferreds: what
    they wait for happens as the test drives the clients and the clock.

    @param component: what to serve.
    @param raw: serve the message component over plain TCP (L{connectRaw}).
    @param auth: authenticators for an L{ratchetpy.auth.Authenticate} in
        front of the component.
    @param allowedOrigins: if given, an L{ratchetpy.OriginCheck} in front,
        allowing these origins (and the server's own host name).
    @param clock: the reactor of every layer; by default a new
        L{MemoryReactorClock} that starts at the time of day. Code that
        reads C{time.time()} itself does not see it advance.
    @param options: the options of the layers (L{ratchetpy.IoServer},
        L{ratchetpy.HttpServer}, L{ratchetpy.WsServer}), e.g.
        C{maxMessageSize=1024} or C{keepAlive=5}; see L{ratchetpy.options}.
    @raise TypeError: a keyword is no option of those layers, or
        C{component} is no component.

    @ivar server: the L{ratchetpy.IoServer} at the top of the stack.
    @ivar clock: the reactor of every layer.
    @ivar raw: whether the component is served raw (L{connectRaw} only).
    """

    def __init__(
        self,
        component: Any,
        *,
        raw: bool = False,
        auth: Any = None,
        allowedOrigins: Iterable[str] | None = None,
        clock: MemoryReactorClock | None = None,
        **options: Any,
    ) -> None:
        if clock is None:
            clock = MemoryReactorClock()
            # From the time of day, as a reactor's: code that compares the
            # reactor's time with timestamps (a token's expiry) sees the same.
            clock.advance(time.time())
        self.clock = clock
        self.server = serverFor(
            component, raw=raw, auth=auth, allowedOrigins=allowedOrigins, reactor=clock, **options
        )
        self.raw = raw
        self._pumps: list[Pump] = []
        self._ports = itertools.count(50000)

    def _open(self, client: Any, remoteAddress: str) -> Pump:
        peer = _address(remoteAddress, next(self._ports))
        pump = Pump(self.server.buildProtocol(peer), client, SERVER_ADDRESS, peer)
        self._pumps.append(pump)
        pump.start()
        self.flush()
        return pump

    def connect(
        self,
        path: str = "/",
        *,
        headers: Mapping[str, str] | None = None,
        cookies: Mapping[str, str] | None = None,
        origin: str | None = None,
        host: str = "localhost",
        remoteAddress: str = CLIENT_ADDRESS,
        subProtocols: Iterable[str] = (),
        compression: bool = False,
    ) -> WebSocketClient:
        """
        Open a WebSocket to C{path} and complete the handshake.

        @param path: the request target, query string included.
        @param headers: more request header fields.
        @param cookies: sent in a C{Cookie} header.
        @param origin: sent as the C{Origin} header, as a browser does.
        @param host: the C{Host} the request names.
        @param remoteAddress: the IP address the client connects from
            (C{conn.remoteAddress}).
        @param subProtocols: the subprotocols offered, in order of preference.
        @param compression: offer permessage-deflate.
        @return: the open L{WebSocketClient}; the component's C{onOpen} has
            run (and what it sent is there to L{WebSocketClient.receive}).
        @raise HandshakeRefused: the server did not answer 101; its C{status}
            and C{response} say what it answered.
        @raise ValueError: C{path} does not start with C{/}.
        """
        if self.raw:
            raise TypeError("this Harness serves its component raw, without WebSockets: use connectRaw()")
        _checkPath(path)
        fields = dict(headers or {})
        if cookies:
            fields["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
        if origin is not None:
            fields["Origin"] = origin
        client = WebSocketClient(self.flush)
        client.protocol = clientProtocol(
            client,
            f"ws://{host}{path}",
            self.clock,
            headers=fields,
            subProtocols=tuple(subProtocols),
            compression=compression,
        )
        client.pump = self._open(client.protocol, remoteAddress)
        client._handshakeDone()
        return client

    def connectRaw(self, remoteAddress: str = CLIENT_ADDRESS) -> RawClient:
        """
        Open a plain TCP connection: bytes in, bytes out (for a component
        served C{raw}, or bytes no WebSocket client sends).
        """
        client = RawClient(self.flush)
        client.pump = self._open(client, remoteAddress)
        return client

    def request(
        self,
        path: str = "/",
        *,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        host: str = "localhost",
        remoteAddress: str = CLIENT_ADDRESS,
    ) -> HttpResponse:
        """
        Send one plain HTTP request (C{Connection: close}) and return the
        response, e.g. the page a L{ratchetpy.StaticFiles} serves.

        @raise AssertionError: the server closed without a full response.
        """
        _checkPath(path)
        fields = {"Host": host, **(headers or {}), "Connection": "close"}
        if body or method not in ("GET", "HEAD"):
            fields["Content-Length"] = str(len(body))
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n"
        client = self.connectRaw(remoteAddress)
        client.send(head.encode("latin-1") + body)
        data = client.receive()
        response = parseResponse(data)
        if response is None:
            raise AssertionError(f"no complete HTTP response to {method} {path}; received {data[:200]!r}")
        return response

    def flush(self) -> None:
        """
        Deliver everything every side has written, until all are quiet.
        """
        while any([pump.flush() for pump in self._pumps]):
            pass
        self._pumps = [pump for pump in self._pumps if not pump.lost]

    def advance(self, seconds: float) -> None:
        """
        Move the clock C{seconds} on, running every timer due on the way in
        order, and delivering what each one sends before the next runs (a
        keepalive ping is answered before its timeout is due, as on the
        wire).
        """
        if not seconds >= 0:
            raise ValueError(f"advance() takes seconds from now, 0 or more, not {seconds!r}")
        target = self.clock.seconds() + seconds
        while True:
            due = [call.getTime() for call in self.clock.getDelayedCalls() if call.active()]
            step = min(due, default=target)
            if step > target:
                break
            self.clock.advance(max(0.0, step - self.clock.seconds()))
            self.flush()
            if step == target:
                return
        self.clock.advance(max(0.0, target - self.clock.seconds()))
        self.flush()

    @property
    def connectionCount(self) -> int:
        """
        The number of connections open now.
        """
        return self.server.connectionCount

    def shutdown(self) -> None:
        """
        Shut the server down as SIGTERM does: every WebSocket is closed with
        1001, and the clients answer.
        """
        self.server.shutdown()
        self.flush()
        self.advance(self.server.shutdownTimeout)


__all__ = ["Harness", "serverFor", "SERVER_ADDRESS", "CLIENT_ADDRESS"]
