# -*- test-case-name: tests.websocket.test_autobahn -*-
"""
Everything ratchetpy relies on in Autobahn's WebSocket engine beyond its
documented API, in one module.

Autobahn's protocol is built for owning a Twisted transport; ratchetpy's
WebSocket layer sits behind its own HTTP layer and on the connection I/O of
L{ratchetpy.server}. So the engine is driven here: connected to the real
transport (a proxy would break TLS channel binding) and fed the request head
the HTTP layer read; its writes and closes go through C{conn.io} (counted
against the send limit, never straight to the transport); its per-connection
option copies and per-read debug lines are skipped; its timers run on
ratchetpy's L{BucketTimer}.

The opening handshake is read once: the engine's own handshake code runs (its
checks of the WebSocket headers, subprotocol and extension negotiation,
permessage-deflate, its response), as a copy that takes the head as the HTTP
layer parsed it (L{engineHead}) where Autobahn would parse the replayed bytes
again, builds its debug lines' arguments only for a debug line written, and
answers a C{onConnect} that returns at once without a Deferred.
C{tests/websocket/test_handshake.py} checks that both readings put the same
bytes on the wire.

The lean path: on an open connection without compression, every complete
plain data frame in a read (final, RSV clear, masked, text or binary, within
the limits, valid UTF-8 for text) is unmasked, decoded and delivered here,
with the engine's statistics and keepalive bookkeeping updated as its own
parser would have; everything else (control frames, fragments, partial
frames, anything malformed, compressed connections, the handshakes) is left
to the engine's C{processData}, step by step, in the same order. Messages
sent to such a connection are framed here too. C{tests/websocket/test_lean.py}
checks that both paths put the same bytes on the wire.

Tested with the Autobahn versions C{setup.cfg} allows;
C{tests/websocket/test_autobahn.py} pins the shape of every internal used
here, so that a new Autobahn that changes one fails there first.
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable
from inspect import iscoroutinefunction
from pprint import pformat
from typing import TYPE_CHECKING, Any

import txaio as _txaioModule
from autobahn.twisted.util import create_transport_details
from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.util import encode_truncate, hltype, hlval
from autobahn.wamp.types import TransportDetails
from autobahn.websocket.protocol import WebSocketProtocol, parseHttpHeader
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure

from .._ratelimit import LogBudget, RateLimitedLogger
from ..metrics.recorder import recording
from ..server.addresses import describeClient
from ._frames import BINARY, MAX_PAYLOAD, TEXT, plainFrame, serverFrame, unmask
from .timers import BucketTimer

if TYPE_CHECKING:
    from ..broadcast import SharedMessage
    from ..interfaces import IConnectionIO, IHttpRequest

#: Autobahn's state of a connection past its opening handshake and before
#: its closing one.
STATE_OPEN = WebSocketProtocol.STATE_OPEN
STATE_CLOSED = WebSocketProtocol.STATE_CLOSED

#: The engine's per-frame and per-message callbacks that the lean path does
#: the work of: a protocol class that overrides any of them (to see frames
#: as they arrive) is given every frame through the engine.
FRAME_CALLBACKS = (
    "onFrameBegin",
    "onFrameData",
    "onFrameEnd",
    "onMessageBegin",
    "onMessageFrameBegin",
    "onMessageFrameData",
    "onMessageFrameEnd",
    "onMessageFrame",
    "onMessageEnd",
    "_onMessageBegin",
    "_onMessageFrameBegin",
    "_onMessageFrameData",
    "_onMessageFrameEnd",
    "_onMessageFrame",
    "_onMessageEnd",
    "_onMessage",
)


#: What the engine keeps of the opening handshake (the request as read, the
#: response as sent, what was offered) and its queue for the sync/chopsize
#: send modes that ratchetpy never uses: nothing reads them once the
#: connection is open, so they are emptied then (about 1.8 KB per idle
#: connection). The request stays available as C{conn.httpRequest}.
HANDSHAKE_ATTRS = (
    "http_request_data",
    "http_response_data",
    "http_headers",
    "http_status_line",
    "http_request_params",
    "http_request_uri",
    "http_request_path",
    "http_request_host",
    "_wskey",
    "websocket_origin",
    "websocket_protocols",
    "websocket_extensions",
    "send_queue",
)


class _Lazy:
    """
    A debug line's argument, formatted only if the line is: C{function(*args)}
    as text, computed when the line is written.
    """

    __slots__ = ("_function", "_args")

    def __init__(self, function: Callable[..., Any], *args: Any) -> None:
        self._function = function
        self._args = args

    def __str__(self) -> str:
        return str(self._function(*self._args))

    def __repr__(self) -> str:
        return repr(self._function(*self._args))

    def __format__(self, spec: str) -> str:
        return format(self._function(*self._args), spec)


def _lazily(function: Callable[..., Any]) -> Callable[..., _Lazy]:
    def lazy(*args: Any) -> _Lazy:
        return _Lazy(function, *args)

    return lazy


def withGlobals(function: Any, **names: Any) -> Any:
    """
    A copy of C{function} (one of the engine's) that finds C{names} in place
    of the module globals of those names, or C{None} if C{function} does not
    read every one of them (or has free variables, which a copy would not
    have): the engine's code runs as it is, with a step of it done another
    way.
    """
    code = getattr(function, "__code__", None)
    if code is None or code.co_freevars or not set(names) <= set(code.co_names) & set(function.__globals__):
        return None
    namespace = dict(function.__globals__)
    namespace.update(names)
    copy = types.FunctionType(code, namespace, function.__name__, function.__defaults__)
    copy.__kwdefaults__ = function.__kwdefaults__
    copy.__qualname__ = function.__qualname__
    copy.__doc__ = function.__doc__
    return copy


class _Handover:
    """
    The request head the HTTP layer parsed, while the engine reads it: the
    head's bytes and the engine's view of them (L{engineHead}).
    """

    head: tuple[bytes, tuple[str, dict[str, str], dict[str, int]]] | None = None


# txaio's functions are set when it is told the framework (use_twisted).
_txaio: Any = _txaioModule
_handover = _Handover()
_PLAIN_HEAD = re.compile(rb"[\t\r\n\x20-\x7e]*")
_parseHttpHeader = parseHttpHeader


def _handedOverHead(data: bytes) -> tuple[str, dict[str, str], dict[str, int]]:
    """
    The engine's C{parseHttpHeader}, in its handshake: what the HTTP layer
    parsed, if C{data} is that head; else the engine parses C{data} itself.
    """
    handed = _handover.head
    if handed is not None:
        _handover.head = None
        if handed[0] == data:
            return handed[1]
    return _parseHttpHeader(data)


def engineHead(request: IHttpRequest) -> tuple[str, dict[str, str], dict[str, int]] | None:
    """
    C{request} as the engine's C{parseHttpHeader} reads its head: the request
    line, each header (lower-cased) with its values joined by C{", "}, and
    how many times each came; C{None} for a head the two might read
    differently.

    For a head of printable ASCII (and tabs) that the HTTP layer accepted
    (h11, and its own refusal of bare line feeds and folded lines), the two
    parsers agree: the header names are tokens, the values are stripped of
    the spaces and tabs around them, and the request line is three fields
    separated by single spaces. Beyond that they may not (the engine's
    parser splits lines at U+0085 and at some control characters, which h11
    takes as part of a value, and strips U+00A0), nor where h11 rewrites a
    value (C{Content-Length}, C{Transfer-Encoding}), so the engine reads
    those heads itself, as before.
    """
    headers = request.headers
    if _PLAIN_HEAD.fullmatch(request.rawHead) is None or "content-length" in headers or "transfer-encoding" in headers:
        return None
    values: dict[str, str] = {}
    counts: dict[str, int] = {}
    for name in headers:
        every = headers.getAll(name)
        values[name] = ", ".join(every)
        counts[name] = len(every)
    return f"{request.method} {request.target} HTTP/{request.version}", values, counts


class _OnConnectAtOnce:
    """
    C{txaio} as the engine's handshake uses it, but with C{onConnect}'s
    answer handled at once when it is not a Deferred (a subprotocol or
    C{None}, as ratchetpy's is), as Twisted's C{succeed} would run it,
    without making one: C{as_future} calls the function, C{add_callbacks}
    runs the callback (or the errback, for an exception) in the same call.
    An exception from either is logged as an unhandled error in a Deferred
    would be. Everything else is C{txaio}'s.
    """

    def __getattr__(self, name: str) -> Any:
        return getattr(_txaio, name)

    @staticmethod
    def as_future(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if iscoroutinefunction(function):
            return _txaio.as_future(function, *args, **kwargs)
        try:
            result = function(*args, **kwargs)
        except BaseException:
            return _Outcome(Failure(), True)
        if isinstance(result, (Deferred, Failure, types.CoroutineType)):
            return _txaio.as_future(lambda: result)
        return _Outcome(result, False)

    @staticmethod
    def add_callbacks(future: Any, callback: Callable[..., Any], errback: Callable[..., Any]) -> Any:
        if type(future) is not _Outcome:
            return _txaio.add_callbacks(future, callback, errback)
        try:
            (errback if future.failed else callback)(future.result)
        except BaseException:
            _log.failure("Unhandled error in Deferred:")
        return None


class _Outcome:
    __slots__ = ("result", "failed")

    def __init__(self, result: Any, failed: bool) -> None:
        self.result = result
        self.failed = failed


_log = Logger(namespace="ratchetpy")

#: The engine's opening handshake, reading the head the HTTP layer parsed
#: rather than parsing it again, with its debug lines' arguments formatted
#: only for a debug line written and C{onConnect} answered at once; or, if
#: the engine's code is not as expected, the engine's own.
_processHandshake = withGlobals(
    WebSocketServerProtocol.processHandshake,
    parseHttpHeader=_handedOverHead,
    hltype=_lazily(hltype),
    hlval=_lazily(hlval),
    txaio=_OnConnectAtOnce(),
)

#: The engine's per-connection set-up, with its debug line's argument (the
#: options, pretty-printed) formatted only for a debug line written.
_connectionSetUp = withGlobals(WebSocketProtocol._connectionMade, pformat=_lazily(pformat))


def prepare(data: str | bytes) -> bytes:
    """
    C{data} framed once as an unmasked server message (text for C{str},
    binary for C{bytes}), for sending to many connections.
    """
    if isinstance(data, str):
        return serverFrame(TEXT, data.encode("utf-8"))
    return serverFrame(BINARY, bytes(data))


def leanOptions(base: type, options: dict[str, Any]) -> dict[str, Any]:
    """
    The class attributes that turn the lean path on for a protocol class
    C{base} configured with C{options} (the factory's protocol options), or
    off where those options ask for what only the engine does: logging
    frames or octets, timing them, leaving frames masked, accepting
    unmasked ones, skipping UTF-8 validation, fragmenting or masking what is
    sent.
    """
    get = options.get
    engine = WebSocketServerProtocol
    reads = (
        getattr(base, "leanPath", False)
        and not get("logFrames")
        and not get("logOctets")
        and not get("trackTimings")
        and get("applyMask")
        and get("requireMaskedClientFrames")
        and get("utf8validateIncoming")
        and all(getattr(base, name) is getattr(engine, name) for name in FRAME_CALLBACKS)
    )
    limits = [size for size in (get("maxFramePayloadSize"), get("maxMessagePayloadSize")) if size and size > 0]
    sendLimit = get("maxMessagePayloadSize") or 0
    return {
        "_lean": bool(reads),
        "_leanLimit": min(limits) if limits else MAX_PAYLOAD,
        "_leanSend": bool(
            getattr(base, "leanPath", False)
            and not get("logFrames")
            and not get("trackTimings")
            and not get("autoFragmentSize")
            and not get("maskServerFrames")
        ),
        "_leanSendLimit": sendLimit if sendLimit > 0 else MAX_PAYLOAD,
    }


class EngineProtocol(WebSocketServerProtocol):
    """
    Autobahn's server protocol, driven by ratchetpy's WebSocket layer: every
    byte it writes and every close goes through C{_io}, the connection's
    L{IConnectionIO}, which the layer sets before L{start}.
    """

    # Autobahn logs a warning for every WebSocket it fails or drops and every
    # unsolicited pong: a flood of bad clients must not fill the disk.
    log = RateLimitedLogger(WebSocketServerProtocol.log, LogBudget(WebSocketServerProtocol.log))

    _io: IConnectionIO

    #: Whether complete plain data frames, and the messages sent, may take
    #: the lean path (see the module docstring); C{False} sends every frame
    #: through the engine's own parser and framer, as the differential tests
    #: do to compare the two.
    leanPath = True

    # Set by configuredProtocol (leanOptions) from the factory's options; an
    # unconfigured protocol uses the engine for everything.
    _lean = False
    _leanLimit = 0
    _leanSend = False
    _leanSendLimit = 0

    # An option (CONFIG_ATTRS) that the configured class holds.
    tcpNoDelay: bool

    def start(self, transport: Any, head: bytes, request: IHttpRequest | None = None) -> None:
        """
        Start the engine on C{transport} with the request head (and whatever
        followed it) that the HTTP layer read, and parsed as C{request}. The
        engine must be connected before it is fed: its per-connection state
        is made in C{connectionMade}. It reads the head as C{request} says
        rather than parsing it again (L{engineHead}), and does the rest of
        the handshake as ever: checks it, negotiates, answers.
        """
        if recording.on:
            recording.handshakeStarted(self)
        self.makeConnection(transport)  # type: ignore[no-untyped-call]  # Autobahn's, unannotated
        io = self._io
        if io.remoteAddress != io.peerAddress:
            # Autobahn's own log lines name the client a proxy said, as
            # ratchetpy's do (it took the peer from the transport).
            self.peer = describeClient(io)
        parsed = engineHead(request) if request is not None and _processHandshake is not None else None
        if parsed is None:
            self.dataReceived(head)
            return
        _handover.head = (request.rawHead, parsed)  # type: ignore[union-attr]  # not None: parsed
        try:
            self.dataReceived(head)
        finally:
            _handover.head = None

    def connectionMade(self) -> None:
        # What Autobahn's Twisted adapter does, without the arguments of its
        # debug line (the qualified name of the method, coloured), which
        # cost more than the rest.
        transport: Any = self.transport
        details = self._transport_details = create_transport_details(transport, self.is_server)
        details.channel_framing = TransportDetails.CHANNEL_FRAMING_WEBSOCKET
        self.peer = details.peer
        try:
            transport.setTcpNoDelay(self.tcpNoDelay)
        except Exception:
            # Not a TCP socket (a UNIX one, a test's transport).
            pass
        self._connectionMade()

    def _connectionMade(self) -> None:
        # Autobahn's server side, without its debug lines' arguments.
        (_connectionSetUp or WebSocketProtocol._connectionMade)(self)
        self.factory.countConnections += 1

    if _processHandshake is not None:
        processHandshake = _processHandshake

    def _connectionLost(self, reason: Any) -> None:
        # Autobahn's server side, without its debug line's arguments.
        WebSocketProtocol._connectionLost(self, reason)
        self.factory.countConnections -= 1
        if recording.on:
            recording.webSocketClosed(self)

    def _onOpen(self) -> None:
        # The handshake is over: what the engine kept of it is garbage now.
        # (Emptied rather than deleted: a read of one finds nothing rather
        # than an AttributeError; the send queue cannot be appended to.)
        instance = self.__dict__
        for name in HANDSHAKE_ATTRS:
            instance[name] = None
        instance["send_queue"] = ()
        super()._onOpen()

    def lose(self) -> None:
        """
        The connection is gone.
        """
        self.connectionLost(Failure(ConnectionDone()))

    def dataReceived(self, data: bytes) -> None:
        # Autobahn's Twisted adapter builds the arguments of a debug line for
        # every read before it gets to _dataReceived; skip that.
        if not self._lean or self.state != STATE_OPEN:
            self._dataReceived(data)
            return
        # What _dataReceived does before consumeData, then consumeData's
        # loop for an open connection, with the lean step in it.
        self.trafficStats.incomingOctetsWireLevel += len(data)
        buffered = self.data
        if buffered:
            # Held here until an engine step or the end of _consume: a hook
            # that raised through it could not have the frames in it
            # processed twice.
            self.data = b""
            data = buffered + data
        self._consume(data)

    def _consume(self, buf: bytes) -> None:
        """
        Process C{buf} (the engine's buffer and the bytes just read) as the
        engine's C{consumeData} does: frame after frame while it has any
        left and the connection is not closed; a complete plain data frame
        (L{plainFrame}) at a frame boundary of an open connection is handled
        here, any other step by the engine's C{processData}.
        """
        pos = 0
        end = len(buf)
        limit = self._leanLimit
        while True:
            if (
                end - pos >= 6
                and self.state == STATE_OPEN
                and self.current_frame is None
                and not self.inside_message
                and self._perMessageCompress is None
                and self._listeners is None
                and not self.failedByMe
                and not self.trackedTimings
            ):
                frame = plainFrame(buf, pos, end, limit)
                if frame is not None:
                    first, mask, stop = frame
                    payload = unmask(buf[mask : mask + 4], buf[mask + 4 : stop])
                    message: str | bytes | None = payload
                    if first == TEXT:
                        try:
                            message = payload.decode("utf-8")
                        except UnicodeDecodeError:
                            # The engine fails the connection (1007).
                            message = None
                    if message is not None:
                        pos = stop
                        self._leanReceived(len(payload))
                        self.deliver(message)
                        if pos < end and self.state != STATE_CLOSED:
                            continue
                        break
            self.data = buf[pos:] if pos else buf
            more = self.processData()
            buf = self.data
            pos = 0
            end = len(buf)
            if not more or self.state == STATE_CLOSED:
                break
        self.data = buf[pos:] if pos else buf

    def _leanReceived(self, size: int) -> None:
        """
        Account for one plain data frame of C{size} payload bytes, as the
        engine's C{onFrameData} and C{onFrameEnd} do for a final frame of an
        open connection: the statistics, and the data frame standing in for
        the pong of a pending keepalive ping.
        """
        stats = self.trafficStats
        stats.incomingOctetsWebSocketLevel += size
        stats.incomingOctetsAppLevel += size
        stats.incomingWebSocketFrames += 1
        stats.incomingWebSocketMessages += 1
        if self.autoPingTimeoutCall and self.autoPingRestartOnAnyTraffic:
            self._cancelAutoPingTimeoutCall()

    def deliver(self, message: str | bytes) -> None:
        """
        A message arrived: C{str} for text (valid UTF-8, decoded), C{bytes}
        for binary. By default handed to the engine's C{onMessage} as the
        engine would; a subclass that overrides this takes messages from
        both paths here.
        """
        if isinstance(message, str):
            self.onMessage(message.encode("utf-8"), False)
        else:
            self.onMessage(message, True)

    def sendData(self, data: bytes, sync: bool = False, chopsize: int | None = None) -> None:
        # Every frame at once, through the accounted write. (sync and chopsize
        # are Autobahn's modes for testing other implementations, which
        # ratchetpy never uses; its per-write debug line is skipped too.)
        self._io.write(data)

    def _closeConnection(self, abort: bool = False) -> None:
        if abort:
            self._io.abort()
        else:
            self._io.loseConnection()

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        # The connection is its transport's producer; others chain to it.
        self._io.registerProducer(producer, streaming)

    def unregisterProducer(self) -> None:
        # Autobahn calls this from dropConnection, to keep a paused producer
        # from holding the transport's loseConnection back. The connection,
        # which stays registered, sees to that itself; a producer registered
        # through it is stopped when the connection is lost.
        pass

    #: The limit of a compressed connection's messages after decompression
    #: (L{limitInflatedMessagesExactly}); 0 on others.
    _exactLimit = 0

    def limitInflatedMessagesExactly(self) -> None:
        """
        Once open with permessage-deflate: Autobahn may cut an inflated
        message at its limit rather than refuse it (when the last bytes of
        the stream inflate past it), and deliver it cut. With one byte more
        of room, whatever reaches L{refusedAsTooBig} over the real limit was
        too big, and is refused there: the limit is exact.
        """
        if self._perMessageCompress is not None and self.maxMessagePayloadSize > 0:
            self._exactLimit = self.maxMessagePayloadSize
            self.maxMessagePayloadSize += 1

    def refusedAsTooBig(self, payload: bytes) -> bool:
        """
        Whether C{payload}, a message the engine delivers, is over the exact
        limit; then the connection is failed with 1009, as Autobahn fails it.
        """
        limit = self._exactLimit
        if not limit or len(payload) <= limit:
            return False
        why = f"received WebSocket message exceeds payload limit of {limit} octets after decompression"
        self._max_message_size_exceeded(len(payload), limit, why)
        return True

    @property
    def isOpen(self) -> bool:
        """
        Whether messages sent now can still reach the peer.
        """
        return self.state == STATE_OPEN

    @property
    def subProtocol(self) -> str | None:
        """
        The subprotocol agreed in the handshake, or C{None}.
        """
        return self.websocket_protocol_in_use

    def sendPayload(self, data: str | bytes) -> None:
        """
        Send C{data} as one message (text for C{str}, binary otherwise); drop
        it whole if the connection is past its send limit.
        """
        if self.state != STATE_OPEN:
            return
        if isinstance(data, str):
            payload, first = data.encode("utf-8"), TEXT
        else:
            payload, first = (data if type(data) is bytes else bytes(data)), BINARY
        size = len(payload)
        # Dropped before framing: with permessage-deflate, a message dropped
        # after compression would break the peer's decompressor.
        if self._io.shouldDrop(size):
            return
        if (
            self._leanSend
            and self._perMessageCompress is None
            and size <= self._leanSendLimit
            and not self.trackedTimings
        ):
            # What sendMessage and sendFrame do for one unfragmented,
            # uncompressed, unmasked frame.
            stats = self.trafficStats
            stats.outgoingWebSocketMessages += 1
            stats.outgoingOctetsAppLevel += size
            stats.outgoingOctetsWebSocketLevel += size
            stats.outgoingWebSocketFrames += 1
            self._io.write(serverFrame(first, payload))
            return
        self.sendMessage(payload, first == BINARY)  # type: ignore[no-untyped-call]  # Autobahn's, unannotated

    def sendShared(self, message: SharedMessage) -> None:
        """
        Send C{message}, framed once for every connection it goes to (or
        compressed for this one, if it negotiated permessage-deflate); a
        connection that is behind takes the path of L{sendPayload}.
        """
        if self.state != STATE_OPEN:
            return
        if self._perMessageCompress is not None:
            # Compressed for this connection alone, by Autobahn.
            self.sendPayload(message.data)
            return
        prepared = message.prepared
        if prepared is None:
            prepared = message.prepared = prepare(message.data)
        # What sendPreparedMessage does for a connection without compression,
        # without its two calls per delivery (a tenth of a broadcast's time);
        # the frame is a whole message to the slow-consumer policy.
        self._io.writeMessage(prepared)

    def closeWith(self, code: int, reason: str) -> None:
        """
        Start the closing handshake with C{code} (one an endpoint may send)
        and C{reason}.
        """
        if self.state != STATE_OPEN:
            return
        if code == 1000 or 3000 <= code <= 4999:
            self.sendClose(code, reason or None)
        else:
            # sendClose takes only the codes an application may send; 1001,
            # 1008 and 1011 are the server's own (going away, a slow consumer,
            # a failed hook), so the frame is sent as Autobahn's own closes are.
            self.sendCloseFrame(code=code, reasonUtf8=encode_truncate(reason, 123) if reason else None)


def configuredProtocol(base: type, factory: WebSocketServerFactory) -> type:
    """
    A subclass of C{base} with C{factory}'s protocol options as class
    attributes and nothing for Autobahn to copy per connection.
    """
    options: dict[str, Any] = {}
    for name in base.CONFIG_ATTRS:  # type: ignore[attr-defined]
        value = getattr(factory, name)
        # A function as a class attribute would become a method.
        options[name] = staticmethod(value) if callable(value) else value
    # Autobahn's connectionMade copies each name in CONFIG_ATTRS that the
    # instance lacks, and formats them all for a debug line.
    options["CONFIG_ATTRS"] = ()
    options.update(leanOptions(base, {name: getattr(factory, name) for name in base.CONFIG_ATTRS}))  # type: ignore[attr-defined]
    return type(base.__name__, (base,), options)


class _ReactorOfTheConnections:
    """
    What Autobahn's factory is given as its reactor when the layer was given
    none: Autobahn's server protocol never uses it (ratchetpy's timers take
    the reactor from the connections), and looking up the global one at
    construction would install the default reactor before a program could
    install another.
    """

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"the WebSocket layer was built without a reactor; cannot use reactor.{name}")


class EngineFactory(WebSocketServerFactory):
    """
    Autobahn's factory, holding the options every connection of one
    WebSocket layer shares, with its timers on a L{BucketTimer}.
    """

    protocol = EngineProtocol
    _configured: type | None = None

    def __init__(self, reactor: Any = None) -> None:
        super().__init__(reactor=reactor if reactor is not None else _ReactorOfTheConnections())  # type: ignore[no-untyped-call]
        # Autobahn schedules every handshake, keepalive and closing timeout
        # through this attribute.
        self._batched_timer = BucketTimer(reactor)

    @property
    def timer(self) -> BucketTimer:
        """
        The timer of every connection's timeouts.
        """
        timer: BucketTimer = self._batched_timer
        return timer

    def setProtocolOptions(self, *args: Any, **kwargs: Any) -> None:
        super().setProtocolOptions(*args, **kwargs)  # type: ignore[no-untyped-call]  # Autobahn's, unannotated
        self._configured = None

    def buildProtocol(self, addr: Any) -> Any:
        # Autobahn copies ~40 options from the factory onto every protocol
        # instance and formats them all for a debug line on every connection:
        # a third of a handshake's time and 1.7 KB per connection. A class
        # that already has them (and nothing to copy) avoids both.
        configured = self._configured
        if configured is None:
            configured = self._configured = configuredProtocol(self.protocol, self)
        protocol = configured()
        protocol.factory = self
        return protocol


__all__ = ["STATE_OPEN", "EngineProtocol", "EngineFactory", "configuredProtocol", "leanOptions", "prepare"]
