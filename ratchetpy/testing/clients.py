# -*- test-case-name: tests.testing.test_harness -*-
"""
The clients of a L{ratchetpy.testing.Harness}: L{WebSocketClient}, a real
WebSocket client (Autobahn's client protocol) in memory; L{RawClient}, bytes
in and out; and L{HttpResponse}, what a plain HTTP request got.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from autobahn.websocket.compress import (
    PerMessageDeflateOffer,
    PerMessageDeflateResponse,
    PerMessageDeflateResponseAccept,
)
from twisted.internet.protocol import Protocol
from twisted.python.failure import Failure

from ..websocket.timers import BucketTimer
from .pump import Pump

#: The close code a client reports when the connection ended without the
#: server's close frame (RFC 6455's 1006).
ABNORMAL_CLOSURE = 1006

#: The close code a client reports when the server's close frame had none
#: (RFC 6455's 1005).
NO_STATUS_RECEIVED = 1005


class NothingReceived(AssertionError):
    """
    L{WebSocketClient.receive} found no message: the component has sent
    none (yet).
    """


@dataclass
class HttpResponse:
    """
    An HTTP response, as a client received it.

    @ivar status: the status code, e.g. C{403}.
    @ivar headers: the header fields, names in lower case (the last of a
        repeated name).
    @ivar body: the body, as sent (chunked bodies decoded).
    """

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def text(self) -> str:
        """
        The body decoded as UTF-8.
        """
        return self.body.decode("utf-8", "replace")


def parseResponse(data: bytes) -> HttpResponse | None:
    """
    The first HTTP response in C{data} (a head and what follows it), or
    C{None} if C{data} holds no complete head.
    """
    import h11

    parser = h11.Connection(our_role=h11.CLIENT)
    # A request for an upgrade, so that h11 takes a 101 for an answer.
    upgrade = [("Host", "memory"), ("Connection", "Upgrade"), ("Upgrade", "websocket")]
    parser.send(h11.Request(method="GET", target="/", headers=upgrade))
    parser.send(h11.EndOfMessage())
    parser.receive_data(data)
    parser.receive_data(b"")
    response: HttpResponse | None = None
    while True:
        try:
            event = parser.next_event()
        except h11.RemoteProtocolError:
            return response
        if isinstance(event, (h11.Response, h11.InformationalResponse)):
            headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in event.headers}
            response = HttpResponse(event.status_code, headers)
            if isinstance(event, h11.InformationalResponse):
                return response
        elif isinstance(event, h11.Data) and response is not None:
            response.body += bytes(event.data)
        elif event in (h11.NEED_DATA, h11.PAUSED) or isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
            return response


class HandshakeRefused(Exception):
    """
    The server answered a WebSocket handshake with something other than 101
    Switching Protocols (403 from an L{ratchetpy.OriginCheck}, 401 from an
    L{ratchetpy.auth.Authenticate}, 404 from a L{ratchetpy.Router}...), or
    closed the connection without an answer (C{status} 0).

    @ivar response: the L{HttpResponse}.
    """

    def __init__(self, response: HttpResponse) -> None:
        what = f"{response.status} {response.text.strip()}" if response.status else "no response"
        super().__init__(f"the WebSocket handshake was refused: {what}")
        self.response = response

    @property
    def status(self) -> int:
        """
        The response's status code; C{0} if there was none.
        """
        return self.response.status


class _ClientProtocol(WebSocketClientProtocol):
    """
    Autobahn's client protocol, telling its L{WebSocketClient} what
    happens.
    """

    client: WebSocketClient

    def dataReceived(self, data: bytes) -> None:
        if not self.client.open:
            self.client._head += data
        super().dataReceived(data)

    def onOpen(self) -> None:
        self.client.open = True

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        self.client._messages.append(payload if isBinary else payload.decode("utf-8"))

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        self.client._onClose(wasClean)


def _acceptDeflate(response: Any) -> Any:
    return PerMessageDeflateResponseAccept(response) if isinstance(response, PerMessageDeflateResponse) else None


class WebSocketClient:
    """
    A WebSocket client connected in memory to a L{ratchetpy.testing.Harness}:
    Autobahn's client protocol, which masks, frames, answers pings and
    closes as a browser would.

    Everything happens when it is asked for: L{send} delivers the message
    and whatever the component sends in return before it returns, and
    L{receive} takes the next message the component has sent so far.

    @ivar open: whether the handshake succeeded and the connection is open.
    @ivar closed: whether the connection has ended.
    @ivar closeCode: the close code the server sent (for a close the client
        started, the code it echoed), 1005 if its close frame had none, or
        1006 if the connection ended without one; C{None} while open.
    @ivar closeReason: the reason the server sent with it; C{None} without.
    @ivar wasClean: whether the connection ended with a closing handshake.
    @ivar subProtocol: the subprotocol the server agreed, or C{None}.
    @ivar response: the server's answer to the handshake (status 101 and its
        headers).
    @ivar protocol: Autobahn's client protocol, for what this API lacks
        (C{protocol.sendPing()}; deliver with the harness's C{flush}).
    """

    def __init__(self, flush: Callable[[], None]) -> None:
        self._flush = flush
        self._messages: deque[str | bytes] = deque()
        self._head = b""
        self.open = False
        self.closed = False
        self.closeCode: int | None = None
        self.closeReason: str | None = None
        self.wasClean = False
        self.subProtocol: str | None = None
        self.response: HttpResponse | None = None
        self.pump: Pump | None = None
        self.protocol: Any = None

    def _onClose(self, wasClean: bool) -> None:
        self.closed = True
        self.open = False
        self.wasClean = wasClean
        code = getattr(self.protocol, "remoteCloseCode", None)
        if code is None:
            code = NO_STATUS_RECEIVED if wasClean else ABNORMAL_CLOSURE
        self.closeCode = code
        self.closeReason = getattr(self.protocol, "remoteCloseReason", None)

    def _handshakeDone(self) -> None:
        """
        Called once the handshake has been pumped: raise L{HandshakeRefused}
        unless the connection is open.
        """
        response = parseResponse(self._head)
        self._head = b""
        if not self.open or response is None or response.status != 101:
            raise HandshakeRefused(response or HttpResponse(0))
        self.response = response
        self.subProtocol = self.protocol.websocket_protocol_in_use

    # What tests call

    def send(self, message: str | bytes) -> None:
        """
        Send C{message}, as text (C{str}) or binary (C{bytes}), and deliver
        whatever follows from it.

        @raise RuntimeError: the connection is not open.
        """
        if not self.open:
            raise RuntimeError(f"cannot send on a closed connection (close code {self.closeCode})")
        if isinstance(message, str):
            self.protocol.sendMessage(message.encode("utf-8"), isBinary=False)
        else:
            self.protocol.sendMessage(bytes(message), isBinary=True)
        self._flush()

    def receive(self) -> str | bytes:
        """
        The next message the component sent to this client: C{str} for text,
        C{bytes} for binary.

        @raise NothingReceived: it has sent nothing more (yet). If it sends
            later, on a timer, advance the harness's clock first
            (L{ratchetpy.testing.Harness.advance}).
        """
        self._flush()
        if not self._messages:
            state = f"closed with {self.closeCode} {self.closeReason or ''}".rstrip() if self.closed else "open"
            raise NothingReceived(f"the component sent this client no message (the connection is {state})")
        return self._messages.popleft()

    def receiveAll(self) -> list[str | bytes]:
        """
        Every message the component sent to this client and that is not
        received yet, oldest first (maybe none).
        """
        self._flush()
        messages = list(self._messages)
        self._messages.clear()
        return messages

    def receiveNothing(self) -> None:
        """
        Check that the component has sent this client no message it has not
        received yet.

        @raise AssertionError: it has; the message says what.
        """
        self._flush()
        if self._messages:
            raise AssertionError(f"the component sent this client {self._messages[0]!r}, and expected nothing")

    def close(self, code: int = 1000, reason: str = "") -> None:
        """
        Start the closing handshake with C{code} and C{reason}, and deliver
        what follows (the server's answer, the component's C{onClose}).
        """
        if self.open:
            self.protocol.sendClose(code, reason or None)
        self._flush()

    def drop(self) -> None:
        """
        End the connection without a closing handshake, as a client whose
        network goes away would (the component's C{onClose} follows).
        """
        if self.pump is not None:
            self.pump.drop()
        self._flush()


def clientProtocol(
    client: WebSocketClient,
    url: str,
    reactor: Any,
    *,
    headers: dict[str, str],
    subProtocols: tuple[str, ...],
    compression: bool,
) -> _ClientProtocol:
    """
    A client protocol for C{url} that tells C{client} what happens; its
    timers run on C{reactor}.
    """
    factory = WebSocketClientFactory(url, protocols=list(subProtocols) or None, headers=headers, reactor=reactor)
    factory.protocol = _ClientProtocol
    factory._batched_timer = BucketTimer(reactor)
    options: dict[str, Any] = {
        "autoPingInterval": 0,
        "openHandshakeTimeout": 0,
        # Autobahn schedules this one on the global reactor; the server
        # drops the connection after the closing handshake anyway.
        "serverConnectionDropTimeout": 0,
        "tcpNoDelay": False,
    }
    if compression:
        options["perMessageCompressionOffers"] = [PerMessageDeflateOffer()]
        options["perMessageCompressionAccept"] = _acceptDeflate
    factory.setProtocolOptions(**options)
    protocol = _ClientProtocol()
    protocol.factory = factory
    protocol.client = client
    return protocol


class RawClient(Protocol):
    """
    A client that sends and receives bytes as they are: for a component
    served raw (L{ratchetpy.IoServer} alone), or for bytes no WebSocket
    client would send.

    @ivar closed: whether the connection has ended.
    """

    def __init__(self, flush: Callable[[], None]) -> None:
        self._flush = flush
        self._received = bytearray()
        self.closed = False
        self.pump: Pump | None = None

    def dataReceived(self, data: bytes) -> None:
        self._received += data

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.closed = True

    def send(self, data: bytes) -> None:
        """
        Send C{data} and deliver what follows.

        @raise RuntimeError: the connection has ended.
        """
        if self.closed:
            raise RuntimeError("cannot send on a closed connection")
        assert self.transport is not None
        self.transport.write(data)
        self._flush()

    def receive(self) -> bytes:
        """
        The bytes the server sent since the last call (maybe none).
        """
        self._flush()
        data = bytes(self._received)
        self._received.clear()
        return data

    def close(self) -> None:
        """
        Close the connection (the component's C{onClose} follows).
        """
        if not self.closed:
            assert self.transport is not None
            self.transport.loseConnection()
        self._flush()


__all__ = [
    "WebSocketClient",
    "RawClient",
    "HttpResponse",
    "HandshakeRefused",
    "NothingReceived",
    "parseResponse",
    "clientProtocol",
]
