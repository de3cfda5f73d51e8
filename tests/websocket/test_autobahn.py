"""
The shapes of Autobahn's internals that L{ratchetpy.websocket._autobahn}
relies on, on the installed Autobahn: an upgrade that changes one fails
here, by name, before it fails anywhere else.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import types

import autobahn
from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket.protocol import PreparedMessage, WebSocketProtocol
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from ratchetpy.websocket import _autobahn
from tests.helpers import ROOT


def testedRange() -> SpecifierSet:
    """
    The Autobahn versions setup.cfg allows.
    """
    for line in (ROOT / "setup.cfg").read_text().splitlines():
        line = line.strip()
        if line.startswith("autobahn"):
            return SpecifierSet(line.split("]", 1)[1].strip())
    raise AssertionError("setup.cfg does not require autobahn")


def test_installedAutobahnIsInTheTestedRange():
    """
    setup.cfg bounds Autobahn above as well as below, and the installed one
    is within the range.
    """
    specifiers = testedRange()
    assert any(spec.operator == "<" for spec in specifiers), specifiers
    assert Version(autobahn.__version__) in specifiers


def test_theEngineReadsItsOptionsFromCONFIG_ATTRS():
    """
    Autobahn's connectionMade copies each option in CONFIG_ATTRS that the
    protocol lacks from the factory: the configured class holds them all, so
    that nothing is copied per connection.
    """
    source = inspect.getsource(WebSocketProtocol._connectionMade)
    assert "for configAttr in self.CONFIG_ATTRS" in source
    assert "hasattr(self, configAttr)" in source
    factory = _autobahn.EngineFactory()
    factory.setProtocolOptions(maxMessagePayloadSize=123)
    configured = _autobahn.configuredProtocol(_autobahn.EngineProtocol, factory)
    assert configured.CONFIG_ATTRS == ()
    for name in WebSocketServerProtocol.CONFIG_ATTRS:
        assert hasattr(configured, name), name
    assert configured.maxMessagePayloadSize == 123


def test_timersGoThroughTheFactorysBatchedTimer():
    """
    Every timeout of the engine is scheduled with
    C{self.factory._batched_timer.call_later}; ratchetpy's factory puts its
    BucketTimer there.
    """
    source = inspect.getsource(WebSocketProtocol)
    assert source.count("self.factory._batched_timer.call_later(") >= 4
    assert "txaio.make_batched_timer" in inspect.getsource(
        __import__("autobahn.websocket.protocol", fromlist=["x"]).WebSocketServerFactory.__init__
    )
    factory = _autobahn.EngineFactory()
    assert factory._batched_timer is factory.timer


def test_theMethodsOverriddenOrCalledExist():
    """
    The engine methods ratchetpy overrides or calls, with the arguments it
    passes.
    """
    def parameters(function):
        return list(inspect.signature(function).parameters)

    assert parameters(WebSocketServerProtocol._dataReceived) == ["self", "data"]
    assert parameters(WebSocketProtocol.sendData) == ["self", "data", "sync", "chopsize"]
    assert parameters(WebSocketServerProtocol._closeConnection) == ["self", "abort"]
    assert parameters(WebSocketProtocol.sendCloseFrame) == ["self", "code", "reasonUtf8", "isReply"]
    assert parameters(WebSocketProtocol.sendClose) == ["self", "code", "reason"]
    assert parameters(WebSocketProtocol.sendPreparedMessage) == ["self", "preparedMsg"]
    assert parameters(PreparedMessage.__init__) == ["self", "payload", "isBinary", "applyMask", "doNotCompress"]
    # dropConnection unregisters the producer, which ratchetpy keeps registered.
    assert "self.unregisterProducer()" in inspect.getsource(WebSocketProtocol.dropConnection)
    # The Twisted adapter's dataReceived only logs and calls _dataReceived.
    assert "self._dataReceived(data)" in inspect.getsource(WebSocketServerProtocol.dataReceived)


def test_writesAndClosesOnlyThroughTheOverriddenMethods():
    """
    The engine writes to its transport in sendData and in _send (the queue
    of the sync/chopsize modes, which ratchetpy's sendData never fills), and
    closes it only in _closeConnection.
    """
    protocolSource = inspect.getsource(__import__("autobahn.websocket.protocol", fromlist=["x"]))
    assert protocolSource.count("self.transport.write(") == 2
    assert "def _send(self)" in protocolSource
    adapterSource = inspect.getsource(__import__("autobahn.twisted.websocket", fromlist=["x"]))
    assert adapterSource.count("self.transport.abortConnection()") == 1
    assert adapterSource.count("self.transport.loseConnection()") == 1


def test_stateAndSubprotocolAttributes():
    """
    The engine's connection state and agreed subprotocol, as read by
    ratchetpy, are set on every protocol once connected.
    """
    assert WebSocketProtocol.STATE_OPEN == _autobahn.STATE_OPEN
    # A broadcast frame goes out as PreparedMessage framed it, to connections
    # whose _perMessageCompress is None (no permessage-deflate agreed).
    assert PreparedMessage(b"hi", False, False, False).payloadHybi == b"\x81\x02hi"
    assert "self._perMessageCompress = None" in inspect.getsource(WebSocketProtocol)
    engine = __import__("autobahn.websocket.protocol", fromlist=["x"])
    assert "self.websocket_protocol_in_use = " in inspect.getsource(engine.WebSocketServerProtocol)
    assert "_perMessageCompress" in inspect.getsource(WebSocketProtocol.sendPreparedMessage)


def test_theFactoryTakesAReactorKeyword():
    """
    Autobahn's Twisted factory takes C{reactor=}, and without one imports the
    global reactor; ratchetpy always passes one.
    """
    source = inspect.getsource(WebSocketServerFactory.__init__)
    assert 'kwargs.pop("reactor", None)' in source
    factory = _autobahn.EngineFactory()
    assert factory.reactor is not None


def test_theLeanPathsViewOfTheEngine():
    """
    What the lean path relies on (the read loop it stands in for one step
    of, the state it checks, the bookkeeping it repeats), as the installed
    engine has it.
    """
    engine = __import__("autobahn.websocket.protocol", fromlist=["x"])
    consume = inspect.getsource(WebSocketProtocol.consumeData)
    # consumeData runs processData until it says stop or the connection closed.
    assert "while self.processData() and self.state != WebSocketProtocol.STATE_CLOSED:" in consume
    received = inspect.getsource(WebSocketProtocol._dataReceived)
    assert "self.trafficStats.incomingOctetsWireLevel += len(data)" in received
    assert "self.data += data" in received and "self.consumeData()" in received
    assert list(inspect.signature(WebSocketProtocol.processData).parameters) == ["self"]
    # The checks processData makes at a frame's start, the plain frame passing all of them.
    process = inspect.getsource(WebSocketProtocol.processData)
    for check in (
        "if self.current_frame is None:",
        "if frame_rsv != 0:",
        "and self.requireMaskedClientFrames",
        "if frame_opcode not in [0, 1, 2]:",
        "if not self.inside_message and frame_opcode == 0:",
        "if frame_payload_len < 126:",
        "if frame_payload_len > 0x7FFFFFFFFFFFFFFF:",
        "if frame_payload_len < 65536:",
        "self.onFrameBegin()",
    ):
        assert check in process, check
    # What a final data frame of an open connection costs in statistics and keepalive.
    frameData = inspect.getsource(WebSocketProtocol.onFrameData)
    assert "self.trafficStats.incomingOctetsWebSocketLevel += compressedLen" in frameData
    assert "self.trafficStats.incomingOctetsAppLevel += uncompressedLen" in frameData
    frameEnd = inspect.getsource(WebSocketProtocol.onFrameEnd)
    assert "self.trafficStats.incomingWebSocketFrames += 1" in frameEnd
    assert "self.trafficStats.incomingWebSocketMessages += 1" in frameEnd
    assert "if self.autoPingTimeoutCall and self.autoPingRestartOnAnyTraffic:" in frameEnd
    assert "self._cancelAutoPingTimeoutCall()" in frameEnd
    frameBegin = inspect.getsource(WebSocketProtocol.onMessageFrameBegin)
    assert "0 < self.maxMessagePayloadSize < self.message_data_total_length" in frameBegin
    assert "0 < self.maxFramePayloadSize < length" in frameBegin
    # A message goes to onMessage, and to 'message' observers (the lean path requires none).
    messageEnd = inspect.getsource(WebSocketProtocol.onMessageEnd)
    assert "self._onMessage(payload, self.message_is_binary)" in messageEnd
    assert 'self.fire("message"' in messageEnd
    assert "if self._listeners is None:" in inspect.getsource(engine.ObservableMixin.fire)
    for name in _autobahn.FRAME_CALLBACKS:
        assert callable(getattr(WebSocketServerProtocol, name)), name
    # What sendMessage and sendFrame count for one unfragmented frame.
    send = inspect.getsource(WebSocketProtocol.sendMessage)
    assert "self.trafficStats.outgoingWebSocketMessages += 1" in send
    assert "self.trafficStats.outgoingOctetsAppLevel += payload_len" in send
    assert "self.trafficStats.outgoingOctetsWebSocketLevel += payload_len" in send
    assert "if 0 < self.maxMessagePayloadSize < payload_len:" in send
    assert "self.trafficStats.outgoingWebSocketFrames += 1" in inspect.getsource(WebSocketProtocol.sendFrame)
    # The options the lean path reads.
    for name in (
        "logFrames",
        "logOctets",
        "trackTimings",
        "applyMask",
        "requireMaskedClientFrames",
        "utf8validateIncoming",
        "autoFragmentSize",
        "maskServerFrames",
        "maxFramePayloadSize",
        "maxMessagePayloadSize",
        "autoPingRestartOnAnyTraffic",
    ):
        assert name in WebSocketServerProtocol.CONFIG_ATTRS, name
    # The per-connection state it checks, made in _connectionMade and when
    # the handshake succeeds.
    made = inspect.getsource(WebSocketProtocol._connectionMade)
    for name in ("self.failedByMe = False", "self.trackedTimings = None", "self.autoPingTimeoutCall = None"):
        assert name in made, name
    opened = inspect.getsource(engine.WebSocketServerProtocol.succeedHandshake)
    assert "self.inside_message = False" in opened and "self.current_frame = None" in opened


def test_theHandshakeAttributesAreNotReadOnceOpen():
    """
    The engine's copies of the opening handshake, which ratchetpy empties
    once the connection is open (HANDSHAKE_ATTRS), are used only by the
    handshake itself and by the send modes ratchetpy never uses.
    """
    engine = __import__("autobahn.websocket.protocol", fromlist=["x"])
    allowed = {
        "processHandshake",
        "succeedHandshake",
        "failHandshake",
        "_connectionMade",
        "_send",
        "_trigger",
        "sendData",
    }
    for cls in (engine.WebSocketProtocol, engine.WebSocketServerProtocol, WebSocketServerProtocol):
        for name, member in vars(cls).items():
            if name in allowed or not inspect.isfunction(member):
                continue
            source = inspect.getsource(member)
            for attribute in _autobahn.HANDSHAKE_ATTRS:
                assert f"self.{attribute}" not in source, (cls.__name__, name, attribute)
    source = inspect.getsource(engine.WebSocketServerProtocol.succeedHandshake)
    assert source.index("self.http_response_data = response") < source.index("self._onOpen()")
    assert "self.onOpen()" in inspect.getsource(WebSocketServerProtocol._onOpen)


def test_anOpenConnectionHoldsNoHandshakeCopies():
    """
    Once open, the engine of a connection holds nothing of the handshake:
    every one of its copies is None, the send queue an empty tuple.
    """
    from twisted.internet.address import IPv4Address
    from twisted.internet.task import Clock
    from twisted.internet.testing import StringTransport

    from ratchetpy import HttpServer, IoServer, WsServer
    from tests.helpers import Recorder

    ws = WsServer(Recorder(), keepAlive=0)
    protocol = IoServer(HttpServer(ws), reactor=Clock()).buildProtocol(None)
    protocol.makeConnection(StringTransport(peerAddress=IPv4Address("TCP", "192.0.2.9", 4000)))
    protocol.dataReceived(
        b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    [engine] = ws._protocols.values()
    assert engine.state == _autobahn.STATE_OPEN
    held = {name: getattr(engine, name) for name in _autobahn.HANDSHAKE_ATTRS}
    assert held == {**dict.fromkeys(_autobahn.HANDSHAKE_ATTRS), "send_queue": ()}


def test_connectionSetUpAndTearDownAsTheEngineDoes():
    """
    EngineProtocol's connectionMade, _connectionMade and _connectionLost
    repeat Autobahn's (its Twisted adapter's and its server protocol's)
    statement for statement, less their debug lines.
    """
    engine = __import__("autobahn.websocket.protocol", fromlist=["x"])

    def statements(function):
        body = ast.parse(textwrap.dedent(inspect.getsource(function))).body[0].body
        kept = []
        for node in body:
            code = ast.unparse(node)
            if isinstance(node, ast.Expr) and (isinstance(node.value, ast.Constant) or code.startswith("self.log.")):
                continue
            kept.append(code)
        return kept

    assert statements(WebSocketServerProtocol.connectionMade) == [
        "self._transport_details = create_transport_details(self.transport, self.is_server)",
        "self._transport_details.channel_framing = TransportDetails.CHANNEL_FRAMING_WEBSOCKET",
        "self.peer = self._transport_details.peer",
        "try:\n    self.transport.setTcpNoDelay(self.tcpNoDelay)\nexcept:\n    pass",
        "self._connectionMade()",
    ]
    assert statements(engine.WebSocketServerProtocol._connectionMade) == [
        "WebSocketProtocol._connectionMade(self)",
        "self.factory.countConnections += 1",
    ]
    assert statements(engine.WebSocketServerProtocol._connectionLost) == [
        "WebSocketProtocol._connectionLost(self, reason)",
        "self.factory.countConnections -= 1",
    ]


def test_maxMessageSizeExceeded():
    """
    EngineProtocol.refusedAsTooBig fails the connection through Autobahn's _max_message_size_exceeded(size, limit,
    reason), which closes with 1009; maxMessagePayloadSize is the attribute Autobahn checks while reading.
    """
    from autobahn.websocket.protocol import WebSocketProtocol

    parameters = list(inspect.signature(WebSocketProtocol._max_message_size_exceeded).parameters)
    assert parameters == ["self", "msg_size", "max_msg_size", "reason"]
    assert "CLOSE_STATUS_CODE_MESSAGE_TOO_BIG" in inspect.getsource(WebSocketProtocol._max_message_size_exceeded)
    assert "self.maxMessagePayloadSize" in inspect.getsource(WebSocketProtocol.onFrameData)


def test_theHandshakeCopiesStepsAsExpected():
    """
    The engine's handshake and per-connection set-up run as copies
    (L{_autobahn.withGlobals}) with a few global names found elsewhere: the
    copies exist on the installed Autobahn, the head is parsed by one call
    of parseHttpHeader on what the engine kept of it, onConnect is called
    and answered through txaio, and hltype, hlval and pformat only build
    arguments of debug lines (so formatting them lazily changes nothing
    else).
    """
    assert _autobahn._processHandshake is not None
    assert _autobahn._connectionSetUp is not None
    assert _autobahn.EngineProtocol.processHandshake is _autobahn._processHandshake
    source = inspect.getsource(WebSocketServerProtocol.processHandshake)
    assert source.count("parseHttpHeader(") == 1
    assert "parseHttpHeader(self.http_request_data)" in source
    assert "self.http_request_data = self.data[: end_of_header + 4]" in source
    assert "f = txaio.as_future(self.onConnect, request)" in source
    assert "txaio.add_callbacks(f, self.succeedHandshake, forward_error)" in source

    def onlyInDebugLines(function, names):
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        found = 0
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id in names:
                found += 1
                while not (
                    isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "debug"
                ):
                    assert node in parents, f"{node.id} used outside a debug line in {function.__qualname__}"
                    node = parents[node]
        return found

    assert onlyInDebugLines(WebSocketServerProtocol.processHandshake, {"hltype", "hlval"}) >= 1
    assert onlyInDebugLines(WebSocketProtocol._connectionMade, {"pformat"}) == 1
    # Nothing else differs from the engine's own: the same code, the other names the same.
    copy = _autobahn._processHandshake
    assert copy.__code__ is WebSocketServerProtocol.processHandshake.__code__
    replaced = {"parseHttpHeader", "hltype", "hlval", "txaio"}
    original = WebSocketServerProtocol.processHandshake.__globals__
    # The names the code (and the functions it defines) reads; the module may
    # gain others later that the code never reads, such as the
    # __warningregistry__ of a warning issued from it.
    read, codes = set(), [copy.__code__]
    while codes:
        code = codes.pop()
        read.update(code.co_names)
        codes.extend(constant for constant in code.co_consts if isinstance(constant, types.CodeType))
    read &= set(original)
    assert replaced <= read
    assert {name for name in read if copy.__globals__.get(name) is not original[name]} == replaced


def test_withGlobalsRefusesWhatItCannotCopy():
    """
    A function without one of the names, or with free variables, is not copied (the engine's own is used).
    """
    def reads():
        return inspect

    assert _autobahn.withGlobals(reads, inspect=None)() is None
    assert _autobahn.withGlobals(reads, textwrap=None) is None
    value = 1

    def closes():
        return value, inspect

    assert _autobahn.withGlobals(closes, inspect=None) is None
